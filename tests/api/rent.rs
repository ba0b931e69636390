//! The rent schedule (租金), black-box and driven by the injected clock: payments and their
//! refusals, installments moved by the calendar (due, overdue, defaulted) by the worker and
//! by reads, the reminders (each once, also after one big jump and with two instances),
//! the overdue overview, termination, completion and the 29 February term start.

use std::sync::{Arc, Barrier};

use serde_json::{json, Value};

use crate::support::contracts::*;
use crate::support::harness::run_jobs_of;
use crate::support::http::{ids, ok, s};
use crate::support::records::count_mail;
use crate::support::trading::DEPOSIT;
use crate::support::*;

#[test]
fn payments_accumulate_and_each_refusal_has_its_code() {
    keyed(
        "rent::payments_accumulate_and_each_refusal_has_its_code",
        || {
            let app = start_keyed();
            let w = World::new(&app);
            let d = confirmed_deal(&app, &w, TERM);
            certified(&app, &w, &d);
            let inst = installments(&app, &w, &d.contract);
            let first = s(&inst[0]["id"]);
            let path = format!("/api/v1/installments/{first}/payments");
            let today = "2027-01-23";
            assert_eq!(
                (app.now() + chrono::Duration::hours(8))
                    .date_naive()
                    .to_string(),
                today
            );
            let outstanding = ANNUAL - DEPOSIT;
            assert_eq!(inst[0]["outstanding_fen"], outstanding);

            // The body's rules, each naming its field.
            pay(&app, w.ht.t(), &first, 0, today).assert_field("amount_fen");
            pay(&app, w.ht.t(), &first, -5, today).assert_field("amount_fen");
            pay(&app, w.ht.t(), &first, 100, "2027-01-24").assert_field("received_on");
            pay(&app, w.ht.t(), &first, 100, "2027-13-01").assert_field("received_on");
            app.post(
                &path,
                w.ht.t(),
                json!({"amount_fen": 100, "received_on": today}),
            )
            .assert_field("receipt_ref");
            app.post(
        &path,
        w.ht.t(),
        json!({"amount_fen": 100, "received_on": today, "receipt_ref": "x", "kind": "deposit"}),
    )
    .assert_field("kind");
            pay(&app, w.ht.t(), &first, outstanding + 1, today).assert_field("amount_fen");

            // Partial payments accumulate, by the collective and by staff.
            let r = pay(&app, w.ht.t(), &first, 2_000_000, today);
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(r.header("location"), Some(path.as_str()));
            let b = &r.body;
            assert_eq!(b["installment_id"], first.as_str());
            assert_eq!(b["amount_fen"], 2_000_000);
            assert_eq!(b["received_on"], today);
            assert_eq!(b["receipt_ref"], "农商行回单-2000000");
            assert_eq!(b["kind"], "payment");
            assert_eq!(b["recorded_by"], w.ht.id.as_str());
            assert!(b["created_at"].is_string());
            assert_eq!(b["installment"]["paid_fen"], DEPOSIT + 2_000_000);
            assert_eq!(b["installment"]["outstanding_fen"], outstanding - 2_000_000);
            assert_eq!(b["installment"]["status"], "scheduled");
            let r = pay(&app, w.cj_staff.t(), &first, 1_000_000, "2027-01-20");
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(r.body["installment"]["paid_fen"], DEPOSIT + 3_000_000);
            let rest = outstanding - 3_000_000;
            pay(&app, w.ht.t(), &first, rest + 1, today).assert_field("amount_fen");
            // An Idempotency-Key replays the first answer and records once.
            let body =
                json!({"amount_fen": rest, "received_on": today, "receipt_ref": "农商行回单-尾款"})
                    .to_string();
            let headers = [("Idempotency-Key", "rent-2027-final")];
            let r1 = app.call_raw("POST", &path, w.ht.t(), Some(body.clone()), &headers);
            assert_eq!(r1.status, 201, "{}", r1.text);
            assert_eq!(r1.body["installment"]["status"], "paid");
            assert_eq!(r1.body["installment"]["outstanding_fen"], 0);
            let r2 = app.call_raw("POST", &path, w.ht.t(), Some(body), &headers);
            assert_eq!(r2.status, 201);
            assert_eq!(r2.body, r1.body);
            // Paid: anything more → 409; a bad body is still reported first.
            pay(&app, w.ht.t(), &first, 1, today).assert_problem(409, "invalid_state");
            pay(&app, w.cj_staff.t(), &first, 0, today).assert_field("amount_fen");

            let paid = payments(&app, &w, &first);
            let got: Vec<(String, i64)> = paid
                .iter()
                .map(|p| (s(&p["kind"]), p["amount_fen"].as_i64().unwrap()))
                .collect();
            assert_eq!(
                got,
                [
                    ("deposit".to_string(), DEPOSIT),
                    ("payment".to_string(), 2_000_000),
                    ("payment".to_string(), 1_000_000),
                    ("payment".to_string(), rest),
                ]
            );
            let i1 = &installments(&app, &w, &d.contract)[0];
            assert_eq!(i1["status"], "paid");
            assert_eq!(i1["paid_fen"], ANNUAL);

            // A later year may be paid ahead, in part.
            let second = s(&inst[1]["id"]);
            let r = ok_created(pay(&app, w.ht.t(), &second, 500_000, today));
            assert_eq!(r["installment"]["status"], "scheduled");
            assert_eq!(r["installment"]["outstanding_fen"], ANNUAL - 500_000);

            // Audit: each payment with its amount; year 1's move to paid.
            let recs = contract_stream(&app, &d.contract);
            let money: Vec<(String, Option<i64>)> = recs
                .iter()
                .filter(|r| r.entity_type == "payment")
                .map(|r| (r.action.clone(), r.amount_fen))
                .collect();
            assert_eq!(
                money,
                [
                    ("payment.deposit_applied".to_string(), Some(DEPOSIT)),
                    ("payment.recorded".to_string(), Some(2_000_000)),
                    ("payment.recorded".to_string(), Some(1_000_000)),
                    ("payment.recorded".to_string(), Some(rest)),
                    ("payment.recorded".to_string(), Some(500_000)),
                ]
            );
            let m = moves_of(&app, &d.contract, &first);
            assert_eq!(
                m,
                [
                    (
                        "installment.scheduled".to_string(),
                        None,
                        Some("scheduled".to_string()),
                        Some(ANNUAL)
                    ),
                    (
                        "installment.paid".to_string(),
                        Some("scheduled".to_string()),
                        Some("paid".to_string()),
                        Some(ANNUAL)
                    ),
                ]
            );
            verify_audit(&app);
        },
    );
}

