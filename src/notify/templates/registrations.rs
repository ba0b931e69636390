//! Mails of the registrations aggregate: the qualification review and every deposit move, all
//! to the registration's investor, greeted by the platform, then the legal name they registered with (quoted).
//! Texts: Chinese first, with an English line; subjects end with the English phrase clients
//! and tests look for.

use super::{greet, subject, Template};

/// The greeting frame every mail to an investor shares.
fn to_investor(legal_name: &str, text: &str) -> String {
    greet(legal_name, text)
}

/// The investor's registration was accepted for review.
pub struct RegistrationReceived<'a> {
    pub legal_name: &'a str,
    pub listing_title: &'a str,
}

impl Template for RegistrationReceived<'_> {
    fn subject(&self) -> String {
        subject("报名已受理 Registration received")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            &format!(
                "您对挂牌项目“{}”的报名已受理，请按公告缴纳保证金并等待资格审查。Your registration was received.",
                self.listing_title
            ),
        )
    }
}

/// The township's staff qualified the investor to bid.
pub struct RegistrationQualified<'a> {
    pub legal_name: &'a str,
    pub listing_title: &'a str,
}

impl Template for RegistrationQualified<'_> {
    fn subject(&self) -> String {
        subject("资格审查通过 Registration qualified")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            &format!(
                "您对“{}”的竞买资格审查已通过。You are qualified.",
                self.listing_title
            ),
        )
    }
}

/// The township's staff rejected the registration, with a reason.
pub struct RegistrationRejected<'a> {
    pub legal_name: &'a str,
    pub listing_title: &'a str,
    pub reason: &'a str,
}

impl Template for RegistrationRejected<'_> {
    fn subject(&self) -> String {
        subject("资格审查未通过 Registration rejected")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            &format!(
                "您对“{}”的报名未通过资格审查，原因：{}。Your registration was rejected.",
                self.listing_title, self.reason
            ),
        )
    }
}

/// Staff recorded the deposit from the bank receipt.
pub struct DepositConfirmed<'a> {
    pub legal_name: &'a str,
}

impl Template for DepositConfirmed<'_> {
    fn subject(&self) -> String {
        subject("保证金已确认 Deposit confirmed")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            "您的保证金已确认到账。Your deposit has been confirmed.",
        )
    }
}

/// The deposit was released and is due for refund (rejected, cancelled, failed, lost).
pub struct DepositToBeRefunded<'a> {
    pub legal_name: &'a str,
    /// Why, when known (e.g. `listing cancelled`).
    pub reason: Option<&'a str>,
}

impl Template for DepositToBeRefunded<'_> {
    fn subject(&self) -> String {
        subject("保证金待退还 Deposit to be refunded")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            &format!(
                "您的保证金将予退还{}。Your deposit will be refunded.",
                self.reason.map(|r| format!("（{r}）")).unwrap_or_default()
            ),
        )
    }
}

/// Staff paid the deposit back.
pub struct DepositRefunded<'a> {
    pub legal_name: &'a str,
}

impl Template for DepositRefunded<'_> {
    fn subject(&self) -> String {
        subject("保证金已退还 Deposit refunded")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            "您的保证金已退还。Your deposit has been refunded.",
        )
    }
}

/// The winner did not confirm the deal in time: the deposit is kept.
pub struct DepositForfeited<'a> {
    pub legal_name: &'a str,
}

impl Template for DepositForfeited<'_> {
    fn subject(&self) -> String {
        subject("保证金不予退还 Deposit forfeited")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            "因未按期确认成交，您的保证金不予退还。Your deposit was forfeited.",
        )
    }
}

/// The winner's contract was certified: the deposit pays the first rent installment.
pub struct DepositAppliedToRent<'a> {
    pub legal_name: &'a str,
}

impl Template for DepositAppliedToRent<'_> {
    fn subject(&self) -> String {
        subject("保证金已转为首期租金 Deposit applied to rent")
    }
    fn body(&self) -> String {
        to_investor(
            self.legal_name,
            "您的保证金已抵作第一期租金。Your deposit was applied to the first rent installment.",
        )
    }
}

/// A mail to an investor whose text another aggregate still writes inline (see
/// `app::deposits::mail_investor`).
pub struct InvestorMessage<'a> {
    pub legal_name: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
}

impl Template for InvestorMessage<'_> {
    fn subject(&self) -> String {
        subject(self.subject)
    }
    fn body(&self) -> String {
        to_investor(self.legal_name, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_end_in_english_and_bodies_greet() {
        let t = RegistrationRejected {
            legal_name: "张三",
            listing_title: "湖塘村 120 亩",
            reason: "材料不全",
        };
        assert!(t.subject().ends_with("Registration rejected"));
        assert!(t.body().starts_with("您好：\n\n致“张三”："));
        assert!(t.body().contains("原因：材料不全。"));
        let d = DepositToBeRefunded {
            legal_name: "张三",
            reason: Some("listing failed"),
        };
        assert!(d.subject().ends_with("Deposit to be refunded"));
        assert!(d.body().contains("将予退还（listing failed）。"));
        let none = DepositToBeRefunded {
            legal_name: "张三",
            reason: None,
        };
        assert!(none.body().contains("将予退还。"));
        assert!(DepositForfeited { legal_name: "x" }
            .subject()
            .ends_with("Deposit forfeited"));
    }
}
