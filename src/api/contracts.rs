//! Contracts (流转合同) and the rent schedule: reading, signing, certifying, cancelling,
//! terminating; installments and payments.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    created, parse_body, parse_empty, parse_id, query_id, word_list, Page, PageQuery, Routes,
};
use crate::app::contracts::{self, Cancellation, ContractView, Termination};
use crate::app::rent::{self, NewPayment};
use crate::auth::Caller;
use crate::db;
use crate::db::models::{Installment, Payment};
use crate::domain::contract::{ContractStatus, TerminationGround};
use crate::domain::installment::{InstallmentStatus, PaymentKind};
use crate::domain::money::format_mu;
use crate::domain::registration::IdType;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/api/v1/contracts", list_contracts)
        .add(Method::GET, "/api/v1/contracts/{id}", get_contract)
        .add(
            Method::GET,
            "/api/v1/contracts/{id}/document",
            get_contract_document,
        )
        .add(Method::POST, "/api/v1/contracts/{id}/sign", sign_contract)
        .add(
            Method::POST,
            "/api/v1/contracts/{id}/certify",
            certify_contract,
        )
        .add(
            Method::POST,
            "/api/v1/contracts/{id}/cancel",
            cancel_contract,
        )
        .add(
            Method::POST,
            "/api/v1/contracts/{id}/terminate",
            terminate_contract,
        )
        .add(
            Method::GET,
            "/api/v1/contracts/{id}/installments",
            list_contract_installments,
        )
        .add(Method::GET, "/api/v1/installments", list_installments)
        .add(
            Method::GET,
            "/api/v1/installments/{id}/payments",
            list_payments,
        )
        .add(
            Method::POST,
            "/api/v1/installments/{id}/payments",
            record_payment,
        );
}

/// 甲方: the village collective economic organisation, frozen when it signs.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferorOut {
    pub name: Option<String>,
    pub unified_social_credit_code: Option<String>,
    pub legal_representative: Option<String>,
}

