//! Every use of the library's insides that the tests need besides the harness (which starts
//! the app, creates admins, runs the workers): one small function each, so that moving a
//! module in `src/` means re-pointing a line here, not editing tests.

use std::sync::atomic::Ordering;

use landx::db::Pool;

use super::db::Audit;
use super::harness::{test_settings, TestApp, TestDb};

// ---- the pages of the e-mailed links --------------------------------------------------------

/// The paths of the pages behind the e-mailed links (HTML, not part of the JSON API).
pub fn page_paths() -> &'static [&'static str] {
    &landx::api::pages::PATHS
}

// ---- demo data -------------------------------------------------------------------------------

/// The demo seed's sample PDF showing `label`.
pub fn sample_pdf(label: &str) -> Vec<u8> {
    landx::demo::sample_pdf(label)
}

pub const DEMO_PASSWORD: &str = landx::demo::DEMO_PASSWORD;

/// Why `landx demo seed` refused: the error's stable code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

/// `landx demo seed` on the app's database at the app's time; the demo accounts
/// (e-mail, role) it created.
pub fn demo_seed(app: &TestApp) -> Result<Vec<(String, String)>, Refusal> {
    let mut conn = app.pool().get().unwrap();
    landx::demo::seed(
        &mut conn,
        &app.state.settings,
        &app.state.data_key,
        app.now(),
    )
    .map_err(|e| Refusal {
        code: e.code().to_string(),
        message: e.to_string(),
    })
}

// ---- migrations ------------------------------------------------------------------------------

/// A fresh, empty database of the run's backend with a pool, and no app.
pub struct Scratch {
    pub pool: Pool,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

pub fn scratch_database() -> Scratch {
    let (db, url) = TestDb::create();
    let dir = tempfile::tempdir().unwrap();
    let pool = landx::db::connect(&test_settings(&url, dir.path())).expect("pool");
    Scratch {
        pool,
        _db: db,
        _dir: dir,
    }
}

/// A pool on the database at `url` (to look at what a `landx` process stored).
pub fn pool_for(url: &str) -> Pool {
    let dir = tempfile::tempdir().unwrap();
    landx::db::connect(&test_settings(url, dir.path())).expect("pool")
}

/// Applies every pending migration; the names applied.
pub fn migrate_up(pool: &Pool) -> Vec<String> {
    let mut conn = pool.get().unwrap();
    landx::db::run_migrations(&mut conn).expect("migrations up")
}

/// Reverts every applied migration.
pub fn migrate_down_all(pool: &Pool) {
    let mut conn = pool.get().unwrap();
    landx::db::revert_all_migrations(&mut conn).expect("migrations down");
}

// ---- the audit trail and hashing ---------------------------------------------------------------

pub const GENESIS_HASH: &str = landx::audit::GENESIS_HASH;

/// The first broken link `landx audit verify` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub stream: String,
    pub seq: i64,
    pub id: String,
    pub problem: String,
}

/// Walks every hash chain: the number of records when intact.
pub fn verify_audit(pool: &Pool) -> Result<u64, Broken> {
    let mut conn = pool.get().unwrap();
    landx::audit::verify(&mut conn)
        .expect("verify reads the log")
        .map_err(|b| Broken {
            stream: b.stream,
            seq: b.seq,
            id: b.id,
            problem: b.problem,
        })
}

/// The hash the application computes for an audit record.
pub fn audit_hash(a: &Audit) -> String {
    landx::audit::record_hash(&landx::db::models::AuditRecord {
        id: a.id.clone(),
        stream: a.stream.clone(),
        seq: a.seq,
        prev_hash: a.prev_hash.clone(),
        hash: a.hash.clone(),
        actor_id: a.actor_id.clone(),
        actor_role: a.actor_role.clone(),
        action: a.action.clone(),
        entity_type: a.entity_type.clone(),
        entity_id: a.entity_id.clone(),
        from_state: a.from_state.clone(),
        to_state: a.to_state.clone(),
        reason: a.reason.clone(),
        created_at: a.created_at,
        key_id: None,
        amount_fen: None,
    })
}

/// The application's SHA-256 helper (one-time and refresh tokens are stored as this).
pub fn sha256_hex(s: &str) -> String {
    landx::auth::tokens::sha256_hex(s)
}

// ---- routes and passwords ----------------------------------------------------------------------

/// Every (METHOD, path) the router serves.
pub fn route_list() -> Vec<(String, String)> {
    landx::api::routes()
        .list()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_string(), p))
        .collect()
}

/// Password verifications performed by this process so far. Process-wide: read it only in a
/// process of its own (see `process::in_own_process`).
pub fn password_verifications() -> u64 {
    landx::auth::password::VERIFICATIONS.load(Ordering::SeqCst)
}

// ---- Idempotency-Key ----------------------------------------------------------------------------

/// The fingerprint the `Idempotency-Key` middleware stores for `POST path` with `body`.
pub fn idempotency_fingerprint(path: &str, body: &str) -> String {
    landx::idempotency::fingerprint("POST", path, body.as_bytes())
}

// ---- the statements a connection runs --------------------------------------------------------

/// One event of a connection's statement log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// A statement run: its SQL text (binds left out).
    Run(String),
    /// A statement prepared and put in the connection's cache (for later runs to reuse).
    Prepared(String),
}

/// What the connections given to [`log_statements`] run, until dropped.
#[derive(Clone, Default)]
pub struct StatementLog(std::sync::Arc<std::sync::Mutex<Vec<Statement>>>);

impl StatementLog {
    /// The events since the last call, oldest first.
    pub fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl diesel::connection::Instrumentation for StatementLog {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::connection::InstrumentationEvent as E;
        let text = |sql: &str| {
            sql.split(" -- binds:")
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let entry = match event {
            E::StartQuery { query, .. } => Statement::Run(text(&query.to_string())),
            E::CacheQuery { sql, .. } => Statement::Prepared(text(sql)),
            _ => return,
        };
        self.0.lock().unwrap().push(entry);
    }
}

/// Logs every statement of the pool's one connection (an app started with `pool_size = 1`),
/// whose statement cache starts empty: what it prepares from now on shows in the log.
pub fn log_statements(pool: &Pool) -> StatementLog {
    use diesel::connection::{CacheSize, Connection};
    assert_eq!(
        pool.max_size(),
        1,
        "log_statements needs a pool of one connection"
    );
    let log = StatementLog::default();
    let mut conn = pool.get().unwrap();
    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    conn.set_prepared_statement_cache_size(CacheSize::Unbounded);
    conn.set_instrumentation(log.clone());
    log
}
