//! Rows of the auth routes' limits (`crate::app::limits`): a client's window (a lock row and
//! per-second buckets) and the failed logins of (account or address, client) pairs. Keys are
//! HMAC digests made by the caller; nothing here sees an address or an e-mail.
//!
//! Each "take" below is an upsert: on PostgreSQL it leaves the row locked until the caller's
//! transaction ends, so concurrent attempts on one key (from any instance) are counted one
//! after another; on SQLite the write transaction (`BEGIN IMMEDIATE`) serialises them anyway.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{limit_client_hits as hits, limit_clients as clients, limit_logins as logins};
use super::{DbConn, QResult};

/// Creates or refreshes the client's row, locking it for the rest of the transaction.
pub fn take_client(conn: &mut DbConn, key_hash: &str, now: NaiveDateTime) -> QResult<()> {
    let row = (clients::key_hash.eq(key_hash), clients::seen_at.eq(now));
    crate::db_run!(conn: {
        diesel::insert_into(clients::table)
            .values(row)
            .on_conflict(clients::key_hash)
            .do_update()
            .set(clients::seen_at.eq(now))
            .execute(conn)?
    });
    Ok(())
}

/// The client's buckets as `(bucket, hits)`, older ones included.
pub fn client_hits(conn: &mut DbConn, key_hash: &str) -> QResult<Vec<(i64, i64)>> {
    hits::table
        .filter(hits::key_hash.eq(key_hash))
        .select((hits::bucket, hits::hits))
        .load(conn)
}

/// Drops the client's buckets before `floor` (out of its window).
pub fn drop_client_hits_before(conn: &mut DbConn, key_hash: &str, floor: i64) -> QResult<usize> {
    diesel::delete(
        hits::table
            .filter(hits::key_hash.eq(key_hash))
            .filter(hits::bucket.lt(floor)),
    )
    .execute(conn)
}

/// Counts one attempt in the client's `bucket`.
pub fn add_client_hit(conn: &mut DbConn, key_hash: &str, bucket: i64) -> QResult<()> {
    let row = (
        hits::key_hash.eq(key_hash),
        hits::bucket.eq(bucket),
        hits::hits.eq(1i64),
    );
    crate::db_run!(conn: {
        diesel::insert_into(hits::table)
            .values(row)
            .on_conflict((hits::key_hash, hits::bucket))
            .do_update()
            .set(hits::hits.eq(hits::hits + 1i64))
            .execute(conn)?
    });
    Ok(())
}

/// Deletes at most `batch` rows of a limits table whose `time` column is before `horizon`:
/// their keys are read first and the delete checks `time` again, so a row refreshed meanwhile
/// (by an attempt on any instance; PostgreSQL re-reads a row it waited for) is kept.
macro_rules! purge_before {
    ($conn:ident, $table:ident, $time:ident, $horizon:ident, $batch:ident) => {{
        let stale: Vec<String> = $table::table
            .select($table::key_hash)
            .filter($table::$time.lt($horizon))
            .order($table::$time)
            .limit($batch)
            .load($conn)?;
        if stale.is_empty() {
            return Ok(0);
        }
        diesel::delete(
            $table::table
                .filter($table::key_hash.eq_any(stale))
                .filter($table::$time.lt($horizon)),
        )
        .execute($conn)
    }};
}

/// Deletes at most `batch` clients unseen since `horizon`, with their buckets (the foreign key
/// cascades).
pub fn purge_clients(conn: &mut DbConn, horizon: NaiveDateTime, batch: i64) -> QResult<usize> {
    purge_before!(conn, clients, seen_at, horizon, batch)
}

/// A pair's failed logins as stored.
#[derive(Debug, Clone, Queryable)]
pub struct LoginFailures {
    pub failures: i64,
    pub locked_until: Option<NaiveDateTime>,
    pub last_at: NaiveDateTime,
}

/// The pair's row, created empty (no failures, last attempt `now`) when absent, and locked for
/// the rest of the transaction.
pub fn take_login(conn: &mut DbConn, key_hash: &str, now: NaiveDateTime) -> QResult<LoginFailures> {
    let row = (
        logins::key_hash.eq(key_hash),
        logins::failures.eq(0i64),
        logins::locked_until.eq(None::<NaiveDateTime>),
        logins::last_at.eq(now),
    );
    let columns = (logins::failures, logins::locked_until, logins::last_at);
    let taken = crate::db_run!(conn: {
        diesel::insert_into(logins::table)
            .values(row)
            .on_conflict(logins::key_hash)
            .do_update()
            // A write that changes nothing: it only takes the row's lock.
            .set(logins::last_at.eq(logins::last_at))
            .returning(columns)
            .get_result(conn)?
    });
    Ok(taken)
}

/// Stores the pair's failures.
pub fn save_login(conn: &mut DbConn, key_hash: &str, f: &LoginFailures) -> QResult<()> {
    diesel::update(logins::table.find(key_hash))
        .set((
            logins::failures.eq(f.failures),
            logins::locked_until.eq(f.locked_until),
            logins::last_at.eq(f.last_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets the pair (a correct password).
pub fn clear_login(conn: &mut DbConn, key_hash: &str) -> QResult<()> {
    diesel::delete(logins::table.find(key_hash)).execute(conn)?;
    Ok(())
}

/// Deletes at most `batch` pairs whose last attempt was before `horizon`.
pub fn purge_logins(conn: &mut DbConn, horizon: NaiveDateTime, batch: i64) -> QResult<usize> {
    purge_before!(conn, logins, last_at, horizon, batch)
}
