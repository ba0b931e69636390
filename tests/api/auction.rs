//! The auction (网络竞价): bid rules in the contract's order, anti-sniping, the members'
//! priority right, what registration close decides, `Idempotency-Key` on bids, fifty bidders
//! at once, and the live feed (SSE).

use std::collections::{HashMap, HashSet};
use std::sync::{Barrier, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{json, Value};

use crate::support::db::{Audit, BidRow};
use crate::support::feed::{next_event, next_main_event, open_feed};
use crate::support::internals::audit_hash;
use crate::support::records::*;
use crate::support::trading::*;
use crate::support::*;

/// Who bids is settled before anything of the listing, on a listing that exists (on
/// PostgreSQL the account comes with the listing's lock) and on one that doesn't (the account
/// read apart): every other role 403, a disabled investor 401, then a body that isn't a bid
/// 422, and only then the listing's 404.
#[test]
fn a_bid_settles_who_bids_before_the_listing() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let wang = enrol(&app, &w, &a, Plan::person("王芳"));
    app.set_now(a.starts);
    let nowhere = Auction {
        id: uuid::Uuid::new_v4().to_string(),
        ..a.clone()
    };
    for t in [&w.cj_staff.token, &w.ht.token, &w.insurer.token, &w.admin] {
        bid(&app, t, &a, RESERVE).assert_problem(403, "forbidden");
        bid(&app, t, &nowhere, RESERVE).assert_problem(403, "forbidden");
    }
    for target in [&a, &nowhere] {
        app.post(
            &target.path("/bids"),
            Some(zhang.token()),
            json!({"amount_fen": "十二万"}),
        )
        .assert_problem(422, "validation_failed");
    }
    bid(&app, zhang.token(), &nowhere, RESERVE).assert_problem(404, "not_found");
    let r = app.post(
        &format!("/api/v1/users/{}/disable", wang.inv.id),
        Some(&w.admin),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    for target in [&a, &nowhere] {
        bid(&app, wang.token(), target, RESERVE).assert_problem(401, "unauthorized");
    }
    assert_eq!(
        view(&app, &a)["bid_count"],
        0,
        "refused bids leave no trace"
    );
    bid_ok(&app, &zhang, &a, RESERVE);
}

#[test]
fn bids_are_checked_in_the_contract_order() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜").member());
    let lvye = enrol(&app, &w, &a, Plan::company("上海绿野农业发展有限公司"));
    let zhao = enrol(&app, &w, &a, Plan::person("赵敏").claims_only());
    let applied = enrol(&app, &w, &a, Plan::person("王军").unqualified());
    let unpaid = enrol(&app, &w, &a, Plan::person("刘洋").unpaid());
    let outsider = new_investor(&app, &w, "陈刚");
    let not_investors = [&w.cj_staff.token, &w.ht.token, &w.admin];

    // Announced: no auction yet.
    bid(&app, zhang.token(), &a, RESERVE).assert_problem(409, "auction_closed");
    for t in not_investors {
        bid(&app, t, &a, RESERVE).assert_problem(403, "forbidden");
    }

    // Registration closed: `auction` with 4 eligible bidders, but not started.
    app.set_now(a.closes + Duration::seconds(1));
    let l = view(&app, &a);
    assert_eq!(l["status"], "auction");
    assert_eq!(l["eligible_bidders"], 4);
    assert_eq!(l["current_price_fen"], Value::Null);
    assert_eq!(l["bid_count"], 0);
    assert_eq!(ts(&l["current_ends_at"]), a.ends);
    app.get(&a.path("/deal"), None)
        .assert_problem(404, "not_found");
    for t in not_investors {
        bid(&app, t, &a, 1).assert_problem(403, "forbidden");
    }
    // The window is checked before eligibility, the leader and the amount.
    for t in [zhang.token(), applied.token(), outsider.token.as_str()] {
        bid(&app, t, &a, 1).assert_problem(409, "auction_closed");
    }
    app.set_now(a.starts - Duration::seconds(1));
    bid(&app, zhang.token(), &a, RESERVE).assert_problem(409, "auction_closed");

    // Open.
    app.set_now(a.starts);
    for t in not_investors {
        bid(&app, t, &a, 1).assert_problem(403, "forbidden");
    }
    // Eligibility is checked before the amount.
    for t in [outsider.token.as_str(), applied.token(), unpaid.token()] {
        bid(&app, t, &a, RESERVE).assert_problem(403, "not_eligible");
        bid(&app, t, &a, 1).assert_problem(403, "not_eligible");
    }
    let nowhere = Auction {
        id: uuid::Uuid::new_v4().to_string(),
        ..a.clone()
    };
    bid(&app, zhang.token(), &nowhere, RESERVE).assert_problem(404, "not_found");
    app.post(
        "/api/v1/listings/not-a-uuid/bids",
        Some(zhang.token()),
        json!({"amount_fen": RESERVE}),
    )
    .assert_problem(400, "bad_request");
    bid(&app, zhang.token(), &a, RESERVE - INCREMENT).assert_problem(422, "bid_too_low");
    bid(&app, zhang.token(), &a, RESERVE + INCREMENT / 2).assert_problem(422, "bid_too_low");
    bid(&app, zhang.token(), &a, 0).assert_problem(422, "bid_too_low");
    assert_eq!(
        view(&app, &a)["bid_count"],
        0,
        "refused bids leave no trace"
    );

    let r = bid(&app, zhang.token(), &a, RESERVE);
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.body.clone();
    let keys: HashSet<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want: HashSet<&str> = [
        "id",
        "listing_id",
        "amount_fen",
        "bidder_alias",
        "placed_at",
        "is_leading",
        "priority",
        "current_price_fen",
        "current_ends_at",
    ]
    .into();
    assert!(want.is_subset(&keys), "{keys:?}");
    assert!(!keys.contains("registration_id"), "no identity in a bid");
    assert_eq!(first["listing_id"], a.id);
    assert_eq!(first["amount_fen"], RESERVE);
    assert_eq!(first["bidder_alias"], "竞买人 1");
    assert_eq!(ts(&first["placed_at"]), a.starts);
    assert_eq!(first["is_leading"], true);
    assert_eq!(first["priority"], false);
    assert_eq!(first["current_price_fen"], RESERVE);
    assert_eq!(ts(&first["current_ends_at"]), a.ends);
    assert!(r.header("location").is_some());

    // The leader is refused before the amount is looked at.
    bid(&app, zhang.token(), &a, RESERVE + INCREMENT).assert_problem(409, "already_leading");
    bid(&app, zhang.token(), &a, 1).assert_problem(409, "already_leading");
    let l = view(&app, &a);
    assert_eq!(l["current_price_fen"], RESERVE);
    assert_eq!(l["bid_count"], 1);

    // Equal (non-member), off the grid, or below current + increment.
    bid(&app, lvye.token(), &a, RESERVE).assert_problem(422, "bid_too_low");
    bid(&app, lvye.token(), &a, RESERVE + 1_500).assert_problem(422, "bid_too_low");
    bid(&app, lvye.token(), &a, RESERVE - INCREMENT).assert_problem(422, "bid_too_low");
    let b = bid_ok(&app, &lvye, &a, RESERVE + INCREMENT);
    assert_eq!(b["bidder_alias"], "竞买人 2");
    assert_eq!(b["priority"], false);

    // Priority right (优先权): only a verified member, only over a non-member leader.
    bid(&app, zhao.token(), &a, RESERVE + INCREMENT).assert_problem(422, "bid_too_low");
    let p = bid_ok(&app, &li, &a, RESERVE + INCREMENT);
    assert_eq!(p["priority"], true);
    assert_eq!(p["bidder_alias"], "竞买人 3");
    for t in [lvye.token(), zhao.token(), zhang.token()] {
        bid(&app, t, &a, RESERVE + INCREMENT).assert_problem(422, "bid_too_low");
    }
    let b = bid_ok(&app, &zhang, &a, RESERVE + 2 * INCREMENT);
    assert_eq!(
        b["bidder_alias"], "竞买人 1",
        "aliases are stable per bidder"
    );
    assert_eq!(b["priority"], false);
    let p = bid_ok(&app, &li, &a, RESERVE + 2 * INCREMENT);
    assert_eq!(p["priority"], true, "again over a non-member leader");
    assert_eq!(p["bidder_alias"], "竞买人 3");
    // Jumping several increments is fine.
    let b = bid_ok(&app, &zhao, &a, RESERVE + 5 * INCREMENT);
    assert_eq!(b["bidder_alias"], "竞买人 4");
    assert_eq!(ts(&b["current_ends_at"]), a.ends);

    // Anti-sniping: one second too early doesn't extend; exactly extension_secs before the
    // end, or later, moves the end to placed_at + extension_secs.
    app.set_now(a.ends - Duration::seconds(EXTENSION + 1));
    let b = bid_ok(&app, &lvye, &a, RESERVE + 6 * INCREMENT);
    assert_eq!(
        ts(&b["current_ends_at"]),
        a.ends,
        "not within extension_secs"
    );
    app.set_now(a.ends - Duration::seconds(EXTENSION));
    let b = bid_ok(&app, &zhang, &a, RESERVE + 7 * INCREMENT);
    assert_eq!(ts(&b["current_ends_at"]), a.ends);
    app.set_now(a.ends - Duration::seconds(10));
    let b = bid_ok(&app, &lvye, &a, RESERVE + 8 * INCREMENT);
    let ends1 = a.ends + Duration::seconds(EXTENSION - 10);
    assert_eq!(ts(&b["current_ends_at"]), ends1);
    assert_eq!(ts(&view(&app, &a)["current_ends_at"]), ends1);
    // The original end has passed, the auction goes on.
    app.set_now(a.ends);
    let b = bid_ok(&app, &zhang, &a, RESERVE + 9 * INCREMENT);
    let ends2 = a.ends + Duration::seconds(EXTENSION);
    assert_eq!(ts(&b["current_ends_at"]), ends2);
    app.set_now(ends2 - Duration::seconds(1));
    let b = bid_ok(&app, &li, &a, RESERVE + 10 * INCREMENT);
    let ends3 = ends2 - Duration::seconds(1) + Duration::seconds(EXTENSION);
    assert_eq!(ts(&b["current_ends_at"]), ends3);
    assert_eq!(b["priority"], false);

    // At current_ends_at the auction is closed: window before everything but the role.
    app.set_now(ends3);
    bid(&app, zhang.token(), &a, RESERVE + 20 * INCREMENT).assert_problem(409, "auction_closed");
    bid(&app, outsider.token.as_str(), &a, 1).assert_problem(409, "auction_closed");
    bid(&app, li.token(), &a, 1).assert_problem(409, "auction_closed");
    bid(&app, &w.cj_staff.token, &a, 1).assert_problem(403, "forbidden");
    let l = view(&app, &a);
    assert_eq!(l["status"], "awarded");
    assert_eq!(l["current_price_fen"], RESERVE + 10 * INCREMENT);
    assert_eq!(ts(&l["current_ends_at"]), ends3, "keeps its final value");
    assert_eq!(l["bid_count"], 11);
    bid(&app, zhang.token(), &a, RESERVE + 30 * INCREMENT).assert_problem(409, "auction_closed");
    // At award every deposit but the winner's and the runner-up's is released, including one
    // paid by a registration that was never qualified.
    assert_eq!(deposit_of(&app, &w, &li), "confirmed");
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    assert_eq!(deposit_of(&app, &w, &lvye), "refund_due");
    assert_eq!(deposit_of(&app, &w, &zhao), "refund_due");
    assert_eq!(deposit_of(&app, &w, &applied), "refund_due");
    assert_eq!(deposit_of(&app, &w, &unpaid), "unpaid");

    // The public history: newest first, aliases, no identities.
    let expect: Vec<(i64, &str, bool)> = vec![
        (RESERVE + 10 * INCREMENT, "竞买人 3", false),
        (RESERVE + 9 * INCREMENT, "竞买人 1", false),
        (RESERVE + 8 * INCREMENT, "竞买人 2", false),
        (RESERVE + 7 * INCREMENT, "竞买人 1", false),
        (RESERVE + 6 * INCREMENT, "竞买人 2", false),
        (RESERVE + 5 * INCREMENT, "竞买人 4", false),
        (RESERVE + 2 * INCREMENT, "竞买人 3", true),
        (RESERVE + 2 * INCREMENT, "竞买人 1", false),
        (RESERVE + INCREMENT, "竞买人 3", true),
        (RESERVE + INCREMENT, "竞买人 2", false),
        (RESERVE, "竞买人 1", false),
    ];
    for token in [None, Some(zhang.token()), Some(w.ht.token.as_str())] {
        let items = all_bids(&app, &a, token);
        let got: Vec<(i64, &str, bool)> = items
            .iter()
            .map(|b| {
                assert!(b.get("registration_id").is_none(), "public: {b}");
                (
                    b["amount_fen"].as_i64().unwrap(),
                    b["bidder_alias"].as_str().unwrap(),
                    b["priority"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expect);
    }
    let staff_items = all_bids(&app, &a, Some(&w.cj_staff.token));
    let regs: Vec<&str> = staff_items
        .iter()
        .map(|b| b["registration_id"].as_str().expect("staff see identities"))
        .collect();
    assert_eq!(regs[0], li.reg);
    assert_eq!(regs[1], zhang.reg);
    assert_eq!(regs[5], zhao.reg);
    assert_eq!(regs[10], zhang.reg);
    // Staff of another township are the public here.
    assert!(all_bids(&app, &a, Some(&w.sy_staff.token))
        .iter()
        .all(|b| b.get("registration_id").is_none()));
    let admin_items = all_bids(&app, &a, Some(&w.admin));
    assert_eq!(admin_items[2]["registration_id"], lvye.reg.as_str());
    // Placed-at never decreases in acceptance order.
    let times: Vec<DateTime<Utc>> = staff_items
        .iter()
        .rev()
        .map(|b| ts(&b["placed_at"]))
        .collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{times:?}");
    // Pages.
    let p1 = ok(app.get(&a.path("/bids?limit=4"), None));
    assert_eq!(p1["items"].as_array().unwrap().len(), 4);
    let c = p1["next_cursor"].as_str().expect("more").to_string();
    let p2 = ok(app.get(&a.path(&format!("/bids?limit=4&cursor={c}")), None));
    assert_eq!(p2["items"][0]["amount_fen"], expect[4].0);
    app.get(&a.path("/bids?limit=201"), None)
        .assert_field("limit");
}

#[test]
fn registration_close_starts_an_auction_a_negotiated_deal_or_fails() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    // 0 eligible (one registered with a deposit, never qualified).
    let none = listing(&app, &w, "50.00", RESERVE);
    let waiting = enrol(&app, &w, &none, Plan::person("王军").unqualified());
    // 1 eligible: a company; 50.01 mu at 1200.50 yuan makes a rent ending in half a fen.
    let one = listing(&app, &w, "50.01", 120_050);
    let lvye = enrol(&app, &w, &one, Plan::company("上海绿野农业发展有限公司"));
    let _late = enrol(&app, &w, &one, Plan::person("刘洋").unpaid());
    // 2 eligible, nobody bids.
    let two = listing(&app, &w, "50.00", RESERVE);
    let quiet1 = enrol(&app, &w, &two, Plan::person("张伟"));
    let quiet2 = enrol(&app, &w, &two, Plan::person("李娜"));

    // The worker performs the registration close, before any read does.
    app.set_now(none.closes + Duration::seconds(1));
    app.run_jobs();
    for (l, to) in [(&none, "failed"), (&one, "awarded"), (&two, "auction")] {
        let closed: Vec<Audit> = app
            .audit_for(&l.id)
            .into_iter()
            .filter(|r| r.action == "listing.registration_closed")
            .collect();
        assert_eq!(closed.len(), 1, "worker closed registration of {}", l.id);
        assert_eq!(closed[0].from_state.as_deref(), Some("announced"));
        assert_eq!(closed[0].to_state.as_deref(), Some(to));
        assert_eq!(closed[0].actor_id, None, "the system acts");
    }

    let l = view(&app, &none);
    assert_eq!(l["status"], "failed");
    assert_eq!(l["eligible_bidders"], 0);
    assert_eq!(deposit_of(&app, &w, &waiting), "refund_due");
    app.get(&none.path("/deal"), None)
        .assert_problem(404, "not_found");
    assert_eq!(count_mail(&app, &w.ht.email, "Listing failed"), 1);

    // Negotiated deal (协议转让): awarded at once at the reserve, no bid, no runner-up.
    let l = view(&app, &one);
    assert_eq!(l["status"], "awarded");
    assert_eq!(l["eligible_bidders"], 1);
    assert_eq!(l["bid_count"], 0);
    assert_eq!(l["current_price_fen"], Value::Null);
    assert!(all_bids(&app, &one, None).is_empty());
    assert!(db_bids(&app, &one).is_empty());
    let d = public_deal(&app, &one);
    assert_eq!(d["negotiated"], true);
    assert_eq!(d["round"], 1);
    assert_eq!(d["price_fen"], 120_050);
    // 50.01 mu × 1 200.50 yuan = 6 003 700.5 fen: half a fen rounds up.
    assert_eq!(d["annual_rent_fen"], 6_003_701, "round half up");
    assert_eq!(
        d["winner_name"], "上海绿野农业发展有限公司",
        "a company is named in public"
    );
    assert_eq!(d["confirmation_no"], "DL-CJ-2027-0001");
    assert_eq!(ts(&d["confirm_by"]), one.closes + Duration::days(3));
    assert_eq!(ts(&d["publicity_ends_at"]), one.closes + Duration::days(5));
    assert_eq!(deposit_of(&app, &w, &lvye), "confirmed");
    assert_eq!(count_mail(&app, &lvye.inv.email, "You won"), 1);
    bid(&app, lvye.token(), &one, 120_050).assert_problem(409, "auction_closed");

    // Two eligible bidders, no bid at all → failed at the end (closed by the worker).
    let l = view(&app, &two);
    assert_eq!(l["status"], "auction");
    assert_eq!(l["eligible_bidders"], 2);
    app.set_now(two.ends);
    app.run_jobs();
    let closed: Vec<Audit> = app
        .audit_for(&two.id)
        .into_iter()
        .filter(|r| r.action == "listing.auction_closed")
        .collect();
    assert_eq!(closed.len(), 1, "the worker closed the auction");
    assert_eq!(closed[0].to_state.as_deref(), Some("failed"));
    let l = view(&app, &two);
    assert_eq!(l["status"], "failed");
    assert_eq!(l["current_price_fen"], Value::Null);
    app.get(&two.path("/deal"), None)
        .assert_problem(404, "not_found");
    assert_eq!(deposit_of(&app, &w, &quiet1), "refund_due");
    assert_eq!(deposit_of(&app, &w, &quiet2), "refund_due");
    assert!(db_deals(&app, &two).is_empty());

    // The negotiated party declines: forfeited, and with no runner-up the listing fails.
    let deal_id = d["id"].as_str().unwrap().to_string();
    let declined = ok(deal_action(&app, lvye.token(), &deal_id, "decline"));
    assert_eq!(declined["status"], "fallen_through");
    assert_eq!(deposit_of(&app, &w, &lvye), "forfeited");
    assert_eq!(view(&app, &one)["status"], "failed");
    assert_eq!(db_deals(&app, &one).len(), 1, "no runner-up offer");
    assert_eq!(public_deal(&app, &one)["status"], "fallen_through");

    // A failed listing is relisted once, by its owner.
    let body = json!({
        "reserve_price_fen": 110_000,
        "registration_closes_at": rfc(app.now() + Duration::days(12)),
        "auction_starts_at": rfc(app.now() + Duration::days(13)),
        "auction_ends_at": rfc(app.now() + Duration::days(13) + Duration::hours(1)),
    });
    let r = app.post(&two.path("/relist"), Some(&w.jg.token), body.clone());
    r.assert_problem(403, "forbidden");
    for l in [&none, &one, &two] {
        let r = app.post(&l.path("/relist"), Some(&w.ht.token), body.clone());
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["status"], "draft");
        assert_eq!(r.body["attempt"], 2);
        assert_eq!(r.body["previous_listing_id"], l.id.as_str());
        assert_eq!(r.body["reserve_price_fen"], 110_000);
        app.post(&l.path("/relist"), Some(&w.ht.token), body.clone())
            .assert_problem(409, "invalid_state");
    }
}

#[test]
fn idempotency_key_replays_bids_and_refuses_reuse() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let other = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    let wang = enrol(&app, &w, &a, Plan::person("王军"));
    app.set_now(a.starts);
    let path = a.path("/bids");

    let first = bid_with_key(
        &app,
        zhang.token(),
        &path,
        "k-1",
        r#"{"amount_fen":120000}"#,
    );
    assert_eq!(first.status, 201, "{}", first.text);
    // Equal as parsed JSON: replayed, not placed again.
    for body in [r#"{"amount_fen":120000}"#, "{ \"amount_fen\" : 120000 }\n"] {
        let again = bid_with_key(&app, zhang.token(), &path, "k-1", body);
        assert_eq!(again.status, 201);
        assert_eq!(again.text, first.text);
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }
    assert_eq!(db_bids(&app, &a).len(), 1);
    // Same key, another body or another path.
    bid_with_key(
        &app,
        zhang.token(),
        &path,
        "k-1",
        r#"{"amount_fen":121000}"#,
    )
    .assert_problem(422, "idempotency_key_reused");
    bid_with_key(
        &app,
        zhang.token(),
        &other.path("/bids"),
        "k-1",
        r#"{"amount_fen":120000}"#,
    )
    .assert_problem(422, "idempotency_key_reused");
    // Keys are per user.
    let theirs = bid_with_key(&app, li.token(), &path, "k-1", r#"{"amount_fen":121000}"#);
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_ne!(theirs.body["id"], first.body["id"]);

    // A refusal is stored and replayed too, even once the same request would succeed.
    let lead = bid_with_key(&app, li.token(), &path, "k-2", r#"{"amount_fen":123000}"#);
    lead.assert_problem(409, "already_leading");
    bid_ok(&app, &zhang, &a, 122_000);
    let replay = bid_with_key(&app, li.token(), &path, "k-2", r#"{"amount_fen":123000}"#);
    replay.assert_problem(409, "already_leading");
    assert_eq!(replay.text, lead.text);
    let low = bid_with_key(&app, wang.token(), &path, "k-3", r#"{"amount_fen":122500}"#);
    low.assert_problem(422, "bid_too_low");
    let replay = bid_with_key(&app, wang.token(), &path, "k-3", r#"{"amount_fen":122500}"#);
    replay.assert_problem(422, "bid_too_low");
    assert_eq!(replay.text, low.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // Without the key the same bid is judged afresh.
    bid_ok(&app, &li, &a, 123_000);

    // Duplicates arriving together: one bid, the same answer for all.
    let go = Barrier::new(6);
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    go.wait();
                    bid_with_key(
                        &app,
                        wang.token(),
                        &path,
                        "burst",
                        r#"{"amount_fen":125000}"#,
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body, answers[0].body);
    }
    let rows = db_bids(&app, &a);
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows.iter().filter(|b| b.amount_fen == 125_000).count(), 1);

    // A malformed key.
    let long = "k".repeat(256);
    bid_with_key(&app, wang.token(), &path, &long, r#"{"amount_fen":126000}"#)
        .assert_field("Idempotency-Key");
    assert_eq!(db_bids(&app, &a).len(), 5);
}

#[test]
fn fifty_bidders_at_once_keep_every_invariant() {
    const BIDDERS: usize = 50;
    const ATTEMPTS: usize = 10;
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let setup_started = Instant::now();
    // Admin-made investors (verified, with a password), registered in parallel; every
    // seventh claims membership and is verified.
    let numbers: Vec<u32> = (0..BIDDERS).map(|_| w.next()).collect();
    let bidders: Vec<(Bidder, bool)> = std::thread::scope(|s| {
        let chunks: Vec<_> = numbers
            .chunks(BIDDERS.div_ceil(6))
            .map(|chunk| {
                let (app, w, a) = (&app, &w, &a);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&n| {
                            let member = n % 7 == 0;
                            let inv = user(
                                app,
                                &w.admin,
                                &format!("bidder{n}@nongye.cn"),
                                "竞买人",
                                "investor",
                                json!({}),
                            );
                            let plan = if member {
                                Plan::person("陈静").member()
                            } else {
                                Plan::person("周强")
                            };
                            (enrol_as(app, w, a, inv, plan), member)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(bidders.iter().filter(|(_, m)| *m).count() >= 5);
    app.set_now(a.closes + Duration::seconds(1));
    assert_eq!(view(&app, &a)["eligible_bidders"], BIDDERS as i64);
    eprintln!("setup of {BIDDERS} bidders: {:?}", setup_started.elapsed());

    app.set_now(a.starts);
    let price_now = |app: &TestApp| -> Option<i64> {
        ok(app.get(&a.path(""), None))["current_price_fen"].as_i64()
    };
    // (bidder, amount, status, body) of every attempt.
    let log: Mutex<Vec<(usize, i64, u16, Value)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let go = Barrier::new(BIDDERS);
    std::thread::scope(|s| {
        for (i, (b, _)) in bidders.iter().enumerate() {
            let (app, a, go, log) = (&app, &a, &go, &log);
            s.spawn(move || {
                go.wait();
                let mut known: Option<i64> = None;
                for k in 0..ATTEMPTS {
                    // Time moves on while they bid; bids must stay in time order.
                    app.advance(Duration::milliseconds(1));
                    let amount = match ((i + k) % 6, known) {
                        // deliberately equal to the last price seen (a priority bid for members)
                        (4, Some(p)) => p,
                        // deliberately too low or off the grid
                        (5, Some(p)) if k % 2 == 0 => p - INCREMENT,
                        (5, _) => RESERVE + INCREMENT / 2,
                        (_, Some(p)) => p + INCREMENT,
                        (_, None) => RESERVE,
                    };
                    let r = bid(app, b.token(), a, amount);
                    if r.status == 201 {
                        known = r.body["current_price_fen"].as_i64();
                    } else {
                        known = price_now(app);
                    }
                    log.lock().unwrap().push((i, amount, r.status, r.body));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let log = log.into_inner().unwrap();
    assert_eq!(log.len(), BIDDERS * ATTEMPTS);

    // No 5xx; every refusal is one of the bid refusals.
    let mut by_code: HashMap<(u16, String), usize> = HashMap::new();
    for (_, _, status, body) in &log {
        *by_code
            .entry((*status, body["code"].as_str().unwrap_or("").to_string()))
            .or_default() += 1;
    }
    eprintln!(
        "{} bid attempts by {BIDDERS} bidders in {elapsed:?}: {by_code:?}",
        log.len()
    );
    for ((status, code), n) in &by_code {
        assert!(
            matches!(
                (*status, code.as_str()),
                (201, "") | (409, "already_leading") | (422, "bid_too_low")
            ),
            "{n} × {status} {code}"
        );
    }
    let accepted: Vec<&Value> = log
        .iter()
        .filter(|(_, _, s, _)| *s == 201)
        .map(|(_, _, _, b)| b)
        .collect();
    // Most attempts lose the race; enough must win for the checks below to mean something.
    assert!(
        accepted.len() >= 10,
        "only {} bids accepted",
        accepted.len()
    );

    // Every 201 has its row, and nothing else does.
    let rows = db_bids(&app, &a);
    assert_eq!(rows.len(), accepted.len());
    let by_id: HashMap<&str, &BidRow> = rows.iter().map(|b| (b.id.as_str(), b)).collect();
    for b in &accepted {
        let row = by_id[b["id"].as_str().unwrap()];
        assert_eq!(row.amount_fen, b["amount_fen"].as_i64().unwrap());
        assert_eq!(row.priority, b["priority"].as_bool().unwrap());
        assert_eq!(row.placed_at, ts(&b["placed_at"]).naive_utc());
        assert_eq!(format!("竞买人 {}", row.bidder_no), b["bidder_alias"]);
    }
    // Acceptance order: seq 1..n, time never goes back, each bid beats the one before it
    // (or matches it as a member's priority bid), nobody outbids itself, aliases in order of
    // first bid.
    let mut aliases: HashMap<&str, i64> = HashMap::new();
    let mut last_time: Option<NaiveDateTime> = None;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1);
        if let Some(t) = last_time {
            assert!(
                row.placed_at >= t,
                "bid {} placed before its predecessor",
                row.seq
            );
        }
        last_time = Some(row.placed_at);
        assert_eq!((row.amount_fen - RESERVE) % INCREMENT, 0);
        if i == 0 {
            assert!(row.amount_fen >= RESERVE && !row.priority);
        } else {
            let prev = &rows[i - 1];
            assert_ne!(
                row.registration_id, prev.registration_id,
                "leader bid again"
            );
            if row.priority {
                assert_eq!(row.amount_fen, prev.amount_fen);
            } else {
                assert!(
                    row.amount_fen >= prev.amount_fen + INCREMENT,
                    "{prev:?} → {row:?}"
                );
            }
        }
        let next = aliases.len() as i64 + 1;
        let n = *aliases.entry(row.registration_id.as_str()).or_insert(next);
        assert_eq!(row.bidder_no, n);
    }
    let mut amounts: HashMap<i64, Vec<&BidRow>> = HashMap::new();
    for row in &rows {
        amounts.entry(row.amount_fen).or_default().push(row);
    }
    for (amount, same) in &amounts {
        assert!(
            same.len() == 1 || (same.len() == 2 && same.iter().filter(|b| b.priority).count() == 1),
            "{amount} accepted {} times",
            same.len()
        );
    }
    let members: HashSet<&str> = bidders
        .iter()
        .filter(|(_, m)| *m)
        .map(|(b, _)| b.reg.as_str())
        .collect();
    assert!(rows
        .iter()
        .filter(|b| b.priority)
        .all(|b| members.contains(b.registration_id.as_str())));
    let top = rows.iter().map(|b| b.amount_fen).max().unwrap();
    let l = view(&app, &a);
    assert_eq!(l["current_price_fen"], top);
    assert_eq!(l["bid_count"], rows.len() as i64);
    assert_eq!(all_bids(&app, &a, None).len(), rows.len());

    // The listing's audit stream: one record per bid, hash chain intact.
    let records = stream(&app, &a);
    assert_eq!(
        records.iter().filter(|r| r.entity_type == "bid").count(),
        rows.len()
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1);
        assert_eq!(audit_hash(r), r.hash);
        if i > 0 {
            assert_eq!(r.prev_hash, records[i - 1].hash);
        }
    }

    // Closing raced by readers and the worker: exactly one deal.
    let ends = ts(&l["current_ends_at"]);
    app.set_now(ends + Duration::seconds(1));
    let go = Barrier::new(9);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (app, a, go) = (&app, &a, &go);
            s.spawn(move || {
                go.wait();
                let path = if i % 2 == 0 {
                    a.path("")
                } else {
                    a.path("/deal")
                };
                let r = app.get(&path, None);
                assert_eq!(r.status, 200, "{}", r.text);
            });
        }
        go.wait();
        app.run_jobs();
    });
    let deals = db_deals(&app, &a);
    assert_eq!(deals.len(), 1, "{deals:?}");
    assert_eq!(deals[0].price_fen, top);
    assert_eq!(deals[0].confirmation_no, "DL-CJ-2027-0001");
    assert_eq!(
        deals[0].registration_id,
        rows.last().unwrap().registration_id
    );
    assert_eq!(audit_actions(&app, &deals[0].id), ["deal.created"]);
    let closes = app
        .audit_for(&a.id)
        .into_iter()
        .filter(|r| r.action == "listing.auction_closed")
        .count();
    assert_eq!(closes, 1);
    assert_eq!(view(&app, &a)["status"], "awarded");
    let refunds = bidders
        .iter()
        .filter(|(b, _)| deposit_of(&app, &w, b) == "refund_due")
        .count();
    assert_eq!(refunds, BIDDERS - 2, "all but the winner and the runner-up");
}

#[test]
fn live_feed_streams_bids_resumes_after_last_event_id_and_ends_with_the_close() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let empty = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    app.get(
        &format!("/api/v1/listings/{}/events", uuid::Uuid::new_v4()),
        None,
    )
    .assert_problem(404, "not_found");
    app.set_now(a.starts);
    bid_ok(&app, &zhang, &a, RESERVE);
    bid_ok(&app, &li, &a, RESERVE + INCREMENT);
    bid_ok(&app, &zhang, &a, RESERVE + 2 * INCREMENT);
    app.set_now(a.ends - Duration::seconds(100));
    let sniped = bid_ok(&app, &li, &a, RESERVE + 3 * INCREMENT);
    let extended_to = a.ends + Duration::seconds(EXTENSION - 100);
    assert_eq!(ts(&sniped["current_ends_at"]), extended_to);

    // From the start: every bid with its acceptance order as the event id.
    let mut feed = open_feed(&app, &a, None);
    let aliases = ["竞买人 1", "竞买人 2", "竞买人 1", "竞买人 2"];
    for (i, alias) in aliases.iter().enumerate() {
        let e = next_event(&mut *feed).expect("bid event");
        assert_eq!(e.event, "bid");
        assert_eq!(e.id.as_deref(), Some((i + 1).to_string().as_str()));
        let amount = RESERVE + i as i64 * INCREMENT;
        assert_eq!(e.data["amount_fen"], amount);
        assert_eq!(e.data["bidder_alias"], *alias);
        assert_eq!(e.data["priority"], false);
        assert_eq!(e.data["current_price_fen"], amount);
        assert!(e.data.get("registration_id").is_none());
        let ends = if i < 3 { a.ends } else { extended_to };
        assert_eq!(
            ts(&e.data["current_ends_at"]),
            ends,
            "bid {}: {}",
            i + 1,
            e.data
        );
    }
    let e = next_event(&mut *feed).expect("extended event");
    assert_eq!(e.event, "extended");
    assert_eq!(ts(&e.data["current_ends_at"]), extended_to);
    drop(feed);

    // Resuming after the first bid; then a live bid and the close.
    let mut feed = open_feed(&app, &a, Some("1"));
    for n in 2..=4 {
        let e = next_main_event(&mut *feed).expect("bid event");
        assert_eq!(e.event, "bid");
        assert_eq!(e.id, Some(n.to_string()));
        let ends = if n < 4 { a.ends } else { extended_to };
        assert_eq!(ts(&e.data["current_ends_at"]), ends, "bid {n}: {}", e.data);
    }
    app.set_now(a.ends + Duration::seconds(1));
    let live = bid_ok(&app, &zhang, &a, RESERVE + 4 * INCREMENT);
    let final_end = ts(&live["current_ends_at"]);
    let e = next_main_event(&mut *feed).expect("live bid event");
    assert_eq!(e.event, "bid");
    assert_eq!(e.id.as_deref(), Some("5"));
    assert_eq!(e.data["amount_fen"], RESERVE + 4 * INCREMENT);
    assert_eq!(ts(&e.data["current_ends_at"]), final_end);
    app.set_now(final_end);
    let e = next_main_event(&mut *feed).expect("closed event");
    assert_eq!(e.event, "closed");
    assert_eq!(e.data["outcome"], "awarded");
    assert_eq!(e.data["winning_price_fen"], RESERVE + 4 * INCREMENT);
    assert!(
        next_event(&mut *feed).is_none(),
        "the feed ends after the close"
    );
    assert_eq!(view(&app, &a)["status"], "awarded");

    // After the close: the history, the close, the end.
    let mut feed = open_feed(&app, &a, Some("4"));
    let e = next_main_event(&mut *feed).unwrap();
    assert_eq!(e.id.as_deref(), Some("5"));
    assert_eq!(ts(&e.data["current_ends_at"]), final_end);
    assert_eq!(next_main_event(&mut *feed).unwrap().event, "closed");
    assert!(next_event(&mut *feed).is_none());

    // A listing that failed without bids.
    let mut feed = open_feed(&app, &empty, None);
    let e = next_event(&mut *feed).expect("closed event");
    assert_eq!(e.event, "closed");
    assert_eq!(e.data["outcome"], "failed");
    assert_eq!(e.data["winning_price_fen"], Value::Null);
    assert!(next_event(&mut *feed).is_none());
}

/// The statements of one bid through HTTP, as the database sees them (transaction control
/// included): at most this many, so a change that adds a round trip to the hot path fails.
/// PostgreSQL: BEGIN, the listing's lock with the caller's account, the registrations with the
/// audit head's lock, the four writes as one statement, COMMIT. SQLite (in process, no round
/// trips): the account and the audit head apart, the four writes apart.
fn bid_statements(app: &TestApp) -> usize {
    if crate::support::db::is_postgres(app.pool()) {
        5
    } else {
        10
    }
}

/// The hot path reuses what the connection prepared: after a bidder's first bid, none of a bid's
/// statements is parsed and planned afresh (diesel leaves every UPDATE and, on PostgreSQL,
/// every INSERT of a row out of its statement cache unless told otherwise), and a bid takes at
/// most [`bid_statements`] statements.
#[test]
fn a_bid_reuses_prepared_statements() {
    use crate::support::internals::{log_statements, Statement};
    let app = TestApp::start_with(|s| {
        s.database.pool_size = 1;
        s.auth.access_token_minutes = 60 * 24 * 90;
        s.auth.ip_attempts_per_minute = 1_000_000;
    });
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    app.set_now(a.starts);
    let log = log_statements(app.pool());
    // Each bidder's first bid (it numbers the bidder), then one more: everything is prepared.
    let mut price = RESERVE;
    for b in [&zhang, &li, &zhang] {
        bid_ok(&app, b, &a, price);
        price += INCREMENT;
    }
    let warm = log.take();
    let prepared: HashSet<String> = warm
        .iter()
        .filter_map(|s| match s {
            Statement::Prepared(sql) => Some(sql.clone()),
            Statement::Run(_) => None,
        })
        .collect();
    assert!(!prepared.is_empty(), "no statement was prepared: {warm:#?}");

    for b in [&li, &zhang, &li] {
        bid_ok(&app, b, &a, price);
        price += INCREMENT;
    }
    let hot = log.take();
    let control = |sql: &str| {
        let head = sql.trim_start().to_ascii_uppercase();
        ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
            .iter()
            .any(|k| head.starts_with(k))
    };
    let mut runs = 0;
    for s in &hot {
        match s {
            Statement::Prepared(sql) => panic!("a warm bid prepared a statement again: {sql}"),
            Statement::Run(sql) if control(sql) => runs += 1,
            Statement::Run(sql) => {
                runs += 1;
                assert!(
                    prepared.contains(sql),
                    "a bid's statement is not kept prepared: {sql}"
                );
            }
        }
    }
    let most = bid_statements(&app);
    assert!(
        runs <= 3 * most,
        "3 bids took {runs} statements (at most {most} each): {hot:#?}"
    );
}
