//! Collusion signals (围标、串标): patterns in who registers, who bids and who walks away that
//! a township's staff may want to look into. A signal is a hint for a person, never a verdict
//! and never an action: each pattern has innocent explanations too (one family farm behind two
//! accounts, neighbours sharing a phone, two operators who want the same kind of land, a bank
//! loan that fell through), so nothing here changes any state.
//!
//! The detector works on plain facts read elsewhere ([`Facts`]). It never sees a phone or an ID
//! number: it compares keyed hashes of them and shows the masked ID, registration ids,
//! listing numbers and names, which the township's staff and admins may see anyway.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::access::Caller;
use super::deal::DealStatus;
use super::listing::ListingStatus;
use super::registration::{DepositStatus, RegistrationStatus};
use super::roles::Role;
use super::FieldError;

/// Two legal persons eligible together on at least this many listings of the window.
pub const PAIR_MIN_LISTINGS: usize = 3;
/// "Few bidders": at most this many eligible bidders, or at most this many who bid.
pub const FEW_BIDDERS: usize = 2;
/// "A low win": the winning price at most this many increments above the reserve.
pub const LOW_WIN_MAX_INCREMENTS: i64 = 1;
/// The window's default start: this many days before now.
pub const DEFAULT_WINDOW_DAYS: i64 = 365;
/// The most listings one request reads (the most recent of the window).
pub const MAX_WINDOW_LISTINGS: usize = 200;

crate::text_enum! {
    /// What a signal points at (the rules: `detect`, and the signal routes' descriptions).
    pub enum SignalKind {
        /// One legal person (ID number) behind registrations of two or more investor accounts.
        SharedIdentity = "shared_identity",
        /// One contact phone given by registrations of two or more legal persons.
        SharedPhone = "shared_phone",
        /// Two legal persons eligible bidders together on several listings.
        RecurringBidderPair = "recurring_bidder_pair",
        /// A win at the reserve or one increment above it with few bidders.
        LowWinFewBidders = "low_win_few_bidders",
        /// Eligible bidders who never bid in an auction that was held (陪标).
        CoverBidding = "cover_bidding",
        /// The winner and then the runner-up walked away from the deal.
        RotationDecline = "rotation_decline",
    }
}

crate::text_enum! {
    /// How much a signal deserves a look (each rule says when it is which).
    #[derive(PartialOrd, Ord)]
    pub enum Severity {
        Low = "low",
        Medium = "medium",
        High = "high",
    }
}

crate::text_enum! {
    /// How an offer ended without a deal.
    pub enum OfferOutcome {
        /// The holder declined before `confirm_by`.
        Declined = "declined",
        /// The holder let `confirm_by` pass.
        TimedOut = "timed_out",
    }
}

// ---- facts ---------------------------------------------------------------------------------

/// A listing as the detector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingFacts {
    pub listing_id: String,
    pub listing_no: Option<String>,
    pub status: ListingStatus,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    /// When registration closed (no auction) or the auction closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The copy made when this failed listing was relisted.
    pub relisted_as: Option<ListingRef>,
}

impl ListingFacts {
    /// Registration (and any auction) is over: the eligible bidders and the bids are final.
    fn closed(&self) -> bool {
        self.closed_at.is_some()
            && matches!(
                self.status,
                ListingStatus::Awarded | ListingStatus::Contracted | ListingStatus::Failed
            )
    }

    fn reference(&self) -> ListingRef {
        ListingRef {
            listing_id: self.listing_id.clone(),
            listing_no: self.listing_no.clone(),
        }
    }
}

/// A registration as the detector sees it: who, with which keys to compare, how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationFacts {
    pub registration_id: String,
    pub listing_id: String,
    pub investor_id: String,
    /// The investor account's display name.
    pub investor_name: String,
    pub legal_name: String,
    pub id_number_masked: String,
    /// A keyed hash of the ID number; `None` (a row from before the hashes) matches nothing.
    pub person_key: Option<String>,
    /// A keyed hash of the phone's [`phone_digits`]; `None` when it can't be read.
    pub phone_key: Option<String>,
    pub status: RegistrationStatus,
    pub deposit_status: DepositStatus,
    /// Accepted bids.
    pub bid_count: i64,
    pub registered_at: DateTime<Utc>,
}

impl RegistrationFacts {
    /// An eligible bidder at the close: qualified with a deposit that was confirmed, whatever
    /// became of the deposit afterwards (refunded, forfeited, applied to the rent).
    pub fn was_eligible(&self) -> bool {
        self.status == RegistrationStatus::Qualified && self.deposit_status != DepositStatus::Unpaid
    }

    /// The legal person: its ID hash, or this registration alone when there is none.
    fn person(&self) -> String {
        match &self.person_key {
            Some(k) => format!("id:{k}"),
            None => format!("registration:{}", self.registration_id),
        }
    }

    fn person_ref(&self) -> PersonRef {
        PersonRef {
            legal_name: self.legal_name.clone(),
            id_number_masked: self.id_number_masked.clone(),
        }
    }
}

/// A deal offer (round 1: the winner or the negotiated party; round 2: the runner-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealFacts {
    pub deal_id: String,
    pub listing_id: String,
    pub registration_id: String,
    pub round: i64,
    pub negotiated: bool,
    pub price_fen: i64,
    pub status: DealStatus,
    pub awarded_at: DateTime<Utc>,
    pub confirm_by: DateTime<Utc>,
    pub fell_through_at: Option<DateTime<Utc>>,
}

impl DealFacts {
    fn outcome(&self) -> OfferOutcome {
        match self.fell_through_at {
            Some(t) if t < self.confirm_by => OfferOutcome::Declined,
            _ => OfferOutcome::TimedOut,
        }
    }
}

/// Everything the detector reads: the listings of a window, their registrations and deals.
/// Registrations and deals of listings not in `listings` are ignored.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub listings: Vec<ListingFacts>,
    pub registrations: Vec<RegistrationFacts>,
    pub deals: Vec<DealFacts>,
}

// ---- signals -------------------------------------------------------------------------------

/// A listing named in evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListingRef {
    pub listing_id: String,
    /// Null until the listing was first submitted.
    pub listing_no: Option<String>,
}

/// An investor account named in evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountRef {
    pub investor_id: String,
    pub investor_name: String,
}

/// A legal person named in evidence (the ID number only masked).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct PersonRef {
    pub legal_name: String,
    /// `3101**********1234`
    pub id_number_masked: String,
}

/// A registration named in evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegistrationRef {
    pub registration_id: String,
    pub listing_id: String,
    pub listing_no: Option<String>,
    pub investor_id: String,
    pub investor_name: String,
    pub legal_name: String,
    pub id_number_masked: String,
}