fn ok_created(r: Resp) -> Value {
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

#[test]
fn installments_move_with_the_calendar_and_each_reminder_is_sent_once() {
    let app = start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    certified(&app, &w, &d);
    let first = s(&installments(&app, &w, &d.contract)[0]["id"]);
    let to = d.winner().email.clone();
    let mails = |who: &str, what: &str| count_mail(&app, who, what);
    let year1 = |who: &str, what: &str| {
        crate::support::records::mails_about(&app, who, what)
            .iter()
            .filter(|m| m.subject.contains("第1年") && m.subject.contains("JD-CJ-2027-0001"))
            .count()
    };
    let again = || {
        app.run_jobs();
        app.run_jobs();
        installments(&app, &w, &d.contract);
        ok(app.get(&format!("/api/v1/installments/{first}/payments"), w.ht.t()));
        ok(app.get("/api/v1/installments", w.cj_staff.t()));
        ok(app.get("/api/v1/contracts", d.winner().t()));
    };

    // Year 1 is due on 2028-01-31.
    app.set_now(sh(2028, 1, 23));
    again();
    assert_eq!(mails(&to, "Rent due in 7 days"), 0);
    assert_eq!(statuses(&app, &w, &d.contract)[0], "scheduled");
    app.set_now(sh(2028, 1, 24));
    again();
    again();
    assert_eq!(year1(&to, "Rent due in 7 days"), 1);
    assert_eq!(mails(&to, "Rent due in 7 days"), 1);

    // On the due date a read alone moves it and reminds.
    app.set_now(sh(2028, 1, 31));
    assert_eq!(statuses(&app, &w, &d.contract)[0], "due");
    assert_eq!(year1(&to, "Rent due today"), 1);
    again();
    assert_eq!(mails(&to, "Rent due today"), 1);
    // The last second of the due date (Shanghai) is still the due date.
    app.set_now(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2028, 1, 31, 15, 59, 59).unwrap());
    again();
    assert_eq!(statuses(&app, &w, &d.contract)[0], "due");
    assert_eq!(mails(&to, "Rent overdue"), 0);
    app.set_now(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2028, 1, 31, 16, 0, 0).unwrap());
    app.run_jobs();
    assert_eq!(statuses(&app, &w, &d.contract)[0], "overdue");
    assert_eq!(year1(&to, "Rent overdue"), 1);
    again();
    assert_eq!(mails(&to, "Rent overdue"), 1);

    // The overdue overview, scoped.
    let overview = |t: Option<&str>, qs: &str| -> Vec<String> {
        ids(&ok(app.get(
            &format!("/api/v1/installments?status=overdue,defaulted{qs}"),
            t,
        ))["items"])
    };
    for (who, t) in [
        ("staff", w.cj_staff.t()),
        ("admin", w.admin()),
        ("collective", w.ht.t()),
        ("transferee", d.winner().t()),
    ] {
        assert_eq!(overview(t, ""), std::slice::from_ref(&first), "{who}");
    }
    assert_eq!(
        overview(w.cj_staff.t(), &format!("&township_id={}", w.cj)),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        overview(w.admin(), &format!("&village_id={}", w.hutang)),
        std::slice::from_ref(&first)
    );
    for (who, t) in [
        ("another township's staff", w.sy_staff.t()),
        ("another village", w.jg.t()),
        ("another investor", d.runner_up.inv.t()),
        ("an insurer", w.insurer.t()),
    ] {
        assert!(overview(t, "").is_empty(), "{who}");
    }
    assert!(overview(w.sy_staff.t(), &format!("&township_id={}", w.cj)).is_empty());
    assert!(overview(w.admin(), &format!("&township_id={}", w.sy)).is_empty());
    let scheduled =
        ids(&ok(app.get("/api/v1/installments?status=scheduled", w.cj_staff.t()))["items"]);
    assert_eq!(scheduled.len(), 9);
    app.get("/api/v1/installments?status=late", w.cj_staff.t())
        .assert_problem(400, "bad_request");

    // Default: grace_days (30) after the due date have passed, so from 2028-03-02.
    app.set_now(sh(2028, 3, 1));
    again();
    assert_eq!(statuses(&app, &w, &d.contract)[0], "overdue");
    app.set_now(sh(2028, 3, 2));
    app.run_jobs();
    assert_eq!(statuses(&app, &w, &d.contract)[0], "defaulted");
    again();
    again();
    assert_eq!(year1(&w.ht.email, "Rent in default"), 1);
    assert_eq!(year1(&w.cj_staff.email, "Rent in default"), 1);
    assert_eq!(mails(&w.jg.email, "Rent"), 0);
    assert_eq!(mails(&w.sy_staff.email, "Rent"), 0);
    assert_eq!(
        mails(&to, "Rent in default"),
        0,
        "the operator gets the earlier ones"
    );
    for (what, n) in [
        ("Rent due in 7 days", 1),
        ("Rent due today", 1),
        ("Rent overdue", 1),
    ] {
        assert_eq!(mails(&to, what), n, "{what}");
    }
    assert_eq!(overview(w.cj_staff.t(), ""), std::slice::from_ref(&first));

    // A payment on a defaulted installment is recorded; it stays defaulted until settled.
    let i = ok_created(pay(&app, w.cj_staff.t(), &first, 50_000, "2028-03-02"));
    assert_eq!(i["installment"]["status"], "defaulted");
    let rest = i["installment"]["outstanding_fen"].as_i64().unwrap();
    let i = ok_created(pay(&app, w.ht.t(), &first, rest, "2028-03-02"));
    assert_eq!(i["installment"]["status"], "paid");
    assert!(overview(w.cj_staff.t(), "").is_empty());

    let dated: Vec<(Option<String>, Option<String>)> = moves_of(&app, &d.contract, &first)
        .into_iter()
        .filter(|m| m.0 == "installment.dated")
        .map(|m| (m.1, m.2))
        .collect();
    let o = |x: &str| Some(x.to_string());
    assert_eq!(
        dated,
        [
            (o("scheduled"), o("due")),
            (o("due"), o("overdue")),
            (o("overdue"), o("defaulted")),
        ]
    );
    verify_audit(&app);
}

