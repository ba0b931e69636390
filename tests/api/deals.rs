//! Deals (成交): award and both sides' confirmation, who may act on a deal, decline and
//! time-out passing the offer to the runner-up (on read and in the worker), one late read
//! performing every due step at its own time, relisting, and deal numbers per township and
//! Shanghai calendar year.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use crate::support::db::Audit;
use crate::support::records::*;
use crate::support::trading::*;
use crate::support::*;

#[test]
fn the_best_bidder_wins_losers_get_deposits_back_and_both_sides_confirm() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let jinnong = enrol(&app, &w, &a, Plan::company("上海金农农业专业合作社"));
    let wang = enrol(&app, &w, &a, Plan::person("王军"));
    let liu = enrol(&app, &w, &a, Plan::person("刘洋"));
    let zhao = enrol(&app, &w, &a, Plan::person("赵敏").unpaid());

    app.set_now(a.closes + Duration::seconds(1));
    assert_eq!(view(&app, &a)["eligible_bidders"], 4);
    for b in [&zhang, &jinnong, &wang, &liu] {
        assert_eq!(count_mail(&app, &b.inv.email, "Auction scheduled"), 1);
    }
    assert_eq!(count_mail(&app, &zhao.inv.email, "Auction scheduled"), 0);
    assert_eq!(count_mail(&app, &w.ht.email, "Auction scheduled"), 1);
    app.set_now(a.starts + Duration::minutes(5));
    bid_ok(&app, &wang, &a, RESERVE);
    bid_ok(&app, &jinnong, &a, RESERVE + INCREMENT);
    bid_ok(&app, &wang, &a, RESERVE + 2 * INCREMENT);
    bid_ok(&app, &jinnong, &a, RESERVE + 3 * INCREMENT);
    let top = bid_ok(&app, &zhang, &a, RESERVE + 4 * INCREMENT);
    assert_eq!(top["bidder_alias"], "竞买人 3");
    let bid_id = top["id"].as_str().unwrap().to_string();
    app.get(&a.path("/deal"), None)
        .assert_problem(404, "not_found");

    // Still running one second before the end.
    app.set_now(a.ends - Duration::seconds(1));
    assert_eq!(view(&app, &a)["status"], "auction");

    // A read after the end performs the close.
    app.set_now(a.ends + Duration::minutes(10));
    let l = view(&app, &a);
    assert_eq!(l["status"], "awarded");
    assert_eq!(ts(&l["closed_at"]), a.ends);
    assert_eq!(l["current_price_fen"], RESERVE + 4 * INCREMENT);
    let price = RESERVE + 4 * INCREMENT;

    let d = public_deal(&app, &a);
    assert_eq!(d["listing_id"], a.id);
    assert_eq!(d["confirmation_no"], "DL-CJ-2027-0001");
    assert_eq!(d["winner_alias"], "竞买人 3");
    assert_eq!(
        d["winner_name"], "张*",
        "a natural person is masked in public"
    );
    assert_eq!(d["price_fen"], price);
    assert_eq!(d["annual_rent_fen"], 6_200_000, "50 mu × 1 240 yuan");
    assert_eq!(d["status"], "pending_confirmation");
    assert_eq!(d["round"], 1);
    assert_eq!(d["negotiated"], false);
    assert_eq!(ts(&d["confirm_by"]), a.ends + Duration::days(3));
    assert_eq!(ts(&d["publicity_ends_at"]), a.ends + Duration::days(5));
    assert_eq!(d["winner_confirmed_at"], Value::Null);
    assert_eq!(d["collective_confirmed_at"], Value::Null);
    assert!(d.get("registration_id").is_none(), "{d}");
    assert!(d.get("winner_id_number_masked").is_none(), "{d}");
    let deal_id = d["id"].as_str().unwrap().to_string();
    // Another investor sees the public summary; the parties see everything.
    let seen = deal_as(&app, &a, wang.token());
    assert_eq!(seen["winner_name"], "张*");
    assert!(seen.get("registration_id").is_none());
    for token in [
        zhang.token(),
        w.ht.token.as_str(),
        w.cj_staff.token.as_str(),
    ] {
        let full = deal_as(&app, &a, token);
        assert_eq!(full["winner_name"], "张伟");
        assert_eq!(full["registration_id"], zhang.reg.as_str());
        let masked = full["winner_id_number_masked"].as_str().unwrap();
        assert!(
            masked.starts_with("3101") && masked.contains('*'),
            "{masked}"
        );
    }

    // Deposits: the winner's and the runner-up's stay; other eligible bidders' are released.
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    assert_eq!(deposit_of(&app, &w, &jinnong), "confirmed", "runner-up");
    assert_eq!(deposit_of(&app, &w, &wang), "refund_due");
    assert_eq!(
        deposit_of(&app, &w, &liu),
        "refund_due",
        "eligible, never bid"
    );
    assert_eq!(deposit_of(&app, &w, &zhao), "unpaid");

    // Audit records and e-mails of the close.
    let listing_actions = audit_actions(&app, &a.id);
    for act in ["listing.registration_closed", "listing.auction_closed"] {
        assert_eq!(
            listing_actions.iter().filter(|x| *x == act).count(),
            1,
            "{listing_actions:?}"
        );
    }
    assert_eq!(audit_actions(&app, &deal_id), ["deal.created"]);
    let bid_audit = app.audit_for(&bid_id);
    assert_eq!(bid_audit.len(), 1);
    assert_eq!(bid_audit[0].action, "bid.placed");
    assert_eq!(
        bid_audit[0].actor_id.as_deref(),
        Some(zhang.inv.id.as_str())
    );
    assert_eq!(bid_audit[0].actor_role.as_deref(), Some("investor"));
    assert_eq!(bid_audit[0].stream, format!("listing:{}", a.id));
    let moved: Vec<(String, String)> = app
        .audit_for(&wang.reg)
        .into_iter()
        .filter(|r| r.action == "deposit.changed")
        .map(|r| (r.from_state.unwrap(), r.to_state.unwrap()))
        .collect();
    assert_eq!(
        moved,
        [
            ("unpaid".to_string(), "confirmed".to_string()),
            ("confirmed".to_string(), "refund_due".to_string())
        ]
    );
    let won = app
        .outbox()
        .into_iter()
        .find(|m| m.to_addr == zhang.inv.email && m.subject.contains("You won"))
        .expect("winner mailed");
    assert!(won.body.contains("DL-CJ-2027-0001"), "{}", won.body);
    for loser in [&wang, &liu] {
        assert_eq!(
            count_mail(&app, &loser.inv.email, "Deposit to be refunded"),
            1
        );
        assert_eq!(count_mail(&app, &loser.inv.email, "You won"), 0);
    }
    assert_eq!(
        count_mail(&app, &jinnong.inv.email, "Deposit to be refunded"),
        0
    );
    assert_eq!(count_mail(&app, &w.ht.email, "Listing awarded"), 1);
    assert_eq!(count_mail(&app, &w.cj_staff.email, "Listing awarded"), 1);

    // Nobody but the winner and the owner collective may act.
    for t in [
        wang.token(),
        jinnong.token(),
        w.jg.token.as_str(),
        w.cj_staff.token.as_str(),
        w.admin.as_str(),
    ] {
        let r = deal_action(&app, t, &deal_id, "confirm");
        r.assert_problem(403, "forbidden");
        let r = deal_action(&app, t, &deal_id, "decline");
        r.assert_problem(403, "forbidden");
    }
    deal_action(&app, &w.ht.token, &deal_id, "decline").assert_problem(403, "forbidden");
    deal_action(
        &app,
        zhang.token(),
        &uuid::Uuid::new_v4().to_string(),
        "confirm",
    )
    .assert_problem(404, "not_found");

    // The winner confirms within confirm_by; the collective is late: staff are told once.
    app.set_now(a.ends + Duration::days(2));
    let d = ok(deal_action(&app, zhang.token(), &deal_id, "confirm"));
    assert_eq!(d["status"], "pending_confirmation");
    assert_eq!(ts(&d["winner_confirmed_at"]), a.ends + Duration::days(2));
    let again = ok(deal_action(&app, zhang.token(), &deal_id, "confirm"));
    assert_eq!(again["winner_confirmed_at"], d["winner_confirmed_at"]);
    app.set_now(a.ends + Duration::days(3) + Duration::seconds(1));
    app.run_jobs();
    app.run_jobs();
    assert_eq!(
        count_mail(&app, &w.cj_staff.email, "Collective has not confirmed"),
        1
    );
    let d = public_deal(&app, &a);
    assert_eq!(
        d["status"], "pending_confirmation",
        "confirm_by binds the investor only"
    );
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    deal_action(&app, zhang.token(), &deal_id, "decline").assert_problem(409, "invalid_state");

    let d = ok(deal_action(&app, &w.ht.token, &deal_id, "confirm"));
    assert_eq!(d["status"], "confirmed");
    assert!(d["collective_confirmed_at"].is_string());
    assert_eq!(public_deal(&app, &a)["status"], "confirmed");
    assert_eq!(
        deposit_of(&app, &w, &jinnong),
        "refund_due",
        "runner-up released"
    );
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    assert_eq!(view(&app, &a)["status"], "awarded");
    assert_eq!(
        audit_actions(&app, &deal_id),
        [
            "deal.created",
            "deal.winner_confirmed",
            "deal.collective_confirmed"
        ]
    );
    assert_eq!(count_mail(&app, &zhang.inv.email, "Deal confirmed"), 1);
    assert_eq!(count_mail(&app, &w.ht.email, "Deal confirmed"), 1);
    assert_eq!(
        count_mail(&app, &jinnong.inv.email, "Deposit to be refunded"),
        1
    );
    deal_action(&app, &w.ht.token, &deal_id, "confirm").assert_problem(409, "invalid_state");
    deal_action(&app, zhang.token(), &deal_id, "decline").assert_problem(409, "invalid_state");
    assert_eq!(db_deals(&app, &a).len(), 1);
}

