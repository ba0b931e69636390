//! Accounts, their refresh tokens and one-time tokens: rows in, rows out.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::crypto::DataKey;
use crate::domain::account::TokenPurpose;
use crate::domain::roles::Role;

use super::models::*;
use super::queries::PageReq;
use super::schema::*;
use super::{DbConn, QResult};

// ---- users ---------------------------------------------------------------------------------

/// What a new account is made of; everything else of the row starts the same for every
/// account (see [`User::new`]).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
    pub email_verified: bool,
}

impl User {
    /// The one place an account row is built: active, unlocked, token version 0.
    pub fn new(n: NewUser, now: DateTime<Utc>) -> User {
        User {
            id: uuid::Uuid::now_v7().to_string(),
            email: n.email,
            password_hash: n.password_hash,
            display_name: n.display_name,
            phone: n.phone,
            role: n.role,
            village_id: n.village_id,
            township_id: n.township_id,
            insurer_id: n.insurer_id,
            email_verified: n.email_verified,
            disabled: false,
            token_version: 0,
            failed_logins: 0,
            locked_until: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        }
    }
}

impl User {
    /// The phone in clear: stored encrypted, or in clear by releases before phones were
    /// (a phone never contains `:`, and a plaintext phone doesn't decrypt).
    pub fn phone_in_clear(&self, key: &DataKey) -> Option<String> {
        self.phone
            .as_ref()
            .map(|p| key.decrypt(p).unwrap_or_else(|| p.clone()))
    }
}

/// (id, stored phone) of every account with a phone.
pub fn phones(conn: &mut DbConn) -> QResult<Vec<(String, String)>> {
    users::table
        .filter(users::phone.is_not_null())
        .select((users::id, users::phone.assume_not_null()))
        .order(users::id)
        .load(conn)
}

/// Rewrites an account's stored phone (its ciphertext); nothing else moves.
pub fn set_phone(conn: &mut DbConn, id: &str, phone: &str) -> QResult<()> {
    diesel::update(users::table.find(id))
        .set(users::phone.eq(Some(phone.to_string())))
        .execute(conn)?;
    Ok(())
}

