//! Test harness: the real application on a fresh database per test, served over a real socket.
//! SQLite (a temporary file) by default; a fresh PostgreSQL database per test when
//! `LANDX_TEST_DATABASE_URL=postgres://...` is set (created here, dropped on drop).
#![allow(dead_code)]

use std::sync::mpsc;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::{json, Value};

use landx::clock::ManualClock;
use landx::config::Settings;
use landx::db::{self, Pool};
use landx::state::AppState;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123";

pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A fresh, empty database and its URL.
    pub fn create() -> (TestDb, String) {
        match std::env::var("LANDX_TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let name = format!("landx_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&url)
                    .unwrap_or_else(|e| panic!("LANDX_TEST_DATABASE_URL unreachable: {e}"));
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let (base, _) = url.rsplit_once('/').expect("database url has a path");
                let db_url = format!("{base}/{name}");
                (
                    TestDb::Postgres {
                        admin_url: url,
                        name,
                    },
                    db_url,
                )
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("landx.db").display());
                (TestDb::Sqlite(dir), url)
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

pub fn test_settings(url: &str, dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        env: "test".into(),
        ..Settings::default()
    };
    s.database.url = url.into();
    s.database.pool_size = 8;
    s.database.pool_timeout_ms = 3000;
    s.mail.file_dir = dir.join("mail").display().to_string();
    s.server.public_url = "http://landx.test".into();
    s
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: ManualClock,
    pub settings: Settings,
    system: Option<actix_web::rt::System>,
    pub workdir: tempfile::TempDir,
    pub db: TestDb,
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 10, 2, 0, 0).unwrap()
}

impl TestApp {
    pub fn start() -> TestApp {
        Self::start_with(|_| {})
    }

    /// Starts the app on a fresh database, after `tweak` adjusts the settings.
    pub fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let (db, url) = TestDb::create();
        let workdir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(&url, workdir.path());
        tweak(&mut settings);
        let pool = db::connect(&settings).expect("pool");
        {
            let mut conn = pool.get().unwrap();
            db::run_migrations(&mut conn).expect("migrations");
        }
        let clock = ManualClock::new(t0());
        let state = AppState::new(settings.clone(), pool, Arc::new(clock.clone()), SECRET);
        let (tx, rx) = mpsc::channel();
        let app_state = state.clone();
        std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let srv = actix_web::HttpServer::new(move || landx::build_app(app_state.clone()))
                    .workers(2)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))
                    .expect("bind");
                let addr = srv.addrs()[0];
                let server = srv.run();
                tx.send((addr, actix_web::rt::System::current())).unwrap();
                let _ = server.await;
            });
        });
        let (addr, system) = rx.recv().expect("server started");
        TestApp {
            base: format!("http://{addr}"),
            state,
            clock,
            settings,
            system: Some(system),
            workdir,
            db,
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.state.pool
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; `body` None sends no body. Returns status, headers and parsed body.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.call_raw(method, path, token, body.map(|b| b.to_string()), &[])
    }

    pub fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = ureq::request(method, &self.url(path));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b),
            None => req.call(),
        };
        let res = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: transport error {e}"),
        };
        let status = res.status();
        let headers: Vec<(String, String)> = res
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = res.header(&n).unwrap_or_default().to_string();
                (n, v)
            })
            .collect();
        let text = res.into_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call("POST", path, token, Some(body))
    }

    pub fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call("PATCH", path, token, Some(body))
    }

    /// Creates an admin directly and logs in; returns its access token.
    pub fn admin_token(&self) -> String {
        let email = format!("admin-{}@landx.test", uuid::Uuid::new_v4().simple());
        let mut conn = self.pool().get().unwrap();
        landx::cli::create_admin(&mut conn, &email, "admin-password-1", "管理员").unwrap();
        drop(conn);
        self.login(&email, "admin-password-1")
    }

    pub fn login(&self, email: &str, password: &str) -> String {
        let r = self.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        );
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    /// One pass of the background workers (mail relay, ...), as the scheduler would run it.
    pub fn run_jobs(&self) {
        let sender =
            Arc::new(landx::notify::relay::Sender::from_settings(&self.settings.mail).unwrap());
        let state = self.state.clone();
        actix_web::rt::System::new()
            .block_on(async move { landx::jobs::run_once(&state, sender).await })
            .expect("jobs pass");
    }

    /// Every mail in the outbox (sent or not), oldest first.
    pub fn outbox(&self) -> Vec<landx::db::models::OutboxMail> {
        let mut conn = self.pool().get().unwrap();
        landx::db::queries::list_mail(&mut conn).unwrap()
    }

    /// The token carried by the newest mail to `to` whose subject ends with `subject_end`.
    pub fn mailed_token(&self, to: &str, subject_end: &str) -> String {
        let mail = self
            .outbox()
            .into_iter()
            .rev()
            .find(|m| m.to_addr == to && m.subject.ends_with(subject_end))
            .unwrap_or_else(|| panic!("no mail `{subject_end}` to {to}"));
        let start = mail.body.find("?token=").expect("link with token") + 7;
        mail.body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    pub fn audit_for(&self, entity_id: &str) -> Vec<landx::db::models::AuditRecord> {
        let mut conn = self.pool().get().unwrap();
        landx::audit::for_entity(&mut conn, entity_id).unwrap()
    }

    pub fn exec_sql(&self, sql: &str) {
        let mut conn = self.pool().get().unwrap();
        conn.batch_execute(sql).unwrap();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(sys) = self.system.take() {
            sys.stop();
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem+json answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got: {}",
            self.text
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/problem+json")),
            "content-type of {}: {:?}",
            self.text,
            self.header("content-type")
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["type"], "about:blank");
        self
    }

    /// Asserts a 422 naming `field` among its errors.
    pub fn assert_field(&self, field: &str) -> &Self {
        self.assert_problem(422, "validation_failed");
        let fields: Vec<&str> = self.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(
            fields.contains(&field),
            "expected field {field} in {fields:?}"
        );
        self
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("id").to_string()
    }
}

impl TestApp {
    /// The app's clock as the trait object domain code takes.
    pub fn clock_ref(&self) -> &dyn landx::clock::Clock {
        &self.clock
    }
}

// ---- valid ID numbers (shared by tests and benches) ----------------------------------------

/// The GB 11643 check character of a resident ID's 17 digits.
pub fn resident_check(body: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

/// The GB 32100 check character of a unified social credit code's first 17 characters.
pub fn uscc_check(body: &str) -> char {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let sum: usize = body
        .bytes()
        .zip(W)
        .map(|(c, w)| CHARS.iter().position(|x| *x == c).expect("code char") * w)
        .sum();
    CHARS[(31 - sum % 31) % 31] as char
}

/// A resident ID (distinct for n < 1000).
pub fn resident_id(n: u32) -> String {
    let body = format!("31011619800101{:03}", n % 1000);
    format!("{body}{}", resident_check(&body))
}

/// A unified social credit code.
pub fn uscc(n: u32) -> String {
    let body = format!("91310116MA1{:06}", n % 1_000_000);
    format!("{body}{}", uscc_check(&body))
}