/// 乙方: the winning investor, frozen from its registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransfereeOut {
    pub investor_id: String,
    pub legal_name: String,
    pub id_type: IdType,
    pub id_number_masked: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractParcelOut {
    pub parcel_id: String,
    pub code: String,
    pub location: String,
    #[schema(example = "158.31")]
    pub area_mu: String,
    pub land_type: crate::domain::parcel::LandType,
    pub quality_grade: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractOut {
    pub id: String,
    pub listing_id: String,
    pub deal_id: String,
    pub status: ContractStatus,
    /// 鉴证编号 `JD-<township>-<year>-<seq4>`, once certified.
    pub certification_no: Option<String>,
    pub village_id: String,
    pub township_id: String,
    pub transferor: TransferorOut,
    pub transferee: TransfereeOut,
    pub parcels: Vec<ContractParcelOut>,
    #[schema(example = "158.31")]
    pub total_area_mu: String,
    pub intended_use: crate::domain::listing::IntendedUse,
    pub term_start: NaiveDate,
    /// Inclusive.
    pub term_end: NaiveDate,
    /// The number of installments (a short last period counts as one).
    pub years: i64,
    /// Per mu per year.
    pub price_fen: i64,
    pub annual_rent_fen: i64,
    /// The sum of the installments' amounts.
    pub total_rent_fen: i64,
    /// The township's setting, snapshotted at certification.
    pub insurance_required: bool,
    pub transferor_signed_at: Option<DateTime<Utc>>,
    pub transferee_signed_at: Option<DateTime<Utc>>,
    pub certified_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub terminated_at: Option<DateTime<Utc>>,
    pub termination_ground: Option<TerminationGround>,
    pub termination_note: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn utc(t: Option<chrono::NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(|t| t.and_utc())
}

impl From<ContractView> for ContractOut {
    fn from(v: ContractView) -> Self {
        let c = v.contract;
        ContractOut {
            transferor: TransferorOut {
                name: c.transferor_name,
                unified_social_credit_code: c.transferor_credit_code,
                legal_representative: c.transferor_legal_representative,
            },
            transferee: TransfereeOut {
                investor_id: c.investor_id,
                legal_name: c.transferee_legal_name,
                id_type: c.transferee_id_type,
                id_number_masked: c.transferee_id_number_masked,
            },
            parcels: v
                .parcels
                .into_iter()
                .map(|p| ContractParcelOut {
                    parcel_id: p.parcel_id,
                    code: p.code,
                    location: p.location,
                    area_mu: format_mu(p.area_centimu),
                    land_type: p.land_type,
                    quality_grade: p.quality_grade,
                })
                .collect(),
            total_area_mu: format_mu(c.total_area_centimu),
            transferor_signed_at: utc(c.transferor_signed_at),
            transferee_signed_at: utc(c.transferee_signed_at),
            certified_at: utc(c.certified_at),
            activated_at: utc(c.activated_at),
            completed_at: utc(c.completed_at),
            terminated_at: utc(c.terminated_at),
            termination_ground: c
                .termination_ground
                .as_deref()
                .and_then(TerminationGround::parse),
            termination_note: c.termination_note,
            cancelled_at: utc(c.cancelled_at),
            cancel_reason: c.cancel_reason,
            created_at: c.created_at.and_utc(),
            id: c.id,
            listing_id: c.listing_id,
            deal_id: c.deal_id,
            status: c.status,
            certification_no: c.certification_no,
            village_id: c.village_id,
            township_id: c.township_id,
            intended_use: c.intended_use,
            term_start: c.term_start,
            term_end: c.term_end,
            years: c.years,
            price_fen: c.price_fen,
            annual_rent_fen: c.annual_rent_fen,
            total_rent_fen: c.total_rent_fen,
            insurance_required: c.insurance_required,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstallmentOut {
    pub id: String,
    pub contract_id: String,
    /// Contract year, 1-based.
    pub year: i64,
    pub period_start: NaiveDate,
    /// Inclusive.
    pub period_end: NaiveDate,
    pub due_date: NaiveDate,
    pub amount_fen: i64,
    /// Payments received, including the applied deposit.
    pub paid_fen: i64,
    /// Claim payouts.
    pub insurer_paid_fen: i64,
    pub outstanding_fen: i64,
    pub status: InstallmentStatus,
}

impl From<Installment> for InstallmentOut {
    fn from(i: Installment) -> Self {
        InstallmentOut {
            outstanding_fen: i.outstanding_fen(),
            id: i.id,
            contract_id: i.contract_id,
            year: i.year,
            period_start: i.period_start,
            period_end: i.period_end,
            due_date: i.due_date,
            amount_fen: i.amount_fen,
            paid_fen: i.paid_fen,
            insurer_paid_fen: i.insurer_paid_fen,
            status: i.status,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentOut {
    pub id: String,
    pub installment_id: String,
    pub amount_fen: i64,
    pub received_on: NaiveDate,
    pub receipt_ref: String,
    /// `payment`, or `deposit` for the winner's deposit applied at certification.
    pub kind: PaymentKind,
    pub recorded_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Payment> for PaymentOut {
    fn from(p: Payment) -> Self {
        PaymentOut {
            id: p.id,
            installment_id: p.installment_id,
            amount_fen: p.amount_fen,
            received_on: p.received_on,
            receipt_ref: p.receipt_ref,
            kind: p.kind,
            recorded_by: p.recorded_by,
            created_at: p.created_at.and_utc(),
        }
    }
}

/// A recorded payment and the installment after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedPaymentOut {
    #[serde(flatten)]
    pub payment: PaymentOut,
    pub installment: InstallmentOut,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContractListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    /// One status or several, comma-separated (`certified,active`).
    pub status: Option<String>,
    #[param(format = Uuid)]
    pub listing_id: Option<String>,
}

/// Contracts the caller may see: a collective its village's, an investor its own, staff
/// their township's, an insurer those its company insures, admins all.
#[utoipa::path(get, path = "/api/v1/contracts", tag = "contracts", security(("bearer" = [])),
    params(ContractListQuery),
    responses((status = 200, body = Page<ContractOut>)))]
pub async fn list_contracts(
    state: web::Data<AppState>,
    caller: Caller,
    qs: web::Query<ContractListQuery>,
) -> Result<HttpResponse, ApiError> {
    let qs = qs.into_inner();
    let page = PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let statuses = word_list(qs.status.as_deref(), "status", ContractStatus::parse)?;
    let listing_id = query_id(qs.listing_id, "listing_id")?;
    let limit = page.limit;
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        contracts::list(&ctx, conn, &statuses, listing_id.as_deref(), &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |v| v.contract.id.clone(),
        ContractOut::from,
    )))
}

/// One contract.
#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "contracts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contract id")),
    responses((status = 200, body = ContractOut)))]
pub async fn get_contract(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| contracts::get(&ctx, conn, &id)).await?;
    Ok(HttpResponse::Ok().json(ContractOut::from(v)))
}

/// The printable contract (土地经营权流转合同), Chinese HTML with a print stylesheet (A4):
/// every clause, amounts in figures and in capitals (大写), signatures and certification.
/// The parties, the township's staff and admins see the transferee's full ID number; an
/// insurer sees it masked.
#[utoipa::path(get, path = "/api/v1/contracts/{id}/document", tag = "contracts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contract id")),
    responses((status = 200, description = "the printable contract", content_type = "text/html; charset=utf-8", body = String)))]