#[test]
fn after_one_big_clock_jump_each_owed_reminder_is_sent_once() {
    let app = start();
    let w = World::new(&app);
    let deals = confirmed_deals(&app, &w, w.cj(), 2, TERM);
    for d in &deals {
        certified(&app, &w, d);
    }
    // From certification straight past year 1's default.
    app.set_now(sh(2028, 3, 10));
    // The second contract is settled by a read first, the first by the worker.
    assert_eq!(statuses(&app, &w, &deals[1].contract)[0], "defaulted");
    for _ in 0..3 {
        app.run_jobs();
    }
    for d in &deals {
        assert_eq!(statuses(&app, &w, &d.contract)[0], "defaulted");
        let to = &d.winner().email;
        for what in ["Rent due in 7 days", "Rent due today", "Rent overdue"] {
            assert_eq!(count_mail(&app, to, what), 1, "{what} to {to}");
        }
        assert_eq!(count_mail(&app, to, "Rent in default"), 0);
    }
    assert_eq!(count_mail(&app, &w.ht.email, "Rent in default"), 2);
    assert_eq!(count_mail(&app, &w.cj_staff.email, "Rent in default"), 2);
    // Year 2 (due 2029-01-30) has nothing yet.
    assert_eq!(
        app.outbox()
            .iter()
            .filter(|m| m.subject.contains("第2年"))
            .count(),
        0
    );
    verify_audit(&app);
}

