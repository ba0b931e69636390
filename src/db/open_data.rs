//! The published records of open data and their change feed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::open_deals;
use super::{DbConn, QResult};
use crate::domain::listing::ListingStatus;
use crate::domain::open_data::is_published;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = open_deals)]
pub struct OpenDealRow {
    pub listing_id: String,
    pub feed_seq: i64,
    pub township_id: String,
    pub village_id: String,
    pub outcome: String,
    pub year: i64,
    pub body: String,
    pub published_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The counter scope of the feed: its row lock orders the writers, so sequence order is
/// commit order and a follower that has seen `n` has seen everything before `n`.
pub const FEED_COUNTER: &str = "open-data";

pub fn find(conn: &mut DbConn, listing_id: &str) -> QResult<Option<OpenDealRow>> {
    open_deals::table
        .find(listing_id)
        .select(OpenDealRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn insert(conn: &mut DbConn, row: &OpenDealRow) -> QResult<()> {
    diesel::insert_into(open_deals::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn save(conn: &mut DbConn, row: &OpenDealRow) -> QResult<()> {
    diesel::update(open_deals::table.find(&row.listing_id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

/// Filters of the public list.
#[derive(Debug, Clone, Default)]
pub struct OpenFilter {
    pub township_id: Option<String>,
    pub village_id: Option<String>,
    pub year: Option<i64>,
    pub outcomes: Vec<String>,
}

/// A page in listing-id order (creation order), `limit + 1` rows.
pub fn list(
    conn: &mut DbConn,
    f: &OpenFilter,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<OpenDealRow>> {
    let mut q = open_deals::table
        .select(OpenDealRow::as_select())
        .order(open_deals::listing_id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(t) = &f.township_id {
        q = q.filter(open_deals::township_id.eq(t.clone()));
    }
    if let Some(v) = &f.village_id {
        q = q.filter(open_deals::village_id.eq(v.clone()));
    }
    if let Some(y) = f.year {
        q = q.filter(open_deals::year.eq(y));
    }
    if !f.outcomes.is_empty() {
        q = q.filter(open_deals::outcome.eq_any(f.outcomes.clone()));
    }
    if let Some(a) = after {
        q = q.filter(open_deals::listing_id.gt(a.to_string()));
    }
    q.load(conn)
}

/// The records changed after feed position `since`, in feed order, `limit + 1` rows.
pub fn changes(conn: &mut DbConn, since: i64, limit: i64) -> QResult<Vec<OpenDealRow>> {
    open_deals::table
        .filter(open_deals::feed_seq.gt(since))
        .order(open_deals::feed_seq)
        .limit(limit + 1)
        .select(OpenDealRow::as_select())
        .load(conn)
}

/// Listings with an outcome and no published record yet.
pub fn unpublished_outcomes(conn: &mut DbConn) -> QResult<Vec<String>> {
    use super::schema::listings;
    let outcomes: Vec<&str> = ListingStatus::ALL
        .iter()
        .filter(|s| is_published(**s))
        .map(|s| s.as_str())
        .collect();
    listings::table
        .filter(listings::status.eq_any(outcomes))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            open_deals::table.filter(open_deals::listing_id.eq(listings::id)),
        )))
        .select(listings::id)
        .order(listings::id)
        .load(conn)
}
