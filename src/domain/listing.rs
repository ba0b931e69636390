//! Listings (挂牌): the state machine and the rules checked on submit and approve.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::calendar::{add_years, shanghai_date};

use super::FieldError;

crate::text_enum! {
    /// The listing lifecycle of DOMAIN.md; transitions are decided by [`ListingStatus::next`].
    pub enum ListingStatus {
        Draft = "draft",
        Submitted = "submitted",
        Returned = "returned",
        Announced = "announced",
        Auction = "auction",
        Awarded = "awarded",
        Contracted = "contracted",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

/// What may happen to a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingEvent {
    Edit,
    Submit,
    Approve,
    Return,
    /// By the owner collective.
    CancelByOwner,
    /// By township staff or an admin.
    CancelByOverseer,
    /// Registration closed with this many eligible bidders.
    CloseRegistration {
        eligible: u32,
    },
    /// The auction ended, with or without bids.
    CloseAuction {
        any_bid: bool,
    },
    ContractCertified,
    /// Staff cancelled the contract before certification: the listing fails (and may be
    /// relisted).
    ContractCancelled,
    DealFellThrough,
    Relist,
}

impl ListingStatus {
    /// Visible to everyone (public search, public detail).
    pub fn is_public(self) -> bool {
        matches!(
            self,
            ListingStatus::Announced
                | ListingStatus::Auction
                | ListingStatus::Awarded
                | ListingStatus::Contracted
                | ListingStatus::Failed
        )
    }

    /// Holds its parcels: they can't be edited or put in another submitted listing.
    pub fn locks_parcels(self) -> bool {
        matches!(
            self,
            ListingStatus::Submitted
                | ListingStatus::Announced
                | ListingStatus::Auction
                | ListingStatus::Awarded
        )
    }

    pub fn public_statuses() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.is_public())
            .map(|s| s.as_str())
            .collect()
    }

    pub fn locking_statuses() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.locks_parcels())
            .map(|s| s.as_str())
            .collect()
    }

    /// The one place that decides which transitions exist. `None`: not allowed now.
    pub fn next(self, event: ListingEvent) -> Option<ListingStatus> {
        use ListingEvent as E;
        use ListingStatus as S;
        Some(match (self, event) {
            (S::Draft | S::Returned, E::Edit) => self,
            (S::Draft | S::Returned, E::Submit) => S::Submitted,
            (S::Submitted, E::Approve) => S::Announced,
            (S::Submitted, E::Return) => S::Returned,
            (S::Draft | S::Submitted | S::Returned, E::CancelByOwner) => S::Cancelled,
            (S::Draft | S::Submitted | S::Returned | S::Announced, E::CancelByOverseer) => {
                S::Cancelled
            }
            (S::Announced, E::CloseRegistration { eligible }) => match eligible {
                0 => S::Failed,
                1 => S::Awarded,
                _ => S::Auction,
            },
            (S::Auction, E::CloseAuction { any_bid }) => {
                if any_bid {
                    S::Awarded
                } else {
                    S::Failed
                }
            }
            (S::Awarded, E::ContractCertified) => S::Contracted,
            (S::Awarded, E::DealFellThrough | E::ContractCancelled) => S::Failed,
            (S::Failed, E::Relist) => S::Failed,
            _ => return None,
        })
    }
}

crate::text_enum! {
    /// Declared use of listed land (DOMAIN.md rule 3).
    pub enum IntendedUse {
        Grain = "grain",
        Vegetables = "vegetables",
        Fruit = "fruit",
        Aquaculture = "aquaculture",
        Livestock = "livestock",
        MixedFarming = "mixed_farming",
        Agritourism = "agritourism",
    }
}

impl IntendedUse {
    /// Permanent basic farmland (永久基本农田) may only grow grain or vegetables.
    pub fn allowed_on_basic_farmland(self) -> bool {
        matches!(self, IntendedUse::Grain | IntendedUse::Vegetables)
    }
}

/// The villagers' meeting resolution and household commissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub resolution_date: NaiveDate,
    pub members_agreeing: i64,
    pub members_total: i64,
    pub commissions_received: i64,
}

