//! Registrations (报名), qualification review and deposits (保证金). Personal data (ID
//! numbers, phones) is shown in full only to the registrant, the township's staff and admins.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, parse_body, parse_id, Page, PageQuery, Routes};
use crate::app;
use crate::app::registrations::{
    DepositInput, Detail, QualifyInput, RefundInput, RegisterInput, RejectInput,
};
use crate::auth::Caller;
use crate::crypto::DataKey;
use crate::db::{self, models::Registration};
use crate::domain::registration::{DepositStatus, IdType, RegistrationStatus};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(
        Method::POST,
        "/api/v1/listings/{id}/registrations",
        create_registration,
    )
    .add(
        Method::GET,
        "/api/v1/listings/{id}/registrations",
        list_listing_registrations,
    )
    .add(Method::GET, "/api/v1/registrations/{id}", get_registration)
    .add(
        Method::GET,
        "/api/v1/me/registrations",
        list_my_registrations,
    )
    .add(
        Method::POST,
        "/api/v1/registrations/{id}/qualify",
        qualify_registration,
    )
    .add(
        Method::POST,
        "/api/v1/registrations/{id}/reject",
        reject_registration,
    )
    .add(
        Method::POST,
        "/api/v1/registrations/{id}/deposit",
        confirm_deposit,
    )
    .add(
        Method::POST,
        "/api/v1/registrations/{id}/refund",
        refund_deposit,
    );
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationOut {
    pub id: String,
    pub listing_id: String,
    pub investor_id: String,
    pub legal_name: String,
    pub id_type: IdType,
    /// In full: only the registrant, the township's staff and admins see this object.
    pub id_number: String,
    /// `3101**********1234`
    pub id_number_masked: String,
    pub phone: String,
    pub experience: String,
    pub business_plan: String,
    pub claims_membership: bool,
    pub member_verified: bool,
    pub status: RegistrationStatus,
    pub reject_reason: Option<String>,
    pub deposit_status: DepositStatus,
    pub deposit_amount_fen: Option<i64>,
    pub deposit_receipt_ref: Option<String>,
    pub deposit_confirmed_at: Option<DateTime<Utc>>,
    pub refund_receipt_ref: Option<String>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the owner collective sees of a registration: no personal data. Closed in the
/// document (`additionalProperties: false`, from `deny_unknown_fields`), so a full
/// registration never also matches this branch of `RegistrationItem`'s `oneOf`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSummary {
    pub id: String,
    pub status: RegistrationStatus,
    pub deposit_status: DepositStatus,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RegistrationItem {
    Full(Box<RegistrationOut>),
    Summary(RegistrationSummary),
}

/// The full view; the ID number is decrypted with `key` (its mask if it can't be).
fn out(key: &DataKey, r: Registration) -> RegistrationOut {
    RegistrationOut {
        phone: r.phone_in_clear(key),
        id_number: key
            .decrypt(&r.id_number_enc)
            .unwrap_or_else(|| r.id_number_masked.clone()),
        id_type: r.id_type,
        status: r.status,
        deposit_status: r.deposit_status,
        deposit_confirmed_at: r.deposit_confirmed_at.map(|t| t.and_utc()),
        refunded_at: r.refunded_at.map(|t| t.and_utc()),
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
        id: r.id,
        listing_id: r.listing_id,
        investor_id: r.investor_id,
        legal_name: r.legal_name,
        id_number_masked: r.id_number_masked,
        experience: r.experience,
        business_plan: r.business_plan,
        claims_membership: r.claims_membership,
        member_verified: r.member_verified,
        reject_reason: r.reject_reason,
        deposit_amount_fen: r.deposit_amount_fen,
        deposit_receipt_ref: r.deposit_receipt_ref,
        refund_receipt_ref: r.refund_receipt_ref,
    }
}

impl From<Registration> for RegistrationSummary {
    fn from(r: Registration) -> Self {
        RegistrationSummary {
            status: r.status,
            deposit_status: r.deposit_status,
            id: r.id,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationBody {
    /// Legal name of the person or company (受让方).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub legal_name: String,
    pub id_type: IdType,
    /// Resident ID (GB 11643) or unified social credit code (GB 32100), with its check character.
    pub id_number: String,
    #[schema(pattern = r"^\+?[0-9][0-9-]{3,18}[0-9]$")]
    pub phone: String,
    #[schema(max_length = 5000)]
    pub experience: String,
    #[schema(max_length = 10000)]
    pub business_plan: String,
    /// Claims to be a member of the listing's collective (本集体经济组织成员).
    pub claims_membership: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QualifyBody {
    /// Only if the investor claimed membership.
    pub member_verified: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositBody {
    /// Must equal the listing's deposit.
    pub amount_fen: i64,
    /// Bank receipt reference.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub receipt_ref: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub receipt_ref: String,
}

impl From<RegistrationBody> for RegisterInput {
    fn from(b: RegistrationBody) -> Self {
        RegisterInput {
            legal_name: b.legal_name,
            id_type: b.id_type,
            id_number: b.id_number,
            phone: b.phone,
            experience: b.experience,
            business_plan: b.business_plan,
            claims_membership: b.claims_membership,
        }
    }
}

impl From<QualifyBody> for QualifyInput {
    fn from(b: QualifyBody) -> Self {
        QualifyInput {
            member_verified: b.member_verified,
        }
    }
}

impl From<RejectBody> for RejectInput {
    fn from(b: RejectBody) -> Self {
        RejectInput { reason: b.reason }
    }
}

impl From<DepositBody> for DepositInput {
    fn from(b: DepositBody) -> Self {
        DepositInput {
            amount_fen: b.amount_fen,
            receipt_ref: b.receipt_ref,
        }
    }
}

impl From<RefundBody> for RefundInput {
    fn from(b: RefundBody) -> Self {
        RefundInput {
            receipt_ref: b.receipt_ref,
        }
    }
}

/// The body as the use case's input, parsed only when the use case asks for it (after its
/// access checks, as the contract orders them).
fn input<B, I>(body: web::Bytes) -> impl FnOnce() -> Result<I, ApiError>
where
    B: serde::de::DeserializeOwned + utoipa::PartialSchema + Into<I>,
{
    move || parse_body::<B>(&body).map(Into::into)
}

/// Register for an announced listing (investor with a verified e-mail).
#[utoipa::path(post, path = "/api/v1/listings/{id}/registrations", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    request_body = RegistrationBody,
    responses((status = 201, body = RegistrationOut), (status = 409, description = "registration closed, or already registered", body = crate::error::Problem)))]
pub async fn create_registration(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let r = db::run(&state.pool, move |conn| {
        app::registrations::register(&ctx, conn, &listing_id, input::<RegistrationBody, _>(body))
    })
    .await?;
    let o = out(&state.data_key, r);
    Ok(created(format!("/api/v1/registrations/{}", o.id), &o))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistrationListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    pub status: Option<RegistrationStatus>,
    pub deposit_status: Option<DepositStatus>,
}

/// Registrations of a listing: staff of its township and admins see everything; the owner
/// collective sees `{id, status, deposit_status}` only.
#[utoipa::path(get, path = "/api/v1/listings/{id}/registrations", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id"), RegistrationListQuery),
    responses((status = 200, body = Page<RegistrationItem>)))]
pub async fn list_listing_registrations(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    qs: web::Query<RegistrationListQuery>,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let qs = qs.into_inner();
    let page = PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let limit = page.limit;
    let ctx = state.ctx(Some(caller));
    let listed = db::run(&state.pool, move |conn| {
        app::registrations::list_for_listing(
            &ctx,
            conn,
            &listing_id,
            qs.status,
            qs.deposit_status,
            &page,
        )
    })
    .await?;
    let detail = listed.detail;
    let page = Page::from_rows(
        listed.rows,
        limit,
        |r| r.id.clone(),
        |r| match detail {
            Detail::Full => RegistrationItem::Full(Box::new(out(&state.data_key, r))),
            Detail::Summary => RegistrationItem::Summary(r.into()),
        },
    );
    Ok(HttpResponse::Ok().json(page))
}

/// One registration (its investor, the township's staff, admins).
#[utoipa::path(get, path = "/api/v1/registrations/{id}", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    responses((status = 200, body = RegistrationOut)))]
pub async fn get_registration(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let r = db::run(&state.pool, move |conn| {
        app::registrations::get(&ctx, conn, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out(&state.data_key, r)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyRegistrationsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// The caller's own registrations (investor).
#[utoipa::path(get, path = "/api/v1/me/registrations", tag = "registrations", security(("bearer" = [])),
    params(MyRegistrationsQuery),
    responses((status = 200, body = Page<RegistrationOut>)))]
pub async fn list_my_registrations(
    state: web::Data<AppState>,
    caller: Caller,
    qs: web::Query<MyRegistrationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let qs = qs.into_inner();
    // A bad page is answered after the role check (403 before 422), so the use case asks
    // for it.
    let page = PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req();
    let limit = page.as_ref().map_or(0, |p| p.limit);
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        app::registrations::mine(&ctx, conn, || page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        |r| out(&state.data_key, r),
    )))
}

/// Qualify a registration (township staff), optionally verifying its membership claim.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/qualify", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    request_body = QualifyBody,
    responses((status = 200, body = RegistrationOut), (status = 409, description = "not applied, or registration closed", body = crate::error::Problem)))]
