//! Registrations (报名), qualification review and deposits (保证金). Personal data (ID
//! numbers, phones) is shown in full only to the registrant, the township's staff and admins.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, parse_body, parse_id, Page, Routes};
use crate::app::audit as app_audit;
use crate::app::deposits;
use crate::app::trading::settle;
use crate::audit::Actor;
use crate::auth::{listing_visible, Caller};
use crate::db::listings as lq;
use crate::db::models::{Listing, Registration};
use crate::db::registrations::{self as rq, RegistrationFilter};
use crate::db::{self, DbConn};
use crate::domain::registration::{
    mask_id, may_verify_membership, registration_open as domain_registration_open, valid_id_number,
    DepositEvent, DepositStatus, IdType, RegistrationStatus,
};
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(
        Method::POST,
        "/api/v1/listings/{id}/registrations",
        register,
    )
    .add(
        Method::GET,
        "/api/v1/listings/{id}/registrations",
        list_for_listing,
    )
    .add(Method::GET, "/api/v1/registrations/{id}", get_registration)
    .add(Method::GET, "/api/v1/me/registrations", my_registrations)
    .add(Method::POST, "/api/v1/registrations/{id}/qualify", qualify)
    .add(Method::POST, "/api/v1/registrations/{id}/reject", reject)
    .add(
        Method::POST,
        "/api/v1/registrations/{id}/deposit",
        confirm_deposit,
    )
    .add(Method::POST, "/api/v1/registrations/{id}/refund", refund);
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

/// What the owner collective sees of a registration: no personal data.
#[derive(Debug, Serialize, ToSchema)]
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

