//! The harness: the real application on a fresh database per test, served over a real socket,
//! and an HTTP client for it (or for a `landx` process). SQLite (a temporary file) by default;
//! a fresh PostgreSQL database per test when `LANDX_TEST_DATABASE_URL=postgres://...` is set
//! (created here, dropped on drop). Any other value of that variable is a mistake and panics:
//! a run meant for PostgreSQL must never pass on SQLite.
//!
//! `benches/` include this file too (through `tests/common/mod.rs`), so it only depends on
//! `super::db` and `super::contract` next to it.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::{json, Value};

use landx::clock::{Clock, ManualClock};
use landx::config::Settings;
use landx::db::{self, Pool};
use landx::state::AppState;

use super::db::{self as rows, Audit, Mail};

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123";

/// The variable that selects the database of a test run.
pub const DB_ENV: &str = "LANDX_TEST_DATABASE_URL";

/// Which database a run asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    Sqlite,
    /// The administrative URL: each test creates its own database through it.
    Postgres(String),
}

/// Reads [`DB_ENV`]: unset or empty means SQLite, a `postgres…` URL means PostgreSQL, anything
/// else panics (it would otherwise silently test SQLite).
pub fn requested_backend(value: Option<&str>) -> Requested {
    match value {
        None | Some("") => Requested::Sqlite,
        Some(url) if url.starts_with("postgres") => Requested::Postgres(url.to_string()),
        Some(other) => {
            let scheme = other.split(':').next().unwrap_or_default();
            panic!(
                "{DB_ENV} is set but is not a PostgreSQL URL (scheme `{scheme}`): set it to \
                 postgres://user@host:port/db, or unset it to test on SQLite"
            )
        }
    }
}

pub fn requested_by_env() -> Requested {
    match std::env::var(DB_ENV) {
        Ok(v) => requested_backend(Some(&v)),
        Err(std::env::VarError::NotPresent) => requested_backend(None),
        Err(std::env::VarError::NotUnicode(_)) => panic!("{DB_ENV} is not valid UTF-8"),
    }
}

pub enum TestDb {
    /// The directory of the database file (removed on drop).
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another app's database (a second instance on it): nothing to drop.
    Shared,
}

