//! Notifications: typed templates per business event, the outbox (written in the caller's transaction) and the relay that
//! sends with lettre.
//!
//! Mails are personal data at rest: the outbox stores each one's address and body sealed
//! with the data key (`crypto.key`, the same ciphertext format as ID numbers and phones);
//! only the relay opens them, to send. The key is installed once per process
//! ([`install_key`]: `AppState::new`, the command line), so [`send`] keeps its signature.

pub mod relay;
pub mod templates;

use std::sync::RwLock;

use chrono::{DateTime, Utc};

use crate::crypto::DataKey;
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

/// Puts `msg` in the outbox, its address and body sealed. Call inside the transaction that
/// makes the change the mail reports, so the mail exists if and only if the change does.
pub fn enqueue(conn: &mut DbConn, msg: Message, now: DateTime<Utc>) -> Result<(), ApiError> {
    let key = sealing_key()?;
    Ok(queries::insert_mail(
        conn,
        &OutboxMail {
            id: uuid::Uuid::now_v7().to_string(),
            to_addr: key.encrypt(&msg.to),
            subject: msg.subject,
            body: key.encrypt(&msg.body),
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

// ---- sealing the outbox ----------------------------------------------------------------------

/// The data keys installed in this process, newest last. A server installs one; the tests
/// start many applications (each with its own key) in one process, and every mail any of
/// them sealed must still open.
static KEYS: RwLock<Vec<DataKey>> = RwLock::new(Vec::new());

/// Installs the key the outbox is sealed with from now on (keys installed earlier still
/// open what they sealed).
pub fn install_key(key: DataKey) {
    let mut keys = KEYS.write().unwrap_or_else(|e| e.into_inner());
    keys.retain(|k| !k.same_as(&key));
    keys.push(key);
}

fn sealing_key() -> Result<DataKey, ApiError> {
    KEYS.read()
        .unwrap_or_else(|e| e.into_inner())
        .last()
        .cloned()
        .ok_or_else(|| ApiError::internal("no data key installed to seal the outbox with"))
}

/// Whether `stored` has the shape of a sealed value (`<key id>:<base64>`). An e-mail address
/// or a mail body in clear never has it (they hold `@`, spaces or line breaks).
fn looks_sealed(stored: &str) -> bool {
    stored.split_once(':').is_some_and(|(id, b64)| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && b64.len() >= 32
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    })
}

/// An outbox address or body in clear: opened with the installed keys, or as stored when it
/// was written in clear (before mails were sealed). `None`: sealed under a key this process
/// doesn't have.
pub fn open(stored: &str) -> Option<String> {
    if !looks_sealed(stored) {
        return Some(stored.to_string());
    }
    let keys = KEYS.read().unwrap_or_else(|e| e.into_inner());
    keys.iter().rev().find_map(|k| k.decrypt(stored))
}

/// `m` with its address and body in clear, for sending; `Err` names what can't be opened.
pub fn opened(m: &OutboxMail) -> Result<OutboxMail, String> {
    let to_addr = open(&m.to_addr).ok_or("recipient sealed under a key this process lacks")?;
    let body = open(&m.body).ok_or("body sealed under a key this process lacks")?;
    Ok(OutboxMail {
        to_addr,
        body,
        ..m.clone()
    })
}

/// `landx crypto rehash` for the outbox: addresses and bodies stored in clear (before mails
/// were sealed) or under another key id are sealed with `key`. One write transaction; the
/// number of mails rewritten.
pub fn reseal_mails(conn: &mut DbConn, key: &DataKey) -> Result<usize, ApiError> {
    let reseal = |stored: &str| -> Option<String> {
        if !looks_sealed(stored) {
            Some(key.encrypt(stored))
        } else if key.is_stale(stored) {
            key.decrypt(stored).map(|clear| key.encrypt(&clear))
        } else {
            None
        }
    };
    crate::db::write_tx(conn, |conn| {
        let mut done = 0;
        for m in crate::db::outbox::list_mail(conn)? {
            let to = reseal(&m.to_addr);
            let body = reseal(&m.body);
            if to.is_some() || body.is_some() {
                crate::db::outbox::set_sealed(
                    conn,
                    &m.id,
                    to.as_deref().unwrap_or(&m.to_addr),
                    body.as_deref().unwrap_or(&m.body),
                )?;
                done += 1;
            }
        }
        Ok(done)
    })
}

// ---- reading the outbox (`landx mail list`) --------------------------------------------------

/// A mail of the outbox as a developer reads it: address and body opened.
#[derive(Debug, Clone)]
pub struct ReadMail {
    pub created_at: DateTime<Utc>,
    pub sent: bool,
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl ReadMail {
    /// The links of its body (`http://` or `https://` up to the first space or line end).
    pub fn links(&self) -> Vec<&str> {
        links_in(&self.body)
    }
}

/// The links of a mail body, in order.
pub fn links_in(body: &str) -> Vec<&str> {
    body.split(|c: char| c.is_whitespace())
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .collect()
}

/// The newest mails (at most `limit`, newest first), to `to` only when given (compared
/// without case); of the newest `scan` mails, since addresses are sealed and only open here.
/// A mail sealed under a key this process lacks shows as such instead of its text.
pub fn recent(
    conn: &mut DbConn,
    to: Option<&str>,
    limit: usize,
    scan: i64,
) -> Result<Vec<ReadMail>, ApiError> {
    let wanted = to.map(|t| t.trim().to_lowercase());
    Ok(crate::db::outbox::recent_mail(conn, scan)?
        .into_iter()
        .map(|m| ReadMail {
            created_at: m.created_at.and_utc(),
            sent: m.sent_at.is_some(),
            to: open(&m.to_addr).unwrap_or_else(|| "(sealed under another key)".into()),
            subject: m.subject,
            body: open(&m.body).unwrap_or_else(|| "(sealed under another key)".into()),
        })
        .filter(|m| wanted.as_ref().is_none_or(|w| m.to.to_lowercase() == *w))
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_found_in_a_body() {
        let body = "您好：\n请打开以下链接：\nhttp://x.test/verify-email?token=ab_c-1\n\nPlease.\nhttps://y/z";
        assert_eq!(
            links_in(body),
            vec!["http://x.test/verify-email?token=ab_c-1", "https://y/z"]
        );
        assert!(links_in("no links here").is_empty());
    }

    #[test]
    fn sealed_values_open_and_clear_ones_read_as_stored() {
        let key = DataKey::ephemeral();
        install_key(key.clone());
        let sealed = sealing_key().unwrap().encrypt("zhangwei@example.cn");
        assert!(looks_sealed(&sealed) && !sealed.contains("zhangwei"));
        assert_eq!(open(&sealed).as_deref(), Some("zhangwei@example.cn"));
        for clear in ["zhangwei@example.cn", "您好：\n张伟\n\nhttp://x/?token=a:b"] {
            assert!(!looks_sealed(clear));
            assert_eq!(open(clear).as_deref(), Some(clear));
        }
        let foreign = DataKey::ephemeral().encrypt("secret");
        assert_eq!(open(&foreign), None);
    }
}
