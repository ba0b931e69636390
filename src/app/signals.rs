//! Collusion signals (围标、串标) for a township's staff and admins: who may look, the facts of
//! a window of the township's listings read in one snapshot (phones compared through a keyed
//! hash, never shown), the detector of `domain::signals`, and a page of what it found.
//! Reading signals changes nothing: they are hints for a person to look into.
//!
//! Checks run in the contract's order: 401 → 404 (a listing or township the caller may not
//! read, or staff of another township) → 403 (anyone else who may read it but isn't its
//! township's staff or an admin) → 400/422 (the query).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::trading::settle_for_read;
use super::Ctx;
use crate::crypto::DataKey;
use crate::db::audit::in_snapshot;
use crate::db::queries::{self, PageReq};
use crate::db::signals::{self as sq, ListingRow, RegistrationRow};
use crate::db::DbConn;
use crate::domain::access::{listing_visible, Caller};
use crate::domain::signals::{
    detect, oversight, page, phone_digits, window_bounds, DealFacts, Facts, ListingFacts,
    ListingRef, Oversight, RegistrationFacts, Signal, SignalWindow, MAX_WINDOW_LISTINGS,
};
use crate::error::ApiError;

/// What a request asks for: the window of listings (by when their registration closes) and
/// the page.
pub struct SignalQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub page: PageReq,
}

/// A page of signals and the window they were found in.
#[derive(Debug)]
pub struct SignalPage {
    pub items: Vec<Signal>,
    pub next_cursor: Option<String>,
    pub window: SignalWindow,
}

/// The signals that name one listing, found among the facts of its township's window (the
/// listing itself is always read, inside the window or not).
pub fn for_listing(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    query: impl FnOnce() -> Result<SignalQuery, ApiError>,
) -> Result<SignalPage, ApiError> {
    let caller = ctx.caller()?;
    let l = settle_for_read(conn, listing_id, ctx.now, ctx.rules())?.ok_or(ApiError::NotFound)?;
    if !listing_visible(Some(caller), l.status, &l.village_id, &l.township_id) {
        return Err(ApiError::NotFound);
    }
    allow(caller, &l.township_id)?;
    let q = query()?;
    let (facts, window) = read_facts(ctx, conn, &l.township_id, &q, Some(&l.id))?;
    let signals = detect(&facts)
        .into_iter()
        .filter(|s| s.involves(&l.id))
        .collect();
    Ok(paged(signals, &q, window))
}

/// Every signal of a township's window.
pub fn for_township(
    ctx: &Ctx,
    conn: &mut DbConn,
    township_id: &str,
    query: impl FnOnce() -> Result<SignalQuery, ApiError>,
) -> Result<SignalPage, ApiError> {
    let caller = ctx.caller()?;
    let t = queries::find_township(conn, township_id)?.ok_or(ApiError::NotFound)?;
    allow(caller, &t.id)?;
    let q = query()?;
    let (facts, window) = read_facts(ctx, conn, &t.id, &q, None)?;
    Ok(paged(detect(&facts), &q, window))
}

/// Staff of the township and admins; staff of another township may not know (404); anyone
/// else is refused (403).
fn allow(caller: &Caller, township_id: &str) -> Result<(), ApiError> {
    match oversight(caller, township_id) {
        Oversight::Allowed => Ok(()),
        Oversight::Hidden => Err(ApiError::NotFound),
        Oversight::Forbidden => Err(ApiError::Forbidden(
            "only the township's staff and admins see collusion signals".into(),
        )),
    }
}

fn paged(signals: Vec<Signal>, q: &SignalQuery, window: SignalWindow) -> SignalPage {
    let limit = usize::try_from(q.page.limit).unwrap_or(1);
    let (items, next_cursor) = page(signals, q.page.after.as_deref(), limit);
    SignalPage {
        items,
        next_cursor,
        window,
    }
}

