//! Registration rows: their one constructor and their queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::cached::keyed;
use super::models::{BidderRegistration, Registration};
use super::schema::{audit_streams, registrations};
use super::{DbConn, ForUpdateOf};
use crate::crypto::DataKey;
use crate::domain::registration::{mask_id, DepositStatus, IdType, RegistrationStatus};

use super::QResult;

/// What an investor states when registering (validated, the ID number normalised).
#[derive(Debug, Clone)]
pub struct Applicant {
    pub legal_name: String,
    pub id_type: IdType,
    /// In clear: stored only encrypted, and masked for display.
    pub id_number: String,
    pub phone: String,
    pub experience: String,
    pub business_plan: String,
    pub claims_membership: bool,
}

impl Registration {
    /// A new registration: `applied`, deposit `unpaid`, the ID number and phone encrypted
    /// with `key`, the ID number's uniqueness hash beside them. The one place a registration
    /// row is built.
    pub fn applied(
        listing_id: &str,
        investor_id: &str,
        a: Applicant,
        key: &DataKey,
        now: DateTime<Utc>,
    ) -> Registration {
        Registration {
            id: uuid::Uuid::now_v7().to_string(),
            listing_id: listing_id.to_string(),
            investor_id: investor_id.to_string(),
            legal_name: a.legal_name,
            id_type: a.id_type,
            id_number_enc: key.encrypt(&a.id_number),
            id_number_hash: Some(key.id_hash(&a.id_number)),
            id_number_masked: mask_id(&a.id_number),
            phone: key.encrypt(&a.phone),
            experience: a.experience,
            business_plan: a.business_plan,
            claims_membership: a.claims_membership,
            member_verified: false,
            status: RegistrationStatus::Applied,
            reject_reason: None,
            reviewed_at: None,
            deposit_status: DepositStatus::Unpaid,
            deposit_amount_fen: None,
            deposit_receipt_ref: None,
            deposit_confirmed_at: None,
            refund_receipt_ref: None,
            refunded_at: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        }
    }

    /// The phone in clear: stored encrypted, or in clear by the first release (a phone never
    /// contains `:`, and a plaintext phone doesn't decrypt).
    pub fn phone_in_clear(&self, key: &DataKey) -> String {
        key.decrypt(&self.phone)
            .unwrap_or_else(|| self.phone.clone())
    }
}

pub fn insert(conn: &mut DbConn, r: &Registration) -> QResult<()> {
    diesel::insert_into(registrations::table)
        .values(r.clone())
        .execute(conn)?;
    Ok(())
}

