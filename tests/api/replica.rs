//! The read replica (`database.replica_url`, issue 14): anonymous public reads are served by
//! the replica; a signed-in caller, every action and every settling of what fell due stay on
//! the primary; a replica that is down costs nothing but its own reads, which the primary
//! serves. The "replica" here is a second database whose content differs from the primary's
//! (so a test can tell where a read was served), or the primary itself opened read-only.

use chrono::Duration;
use serde_json::Value;

use crate::support::harness::{requested_by_env, Requested};
use crate::support::trading::*;
use crate::support::*;

fn listing_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| s(&l["id"]))
        .collect()
}

/// The trading settings with `replica_url` set.
fn start_with_replica(replica_url: String) -> TestApp {
    TestApp::start_with(move |s| {
        s.auth.access_token_minutes = 60 * 24 * 90;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.database.replica_url = replica_url;
    })
}

/// A replica URL of the test's backend where no database answers.
fn unreachable_replica() -> String {
    if matches!(requested_by_env(), Requested::Postgres(_)) {
        "postgres://postgres@127.0.0.1:1/landx_no_replica".to_string()
    } else {
        "sqlite:///nonexistent-landx-dir/replica/landx.db".to_string()
    }
}

fn replica_reads(app: &TestApp, served_by: &str) -> i64 {
    metric(
        &app.scrape(),
        &format!("landx_replica_reads_total{{served_by=\"{served_by}\"}}"),
    )
    .unwrap_or_else(|| panic!("landx_replica_reads_total{{served_by=\"{served_by}\"}}"))
}

/// A second database stands in for the replica, with a listing the primary doesn't have:
/// anonymous search, listing page and bid history read it; the same reads with a token read
/// the primary, so a bidder sees their own bid at once.
#[test]
fn anonymous_reads_go_to_the_replica_signed_in_reads_and_actions_to_the_primary() {
    let other = TestApp::start_for_trading();
    let wo = World::new(&other);
    let only_on_replica = listing(&other, &wo, "66.00", RESERVE);

    let app = start_with_replica(other.settings.database.url.clone());
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let _li = enrol(&app, &w, &a, Plan::person("李娜"));

    let anonymous = ok(app.get("/api/v1/listings", None));
    assert_eq!(listing_ids(&anonymous), vec![only_on_replica.id.clone()]);
    let signed_in = ok(app.get("/api/v1/listings", zhang.inv.t()));
    assert_eq!(listing_ids(&signed_in), vec![a.id.clone()]);
    assert_eq!(
        ok(app.get(&only_on_replica.path(""), None))["id"],
        only_on_replica.id.as_str()
    );
    app.get(&a.path(""), None).assert_problem(404, "not_found");
    assert_eq!(ok(app.get(&a.path(""), zhang.inv.t()))["id"], a.id.as_str());

    // The bidder acts on the primary and reads their own bid from it at once.
    app.set_now(a.starts);
    bid_ok(&app, &zhang, &a, RESERVE);
    let mine = ok(app.get(&a.path("/bids"), zhang.inv.t()));
    assert_eq!(mine["items"][0]["amount_fen"], RESERVE);
    app.get(&a.path("/bids"), None)
        .assert_problem(404, "not_found");

    // Open data and statistics answer from the replica too (nothing published on either).
    assert_eq!(
        ok(app.get("/api/v1/open-data/changes", None))["items"],
        serde_json::json!([])
    );
    ok(app.get("/api/v1/stats?year=2027", None));
    assert!(replica_reads(&app, "replica") >= 5);
    assert_eq!(replica_reads(&app, "primary"), 0);

    let ready = ok(app.get("/readyz", None));
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["databases"]["primary"], "ok");
    assert_eq!(ready["databases"]["replica"], "ok");
    // Nothing was written to the replica's database by the primary's app.
    assert_eq!(
        db::count(other.pool(), "bids", "1 = 1"),
        0,
        "the replica's database holds no bid"
    );
}

/// The replica is the primary itself, opened read-only on PostgreSQL (a hot standby refuses
/// writes the same way): a public read of a listing whose registration has closed needs that
/// transition performed first, which only the primary may do; the read is served by the
/// primary and shows the listing as it is after the transition.
#[test]
fn a_read_that_must_settle_what_fell_due_is_served_by_the_primary() {
    let app = TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 90;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.database.replica_url = if s.database.url.starts_with("postgres") {
            format!(
                "{}?options=-c%20default_transaction_read_only%3Don",
                s.database.url
            )
        } else {
            s.database.url.clone()
        };
    });
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);

    assert_eq!(ok(app.get(&a.path(""), None))["status"], "announced");
    assert_eq!(replica_reads(&app, "replica"), 1);
    assert_eq!(replica_reads(&app, "primary"), 0);

    app.set_now(a.closes + Duration::minutes(1));
    let after = ok(app.get(&a.path(""), None));
    assert_ne!(after["status"], "announced", "{after}");
    assert_eq!(replica_reads(&app, "primary"), 1);
    // Settled once, on the primary: the signed-in view agrees, and the next anonymous read
    // is the replica's again.
    let staff = ok(app.get(&a.path(""), Some(&a.staff)));
    assert_eq!(staff["status"], after["status"]);
    assert_eq!(ok(app.get(&a.path(""), None))["status"], after["status"]);
    assert_eq!(replica_reads(&app, "replica"), 2);
    let moves = moves(&app, &a.id);
    assert_eq!(
        moves
            .iter()
            .filter(|(_, from, _)| from == "announced")
            .count(),
        1,
        "{moves:?}"
    );
}

/// A replica that can't be reached: every public read is still answered (by the primary),
/// readiness stays 200 and names the replica `unavailable`.
#[test]
fn a_replica_that_is_down_hands_its_reads_to_the_primary() {
    let app = start_with_replica(unreachable_replica());
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);

    for _ in 0..3 {
        let page = ok(app.get("/api/v1/listings", None));
        assert_eq!(listing_ids(&page), vec![a.id.clone()]);
    }
    assert_eq!(
        ok(app.get(&a.path("/bids"), None))["items"],
        serde_json::json!([])
    );
    assert_eq!(replica_reads(&app, "replica"), 0);
    assert_eq!(replica_reads(&app, "primary"), 4);

    let ready = app.get("/readyz", None);
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["databases"]["primary"], "ok");
    assert_eq!(ready.body["databases"]["replica"], "unavailable");
}

/// Readiness answers at once when the replica doesn't: load balancers time their checks out
/// after about a second. Found by `scripts/faults.sh`: with the replica stopped, `/readyz`
/// waited for the replica pool's whole connection timeout (1 s), HAProxy's checks (every 1 s,
/// timing out after 1 s) failed, and every instance in turn was taken out of rotation, so the
/// balancer answered 503 to every request for seconds though each instance served them all.
#[test]
fn readiness_does_not_wait_for_a_replica_that_does_not_answer() {
    let app = start_with_replica(unreachable_replica());
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let ready = app.get("/readyz", None);
        let took = started.elapsed();
        assert_eq!(ready.status, 200, "{}", ready.text);
        assert_eq!(ready.body["databases"]["replica"], "unavailable");
        // The replica's pool alone waits 1 s for a connection; the check must not.
        assert!(
            took < std::time::Duration::from_millis(900),
            "readiness took {took:?}"
        );
    }
}
