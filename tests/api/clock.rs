//! The test clock (API.md "Test clock"): `clock.travel` serves `GET /api/v1/admin/clock` and
//! `POST /api/v1/admin/clock/advance` to admins; the offset is stored in the database, so it
//! survives a restart and reaches every instance within one worker tick; tokens and every
//! time-driven transition follow the moved clock. Without the setting both routes are 404.

use chrono::Duration;
use serde_json::{json, Value};

use crate::support::db::audit_stream;
use crate::support::internals::verify_audit;
use crate::support::process::landx_with_env;
use crate::support::trading::{listing, RESERVE};
use crate::support::*;

const CLOCK: &str = "/api/v1/admin/clock";
const ADVANCE: &str = "/api/v1/admin/clock/advance";

fn advance(c: &Client, token: Option<&str>, seconds: i64) -> Resp {
    c.post(ADVANCE, token, json!({ "seconds": seconds }))
}

/// `{now, offset_secs}` of a 200 answer.
fn clock_of(r: Resp) -> (chrono::DateTime<chrono::Utc>, i64) {
    let b = ok(r);
    assert_eq!(
        b.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["now", "offset_secs"],
        "{b}"
    );
    (
        ts(&b["now"]),
        b["offset_secs"].as_i64().expect("offset_secs"),
    )
}

#[test]
fn clock_routes_are_404_without_clock_travel() {
    let app = TestApp::start();
    let admin = app.admin_token();
    for token in [None, Some(admin.as_str()), Some("not-a-token")] {
        app.get(CLOCK, token).assert_problem(404, "not_found");
        advance(&app, token, 60).assert_problem(404, "not_found");
        // Not even the body is looked at.
        app.call_raw("POST", ADVANCE, token, Some("{".into()), &[])
            .assert_problem(404, "not_found");
    }
    assert_eq!(app.now(), t0(), "time never moved");
}

#[test]
fn clock_admin_reads_and_advances_the_servers_time() {
    let app = TestApp::start_travel();
    let admin = app.admin_token();
    assert_eq!(clock_of(app.get(CLOCK, Some(&admin))), (t0(), 0));

    let (now, offset) = clock_of(advance(&app, Some(&admin), 86_400));
    assert_eq!((now, offset), (t0() + Duration::days(1), 86_400));
    assert_eq!(app.now(), t0() + Duration::days(1), "the app's time moved");
    // The base clock still runs underneath the offset. (A day on, the admin's token from
    // before has expired: log in again.)
    app.advance(Duration::seconds(5));
    let admin = app.admin_token();
    assert_eq!(
        clock_of(app.get(CLOCK, Some(&admin))),
        (t0() + Duration::days(1) + Duration::seconds(5), 86_400)
    );
    let (_, offset) = clock_of(advance(&app, Some(&admin), 315_360_000));
    assert_eq!(offset, 86_400 + 315_360_000, "the largest single advance");

    // Audited on the `system` stream, by the admin, at the time it happened; the chain holds.
    let advanced: Vec<_> = audit_stream(app.pool(), "system")
        .into_iter()
        .filter(|r| r.action == "clock.advanced")
        .collect();
    assert_eq!(advanced.len(), 2);
    assert_eq!(advanced[0].actor_role.as_deref(), Some("admin"));
    assert_eq!(advanced[0].created_at, t0().naive_utc());
    assert!(
        advanced[0].reason.as_deref().unwrap().contains("86400"),
        "{:?}",
        advanced[0].reason
    );
    assert!(verify_audit(app.pool()).is_ok());
}

#[test]
fn clock_routes_refuse_anonymous_and_every_other_role() {
    let app = TestApp::start_travel();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let cast = people(&app, &admin, &o);
    app.get(CLOCK, None).assert_problem(401, "unauthorized");
    advance(&app, None, 60).assert_problem(401, "unauthorized");
    app.get(CLOCK, Some("not-a-token"))
        .assert_problem(401, "unauthorized");
    advance(&app, Some("not-a-token"), 60).assert_problem(401, "unauthorized");
    for u in cast.iter().filter(|u| u.role != "admin") {
        app.get(CLOCK, u.t()).assert_problem(403, "forbidden");
        advance(&app, u.t(), 60).assert_problem(403, "forbidden");
        // 403 before the body (API.md check order).
        advance(&app, u.t(), 0).assert_problem(403, "forbidden");
    }
    assert_eq!(
        cast.iter().map(|u| u.role.as_str()).collect::<Vec<_>>(),
        ["admin", "staff", "collective", "insurer", "investor"]
    );
    assert_eq!(clock_of(app.get(CLOCK, Some(&admin))), (t0(), 0));
}