fn out(state: &AppState, r: Registration) -> RegistrationOut {
    RegistrationOut {
        id_number: state
            .data_key
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
        phone: r.phone,
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

fn summary(r: Registration) -> RegistrationSummary {
    RegistrationSummary {
        status: r.status,
        deposit_status: r.deposit_status,
        id: r.id,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Legal name of the person or company (受让方).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
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
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositBody {
    /// Must equal the listing's deposit.
    pub amount_fen: i64,
    /// Bank receipt reference.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub receipt_ref: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub receipt_ref: String,
}

fn registration_open(l: &Listing, now: DateTime<Utc>) -> bool {
    domain_registration_open(l.status, l.registration_closes_at.and_utc(), now)
}

/// Register for an announced listing (investor with a verified e-mail).
#[utoipa::path(post, path = "/api/v1/listings/{id}/registrations", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    request_body = RegisterBody,
    responses((status = 201, body = RegistrationOut), (status = 409, description = "registration closed, or already registered", body = crate::error::Problem)))]
pub async fn register(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let st = state.clone();
    let r = db::run(&state.pool, move |conn| {
        let l = settle(conn, &listing_id, now, &rules)?.ok_or(ApiError::NotFound)?;
        if !listing_visible(Some(&caller), &l) {
            return Err(ApiError::NotFound);
        }
        caller.require(&[Role::Investor])?;
        if !caller.email_verified {
            return Err(ApiError::Forbidden("verify your e-mail address before registering".into()));
        }
        if !registration_open(&l, now) {
            return Err(ApiError::InvalidState("registration is not open for this listing".into()));
        }
        if rq::find_by_investor(conn, &l.id, &caller.id)?.is_some() {
            return Err(ApiError::Conflict("you already registered for this listing".into()));
        }
        let b: RegisterBody = parse_body(&body)?;
        let mut errors = Vec::new();
        if let Err(m) = validate::text(&b.legal_name, 200) {
            errors.push(FieldError::new("legal_name", m));
        }
        let id_number = b.id_number.trim().to_ascii_uppercase();
        if !valid_id_number(b.id_type, &id_number) {
            errors.push(FieldError::new("id_number", format!("is not a valid {}", b.id_type.as_str())));
        }
        if let Err(m) = validate::phone(&b.phone) {
            errors.push(FieldError::new("phone", m));
        }
        if b.experience.chars().count() > 5000 {
            errors.push(FieldError::new("experience", "must be at most 5000 characters"));
        }
        if b.business_plan.chars().count() > 10000 {
            errors.push(FieldError::new("business_plan", "must be at most 10000 characters"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let r = Registration {
            id: uuid::Uuid::now_v7().to_string(),
            listing_id: l.id.clone(),
            investor_id: caller.id.clone(),
            legal_name: b.legal_name.trim().to_string(),
            id_type: b.id_type,
            id_number_enc: st.data_key.encrypt(&id_number),
            id_number_masked: mask_id(&id_number),
            phone: b.phone,
            experience: b.experience,
            business_plan: b.business_plan,
            claims_membership: b.claims_membership,
            member_verified: false,
            status: RegistrationStatus::Applied,
            reject_reason: None,
            reviewed_at: None,
            deposit_status: DepositStatus::Unpaid,
            deposit_amount_fen: None,
            deposit_receipt_ref: None,
            deposit_confirmed_at: None,
            refund_receipt_ref: None,
            refunded_at: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        };
        db::write_tx(conn, |conn| {
            // Re-read inside the write lock: registration may have closed meanwhile.
            let l = lq::find_listing_for_update(conn, &l.id)?.ok_or(ApiError::NotFound)?;
            if !registration_open(&l, now) {
                return Err(ApiError::InvalidState("registration is not open for this listing".into()));
            }
            rq::insert(conn, &r).map_err(db::unique_or(|| {
                ApiError::Conflict("you already registered for this listing".into())
            }))?;
            app_audit::audit_registration(conn, Actor::of(&caller), &r, "registration.applied", "registration", "none", "applied", None, now)?;
            deposits::mail_investor(conn, &r, "报名已受理 Registration received", &format!("您对挂牌项目“{}”的报名已受理，请按公告缴纳保证金并等待资格审查。Your registration was received.", l.title), now)?;
            Ok(())
        })?;
        Ok(r)
    })
    .await?;
    let o = out(&state, r);
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
pub async fn list_for_listing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    qs: web::Query<RegistrationListQuery>,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let qs = qs.into_inner();
    let page = super::PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let limit = page.limit;
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let (rows, full) = db::run(&state.pool, move |conn| {
        let l = settle(conn, &listing_id, now, &rules)?.ok_or(ApiError::NotFound)?;
        if !listing_visible(Some(&caller), &l) {
            return Err(ApiError::NotFound);
        }
        let full = caller.oversees_township(&l.township_id);
        let owner = caller.is_collective_of(&l.village_id);
        if !full && !owner {
            return Err(ApiError::Forbidden(
                "only the township's staff, admins and the owner collective see registrations"
                    .into(),
            ));
        }
        let f = RegistrationFilter {
            listing_id: Some(l.id.clone()),
            investor_id: None,
            status: qs.status.map(|s| s.as_str().to_string()),
            deposit_status: qs.deposit_status.map(|s| s.as_str().to_string()),
        };
        Ok((rq::list(conn, &f, page.after.as_deref(), page.limit)?, full))
    })
    .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        |r| {
            if full {
                RegistrationItem::Full(Box::new(out(&state, r)))
            } else {
                RegistrationItem::Summary(summary(r))
            }
        },
    );
    Ok(HttpResponse::Ok().json(page))
}

/// Loads a registration and its listing for `caller`: its investor, the township's staff and
/// admins may see it (else 404).
fn visible_registration(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(Registration, Listing), ApiError> {
    let r = rq::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let l = lq::find_listing(conn, &r.listing_id)?.ok_or(ApiError::NotFound)?;
    if r.investor_id != caller.id && !caller.oversees_township(&l.township_id) {
        return Err(ApiError::NotFound);
    }
    Ok((r, l))
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
    let (r, _) = db::run(&state.pool, move |conn| {
        visible_registration(conn, &caller, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out(&state, r)))
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
pub async fn my_registrations(
    state: web::Data<AppState>,
    caller: Caller,
    qs: web::Query<MyRegistrationsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Investor])?;
    let qs = qs.into_inner();
    let page = super::PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let limit = page.limit;
    let rows = db::run(&state.pool, move |conn| {
        let f = RegistrationFilter {
            listing_id: None,
            investor_id: Some(caller.id.clone()),
            status: None,
            deposit_status: None,
        };
        Ok(rq::list(conn, &f, page.after.as_deref(), page.limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        |r| out(&state, r),
    )))
}

/// Shared frame of the staff actions: settle the listing, check scope (404/403), then run
/// `act` in one write transaction on the locked listing.
async fn staff_action<B, F>(
    state: &web::Data<AppState>,
    caller: Caller,
    id: String,
    body: web::Bytes,
    act: F,
) -> Result<HttpResponse, ApiError>
where
    B: serde::de::DeserializeOwned + utoipa::PartialSchema + Send + 'static,
    F: FnOnce(
            &mut DbConn,
            &Caller,
            &mut Registration,
            &Listing,
            B,
            DateTime<Utc>,
        ) -> Result<(), ApiError>
        + Send
        + 'static,
{
    let id = parse_id(&id)?;
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let r = db::run(&state.pool, move |conn| {
        let (r, _) = visible_registration(conn, &caller, &id)?;
        settle(conn, &r.listing_id, now, &rules)?;
        db::write_tx(conn, |conn| {
            let l = lq::find_listing_for_update(conn, &r.listing_id)?.ok_or(ApiError::NotFound)?;
            let mut r = rq::find(conn, &id)?.ok_or(ApiError::NotFound)?;
            if !caller.is_staff_of(&l.township_id) {
                return Err(ApiError::Forbidden(
                    "only the township's staff may do this".into(),
                ));
            }
            let b: B = parse_body(&body)?;
            act(conn, &caller, &mut r, &l, b, now)?;
            Ok(r)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out(state, r)))
}

fn review_open(l: &Listing, now: DateTime<Utc>) -> Result<(), ApiError> {
    if registration_open(l, now) {
        Ok(())
    } else {
        Err(ApiError::InvalidState(
            "registration has closed: the eligible bidders are fixed".into(),
        ))
    }
}

/// Qualify a registration (township staff), optionally verifying its membership claim.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/qualify", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    request_body = QualifyBody,
    responses((status = 200, body = RegistrationOut), (status = 409, description = "not applied, or registration closed", body = crate::error::Problem)))]
pub async fn qualify(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    staff_action(
        &state,
        caller,
        id.into_inner(),
        body,
        |conn, caller, r, l, b: QualifyBody, now| {
            if r.status != RegistrationStatus::Applied {
                return Err(ApiError::InvalidState(format!(
                    "registration is already {}",
                    r.status
                )));
            }
            review_open(l, now)?;
            let verified = b.member_verified.unwrap_or(false);
            if !may_verify_membership(r.claims_membership, verified) {
                return Err(ApiError::field(
                    "member_verified",
                    "the investor did not claim membership",
                ));
            }
            r.status = RegistrationStatus::Qualified;
            r.member_verified = verified;
            r.reviewed_at = Some(now.naive_utc());
            r.updated_at = now.naive_utc();
            rq::save(conn, r)?;
            app_audit::audit_registration(
                conn,
                Actor::of(caller),
                r,
                "registration.qualified",
                "registration",
                "applied",
                "qualified",
                None,
                now,
            )?;
            deposits::mail_investor(
                conn,
                r,
                "资格审查通过 Registration qualified",
                &format!("您对“{}”的竞买资格审查已通过。You are qualified.", l.title),
                now,
            )
        },
    )
    .await
}

/// Reject a registration with a reason (township staff); a confirmed deposit becomes due for
/// refund.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/reject", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    request_body = RejectBody,
    responses((status = 200, body = RegistrationOut), (status = 409, description = "not applied, or registration closed", body = crate::error::Problem)))]
pub async fn reject(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    staff_action(
        &state,
        caller,
        id.into_inner(),
        body,
        |conn, caller, r, l, b: RejectBody, now| {
            validate::text(&b.reason, 2000).map_err(|m| ApiError::field("reason", m))?;
            if r.status != RegistrationStatus::Applied {
                return Err(ApiError::InvalidState(format!(
                    "registration is already {}",
                    r.status
                )));
            }
            review_open(l, now)?;
            r.status = RegistrationStatus::Rejected;
            r.reject_reason = Some(b.reason.trim().to_string());
            r.reviewed_at = Some(now.naive_utc());
            r.updated_at = now.naive_utc();
            rq::save(conn, r)?;
            let actor = Actor::of(caller);
            app_audit::audit_registration(
                conn,
                actor,
                r,
                "registration.rejected",
                "registration",
                "applied",
                "rejected",
                Some(b.reason.trim()),
                now,
            )?;
            deposits::mail_investor(
                conn,
                r,
                "资格审查未通过 Registration rejected",
                &format!(
                    "您对“{}”的报名未通过资格审查，原因：{}。Your registration was rejected.",
                    l.title,
                    b.reason.trim()
                ),
                now,
            )?;
            deposits::move_deposit(
                conn,
                r,
                DepositEvent::Release,
                actor,
                Some("registration rejected"),
                now,
            )?;
            Ok(())
        },
    )
    .await
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
    staff_action(
        &state,
        caller,
        id.into_inner(),
        body,
        |conn, caller, r, l, b: DepositBody, now| {
            if r.status == RegistrationStatus::Rejected || r.deposit_status != DepositStatus::Unpaid
            {
                return Err(ApiError::InvalidState(format!(
                    "cannot record a deposit: registration {}, deposit {}",
                    r.status, r.deposit_status
                )));
            }
            review_open(l, now)?;
            let mut errors = Vec::new();
            if b.amount_fen != l.deposit_fen {
                errors.push(FieldError::new(
                    "amount_fen",
                    format!("must equal the listing's deposit ({} fen)", l.deposit_fen),
                ));
            }
            if let Err(m) = validate::text(&b.receipt_ref, 200) {
                errors.push(FieldError::new("receipt_ref", m));
            }
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            r.deposit_amount_fen = Some(b.amount_fen);
            r.deposit_receipt_ref = Some(b.receipt_ref.trim().to_string());
            r.deposit_confirmed_at = Some(now.naive_utc());
            deposits::move_deposit(conn, r, DepositEvent::Confirm, Actor::of(caller), None, now)?;
            Ok(())
        },
    )
    .await
}

/// Mark a deposit refunded with the bank receipt (township staff; only `refund_due`).
#[utoipa::path(post, path = "/api/v1/registrations/{id}/refund", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "registration id")),
    request_body = RefundBody,
    responses((status = 200, body = RegistrationOut), (status = 409, description = "deposit not refund_due", body = crate::error::Problem)))]
pub async fn refund(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    staff_action(
        &state,
        caller,
        id.into_inner(),
        body,
        |conn, caller, r, _l, b: RefundBody, now| {
            validate::text(&b.receipt_ref, 200).map_err(|m| ApiError::field("receipt_ref", m))?;
            if r.deposit_status != DepositStatus::RefundDue {
                return Err(ApiError::InvalidState(format!(
                    "deposit is {}, not refund_due",
                    r.deposit_status
                )));
            }
            r.refund_receipt_ref = Some(b.receipt_ref.trim().to_string());
            r.refunded_at = Some(now.naive_utc());
            deposits::move_deposit(conn, r, DepositEvent::Refund, Actor::of(caller), None, now)?;
            Ok(())
        },
    )
    .await
}
