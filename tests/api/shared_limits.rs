//! Issue 14, "limits shared across instances": the per-client limit of the auth routes and the
//! failed-login lock hold for the deployment, not per instance. Three instances on one
//! database (a PostgreSQL database, or one SQLite file) take turns answering one client: the
//! limit is not multiplied by three, concurrent attempts through all three are counted one by
//! one, the stored keys are digests, and what no longer counts is purged by the worker.

use chrono::Duration;
use serde_json::json;

use crate::support::db;
use crate::support::*;

const CLIENT: &str = "203.0.113.5";
const OWNER: &str = "198.51.100.7";
/// `auth.ip_attempts_per_minute` by default.
const DEFAULT_PER_MINUTE: u32 = 60;

/// Three instances on one database, their clocks together; each believes `X-Forwarded-For`
/// from the test's loopback address, so a test picks the client it speaks for.
struct Deployment {
    apps: [TestApp; 3],
}

impl Deployment {
    /// With `per_minute` attempts per client and minute (`auth.ip_attempts_per_minute`).
    fn start(per_minute: u32) -> Deployment {
        let first = TestApp::start_with(|s| {
            s.server.trusted_proxies = vec!["127.0.0.1".into()];
            s.auth.ip_attempts_per_minute = per_minute;
        });
        let (second, third) = (first.second_instance(), first.second_instance());
        Deployment {
            apps: [first, second, third],
        }
    }

    /// The instance the load balancer sends the `i`-th request to (round robin).
    fn app(&self, i: usize) -> &TestApp {
        &self.apps[i % 3]
    }

    fn advance(&self, d: Duration) {
        for app in &self.apps {
            app.advance(d);
        }
    }

    fn login(&self, i: usize, client: &str, email: &str, password: &str) -> Resp {
        self.app(i).call_raw(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password}).to_string()),
            &[("X-Forwarded-For", client)],
        )
    }

    fn limit_rows(&self) -> Vec<String> {
        ["limit_clients", "limit_client_hits", "limit_logins"]
            .iter()
            .flat_map(|t| db::rows_as_text(self.apps[0].pool(), t))
            .collect()
    }

    fn rows_in(&self, table: &str) -> i64 {
        db::count(self.apps[0].pool(), table, "1 = 1")
    }
}

fn retry_after(r: &Resp) -> i64 {
    r.header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds")
}

/// A login of an address without an account: 401 when admitted (each its own address, so the
/// failed-login lock of one address never interferes with the per-client limit).
fn ghost(i: usize) -> String {
    format!("ghost{i}@example.cn")
}

