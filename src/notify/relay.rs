//! The outbox relay: claims due mails with a lease (safe with several instances), sends them
//! and marks them sent; failures retry with exponential backoff.
//!
//! Delivery is at least once, made as close to exactly once as SMTP allows:
//! - every mail carries `Message-ID: <outbox id@sender's domain>`, the same on every attempt
//!   and from every instance, so a receiver (or a test) can tell a re-send from a new mail;
//! - a mail sent whose "sent" mark could not be written (the database went away between the
//!   SMTP answer and the UPDATE) is remembered and marked at the start of the next pass, while
//!   its lease still holds, instead of being sent again when the lease runs out. Only a process
//!   that dies in that window leaves a mail to be sent twice (with the same Message-ID).

use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{FileTransport, Message as LettreMessage, SmtpTransport, Transport};
use secrecy::ExposeSecret;

use crate::config::Mail as MailSettings;
use crate::db::models::OutboxMail;
use crate::db::{outbox, DbConn};
use crate::error::ApiError;

enum Channel {
    File(FileTransport),
    Smtp(Box<SmtpTransport>),
}

/// A mail the transport accepted whose "sent" mark is still to be written (under its claim).
struct Unmarked {
    id: String,
    claim: String,
    sent_at: NaiveDateTime,
}

/// The transport of one process and the mails it sent but could not yet mark sent.
pub struct Sender {
    channel: Channel,
    unmarked: Mutex<Vec<Unmarked>>,
}

impl Sender {
    pub fn from_settings(s: &MailSettings) -> Result<Self, String> {
        Ok(Sender {
            channel: Self::channel(s)?,
            unmarked: Mutex::new(Vec::new()),
        })
    }

    fn channel(s: &MailSettings) -> Result<Channel, String> {
        match s.transport.as_str() {
            "file" => {
                std::fs::create_dir_all(&s.file_dir)
                    .map_err(|e| format!("mail.file_dir {}: {e}", s.file_dir))?;
                Ok(Channel::File(FileTransport::new(&s.file_dir)))
            }
            "smtp" => {
                let mut b = SmtpTransport::builder_dangerous(&s.smtp_host)
                    .port(s.smtp_port)
                    .timeout(Some(std::time::Duration::from_secs(10)));
                let tls = || {
                    TlsParameters::new(s.smtp_host.clone()).map_err(|e| format!("smtp tls: {e}"))
                };
                b = match s.smtp_tls.as_str() {
                    "starttls" => b.tls(Tls::Required(tls()?)),
                    "tls" => b.tls(Tls::Wrapper(tls()?)),
                    _ => b.tls(Tls::None),
                };
                if !s.smtp_username.is_empty() {
                    b = b.credentials(Credentials::new(
                        s.smtp_username.clone(),
                        s.smtp_password.expose_secret().to_string(),
                    ));
                }
                Ok(Channel::Smtp(Box::new(b.build())))
            }
            other => Err(format!("unknown mail.transport `{other}`")),
        }
    }

    /// The body as this transport writes it. Mail files are read by people (a developer
    /// looking for a link): UTF-8 as is (8bit), so Chinese text and links read in any editor.
    /// SMTP gets quoted-printable, which every server relays (8bit needs 8BITMIME) and every
    /// client decodes. Never base64: nobody can read it.
    pub fn body(&self, text: &str) -> Body {
        match &self.channel {
            Channel::File(_) => eight_bit(text).unwrap_or_else(|| quoted_printable(text)),
            Channel::Smtp(_) => quoted_printable(text),
        }
    }

