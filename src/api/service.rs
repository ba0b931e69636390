//! Liveness, readiness and metrics.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::Routes;
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/healthz", get_health)
        .add(Method::GET, "/readyz", get_readiness)
        .add(Method::GET, "/metrics", get_metrics);
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok`
    pub status: String,
}

/// Readiness: the primary answers; each database's state on its own.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` (the primary answers; otherwise the answer is 503)
    pub status: String,
    pub databases: Databases,
}

#[derive(Serialize, ToSchema)]
pub struct Databases {
    /// `ok`
    pub primary: String,
    /// `ok`, `unavailable` (its reads go to the primary meanwhile), or absent without a
    /// replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

/// How long readiness waits for the read replica's answer before calling it `unavailable`.
const REPLICA_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "alive", body = Status)))]
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok".into(),
    })
}

/// The primary database answers (else 503 `unavailable`); the read replica, when configured,
/// is reported beside it and never makes the instance unready (its reads fall back to the
/// primary).
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, description = "ready", body = Readiness),
        (status = 503, description = "the primary database does not answer")))]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let primary = ping(&state.pool);
    let replica = async {
        match &state.replica {
            None => None,
            // Bounded: a replica that doesn't answer would hold the check for its pool's
            // whole connection timeout, and a load balancer timing checks out after about a
            // second would take every instance out of rotation, though they serve everything.
            Some(r) => Some(
                match actix_web::rt::time::timeout(REPLICA_CHECK, ping(&r.pool)).await {
                    Ok(Ok(())) => {
                        r.answered();
                        "ok"
                    }
                    Ok(Err(_)) | Err(_) => "unavailable",
                },
            ),
        }
    };
    let (primary, replica) = futures_util::future::join(primary, replica).await;
    primary?;
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ok".into(),
        databases: Databases {
            primary: "ok".into(),
            replica: replica.map(str::to_string),
        },
    }))
}

async fn ping(pool: &db::Pool) -> Result<(), ApiError> {
    db::run(pool, |conn| {
        db::queries::ping(conn).map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::Unavailable
        })
    })
    .await
}

/// Prometheus text exposition.
///
/// Requests, latency, job failures, the pool, and the business counts aggregated in the
/// database, so every instance shows the same: `landx_listings{state}`, `landx_bids_total`,
/// `landx_deals{state}`, `landx_installments_defaulted`, `landx_claims{state}` (read at most
/// every 5 s per instance; a family whose query fails is left out and
/// `landx_business_metrics_ok{family}` is 0).
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn get_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut text = state
        .metrics
        .scrape(&state.pool)
        .await
        .map_err(|e| ApiError::internal(format!("metrics encoding: {e}")))?;
    if let Some(r) = &state.replica {
        text.push_str(&r.metrics_text());
    }
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(text))
}
