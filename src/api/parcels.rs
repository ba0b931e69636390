//! `/api/v1/parcels`: the village land register ("one plot one code", 一地一码).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, parse_body, parse_id, query_id, Page, Routes};
use crate::auth::Caller;
use crate::db::listings::{self as q, ParcelScope};
use crate::db::models::Parcel;
use crate::db::{self, queries};
use crate::domain::listing::{ListingEvent, ListingStatus};
use crate::domain::money::{format_mu, parse_mu};
use crate::domain::parcel::{check_code, check_polygon, LandType};
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/parcels", create_parcel)
        .add(Method::GET, "/api/v1/parcels", list_parcels)
        .add(Method::GET, "/api/v1/parcels/{id}", get_parcel)
        .add(Method::PATCH, "/api/v1/parcels/{id}", patch_parcel);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParcelOut {
    pub id: String,
    pub code: String,
    pub village_id: String,
    pub township_id: String,
    /// Mu, two decimals, e.g. `"158.31"`.
    pub area_mu: String,
    pub land_type: LandType,
    pub permanent_basic_farmland: bool,
    pub quality_grade: Option<i64>,
    pub households: i64,
    pub household_contract_end: NaiveDate,
    pub location: String,
    pub boundary_geojson: Option<serde_json::Value>,
    /// In a live listing or an unfinished contract: can't be edited or listed again.
    pub locked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn parcel_out(p: Parcel, locked: bool) -> ParcelOut {
    ParcelOut {
        land_type: p.land_type,
        area_mu: format_mu(p.area_centimu),
        boundary_geojson: p
            .boundary_geojson
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        id: p.id,
        code: p.code,
        village_id: p.village_id,
        township_id: p.township_id,
        permanent_basic_farmland: p.permanent_basic_farmland,
        quality_grade: p.quality_grade,
        households: p.households,
        household_contract_end: p.household_contract_end,
        location: p.location,
        locked,
        created_at: p.created_at.and_utc(),
        updated_at: p.updated_at.and_utc(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateParcelBody {
    /// 1–64 of `[A-Za-z0-9-]`, unique platform-wide, e.g. `JS-CJ-0001-017`.
    #[schema(pattern = r"^[A-Za-z0-9-]{1,64}$")]
    pub code: String,
    /// Mu as a decimal string with at most 2 decimals, > 0.
    #[schema(pattern = r"^[0-9]{1,9}(\.[0-9]{1,2})?$")]
    pub area_mu: String,
    pub land_type: LandType,
    pub permanent_basic_farmland: bool,
    #[schema(minimum = 1, maximum = 10)]
    pub quality_grade: Option<i64>,
    /// Contracting households (承包农户).
    #[schema(minimum = 0, maximum = 100000)]
    pub households: i64,
    /// End of the households' contract term (承包期), e.g. `2027-12-31`.
    pub household_contract_end: NaiveDate,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub location: String,
    /// GeoJSON Polygon of `[lng, lat]` positions.
    pub boundary_geojson: Option<serde_json::Value>,
}

/// PATCH body: any subset of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchParcelBody {
    #[schema(pattern = r"^[A-Za-z0-9-]{1,64}$")]
    pub code: Option<String>,
    #[schema(pattern = r"^[0-9]{1,9}(\.[0-9]{1,2})?$")]
    pub area_mu: Option<String>,
    pub land_type: Option<LandType>,
    pub permanent_basic_farmland: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10)]
    pub quality_grade: Option<Option<i64>>,
    #[schema(minimum = 0, maximum = 100000)]
    pub households: Option<i64>,
    pub household_contract_end: Option<NaiveDate>,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub location: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub boundary_geojson: Option<Option<serde_json::Value>>,
}

/// Tells a field given as `null` (`Some(None)`: clear it) from a field left out (`None`).
fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Field checks shared by create and patch; fills `p` from the given values.
#[allow(clippy::too_many_arguments)]
fn apply_fields(
    p: &mut Parcel,
    code: Option<String>,
    area_mu: Option<String>,
    land_type: Option<LandType>,
    basic: Option<bool>,
    grade: Option<Option<i64>>,
    households: Option<i64>,
    contract_end: Option<NaiveDate>,
    location: Option<String>,
    geojson: Option<Option<serde_json::Value>>,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(code) = code {
        match check_code(&code) {
            Ok(()) => p.code = code,
            Err(m) => errors.push(FieldError::new("code", m)),
        }
    }
    if let Some(a) = area_mu {
        match parse_mu(&a) {
            Ok(c) if c > 0 => p.area_centimu = c,
            Ok(_) => errors.push(FieldError::new("area_mu", "must be greater than 0")),
            Err(m) => errors.push(FieldError::new("area_mu", m)),
        }
    }
    if let Some(t) = land_type {
        p.land_type = t;
    }
    if let Some(b) = basic {
        p.permanent_basic_farmland = b;
    }
    if let Some(g) = grade {
        if g.is_some_and(|g| !(1..=10).contains(&g)) {
            errors.push(FieldError::new("quality_grade", "must be 1 to 10"));
        } else {
            p.quality_grade = g;
        }
    }
    if let Some(h) = households {
        if !(0..=100_000).contains(&h) {
            errors.push(FieldError::new("households", "must be 0 to 100000"));
        } else {
            p.households = h;
        }
    }
    if let Some(d) = contract_end {
        p.household_contract_end = d;
    }
    if let Some(l) = location {
        match validate::text(&l, 500) {
            Ok(()) => p.location = l.trim().to_string(),
            Err(m) => errors.push(FieldError::new("location", m)),
        }
    }
    if let Some(g) = geojson {
        match g {
            None | Some(serde_json::Value::Null) => p.boundary_geojson = None,
            Some(v) => match check_polygon(&v) {
                Ok(()) => p.boundary_geojson = Some(v.to_string()),
                Err(m) => errors.push(FieldError::new("boundary_geojson", m)),
            },
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn code_taken(e: diesel::result::Error) -> ApiError {
    db::unique_or(|| ApiError::Conflict("a parcel with this code exists".into()))(e)
}

/// Register a parcel of the caller's village (collective).
#[utoipa::path(post, path = "/api/v1/parcels", tag = "parcels", security(("bearer" = [])),
    request_body = CreateParcelBody,
    responses((status = 201, body = ParcelOut), (status = 409, description = "code taken", body = crate::error::Problem)))]
pub async fn create_parcel(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Collective])?;
    let b: CreateParcelBody = parse_body(&body)?;
    let village_id = caller
        .village_id
        .clone()
        .ok_or_else(|| ApiError::internal("collective without village"))?;
    let now = state.clock.now();
    let mut p = Parcel {
        id: uuid::Uuid::now_v7().to_string(),
        code: String::new(),
        village_id: village_id.clone(),
        township_id: String::new(),
        area_centimu: 0,
        land_type: b.land_type,
        permanent_basic_farmland: false,
        quality_grade: None,
        households: 0,
        household_contract_end: b.household_contract_end,
        location: String::new(),
        boundary_geojson: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    apply_fields(
        &mut p,
        Some(b.code),
        Some(b.area_mu),
        Some(b.land_type),
        Some(b.permanent_basic_farmland),
        Some(b.quality_grade),
        Some(b.households),
        None,
        Some(b.location),
        Some(b.boundary_geojson),
    )?;
    let p = db::run_tx(&state.pool, move |conn| {
        let v = queries::find_village(conn, &village_id)?
            .ok_or_else(|| ApiError::internal("village vanished"))?;
        p.township_id = v.township_id;
        q::insert_parcel(conn, &p).map_err(code_taken)?;
        Ok(p)
    })
    .await?;
    Ok(created(
        format!("/api/v1/parcels/{}", p.id),
        &parcel_out(p, false),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ParcelListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    #[param(format = Uuid)]
    pub village_id: Option<String>,
}

/// Parcels the caller may see: a collective its village's, staff their township's, admins all.
#[utoipa::path(get, path = "/api/v1/parcels", tag = "parcels", security(("bearer" = [])),
    params(ParcelListQuery),
    responses((status = 200, body = Page<ParcelOut>)))]
pub async fn list_parcels(
    state: web::Data<AppState>,
    caller: Caller,
    qs: web::Query<ParcelListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Collective, Role::Staff, Role::Admin])?;
    let qs = qs.into_inner();
    let page = super::PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let village_filter = query_id(qs.village_id, "village_id")?;
    let limit = page.limit;
    let rows = db::run(&state.pool, move |conn| {
        let mut scope = ParcelScope {
            village_id: village_filter.clone(),
            township_id: None,
        };
        match caller.role {
            Role::Collective => {
                if village_filter.is_some() && village_filter != caller.village_id {
                    return Err(ApiError::NotFound);
                }
                scope.village_id = caller.village_id.clone();
            }
            Role::Staff => {
                if let Some(v) = &village_filter {
                    let village = queries::find_village(conn, v)?.ok_or(ApiError::NotFound)?;
                    if Some(&village.township_id) != caller.township_id.as_ref() {
                        return Err(ApiError::NotFound);
                    }
                }
                scope.township_id = caller.township_id.clone();
            }
            _ => {}
        }
        let rows = q::list_parcels(conn, &scope, page.after.as_deref(), page.limit)?;
        let ids: Vec<String> = rows.iter().map(|p| p.id.clone()).collect();
        let locked = q::locked_parcels(conn, &ids, None)?;
        Ok(rows
            .into_iter()
            .map(|p| {
                let l = locked.contains(&p.id);
                (p, l)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |(p, _)| p.id.clone(),
        |(p, l)| parcel_out(p, l),
    )))
}

/// Loads a parcel the caller may see (else 404) and whether it is locked.
fn visible_parcel(
    conn: &mut db::DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(Parcel, bool), ApiError> {
    let p = q::find_parcel(conn, id)?.ok_or(ApiError::NotFound)?;
    if !caller.sees_village(&p.village_id, &p.township_id) {
        return Err(ApiError::NotFound);
    }
    let locked = !q::locked_parcels(conn, std::slice::from_ref(&p.id), None)?.is_empty();
    Ok((p, locked))
}

/// One parcel (its village's collective, its township's staff, admins).
#[utoipa::path(get, path = "/api/v1/parcels/{id}", tag = "parcels", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "parcel id")),
    responses((status = 200, body = ParcelOut)))]
