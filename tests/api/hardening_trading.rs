//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.

#[allow(unused_imports)]
use crate::support::*;

use chrono::Duration;

use crate::support::records::count_mail;
use crate::support::trading::*;

/// The largest bid the default rules accept (`rules.max_price_fen`).
const MAX_PRICE_FEN: i64 = 100_000_000_000;

/// Item 1: a bid above `max_price_fen` is a body error (422 `validation_failed` naming
/// `amount_fen`), checked after the role and visibility and before the auction's state;
/// the largest valid bid still goes through.
#[test]
fn an_absurd_bid_is_refused_naming_amount_fen() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let b1 = enrol(&app, &w, &a, Plan::person("张伟"));
    let b2 = enrol(&app, &w, &a, Plan::person("李娜"));
    let outsider = new_investor(&app, &w, "王军");
    // i64::MAX rounded down to the increment grid.
    let absurd = RESERVE + (i64::MAX - RESERVE) / INCREMENT * INCREMENT;
    let just_over = MAX_PRICE_FEN + INCREMENT;

    // Before the auction opens: the body is refused before the window is looked at.
    bid(&app, b1.token(), &a, absurd)
        .assert_problem(422, "validation_failed")
        .assert_field("amount_fen");
    app.set_now(a.starts);
    // Role first (staff don't bid), then the amount, before eligibility.
    bid(&app, &a.staff, &a, absurd).assert_problem(403, "forbidden");
    bid(&app, outsider.t().unwrap(), &a, absurd)
        .assert_problem(422, "validation_failed")
        .assert_field("amount_fen");
    for amount in [absurd, just_over] {
        bid(&app, b1.token(), &a, amount)
            .assert_problem(422, "validation_failed")
            .assert_field("amount_fen");
    }
    assert!(db_bids(&app, &a).is_empty(), "nothing stored");
    assert_eq!(view(&app, &a)["bid_count"], 0);
    // The maximum itself is a valid bid (it is on this listing's grid).
    bid_ok(&app, &b1, &a, MAX_PRICE_FEN);
    bid(&app, b2.token(), &a, MAX_PRICE_FEN + INCREMENT)
        .assert_problem(422, "validation_failed")
        .assert_field("amount_fen");
    // The auction closes into a deal whose rent fits.
    app.set_now(a.ends);
    let l = view(&app, &a);
    assert_eq!(l["status"], "awarded");
    assert_eq!(public_deal(&app, &a)["price_fen"], MAX_PRICE_FEN);
}

/// Item 1: a listing whose settlement fails (its price corrupted beyond what any rent can
/// hold) neither stops the worker from closing another listing's auction nor keeps the mail
/// from leaving, nor breaks reads of the other listing or the search; the failure is counted.
#[test]
fn one_listing_failing_to_settle_stops_nothing_else() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let sched = schedule(&app);
    let bad = listing_at(&app, &w, w.cj(), "50.00", RESERVE, sched);
    let good = listing_at(&app, &w, w.cj(), "50.00", RESERVE, sched);
    let mut bidders = Vec::new();
    for a in [&bad, &good] {
        let b1 = enrol(&app, &w, a, Plan::person("张伟"));
        let b2 = enrol(&app, &w, a, Plan::person("李娜"));
        bidders.push((b1, b2));
    }
    app.set_now(good.starts);
    for (a, (b1, b2)) in [&bad, &good].into_iter().zip(&bidders) {
        bid_ok(&app, b1, a, RESERVE);
        bid_ok(&app, b2, a, RESERVE + INCREMENT);
    }
    // A price no rent can hold (as an absurd bid accepted before the bound would have made).
    let huge = RESERVE + (i64::MAX - RESERVE) / INCREMENT * INCREMENT;
    app.exec_sql(&format!(
        "UPDATE bids SET amount_fen = {huge} WHERE listing_id = '{id}' AND seq = 2; \
         UPDATE listings SET current_price_fen = {huge} WHERE id = '{id}';",
        id = bad.id
    ));
    let winner = &bidders[1].1;

    // Both auctions are due; the worker runs before any read settles them.
    app.set_now(good.ends + Duration::seconds(1));
    app.run_jobs();
    let closed: Vec<String> = app
        .audit_for(&good.id)
        .into_iter()
        .filter(|r| r.action == "listing.auction_closed")
        .filter_map(|r| r.to_state)
        .collect();
    assert_eq!(closed, ["awarded"], "the worker closed the good auction");
    assert!(
        app.audit_for(&bad.id)
            .iter()
            .all(|r| r.action != "listing.auction_closed"),
        "the bad listing's close rolled back"
    );
    // The good listing's mail goes out (the relay takes a batch per pass; every pass settles
    // the bad listing again and fails on it).
    let won_sent = |app: &TestApp| {
        app.outbox().iter().any(|m| {
            m.to_addr == winner.inv.email && m.subject.contains("You won") && m.sent_at.is_some()
        })
    };
    for _ in 0..50 {
        if won_sent(&app) {
            break;
        }
        app.run_jobs();
    }
    assert!(won_sent(&app), "mail relayed despite the failure");
    assert_eq!(count_mail(&app, &winner.inv.email, "You won"), 1);

    // Reads of the other listing and the public search keep working.
    assert_eq!(view(&app, &good)["status"], "awarded");
    assert_eq!(public_deal(&app, &good)["price_fen"], RESERVE + INCREMENT);
    assert_eq!(all_bids(&app, &good, None).len(), 2);
    ok(app.get("/api/v1/listings", None));
    // The next pass goes on as well, and mail made in between leaves.
    let reg = register(&app, "late@nongye.cn", "赵敏");
    assert_eq!(reg.status, 201, "{}", reg.text);
    for _ in 0..50 {
        app.run_jobs();
    }
    let late: Vec<_> = app
        .outbox()
        .into_iter()
        .filter(|m| m.to_addr == "late@nongye.cn")
        .collect();
    assert!(!late.is_empty() && late.iter().all(|m| m.sent_at.is_some()));
    // Each failed settlement is counted.
    let metrics = app.get("/metrics", None);
    let line = metrics
        .text
        .lines()
        .find(|l| l.starts_with("landx_settle_failures_total"))
        .expect("settle failures counted")
        .to_string();
    let n: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 2, "{line}");
}