#[test]
fn termination_cancels_later_periods_while_the_arrears_stay_owed_and_move_on() {
    keyed(
        "rent::termination_cancels_later_periods_while_the_arrears_stay_owed_and_move_on",
        || {
            let app = start_keyed();
            let w = World::new(&app);
            let deals = confirmed_deals(&app, &w, w.cj(), 2, TERM);
            for d in &deals {
                certified(&app, &w, d);
            }
            let (a, b) = (&deals[0], &deals[1]);
            // Year 1 (2028-03-01..) has begun and is overdue, not yet in default.
            app.set_now(sh(2028, 3, 1));
            assert_eq!(statuses(&app, &w, &a.contract)[0], "overdue");
            let terminate = |t: Option<&str>, c: &str, ground: &str| {
                act(
                    &app,
                    t,
                    c,
                    "terminate",
                    json!({"ground": ground, "note": "乙方擅自将耕地改作他用，经调解无效"}),
                )
            };
            terminate(w.ht.t(), &a.contract, "rent_default").assert_field("ground");
            terminate(a.winner().t(), &a.contract, "change_of_use")
                .assert_problem(403, "forbidden");
            terminate(w.sy_staff.t(), &a.contract, "change_of_use")
                .assert_problem(404, "not_found");
            terminate(w.jg.t(), &a.contract, "change_of_use").assert_problem(404, "not_found");
            let r = ok(terminate(w.ht.t(), &a.contract, "change_of_use"));
            assert_eq!(r["status"], "terminated");
            assert_eq!(r["termination_ground"], "change_of_use");
            assert_eq!(r["termination_note"], "乙方擅自将耕地改作他用，经调解无效");
            assert_eq!(crate::support::http::ts(&r["terminated_at"]), app.now());
            let st = statuses(&app, &w, &a.contract);
            assert_eq!(st[0], "overdue", "the begun year stays owed");
            assert!(st[1..].iter().all(|x| x == "cancelled"), "{st:?}");
            assert!(!parcel_locked(&app, &w, &a.parcel), "unlocked at once");
            let inst = installments(&app, &w, &a.contract);
            let cancelled: Vec<_> = contract_stream(&app, &a.contract)
                .into_iter()
                .filter(|r| r.action == "installment.cancelled")
                .collect();
            assert_eq!(cancelled.len(), 9);
            for (r, i) in cancelled.iter().zip(&inst[1..]) {
                assert_eq!(r.entity_id, s(&i["id"]));
                assert_eq!(r.amount_fen, i["amount_fen"].as_i64());
                assert_eq!(r.from_state.as_deref(), Some("scheduled"));
            }
            let t = contract_stream(&app, &a.contract)
                .into_iter()
                .find(|r| r.action == "contract.terminated")
                .unwrap();
            assert_eq!(t.from_state.as_deref(), Some("certified"));
            assert_eq!(t.to_state.as_deref(), Some("terminated"));
            assert_eq!(t.actor_role.as_deref(), Some("collective"));

            // The arrears keep moving: the next day year 1 is in default, and notified.
            app.set_now(sh(2028, 3, 2));
            app.run_jobs();
            assert_eq!(statuses(&app, &w, &a.contract)[0], "defaulted");
            assert_eq!(
                count_mail(&app, &w.ht.email, "Rent in default"),
                2,
                "both contracts"
            );
            // Payments are still recorded on it; not on a cancelled year.
            let first = s(&inst[0]["id"]);
            let r = ok_created(pay(&app, w.ht.t(), &first, 1_000_000, "2028-03-02"));
            assert_eq!(r["installment"]["status"], "defaulted");
            pay(&app, w.ht.t(), &s(&inst[1]["id"]), 1_000, "2028-03-02")
                .assert_problem(409, "invalid_state");
            let rest = r["installment"]["outstanding_fen"].as_i64().unwrap();
            let r = ok_created(pay(&app, w.cj_staff.t(), &first, rest, "2028-03-02"));
            assert_eq!(r["installment"]["status"], "paid");
            app.set_now(sh(2038, 3, 1));
            app.run_jobs();
            assert_eq!(
                contract(&app, &w, &a.contract)["status"],
                "terminated",
                "a terminated contract never completes"
            );

            // The other contract: in default, so rent_default is a ground (by staff).
            app.set_now(sh(2028, 3, 2));
            let r = ok(terminate(w.cj_staff.t(), &b.contract, "rent_default"));
            assert_eq!(r["status"], "terminated");
            assert_eq!(r["termination_ground"], "rent_default");
            let st = statuses(&app, &w, &b.contract);
            assert_eq!(st[0], "defaulted");
            assert!(st[1..].iter().all(|x| x == "cancelled"));
            terminate(w.cj_staff.t(), &b.contract, "rent_default")
                .assert_problem(409, "invalid_state");
            verify_audit(&app);
        },
    );
}

