//! Contracts (流转合同) and certification (鉴证), black-box: the contract a confirmed deal
//! creates and what it freezes, who may read and act on it (route × role, in the documented
//! check order), signing, the village's legal identity and the township's insurance setting,
//! certification (numbers, schedule, deposit, listing, parcels' lock), cancellation, late
//! certification and the audit stream.

use std::sync::{Arc, Barrier};

use chrono::Duration;
use serde_json::{json, Value};

use crate::support::contracts::*;
use crate::support::http::{ok, s};
use crate::support::trading::{deal_action, Stage, DEPOSIT, RESERVE};
use crate::support::*;

const NO_SUCH: &str = "0190c7a0-0000-7000-8000-000000000000";

#[test]
fn a_confirmed_deal_gets_a_frozen_draft_contract_and_releases_the_runner_up_at_once() {
    let app = start();
    let w = World::new(&app);
    // Built by hand up to the confirmations to look between them.
    let d = {
        let mut v = confirmed_deals(&app, &w, w.cj(), 1, TERM);
        v.pop().unwrap()
    };
    // The deal answers its contract; the runner-up's deposit was released when the winner
    // confirmed (checked below on a second deal, between the two confirmations).
    let deal = ok(app.get(&d.a.path("/deal"), d.winner().t()));
    assert_eq!(deal["contract_id"], d.contract.as_str());
    assert_eq!(deal["status"], "confirmed");
    assert_eq!(deposit_status(&app, &w, &d.runner_up), "refund_due");
    assert_eq!(deposit_status(&app, &w, &d.winner), "confirmed");

    let c = contract(&app, &w, &d.contract);
    assert_eq!(c["id"], d.contract.as_str());
    assert_eq!(c["status"], "draft");
    assert_eq!(c["listing_id"], d.a.id.as_str());
    assert_eq!(c["deal_id"], d.deal.as_str());
    assert_eq!(c["village_id"], w.hutang.as_str());
    assert_eq!(c["township_id"], w.cj.as_str());
    assert!(c["certification_no"].is_null());
    assert!(
        c["transferor"]["name"].is_null(),
        "frozen only at signing: {c}"
    );
    assert!(c["transferor"]["unified_social_credit_code"].is_null());
    assert!(c["transferor"]["legal_representative"].is_null());
    assert_eq!(c["transferee"]["investor_id"], d.winner().id.as_str());
    assert_eq!(c["transferee"]["legal_name"], "张伟");
    assert_eq!(c["transferee"]["id_type"], "resident_id");
    let masked = s(&c["transferee"]["id_number_masked"]);
    assert!(masked.contains('*') && masked.len() == 18, "{masked}");
    assert!(
        !c.to_string().contains("id_number\""),
        "no full ID in JSON: {c}"
    );
    assert_eq!(c["parcels"].as_array().unwrap().len(), 1);
    let p = &c["parcels"][0];
    assert_eq!(p["parcel_id"], d.parcel.as_str());
    assert_eq!(p["area_mu"], "50.00");
    assert_eq!(p["land_type"], "arable");
    assert_eq!(p["quality_grade"], 3);
    assert!(s(&p["code"]).starts_with("JS-CJ-0900-"));
    assert!(s(&p["location"]).contains("沿海公路东侧"));
    assert_eq!(c["total_area_mu"], "50.00");
    assert_eq!(c["intended_use"], "grain");
    assert_eq!(c["term_start"], TERM.0);
    assert_eq!(c["term_end"], TERM.1);
    assert_eq!(c["years"], 10, "nine whole years and a short tenth");
    assert_eq!(c["price_fen"], RESERVE + 1_000);
    assert_eq!(c["annual_rent_fen"], ANNUAL);
    // 2037-03-01..=2037-12-31 is 306 of the 365 days up to 2038-02-28.
    let last = (ANNUAL * 306 * 2 + 365) / (2 * 365);
    assert_eq!(c["total_rent_fen"], 9 * ANNUAL + last);
    assert_eq!(c["insurance_required"], true, "the township's default");
    for f in [
        "transferor_signed_at",
        "transferee_signed_at",
        "certified_at",
        "activated_at",
        "completed_at",
        "terminated_at",
        "termination_ground",
        "termination_note",
        "cancelled_at",
        "cancel_reason",
    ] {
        assert!(c.get(f).is_some_and(Value::is_null), "{f} null in {c}");
    }
    assert_eq!(ts_of(&c["created_at"]), app.now());
    // Before certification the schedule is empty, for everyone who may read it.
    for t in [w.ht.t(), d.winner().t(), w.cj_staff.t(), w.admin()] {
        assert!(installments_as(&app, t, &d.contract).is_empty());
    }

    // Audit: the contract is created on its own stream with the term's total rent.
    let recs = contract_stream(&app, &d.contract);
    assert_eq!(recs[0].action, "contract.created");
    assert_eq!(recs[0].to_state.as_deref(), Some("draft"));

    // A second listing: the runner-up's deposit is released as soon as the winner confirms,
    // before the collective does; no contract until both have.
    let sched = crate::support::trading::schedule(&app);
    let a = crate::support::trading::make_listing(
        &app,
        &w,
        w.cj(),
        "50.00",
        RESERVE,
        sched,
        Stage::Announced,
    );
    let winner =
        crate::support::trading::enrol(&app, &w, &a, crate::support::trading::Plan::person("王军"));
    let runner =
        crate::support::trading::enrol(&app, &w, &a, crate::support::trading::Plan::person("刘洋"));
    app.set_now(sched[1] + Duration::minutes(1));
    crate::support::trading::bid_ok(&app, &runner, &a, RESERVE);
    crate::support::trading::bid_ok(&app, &winner, &a, RESERVE + 1_000);
    app.set_now(sched[2] + Duration::minutes(1));
    let deal = crate::support::trading::public_deal(&app, &a);
    assert!(deal["contract_id"].is_null());
    let deal_id = s(&deal["id"]);
    assert_eq!(
        deposit_status(&app, &w, &runner),
        "confirmed",
        "runner-up holds"
    );
    ok(deal_action(&app, winner.token(), &deal_id, "confirm"));
    assert_eq!(
        deposit_status(&app, &w, &runner),
        "refund_due",
        "released when the winner confirms"
    );
    let deal = ok(app.get(&a.path("/deal"), w.ht.t()));
    assert!(deal["contract_id"].is_null(), "{deal}");
    assert_eq!(deal["status"], "pending_confirmation");
    let r = ok(deal_action(&app, &w.ht.token, &deal_id, "confirm"));
    assert!(r["contract_id"].is_string(), "{r}");
    assert_eq!(
        crate::support::trading::public_deal(&app, &a)["contract_id"],
        r["contract_id"],
        "the public summary names it too"
    );
    verify_audit(&app);
}

