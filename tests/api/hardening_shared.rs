//! Issue 10 (hardening), the shared mechanisms: bounded validation answers (item 9), bounded
//! metric labels (item 10), and the smaller items of 12 (response headers, configuration).

use std::process::Command;

use serde_json::{json, Map, Value};

use crate::support::*;

/// Item 9: a body with tens of thousands of unknown keys is answered with at most 20 field
/// errors, each field name bounded, so the answer stays far smaller than the request.
#[test]
fn validation_answers_list_at_most_twenty_bounded_fields() {
    let app = TestApp::start();
    let mut body = Map::new();
    for i in 0..40_000 {
        body.insert(format!("k{i:05}"), Value::from(1));
    }
    body.insert("x".repeat(5_000), Value::from(1));
    let text = Value::Object(body).to_string();
    assert!(text.len() > 400_000 && text.len() < 1 << 20);
    let r = app.call_raw("POST", "/api/v1/auth/register", None, Some(text), &[]);
    r.assert_problem(422, "validation_failed");
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 20, "{}", &r.text[..200.min(r.text.len())]);
    assert!(errors
        .iter()
        .all(|e| e["field"].as_str().unwrap().chars().count() <= 101));
    assert!(r.text.len() < 10_000, "answer of {} bytes", r.text.len());
}

/// Item 10: an unknown HTTP method is one metric label, `OTHER`; no label takes a value the
/// client chose.
#[test]
fn unknown_methods_are_one_metric_label() {
    let app = TestApp::start();
    for m in ["FOOBAR", "PROPFIND", "XYZZY"] {
        let r = app.call_raw(m, "/healthz", None, None, &[]);
        assert_eq!(r.status, 405, "{m}");
        let r = app.call_raw(m, "/no/such/route", None, None, &[]);
        assert_eq!(r.status, 404, "{m}");
    }
    let metrics = app.call_raw("GET", "/metrics", None, None, &[]).text;
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
    for m in ["FOOBAR", "PROPFIND", "XYZZY", "/no/such/route"] {
        assert!(!metrics.contains(m), "{m} became a label");
    }
}

/// Item 12: `X-Content-Type-Options: nosniff` on every answer; `Cache-Control: no-store` on
/// authentication answers and on every answer to a request with credentials (personal data).
#[test]
fn answers_carry_nosniff_and_private_ones_no_store() {
    let app = TestApp::start();
    let admin = app.admin_token();
    for r in [
        app.get("/healthz", None),
        app.get("/api/v1/listings", None),
        app.get("/api/v1/nothing-here", None),
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"email": "x@example.cn", "password": "wrong-password"}),
        ),
        app.get("/api/v1/me", Some(&admin)),
    ] {
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{}",
            r.text
        );
    }
    let login = app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": "x@example.cn", "password": "wrong-password"}),
    );
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(
        app.get("/api/v1/me", Some(&admin)).header("cache-control"),
        Some("no-store")
    );
    assert_eq!(
        app.get("/api/v1/users", Some(&admin))
            .header("cache-control"),
        Some("no-store")
    );
    // A public search without credentials may be cached.
    assert_eq!(
        app.get("/api/v1/listings", None).header("cache-control"),
        None
    );
}

fn landx_config(envs: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_landx"));
    c.arg("config")
        .env("LANDX_ENV", "test")
        .env_remove("RUST_LOG")
        .current_dir(dir.path());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run landx config")
}

/// Item 12: `landx config` redacts the password inside `database.url`.
#[test]
fn landx_config_redacts_the_database_password() {
    let out = landx_config(&[(
        "LANDX_DATABASE__URL",
        "postgres://landx:Zh3ngW31-s3cret@db.example:5432/landx",
    )]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Zh3ngW31-s3cret"), "{text}");
    assert!(
        text.contains("postgres://landx:[redacted]@db.example:5432/landx"),
        "{text}"
    );
}

/// Item 12: SMTP credentials are refused without TLS (the server won't start with them).
#[test]
fn smtp_credentials_without_tls_are_refused() {
    let smtp = [
        ("LANDX_MAIL__TRANSPORT", "smtp"),
        ("LANDX_MAIL__SMTP_HOST", "smtp.example.cn"),
        ("LANDX_MAIL__SMTP_USERNAME", "landx"),
        ("LANDX_MAIL__SMTP_PASSWORD", "mail-password"),
    ];
    let mut plain = smtp.to_vec();
    plain.push(("LANDX_MAIL__SMTP_TLS", "none"));
    let out = landx_config(&plain);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("smtp_tls"), "{err}");
    assert!(!err.contains("mail-password"), "{err}");
    let mut tls = smtp.to_vec();
    tls.push(("LANDX_MAIL__SMTP_TLS", "starttls"));
    let out = landx_config(&tls);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