#[test]
fn winner_declines_runner_up_declines_listing_fails_and_is_relisted() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let c = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    let a = &c.a;
    app.set_now(a.starts);
    run_contest(&app, &c);
    app.set_now(a.ends);
    assert_eq!(view(&app, a)["status"], "awarded");
    let d1 = public_deal(&app, a);
    assert_eq!(d1["confirmation_no"], "DL-CJ-2027-0001");
    let d1_id = d1["id"].as_str().unwrap().to_string();
    // The priority bid ranks above the bid it matched: 李娜 is the runner-up.
    assert_eq!(deposit_of(&app, &w, &c.runner_up), "confirmed");
    assert_eq!(deposit_of(&app, &w, &c.third), "refund_due");

    // The runner-up can't act on the winner's deal.
    let r = deal_action(&app, c.runner_up.token(), &d1_id, "confirm");
    r.assert_problem(403, "forbidden");

    // The winner declines a day later.
    let declined_at = a.ends + Duration::days(1);
    app.set_now(declined_at);
    let r = ok(deal_action(&app, c.winner.token(), &d1_id, "decline"));
    assert_eq!(r["id"], d1_id.as_str());
    assert_eq!(r["status"], "fallen_through");
    assert_eq!(deposit_of(&app, &w, &c.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &c.runner_up), "confirmed");
    assert_eq!(view(&app, a)["status"], "awarded");

    // Round 2: the runner-up at its own highest bid, with its own dates.
    let d2 = public_deal(&app, a);
    let d2_id = d2["id"].as_str().unwrap().to_string();
    assert_ne!(d2_id, d1_id);
    assert_eq!(d2["round"], 2);
    assert_eq!(d2["confirmation_no"], "DL-CJ-2027-0002");
    assert_eq!(d2["price_fen"], RESERVE + 3 * INCREMENT);
    assert_eq!(d2["annual_rent_fen"], 6_150_000, "50 mu × 1 230 yuan");
    assert_eq!(d2["winner_alias"], "竞买人 2");
    assert_eq!(d2["winner_name"], "李*");
    assert_eq!(d2["status"], "pending_confirmation");
    assert_eq!(ts(&d2["confirm_by"]), declined_at + Duration::days(3));
    assert_eq!(
        ts(&d2["publicity_ends_at"]),
        declined_at + Duration::days(5)
    );
    let full = deal_as(&app, a, c.runner_up.token());
    assert_eq!(full["registration_id"], c.runner_up.reg.as_str());
    assert_eq!(full["winner_name"], "李娜");
    assert!(deal_as(&app, a, c.winner.token())
        .get("registration_id")
        .is_none());

    // The former winner can do nothing more.
    deal_action(&app, c.winner.token(), &d1_id, "confirm").assert_problem(409, "invalid_state");
    deal_action(&app, c.winner.token(), &d1_id, "decline").assert_problem(409, "invalid_state");
    let r = deal_action(&app, c.winner.token(), &d2_id, "confirm");
    r.assert_problem(403, "forbidden");
    let r = deal_action(&app, c.third.token(), &d2_id, "decline");
    r.assert_problem(403, "forbidden");

    assert_eq!(
        count_mail(&app, &c.winner.inv.email, "Deposit forfeited"),
        1
    );
    assert_eq!(
        count_mail(&app, &c.runner_up.inv.email, "Runner-up offer"),
        1
    );
    assert_eq!(count_mail(&app, &w.ht.email, "Runner-up offered"), 1);

    // The collective's confirmation alone doesn't make the deal; the runner-up declines.
    let r = ok(deal_action(&app, &w.ht.token, &d2_id, "confirm"));
    assert_eq!(r["status"], "pending_confirmation");
    app.set_now(declined_at + Duration::hours(5));
    let r = ok(deal_action(&app, c.runner_up.token(), &d2_id, "decline"));
    assert_eq!(r["status"], "fallen_through");
    assert_eq!(
        deposit_of(&app, &w, &c.runner_up),
        "refund_due",
        "it never won"
    );
    assert_eq!(deposit_of(&app, &w, &c.winner), "forfeited");
    let l = view(&app, a);
    assert_eq!(l["status"], "failed");
    let d = public_deal(&app, a);
    assert_eq!(d["id"], d2_id.as_str(), "the newest deal");
    assert_eq!(d["status"], "fallen_through");
    let rows = db_deals(&app, a);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|d| d.status == "fallen_through"));

    assert_eq!(
        audit_actions(&app, &d1_id),
        ["deal.created", "deal.fell_through"]
    );
    assert_eq!(
        audit_actions(&app, &d2_id),
        [
            "deal.created",
            "deal.collective_confirmed",
            "deal.fell_through"
        ]
    );
    let fell: Vec<Audit> = app
        .audit_for(&a.id)
        .into_iter()
        .filter(|r| r.action == "listing.deal_fell_through")
        .collect();
    assert_eq!(fell.len(), 1);
    assert_eq!(fell[0].to_state.as_deref(), Some("failed"));
    assert_eq!(
        fell[0].actor_id.as_deref(),
        Some(c.runner_up.inv.id.as_str())
    );
    assert_eq!(count_mail(&app, &w.ht.email, "Listing failed"), 1);
    assert_eq!(count_mail(&app, &w.cj_staff.email, "Listing failed"), 1);

    // Relist by the owner.
    let body = json!({
        "registration_closes_at": rfc(app.now() + Duration::days(12)),
        "auction_starts_at": rfc(app.now() + Duration::days(13)),
        "auction_ends_at": rfc(app.now() + Duration::days(13) + Duration::hours(1)),
    });
    let r = app.post(&a.path("/relist"), Some(c.winner.token()), body.clone());
    r.assert_problem(403, "forbidden");
    let r = app.post(&a.path("/relist"), Some(&w.ht.token), body);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["attempt"], 2);
    assert_eq!(r.body["reserve_price_fen"], RESERVE);
}

