//! The request extractors that yield the caller: `Caller` on protected routes (401 without a
//! valid token), `MaybeCaller` on public ones. No handler reads the `Authorization` header.

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::auth::tokens::Claims;
use crate::auth::{caller_on, Caller};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

pub fn bearer(req: &HttpRequest) -> Option<Result<String, ()>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let s = match value.to_str() {
        Ok(s) => s,
        Err(_) => return Some(Err(())),
    };
    let mut parts = s.splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some(scheme), Some(tok))
            if scheme.eq_ignore_ascii_case("bearer") && !tok.trim().is_empty() =>
        {
            Some(Ok(tok.trim().to_string()))
        }
        _ => Some(Err(())),
    }
}

/// Checks the token's signature and claims, then the account: it must exist, not be disabled,
/// and still have the token version the token was issued for.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let claims = verify_token(state, token)?;
    db::run(&state.pool, move |conn| caller_on(conn, &claims)).await
}

fn verify_token(state: &AppState, token: &str) -> Result<Claims, ApiError> {
    state
        .jwt
        .verify(token, state.clock.now())
        .ok_or_else(|| ApiError::Unauthorized("invalid or expired access token".into()))
}

/// A signed, unexpired access token whose account is not checked yet: for the hot routes
/// (bids) that check the account on the connection of their own database work
/// (`app::trading::place_signed_bid`), saving a hop to the blocking pool and a second
/// connection per request. 401 like [`Caller`] for a missing or bad token.
pub struct SignedToken(pub Claims);

impl FromRequest for SignedToken {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>();
        std::future::ready(match (state, bearer(req)) {
            (None, _) => Err(ApiError::internal("no app state")),
            (Some(state), Some(Ok(t))) => verify_token(state, &t).map(SignedToken),
            (Some(_), Some(Err(()))) => Err(ApiError::Unauthorized(
                "Authorization must be `Bearer <access_token>`".into(),
            )),
            (Some(_), None) => Err(ApiError::Unauthorized("missing access token".into())),
        })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no app state"))?;
            match token {
                Some(Ok(t)) => authenticate(&state, &t).await,
                Some(Err(())) => Err(ApiError::Unauthorized(
                    "Authorization must be `Bearer <access_token>`".into(),
                )),
                None => Err(ApiError::Unauthorized("missing access token".into())),
            }
        })
    }
}

/// The caller on public routes: anonymous when no token (or an unusable one) is given.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no app state"))?;
            match token {
                Some(Ok(t)) => match authenticate(&state, &t).await {
                    Ok(c) => Ok(MaybeCaller(Some(c))),
                    Err(ApiError::Unauthorized(_)) => Ok(MaybeCaller(None)),
                    Err(e) => Err(e),
                },
                _ => Ok(MaybeCaller(None)),
            }
        })
    }
}

/// Whether the request carries no credentials at all (no `Authorization` header): such a
/// reader never acted, so its public reads may be served by the read replica. Checked
/// without a database lookup.
pub struct Anonymous(pub bool);

impl FromRequest for Anonymous {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Anonymous(bearer(req).is_none())))
    }
}
