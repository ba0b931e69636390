//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.
//! Items 2 (bounded input, argon2 behind a semaphore), 6 (password reset), 7 (lockout per
//! account and client) and the IPv6 /64 part of item 12.

use std::time::Instant;

use chrono::Duration;
use serde_json::json;

use crate::support::records::mails_about;
use crate::support::*;

const NEW_PW: &str = "huangpu-river-2028";

fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> Resp {
    app.call_raw(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password}).to_string()),
        &[("X-Forwarded-For", client)],
    )
}

/// The token of every mail to `to` whose subject ends with `subject_end`, oldest first.
fn mailed_tokens(app: &TestApp, to: &str, subject_end: &str) -> Vec<String> {
    mails_about(app, to, subject_end)
        .into_iter()
        .map(|m| {
            let start = m.body.find("?token=").expect("link with token") + 7;
            m.body[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}

// ---- item 2 ------------------------------------------------------------------------------

#[test]
fn an_oversized_email_is_refused_before_any_work() {
    let app = TestApp::start();
    let huge = format!("{}@example.cn", "a".repeat(300 * 1024));
    let started = Instant::now();
    let r = login_status(&app, &huge, "wrong-password-1");
    r.assert_problem(422, "validation_failed")
        .assert_field("email");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // 255 characters is one too many; 254 is still an ordinary (wrong) login.
    let long = format!("{}@example.cn", "b".repeat(255 - 11));
    assert_eq!(long.chars().count(), 255);
    login_status(&app, &long, "wrong-password-1")
        .assert_problem(422, "validation_failed")
        .assert_field("email");
    let ok_len = format!("{}@example.cn", "b".repeat(254 - 11));
    login_status(&app, &ok_len, "wrong-password-1").assert_problem(401, "unauthorized");
    // An oversized password is refused the same way.
    login_status(&app, "nobody@example.cn", &"p".repeat(129))
        .assert_problem(422, "validation_failed")
        .assert_field("password");
    // Nothing was remembered for the huge address: repeating it never turns into 429.
    for _ in 0..6 {
        login_status(&app, &huge, "wrong-password-1").assert_problem(422, "validation_failed");
    }
    // The reset request answers 202 always (API.md), and an address longer than any account's
    // is neither looked up nor stored.
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({ "email": huge }),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(app.outbox().is_empty());
}

#[test]
fn argon2_runs_behind_a_bounded_queue() {
    let app = TestApp::start_with(|s| {
        s.auth.argon2_concurrency = 1;
        s.auth.argon2_queue = 0;
    });
    let statuses: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let app = &app;
                s.spawn(move || {
                    login_status(app, &format!("ghost{i}@example.cn"), "wrong-password-1")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let busy: Vec<&Resp> = statuses.iter().filter(|r| r.status == 503).collect();
    assert!(!busy.is_empty(), "no 503 among 8 parallel logins");
    for r in &busy {
        r.assert_problem(503, "unavailable");
        assert!(r.header("retry-after").is_some());
    }
    assert!(
        statuses.iter().all(|r| r.status == 503 || r.status == 401),
        "{:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // Once the burst is over, logins work again.
    register_ok(&app, "zhangwei@example.cn", "张伟");
    app.login_pair("zhangwei@example.cn", PW);
}

// ---- item 6 ------------------------------------------------------------------------------

#[test]
fn a_reset_kills_the_other_outstanding_tokens() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    for _ in 0..2 {
        let r = app.post(
            "/api/v1/auth/password-reset/request",
            None,
            json!({"email": "zhangwei@example.cn"}),
        );
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let tokens = mailed_tokens(&app, "zhangwei@example.cn", "Reset your password");
    assert_eq!(tokens.len(), 2);
    let r = app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": tokens[1], "new_password": NEW_PW}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": tokens[0], "new_password": "another-password-9"}),
    )
    .assert_problem(422, "validation_failed")
    .assert_field("token");
    app.login_pair("zhangwei@example.cn", NEW_PW);

    // Accepting an invitation kills a reset token mailed meanwhile.
    let admin = app.admin_token();
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({"email": "lina@example.cn", "display_name": "李娜", "role": "investor"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let invitation = app.mailed_token("lina@example.cn", "Set your password");
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "lina@example.cn"}),
    );
    let reset = app.mailed_token("lina@example.cn", "Reset your password");
    let r = app.post(
        "/api/v1/auth/accept-invitation",
        None,
        json!({"token": invitation, "password": NEW_PW}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": reset, "new_password": "another-password-9"}),
    )
    .assert_problem(422, "validation_failed")
    .assert_field("token");
    app.login_pair("lina@example.cn", NEW_PW);
}

#[test]
fn at_most_three_reset_mails_per_address_per_hour() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    for _ in 0..6 {
        let r = app.post(
            "/api/v1/auth/password-reset/request",
            None,
            json!({"email": "zhangwei@example.cn"}),
        );
        assert_eq!(r.status, 202, "{}", r.text);
        // Unknown addresses answer alike.
        let r = app.post(
            "/api/v1/auth/password-reset/request",
            None,
            json!({"email": "ghost@example.cn"}),
        );
        assert_eq!(r.status, 202, "{}", r.text);
    }
    assert_eq!(
        mails_about(&app, "zhangwei@example.cn", "Reset your password").len(),
        3
    );
    app.advance(Duration::minutes(61));
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei@example.cn"}),
    );
    assert_eq!(
        mails_about(&app, "zhangwei@example.cn", "Reset your password").len(),
        4
    );
}

// ---- item 7 ------------------------------------------------------------------------------

#[test]
fn forty_parallel_guesses_get_at_most_five_answers() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let app = &app;
                s.spawn(move || login_status(app, "zhangwei@example.cn", "wrong-password-1").status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        unauthorized <= 5,
        "{unauthorized} answered 401: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    login_status(&app, "zhangwei@example.cn", PW).assert_problem(429, "rate_limited");
}

#[test]
fn a_strangers_failures_never_lock_the_owner_out() {
    let app = TestApp::start_with(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]);
    register_ok(&app, "zhangwei@example.cn", "张伟");
    for _ in 0..5 {
        login_from(
            &app,
            "203.0.113.5",
            "zhangwei@example.cn",
            "wrong-password-1",
        )
        .assert_problem(401, "unauthorized");
    }
    let r = login_from(&app, "203.0.113.5", "zhangwei@example.cn", PW);
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // The owner, from their own client, logs in.
    let r = login_from(&app, "198.51.100.7", "zhangwei@example.cn", PW);
    assert_eq!(r.status, 200, "{}", r.text);
    // The stranger's source stays throttled, with growing delays.
    app.advance(Duration::seconds(61));
    login_from(
        &app,
        "203.0.113.5",
        "zhangwei@example.cn",
        "wrong-password-1",
    )
    .assert_problem(401, "unauthorized");
    let r = login_from(&app, "203.0.113.5", "zhangwei@example.cn", PW);
    r.assert_problem(429, "rate_limited");
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(secs > 60, "lock grows: {secs}");
    let r = login_from(&app, "198.51.100.7", "zhangwei@example.cn", PW);
    assert_eq!(r.status, 200, "{}", r.text);
}

// ---- item 12: IPv6 per /64 ---------------------------------------------------------------

#[test]
fn ipv6_clients_are_throttled_per_64() {
    let app = TestApp::start_with(|s| {
        s.auth.ip_attempts_per_minute = 3;
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    });
    for client in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"] {
        login_from(&app, client, "nobody@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    // Another address of the same /64 shares the window ...
    login_from(
        &app,
        "2001:db8:1:2:abcd::1",
        "nobody@example.cn",
        "wrong-password-1",
    )
    .assert_problem(429, "rate_limited");
    // ... a neighbouring /64 does not.
    login_from(
        &app,
        "2001:db8:1:3::1",
        "nobody@example.cn",
        "wrong-password-1",
    )
    .assert_problem(401, "unauthorized");
}
