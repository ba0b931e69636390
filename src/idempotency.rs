//! `Idempotency-Key` on authenticated POSTs (API.md "Conventions"): a retry with the same key,
//! path and body (equal as parsed JSON) gets the first response again; the same key with a
//! different request is 422 `idempotency_key_reused`; a duplicate arriving while the first is
//! running waits for it (up to 10 s), else 409 `conflict`. Responses below 500 are stored.
//! Keys are per user, kept at least 24 hours, and live in the database so every instance
//! sees them. Stored responses are encrypted with the data key: they may carry personal data.
//!
//! Exactly once: the handler runs under the key's claim as a fence
//! ([`crate::db::idempotency::Fence`]): the write transaction that performs the action also
//! marks the claim committed, as its last statement. The response itself is rendered by the
//! handler after that transaction and stored right after; should the instance stop in
//! between, a retry finds the claim committed without a response and answers 409 `conflict`
//! instead of performing the action a second time. A claim whose request committed nothing
//! and was abandoned (a stopped instance) is taken over by a retry after a minute; the
//! abandoned request, should it still try to commit, then rolls back.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{to_bytes, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};

use crate::db::idempotency::{self as rows, Fence, StoredKey, COMMITTED};
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::state::AppState;

const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);
/// A claim older than this whose request never finished (a crashed instance) may be taken over.
const ABANDONED_AFTER_SECS: i64 = 60;
const KEEP_HOURS: i64 = 48;

enum Claim {
    /// This request holds the key; the claim is identified by its creation time.
    Claimed(NaiveDateTime),
    Replay {
        status: u16,
        body: String,
        content_type: Option<String>,
        location: Option<String>,
    },
    Mismatch,
    InProgress,
    /// The first request's action committed, but its response was never stored (its instance
    /// stopped in between): the action is not performed again.
    AnswerLost,
}

/// Fingerprint of a request: method, path and the body as parsed JSON (key order and
/// whitespace don't matter), or the raw bytes when it isn't JSON.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    let trimmed = body.iter().all(u8::is_ascii_whitespace);
    match serde_json::from_slice::<serde_json::Value>(body) {
        // serde_json's maps are sorted, so this is a canonical form.
        Ok(v) => h.update(v.to_string().as_bytes()),
        Err(_) if trimmed => h.update(b"{}"),
        Err(_) => h.update(body),
    }
    hex::encode(h.finalize())
}

fn claim(
    conn: &mut DbConn,
    user: &str,
    key: &str,
    path: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Claim, ApiError> {
    // Microseconds: what both backends store, so the claim reads back equal.
    let now = now.naive_utc().trunc_subsecs(6);
    if rows::insert_claim(conn, user, key, path, hash, now)? {
        return Ok(Claim::Claimed(now));
    }
    let Some(StoredKey {
        path: p,
        request_hash: h,
        status,
        response_body: body,
        content_type: ct,
        location: loc,
        created_at: created,
    }) = rows::find_key(conn, user, key)?
    else {
        // Purged between the insert and the read: try again as new.
        return Ok(Claim::InProgress);
    };
    if p != path || h != hash {
        return Ok(Claim::Mismatch);
    }
    let abandoned = (now - created).num_seconds() > ABANDONED_AFTER_SECS;
    match status {
        // Still answering (wait for it), or stopped after committing (never run it again).
        Some(COMMITTED) if abandoned => Ok(Claim::AnswerLost),
        Some(COMMITTED) => Ok(Claim::InProgress),
        Some(s) => Ok(Claim::Replay {
            status: s as u16,
            body: body.unwrap_or_default(),
            content_type: ct,
            location: loc,
        }),
        // Abandoned before anything committed: the retry performs it.
        None if abandoned => Ok(if rows::take_over(conn, user, key, created, now)? {
            Claim::Claimed(now)
        } else {
            Claim::InProgress
        }),
        None => Ok(Claim::InProgress),
    }
}

fn release(conn: &mut DbConn, f: &Fence) -> Result<(), ApiError> {
    Ok(rows::release(conn, &f.user, &f.key, f.claimed_at)?)
}

/// Deletes keys older than the retention period (called by the worker).
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let horizon = now - chrono::Duration::hours(KEEP_HOURS);
    Ok(rows::purge_before(conn, horizon.naive_utc())?)
}

