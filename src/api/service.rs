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

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "alive", body = Status)))]
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok".into(),
    })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, description = "ready", body = Status)))]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    db::run(&state.pool, |conn| {
        db::queries::ping(conn).map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::Unavailable
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Status {
        status: "ok".into(),
    }))
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
    let text = state
        .metrics
        .scrape(&state.pool)
        .await
        .map_err(|e| ApiError::internal(format!("metrics encoding: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(text))
}
