//! Notifications: typed templates per business event, the outbox (written in the caller's transaction) and the relay that
//! sends with lettre.

pub mod relay;
pub mod templates;

use chrono::{DateTime, Utc};

use crate::db::models::OutboxMail;
use crate::db::{queries, DbConn};
use crate::error::ApiError;

/// A rendered message waiting for the outbox.
#[derive(Debug, Clone)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Renders `template` for `to` and puts it in the outbox, in the caller's transaction.
pub fn send(
    conn: &mut DbConn,
    to: &str,
    template: &impl templates::Template,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    enqueue(
        conn,
        Message {
            to: to.to_string(),
            subject: template.subject(),
            body: template.body(),
        },
        now,
    )
}

/// Puts `msg` in the outbox. Call inside the transaction that makes the change the mail
/// reports, so the mail exists if and only if the change does.
pub fn enqueue(conn: &mut DbConn, msg: Message, now: DateTime<Utc>) -> Result<(), ApiError> {
    Ok(queries::insert_mail(
        conn,
        &OutboxMail {
            id: uuid::Uuid::now_v7().to_string(),
            to_addr: msg.to,
            subject: msg.subject,
            body: msg.body,
            created_at: now.naive_utc(),
            next_attempt_at: now.naive_utc(),
            attempts: 0,
            locked_by: None,
            locked_until: None,
            sent_at: None,
            last_error: None,
        },
    )?)
}