/// What the submit rules look at in a listing.
#[derive(Debug, Clone)]
pub struct ListingTerms {
    pub village_id: String,
    pub intended_use: IntendedUse,
    pub term_start: NaiveDate,
    pub term_end: NaiveDate,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    pub deposit_fen: i64,
    pub registration_closes_at: DateTime<Utc>,
    pub auction_starts_at: DateTime<Utc>,
    pub auction_ends_at: DateTime<Utc>,
    pub extension_secs: i64,
    pub consent: Consent,
}

/// What the submit rules look at in each listed parcel.
#[derive(Debug, Clone)]
pub struct ParcelFacts {
    pub id: String,
    pub village_id: String,
    pub area_centimu: i64,
    pub households: i64,
    pub household_contract_end: NaiveDate,
    pub permanent_basic_farmland: bool,
    /// In another live listing or an unfinished contract.
    pub locked_elsewhere: bool,
}

/// Upper bound of the anti-sniping extension (a day).
pub const MAX_EXTENSION_SECS: i64 = 86_400;

/// The configured numbers the submit rules use (`[rules]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitLimits {
    /// `term_end < term_start + max_term_years years`.
    pub max_term_years: i32,
    /// Registration closes at least this many days after submit and approval.
    pub min_announcement_days: i64,
    /// Upper bound of every price, increment and bid, in fen per mu per year.
    pub max_price_fen: i64,
}

/// Last allowed `term_end` exclusive bound: `term_start + max_years years`.
pub fn term_limit(term_start: NaiveDate, max_years: i32) -> Option<NaiveDate> {
    add_years(term_start, max_years.max(0))
}

/// The earliest allowed `term_end`: one year less a day after `term_start` (so a deposit, at
/// most a year's reserve rent, never exceeds the first installment).
pub fn shortest_term_end(term_start: NaiveDate) -> Option<NaiveDate> {
    add_years(term_start, 1)?.pred_opt()
}

