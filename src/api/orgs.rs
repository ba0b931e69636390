//! Organisations: townships (镇), their villages (村) and insurers. Anyone may list them;
//! only admins create them.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{created, parse_body, parse_id, Page, PageQuery, Routes};
use crate::app::orgs::{self, NewInsurer, NewTownship, NewVillage, TownshipPatch, VillagePatch};
use crate::auth::Caller;
use crate::db;
use crate::db::models::{Insurer, Township, Village};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/api/v1/townships", list_townships)
        .add(Method::POST, "/api/v1/townships", create_township)
        .add(Method::GET, "/api/v1/townships/{id}", get_township)
        .add(Method::PATCH, "/api/v1/townships/{id}", patch_township)
        .add(
            Method::GET,
            "/api/v1/townships/{id}/villages",
            list_villages,
        )
        .add(Method::POST, "/api/v1/villages", create_village)
        .add(Method::GET, "/api/v1/villages/{id}", get_village)
        .add(Method::PATCH, "/api/v1/villages/{id}", patch_village)
        .add(Method::GET, "/api/v1/insurers", list_insurers)
        .add(Method::POST, "/api/v1/insurers", create_insurer);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TownshipOut {
    pub id: String,
    pub code: String,
    pub name: String,
    /// Whether contracts here need an issued policy before becoming active.
    pub insurance_required: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Township> for TownshipOut {
    fn from(t: Township) -> Self {
        TownshipOut {
            id: t.id,
            code: t.code,
            name: t.name,
            insurance_required: t.insurance_required,
            created_at: t.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VillageOut {
    pub id: String,
    pub township_id: String,
    pub code: String,
    pub name: String,
    /// The collective economic organisation's legal name (the contracts' 甲方).
    pub legal_name: Option<String>,
    /// Its unified social credit code (GB 32100).
    pub unified_social_credit_code: Option<String>,
    pub legal_representative: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Village> for VillageOut {
    fn from(v: Village) -> Self {
        VillageOut {
            id: v.id,
            township_id: v.township_id,
            code: v.code,
            name: v.name,
            legal_name: v.legal_name,
            unified_social_credit_code: v.unified_social_credit_code,
            legal_representative: v.legal_representative,
            created_at: v.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InsurerOut {
    pub id: String,
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Insurer> for InsurerOut {
    fn from(i: Insurer) -> Self {
        InsurerOut {
            id: i.id,
            code: i.code,
            name: i.name,
            created_at: i.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTownshipBody {
    /// 1–32 of `[A-Za-z0-9-_]`, unique (e.g. `CJ`).
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,32}$")]
    pub code: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub name: String,
    /// Default true.
    pub insurance_required: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVillageBody {
    #[schema(format = Uuid)]
    pub township_id: String,
    /// Unique within the township.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,32}$")]
    pub code: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInsurerBody {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,32}$")]
    pub code: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub name: String,
}

/// List townships (public).
#[utoipa::path(get, path = "/api/v1/townships", tag = "organisations", params(PageQuery),
    responses((status = 200, body = Page<TownshipOut>)))]
pub async fn list_townships(
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.to_req()?;
    let limit = page.limit;
    let rows = db::run(&state.pool, move |conn| orgs::list_townships(conn, &page)).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |t| t.id.clone(),
        TownshipOut::from,
    )))
}

/// One township (public).
#[utoipa::path(get, path = "/api/v1/townships/{id}", tag = "organisations",
    params(("id" = uuid::Uuid, Path, description = "township id")),
    responses((status = 200, body = TownshipOut)))]
pub async fn get_township(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let t = db::run(&state.pool, move |conn| orgs::get_township(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(TownshipOut::from(t)))
}

/// Create a township (admin).
#[utoipa::path(post, path = "/api/v1/townships", tag = "organisations", security(("bearer" = [])),
    request_body = CreateTownshipBody,
    responses((status = 201, body = TownshipOut), (status = 409, description = "code taken", body = crate::error::Problem)))]
pub async fn create_township(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // 403 before the body is read (API.md, check order).
    caller.require_admin()?;
    let b: CreateTownshipBody = parse_body(&body)?;
    let ctx = state.ctx(Some(caller));
    let township = NewTownship {
        code: b.code,
        name: b.name,
        insurance_required: b.insurance_required,
    };
    let t = db::run(&state.pool, move |conn| {
        orgs::create_township(&ctx, conn, township)
    })
    .await?;
    Ok(created(
        format!("/api/v1/townships/{}", t.id),
        &TownshipOut::from(t),
    ))
}

/// Villages of a township (public).
#[utoipa::path(get, path = "/api/v1/townships/{id}/villages", tag = "organisations",
    params(("id" = uuid::Uuid, Path, description = "township id"), PageQuery),
    responses((status = 200, body = Page<VillageOut>)))]
pub async fn list_villages(
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let page = q.to_req()?;
    let limit = page.limit;
    let rows = db::run(&state.pool, move |conn| {
        orgs::list_villages(conn, &id, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |v| v.id.clone(),
        VillageOut::from,
    )))
}

/// One village (public).
#[utoipa::path(get, path = "/api/v1/villages/{id}", tag = "organisations",
    params(("id" = uuid::Uuid, Path, description = "village id")),
    responses((status = 200, body = VillageOut)))]