/// `shared_identity`: the legal person and the accounts it registered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SharedIdentityEvidence {
    pub id_number_masked: String,
    /// Every legal name given with this ID number.
    pub legal_names: Vec<String>,
    pub accounts: Vec<AccountRef>,
    pub registrations: Vec<RegistrationRef>,
    /// Listings on which two or more of these accounts registered (under any legal person):
    /// one person may be bidding against itself.
    pub common_listings: Vec<ListingRef>,
}

/// `shared_phone`: the legal persons who gave one phone (the phone itself is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SharedPhoneEvidence {
    pub persons: Vec<PersonRef>,
    pub accounts: Vec<AccountRef>,
    pub registrations: Vec<RegistrationRef>,
    /// Listings on which two or more of these legal persons registered with this phone.
    pub same_listing: Vec<ListingRef>,
}

/// One listing a bidder pair was eligible on together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PairListing {
    pub listing_id: String,
    pub listing_no: Option<String>,
    /// The two registrations, in the order of `persons`.
    pub registration_ids: Vec<String>,
}

/// `recurring_bidder_pair`: two legal persons and the listings they were eligible on together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BidderPairEvidence {
    pub persons: Vec<PersonRef>,
    pub listings: Vec<PairListing>,
    pub listing_count: usize,
    /// The fewest listings together that raise the signal (3).
    pub threshold: usize,
}

/// `low_win_few_bidders`: the winning offer against the reserve and the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LowWinEvidence {
    pub deal_id: String,
    pub winner: RegistrationRef,
    /// A negotiated deal (协议转让: one eligible bidder, no auction).
    pub negotiated: bool,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    pub price_fen: i64,
    pub increments_above_reserve: i64,
    pub eligible_bidders: usize,
    /// Eligible bidders who placed at least one bid.
    pub active_bidders: usize,
}

/// An eligible bidder who never bid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SilentBidder {
    pub registration: RegistrationRef,
    /// Held auctions of the window in which this legal person was eligible and never bid.
    pub silent_auctions: usize,
    pub silent_listings: Vec<ListingRef>,
}

/// `cover_bidding`: the auction's field and who stayed silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CoverBiddingEvidence {
    pub eligible_bidders: usize,
    pub active_bidders: usize,
    pub silent: Vec<SilentBidder>,
}

/// An offer that ended without a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FallenOffer {
    pub deal_id: String,
    pub registration: RegistrationRef,
    pub price_fen: i64,
    pub outcome: OfferOutcome,
    pub fell_through_at: Option<DateTime<Utc>>,
}

/// `rotation_decline`: both offers and what became of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RotationEvidence {
    pub winner: FallenOffer,
    pub runner_up: FallenOffer,
    /// The relisted copy, if the collective relisted (a lower reserve may follow).
    pub relisted_as: Option<ListingRef>,
}

/// What a signal rests on; its shape follows `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Evidence {
    SharedIdentity(SharedIdentityEvidence),
    SharedPhone(SharedPhoneEvidence),
    RecurringBidderPair(BidderPairEvidence),
    LowWinFewBidders(LowWinEvidence),
    CoverBidding(CoverBiddingEvidence),
    RotationDecline(Box<RotationEvidence>),
}

/// One hint for the township's staff, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Signal {
    /// Derived from the kind, its subject and `at`: the same while the evidence's newest fact
    /// is the same. Ids sort newest first.
    pub id: String,
    pub kind: SignalKind,
    pub severity: Severity,
    /// The listing a per-listing signal is about; null for township-wide ones.
    pub listing_id: Option<String>,
    pub listing_no: Option<String>,
    /// Every listing the evidence names.
    pub listing_ids: Vec<String>,
    /// The time of the newest fact it rests on.
    pub at: DateTime<Utc>,
    /// Chinese / English.
    pub summary: String,
    pub evidence: Evidence,
}

impl Signal {
    /// Does the signal name this listing?
    pub fn involves(&self, listing_id: &str) -> bool {
        self.listing_ids.iter().any(|l| l == listing_id)
    }
}

/// The listings a request looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SignalWindow {
    /// Listings whose registration closes at or after this time.
    pub since: DateTime<Utc>,
    /// … and before this one (null: no end).
    pub until: Option<DateTime<Utc>>,
    pub listings_considered: usize,
    /// More listings fell in the window than are read (only the `max_listings` whose
    /// registration closes last are): narrow the window to see older ones.
    pub truncated: bool,
    pub max_listings: usize,
}

// ---- who may look --------------------------------------------------------------------------

/// What a caller may do with a township's signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversight {
    /// Staff of the township, admins.
    Allowed,
    /// Staff of another township: they may not know what is flagged here (404).
    Hidden,
    /// Collectives, investors, insurers (403 where they may see the listing or township).
    Forbidden,
}

pub fn oversight(caller: &Caller, township_id: &str) -> Oversight {
    if caller.oversees_township(township_id) {
        Oversight::Allowed
    } else if caller.is(Role::Staff) {
        Oversight::Hidden
    } else {
        Oversight::Forbidden
    }
}

/// The window's bounds: `since` defaults to [`DEFAULT_WINDOW_DAYS`] before `now`, `until` to
/// none; `until` must come after `since` (422 naming `until`).
pub fn window_bounds(
    now: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), FieldError> {
    let since = since.unwrap_or(now - Duration::days(DEFAULT_WINDOW_DAYS));
    match until {
        Some(u) if u <= since => Err(FieldError::new("until", "must be after `since`")),
        _ => Ok((since, until)),
    }
}

/// A phone as compared: its digits, without a leading `86` country code on a mobile number
/// (`+86 138-0013-8000` and `13800138000` are the same phone).
pub fn phone_digits(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("86") {
        Some(rest) if rest.len() == 11 && rest.starts_with('1') => rest.to_string(),
        _ => digits,
    }
}

/// One page of signals sorted by id, newest first: those after the cursor `after` (an id of
/// the previous page), at most `limit`, and the cursor of the next page.
pub fn page(
    signals: Vec<Signal>,
    after: Option<&str>,
    limit: usize,
) -> (Vec<Signal>, Option<String>) {
    let mut rest: Vec<Signal> = signals
        .into_iter()
        .filter(|s| after.is_none_or(|a| s.id.as_str() < a))
        .collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next = if more {
        rest.last().map(|s| s.id.clone())
    } else {
        None
    };
    (rest, next)
}

// ---- the detector --------------------------------------------------------------------------