pub async fn get_contract_document(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let html = db::run(&state.pool, move |conn| {
        crate::app::contract_document::render(&ctx, conn, &id)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(html))
}

/// Sign (the owner collective as 甲方, freezing the village's legal identity; the transferee
/// investor as 乙方). Both signed → `signed`.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/sign", tag = "contracts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contract id")),
    responses((status = 200, body = ContractOut),
        (status = 409, description = "not a draft, or this party signed already", body = crate::error::Problem),
        (status = 422, description = "`transferor`: the village lacks its legal identity", body = crate::error::Problem)))]
pub async fn sign_contract(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let valid_body = parse_empty(&body);
    let v = db::run(&state.pool, move |conn| {
        contracts::sign(&ctx, conn, &id, valid_body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ContractOut::from(v)))
}

/// Certify (鉴证; staff of the township): the certification number, the rent schedule, the
/// deposit applied to year 1, the listing `contracted`. → `active`, or `certified` while the
/// township requires insurance (active once year 1's policy is issued).
#[utoipa::path(post, path = "/api/v1/contracts/{id}/certify", tag = "contracts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contract id")),
    responses((status = 200, body = ContractOut),
        (status = 409, description = "not signed, or its term has ended", body = crate::error::Problem)))]
pub async fn certify_contract(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let valid_body = parse_empty(&body);
    let v = db::run(&state.pool, move |conn| {
        contracts::certify(&ctx, conn, &id, valid_body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ContractOut::from(v)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelContractBody {
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub reason: String,
    /// The transferee refused to sign: its deposit is forfeited (default false: refunded).
    pub forfeit: Option<bool>,
}

/// Cancel before certification (staff of the township): the listing fails (it may be
/// relisted), the parcels unlock, the winner's deposit is refunded or forfeited.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/cancel", tag = "contracts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contract id")), request_body = CancelContractBody,
    responses((status = 200, body = ContractOut),
        (status = 409, description = "not draft or signed", body = crate::error::Problem)))]
pub async fn cancel_contract(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let body = parse_body::<CancelContractBody>(&body).map(|b| Cancellation {
        reason: b.reason,
        forfeit: b.forfeit.unwrap_or(false),
    });
    let v = db::run(&state.pool, move |conn| {
        contracts::cancel(&ctx, conn, &id, body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ContractOut::from(v)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminateContractBody {
    pub ground: TerminationGround,
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub note: String,
}

/// Terminate (解除; the owner collective or the township's staff): later periods are
/// cancelled, the parcels unlock at once; arrears stay owed.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/terminate", tag = "contracts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contract id")), request_body = TerminateContractBody,
    responses((status = 200, body = ContractOut),
        (status = 409, description = "not certified or active", body = crate::error::Problem),
        (status = 422, description = "`ground`: rent_default without a defaulted installment", body = crate::error::Problem)))]
pub async fn terminate_contract(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let body = parse_body::<TerminateContractBody>(&body).map(|b| Termination {
        ground: b.ground,
        note: b.note,
    });
    let v = db::run(&state.pool, move |conn| {
        contracts::terminate(&ctx, conn, &id, body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ContractOut::from(v)))
}

/// The rent schedule of a contract, by year (empty before certification).
#[utoipa::path(get, path = "/api/v1/contracts/{id}/installments", tag = "rent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contract id")),
    responses((status = 200, body = Page<InstallmentOut>)))]
pub async fn list_contract_installments(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        rent::installments_of_contract(&ctx, conn, &id)
    })
    .await?;
    // A contract has at most a few dozen installments: one page.
    Ok(HttpResponse::Ok().json(Page {
        items: rows.into_iter().map(InstallmentOut::from).collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstallmentListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    /// One status or several, comma-separated (`overdue,defaulted`).
    pub status: Option<String>,
    #[param(format = Uuid)]
    pub township_id: Option<String>,
    #[param(format = Uuid)]
    pub village_id: Option<String>,
}

/// Installments the caller may see (staff: their township's; collective: its village's;
/// investor: its own; insurer: those its policies cover; admin: all) — e.g. the overdue and
/// default overview with `status=overdue,defaulted`.
#[utoipa::path(get, path = "/api/v1/installments", tag = "rent", security(("bearer" = [])),
    params(InstallmentListQuery),
    responses((status = 200, body = Page<InstallmentOut>)))]
pub async fn list_installments(
    state: web::Data<AppState>,
    caller: Caller,
    qs: web::Query<InstallmentListQuery>,
) -> Result<HttpResponse, ApiError> {
    let qs = qs.into_inner();
    let page = PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let statuses = word_list(qs.status.as_deref(), "status", InstallmentStatus::parse)?;
    let township_id = query_id(qs.township_id, "township_id")?;
    let village_id = query_id(qs.village_id, "village_id")?;
    let limit = page.limit;
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        rent::list_installments(
            &ctx,
            conn,
            &statuses,
            township_id.as_deref(),
            village_id.as_deref(),
            &page,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |i| i.id.clone(),
        InstallmentOut::from,
    )))
}