pub async fn get_village(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let v = db::run(&state.pool, move |conn| orgs::get_village(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(VillageOut::from(v)))
}

/// Create a village in a township (admin).
#[utoipa::path(post, path = "/api/v1/villages", tag = "organisations", security(("bearer" = [])),
    request_body = CreateVillageBody,
    responses((status = 201, body = VillageOut), (status = 409, description = "code taken in this township", body = crate::error::Problem)))]
pub async fn create_village(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // 403 before the body is read (API.md, check order).
    caller.require_admin()?;
    let b: CreateVillageBody = parse_body(&body)?;
    let ctx = state.ctx(Some(caller));
    let village = NewVillage {
        township_id: b.township_id,
        code: b.code,
        name: b.name,
    };
    let v = db::run(&state.pool, move |conn| {
        orgs::create_village(&ctx, conn, village)
    })
    .await?;
    Ok(created(
        format!("/api/v1/villages/{}", v.id),
        &VillageOut::from(v),
    ))
}

/// List insurers (public).
#[utoipa::path(get, path = "/api/v1/insurers", tag = "organisations", params(PageQuery),
    responses((status = 200, body = Page<InsurerOut>)))]
pub async fn list_insurers(
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.to_req()?;
    let limit = page.limit;
    let rows = db::run(&state.pool, move |conn| orgs::list_insurers(conn, &page)).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |i| i.id.clone(),
        InsurerOut::from,
    )))
}

/// Create an insurer (admin).
#[utoipa::path(post, path = "/api/v1/insurers", tag = "organisations", security(("bearer" = [])),
    request_body = CreateInsurerBody,
    responses((status = 201, body = InsurerOut), (status = 409, description = "code taken", body = crate::error::Problem)))]
pub async fn create_insurer(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // 403 before the body is read (API.md, check order).
    caller.require_admin()?;
    let b: CreateInsurerBody = parse_body(&body)?;
    let ctx = state.ctx(Some(caller));
    let insurer = NewInsurer {
        code: b.code,
        name: b.name,
    };
    let i = db::run(&state.pool, move |conn| {
        orgs::create_insurer(&ctx, conn, insurer)
    })
    .await?;
    Ok(created(
        format!("/api/v1/insurers/{}", i.id),
        &InsurerOut::from(i),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchVillageBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub legal_name: Option<String>,
    /// GB 32100, 18 characters with its check character.
    #[schema(pattern = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")]
    pub unified_social_credit_code: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub legal_representative: Option<String>,
}

/// Set a village's legal identity (an admin, or a collective user of that village): the
/// contract's 甲方 is frozen from it when the collective signs.
#[utoipa::path(patch, path = "/api/v1/villages/{id}", tag = "organisations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "village id")), request_body = PatchVillageBody,
    responses((status = 200, body = VillageOut)))]
pub async fn patch_village(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let body = patch_body::<PatchVillageBody>(&body).map(|b| VillagePatch {
        legal_name: b.legal_name,
        unified_social_credit_code: b.unified_social_credit_code,
        legal_representative: b.legal_representative,
    });
    let v = db::run(&state.pool, move |conn| {
        orgs::patch_village(&ctx, conn, &id, body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(VillageOut::from(v)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTownshipBody {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub name: Option<String>,
    /// Whether contracts certified here need an issued policy before becoming active.
    pub insurance_required: Option<bool>,
}

/// Rename a township or change whether its contracts need insurance (admin).
#[utoipa::path(patch, path = "/api/v1/townships/{id}", tag = "organisations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "township id")), request_body = PatchTownshipBody,
    responses((status = 200, body = TownshipOut)))]
pub async fn patch_township(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let body = patch_body::<PatchTownshipBody>(&body).map(|b| TownshipPatch {
        name: b.name,
        insurance_required: b.insurance_required,
    });
    let t = db::run(&state.pool, move |conn| {
        orgs::patch_township(&ctx, conn, &id, body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TownshipOut::from(t)))
}

/// A PATCH needs a JSON object (`{}` changes nothing); a missing body is 422 naming `body`.
fn patch_body<T: serde::de::DeserializeOwned + utoipa::PartialSchema>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::field("body", "a JSON object is required"));
    }
    parse_body(body)
}
