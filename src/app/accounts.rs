//! Use cases of accounts: registration and e-mail verification, login and token rotation,
//! password reset and invitations, and the admin's management of accounts (also used by the
//! command line). Passwords are hashed here: every caller runs these on the blocking pool
//! (`db::run`, or the CLI's own thread), never on an async worker, and never inside the
//! write transaction.

use chrono::Duration;

use super::Ctx;
use crate::audit::{self, Actor, Entry, SYSTEM_STREAM};
use crate::auth::password::{check_password_rule, hash_password, Argon2Gate, Busy};
use crate::auth::ratelimit::LimitKeys;
use crate::auth::tokens::{random_token, sha256_hex, Claims, JwtKeys};
use crate::crypto::DataKey;
use crate::db::models::{OneTimeToken, RefreshToken, User};
use crate::db::queries::{self, NewUser, PageReq, UserFilter};
use crate::db::{self, DbConn};
use crate::domain::account::{AccountState, LinkState, TokenPurpose};
use crate::domain::roles::{org_mismatches, Role};
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, templates};

/// An investor signing up.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub phone: Option<String>,
}

/// An account an admin (or the command line) creates. Without a password the owner is
/// invited by e-mail to set one.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub password: Option<String>,
    pub display_name: String,
    pub role: Role,
    pub phone: Option<String>,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
    /// Why, for the audit record (the command line says so).
    pub reason: Option<String>,
}

/// A login: an access token and a refresh token of one family.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    pub user: User,
}

/// Records an account or organisation change on the `system` stream (in the caller's
/// transaction).
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_system(
    conn: &mut DbConn,
    actor: Actor<'_>,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    from: Option<AccountState>,
    to: Option<AccountState>,
    reason: Option<&str>,
    ctx: &Ctx,
) -> Result<(), ApiError> {
    audit::append(
        conn,
        &Entry {
            stream: SYSTEM_STREAM,
            actor_id: actor.id,
            actor_role: actor.role,
            action,
            entity_type,
            entity_id,
            from_state: from.map(AccountState::as_str),
            to_state: to.map(AccountState::as_str),
            reason,
            amount_fen: None,
        },
        ctx.now,
    )
}

/// The field rules shared by registration and account creation, every failure at once.
fn profile_errors(
    raw_email: &str,
    email: &str,
    password: Option<&str>,
    display_name: &str,
    phone: Option<&str>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !validate::is_email(email) {
        errors.push(FieldError::new("email", "must be a valid e-mail address"));
    }
    if let Some(p) = password {
        if let Err(m) = check_password_rule(p, raw_email) {
            errors.push(FieldError::new("password", m));
        }
    }
    if let Err(m) = validate::text(display_name, 100) {
        errors.push(FieldError::new("display_name", m));
    }
    if let Some(p) = phone {
        if let Err(m) = validate::phone(p) {
            errors.push(FieldError::new("phone", m));
        }
    }
    errors
}

fn email_taken() -> ApiError {
    ApiError::Conflict("an account with this e-mail exists".into())
}

fn invalid_token() -> ApiError {
    ApiError::field("token", "unknown, expired or already used")
}

/// Longest e-mail address (RFC 5321 path limit) and password accepted anywhere.
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longer than any token this server mails or issues.
const MAX_TOKEN_CHARS: usize = 128;