/// Every signal the facts raise, newest first. The rules:
///
/// - `shared_identity`: registrations with one ID hash come from ≥ 2 investor accounts.
///   `high` when two of those accounts registered on one listing (under any legal persons),
///   else `medium`.
/// - `shared_phone`: registrations of ≥ 2 legal persons gave one phone (compared as
///   [`phone_digits`]). `high` when two of them did so on one listing, else `medium`.
/// - `recurring_bidder_pair`: two legal persons were both eligible bidders on ≥
///   [`PAIR_MIN_LISTINGS`] listings. `high` from twice that many, else `medium`.
/// - `low_win_few_bidders` (per listing): the round-1 deal's price is at most
///   [`LOW_WIN_MAX_INCREMENTS`] increment above the reserve, and ≤ [`FEW_BIDDERS`] bidders
///   were eligible or ≤ [`FEW_BIDDERS`] eligible bidders bid. `low` for a negotiated deal,
///   `high` at the reserve itself, else `medium`.
/// - `cover_bidding` (per listing): an auction was held (the listing closed with ≥ 2
///   eligible bidders) and eligible bidders never bid. By the most times one of them was silent
///   in the window's held auctions: once `low`, twice `medium`, more `high`.
/// - `rotation_decline` (per listing): the round-1 deal and the runner-up's round-2 deal both
///   fell through (declined or timed out). `high` when the listing was relisted, else `medium`.
pub fn detect(facts: &Facts) -> Vec<Signal> {
    let ix = Index::new(facts);
    let mut out = shared_identity(&ix);
    out.extend(shared_phone(&ix));
    out.extend(recurring_pairs(&ix));
    let silent = silent_bidders(&ix);
    for l in ix.listings.values() {
        out.extend(low_win(&ix, l));
        out.extend(cover_bidding(&ix, l, &silent));
        out.extend(rotation(&ix, l));
    }
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}

type Reg<'a> = &'a RegistrationFacts;

/// The facts arranged for lookups, in deterministic order.
struct Index<'a> {
    listings: BTreeMap<&'a str, &'a ListingFacts>,
    /// By listing, in registration id order.
    by_listing: BTreeMap<&'a str, Vec<Reg<'a>>>,
    registrations: BTreeMap<&'a str, Reg<'a>>,
    /// By listing, in round order.
    deals: BTreeMap<&'a str, Vec<&'a DealFacts>>,
}

impl<'a> Index<'a> {
    fn new(f: &'a Facts) -> Self {
        let listings: BTreeMap<&str, &ListingFacts> = f
            .listings
            .iter()
            .map(|l| (l.listing_id.as_str(), l))
            .collect();
        let mut by_listing: BTreeMap<&str, Vec<Reg>> = BTreeMap::new();
        let mut registrations = BTreeMap::new();
        for r in f
            .registrations
            .iter()
            .filter(|r| listings.contains_key(r.listing_id.as_str()))
        {
            by_listing.entry(r.listing_id.as_str()).or_default().push(r);
            registrations.insert(r.registration_id.as_str(), r);
        }
        for regs in by_listing.values_mut() {
            regs.sort_by(|a, b| a.registration_id.cmp(&b.registration_id));
        }
        let mut deals: BTreeMap<&str, Vec<&DealFacts>> = BTreeMap::new();
        for d in f
            .deals
            .iter()
            .filter(|d| listings.contains_key(d.listing_id.as_str()))
        {
            deals.entry(d.listing_id.as_str()).or_default().push(d);
        }
        for ds in deals.values_mut() {
            ds.sort_by(|a, b| (a.round, &a.deal_id).cmp(&(b.round, &b.deal_id)));
        }
        Index {
            listings,
            by_listing,
            registrations,
            deals,
        }
    }

    fn regs(&self, listing_id: &str) -> &[Reg<'a>] {
        self.by_listing.get(listing_id).map_or(&[], Vec::as_slice)
    }

