//! Bid and deal queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{Bid, Deal};
use super::schema::{bids, deals};
use super::DbConn;
use crate::domain::deal::DealStatus;

use super::QResult;

pub fn insert_bid(conn: &mut DbConn, b: &Bid) -> QResult<()> {
    diesel::insert_into(bids::table).values(b).execute(conn)?;
    Ok(())
}

/// The alias number of a registration's earlier bids on this listing, if any.
pub fn bidder_no(
    conn: &mut DbConn,
    listing_id: &str,
    registration_id: &str,
) -> QResult<Option<i64>> {
    Ok(bids::table
        .filter(bids::listing_id.eq(listing_id))
        .filter(bids::registration_id.eq(registration_id))
        .select(bids::bidder_no)
        .first(conn)
        .optional()?)
}

pub fn max_bidder_no(conn: &mut DbConn, listing_id: &str) -> QResult<i64> {
    let v: Option<i64> = bids::table
        .filter(bids::listing_id.eq(listing_id))
        .select(diesel::dsl::max(bids::bidder_no))
        .first(conn)?;
    Ok(v.unwrap_or(0))
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
    Ok(q.load(conn)?)
}

/// Bids after `after_seq`, oldest first (the live feed).
pub fn bids_after(
    conn: &mut DbConn,
    listing_id: &str,
    after_seq: i64,
    limit: i64,
) -> QResult<Vec<Bid>> {
    Ok(bids::table
        .filter(bids::listing_id.eq(listing_id))
        .filter(bids::seq.gt(after_seq))
        .order(bids::seq.asc())
        .limit(limit)
        .select(Bid::as_select())
        .load(conn)?)
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
    Ok(bids::table
        .filter(bids::listing_id.eq(listing_id))
        .order(bids::seq.asc())
        .select(Bid::as_select())
        .load(conn)?)
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
    Ok(deals::table
        .find(id)
        .select(Deal::as_select())
        .first(conn)
        .optional()?)
}

pub fn newest_deal(conn: &mut DbConn, listing_id: &str) -> QResult<Option<Deal>> {
    Ok(deals::table
        .filter(deals::listing_id.eq(listing_id))
        .order(deals::round.desc())
        .select(Deal::as_select())
        .first(conn)
        .optional()?)
}

/// Listings with a pending deal whose `confirm_by` has passed.
pub fn listings_with_due_deals(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> QResult<Vec<String>> {
    Ok(deals::table
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
        .load(conn)?)
}
