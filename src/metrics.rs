//! Prometheus metrics for one app instance: requests by method, route template and status, a
//! latency histogram by route, failure counters for settling and background jobs, and the
//! pool's state. Built on the `prometheus` crate with a registry per `Metrics` (never the
//! process-wide default), so apps started side by side in one process count separately.
//!
//! Every label takes values from a fixed set: the method is one of the standard ones or
//! `OTHER`, the route is the matched template or `unmatched`, the status is the numeric code.
//! A client can therefore not mint new series by sending odd requests.

use std::sync::atomic::Ordering;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::db::Pool;

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
}

impl Job {
    /// Every job; each has its series from the start.
    pub const ALL: [Job; 5] = [
        Job::Settle,
        Job::IdempotencyPurge,
        Job::MailRelay,
        Job::DbOptimize,
        Job::Contracts,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Settle => "settle",
            Job::IdempotencyPurge => "idempotency_purge",
            Job::MailRelay => "mail_relay",
            Job::Contracts => "contracts",
            Job::DbOptimize => "db_optimize",
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
        let collectors: [Box<dyn prometheus::core::Collector>; 9] = [
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(settle_failures.clone()),
            Box::new(job_failures.clone()),
            Box::new(pool.connections.clone()),
            Box::new(pool.idle.clone()),
            Box::new(pool.max.clone()),
            Box::new(pool.waiting.clone()),
            Box::new(pool.in_use.clone()),
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

    /// Everything in Prometheus text format ([`CONTENT_TYPE`]), with the pool gauges read
    /// from `pool` now.
    pub fn render(&self, pool: &Pool) -> Result<String, prometheus::Error> {
        let state = pool.state();
        self.pool.connections.set(state.connections.into());
        self.pool.idle.set(state.idle_connections.into());
        self.pool.max.set(pool.max_size().into());
        self.pool
            .waiting
            .set(crate::db::POOL_WAITING.load(Ordering::Relaxed));
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
            .uri("/")
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
    }
}
