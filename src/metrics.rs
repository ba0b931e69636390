//! Prometheus metrics for one app instance: requests by method, route template and status, a
//! latency histogram by route, failure counters for settling and background jobs, the
//! pool's state, and the business counts (listings, bids, deals, defaulted installments,
//! claims) aggregated in the database at scrape time, so every instance shows the same.
//! Built on the `prometheus` crate with a registry per `Metrics` (never the process-wide
//! default), so apps started side by side in one process count separately; the business
//! counts are written as text after the registry's families (their label values are states,
//! a fixed set too).
//!
//! Every label takes values from a fixed set: the method is one of the standard ones or
//! `OTHER`, the route is the matched template or `unmatched`, the status is the numeric code.
//! A client can therefore not mint new series by sending odd requests.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::db::business_counts as counts;
use crate::db::{DbConn, Pool};
use crate::domain::claim::ClaimStatus;
use crate::domain::deal::DealStatus;
use crate::domain::listing::ListingStatus;

/// The media type of [`Metrics::render`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The methods counted under their own name; any other is counted as `OTHER`.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A background job, as the `job` label of `landx_job_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Settling due auctions and deals.
    Settle,
    /// Purging expired idempotency keys.
    IdempotencyPurge,
    /// Relaying queued mail.
    MailRelay,
    /// The hourly database optimisation.
    DbOptimize,
    /// Rent dates, reminders and contract completion.
    Contracts,
    /// Forgetting the auth routes' limits that no longer count.
    LimitsPurge,
}

impl Job {
    /// Every job; each has its series from the start.
    pub const ALL: [Job; 6] = [
        Job::Settle,
        Job::IdempotencyPurge,
        Job::MailRelay,
        Job::DbOptimize,
        Job::Contracts,
        Job::LimitsPurge,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Settle => "settle",
            Job::IdempotencyPurge => "idempotency_purge",
            Job::MailRelay => "mail_relay",
            Job::Contracts => "contracts",
            Job::DbOptimize => "db_optimize",
            Job::LimitsPurge => "limits_purge",
        }
    }
}

/// One app's metrics and the registry they are gathered from.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    settle_failures: IntCounter,
    job_failures: IntCounterVec,
    pool: PoolGauges,
    feed: FeedMetrics,
    /// The business section of the last scrape and when it was read: scrapes within
    /// [`BUSINESS_TTL`] reuse it, and concurrent scrapes wait for one reading.
    business: tokio::sync::Mutex<Option<(Instant, String)>>,
}

/// The live feed's fan-out (`crate::live_feed`): how often it reads the database and for how
/// many listings and watchers.
struct FeedMetrics {
    polls: IntCounter,
    catch_ups: IntCounter,
    pollers: IntGauge,
    watchers: IntGauge,
}

