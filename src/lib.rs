//! landx: the backend of a rural land-transfer marketplace ("public trading + performance
//! insurance", 公开交易 + 履约保险). This crate builds the HTTP application so `main` and the
//! tests share it.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod jobs;
pub mod live_feed;
pub mod metrics;
pub mod notify;
pub mod render;
pub mod state;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpResponse, ResponseError};
use tracing::Instrument;

use crate::error::{ApiError, PROBLEM_JSON};
use crate::state::AppState;

pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The application: routes, extractor configuration, problem+json for every failure, request
/// ids, metrics and access logs.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = state.metrics.clone();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            ApiError::BadRequest(format!("bad query string: {e}")).into()
        }))
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::BadRequest(format!("bad path: {e}")).into()),
        )
        .configure(|cfg| api::routes().register(cfg))
        .configure(api::console::configure)
        .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::NotFound) }))
        .wrap(crate::idempotency::Idempotency)
        .wrap(ErrorHandlers::new().default_handler(bare_error_to_problem))
        .wrap_fn(move |req, srv| {
            let start = std::time::Instant::now();
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|s| {
                    !s.is_empty()
                        && s.len() <= 128
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                })
                .map(String::from)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let private = is_private(req.path(), req.headers().contains_key(header::AUTHORIZATION));
            let method = req.method().to_string();
            let metrics = metrics.clone();
            let span = tracing::info_span!("http", request_id = %request_id, method = %method, route = tracing::field::Empty);
            let fut = {
                let _entered = span.enter();
                srv.call(req)
            };
            async move {
                let mut res = fut.await?;
                // The route's pattern, as its resource was given it (no second matching).
                let route = res
                    .request()
                    .app_data::<api::RouteLabel>()
                    .map_or_else(|| "unmatched".into(), |r| r.0.clone());
                tracing::Span::current().record("route", &*route);
                let status = res.status().as_u16();
                let secs = start.elapsed().as_secs_f64();
                metrics.observe(&method, &route, status, secs);
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), v);
                }
                let headers = res.headers_mut();
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                if private {
                    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                if status >= 500 {
                    tracing::error!(status, elapsed_ms = secs * 1000.0, "request failed");
                } else {
                    tracing::info!(status, elapsed_ms = secs * 1000.0, "request");
                }
                Ok(res)
            }
            .instrument(span)
        })
}

/// Answers that no cache may keep: everything under `/api/v1/auth/` (tokens) and every answer
/// to a request carrying credentials (it may hold personal data: e-mails, ID numbers, phones).
fn is_private(path: &str, has_credentials: bool) -> bool {
    has_credentials || path.starts_with("/api/v1/auth/") || path.starts_with("/api/v1/me")
}

/// Turns any error response not already in problem+json (actix's own 404/405/413/400) into
/// one, keeping its status and headers such as `Allow`.
fn bare_error_to_problem<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Problems pass as they are, and so do the pages of the e-mailed links (`api::pages`),
    // whose every outcome is a page for a person.
    let answered = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("text/html"));
    if answered {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let err = match status.as_u16() {
        400 => ApiError::BadRequest("malformed request".into()),
        401 => ApiError::Unauthorized("authentication required".into()),
        403 => ApiError::Forbidden("not allowed".into()),
        404 => ApiError::NotFound,
        405 => ApiError::MethodNotAllowed,
        413 => ApiError::PayloadTooLarge,
        415 => ApiError::UnsupportedMediaType("unsupported media type".into()),
        422 => ApiError::BadRequest("unsupported request".into()),
        503 => ApiError::Unavailable,
        s if s >= 500 => ApiError::internal(format!("bare {s} response")),
        _ => ApiError::BadRequest("bad request".into()),
    };
    let (req, old) = res.into_parts();
    let mut new = err.error_response();
    *new.status_mut() = status;
    if let Some(allow) = old.headers().get(header::ALLOW) {
        new.headers_mut().insert(header::ALLOW, allow.clone());
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}
