//! The optional read replica (`database.replica_url`, a PostgreSQL hot standby): where
//! anonymous public reads go, and the guard that keeps everything else on the primary.
//!
//! A read sent to the replica runs with a thread-local mark; a write transaction begun under
//! it (settling what fell due, which lazy reads do) fails with `PrimaryRequired` before
//! touching anything, and the whole read runs again on the primary. A replica that can't be
//! reached is skipped for `replica_retry_ms`, its reads served by the primary, so stopping the
//! replica never fails a request.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DbConn, Pool};
use crate::error::ApiError;

thread_local! {
    static ON_REPLICA: Cell<bool> = const { Cell::new(false) };
}

/// Whether the work running on this thread reads the replica (writes must not start).
pub fn on_replica() -> bool {
    ON_REPLICA.with(Cell::get)
}

/// The replica's pool and whether it is to be skipped right now.
pub struct Replica {
    pub pool: Pool,
    retry: Duration,
    started: Instant,
    /// Milliseconds since `started` before which the replica is skipped (0: use it).
    skip_until_ms: AtomicI64,
    /// Reads served by the replica and reads it handed to the primary (for `/metrics`).
    pub served: AtomicU64,
    pub handed_over: AtomicU64,
}

impl Replica {
    pub fn new(pool: Pool, retry: Duration) -> Arc<Replica> {
        Arc::new(Replica {
            pool,
            retry,
            started: Instant::now(),
            skip_until_ms: AtomicI64::new(0),
            served: AtomicU64::new(0),
            handed_over: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// The replica is not being skipped after a failure.
    pub fn usable(&self) -> bool {
        self.skip_until_ms.load(Ordering::Relaxed) <= self.now_ms()
    }

    fn failed(&self) {
        let until = self
            .now_ms()
            .saturating_add(i64::try_from(self.retry.as_millis()).unwrap_or(i64::MAX));
        self.skip_until_ms.store(until, Ordering::Relaxed);
    }

    /// Prometheus lines: public reads served by the replica and those it handed to the
    /// primary (it was down or the read had to settle something).
    pub fn metrics_text(&self) -> String {
        format!(
            "# HELP landx_replica_reads_total Public reads sent to the read replica, by where they were served.\n\
             # TYPE landx_replica_reads_total counter\n\
             landx_replica_reads_total{{served_by=\"replica\"}} {}\n\
             landx_replica_reads_total{{served_by=\"primary\"}} {}\n",
            self.served.load(Ordering::Relaxed),
            self.handed_over.load(Ordering::Relaxed)
        )
    }

    /// The replica answered (a readiness check): use it again.
    pub fn answered(&self) {
        self.skip_until_ms.store(0, Ordering::Relaxed);
    }
}

/// Runs a public read: on the replica when there is one and it is usable, else (or when the
/// replica can't serve it) on the primary. `f` may run twice, so it is `Fn`.
pub async fn run_read<T, F>(
    primary: &Pool,
    replica: Option<&Arc<Replica>>,
    f: F,
) -> Result<T, ApiError>
where
    F: Fn(&mut DbConn) -> Result<T, ApiError> + Send + Sync + 'static,
    T: Send + 'static,
{
    let Some(replica) = replica else {
        return super::run(primary, f).await;
    };
    if !replica.usable() {
        replica.handed_over.fetch_add(1, Ordering::Relaxed);
        return super::run(primary, f).await;
    }
    let f = Arc::new(f);
    let on_replica = f.clone();
    let first = super::run(&replica.pool, move |conn| {
        let _mark = ReplicaMark::set();
        on_replica(conn)
    })
    .await;
    match first {
        Ok(v) => {
            replica.served.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        Err(ApiError::PrimaryRequired) => {}
        // The replica is down, restarting or broken (a statement failing for a reason of the
        // database, not of the request): skip it for a while.
        Err(ApiError::Unavailable | ApiError::Internal(_)) => {
            tracing::warn!("read replica unavailable; reading the primary");
            replica.failed();
        }
        // The replica answered (a 404, a bad cursor): that is the read's answer.
        Err(e) => {
            replica.served.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
    }
    replica.handed_over.fetch_add(1, Ordering::Relaxed);
    super::run(primary, move |conn| f(conn)).await
}

/// Marks this thread's work as reading the replica until dropped (also on a panic, so a
/// blocking thread never keeps the mark into its next task).
struct ReplicaMark;

impl ReplicaMark {
    fn set() -> ReplicaMark {
        ON_REPLICA.with(|c| c.set(true));
        ReplicaMark
    }
}

impl Drop for ReplicaMark {
    fn drop(&mut self) {
        ON_REPLICA.with(|c| c.set(false));
    }
}

/// Refuses to begin a write transaction during a replica read.
pub(super) fn guard_write() -> Result<(), ApiError> {
    if on_replica() {
        Err(ApiError::PrimaryRequired)
    } else {
        Ok(())
    }
}
