//! Throttling of the auth routes: the per-account lock with growing delays, the per-IP
//! sliding minute, `X-Forwarded-For` from trusted proxies only, and no lost counts.

use chrono::Duration;
use serde_json::json;

use crate::support::*;

const NEW_PW: &str = "huangpu-river-2028";

#[test]
fn repeated_failures_lock_the_account_for_a_while() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    for _ in 0..5 {
        login_status(&app, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    let r = login_status(&app, "zhangwei@example.cn", PW);
    r.assert_problem(429, "rate_limited");
    let secs: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&secs), "{secs}");
    // Other accounts are not affected.
    register_ok(&app, "lina@example.cn", "李娜");
    app.login_pair("lina@example.cn", PW);

    app.advance(Duration::seconds(secs as i64 + 1));
    app.login_pair("zhangwei@example.cn", PW);

    // Success resets the count: four more failures don't lock.
    for _ in 0..4 {
        login_status(&app, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    app.login_pair("zhangwei@example.cn", PW);

    // After the lock, failing again locks for longer.
    for _ in 0..5 {
        login_status(&app, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    let first = login_status(&app, "zhangwei@example.cn", PW);
    first.assert_problem(429, "rate_limited");
    app.advance(Duration::seconds(61));
    login_status(&app, "zhangwei@example.cn", "wrong-password-1")
        .assert_problem(401, "unauthorized");
    let second = login_status(&app, "zhangwei@example.cn", PW);
    second.assert_problem(429, "rate_limited");
    let secs2: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!(secs2 > 60, "lock doubles: {secs2}");

    // A password reset clears the lock.
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei@example.cn"}),
    );
    let t = app.mailed_token("zhangwei@example.cn", "Reset your password");
    let r = app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": t, "new_password": NEW_PW}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    app.login_pair("zhangwei@example.cn", NEW_PW);
}

#[test]
fn per_ip_limit_uses_a_sliding_minute() {
    let app = TestApp::start_with(|s| s.auth.ip_attempts_per_minute = 5);
    register_ok(&app, "zhangwei@example.cn", "张伟");
    register_ok(&app, "lina@example.cn", "李娜");
    app.login_pair("zhangwei@example.cn", PW);
    app.advance(Duration::seconds(30));
    app.login_pair("lina@example.cn", PW);
    login_status(&app, "nobody@example.cn", "wrong-password-1").assert_problem(401, "unauthorized");
    // The sixth attempt within the minute, whatever the route.
    let r = login_status(&app, "zhangwei@example.cn", PW);
    r.assert_problem(429, "rate_limited");
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    register(&app, "wangfang@example.cn", "王芳").assert_problem(429, "rate_limited");
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "lina@example.cn"}),
    )
    .assert_problem(429, "rate_limited");
    // Routes outside the limit are unaffected.
    assert_eq!(app.get("/api/v1/townships", None).status, 200);

    // 31 s later the first three attempts have left the window.
    app.advance(Duration::seconds(31));
    app.login_pair("zhangwei@example.cn", PW);
    register_ok(&app, "wangfang@example.cn", "王芳");
    app.login_pair("wangfang@example.cn", PW);
    login_status(&app, "zhangwei@example.cn", PW).assert_problem(429, "rate_limited");
    app.advance(Duration::seconds(61));
    app.login_pair("lina@example.cn", PW);
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    // Untrusted clients can't dodge the per-IP limit by inventing X-Forwarded-For.
    let app = TestApp::start_with(|s| s.auth.ip_attempts_per_minute = 3);
    for i in 0..3 {
        let xff = format!("203.0.113.{i}");
        let r = app.call_raw(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@example.cn", "password": "wrong-password-1"}).to_string()),
            &[("X-Forwarded-For", &xff)],
        );
        r.assert_problem(401, "unauthorized");
    }
    app.call_raw(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "nobody@example.cn", "password": "wrong-password-1"}).to_string()),
        &[("X-Forwarded-For", "198.51.100.7")],
    )
    .assert_problem(429, "rate_limited");

    // Behind a trusted proxy, each client has its own window.
    let app = TestApp::start_with(|s| {
        s.auth.ip_attempts_per_minute = 3;
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    });
    let attempt = |client: &str| {
        app.call_raw(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@example.cn", "password": "wrong-password-1"}).to_string()),
            &[("X-Forwarded-For", client)],
        )
    };
    for _ in 0..3 {
        attempt("203.0.113.5").assert_problem(401, "unauthorized");
    }
    attempt("203.0.113.5").assert_problem(429, "rate_limited");
    // A client can't pick its bucket by prepending a forged hop: the right-most untrusted
    // address counts.
    attempt("198.51.100.1, 203.0.113.5").assert_problem(429, "rate_limited");
    attempt("203.0.113.6").assert_problem(401, "unauthorized");
}

#[test]
fn a_dozen_logins_a_minute_are_never_throttled() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    for i in 0..12 {
        let r = login_status(&app, "zhangwei@example.cn", PW);
        assert_eq!(r.status, 200, "login {i}: {}", r.text);
    }
}

#[test]
fn parallel_failed_logins_are_all_counted() {
    // A burst of guesses sent at once must count like the same guesses sent one by one
    // (a lost update of the counter would let bursts slip past the lock).
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    // Exactly the limit each time, so a single lost update shows.
    for round in 0..8 {
        if round > 0 {
            app.advance(Duration::hours(2));
            app.login_pair("zhangwei@example.cn", PW);
        }
        std::thread::scope(|s| {
            for _ in 0..5 {
                s.spawn(|| {
                    let r = login_status(&app, "zhangwei@example.cn", "wrong-password-1");
                    assert!(r.status == 401 || r.status == 429, "{}", r.text);
                });
            }
        });
        login_status(&app, "zhangwei@example.cn", PW).assert_problem(429, "rate_limited");
    }
}

#[test]
fn unknown_addresses_are_throttled_like_real_accounts() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        serde_json::json!({"email": "real@landx.test", "password": "real-password-1", "display_name": "王芳", "role": "investor"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for email in ["real@landx.test", "ghost@landx.test"] {
        for _ in 0..5 {
            let r = app.post(
                "/api/v1/auth/login",
                None,
                serde_json::json!({"email": email, "password": "wrong-password-x"}),
            );
            r.assert_problem(401, "unauthorized");
        }
        let r = app.post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"email": email, "password": "wrong-password-x"}),
        );
        r.assert_problem(429, "rate_limited");
        assert!(r.header("retry-after").is_some(), "{email}");
    }
}