/// Refuses over-long strings before any other work (lookups, hashing, throttling state):
/// each `(field, value, max chars)` too long is a 422 naming the field.
fn bounded(fields: &[(&'static str, &str, usize)]) -> Result<(), ApiError> {
    let errors: Vec<FieldError> = fields
        .iter()
        .filter(|(_, v, max)| v.len() > *max && v.chars().nth(*max).is_some())
        .map(|(f, _, max)| FieldError::new(*f, format!("must be at most {max} characters")))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

impl From<Busy> for ApiError {
    fn from(_: Busy) -> Self {
        ApiError::Unavailable
    }
}

/// Creates a one-time token of `purpose` for `user_id`; returns the clear token for the mail.
fn new_one_time_token(
    ctx: &Ctx,
    conn: &mut DbConn,
    user_id: &str,
    purpose: TokenPurpose,
    ttl: Duration,
) -> Result<String, ApiError> {
    let token = random_token();
    queries::insert_one_time_token(
        conn,
        &OneTimeToken::new(user_id, purpose, sha256_hex(&token), ttl, ctx.now),
    )?;
    Ok(token)
}

/// Issues an access token and a refresh token of `family` (a new family on login).
fn issue_tokens(
    ctx: &Ctx,
    conn: &mut DbConn,
    jwt: &JwtKeys,
    user: &User,
    family: &str,
) -> Result<Tokens, ApiError> {
    let auth = &ctx.settings.auth;
    let org = user
        .village_id
        .clone()
        .or(user.township_id.clone())
        .or(user.insurer_id.clone());
    let mut claims = Claims::access(
        &user.id,
        user.role,
        org,
        user.token_version,
        ctx.now,
        Duration::minutes(auth.access_token_minutes),
    );
    let access_token = jwt.issue(&mut claims);
    let refresh_token = random_token();
    queries::insert_refresh_token(
        conn,
        &RefreshToken::new(
            &user.id,
            family,
            sha256_hex(&refresh_token),
            Duration::days(auth.refresh_token_days),
            ctx.now,
        ),
    )?;
    Ok(Tokens {
        access_token,
        expires_in: auth.access_token_minutes * 60,
        refresh_token,
        user: user.clone(),
    })
}

/// Registers an investor account and mails the verification link.
pub fn register(
    ctx: &Ctx,
    conn: &mut DbConn,
    gate: &Argon2Gate,
    r: Registration,
) -> Result<User, ApiError> {
    bounded(&[
        ("email", &r.email, MAX_EMAIL_CHARS),
        ("password", &r.password, MAX_PASSWORD_CHARS),
    ])?;
    let email = validate::normalize_email(&r.email);
    let errors = profile_errors(
        &r.email,
        &email,
        Some(&r.password),
        &r.display_name,
        r.phone.as_deref(),
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let phc = gate.hash(&r.password)?;
    db::write_tx(conn, |conn| {
        if queries::email_taken(conn, &email)? {
            return Err(email_taken());
        }
        let user = User::new(
            NewUser {
                email,
                password_hash: Some(phc),
                display_name: r.display_name.trim().to_string(),
                // Personal data: stored encrypted, like registrations' phones.
                phone: r.phone.map(|p| ctx.data_key.encrypt(&p)),
                role: Role::Investor,
                village_id: None,
                township_id: None,
                insurer_id: None,
                email_verified: false,
            },
            ctx.now,
        );
        queries::insert_user(conn, &user)?;
        let token = new_one_time_token(
            ctx,
            conn,
            &user.id,
            TokenPurpose::VerifyEmail,
            Duration::hours(ctx.settings.auth.verify_email_hours),
        )?;
        notify::send(
            conn,
            &user.email,
            &templates::VerifyEmail {
                public_url: &ctx.settings.server.public_url,
                display_name: &user.display_name,
                token: &token,
            },
            ctx.now,
        )?;
        let actor = Actor {
            id: Some(&user.id),
            role: Some(Role::Investor.as_str()),
        };
        audit_system(
            conn,
            actor,
            "user.registered",
            "user",
            &user.id,
            None,
            Some(AccountState::Active),
            None,
            ctx,
        )?;
        Ok(user)
    })
}

/// Confirms an e-mail address with the token from the verification mail.
pub fn verify_email(ctx: &Ctx, conn: &mut DbConn, token: &str) -> Result<User, ApiError> {
    db::write_tx(conn, |conn| {
        let t = queries::consume_one_time_token(
            conn,
            &sha256_hex(token),
            TokenPurpose::VerifyEmail,
            ctx.now.naive_utc(),
        )?
        .ok_or_else(invalid_token)?;
        queries::set_email_verified(conn, &t.user_id, ctx.now.naive_utc())?;
        let actor = Actor {
            id: Some(&t.user_id),
            role: None,
        };
        audit_system(
            conn,
            actor,
            "user.email_verified",
            "user",
            &t.user_id,
            None,
            None,
            None,
            ctx,
        )?;
        queries::find_user(conn, &t.user_id)?.ok_or(ApiError::NotFound)
    })
}

/// Logs in with e-mail and password from `client` (its throttling key). Over-long fields are
/// 422 before anything else. Each attempt is counted against (account or address, client)
/// *before* the password is checked, in the database (`super::limits`), so parallel guesses,
/// through any instance, can't pass the limit; a throttled pair is 429. A wrong password, an
/// unknown address and a disabled account are the same 401 (unknown addresses are throttled
/// and verified alike, so the answers look alike).
#[allow(clippy::too_many_arguments)]
pub fn login(
    ctx: &Ctx,
    conn: &mut DbConn,
    jwt: &JwtKeys,
    limit_keys: &LimitKeys,
    gate: &Argon2Gate,
    client: &str,
    email: &str,
    password: &str,
) -> Result<Tokens, ApiError> {
    bounded(&[
        ("email", email, MAX_EMAIL_CHARS),
        ("password", password, MAX_PASSWORD_CHARS),
    ])?;
    let email = validate::normalize_email(email);
    let user = queries::find_user_by_email(conn, &email)?;
    // The account's token version is part of the key: a password reset starts afresh.
    let subject = match &user {
        Some(u) => format!("user:{}:{}", u.id, u.token_version),
        None => format!("email:{email}"),
    };
    super::limits::count_login_attempt(ctx, conn, limit_keys, &subject, client)?;
    // Always verify (a dummy hash for unknown accounts) so timing doesn't tell them apart.
    let ok = gate.verify(
        password,
        user.as_ref().and_then(|u| u.password_hash.as_deref()),
    )?;
    let wrong = || ApiError::Unauthorized("wrong e-mail or password".into());
    let Some(user) = user else {
        return Err(wrong());
    };
    if !ok {
        return Err(wrong());
    }
    super::limits::login_succeeded(conn, limit_keys, &subject, client)?;
    let issued = db::write_tx(conn, |conn| {
        let fresh = queries::find_user(conn, &user.id)?.ok_or(ApiError::NotFound)?;
        if fresh.disabled {
            return Ok(None);
        }
        let family = uuid::Uuid::now_v7().to_string();
        issue_tokens(ctx, conn, jwt, &fresh, &family).map(Some)
    })?;
    issued.ok_or_else(wrong)
}

/// Exchanges a refresh token for a new pair; the old one dies. Presenting a dead one again
/// revokes the whole login (family): somebody holds a stolen copy.
pub fn refresh(
    ctx: &Ctx,
    conn: &mut DbConn,
    jwt: &JwtKeys,
    refresh_token: &str,
) -> Result<Tokens, ApiError> {
    let now = ctx.now.naive_utc();
    let issued = db::write_tx(conn, |conn| {
        let Some(t) = queries::find_refresh_token(conn, &sha256_hex(refresh_token))? else {
            return Ok(None);
        };
        if t.revoked_at.is_some() || t.rotated_at.is_some() {
            queries::revoke_family(conn, &t.family_id, now)?;
            return Ok(None);
        }
        if t.expires_at <= now {
            return Ok(None);
        }
        let user = queries::find_user(conn, &t.user_id)?.ok_or(ApiError::NotFound)?;
        if user.disabled || !queries::rotate_refresh_token(conn, &t.id, now)? {
            queries::revoke_family(conn, &t.family_id, now)?;
            return Ok(None);
        }
        issue_tokens(ctx, conn, jwt, &user, &t.family_id).map(Some)
    })?;
    issued.ok_or_else(|| ApiError::Unauthorized("refresh token is not valid".into()))
}

/// Logs out: revokes the refresh token's whole family (an unknown token is no error).
pub fn logout(ctx: &Ctx, conn: &mut DbConn, refresh_token: &str) -> Result<(), ApiError> {
    db::write_tx(conn, |conn| {
        if let Some(t) = queries::find_refresh_token(conn, &sha256_hex(refresh_token))? {
            queries::revoke_family(conn, &t.family_id, ctx.now.naive_utc())?;
        }
        Ok(())
    })
}

/// Mails a password-reset link to the account behind `email`, if there is an active one and
/// it got fewer than `auth.reset_mails_per_hour` in the last hour (counted in the database, so
/// the limit holds across instances). The outcome is not reported: the answer must not reveal
/// which addresses have accounts, so known and unknown addresses run the same queries.
pub fn request_password_reset(ctx: &Ctx, conn: &mut DbConn, email: &str) -> Result<(), ApiError> {
    // API.md: this route answers 202 always. An address longer than any account's matches
    // none: nothing is looked up, stored or sent.
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Ok(());
    }
    let email = validate::normalize_email(email);
    // A malformed address simply matches no account.
    if !validate::is_email(&email) {
        return Ok(());
    }
    let since = (ctx.now - Duration::hours(1)).naive_utc();
    db::write_tx(conn, |conn| {
        let user = queries::find_user_by_email(conn, &email)?;
        let user_id = user.as_ref().map(|u| u.id.as_str()).unwrap_or_default();
        let recent = queries::count_one_time_tokens_since(
            conn,
            user_id,
            TokenPurpose::PasswordReset,
            since,
        )?;
        let Some(user) = user else {
            return Ok(());
        };
        if user.disabled || recent >= ctx.settings.auth.reset_mails_per_hour {
            return Ok(());
        }
        let token = new_one_time_token(
            ctx,
            conn,
            &user.id,
            TokenPurpose::PasswordReset,
            Duration::minutes(ctx.settings.auth.password_reset_minutes),
        )?;
        notify::send(
            conn,
            &user.email,
            &templates::PasswordReset {
                public_url: &ctx.settings.server.public_url,
                display_name: &user.display_name,
                token: &token,
            },
            ctx.now,
        )
    })
}

/// Sets a new password with the token from the reset mail (`new_password` names the field).
pub fn confirm_password_reset(
    ctx: &Ctx,
    conn: &mut DbConn,
    gate: &Argon2Gate,
    token: &str,
    new_password: &str,
) -> Result<(), ApiError> {
    set_password_with_token(
        ctx,
        conn,
        gate,
        token,
        new_password,
        "new_password",
        TokenPurpose::PasswordReset,
    )
}

/// Sets the first password of an invited account with the token from the invitation.
pub fn accept_invitation(
    ctx: &Ctx,
    conn: &mut DbConn,
    gate: &Argon2Gate,
    token: &str,
    password: &str,
) -> Result<(), ApiError> {
    set_password_with_token(
        ctx,
        conn,
        gate,
        token,
        password,
        "password",
        TokenPurpose::Invitation,
    )
}

/// What the mailed link with `token` of `purpose` is worth now (read only: the pages behind
/// the links show it before anything is done, and say why a use failed).
pub fn link_state(
    ctx: &Ctx,
    conn: &mut DbConn,
    purpose: TokenPurpose,
    token: &str,
) -> Result<LinkState, ApiError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Ok(LinkState::Unknown);
    }
    let found = queries::one_time_token_times(conn, &sha256_hex(token), purpose)?;
    Ok(LinkState::of(found, ctx.now.naive_utc()))
}

/// Sets a new password from a one-time token of `purpose`; every existing token of the user
/// stops working (token version bumped, refresh tokens revoked, every other outstanding reset
/// or invitation token used up).
fn set_password_with_token(
    ctx: &Ctx,
    conn: &mut DbConn,
    gate: &Argon2Gate,
    token: &str,
    password: &str,
    password_field: &'static str,
    purpose: TokenPurpose,
) -> Result<(), ApiError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(invalid_token());
    }
    bounded(&[(password_field, password, MAX_PASSWORD_CHARS)])?;
    let now = ctx.now.naive_utc();
    let hash = sha256_hex(token);
    // Look first (without consuming) so a bad password doesn't burn the token.
    let user = match queries::live_one_time_token_user(conn, &hash, purpose, now)? {
        Some(uid) => queries::find_user(conn, &uid)?,
        None => None,
    }
    .ok_or_else(invalid_token)?;
    check_password_rule(password, &user.email).map_err(|m| ApiError::field(password_field, m))?;
    let phc = gate.hash(password)?;
    db::write_tx(conn, |conn| {
        let t = queries::consume_one_time_token(conn, &hash, purpose, now)?
            .ok_or_else(invalid_token)?;
        queries::set_password(conn, &t.user_id, &phc, now)?;
        queries::use_up_one_time_tokens(
            conn,
            &t.user_id,
            &[TokenPurpose::PasswordReset, TokenPurpose::Invitation],
            now,
        )?;
        queries::revoke_user_refresh_tokens(conn, &t.user_id, now)?;
        // Receiving the mail proves the address.
        queries::set_email_verified(conn, &t.user_id, now)?;
        let actor = Actor {
            id: Some(&t.user_id),
            role: None,
        };
        let action = match purpose {
            TokenPurpose::Invitation => "user.invitation_accepted",
            TokenPurpose::PasswordReset | TokenPurpose::VerifyEmail => "user.password_reset",
        };
        audit_system(
            conn, actor, action, "user", &t.user_id, None, None, None, ctx,
        )
    })
}

