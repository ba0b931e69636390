//! Performance insurance (履约保证保险): quotes and policies; claims (理赔), the insurer's
//! decisions and payout, recoveries (追偿).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    created, parse_body, parse_empty, parse_id, query_id, word_list, Page, PageQuery, Routes,
};
use crate::app::claims::{self, Decision, NewClaim, NewRecovery};
use crate::app::policies::{self, NewQuote};
use crate::auth::Caller;
use crate::db;
use crate::db::models::{Claim, Policy, Recovery};
use crate::domain::claim::ClaimStatus;
use crate::domain::policy::PolicyStatus;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/policies", quote_policy)
        .add(Method::GET, "/api/v1/policies", list_policies)
        .add(Method::GET, "/api/v1/policies/{id}", get_policy)
        .add(Method::POST, "/api/v1/policies/{id}/issue", issue_policy)
        .add(Method::POST, "/api/v1/policies/{id}/cancel", cancel_policy)
        .add(Method::POST, "/api/v1/claims", file_claim)
        .add(Method::GET, "/api/v1/claims", list_claims)
        .add(Method::GET, "/api/v1/claims/{id}", get_claim)
        .add(Method::POST, "/api/v1/claims/{id}/review", review_claim)
        .add(Method::POST, "/api/v1/claims/{id}/approve", approve_claim)
        .add(Method::POST, "/api/v1/claims/{id}/reject", reject_claim)
        .add(Method::POST, "/api/v1/claims/{id}/pay", pay_claim)
        .add(
            Method::POST,
            "/api/v1/claims/{id}/write-off",
            write_off_claim,
        )
        .add(
            Method::POST,
            "/api/v1/claims/{id}/recoveries",
            record_recovery,
        );
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyOut {
    pub id: String,
    /// The insurer's policy number, once issued.
    pub policy_no: Option<String>,
    pub contract_id: String,
    pub installment_id: String,
    /// The contract year insured.
    pub year: i64,
    pub insurer_id: String,
    pub status: PolicyStatus,
    pub period_start: NaiveDate,
    /// Inclusive.
    pub period_end: NaiveDate,
    /// The installment's full amount.
    pub sum_insured_fen: i64,
    pub premium_rate_bp: i64,
    pub premium_fen: i64,
    pub subsidy_share_bp: i64,
    /// Paid by the government.
    pub subsidy_fen: i64,
    /// Paid by the operator: premium − subsidy.
    pub holder_premium_fen: i64,
    pub issued_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Policy> for PolicyOut {
    fn from(p: Policy) -> Self {
        PolicyOut {
            id: p.id,
            policy_no: p.policy_no,
            contract_id: p.contract_id,
            installment_id: p.installment_id,
            year: p.year,
            insurer_id: p.insurer_id,
            status: p.status,
            period_start: p.period_start,
            period_end: p.period_end,
            sum_insured_fen: p.sum_insured_fen,
            premium_rate_bp: p.premium_rate_bp,
            premium_fen: p.premium_fen,
            subsidy_share_bp: p.subsidy_share_bp,
            subsidy_fen: p.subsidy_fen,
            holder_premium_fen: p.holder_premium_fen,
            issued_at: p.issued_at.map(|t| t.and_utc()),
            created_at: p.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimOut {
    pub id: String,
    /// `LP-<insurer code>-<year>-<seq4>`.
    pub claim_no: String,
    pub policy_id: String,
    pub installment_id: String,
    pub contract_id: String,
    pub insurer_id: String,
    pub status: ClaimStatus,
    /// What was outstanding at filing, capped at the sum insured.
    pub claimed_fen: i64,
    pub approved_fen: Option<i64>,
    pub paid_fen: i64,
    pub recovered_fen: i64,
    pub note: String,
    pub decided_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Claim> for ClaimOut {
    fn from(c: Claim) -> Self {
        ClaimOut {
            id: c.id,
            claim_no: c.claim_no,
            policy_id: c.policy_id,
            installment_id: c.installment_id,
            contract_id: c.contract_id,
            insurer_id: c.insurer_id,
            status: c.status,
            claimed_fen: c.claimed_fen,
            approved_fen: c.approved_fen,
            paid_fen: c.paid_fen,
            recovered_fen: c.recovered_fen,
            note: c.note,
            decided_reason: c.decided_reason,
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryOut {
    pub id: String,
    pub claim_id: String,
    pub amount_fen: i64,
    pub received_on: NaiveDate,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub reference: String,
    pub recorded_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The claim after the recovery.
    pub claim: ClaimOut,
}

fn recovery_out(r: Recovery, c: Claim) -> RecoveryOut {
    RecoveryOut {
        id: r.id,
        claim_id: r.claim_id,
        amount_fen: r.amount_fen,
        received_on: r.received_on,
        reference: r.reference,
        recorded_by: r.recorded_by,
        created_at: r.created_at.and_utc(),
        claim: ClaimOut::from(c),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    #[schema(format = Uuid)]
    pub contract_id: String,
    /// The contract year to insure, 1-based.
    #[schema(minimum = 1)]
    pub year: i64,
    #[schema(format = Uuid)]
    pub insurer_id: String,
}

/// Request a quote for a contract year (the transferee investor or the township's staff):
/// sum insured = the installment, premium and the government's subsidy in fen.
#[utoipa::path(post, path = "/api/v1/policies", tag = "insurance", security(("bearer" = [])),
    request_body = QuoteBody,
    responses((status = 201, body = PolicyOut),
        (status = 409, description = "contract not certified/active, the year ended or its installment defaulted/covered/cancelled (`invalid_state`); a live policy for the year (`conflict`)", body = crate::error::Problem)))]
pub async fn quote_policy(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let ctx = state.ctx(Some(caller));
    let body = parse_body::<QuoteBody>(&body).map(|b| NewQuote {
        contract_id: b.contract_id,
        year: b.year,
        insurer_id: b.insurer_id,
    });
    let p = db::run(&state.pool, move |conn| policies::quote(&ctx, conn, body)).await?;
    Ok(created(
        format!("/api/v1/policies/{}", p.id),
        &PolicyOut::from(p),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PolicyListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    #[param(format = Uuid)]
    pub contract_id: Option<String>,
    /// One status or several, comma-separated.
    pub status: Option<String>,
}

/// Policies the caller may see (insurer: its company's; investor: its own; collective: its
/// village's; staff: its township's; admin: all).
#[utoipa::path(get, path = "/api/v1/policies", tag = "insurance", security(("bearer" = [])),
    params(PolicyListQuery), responses((status = 200, body = Page<PolicyOut>)))]
pub async fn list_policies(
    state: web::Data<AppState>,
    caller: Caller,
    qs: web::Query<PolicyListQuery>,
) -> Result<HttpResponse, ApiError> {
    let qs = qs.into_inner();
    let page = PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let statuses = word_list(qs.status.as_deref(), "status", PolicyStatus::parse)?;
    let contract_id = query_id(qs.contract_id, "contract_id")?;
    let limit = page.limit;
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        policies::list(&ctx, conn, contract_id.as_deref(), &statuses, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |p| p.id.clone(),
        PolicyOut::from,
    )))
}

/// One policy.
#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "insurance", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "policy id")),
    responses((status = 200, body = PolicyOut)))]
pub async fn get_policy(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let p = db::run(&state.pool, move |conn| policies::get(&ctx, conn, &id)).await?;
    Ok(HttpResponse::Ok().json(PolicyOut::from(p)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// The insurer's own number, unique per insurer.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub policy_no: String,
}

/// Issue a quoted policy (an insurer user of its company) → `issued`, or `active` if its
/// period has started. Issuing year 1 activates a certified contract.
#[utoipa::path(post, path = "/api/v1/policies/{id}/issue", tag = "insurance", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "policy id")), request_body = IssueBody,
    responses((status = 200, body = PolicyOut),
        (status = 409, description = "not quoted (`invalid_state`); the policy number is taken (`conflict`)", body = crate::error::Problem)))]
pub async fn issue_policy(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let no = parse_body::<IssueBody>(&body).map(|b| b.policy_no);
    let p = db::run(&state.pool, move |conn| {
        policies::issue(&ctx, conn, &id, no)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PolicyOut::from(p)))
}

/// Withdraw a quote (the holder or the township's staff; `quoted` only).
#[utoipa::path(post, path = "/api/v1/policies/{id}/cancel", tag = "insurance", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "policy id")),
    responses((status = 200, body = PolicyOut),
        (status = 409, description = "not quoted", body = crate::error::Problem)))]
pub async fn cancel_policy(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let valid = parse_empty(&body);
    let p = db::run(&state.pool, move |conn| {
        policies::cancel(&ctx, conn, &id, valid)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PolicyOut::from(p)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    #[schema(format = Uuid)]
    pub installment_id: String,
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub note: String,
}

/// File a claim on a defaulted installment (the owner collective or the township's staff).
#[utoipa::path(post, path = "/api/v1/claims", tag = "claims", security(("bearer" = [])),
    request_body = ClaimBody,
    responses((status = 201, body = ClaimOut),
        (status = 409, description = "not defaulted or no policy issued before the default (`invalid_state`); an open claim already (`conflict`)", body = crate::error::Problem)))]
pub async fn file_claim(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let ctx = state.ctx(Some(caller));
    let body = parse_body::<ClaimBody>(&body).map(|b| NewClaim {
        installment_id: b.installment_id,
        note: b.note,
    });
    let c = db::run(&state.pool, move |conn| claims::file(&ctx, conn, body)).await?;
    Ok(created(
        format!("/api/v1/claims/{}", c.id),
        &ClaimOut::from(c),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    /// One status or several, comma-separated.
    pub status: Option<String>,
}

/// Claims the caller may see (insurer: its company's; collective: its village's; staff: its
/// township's; investor: those on its contracts; admin: all).
#[utoipa::path(get, path = "/api/v1/claims", tag = "claims", security(("bearer" = [])),
    params(ClaimListQuery), responses((status = 200, body = Page<ClaimOut>)))]
pub async fn list_claims(
    state: web::Data<AppState>,
    caller: Caller,
    qs: web::Query<ClaimListQuery>,
) -> Result<HttpResponse, ApiError> {
    let qs = qs.into_inner();
    let page = PageQuery {
        limit: qs.limit,
        cursor: qs.cursor,
    }
    .to_req()?;
    let statuses = word_list(qs.status.as_deref(), "status", ClaimStatus::parse)?;
    let limit = page.limit;
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        claims::list(&ctx, conn, &statuses, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |c| c.id.clone(),
        ClaimOut::from,
    )))
}