#[test]
fn clock_advance_validates_seconds() {
    let app = TestApp::start_travel();
    let admin = app.admin_token();
    for body in [
        json!({"seconds": 0}),
        json!({"seconds": -60}),
        json!({"seconds": 315_360_001}),
        json!({}),
        json!({"seconds": "3600"}),
        json!({"seconds": 1.5}),
        json!({"seconds": null}),
        json!({"seconds": 1e30}),
    ] {
        let r = app.post(ADVANCE, Some(&admin), body.clone());
        assert_eq!(fields(&r), ["seconds"], "{body}: {}", r.text);
    }
    let r = app.post(
        ADVANCE,
        Some(&admin),
        json!({"seconds": 60, "offset_secs": 0}),
    );
    assert_eq!(fields(&r), ["offset_secs"]);
    app.call_raw("POST", ADVANCE, Some(&admin), Some("{".into()), &[])
        .assert_problem(400, "bad_request");
    assert_eq!(
        clock_of(app.get(CLOCK, Some(&admin))),
        (t0(), 0),
        "nothing moved"
    );
    assert_eq!(
        clock_of(advance(&app, Some(&admin), 1)).1,
        1,
        "1 s is enough"
    );
}

#[test]
fn clock_offset_survives_a_restart_and_reaches_another_instance_in_one_tick() {
    let app = TestApp::start_travel();
    let other = app.second_instance();
    let admin = app.admin_token();
    assert_eq!(other.clock_offset_secs(), 0);

    assert_eq!(clock_of(advance(&app, Some(&admin), 3_600)).1, 3_600);
    // The advancing instance moved at once; the other one at its worker's next pass.
    assert_eq!(app.clock_offset_secs(), 3_600);
    assert_eq!(other.clock_offset_secs(), 0, "not before its tick");
    assert_eq!(other.now(), t0());
    other.run_jobs();
    assert_eq!(other.clock_offset_secs(), 3_600);
    assert_eq!(other.now(), t0() + Duration::hours(1));
    // An hour on, tokens from before have expired there too.
    other
        .get(CLOCK, Some(&admin))
        .assert_problem(401, "unauthorized");
    let admin = other.admin_token();
    assert_eq!(
        clock_of(other.get(CLOCK, Some(&admin))),
        (t0() + Duration::hours(1), 3_600)
    );

    // An advance through the other instance comes back the same way.
    assert_eq!(clock_of(advance(&other, Some(&admin), 60)).1, 3_660);
    app.run_jobs();
    assert_eq!(app.clock_offset_secs(), 3_660);
    drop(other);

    // A restart reads the stored offset before serving anything.
    let app = app.restart();
    assert_eq!(app.clock_offset_secs(), 3_660);
    assert_eq!(app.now(), t0() + Duration::seconds(3_660));
    let admin = app.admin_token();
    assert_eq!(
        clock_of(app.get(CLOCK, Some(&admin))),
        (t0() + Duration::seconds(3_660), 3_660)
    );
}

#[test]
fn concurrent_clock_advances_all_count() {
    let app = TestApp::start_travel();
    let other = app.second_instance();
    let admin = app.admin_token();
    // Small steps, so the admin's 15-minute token outlives them all.
    let steps: Vec<i64> = (1..=12).collect();
    std::thread::scope(|s| {
        for (i, secs) in steps.iter().enumerate() {
            let target: &Client = if i % 2 == 0 { &app } else { &other };
            let admin = admin.as_str();
            s.spawn(move || {
                let (_, offset) = clock_of(advance(target, Some(admin), *secs));
                assert!(offset >= *secs);
            });
        }
    });
    let total: i64 = steps.iter().sum();
    assert_eq!(clock_of(app.get(CLOCK, Some(&admin))).1, total);
    other.run_jobs();
    assert_eq!(other.clock_offset_secs(), total);
    let advanced = audit_stream(app.pool(), "system")
        .into_iter()
        .filter(|r| r.action == "clock.advanced")
        .count();
    assert_eq!(advanced, steps.len());
    assert!(verify_audit(app.pool()).is_ok());
}