struct PoolGauges {
    connections: IntGauge,
    idle: IntGauge,
    max: IntGauge,
    waiting: IntGauge,
    in_use: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in a registry of its own, every count at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "landx_http_requests_total",
                "HTTP requests by method, route template and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "landx_http_request_duration_seconds",
                "Request latency by route template.",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let settle_failures = IntCounter::new(
            "landx_settle_failures_total",
            "Listings or deals whose settlement failed.",
        )
        .expect("valid metric");
        let job_failures = IntCounterVec::new(
            Opts::new(
                "landx_job_failures_total",
                "Background job passes that ended in an error, by job.",
            ),
            &["job"],
        )
        .expect("valid metric");
        // Every job shows from the start, at 0, so a rate over it is defined before a failure.
        for job in Job::ALL {
            job_failures.with_label_values(&[job.as_str()]);
        }
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let pool = PoolGauges {
            connections: gauge("landx_db_pool_connections", "Pooled connections open."),
            idle: gauge("landx_db_pool_idle", "Pooled connections idle."),
            max: gauge("landx_db_pool_max", "Pool size."),
            waiting: gauge(
                "landx_db_pool_waiting",
                "Requests waiting for a connection.",
            ),
            in_use: gauge("landx_db_pool_in_use", "Pooled connections checked out."),
        };
        let feed = FeedMetrics {
            polls: IntCounter::new(
                "landx_feed_polls_total",
                "Database reads of the live feed's pollers (one per watched listing on this \
                 instance, every 500 ms, however many watch it).",
            )
            .expect("valid metric"),
            catch_ups: IntCounter::new(
                "landx_feed_catch_ups_total",
                "Database reads of one live-feed watcher alone: on connect, and to catch up \
                 after falling behind the shared stream.",
            )
            .expect("valid metric"),
            pollers: gauge(
                "landx_feed_pollers",
                "Listings with a live-feed poller running on this instance.",
            ),
            watchers: gauge(
                "landx_feed_watchers",
                "Live feeds following a listing's poller on this instance.",
            ),
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 13] = [
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(settle_failures.clone()),
            Box::new(job_failures.clone()),
            Box::new(pool.connections.clone()),
            Box::new(pool.idle.clone()),
            Box::new(pool.max.clone()),
            Box::new(pool.waiting.clone()),
            Box::new(pool.in_use.clone()),
            Box::new(feed.polls.clone()),
            Box::new(feed.catch_ups.clone()),
            Box::new(feed.pollers.clone()),
            Box::new(feed.watchers.clone()),
        ];
        for c in collectors {
            // Fails only on a duplicate name, which the fixed list above rules out.
            registry.register(c).expect("metric registered once");
        }
        Metrics {
            registry,
            requests,
            latency,
            settle_failures,
            job_failures,
            pool,
            feed,
            business: tokio::sync::Mutex::new(None),
        }
    }

    /// Counts one answered request. `route` is the matched route template or `unmatched`;
    /// a method outside the standard ones is counted as `OTHER`.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method_label(method), route, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    /// Counts one listing or deal whose settlement failed.
    pub fn settle_failed(&self) {
        self.settle_failures.inc();
    }

    /// Counts one pass of `job` that ended in an error.
    pub fn job_failed(&self, job: Job) {
        self.job_failures.with_label_values(&[job.as_str()]).inc();
    }

    /// Counts one database read of a listing's live-feed poller.
    pub fn feed_polled(&self) {
        self.feed.polls.inc();
    }

    /// Counts one database read of a single live-feed watcher.
    pub fn feed_caught_up(&self) {
        self.feed.catch_ups.inc();
    }

    /// A listing's live-feed poller started (`+1`) or stopped (`-1`).
    pub fn feed_pollers_add(&self, n: i64) {
        self.feed.pollers.add(n);
    }

    /// A live-feed watcher joined (`+1`) or left (`-1`) a listing's poller.
    pub fn feed_watchers_add(&self, n: i64) {
        self.feed.watchers.add(n);
    }

    /// Everything in Prometheus text format ([`CONTENT_TYPE`]), with the pool gauges read
    /// from `pool` now.
    pub fn render(&self, pool: &Pool) -> Result<String, prometheus::Error> {
        let state = pool.state();
        self.pool.connections.set(state.connections.into());
        self.pool.idle.set(state.idle_connections.into());
        self.pool.max.set(pool.max_size().into());
        self.pool.waiting.set(crate::db::pool_waiting(pool));
        self.pool.in_use.set(
            state
                .connections
                .saturating_sub(state.idle_connections)
                .into(),
        );
        self.encode()
    }

    fn encode(&self) -> Result<String, prometheus::Error> {
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }

    /// What `/metrics` answers: [`Metrics::render`] followed by the business counts, read
    /// from the database at most once per [`BUSINESS_TTL`] (a scrape of `/metrics`, which
    /// needs no token, can't make the database aggregate more often than that). A count
    /// whose query fails is left out (and flagged), never shown stale or as zero; the rest
    /// of the answer is unaffected.
    pub async fn scrape(&self, pool: &Pool) -> Result<String, prometheus::Error> {
        let business = self.business_section(pool).await;
        let mut text = self.render(pool)?;
        text.push_str(&business);
        Ok(text)
    }

    async fn business_section(&self, pool: &Pool) -> String {
        let mut cached = self.business.lock().await;
        if let Some((at, text)) = cached.as_ref() {
            if at.elapsed() < BUSINESS_TTL {
                return text.clone();
            }
        }
        let read = crate::db::run(pool, |conn| Ok(BusinessCounts::read(conn))).await;
        let counts = read.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "business metrics: no database connection");
            BusinessCounts::default()
        });
        let text = counts.to_text();
        *cached = Some((Instant::now(), text.clone()));
        text
    }
}

/// How long one reading of the business counts serves later scrapes of this instance.
pub const BUSINESS_TTL: Duration = Duration::from_secs(5);

/// The business counts of one scrape; `None`: that query failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessCounts {
    /// Listings by state (every state, 0 included).
    pub listings: Option<Vec<(ListingStatus, i64)>>,
    /// Accepted bids on every listing (read with the listings).
    pub bids: Option<i64>,
    pub deals: Option<Vec<(DealStatus, i64)>>,
    pub installments_defaulted: Option<i64>,
    pub claims: Option<Vec<(ClaimStatus, i64)>>,
}

