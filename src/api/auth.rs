//! `/api/v1/auth/*` and `/api/v1/me`: registration, e-mail verification, login, token
//! rotation, password reset and invitations.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{created, parse_body, Routes, UserOut};
use crate::app::accounts::{self, Registration, Tokens};
use crate::app::limits;
use crate::auth::ratelimit::request_client;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/auth/register", register_account)
        .add(Method::POST, "/api/v1/auth/verify-email", verify_email)
        .add(Method::POST, "/api/v1/auth/login", login_account)
        .add(Method::POST, "/api/v1/auth/refresh", refresh_tokens)
        .add(Method::POST, "/api/v1/auth/logout", logout_account)
        .add(
            Method::POST,
            "/api/v1/auth/password-reset/request",
            request_password_reset,
        )
        .add(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            confirm_password_reset,
        )
        .add(
            Method::POST,
            "/api/v1/auth/accept-invitation",
            accept_invitation,
        )
        .add(Method::GET, "/api/v1/me", get_me);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAccountBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 10–128 characters, not equal to the e-mail.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub display_name: String,
    #[schema(pattern = r"^\+?[0-9][0-9-]{3,18}[0-9]$")]
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    /// Any string: the answer is 202 whether or not it names an account.
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmBody {
    pub token: String,
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationBody {
    pub token: String,
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    pub user: UserOut,
}

impl TokenPair {
    fn new(t: Tokens, key: &crate::crypto::DataKey) -> Self {
        TokenPair {
            access_token: t.access_token,
            token_type: "Bearer".into(),
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            user: UserOut::new(t.user, key),
        }
    }
}

/// The key the caller is throttled by: its address (IPv6: its /64).
fn client(state: &AppState, req: &HttpRequest) -> String {
    request_client(req, &state.settings.server.trusted_proxies)
}

/// The per-client limit of the auth routes (counted in the database, for every instance);
/// answers the client's key.
async fn throttle(state: &AppState, req: &HttpRequest) -> Result<String, ApiError> {
    let client = client(state, req);
    let ctx = state.ctx(None);
    let (keys, key) = (state.limit_keys.clone(), client.clone());
    db::run(&state.pool, move |conn| {
        limits::admit_client(&ctx, conn, &keys, &key)
    })
    .await?;
    Ok(client)
}

/// Register an investor account; a verification e-mail is sent.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterAccountBody,
    responses((status = 201, body = UserOut), (status = 409, description = "e-mail taken", body = crate::error::Problem),
        (status = 429, description = "too many attempts", body = crate::error::Problem)))]
pub async fn register_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req).await?;
    let b: RegisterAccountBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    let registration = Registration {
        email: b.email,
        password: b.password,
        display_name: b.display_name,
        phone: b.phone,
    };
    let st = state.clone();
    let user = db::run(&state.pool, move |conn| {
        accounts::register(&ctx, conn, &st.argon2, registration)
    })
    .await?;
    Ok(created(
        format!("/api/v1/users/{}", user.id),
        &UserOut::new(user, &state.data_key),
    ))
}

/// Confirm an e-mail address with the token from the verification e-mail.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = UserOut)))]
pub async fn verify_email(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: TokenBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    let user = db::run(&state.pool, move |conn| {
        accounts::verify_email(&ctx, conn, &b.token)
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserOut::new(user, &state.data_key)))
}

/// Log in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenPair), (status = 401, description = "wrong e-mail or password", body = crate::error::Problem),
        (status = 429, description = "too many attempts", body = crate::error::Problem)))]
pub async fn login_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let client = throttle(&state, &req).await?;
    let b: LoginBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    let st = state.clone();
    let tokens = db::run(&state.pool, move |conn| {
        accounts::login(
            &ctx,
            conn,
            &st.jwt,
            &st.limit_keys,
            &st.argon2,
            &client,
            &b.email,
            &b.password,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenPair::new(tokens, &state.data_key)))
}

/// Exchange a refresh token for a new pair; the old one dies. Reusing a dead one revokes the
/// whole login (family).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenPair), (status = 401, description = "dead or unknown refresh token", body = crate::error::Problem)))]
pub async fn refresh_tokens(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RefreshBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    let st = state.clone();
    let tokens = db::run(&state.pool, move |conn| {
        accounts::refresh(&ctx, conn, &st.jwt, &b.refresh_token)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenPair::new(tokens, &state.data_key)))
}

/// Log out: revokes the refresh token's whole family.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshBody,
    responses((status = 204, description = "logged out")))]
pub async fn logout_account(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RefreshBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    db::run(&state.pool, move |conn| {
        accounts::logout(&ctx, conn, &b.refresh_token)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ask for a password-reset e-mail. Always 202, whether or not the account exists.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/request", tag = "auth", request_body = ResetRequestBody,
    responses((status = 202, description = "accepted"), (status = 429, description = "too many attempts", body = crate::error::Problem)))]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req).await?;
    let b: ResetRequestBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    db::run(&state.pool, move |conn| {
        accounts::request_password_reset(&ctx, conn, &b.email)
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Set a new password with the token from the reset e-mail.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmBody,
    responses((status = 204, description = "password changed")))]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req).await?;
    let b: ResetConfirmBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        accounts::confirm_password_reset(&ctx, conn, &st.argon2, &b.token, &b.new_password)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set the first password of an invited account.
#[utoipa::path(post, path = "/api/v1/auth/accept-invitation", tag = "auth", request_body = AcceptInvitationBody,
    responses((status = 204, description = "password set")))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: AcceptInvitationBody = parse_body(&body)?;
    let ctx = state.ctx(None);
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        accounts::accept_invitation(&ctx, conn, &st.argon2, &b.token, &b.password)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserOut)))]
pub async fn get_me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let ctx = state.ctx(Some(caller));
    let user = db::run(&state.pool, move |conn| accounts::me(&ctx, conn)).await?;
    Ok(HttpResponse::Ok().json(UserOut::new(user, &state.data_key)))
}
