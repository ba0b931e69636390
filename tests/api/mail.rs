//! Mail: the relay over a real SMTP conversation with retry, and the MIME decoding the
//! tests read it with.

use std::net::TcpListener;

use chrono::Duration;
use serde_json::json;

use crate::support::mail::{decode_body, decode_rfc2047, mail_header, parse_message, start_smtp};
use crate::support::*;

#[test]
fn rfc2047_decoder_understands_both_encodings() {
    assert_eq!(
        decode_rfc2047("=?utf-8?b?5byg5LyfIA==?= =?utf-8?q?Verify_your_e-mail?="),
        "张伟 Verify your e-mail"
    );
    assert_eq!(decode_rfc2047("plain subject"), "plain subject");
    assert_eq!(decode_rfc2047("=?UTF-8?Q?a=3Db?= tail"), "a=b tail");
}

#[test]
fn mail_is_relayed_over_smtp_with_retry() {
    let (port, app) = smtp_app(|_| {});
    let id = register_ok(&app, "zhangwei@example.cn", "张伟");
    let token = app.mailed_token("zhangwei@example.cn", "Verify your e-mail");

    // Nobody listens yet: the attempt fails and is scheduled again.
    app.run_jobs();
    let outbox = app.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].attempts, 1);
    assert!(outbox[0].sent_at.is_none());
    assert!(outbox[0].last_error.is_some());

    let got = start_smtp(port);
    // Not yet due (5 s backoff).
    app.run_jobs();
    assert!(got.lock().unwrap().is_empty());
    assert!(app.outbox()[0].sent_at.is_none());

    app.advance(Duration::seconds(6));
    app.run_jobs();
    assert_eq!(got.lock().unwrap().len(), 1);
    let sent = &app.outbox()[0];
    assert!(sent.sent_at.is_some());
    assert_eq!(sent.attempts, 2);

    app.advance(Duration::minutes(10));
    app.run_jobs();
    let msgs = got.lock().unwrap().clone();
    assert_eq!(msgs.len(), 1, "sent exactly once");

    let (headers, body) = parse_message(&msgs[0]);
    let to = mail_header(&headers, "to").expect("To header");
    assert!(to.contains("zhangwei@example.cn"), "{to}");
    let from = mail_header(&headers, "from").expect("From header");
    assert!(from.contains("noreply@landx.local"), "{from}");
    let raw_subject = mail_header(&headers, "subject").expect("Subject header");
    assert!(raw_subject.is_ascii(), "encoded on the wire: {raw_subject}");
    let subject = decode_rfc2047(raw_subject);
    assert!(subject.ends_with("Verify your e-mail"), "{subject}");
    assert_eq!(subject, sent.subject);
    let text = decode_body(&headers, &body);
    assert!(
        text.contains(&format!("/verify-email?token={token}")),
        "{text}"
    );
    assert!(text.contains("张伟"), "{text}");

    // And the delivered token works.
    let r = app.post("/api/v1/auth/verify-email", None, json!({"token": token}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
}

/// The database goes away between the SMTP server's acceptance of a mail and the relay's
/// "sent" mark (a PostgreSQL restart, a locked SQLite file): the next pass marks it, so it is
/// not sent a second time when its lease runs out. Every attempt carries the Message-ID
/// `<outbox id@sender's domain>`, so a receiver can tell a re-send from a new mail.
#[test]
fn a_mail_accepted_while_the_database_drops_is_not_sent_twice() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::support::db::{exec, is_postgres};
    use crate::support::harness::try_run_jobs_with;
    use crate::support::internals::pool_for;
    use crate::support::mail::start_smtp_calling;

    let (port, app) = smtp_app(|s| s.database.sqlite_busy_timeout_ms = 100);
    register_ok(&app, "lina@example.cn", "李娜");
    let outside = pool_for(&app.settings.database.url);
    let pg = is_postgres(&outside);
    let first = Arc::new(AtomicBool::new(true));
    let got = start_smtp_calling(port, move || {
        if !first.swap(false, Ordering::SeqCst) {
            return;
        }
        if pg {
            // Every connection of the application is cut, as a restart of the server does.
            exec(
                &outside,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            );
        } else {
            // The file is locked for a second: the mark waits 100 ms and fails.
            use diesel::connection::SimpleConnection;
            let mut conn = outside.get().unwrap();
            conn.batch_execute("BEGIN EXCLUSIVE").unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(1));
                conn.batch_execute("COMMIT").unwrap();
            });
        }
    });
    let sender = Arc::new(landx::notify::relay::Sender::from_settings(&app.settings.mail).unwrap());

    // Sent, and the mark failed: the pass says so.
    assert!(try_run_jobs_with(&app.state, &sender).is_err());
    assert_eq!(got.lock().unwrap().len(), 1);
    assert!(app.outbox()[0].sent_at.is_none());

    // The database is back; the next pass marks it (a pass may still meet the dead
    // connection, or the lock, and fail first).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.outbox()[0].sent_at.is_none() {
        assert!(std::time::Instant::now() < deadline, "never marked sent");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let _ = try_run_jobs_with(&app.state, &sender);
    }
    // Long after the lease: nothing is sent again.
    app.advance(Duration::minutes(10));
    try_run_jobs_with(&app.state, &sender).expect("jobs pass");
    let msgs = got.lock().unwrap().clone();
    assert_eq!(msgs.len(), 1, "sent exactly once");
    let mail = &app.outbox()[0];
    assert_eq!(mail.attempts, 1);
    let (headers, _) = parse_message(&msgs[0]);
    assert_eq!(
        mail_header(&headers, "message-id"),
        Some(format!("<{}@landx.local>", mail.id).as_str())
    );
}

/// An app relaying its mail over SMTP to 127.0.0.1 on a port nobody listens on yet (the
/// test starts its SMTP server there when it wants), after `tweak`; the port.
fn smtp_app(tweak: impl FnOnce(&mut landx::config::Settings)) -> (u16, TestApp) {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::start_with(|s| {
        s.mail.transport = "smtp".into();
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = port;
        tweak(s);
    });
    (port, app)
}
