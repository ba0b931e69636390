//! The test clock (`clock.travel`, never in production): read the server's time and move it
//! forward. The offset lives in the database (one row), so it survives restarts and reaches
//! every instance: the one that advances takes the new offset at once, the others when their
//! worker refreshes it (each tick).

use chrono::{DateTime, Utc};

use super::Ctx;
use crate::clock::TravelClock;
use crate::db::{self, DbConn};
use crate::error::ApiError;

/// The largest single advance: 3 650 days.
pub const MAX_ADVANCE_SECS: i64 = 315_360_000;

/// The server's time and how far it has been moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockView {
    pub now: DateTime<Utc>,
    pub offset_secs: i64,
}

/// The test clock of `ctx`: 404 when `clock.travel` is off (the routes don't exist then).
fn travel(ctx: &Ctx) -> Result<&TravelClock, ApiError> {
    ctx.clock.travel().ok_or(ApiError::NotFound)
}

/// 403 unless the caller is an admin; the platform itself (no caller) may.
fn require_admin(ctx: &Ctx) -> Result<(), ApiError> {
    match &ctx.caller {
        Some(c) => c.require_admin(),
        None => Ok(()),
    }
}

/// Takes the stored offset into `clock` (at startup, and by the worker each tick); the offset
/// now in force.
pub fn refresh(conn: &mut DbConn, clock: &TravelClock) -> Result<i64, ApiError> {
    clock.observe_offset(db::clock::offset_secs(conn)?);
    Ok(clock.offset_secs())
}

/// The server's time and offset (admin).
pub fn get(ctx: &Ctx, conn: &mut DbConn) -> Result<ClockView, ApiError> {
    let clock = travel(ctx)?;
    require_admin(ctx)?;
    let offset_secs = refresh(conn, clock)?;
    Ok(ClockView {
        now: crate::clock::Clock::now(clock),
        offset_secs,
    })
}

/// Moves the server's time forward by `seconds` (1 ‥ [`MAX_ADVANCE_SECS`]; admin). The stored
/// offset grows in one SQL statement, so concurrent advances (from any instance) all count;
/// this instance takes the new offset at once. Audited on the `system` stream.
pub fn advance(ctx: &Ctx, conn: &mut DbConn, seconds: i64) -> Result<ClockView, ApiError> {
    let clock = travel(ctx)?;
    require_admin(ctx)?;
    if !(1..=MAX_ADVANCE_SECS).contains(&seconds) {
        return Err(ApiError::field(
            "seconds",
            format!("must be between 1 and {MAX_ADVANCE_SECS} (3650 days)"),
        ));
    }
    let offset_secs = db::write_tx(conn, |conn| {
        let offset = db::clock::add_offset_secs(conn, seconds, ctx.now)?;
        let reason = format!("advanced by {seconds} s; offset now {offset} s");
        super::accounts::audit_system(
            conn,
            ctx.actor(),
            "clock.advanced",
            "clock",
            "clock",
            None,
            None,
            Some(&reason),
            ctx,
        )?;
        Ok(offset)
    })?;
    clock.observe_offset(offset_secs);
    Ok(ClockView {
        now: crate::clock::Clock::now(clock),
        offset_secs: clock.offset_secs(),
    })
}