/// A live feed opened from `ip` (through a trusted proxy): its status.
fn feed_status(
    app: &TestApp,
    a: &Auction,
    ip: &str,
) -> (
    u16,
    Option<String>,
    Option<Box<dyn std::io::Read + Send + Sync>>,
) {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(10))
        .timeout_read(std::time::Duration::from_secs(30))
        .build();
    match agent
        .get(&app.url(&a.path("/events")))
        .set("X-Forwarded-For", ip)
        .call()
    {
        Ok(r) => (200, None, Some(r.into_reader())),
        Err(ureq::Error::Status(code, r)) => {
            let retry = r.header("Retry-After").map(str::to_string);
            let body = r.into_string().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let _ = retry
                .as_deref()
                .map(|r| r.parse::<u64>().expect("Retry-After in seconds"));
            (code, v["code"].as_str().map(str::to_string), None)
        }
        Err(e) => panic!("feed: {e}"),
    }
}

/// Item 12 (SSE): live feeds are bounded per client IP (429 `rate_limited` with
/// `Retry-After`) and in total (503 `unavailable`); a place is given back when a feed ends;
/// the server ends a feed after its maximum lifetime.
#[test]
fn live_feeds_are_bounded_per_client_in_total_and_in_time() {
    let app = TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 90;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.server.feeds_per_client = 2;
        s.server.feeds_total = 3;
        s.server.feed_max_lifetime_secs = 3;
    });
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let started = std::time::Instant::now();
    let (s1, _, f1) = feed_status(&app, &a, "198.51.100.7");
    let (s2, _, f2) = feed_status(&app, &a, "198.51.100.7");
    assert_eq!((s1, s2), (200, 200));
    let (s3, code, _) = feed_status(&app, &a, "198.51.100.7");
    assert_eq!(s3, 429, "a third feed from one client");
    assert_eq!(code.as_deref(), Some("rate_limited"));
    let r = app.call_raw(
        "GET",
        &a.path("/events"),
        None,
        None,
        &[("X-Forwarded-For", "198.51.100.7")],
    );
    assert!(
        r.header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "Retry-After"
    );
    let (s4, _, f4) = feed_status(&app, &a, "203.0.113.9");
    assert_eq!(s4, 200, "another client still gets one");
    let (s5, code, _) = feed_status(&app, &a, "192.0.2.44");
    assert_eq!(s5, 503, "over the total");
    assert_eq!(code.as_deref(), Some("unavailable"));
    // The server ends every feed at its maximum lifetime; the places come back.
    for f in [f1, f2, f4] {
        let mut f = f.unwrap();
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut sink).expect("feed ends cleanly");
    }
    let lived = started.elapsed();
    assert!(
        lived >= std::time::Duration::from_secs(3) && lived < std::time::Duration::from_secs(25),
        "{lived:?}"
    );
    let (s6, _, _) = feed_status(&app, &a, "198.51.100.7");
    assert_eq!(s6, 200, "a reconnect after the end is let in");
}
