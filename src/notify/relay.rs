//! The outbox relay: claims due mails with a lease (safe with several instances), sends them
//! and marks them sent; failures retry with exponential backoff.

use chrono::{DateTime, Duration, Utc};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::Body;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{FileTransport, Message as LettreMessage, SmtpTransport, Transport};
use secrecy::ExposeSecret;

use crate::config::Mail as MailSettings;
use crate::db::models::OutboxMail;
use crate::db::{outbox, DbConn};
use crate::error::ApiError;

pub enum Sender {
    File(FileTransport),
    Smtp(Box<SmtpTransport>),
}

impl Sender {
    pub fn from_settings(s: &MailSettings) -> Result<Self, String> {
        match s.transport.as_str() {
            "file" => {
                std::fs::create_dir_all(&s.file_dir)
                    .map_err(|e| format!("mail.file_dir {}: {e}", s.file_dir))?;
                Ok(Sender::File(FileTransport::new(&s.file_dir)))
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
                Ok(Sender::Smtp(Box::new(b.build())))
            }
            other => Err(format!("unknown mail.transport `{other}`")),
        }
    }

    /// The body as this transport writes it. Mail files are read by people (a developer
    /// looking for a link): UTF-8 as is (8bit), so Chinese text and links read in any editor.
    /// SMTP gets quoted-printable, which every server relays (8bit needs 8BITMIME) and every
    /// client decodes. Never base64: nobody can read it.
    pub fn body(&self, text: &str) -> Body {
        match self {
            Sender::File(_) => eight_bit(text).unwrap_or_else(|| quoted_printable(text)),
            Sender::Smtp(_) => quoted_printable(text),
        }
    }

    pub fn send(&self, from: &str, m: &OutboxMail) -> Result<(), String> {
        let msg = LettreMessage::builder()
            .from(from.parse().map_err(|e| format!("mail.from: {e}"))?)
            .to(m.to_addr.parse().map_err(|e| format!("recipient: {e}"))?)
            .subject(m.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(self.body(&m.body))
            .map_err(|e| e.to_string())?;
        match self {
            Sender::File(t) => t.send(&msg).map(|_| ()).map_err(|e| e.to_string()),
            Sender::Smtp(t) => t.send(&msg).map(|_| ()).map_err(|e| e.to_string()),
        }
    }
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
    for m in batch {
        // The outbox holds address and body sealed: opened only here, to send.
        match super::opened(&m).and_then(|clear| sender.send(&settings.from, &clear)) {
            Ok(()) => {
                outbox::mark_mail_sent(conn, &m.id, &claim, now.naive_utc())?;
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(mail_id = %m.id, attempts = m.attempts + 1, error = %e, "mail not sent; will retry");
                let next = now + backoff(m.attempts);
                outbox::mark_mail_failed(conn, &m.id, &claim, next.naive_utc(), &e)?;
            }
        }
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
