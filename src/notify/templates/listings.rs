//! Mails of the listings aggregate: the review steps (to the township's staff or the village's
//! collective) and a cancellation (also to the listing's registrants).
//!
//! The listing mails name the listing in their subject (`【landx】<listing no>：<title> …`)
//! and end their body with a link to it.

use super::{greet, Template};

/// Which listing a mail is about, to whom, and where to see it.
#[derive(Debug, Clone, Copy)]
pub struct ListingMail<'a> {
    /// The recipient's display name.
    pub recipient: &'a str,
    /// `None` before the first submit.
    pub listing_no: Option<&'a str>,
    pub title: &'a str,
    /// The listing's page.
    pub link: &'a str,
}

impl ListingMail<'_> {
    fn subject(&self, event: &str) -> String {
        format!(
            "【landx】{}：{} {}",
            self.listing_no.unwrap_or("挂牌"),
            self.title,
            event
        )
    }

    fn body(&self, text: &str) -> String {
        greet(self.recipient, &format!("{}\n{}", text, self.link))
    }
}

/// To the township's staff: a collective submitted a listing for review.
pub struct ListingSubmitted<'a> {
    pub mail: ListingMail<'a>,
}

impl Template for ListingSubmitted<'_> {
    fn subject(&self) -> String {
        self.mail.subject("待审核 Listing submitted for review")
    }

    fn body(&self) -> String {
        self.mail
            .body("村集体提交了新的挂牌申请，请审核。A listing awaits your review.")
    }
}

/// To the village's collective: the staff approved the listing, which is now announced.
pub struct ListingApproved<'a> {
    pub mail: ListingMail<'a>,
}

impl Template for ListingApproved<'_> {
    fn subject(&self) -> String {
        self.mail.subject("已挂牌公告 Listing announced")
    }

    fn body(&self) -> String {
        self.mail.body(
            "您的挂牌申请已审核通过并公开挂牌。Your listing was approved and is now announced.",
        )
    }
}

/// To the village's collective: the staff returned the listing for changes.
pub struct ListingReturned<'a> {
    pub mail: ListingMail<'a>,
    pub reason: &'a str,
}

impl Template for ListingReturned<'_> {
    fn subject(&self) -> String {
        self.mail.subject("退回修改 Listing returned")
    }

    fn body(&self) -> String {
        self.mail.body(&format!(
            "您的挂牌申请被退回修改，原因：{}。Your listing was returned: {}",
            self.reason, self.reason
        ))
    }
}

fn cancelled_text(reason: &str) -> String {
    format!("挂牌已撤销，原因：{reason}。The listing was cancelled: {reason}")
}

const CANCELLED: &str = "挂牌撤销 Listing cancelled";

/// To the other side of the review (the staff when the owner cancels, the collective when
/// the staff or an admin does): the listing was cancelled.
pub struct ListingCancelled<'a> {
    pub mail: ListingMail<'a>,
    pub reason: &'a str,
}

impl Template for ListingCancelled<'_> {
    fn subject(&self) -> String {
        self.mail.subject(CANCELLED)
    }

    fn body(&self) -> String {
        self.mail.body(&cancelled_text(self.reason))
    }
}

/// To an investor registered for an announced listing that was cancelled.
pub struct RegisteredListingCancelled<'a> {
    /// The registrant's legal name.
    pub legal_name: &'a str,
    pub reason: &'a str,
}

impl Template for RegisteredListingCancelled<'_> {
    fn subject(&self) -> String {
        format!("【landx】{CANCELLED}")
    }

    fn body(&self) -> String {
        greet(self.legal_name, &cancelled_text(self.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_listing_and_end_in_english() {
        let mail = ListingMail {
            recipient: "张三",
            listing_no: None,
            title: "漕泾 100 亩",
            link: "http://x/listings/1",
        };
        let s = ListingSubmitted { mail }.subject();
        assert_eq!(
            s,
            "【landx】挂牌：漕泾 100 亩 待审核 Listing submitted for review"
        );
        let r = ListingReturned {
            mail,
            reason: "面积有误",
        };
        assert!(r.subject().ends_with("Listing returned"));
        assert!(r.body().starts_with("您好：\n\n致“张三”："));
        assert!(r.body().ends_with("http://x/listings/1\n"));
        let c = RegisteredListingCancelled {
            legal_name: "李四",
            reason: "x",
        };
        assert_eq!(c.subject(), "【landx】挂牌撤销 Listing cancelled");
    }
}
