//! Trading mails: registration close, auction close, award, deal offers and confirmations.
//! Mails to the parties of a listing (its village's collective, its township's staff) carry
//! the listing number in the subject; mails to an investor greet it by its legal name.

use chrono::{DateTime, Utc};

use super::{greet, subject, Template};

/// A member of the listing's collective or staff, and the listing the mail is about.
#[derive(Debug, Clone)]
pub struct ListingParty {
    /// The recipient's display name.
    pub name: String,
    /// Empty while the listing has no number.
    pub listing_no: String,
    pub title: String,
}

impl ListingParty {
    fn subject(&self, text: &str) -> String {
        subject(&format!("{} {}", self.listing_no, text))
    }

    fn body(&self, text: &str) -> String {
        greet(&self.name, &format!("挂牌项目“{}”：{}", self.title, text))
    }
}

/// A mail to an investor, greeted by the legal name of its registration.
fn investor_body(name: &str, text: &str) -> String {
    greet(name, text)
}

/// Why a listing failed (流拍).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailCause {
    /// Registration closed without an eligible bidder.
    NoEligibleBidder,
    /// The auction ended without a bid.
    NoBid,
    /// The deal fell through and nobody is left to offer it to.
    DealFellThrough,
}

/// To the parties: the listing failed.
#[derive(Debug, Clone)]
pub struct ListingFailed {
    pub party: ListingParty,
    pub cause: FailCause,
}

impl Template for ListingFailed {
    fn subject(&self) -> String {
        self.party.subject("流拍 Listing failed")
    }
    fn body(&self) -> String {
        self.party.body(match self.cause {
            FailCause::NoEligibleBidder => {
                "报名截止时无符合条件的竞买人，项目流拍。No eligible bidder: the listing failed."
            }
            FailCause::NoBid => "竞价期内无人出价，项目流拍。No bid: the listing failed.",
            FailCause::DealFellThrough => {
                "成交未获确认且无递补人，项目流拍，可重新挂牌。The deal fell through; the listing failed."
            }
        })
    }
}

/// To the parties: registration closed with two or more eligible bidders.
#[derive(Debug, Clone)]
pub struct AuctionScheduled {
    pub party: ListingParty,
}

impl Template for AuctionScheduled {
    fn subject(&self) -> String {
        self.party.subject("进入网络竞价 Auction scheduled")
    }
    fn body(&self) -> String {
        self.party
            .body("报名已截止，项目将按公告时间进行网络竞价。The auction will run as announced.")
    }
}

/// To an eligible bidder: the auction will run.
#[derive(Debug, Clone)]
pub struct BidderAuctionScheduled {
    pub name: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
}

impl Template for BidderAuctionScheduled {
    fn subject(&self) -> String {
        subject("竞价即将开始 Auction scheduled")
    }
    fn body(&self) -> String {
        investor_body(
            &self.name,
            &format!(
                "“{}”将于 {} 开始网络竞价。The auction starts at the announced time.",
                self.title,
                self.starts_at.to_rfc3339()
            ),
        )
    }
}

fn how(negotiated: bool) -> &'static str {
    if negotiated {
        "协议转让成交 negotiated deal"
    } else {
        "竞价成交 auction won"
    }
}

/// To the winner: round 1's deal is offered.
#[derive(Debug, Clone)]
pub struct DealAwarded {
    pub name: String,
    pub title: String,
    pub price_fen: i64,
    pub negotiated: bool,
    pub confirmation_no: String,
    pub confirm_by: DateTime<Utc>,
}

impl Template for DealAwarded {
    fn subject(&self) -> String {
        subject("成交通知 You won")
    }
    fn body(&self) -> String {
        investor_body(
            &self.name,
            &format!(
                "您以 {} 分/亩/年 取得“{}”（{}），成交确认书编号 {}。请于 {} 前确认成交。Please confirm the deal by the date above.",
                self.price_fen,
                self.title,
                how(self.negotiated),
                self.confirmation_no,
                self.confirm_by.to_rfc3339()
            ),
        )
    }
}

/// To the parties: the listing is awarded.
#[derive(Debug, Clone)]
pub struct ListingAwarded {
    pub party: ListingParty,
    pub price_fen: i64,
    pub negotiated: bool,
    pub confirmation_no: String,
}

impl Template for ListingAwarded {
    fn subject(&self) -> String {
        self.party.subject("成交 Listing awarded")
    }
    fn body(&self) -> String {
        self.party.body(&format!(
            "{}，成交价 {} 分/亩/年，成交确认书编号 {}。",
            how(self.negotiated),
            self.price_fen,
            self.confirmation_no
        ))
    }
}