#[test]
fn a_term_starting_on_29_february_moves_its_years_to_28_february() {
    let app = start();
    let w = World::new(&app);
    // Year 4 starts on 2031-02-28 and runs to the day before 2032-02-29: a whole year.
    let d = confirmed_deal(&app, &w, ("2028-02-29", "2032-02-28"));
    let c = certified(&app, &w, &d);
    assert_eq!(c["years"], 4);
    assert_eq!(c["total_rent_fen"], 4 * ANNUAL);
    let inst = installments(&app, &w, &d.contract);
    let got: Vec<_> = inst
        .iter()
        .map(|i| {
            (
                date(&i["period_start"]),
                date(&i["period_end"]),
                date(&i["due_date"]),
                i["amount_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (ymd(2028, 2, 29), ymd(2029, 2, 27), ymd(2028, 1, 30), ANNUAL),
            (ymd(2029, 2, 28), ymd(2030, 2, 27), ymd(2029, 1, 29), ANNUAL),
            (ymd(2030, 2, 28), ymd(2031, 2, 27), ymd(2030, 1, 29), ANNUAL),
            (ymd(2031, 2, 28), ymd(2032, 2, 28), ymd(2031, 1, 29), ANNUAL),
        ]
    );
    // Year 2 is due on 2029-01-29 (Shanghai), not a day earlier.
    app.set_now(sh(2029, 1, 28));
    assert_eq!(statuses(&app, &w, &d.contract)[1], "scheduled");
    app.set_now(sh(2029, 1, 29));
    app.run_jobs();
    assert_eq!(statuses(&app, &w, &d.contract)[1], "due");
}

#[test]
fn a_paid_up_contract_completes_after_its_term_and_unlocks_its_parcels() {
    let app = start();
    let w = World::new(&app);
    ok(app.patch(
        &format!("/api/v1/townships/{}", w.cj),
        w.admin(),
        json!({"insurance_required": false}),
    ));
    let term = ("2027-02-01", "2028-01-31");
    let deals = confirmed_deals(&app, &w, w.cj(), 2, term);
    let (a, b) = (&deals[0], &deals[1]);
    for d in &deals {
        let c = certified(&app, &w, d);
        assert_eq!(c["status"], "active");
        assert_eq!(c["years"], 1);
    }
    let inst = installments(&app, &w, &a.contract);
    assert_eq!(inst.len(), 1);
    // Certified after the day 30 days before the term: due at once.
    assert_eq!(date(&inst[0]["due_date"]), ymd(2027, 1, 23));
    assert_eq!(inst[0]["status"], "due");
    ok_created(pay(
        &app,
        w.ht.t(),
        &s(&inst[0]["id"]),
        ANNUAL - DEPOSIT,
        "2027-01-23",
    ));
    // The last day of the term: still active.
    app.set_now(sh(2028, 1, 31));
    app.run_jobs();
    assert_eq!(contract(&app, &w, &a.contract)["status"], "active");
    assert!(parcel_locked(&app, &w, &a.parcel));
    // The term has passed and nothing is outstanding: completed by the worker.
    app.set_now(sh(2028, 2, 1));
    app.run_jobs();
    let c = ok(get_contract(&app, w.ht.t(), &a.contract));
    assert_eq!(c["status"], "completed");
    assert_eq!(crate::support::http::ts(&c["completed_at"]), app.now());
    assert!(!parcel_locked(&app, &w, &a.parcel));
    let r = list_again(&app, &w, &a.parcel);
    assert_eq!(r.status, 200, "{}", r.text);
    let done: Vec<_> = contract_stream(&app, &a.contract)
        .into_iter()
        .filter(|r| r.action == "contract.completed")
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].from_state.as_deref(), Some("active"));
    // The unpaid one stays active (in default) and its parcel locked until it is paid up;
    // then a read completes it.
    assert_eq!(contract(&app, &w, &b.contract)["status"], "active");
    assert!(parcel_locked(&app, &w, &b.parcel));
    let ib = installments(&app, &w, &b.contract);
    assert_eq!(ib[0]["status"], "defaulted");
    ok_created(pay(
        &app,
        w.cj_staff.t(),
        &s(&ib[0]["id"]),
        ANNUAL - DEPOSIT,
        "2028-02-01",
    ));
    let c = contract(&app, &w, &b.contract);
    assert_eq!(c["status"], "completed");
    assert!(!parcel_locked(&app, &w, &b.parcel));
    act(
        &app,
        w.ht.t(),
        &b.contract,
        "terminate",
        json!({"ground": "mutual_agreement", "note": "已届满"}),
    )
    .assert_problem(409, "invalid_state");
    verify_audit(&app);
}