/// Every submit rule of DOMAIN.md ("Listing lifecycle", rules 1–6). Returns one error per
/// failed rule, each naming its field; empty when the listing may be submitted.
pub fn check_submit(
    l: &ListingTerms,
    parcels: &[ParcelFacts],
    now: DateTime<Utc>,
    rules: &SubmitLimits,
) -> Vec<FieldError> {
    let mut e = Vec::new();
    let mut err = |field: &str, msg: String| e.push(FieldError::new(field, msg));

    // 1. Democratic consent.
    let c = &l.consent;
    if c.resolution_date > shanghai_date(now) {
        err(
            "consent.resolution_date",
            "must not be in the future".into(),
        );
    }
    if c.members_total <= 0 {
        err("consent.members_total", "must be positive".into());
    } else if c.members_agreeing < 0 || c.members_agreeing > c.members_total {
        err(
            "consent.members_agreeing",
            "must be between 0 and members_total".into(),
        );
    } else if (c.members_agreeing as i128) * 3 < (c.members_total as i128) * 2 {
        err(
            "consent.members_agreeing",
            format!(
                "{} of {} is less than two thirds",
                c.members_agreeing, c.members_total
            ),
        );
    }
    let households: i64 = parcels.iter().map(|p| p.households).sum();
    if c.commissions_received != households {
        err(
            "consent.commissions_received",
            format!("must equal the parcels' contracting households ({households})"),
        );
    }

    // 2. Term.
    if l.term_start >= l.term_end {
        err("term_end", "must be after term_start".into());
    } else if shortest_term_end(l.term_start).is_none_or(|min| l.term_end < min) {
        err(
            "term_end",
            "the term must be at least one year (term_end ≥ term_start + 1 year − 1 day)".into(),
        );
    }
    if l.term_start < shanghai_date(l.auction_ends_at) {
        err(
            "term_start",
            "must not be before the (Shanghai) date the auction ends".into(),
        );
    }
    if let Some(p) = parcels
        .iter()
        .find(|p| l.term_end > p.household_contract_end)
    {
        err(
            "term_end",
            format!(
                "must not be after the households' contract end {} of parcel {}",
                p.household_contract_end, p.id
            ),
        );
    }
    match term_limit(l.term_start, rules.max_term_years) {
        Some(limit) if l.term_end < limit => {}
        _ => err(
            "term_end",
            format!("the term may be at most {} years", rules.max_term_years),
        ),
    }

    // 3. Use.
    if !l.intended_use.allowed_on_basic_farmland()
        && parcels.iter().any(|p| p.permanent_basic_farmland)
    {
        err(
            "intended_use",
            "permanent basic farmland may only be listed for grain or vegetables".into(),
        );
    }

    // 4. Money (bounded so no auction arithmetic can overflow).
    let max_price = rules.max_price_fen;
    if !(1..=max_price).contains(&l.reserve_price_fen) {
        err(
            "reserve_price_fen",
            format!("must be positive and at most {max_price}"),
        );
    }
    if !(1..=max_price).contains(&l.min_increment_fen) {
        err(
            "min_increment_fen",
            format!("must be positive and at most {max_price}"),
        );
    }
    let area: i64 = parcels.iter().map(|p| p.area_centimu).sum();
    let year_rent =
        super::money::annual_rent_fen(l.reserve_price_fen.max(0), area).unwrap_or(i64::MAX);
    if l.deposit_fen <= 0 {
        err("deposit_fen", "must be positive".into());
    } else if l.deposit_fen > year_rent {
        err(
            "deposit_fen",
            format!("must not exceed one year's reserve rent ({year_rent} fen)"),
        );
    }

    // 5. Schedule.
    if let Some(msg) =
        announcement_too_short(l.registration_closes_at, now, rules.min_announcement_days)
    {
        err("registration_closes_at", msg);
    }
    if l.auction_starts_at < l.registration_closes_at {
        err(
            "auction_starts_at",
            "must not be before registration_closes_at".into(),
        );
    }
    if l.auction_ends_at <= l.auction_starts_at {
        err("auction_ends_at", "must be after auction_starts_at".into());
    }
    if !(1..=MAX_EXTENSION_SECS).contains(&l.extension_secs) {
        err(
            "extension_secs",
            format!("must be a whole number of seconds from 1 to {MAX_EXTENSION_SECS}"),
        );
    }

    // 6. Parcels.
    if parcels.is_empty() {
        err("parcel_ids", "at least one parcel is required".into());
    }
    if let Some(p) = parcels.iter().find(|p| p.village_id != l.village_id) {
        err(
            "parcel_ids",
            format!("parcel {} belongs to another village", p.id),
        );
    }
    if let Some(p) = parcels.iter().find(|p| p.locked_elsewhere) {
        err(
            "parcel_ids",
            format!("parcel {} is in another live listing or contract", p.id),
        );
    }
    e
}

