//! Bid and deal queries.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::audit::{head_update, record_insert};
use super::cached::{write_pg, write_sqlite};
use super::listings::bid_state_update;
use super::models::{AuditRecord, Bid, Deal, Listing};
use super::schema::{bids, deals};
use super::DbConn;
use crate::domain::auction::Accepted;
use crate::domain::deal::DealStatus;

use super::QResult;

impl Bid {
    /// The row of a bid the auction rules accepted: the one place a bid is built.
    pub fn accepted(
        listing_id: &str,
        registration_id: &str,
        seq: i64,
        bidder_no: i64,
        accepted: &Accepted,
        placed_at: DateTime<Utc>,
    ) -> Bid {
        Bid {
            id: uuid::Uuid::now_v7().to_string(),
            listing_id: listing_id.to_string(),
            registration_id: registration_id.to_string(),
            seq,
            bidder_no,
            amount_fen: accepted.price_fen,
            priority: accepted.priority,
            placed_at: placed_at.naive_utc(),
            extended_to: accepted
                .extended
                .then(|| accepted.current_ends_at.naive_utc()),
        }
    }
}

/// What a deal offer is made of; confirmations and the fall-through start empty.
#[derive(Debug, Clone)]
pub struct DealTerms {
    pub listing_id: String,
    pub registration_id: String,
    /// 1: the winner; 2: the runner-up's offer.
    pub round: i64,
    pub negotiated: bool,
    pub confirmation_no: String,
    pub bidder_no: i64,
    pub price_fen: i64,
    pub annual_rent_fen: i64,
    pub awarded_at: DateTime<Utc>,
    pub confirm_by: DateTime<Utc>,
    pub publicity_ends_at: DateTime<Utc>,
}

impl Deal {
    /// A new offer, pending confirmation: the one place a deal row is built.
    pub fn offer(t: DealTerms, now: DateTime<Utc>) -> Deal {
        Deal {
            id: uuid::Uuid::now_v7().to_string(),
            listing_id: t.listing_id,
            registration_id: t.registration_id,
            round: t.round,
            negotiated: t.negotiated,
            confirmation_no: t.confirmation_no,
            bidder_no: t.bidder_no,
            price_fen: t.price_fen,
            annual_rent_fen: t.annual_rent_fen,
            status: DealStatus::PendingConfirmation,
            awarded_at: t.awarded_at.naive_utc(),
            confirm_by: t.confirm_by.naive_utc(),
            publicity_ends_at: t.publicity_ends_at.naive_utc(),
            winner_confirmed_at: None,
            collective_confirmed_at: None,
            fell_through_at: None,
            fall_reason: None,
            staff_reminded_at: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        }
    }
}

/// Writes an accepted bid: the bid row, what it changes on its locked listing (`l`, already
/// updated) and its audit record `rec` with the stream's head. PostgreSQL: one statement, one
/// round trip; SQLite (in process): the four statements, each kept prepared.
pub fn record_bid(conn: &mut DbConn, b: &Bid, l: &Listing, rec: &AuditRecord) -> QResult<()> {
    let bid = diesel::insert_into(bids::table).values(b);
    let listing = bid_state_update(l);
    let (record, head) = (record_insert(rec), head_update(rec));
    match conn {
        DbConn::Pg(c) => write_pg(c, &[&bid, &listing, &record, &head]),
        DbConn::Sqlite(c) => {
            write_sqlite(c, bid)?;
            write_sqlite(c, listing)?;
            write_sqlite(c, record)?;
            write_sqlite(c, head)?;
            Ok(())
        }
    }
}

/// The alias number of a registration's earlier bids on this listing, if any.
pub fn bidder_no(
    conn: &mut DbConn,
    listing_id: &str,
    registration_id: &str,
) -> QResult<Option<i64>> {
    bids::table
        .filter(bids::listing_id.eq(listing_id))
        .filter(bids::registration_id.eq(registration_id))
        .select(bids::bidder_no)
        .first(conn)
        .optional()
}

/// Bids of a listing in acceptance order, newest first, before `before_seq`.
pub fn list_bids(
    conn: &mut DbConn,
    listing_id: &str,
    before_seq: Option<i64>,
    limit: i64,
) -> QResult<Vec<Bid>> {
    let mut q = bids::table
        .filter(bids::listing_id.eq(listing_id))
        .order(bids::seq.desc())
        .limit(limit)
        .select(Bid::as_select())
        .into_boxed();
    if let Some(s) = before_seq {
        q = q.filter(bids::seq.lt(s));
    }
    q.load(conn)
}

/// Bids after `after_seq`, oldest first (the live feed).
pub fn bids_after(
    conn: &mut DbConn,
    listing_id: &str,
    after_seq: i64,
    limit: i64,
) -> QResult<Vec<Bid>> {
    bids::table
        .filter(bids::listing_id.eq(listing_id))
        .filter(bids::seq.gt(after_seq))
        .order(bids::seq.asc())
        .limit(limit)
        .select(Bid::as_select())
        .load(conn)
}

/// The newest `extended_to` among the bids up to `seq`: the auction's end after that bid, if
/// any bid extended it.
pub fn extended_to_at(
    conn: &mut DbConn,
    listing_id: &str,
    seq: i64,
) -> QResult<Option<NaiveDateTime>> {
    Ok(bids::table
        .filter(bids::listing_id.eq(listing_id))
        .filter(bids::seq.le(seq))
        .filter(bids::extended_to.is_not_null())
        .order(bids::seq.desc())
        .select(bids::extended_to)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .flatten())
}

pub fn all_bids(conn: &mut DbConn, listing_id: &str) -> QResult<Vec<Bid>> {
    bids::table
        .filter(bids::listing_id.eq(listing_id))
        .order(bids::seq.asc())
        .select(Bid::as_select())
        .load(conn)
}

pub fn insert_deal(conn: &mut DbConn, d: &Deal) -> QResult<()> {
    diesel::insert_into(deals::table)
        .values(d.clone())
        .execute(conn)?;
    Ok(())
}

pub fn save_deal(conn: &mut DbConn, d: &Deal) -> QResult<()> {
    diesel::update(deals::table.find(&d.id))
        .set(d.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find_deal(conn: &mut DbConn, id: &str) -> QResult<Option<Deal>> {
    deals::table
        .find(id)
        .select(Deal::as_select())
        .get_result(conn)
        .optional()
}

pub fn newest_deal(conn: &mut DbConn, listing_id: &str) -> QResult<Option<Deal>> {
    deals::table
        .filter(deals::listing_id.eq(listing_id))
        .order(deals::round.desc())
        .select(Deal::as_select())
        .first(conn)
        .optional()
}

/// Listings with a pending deal whose `confirm_by` has passed.
pub fn listings_with_due_deals(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> QResult<Vec<String>> {
    deals::table
        .filter(deals::status.eq(DealStatus::PendingConfirmation.as_str()))
        .filter(deals::confirm_by.le(now))
        .filter(
            deals::winner_confirmed_at
                .is_null()
                .or(deals::staff_reminded_at
                    .is_null()
                    .and(deals::collective_confirmed_at.is_null())),
        )
        .select(deals::listing_id)
        .limit(limit)
        .load(conn)
}
