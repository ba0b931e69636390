//! Parcel and listing queries: they only move rows; rules and scopes are decided before.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{QueryFragment, QueryId};
use diesel::sqlite::Sqlite;

use super::cached::keyed;
use super::models::{Account, Listing, Parcel};
use super::schema::{
    contract_parcels, contracts, counters, listing_parcels, listings, parcels, users,
};
use super::DbConn;
use super::ForUpdateOf;
use crate::domain::contract::ContractStatus;
use crate::domain::listing::{Consent, IntendedUse, ListingStatus, ListingTerms};
use crate::domain::parcel::LandType;

use super::QResult;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

// ---- constructors --------------------------------------------------------------------------

impl Parcel {
    /// The one way a parcel row is made: registered in a village with the fields that have no
    /// default; the register's other fields are filled in by the use case's checks.
    pub fn registered(
        village_id: String,
        township_id: String,
        land_type: LandType,
        household_contract_end: NaiveDate,
        now: NaiveDateTime,
    ) -> Parcel {
        Parcel {
            id: uuid::Uuid::now_v7().to_string(),
            code: String::new(),
            village_id,
            township_id,
            area_centimu: 0,
            land_type,
            permanent_basic_farmland: false,
            quality_grade: None,
            households: 0,
            household_contract_end,
            location: String::new(),
            boundary_geojson: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// What a new draft listing is made of. Its parcels' totals (area, rent, land types) are
/// filled in from the parcels afterwards.
#[derive(Debug, Clone)]
pub struct NewListing {
    pub village_id: String,
    pub township_id: String,
    pub created_by: String,
    pub title: String,
    pub description: String,
    pub intended_use: IntendedUse,
    pub term_start: NaiveDate,
    pub term_end: NaiveDate,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    pub deposit_fen: i64,
    pub registration_closes_at: NaiveDateTime,
    pub auction_starts_at: NaiveDateTime,
    pub auction_ends_at: NaiveDateTime,
    pub extension_secs: i64,
    pub consent: Consent,
    /// 1 for a new listing, the failed one's + 1 for a relisted copy.
    pub attempt: i64,
    pub previous_listing_id: Option<String>,
}

impl Listing {
    /// The one way a listing row is made: a draft, nothing submitted, announced or bid yet.
    pub fn draft(n: NewListing, now: NaiveDateTime) -> Listing {
        Listing {
            id: uuid::Uuid::now_v7().to_string(),
            listing_no: None,
            village_id: n.village_id,
            township_id: n.township_id,
            created_by: n.created_by,
            status: ListingStatus::Draft,
            title: n.title,
            description: n.description,
            intended_use: n.intended_use,
            land_types: String::new(),
            term_start: n.term_start,
            term_end: n.term_end,
            reserve_price_fen: n.reserve_price_fen,
            min_increment_fen: n.min_increment_fen,
            deposit_fen: n.deposit_fen,
            total_area_centimu: 0,
            annual_reserve_rent_fen: 0,
            registration_closes_at: n.registration_closes_at,
            auction_starts_at: n.auction_starts_at,
            auction_ends_at: n.auction_ends_at,
            extension_secs: n.extension_secs,
            consent_resolution_date: n.consent.resolution_date,
            consent_members_agreeing: n.consent.members_agreeing,
            consent_members_total: n.consent.members_total,
            consent_commissions_received: n.consent.commissions_received,
            attempt: n.attempt,
            previous_listing_id: n.previous_listing_id,
            relisted_as_id: None,
            return_reason: None,
            cancel_reason: None,
            submitted_at: None,
            announced_at: None,
            closed_at: None,
            eligible_bidders: None,
            current_price_fen: None,
            current_ends_at: None,
            leading_registration_id: None,
            bid_count: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// The villagers' consent as the row holds it.
    pub fn consent(&self) -> Consent {
        Consent {
            resolution_date: self.consent_resolution_date,
            members_agreeing: self.consent_members_agreeing,
            members_total: self.consent_members_total,
            commissions_received: self.consent_commissions_received,
        }
    }

    pub fn set_consent(&mut self, c: Consent) {
        self.consent_resolution_date = c.resolution_date;
        self.consent_members_agreeing = c.members_agreeing;
        self.consent_members_total = c.members_total;
        self.consent_commissions_received = c.commissions_received;
    }

    /// What the submit rules look at.
    pub fn terms(&self) -> ListingTerms {
        ListingTerms {
            village_id: self.village_id.clone(),
            intended_use: self.intended_use,
            term_start: self.term_start,
            term_end: self.term_end,
            reserve_price_fen: self.reserve_price_fen,
            min_increment_fen: self.min_increment_fen,
            deposit_fen: self.deposit_fen,
            registration_closes_at: self.registration_closes_at.and_utc(),
            auction_starts_at: self.auction_starts_at.and_utc(),
            auction_ends_at: self.auction_ends_at.and_utc(),
            extension_secs: self.extension_secs,
            consent: self.consent(),
        }
    }
}

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
    parcels::table
        .find(id)
        .select(Parcel::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_parcels(conn: &mut DbConn, ids: &[String]) -> QResult<Vec<Parcel>> {
    parcels::table
        .filter(parcels::id.eq_any(ids))
        .select(Parcel::as_select())
        .load(conn)
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
    q.load(conn)
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
    // A contract not yet completed, terminated or cancelled holds its parcels too.
    v.extend(
        contract_parcels::table
            .inner_join(contracts::table)
            .filter(contract_parcels::parcel_id.eq_any(parcel_ids))
            .filter(contracts::status.eq_any(ContractStatus::locking_statuses()))
            .select(contract_parcels::parcel_id)
            .load::<String>(conn)?,
    );
    v.sort();
    v.dedup();
    Ok(v)
}

// ---- listings ------------------------------------------------------------------------------

/// Listings holding `parcel_id` whose status is one of `statuses`.
pub fn listings_with_parcel(
    conn: &mut DbConn,
    parcel_id: &str,
    statuses: &[ListingStatus],
) -> QResult<Vec<Listing>> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    listings::table
        .inner_join(listing_parcels::table)
        .filter(listing_parcels::parcel_id.eq(parcel_id))
        .filter(listings::status.eq_any(statuses))
        .select(Listing::as_select())
        .order(listings::id)
        .load(conn)
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

/// The statement writing what an accepted bid changes on its (locked) listing row: the price,
/// the leader, the end, the bid count and the update time; nothing else, so the statement has
/// one text, prepared once per connection.
pub fn bid_state_update(
    l: &Listing,
) -> impl QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId + '_ {
    super::cached::update(
        listings::table,
        listings::id.eq(&l.id),
        (
            listings::current_price_fen.eq(l.current_price_fen),
            listings::leading_registration_id.eq(&l.leading_registration_id),
            listings::current_ends_at.eq(l.current_ends_at),
            listings::bid_count.eq(l.bid_count),
            listings::updated_at.eq(l.updated_at),
        ),
    )
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

/// By primary key, so without diesel's `LIMIT ?` (`first`): SQLite (3.50) re-prepares a
/// statement whose LIMIT is a bound parameter every time the parameter is bound, as its value
/// may change the plan — a full compile per run. Every read by primary key in `db` is written
/// so (`get_result`).
pub fn find_listing(conn: &mut DbConn, id: &str) -> QResult<Option<Listing>> {
    // On the backend's own connection (the bid path's): diesel's multi-connection wrapper
    // writes a statement's whole SQL text on every run, even one kept prepared.
    crate::db_run!(conn: {
        listings::table
            .find(id)
            .select(Listing::as_select())
            .get_result(conn)
            .optional()
    })
}

/// The listing row locked for update (PostgreSQL); SQLite is already serialised by the
/// immediate transaction.
pub fn find_listing_for_update(conn: &mut DbConn, id: &str) -> QResult<Option<Listing>> {
    match conn {
        DbConn::Pg(c) => Ok(listings::table
            .find(id)
            .select(Listing::as_select())
            .for_update()
            .get_result(c)
            .optional()?),
        DbConn::Sqlite(_) => find_listing(conn, id),
    }
}

/// PostgreSQL: the listing row locked for update and, in the same round trip, the account of
/// `user_id` (read, not locked): a bid's first statement. `None` if either is missing.
pub fn lock_listing_with_account(
    conn: &mut diesel::PgConnection,
    id: &str,
    user_id: &str,
) -> QResult<Option<(Listing, Account)>> {
    /// The key this statement is kept prepared under (see `cached::Keyed`).
    struct ListingWithAccount;
    let query = listings::table
        .inner_join(users::table.on(users::id.eq(user_id)))
        .filter(listings::id.eq(id))
        .select((Listing::as_select(), Account::as_select()));
    keyed::<ListingWithAccount, _>(ForUpdateOf(query, "listings"))
        .get_result(conn)
        .optional()
}

pub fn listing_parcel_ids(conn: &mut DbConn, listing_id: &str) -> QResult<Vec<String>> {
    listing_parcels::table
        .filter(listing_parcels::listing_id.eq(listing_id))
        .order(listing_parcels::parcel_id)
        .select(listing_parcels::parcel_id)
        .load(conn)
}

pub fn listing_parcels(conn: &mut DbConn, listing_id: &str) -> QResult<Vec<Parcel>> {
    listing_parcels::table
        .inner_join(parcels::table)
        .filter(listing_parcels::listing_id.eq(listing_id))
        .order(parcels::code)
        .select(Parcel::as_select())
        .load(conn)
}

/// The parcels of each of `listing_ids` (ordered by code), for a page of listings.
pub fn parcels_by_listing(
    conn: &mut DbConn,
    listing_ids: &[String],
) -> QResult<HashMap<String, Vec<Parcel>>> {
    let rows: Vec<(String, Parcel)> = listing_parcels::table
        .inner_join(parcels::table)
        .filter(listing_parcels::listing_id.eq_any(listing_ids))
        .order(parcels::code)
        .select((listing_parcels::listing_id, Parcel::as_select()))
        .load(conn)?;
    let mut map: HashMap<String, Vec<Parcel>> = HashMap::new();
    for (l, p) in rows {
        map.entry(l).or_default().push(p);
    }
    Ok(map)
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
    pub statuses: Vec<ListingStatus>,
    pub township_id: Option<String>,
    pub village_id: Option<String>,
    pub land_type: Option<LandType>,
    pub intended_use: Option<IntendedUse>,
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
    let mut public: Vec<&str> = ListingStatus::public_statuses();
    let mut wanted: Vec<&str> = s.statuses.iter().map(|x| x.as_str()).collect();
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
    if let Some(v) = s.land_type {
        q = q.filter(listings::land_types.like(format!("%,{},%", v.as_str())));
    }
    if let Some(v) = s.intended_use {
        q = q.filter(listings::intended_use.eq(v.as_str()));
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
    q.load(conn)
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
