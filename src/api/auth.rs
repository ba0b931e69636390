//! `/api/v1/auth/*` and `/api/v1/me`: registration, e-mail verification, login, token
//! rotation, password reset and invitations.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::UserOut;
use super::{created, parse_body, Routes};
use crate::audit::{self, Entry, SYSTEM_STREAM};
use crate::auth::password::{check_password_rule, hash_password, verify_password};
use crate::auth::ratelimit::{client_ip, lock_for};
use crate::auth::tokens::{random_token, sha256_hex, Claims};
use crate::auth::Caller;
use crate::db::models::{OneTimeToken, RefreshToken, User};
use crate::db::{self, queries, DbConn};
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, templates};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/auth/register", register)
        .add(Method::POST, "/api/v1/auth/verify-email", verify_email)
        .add(Method::POST, "/api/v1/auth/login", login)
        .add(Method::POST, "/api/v1/auth/refresh", refresh)
        .add(Method::POST, "/api/v1/auth/logout", logout)
        .add(
            Method::POST,
            "/api/v1/auth/password-reset/request",
            reset_request,
        )
        .add(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            reset_confirm,
        )
        .add(
            Method::POST,
            "/api/v1/auth/accept-invitation",
            accept_invitation,
        )
        .add(Method::GET, "/api/v1/me", me);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 10–128 characters, not equal to the e-mail.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
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

/// The per-IP limiter of the auth routes.
fn throttle(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let ip = client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        &state.settings.server.trusted_proxies,
    );
    state
        .ip_limiter
        .check(&ip, state.clock.now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
}

async fn hash_blocking(password: String) -> Result<String, ApiError> {
    web::block(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(format!("hashing: {e}")))
}

async fn verify_blocking(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    web::block(move || verify_password(&password, phc.as_deref()))
        .await
        .map_err(|e| ApiError::internal(format!("verifying: {e}")))
}

/// Creates a one-time token of `purpose` for `user`; returns the clear token for the e-mail.
pub(crate) fn new_one_time_token(
    conn: &mut DbConn,
    user_id: &str,
    purpose: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let token = random_token();
    queries::insert_one_time_token(
        conn,
        &OneTimeToken {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.into(),
            purpose: purpose.into(),
            token_hash: sha256_hex(&token),
            expires_at: (now + ttl).naive_utc(),
            used_at: None,
            created_at: now.naive_utc(),
        },
    )?;
    Ok(token)
}

fn invalid_token() -> ApiError {
    ApiError::field("token", "unknown, expired or already used")
}

/// Issues an access token and a refresh token of `family` (a new family on login).
fn issue_pair(
    state: &AppState,
    conn: &mut DbConn,
    user: &User,
    family: &str,
    now: DateTime<Utc>,
) -> Result<TokenPair, ApiError> {
    let minutes = state.settings.auth.access_token_minutes;
    let mut claims = Claims {
        sub: user.id.clone(),
        iss: String::new(),
        aud: String::new(),
        exp: (now + Duration::minutes(minutes)).timestamp(),
        iat: now.timestamp(),
        role: user.role.as_str().to_string(),
        org: user
            .village_id
            .clone()
            .or(user.township_id.clone())
            .or(user.insurer_id.clone()),
        ver: user.token_version,
    };
    let access_token = state.jwt.issue(&mut claims);
    let refresh_token = random_token();
    queries::insert_refresh_token(
        conn,
        &RefreshToken {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            family_id: family.into(),
            token_hash: sha256_hex(&refresh_token),
            expires_at: (now + Duration::days(state.settings.auth.refresh_token_days)).naive_utc(),
            created_at: now.naive_utc(),
            rotated_at: None,
            revoked_at: None,
        },
    )?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer".into(),
        expires_in: minutes * 60,
        refresh_token,
        user: UserOut::from(user.clone()),
    })
}

