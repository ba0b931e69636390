//! Prometheus text metrics: requests by route template and status, a latency histogram, and
//! the pool's state. Kept dependency-free: a few counters behind one mutex.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::db::Pool;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut g = self.inner.lock().expect("metrics poisoned");
        *g.requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let h = g.latency.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn render(&self, pool: &Pool) -> String {
        let g = self.inner.lock().expect("metrics poisoned");
        let mut out = String::new();
        out.push_str("# HELP landx_http_requests_total HTTP requests by method, route template and status.\n");
        out.push_str("# TYPE landx_http_requests_total counter\n");
        for ((m, r, s), n) in &g.requests {
            let _ = writeln!(
                out,
                "landx_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}",
                escape(m),
                escape(r),
                s,
                n
            );
        }
        out.push_str(
            "# HELP landx_http_request_duration_seconds Request latency by route template.\n",
        );
        out.push_str("# TYPE landx_http_request_duration_seconds histogram\n");
        for (r, h) in &g.latency {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "landx_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}",
                    escape(r),
                    b,
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "landx_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}",
                escape(r),
                h.count
            );
            let _ = writeln!(
                out,
                "landx_http_request_duration_seconds_sum{{route=\"{}\"}} {}",
                escape(r),
                h.sum
            );
            let _ = writeln!(
                out,
                "landx_http_request_duration_seconds_count{{route=\"{}\"}} {}",
                escape(r),
                h.count
            );
        }
        let state = pool.state();
        let _ = writeln!(out, "# HELP landx_db_pool_connections Pooled connections open.\n# TYPE landx_db_pool_connections gauge\nlandx_db_pool_connections {}", state.connections);
        let _ = writeln!(out, "# HELP landx_db_pool_idle Pooled connections idle.\n# TYPE landx_db_pool_idle gauge\nlandx_db_pool_idle {}", state.idle_connections);
        let _ = writeln!(out, "# HELP landx_db_pool_max Pool size.\n# TYPE landx_db_pool_max gauge\nlandx_db_pool_max {}", pool.max_size());
        let _ = writeln!(
            out,
            "# HELP landx_db_pool_waiting Requests waiting for a connection.\n# TYPE landx_db_pool_waiting gauge\nlandx_db_pool_waiting {}",
            crate::db::POOL_WAITING.load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP landx_db_pool_in_use Pooled connections checked out.\n# TYPE landx_db_pool_in_use gauge\nlandx_db_pool_in_use {}",
            state.connections.saturating_sub(state.idle_connections)
        );
        out
    }
}