/// Payments of an installment (whoever may read the contract), in recording order.
#[utoipa::path(get, path = "/api/v1/installments/{id}/payments", tag = "rent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "installment id"), PageQuery),
    responses((status = 200, body = Page<PaymentOut>)))]
pub async fn list_payments(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let page = q.to_req()?;
    let limit = page.limit;
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        rent::payments_of(&ctx, conn, &id, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |p| p.id.clone(),
        PaymentOut::from,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// At least 1, at most what is outstanding.
    #[schema(minimum = 1)]
    pub amount_fen: i64,
    /// The date the money was received (not in the future, Shanghai calendar).
    pub received_on: NaiveDate,
    /// Receipt or bank reference.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub receipt_ref: String,
}

/// Record rent received (the owner collective or the township's staff).
#[utoipa::path(post, path = "/api/v1/installments/{id}/payments", tag = "rent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "installment id")), request_body = PaymentBody,
    responses((status = 201, body = RecordedPaymentOut),
        (status = 409, description = "paid, covered, cancelled, or a claim is open", body = crate::error::Problem),
        (status = 422, description = "`amount_fen` above what is outstanding, a future date…", body = crate::error::Problem)))]
pub async fn record_payment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let body = parse_body::<PaymentBody>(&body).map(|b| NewPayment {
        amount_fen: b.amount_fen,
        received_on: b.received_on,
        receipt_ref: b.receipt_ref,
    });
    let (p, i) = db::run(&state.pool, move |conn| {
        rent::record_payment(&ctx, conn, &id, body)
    })
    .await?;
    let location = format!("/api/v1/installments/{}/payments", p.installment_id);
    Ok(created(
        location,
        &RecordedPaymentOut {
            payment: PaymentOut::from(p),
            installment: InstallmentOut::from(i),
        },
    ))
}
