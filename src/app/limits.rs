//! The auth routes' limits, kept in the database so they hold for the whole deployment: every
//! instance behind the load balancer counts against the same rows, so three instances don't
//! triple a limit. The per-client sliding minute of login, register and the password-reset
//! routes (`auth.ip_attempts_per_minute`), and the failed-login throttle per account and
//! client (`auth.max_failed_logins`). The rules are `crate::auth::ratelimit`'s; each check is
//! one short write transaction that first takes its key's row, so concurrent attempts on one
//! key, from any instance, are decided one after another and none sees a stale count.

use chrono::{DateTime, Duration, Utc};

use super::Ctx;
use crate::auth::ratelimit::{self, Failures, LimitKeys};
use crate::db::limits::{self as rows, LoginFailures};
use crate::db::{self, DbConn};
use crate::error::ApiError;

/// Rows the worker deletes per table and pass, so one pass stays short however many piled up.
pub const PURGE_BATCH: i64 = 1000;

/// A client unseen this long has nothing left in its window (a minute to spare).
const CLIENT_KEEP_SECS: i64 = 2 * ratelimit::WINDOW_SECS;

fn rate_limited(retry_after_secs: u64) -> ApiError {
    ApiError::RateLimited { retry_after_secs }
}

/// Counts an attempt of `client` (its throttling key, `ratelimit::client_key`) on a limited
/// route; 429 while its window is full (a refused attempt is not counted).
pub fn admit_client(
    ctx: &Ctx,
    conn: &mut DbConn,
    keys: &LimitKeys,
    client: &str,
) -> Result<(), ApiError> {
    let key = keys.client(client);
    let now = ctx.now;
    let per_minute = ctx.settings.auth.ip_attempts_per_minute;
    let admitted = db::write_tx(conn, |conn| {
        rows::take_client(conn, &key, now.naive_utc())?;
        let buckets = rows::client_hits(conn, &key)?;
        // Buckets that left the window go now, so a busy client never holds more than 61.
        let floor = ratelimit::window_floor(now);
        if buckets.iter().any(|(bucket, _)| *bucket < floor) {
            rows::drop_client_hits_before(conn, &key, floor)?;
        }
        let admitted = ratelimit::admit(&buckets, now, per_minute);
        if admitted.is_ok() {
            rows::add_client_hit(conn, &key, ratelimit::bucket_of(now))?;
        }
        Ok(admitted)
    })?;
    admitted.map_err(rate_limited)
}

/// Counts a login attempt of `subject` (an account, or an address without one) from `client`
/// before its password is checked; 429 while the pair is locked (see
/// `ratelimit::count_attempt`).
pub fn count_login_attempt(
    ctx: &Ctx,
    conn: &mut DbConn,
    keys: &LimitKeys,
    subject: &str,
    client: &str,
) -> Result<(), ApiError> {
    let key = keys.login(subject, client);
    let now = ctx.now;
    let max = ctx.settings.auth.max_failed_logins;
    let counted = db::write_tx(conn, |conn| {
        // A new pair's row starts with no failures, which counts like no row at all.
        let before = failures(rows::take_login(conn, &key, now.naive_utc())?);
        let counted = ratelimit::count_attempt(Some(&before), now, max);
        if let Ok(after) = &counted {
            rows::save_login(conn, &key, &stored(after))?;
        }
        Ok(counted.map(|_| ()))
    })?;
    counted.map_err(rate_limited)
}

/// A correct password: the pair starts again from zero.
pub fn login_succeeded(
    conn: &mut DbConn,
    keys: &LimitKeys,
    subject: &str,
    client: &str,
) -> Result<(), ApiError> {
    Ok(rows::clear_login(conn, &keys.login(subject, client))?)
}

/// Forgets what no longer counts (called by the worker): clients unseen for two minutes with
/// their buckets, and pairs whose last attempt is older than `ratelimit::FORGET_AFTER_HOURS`
/// (their count would start afresh and no lock lasts that long), at most [`PURGE_BATCH`] of
/// each per pass. Returns the rows deleted (a client's buckets not included).
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let clients_before = now - Duration::seconds(CLIENT_KEEP_SECS);
    let logins_before = now - Duration::hours(ratelimit::FORGET_AFTER_HOURS);
    let clients = rows::purge_clients(conn, clients_before.naive_utc(), PURGE_BATCH)?;
    let logins = rows::purge_logins(conn, logins_before.naive_utc(), PURGE_BATCH)?;
    Ok(clients + logins)
}

fn failures(row: LoginFailures) -> Failures {
    Failures {
        count: row.failures,
        locked_until: row.locked_until.map(|t| t.and_utc()),
        last: row.last_at.and_utc(),
    }
}

fn stored(f: &Failures) -> LoginFailures {
    LoginFailures {
        failures: f.count,
        locked_until: f.locked_until.map(|t| t.naive_utc()),
        last_at: f.last.naive_utc(),
    }
}