/// One claim.
#[utoipa::path(get, path = "/api/v1/claims/{id}", tag = "claims", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "claim id")),
    responses((status = 200, body = ClaimOut)))]
pub async fn get_claim(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let c = db::run(&state.pool, move |conn| claims::get(&ctx, conn, &id)).await?;
    Ok(HttpResponse::Ok().json(ClaimOut::from(c)))
}

async fn decide(
    state: web::Data<AppState>,
    caller: Caller,
    id: &str,
    decision: Result<Decision, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(id)?;
    let ctx = state.ctx(Some(caller));
    let c = db::run(&state.pool, move |conn| {
        claims::decide(&ctx, conn, &id, decision)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ClaimOut::from(c)))
}

/// Start reviewing a filed claim (its insurer).
#[utoipa::path(post, path = "/api/v1/claims/{id}/review", tag = "claims", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "claim id")),
    responses((status = 200, body = ClaimOut), (status = 409, description = "not filed", body = crate::error::Problem)))]
pub async fn review_claim(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let d = parse_empty(&body).map(|_| Decision::Review);
    decide(state, caller, &id, d).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Default: the claimed amount; 1 ≤ approved ≤ claimed.
    #[schema(minimum = 1)]
    pub approved_fen: Option<i64>,
}

/// Approve a filed or reviewed claim (its insurer).
#[utoipa::path(post, path = "/api/v1/claims/{id}/approve", tag = "claims", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "claim id")), request_body = ApproveBody,
    responses((status = 200, body = ClaimOut), (status = 409, description = "not filed or under review", body = crate::error::Problem)))]
