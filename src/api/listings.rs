//! `/api/v1/listings`: the listing lifecycle (挂牌) and public search.

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, parse_body, parse_empty, parse_id, query_id, Page, Routes};
use crate::app::audit::audit_listing;
use crate::app::trading::{settle, status_of};
use crate::audit::Actor;
use crate::auth::{listing_visible, Caller, MaybeCaller};
use crate::clock::truncate_micros;
use crate::db::listings::{self as q, ListingSearch, SortKey};
use crate::db::models::{Listing, Parcel};
use crate::db::{self, queries, DbConn};
use crate::domain::listing::{
    announcement_too_short, check_relist_price, check_submit, Consent, IntendedUse, ListingEvent,
    ListingStatus, ListingTerms, ParcelFacts,
};
use crate::domain::money::{annual_rent_fen, format_mu, parse_mu};
use crate::domain::numbering::{listing_counter, listing_no, shanghai_year};
use crate::domain::parcel::LandType;
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, Message};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/listings", create_listing)
        .add(Method::GET, "/api/v1/listings", search_listings)
        .add(Method::GET, "/api/v1/listings/{id}", get_listing)
        .add(Method::PATCH, "/api/v1/listings/{id}", patch_listing)
        .add(Method::POST, "/api/v1/listings/{id}/submit", submit_listing)
        .add(
            Method::POST,
            "/api/v1/listings/{id}/approve",
            approve_listing,
        )
        .add(Method::POST, "/api/v1/listings/{id}/return", return_listing)
        .add(Method::POST, "/api/v1/listings/{id}/cancel", cancel_listing)
        .add(Method::POST, "/api/v1/listings/{id}/relist", relist_listing);
}