fn ts_of(v: &Value) -> chrono::DateTime<chrono::Utc> {
    crate::support::http::ts(v)
}

/// Every route of a contract × every role (API.md "Second half: who may do what").
#[test]
fn who_may_read_and_act_on_a_contract_in_the_documented_check_order() {
    let app = start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    let other_investor = &d.runner_up.inv;
    let c = d.contract.as_str();
    let readers = [
        ("collective", w.ht.t()),
        ("transferee", d.winner().t()),
        ("staff", w.cj_staff.t()),
        ("admin", w.admin()),
    ];
    let strangers = [
        ("another village's collective", w.jg.t()),
        ("another township's collective", w.cx.t()),
        ("another investor", other_investor.t()),
        ("an investor of nothing", w.investor.t()),
        ("another township's staff", w.sy_staff.t()),
        ("an insurer without a policy", w.insurer.t()),
    ];

    // Reads: the four parties see it; everyone else gets 404, and lists without it.
    for (who, t) in readers {
        let r = get_contract(&app, t, c);
        assert_eq!(r.status, 200, "{who}: {}", r.text);
        let list = ok(app.get("/api/v1/contracts", t));
        assert!(
            crate::support::http::ids(&list["items"]).contains(&d.contract),
            "{who} lists it"
        );
        let list = ok(app.get(&format!("/api/v1/contracts?listing_id={}", d.a.id), t));
        assert_eq!(
            crate::support::http::ids(&list["items"]),
            std::slice::from_ref(&d.contract)
        );
        assert_eq!(
            ok(app.get(&format!("/api/v1/contracts/{c}/installments"), t))["items"],
            json!([]),
            "{who}"
        );
    }
    for (who, t) in strangers {
        get_contract(&app, t, c).assert_problem(404, "not_found");
        app.get(&format!("/api/v1/contracts/{c}/installments"), t)
            .assert_problem(404, "not_found");
        let list = ok(app.get("/api/v1/contracts", t));
        assert_eq!(list["items"], json!([]), "{who} lists none");
        let list = ok(app.get("/api/v1/installments", t));
        assert_eq!(list["items"], json!([]), "{who} lists none");
        for (action, body) in [
            ("sign", json!({})),
            ("certify", json!({})),
            ("cancel", json!({"reason": "测试"})),
            ("terminate", json!({"ground": "idle_land", "note": "测试"})),
        ] {
            act(&app, t, c, action, body).assert_problem(404, "not_found");
        }
        // 404 comes before the body's 422.
        act(&app, t, c, "cancel", json!({"bogus": 1})).assert_problem(404, "not_found");
    }
    // 401 before anything, even for an unknown id; a path id that isn't a UUID → 400.
    for (m, path) in [
        ("GET", "/api/v1/contracts".to_string()),
        ("GET", format!("/api/v1/contracts/{c}")),
        ("GET", format!("/api/v1/contracts/{NO_SUCH}")),
        ("GET", format!("/api/v1/contracts/{c}/installments")),
        ("GET", "/api/v1/installments".to_string()),
        ("GET", format!("/api/v1/installments/{NO_SUCH}/payments")),
        ("POST", format!("/api/v1/installments/{NO_SUCH}/payments")),
        ("POST", format!("/api/v1/contracts/{c}/sign")),
        ("POST", format!("/api/v1/contracts/{c}/certify")),
        ("POST", format!("/api/v1/contracts/{c}/cancel")),
        ("POST", format!("/api/v1/contracts/{c}/terminate")),
        ("PATCH", format!("/api/v1/villages/{}", w.hutang)),
        ("PATCH", format!("/api/v1/townships/{}", w.cj)),
    ] {
        let body = (m != "GET").then(|| json!({}));
        app.call(m, &path, None, body.clone())
            .assert_problem(401, "unauthorized");
        app.call(m, &path, Some("not-a-token"), body)
            .assert_problem(401, "unauthorized");
    }
    get_contract(&app, w.ht.t(), "not-a-uuid").assert_problem(400, "bad_request");
    get_contract(&app, w.admin(), NO_SUCH).assert_problem(404, "not_found");
    act(&app, w.cj_staff.t(), NO_SUCH, "certify", json!({})).assert_problem(404, "not_found");

    // 403 where the table says so, before the body's 422.
    act(&app, w.cj_staff.t(), c, "sign", json!({})).assert_problem(403, "forbidden");
    act(&app, w.admin(), c, "sign", json!({})).assert_problem(403, "forbidden");
    for (who, t) in [("collective", w.ht.t()), ("transferee", d.winner().t())] {
        for action in ["certify", "cancel"] {
            let r = act(&app, t, c, action, json!({"bogus": true}));
            assert_eq!(r.status, 403, "{who} {action}: {}", r.text);
            r.assert_problem(403, "forbidden");
        }
    }
    act(
        &app,
        d.winner().t(),
        c,
        "terminate",
        json!({"ground": "nonsense"}),
    )
    .assert_problem(403, "forbidden");
    // 422 (body) before 409 (state): a draft can't be certified or terminated, but a bad
    // body is reported first.
    act(&app, w.cj_staff.t(), c, "certify", json!({"bogus": 1})).assert_field("bogus");
    act(&app, w.cj_staff.t(), c, "certify", json!({})).assert_problem(409, "invalid_state");
    act(
        &app,
        w.ht.t(),
        c,
        "terminate",
        json!({"ground": "nonsense", "note": "x"}),
    )
    .assert_field("ground");
    act(
        &app,
        w.ht.t(),
        c,
        "terminate",
        json!({"ground": "idle_land"}),
    )
    .assert_field("note");
    act(
        &app,
        w.ht.t(),
        c,
        "terminate",
        json!({"ground": "idle_land", "note": "撂荒"}),
    )
    .assert_problem(409, "invalid_state");
    act(&app, w.cj_staff.t(), c, "cancel", json!({})).assert_field("reason");
    act(&app, w.cj_staff.t(), c, "cancel", json!({"reason": "  "})).assert_field("reason");
    act(&app, d.winner().t(), c, "sign", json!({"bogus": 1})).assert_field("bogus");
    // An empty body is accepted for the parameterless actions.
    let r = app.call_raw(
        "POST",
        &format!("/api/v1/contracts/{c}/sign"),
        d.winner().t(),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "empty body: {}", r.text);

    // Certified: payments and installments by role.
    set_identity(&app, &w.ht.token, &w.hutang, 1);
    ok(act(&app, w.ht.t(), c, "sign", json!({})));
    certify(&app, &w, &d);
    let inst = installments(&app, &w, c);
    let first = s(&inst[0]["id"]);
    for (who, t) in readers {
        let r = app.get(&format!("/api/v1/installments/{first}/payments"), t);
        assert_eq!(r.status, 200, "{who}: {}", r.text);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
        let list = ok(app.get("/api/v1/installments", t));
        assert_eq!(list["items"].as_array().unwrap().len(), 10, "{who}");
    }
    for (who, t) in strangers {
        app.get(&format!("/api/v1/installments/{first}/payments"), t)
            .assert_problem(404, "not_found");
        pay(&app, t, &first, 100, "2027-01-23").assert_problem(404, "not_found");
        let list = ok(app.get("/api/v1/installments", t));
        assert_eq!(list["items"], json!([]), "{who}");
    }
    pay(&app, d.winner().t(), &first, 100, "2027-01-23").assert_problem(403, "forbidden");
    // 403 before the body's 422.
    app.post(
        &format!("/api/v1/installments/{first}/payments"),
        d.winner().t(),
        json!({"bogus": 1}),
    )
    .assert_problem(403, "forbidden");
    pay(&app, w.ht.t(), NO_SUCH, 100, "2027-01-23").assert_problem(404, "not_found");
    for (who, t) in [
        ("collective", w.ht.t()),
        ("staff", w.cj_staff.t()),
        ("admin", w.admin()),
    ] {
        let r = pay(&app, t, &first, 100, "2027-01-23");
        assert_eq!(r.status, 201, "{who}: {}", r.text);
    }
    // Terminate: the investor may not; the collective, staff and admins may (state permitting).
    act(
        &app,
        d.winner().t(),
        c,
        "terminate",
        json!({"ground": "mutual_agreement", "note": "协商一致"}),
    )
    .assert_problem(403, "forbidden");
    // Cancel after certification → 409.
    act(
        &app,
        w.cj_staff.t(),
        c,
        "cancel",
        json!({"reason": "误操作"}),
    )
    .assert_problem(409, "invalid_state");
    let r = ok(act(
        &app,
        w.admin(),
        c,
        "terminate",
        json!({"ground": "mutual_agreement", "note": "双方协商一致解除"}),
    ));
    assert_eq!(r["status"], "terminated");
    act(
        &app,
        w.ht.t(),
        c,
        "terminate",
        json!({"ground": "mutual_agreement", "note": "再次解除"}),
    )
    .assert_problem(409, "invalid_state");
    // Status filter of the list, and bad filters.
    let list = ok(app.get("/api/v1/contracts?status=terminated", w.ht.t()));
    assert_eq!(
        crate::support::http::ids(&list["items"]),
        std::slice::from_ref(&d.contract)
    );
    let list = ok(app.get("/api/v1/contracts?status=draft,signed", w.ht.t()));
    assert_eq!(list["items"], json!([]));
    app.get("/api/v1/contracts?status=bogus", w.ht.t())
        .assert_problem(400, "bad_request");
    app.get("/api/v1/contracts?limit=201", w.ht.t())
        .assert_problem(422, "validation_failed");
    verify_audit(&app);
}