#[test]
fn missing_confirm_by_passes_the_offer_to_the_runner_up_on_read_and_in_the_worker() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let read = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    let worker = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    app.set_now(read.a.starts);
    run_contest(&app, &read);
    run_contest(&app, &worker);
    app.set_now(read.a.ends + Duration::seconds(1));
    assert_eq!(
        public_deal(&app, &read.a)["confirmation_no"],
        "DL-CJ-2027-0001"
    );
    assert_eq!(
        public_deal(&app, &worker.a)["confirmation_no"],
        "DL-CJ-2027-0002"
    );
    let confirm_by = read.a.ends + Duration::days(3);

    // One second before confirm_by nothing happens.
    app.set_now(confirm_by - Duration::seconds(1));
    app.run_jobs();
    assert_eq!(public_deal(&app, &read.a)["round"], 1);
    assert_eq!(deposit_of(&app, &w, &read.winner), "confirmed");

    // Past confirm_by: a read shows the runner-up's offer, as if the winner had declined.
    app.set_now(confirm_by + Duration::hours(1));
    let d2 = public_deal(&app, &read.a);
    assert_eq!(d2["round"], 2);
    assert_eq!(d2["confirmation_no"], "DL-CJ-2027-0003");
    assert_eq!(d2["price_fen"], RESERVE + 3 * INCREMENT);
    assert_eq!(
        ts(&d2["awarded_at"]),
        confirm_by,
        "offered when the winner timed out"
    );
    assert_eq!(ts(&d2["confirm_by"]), confirm_by + Duration::days(3));
    assert_eq!(ts(&d2["publicity_ends_at"]), confirm_by + Duration::days(5));
    assert_eq!(deposit_of(&app, &w, &read.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &read.runner_up), "confirmed");
    let d1 = &db_deals(&app, &read.a)[0];
    assert_eq!(d1.status, "fallen_through");
    assert_eq!(
        d1.fall_reason.as_deref(),
        Some("not confirmed by confirm_by")
    );
    // The late winner can't confirm any more.
    deal_action(&app, read.winner.token(), &d1.id, "confirm").assert_problem(409, "invalid_state");

    // The runner-up and the collective confirm: the deal stands.
    let d2_id = d2["id"].as_str().unwrap().to_string();
    ok(deal_action(&app, read.runner_up.token(), &d2_id, "confirm"));
    let done = ok(deal_action(&app, &w.ht.token, &d2_id, "confirm"));
    assert_eq!(done["status"], "confirmed");
    assert_eq!(deposit_of(&app, &w, &read.runner_up), "confirmed");
    assert_eq!(deposit_of(&app, &w, &read.third), "refund_due");
    assert_eq!(view(&app, &read.a)["status"], "awarded");

    // The other listing: the worker passes the offer on, before anybody reads.
    app.run_jobs();
    let rows = db_deals(&app, &worker.a);
    assert_eq!(rows.len(), 2, "the worker made the runner-up's offer");
    assert_eq!(rows[0].status, "fallen_through");
    assert_eq!(rows[1].status, "pending_confirmation");
    assert_eq!(rows[1].registration_id, worker.runner_up.reg);
    assert_eq!(rows[1].confirmation_no, "DL-CJ-2027-0004");
    assert_eq!(
        count_mail(&app, &worker.runner_up.inv.email, "Runner-up offer"),
        1
    );
    // ... and when the runner-up times out too, the listing fails.
    app.set_now(rows[1].confirm_by.and_utc() + Duration::seconds(1));
    app.run_jobs();
    let rows = db_deals(&app, &worker.a);
    assert!(
        rows.iter().all(|d| d.status == "fallen_through"),
        "{rows:?}"
    );
    assert!(app
        .audit_for(&worker.a.id)
        .iter()
        .any(|r| r.action == "listing.deal_fell_through" && r.actor_id.is_none()));
    assert_eq!(view(&app, &worker.a)["status"], "failed");
    assert_eq!(deposit_of(&app, &w, &worker.runner_up), "refund_due");
    assert_eq!(deposit_of(&app, &w, &worker.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &worker.third), "refund_due");
    // The confirmed deal of the first listing is untouched.
    assert_eq!(public_deal(&app, &read.a)["status"], "confirmed");
}

