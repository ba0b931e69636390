//! The facts the collusion signals rest on (`domain::signals`): a township's listings of a
//! window, their registrations (with the investor accounts' names), bid tallies and deals.
//! A handful of queries per request, each bounded by the window's listing ids.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::Deal;
use super::schema::{bids, deals, listings, registrations, users};
use super::{DbConn, QResult};
use crate::domain::listing::ListingStatus;
use crate::domain::registration::{DepositStatus, RegistrationStatus};

/// What the signals read of a listing.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = listings)]
pub struct ListingRow {
    pub id: String,
    pub listing_no: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: ListingStatus,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    pub closed_at: Option<NaiveDateTime>,
    pub relisted_as_id: Option<String>,
}

/// What the signals read of a registration, with its investor account's display name. The
/// phone is as stored (encrypted): the use case compares it, nobody shows it.
#[derive(Debug, Clone, Queryable)]
pub struct RegistrationRow {
    pub id: String,
    pub listing_id: String,
    pub investor_id: String,
    pub investor_name: String,
    pub legal_name: String,
    pub id_number_masked: String,
    pub id_number_hash: Option<String>,
    pub phone: String,
    #[diesel(deserialize_as = String)]
    pub status: RegistrationStatus,
    #[diesel(deserialize_as = String)]
    pub deposit_status: DepositStatus,
    pub created_at: NaiveDateTime,
}

/// One listing.
pub fn listing(conn: &mut DbConn, id: &str) -> QResult<Option<ListingRow>> {
    listings::table
        .find(id)
        .select(ListingRow::as_select())
        .get_result(conn)
        .optional()
}

/// The township's listings that were announced (so may have registrations) and whose
/// registration closes in `[since, until)`, the latest-closing first: at most `max + 1` rows,
/// so the caller knows whether the window held more.
pub fn window_listings(
    conn: &mut DbConn,
    township_id: &str,
    since: NaiveDateTime,
    until: Option<NaiveDateTime>,
    max: i64,
) -> QResult<Vec<ListingRow>> {
    let mut q = listings::table
        .filter(listings::township_id.eq(township_id))
        .filter(listings::announced_at.is_not_null())
        .filter(listings::registration_closes_at.ge(since))
        .select(ListingRow::as_select())
        .order((listings::registration_closes_at.desc(), listings::id.desc()))
        .limit(max + 1)
        .into_boxed();
    if let Some(u) = until {
        q = q.filter(listings::registration_closes_at.lt(u));
    }
    q.load(conn)
}

/// The listing numbers of these listings (the relisted copies named in evidence).
pub fn listing_numbers(
    conn: &mut DbConn,
    ids: &[String],
) -> QResult<HashMap<String, Option<String>>> {
    Ok(listings::table
        .filter(listings::id.eq_any(ids))
        .select((listings::id, listings::listing_no))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .collect())
}

/// Every registration of these listings, with its account's display name.
pub fn registrations_of(
    conn: &mut DbConn,
    listing_ids: &[String],
) -> QResult<Vec<RegistrationRow>> {
    registrations::table
        .inner_join(users::table.on(users::id.eq(registrations::investor_id)))
        .filter(registrations::listing_id.eq_any(listing_ids))
        .select((
            registrations::id,
            registrations::listing_id,
            registrations::investor_id,
            users::display_name,
            registrations::legal_name,
            registrations::id_number_masked,
            registrations::id_number_hash,
            registrations::phone,
            registrations::status,
            registrations::deposit_status,
            registrations::created_at,
        ))
        .order(registrations::id)
        .load(conn)
}

/// Accepted bids per registration on these listings.
pub fn bid_counts(conn: &mut DbConn, listing_ids: &[String]) -> QResult<HashMap<String, i64>> {
    Ok(bids::table
        .filter(bids::listing_id.eq_any(listing_ids))
        .group_by(bids::registration_id)
        .select((bids::registration_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

/// Every deal offer of these listings.
pub fn deals_of(conn: &mut DbConn, listing_ids: &[String]) -> QResult<Vec<Deal>> {
    deals::table
        .filter(deals::listing_id.eq_any(listing_ids))
        .order((deals::listing_id, deals::round))
        .select(Deal::as_select())
        .load(conn)
}