pub async fn get_parcel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let (p, locked) = db::run(&state.pool, move |conn| visible_parcel(conn, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(parcel_out(p, locked)))
}

/// Edit a parcel of the caller's village while it is not locked (collective).
#[utoipa::path(patch, path = "/api/v1/parcels/{id}", tag = "parcels", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "parcel id")),
    request_body = PatchParcelBody,
    responses((status = 200, body = ParcelOut), (status = 409, description = "locked or code taken", body = crate::error::Problem)))]
pub async fn patch_parcel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let now = state.clock.now();
    let p = db::run_tx(&state.pool, move |conn| {
        // Take the parcel's row lock before the lock check, as submit does, so a submit
        // racing this edit either sees the edit or makes it wait and fail the check.
        q::lock_parcels(conn, std::slice::from_ref(&id))?;
        let (mut p, locked) = visible_parcel(conn, &caller, &id)?;
        if !caller.is_collective_of(&p.village_id) {
            return Err(ApiError::Forbidden(
                "only the village collective edits its parcels".into(),
            ));
        }
        let b: PatchParcelBody = parse_body(&body)?;
        if locked {
            return Err(ApiError::InvalidState(
                "the parcel is in a live listing or contract".into(),
            ));
        }
        apply_fields(
            &mut p,
            b.code,
            b.area_mu,
            b.land_type,
            b.permanent_basic_farmland,
            b.quality_grade,
            b.households,
            b.household_contract_end,
            b.location,
            b.boundary_geojson,
        )?;
        p.updated_at = now.naive_utc();
        q::update_parcel(conn, &p).map_err(code_taken)?;
        Ok(p)
    })
    .await?;
    // Draft and returned listings holding the parcel now show its new area, rent and land
    // type. A transaction of its own that locks listing rows only: submit locks the listing
    // and then its parcels, so taking a listing lock while holding the parcel's would deadlock.
    let parcel_id = p.id.clone();
    db::run_tx(&state.pool, move |conn| {
        let editable: Vec<&str> = ListingStatus::ALL
            .iter()
            .filter(|s| s.next(ListingEvent::Edit).is_some())
            .map(|s| s.as_str())
            .collect();
        for held in q::listings_with_parcel(conn, &parcel_id, &editable)? {
            let Some(mut l) = q::find_listing_for_update(conn, &held.id)? else {
                continue;
            };
            if !editable.contains(&l.status.as_str()) {
                continue; // submitted meanwhile: the submit recomputed it
            }
            let parcels = q::listing_parcels(conn, &l.id)?;
            if crate::api::listings::apply_parcels(&mut l, &parcels).is_err() {
                continue; // out of range: the submit names the field
            }
            l.updated_at = now.naive_utc();
            q::save_listing(conn, &l)?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(parcel_out(p, false)))
}
