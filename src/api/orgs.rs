//! Organisations: townships (镇), their villages (村) and insurers. Anyone may list them;
//! only admins create them.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{created, parse_body, parse_id, Page, PageQuery, Routes};
use crate::audit::{self, Entry, SYSTEM_STREAM};
use crate::auth::Caller;
use crate::db::models::{Insurer, Township, Village};
use crate::db::{self, queries};
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/api/v1/townships", list_townships)
        .add(Method::POST, "/api/v1/townships", create_township)
        .add(Method::GET, "/api/v1/townships/{id}", get_township)
        .add(
            Method::GET,
            "/api/v1/townships/{id}/villages",
            list_villages,
        )
        .add(Method::POST, "/api/v1/villages", create_village)
        .add(Method::GET, "/api/v1/villages/{id}", get_village)
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
    pub created_at: DateTime<Utc>,
}

impl From<Village> for VillageOut {
    fn from(v: Village) -> Self {
        VillageOut {
            id: v.id,
            township_id: v.township_id,
            code: v.code,
            name: v.name,
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
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
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
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInsurerBody {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,32}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
}

fn check_code_name(code: &str, name: &str) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Err(m) = validate::org_code(code) {
        errors.push(FieldError::new("code", m));
    }
    if let Err(m) = validate::text(name, 100) {
        errors.push(FieldError::new("name", m));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn org_audit<'a>(
    caller: &'a Caller,
    action: &'a str,
    entity_type: &'a str,
    id: &'a str,
) -> Entry<'a> {
    Entry {
        stream: SYSTEM_STREAM,
        actor_id: Some(&caller.id),
        actor_role: Some(caller.role_str()),
        action,
        entity_type,
        entity_id: id,
        to_state: Some("active"),
        ..Default::default()
    }
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
    let rows = db::run(&state.pool, move |conn| {
        Ok(queries::list_townships(conn, &page)?)
    })
    .await?;
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
    let t = db::run(&state.pool, move |conn| {
        Ok(queries::find_township(conn, &id)?)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
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
    caller.require_admin()?;
    let b: CreateTownshipBody = parse_body(&body)?;
    check_code_name(&b.code, &b.name)?;
    let now = state.clock.now();
    let t = Township {
        id: uuid::Uuid::now_v7().to_string(),
        code: b.code,
        name: b.name.trim().to_string(),
        insurance_required: b.insurance_required.unwrap_or(true),
        created_at: now.naive_utc(),
    };
    let t = db::run_tx(&state.pool, move |conn| {
        queries::insert_township(conn, &t).map_err(db::unique_or(|| {
            ApiError::Conflict("township code already exists".into())
        }))?;
        audit::append(
            conn,
            &org_audit(&caller, "township.created", "township", &t.id),
            now,
        )?;
        Ok(t)
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
        queries::find_township(conn, &id)?.ok_or(ApiError::NotFound)?;
        Ok(queries::list_villages(conn, &id, &page)?)
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
    let v = db::run(&state.pool, move |conn| {
        Ok(queries::find_village(conn, &id)?)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
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
    caller.require_admin()?;
    let b: CreateVillageBody = parse_body(&body)?;
    check_code_name(&b.code, &b.name)?;
    let township_id = uuid::Uuid::parse_str(&b.township_id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::field("township_id", "must be a UUID"))?;
    let now = state.clock.now();
    let v = Village {
        id: uuid::Uuid::now_v7().to_string(),
        township_id,
        code: b.code,
        name: b.name.trim().to_string(),
        created_at: now.naive_utc(),
    };
    let v = db::run_tx(&state.pool, move |conn| {
        if queries::find_township(conn, &v.township_id)?.is_none() {
            return Err(ApiError::field("township_id", "no such township"));
        }
        queries::insert_village(conn, &v).map_err(db::unique_or(|| {
            ApiError::Conflict("village code already exists in this township".into())
        }))?;
        audit::append(
            conn,
            &org_audit(&caller, "village.created", "village", &v.id),
            now,
        )?;
        Ok(v)
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
    let rows = db::run(&state.pool, move |conn| {
        Ok(queries::list_insurers(conn, &page)?)
    })
    .await?;
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
    caller.require_admin()?;
    let b: CreateInsurerBody = parse_body(&body)?;
    check_code_name(&b.code, &b.name)?;
    let now = state.clock.now();
    let i = Insurer {
        id: uuid::Uuid::now_v7().to_string(),
        code: b.code,
        name: b.name.trim().to_string(),
        created_at: now.naive_utc(),
    };
    let i = db::run_tx(&state.pool, move |conn| {
        queries::insert_insurer(conn, &i).map_err(db::unique_or(|| {
            ApiError::Conflict("insurer code already exists".into())
        }))?;
        audit::append(
            conn,
            &org_audit(&caller, "insurer.created", "insurer", &i.id),
            now,
        )?;
        Ok(i)
    })
    .await?;
    Ok(created(
        format!("/api/v1/insurers/{}", i.id),
        &InsurerOut::from(i),
    ))
}