pub async fn approve_claim(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let d = parse_body::<ApproveBody>(&body).map(|b| Decision::Approve {
        approved_fen: b.approved_fen,
    });
    decide(state, caller, &id, d).await
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

/// Reject a filed or reviewed claim (its insurer); the policy returns to its dated state.
#[utoipa::path(post, path = "/api/v1/claims/{id}/reject", tag = "claims", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "claim id")), request_body = ReasonBody,
    responses((status = 200, body = ClaimOut), (status = 409, description = "not filed or under review", body = crate::error::Problem)))]
pub async fn reject_claim(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let d = parse_body::<ReasonBody>(&body).map(|b| Decision::Reject { reason: b.reason });
    decide(state, caller, &id, d).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub payment_ref: String,
}

/// Pay an approved claim (its insurer): the installment's `insurer_paid_fen` grows; it is
/// `covered` when nothing is left outstanding.
#[utoipa::path(post, path = "/api/v1/claims/{id}/pay", tag = "claims", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "claim id")), request_body = PayBody,
    responses((status = 200, body = ClaimOut), (status = 409, description = "not approved", body = crate::error::Problem)))]
pub async fn pay_claim(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let d = parse_body::<PayBody>(&body).map(|b| Decision::Pay {
        payment_ref: b.payment_ref,
    });
    decide(state, caller, &id, d).await
}