#[test]
#[cfg_attr(
    not(landx_pg),
    ignore = "PostgreSQL only (SQLite is single-instance by design): set LANDX_TEST_DATABASE_URL=postgres://…"
)]
fn two_instances_sharing_one_database_send_each_reminder_exactly_once() {
    let app = start();
    assert!(app.db.is_postgres());
    let w = World::new(&app);
    let deals = confirmed_deals(&app, &w, w.cj(), 3, TERM);
    for d in &deals {
        certified(&app, &w, d);
    }
    let twin = app.twin();
    // Day by day through year 1, then one jump through year 2's default.
    for t in [
        sh(2028, 1, 24),
        sh(2028, 1, 31),
        sh(2028, 2, 1),
        sh(2028, 3, 2),
        sh(2029, 3, 10),
    ] {
        app.set_now(t);
        for _ in 0..2 {
            let barrier = Arc::new(Barrier::new(3));
            std::thread::scope(|scope| {
                let b1 = barrier.clone();
                let state = app.state.clone();
                scope.spawn(move || {
                    b1.wait();
                    run_jobs_of(&state);
                });
                let b2 = barrier.clone();
                let twin = twin.clone();
                scope.spawn(move || {
                    b2.wait();
                    run_jobs_of(&twin);
                });
                let b3 = barrier.clone();
                let client = (*app).clone();
                let token = w.cj_staff.token.clone();
                let contracts: Vec<String> = deals.iter().map(|d| d.contract.clone()).collect();
                scope.spawn(move || {
                    b3.wait();
                    for c in contracts {
                        let r = client
                            .get(&format!("/api/v1/contracts/{c}/installments"), Some(&token));
                        assert_eq!(r.status, 200, "{}", r.text);
                    }
                });
            });
        }
    }
    for d in &deals {
        let st = statuses(&app, &w, &d.contract);
        assert_eq!(&st[..2], ["defaulted", "defaulted"]);
        for what in ["Rent due in 7 days", "Rent due today", "Rent overdue"] {
            assert_eq!(
                count_mail(&app, &d.winner().email, what),
                2,
                "{what}: years 1 and 2"
            );
        }
    }
    assert_eq!(count_mail(&app, &w.ht.email, "Rent in default"), 6);
    assert_eq!(count_mail(&app, &w.cj_staff.email, "Rent in default"), 6);
    let mut keys: Vec<(String, String)> = app
        .outbox()
        .into_iter()
        .map(|m| (m.to_addr, m.subject))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "no mail twice");
    for d in &deals {
        let defaults = contract_stream(&app, &d.contract)
            .into_iter()
            .filter(|r| {
                r.action == "installment.dated" && r.to_state.as_deref() == Some("defaulted")
            })
            .count();
        assert_eq!(defaults, 2);
    }
    verify_audit(&app);
}