// ---- shapes --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// Date of the villagers' (representatives') meeting resolution; not in the future.
    pub resolution_date: NaiveDate,
    pub members_agreeing: i64,
    pub members_total: i64,
    /// Household commission letters (委托书) received.
    pub commissions_received: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingParcelOut {
    pub id: String,
    pub code: String,
    pub area_mu: String,
    pub land_type: LandType,
    pub permanent_basic_farmland: bool,
    pub quality_grade: Option<i64>,
    pub households: i64,
    pub location: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingOut {
    pub id: String,
    /// `<township code>-<year>-<seq4>`, assigned by the first submit.
    pub listing_no: Option<String>,
    pub status: ListingStatus,
    pub village_id: String,
    pub township_id: String,
    pub title: String,
    pub description: String,
    pub parcel_ids: Vec<String>,
    pub parcels: Vec<ListingParcelOut>,
    pub intended_use: IntendedUse,
    pub term_start: NaiveDate,
    /// Last day of the term (inclusive).
    pub term_end: NaiveDate,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    pub deposit_fen: i64,
    pub total_area_mu: String,
    pub annual_reserve_rent_fen: i64,
    pub registration_closes_at: DateTime<Utc>,
    pub auction_starts_at: DateTime<Utc>,
    pub auction_ends_at: DateTime<Utc>,
    pub extension_secs: i64,
    pub consent: ConsentBody,
    pub attempt: i64,
    pub previous_listing_id: Option<String>,
    pub relisted_as_id: Option<String>,
    pub return_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub announced_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Null until the first bid.
    pub current_price_fen: Option<i64>,
    pub current_ends_at: Option<DateTime<Utc>>,
    pub bid_count: i64,
    /// Null until registration has closed.
    pub eligible_bidders: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn listing_out(l: Listing, parcels: Vec<Parcel>) -> ListingOut {
    let utc = |t: chrono::NaiveDateTime| t.and_utc();
    let parcel_ids = parcels.iter().map(|p| p.id.clone()).collect();
    // Another village's parcel (refused on submit) shows only as an id.
    let parcels: Vec<Parcel> = parcels
        .into_iter()
        .filter(|p| p.village_id == l.village_id)
        .collect();
    ListingOut {
        parcel_ids,
        parcels: parcels
            .into_iter()
            .map(|p| ListingParcelOut {
                land_type: p.land_type,
                area_mu: format_mu(p.area_centimu),
                id: p.id,
                code: p.code,
                permanent_basic_farmland: p.permanent_basic_farmland,
                quality_grade: p.quality_grade,
                households: p.households,
                location: p.location,
            })
            .collect(),
        status: l.status,
        intended_use: l.intended_use,
        total_area_mu: format_mu(l.total_area_centimu),
        registration_closes_at: utc(l.registration_closes_at),
        auction_starts_at: utc(l.auction_starts_at),
        auction_ends_at: utc(l.auction_ends_at),
        consent: ConsentBody {
            resolution_date: l.consent_resolution_date,
            members_agreeing: l.consent_members_agreeing,
            members_total: l.consent_members_total,
            commissions_received: l.consent_commissions_received,
        },
        submitted_at: l.submitted_at.map(utc),
        announced_at: l.announced_at.map(utc),
        closed_at: l.closed_at.map(utc),
        current_ends_at: l.current_ends_at.map(utc),
        created_at: utc(l.created_at),
        updated_at: utc(l.updated_at),
        id: l.id,
        listing_no: l.listing_no,
        village_id: l.village_id,
        township_id: l.township_id,
        title: l.title,
        description: l.description,
        term_start: l.term_start,
        term_end: l.term_end,
        reserve_price_fen: l.reserve_price_fen,
        min_increment_fen: l.min_increment_fen,
        deposit_fen: l.deposit_fen,
        annual_reserve_rent_fen: l.annual_reserve_rent_fen,
        extension_secs: l.extension_secs,
        attempt: l.attempt,
        previous_listing_id: l.previous_listing_id,
        relisted_as_id: l.relisted_as_id,
        return_reason: l.return_reason,
        cancel_reason: l.cancel_reason,
        current_price_fen: l.current_price_fen,
        bid_count: l.bid_count,
        eligible_bidders: l.eligible_bidders,
    }
}

fn load_out(conn: &mut DbConn, l: Listing) -> Result<ListingOut, ApiError> {
    let parcels = q::listing_parcels(conn, &l.id)?;
    Ok(listing_out(l, parcels))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListingBody {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    #[schema(max_length = 10000)]
    pub description: String,
    /// Parcels of the caller's village.
    #[schema(min_items = 1)]
    pub parcel_ids: Vec<uuid::Uuid>,
    pub intended_use: IntendedUse,
    pub term_start: NaiveDate,
    pub term_end: NaiveDate,
    /// Reserve price (底价), fen per mu per year.
    pub reserve_price_fen: i64,
    /// Minimum increment (加价幅度), fen.
    pub min_increment_fen: i64,
    /// Deposit (保证金), fen; at most one year's reserve rent.
    pub deposit_fen: i64,
    pub registration_closes_at: DateTime<Utc>,
    pub auction_starts_at: DateTime<Utc>,
    pub auction_ends_at: DateTime<Utc>,
    /// Anti-sniping extension in seconds (default from `rules.extension_secs`).
    pub extension_secs: Option<i64>,
    pub consent: ConsentBody,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchListingBody {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(min_items = 1)]
    pub parcel_ids: Option<Vec<uuid::Uuid>>,
    pub intended_use: Option<IntendedUse>,
    pub term_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    pub reserve_price_fen: Option<i64>,
    pub min_increment_fen: Option<i64>,
    pub deposit_fen: Option<i64>,
    pub registration_closes_at: Option<DateTime<Utc>>,
    pub auction_starts_at: Option<DateTime<Utc>>,
    pub auction_ends_at: Option<DateTime<Utc>>,
    pub extension_secs: Option<i64>,
    pub consent: Option<ConsentBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelistBody {
    /// May be lower than the failed listing's, never higher.
    pub reserve_price_fen: Option<i64>,
    pub registration_closes_at: DateTime<Utc>,
    pub auction_starts_at: DateTime<Utc>,
    pub auction_ends_at: DateTime<Utc>,
}

// ---- helpers -------------------------------------------------------------------------------

fn is_owner(caller: &Caller, l: &Listing) -> bool {
    caller.is_collective_of(&l.village_id)
}

fn is_township_staff(caller: &Caller, l: &Listing) -> bool {
    caller.is_staff_of(&l.township_id)
}

fn invalid_state(l: &Listing, what: &str) -> ApiError {
    ApiError::InvalidState(format!("cannot {what} a listing in status `{}`", l.status))
}

/// The owner before announcement; the township's staff and admins (states decide the rest).
fn may_cancel(c: &Caller, l: &Listing) -> bool {
    is_owner(c, l) || is_township_staff(c, l) || c.is(Role::Admin)
}

/// The frame every listing action shares: one write transaction that loads the listing
/// locked and settled, answers 404 if the caller can't see it and 403 if `allowed` says no,
/// then runs `act`.
async fn listing_tx<T, F>(
    state: &web::Data<AppState>,
    caller: Caller,
    id: &str,
    allowed: fn(&Caller, &Listing) -> bool,
    act: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &AppState, Caller, Listing, DateTime<Utc>) -> Result<T, ApiError>
        + Send
        + 'static,
{
    let id = parse_id(id)?;
    let now = state.clock.now();
    let st = state.clone();
    db::run_tx(&state.pool, move |conn| {
        let l = load_for_action(conn, &caller, &id, (now, &st.settings.rules), allowed)?;
        act(conn, &st, caller, l, now)
    })
    .await
}

/// Loads a listing for an action inside a write transaction, settling any due transition
/// first: 404 when the caller can't see it, 403 when `allowed` says no.
fn load_for_action(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    (now, rules): (DateTime<Utc>, &crate::config::Rules),
    allowed: impl Fn(&Caller, &Listing) -> bool,
) -> Result<Listing, ApiError> {
    let mut l = q::find_listing_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
    crate::app::trading::settle_locked(conn, &mut l, now, rules)?;
    if !listing_visible(Some(caller), &l) {
        return Err(ApiError::NotFound);
    }
    if !allowed(caller, &l) {
        return Err(ApiError::Forbidden(format!(
            "role `{}` may not do this to this listing",
            caller.role_str()
        )));
    }
    Ok(l)
}

fn check_parcel_ids(ids: &[uuid::Uuid]) -> Result<Vec<String>, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::field(
            "parcel_ids",
            "at least one parcel is required",
        ));
    }
    let mut v: Vec<String> = ids.iter().map(|u| u.to_string()).collect();
    v.sort();
    let n = v.len();
    v.dedup();
    if v.len() != n {
        return Err(ApiError::field("parcel_ids", "a parcel is listed twice"));
    }
    Ok(v)
}

/// Recomputes area, rent and land types from the current parcels.
/// Parcels of other villages (which submit refuses) count for nothing and are never shown:
/// nobody reads another village's register through a draft.
pub(crate) fn apply_parcels(l: &mut Listing, parcels: &[Parcel]) -> Result<(), ApiError> {
    let parcels: Vec<&Parcel> = parcels
        .iter()
        .filter(|p| p.village_id == l.village_id)
        .collect();
    l.total_area_centimu = parcels.iter().map(|p| p.area_centimu).sum();
    l.annual_reserve_rent_fen = annual_rent_fen(l.reserve_price_fen.max(0), l.total_area_centimu)
        .ok_or_else(|| ApiError::field("reserve_price_fen", "too large"))?;
    let mut types: Vec<&str> = parcels.iter().map(|p| p.land_type.as_str()).collect();
    types.sort();
    types.dedup();
    l.land_types = format!(",{},", types.join(","));
    Ok(())
}

fn load_parcels_for(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Parcel>, ApiError> {
    let parcels = q::find_parcels(conn, ids)?;
    if parcels.len() != ids.len() {
        return Err(ApiError::field("parcel_ids", "unknown parcel"));
    }
    Ok(parcels)
}

fn check_text_fields(title: Option<&str>, description: Option<&str>) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(t) = title {
        if let Err(m) = validate::text(t, 200) {
            errors.push(FieldError::new("title", m));
        }
    }
    if let Some(d) = description {
        if d.chars().count() > 10_000 {
            errors.push(FieldError::new(
                "description",
                "must be at most 10000 characters",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// E-mails every active account of `role` in the listing's village (collective) or township
/// (staff).
fn notify(
    conn: &mut DbConn,
    state: &AppState,
    l: &Listing,
    role: Role,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let members = match role {
        Role::Collective => queries::org_members(conn, "collective", Some(&l.village_id), None)?,
        Role::Staff => queries::org_members(conn, "staff", None, Some(&l.township_id))?,
        _ => Vec::new(),
    };
    let link = format!(
        "{}/listings/{}",
        state.settings.server.public_url.trim_end_matches('/'),
        l.id
    );
    for u in members {
        notify::enqueue(
            conn,
            Message {
                to: u.email.clone(),
                subject: format!(
                    "【landx】{}：{} {}",
                    l.listing_no.as_deref().unwrap_or("挂牌"),
                    l.title,
                    subject
                ),
                body: format!("{}，您好：\n\n{}\n{}\n", u.display_name, body, link),
            },
            now,
        )?;
    }
    Ok(())
}

// ---- handlers ------------------------------------------------------------------------------

/// Create a draft listing of the caller's village (collective). Rules are checked on submit.
#[utoipa::path(post, path = "/api/v1/listings", tag = "listings", security(("bearer" = [])),
    request_body = CreateListingBody,
    responses((status = 201, body = ListingOut)))]
pub async fn create_listing(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Collective])?;
    let b: CreateListingBody = parse_body(&body)?;
    check_text_fields(Some(&b.title), Some(&b.description))?;
    let parcel_ids = check_parcel_ids(&b.parcel_ids)?;
    let village_id = caller
        .village_id
        .clone()
        .ok_or_else(|| ApiError::internal("collective without village"))?;
    let now = state.clock.now();
    let default_extension = state.settings.rules.extension_secs;
    let out = db::run_tx(&state.pool, move |conn| {
        let village = queries::find_village(conn, &village_id)?
            .ok_or_else(|| ApiError::internal("village vanished"))?;
        let parcels = load_parcels_for(conn, &parcel_ids)?;
        let mut l = Listing {
            id: uuid::Uuid::now_v7().to_string(),
            listing_no: None,
            village_id: village.id.clone(),
            township_id: village.township_id.clone(),
            created_by: caller.id.clone(),
            status: ListingStatus::Draft,
            title: b.title.trim().to_string(),
            description: b.description,
            intended_use: b.intended_use,
            land_types: String::new(),
            term_start: b.term_start,
            term_end: b.term_end,
            reserve_price_fen: b.reserve_price_fen,
            min_increment_fen: b.min_increment_fen,
            deposit_fen: b.deposit_fen,
            total_area_centimu: 0,
            annual_reserve_rent_fen: 0,
            registration_closes_at: truncate_micros(b.registration_closes_at).naive_utc(),
            auction_starts_at: truncate_micros(b.auction_starts_at).naive_utc(),
            auction_ends_at: truncate_micros(b.auction_ends_at).naive_utc(),
            extension_secs: b.extension_secs.unwrap_or(default_extension),
            consent_resolution_date: b.consent.resolution_date,
            consent_members_agreeing: b.consent.members_agreeing,
            consent_members_total: b.consent.members_total,
            consent_commissions_received: b.consent.commissions_received,
            attempt: 1,
            previous_listing_id: None,
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
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        };
        apply_parcels(&mut l, &parcels)?;
        q::insert_listing(conn, &l, &parcel_ids)?;
        audit_listing(
            conn,
            Actor::of(&caller),
            &l,
            "listing.created",
            None,
            None,
            now,
        )?;
        load_out(conn, l)
    })
    .await?;
    Ok(created(format!("/api/v1/listings/{}", out.id), &out))
}

/// Edit a draft or returned listing (owner collective).
#[utoipa::path(patch, path = "/api/v1/listings/{id}", tag = "listings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    request_body = PatchListingBody,
    responses((status = 200, body = ListingOut), (status = 409, description = "not editable in this state", body = crate::error::Problem)))]