impl BusinessCounts {
    /// Runs each aggregation on its own, so one failing query only loses its own counts.
    pub fn read(conn: &mut DbConn) -> BusinessCounts {
        let listings = answered("listings", counts::listings_by_status(conn));
        BusinessCounts {
            bids: listings
                .as_ref()
                .map(|rows| rows.iter().map(|(_, _, bids)| bids).sum()),
            listings: listings.map(|rows| {
                let rows = rows.into_iter().map(|(status, n, _)| (status, n)).collect();
                by_state(ListingStatus::ALL, ListingStatus::parse, rows)
            }),
            deals: answered("deals", counts::deals_by_status(conn))
                .map(|rows| by_state(DealStatus::ALL, DealStatus::parse, rows)),
            installments_defaulted: answered("installments", counts::installments_defaulted(conn)),
            claims: answered("claims", counts::claims_by_status(conn))
                .map(|rows| by_state(ClaimStatus::ALL, ClaimStatus::parse, rows)),
        }
    }

    /// The Prometheus text of these counts: a family per count that answered, and
    /// `landx_business_metrics_ok{family}` saying which did.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let by_state = [
            (
                "landx_listings",
                "Listings by state.",
                self.listings
                    .as_deref()
                    .map(|r| words(r, ListingStatus::as_str)),
            ),
            (
                "landx_deals",
                "Deals (one offer to one bidder) by state.",
                self.deals.as_deref().map(|r| words(r, DealStatus::as_str)),
            ),
            (
                "landx_claims",
                "Insurance claims by state.",
                self.claims
                    .as_deref()
                    .map(|r| words(r, ClaimStatus::as_str)),
            ),
        ];
        for (name, help, rows) in by_state {
            if let Some(rows) = rows {
                header(&mut out, name, help, "gauge");
                for (state, n) in rows {
                    let _ = writeln!(out, "{name}{{state=\"{state}\"}} {n}");
                }
            }
        }
        let totals = [
            (
                "landx_bids_total",
                "Accepted bids on all listings.",
                "counter",
                self.bids,
            ),
            (
                "landx_installments_defaulted",
                "Rent installments in default.",
                "gauge",
                self.installments_defaulted,
            ),
        ];
        for (name, help, kind, n) in totals {
            if let Some(n) = n {
                header(&mut out, name, help, kind);
                let _ = writeln!(out, "{name} {n}");
            }
        }
        header(
            &mut out,
            "landx_business_metrics_ok",
            "Whether the database answered the business counts of a family at the last \
             reading (1) or not (0: its series are left out).",
            "gauge",
        );
        for (name, ok) in [
            ("claims", self.claims.is_some()),
            ("deals", self.deals.is_some()),
            ("installments", self.installments_defaulted.is_some()),
            ("listings", self.listings.is_some()),
        ] {
            let _ = writeln!(
                out,
                "landx_business_metrics_ok{{family=\"{name}\"}} {}",
                u8::from(ok)
            );
        }
        out
    }
}

/// A count per state as (label value, count).
fn words<S: Copy>(rows: &[(S, i64)], word: fn(S) -> &'static str) -> Vec<(&'static str, i64)> {
    rows.iter().map(|(s, n)| (word(*s), *n)).collect()
}

/// The `# HELP` and `# TYPE` lines of a family.
fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// The answer of one business query, or `None` (logged) when it failed.
fn answered<T>(what: &str, r: Result<T, diesel::result::Error>) -> Option<T> {
    r.map_err(|e| tracing::warn!(query = what, error = %e, "business metrics query failed"))
        .ok()
}

/// Counts per stored word → a count for every state, in declaration order (0 when absent).
/// A word no state spells (a corrupt row) is logged and left out.
fn by_state<S: Copy + PartialEq + std::fmt::Debug>(
    all: &[S],
    parse: fn(&str) -> Option<S>,
    rows: Vec<(String, i64)>,
) -> Vec<(S, i64)> {
    let mut out: Vec<(S, i64)> = all.iter().map(|s| (*s, 0)).collect();
    for (word, n) in rows {
        match out.iter_mut().find(|(s, _)| Some(*s) == parse(&word)) {
            Some((_, count)) => *count += n,
            None => tracing::warn!(status = %word, "business metrics: unknown state word"),
        }
    }
    out
}

