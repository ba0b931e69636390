//! Rows of the `Idempotency-Key` middleware (`crate::idempotency`): one per (user, key),
//! claimed before the request runs, marked [`COMMITTED`] by the request's own write
//! transaction (the *fence*, see [`Fence`]), and completed with its response.
//!
//! A claim is identified by its `created_at` (truncated to microseconds, so it reads back
//! equal on both backends): a retry that takes an abandoned claim over gives it a new
//! `created_at`, and the first request's later writes to the row (fence, response, release)
//! then match nothing.

use std::cell::RefCell;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys as ik;
use super::{DbConn, QResult};
use crate::error::ApiError;

/// `status` of a claim whose action has committed but whose response is not stored yet (the
/// request is still answering, or its instance stopped in between). Never an HTTP status.
pub const COMMITTED: i64 = 0;

/// A key as stored: the request it was first used for and, once finished, its response.
#[derive(Debug, Clone, Queryable)]
pub struct StoredKey {
    pub path: String,
    pub request_hash: String,
    /// `None` while the first request is still running and has committed nothing;
    /// [`COMMITTED`] once its action committed; the HTTP status once answered.
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

/// Completes the claim made at `claimed` with the response to replay.
#[allow(clippy::too_many_arguments)]
pub fn store_response(
    conn: &mut DbConn,
    user: &str,
    key: &str,
    claimed: NaiveDateTime,
    status: u16,
    body: &str,
    content_type: Option<&str>,
    location: Option<&str>,
) -> QResult<()> {
    diesel::update(
        ik::table
            .find((user, key))
            .filter(ik::created_at.eq(claimed)),
    )
    .set((
        ik::status.eq(Some(status as i64)),
        ik::response_body.eq(Some(body)),
        ik::content_type.eq(content_type),
        ik::location.eq(location),
    ))
    .execute(conn)?;
    Ok(())
}

/// Drops the claim made at `claimed` if its request committed nothing (it failed), so a
/// retry runs afresh. A claim whose action committed stays: a retry must not run it again.
pub fn release(conn: &mut DbConn, user: &str, key: &str, claimed: NaiveDateTime) -> QResult<()> {
    diesel::delete(
        ik::table
            .find((user, key))
            .filter(ik::status.is_null())
            .filter(ik::created_at.eq(claimed)),
    )
    .execute(conn)?;
    Ok(())
}

/// Marks the claim made at `claimed` as [`COMMITTED`]; `false` when it is no longer this
/// request's (taken over by a retry, or purged) or already answered.
pub fn mark_committed(
    conn: &mut DbConn,
    user: &str,
    key: &str,
    claimed: NaiveDateTime,
) -> QResult<bool> {
    let n = diesel::update(
        ik::table
            .find((user, key))
            .filter(ik::created_at.eq(claimed))
            .filter(ik::status.is_null().or(ik::status.eq(COMMITTED))),
    )
    .set(ik::status.eq(Some(COMMITTED)))
    .execute(conn)?;
    Ok(n == 1)
}

// ---- the fence: a request's write transactions complete its claim -------------------------

/// The claim of the request being served: every write transaction that request commits
/// (`db::write_tx`, outermost level) ends by marking it [`COMMITTED`], so the action and the
/// mark commit together or not at all. A retry that finds the mark never runs the action
/// again, even if the response was never stored; and an action whose claim was taken over
/// meanwhile rolls back instead of committing a second time.
#[derive(Debug, Clone)]
pub struct Fence {
    pub user: String,
    pub key: String,
    pub claimed_at: NaiveDateTime,
}

tokio::task_local! {
    /// The fence of the request whose handler runs in this task (set by the middleware).
    static REQUEST_FENCE: Fence;
}

thread_local! {
    /// The fence of the database work running on this (blocking) thread (set by `db::run`).
    static THREAD_FENCE: RefCell<Option<Fence>> = const { RefCell::new(None) };
}

/// Runs `fut` (a request's handler) with `fence` as its requests' fence.
pub async fn with_fence<F: std::future::Future>(fence: Fence, fut: F) -> F::Output {
    REQUEST_FENCE.scope(fence, fut).await
}

/// The fence of the request served by the current task, if any.
pub(super) fn request_fence() -> Option<Fence> {
    REQUEST_FENCE.try_with(Clone::clone).ok()
}

/// Installs `fence` for the database work on this thread until the guard drops.
pub(super) fn enter(fence: Option<Fence>) -> FenceGuard {
    FenceGuard(THREAD_FENCE.with(|f| f.replace(fence)))
}

pub(super) struct FenceGuard(Option<Fence>);

impl Drop for FenceGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        THREAD_FENCE.with(|f| *f.borrow_mut() = previous);
    }
}

/// The last statement of a fenced write transaction: marks the claim committed, or refuses
/// (rolling the transaction back) when the claim is no longer this request's.
pub(super) fn complete(conn: &mut DbConn) -> Result<(), ApiError> {
    let Some(f) = THREAD_FENCE.with(|f| f.borrow().clone()) else {
        return Ok(());
    };
    if mark_committed(conn, &f.user, &f.key, f.claimed_at)? {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "this request's Idempotency-Key was taken over by a retry; it was not performed".into(),
        ))
    }
}

/// Deletes keys created before `horizon`.
pub fn purge_before(conn: &mut DbConn, horizon: NaiveDateTime) -> QResult<usize> {
    diesel::delete(ik::table.filter(ik::created_at.lt(horizon))).execute(conn)
}
