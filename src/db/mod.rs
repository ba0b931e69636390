//! Database access: one connection type over PostgreSQL and SQLite, the pool, migrations and
//! the transaction helper. This module and the few per-backend helpers of its submodules (`audit`,
//! `idempotency`, `limits`) hold the only per-backend code.

pub mod accounts;
pub mod auction;
pub mod audit;
pub mod audit_trail;
pub mod business_counts;
pub mod cached;
pub mod clock;
pub mod contracts;
pub mod documents;
pub mod idempotency;
pub mod insurance;
pub mod limits;
pub mod listings;
pub mod models;
pub mod open_data;
pub mod orgs;
pub mod outbox;
pub mod queries;
pub mod registrations;
pub mod replica;
pub mod schema;
pub mod signals;
pub mod stats;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{ConfigError, DatabaseUrl, Settings};
use crate::error::ApiError;

pub use cached::Cached;

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConn {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbConn::Sqlite(_))
    }
}

/// Runs `$body` with `$conn` bound to the concrete backend connection, for the few queries
/// that need backend-specific SQL (row locks, upserts with RETURNING).
#[macro_export]
macro_rules! db_run {
    ($conn:ident: $body:block) => {
        match $conn {
            $crate::db::DbConn::Pg($conn) => $body,
            $crate::db::DbConn::Sqlite($conn) => $body,
        }
    };
}

/// PostgreSQL: `query FOR UPDATE OF table`, locking the rows of `table` only, not those joined
/// to them (diesel's `for_update` locks every table of the query).
pub struct ForUpdateOf<Q>(pub Q, pub &'static str);

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for ForUpdateOf<Q>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" FOR UPDATE OF ");
        out.push_identifier(self.1)
    }
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for ForUpdateOf<Q> {
    type SqlType = Q::SqlType;
}

/// What every query returns: diesel's own error. Its meaning for a client (404, 409, 503…)
/// is decided once, in `crate::error`.
pub type QResult<T> = Result<T, diesel::result::Error>;

/// The connection pool (r2d2's, which it derefs to) and how many wait for it right now.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<Manager>,
    /// Requests waiting for a connection of this pool (for `/metrics`): per pool, so apps
    /// side by side in one process (tests) count alone.
    waiting: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Opens connections for the backend named by the URL, with SQLite's per-connection PRAGMAs.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    busy_timeout_ms: u64,
    synchronous: String,
}

impl Manager {
    pub fn new(settings: &crate::config::Database) -> Result<Self, ConfigError> {
        Ok(Manager {
            url: DatabaseUrl::parse(&settings.url)?,
            busy_timeout_ms: settings.sqlite_busy_timeout_ms,
            synchronous: settings.sqlite_synchronous.to_ascii_uppercase(),
        })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    fn sqlite_path(path: &std::path::Path) -> String {
        path.to_string_lossy().into_owned()
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&Self::sqlite_path(path))
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = {};",
                    self.busy_timeout_ms, self.synchronous
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Pg(c) => r2d2::R2D2Connection::is_broken(c),
            DbConn::Sqlite(c) => r2d2::R2D2Connection::is_broken(c),
        }
    }
}

/// Builds the pool. For SQLite the file's directory is created and WAL is set once, before
/// any pooled connection exists.
pub fn connect(settings: &Settings) -> Result<Pool, StartupError> {
    let manager = Manager::new(&settings.database)?;
    if let DatabaseUrl::Sqlite(path) = manager.url() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StartupError::Database(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = manager
            .connect()
            .map_err(|e| StartupError::Database(e.to_string()))?;
        conn.batch_execute("PRAGMA journal_mode = WAL;")
            .map_err(|e| StartupError::Database(e.to_string()))?;
    }
    pool_builder(
        settings.database.pool_size,
        settings.database.pool_timeout_ms,
    )
    .build(manager)
    .map(Pool::from)
    .map_err(|e| StartupError::Database(e.to_string()))
}

