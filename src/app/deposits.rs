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
use crate::notify::templates::registrations as mails;
use crate::notify::{self, templates::Template};

/// E-mails the registration's investor a text written by the caller (greeted by their legal
/// name, with the platform's subject prefix). Prefer [`notify_investor`] with a template.
pub fn mail_investor(
    conn: &mut DbConn,
    r: &Registration,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    notify_investor(
        conn,
        r,
        &mails::InvestorMessage {
            legal_name: &r.legal_name,
            subject,
            text: body,
        },
        now,
    )
}

/// E-mails `template` to the registration's investor (in the caller's transaction).
pub fn notify_investor(
    conn: &mut DbConn,
    r: &Registration,
    template: &impl Template,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(u) = queries::find_user(conn, &r.investor_id)? {
        notify::send(conn, &u.email, template, now)?;
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
    let legal_name = r.legal_name.as_str();
    match to {
        DepositStatus::Confirmed => {
            notify_investor(conn, r, &mails::DepositConfirmed { legal_name }, now)?
        }
        DepositStatus::RefundDue => notify_investor(
            conn,
            r,
            &mails::DepositToBeRefunded { legal_name, reason },
            now,
        )?,
        DepositStatus::Refunded => {
            notify_investor(conn, r, &mails::DepositRefunded { legal_name }, now)?
        }
        DepositStatus::Forfeited => {
            notify_investor(conn, r, &mails::DepositForfeited { legal_name }, now)?
        }
        DepositStatus::AppliedToRent => {
            notify_investor(conn, r, &mails::DepositAppliedToRent { legal_name }, now)?
        }
        DepositStatus::Unpaid => {}
    }
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