#[test]
fn tokens_expire_on_the_moved_clock() {
    let app = TestApp::start_travel();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let staff = people(&app, &admin, &o).remove(1);
    assert_eq!(staff.role, "staff");
    assert_eq!(me(&app, &staff.token).id, staff.id);

    // 16 minutes later every access token issued before is dead (15-minute tokens).
    clock_of(advance(&app, Some(&admin), 16 * 60));
    app.get(CLOCK, Some(&admin))
        .assert_problem(401, "unauthorized");
    app.get("/api/v1/me", staff.t())
        .assert_problem(401, "unauthorized");
    // A fresh login works, and so does the refresh token (30 days).
    let admin = app.admin_token();
    assert_eq!(clock_of(app.get(CLOCK, Some(&admin))).1, 16 * 60);
    let pair = ok(refresh(&app, &staff.refresh));
    assert_eq!(
        me(&app, pair["access_token"].as_str().unwrap()).id,
        staff.id
    );

    // 31 days on, the refresh token is dead too; logging in again works.
    clock_of(advance(&app, Some(&admin), 31 * 86_400));
    refresh(&app, pair["refresh_token"].as_str().unwrap()).assert_problem(401, "unauthorized");
    let fresh = app.login(&staff.email, PW);
    assert_eq!(me(&app, &fresh).id, staff.id);
}

#[test]
fn clock_advance_drives_the_listings_time_driven_transitions() {
    let app = TestApp::start_travel();
    let w = World::new(&app);
    // Announced, registration closing in 12 days, nobody registered.
    let quiet = listing(&app, &w, "50.00", RESERVE);
    let read = listing(&app, &w, "40.00", RESERVE);
    let status = |id: &str| -> Value {
        ok(app.get(&format!("/api/v1/listings/{id}"), None))["status"].clone()
    };
    assert_eq!(status(&quiet.id), "announced");

    let (now, _) = clock_of(advance(&app, w.admin(), 11 * 86_400));
    assert!(now < quiet.closes);
    app.run_jobs();
    assert_eq!(status(&quiet.id), "announced", "a day before the close");

    let admin = app.admin_token();
    let (now, _) = clock_of(advance(&app, Some(&admin), 86_400 + 60));
    assert!(now > quiet.closes);
    // The worker closes one registration on the moved time, as the system, and stores the
    // moved time; a read closes the other one.
    assert_eq!(status(&read.id), "failed", "a read settles what is due");
    app.run_jobs();
    assert_eq!(status(&quiet.id), "failed");
    let closed: Vec<_> = app
        .audit_for(&quiet.id)
        .into_iter()
        .filter(|r| r.action == "listing.registration_closed")
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].actor_id, None, "the system acts");
    assert_eq!(closed[0].to_state.as_deref(), Some("failed"));
    assert!(closed[0].created_at >= quiet.closes.naive_utc());
    assert_eq!(app.now(), t0() + Duration::days(12) + Duration::seconds(60));
}

#[test]
fn clock_travel_is_refused_in_production() {
    let secrets = [
        ("LANDX_ENV", "production"),
        (
            "LANDX_AUTH__JWT_SECRET",
            "jwt-secret-jwt-secret-jwt-secret-0123",
        ),
        ("LANDX_CRYPTO__KEY", "crypto-key-crypto-key-crypto-key-0123"),
        (
            "LANDX_AUDIT__KEY",
            "audit-key-audit-key-audit-key-audit-0123",
        ),
        ("LANDX_CLOCK__TRAVEL", "true"),
    ];
    for args in [&["serve"][..], &["config"][..]] {
        let out = landx_with_env(args, &secrets);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("clock.travel") && err.contains("production"),
            "{args:?}: {err}"
        );
    }
    // The same settings without the test clock pass the check (`landx config` prints them).
    let out = landx_with_env(&["config"], &secrets[..4]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("[clock]\ntravel = false"));
    // Outside production the setting is accepted.
    let out = landx_with_env(
        &["config"],
        &[("LANDX_ENV", "test"), ("LANDX_CLOCK__TRAVEL", "true")],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("[clock]\ntravel = true"));
}