pub fn insert_user(conn: &mut DbConn, u: &User) -> QResult<()> {
    diesel::insert_into(users::table)
        .values(u.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find_user(conn: &mut DbConn, id: &str) -> QResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .get_result(conn)
        .optional()
}

/// The account behind an access token (a primary-key read of the few columns a caller needs).
pub fn find_account(conn: &mut DbConn, id: &str) -> QResult<Option<Account>> {
    // As `db::listings::find_listing`: by primary key (no `LIMIT ?`), on the backend's own
    // connection (every signed-in request runs it).
    crate::db_run!(conn: {
        users::table
            .find(id)
            .select(Account::as_select())
            .get_result(conn)
            .optional()
    })
}

pub fn find_user_by_email(conn: &mut DbConn, email: &str) -> QResult<Option<User>> {
    users::table
        .filter(users::email.eq(email.to_string()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn email_taken(conn: &mut DbConn, email: &str) -> QResult<bool> {
    Ok(find_user_by_email(conn, email)?.is_some())
}

pub fn any_admin(conn: &mut DbConn) -> QResult<bool> {
    let n: i64 = users::table
        .filter(users::role.eq("admin"))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Filters of the admin's account list (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
}

pub fn list_users(conn: &mut DbConn, f: &UserFilter, page: &PageReq) -> QResult<Vec<User>> {
    let mut q = users::table
        .select(User::as_select())
        .order(users::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(users::id.gt(after.clone()));
    }
    if let Some(r) = f.role {
        q = q.filter(users::role.eq(r.as_str()));
    }
    if let Some(v) = &f.village_id {
        q = q.filter(users::village_id.eq(v.clone()));
    }
    if let Some(t) = &f.township_id {
        q = q.filter(users::township_id.eq(t.clone()));
    }
    if let Some(i) = &f.insurer_id {
        q = q.filter(users::insurer_id.eq(i.clone()));
    }
    q.load(conn)
}

pub fn set_password(conn: &mut DbConn, id: &str, phc: &str, now: NaiveDateTime) -> QResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(Some(phc.to_string())),
            users::token_version.eq(users::token_version + 1),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_email_verified(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QResult<()> {
    diesel::update(users::table.find(id))
        .set((users::email_verified.eq(true), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn disable_user(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::disabled.eq(true),
            users::token_version.eq(users::token_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

// ---- refresh tokens ------------------------------------------------------------------------

impl RefreshToken {
    /// The one place a refresh-token row is built: live for `ttl`, stored only as its hash.
    pub fn new(
        user_id: &str,
        family_id: &str,
        token_hash: String,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> RefreshToken {
        RefreshToken {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.into(),
            family_id: family_id.into(),
            token_hash,
            expires_at: (now + ttl).naive_utc(),
            created_at: now.naive_utc(),
            rotated_at: None,
            revoked_at: None,
        }
    }
}

pub fn insert_refresh_token(conn: &mut DbConn, t: &RefreshToken) -> QResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

pub fn find_refresh_token(conn: &mut DbConn, hash: &str) -> QResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash.to_string()))
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()
}

/// Marks a live token rotated; false if somebody else rotated or revoked it first.
pub fn rotate_refresh_token(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QResult<bool> {
    let n = diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn revoke_family(conn: &mut DbConn, family: &str, now: NaiveDateTime) -> QResult<()> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family.to_string()))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

pub fn revoke_user_refresh_tokens(
    conn: &mut DbConn,
    user: &str,
    now: NaiveDateTime,
) -> QResult<()> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user.to_string()))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

// ---- one-time tokens -----------------------------------------------------------------------

impl OneTimeToken {
    /// The one place a one-time-token row is built: unused, live for `ttl`, stored only as
    /// its hash.
    pub fn new(
        user_id: &str,
        purpose: TokenPurpose,
        token_hash: String,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> OneTimeToken {
        OneTimeToken {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.into(),
            purpose: purpose.as_str().into(),
            token_hash,
            expires_at: (now + ttl).naive_utc(),
            used_at: None,
            created_at: now.naive_utc(),
        }
    }
}

/// The owner of a live (unused, unexpired) token of `purpose`, without consuming it.
pub fn live_one_time_token_user(
    conn: &mut DbConn,
    hash: &str,
    purpose: TokenPurpose,
    now: NaiveDateTime,
) -> QResult<Option<String>> {
    let row: Option<(String, NaiveDateTime, Option<NaiveDateTime>)> = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash))
        .filter(one_time_tokens::purpose.eq(purpose.as_str()))
        .select((
            one_time_tokens::user_id,
            one_time_tokens::expires_at,
            one_time_tokens::used_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((uid, exp, None)) if exp > now => Some(uid),
        _ => None,
    })
}

/// The expiry and use of the token of `purpose` with this hash, if there is one.
pub fn one_time_token_times(
    conn: &mut DbConn,
    hash: &str,
    purpose: TokenPurpose,
) -> QResult<Option<(NaiveDateTime, Option<NaiveDateTime>)>> {
    one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash))
        .filter(one_time_tokens::purpose.eq(purpose.as_str()))
        .select((one_time_tokens::expires_at, one_time_tokens::used_at))
        .first(conn)
        .optional()
}

pub fn insert_one_time_token(conn: &mut DbConn, t: &OneTimeToken) -> QResult<()> {
    diesel::insert_into(one_time_tokens::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

/// Consumes a live token of `purpose`: marks it used and returns it, or `None` when it is
/// unknown, expired or already used (the conditional update makes use single under races).
pub fn consume_one_time_token(
    conn: &mut DbConn,
    hash: &str,
    purpose: TokenPurpose,
    now: NaiveDateTime,
) -> QResult<Option<OneTimeToken>> {
    let Some(t) = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash.to_string()))
        .filter(one_time_tokens::purpose.eq(purpose.as_str()))
        .select(OneTimeToken::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if t.used_at.is_some() || t.expires_at <= now {
        return Ok(None);
    }
    let n = diesel::update(
        one_time_tokens::table
            .find(&t.id)
            .filter(one_time_tokens::used_at.is_null()),
    )
    .set(one_time_tokens::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok((n == 1).then_some(t))
}

/// Marks every unused token of `user_id` with one of `purposes` used (a password set by one
/// of them kills the others).
pub fn use_up_one_time_tokens(
    conn: &mut DbConn,
    user_id: &str,
    purposes: &[TokenPurpose],
    now: NaiveDateTime,
) -> QResult<()> {
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    diesel::update(
        one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(user_id.to_string()))
            .filter(one_time_tokens::purpose.eq_any(purposes))
            .filter(one_time_tokens::used_at.is_null()),
    )
    .set(one_time_tokens::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

/// How many tokens of `purpose` were issued to `user_id` since `since` (used or not).
pub fn count_one_time_tokens_since(
    conn: &mut DbConn,
    user_id: &str,
    purpose: TokenPurpose,
    since: NaiveDateTime,
) -> QResult<i64> {
    one_time_tokens::table
        .filter(one_time_tokens::user_id.eq(user_id.to_string()))
        .filter(one_time_tokens::purpose.eq(purpose.as_str()))
        .filter(one_time_tokens::created_at.gt(since))
        .count()
        .get_result(conn)
}

/// Active accounts of a role in an organisation (for notifications).
pub fn org_members(
    conn: &mut DbConn,
    role: &str,
    village_id: Option<&str>,
    township_id: Option<&str>,
) -> QResult<Vec<User>> {
    let mut q = users::table
        .filter(users::role.eq(role.to_string()))
        .filter(users::disabled.eq(false))
        .select(User::as_select())
        .into_boxed();
    if let Some(v) = village_id {
        q = q.filter(users::village_id.eq(v.to_string()));
    }
    if let Some(t) = township_id {
        q = q.filter(users::township_id.eq(t.to_string()));
    }
    q.load(conn)
}