#[test]
fn one_late_read_performs_every_due_step_at_its_own_time() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let c = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    let a = &c.a;
    app.set_now(a.starts);
    run_contest(&app, &c);
    // Nobody looks until both offers have lapsed.
    let first_by = a.ends + Duration::days(3);
    let second_by = first_by + Duration::days(3);
    app.set_now(second_by + Duration::days(1));
    let l = view(&app, a);
    assert_eq!(l["status"], "failed");
    assert_eq!(ts(&l["closed_at"]), a.ends);
    let rows = db_deals(&app, a);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows.iter().map(|d| d.round).collect::<Vec<_>>(), [1, 2]);
    let at = |t: DateTime<Utc>| Some(t.naive_utc());
    assert_eq!(rows[0].registration_id, c.winner.reg);
    assert_eq!(rows[0].confirmation_no, "DL-CJ-2027-0001");
    assert_eq!(rows[0].awarded_at, a.ends.naive_utc());
    assert_eq!(rows[0].confirm_by, first_by.naive_utc());
    assert_eq!(rows[0].fell_through_at, at(first_by));
    assert_eq!(rows[1].registration_id, c.runner_up.reg);
    assert_eq!(rows[1].confirmation_no, "DL-CJ-2027-0002");
    assert_eq!(rows[1].price_fen, RESERVE + 3 * INCREMENT);
    assert_eq!(rows[1].awarded_at, first_by.naive_utc());
    assert_eq!(rows[1].confirm_by, second_by.naive_utc());
    assert_eq!(rows[1].fell_through_at, at(second_by));
    assert!(rows.iter().all(|d| d.status == "fallen_through"));
    assert_eq!(deposit_of(&app, &w, &c.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &c.runner_up), "refund_due");
    assert_eq!(deposit_of(&app, &w, &c.third), "refund_due");
    let steps: Vec<String> = stream(&app, a)
        .into_iter()
        .filter(|r| r.entity_type == "listing" || r.entity_type == "deal")
        .map(|r| r.action)
        .collect();
    assert_eq!(
        steps[steps.len() - 6..],
        [
            "listing.auction_closed",
            "deal.created",
            "deal.fell_through",
            "deal.created",
            "deal.fell_through",
            "listing.deal_fell_through"
        ]
    );
}

