//! Open data (公开数据) and statistics: what the public may see of a completed trade, and the
//! arithmetic of the published figures. Pure: the app layer gathers the facts.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::contract::ContractStatus;
use super::deal::DealStatus;
use super::listing::{IntendedUse, ListingStatus};
use super::parcel::LandType;
use super::registration::IdType;

/// One published trade: a listing that reached an outcome (`awarded`, `contracted` or
/// `failed`). Stored as it is served; rewritten whenever the listing, its deal or its contract
/// changes. Never holds an ID number, a phone or a natural person's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenDeal {
    pub listing_id: String,
    /// 挂牌编号.
    pub listing_no: Option<String>,
    /// `awarded` (deal made, contract not yet certified), `contracted` or `failed` (流拍).
    pub outcome: ListingStatus,
    /// `auction` (网络竞价) or `negotiated` (协议转让, one eligible bidder); null when it
    /// failed without an eligible bidder.
    pub method: Option<TradeMethod>,
    /// Why it failed, when it did.
    pub failure: Option<FailureReason>,
    /// 1 for a first listing, n for the (n−1)-th relisting.
    pub attempt: i64,
    pub previous_listing_no: Option<String>,
    pub township: OrgRef,
    pub village: OrgRef,
    pub parcels: Vec<OpenParcel>,
    /// Mu with two decimals.
    pub total_area_mu: String,
    pub intended_use: IntendedUse,
    pub term_start: NaiveDate,
    /// Inclusive.
    pub term_end: NaiveDate,
    /// Reserve price (底价), fen per mu per year.
    pub reserve_price_fen: i64,
    /// The price of the current (or last) deal, fen per mu per year.
    pub final_price_fen: Option<i64>,
    /// Annual rent at the final price, fen.
    pub annual_rent_fen: Option<i64>,
    /// Registrations qualified with a confirmed deposit when registration closed.
    pub eligible_bidders: i64,
    pub bid_count: i64,
    /// When registration (or the auction) closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Shanghai calendar year of `closed_at`: the year the statistics count it in.
    pub year: i32,
    pub deal: Option<OpenDealFacts>,
    pub contract: Option<OpenContractFacts>,
    /// The party holding the deal: a company by name, a natural person masked (`张*`).
    pub winner: Option<OpenWinner>,
}

crate::text_enum! {
    /// How the price was found.
    pub enum TradeMethod {
        Auction = "auction",
        Negotiated = "negotiated",
    }
}

crate::text_enum! {
    /// Why a listing failed (流拍).
    pub enum FailureReason {
        /// Registration closed with no eligible bidder.
        NoEligibleBidders = "no_eligible_bidders",
        /// An auction was held and nobody bid.
        NoBids = "no_bids",
        /// The winner (and the runner-up, if any) declined or let the offer lapse.
        DealFellThrough = "deal_fell_through",
    }
}