/// Register an investor account; a verification e-mail is sent.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = UserOut), (status = 409, description = "e-mail taken", body = crate::error::Problem),
        (status = 429, description = "too many attempts", body = crate::error::Problem)))]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req)?;
    let b: RegisterBody = parse_body(&body)?;
    let email = validate::normalize_email(&b.email);
    let mut errors = Vec::new();
    if !validate::is_email(&email) {
        errors.push(FieldError::new("email", "must be a valid e-mail address"));
    }
    if let Err(m) = check_password_rule(&b.password, &b.email) {
        errors.push(FieldError::new("password", m));
    }
    if let Err(m) = validate::text(&b.display_name, 100) {
        errors.push(FieldError::new("display_name", m));
    }
    if let Some(p) = &b.phone {
        if let Err(m) = validate::phone(p) {
            errors.push(FieldError::new("phone", m));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let phc = hash_blocking(b.password).await?;
    let now = state.clock.now();
    let st = state.clone();
    let user = db::run_tx(&state.pool, move |conn| {
        if queries::email_taken(conn, &email)? {
            return Err(ApiError::Conflict(
                "an account with this e-mail exists".into(),
            ));
        }
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            email: email.clone(),
            password_hash: Some(phc),
            display_name: b.display_name.trim().to_string(),
            phone: b.phone,
            role: Role::Investor,
            village_id: None,
            township_id: None,
            insurer_id: None,
            email_verified: false,
            disabled: false,
            token_version: 0,
            failed_logins: 0,
            locked_until: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        };
        queries::insert_user(conn, &user)?;
        let token = new_one_time_token(
            conn,
            &user.id,
            "verify_email",
            Duration::hours(st.settings.auth.verify_email_hours),
            now,
        )?;
        notify::enqueue(
            conn,
            templates::verify_email(
                &st.settings.server.public_url,
                &email,
                &user.display_name,
                &token,
            ),
            now,
        )?;
        audit::append(
            conn,
            &Entry {
                stream: SYSTEM_STREAM,
                actor_id: Some(&user.id),
                actor_role: Some("investor"),
                action: "user.registered",
                entity_type: "user",
                entity_id: &user.id,
                to_state: Some("active"),
                ..Default::default()
            },
            now,
        )?;
        Ok(user)
    })
    .await?;
    Ok(created(
        format!("/api/v1/users/{}", user.id),
        &UserOut::from(user),
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
    let now = state.clock.now();
    let user = db::run_tx(&state.pool, move |conn| {
        let t = queries::consume_one_time_token(
            conn,
            &sha256_hex(&b.token),
            "verify_email",
            now.naive_utc(),
        )?
        .ok_or_else(invalid_token)?;
        queries::set_email_verified(conn, &t.user_id, now.naive_utc())?;
        audit::append(
            conn,
            &Entry {
                stream: SYSTEM_STREAM,
                actor_id: Some(&t.user_id),
                actor_role: None,
                action: "user.email_verified",
                entity_type: "user",
                entity_id: &t.user_id,
                ..Default::default()
            },
            now,
        )?;
        queries::find_user(conn, &t.user_id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserOut::from(user)))
}

/// Log in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenPair), (status = 401, description = "wrong e-mail or password", body = crate::error::Problem),
        (status = 429, description = "too many attempts", body = crate::error::Problem)))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req)?;
    let b: LoginBody = parse_body(&body)?;
    let email = validate::normalize_email(&b.email);
    let now = state.clock.now();
    let lookup = email.clone();
    let user = db::run(&state.pool, move |conn| {
        Ok(queries::find_user_by_email(conn, &lookup)?)
    })
    .await?;
    if user.is_none() {
        if let Some(retry_after_secs) = state.unknown_accounts.locked(&email, now) {
            return Err(ApiError::RateLimited { retry_after_secs });
        }
    }
    if let Some(u) = &user {
        if let Some(until) = u.locked_until {
            let until = until.and_utc();
            if until > now {
                return Err(ApiError::RateLimited {
                    retry_after_secs: (until - now).num_seconds().max(1) as u64,
                });
            }
        }
    }
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = verify_blocking(b.password, phc).await?;
    let wrong = || ApiError::Unauthorized("wrong e-mail or password".into());
    let Some(user) = user else {
        state
            .unknown_accounts
            .fail(&email, now, state.settings.auth.max_failed_logins);
        return Err(wrong());
    };
    let st = state.clone();
    let max_failures = state.settings.auth.max_failed_logins;
    let outcome = db::run_tx(&state.pool, move |conn| {
        let fresh = queries::find_user(conn, &user.id)?.ok_or(ApiError::NotFound)?;
        if !ok || fresh.disabled {
            if !ok {
                let failures = count_failed_login(conn, &fresh.id)?;
                let locked = lock_for(failures, max_failures).map(|d| (now + d).naive_utc());
                queries::set_login_failures(conn, &fresh.id, failures, locked)?;
            }
            return Ok(None);
        }
        if fresh.failed_logins != 0 || fresh.locked_until.is_some() {
            queries::set_login_failures(conn, &fresh.id, 0, None)?;
        }
        let family = uuid::Uuid::now_v7().to_string();
        issue_pair(&st, conn, &fresh, &family, now).map(Some)
    })
    .await?;
    match outcome {
        Some(pair) => Ok(HttpResponse::Ok().json(pair)),
        None => Err(wrong()),
    }
}