pub async fn patch_listing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let out = listing_tx(
        &state,
        caller,
        &id,
        is_owner,
        move |conn, _, caller, mut l, now| {
            let b: PatchListingBody = parse_body(&body)?;
            status_of(&l)?
                .next(ListingEvent::Edit)
                .ok_or_else(|| invalid_state(&l, "edit"))?;
            check_text_fields(b.title.as_deref(), b.description.as_deref())?;
            if let Some(ids) = &b.parcel_ids {
                let ids = check_parcel_ids(ids)?;
                load_parcels_for(conn, &ids)?;
                q::set_listing_parcels(conn, &l.id, &ids)?;
            }
            if let Some(v) = b.title {
                l.title = v.trim().to_string();
            }
            if let Some(v) = b.description {
                l.description = v;
            }
            if let Some(v) = b.intended_use {
                l.intended_use = v;
            }
            if let Some(v) = b.term_start {
                l.term_start = v;
            }
            if let Some(v) = b.term_end {
                l.term_end = v;
            }
            if let Some(v) = b.reserve_price_fen {
                l.reserve_price_fen = v;
            }
            if let Some(v) = b.min_increment_fen {
                l.min_increment_fen = v;
            }
            if let Some(v) = b.deposit_fen {
                l.deposit_fen = v;
            }
            if let Some(v) = b.registration_closes_at {
                l.registration_closes_at = truncate_micros(v).naive_utc();
            }
            if let Some(v) = b.auction_starts_at {
                l.auction_starts_at = truncate_micros(v).naive_utc();
            }
            if let Some(v) = b.auction_ends_at {
                l.auction_ends_at = truncate_micros(v).naive_utc();
            }
            if let Some(v) = b.extension_secs {
                l.extension_secs = v;
            }
            if let Some(c) = b.consent {
                l.consent_resolution_date = c.resolution_date;
                l.consent_members_agreeing = c.members_agreeing;
                l.consent_members_total = c.members_total;
                l.consent_commissions_received = c.commissions_received;
            }
            let parcels = q::listing_parcels(conn, &l.id)?;
            apply_parcels(&mut l, &parcels)?;
            l.updated_at = now.naive_utc();
            q::save_listing(conn, &l)?;
            audit_listing(
                conn,
                Actor::of(&caller),
                &l,
                "listing.edited",
                Some(l.status.as_str()),
                None,
                now,
            )?;
            Ok(listing_out(l, parcels))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Submit for review (owner): every rule of public trading is checked here.
#[utoipa::path(post, path = "/api/v1/listings/{id}/submit", tag = "listings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    responses((status = 200, body = ListingOut), (status = 409, description = "not in draft or returned", body = crate::error::Problem)))]
pub async fn submit_listing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let out = listing_tx(
        &state,
        caller,
        &id,
        is_owner,
        move |conn, st, caller, mut l, now| {
            parse_empty(&body)?;
            let from = l.status.clone();
            let next = status_of(&l)?
                .next(ListingEvent::Submit)
                .ok_or_else(|| invalid_state(&l, "submit"))?;
            let parcel_ids = q::listing_parcel_ids(conn, &l.id)?;
            q::lock_parcels(conn, &parcel_ids)?;
            let parcels = q::find_parcels(conn, &parcel_ids)?;
            let locked = q::locked_parcels(conn, &parcel_ids, Some(&l.id))?;
            apply_parcels(&mut l, &parcels)?;
            let facts: Vec<ParcelFacts> = parcels
                .iter()
                .map(|p| ParcelFacts {
                    id: p.id.clone(),
                    village_id: p.village_id.clone(),
                    area_centimu: p.area_centimu,
                    households: p.households,
                    household_contract_end: p.household_contract_end,
                    permanent_basic_farmland: p.permanent_basic_farmland,
                    locked_elsewhere: locked.contains(&p.id),
                })
                .collect();
            let terms = ListingTerms {
                village_id: l.village_id.clone(),
                intended_use: Some(l.intended_use).ok_or_else(|| ApiError::internal("bad use"))?,
                term_start: l.term_start,
                term_end: l.term_end,
                reserve_price_fen: l.reserve_price_fen,
                min_increment_fen: l.min_increment_fen,
                deposit_fen: l.deposit_fen,
                registration_closes_at: l.registration_closes_at.and_utc(),
                auction_starts_at: l.auction_starts_at.and_utc(),
                auction_ends_at: l.auction_ends_at.and_utc(),
                extension_secs: l.extension_secs,
                consent: Consent {
                    resolution_date: l.consent_resolution_date,
                    members_agreeing: l.consent_members_agreeing,
                    members_total: l.consent_members_total,
                    commissions_received: l.consent_commissions_received,
                },
            };
            let errors = check_submit(&terms, &facts, now, &st.settings.rules.submit_limits());
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            if l.listing_no.is_none() {
                let township = queries::find_township(conn, &l.township_id)?
                    .ok_or_else(|| ApiError::internal("township vanished"))?;
                let year = shanghai_year(now);
                let seq = q::next_counter(conn, &listing_counter(&township.id, year))?;
                l.listing_no = Some(listing_no(&township.code, year, seq));
            }
            l.status = next;
            l.submitted_at = Some(now.naive_utc());
            l.updated_at = now.naive_utc();
            if !q::save_listing_if(conn, &l, from)? {
                return Err(invalid_state(&l, "submit"));
            }
            audit_listing(
                conn,
                Actor::of(&caller),
                &l,
                "listing.submitted",
                Some(from.as_str()),
                None,
                now,
            )?;
            notify(
                conn,
                st,
                &l,
                Role::Staff,
                "待审核 Listing submitted for review",
                "村集体提交了新的挂牌申请，请审核。A listing awaits your review.",
                now,
            )?;
            Ok(listing_out(l, parcels))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Approve (township staff): the listing is announced publicly.
#[utoipa::path(post, path = "/api/v1/listings/{id}/approve", tag = "listings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    responses((status = 200, body = ListingOut), (status = 409, description = "not submitted", body = crate::error::Problem)))]
pub async fn approve_listing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let out = listing_tx(
        &state,
        caller,
        &id,
        is_township_staff,
        move |conn, st, caller, mut l, now| {
            parse_empty(&body)?;
            let from = l.status.clone();
            let next = status_of(&l)?
                .next(ListingEvent::Approve)
                .ok_or_else(|| invalid_state(&l, "approve"))?;
            if let Some(msg) = announcement_too_short(
                l.registration_closes_at.and_utc(),
                now,
                st.settings.rules.min_announcement_days,
            ) {
                return Err(ApiError::field("registration_closes_at", msg));
            }
            l.status = next;
            l.announced_at = Some(now.naive_utc());
            l.updated_at = now.naive_utc();
            if !q::save_listing_if(conn, &l, from)? {
                return Err(invalid_state(&l, "approve"));
            }
            audit_listing(
                conn,
                Actor::of(&caller),
                &l,
                "listing.approved",
                Some(from.as_str()),
                None,
                now,
            )?;
            notify(
                conn,
                st,
                &l,
                Role::Collective,
                "已挂牌公告 Listing announced",
                "您的挂牌申请已审核通过并公开挂牌。Your listing was approved and is now announced.",
                now,
            )?;
            load_out(conn, l)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Return to the collective for changes, with a reason (township staff).
#[utoipa::path(post, path = "/api/v1/listings/{id}/return", tag = "listings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    request_body = ReasonBody,
    responses((status = 200, body = ListingOut), (status = 409, description = "not submitted", body = crate::error::Problem)))]
pub async fn return_listing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let out = listing_tx(
        &state,
        caller,
        &id,
        is_township_staff,
        move |conn, st, caller, mut l, now| {
            let b: ReasonBody = parse_body(&body)?;
            validate::text(&b.reason, 2000).map_err(|m| ApiError::field("reason", m))?;
            let from = l.status.clone();
            let next = status_of(&l)?
                .next(ListingEvent::Return)
                .ok_or_else(|| invalid_state(&l, "return"))?;
            l.status = next;
            l.return_reason = Some(b.reason.trim().to_string());
            l.updated_at = now.naive_utc();
            if !q::save_listing_if(conn, &l, from)? {
                return Err(invalid_state(&l, "return"));
            }
            audit_listing(
                conn,
                Actor::of(&caller),
                &l,
                "listing.returned",
                Some(from.as_str()),
                l.return_reason.clone().as_deref(),
                now,
            )?;
            let text = format!(
                "您的挂牌申请被退回修改，原因：{}。Your listing was returned: {}",
                b.reason.trim(),
                b.reason.trim()
            );
            notify(
                conn,
                st,
                &l,
                Role::Collective,
                "退回修改 Listing returned",
                &text,
                now,
            )?;
            load_out(conn, l)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Cancel with a reason: the owner before announcement; township staff or an admin also while
/// announced.
#[utoipa::path(post, path = "/api/v1/listings/{id}/cancel", tag = "listings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    request_body = ReasonBody,
    responses((status = 200, body = ListingOut), (status = 409, description = "not cancellable in this state", body = crate::error::Problem)))]
pub async fn cancel_listing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let out = listing_tx(
        &state,
        caller,
        &id,
        may_cancel,
        move |conn, st, caller, mut l, now| {
            let b: ReasonBody = parse_body(&body)?;
            validate::text(&b.reason, 2000).map_err(|m| ApiError::field("reason", m))?;
            let from = l.status.clone();
            let event = if is_owner(&caller, &l) {
                ListingEvent::CancelByOwner
            } else {
                ListingEvent::CancelByOverseer
            };
            let next = status_of(&l)?
                .next(event)
                .ok_or_else(|| invalid_state(&l, "cancel"))?;
            l.status = next;
            l.cancel_reason = Some(b.reason.trim().to_string());
            l.closed_at = Some(now.naive_utc());
            l.updated_at = now.naive_utc();
            if !q::save_listing_if(conn, &l, from)? {
                return Err(invalid_state(&l, "cancel"));
            }
            audit_listing(
                conn,
                Actor::of(&caller),
                &l,
                "listing.cancelled",
                Some(from.as_str()),
                l.cancel_reason.clone().as_deref(),
                now,
            )?;
            let text = format!(
                "挂牌已撤销，原因：{}。The listing was cancelled: {}",
                b.reason.trim(),
                b.reason.trim()
            );
            let to_notify = if is_owner(&caller, &l) {
                Role::Staff
            } else {
                Role::Collective
            };
            if from != ListingStatus::Draft {
                notify(
                    conn,
                    st,
                    &l,
                    to_notify,
                    "挂牌撤销 Listing cancelled",
                    &text,
                    now,
                )?;
            }
            if from == ListingStatus::Announced {
                // Registrants learn of it; confirmed deposits become due for refund.
                let actor = Actor::of(&caller);
                for r in crate::db::registrations::for_listing(conn, &l.id)? {
                    crate::app::deposits::mail_investor(
                        conn,
                        &r,
                        "挂牌撤销 Listing cancelled",
                        &text,
                        now,
                    )?;
                }
                crate::app::deposits::release_all(conn, &l.id, actor, "listing cancelled", now)?;
            }
            load_out(conn, l)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Relist a failed listing as a new draft (owner, once per failed listing).
#[utoipa::path(post, path = "/api/v1/listings/{id}/relist", tag = "listings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    request_body = RelistBody,
    responses((status = 201, body = ListingOut), (status = 409, description = "not failed, or already relisted", body = crate::error::Problem)))]
pub async fn relist_listing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let out = listing_tx(
        &state,
        caller,
        &id,
        is_owner,
        move |conn, _, caller, mut old, now| {
            let b: RelistBody = parse_body(&body)?;
            status_of(&old)?
                .next(ListingEvent::Relist)
                .ok_or_else(|| invalid_state(&old, "relist"))?;
            if old.relisted_as_id.is_some() {
                return Err(ApiError::InvalidState(
                    "this failed listing was already relisted".into(),
                ));
            }
            let reserve = b.reserve_price_fen.unwrap_or(old.reserve_price_fen);
            check_relist_price(old.reserve_price_fen, reserve)
                .map_err(|m| ApiError::field("reserve_price_fen", m))?;
            let parcel_ids = q::listing_parcel_ids(conn, &old.id)?;
            let parcels = q::find_parcels(conn, &parcel_ids)?;
            let mut l = old.clone();
            l.id = uuid::Uuid::now_v7().to_string();
            l.listing_no = None;
            l.created_by = caller.id.clone();
            l.status = ListingStatus::Draft;
            l.reserve_price_fen = reserve;
            l.registration_closes_at = truncate_micros(b.registration_closes_at).naive_utc();
            l.auction_starts_at = truncate_micros(b.auction_starts_at).naive_utc();
            l.auction_ends_at = truncate_micros(b.auction_ends_at).naive_utc();
            l.attempt = old.attempt + 1;
            l.previous_listing_id = Some(old.id.clone());
            l.relisted_as_id = None;
            l.return_reason = None;
            l.cancel_reason = None;
            l.submitted_at = None;
            l.announced_at = None;
            l.closed_at = None;
            l.eligible_bidders = None;
            l.current_price_fen = None;
            l.current_ends_at = None;
            l.leading_registration_id = None;
            l.bid_count = 0;
            l.created_at = now.naive_utc();
            l.updated_at = now.naive_utc();
            apply_parcels(&mut l, &parcels)?;
            q::insert_listing(conn, &l, &parcel_ids).map_err(db::unique_or(|| {
                ApiError::InvalidState("this failed listing was already relisted".into())
            }))?;
            old.relisted_as_id = Some(l.id.clone());
            old.updated_at = now.naive_utc();
            q::save_listing(conn, &old)?;
            audit_listing(
                conn,
                Actor::of(&caller),
                &old,
                "listing.relisted",
                Some("failed"),
                Some(&format!("relisted as {}", l.id)),
                now,
            )?;
            audit_listing(
                conn,
                Actor::of(&caller),
                &l,
                "listing.created",
                None,
                Some(&format!("relist of {}", old.id)),
                now,
            )?;
            Ok(listing_out(l, parcels))
        },
    )
    .await?;
    Ok(created(format!("/api/v1/listings/{}", out.id), &out))
}

/// One listing. Public states are public; drafts, submissions, returned and cancelled
/// listings only for the owner collective, the township's staff and admins.
#[utoipa::path(get, path = "/api/v1/listings/{id}", tag = "listings",
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    responses((status = 200, body = ListingOut)))]
pub async fn get_listing(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let out = db::run(&state.pool, move |conn| {
        let l = settle(conn, &id, now, &rules)?.ok_or(ApiError::NotFound)?;
        if !listing_visible(caller.0.as_ref(), &l) {
            return Err(ApiError::NotFound);
        }
        load_out(conn, l)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum SortParam {
    #[serde(rename = "registration_closes_at")]
    RegistrationClosesAt,
    #[serde(rename = "-registration_closes_at")]
    RegistrationClosesAtDesc,
    #[serde(rename = "reserve_price_fen")]
    ReservePrice,
    #[serde(rename = "-reserve_price_fen")]
    ReservePriceDesc,
    #[serde(rename = "total_area_mu")]
    TotalArea,
    #[serde(rename = "-total_area_mu")]
    TotalAreaDesc,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    pub status: Option<ListingStatus>,
    #[param(format = Uuid)]
    pub township_id: Option<String>,
    #[param(format = Uuid)]
    pub village_id: Option<String>,
    /// Listings with at least one parcel of this type.
    pub land_type: Option<LandType>,
    pub intended_use: Option<IntendedUse>,
    #[param(pattern = r"^[0-9]{1,9}(\.[0-9]{1,2})?$")]
    pub min_area_mu: Option<String>,
    #[param(pattern = r"^[0-9]{1,9}(\.[0-9]{1,2})?$")]
    pub max_area_mu: Option<String>,
    #[param(minimum = 0)]
    pub max_reserve_price_fen: Option<i64>,
    /// Text in the title.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Sort order; default newest first. `-` prefix = descending.
    #[param(inline)]
    pub sort: Option<SortParam>,
    /// With a collective or staff token: also the caller's own non-public listings (a
    /// collective: its village's; staff: its township's; admin: all).
    pub mine: Option<bool>,
}

fn area_param(v: Option<String>, name: &str) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        parse_mu(&s).map_err(|m| ApiError::BadRequest(format!("query parameter `{name}` {m}")))
    })
    .transpose()
}

/// Search listings. Public (no token needed): announced, auction, awarded, contracted and
/// failed listings only, unless `mine=true` with a collective, staff or admin token.
#[utoipa::path(get, path = "/api/v1/listings", tag = "listings", params(SearchQuery),
    responses((status = 200, body = Page<ListingOut>)))]