#[test]
fn each_party_signs_once_and_the_transferor_is_frozen_from_the_village() {
    let app = start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    let c = d.contract.as_str();

    // The village has no legal identity yet: the collective can't sign.
    let r = act(&app, w.ht.t(), c, "sign", json!({}));
    r.assert_field("transferor");
    // The transferee can, once.
    let t0 = app.now();
    let r = ok(act(&app, d.winner().t(), c, "sign", json!({})));
    assert_eq!(r["status"], "draft");
    assert_eq!(ts_of(&r["transferee_signed_at"]), t0);
    assert!(r["transferor_signed_at"].is_null());
    act(&app, d.winner().t(), c, "sign", json!({})).assert_problem(409, "invalid_state");
    // Certifying before both signed → 409.
    act(&app, w.cj_staff.t(), c, "certify", json!({})).assert_problem(409, "invalid_state");

    // Part of the identity is not enough.
    let r = app.patch(
        &format!("/api/v1/villages/{}", w.hutang),
        w.ht.t(),
        json!({"legal_name": VILLAGE_NAME}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    act(&app, w.ht.t(), c, "sign", json!({})).assert_field("transferor");
    let code = village_uscc(1);
    let v = set_identity(&app, &w.ht.token, &w.hutang, 1);
    assert_eq!(v["legal_name"], VILLAGE_NAME);
    assert_eq!(v["unified_social_credit_code"], code.as_str());
    assert_eq!(v["legal_representative"], VILLAGE_REP);

    app.advance(Duration::hours(3));
    let r = ok(act(&app, w.ht.t(), c, "sign", json!({})));
    assert_eq!(r["status"], "signed");
    assert_eq!(ts_of(&r["transferor_signed_at"]), t0 + Duration::hours(3));
    assert_eq!(ts_of(&r["transferee_signed_at"]), t0);
    assert_eq!(r["transferor"]["name"], VILLAGE_NAME);
    assert_eq!(r["transferor"]["unified_social_credit_code"], code.as_str());
    assert_eq!(r["transferor"]["legal_representative"], VILLAGE_REP);
    act(&app, w.ht.t(), c, "sign", json!({})).assert_problem(409, "invalid_state");
    act(&app, d.winner().t(), c, "sign", json!({})).assert_problem(409, "invalid_state");

    // The village changes its identity after signing (and the township is renamed): the
    // contract keeps what was signed.
    let r = app.patch(
        &format!("/api/v1/villages/{}", w.hutang),
        w.admin(),
        json!({"legal_name": "护塘村经济合作社（更名）", "legal_representative": "张建国",
               "unified_social_credit_code": village_uscc(2)}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.patch(
        &format!("/api/v1/townships/{}", w.cj),
        w.admin(),
        json!({"name": "漕泾镇（新）"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "漕泾镇（新）");
    let after = contract(&app, &w, c);
    assert_eq!(after["transferor"]["name"], VILLAGE_NAME);
    assert_eq!(
        after["transferor"]["unified_social_credit_code"],
        code.as_str()
    );
    assert_eq!(after["transferor"]["legal_representative"], VILLAGE_REP);
    let cert = certify(&app, &w, &d);
    assert_eq!(cert["transferor"]["name"], VILLAGE_NAME);
    assert_eq!(
        cert["certification_no"], "JD-CJ-2027-0001",
        "the township's code, not its name"
    );

    let signed: Vec<_> = contract_stream(&app, c)
        .into_iter()
        .filter(|r| r.action.starts_with("contract.signed"))
        .map(|r| (r.action, r.from_state, r.to_state, r.actor_role))
        .collect();
    let o = |x: &str| Some(x.to_string());
    assert_eq!(
        signed,
        [
            (
                "contract.signed_by_transferee".to_string(),
                o("draft"),
                o("draft"),
                o("investor")
            ),
            (
                "contract.signed_by_transferor".to_string(),
                o("draft"),
                o("signed"),
                o("collective")
            ),
        ]
    );
    verify_audit(&app);
}

#[test]
fn a_village_sets_its_legal_identity_and_an_admin_its_townships_insurance_setting() {
    let app = start();
    let w = World::new(&app);
    let path = format!("/api/v1/villages/{}", w.hutang);
    let v = ok(app.get(&path, None));
    for f in [
        "legal_name",
        "unified_social_credit_code",
        "legal_representative",
    ] {
        assert!(v.get(f).is_some_and(Value::is_null), "{f} null in {v}");
    }
    // Validation names each bad field.
    let mut bad = village_uscc(1);
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    app.patch(&path, w.ht.t(), json!({"unified_social_credit_code": bad}))
        .assert_field("unified_social_credit_code");
    app.patch(
        &path,
        w.ht.t(),
        json!({"unified_social_credit_code": "91310116"}),
    )
    .assert_field("unified_social_credit_code");
    app.patch(&path, w.ht.t(), json!({"legal_name": "  "}))
        .assert_field("legal_name");
    app.patch(&path, w.ht.t(), json!({"legal_representative": ""}))
        .assert_field("legal_representative");
    app.patch(&path, w.ht.t(), json!({"name": "改名村"}))
        .assert_field("name");
    app.patch(&path, w.ht.t(), json!({"legal_name": 5}))
        .assert_field("legal_name");
    // Who may: the village's collective and admins; nobody else.
    for (who, t) in [
        ("another village's collective", w.jg.t()),
        ("another township's collective", w.cx.t()),
        ("staff", w.cj_staff.t()),
        ("investor", w.investor.t()),
        ("insurer", w.insurer.t()),
    ] {
        let r = app.patch(&path, t, identity(1));
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    // 403 before 422.
    app.patch(&path, w.jg.t(), json!({"unified_social_credit_code": "x"}))
        .assert_problem(403, "forbidden");
    app.patch(
        &format!("/api/v1/villages/{NO_SUCH}"),
        w.admin(),
        identity(1),
    )
    .assert_problem(404, "not_found");
    app.patch("/api/v1/villages/x", w.admin(), identity(1))
        .assert_problem(400, "bad_request");
    let r = ok(app.patch(&path, w.ht.t(), identity(1)));
    assert_eq!(r["unified_social_credit_code"], village_uscc(1).as_str());
    assert_eq!(r["name"], "护塘村", "the name is not touched");
    let r = ok(app.patch(&path, w.admin(), json!({"legal_representative": "张建国"})));
    assert_eq!(r["legal_representative"], "张建国");
    assert_eq!(r["legal_name"], VILLAGE_NAME, "omitted fields stay");
    assert_eq!(ok(app.get(&path, None))["legal_representative"], "张建国");

    // Townships: insurance_required defaults to true; only admins change it.
    let tpath = format!("/api/v1/townships/{}", w.cj);
    let list = ok(app.get("/api/v1/townships", None));
    for t in list["items"].as_array().unwrap() {
        assert_eq!(t["insurance_required"], true, "{t}");
    }
    for (who, t) in [
        ("its staff", w.cj_staff.t()),
        ("a collective", w.ht.t()),
        ("an investor", w.investor.t()),
        ("an insurer", w.insurer.t()),
    ] {
        let r = app.patch(&tpath, t, json!({"insurance_required": false}));
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    app.patch(&tpath, w.admin(), json!({"insurance_required": "no"}))
        .assert_field("insurance_required");
    app.patch(&tpath, w.admin(), json!({"code": "XX"}))
        .assert_field("code");
    app.patch(&tpath, w.admin(), json!({"name": " "}))
        .assert_field("name");
    app.patch(
        &format!("/api/v1/townships/{NO_SUCH}"),
        w.admin(),
        json!({"insurance_required": false}),
    )
    .assert_problem(404, "not_found");
    let r = ok(app.patch(&tpath, w.admin(), json!({"insurance_required": false})));
    assert_eq!(r["insurance_required"], false);
    assert_eq!(r["name"], "漕泾镇");
    assert_eq!(ok(app.get(&tpath, None))["insurance_required"], false);
    let sy = ok(app.get(&format!("/api/v1/townships/{}", w.sy), None));
    assert_eq!(sy["insurance_required"], true, "another township unchanged");
    verify_audit(&app);
}

#[test]
fn certification_numbers_the_contract_creates_the_schedule_applies_the_deposit_and_contracts_the_listing(
) {
    keyed("contracts::certification_numbers_the_contract_creates_the_schedule_applies_the_deposit_and_contracts_the_listing", || {
    let app = start_keyed();
    let w = World::new(&app);
    let deals = confirmed_deals(&app, &w, w.cj(), 2, TERM);
    let sy = confirmed_deals(&app, &w, w.sy(), 1, TERM).pop().unwrap();
    let (d, d2) = (&deals[0], &deals[1]);
    sign_both(&app, &w, d);
    let before_listing = listing_status(&app, &w, &d.a);
    assert_eq!(before_listing, "awarded");
    let certified_on = shanghai_today(&app);
    let c = certify(&app, &w, d);
    assert_eq!(c["status"], "certified", "insurance is required by default");
    assert_eq!(c["certification_no"], "JD-CJ-2027-0001");
    assert_eq!(ts_of(&c["certified_at"]), app.now());
    assert!(c["activated_at"].is_null());
    assert_eq!(c["insurance_required"], true);
    act(&app, w.cj_staff.t(), &d.contract, "certify", json!({}))
        .assert_problem(409, "invalid_state");
    assert_eq!(listing_status(&app, &w, &d.a), "contracted");
    assert_eq!(deposit_status(&app, &w, &d.winner), "applied_to_rent");

    // The schedule: ten years, the tenth short, due 30 days before each year starts.
    let inst = installments(&app, &w, &d.contract);
    assert_eq!(inst.len(), 10);
    let mut total = 0;
    for (n, i) in inst.iter().enumerate() {
        let y = 2028 + n as i32;
        assert_eq!(i["year"], n as i64 + 1);
        assert_eq!(i["contract_id"], d.contract.as_str());
        assert_eq!(date(&i["period_start"]), ymd(y, 3, 1));
        let end = if n == 9 { ymd(2037, 12, 31) } else { ymd(y + 1, 2, 28) };
        let end = if y + 1 == 2032 || y + 1 == 2036 {
            ymd(y + 1, 2, 29)
        } else {
            end
        };
        assert_eq!(date(&i["period_end"]), end, "year {}", n + 1);
        assert_eq!(
            date(&i["due_date"]),
            ymd(y, 3, 1) - chrono::Days::new(30),
            "year {}",
            n + 1
        );
        assert!(date(&i["due_date"]) >= certified_on);
        let amount = i["amount_fen"].as_i64().unwrap();
        total += amount;
        assert_eq!(i["insurer_paid_fen"], 0);
        if n == 0 {
            assert_eq!(i["paid_fen"], DEPOSIT, "the deposit is year 1's first payment");
            assert_eq!(i["outstanding_fen"], amount - DEPOSIT);
        } else {
            assert_eq!(i["paid_fen"], 0);
            assert_eq!(i["outstanding_fen"], amount);
        }
        assert_eq!(i["status"], "scheduled");
    }
    assert_eq!(date(&inst[0]["due_date"]), ymd(2028, 1, 31), "leap February");
    assert_eq!(inst[0]["amount_fen"], ANNUAL);
    assert_eq!(
        inst[9]["amount_fen"],
        (ANNUAL * 306 * 2 + 365) / (2 * 365),
        "306 of 365 days, rounded half up"
    );
    assert_eq!(c["total_rent_fen"], total);
    assert_eq!(c["years"], 10);
    let paid = payments(&app, &w, &s(&inst[0]["id"]));
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0]["kind"], "deposit");
    assert_eq!(paid[0]["amount_fen"], DEPOSIT);
    assert_eq!(paid[0]["installment_id"], inst[0]["id"]);
    assert_eq!(date(&paid[0]["received_on"]), certified_on);

    // Numbering: the next of the township is 0002; another township starts at 0001.
    sign_both(&app, &w, d2);
    assert_eq!(certify(&app, &w, d2)["certification_no"], "JD-CJ-2027-0002");
    sign_sy(&app, &w, &sy);
    let r = ok(act(&app, w.sy_staff.t(), &sy.contract, "certify", json!({})));
    assert_eq!(r["certification_no"], "JD-SY-2027-0001");

    // Audit: every step on the contract's stream, with the amounts as fields.
    let recs = contract_stream(&app, &d.contract);
    let actions: Vec<&str> = recs.iter().map(|r| r.action.as_str()).collect();
    let mut want = vec![
        "contract.created",
        "contract.signed_by_transferee",
        "contract.signed_by_transferor",
        "contract.certified",
    ];
    want.extend(std::iter::repeat_n("installment.scheduled", 10));
    want.push("payment.deposit_applied");
    assert_eq!(actions, want);
    assert_eq!(recs[0].amount_fen, Some(total), "the term's total rent");
    let certified = &recs[3];
    assert_eq!(certified.from_state.as_deref(), Some("signed"));
    assert_eq!(certified.to_state.as_deref(), Some("certified"));
    assert_eq!(certified.actor_role.as_deref(), Some("staff"));
    let scheduled: Vec<Option<i64>> = recs[4..14].iter().map(|r| r.amount_fen).collect();
    let amounts: Vec<Option<i64>> = inst.iter().map(|i| i["amount_fen"].as_i64()).collect();
    assert_eq!(scheduled, amounts);
    assert_eq!(recs[14].amount_fen, Some(DEPOSIT));
    assert_eq!(recs[14].entity_type, "payment");
    assert_eq!(recs[14].entity_id, s(&paid[0]["id"]));
    // The listing's stream records its move; the deposit's move is on the registration.
    let lrec: Vec<_> = app
        .audit_for(&d.a.id)
        .into_iter()
        .filter(|r| r.action == "listing.contracted")
        .collect();
    assert_eq!(lrec.len(), 1);
    assert_eq!(lrec[0].to_state.as_deref(), Some("contracted"));
    assert!(app
        .audit_for(&d.winner.reg)
        .iter()
        .any(|r| r.to_state.as_deref() == Some("applied_to_rent")));
    verify_audit(&app);
    });
}

fn sign_sy(app: &TestApp, w: &World, d: &Deal) {
    set_identity(app, &w.cx.token, &w.changxing, 7);
    ok(act(app, d.winner().t(), &d.contract, "sign", json!({})));
    let r = ok(act(app, w.cx.t(), &d.contract, "sign", json!({})));
    assert_eq!(r["status"], "signed");
}

fn shanghai_today(app: &TestApp) -> chrono::NaiveDate {
    (app.now() + Duration::hours(8)).date_naive()
}

#[test]
fn a_township_without_required_insurance_activates_at_certification_and_the_setting_is_snapshotted()
{
    let app = start();
    let w = World::new(&app);
    let deals = confirmed_deals(&app, &w, w.cj(), 2, TERM);
    // Created while insurance was required; certified after the admin lifted it: the
    // setting at certification counts.
    ok(app.patch(
        &format!("/api/v1/townships/{}", w.cj),
        w.admin(),
        json!({"insurance_required": false}),
    ));
    let c = certified(&app, &w, &deals[0]);
    assert_eq!(c["status"], "active");
    assert_eq!(c["insurance_required"], false);
    assert_eq!(ts_of(&c["activated_at"]), app.now());
    ok(app.patch(
        &format!("/api/v1/townships/{}", w.cj),
        w.admin(),
        json!({"insurance_required": true}),
    ));
    assert_eq!(
        contract(&app, &w, &deals[0].contract)["insurance_required"],
        false
    );
    let c = certified(&app, &w, &deals[1]);
    assert_eq!(c["status"], "certified");
    assert_eq!(c["insurance_required"], true);
    let recs = contract_stream(&app, &deals[0].contract);
    let cert = recs
        .iter()
        .find(|r| r.action == "contract.certified")
        .unwrap();
    assert_eq!(cert.to_state.as_deref(), Some("active"));
}

#[test]
fn certification_numbers_stay_gap_free_when_several_contracts_are_certified_at_once() {
    let app = start();
    let w = World::new(&app);
    let deals = confirmed_deals(&app, &w, w.cj(), 5, TERM);
    for d in &deals {
        sign_both(&app, &w, d);
    }
    let n = 4;
    let barrier = Arc::new(Barrier::new(n));
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = deals[..n]
            .iter()
            .map(|d| {
                let barrier = barrier.clone();
                let (client, token) = ((*app).clone(), w.cj_staff.token.clone());
                let path = d.path("/certify");
                scope.spawn(move || {
                    barrier.wait();
                    let r = client.post(&path, Some(&token), json!({}));
                    (r.status, r.body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut numbers: Vec<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            s(&body["certification_no"])
        })
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=n)
            .map(|i| format!("JD-CJ-2027-{i:04}"))
            .collect::<Vec<_>>()
    );
    for d in &deals[..n] {
        assert_eq!(installments(&app, &w, &d.contract).len(), 10);
        assert_eq!(listing_status(&app, &w, &d.a), "contracted");
    }
    // Lists page through every contract and installment once.
    let all = crate::support::http::walk(&app, w.cj_staff.t(), "/api/v1/contracts", 2);
    assert_eq!(all.len(), 5);
    let certified_ones = crate::support::http::walk(
        &app,
        w.cj_staff.t(),
        "/api/v1/contracts?status=certified",
        3,
    );
    assert_eq!(certified_ones.len(), n);
    let inst = crate::support::http::walk(&app, w.admin(), "/api/v1/installments", 7);
    assert_eq!(inst.len(), 10 * n);
    let mut dedup = inst.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), inst.len());
    // A new Shanghai year starts a new sequence (2028-01-01 00:00 in Shanghai).
    app.set_now(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, 12, 31, 16, 0, 0).unwrap());
    assert_eq!(
        certify(&app, &w, &deals[n])["certification_no"],
        "JD-CJ-2028-0001"
    );
    verify_audit(&app);
}

#[test]
fn the_parcels_are_never_free_between_the_listing_and_the_contract() {
    let app = start();
    let w = World::new(&app);
    let deals = confirmed_deals(&app, &w, w.cj(), 2, TERM);
    let d = &deals[0];
    let p = d.parcel.as_str();
    let ppath = format!("/api/v1/parcels/{p}");
    // A draft contract: locked (no edit, no new listing).
    assert!(parcel_locked(&app, &w, p));
    app.patch(&ppath, w.ht.t(), json!({"households": 13}))
        .assert_problem(409, "invalid_state");
    list_again(&app, &w, p).assert_field("parcel_ids");
    sign_both(&app, &w, d);
    assert!(parcel_locked(&app, &w, p));
    list_again(&app, &w, p).assert_field("parcel_ids");

    // Certification races submits of a draft holding the parcel: none ever passes.
    let now = app.now();
    let mut body = crate::support::listings::listing_body("抢挂牌", &[p]);
    body["term_start"] = json!("2040-03-01");
    body["term_end"] = json!("2045-02-28");
    body["deposit_fen"] = json!(100_000);
    body["registration_closes_at"] = json!(crate::support::http::rfc(now + Duration::days(12)));
    body["auction_starts_at"] = json!(crate::support::http::rfc(now + Duration::days(13)));
    body["auction_ends_at"] = json!(crate::support::http::rfc(
        now + Duration::days(13) + Duration::hours(1)
    ));
    body["consent"]["commissions_received"] = json!(12);
    body["consent"]["resolution_date"] = json!(shanghai_today(&app).to_string());
    let draft = ok_created(app.post("/api/v1/listings", w.ht.t(), body));
    crate::support::documents::attach_listing_documents(&app, &w.ht, &draft);
    let submits: Vec<u16> = std::thread::scope(|scope| {
        let client = (*app).clone();
        let token = w.ht.token.clone();
        let path = format!("/api/v1/listings/{draft}/submit");
        let h = scope.spawn(move || {
            (0..15)
                .map(|_| client.post(&path, Some(&token), json!({})).status)
                .collect::<Vec<u16>>()
        });
        certify(&app, &w, d);
        h.join().unwrap()
    });
    assert!(submits.iter().all(|s| *s == 422), "{submits:?}");
    assert!(parcel_locked(&app, &w, p), "the contract holds it now");
    list_again(&app, &w, p).assert_field("parcel_ids");
    app.patch(&ppath, w.ht.t(), json!({"households": 13}))
        .assert_problem(409, "invalid_state");

    // Terminated: free at once, for edits and a new listing.
    ok(act(
        &app,
        w.ht.t(),
        &d.contract,
        "terminate",
        json!({"ground": "change_of_use", "note": "擅自改变土地用途"}),
    ));
    assert!(!parcel_locked(&app, &w, p));
    ok(app.patch(
        &ppath,
        w.ht.t(),
        json!({"location": "护塘村7组（重新测绘）"}),
    ));
    let r = list_again(&app, &w, p);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "submitted");
    // The terminated contract still shows what it was signed for.
    let c = contract(&app, &w, &d.contract);
    assert!(s(&c["parcels"][0]["location"]).contains("沿海公路东侧"));
    // The other contract (still draft) keeps its own parcel locked.
    assert!(parcel_locked(&app, &w, &deals[1].parcel));
}

fn ok_created(r: Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

#[test]
fn staff_cancel_before_certification_the_listing_fails_and_the_deposit_is_refunded_or_forfeited() {
    let app = start();
    let w = World::new(&app);
    let deals = confirmed_deals(&app, &w, w.cj(), 3, TERM);
    let (d, signed, done) = (&deals[0], &deals[1], &deals[2]);
    let p = d.parcel.as_str();
    let before = contract(&app, &w, &d.contract);

    // Refused: without a reason, by the parties, after certification.
    act(
        &app,
        w.cj_staff.t(),
        &d.contract,
        "cancel",
        json!({"forfeit": true}),
    )
    .assert_field("reason");
    act(
        &app,
        w.cj_staff.t(),
        &d.contract,
        "cancel",
        json!({"reason": "x", "forfeit": "yes"}),
    )
    .assert_field("forfeit");
    certified(&app, &w, done);
    act(
        &app,
        w.cj_staff.t(),
        &done.contract,
        "cancel",
        json!({"reason": "乙方拒签"}),
    )
    .assert_problem(409, "invalid_state");

    // A draft cancelled: refund.
    let r = ok(act(
        &app,
        w.cj_staff.t(),
        &d.contract,
        "cancel",
        json!({"reason": "村集体经济组织改制，合同无法签订"}),
    ));
    assert_eq!(r["status"], "cancelled");
    assert_eq!(r["cancel_reason"], "村集体经济组织改制，合同无法签订");
    assert_eq!(ts_of(&r["cancelled_at"]), app.now());
    assert_eq!(listing_status(&app, &w, &d.a), "failed");
    assert_eq!(deposit_status(&app, &w, &d.winner), "refund_due");
    act(
        &app,
        w.cj_staff.t(),
        &d.contract,
        "cancel",
        json!({"reason": "再次"}),
    )
    .assert_problem(409, "invalid_state");
    act(&app, d.winner().t(), &d.contract, "sign", json!({})).assert_problem(409, "invalid_state");
    act(&app, w.cj_staff.t(), &d.contract, "certify", json!({}))
        .assert_problem(409, "invalid_state");
    assert!(installments(&app, &w, &d.contract).is_empty());
    let m = moves_of(&app, &d.contract, &d.contract);
    assert_eq!(m.last().unwrap().0, "contract.cancelled");
    assert_eq!(m.last().unwrap().1.as_deref(), Some("draft"));

    // Parcels free: edited; the listing relisted and its draft edited. The cancelled
    // contract stays as it was frozen.
    assert!(!parcel_locked(&app, &w, p));
    ok(app.patch(
        &format!("/api/v1/parcels/{p}"),
        w.ht.t(),
        json!({"location": "护塘村9组", "area_mu": "48.50", "quality_grade": 5}),
    ));
    let now = app.now();
    let r = app.post(
        &d.a.path("/relist"),
        w.ht.t(),
        json!({
            "registration_closes_at": crate::support::http::rfc(now + Duration::days(12)),
            "auction_starts_at": crate::support::http::rfc(now + Duration::days(13)),
            "auction_ends_at": crate::support::http::rfc(now + Duration::days(13) + Duration::hours(1)),
        }),
    );
    assert_eq!(r.status, 201, "relist: {}", r.text);
    let relisted = r.id();
    ok(app.patch(
        &format!("/api/v1/listings/{relisted}"),
        w.ht.t(),
        json!({"title": "护塘村土地经营权流转（重新挂牌）", "intended_use": "vegetables",
               "term_start": "2028-06-01", "term_end": "2036-05-31"}),
    ));
    let after = contract(&app, &w, &d.contract);
    assert_eq!(after["parcels"], before["parcels"]);
    assert_eq!(after["total_area_mu"], "50.00");
    assert_eq!(after["intended_use"], "grain");
    assert_eq!(after["term_start"], TERM.0);
    assert_eq!(after["term_end"], TERM.1);

    // A signed contract cancelled because the transferee refused: forfeited.
    sign_both(&app, &w, signed);
    let r = ok(act(
        &app,
        w.admin(),
        &signed.contract,
        "cancel",
        json!({"reason": "乙方拒绝履行签约义务", "forfeit": true}),
    ));
    assert_eq!(r["status"], "cancelled");
    assert_eq!(deposit_status(&app, &w, &signed.winner), "forfeited");
    assert_eq!(listing_status(&app, &w, &signed.a), "failed");
    assert!(!parcel_locked(&app, &w, &signed.parcel));
    verify_audit(&app);
}

#[test]
fn late_certification_makes_year_one_due_at_once_and_none_after_the_term() {
    let app = start();
    let w = World::new(&app);
    let term = ("2027-02-01", "2029-01-31");
    let deals = confirmed_deals(&app, &w, w.cj(), 2, term);
    for d in &deals {
        sign_both(&app, &w, d);
    }
    // The term began on 2027-02-01; certified on 2027-03-15 (Shanghai).
    app.set_now(sh(2027, 3, 15));
    let c = certify(&app, &w, &deals[0]);
    assert_eq!(c["status"], "certified");
    let inst = installments(&app, &w, &deals[0].contract);
    assert_eq!(inst.len(), 2);
    assert_eq!(date(&inst[0]["due_date"]), ymd(2027, 3, 15), "due at once");
    assert_eq!(inst[0]["status"], "due");
    assert_eq!(date(&inst[1]["due_date"]), ymd(2028, 1, 2));
    assert_eq!(inst[1]["status"], "scheduled");
    // Only the reminders dated on or after certification go out: due today, not the
    // week-before one dated 2027-03-08.
    app.run_jobs();
    app.run_jobs();
    installments(&app, &w, &deals[0].contract);
    let to = &deals[0].winner().email;
    assert_eq!(
        crate::support::records::count_mail(&app, to, "Rent due today"),
        1
    );
    assert_eq!(
        crate::support::records::count_mail(&app, to, "Rent due in 7 days"),
        0
    );
    // Next day: overdue; year 2's reminders later, each once.
    app.set_now(sh(2027, 3, 16));
    app.run_jobs();
    assert_eq!(statuses(&app, &w, &deals[0].contract)[0], "overdue");
    assert_eq!(
        crate::support::records::count_mail(&app, to, "Rent overdue"),
        1
    );
    app.set_now(sh(2027, 12, 26));
    app.run_jobs();
    assert_eq!(
        crate::support::records::count_mail(&app, to, "Rent due in 7 days"),
        1,
        "year 2's"
    );

    // After the term's end: never certified.
    app.set_now(sh(2029, 2, 1));
    act(
        &app,
        w.cj_staff.t(),
        &deals[1].contract,
        "certify",
        json!({}),
    )
    .assert_problem(409, "invalid_state");
    assert_eq!(contract(&app, &w, &deals[1].contract)["status"], "signed");
    assert!(installments(&app, &w, &deals[1].contract).is_empty());
    assert_eq!(listing_status(&app, &w, &deals[1].a), "awarded");
    verify_audit(&app);
}

#[test]
fn staff_are_reminded_once_of_a_contract_left_draft_and_once_more_left_signed() {
    let app = start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    let created = ts_of(&contract(&app, &w, &d.contract)["created_at"]);
    let stalled = |what: &str| crate::support::records::count_mail(&app, &w.cj_staff.email, what);
    app.set_now(created + Duration::days(15) - Duration::seconds(1));
    app.run_jobs();
    assert_eq!(stalled("Contract awaiting signatures"), 0);
    app.set_now(created + Duration::days(15));
    app.run_jobs();
    app.run_jobs();
    assert_eq!(stalled("Contract awaiting signatures"), 1);
    assert_eq!(
        crate::support::records::count_mail(&app, &w.sy_staff.email, "Contract awaiting"),
        0,
        "only its township's staff"
    );
    app.advance(Duration::days(20));
    app.run_jobs();
    assert_eq!(stalled("Contract awaiting signatures"), 1, "once");

    sign_both(&app, &w, &d);
    let signed_at = app.now();
    app.set_now(signed_at + Duration::days(15) - Duration::seconds(1));
    app.run_jobs();
    assert_eq!(stalled("Contract awaiting certification"), 0);
    app.set_now(signed_at + Duration::days(15));
    app.run_jobs();
    app.run_jobs();
    app.advance(Duration::days(40));
    app.run_jobs();
    assert_eq!(stalled("Contract awaiting certification"), 1);
    assert_eq!(stalled("Contract awaiting signatures"), 1);
    // Certified: nothing more.
    certify(&app, &w, &d);
    app.advance(Duration::days(40));
    app.run_jobs();
    assert_eq!(stalled("Contract awaiting"), 2);
}

/// Both parties sign at the same moment: both signatures count and the contract is `signed`.
#[test]
fn both_parties_signing_at_once_makes_the_contract_signed() {
    let app = start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    set_identity(&app, &w.ht.token, &w.hutang, 1);
    let barrier = Arc::new(Barrier::new(2));
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let hs: Vec<_> = [w.ht.token.clone(), d.winner().token.clone()]
            .into_iter()
            .map(|token| {
                let (client, barrier, path) = ((*app).clone(), barrier.clone(), d.path("/sign"));
                scope.spawn(move || {
                    barrier.wait();
                    let r = client.post(&path, Some(&token), json!({}));
                    (r.status, r.body)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|(st, _)| *st == 200), "{answers:?}");
    let c = contract(&app, &w, &d.contract);
    assert_eq!(c["status"], "signed");
    assert!(c["transferor_signed_at"].is_string() && c["transferee_signed_at"].is_string());
    let signed: Vec<_> = contract_stream(&app, &d.contract)
        .into_iter()
        .filter(|r| r.action.starts_with("contract.signed"))
        .map(|r| r.to_state)
        .collect();
    assert_eq!(signed, [Some("draft".into()), Some("signed".into())]);
}

/// The winner declines; the runner-up takes the deal (the collective confirming first this
/// time): the contract is the runner-up's, at its own price, with its deposit; an admin
/// certifies it.
#[test]
fn the_runner_up_who_takes_over_the_deal_gets_the_contract() {
    use crate::support::trading as tr;
    let app = start();
    let w = World::new(&app);
    let a = tr::listing(&app, &w, "50.00", RESERVE);
    let winner = tr::enrol(&app, &w, &a, tr::Plan::person("张伟"));
    let runner = tr::enrol(&app, &w, &a, tr::Plan::company("上海金农农业专业合作社"));
    app.set_now(a.starts + Duration::minutes(1));
    tr::bid_ok(&app, &runner, &a, RESERVE);
    tr::bid_ok(&app, &winner, &a, RESERVE + 3_000);
    app.set_now(a.ends + Duration::minutes(1));
    let first = s(&tr::public_deal(&app, &a)["id"]);
    ok(deal_action(&app, winner.token(), &first, "decline"));
    let d = tr::public_deal(&app, &a);
    let second = s(&d["id"]);
    assert_ne!(first, second);
    assert!(d["contract_id"].is_null());
    let r = ok(deal_action(&app, &w.ht.token, &second, "confirm"));
    assert!(
        r["contract_id"].is_null(),
        "the holder hasn't confirmed: {r}"
    );
    let r = ok(deal_action(&app, runner.token(), &second, "confirm"));
    let id = s(&r["contract_id"]);
    let c = ok(get_contract(&app, runner.inv.t(), &id));
    assert_eq!(c["deal_id"], second.as_str());
    assert_eq!(c["transferee"]["investor_id"], runner.inv.id.as_str());
    assert_eq!(c["transferee"]["legal_name"], "上海金农农业专业合作社");
    assert_eq!(c["transferee"]["id_type"], "unified_social_credit_code");
    assert_eq!(c["price_fen"], RESERVE);
    assert_eq!(c["annual_rent_fen"], 50 * RESERVE);
    // The declining winner is not a party.
    get_contract(&app, winner.inv.t(), &id).assert_problem(404, "not_found");
    act(&app, winner.inv.t(), &id, "sign", json!({})).assert_problem(404, "not_found");
    set_identity(&app, &w.ht.token, &w.hutang, 3);
    ok(act(&app, runner.inv.t(), &id, "sign", json!({})));
    ok(act(&app, w.ht.t(), &id, "sign", json!({})));
    let c = ok(act(&app, w.admin(), &id, "certify", json!({})));
    assert_eq!(c["status"], "certified");
    assert_eq!(c["certification_no"], "JD-CJ-2027-0001");
    let inst = installments(&app, &w, &id);
    assert_eq!(inst[0]["paid_fen"], DEPOSIT, "the runner-up's deposit");
    assert_eq!(
        s(
            &ok(app.get(&format!("/api/v1/registrations/{}", runner.reg), w.admin()))
                ["deposit_status"]
        ),
        "applied_to_rent"
    );
    assert_eq!(
        s(
            &ok(app.get(&format!("/api/v1/registrations/{}", winner.reg), w.admin()))
                ["deposit_status"]
        ),
        "forfeited"
    );
    verify_audit(&app);
}
