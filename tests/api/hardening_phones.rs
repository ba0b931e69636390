//! Issue 10 (hardening), item 11, last part: phones are encrypted at rest in accounts too,
//! and the outbox keeps its mails' addresses and bodies sealed; the relay still delivers
//! them, and rows written in clear before keep working.

use std::net::TcpListener;

use serde_json::json;

use crate::support::db;
use crate::support::mail::{decode_body, mail_header, parse_message, start_smtp};
use crate::support::*;

const PHONE: &str = "13812345678";
const STAFF_PHONE: &str = "021-57211234";

fn stored_phone(app: &TestApp, user: &str) -> String {
    let rows = db::lines(
        app.pool(),
        &format!(
            "SELECT COALESCE(phone, '') AS line FROM users WHERE id = {}",
            db::lit(user)
        ),
    );
    assert_eq!(rows.len(), 1);
    rows[0].clone()
}

/// Self-registered and admin-made accounts store their phone encrypted (the raw row holds
/// no digits of it) and show it in clear; a phone stored in clear by an earlier release
/// still reads.
#[test]
fn account_phones_are_stored_encrypted_and_shown_in_clear() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let investor = register_investor(&app, "zhangwei@example.cn", "张伟");
    let ts = township(&app, &admin, "CJ", "漕泾镇");
    let staff = expect(
        app.post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "gumin@cj.landx.test", "password": PW, "display_name": "顾敏",
                   "role": "staff", "township_id": ts, "phone": STAFF_PHONE}),
        ),
        201,
        "create staff",
    );
    assert_eq!(staff["phone"], STAFF_PHONE);
    let staff_id = staff["id"].as_str().unwrap().to_string();

    for (id, phone) in [(&investor.id, PHONE), (&staff_id, STAFF_PHONE)] {
        let raw = stored_phone(&app, id);
        assert!(!raw.is_empty());
        assert!(!raw.contains(phone), "stored in clear: {raw}");
        assert!(!raw.contains(&phone.replace('-', "")[3..]), "{raw}");
        let shown = ok(app.get(&format!("/api/v1/users/{id}"), Some(&admin)));
        assert_eq!(shown["phone"], phone);
    }
    assert_eq!(ok(app.get("/api/v1/me", investor.t()))["phone"], PHONE);
    let list = ok(app.get("/api/v1/users?limit=200", Some(&admin)));
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["phone"] == STAFF_PHONE));
    let login = app.login_pair("zhangwei@example.cn", PW);
    assert_eq!(login["user"]["phone"], PHONE);

    // As an earlier release stored it.
    db::exec(
        app.pool(),
        &format!(
            "UPDATE users SET phone = {} WHERE id = {}",
            db::lit(PHONE),
            db::lit(&investor.id)
        ),
    );
    assert_eq!(ok(app.get("/api/v1/me", investor.t()))["phone"], PHONE);
}

fn smtp_app() -> (TestApp, u16) {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::start_with(|s| {
        s.mail.transport = "smtp".into();
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = port;
    });
    (app, port)
}

/// The outbox row of a verification mail holds neither the address, nor the recipient's
/// name, nor the token in clear; the relay opens it and the mail arrives, token and all. A
/// mail written in clear by an earlier release is delivered too.
#[test]
fn outbox_mails_are_sealed_at_rest_and_still_arrive() {
    let (app, port) = smtp_app();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let token = app.mailed_token("zhangwei@example.cn", "Verify your e-mail");
    let raw = db::outbox(app.pool());
    assert_eq!(raw.len(), 1);
    for secret in ["zhangwei@example.cn", "zhangwei", "张伟", token.as_str()] {
        assert!(!raw[0].to_addr.contains(secret), "{}", raw[0].to_addr);
        assert!(!raw[0].body.contains(secret), "{}", raw[0].body);
    }
    // A mail queued in clear before mails were sealed.
    db::exec(
        app.pool(),
        &format!(
            "INSERT INTO outbox (id, to_addr, subject, body, created_at, next_attempt_at, attempts) \
             VALUES ('00000000-0000-7000-8000-000000000001', 'lina@example.cn', 'legacy', \
             '您好：\n李娜\n\nlegacy body', {t}, {t}, 0)",
            t = db::lit(&app.now().naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()),
        ),
    );

    let got = start_smtp(port);
    app.run_jobs();
    let msgs = got.lock().unwrap().clone();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    let mut seen_verify = false;
    let mut seen_legacy = false;
    for m in &msgs {
        let (headers, body) = parse_message(m);
        let to = mail_header(&headers, "to").expect("To header").to_string();
        let text = decode_body(&headers, &body);
        if to.contains("zhangwei@example.cn") {
            assert!(
                text.contains(&format!("/verify-email?token={token}")),
                "{text}"
            );
            assert!(text.contains("张伟"), "{text}");
            seen_verify = true;
        } else {
            assert!(to.contains("lina@example.cn"), "{to}");
            assert!(text.contains("legacy body"), "{text}");
            seen_legacy = true;
        }
    }
    assert!(seen_verify && seen_legacy);
    assert!(app.outbox().iter().all(|m| m.sent_at.is_some()));
    // The delivered token works.
    let r = app.post("/api/v1/auth/verify-email", None, json!({"token": token}));
    assert_eq!(r.status, 200, "{}", r.text);
}

/// `landx crypto rehash` encrypts account phones and seals outbox mails stored in clear by
/// an earlier release; they still read and open afterwards.
#[test]
fn crypto_rehash_encrypts_account_phones_and_seals_legacy_mails() {
    const ROOT: &str = "hardening-phones-root-key-0123456789abcdef";
    let app = TestApp::start_with(|s| {
        s.crypto.key = secrecy::SecretString::from(ROOT.to_string());
    });
    let investor = register_investor(&app, "zhangwei@example.cn", "张伟");
    db::exec(
        app.pool(),
        &format!(
            "UPDATE users SET phone = {}; UPDATE outbox SET to_addr = 'zhangwei@example.cn', \
             body = 'legacy body for 张伟'",
            db::lit(PHONE),
        ),
    );
    assert_eq!(stored_phone(&app, &investor.id), PHONE);

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landx"))
        .args(["crypto", "rehash"])
        .env("LANDX_DATABASE__URL", &app.settings.database.url)
        .env("LANDX_ENV", "test")
        .env("LANDX_CRYPTO__KEY", ROOT)
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("re-encrypted 1 account phone(s); sealed 1 outbox mail(s)"),
        "{said}"
    );

    assert!(!stored_phone(&app, &investor.id).contains(PHONE));
    assert_eq!(ok(app.get("/api/v1/me", investor.t()))["phone"], PHONE);
    let raw = db::outbox(app.pool());
    assert!(!raw[0].to_addr.contains("zhangwei") && !raw[0].body.contains("legacy"));
    let opened = app.outbox();
    assert_eq!(opened[0].to_addr, "zhangwei@example.cn");
    assert_eq!(opened[0].body, "legacy body for 张伟");
}