/// The caller's own account.
/// `landx crypto rehash` for accounts: a phone stored in clear (before phones were
/// encrypted) or under another key id is re-encrypted with `key`. One write transaction;
/// the number of accounts rewritten.
pub fn reencrypt_phones(conn: &mut DbConn, key: &DataKey) -> Result<usize, ApiError> {
    db::write_tx(conn, |conn| {
        let mut done = 0;
        for (id, stored) in db::accounts::phones(conn)? {
            if !key.is_stale(&stored) {
                continue;
            }
            let clear = key.decrypt(&stored).unwrap_or(stored);
            db::accounts::set_phone(conn, &id, &key.encrypt(&clear))?;
            done += 1;
        }
        Ok(done)
    })
}

pub fn me(ctx: &Ctx, conn: &mut DbConn) -> Result<User, ApiError> {
    let caller = ctx.caller()?;
    queries::find_user(conn, &caller.id)?.ok_or(ApiError::NotFound)
}

/// 403 unless the caller is an admin; the platform itself (no caller: the command line) may.
fn require_admin(ctx: &Ctx) -> Result<(), ApiError> {
    match &ctx.caller {
        Some(c) => c.require_admin(),
        None => Ok(()),
    }
}

/// Creates an account (admin, or the command line). With a password it is ready to use (the
/// admin vouches for the address); without one the owner gets an invitation to set it.
pub fn create_user(ctx: &Ctx, conn: &mut DbConn, a: NewAccount) -> Result<User, ApiError> {
    require_admin(ctx)?;
    let email = validate::normalize_email(&a.email);
    let mut errors = profile_errors(
        &a.email,
        &email,
        a.password.as_deref(),
        &a.display_name,
        a.phone.as_deref(),
    );
    for field in org_mismatches(
        a.role,
        a.village_id.is_some(),
        a.township_id.is_some(),
        a.insurer_id.is_some(),
    ) {
        let msg = if a.role.required_org().map(|o| o.field()) == Some(field) {
            format!("required for role `{}`", a.role.as_str())
        } else {
            format!("not allowed for role `{}`", a.role.as_str())
        };
        errors.push(FieldError::new(field, msg));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let phc = a.password.as_deref().map(hash_password);
    db::write_tx(conn, |conn| {
        // The organisation must exist.
        let missing = match a.role {
            Role::Collective => {
                queries::find_village(conn, a.village_id.as_deref().unwrap_or_default())?
                    .is_none()
                    .then_some("village_id")
            }
            Role::Staff => {
                queries::find_township(conn, a.township_id.as_deref().unwrap_or_default())?
                    .is_none()
                    .then_some("township_id")
            }
            Role::Insurer => {
                queries::find_insurer(conn, a.insurer_id.as_deref().unwrap_or_default())?
                    .is_none()
                    .then_some("insurer_id")
            }
            Role::Admin | Role::Investor => None,
        };
        if let Some(field) = missing {
            return Err(ApiError::field(field, "no such organisation"));
        }
        if queries::email_taken(conn, &email)? {
            return Err(email_taken());
        }
        let invited = phc.is_none();
        let user = User::new(
            NewUser {
                email,
                password_hash: phc,
                display_name: a.display_name.trim().to_string(),
                // Personal data: stored encrypted, like registrations' phones.
                phone: a.phone.map(|p| ctx.data_key.encrypt(&p)),
                role: a.role,
                village_id: a.village_id,
                township_id: a.township_id,
                insurer_id: a.insurer_id,
                // An admin vouches for the address it typed; an invitation proves it on accept.
                email_verified: !invited,
            },
            ctx.now,
        );
        queries::insert_user(conn, &user)?;
        if invited {
            let token = new_one_time_token(
                ctx,
                conn,
                &user.id,
                TokenPurpose::Invitation,
                Duration::days(ctx.settings.auth.invitation_days),
            )?;
            notify::send(
                conn,
                &user.email,
                &templates::Invitation {
                    public_url: &ctx.settings.server.public_url,
                    display_name: &user.display_name,
                    role: user.role,
                    token: &token,
                },
                ctx.now,
            )?;
        }
        audit_system(
            conn,
            ctx.actor(),
            if invited {
                "user.invited"
            } else {
                "user.created"
            },
            "user",
            &user.id,
            None,
            Some(AccountState::Active),
            a.reason.as_deref(),
            ctx,
        )?;
        Ok(user)
    })
}

/// Accounts (admin), oldest first: `limit + 1` rows of the page.
pub fn list_users(
    ctx: &Ctx,
    conn: &mut DbConn,
    filter: &UserFilter,
    page: &PageReq,
) -> Result<Vec<User>, ApiError> {
    require_admin(ctx)?;
    Ok(queries::list_users(conn, filter, page)?)
}

/// One account: admins see any, everyone else only their own (others are 404, not 403).
pub fn get_user(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<User, ApiError> {
    let caller = ctx.caller()?;
    if !caller.is(Role::Admin) && caller.id != id {
        return Err(ApiError::NotFound);
    }
    queries::find_user(conn, id)?.ok_or(ApiError::NotFound)
}

/// The check of [`disable_user`] that comes before the request body is read: non-admins may
/// know only that their own account exists (404 for others, 403 for themselves).
pub fn may_disable(ctx: &Ctx, id: &str) -> Result<(), ApiError> {
    let caller = ctx.caller()?;
    if caller.is(Role::Admin) {
        return Ok(());
    }
    Err(if caller.id == id {
        ApiError::Forbidden("only an admin may disable accounts".into())
    } else {
        ApiError::NotFound
    })
}

/// Disables an account (admin): its tokens stop working at once. Disabling a disabled
/// account changes nothing; an admin cannot disable itself (409).
pub fn disable_user(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<User, ApiError> {
    may_disable(ctx, id)?;
    if ctx.caller()?.id == id {
        return Err(ApiError::InvalidState(
            "an admin cannot disable its own account".into(),
        ));
    }
    let now = ctx.now.naive_utc();
    db::write_tx(conn, |conn| {
        let user = queries::find_user(conn, id)?.ok_or(ApiError::NotFound)?;
        if user.disabled {
            return Ok(user);
        }
        queries::disable_user(conn, id, now)?;
        queries::revoke_user_refresh_tokens(conn, id, now)?;
        audit_system(
            conn,
            ctx.actor(),
            "user.disabled",
            "user",
            id,
            Some(AccountState::of(user.disabled)),
            Some(AccountState::Disabled),
            None,
            ctx,
        )?;
        queries::find_user(conn, id)?.ok_or(ApiError::NotFound)
    })
}