/// How every pool of the process is built: its size, how long a request waits for a
/// connection, no idle minimum, no test on checkout.
fn pool_builder(size: u32, timeout_ms: u64) -> r2d2::Builder<Manager> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_millis(timeout_ms))
        .test_on_check_out(false)
}

impl From<r2d2::Pool<Manager>> for Pool {
    fn from(inner: r2d2::Pool<Manager>) -> Pool {
        Pool {
            inner,
            waiting: Default::default(),
        }
    }
}

/// The read replica's pool, when `database.replica_url` is set. Built without connecting, so
/// a replica that is down at start only sends reads to the primary until it answers.
pub fn connect_replica(
    settings: &Settings,
) -> Result<Option<std::sync::Arc<replica::Replica>>, StartupError> {
    if settings.database.replica_url.is_empty() {
        return Ok(None);
    }
    let mut db = settings.database.clone();
    db.url = db.replica_url.clone();
    let manager = Manager::new(&db)?;
    let pool = Pool::from(
        pool_builder(db.pool_size, db.pool_timeout_ms.min(1000)).build_unchecked(manager),
    );
    Ok(Some(replica::Replica::new(
        pool,
        Duration::from_millis(db.replica_retry_ms),
    )))
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Database(String),
    #[error("migrations: {0}")]
    Migrations(String),
}

/// Applies pending migrations; returns the names applied.
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, StartupError> {
    let applied = match conn {
        DbConn::Pg(c) => {
            // Several instances may start at once: serialise them on an advisory lock.
            c.batch_execute("SELECT pg_advisory_lock(7263541)")
                .map_err(|e| StartupError::Migrations(e.to_string()))?;
            let r = c
                .run_pending_migrations(PG_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>());
            let _ = c.batch_execute("SELECT pg_advisory_unlock(7263541)");
            r
        }
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>()),
    };
    applied.map_err(|e| StartupError::Migrations(e.to_string()))
}

/// Keeps SQLite's query-planner statistics fresh (`PRAGMA optimize`; at startup with the
/// 0x10002 mask that analyses every table that needs it). PostgreSQL's autovacuum does this
/// by itself.
pub fn optimize(conn: &mut DbConn, at_startup: bool) -> Result<(), ApiError> {
    if conn.is_sqlite() {
        conn.batch_execute(if at_startup {
            "PRAGMA optimize=0x10002;"
        } else {
            "PRAGMA optimize;"
        })?;
    }
    Ok(())
}

/// Reverts every applied migration (used by the up → down → up test).
pub fn revert_all_migrations(conn: &mut DbConn) -> Result<(), StartupError> {
    let r = match conn {
        DbConn::Pg(c) => c.revert_all_migrations(PG_MIGRATIONS).map(|_| ()),
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    r.map_err(|e| StartupError::Migrations(e.to_string()))
}

/// Runs `f` in one write transaction. SQLite takes the write lock up front (`BEGIN
/// IMMEDIATE`) so two writers never deadlock on a lock upgrade; PostgreSQL uses an ordinary
/// transaction (row locks are taken by the queries that need them). Nested calls (and
/// diesel's own nested transactions) become savepoints.
///
/// Inside a request with an `Idempotency-Key`, the outermost transaction's last statement
/// marks the key's claim committed ([`idempotency::Fence`]): a retry never performs an
/// action that committed, even when its response was lost.
pub fn write_tx<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    replica::guard_write()?;
    if in_transaction(conn) {
        return conn.transaction(f);
    }
    commit_hook::clear();
    let f = |conn: &mut DbConn| {
        let v = f(conn)?;
        commit_hook::run(conn)?;
        idempotency::complete(conn)?;
        Ok(v)
    };
    match conn {
        DbConn::Pg(_) => conn.transaction(f),
        DbConn::Sqlite(_) => {
            // Diesel's own transaction manager opens it, so a nested `transaction()` (e.g.
            // a batch insert) becomes a savepoint instead of a second BEGIN.
            if let DbConn::Sqlite(c) = conn {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            }
            let result = f(conn);
            let DbConn::Sqlite(c) = conn else {
                unreachable!("backend cannot change inside a transaction")
            };
            match result {
                Ok(v) => match AnsiTransactionManager::commit_transaction(c) {
                    Ok(()) => Ok(v),
                    Err(e) => {
                        let _ = AnsiTransactionManager::rollback_transaction(c);
                        Err(e.into())
                    }
                },
                Err(e) => {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    Err(e)
                }
            }
        }
    }
}

