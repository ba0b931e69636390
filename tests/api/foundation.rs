//! The service skeleton: health, readiness, metrics, error mapping, the database the run uses.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::harness::{requested_backend, requested_by_env, Requested, TestDb};
use crate::support::{db, internals, TestApp};

#[test]
fn health_ready_metrics() {
    let app = TestApp::start();
    let r = app.get("/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "ok"}));
    assert!(r.header("x-request-id").is_some());
    let r = app.get("/readyz", None);
    assert_eq!(r.status, 200);
    let r = app.get("/metrics", None);
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains(
            "landx_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"
        ),
        "{}",
        r.text
    );
    assert!(r
        .text
        .contains("landx_http_request_duration_seconds_bucket{route=\"/healthz\""));
    assert!(r.text.contains("landx_db_pool_max 8"));
    assert!(r.text.contains("landx_db_pool_waiting 0"));
}

#[test]
fn request_id_is_echoed_when_given() {
    let app = TestApp::start();
    let r = app.call_raw(
        "GET",
        "/healthz",
        None,
        None,
        &[("X-Request-Id", "abc-123")],
    );
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
}

#[test]
fn errors_are_problem_json() {
    let app = TestApp::start();
    app.get("/no/such/route", None)
        .assert_problem(404, "not_found");
    app.call_raw(
        "POST",
        "/api/v1/auth/login",
        None,
        Some("{not json".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
    let big = format!("{{\"email\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    app.call_raw("POST", "/api/v1/auth/login", None, Some(big), &[])
        .assert_problem(413, "payload_too_large");
    let r = app.call("DELETE", "/healthz", None, None);
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET"));
    app.get("/api/v1/users/not-a-uuid", None)
        .assert_problem(401, "unauthorized");
    let admin = app.admin_token();
    app.get("/api/v1/users/not-a-uuid", Some(&admin))
        .assert_problem(400, "bad_request");
    app.get("/api/v1/townships?limit=500", None)
        .assert_field("limit");
    app.get("/api/v1/townships?limit=abc", None)
        .assert_problem(400, "bad_request");
    app.get("/api/v1/townships?cursor=%%%", None)
        .assert_problem(400, "bad_request");
}

#[test]
fn unknown_and_mistyped_fields_are_422() {
    let app = TestApp::start();
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": "a@b.cn", "password": "long-enough-pw", "display_name": "张三", "role": "admin"}),
    )
    .assert_field("role");
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": 5, "password": "x"}),
    )
    .assert_field("email");
    app.post("/api/v1/auth/login", None, json!({"email": "a@b.cn"}))
        .assert_field("password");
    // Every missing and every unknown field is named at once, not only the first.
    let r = app.post(
        "/api/v1/auth/register",
        None,
        json!({"status": "x", "role": "admin"}),
    );
    for f in ["email", "password", "display_name", "status", "role"] {
        r.assert_field(f);
    }
    let r = app.post("/api/v1/auth/register", None, json!({}));
    for f in ["email", "password", "display_name"] {
        r.assert_field(f);
    }
}

// ---- the database of the run --------------------------------------------------------------------

/// Whether this binary was built with PostgreSQL-only tests enabled (see `build.rs`).
fn built_for_postgres() -> bool {
    cfg!(landx_pg)
}

/// A run with `LANDX_TEST_DATABASE_URL=postgres://…` really talks to PostgreSQL (and to the
/// test's own database), a run without it to SQLite; and the PostgreSQL-only tests are
/// compiled in exactly when the variable asks for PostgreSQL.
#[test]
fn the_backend_in_use_is_the_one_the_run_asked_for() {
    let app = TestApp::start();
    let pool = app.pool();
    match requested_by_env() {
        Requested::Postgres(_) => {
            assert!(db::is_postgres(pool), "a PostgreSQL run on another backend");
            let version = db::lines(pool, "SELECT version() AS line");
            assert!(version[0].starts_with("PostgreSQL "), "{version:?}");
            let TestDb::Postgres { name, .. } = &app.db else {
                panic!("a PostgreSQL run without a PostgreSQL test database")
            };
            assert_eq!(
                db::lines(pool, "SELECT current_database()::text AS line"),
                std::slice::from_ref(name)
            );
            assert!(
                built_for_postgres(),
                "built without cfg(landx_pg): PostgreSQL-only tests would be ignored"
            );
        }
        Requested::Sqlite => {
            assert!(!db::is_postgres(pool));
            let version = db::lines(pool, "SELECT sqlite_version() AS line");
            assert!(version[0].starts_with('3'), "{version:?}");
            assert!(matches!(app.db, TestDb::Sqlite(_)));
            assert!(
                !built_for_postgres(),
                "built for PostgreSQL but running on SQLite: PostgreSQL-only tests would fail"
            );
        }
    }
    // Through the API as well: the server answers from that database.
    assert_eq!(app.get("/readyz", None).status, 200);
}

#[test]
fn a_database_url_that_is_not_postgresql_is_refused_not_ignored() {
    assert_eq!(requested_backend(None), Requested::Sqlite);
    assert_eq!(requested_backend(Some("")), Requested::Sqlite);
    assert_eq!(
        requested_backend(Some("postgres://postgres@127.0.0.1:5432/postgres")),
        Requested::Postgres("postgres://postgres@127.0.0.1:5432/postgres".into())
    );
    for bad in [
        "sqlite:///tmp/x.db",
        "mysql://root@localhost/landx",
        "127.0.0.1:5432",
    ] {
        let r = std::panic::catch_unwind(|| requested_backend(Some(bad)));
        let msg = r.expect_err(bad);
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("LANDX_TEST_DATABASE_URL"), "{bad}: {msg}");
    }
}

#[test]
#[cfg_attr(
    not(landx_pg),
    ignore = "PostgreSQL only (an embedded SQLite file can't go away): set LANDX_TEST_DATABASE_URL=postgres://…"
)]
fn readyz_is_503_when_the_database_is_gone() {
    let app = TestApp::start_with(|s| s.database.pool_timeout_ms = 500);
    assert_eq!(app.get("/readyz", None).status, 200);
    // (The SQLite side of "database unavailable" is the starved-pool test below.)
    let TestDb::Postgres { admin_url, name } = &app.db else {
        panic!("a PostgreSQL-only test ran without LANDX_TEST_DATABASE_URL=postgres://…");
    };
    let admin = internals::pool_for(admin_url);
    db::exec(
        &admin,
        &format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ),
    );
    app.get("/readyz", None).assert_problem(503, "unavailable");
    app.get("/readyz", None).assert_problem(503, "unavailable");
    db::exec(
        &admin,
        &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true;"),
    );
    // Recovers without a restart: poll until ready.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/readyz", None).status != 200 {
        assert!(Instant::now() < deadline, "readyz never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn starved_pool_answers_503_in_bounded_time() {
    let app = TestApp::start_with(|s| {
        s.database.pool_size = 1;
        s.database.pool_timeout_ms = 300;
    });
    let held = app.pool().get().unwrap();
    app.get("/readyz", None).assert_problem(503, "unavailable");
    drop(held);
    assert_eq!(app.get("/readyz", None).status, 200);
}
