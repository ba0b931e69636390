//! Deposit and registration side effects shared by handlers and the trading engine: every
//! move is checked by the domain state machine, audited on the listing's stream and e-mailed
//! to the investor, in the caller's transaction.

use chrono::{DateTime, Utc};

use super::audit::audit_registration;
use crate::audit::Actor;
use crate::db::models::Registration;
use crate::db::{queries, registrations as rq, DbConn};
use crate::domain::registration::{DepositEvent, DepositStatus};
use crate::error::ApiError;
use crate::notify::{self, Message};

/// E-mails the registration's investor.
pub fn mail_investor(
    conn: &mut DbConn,
    r: &Registration,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(u) = queries::find_user(conn, &r.investor_id)? {
        notify::enqueue(
            conn,
            Message {
                to: u.email,
                subject: format!("【landx】{subject}"),
                body: format!("{}，您好：\n\n{}\n", r.legal_name, body),
            },
            now,
        )?;
    }
    Ok(())
}

/// Moves a deposit by `event` if the state machine allows it; returns whether it moved.
pub fn move_deposit(
    conn: &mut DbConn,
    r: &mut Registration,
    event: DepositEvent,
    actor: Actor<'_>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let from = r.deposit_status;
    let Some(to) = from.next(event) else {
        return Ok(false);
    };
    r.deposit_status = to;
    r.updated_at = now.naive_utc();
    rq::save(conn, r)?;
    audit_registration(
        conn,
        actor,
        r,
        "deposit.changed",
        "deposit",
        from.as_str(),
        to.as_str(),
        reason,
        now,
    )?;
    let (subject, body) = match to {
        DepositStatus::Confirmed => (
            "保证金已确认 Deposit confirmed",
            "您的保证金已确认到账。Your deposit has been confirmed.".to_string(),
        ),
        DepositStatus::RefundDue => (
            "保证金待退还 Deposit to be refunded",
            format!(
                "您的保证金将予退还{}。Your deposit will be refunded.",
                reason.map(|r| format!("（{r}）")).unwrap_or_default()
            ),
        ),
        DepositStatus::Refunded => (
            "保证金已退还 Deposit refunded",
            "您的保证金已退还。Your deposit has been refunded.".to_string(),
        ),
        DepositStatus::Forfeited => (
            "保证金不予退还 Deposit forfeited",
            "因未按期确认成交，您的保证金不予退还。Your deposit was forfeited.".to_string(),
        ),
        DepositStatus::AppliedToRent => (
            "保证金已转为首期租金 Deposit applied to rent",
            "您的保证金已抵作第一期租金。Your deposit was applied to the first rent installment."
                .to_string(),
        ),
        DepositStatus::Unpaid => return Ok(true),
    };
    mail_investor(conn, r, subject, &body, now)?;
    Ok(true)
}

/// Releases (→ `refund_due`) every confirmed deposit of a listing, e.g. when it is cancelled
/// or fails.
pub fn release_all(
    conn: &mut DbConn,
    listing_id: &str,
    actor: Actor<'_>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    for mut r in rq::for_listing(conn, listing_id)? {
        move_deposit(
            conn,
            &mut r,
            DepositEvent::Release,
            actor,
            Some(reason),
            now,
        )?;
    }
    Ok(())
}