/// The `method` label for a request method: the method itself if standard, else `OTHER`.
fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_keep_their_name_and_others_are_other() {
        for m in METHODS {
            assert_eq!(method_label(m), m);
        }
        for m in [
            "FOOBAR", "get", "Get", "CONNECT", "TRACE", "PROPFIND", "", "GET ",
        ] {
            assert_eq!(method_label(m), "OTHER", "{m:?}");
        }
    }

    #[test]
    fn requests_and_latency_render_with_bounded_labels() {
        let m = Metrics::new();
        m.observe("GET", "/readyz", 200, 0.003);
        m.observe("GET", "/readyz", 200, 0.2);
        m.observe("FOOBAR", "unmatched", 404, 0.0001);
        let text = m.encode().unwrap();
        assert!(
            text.contains(
                "landx_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "landx_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("FOOBAR"), "{text}");
        assert!(text.contains(
            "landx_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"0.0025\"} 0\n"
        ));
        assert!(text.contains(
            "landx_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "landx_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"5\"} 2\n"
        ));
        assert!(text.contains(
            "landx_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("landx_http_request_duration_seconds_count{route=\"/readyz\"} 2\n"));
    }

    #[test]
    fn failure_counters_start_at_zero_and_count() {
        let m = Metrics::new();
        let text = m.encode().unwrap();
        assert!(text.contains("landx_settle_failures_total 0\n"), "{text}");
        for job in Job::ALL {
            let line = format!("landx_job_failures_total{{job=\"{}\"}} 0\n", job.as_str());
            assert!(text.contains(&line), "{text}");
        }
        m.settle_failed();
        m.settle_failed();
        m.job_failed(Job::MailRelay);
        let text = m.encode().unwrap();
        assert!(text.contains("landx_settle_failures_total 2\n"), "{text}");
        assert!(text.contains("landx_job_failures_total{job=\"mail_relay\"} 1\n"));
        assert!(text.contains("landx_job_failures_total{job=\"settle\"} 0\n"));
    }

    #[test]
    fn each_instance_counts_alone() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.observe("GET", "/healthz", 200, 0.001);
        a.settle_failed();
        let text = b.encode().unwrap();
        assert!(!text.contains("landx_http_requests_total{"), "{text}");
        assert!(text.contains("landx_settle_failures_total 0\n"), "{text}");
    }

    #[test]
    fn business_counts_show_every_state_and_leave_out_what_failed() {
        let rows = vec![
            ("auction".to_string(), 2),
            ("draft".to_string(), 1),
            ("bogus".to_string(), 7),
        ];
        let listings = by_state(ListingStatus::ALL, ListingStatus::parse, rows);
        assert_eq!(listings.len(), ListingStatus::ALL.len());
        let counts = BusinessCounts {
            listings: Some(listings),
            bids: Some(5),
            deals: None,
            installments_defaulted: Some(0),
            claims: None,
        };
        let text = counts.to_text();
        for line in [
            "# TYPE landx_listings gauge\n",
            "landx_listings{state=\"auction\"} 2\n",
            "landx_listings{state=\"draft\"} 1\n",
            "landx_listings{state=\"failed\"} 0\n",
            "# TYPE landx_bids_total counter\nlandx_bids_total 5\n",
            "landx_installments_defaulted 0\n",
            "landx_business_metrics_ok{family=\"listings\"} 1\n",
            "landx_business_metrics_ok{family=\"deals\"} 0\n",
            "landx_business_metrics_ok{family=\"claims\"} 0\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
        assert!(!text.contains("bogus"), "{text}");
        assert!(!text.contains("landx_deals"), "{text}");
        assert!(!text.contains("landx_claims"), "{text}");
    }

    /// The whole path: a request with an unknown method through the app's middleware shows
    /// up as `OTHER` on `/metrics`, and the pool gauges are there.
    #[actix_web::test]
    async fn unknown_method_is_counted_as_other() {
        use actix_web::http::Method;
        use actix_web::test;

        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings {
            env: "test".into(),
            ..Default::default()
        };
        settings.database.url = format!("sqlite://{}", dir.path().join("m.db").display());
        settings.database.pool_size = 3;
        let pool = crate::db::connect(&settings).unwrap();
        let clock = std::sync::Arc::new(crate::clock::SystemClock);
        let state = crate::state::AppState::new(settings, pool, clock, &[7; 32]);
        let app = test::init_service(crate::build_app(state)).await;

        let req = test::TestRequest::default()
            .method(Method::from_bytes(b"FOOBAR").unwrap())
            // An unrouted path (`/` is the web console's).
            .uri("/nowhere")
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), 404);
        let req = test::TestRequest::default()
            .method(Method::from_bytes(b"FOOBAR").unwrap())
            .uri("/healthz")
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), 405);

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "text/plain; version=0.0.4"
        );
        let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(
            text.contains(
                "landx_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "landx_http_requests_total{method=\"OTHER\",route=\"/healthz\",status=\"405\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("FOOBAR"), "{text}");
        assert!(text.contains("landx_db_pool_max 3\n"), "{text}");
        assert!(text.contains("landx_db_pool_waiting "), "{text}");
        assert!(text.contains("landx_db_pool_in_use "), "{text}");
        // No migrations ran here: the business counts fail, and say so, without breaking it.
        assert!(
            text.contains("landx_business_metrics_ok{family=\"claims\"} 0\n"),
            "{text}"
        );
    }
}
