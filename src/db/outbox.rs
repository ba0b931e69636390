//! The mail outbox: rows in, rows out (the relay claims them with a lease).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::*;
use super::schema::*;
use super::{DbConn, QResult};

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
    outbox::table
        .filter(outbox::locked_by.eq(claim.to_string()))
        .filter(outbox::sent_at.is_null())
        .select(OutboxMail::as_select())
        .load(conn)
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

/// Rewrites a mail's stored address and body (sealing them); nothing else moves.
pub fn set_sealed(conn: &mut DbConn, id: &str, to_addr: &str, body: &str) -> QResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::to_addr.eq(to_addr.to_string()),
            outbox::body.eq(body.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn list_mail(conn: &mut DbConn) -> QResult<Vec<OutboxMail>> {
    outbox::table
        .order(outbox::id)
        .select(OutboxMail::as_select())
        .load(conn)
}

/// The newest `n` mails, newest first (ids are UUIDv7: time-ordered).
pub fn recent_mail(conn: &mut DbConn, n: i64) -> QResult<Vec<OutboxMail>> {
    outbox::table
        .order(outbox::id.desc())
        .select(OutboxMail::as_select())
        .limit(n)
        .load(conn)
}
