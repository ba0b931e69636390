//! `/api/v1/listings`: the listing lifecycle (挂牌) and public search.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::MaybeCaller;
use super::{created, parse_body, parse_empty, parse_id, query_id, Page, Routes};
use crate::app;
use crate::app::listings::{ListingChanges, ListingDraft, ListingView, Relisting, Search};
use crate::auth::Caller;
use crate::db;
use crate::db::listings::{ListingSearch, SortKey};
use crate::db::models::{Listing, Parcel};
use crate::domain::listing::{Consent, IntendedUse, ListingStatus};
use crate::domain::money::{format_mu, parse_mu};
use crate::domain::parcel::LandType;
use crate::error::ApiError;
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

impl From<ListingView> for ListingOut {
    fn from(v: ListingView) -> Self {
        listing_out(v.listing, v.parcels)
    }
}

impl From<ConsentBody> for Consent {
    fn from(c: ConsentBody) -> Self {
        Consent {
            resolution_date: c.resolution_date,
            members_agreeing: c.members_agreeing,
            members_total: c.members_total,
            commissions_received: c.commissions_received,
        }
    }
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListingBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
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
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
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
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelistBody {
    /// May be lower than the failed listing's, never higher.
    pub reserve_price_fen: Option<i64>,
    /// A new term (first day); default: the failed listing's. Checked on submit.
    pub term_start: Option<NaiveDate>,
    /// A new term (last day, inclusive); default: the failed listing's.
    pub term_end: Option<NaiveDate>,
    pub registration_closes_at: DateTime<Utc>,
    pub auction_starts_at: DateTime<Utc>,
    pub auction_ends_at: DateTime<Utc>,
}

impl From<CreateListingBody> for ListingDraft {
    fn from(b: CreateListingBody) -> Self {
        ListingDraft {
            title: b.title,
            description: b.description,
            parcel_ids: b.parcel_ids,
            intended_use: b.intended_use,
            term_start: b.term_start,
            term_end: b.term_end,
            reserve_price_fen: b.reserve_price_fen,
            min_increment_fen: b.min_increment_fen,
            deposit_fen: b.deposit_fen,
            registration_closes_at: b.registration_closes_at,
            auction_starts_at: b.auction_starts_at,
            auction_ends_at: b.auction_ends_at,
            extension_secs: b.extension_secs,
            consent: b.consent.into(),
        }
    }
}

impl From<PatchListingBody> for ListingChanges {
    fn from(b: PatchListingBody) -> Self {
        ListingChanges {
            title: b.title,
            description: b.description,
            parcel_ids: b.parcel_ids,
            intended_use: b.intended_use,
            term_start: b.term_start,
            term_end: b.term_end,
            reserve_price_fen: b.reserve_price_fen,
            min_increment_fen: b.min_increment_fen,
            deposit_fen: b.deposit_fen,
            registration_closes_at: b.registration_closes_at,
            auction_starts_at: b.auction_starts_at,
            auction_ends_at: b.auction_ends_at,
            extension_secs: b.extension_secs,
            consent: b.consent.map(Into::into),
        }
    }
}

impl From<RelistBody> for Relisting {
    fn from(b: RelistBody) -> Self {
        Relisting {
            reserve_price_fen: b.reserve_price_fen,
            term_start: b.term_start,
            term_end: b.term_end,
            registration_closes_at: b.registration_closes_at,
            auction_starts_at: b.auction_starts_at,
            auction_ends_at: b.auction_ends_at,
        }
    }
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
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::listings::create(&ctx, conn, || {
            parse_body::<CreateListingBody>(&body).map(Into::into)
        })
    })
    .await?;
    let out = ListingOut::from(v);
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
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::listings::patch(&ctx, conn, &id, || {
            parse_body::<PatchListingBody>(&body).map(Into::into)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListingOut::from(v)))
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
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::listings::submit(&ctx, conn, &id, || parse_empty(&body))
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListingOut::from(v)))
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
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::listings::approve(&ctx, conn, &id, || parse_empty(&body))
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListingOut::from(v)))
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
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::listings::return_for_changes(&ctx, conn, &id, || {
            parse_body::<ReasonBody>(&body).map(|b| b.reason)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListingOut::from(v)))
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
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::listings::cancel(&ctx, conn, &id, || {
            parse_body::<ReasonBody>(&body).map(|b| b.reason)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListingOut::from(v)))
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
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::listings::relist(&ctx, conn, &id, || {
            parse_body::<RelistBody>(&body).map(Into::into)
        })
    })
    .await?;
    let out = ListingOut::from(v);
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
    let anonymous = caller.0.is_none();
    let ctx = state.ctx(caller.0);
    let v = state
        .public_read(anonymous, move |conn| app::listings::get(&ctx, conn, &id))
        .await?;
    Ok(HttpResponse::Ok().json(ListingOut::from(v)))
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
    let filter = ListingSearch {
        statuses: Vec::new(),
        township_id: query_id(qs.township_id, "township_id")?,
        village_id: query_id(qs.village_id, "village_id")?,
        land_type: qs.land_type,
        intended_use: qs.intended_use,
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
    let search = Search {
        filter,
        status: qs.status,
        mine: qs.mine == Some(true),
        cursor,
    };
    let anonymous = caller.0.is_none();
    let ctx = state.ctx(caller.0);
    let page = state
        .public_read(anonymous, move |conn| {
            app::listings::search(&ctx, conn, search.clone())
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page
            .items
            .into_iter()
            .map(ListingOut::from)
            .collect::<Vec<_>>(),
        next_cursor: page.next_cursor,
    }))
}