    fn deal(&self, listing_id: &str, round: i64) -> Option<&'a DealFacts> {
        self.deals
            .get(listing_id)?
            .iter()
            .copied()
            .find(|d| d.round == round)
    }

    fn listing_ref(&self, listing_id: &str) -> ListingRef {
        ListingRef {
            listing_id: listing_id.to_string(),
            listing_no: self.listing_no(listing_id),
        }
    }

    fn listing_no(&self, listing_id: &str) -> Option<String> {
        self.listings
            .get(listing_id)
            .and_then(|l| l.listing_no.clone())
    }

    fn reg_ref(&self, r: Reg) -> RegistrationRef {
        RegistrationRef {
            registration_id: r.registration_id.clone(),
            listing_id: r.listing_id.clone(),
            listing_no: self.listing_no(&r.listing_id),
            investor_id: r.investor_id.clone(),
            investor_name: r.investor_name.clone(),
            legal_name: r.legal_name.clone(),
            id_number_masked: r.id_number_masked.clone(),
        }
    }

    /// The listings on which registrations of `regs` hold ≥ 2 distinct `member` values.
    fn listings_with_two<K: Ord>(
        &self,
        regs: &[Reg<'a>],
        member: impl Fn(Reg<'a>) -> K,
    ) -> Vec<ListingRef> {
        let mut seen: BTreeMap<&str, BTreeSet<K>> = BTreeMap::new();
        for r in regs {
            seen.entry(r.listing_id.as_str())
                .or_default()
                .insert(member(r));
        }
        seen.into_iter()
            .filter(|(_, members)| members.len() >= 2)
            .map(|(l, _)| self.listing_ref(l))
            .collect()
    }
}

/// Groups the registrations of the window by a key they may lack.
fn groups_by<'a>(
    ix: &Index<'a>,
    key: impl Fn(Reg<'a>) -> Option<&'a str>,
) -> BTreeMap<&'a str, Vec<Reg<'a>>> {
    let mut groups: BTreeMap<&str, Vec<Reg>> = BTreeMap::new();
    for r in ix.registrations.values().copied() {
        if let Some(k) = key(r) {
            groups.entry(k).or_default().push(r);
        }
    }
    groups
}

fn accounts(regs: &[Reg]) -> Vec<AccountRef> {
    let by_id: BTreeMap<&str, &str> = regs
        .iter()
        .map(|r| (r.investor_id.as_str(), r.investor_name.as_str()))
        .collect();
    by_id
        .into_iter()
        .map(|(id, name)| AccountRef {
            investor_id: id.to_string(),
            investor_name: name.to_string(),
        })
        .collect()
}

fn newest(regs: &[Reg]) -> Option<DateTime<Utc>> {
    regs.iter().map(|r| r.registered_at).max()
}

fn listing_ids_of(regs: &[Reg]) -> Vec<String> {
    let set: BTreeSet<&str> = regs.iter().map(|r| r.listing_id.as_str()).collect();
    set.into_iter().map(String::from).collect()
}

/// A stable id whose first 48 bits are `at` in milliseconds, so ids sort by time; the rest
/// is a hash of the kind and the subject (UUID version 8 layout).
fn signal_id(kind: SignalKind, subject: &str, at: DateTime<Utc>) -> String {
    let hash = Sha256::digest(format!("{}\u{0}{subject}", kind.as_str()).as_bytes());
    let ms = at.timestamp_millis().clamp(0, (1 << 48) - 1) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6..].copy_from_slice(&hash[..10]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

struct Draft {
    kind: SignalKind,
    subject: String,
    severity: Severity,
    listing: Option<ListingRef>,
    listing_ids: Vec<String>,
    at: DateTime<Utc>,
    summary: String,
    evidence: Evidence,
}

impl Draft {
    fn build(self) -> Signal {
        let mut listing_ids = self.listing_ids;
        if let Some(l) = &self.listing {
            listing_ids.push(l.listing_id.clone());
        }
        listing_ids.sort();
        listing_ids.dedup();
        Signal {
            id: signal_id(self.kind, &self.subject, self.at),
            kind: self.kind,
            severity: self.severity,
            listing_id: self.listing.as_ref().map(|l| l.listing_id.clone()),
            listing_no: self.listing.and_then(|l| l.listing_no),
            listing_ids,
            at: self.at,
            summary: self.summary,
            evidence: self.evidence,
        }
    }
}

fn shared_identity(ix: &Index) -> Vec<Signal> {
    let mut out = Vec::new();
    for (key, regs) in groups_by(ix, |r| r.person_key.as_deref()) {
        let accounts = accounts(&regs);
        if accounts.len() < 2 {
            continue;
        }
        let members: BTreeSet<&str> = regs.iter().map(|r| r.investor_id.as_str()).collect();
        let theirs: Vec<Reg> = ix
            .registrations
            .values()
            .copied()
            .filter(|r| members.contains(r.investor_id.as_str()))
            .collect();
        let common = ix.listings_with_two(&theirs, |r| r.investor_id.as_str());
        let masked = regs[0].id_number_masked.clone();
        let legal_names: BTreeSet<String> = regs.iter().map(|r| r.legal_name.clone()).collect();
        let mut listing_ids = listing_ids_of(&regs);
        listing_ids.extend(common.iter().map(|l| l.listing_id.clone()));
        let n = accounts.len();
        out.push(
            Draft {
                kind: SignalKind::SharedIdentity,
                subject: key.to_string(),
                severity: if common.is_empty() {
                    Severity::Medium
                } else {
                    Severity::High
                },
                listing: None,
                listing_ids,
                at: newest(&regs).unwrap_or_default(),
                summary: format!(
                    "同一法人（{masked}）以{n}个投资人账户报名 / One legal person ({masked}) \
                     registered from {n} investor accounts"
                ),
                evidence: Evidence::SharedIdentity(SharedIdentityEvidence {
                    id_number_masked: masked,
                    legal_names: legal_names.into_iter().collect(),
                    accounts,
                    registrations: regs.iter().map(|r| ix.reg_ref(r)).collect(),
                    common_listings: common,
                }),
            }
            .build(),
        );
    }
    out
}

fn shared_phone(ix: &Index) -> Vec<Signal> {
    let mut out = Vec::new();
    for (key, regs) in groups_by(ix, |r| r.phone_key.as_deref()) {
        let persons: BTreeMap<String, PersonRef> =
            regs.iter().map(|r| (r.person(), r.person_ref())).collect();
        if persons.len() < 2 {
            continue;
        }
        let same_listing = ix.listings_with_two(&regs, |r| r.person());
        let mut listing_ids = listing_ids_of(&regs);
        listing_ids.extend(same_listing.iter().map(|l| l.listing_id.clone()));
        let mut persons: Vec<PersonRef> = persons.into_values().collect();
        persons.sort();
        let n = persons.len();
        let (zh, en) = if same_listing.is_empty() {
            ("", "")
        } else {
            ("，其中有人在同一挂牌中", ", some on the same listing")
        };
        out.push(
            Draft {
                kind: SignalKind::SharedPhone,
                subject: key.to_string(),
                severity: if same_listing.is_empty() {
                    Severity::Medium
                } else {
                    Severity::High
                },
                listing: None,
                listing_ids,
                at: newest(&regs).unwrap_or_default(),
                summary: format!(
                    "{n}个不同法人使用同一联系电话报名{zh} / {n} different legal persons gave the \
                     same contact phone{en}"
                ),
                evidence: Evidence::SharedPhone(SharedPhoneEvidence {
                    persons,
                    accounts: accounts(&regs),
                    registrations: regs.iter().map(|r| ix.reg_ref(r)).collect(),
                    same_listing,
                }),
            }
            .build(),
        );
    }
    out
}

fn recurring_pairs(ix: &Index) -> Vec<Signal> {
    // (person a, person b) with a < b → the listings and their two registrations.
    let mut pairs: BTreeMap<(String, String), Vec<(Reg, Reg)>> = BTreeMap::new();
    for regs in ix.by_listing.values() {
        let mut eligible: Vec<(String, Reg)> = regs
            .iter()
            .filter(|r| r.was_eligible())
            .map(|r| (r.person(), *r))
            .collect();
        eligible.sort_by(|a, b| a.0.cmp(&b.0));
        eligible.dedup_by(|a, b| a.0 == b.0);
        for (i, (pa, ra)) in eligible.iter().enumerate() {
            for (pb, rb) in &eligible[i + 1..] {
                pairs
                    .entry((pa.clone(), pb.clone()))
                    .or_default()
                    .push((*ra, *rb));
            }
        }
    }
    let mut out = Vec::new();
    for ((pa, pb), hits) in pairs {
        if hits.len() < PAIR_MIN_LISTINGS {
            continue;
        }
        // Show the persons as their newest registrations name them, in name order.
        let a = newest_person(hits.iter().map(|h| h.0));
        let b = newest_person(hits.iter().map(|h| h.1));
        let swap = b < a;
        let persons = if swap { vec![b, a] } else { vec![a, b] };
        let mut listings: Vec<PairListing> = hits
            .iter()
            .map(|(ra, rb)| {
                let (first, second) = if swap { (rb, ra) } else { (ra, rb) };
                PairListing {
                    listing_id: ra.listing_id.clone(),
                    listing_no: ix.listing_no(&ra.listing_id),
                    registration_ids: vec![
                        first.registration_id.clone(),
                        second.registration_id.clone(),
                    ],
                }
            })
            .collect();
        listings.sort_by(|x, y| x.listing_id.cmp(&y.listing_id));
        let all: Vec<Reg> = hits.iter().flat_map(|(x, y)| [*x, *y]).collect();
        let n = listings.len();
        let (na, nb) = (&persons[0].legal_name, &persons[1].legal_name);
        out.push(
            Draft {
                kind: SignalKind::RecurringBidderPair,
                subject: format!("{pa}\u{0}{pb}"),
                severity: if n >= 2 * PAIR_MIN_LISTINGS {
                    Severity::High
                } else {
                    Severity::Medium
                },
                listing: None,
                listing_ids: listings.iter().map(|l| l.listing_id.clone()).collect(),
                at: newest(&all).unwrap_or_default(),
                summary: format!(
                    "{na}与{nb}共同作为合格竞买人出现在{n}个挂牌中 / {na} and {nb} were eligible \
                     bidders together on {n} listings"
                ),
                evidence: Evidence::RecurringBidderPair(BidderPairEvidence {
                    persons,
                    listings,
                    listing_count: n,
                    threshold: PAIR_MIN_LISTINGS,
                }),
            }
            .build(),
        );
    }
    out
}

/// A legal person as its newest registration names it.
fn newest_person<'a>(regs: impl Iterator<Item = Reg<'a>>) -> PersonRef {
    regs.max_by(|x, y| {
        (x.registered_at, &x.registration_id).cmp(&(y.registered_at, &y.registration_id))
    })
    .map(RegistrationFacts::person_ref)
    .unwrap_or_else(|| PersonRef {
        legal_name: String::new(),
        id_number_masked: String::new(),
    })
}

/// Eligible bidders and those of them who bid.
fn field(regs: &[Reg]) -> (usize, usize) {
    let eligible = regs.iter().filter(|r| r.was_eligible()).count();
    let active = regs
        .iter()
        .filter(|r| r.was_eligible() && r.bid_count > 0)
        .count();
    (eligible, active)
}

fn low_win(ix: &Index, l: &ListingFacts) -> Option<Signal> {
    let d = ix.deal(&l.listing_id, 1)?;
    let winner = ix.registrations.get(d.registration_id.as_str())?;
    if l.min_increment_fen <= 0 {
        return None;
    }
    let above = d.price_fen.checked_sub(l.reserve_price_fen)?.max(0);
    let (eligible, active) = field(ix.regs(&l.listing_id));
    let few = eligible <= FEW_BIDDERS || active <= FEW_BIDDERS;
    if above > LOW_WIN_MAX_INCREMENTS.saturating_mul(l.min_increment_fen) || !few {
        return None;
    }
    let increments = above / l.min_increment_fen;
    let severity = if d.negotiated {
        Severity::Low
    } else if above == 0 {
        Severity::High
    } else {
        Severity::Medium
    };
    let (zh, en) = if above == 0 {
        ("以底价成交".to_string(), "Won at the reserve".to_string())
    } else {
        (
            format!("以底价加{increments}个加价幅度成交"),
            format!("Won {increments} increment(s) above the reserve"),
        )
    };
    Some(
        Draft {
            kind: SignalKind::LowWinFewBidders,
            subject: l.listing_id.clone(),
            severity,
            listing: Some(l.reference()),
            listing_ids: vec![],
            at: d.awarded_at,
            summary: format!(
                "{zh}，合格竞买人{eligible}名、出价{active}名 / {en} with {eligible} eligible \
                 bidder(s), {active} of whom bid"
            ),
            evidence: Evidence::LowWinFewBidders(LowWinEvidence {
                deal_id: d.deal_id.clone(),
                winner: ix.reg_ref(winner),
                negotiated: d.negotiated,
                reserve_price_fen: l.reserve_price_fen,
                min_increment_fen: l.min_increment_fen,
                price_fen: d.price_fen,
                increments_above_reserve: increments,
                eligible_bidders: eligible,
                active_bidders: active,
            }),
        }
        .build(),
    )
}

/// For each legal person, the held auctions in which it was eligible and never bid.
fn silent_bidders<'a>(ix: &Index<'a>) -> BTreeMap<String, Vec<&'a str>> {
    let mut silent: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (lid, l) in &ix.listings {
        let regs = ix.regs(lid);
        if !l.closed() || field(regs).0 < 2 {
            continue;
        }
        for r in regs.iter().filter(|r| r.was_eligible() && r.bid_count == 0) {
            silent.entry(r.person()).or_default().push(lid);
        }
    }
    silent
}