/// Adds one failed login and returns the new count. The increment is done by the database
/// (which also locks the row until commit), so parallel failures are all counted: a
/// read-then-write would lose updates under PostgreSQL's read committed and let bursts of
/// guesses slip past the lock.
fn count_failed_login(conn: &mut DbConn, user_id: &str) -> Result<i64, ApiError> {
    use crate::db::schema::users::dsl as u;
    use diesel::prelude::*;
    diesel::update(u::users.find(user_id))
        .set(u::failed_logins.eq(u::failed_logins + 1))
        .execute(conn)?;
    Ok(u::users
        .find(user_id)
        .select(u::failed_logins)
        .first(conn)?)
}

enum RefreshOutcome {
    Issued(Box<TokenPair>),
    Refused,
}

/// Exchange a refresh token for a new pair; the old one dies. Reusing a dead one revokes the
/// whole login (family).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenPair), (status = 401, description = "dead or unknown refresh token", body = crate::error::Problem)))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RefreshBody = parse_body(&body)?;
    let now = state.clock.now();
    let st = state.clone();
    let outcome = db::run_tx(&state.pool, move |conn| {
        let Some(t) = queries::find_refresh_token(conn, &sha256_hex(&b.refresh_token))? else {
            return Ok(RefreshOutcome::Refused);
        };
        if t.revoked_at.is_some() || t.rotated_at.is_some() {
            // A dead token presented again: somebody holds a stolen copy. Kill the login.
            queries::revoke_family(conn, &t.family_id, now.naive_utc())?;
            return Ok(RefreshOutcome::Refused);
        }
        if t.expires_at <= now.naive_utc() {
            return Ok(RefreshOutcome::Refused);
        }
        let user = queries::find_user(conn, &t.user_id)?.ok_or(ApiError::NotFound)?;
        if user.disabled || !queries::rotate_refresh_token(conn, &t.id, now.naive_utc())? {
            queries::revoke_family(conn, &t.family_id, now.naive_utc())?;
            return Ok(RefreshOutcome::Refused);
        }
        issue_pair(&st, conn, &user, &t.family_id, now).map(|p| RefreshOutcome::Issued(Box::new(p)))
    })
    .await?;
    match outcome {
        RefreshOutcome::Issued(pair) => Ok(HttpResponse::Ok().json(pair)),
        RefreshOutcome::Refused => Err(ApiError::Unauthorized("refresh token is not valid".into())),
    }
}

/// Log out: revokes the refresh token's whole family.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshBody,
    responses((status = 204, description = "logged out")))]