/// To the runner-up: the deal is offered at its own best bid.
#[derive(Debug, Clone)]
pub struct RunnerUpOffer {
    pub name: String,
    pub price_fen: i64,
    pub confirmation_no: String,
    pub confirm_by: DateTime<Utc>,
}

impl Template for RunnerUpOffer {
    fn subject(&self) -> String {
        subject("递补成交通知 Runner-up offer")
    }
    fn body(&self) -> String {
        investor_body(
            &self.name,
            &format!(
                "原竞得人未确认成交，您以自己的最高报价 {} 分/亩/年 获得递补成交资格（{}），请于 {} 前确认。",
                self.price_fen,
                self.confirmation_no,
                self.confirm_by.to_rfc3339()
            ),
        )
    }
}

/// To the parties: the runner-up was offered the deal.
#[derive(Debug, Clone)]
pub struct RunnerUpOffered {
    pub party: ListingParty,
    pub confirmation_no: String,
}

impl Template for RunnerUpOffered {
    fn subject(&self) -> String {
        self.party.subject("递补成交 Runner-up offered")
    }
    fn body(&self) -> String {
        self.party.body(&format!(
            "原竞得人未确认，已向第二名发出递补成交（{}）。",
            self.confirmation_no
        ))
    }
}

/// To the parties: both sides confirmed the deal.
#[derive(Debug, Clone)]
pub struct DealConfirmed {
    pub party: ListingParty,
    pub confirmation_no: String,
}

impl Template for DealConfirmed {
    fn subject(&self) -> String {
        self.party.subject("成交已确认 Deal confirmed")
    }
    fn body(&self) -> String {
        self.party.body(&format!(
            "成交（{}）已由双方确认，进入合同签订与鉴证。",
            self.confirmation_no
        ))
    }
}

/// To the winner: both sides confirmed the deal.
#[derive(Debug, Clone)]
pub struct WinnerDealConfirmed {
    pub name: String,
    pub confirmation_no: String,
}

impl Template for WinnerDealConfirmed {
    fn subject(&self) -> String {
        subject("成交已确认 Deal confirmed")
    }
    fn body(&self) -> String {
        investor_body(
            &self.name,
            &format!(
                "成交（{}）已由双方确认。The deal is confirmed.",
                self.confirmation_no
            ),
        )
    }
}

/// To the township's staff: the investor confirmed, the collective missed `confirm_by`.
#[derive(Debug, Clone)]
pub struct CollectiveNotConfirmed {
    pub name: String,
    pub title: String,
    pub confirmation_no: String,
}

impl Template for CollectiveNotConfirmed {
    fn subject(&self) -> String {
        subject(&format!(
            "{} 村集体未确认成交 Collective has not confirmed",
            self.confirmation_no
        ))
    }
    fn body(&self) -> String {
        greet(
            &self.name,
            &format!(
                "“{}”的成交（{}）已过确认期限，村集体尚未确认，请跟进。",
                self.title, self.confirmation_no
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn party() -> ListingParty {
        ListingParty {
            name: "王五".into(),
            listing_no: "CJ-2027-0001".into(),
            title: "东村 120 亩".into(),
        }
    }

    #[test]
    fn subjects_end_with_the_english_phrase() {
        let at = Utc.with_ymd_and_hms(2027, 3, 1, 2, 0, 0).unwrap();
        let failed = ListingFailed {
            party: party(),
            cause: FailCause::NoBid,
        };
        assert_eq!(
            failed.subject(),
            "【landx 农村土地经营权流转】CJ-2027-0001 流拍 Listing failed"
        );
        assert_eq!(
            failed.body(),
            "您好：\n\n致“王五”：\n挂牌项目“东村 120 亩”：竞价期内无人出价，项目流拍。No bid: the listing failed.\n"
        );
        let won = DealAwarded {
            name: "绿野农业有限公司".into(),
            title: "东村 120 亩".into(),
            price_fen: 120_000,
            negotiated: true,
            confirmation_no: "DL-CJ-2027-0001".into(),
            confirm_by: at,
        };
        assert!(won.subject().ends_with("You won"));
        assert_eq!(
            won.body(),
            "您好：\n\n致“绿野农业有限公司”：\n您以 120000 分/亩/年 取得“东村 120 亩”（协议转让成交 negotiated deal），成交确认书编号 DL-CJ-2027-0001。请于 2027-03-01T02:00:00+00:00 前确认成交。Please confirm the deal by the date above.\n"
        );
        let remind = CollectiveNotConfirmed {
            name: "李四".into(),
            title: "东村 120 亩".into(),
            confirmation_no: "DL-CJ-2027-0001".into(),
        };
        assert_eq!(
            remind.subject(),
            "【landx 农村土地经营权流转】DL-CJ-2027-0001 村集体未确认成交 Collective has not confirmed"
        );
    }
}
