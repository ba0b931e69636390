//! Rows of the `Idempotency-Key` middleware (`crate::idempotency`): one per (user, key),
//! claimed before the request runs and completed with its response.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys as ik;
use super::{DbConn, QResult};

/// A key as stored: the request it was first used for and, once finished, its response.
#[derive(Debug, Clone, Queryable)]
pub struct StoredKey {
    pub path: String,
    pub request_hash: String,
    /// `None` while the first request is still running.
    pub status: Option<i64>,
    pub response_body: Option<String>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Claims (user, key) for a request; `false` when the key exists already.
pub fn insert_claim(
    conn: &mut DbConn,
    user: &str,
    key: &str,
    path: &str,
    request_hash: &str,
    now: NaiveDateTime,
) -> QResult<bool> {
    let row = (
        ik::user_id.eq(user),
        ik::key.eq(key),
        ik::method.eq("POST"),
        ik::path.eq(path),
        ik::request_hash.eq(request_hash),
        ik::created_at.eq(now),
    );
    let inserted = crate::db_run!(conn: {
        diesel::insert_into(ik::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(conn)?
    });
    Ok(inserted == 1)
}

pub fn find_key(conn: &mut DbConn, user: &str, key: &str) -> QResult<Option<StoredKey>> {
    ik::table
        .find((user, key))
        .select((
            ik::path,
            ik::request_hash,
            ik::status,
            ik::response_body,
            ik::content_type,
            ik::location,
            ik::created_at,
        ))
        .first(conn)
        .optional()
}

/// Takes over an unfinished claim made at `created` (its request was abandoned); `false`
/// when another request took it over or finished it first.
pub fn take_over(
    conn: &mut DbConn,
    user: &str,
    key: &str,
    created: NaiveDateTime,
    now: NaiveDateTime,
) -> QResult<bool> {
    let n = diesel::update(
        ik::table
            .find((user, key))
            .filter(ik::status.is_null())
            .filter(ik::created_at.eq(created)),
    )
    .set(ik::created_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Completes a claim with the response to replay.
pub fn store_response(
    conn: &mut DbConn,
    user: &str,
    key: &str,
    status: u16,
    body: &str,
    content_type: Option<&str>,
    location: Option<&str>,
) -> QResult<()> {
    diesel::update(ik::table.find((user, key)))
        .set((
            ik::status.eq(Some(status as i64)),
            ik::response_body.eq(Some(body)),
            ik::content_type.eq(content_type),
            ik::location.eq(location),
        ))
        .execute(conn)?;
    Ok(())
}

/// Drops an unfinished claim (its request failed), so a retry runs afresh.
pub fn release(conn: &mut DbConn, user: &str, key: &str) -> QResult<()> {
    diesel::delete(ik::table.find((user, key)).filter(ik::status.is_null())).execute(conn)?;
    Ok(())
}

/// Deletes keys created before `horizon`.
pub fn purge_before(conn: &mut DbConn, horizon: NaiveDateTime) -> QResult<usize> {
    diesel::delete(ik::table.filter(ik::created_at.lt(horizon))).execute(conn)
}