fn bytes_to_payload(buf: web::Bytes) -> Payload {
    let (_, mut pl) = actix_http::h1::Payload::create(true);
    pl.unread_data(buf);
    Payload::from(pl)
}

/// The route whose body is a file (a document upload).
const UPLOAD_ROUTE: &str = "/api/v1/{owner}/{id}/documents";

/// A request's body as the layer read it: in memory (JSON), or spooled to a file (uploads).
enum Body {
    Bytes(web::Bytes),
    Spooled(crate::app::document_store::Spooled),
}

/// The middleware factory.
pub struct Idempotency;

impl<S, B> Transform<S, ServiceRequest> for Idempotency
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = IdempotencyService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(IdempotencyService {
            service: Rc::new(service),
        }))
    }
}

pub struct IdempotencyService<S> {
    service: Rc<S>,
}

fn respond<B>(req: ServiceRequest, res: HttpResponse) -> ServiceResponse<EitherBody<B, BoxBody>> {
    req.into_response(res).map_into_right_body()
}

impl<S, B> Service<ServiceRequest> for IdempotencyService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let srv = self.service.clone();
        Box::pin(async move {
            let key = req
                .headers()
                .get("idempotency-key")
                .map(|v| v.to_str().map(str::to_string));
            let state = req.app_data::<web::Data<AppState>>().cloned();
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(|t| t.trim().to_string());
            let (Some(key), Some(state), Some(token), true) = (
                key,
                state,
                token,
                // `/auth/*` works without an access token and never stores (API.md).
                req.method() == Method::POST && !req.path().starts_with("/api/v1/auth/"),
            ) else {
                return srv.call(req).await.map(ServiceResponse::map_into_left_body);
            };
            // Only fully authenticated callers are scoped and stored: the same check as the
            // extractor (signature, expiry, token version, disabled account), before any key
            // is claimed or replayed. Otherwise the handler answers (401) as without a key.
            let Ok(caller) = crate::api::extract::authenticate(&state, &token).await else {
                return srv.call(req).await.map(ServiceResponse::map_into_left_body);
            };
            let key = match key {
                Ok(k) if !k.is_empty() && k.len() <= 255 => k,
                _ => {
                    let e = ApiError::field(
                        "Idempotency-Key",
                        "must be 1 to 255 visible ASCII characters",
                    );
                    return Ok(respond(req, e.error_response()));
                }
            };
            // A document upload is fingerprinted by its query (kind, file name), declared type
            // and content hash, its body spooled to a file, never held in memory.
            let upload = req.match_pattern().as_deref() == Some(UPLOAD_ROUTE);
            let (path, hash, body) = if upload {
                let max = state.settings.documents.max_bytes;
                let declared = req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if declared.is_some_and(|n| n > max) {
                    let e = ApiError::TooLarge(format!("a document may have at most {max} bytes"));
                    return Ok(respond(req, e.error_response()));
                }
                let payload = actix_web::HttpMessage::take_payload(&mut req);
                let spooled = match crate::api::documents::spool_payload(
                    &state.settings.documents,
                    max,
                    payload,
                    |_| Ok(()),
                )
                .await
                {
                    Ok(s) => s,
                    Err(e) => return Ok(respond(req, e.error_response())),
                };
                let content_type = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let path = format!("{}?{}", req.path(), req.query_string());
                let content = format!("sha256:{} type:{content_type}", spooled.sha256());
                let hash = fingerprint("POST", &path, content.as_bytes());
                (path, hash, Body::Spooled(spooled))
            } else {
                let body = match req.extract::<web::Bytes>().await {
                    Ok(b) => b,
                    Err(e) => return Ok(respond(req, e.error_response())),
                };
                let path = req.path().to_string();
                let hash = fingerprint("POST", &path, &body);
                (path, hash, Body::Bytes(body))
            };
            let user = caller.id.clone();
            let started = std::time::Instant::now();
            let fence = loop {
                let (u, k, p, h) = (user.clone(), key.clone(), path.clone(), hash.clone());
                let now = state.clock.now();
                let c = db::run(&state.pool, move |conn| claim(conn, &u, &k, &p, &h, now)).await;
                match c {
                    Err(e) => return Ok(respond(req, e.error_response())),
                    Ok(Claim::Claimed(claimed_at)) => {
                        break Fence {
                            user: user.clone(),
                            key: key.clone(),
                            claimed_at,
                        }
                    }
                    Ok(Claim::AnswerLost) => {
                        let e = ApiError::Conflict(
                            "the request first sent with this Idempotency-Key was performed, \
                             but its answer was lost (the server stopped before storing it); \
                             it is not performed again: read the resource to see the outcome"
                                .into(),
                        );
                        return Ok(respond(req, e.error_response()));
                    }
                    Ok(Claim::Mismatch) => {
                        return Ok(respond(
                            req,
                            ApiError::IdempotencyKeyReused.error_response(),
                        ))
                    }
                    Ok(Claim::Replay {
                        status,
                        body,
                        content_type,
                        location,
                    }) => {
                        // Stored encrypted: responses may carry personal data (ID numbers).
                        let body = state.data_key.decrypt(&body).unwrap_or_default();
                        let mut r = HttpResponse::build(
                            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                        );
                        if let Some(ct) = content_type {
                            r.insert_header((header::CONTENT_TYPE, ct));
                        }
                        if let Some(l) = location {
                            r.insert_header((header::LOCATION, l));
                        }
                        r.insert_header(("Idempotent-Replayed", "true"));
                        return Ok(respond(req, r.body(body)));
                    }
                    Ok(Claim::InProgress) => {
                        if started.elapsed() >= WAIT_FOR_FIRST {
                            let e = ApiError::Conflict(
                                "a request with this Idempotency-Key is still being processed"
                                    .into(),
                            );
                            return Ok(respond(req, e.error_response()));
                        }
                        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
            req.set_payload(match body {
                Body::Bytes(b) => bytes_to_payload(b),
                Body::Spooled(s) => crate::api::documents::replay(s),
            });
            // The handler's write transactions mark the claim committed with the action.
            let res = match rows::with_fence(fence.clone(), srv.call(req)).await {
                Ok(r) => r,
                Err(e) => {
                    let f = fence.clone();
                    let _ = db::run(&state.pool, move |conn| release(conn, &f)).await;
                    return Err(e);
                }
            };
            let status = res.status();
            if status.is_server_error() {
                // Not stored; released unless the action committed (then a retry is a 409).
                let f = fence.clone();
                let _ = db::run(&state.pool, move |conn| release(conn, &f)).await;
                return Ok(res.map_into_left_body());
            }
            let (req, res) = res.into_parts();
            let (head, body) = res.into_parts();
            let bytes = match to_bytes(body).await {
                Ok(b) => b,
                Err(_) => {
                    let f = fence.clone();
                    let _ = db::run(&state.pool, move |conn| release(conn, &f)).await;
                    return Ok(ServiceResponse::new(
                        req,
                        ApiError::internal("response body unreadable").error_response(),
                    )
                    .map_into_right_body());
                }
            };
            let text = state.data_key.encrypt(&String::from_utf8_lossy(&bytes));
            let ct = head
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let loc = head
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let code = status.as_u16();
            if let Err(e) = db::run(&state.pool, move |conn| {
                let f = fence;
                Ok(rows::store_response(
                    conn,
                    &f.user,
                    &f.key,
                    f.claimed_at,
                    code,
                    &text,
                    ct.as_deref(),
                    loc.as_deref(),
                )?)
            })
            .await
            {
                tracing::warn!(error = ?e, "idempotent response not stored");
            }
            let res = head.set_body(BoxBody::new(bytes));
            Ok(ServiceResponse::new(req, res).map_into_right_body())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_key_order_and_whitespace() {
        let a = fingerprint("POST", "/x", br#"{"a":1,"b":[1,2]}"#);
        let b = fingerprint("POST", "/x", b"{ \"b\": [1, 2], \"a\": 1 }");
        assert_eq!(a, b);
        assert_ne!(a, fingerprint("POST", "/y", br#"{"a":1,"b":[1,2]}"#));
        assert_ne!(a, fingerprint("POST", "/x", br#"{"a":2,"b":[1,2]}"#));
        assert_eq!(
            fingerprint("POST", "/x", b""),
            fingerprint("POST", "/x", b"{}")
        );
    }
}