fn cover_bidding(
    ix: &Index,
    l: &ListingFacts,
    silent_in: &BTreeMap<String, Vec<&str>>,
) -> Option<Signal> {
    let regs = ix.regs(&l.listing_id);
    let (eligible, active) = field(regs);
    if !l.closed() || eligible < 2 {
        return None;
    }
    let silent: Vec<SilentBidder> = regs
        .iter()
        .filter(|r| r.was_eligible() && r.bid_count == 0)
        .map(|r| {
            let listings = silent_in.get(&r.person()).cloned().unwrap_or_default();
            SilentBidder {
                registration: ix.reg_ref(r),
                silent_auctions: listings.len(),
                silent_listings: listings.iter().map(|x| ix.listing_ref(x)).collect(),
            }
        })
        .collect();
    let most = silent.iter().map(|s| s.silent_auctions).max()?;
    let n = silent.len();
    let listing_ids = silent
        .iter()
        .flat_map(|s| s.silent_listings.iter().map(|x| x.listing_id.clone()))
        .collect();
    Some(
        Draft {
            kind: SignalKind::CoverBidding,
            subject: l.listing_id.clone(),
            severity: match most {
                0 | 1 => Severity::Low,
                2 => Severity::Medium,
                _ => Severity::High,
            },
            listing: Some(l.reference()),
            listing_ids,
            at: l.closed_at.unwrap_or_default(),
            summary: format!(
                "{n}名合格竞买人报名并交纳保证金后未出价（陪标嫌疑） / {n} eligible bidder(s) \
                 never bid in the auction (possible cover bidding)"
            ),
            evidence: Evidence::CoverBidding(CoverBiddingEvidence {
                eligible_bidders: eligible,
                active_bidders: active,
                silent,
            }),
        }
        .build(),
    )
}

fn fallen(ix: &Index, d: &DealFacts) -> Option<FallenOffer> {
    if d.status != DealStatus::FallenThrough {
        return None;
    }
    let r = ix.registrations.get(d.registration_id.as_str())?;
    Some(FallenOffer {
        deal_id: d.deal_id.clone(),
        registration: ix.reg_ref(r),
        price_fen: d.price_fen,
        outcome: d.outcome(),
        fell_through_at: d.fell_through_at,
    })
}