pub async fn logout(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RefreshBody = parse_body(&body)?;
    let now = state.clock.now();
    db::run_tx(&state.pool, move |conn| {
        if let Some(t) = queries::find_refresh_token(conn, &sha256_hex(&b.refresh_token))? {
            queries::revoke_family(conn, &t.family_id, now.naive_utc())?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ask for a password-reset e-mail. Always 202, whether or not the account exists.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/request", tag = "auth", request_body = ResetRequestBody,
    responses((status = 202, description = "accepted"), (status = 429, description = "too many attempts", body = crate::error::Problem)))]
pub async fn reset_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req)?;
    let b: ResetRequestBody = parse_body(&body)?;
    let email = validate::normalize_email(&b.email);
    // "202 always": a malformed address simply matches no account.
    if !validate::is_email(&email) {
        return Ok(HttpResponse::Accepted().finish());
    }
    let now = state.clock.now();
    let st = state.clone();
    db::run_tx(&state.pool, move |conn| {
        let Some(user) = queries::find_user_by_email(conn, &email)? else {
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        let token = new_one_time_token(
            conn,
            &user.id,
            "password_reset",
            Duration::minutes(st.settings.auth.password_reset_minutes),
            now,
        )?;
        notify::enqueue(
            conn,
            templates::password_reset(
                &st.settings.server.public_url,
                &user.email,
                &user.display_name,
                &token,
            ),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Sets a new password from a one-time token of `purpose`; every existing token of the user
/// stops working (token version bumped, refresh tokens revoked).
async fn set_password_with_token(
    state: &AppState,
    token: String,
    password: String,
    password_field: &'static str,
    purpose: &'static str,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let hash = sha256_hex(&token);
    let h2 = hash.clone();
    // Look first (without consuming) so a bad password doesn't burn the token.
    let user = db::run(&state.pool, move |conn| {
        use crate::db::schema::one_time_tokens::dsl as t;
        use diesel::prelude::*;
        let row: Option<(String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> =
            t::one_time_tokens
                .filter(t::token_hash.eq(&h2))
                .filter(t::purpose.eq(purpose))
                .select((t::user_id, t::expires_at, t::used_at))
                .first(conn)
                .optional()?;
        match row {
            Some((uid, exp, None)) if exp > now.naive_utc() => Ok(queries::find_user(conn, &uid)?),
            _ => Ok(None),
        }
    })
    .await?
    .ok_or_else(invalid_token)?;
    check_password_rule(&password, &user.email).map_err(|m| ApiError::field(password_field, m))?;
    let phc = hash_blocking(password).await?;
    db::run_tx(&state.pool, move |conn| {
        let t = queries::consume_one_time_token(conn, &hash, purpose, now.naive_utc())?
            .ok_or_else(invalid_token)?;
        queries::set_password(conn, &t.user_id, &phc, now.naive_utc())?;
        queries::revoke_user_refresh_tokens(conn, &t.user_id, now.naive_utc())?;
        // Receiving the mail proves the address.
        queries::set_email_verified(conn, &t.user_id, now.naive_utc())?;
        audit::append(
            conn,
            &Entry {
                stream: SYSTEM_STREAM,
                actor_id: Some(&t.user_id),
                action: if purpose == "invitation" {
                    "user.invitation_accepted"
                } else {
                    "user.password_reset"
                },
                entity_type: "user",
                entity_id: &t.user_id,
                ..Default::default()
            },
            now,
        )
    })
    .await
}

/// Set a new password with the token from the reset e-mail.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmBody,
    responses((status = 204, description = "password changed")))]
pub async fn reset_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req)?;
    let b: ResetConfirmBody = parse_body(&body)?;
    set_password_with_token(
        &state,
        b.token,
        b.new_password,
        "new_password",
        "password_reset",
    )
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
    set_password_with_token(&state, b.token, b.password, "password", "invitation").await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserOut)))]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let id = caller.id.clone();
    let user = db::run(&state.pool, move |conn| Ok(queries::find_user(conn, &id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(UserOut::from(user)))
}
