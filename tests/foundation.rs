//! The service skeleton: health, readiness, metrics, OpenAPI, error mapping, migrations.

mod common;

use common::*;
use serde_json::json;

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

#[test]
fn openapi_describes_every_route() {
    let app = TestApp::start();
    let doc = app.get("/openapi.json", None);
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (method, path) in landx::api::routes().list() {
        if path == "/openapi.json" || path.starts_with("/docs") {
            continue;
        }
        let m = method.as_str().to_lowercase();
        if paths.get(&path).and_then(|p| p.get(&m)).is_none() {
            missing.push(format!("{} {}", method, path));
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from OpenAPI: {missing:?}"
    );
    let docs = app.get("/docs", None);
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger-ui"));
    assert_eq!(app.get("/docs/swagger-ui-bundle.js", None).status, 200);
    assert_eq!(app.get("/docs/swagger-ui.css", None).status, 200);
}

#[test]
fn readyz_is_503_when_the_database_is_gone() {
    let app = TestApp::start_with(|s| s.database.pool_timeout_ms = 500);
    assert_eq!(app.get("/readyz", None).status, 200);
    // Only PostgreSQL can go away under a running server; an embedded SQLite file can't.
    // (The SQLite side of "database unavailable" is the starved-pool test below.)
    let TestDb::Postgres { admin_url, name } = &app.db else {
        eprintln!("readyz outage test needs PostgreSQL; SQLite has no server to lose");
        return;
    };
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let mut c = diesel::PgConnection::establish(admin_url).unwrap();
    c.batch_execute(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
    ))
    .unwrap();
    app.get("/readyz", None).assert_problem(503, "unavailable");
    app.get("/readyz", None).assert_problem(503, "unavailable");
    c.batch_execute(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true;"
    ))
    .unwrap();
    let recovered = (0..5).any(|_| app.get("/readyz", None).status == 200);
    assert!(recovered, "readyz recovers without a restart");
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

#[test]
fn migrations_up_down_up() {
    let (db, url) = TestDb::create();
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&url, dir.path());
    let pool = landx::db::connect(&settings).unwrap();
    let mut conn = pool.get().unwrap();
    let applied = landx::db::run_migrations(&mut conn).unwrap();
    assert!(!applied.is_empty());
    landx::db::revert_all_migrations(&mut conn).unwrap();
    let again = landx::db::run_migrations(&mut conn).unwrap();
    assert_eq!(applied, again);
    assert!(landx::db::run_migrations(&mut conn).unwrap().is_empty());
    drop(conn);
    drop(pool);
    drop(db);
}

#[test]
fn migration_folders_have_the_same_names() {
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!(
            "{}/migrations/{backend}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
        v.sort();
        v
    };
    let pg = names("postgres");
    assert!(!pg.is_empty());
    assert_eq!(pg, names("sqlite"));
    for n in &pg {
        for f in ["up.sql", "down.sql"] {
            for b in ["postgres", "sqlite"] {
                assert!(
                    std::path::Path::new(&format!(
                        "{}/migrations/{b}/{n}/{f}",
                        env!("CARGO_MANIFEST_DIR")
                    ))
                    .exists(),
                    "{b}/{n}/{f}"
                );
            }
        }
    }
}