    pub fn send(&self, from: &str, m: &OutboxMail) -> Result<(), String> {
        let from: Mailbox = from.parse().map_err(|e| format!("mail.from: {e}"))?;
        let msg = LettreMessage::builder()
            .message_id(Some(message_id(&m.id, &from)))
            .from(from)
            .to(m.to_addr.parse().map_err(|e| format!("recipient: {e}"))?)
            .subject(m.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(self.body(&m.body))
            .map_err(|e| e.to_string())?;
        match &self.channel {
            Channel::File(t) => t.send(&msg).map(|_| ()).map_err(|e| e.to_string()),
            Channel::Smtp(t) => t.send(&msg).map(|_| ()).map_err(|e| e.to_string()),
        }
    }

    fn unmarked(&self) -> std::sync::MutexGuard<'_, Vec<Unmarked>> {
        self.unmarked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the marks left over from earlier passes; an error leaves the rest for later.
    fn mark_leftovers(&self, conn: &mut DbConn) -> Result<(), ApiError> {
        let mut left = self.unmarked();
        while let Some(u) = left.last() {
            outbox::mark_mail_sent(conn, &u.id, &u.claim, u.sent_at)?;
            left.pop();
        }
        Ok(())
    }
}

/// `<outbox id@domain of the sender>`: one mail, one Message-ID, however often it is sent.
pub fn message_id(outbox_id: &str, from: &Mailbox) -> String {
    format!("<{outbox_id}@{}>", from.email.domain())
}

/// `text` as an 8bit body (RFC 2045: lines of at most 998 octets ending in CRLF, no NUL), or
/// `None` when it can't be one. (lettre's own choice refuses 8bit past 76 octets a line,
/// which any Chinese sentence is.)
fn eight_bit(text: &str) -> Option<Body> {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let fits = crlf
        .split("\r\n")
        .all(|line| line.len() <= 998 && !line.contains(['\0', '\r']));
    fits.then(|| Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit))
}

fn quoted_printable(text: &str) -> Body {
    Body::new_with_encoding(text.to_string(), ContentTransferEncoding::QuotedPrintable)
        .unwrap_or_else(|_| Body::new(text.to_string()))
}

/// Backoff after `attempts` failures: 5 s doubling, at most one hour.
pub fn backoff(attempts: i64) -> Duration {
    let secs = 5i64.saturating_mul(1i64 << attempts.clamp(0, 20));
    Duration::seconds(secs.min(3600))
}

/// One relay pass: claim, send, record. Returns how many were sent.
pub fn relay_once(
    conn: &mut DbConn,
    sender: &Sender,
    settings: &MailSettings,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    // Mails already sent are marked before any new one is claimed.
    sender.mark_leftovers(conn)?;
    let claim = uuid::Uuid::new_v4().to_string();
    let lease = now + Duration::seconds(120);
    let batch = outbox::claim_mail(
        conn,
        &claim,
        now.naive_utc(),
        lease.naive_utc(),
        settings.batch_size,
    )?;
    let mut sent = 0;
    let mut first_error = None;
    for m in batch {
        // The outbox holds address and body sealed: opened only here, to send.
        let marked = match super::opened(&m).and_then(|clear| sender.send(&settings.from, &clear)) {
            Ok(()) => {
                sent += 1;
                outbox::mark_mail_sent(conn, &m.id, &claim, now.naive_utc()).inspect_err(|e| {
                    // Sent, not marked: remembered, so the next pass marks it (within the
                    // lease) instead of sending it again.
                    tracing::warn!(mail_id = %m.id, error = %e, "mail sent but not marked; marking it next pass");
                    sender.unmarked().push(Unmarked {
                        id: m.id.clone(),
                        claim: claim.clone(),
                        sent_at: now.naive_utc(),
                    });
                })
            }
            Err(e) => {
                tracing::warn!(mail_id = %m.id, attempts = m.attempts + 1, error = %e, "mail not sent; will retry");
                let next = now + backoff(m.attempts);
                // Unrecorded, the failure leaves the mail claimed: retried when the lease ends.
                outbox::mark_mail_failed(conn, &m.id, &claim, next.naive_utc(), &e)
            }
        };
        if let Err(e) = marked {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e.into());
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_bodies_are_8bit_when_they_fit() {
        let body = eight_bit("您好：\n请打开以下链接验证邮箱，链接在四十八小时内有效，过期请重新申请：\nhttp://x/verify-email?token=a\n").unwrap();
        assert_eq!(body.encoding(), ContentTransferEncoding::EightBit);
        let text = String::from_utf8(body.into_vec()).unwrap();
        assert!(text.contains("\r\nhttp://x/verify-email?token=a\r\n"));
        assert!(eight_bit(&"长".repeat(400)).is_none());
        assert!(eight_bit("a\rb").is_none());
        assert_eq!(
            quoted_printable("链接").encoding(),
            ContentTransferEncoding::QuotedPrintable
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::seconds(5));
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(30), Duration::seconds(3600));
    }
}