/// Write off what can't be recovered (its insurer; `paid` or `recovery_open`).
#[utoipa::path(post, path = "/api/v1/claims/{id}/write-off", tag = "claims", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "claim id")), request_body = ReasonBody,
    responses((status = 200, body = ClaimOut), (status = 409, description = "not paid or recovery_open", body = crate::error::Problem)))]
pub async fn write_off_claim(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let d = parse_body::<ReasonBody>(&body).map(|b| Decision::WriteOff { reason: b.reason });
    decide(state, caller, &id, d).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryBody {
    /// At least 1, at most what is still unrecovered.
    #[schema(minimum = 1)]
    pub amount_fen: i64,
    /// Not in the future (Shanghai calendar).
    pub received_on: NaiveDate,
    /// Receipt or bank reference.
    #[serde(rename = "ref")]
    #[schema(
        rename = "ref",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub reference: String,
}

/// Record money recovered from the operator (its insurer; `paid` or `recovery_open`).
#[utoipa::path(post, path = "/api/v1/claims/{id}/recoveries", tag = "claims", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "claim id")), request_body = RecoveryBody,
    responses((status = 201, body = RecoveryOut),
        (status = 409, description = "not paid or recovery_open", body = crate::error::Problem),
        (status = 422, description = "`amount_fen` above what is unrecovered", body = crate::error::Problem)))]
pub async fn record_recovery(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let body = parse_body::<RecoveryBody>(&body).map(|b| NewRecovery {
        amount_fen: b.amount_fen,
        received_on: b.received_on,
        reference: b.reference,
    });
    let (r, c) = db::run(&state.pool, move |conn| {
        claims::record_recovery(&ctx, conn, &id, body)
    })
    .await?;
    Ok(created(
        format!("/api/v1/claims/{}", c.id),
        &recovery_out(r, c),
    ))
}