fn rotation(ix: &Index, l: &ListingFacts) -> Option<Signal> {
    let d1 = ix.deal(&l.listing_id, 1)?;
    let d2 = ix.deal(&l.listing_id, 2)?;
    let winner = fallen(ix, d1)?;
    let runner_up = fallen(ix, d2)?;
    let relisted = l.relisted_as.clone();
    let (zh, en) = if relisted.is_some() {
        ("，挂牌已重新发布", "; the listing was relisted")
    } else {
        ("", "")
    };
    Some(
        Draft {
            kind: SignalKind::RotationDecline,
            subject: l.listing_id.clone(),
            severity: if relisted.is_some() {
                Severity::High
            } else {
                Severity::Medium
            },
            listing: Some(l.reference()),
            listing_ids: relisted.iter().map(|r| r.listing_id.clone()).collect(),
            at: d2.fell_through_at.unwrap_or(d2.awarded_at),
            summary: format!(
                "竞得人与候补竞得人相继放弃成交{zh} / The winner and then the runner-up walked \
                 away from the deal{en}"
            ),
            evidence: Evidence::RotationDecline(Box::new(RotationEvidence {
                winner,
                runner_up,
                relisted_as: relisted,
            })),
        }
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    const RESERVE: i64 = 120_000;
    const INC: i64 = 1_000;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 10, 2, 0, 0).unwrap() + Duration::hours(h)
    }

    fn listing(id: &str, status: ListingStatus) -> ListingFacts {
        ListingFacts {
            listing_id: id.into(),
            listing_no: Some(format!("NO-{id}")),
            status,
            reserve_price_fen: RESERVE,
            min_increment_fen: INC,
            closed_at: matches!(
                status,
                ListingStatus::Awarded | ListingStatus::Contracted | ListingStatus::Failed
            )
            .then(|| t(100)),
            relisted_as: None,
        }
    }

    /// An eligible registration of `person` (its ID key and phone key) through `account`.
    fn reg(id: &str, listing: &str, account: &str, person: &str, bids: i64) -> RegistrationFacts {
        RegistrationFacts {
            registration_id: id.into(),
            listing_id: listing.into(),
            investor_id: account.into(),
            investor_name: format!("account {account}"),
            legal_name: format!("person {person}"),
            id_number_masked: format!("3101**********{person}"),
            person_key: Some(format!("hash-{person}")),
            phone_key: Some(format!("phone-{person}")),
            status: RegistrationStatus::Qualified,
            deposit_status: DepositStatus::Confirmed,
            bid_count: bids,
            registered_at: t(0),
        }
    }

    fn deal(id: &str, listing: &str, reg: &str, round: i64, price: i64) -> DealFacts {
        DealFacts {
            deal_id: id.into(),
            listing_id: listing.into(),
            registration_id: reg.into(),
            round,
            negotiated: false,
            price_fen: price,
            status: DealStatus::PendingConfirmation,
            awarded_at: t(100),
            confirm_by: t(172),
            fell_through_at: None,
        }
    }

    fn kinds(s: &[Signal]) -> Vec<SignalKind> {
        let mut k: Vec<SignalKind> = s.iter().map(|s| s.kind).collect();
        k.sort_by_key(|k| k.as_str());
        k
    }

    /// A competitive auction: three persons of their own, all bidding, won well above the
    /// reserve.
    fn clean(l: &str, persons: [&str; 3]) -> (ListingFacts, Vec<RegistrationFacts>, DealFacts) {
        let regs = persons
            .iter()
            .map(|p| reg(&format!("{l}-{p}"), l, &format!("acct-{p}"), p, 2))
            .collect();
        let d = deal(
            &format!("{l}-d1"),
            l,
            &format!("{l}-{}", persons[0]),
            1,
            RESERVE + 5 * INC,
        );
        (listing(l, ListingStatus::Awarded), regs, d)
    }

    fn facts_of(parts: Vec<(ListingFacts, Vec<RegistrationFacts>, DealFacts)>) -> Facts {
        let mut f = Facts::default();
        for (l, r, d) in parts {
            f.listings.push(l);
            f.registrations.extend(r);
            f.deals.push(d);
        }
        f
    }

    #[test]
    fn a_clean_competitive_auction_raises_nothing() {
        let f = facts_of(vec![
            clean("L1", ["a", "b", "c"]),
            clean("L2", ["d", "e", "f"]),
        ]);
        assert!(detect(&f).is_empty());
    }

    #[test]
    fn one_person_behind_two_accounts() {
        let mut f = facts_of(vec![
            clean("L1", ["a", "b", "c"]),
            clean("L2", ["d", "e", "f"]),
        ]);
        // Person a registers on L2 as well, from another account.
        f.registrations.push(reg("L2-a2", "L2", "acct-a2", "a", 1));
        let s = detect(&f);
        assert_eq!(kinds(&s), [SignalKind::SharedIdentity]);
        assert_eq!(s[0].severity, Severity::Medium);
        assert_eq!(s[0].listing_id, None);
        assert_eq!(s[0].listing_ids, ["L1", "L2"]);
        let Evidence::SharedIdentity(e) = &s[0].evidence else {
            panic!("{s:?}")
        };
        assert_eq!(e.id_number_masked, "3101**********a");
        let accts: Vec<&str> = e.accounts.iter().map(|a| a.investor_id.as_str()).collect();
        assert_eq!(accts, ["acct-a", "acct-a2"]);
        assert!(e.common_listings.is_empty());
        // If the other account also registers (as someone else) where the first one did,
        // one person may be bidding against itself.
        f.registrations.push(reg("L1-x", "L1", "acct-a2", "x", 1));
        let s = detect(&f);
        let ident = s
            .iter()
            .find(|s| s.kind == SignalKind::SharedIdentity)
            .unwrap();
        assert_eq!(ident.severity, Severity::High);
        let Evidence::SharedIdentity(e) = &ident.evidence else {
            panic!()
        };
        assert_eq!(e.common_listings[0].listing_id, "L1");
    }

    #[test]
    fn one_phone_for_two_persons_on_one_listing_is_high() {
        let mut f = facts_of(vec![clean("L1", ["a", "b", "c"])]);
        f.registrations[1].phone_key = Some("phone-a".into());
        let s = detect(&f);
        assert_eq!(kinds(&s), [SignalKind::SharedPhone]);
        assert_eq!(s[0].severity, Severity::High);
        let Evidence::SharedPhone(e) = &s[0].evidence else {
            panic!()
        };
        assert_eq!(e.persons.len(), 2);
        assert_eq!(e.same_listing[0].listing_id, "L1");
        // Across listings only: medium. One person with one phone everywhere: nothing.
        let mut f = facts_of(vec![
            clean("L1", ["a", "b", "c"]),
            clean("L2", ["d", "e", "f"]),
        ]);
        f.registrations[3].phone_key = Some("phone-a".into());
        let s = detect(&f);
        assert_eq!(kinds(&s), [SignalKind::SharedPhone]);
        assert_eq!(s[0].severity, Severity::Medium);
        let mut f = facts_of(vec![
            clean("L1", ["a", "b", "c"]),
            clean("L2", ["d", "e", "f"]),
        ]);
        f.registrations.push(reg("L2-a", "L2", "acct-a", "a", 1));
        assert!(detect(&f).is_empty());
    }

    #[test]
    fn a_pair_on_three_listings_recurs_and_on_six_is_high() {
        let parts: Vec<_> = (0..3)
            .map(|i| clean(&format!("L{i}"), ["a", "b", &format!("z{i}")]))
            .collect();
        let s = detect(&facts_of(parts.clone()));
        assert_eq!(kinds(&s), [SignalKind::RecurringBidderPair]);
        assert_eq!(s[0].severity, Severity::Medium);
        let Evidence::RecurringBidderPair(e) = &s[0].evidence else {
            panic!()
        };
        assert_eq!(e.listing_count, 3);
        assert_eq!(e.persons[0].legal_name, "person a");
        assert_eq!(e.listings[0].registration_ids, ["L0-a", "L0-b"]);
        // Two listings are not enough; ineligible registrations don't count.
        let mut two = facts_of(parts.clone());
        two.registrations
            .iter_mut()
            .filter(|r| r.listing_id == "L2" && r.registration_id.ends_with("-b"))
            .for_each(|r| r.deposit_status = DepositStatus::Unpaid);
        assert!(detect(&two)
            .iter()
            .all(|s| s.kind != SignalKind::RecurringBidderPair));
        let six: Vec<_> = (0..6)
            .map(|i| clean(&format!("L{i}"), ["a", "b", &format!("z{i}")]))
            .collect();
        let s = detect(&facts_of(six));
        assert_eq!(s[0].severity, Severity::High);
    }

    #[test]
    fn low_wins_with_few_bidders() {
        // Two eligible, one bid at the reserve: high (and the silent one is cover bidding).
        let l = listing("L", ListingStatus::Awarded);
        let f = Facts {
            listings: vec![l.clone()],
            registrations: vec![reg("r1", "L", "a", "a", 1), reg("r2", "L", "b", "b", 0)],
            deals: vec![deal("d1", "L", "r1", 1, RESERVE)],
        };
        let s = detect(&f);
        assert_eq!(
            kinds(&s),
            [SignalKind::CoverBidding, SignalKind::LowWinFewBidders]
        );
        let low = s
            .iter()
            .find(|s| s.kind == SignalKind::LowWinFewBidders)
            .unwrap();
        assert_eq!(low.severity, Severity::High);
        assert_eq!(low.listing_id.as_deref(), Some("L"));
        assert_eq!(low.listing_no.as_deref(), Some("NO-L"));
        let Evidence::LowWinFewBidders(e) = &low.evidence else {
            panic!()
        };
        assert_eq!((e.eligible_bidders, e.active_bidders), (2, 1));
        assert_eq!(e.increments_above_reserve, 0);
        // One increment above with both bidding: medium. Two increments: nothing.
        let mut g = f.clone();
        g.registrations[1].bid_count = 1;
        g.deals[0].price_fen = RESERVE + INC;
        let s = detect(&g);
        assert_eq!(kinds(&s), [SignalKind::LowWinFewBidders]);
        assert_eq!(s[0].severity, Severity::Medium);
        g.deals[0].price_fen = RESERVE + 2 * INC;
        assert!(detect(&g).is_empty());
        // A negotiated deal at the reserve: low.
        let f = Facts {
            listings: vec![l],
            registrations: vec![reg("r1", "L", "a", "a", 0)],
            deals: vec![DealFacts {
                negotiated: true,
                ..deal("d1", "L", "r1", 1, RESERVE)
            }],
        };
        let s = detect(&f);
        assert_eq!(kinds(&s), [SignalKind::LowWinFewBidders]);
        assert_eq!(s[0].severity, Severity::Low);
        // Three eligible, three bidding: not few, whatever the price.
        let (l, regs, mut d) = clean("L", ["a", "b", "c"]);
        d.price_fen = RESERVE;
        assert!(detect(&facts_of(vec![(l, regs, d)])).is_empty());
    }

    #[test]
    fn cover_bidding_grows_with_repetition_and_needs_a_held_auction() {
        let mut f = Facts::default();
        for i in 0..3 {
            let (l, mut regs, d) = clean(&format!("L{i}"), ["a", "b", "s"]);
            regs[2].bid_count = 0;
            f.listings.push(l);
            f.registrations.extend(regs);
            f.deals.push(d);
        }
        let covers = |f: &Facts| -> Vec<Severity> {
            detect(f)
                .into_iter()
                .filter(|s| s.kind == SignalKind::CoverBidding)
                .map(|s| s.severity)
                .collect()
        };
        // s was silent in all three (and a, b, s recur together).
        assert_eq!(covers(&f), [Severity::High; 3]);
        f.listings.truncate(2);
        assert_eq!(covers(&f), [Severity::Medium; 2]);
        f.listings.truncate(1);
        assert_eq!(covers(&f), [Severity::Low]);
        // Not held: still open for registration, or fewer than two eligible.
        f.listings[0].status = ListingStatus::Auction;
        f.listings[0].closed_at = None;
        assert!(covers(&f).is_empty());
        let mut g = Facts {
            listings: vec![listing("L", ListingStatus::Failed)],
            registrations: vec![reg("r1", "L", "a", "a", 0)],
            deals: vec![],
        };
        assert!(detect(&g).is_empty());
        // Two eligible, nobody bid: both silent.
        g.registrations.push(reg("r2", "L", "b", "b", 0));
        let s = detect(&g);
        let Evidence::CoverBidding(e) = &s[0].evidence else {
            panic!()
        };
        assert_eq!(e.silent.len(), 2);
        assert_eq!((e.eligible_bidders, e.active_bidders), (2, 0));
    }

    #[test]
    fn rotation_needs_both_offers_to_fall_and_relisting_makes_it_high() {
        let (mut l, regs, mut d1) = clean("L", ["w", "r", "x"]);
        d1.status = DealStatus::FallenThrough;
        d1.fell_through_at = Some(t(120));
        let mut d2 = deal("L-d2", "L", "L-r", 2, RESERVE + 4 * INC);
        let mut f = facts_of(vec![(l.clone(), regs.clone(), d1.clone())]);
        f.deals.push(d2.clone());
        assert!(detect(&f).is_empty(), "the runner-up's offer is still open");
        d2.status = DealStatus::FallenThrough;
        d2.fell_through_at = Some(d2.confirm_by);
        f.deals[1] = d2.clone();
        let s = detect(&f);
        assert_eq!(kinds(&s), [SignalKind::RotationDecline]);
        assert_eq!(s[0].severity, Severity::Medium);
        assert_eq!(s[0].at, d2.confirm_by);
        let Evidence::RotationDecline(e) = &s[0].evidence else {
            panic!()
        };
        assert_eq!(e.winner.outcome, OfferOutcome::Declined);
        assert_eq!(e.runner_up.outcome, OfferOutcome::TimedOut);
        assert_eq!(e.runner_up.registration.registration_id, "L-r");
        l.relisted_as = Some(ListingRef {
            listing_id: "L-again".into(),
            listing_no: None,
        });
        f.listings[0] = l;
        let s = detect(&f);
        assert_eq!(s[0].severity, Severity::High);
        assert_eq!(s[0].listing_ids, ["L", "L-again"]);
    }

    #[test]
    fn evidence_never_carries_the_keys() {
        let mut f = facts_of(vec![
            clean("L1", ["a", "b", "c"]),
            clean("L2", ["d", "e", "f"]),
        ]);
        f.registrations.push(reg("L2-a2", "L2", "acct-a2", "a", 1));
        f.registrations[1].phone_key = Some("phone-a".into());
        let text = serde_json::to_string(&detect(&f)).unwrap();
        assert!(
            !text.contains("hash-") && !text.contains("phone-"),
            "{text}"
        );
    }

    #[test]
    fn phones_compare_by_their_digits() {
        assert_eq!(phone_digits("+86 138-0013-8000"), "13800138000");
        assert_eq!(phone_digits("13800138000"), "13800138000");
        assert_eq!(phone_digits("021-57201234"), "02157201234");
        assert_eq!(phone_digits("8613800138000"), "13800138000");
        assert_eq!(phone_digits("86-21-5720-1234"), "862157201234");
    }

    #[test]
    fn the_window_defaults_to_a_year_and_must_not_be_empty() {
        let now = t(0);
        assert_eq!(
            window_bounds(now, None, None),
            Ok((now - Duration::days(365), None))
        );
        assert_eq!(
            window_bounds(now, None, Some(now)),
            Ok((now - Duration::days(365), Some(now)))
        );
        assert_eq!(
            window_bounds(now, Some(now), Some(now)).unwrap_err().field,
            "until"
        );
    }

    #[test]
    fn staff_of_another_township_are_kept_out_others_refused() {
        let c = |role, township: Option<&str>| Caller {
            id: "u".into(),
            role,
            email: "u@example.cn".into(),
            village_id: None,
            township_id: township.map(Into::into),
            insurer_id: None,
            email_verified: true,
        };
        assert_eq!(
            oversight(&c(Role::Staff, Some("t1")), "t1"),
            Oversight::Allowed
        );
        assert_eq!(oversight(&c(Role::Admin, None), "t1"), Oversight::Allowed);
        assert_eq!(
            oversight(&c(Role::Staff, Some("t2")), "t1"),
            Oversight::Hidden
        );
        for role in [Role::Collective, Role::Investor, Role::Insurer] {
            assert_eq!(oversight(&c(role, None), "t1"), Oversight::Forbidden);
        }
    }

    #[test]
    fn ids_sort_by_time_and_pages_partition() {
        let a = signal_id(SignalKind::CoverBidding, "L1", t(0));
        let b = signal_id(SignalKind::CoverBidding, "L1", t(1));
        assert!(a < b);
        assert_eq!(a, signal_id(SignalKind::CoverBidding, "L1", t(0)));
        assert_ne!(a, signal_id(SignalKind::RotationDecline, "L1", t(0)));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    /// A random township: listings with registrations drawn from a small cast of persons,
    /// accounts and phones, random bids, deals and fall-throughs.
    fn arb_facts() -> impl Strategy<Value = Facts> {
        let reg_s = (
            0..6usize,
            0..6usize,
            0..5usize,
            0..4i64,
            any::<bool>(),
            0..3usize,
        );
        let listing_s = (
            prop::collection::vec(reg_s, 0..6),
            0..4usize,
            0..3i64,
            any::<bool>(),
        );
        prop::collection::vec(listing_s, 1..8).prop_map(|ls| {
            let mut f = Facts::default();
            for (i, (regs, status, deal_rounds, relisted)) in ls.into_iter().enumerate() {
                let lid = format!("L{i}");
                let mut l = listing(
                    &lid,
                    [
                        ListingStatus::Auction,
                        ListingStatus::Awarded,
                        ListingStatus::Failed,
                        ListingStatus::Contracted,
                    ][status],
                );
                if relisted {
                    l.relisted_as = Some(ListingRef {
                        listing_id: format!("R{i}"),
                        listing_no: None,
                    });
                }
                let mut seen = BTreeSet::new();
                let mut ids = Vec::new();
                for (j, (person, account, phone, bids, qualified, deposit)) in
                    regs.into_iter().enumerate()
                {
                    // One registration per person and per account on a listing.
                    if !seen.insert(("p", person)) || !seen.insert(("a", account)) {
                        continue;
                    }
                    let id = format!("{lid}-r{j}");
                    let mut r = reg(
                        &id,
                        &lid,
                        &format!("a{account}"),
                        &format!("p{person}"),
                        bids,
                    );
                    r.phone_key = Some(format!("phone-{phone}"));
                    r.status = if qualified {
                        RegistrationStatus::Qualified
                    } else {
                        RegistrationStatus::Applied
                    };
                    r.deposit_status = [
                        DepositStatus::Unpaid,
                        DepositStatus::Confirmed,
                        DepositStatus::RefundDue,
                    ][deposit];
                    f.registrations.push(r);
                    ids.push(id);
                }
                for round in 1..=deal_rounds.min(ids.len() as i64) {
                    let mut d = deal(
                        &format!("{lid}-d{round}"),
                        &lid,
                        &ids[round as usize - 1],
                        round,
                        RESERVE + (i as i64 % 3) * INC,
                    );
                    if round < deal_rounds || i % 2 == 0 {
                        d.status = DealStatus::FallenThrough;
                        d.fell_through_at = Some(t(110 + round));
                    }
                    f.deals.push(d);
                }
                f.listings.push(l);
            }
            f
        })
    }

    proptest! {
        #[test]
        fn detection_ignores_input_order(f in arb_facts(), seed in any::<u64>()) {
            let mut g = f.clone();
            let n = g.registrations.len().max(1);
            g.registrations.rotate_left(seed as usize % n);
            g.registrations.reverse();
            g.listings.reverse();
            g.deals.reverse();
            prop_assert_eq!(detect(&f), detect(&g));
        }

        #[test]
        fn signals_are_unique_sorted_and_name_known_listings(f in arb_facts()) {
            let s = detect(&f);
            let known: BTreeSet<&str> = f
                .listings
                .iter()
                .flat_map(|l| {
                    std::iter::once(l.listing_id.as_str())
                        .chain(l.relisted_as.iter().map(|r| r.listing_id.as_str()))
                })
                .collect();
            for w in s.windows(2) {
                prop_assert!(w[0].id > w[1].id);
            }
            for sig in &s {
                prop_assert!(!sig.listing_ids.is_empty());
                prop_assert!(sig.listing_ids.iter().all(|l| known.contains(l.as_str())));
                if let Some(l) = &sig.listing_id {
                    prop_assert!(sig.involves(l));
                }
            }
        }

        #[test]
        fn pages_partition_the_signals(f in arb_facts(), limit in 1usize..5) {
            let all = detect(&f);
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let (items, next) = page(all.clone(), after.as_deref(), limit);
                prop_assert!(items.len() <= limit);
                seen.extend(items);
                match next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            prop_assert_eq!(seen, all);
        }

        #[test]
        fn without_shared_keys_or_deals_only_cover_bidding_and_pairs_remain(f in arb_facts()) {
            let mut g = f.clone();
            g.deals.clear();
            for (i, r) in g.registrations.iter_mut().enumerate() {
                r.phone_key = Some(format!("own-{i}"));
                r.investor_id = format!("own-{}", r.person_key.clone().unwrap_or_default());
            }
            for s in detect(&g) {
                prop_assert!(matches!(s.kind, SignalKind::CoverBidding | SignalKind::RecurringBidderPair), "{:?}", s.kind);
            }
        }
    }
}
