//! `/api/v1/parcels`: the village land register ("one plot one code", 一地一码).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, parse_body, parse_id, query_id, Page, Routes};
use crate::app;
use crate::app::parcels::{NewParcelFields, ParcelFields, ParcelList, ParcelView};
use crate::auth::Caller;
use crate::db;
use crate::db::models::Parcel;
use crate::domain::money::format_mu;
use crate::domain::parcel::LandType;
use crate::error::ApiError;
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
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
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
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
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

impl From<CreateParcelBody> for NewParcelFields {
    fn from(b: CreateParcelBody) -> Self {
        NewParcelFields {
            land_type: b.land_type,
            household_contract_end: b.household_contract_end,
            fields: ParcelFields {
                code: Some(b.code),
                area_mu: Some(b.area_mu),
                land_type: Some(b.land_type),
                permanent_basic_farmland: Some(b.permanent_basic_farmland),
                quality_grade: Some(b.quality_grade),
                households: Some(b.households),
                household_contract_end: None,
                location: Some(b.location),
                boundary_geojson: Some(b.boundary_geojson),
            },
        }
    }
}

impl From<PatchParcelBody> for ParcelFields {
    fn from(b: PatchParcelBody) -> Self {
        ParcelFields {
            code: b.code,
            area_mu: b.area_mu,
            land_type: b.land_type,
            permanent_basic_farmland: b.permanent_basic_farmland,
            quality_grade: b.quality_grade,
            households: b.households,
            household_contract_end: b.household_contract_end,
            location: b.location,
            boundary_geojson: b.boundary_geojson,
        }
    }
}

impl From<ParcelView> for ParcelOut {
    fn from(v: ParcelView) -> Self {
        parcel_out(v.parcel, v.locked)
    }
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
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::parcels::create(&ctx, conn, || {
            parse_body::<CreateParcelBody>(&body).map(Into::into)
        })
    })
    .await?;
    Ok(created(
        format!("/api/v1/parcels/{}", v.parcel.id),
        &ParcelOut::from(v),
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
    let qs = qs.into_inner();
    let query = (|| {
        let page = super::PageQuery {
            limit: qs.limit,
            cursor: qs.cursor,
        }
        .to_req()?;
        Ok(ParcelList {
            village_id: query_id(qs.village_id, "village_id")?,
            after: page.after,
            limit: page.limit,
        })
    })();
    let limit = query.as_ref().map_or(0, |q: &ParcelList| q.limit);
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        app::parcels::list(&ctx, conn, move || query)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |v| v.parcel.id.clone(),
        ParcelOut::from,
    )))
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
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| app::parcels::get(&ctx, conn, &id)).await?;
    Ok(HttpResponse::Ok().json(ParcelOut::from(v)))
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
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        app::parcels::patch(&ctx, conn, &id, || {
            parse_body::<PatchParcelBody>(&body).map(Into::into)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(ParcelOut::from(v)))
}
