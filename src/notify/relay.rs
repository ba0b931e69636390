//! The outbox relay: claims due mails with a lease (safe with several instances), sends them
//! and marks them sent; failures retry with exponential backoff.

use chrono::{DateTime, Duration, Utc};
use lettre::message::header::ContentType;
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

    pub fn send(&self, from: &str, m: &OutboxMail) -> Result<(), String> {
        let msg = LettreMessage::builder()
            .from(from.parse().map_err(|e| format!("mail.from: {e}"))?)
            .to(m.to_addr.parse().map_err(|e| format!("recipient: {e}"))?)
            .subject(m.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone())
            .map_err(|e| e.to_string())?;
        match self {
            Sender::File(t) => t.send(&msg).map(|_| ()).map_err(|e| e.to_string()),
            Sender::Smtp(t) => t.send(&msg).map(|_| ()).map_err(|e| e.to_string()),
        }
    }
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
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::seconds(5));
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(30), Duration::seconds(3600));
    }
}