pub async fn qualify_registration(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let r = db::run(&state.pool, move |conn| {
        app::registrations::qualify(&ctx, conn, &id, input::<QualifyBody, _>(body))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out(&state.data_key, r)))
}

/// Reject a registration with a reason (township staff); a confirmed deposit becomes due for
/// refund.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/reject", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    request_body = RejectBody,
    responses((status = 200, body = RegistrationOut), (status = 409, description = "not applied, or registration closed", body = crate::error::Problem)))]
pub async fn reject_registration(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let r = db::run(&state.pool, move |conn| {
        app::registrations::reject(&ctx, conn, &id, input::<RejectBody, _>(body))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out(&state.data_key, r)))
}

/// Record the deposit from the bank receipt (township staff).
#[utoipa::path(post, path = "/api/v1/registrations/{id}/deposit", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    request_body = DepositBody,
    responses((status = 200, body = RegistrationOut), (status = 409, description = "deposit already recorded, or registration closed", body = crate::error::Problem)))]
pub async fn confirm_deposit(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let r = db::run(&state.pool, move |conn| {
        app::registrations::confirm_deposit(&ctx, conn, &id, input::<DepositBody, _>(body))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out(&state.data_key, r)))
}

/// Mark a deposit refunded with the bank receipt (township staff; only `refund_due`).
#[utoipa::path(post, path = "/api/v1/registrations/{id}/refund", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    request_body = RefundBody,
    responses((status = 200, body = RegistrationOut), (status = 409, description = "deposit not refund_due", body = crate::error::Problem)))]
pub async fn refund_deposit(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let r = db::run(&state.pool, move |conn| {
        app::registrations::refund(&ctx, conn, &id, input::<RefundBody, _>(body))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out(&state.data_key, r)))
}