#[test]
fn the_per_client_limit_is_not_multiplied_by_the_instances() {
    let d = Deployment::start(6);
    for i in 0..6 {
        d.login(i, CLIENT, &ghost(i), "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    // The seventh attempt of the minute is refused by every instance, whatever the route.
    for i in 0..3 {
        let r = d.login(i, CLIENT, &ghost(100 + i), "wrong-password-1");
        r.assert_problem(429, "rate_limited");
        assert_eq!(retry_after(&r), 60, "instance {i}");
    }
    d.app(1)
        .call_raw(
            "POST",
            "/api/v1/auth/password-reset/request",
            None,
            Some(json!({"email": ghost(1)}).to_string()),
            &[("X-Forwarded-For", CLIENT)],
        )
        .assert_problem(429, "rate_limited");
    // Another client is not affected.
    d.login(2, OWNER, &ghost(7), "wrong-password-1")
        .assert_problem(401, "unauthorized");

    // One second before the window passes, still refused everywhere ...
    d.advance(Duration::seconds(59));
    for i in 0..3 {
        let r = d.login(i, CLIENT, &ghost(200 + i), "wrong-password-1");
        r.assert_problem(429, "rate_limited");
        assert_eq!(retry_after(&r), 1);
    }
    // ... and once it has passed, the minute's six attempts are allowed again, not more.
    d.advance(Duration::seconds(1));
    for i in 0..6 {
        d.login(i, CLIENT, &ghost(300 + i), "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    d.login(2, CLIENT, &ghost(400), "wrong-password-1")
        .assert_problem(429, "rate_limited");

    // Stored as digests: neither the address nor an e-mail appears in any row.
    let rows = d.limit_rows();
    assert!(!rows.is_empty());
    for row in rows {
        assert!(
            !row.contains("203.0.113") && !row.contains("198.51.100") && !row.contains("ghost"),
            "{row}"
        );
    }
}

#[test]
fn failed_logins_lock_the_pair_on_every_instance() {
    let d = Deployment::start(DEFAULT_PER_MINUTE);
    register_ok(d.app(0), "zhangwei@example.cn", "张伟");
    for i in 0..5 {
        d.login(i, CLIENT, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    // Locked after five failures, through whichever instance, even with the right password.
    for i in 0..3 {
        let r = d.login(i, CLIENT, "zhangwei@example.cn", PW);
        r.assert_problem(429, "rate_limited");
        assert_eq!(retry_after(&r), 60, "instance {i}");
    }
    // The owner, from their own client, is not locked out.
    let r = d.login(2, OWNER, "zhangwei@example.cn", PW);
    assert_eq!(r.status, 200, "{}", r.text);

    // After the lock, one more failure (on any instance) locks for twice as long everywhere.
    d.advance(Duration::seconds(61));
    d.login(2, CLIENT, "zhangwei@example.cn", "wrong-password-1")
        .assert_problem(401, "unauthorized");
    for i in 0..3 {
        let r = d.login(i, CLIENT, "zhangwei@example.cn", PW);
        r.assert_problem(429, "rate_limited");
        assert_eq!(retry_after(&r), 120, "instance {i}");
    }
    // Once that has passed the right password works again, and clears the count everywhere.
    d.advance(Duration::seconds(120));
    let r = d.login(1, CLIENT, "zhangwei@example.cn", PW);
    assert_eq!(r.status, 200, "{}", r.text);
    for i in 0..4 {
        d.login(i, CLIENT, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    let r = d.login(0, CLIENT, "zhangwei@example.cn", PW);
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Sends `n` logins at once, the `i`-th as `login(i)` builds it; how many were answered 401
/// (admitted), after checking the others were 429.
fn admitted_of_at_once(n: usize, login: impl Fn(usize) -> Resp + Sync) -> usize {
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let login = &login;
                s.spawn(move || login(i).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    statuses.iter().filter(|s| **s == 401).count()
}

#[test]
fn concurrent_attempts_through_three_instances_are_counted_one_by_one() {
    // Per client: 30 attempts at once over the three instances against a limit of 10.
    let d = Deployment::start(10);
    let admitted = admitted_of_at_once(30, |i| d.login(i, CLIENT, &ghost(i), "wrong-password-1"));
    assert_eq!(admitted, 10);

    // Per account and client: 30 guesses at once get five answers, then the lock.
    let d = Deployment::start(DEFAULT_PER_MINUTE);
    register_ok(d.app(0), "zhangwei@example.cn", "张伟");
    let answered = admitted_of_at_once(30, |i| {
        d.login(i, CLIENT, "zhangwei@example.cn", "wrong-password-1")
    });
    assert_eq!(answered, 5);
    for i in 0..3 {
        d.login(i, CLIENT, "zhangwei@example.cn", PW)
            .assert_problem(429, "rate_limited");
    }
}

#[test]
fn the_worker_forgets_what_no_longer_counts() {
    let d = Deployment::start(DEFAULT_PER_MINUTE);
    for i in 0..3 {
        d.login(i, CLIENT, &ghost(i), "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    assert_eq!(d.rows_in("limit_clients"), 1);
    assert_eq!(d.rows_in("limit_client_hits"), 1);
    assert_eq!(d.rows_in("limit_logins"), 3);
    // Within the window nothing goes.
    d.app(1).run_jobs();
    assert_eq!(d.rows_in("limit_client_hits"), 1);

    // Two minutes on the client's window is gone; the failed logins stay for a day.
    d.advance(Duration::minutes(2) + Duration::seconds(1));
    d.app(1).run_jobs();
    assert_eq!(d.rows_in("limit_clients"), 0);
    assert_eq!(d.rows_in("limit_client_hits"), 0);
    assert_eq!(d.rows_in("limit_logins"), 3);
    d.advance(Duration::hours(24));
    d.app(2).run_jobs();
    assert_eq!(d.rows_in("limit_logins"), 0);
    // Nothing was lost that still counted: the client starts afresh.
    d.login(0, CLIENT, &ghost(0), "wrong-password-1")
        .assert_problem(401, "unauthorized");
}