/// Lists filtered by status answer by the calendar, not by what the worker last stored: the
/// staff's overdue overview right after the due date passed, with no worker pass in between.
#[test]
fn lists_filtered_by_status_are_right_before_the_worker_runs() {
    let app = start();
    let w = World::new(&app);
    ok(app.patch(
        &format!("/api/v1/townships/{}", w.cj),
        w.admin(),
        json!({"insurance_required": false}),
    ));
    let deals = confirmed_deals(&app, &w, w.cj(), 2, ("2027-02-01", "2029-01-31"));
    for d in &deals {
        certified(&app, &w, d);
    }
    // Year 1 of both was due at certification (2027-01-23); year 2 is due 2028-01-02.
    let firsts: Vec<String> = deals
        .iter()
        .map(|d| s(&installments(&app, &w, &d.contract)[0]["id"]))
        .collect();
    // Pay the first contract up entirely (both years).
    let d0 = installments(&app, &w, &deals[0].contract);
    for i in &d0 {
        let owed = i["outstanding_fen"].as_i64().unwrap();
        ok_created(pay(&app, w.ht.t(), &s(&i["id"]), owed, "2027-01-23"));
    }
    // No worker from here on: only reads.
    app.set_now(sh(2027, 1, 24));
    let list = |qs: &str| -> Vec<Value> {
        ok(app.get(&format!("/api/v1/installments?{qs}"), w.cj_staff.t()))["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let overdue = list("status=overdue,defaulted");
    assert_eq!(ids(&json!(overdue)), [firsts[1].clone()], "{overdue:?}");
    assert!(overdue.iter().all(|i| i["status"] == "overdue"));
    for st in ["scheduled", "due", "paid"] {
        for i in list(&format!("status={st}")) {
            assert_eq!(i["status"], st, "a `status={st}` list holds only {st}: {i}");
        }
    }
    // The term has passed: the paid-up contract is completed, as a filtered list shows.
    app.set_now(sh(2029, 2, 1));
    let contracts = |qs: &str| -> Vec<String> {
        ids(&ok(app.get(&format!("/api/v1/contracts?{qs}"), w.cj_staff.t()))["items"])
    };
    assert_eq!(contracts("status=completed"), [deals[0].contract.clone()]);
    assert_eq!(contracts("status=active"), [deals[1].contract.clone()]);
    assert_eq!(
        ids(&json!(list("status=overdue,defaulted"))),
        {
            let mut v: Vec<String> = installments(&app, &w, &deals[1].contract)
                .iter()
                .map(|i| s(&i["id"]))
                .collect();
            v.sort();
            v
        },
        "both years of the unpaid contract"
    );
}

/// Two payments of everything outstanding recorded at the same moment (the collective and
/// staff both got the bank slip): exactly one is accepted; the other finds it paid (409).
#[test]
fn concurrent_payments_never_pay_an_installment_twice() {
    let app = start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    certified(&app, &w, &d);
    let first = s(&installments(&app, &w, &d.contract)[0]["id"]);
    let owed = ANNUAL - DEPOSIT;
    let barrier = Arc::new(Barrier::new(2));
    let answers: Vec<Resp> = std::thread::scope(|scope| {
        let hs: Vec<_> = [w.ht.token.clone(), w.cj_staff.token.clone()]
            .into_iter()
            .map(|token| {
                let (client, barrier, first) = ((*app).clone(), barrier.clone(), first.clone());
                scope.spawn(move || {
                    barrier.wait();
                    client.post(
                        &format!("/api/v1/installments/{first}/payments"),
                        Some(&token),
                        json!({"amount_fen": owed, "received_on": "2027-01-23",
                               "receipt_ref": "农商行回单-全额"}),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut codes: Vec<u16> = answers.iter().map(|r| r.status).collect();
    codes.sort();
    assert_eq!(codes, [201, 409], "{answers:?}");
    let refused = answers.iter().find(|r| r.status == 409).unwrap();
    refused.assert_problem(409, "invalid_state");
    let i = &installments(&app, &w, &d.contract)[0];
    assert_eq!(i["paid_fen"], ANNUAL);
    assert_eq!(i["status"], "paid");
    assert_eq!(
        payments(&app, &w, &first).len(),
        2,
        "the deposit and one payment"
    );
}
