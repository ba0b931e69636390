//! Queries: they only move rows. Scope and rule checks happen before they are called.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::*;
use super::schema::*;
use super::DbConn;

use super::QResult;

/// Keyset page: rows with id greater than the cursor, in id order (ids are UUIDv7, so this is
/// creation order and stable under inserts). Fetches one extra row to know if more follow.
pub struct PageReq {
    pub after: Option<String>,
    pub limit: i64,
}

// ---- organisations -------------------------------------------------------------------------

pub fn insert_township(conn: &mut DbConn, t: &Township) -> QResult<()> {
    diesel::insert_into(townships::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

pub fn find_township(conn: &mut DbConn, id: &str) -> QResult<Option<Township>> {
    Ok(townships::table
        .find(id)
        .select(Township::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_townships(conn: &mut DbConn, page: &PageReq) -> QResult<Vec<Township>> {
    let mut q = townships::table
        .select(Township::as_select())
        .order(townships::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(townships::id.gt(after.clone()));
    }
    Ok(q.load(conn)?)
}

pub fn insert_village(conn: &mut DbConn, v: &Village) -> QResult<()> {
    diesel::insert_into(villages::table)
        .values(v)
        .execute(conn)?;
    Ok(())
}

pub fn find_village(conn: &mut DbConn, id: &str) -> QResult<Option<Village>> {
    Ok(villages::table
        .find(id)
        .select(Village::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_villages(conn: &mut DbConn, township: &str, page: &PageReq) -> QResult<Vec<Village>> {
    let mut q = villages::table
        .filter(villages::township_id.eq(township.to_string()))
        .select(Village::as_select())
        .order(villages::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(villages::id.gt(after.clone()));
    }
    Ok(q.load(conn)?)
}

pub fn insert_insurer(conn: &mut DbConn, i: &Insurer) -> QResult<()> {
    diesel::insert_into(insurers::table)
        .values(i)
        .execute(conn)?;
    Ok(())
}

pub fn find_insurer(conn: &mut DbConn, id: &str) -> QResult<Option<Insurer>> {
    Ok(insurers::table
        .find(id)
        .select(Insurer::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_insurers(conn: &mut DbConn, page: &PageReq) -> QResult<Vec<Insurer>> {
    let mut q = insurers::table
        .select(Insurer::as_select())
        .order(insurers::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(insurers::id.gt(after.clone()));
    }
    Ok(q.load(conn)?)
}

// ---- users ---------------------------------------------------------------------------------

pub fn insert_user(conn: &mut DbConn, u: &User) -> QResult<()> {
    diesel::insert_into(users::table)
        .values(u.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find_user(conn: &mut DbConn, id: &str) -> QResult<Option<User>> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_user_by_email(conn: &mut DbConn, email: &str) -> QResult<Option<User>> {
    Ok(users::table
        .filter(users::email.eq(email.to_string()))
        .select(User::as_select())
        .first(conn)
        .optional()?)
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

pub struct UserFilter {
    pub role: Option<String>,
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
    if let Some(r) = &f.role {
        q = q.filter(users::role.eq(r.clone()));
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
    Ok(q.load(conn)?)
}

pub fn set_login_failures(
    conn: &mut DbConn,
    id: &str,
    failures: i64,
    locked_until: Option<NaiveDateTime>,
) -> QResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(failures),
            users::locked_until.eq(locked_until),
        ))
        .execute(conn)?;
    Ok(())
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

pub fn insert_refresh_token(conn: &mut DbConn, t: &RefreshToken) -> QResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

pub fn find_refresh_token(conn: &mut DbConn, hash: &str) -> QResult<Option<RefreshToken>> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash.to_string()))
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()?)
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
    purpose: &str,
    now: NaiveDateTime,
) -> QResult<Option<OneTimeToken>> {
    let Some(t) = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash.to_string()))
        .filter(one_time_tokens::purpose.eq(purpose.to_string()))
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

// ---- outbox --------------------------------------------------------------------------------

pub fn insert_mail(conn: &mut DbConn, m: &OutboxMail) -> QResult<()> {
    diesel::insert_into(outbox::table).values(m).execute(conn)?;
    Ok(())
}

/// Claims up to `n` due mails for `claim` until `lease_until`. The claimable conditions are
/// repeated in the UPDATE so two instances racing for one row can't both win it.
pub fn claim_mail(
    conn: &mut DbConn,
    claim: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    n: i64,
) -> QResult<Vec<OutboxMail>> {
    let candidates: Vec<String> = outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::next_attempt_at.le(now))
        .filter(
            outbox::locked_until
                .is_null()
                .or(outbox::locked_until.lt(now)),
        )
        .order(outbox::next_attempt_at)
        .select(outbox::id)
        .limit(n)
        .load(conn)?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(&candidates))
            .filter(outbox::sent_at.is_null())
            .filter(
                outbox::locked_until
                    .is_null()
                    .or(outbox::locked_until.lt(now)),
            ),
    )
    .set((
        outbox::locked_by.eq(Some(claim.to_string())),
        outbox::locked_until.eq(Some(lease_until)),
    ))
    .execute(conn)?;
    Ok(outbox::table
        .filter(outbox::locked_by.eq(claim.to_string()))
        .filter(outbox::sent_at.is_null())
        .select(OutboxMail::as_select())
        .load(conn)?)
}

pub fn mark_mail_sent(conn: &mut DbConn, id: &str, claim: &str, now: NaiveDateTime) -> QResult<()> {
    diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::locked_by.eq(claim.to_string())),
    )
    .set((
        outbox::sent_at.eq(Some(now)),
        outbox::attempts.eq(outbox::attempts + 1),
        outbox::locked_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn mark_mail_failed(
    conn: &mut DbConn,
    id: &str,
    claim: &str,
    next_attempt: NaiveDateTime,
    error: &str,
) -> QResult<()> {
    diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::locked_by.eq(claim.to_string())),
    )
    .set((
        outbox::attempts.eq(outbox::attempts + 1),
        outbox::next_attempt_at.eq(next_attempt),
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::last_error.eq(Some(error.chars().take(500).collect::<String>())),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn list_mail(conn: &mut DbConn) -> QResult<Vec<OutboxMail>> {
    Ok(outbox::table
        .order(outbox::id)
        .select(OutboxMail::as_select())
        .load(conn)?)
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
    Ok(q.load(conn)?)
}