#[test]
fn deal_numbers_run_per_township_and_shanghai_calendar_year() {
    let app = TestApp::start_for_trading();
    app.set_now(Utc.with_ymd_and_hms(2027, 12, 1, 2, 0, 0).unwrap());
    let w = World::new(&app);
    // 23:30 on 31 December and 00:30 on 1 January in Shanghai.
    let old_year = Utc.with_ymd_and_hms(2027, 12, 31, 15, 30, 0).unwrap();
    let new_year = old_year + Duration::hours(1);
    let at = |closes: DateTime<Utc>| {
        [
            closes,
            closes + Duration::hours(1),
            closes + Duration::hours(2),
        ]
    };
    let cj1 = listing_at(&app, &w, w.cj(), "50.00", RESERVE, at(old_year));
    let cj2 = listing_at(&app, &w, w.cj(), "50.00", RESERVE, at(old_year));
    let cj3 = listing_at(&app, &w, w.cj(), "50.00", RESERVE, at(new_year));
    let sy1 = listing_at(&app, &w, w.sy(), "50.00", RESERVE, at(old_year));
    for l in [&cj1, &cj2, &cj3, &sy1] {
        enrol(&app, &w, l, Plan::person("张伟"));
    }
    app.set_now(new_year + Duration::seconds(1));
    app.run_jobs();
    let no = |l: &Auction| {
        let d = db_deals(&app, l);
        assert_eq!(d.len(), 1);
        assert!(d[0].negotiated);
        d[0].confirmation_no.clone()
    };
    let mut old: Vec<String> = vec![no(&cj1), no(&cj2)];
    old.sort();
    assert_eq!(old, ["DL-CJ-2027-0001", "DL-CJ-2027-0002"]);
    assert_eq!(no(&cj3), "DL-CJ-2028-0001");
    assert_eq!(no(&sy1), "DL-SY-2027-0001");
    assert_eq!(
        public_deal(&app, &cj3)["confirmation_no"],
        "DL-CJ-2028-0001"
    );
}