pub async fn search_listings(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    qs: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let qs = qs.into_inner();
    let limit = qs.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let cursor = qs.cursor.as_deref().map(super::decode_cursor).transpose()?;
    if qs.max_reserve_price_fen.is_some_and(|p| p < 0) {
        return Err(ApiError::BadRequest(
            "query parameter `max_reserve_price_fen` must not be negative".into(),
        ));
    }
    if qs.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::BadRequest(
            "query parameter `q` is longer than 200 characters".into(),
        ));
    }
    let mut s = ListingSearch {
        statuses: ListingStatus::public_statuses()
            .into_iter()
            .map(String::from)
            .collect(),
        township_id: query_id(qs.township_id, "township_id")?,
        village_id: query_id(qs.village_id, "village_id")?,
        land_type: qs.land_type.map(|t| t.as_str().to_string()),
        intended_use: qs.intended_use.map(|u| u.as_str().to_string()),
        min_area_centimu: area_param(qs.min_area_mu, "min_area_mu")?,
        max_area_centimu: area_param(qs.max_area_mu, "max_area_mu")?,
        max_reserve_price_fen: qs.max_reserve_price_fen,
        q: qs.q.map(|t| t.trim().to_string()),
        sort: qs.sort.map(|s| match s {
            SortParam::RegistrationClosesAt => (SortKey::RegistrationClosesAt, false),
            SortParam::RegistrationClosesAtDesc => (SortKey::RegistrationClosesAt, true),
            SortParam::ReservePrice => (SortKey::ReservePrice, false),
            SortParam::ReservePriceDesc => (SortKey::ReservePrice, true),
            SortParam::TotalArea => (SortKey::TotalArea, false),
            SortParam::TotalAreaDesc => (SortKey::TotalArea, true),
        }),
        after: None,
        limit,
    };
    if qs.mine == Some(true) {
        if let Some(c) = &caller.0 {
            match c.role {
                Role::Collective => {
                    s.statuses = ListingStatus::ALL
                        .iter()
                        .map(|x| x.as_str().to_string())
                        .collect();
                    // Never another village's, whatever `village_id` asked for.
                    s.village_id = c.village_id.clone();
                }
                Role::Staff => {
                    s.statuses = ListingStatus::ALL
                        .iter()
                        .filter(|x| **x != ListingStatus::Draft)
                        .map(|x| x.as_str().to_string())
                        .collect();
                    s.township_id = c.township_id.clone();
                }
                Role::Admin => {
                    s.statuses = ListingStatus::ALL
                        .iter()
                        .map(|x| x.as_str().to_string())
                        .collect();
                }
                _ => {}
            }
        }
    }
    if let Some(st) = qs.status {
        let wanted = st.as_str().to_string();
        s.statuses.retain(|x| *x == wanted);
    }
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let page = db::run(&state.pool, move |conn| {
        // Transitions due among what this page could show happen before the read.
        crate::app::trading::settle_due(conn, now, &rules)?;
        if let Some(c) = cursor {
            s.after = Some(
                q::find_listing(conn, &c)?
                    .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))?,
            );
        }
        if s.statuses.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let rows = q::search_listings(conn, &s)?;
        let more = rows.len() as i64 > s.limit;
        let rows: Vec<Listing> = rows.into_iter().take(s.limit as usize).collect();
        let next_cursor = if more {
            rows.last().map(|l| l.id.clone())
        } else {
            None
        };
        let ids: Vec<String> = rows.iter().map(|l| l.id.clone()).collect();
        let mut by_listing = parcels_by_listing(conn, &ids)?;
        let items = rows
            .into_iter()
            .map(|l| {
                let ps = by_listing.remove(&l.id).unwrap_or_default();
                listing_out(l, ps)
            })
            .collect();
        Ok(Page { items, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

fn parcels_by_listing(
    conn: &mut DbConn,
    ids: &[String],
) -> Result<HashMap<String, Vec<Parcel>>, ApiError> {
    use crate::db::schema::{listing_parcels, parcels};
    use diesel::prelude::*;
    let rows: Vec<(String, Parcel)> = listing_parcels::table
        .inner_join(parcels::table)
        .filter(listing_parcels::listing_id.eq_any(ids))
        .order(parcels::code)
        .select((listing_parcels::listing_id, Parcel::as_select()))
        .load(conn)?;
    let mut map: HashMap<String, Vec<Parcel>> = HashMap::new();
    for (l, p) in rows {
        map.entry(l).or_default().push(p);
    }
    Ok(map)
}