impl TestDb {
    /// A fresh, empty database and its URL.
    pub fn create() -> (TestDb, String) {
        match requested_by_env() {
            Requested::Postgres(url) => {
                let name = format!("landx_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&url)
                    .unwrap_or_else(|e| panic!("{DB_ENV} unreachable: {e}"));
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
            Requested::Sqlite => {
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

/// 2027-01-10 02:00 UTC (10:00 in Shanghai): where every test clock starts.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 10, 2, 0, 0).unwrap()
}

// ---- HTTP -----------------------------------------------------------------------------------

/// Requests against one server (an in-process [`TestApp`] or a `landx` process). Each request
/// on its own connection, unless made by a [`Client::keep_alive`] client.
#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    agent: Option<ureq::Agent>,
}

/// A request that hangs this long is a failure, not a wait.
const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(60);

impl Client {
    pub fn new(base: impl Into<String>) -> Client {
        Client {
            base: base.into(),
            agent: None,
        }
    }

    /// A client that keeps its connection open between requests, as a browser or an app does
    /// (the benchmarks' clients).
    #[allow(dead_code)] // only the benchmarks use it
    pub fn keep_alive(&self) -> Client {
        Client {
            base: self.base.clone(),
            agent: Some(ureq::AgentBuilder::new().max_idle_connections(4).build()),
        }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let url = self.url(path);
        match &self.agent {
            Some(agent) => agent.request(method, &url),
            None => ureq::request(method, &url),
        }
        .timeout(REQUEST_TIMEOUT)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; `Err` only when no HTTP answer came (refused, reset, timed out).
    pub fn try_call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Result<Resp, String> {
        let mut req = self.request(method, path);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let typed = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let result = match body {
            Some(b) if typed => req.send_string(&b),
            Some(b) => req.set("Content-Type", "application/json").send_string(&b),
            None => req.call(),
        };
        Self::answer(method, path, result)
    }

    /// Sends raw bytes as the body with its own `Content-Type` (`None`: no such header);
    /// `Err` only when no HTTP answer came.
    pub fn try_send_bytes(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Resp, String> {
        let mut req = self.request(method, path);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.set("Content-Type", ct);
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        Self::answer(method, path, req.send_bytes(body))
    }

    /// [`Client::try_send_bytes`]; a transport error fails the test.
    pub fn send_bytes(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Resp {
        self.try_send_bytes("POST", path, token, content_type, body, &[])
            .unwrap_or_else(|e| panic!("POST {path}: transport error {e}"))
    }

    /// `GET` answering the raw bytes of the body (for downloads): status, headers, bytes.
    pub fn get_bytes(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut req = self.request("GET", path);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let res = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: transport error {e}"),
        };
        let status = res.status();
        let headers = res
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = res.header(&n).unwrap_or_default().to_string();
                (n, v)
            })
            .collect();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut res.into_reader(), &mut bytes).expect("read body");
        (status, headers, bytes)
    }

    fn answer(
        method: &str,
        path: &str,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<Resp, String> {
        let res = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
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
        let content_type = res.header("content-type").map(str::to_string);
        let text = res.into_string().unwrap_or_default();
        // Every answer is one the OpenAPI document describes (see `contract`).
        super::contract::check(method, path, status, content_type.as_deref(), &text);
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            body,
            text,
        })
    }

    /// Sends a request; a transport error fails the test.
    pub fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.try_call_raw(method, path, token, body, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: transport error {e}"))
    }

    /// Sends a request; `body` None sends no body. Returns status, headers and parsed body.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.call_raw(method, path, token, body.map(|b| b.to_string()), &[])
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

    /// `POST /auth/login`, asserting 200; the whole answer (tokens and user).
    pub fn login_pair(&self, email: &str, password: &str) -> Value {
        let r = self.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        );
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        r.body
    }

    /// Logs in; the access token.
    pub fn login(&self, email: &str, password: &str) -> String {
        self.login_pair(email, password)["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// `GET /metrics`, asserting 200: the Prometheus text.
    pub fn scrape(&self) -> String {
        let r = self.get("/metrics", None);
        assert_eq!(r.status, 200, "{}", r.text);
        r.text
    }
}

/// The value of one series (name and labels as written) in a `/metrics` text.
pub fn metric(text: &str, series: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{series}: {v}: {e}")))
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

// ---- the in-process application -------------------------------------------------------------

pub struct TestApp {
    client: Client,
    pub state: AppState,
    pub clock: ManualClock,
    pub settings: Settings,
    system: Option<actix_web::rt::System>,
    /// Mail files and other state of the app (removed on drop).
    #[allow(dead_code)]
    pub workdir: tempfile::TempDir,
    pub db: TestDb,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl TestApp {
    pub fn start() -> TestApp {
        Self::start_with(|_| {})
    }

    /// For trading scenarios that jump the clock by weeks and log many investors in from
    /// one address: access tokens that outlive the jumps, no per-IP throttle.
    pub fn start_for_trading() -> TestApp {
        Self::start_with(|s| {
            s.auth.access_token_minutes = 60 * 24 * 90;
            s.auth.ip_attempts_per_minute = 1_000_000;
        })
    }

    /// With the test clock on (`clock.travel`): `/api/v1/admin/clock` serves, and the app's
    /// time is the manual clock plus the stored offset.
    pub fn start_travel() -> TestApp {
        Self::start_with(|s| s.clock.travel = true)
    }

    /// Starts the app on a fresh database, after `tweak` adjusts the settings.
    pub fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let (db, url) = TestDb::create();
        let workdir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(&url, workdir.path());
        tweak(&mut settings);
        Self::serve(db, settings, workdir, ManualClock::new(t0()))
    }

    /// Stops this app and starts it again on the same database and settings (a restart: new
    /// state, nothing kept in memory), its manual clock going on from where it was.
    pub fn restart(mut self) -> TestApp {
        if let Some(sys) = self.system.take() {
            sys.stop();
        }
        let db = std::mem::replace(&mut self.db, TestDb::Shared);
        let workdir = std::mem::replace(&mut self.workdir, tempfile::tempdir().unwrap());
        let clock = ManualClock::new(self.clock.now());
        Self::serve(db, self.settings.clone(), workdir, clock)
    }

    /// Another instance on this app's database and settings (its own state, pool and server;
    /// its `run_jobs` is its worker's tick), its manual clock at this one's. The database stays
    /// this app's.
    pub fn second_instance(&self) -> TestApp {
        let workdir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(self.clock.now());
        Self::serve(TestDb::Shared, self.settings.clone(), workdir, clock)
    }

    fn serve(
        db: TestDb,
        settings: Settings,
        workdir: tempfile::TempDir,
        clock: ManualClock,
    ) -> TestApp {
        let pool = db::connect(&settings).expect("pool");
        {
            let mut conn = pool.get().unwrap();
            db::run_migrations(&mut conn).expect("migrations");
        }
        let state = AppState::new(settings.clone(), pool, Arc::new(clock.clone()), SECRET);
        if let Some(travel) = state.clock.travel() {
            // As `landx serve` does: the stored offset before the first request.
            let mut conn = state.pool.get().unwrap();
            landx::app::clock::refresh(&mut conn, travel).expect("load the clock offset");
        }
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
            client: Client::new(format!("http://{addr}")),
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

    // ---- the test clock ----

    /// The app's now: the manual clock, plus the stored offset when `clock.travel` is on.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// The offset this instance's clock applies now (0 without `clock.travel`).
    pub fn clock_offset_secs(&self) -> i64 {
        self.state.clock.travel().map_or(0, |t| t.offset_secs())
    }

    pub fn set_now(&self, t: DateTime<Utc>) {
        self.clock.set(t);
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// The app's clock as the trait object domain code takes (used by `benches/`).
    #[allow(dead_code)]
    pub fn clock_ref(&self) -> &dyn Clock {
        &self.clock
    }

    // ---- what only the server side can do ----

    /// Creates an admin directly (as `landx admin create` does) and logs in; its token.
    pub fn admin_token(&self) -> String {
        let email = format!("admin-{}@landx.test", uuid::Uuid::new_v4().simple());
        let mut conn = self.pool().get().unwrap();
        landx::cli::create_admin(&mut conn, &email, "admin-password-1", "管理员").unwrap();
        drop(conn);
        self.login(&email, "admin-password-1")
    }

    /// One pass of the background workers (settling, mail relay, ...), as the scheduler
    /// would run it.
    pub fn run_jobs(&self) {
        run_jobs_of(&self.state);
    }

    /// Another instance of the application on the same database: its own connection pool,
    /// the same clock and settings. Run its worker with [`run_jobs_of`].
    #[allow(dead_code)]
    pub fn twin(&self) -> AppState {
        let pool = db::connect(&self.settings).expect("pool");
        AppState::new(
            self.settings.clone(),
            pool,
            Arc::new(self.clock.clone()),
            SECRET,
        )
    }

    /// Every mail in the outbox (sent or not), oldest first, address and body opened as the
    /// relay opens them (the outbox stores them sealed: see [`rows::outbox`] for the raw rows).
    pub fn outbox(&self) -> Vec<Mail> {
        rows::outbox(self.pool())
            .into_iter()
            .map(|m| Mail {
                to_addr: landx::notify::open(&m.to_addr).expect("outbox address opens"),
                body: landx::notify::open(&m.body).expect("outbox body opens"),
                ..m
            })
            .collect()
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

    /// The audit records of one entity, oldest first.
    pub fn audit_for(&self, entity_id: &str) -> Vec<Audit> {
        rows::audit_where(
            self.pool(),
            &format!("entity_id = {}", rows::lit(entity_id)),
        )
    }

    pub fn exec_sql(&self, sql: &str) {
        let mut conn = self.pool().get().unwrap();
        conn.batch_execute(sql).unwrap();
    }
}

/// One pass of the background workers of the instance `state` with a relay `sender` kept
/// from pass to pass (as a running process keeps it); the pass's first failure, if any.
pub fn try_run_jobs_with(
    state: &AppState,
    sender: &Arc<landx::notify::relay::Sender>,
) -> Result<(), landx::error::ApiError> {
    let (state, sender) = (state.clone(), sender.clone());
    actix_web::rt::System::new()
        .block_on(async move { landx::jobs::run_once(&state, sender).await })
}

/// One pass of the background workers of the instance `state`.
pub fn run_jobs_of(state: &AppState) {
    let sender =
        Arc::new(landx::notify::relay::Sender::from_settings(&state.settings.mail).unwrap());
    let state = state.clone();
    actix_web::rt::System::new()
        .block_on(async move { landx::jobs::run_once(&state, sender).await })
        .expect("jobs pass");
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(sys) = self.system.take() {
            sys.stop();
        }
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