/// The facts of the township's window (and of `also`, a listing that must be among them),
/// read in one snapshot.
fn read_facts(
    ctx: &Ctx,
    conn: &mut DbConn,
    township_id: &str,
    q: &SignalQuery,
    also: Option<&str>,
) -> Result<(Facts, SignalWindow), ApiError> {
    let (since, until) =
        window_bounds(ctx.now, q.since, q.until).map_err(|e| ApiError::Validation(vec![e]))?;
    in_snapshot(conn, |conn| {
        let mut rows = sq::window_listings(
            conn,
            township_id,
            since.naive_utc(),
            until.map(|u| u.naive_utc()),
            MAX_WINDOW_LISTINGS as i64,
        )?;
        let truncated = rows.len() > MAX_WINDOW_LISTINGS;
        rows.truncate(MAX_WINDOW_LISTINGS);
        let window = SignalWindow {
            since,
            until,
            listings_considered: rows.len(),
            truncated,
            max_listings: MAX_WINDOW_LISTINGS,
        };
        if let Some(id) = also.filter(|id| !rows.iter().any(|r| r.id == *id)) {
            rows.extend(sq::listing(conn, id)?);
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let bid_counts = sq::bid_counts(conn, &ids)?;
        let registrations = sq::registrations_of(conn, &ids)?
            .into_iter()
            .map(|r| registration_facts(&ctx.data_key, r, &bid_counts))
            .collect();
        let deals = sq::deals_of(conn, &ids)?
            .into_iter()
            .map(|d| DealFacts {
                deal_id: d.id,
                listing_id: d.listing_id,
                registration_id: d.registration_id,
                round: d.round,
                negotiated: d.negotiated,
                price_fen: d.price_fen,
                status: d.status,
                awarded_at: d.awarded_at.and_utc(),
                confirm_by: d.confirm_by.and_utc(),
                fell_through_at: d.fell_through_at.map(|t| t.and_utc()),
            })
            .collect();
        let relisted: Vec<String> = rows
            .iter()
            .filter_map(|r| r.relisted_as_id.clone())
            .collect();
        let numbers = if relisted.is_empty() {
            HashMap::new()
        } else {
            sq::listing_numbers(conn, &relisted)?
        };
        let listings = rows
            .into_iter()
            .map(|r| listing_facts(r, &numbers))
            .collect();
        Ok((
            Facts {
                listings,
                registrations,
                deals,
            },
            window,
        ))
    })
}

fn listing_facts(r: ListingRow, numbers: &HashMap<String, Option<String>>) -> ListingFacts {
    ListingFacts {
        relisted_as: r.relisted_as_id.map(|id| ListingRef {
            listing_no: numbers.get(&id).cloned().flatten(),
            listing_id: id,
        }),
        listing_id: r.id,
        listing_no: r.listing_no,
        status: r.status,
        reserve_price_fen: r.reserve_price_fen,
        min_increment_fen: r.min_increment_fen,
        closed_at: r.closed_at.map(|t| t.and_utc()),
    }
}

fn registration_facts(
    key: &DataKey,
    r: RegistrationRow,
    bid_counts: &HashMap<String, i64>,
) -> RegistrationFacts {
    RegistrationFacts {
        phone_key: phone_key(key, &r.phone),
        bid_count: bid_counts.get(&r.id).copied().unwrap_or(0),
        registration_id: r.id,
        listing_id: r.listing_id,
        investor_id: r.investor_id,
        investor_name: r.investor_name,
        legal_name: r.legal_name,
        id_number_masked: r.id_number_masked,
        person_key: r.id_number_hash,
        status: r.status,
        deposit_status: r.deposit_status,
        registered_at: r.created_at.and_utc(),
    }
}

/// A keyed hash of the phone's digits, so equal phones compare equal without the phone
/// leaving this function. A phone stored in clear by the first release (it never contains
/// `:`) is read as it is; a ciphertext no key opens compares with nothing.
fn phone_key(key: &DataKey, stored: &str) -> Option<String> {
    let clear = key
        .decrypt(stored)
        .or_else(|| (!stored.contains(':')).then(|| stored.to_string()))?;
    let digits = phone_digits(&clear);
    (!digits.is_empty()).then(|| key.id_hash(&format!("phone:{digits}")))
}