pub fn save(conn: &mut DbConn, r: &Registration) -> QResult<()> {
    diesel::update(registrations::table.find(&r.id))
        .set(r.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> QResult<Option<Registration>> {
    registrations::table
        .find(id)
        .select(Registration::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_investor(
    conn: &mut DbConn,
    listing_id: &str,
    investor_id: &str,
) -> QResult<Option<Registration>> {
    registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .filter(registrations::investor_id.eq(investor_id))
        .select(Registration::as_select())
        .first(conn)
        .optional()
}

/// The bidder's registration and what numbers its public alias (竞买人 n): see
/// [`crate::domain::auction::bidder_number`].
#[derive(Debug, Clone)]
pub struct BidderRow {
    pub registration: BidderRegistration,
    /// The number of the bidder's earlier bids on the listing, if it has bid.
    pub earlier_no: Option<i64>,
    /// The highest number given on the listing so far (`None`: none yet); read only when the
    /// bidder has no number yet.
    pub highest_no: Option<i64>,
}

/// An audit stream's head: its last record's `(seq, hash)`.
type StreamHead = (i64, String);

/// What a bid reads of the registrations (see [`find_bidder_and_leader`]).
#[derive(Debug, Clone)]
pub struct BidderAndLeader {
    pub mine: Option<BidderRow>,
    pub leader: Option<BidderRegistration>,
    /// The audit stream's head `(last_seq, last_hash)`, locked, when it was asked for and read
    /// in the same statement (PostgreSQL, a stream that has a head).
    pub head: Option<StreamHead>,
}

/// In one query: the registration of `investor_id` on `listing_id` with the facts that number
/// its alias, and the registration `leader_id` (the auction's leader), either possibly
/// missing. Run under the listing's lock, so the highest number can't move before the bid.
/// On PostgreSQL the same statement locks the head of the audit stream `head_of` and reads it
/// (one round trip less for the bid, which appends to it next); if that finds nothing (no
/// registration, or a stream with no record yet) the registrations are read alone and `head`
/// is `None`, as it always is on SQLite.
pub fn find_bidder_and_leader(
    conn: &mut DbConn,
    listing_id: &str,
    investor_id: &str,
    leader_id: Option<&str>,
    head_of: &str,
) -> QResult<BidderAndLeader> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Nullable};
    // Correlated to the row; plain SQL, the same on both databases, no binds of its own. The
    // listing's highest number (a scan of its bids) is read only for a bidder without one.
    macro_rules! earlier {
        () => {
            "(SELECT b.bidder_no FROM bids b \
             WHERE b.listing_id = registrations.listing_id \
             AND b.registration_id = registrations.id LIMIT 1)"
        };
    }
    /// The keys these statements are kept prepared under (see `cached::Keyed`).
    struct Registrations;
    struct RegistrationsAndHead;
    // The bidder's earlier number and the listing's highest, as columns of a registration row.
    let numbers = || {
        (
            sql::<Nullable<BigInt>>(earlier!()),
            sql::<Nullable<BigInt>>(concat!(
                "CASE WHEN ",
                earlier!(),
                " IS NULL THEN (SELECT MAX(b.bidder_no) FROM bids b \
                 WHERE b.listing_id = registrations.listing_id) END"
            )),
        )
    };
    let mine_or_leader = registrations::listing_id.eq(listing_id).and(
        registrations::investor_id
            .eq(investor_id)
            .or(registrations::id.eq(leader_id.unwrap_or_default())),
    );
    let mut head = None;
    let mut rows: Vec<(BidderRegistration, Option<i64>, Option<i64>)> = Vec::new();
    if let DbConn::Pg(c) = &mut *conn {
        let (earlier, highest) = numbers();
        let found: Vec<(BidderRegistration, Option<i64>, Option<i64>, StreamHead)> =
            keyed::<RegistrationsAndHead, _>(ForUpdateOf(
                registrations::table
                    .inner_join(audit_streams::table.on(audit_streams::stream.eq(head_of)))
                    .filter(mine_or_leader)
                    .select((
                        BidderRegistration::as_select(),
                        earlier,
                        highest,
                        (audit_streams::last_seq, audit_streams::last_hash),
                    )),
                "audit_streams",
            ))
            .load(c)?;
        // No row: no registration, or no head yet; the registrations alone tell which.
        if let Some((_, _, _, h)) = found.first() {
            head = Some(h.clone());
            rows = found.into_iter().map(|(r, e, h, _)| (r, e, h)).collect();
        }
    }
    if head.is_none() {
        // On the backend's own connection: the hot path's statements build no SQL text.
        let (earlier, highest) = numbers();
        rows = crate::db_run!(conn: {
            keyed::<Registrations, _>(
                registrations::table
                    .filter(mine_or_leader)
                    .select((BidderRegistration::as_select(), earlier, highest)),
            )
            .load(conn)?
        });
    }
    let mine = rows
        .iter()
        .find(|(r, _, _)| r.investor_id == investor_id)
        .map(|(r, earlier_no, highest_no)| BidderRow {
            registration: r.clone(),
            earlier_no: *earlier_no,
            highest_no: *highest_no,
        });
    let leader = leader_id.and_then(|id| {
        rows.into_iter()
            .find(|(r, _, _)| r.id == id)
            .map(|(r, _, _)| r)
    });
    Ok(BidderAndLeader { mine, leader, head })
}

/// The registration on `listing_id` of the legal person whose ID number hashes to `id_hash`.
pub fn find_by_id_hash(
    conn: &mut DbConn,
    listing_id: &str,
    id_hash: &str,
) -> QResult<Option<Registration>> {
    registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .filter(registrations::id_number_hash.eq(id_hash))
        .select(Registration::as_select())
        .first(conn)
        .optional()
}

/// Every registration id, in order (the `crypto rehash` walk).
pub fn all_ids(conn: &mut DbConn) -> QResult<Vec<String>> {
    registrations::table
        .order(registrations::id)
        .select(registrations::id)
        .load(conn)
}

/// Rewrites a registration's ID hash and phone ciphertext (nothing else moves).
pub fn set_protected(conn: &mut DbConn, id: &str, id_hash: &str, phone: &str) -> QResult<()> {
    diesel::update(registrations::table.find(id))
        .set((
            registrations::id_number_hash.eq(Some(id_hash.to_string())),
            registrations::phone.eq(phone.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn for_listing(conn: &mut DbConn, listing_id: &str) -> QResult<Vec<Registration>> {
    registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .order(registrations::id)
        .select(Registration::as_select())
        .load(conn)
}

#[derive(Debug, Clone, Default)]
pub struct RegistrationFilter {
    pub listing_id: Option<String>,
    pub investor_id: Option<String>,
    pub status: Option<RegistrationStatus>,
    pub deposit_status: Option<DepositStatus>,
}

pub fn list(
    conn: &mut DbConn,
    f: &RegistrationFilter,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Registration>> {
    let mut q = registrations::table
        .select(Registration::as_select())
        .order(registrations::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(v) = &f.listing_id {
        q = q.filter(registrations::listing_id.eq(v.clone()));
    }
    if let Some(v) = &f.investor_id {
        q = q.filter(registrations::investor_id.eq(v.clone()));
    }
    if let Some(v) = &f.status {
        q = q.filter(registrations::status.eq(v.as_str()));
    }
    if let Some(v) = &f.deposit_status {
        q = q.filter(registrations::deposit_status.eq(v.as_str()));
    }
    if let Some(a) = after {
        q = q.filter(registrations::id.gt(a.to_string()));
    }
    q.load(conn)
}

/// Qualified registrations with a confirmed deposit.
pub fn count_eligible(conn: &mut DbConn, listing_id: &str) -> QResult<i64> {
    registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .filter(registrations::status.eq(RegistrationStatus::Qualified.as_str()))
        .filter(registrations::deposit_status.eq(DepositStatus::Confirmed.as_str()))
        .count()
        .get_result(conn)
}
