//! The audit trail for oversight: one stream's records, page by page, with whether the
//! stream's hash chain verifies.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Routes;
use crate::app::audit_trail::{self, StreamName, MAX_STREAM_NAME};
use crate::auth::Caller;
use crate::db;
use crate::db::models::AuditRecord;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(
        Method::GET,
        "/api/v1/audit/streams/{stream}",
        get_audit_stream,
    );
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditStreamQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (treat it as opaque).
    #[param(pattern = r"^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// One audit record: who did what to which entity, when, from which state to which.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordOut {
    pub id: String,
    /// Position in the stream, from 1, without gaps.
    pub seq: i64,
    /// When the transition was performed.
    pub created_at: DateTime<Utc>,
    /// The acting account; null when the platform itself acted (a deadline, the worker).
    pub actor_id: Option<String>,
    /// The actor's role at the time (`admin`, `staff`, `collective`, `investor`, `insurer`);
    /// null when the platform acted.
    pub actor_role: Option<String>,
    /// What happened, `<entity>.<verb>` (`bid.placed`, `contract.certified`).
    pub action: String,
    /// `listing`, `registration`, `deposit`, `bid`, `deal`, `contract`, `installment`,
    /// `payment`, `policy`, `claim`, `user`, ...
    pub entity_type: String,
    pub entity_id: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    /// The money the transition moved (a bid, a payment, a payout, a recovery), fen; present
    /// only on records that carry an amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_fen: Option<i64>,
    /// The audit key that signed the record's link; null for a first-release (SHA-256) link.
    pub key_id: Option<String>,
}

impl From<AuditRecord> for AuditRecordOut {
    fn from(r: AuditRecord) -> Self {
        AuditRecordOut {
            id: r.id,
            seq: r.seq,
            created_at: r.created_at.and_utc(),
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            from_state: r.from_state,
            to_state: r.to_state,
            reason: r.reason,
            amount_fen: r.amount_fen,
            key_id: r.key_id,
        }
    }
}

/// A page of an audit stream and the verification of the whole stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditStreamOut {
    /// The stream's canonical name (`listing:<uuid>`, `contract:<uuid>`, `system`).
    pub stream: String,
    /// Whether the stream's whole hash chain verifies (every record, not only this page):
    /// sequence without gaps, each link pointing at the previous one, each HMAC (or
    /// first-release SHA-256) link matching the record's content, the head matching the
    /// last record.
    pub verified: bool,
    /// The first record that does not verify; for records removed from the end of the
    /// stream, the last one that still does (0 if none). Null when verified.
    pub broken_at_seq: Option<i64>,
    /// Why the chain does not verify; null when verified.
    pub problem: Option<String>,
    /// The audit key ids the stream's records are signed with, sorted.
    pub key_ids: Vec<String>,
    /// Records in stream order (`seq` ascending).
    pub items: Vec<AuditRecordOut>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One audit stream's records in order, and whether the stream's whole chain verifies.
///
/// `verified` is the check of `landx audit verify` run over every record of the stream (not
/// only this page), on every request, in the same snapshot as the page. A listing's stream (`listing:<id>`: the listing, its
/// registrations, deposits, bids and deals) and a contract's (`contract:<id>`: the contract,
/// its installments, payments, policies and claims) are read by the staff of its township
/// and by admins; the `system` stream (accounts, organisations) by admins. For anyone else
/// every stream is 404, as is an unknown one; a name of another form is 400.
#[utoipa::path(get, path = "/api/v1/audit/streams/{stream}", tag = "audit", security(("bearer" = [])),
    params(
        ("stream" = String, Path, max_length = 64,
            pattern = r"^(system|(listing|contract):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
            description = "`system`, `listing:<listing id>` or `contract:<contract id>`"),
        AuditStreamQuery,
    ),
    responses((status = 200, body = AuditStreamOut)))]
pub async fn get_audit_stream(
    state: web::Data<AppState>,
    caller: Caller,
    stream: web::Path<String>,
    qs: web::Query<AuditStreamQuery>,
) -> Result<HttpResponse, ApiError> {
    // Bounded before anything else reads it.
    if stream.len() > MAX_STREAM_NAME {
        return Err(ApiError::BadRequest("stream name too long".into()));
    }
    let name = StreamName::parse(&stream)?;
    let limit = qs.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let after = match qs.cursor.as_deref() {
        None => 0,
        Some(c) if !c.is_empty() && c.len() <= 18 && c.bytes().all(|b| b.is_ascii_digit()) => c
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest("invalid cursor".into()))?,
        Some(_) => return Err(ApiError::BadRequest("invalid cursor".into())),
    };
    let ctx = state.ctx(Some(caller));
    let page = db::run(&state.pool, move |conn| {
        audit_trail::read_stream(&ctx, conn, &name, after, limit)
    })
    .await?;
    let (verified, broken_at_seq, problem) = match page.check {
        Ok(_) => (true, None, None),
        Err(b) => (false, Some(b.seq), Some(b.problem)),
    };
    Ok(HttpResponse::Ok().json(AuditStreamOut {
        stream: page.stream,
        verified,
        broken_at_seq,
        problem,
        key_ids: page.key_ids,
        items: page.records.into_iter().map(AuditRecordOut::from).collect(),
        next_cursor: page.next_after.map(|s| s.to_string()),
    }))
}