/// Work that follows from what a transaction changed, done as its last statements (after
/// every row it wrote is in place, so the order of writes inside a use case doesn't matter):
/// the audit trail marks the streams whose listing, deal or contract changed, and the hook
/// installed by the use-case layer (open data) brings their derived rows up to date.
pub mod commit_hook {
    use std::cell::RefCell;
    use std::sync::OnceLock;

    use chrono::{DateTime, Utc};

    use super::DbConn;
    use crate::error::ApiError;

    /// What runs for each changed stream, with the time of its last change.
    pub type Hook = fn(&mut DbConn, &str, DateTime<Utc>) -> Result<(), ApiError>;

    static HOOK: OnceLock<Hook> = OnceLock::new();

    thread_local! {
        static CHANGED: RefCell<Vec<(String, DateTime<Utc>)>> = const { RefCell::new(Vec::new()) };
    }

    /// Installs the hook (once per process; later calls keep the first).
    pub fn install(hook: Hook) {
        let _ = HOOK.set(hook);
    }

    /// Marks a stream changed in the transaction running on this thread.
    pub fn mark(stream: &str, at: DateTime<Utc>) {
        CHANGED.with(|c| {
            let mut c = c.borrow_mut();
            match c.iter_mut().find(|(s, _)| s == stream) {
                Some(entry) => entry.1 = entry.1.max(at),
                None => c.push((stream.to_string(), at)),
            }
        });
    }

    pub(super) fn clear() {
        CHANGED.with(|c| c.borrow_mut().clear());
    }

    pub(super) fn run(conn: &mut DbConn) -> Result<(), ApiError> {
        let changed = CHANGED.with(|c| std::mem::take(&mut *c.borrow_mut()));
        if let Some(hook) = HOOK.get() {
            for (stream, at) in changed {
                hook(conn, &stream, at)?;
            }
        }
        Ok(())
    }
}

/// A write transaction that is not the action of the request being served (settling what
/// fell due before acting on it): it commits without marking the request's
/// `Idempotency-Key` claim, so a failure of the action itself still lets a retry run it.
pub fn side_tx<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let _unfenced = idempotency::enter(None);
    write_tx(conn, f)
}

fn in_transaction(conn: &mut DbConn) -> bool {
    let depth = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()
            .ok()
            .flatten(),
        DbConn::Pg(c) => AnsiTransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()
            .ok()
            .flatten(),
    };
    depth.is_some()
}

/// Requests waiting for a connection of `pool` right now (for `/metrics`).
pub fn pool_waiting(pool: &Pool) -> i64 {
    pool.waiting.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs blocking database work on the blocking thread pool with a pooled connection.
/// A pool that can't hand out a connection in `pool_timeout_ms` answers 503.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    // The request's `Idempotency-Key` claim follows its database work to the blocking thread.
    let fence = idempotency::request_fence();
    actix_web::web::block(move || {
        let waiting = &pool.waiting;
        waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let got = pool.get();
        waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let mut conn = got.map_err(|e| {
            tracing::warn!(error = %e, "no database connection");
            ApiError::Unavailable
        })?;
        let _fence = idempotency::enter(fence);
        f(&mut conn)
    })
    .await
    .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
}

/// `run` + `write_tx`.
pub async fn run_tx<T, F>(pool: &Pool, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    run(pool, move |conn| write_tx(conn, f)).await
}

/// A unique constraint refused the write (a taken code, e-mail or second registration).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Maps a unique violation to `taken`, any other database error to its usual meaning.
pub fn unique_or(
    taken: impl FnOnce() -> ApiError,
) -> impl FnOnce(diesel::result::Error) -> ApiError {
    move |e| {
        if is_unique_violation(&e) {
            taken()
        } else {
            e.into()
        }
    }
}