/// The announcement period rule (checked on submit and again on approve).
pub fn announcement_too_short(
    registration_closes_at: DateTime<Utc>,
    now: DateTime<Utc>,
    min_announcement_days: i64,
) -> Option<String> {
    let earliest = now + Duration::days(min_announcement_days);
    (registration_closes_at < earliest).then(|| {
        format!(
            "must be at least {} days after now ({})",
            min_announcement_days,
            earliest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    })
}

/// A relisted copy may lower the reserve price, never raise it.
pub fn check_relist_price(old_reserve: i64, new_reserve: i64) -> Result<(), String> {
    if new_reserve > old_reserve {
        Err(format!(
            "must not exceed the failed listing's reserve price ({old_reserve})"
        ))
    } else if new_reserve <= 0 {
        Err("must be positive".into())
    } else {
        Ok(())
    }
}

/// Longest title and description of a listing, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest return or cancel reason, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// The title and description given (checked on create and edit, not only on submit).
pub fn check_texts(title: Option<&str>, description: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(t) = title {
        if let Err(m) = super::validate::text(t, MAX_TITLE_CHARS) {
            errors.push(FieldError::new("title", m));
        }
    }
    if let Some(d) = description {
        // A description may be left empty; otherwise it is plain multi-line text.
        if !d.is_empty() {
            if let Err(m) = super::validate::multiline_text(d, MAX_DESCRIPTION_CHARS) {
                errors.push(FieldError::new("description", m));
            }
        }
    }
    errors
}

/// A listing's parcel ids: at least one, none twice. Returns them sorted.
pub fn check_parcel_ids(mut ids: Vec<String>) -> Result<Vec<String>, FieldError> {
    if ids.is_empty() {
        return Err(FieldError::new(
            "parcel_ids",
            "at least one parcel is required",
        ));
    }
    ids.sort();
    let n = ids.len();
    ids.dedup();
    if ids.len() != n {
        return Err(FieldError::new("parcel_ids", "a parcel is listed twice"));
    }
    Ok(ids)
}

/// A return or cancel reason: not blank, at most [`MAX_REASON_CHARS`]; kept trimmed.
pub fn check_reason(reason: &str) -> Result<String, FieldError> {
    super::validate::multiline_text(reason, MAX_REASON_CHARS)
        .map_err(|m| FieldError::new("reason", m))?;
    Ok(reason.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 10, 2, 0, 0).unwrap()
    }

    fn terms() -> ListingTerms {
        ListingTerms {
            village_id: "v1".into(),
            intended_use: IntendedUse::Grain,
            term_start: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            term_end: NaiveDate::from_ymd_opt(2037, 2, 28).unwrap(),
            reserve_price_fen: 120_000,
            min_increment_fen: 1_000,
            deposit_fen: 100_000,
            registration_closes_at: now() + Duration::days(10),
            auction_starts_at: now() + Duration::days(11),
            auction_ends_at: now() + Duration::days(11) + Duration::hours(1),
            extension_secs: 300,
            consent: Consent {
                resolution_date: NaiveDate::from_ymd_opt(2027, 1, 5).unwrap(),
                members_agreeing: 20,
                members_total: 30,
                commissions_received: 12,
            },
        }
    }

    fn parcel() -> ParcelFacts {
        ParcelFacts {
            id: "p1".into(),
            village_id: "v1".into(),
            area_centimu: 5_000,
            households: 12,
            household_contract_end: NaiveDate::from_ymd_opt(2057, 12, 31).unwrap(),
            permanent_basic_farmland: true,
            locked_elsewhere: false,
        }
    }

    const LIMITS: SubmitLimits = SubmitLimits {
        max_term_years: 30,
        min_announcement_days: 10,
        max_price_fen: 100_000_000_000,
    };

    fn fields(t: &ListingTerms, p: &[ParcelFacts]) -> Vec<String> {
        check_submit(t, p, now(), &LIMITS)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn input_rules() {
        assert!(check_texts(Some("漕泾 100 亩"), Some("")).is_empty());
        let e = check_texts(Some(" "), Some(&"x".repeat(10_001)));
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].message, "must be at most 10000 characters");
        assert_eq!(
            check_parcel_ids(vec!["b".into(), "a".into()]),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        assert!(check_parcel_ids(vec!["a".into(), "a".into()]).is_err());
        assert!(check_parcel_ids(Vec::new()).is_err());
        assert_eq!(check_reason(" 面积有误 "), Ok("面积有误".to_string()));
        assert_eq!(check_reason("  ").unwrap_err().field, "reason");
    }

    #[test]
    fn descriptions_are_plain_multiline_text() {
        assert!(check_texts(None, Some("第一段\n第二段\r\n\t第三段")).is_empty());
        for bad in [
            "反\u{202E}向",
            "响\u{7}铃",
            "隔\u{2066}离\u{2069}",
            "\u{200F}",
        ] {
            let e = check_texts(None, Some(bad));
            assert_eq!(e.len(), 1, "{bad:?}");
            assert_eq!(e[0].field, "description");
        }
        assert_eq!(check_texts(Some("标题\n第二行"), None)[0].field, "title");
    }

    #[test]
    fn a_good_listing_passes() {
        assert!(fields(&terms(), &[parcel()]).is_empty());
    }

    #[test]
    fn consent_two_thirds_exactly() {
        let mut t = terms();
        t.consent.members_agreeing = 20; // 20*3 = 60 = 30*2
        assert!(fields(&t, &[parcel()]).is_empty());
        t.consent.members_agreeing = 19;
        assert_eq!(fields(&t, &[parcel()]), vec!["consent.members_agreeing"]);
        t.consent.commissions_received = 11;
        assert!(fields(&t, &[parcel()]).contains(&"consent.commissions_received".to_string()));
    }

    #[test]
    fn term_limits() {
        let mut t = terms();
        t.term_start = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        t.registration_closes_at = now() + Duration::days(10);
        t.auction_starts_at = t.registration_closes_at;
        t.auction_ends_at = t.auction_starts_at + Duration::hours(1);
        // 2027-01-20T03:00Z is 2027-01-20 in Shanghai; exactly 30 years end on 2057-01-19.
        t.term_start = NaiveDate::from_ymd_opt(2027, 1, 20).unwrap();
        t.term_end = NaiveDate::from_ymd_opt(2057, 1, 19).unwrap();
        let mut p = parcel();
        p.household_contract_end = NaiveDate::from_ymd_opt(2099, 12, 31).unwrap();
        assert!(
            fields(&t, &[p.clone()]).is_empty(),
            "exactly 30 years is allowed"
        );
        t.term_end = t.term_end.succ_opt().unwrap();
        assert_eq!(fields(&t, &[p.clone()]), vec!["term_end"]);
        let mut t = terms();
        p.household_contract_end = NaiveDate::from_ymd_opt(2037, 2, 27).unwrap();
        assert_eq!(fields(&t, &[p]), vec!["term_end"]);
        t.term_start = NaiveDate::from_ymd_opt(2027, 1, 20).unwrap();
        assert!(fields(&t, &[parcel()]).contains(&"term_start".to_string()));
    }

    #[test]
    fn basic_farmland_use() {
        let mut t = terms();
        t.intended_use = IntendedUse::Fruit;
        assert_eq!(fields(&t, &[parcel()]), vec!["intended_use"]);
        let mut p = parcel();
        p.permanent_basic_farmland = false;
        assert!(fields(&t, &[p]).is_empty());
    }

    #[test]
    fn money_and_schedule() {
        let mut t = terms();
        // one year's rent of 50 mu at 1200 yuan = 6 000 000 fen
        t.deposit_fen = 6_000_001;
        assert_eq!(fields(&t, &[parcel()]), vec!["deposit_fen"]);
        t.deposit_fen = 6_000_000;
        assert!(fields(&t, &[parcel()]).is_empty());
        t.registration_closes_at = now() + Duration::days(10) - Duration::seconds(1);
        assert_eq!(fields(&t, &[parcel()]), vec!["registration_closes_at"]);
    }

    #[test]
    fn values_that_would_overflow_the_auction_are_refused() {
        let mut t = terms();
        t.extension_secs = i64::MAX;
        t.min_increment_fen = i64::MAX;
        assert_eq!(
            fields(&t, &[parcel()]),
            vec!["min_increment_fen", "extension_secs"]
        );
        t.extension_secs = MAX_EXTENSION_SECS;
        t.min_increment_fen = LIMITS.max_price_fen;
        assert!(fields(&t, &[parcel()]).is_empty());
    }

    #[test]
    fn parcels_of_other_villages_or_locked() {
        let mut p = parcel();
        p.village_id = "v2".into();
        assert_eq!(fields(&terms(), &[p]), vec!["parcel_ids"]);
        let mut p = parcel();
        p.locked_elsewhere = true;
        assert_eq!(fields(&terms(), &[p]), vec!["parcel_ids"]);
    }

    #[test]
    fn state_machine() {
        use ListingEvent as E;
        use ListingStatus as S;
        assert_eq!(S::Draft.next(E::Submit), Some(S::Submitted));
        assert_eq!(S::Returned.next(E::Submit), Some(S::Submitted));
        assert_eq!(S::Submitted.next(E::Approve), Some(S::Announced));
        assert_eq!(S::Announced.next(E::CancelByOwner), None);
        assert_eq!(S::Announced.next(E::CancelByOverseer), Some(S::Cancelled));
        assert_eq!(
            S::Announced.next(E::CloseRegistration { eligible: 0 }),
            Some(S::Failed)
        );
        assert_eq!(
            S::Announced.next(E::CloseRegistration { eligible: 1 }),
            Some(S::Awarded)
        );
        assert_eq!(
            S::Announced.next(E::CloseRegistration { eligible: 2 }),
            Some(S::Auction)
        );
        assert_eq!(
            S::Auction.next(E::CloseAuction { any_bid: false }),
            Some(S::Failed)
        );
        assert_eq!(S::Announced.next(E::Edit), None);
        assert!(S::Submitted.locks_parcels() && !S::Returned.locks_parcels());
        for &s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
    }
}