crate::text_enum! {
    /// A winner is a company or a natural person.
    pub enum WinnerKind {
        Company = "company",
        Person = "person",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrgRef {
    pub id: String,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenParcel {
    /// 一地一码.
    pub code: String,
    pub area_mu: String,
    pub land_type: LandType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenDealFacts {
    /// 成交确认书编号.
    pub confirmation_no: String,
    /// 1: the winner's offer; 2: the runner-up's.
    pub round: i64,
    pub status: DealStatus,
    /// Shanghai date of the award.
    pub awarded_on: NaiveDate,
    /// Shanghai date both parties had confirmed.
    pub confirmed_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenContractFacts {
    pub status: ContractStatus,
    /// 鉴证编号, once certified.
    pub certification_no: Option<String>,
    /// Shanghai date of certification.
    pub certified_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenWinner {
    pub kind: WinnerKind,
    pub name: String,
}

/// Whether a listing in this state is published.
pub fn is_published(status: ListingStatus) -> bool {
    matches!(
        status,
        ListingStatus::Awarded | ListingStatus::Contracted | ListingStatus::Failed
    )
}

/// How a closed listing's price was found, from its eligible bidders.
pub fn trade_method(eligible_bidders: i64) -> Option<TradeMethod> {
    match eligible_bidders {
        0 => None,
        1 => Some(TradeMethod::Negotiated),
        _ => Some(TradeMethod::Auction),
    }
}

/// Why a failed listing failed, from what happened to it.
pub fn failure_reason(eligible_bidders: i64, had_deal: bool) -> FailureReason {
    if had_deal {
        FailureReason::DealFellThrough
    } else if eligible_bidders == 0 {
        FailureReason::NoEligibleBidders
    } else {
        FailureReason::NoBids
    }
}

/// How the public sees a winner.
pub fn public_winner(id_type: IdType, legal_name: &str) -> OpenWinner {
    OpenWinner {
        kind: match id_type {
            IdType::UnifiedSocialCreditCode => WinnerKind::Company,
            IdType::ResidentId => WinnerKind::Person,
        },
        name: public_winner_name(id_type, legal_name),
    }
}

/// How a winner is named in public: a company (unified social credit code) by its registered
/// name; a natural person masked to the family name's first character (`张三` → `张*`,
/// `欧阳娜娜` → `欧***`), so no natural person is identifiable from open data.
pub fn public_winner_name(id_type: IdType, legal_name: &str) -> String {
    match id_type {
        IdType::UnifiedSocialCreditCode => legal_name.to_string(),
        IdType::ResidentId => mask_person_name(legal_name),
    }
}

/// First character kept, every other one a `*` (at least one, so a one-character name is not
/// shown in full either).
pub fn mask_person_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    let first = chars.next().map(String::from).unwrap_or_default();
    let rest = chars.count().max(1);
    format!("{first}{}", "*".repeat(rest))
}

/// The instants bounding a Shanghai calendar year: `[start, end)` in UTC (Shanghai is UTC+8
/// all year, so 1 January 00:00 there is 31 December 16:00 UTC). `None` outside 1900–9999.
pub fn shanghai_year_bounds(year: i32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    business_year(i64::from(year))?;
    let tz = chrono::FixedOffset::east_opt(8 * 3600)?;
    let start = tz.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single()?;
    let end = tz.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).single()?;
    Some((start.with_timezone(&Utc), end.with_timezone(&Utc)))
}

/// A year the open data and statistics can be asked for: 1900–9998 (so the year after it
/// still exists as a calendar year). `None` otherwise.
pub fn business_year(year: i64) -> Option<i32> {
    (1900..=9998)
        .contains(&year)
        .then(|| i32::try_from(year).ok())
        .flatten()
}

/// The calendar-date bounds of a year: `[1 Jan, 1 Jan next year)`.
pub fn year_dates(year: i32) -> Option<(NaiveDate, NaiveDate)> {
    Some((
        NaiveDate::from_ymd_opt(year, 1, 1)?,
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?,
    ))
}

/// The median of sorted values: the middle one, or the mean of the two middle ones rounded
/// half up. `None` for no values.
pub fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        return Some(sorted[n / 2]);
    }
    let (a, b) = (i128::from(sorted[n / 2 - 1]), i128::from(sorted[n / 2]));
    i64::try_from((a + b + 1).div_euclid(2)).ok()
}

/// A mean rounded half up (fen). `None` for no values.
pub fn mean(sum: i128, count: i64) -> Option<i64> {
    if count <= 0 {
        return None;
    }
    let c = i128::from(count);
    i64::try_from((2 * sum + c).div_euclid(2 * c)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn winners_are_named_by_kind() {
        assert_eq!(
            public_winner_name(IdType::UnifiedSocialCreditCode, "上海漕泾农业发展有限公司"),
            "上海漕泾农业发展有限公司"
        );
        assert_eq!(public_winner_name(IdType::ResidentId, "张三"), "张*");
        assert_eq!(public_winner_name(IdType::ResidentId, "欧阳娜娜"), "欧***");
        assert_eq!(public_winner_name(IdType::ResidentId, "李"), "李*");
        assert_eq!(mask_person_name(""), "*");
    }

    #[test]
    fn year_bounds_are_shanghai_midnights() {
        let (s, e) = shanghai_year_bounds(2027).unwrap();
        assert_eq!(s.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2027-12-31T16:00:00+00:00");
        assert!(shanghai_year_bounds(10_000).is_none());
        assert!(shanghai_year_bounds(1899).is_none());
    }

    #[test]
    fn medians_and_means_round_half_up() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5]), Some(5));
        assert_eq!(median(&[1, 2]), Some(2));
        assert_eq!(median(&[1, 2, 10]), Some(2));
        assert_eq!(median(&[100, 200, 301, 401]), Some(251));
        assert_eq!(mean(5, 2), Some(3));
        assert_eq!(mean(4, 3), Some(1));
        assert_eq!(mean(0, 0), None);
    }

    proptest! {
        #[test]
        fn a_median_lies_between_the_extremes(mut v in proptest::collection::vec(-1_000_000_000_000i64..1_000_000_000_000, 1..50)) {
            v.sort_unstable();
            let m = median(&v).unwrap();
            prop_assert!(v[0] <= m && m <= v[v.len() - 1]);
            let below = v.iter().filter(|x| **x < m).count();
            let above = v.iter().filter(|x| **x > m).count();
            prop_assert!(below <= v.len() / 2 && above <= v.len() / 2);
        }

        #[test]
        fn a_mean_lies_between_the_extremes(v in proptest::collection::vec(0i64..100_000_000_000, 1..50)) {
            let sum: i128 = v.iter().map(|x| i128::from(*x)).sum();
            let m = mean(sum, v.len() as i64).unwrap();
            prop_assert!(*v.iter().min().unwrap() <= m && m <= *v.iter().max().unwrap());
        }

        #[test]
        fn masked_names_keep_one_character_only(name in "\\PC{1,20}") {
            let masked = mask_person_name(&name);
            let kept: Vec<char> = masked.chars().filter(|c| *c != '*').collect();
            prop_assert!(kept.len() <= 1);
        }
    }
}
