//! Parcel and listing queries: they only move rows; rules and scopes are decided before.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{Listing, Parcel};
use super::schema::{counters, listing_parcels, listings, parcels};
use super::DbConn;
use crate::domain::listing::ListingStatus;

use super::QResult;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

// ---- counters ------------------------------------------------------------------------------

/// Next value of a gap-free counter. Runs in the caller's transaction; the upsert takes the
/// counter row's lock (PostgreSQL) or relies on SQLite's write lock, so concurrent users of
/// one scope are serialised and a rolled-back use leaves no gap.
pub fn next_counter(conn: &mut DbConn, scope: &str) -> QResult<i64> {
    let row = (counters::scope.eq(scope), counters::value.eq(1i64));
    let v = match conn {
        DbConn::Pg(c) => diesel::insert_into(counters::table)
            .values(row)
            .on_conflict(counters::scope)
            .do_update()
            .set(counters::value.eq(counters::value + 1))
            .returning(counters::value)
            .get_result(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(counters::table)
            .values(row)
            .on_conflict(counters::scope)
            .do_update()
            .set(counters::value.eq(counters::value + 1))
            .returning(counters::value)
            .get_result(c)?,
    };
    Ok(v)
}

// ---- parcels -------------------------------------------------------------------------------

pub fn insert_parcel(conn: &mut DbConn, p: &Parcel) -> QResult<()> {
    diesel::insert_into(parcels::table)
        .values(p.clone())
        .execute(conn)?;
    Ok(())
}

pub fn update_parcel(conn: &mut DbConn, p: &Parcel) -> QResult<()> {
    diesel::update(parcels::table.find(&p.id))
        .set(p.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find_parcel(conn: &mut DbConn, id: &str) -> QResult<Option<Parcel>> {
    Ok(parcels::table
        .find(id)
        .select(Parcel::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_parcels(conn: &mut DbConn, ids: &[String]) -> QResult<Vec<Parcel>> {
    Ok(parcels::table
        .filter(parcels::id.eq_any(ids))
        .select(Parcel::as_select())
        .load(conn)?)
}

/// Locks the parcel rows for the rest of the transaction (PostgreSQL; SQLite's write lock
/// already serialises writers), so two submits of one parcel can't both pass the lock check.
pub fn lock_parcels(conn: &mut DbConn, ids: &[String]) -> QResult<()> {
    if let DbConn::Pg(c) = conn {
        let mut sorted = ids.to_vec();
        sorted.sort();
        parcels::table
            .filter(parcels::id.eq_any(&sorted))
            .order(parcels::id)
            .select(parcels::id)
            .for_update()
            .load::<String>(c)?;
    }
    Ok(())
}

pub struct ParcelScope {
    pub village_id: Option<String>,
    pub township_id: Option<String>,
}

pub fn list_parcels(
    conn: &mut DbConn,
    scope: &ParcelScope,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Parcel>> {
    let mut q = parcels::table
        .select(Parcel::as_select())
        .order(parcels::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(v) = &scope.village_id {
        q = q.filter(parcels::village_id.eq(v.clone()));
    }
    if let Some(t) = &scope.township_id {
        q = q.filter(parcels::township_id.eq(t.clone()));
    }
    if let Some(a) = after {
        q = q.filter(parcels::id.gt(a.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Ids among `parcel_ids` held by a live listing other than `except_listing`.
pub fn locked_parcels(
    conn: &mut DbConn,
    parcel_ids: &[String],
    except_listing: Option<&str>,
) -> QResult<Vec<String>> {
    let mut q = listing_parcels::table
        .inner_join(listings::table)
        .filter(listing_parcels::parcel_id.eq_any(parcel_ids))
        .filter(listings::status.eq_any(ListingStatus::locking_statuses()))
        .select(listing_parcels::parcel_id)
        .into_boxed();
    if let Some(l) = except_listing {
        q = q.filter(listings::id.ne(l.to_string()));
    }
    let mut v: Vec<String> = q.load(conn)?;
    v.sort();
    v.dedup();
    Ok(v)
}

// ---- listings ------------------------------------------------------------------------------

/// Listings holding `parcel_id` whose status is one of `statuses`.
pub fn listings_with_parcel(
    conn: &mut DbConn,
    parcel_id: &str,
    statuses: &[&str],
) -> QResult<Vec<Listing>> {
    Ok(listings::table
        .inner_join(listing_parcels::table)
        .filter(listing_parcels::parcel_id.eq(parcel_id))
        .filter(listings::status.eq_any(statuses))
        .select(Listing::as_select())
        .order(listings::id)
        .load(conn)?)
}

pub fn insert_listing(conn: &mut DbConn, l: &Listing, parcel_ids: &[String]) -> QResult<()> {
    diesel::insert_into(listings::table)
        .values(l.clone())
        .execute(conn)?;
    set_listing_parcels(conn, &l.id, parcel_ids)
}

pub fn set_listing_parcels(
    conn: &mut DbConn,
    listing_id: &str,
    parcel_ids: &[String],
) -> QResult<()> {
    diesel::delete(listing_parcels::table.filter(listing_parcels::listing_id.eq(listing_id)))
        .execute(conn)?;
    let rows: Vec<_> = parcel_ids
        .iter()
        .map(|p| {
            (
                listing_parcels::listing_id.eq(listing_id),
                listing_parcels::parcel_id.eq(p),
            )
        })
        .collect();
    for r in rows {
        diesel::insert_into(listing_parcels::table)
            .values(r)
            .execute(conn)?;
    }
    Ok(())
}

pub fn save_listing(conn: &mut DbConn, l: &Listing) -> QResult<()> {
    diesel::update(listings::table.find(&l.id))
        .set(l.clone())
        .execute(conn)?;
    Ok(())
}

/// Moves a listing from `from` to the row's new state only if it is still in `from`: the
/// conditional update that makes concurrent transitions (and several workers) safe.
pub fn save_listing_if(conn: &mut DbConn, l: &Listing, from: ListingStatus) -> QResult<bool> {
    let n = diesel::update(
        listings::table
            .find(&l.id)
            .filter(listings::status.eq(from.as_str())),
    )
    .set(l.clone())
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find_listing(conn: &mut DbConn, id: &str) -> QResult<Option<Listing>> {
    Ok(listings::table
        .find(id)
        .select(Listing::as_select())
        .first(conn)
        .optional()?)
}

/// The listing row locked for update (PostgreSQL); SQLite is already serialised by the
/// immediate transaction.
pub fn find_listing_for_update(conn: &mut DbConn, id: &str) -> QResult<Option<Listing>> {
    match conn {
        DbConn::Pg(c) => Ok(listings::table
            .find(id)
            .select(Listing::as_select())
            .for_update()
            .first(c)
            .optional()?),
        DbConn::Sqlite(_) => find_listing(conn, id),
    }
}

pub fn listing_parcel_ids(conn: &mut DbConn, listing_id: &str) -> QResult<Vec<String>> {
    Ok(listing_parcels::table
        .filter(listing_parcels::listing_id.eq(listing_id))
        .order(listing_parcels::parcel_id)
        .select(listing_parcels::parcel_id)
        .load(conn)?)
}

pub fn listing_parcels(conn: &mut DbConn, listing_id: &str) -> QResult<Vec<Parcel>> {
    Ok(listing_parcels::table
        .inner_join(parcels::table)
        .filter(listing_parcels::listing_id.eq(listing_id))
        .order(parcels::code)
        .select(Parcel::as_select())
        .load(conn)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Newest,
    RegistrationClosesAt,
    ReservePrice,
    TotalArea,
}

#[derive(Debug, Clone, Default)]
pub struct ListingSearch {
    /// Statuses allowed (already narrowed to what the caller may see).
    pub statuses: Vec<String>,
    pub township_id: Option<String>,
    pub village_id: Option<String>,
    pub land_type: Option<String>,
    pub intended_use: Option<String>,
    pub min_area_centimu: Option<i64>,
    pub max_area_centimu: Option<i64>,
    pub max_reserve_price_fen: Option<i64>,
    pub q: Option<String>,
    pub sort: Option<(SortKey, bool)>,
    /// Keyset position: the last listing of the previous page.
    pub after: Option<Listing>,
    pub limit: i64,
}

fn like_pattern(s: &str) -> String {
    let escaped = s
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub fn search_listings(conn: &mut DbConn, s: &ListingSearch) -> QResult<Vec<Listing>> {
    let mut q = listings::table
        .select(Listing::as_select())
        .limit(s.limit + 1)
        .into_boxed();
    let mut public: Vec<String> = ListingStatus::public_statuses()
        .into_iter()
        .map(String::from)
        .collect();
    let mut wanted = s.statuses.clone();
    public.sort();
    wanted.sort();
    // The public set has its own indexes (on the derived `is_public`), so the common search
    // walks an index in sort order instead of sorting every public listing.
    q = if wanted == public {
        q.filter(listings::is_public.eq(true))
    } else {
        q.filter(listings::status.eq_any(wanted))
    };
    if let Some(v) = &s.township_id {
        q = q.filter(listings::township_id.eq(v.clone()));
    }
    if let Some(v) = &s.village_id {
        q = q.filter(listings::village_id.eq(v.clone()));
    }
    if let Some(v) = &s.land_type {
        q = q.filter(listings::land_types.like(format!("%,{v},%")));
    }
    if let Some(v) = &s.intended_use {
        q = q.filter(listings::intended_use.eq(v.clone()));
    }
    if let Some(v) = s.min_area_centimu {
        q = q.filter(listings::total_area_centimu.ge(v));
    }
    if let Some(v) = s.max_area_centimu {
        q = q.filter(listings::total_area_centimu.le(v));
    }
    if let Some(v) = s.max_reserve_price_fen {
        q = q.filter(listings::reserve_price_fen.le(v));
    }
    if let Some(text) = s.q.as_deref().filter(|t| !t.is_empty()) {
        q = q.filter(lower(listings::title).like(like_pattern(text)).escape('\\'));
    }
    let (key, desc) = s.sort.unwrap_or((SortKey::Newest, true));
    macro_rules! keyset {
        ($col:expr, $val:expr) => {{
            if let Some(a) = &s.after {
                let v = $val(a);
                q = if desc {
                    q.filter(
                        $col.lt(v.clone())
                            .or($col.eq(v).and(listings::id.lt(a.id.clone()))),
                    )
                } else {
                    q.filter(
                        $col.gt(v.clone())
                            .or($col.eq(v).and(listings::id.gt(a.id.clone()))),
                    )
                };
            }
            q = if desc {
                q.order(($col.desc(), listings::id.desc()))
            } else {
                q.order(($col.asc(), listings::id.asc()))
            };
        }};
    }
    match key {
        SortKey::Newest => {
            if let Some(a) = &s.after {
                q = if desc {
                    q.filter(listings::id.lt(a.id.clone()))
                } else {
                    q.filter(listings::id.gt(a.id.clone()))
                };
            }
            q = if desc {
                q.order(listings::id.desc())
            } else {
                q.order(listings::id.asc())
            };
        }
        SortKey::RegistrationClosesAt => {
            keyset!(listings::registration_closes_at, |a: &Listing| a
                .registration_closes_at)
        }
        SortKey::ReservePrice => keyset!(listings::reserve_price_fen, |a: &Listing| a
            .reserve_price_fen),
        SortKey::TotalArea => keyset!(listings::total_area_centimu, |a: &Listing| a
            .total_area_centimu),
    }
    Ok(q.load(conn)?)
}

/// Announced listings whose registration has closed, and auctions whose end has passed:
/// the transitions due at `now`.
pub fn due_listing_ids(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> QResult<Vec<String>> {
    // Two index range scans rather than one OR, which would scan the table.
    let mut ids: Vec<String> = listings::table
        .filter(listings::status.eq(ListingStatus::Announced.as_str()))
        .filter(listings::registration_closes_at.le(now))
        .select(listings::id)
        .limit(limit)
        .load(conn)?;
    ids.extend(
        listings::table
            .filter(listings::status.eq(ListingStatus::Auction.as_str()))
            .filter(listings::current_ends_at.le(now))
            .select(listings::id)
            .limit(limit)
            .load::<String>(conn)?,
    );
    Ok(ids)
}
