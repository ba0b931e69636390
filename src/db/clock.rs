//! The stored offset of the test clock (`clock.travel`): one row, id 1.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::clock_offset;
use super::{DbConn, QResult};

/// The stored offset in seconds (0 before the first advance).
pub fn offset_secs(conn: &mut DbConn) -> QResult<i64> {
    Ok(clock_offset::table
        .find(1i64)
        .select(clock_offset::offset_secs)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Adds `secs` to the stored offset in one statement (an upsert of row 1), so advances from
/// several instances at once all count; the new offset.
pub fn add_offset_secs(conn: &mut DbConn, secs: i64, now: DateTime<Utc>) -> QResult<i64> {
    let now = now.naive_utc();
    let row = (
        clock_offset::id.eq(1i64),
        clock_offset::offset_secs.eq(secs),
        clock_offset::updated_at.eq(now),
    );
    let update = (
        clock_offset::offset_secs.eq(clock_offset::offset_secs + secs),
        clock_offset::updated_at.eq(now),
    );
    let v = match conn {
        DbConn::Pg(c) => diesel::insert_into(clock_offset::table)
            .values(row)
            .on_conflict(clock_offset::id)
            .do_update()
            .set(update)
            .returning(clock_offset::offset_secs)
            .get_result(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(clock_offset::table)
            .values(row)
            .on_conflict(clock_offset::id)
            .do_update()
            .set(update)
            .returning(clock_offset::offset_secs)
            .get_result(c)?,
    };
    Ok(v)
}
