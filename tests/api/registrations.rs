//! Registration and qualification (报名、资格审查): the registration and deposit state
//! machines, who may see and do what, the rules of registering, races, personal data at
//! rest, audit records and e-mails, the staff list's filters and pagination, and the valid
//! ID numbers the tests use.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Duration;
use serde_json::{json, Value};

use crate::support::db;
use crate::support::harness::{resident_check, resident_id, uscc, uscc_check};
use crate::support::records::*;
use crate::support::trading::*;
use crate::support::*;

#[test]
fn register_qualify_deposit_reject_refund() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let lvye = verified_investor(&app, "office@lvye-coop.cn", "绿野合作社");
    let li = verified_investor(&app, "lina@example.cn", "李娜");

    // 张伟 registers as a member of the collective.
    let r = apply(
        &app,
        &zhang.token,
        &listing,
        registration_body("张伟", "resident_id", ID_ZHANGWEI, true),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let a = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/registrations/{a}").as_str())
    );
    let b = &r.body;
    assert_eq!(b["status"], "applied");
    assert_eq!(b["deposit_status"], "unpaid");
    assert_eq!(b["listing_id"], listing.as_str());
    assert_eq!(b["investor_id"], zhang.id.as_str());
    assert_eq!(b["legal_name"], "张伟");
    assert_eq!(b["id_type"], "resident_id");
    assert_eq!(b["id_number"], ID_ZHANGWEI);
    assert_eq!(b["id_number_masked"], "1101**********002X");
    assert_eq!(b["phone"], "13916012345");
    assert_eq!(b["claims_membership"], true);
    assert_eq!(b["member_verified"], false);
    assert!(b["deposit_amount_fen"].is_null());
    assert!(b["reject_reason"].is_null());
    assert_eq!(b["created_at"], "2027-01-10T02:00:00Z");
    // Its investor reads it back in full.
    let got = ok(get_reg(&app, &zhang.token, &a));
    assert_eq!(got["id_number"], ID_ZHANGWEI);
    assert_eq!(got["status"], "applied");

    // A cooperative registers with its unified social credit code, claiming nothing.
    let r = apply(
        &app,
        &lvye.token,
        &listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let c = r.id();
    assert_eq!(r.body["id_type"], "unified_social_credit_code");
    assert_eq!(r.body["id_number"], USCC_LVYE);
    assert_eq!(r.body["id_number_masked"], "9331**********0AB0");

    // member_verified only for a claimed membership.
    registration_act(
        &app,
        &w.cj_staff.token,
        &c,
        "qualify",
        json!({"member_verified": true}),
    )
    .assert_field("member_verified");
    assert_eq!(reg_status(&app, &w, &c).0, "applied");
    let q = ok(registration_act(
        &app,
        &w.cj_staff.token,
        &c,
        "qualify",
        json!({"member_verified": false}),
    ));
    assert_eq!(q["status"], "qualified");
    assert_eq!(q["member_verified"], false);
    let q = ok(registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "qualify",
        json!({"member_verified": true}),
    ));
    assert_eq!(q["status"], "qualified");
    assert_eq!(q["member_verified"], true);
    assert_eq!(q["deposit_status"], "unpaid");
    // Outcomes are final.
    registration_act(&app, &w.cj_staff.token, &a, "qualify", json!({}))
        .assert_problem(409, "invalid_state");
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "reject",
        json!({"reason": "重复审查"}),
    )
    .assert_problem(409, "invalid_state");

    // The deposit must be exactly the listing's.
    for amount in [DEPOSIT - 1, DEPOSIT + 1, 0, -DEPOSIT] {
        registration_act(
            &app,
            &w.cj_staff.token,
            &a,
            "deposit",
            json!({"amount_fen": amount, "receipt_ref": "ICBC-1"}),
        )
        .assert_field("amount_fen");
    }
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "deposit",
        json!({"amount_fen": "100000", "receipt_ref": "ICBC-1"}),
    )
    .assert_field("amount_fen");
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "  "}),
    )
    .assert_field("receipt_ref");
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT}),
    )
    .assert_field("receipt_ref");
    assert_eq!(reg_status(&app, &w, &a).1, "unpaid");
    // Nothing to refund before refund_due.
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "refund",
        json!({"receipt_ref": "ICBC-2"}),
    )
    .assert_problem(409, "invalid_state");
    let d = deposit(&app, &w, &a);
    assert_eq!(d["deposit_status"], "confirmed");
    assert_eq!(d["deposit_amount_fen"], DEPOSIT);
    assert_eq!(d["deposit_receipt_ref"], "ICBC-310116-20270112-0001");
    assert_eq!(d["deposit_confirmed_at"], "2027-01-10T02:00:00Z");
    assert_eq!(d["status"], "qualified");
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-3"}),
    )
    .assert_problem(409, "invalid_state");
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "refund",
        json!({"receipt_ref": "ICBC-2"}),
    )
    .assert_problem(409, "invalid_state");
    assert_eq!(
        reg_status(&app, &w, &a),
        ("qualified".into(), "confirmed".into())
    );

    // 李娜 pays while still applied, then is rejected: the deposit becomes due for refund.
    let e = apply_ok(&app, &li, &listing, person("李娜", ID_LINA));
    let d = deposit(&app, &w, &e);
    assert_eq!(d["status"], "applied");
    assert_eq!(d["deposit_status"], "confirmed");
    registration_act(
        &app,
        &w.cj_staff.token,
        &e,
        "reject",
        json!({"reason": "  "}),
    )
    .assert_field("reason");
    registration_act(&app, &w.cj_staff.token, &e, "reject", json!({})).assert_field("reason");
    let rj = reject(&app, &w, &e);
    assert_eq!(rj["status"], "rejected");
    assert_eq!(rj["reject_reason"], "经营主体资质材料不全");
    assert_eq!(rj["deposit_status"], "refund_due");
    registration_act(&app, &w.cj_staff.token, &e, "qualify", json!({}))
        .assert_problem(409, "invalid_state");
    registration_act(
        &app,
        &w.cj_staff.token,
        &e,
        "reject",
        json!({"reason": "再次驳回"}),
    )
    .assert_problem(409, "invalid_state");
    registration_act(&app, &w.cj_staff.token, &e, "refund", json!({})).assert_field("receipt_ref");
    let rf = refund(&app, &w, &e);
    assert_eq!(rf["deposit_status"], "refunded");
    assert_eq!(rf["refund_receipt_ref"], "ICBC-310116-20270125-0009");
    assert_eq!(rf["refunded_at"], "2027-01-10T02:00:00Z");
    assert_eq!(rf["status"], "rejected");
    registration_act(
        &app,
        &w.cj_staff.token,
        &e,
        "refund",
        json!({"receipt_ref": "ICBC-4"}),
    )
    .assert_problem(409, "invalid_state");
    // A rejected registration takes no deposit.
    registration_act(
        &app,
        &w.cj_staff.token,
        &e,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-5"}),
    )
    .assert_problem(409, "invalid_state");
    // An unpaid registration stays unpaid when rejected.
    let wang = verified_investor(&app, "wangjun@example.cn", "王军");
    let f = apply_ok(&app, &wang, &listing, person("王军", ID_WANGJUN));
    let rj = reject(&app, &w, &f);
    assert_eq!(rj["deposit_status"], "unpaid");
    registration_act(
        &app,
        &w.cj_staff.token,
        &f,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-6"}),
    )
    .assert_problem(409, "invalid_state");
    registration_act(
        &app,
        &w.cj_staff.token,
        &f,
        "refund",
        json!({"receipt_ref": "ICBC-7"}),
    )
    .assert_problem(409, "invalid_state");
    assert_eq!(
        reg_status(&app, &w, &f),
        ("rejected".into(), "unpaid".into())
    );

    // GET /me/registrations: one's own only, in full, over several listings.
    let second = listing_in(&app, &w, Stage::Announced);
    let a2 = apply_ok(
        &app,
        &zhang,
        &second,
        registration_body("张伟", "resident_id", ID_ZHANGWEI, false),
    );
    for (inv, want) in [
        (&zhang, vec![a.clone(), a2.clone()]),
        (&lvye, vec![c.clone()]),
        (&li, vec![e.clone()]),
        (&wang, vec![f.clone()]),
    ] {
        let r = ok(app.get("/api/v1/me/registrations", Some(&inv.token)));
        assert_eq!(sorted(ids(&r["items"])), sorted(want), "{}", inv.email);
        assert!(r["next_cursor"].is_null());
        for item in r["items"].as_array().unwrap() {
            assert_eq!(item["investor_id"], inv.id.as_str());
            assert!(item["id_number"].is_string());
        }
    }
    let fresh = verified_investor(&app, "liuyang@example.cn", "刘洋");
    let r = ok(app.get("/api/v1/me/registrations", Some(&fresh.token)));
    assert_eq!(r["items"], json!([]));
    for t in [&w.cj_staff.token, &w.ht.token, &w.admin, &w.insurer.token] {
        app.get("/api/v1/me/registrations", Some(t))
            .assert_problem(403, "forbidden");
    }
    app.get("/api/v1/me/registrations", None)
        .assert_problem(401, "unauthorized");
}

#[test]
fn registrations_are_scoped_to_their_investor_township_and_admins() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let lvye = verified_investor(&app, "office@lvye-coop.cn", "绿野合作社");
    let a = apply_ok(&app, &zhang, &listing, person("张伟", ID_ZHANGWEI));
    let b = apply_ok(
        &app,
        &lvye,
        &listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    // A confirmed deposit on B, later rejected, so that a refund is possible.
    deposit(&app, &w, &b);

    let actions: [(&str, Value); 4] = [
        ("qualify", json!({})),
        ("reject", json!({"reason": "材料不全"})),
        (
            "deposit",
            json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1"}),
        ),
        ("refund", json!({"receipt_ref": "ICBC-2"})),
    ];
    // Another investor, staff of another township, the owner collective, a collective of
    // another township and an insurer can neither see a registration nor act on it: 404.
    let outsiders = [
        ("other investor", zhang.token.as_str(), b.as_str()),
        ("other investor", lvye.token.as_str(), a.as_str()),
        ("staff of 山阳镇", w.sy_staff.token.as_str(), a.as_str()),
        ("owner collective", w.ht.token.as_str(), a.as_str()),
        ("collective of 山阳镇", w.cx.token.as_str(), a.as_str()),
        ("insurer", w.insurer.token.as_str(), a.as_str()),
    ];
    for (who, token, reg) in outsiders {
        let r = get_reg(&app, token, reg);
        assert_eq!(r.status, 404, "{who} GET: {}", r.text);
        r.assert_problem(404, "not_found");
        assert!(!r.text.contains(ID_ZHANGWEI) && !r.text.contains(USCC_LVYE));
        for (action, body) in &actions {
            let r = registration_act(&app, token, reg, action, body.clone());
            assert_eq!(r.status, 404, "{who} {action}: {}", r.text);
            r.assert_problem(404, "not_found");
        }
    }
    // Nothing moved.
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &b),
        ("applied".into(), "confirmed".into())
    );

    // Its own investor reads it but can't review or pay it itself.
    for (action, body) in &actions {
        let r = registration_act(&app, &zhang.token, &a, action, body.clone());
        assert_eq!(r.status, 403, "own {action}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    // Admins see everything but act on nothing: reviewing is the township staff's.
    let full = ok(get_reg(&app, &w.admin, &a));
    assert_eq!(full["id_number"], ID_ZHANGWEI);
    assert_eq!(full["phone"], "13916012345");
    for (action, body) in &actions {
        registration_act(&app, &w.admin, &a, action, body.clone()).assert_problem(403, "forbidden");
    }
    // The township's own staff do.
    let staff_view = ok(get_reg(&app, &w.cj_staff.token, &b));
    assert_eq!(staff_view["id_number"], USCC_LVYE);
    reject(&app, &w, &b);
    for (who, token) in [
        ("other investor", zhang.token.as_str()),
        ("staff of 山阳镇", w.sy_staff.token.as_str()),
        ("owner collective", w.ht.token.as_str()),
    ] {
        let r = registration_act(&app, token, &b, "refund", json!({"receipt_ref": "ICBC-9"}));
        assert_eq!(r.status, 404, "{who} refund: {}", r.text);
    }
    registration_act(
        &app,
        &w.admin,
        &b,
        "refund",
        json!({"receipt_ref": "ICBC-9"}),
    )
    .assert_problem(403, "forbidden");
    assert_eq!(reg_status(&app, &w, &b).1, "refund_due");
    assert_eq!(refund(&app, &w, &b)["deposit_status"], "refunded");

    // The registration list of a listing.
    let path = format!("/api/v1/listings/{}/registrations", listing);
    for token in [&w.cj_staff.token, &w.admin] {
        let r = ok(app.get(&path, Some(token)));
        assert_eq!(sorted(ids(&r["items"])), sorted(vec![a.clone(), b.clone()]));
        for item in r["items"].as_array().unwrap() {
            assert!(item["id_number"].is_string(), "{item}");
            assert!(item["phone"].is_string(), "{item}");
            assert!(item["legal_name"].is_string(), "{item}");
        }
    }
    // The owner collective: ids and states only.
    let r = app.get(&path, Some(&w.ht.token));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(ID_ZHANGWEI) && !r.text.contains(USCC_LVYE));
    assert!(!r.text.contains("13916012345") && !r.text.contains("张伟"));
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(keys, ["deposit_status", "id", "status"], "{item}");
    }
    let by_id: Vec<(String, Value, Value)> = items
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["status"].clone(),
                i["deposit_status"].clone(),
            )
        })
        .collect();
    assert!(by_id.contains(&(a.clone(), json!("applied"), json!("unpaid"))));
    assert!(by_id.contains(&(b.clone(), json!("rejected"), json!("refunded"))));
    // Everyone else who can see the (public) listing may not see its registrations.
    for (who, token) in [
        ("investor", zhang.token.as_str()),
        ("staff of 山阳镇", w.sy_staff.token.as_str()),
        ("collective of 山阳镇", w.cx.token.as_str()),
        ("insurer", w.insurer.token.as_str()),
    ] {
        let r = app.get(&path, Some(token));
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    app.get(&path, None).assert_problem(401, "unauthorized");
    // On a listing they can't see at all, the answer is 404.
    let draft = listing_in(&app, &w, Stage::Draft);
    let draft_path = format!("/api/v1/listings/{draft}/registrations");
    for token in [
        &zhang.token,
        &w.sy_staff.token,
        &w.cx.token,
        &w.insurer.token,
    ] {
        app.get(&draft_path, Some(token))
            .assert_problem(404, "not_found");
    }
    assert_eq!(
        ok(app.get(&draft_path, Some(&w.cj_staff.token)))["items"],
        json!([])
    );
    let missing = uuid::Uuid::new_v4();
    app.get(
        &format!("/api/v1/listings/{missing}/registrations"),
        Some(&w.admin),
    )
    .assert_problem(404, "not_found");
    app.get(&format!("/api/v1/registrations/{missing}"), Some(&w.admin))
        .assert_problem(404, "not_found");
    registration_act(
        &app,
        &w.cj_staff.token,
        &missing.to_string(),
        "qualify",
        json!({}),
    )
    .assert_problem(404, "not_found");
    app.get("/api/v1/registrations/not-a-uuid", Some(&w.admin))
        .assert_problem(400, "bad_request");
    registration_act(&app, &w.cj_staff.token, "not-a-uuid", "qualify", json!({}))
        .assert_problem(400, "bad_request");
    app.get(&format!("/api/v1/registrations/{a}"), None)
        .assert_problem(401, "unauthorized");
    app.post(
        &format!("/api/v1/registrations/{a}/qualify"),
        None,
        json!({}),
    )
    .assert_problem(401, "unauthorized");
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "unpaid".into())
    );
}

#[test]
fn only_verified_investors_register_and_only_once() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);

    // An unverified investor may not register; once verified it may, with the same token.
    let zhang = register_investor(&app, "zhangwei@example.cn", "张伟");
    apply(&app, &zhang.token, &listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(403, "forbidden");
    assert_eq!(registrations_stored(&app, &listing, &zhang.id), 0);
    verify_email(&app, &zhang);
    let a = apply_ok(&app, &zhang, &listing, person("张伟", ID_ZHANGWEI));

    // Once per listing, whatever the body says.
    apply(&app, &zhang.token, &listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(409, "conflict");
    apply(
        &app,
        &zhang.token,
        &listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    )
    .assert_problem(409, "conflict");
    assert_eq!(registrations_stored(&app, &listing, &zhang.id), 1);
    // ... but also after being rejected.
    reject(&app, &w, &a);
    apply(&app, &zhang.token, &listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(409, "conflict");
    assert_eq!(registrations_stored(&app, &listing, &zhang.id), 1);

    // A retry with the same Idempotency-Key gets the first answer again, not a 409.
    let wang = verified_investor(&app, "wangjun@example.cn", "王军");
    let path = format!("/api/v1/listings/{}/registrations", listing);
    let b = person("王军", ID_WANGJUN).to_string();
    let key = [("Idempotency-Key", "wangjun-registration-1")];
    let first = app.call_raw("POST", &path, Some(&wang.token), Some(b.clone()), &key);
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.call_raw("POST", &path, Some(&wang.token), Some(b), &key);
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body, first.body);
    assert_eq!(registrations_stored(&app, &listing, &wang.id), 1);
    assert_eq!(trail(&app, &first.id()).len(), 1);
    apply(&app, &wang.token, &listing, person("王军", ID_WANGJUN)).assert_problem(409, "conflict");

    // Two requests at once: one registration.
    let lvye = verified_investor(&app, "office@lvye-coop.cn", "绿野合作社");
    for round in 0..3 {
        let target = if round == 0 {
            listing.clone()
        } else {
            listing_in(&app, &w, Stage::Announced)
        };
        let results: Vec<Resp> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        apply(
                            &app,
                            &lvye.token,
                            &target,
                            company("上海金山绿野农业专业合作社", USCC_LVYE),
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}");
        for r in &results {
            if r.status == 409 {
                r.assert_problem(409, "conflict");
            }
        }
        let winner = results.iter().find(|r| r.status == 201).unwrap().id();
        assert_eq!(registrations_stored(&app, &target, &lvye.id), 1);
        let applied: Vec<_> = trail(&app, &winner)
            .into_iter()
            .filter(|a| a.action == "registration.applied")
            .collect();
        assert_eq!(applied.len(), 1);
    }
    let received = subjects_without_verification(&app, &lvye.email)
        .into_iter()
        .filter(|s| s.ends_with("Registration received"))
        .count();
    assert_eq!(received, 3, "one receipt mail per registration");
}

/// Sends the `(action, body)` requests on `reg` at once; returns the statuses in that order.
fn race(app: &TestApp, token: &str, reg: &str, reqs: &[(&str, Value)]) -> Vec<u16> {
    std::thread::scope(|s| {
        let hs: Vec<_> = reqs
            .iter()
            .map(|(action, body)| {
                s.spawn(move || registration_act(app, token, reg, action, body.clone()).status)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn racing_reviews_and_deposits_move_a_registration_once() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let pay = || json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-310116-0001"});
    let names = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
    ];
    for (round, (email, name, number)) in names.into_iter().enumerate() {
        let inv = verified_investor(&app, email, name);
        let reg = apply_ok(&app, &inv, &listing, person(name, number));
        // Qualify and reject at once: one outcome.
        let st = race(
            &app,
            &w.cj_staff.token,
            &reg,
            &[
                ("qualify", json!({})),
                ("reject", json!({"reason": "材料不全"})),
            ],
        );
        assert_eq!(sorted(st.clone()), [200, 409], "round {round}: {st:?}");
        let (status, _) = reg_status(&app, &w, &reg);
        assert_eq!(
            status,
            if st[0] == 200 {
                "qualified"
            } else {
                "rejected"
            }
        );
        let reviews = moves(&app, &reg)
            .into_iter()
            .filter(|m| m.0 != "registration.applied")
            .count();
        assert_eq!(reviews, 1, "round {round}");
        // Two deposits at once: one (or none, if rejected).
        let st = race(
            &app,
            &w.cj_staff.token,
            &reg,
            &[("deposit", pay()), ("deposit", pay())],
        );
        let deposits = moves(&app, &reg)
            .into_iter()
            .filter(|m| m.0 == "deposit.changed")
            .count();
        if status == "qualified" {
            assert_eq!(sorted(st.clone()), [200, 409], "round {round}: {st:?}");
            assert_eq!(deposits, 1);
        } else {
            assert_eq!(st, [409, 409], "round {round}");
            assert_eq!(deposits, 0);
        }
    }
    // Two refunds at once: one.
    let liu = verified_investor(&app, "liuyang@example.cn", "刘洋");
    let reg = apply_ok(&app, &liu, &listing, person("刘洋", ID_LIUYANG));
    deposit(&app, &w, &reg);
    reject(&app, &w, &reg);
    let refund_body = || json!({"receipt_ref": "ICBC-310116-0002"});
    let st = race(
        &app,
        &w.cj_staff.token,
        &reg,
        &[("refund", refund_body()), ("refund", refund_body())],
    );
    assert_eq!(sorted(st.clone()), [200, 409], "{st:?}");
    assert_eq!(
        moves(&app, &reg).last().unwrap(),
        &mv("deposit.changed", "refund_due", "refunded")
    );
    assert_eq!(
        subjects_without_verification(&app, &liu.email)
            .iter()
            .filter(|s| s.ends_with("Deposit refunded"))
            .count(),
        1
    );
}

#[test]
fn only_investors_register() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    for (who, token) in [
        ("owner collective", w.ht.token.as_str()),
        ("collective of 山阳镇", w.cx.token.as_str()),
        ("staff", w.cj_staff.token.as_str()),
        ("staff of 山阳镇", w.sy_staff.token.as_str()),
        ("admin", w.admin.as_str()),
        ("insurer", w.insurer.token.as_str()),
    ] {
        let r = apply(&app, token, &listing, person("张伟", ID_ZHANGWEI));
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    apply(&app, "not-a-token", &listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(401, "unauthorized");
    app.post(
        &format!("/api/v1/listings/{}/registrations", listing),
        None,
        person("张伟", ID_ZHANGWEI),
    )
    .assert_problem(401, "unauthorized");
    let staff_list = ok(app.get(
        &format!("/api/v1/listings/{}/registrations", listing),
        Some(&w.cj_staff.token),
    ));
    assert_eq!(staff_list["items"], json!([]));
}

#[test]
fn registration_bodies_are_validated() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let with = |k: &str, v: Value| {
        let mut b = person("张伟", ID_ZHANGWEI);
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = person("张伟", ID_ZHANGWEI);
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        // Wrong check characters.
        (with("id_number", json!("110105194912310021")), "id_number"),
        (with("id_number", json!("310116198001011235")), "id_number"),
        (
            company("上海金山绿野农业专业合作社", "93310116MA1G000AB1"),
            "id_number",
        ),
        (company("福建某公司", "91350100M000100Y44"), "id_number"),
        // Wrong shapes: length, alphabet, a code of the other type.
        (with("id_number", json!("1101051949123100")), "id_number"),
        (with("id_number", json!("11010519491231002X1")), "id_number"),
        (with("id_number", json!("A1010519491231002X")), "id_number"),
        (company("福建某公司", "91350100M000100YI3"), "id_number"),
        (with("id_number", json!(USCC_LVYE)), "id_number"),
        (company("福建某公司", ID_ZHANGWEI), "id_number"),
        (with("id_number", json!("")), "id_number"),
        (with("id_type", json!("passport")), "id_type"),
        (with("legal_name", json!("   ")), "legal_name"),
        (with("legal_name", json!("张".repeat(201))), "legal_name"),
        (with("phone", json!("call me")), "phone"),
        (with("experience", json!("稻".repeat(5001))), "experience"),
        (
            with("business_plan", json!("稻".repeat(10001))),
            "business_plan",
        ),
        (with("claims_membership", json!("yes")), "claims_membership"),
        (without("id_number"), "id_number"),
        (without("claims_membership"), "claims_membership"),
        // Nothing can be smuggled in.
        (with("status", json!("qualified")), "status"),
        (with("deposit_status", json!("confirmed")), "deposit_status"),
        (with("member_verified", json!(true)), "member_verified"),
        (with("investor_id", json!(w.admin)), "investor_id"),
    ];
    for (b, field) in cases {
        let r = apply(&app, &zhang.token, &listing, b.clone());
        assert_eq!(r.status, 422, "{b}: {}", r.text);
        r.assert_field(field);
    }
    app.call_raw(
        "POST",
        &format!("/api/v1/listings/{}/registrations", listing),
        Some(&zhang.token),
        Some("{\"legal_name\":".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
    app.post(
        "/api/v1/listings/not-a-uuid/registrations",
        Some(&zhang.token),
        person("张伟", ID_ZHANGWEI),
    )
    .assert_problem(400, "bad_request");
    assert_eq!(registrations_stored(&app, &listing, &zhang.id), 0);
    assert!(subjects_without_verification(&app, &zhang.email).is_empty());

    // A lower-case check character is the same ID.
    let r = apply(
        &app,
        &zhang.token,
        &listing,
        with("id_number", json!("11010519491231002x")),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id_number"], ID_ZHANGWEI);
    let reg = r.id();

    // Staff bodies are checked too.
    registration_act(
        &app,
        &w.cj_staff.token,
        &reg,
        "qualify",
        json!({"status": "qualified"}),
    )
    .assert_field("status");
    registration_act(
        &app,
        &w.cj_staff.token,
        &reg,
        "qualify",
        json!({"member_verified": "yes"}),
    )
    .assert_field("member_verified");
    registration_act(
        &app,
        &w.cj_staff.token,
        &reg,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1", "deposit_status": "refunded"}),
    )
    .assert_field("deposit_status");
    registration_act(
        &app,
        &w.cj_staff.token,
        &reg,
        "reject",
        json!({"reason": "材料不全", "status": "qualified"}),
    )
    .assert_field("status");
    app.call_raw(
        "POST",
        &format!("/api/v1/registrations/{reg}/qualify"),
        Some(&w.cj_staff.token),
        Some("{".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
    assert_eq!(
        reg_status(&app, &w, &reg),
        ("applied".into(), "unpaid".into())
    );
    // An action without parameters takes an empty body.
    let r = app.call_raw(
        "POST",
        &format!("/api/v1/registrations/{reg}/qualify"),
        Some(&w.cj_staff.token),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "qualified");
}

#[test]
fn only_announced_listings_take_registrations() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let b = || person("张伟", ID_ZHANGWEI);

    // Drafts and submitted listings are invisible to investors: 404.
    let draft = listing_in(&app, &w, Stage::Draft);
    let submitted = listing_in(&app, &w, Stage::Submitted);
    for l in [&draft, &submitted] {
        apply(&app, &zhang.token, l, b()).assert_problem(404, "not_found");
        // Those who can see it are no investors.
        for t in [&w.cj_staff.token, &w.ht.token, &w.admin] {
            apply(&app, t, l, b()).assert_problem(403, "forbidden");
        }
        // An outsider still gets 404.
        apply(&app, &w.sy_staff.token, l, b()).assert_problem(404, "not_found");
    }
    let missing = uuid::Uuid::new_v4().to_string();
    apply(&app, &zhang.token, &missing, b()).assert_problem(404, "not_found");

    // A cancelled listing is invisible again.
    let cancelled = listing_in(&app, &w, Stage::Announced);
    ok(app.post(
        &format!("/api/v1/listings/{cancelled}/cancel"),
        Some(&w.cj_staff.token),
        json!({"reason": "村集体申请撤销"}),
    ));
    apply(&app, &zhang.token, &cancelled, b()).assert_problem(404, "not_found");

    // The announced one takes registrations until registration closes, exclusive.
    let closes = closes_at(&app, &listing);
    app.set_now(closes - Duration::seconds(1));
    let a = apply_ok(&app, &zhang, &listing, b());
    let lvye = verified_investor(&app, "office@lvye-coop.cn", "绿野合作社");
    app.set_now(closes);
    apply(
        &app,
        &lvye.token,
        &listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    )
    .assert_problem(409, "invalid_state");
    // No eligible bidder: the listing failed, and it is public, so this is 409 as well.
    let l = app.get(&format!("/api/v1/listings/{}", listing), None);
    assert_eq!(l.body["status"], "failed", "{}", l.text);
    app.advance(Duration::days(3));
    apply(
        &app,
        &lvye.token,
        &listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    )
    .assert_problem(409, "invalid_state");
    assert_eq!(registrations_stored(&app, &listing, &lvye.id), 0);
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "unpaid".into())
    );
}

#[test]
fn reviews_and_deposits_stop_when_registration_closes() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let closes = closes_at(&app, &listing);
    let names = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
        ("liuyang@example.cn", "刘洋", ID_LIUYANG),
    ];
    let regs: Vec<String> = names
        .iter()
        .map(|(email, name, id)| {
            let inv = verified_investor(&app, email, name);
            apply_ok(&app, &inv, &listing, person(name, id))
        })
        .collect();
    let [q, d, r, open] = [&regs[0], &regs[1], &regs[2], &regs[3]];
    // One second before the close all of this still works (without making anybody eligible).
    app.set_now(closes - Duration::seconds(1));
    qualify(&app, &w, q);
    deposit(&app, &w, d);
    reject(&app, &w, r);
    // From the close on, the set of eligible bidders is fixed.
    app.set_now(closes);
    for (reg, action, body) in [
        (open, "qualify", json!({})),
        (open, "reject", json!({"reason": "逾期"})),
        (
            open,
            "deposit",
            json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-late"}),
        ),
        (
            q,
            "deposit",
            json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-late"}),
        ),
        (d, "qualify", json!({})),
        (d, "reject", json!({"reason": "逾期"})),
    ] {
        let resp = registration_act(&app, &w.cj_staff.token, reg, action, body);
        assert_eq!(resp.status, 409, "{action} after close: {}", resp.text);
        resp.assert_problem(409, "invalid_state");
    }
    assert_eq!(
        reg_status(&app, &w, open),
        ("applied".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, q),
        ("qualified".into(), "unpaid".into())
    );
    // The confirmed deposit of an unqualified registration is released at the close.
    assert_eq!(
        reg_status(&app, &w, d),
        ("applied".into(), "refund_due".into())
    );
    // Refunds go on after the close.
    assert_eq!(refund(&app, &w, d)["deposit_status"], "refunded");
    let l = ok(app.get(&format!("/api/v1/listings/{}", listing), None));
    assert_eq!(l["status"], "failed");
    assert_eq!(l["eligible_bidders"], 0);
}

#[test]
fn id_numbers_are_encrypted_at_rest_and_never_audited_or_mailed() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let people = [
        ("zhangwei@example.cn", "张伟", "resident_id", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", "resident_id", ID_LINA),
        ("zhaomin@example.cn", "赵敏", "resident_id", ID_ZHAOMIN),
        (
            "office@lvye-coop.cn",
            "上海金山绿野农业专业合作社",
            "unified_social_credit_code",
            USCC_LVYE,
        ),
        (
            "office@jinnong.cn",
            "上海金农生态农业有限公司",
            "unified_social_credit_code",
            USCC_JINNONG,
        ),
        (
            "office@minnong.cn",
            "福建闽农农业发展有限公司",
            "unified_social_credit_code",
            USCC_FUJIAN,
        ),
    ];
    let second = listing_in(&app, &w, Stage::Announced);
    let mut regs = Vec::new();
    for (i, (email, name, id_type, number)) in people.iter().enumerate() {
        let inv = verified_investor(&app, email, name);
        let reg = apply_ok(
            &app,
            &inv,
            &listing,
            registration_body(name, id_type, number, i == 0),
        );
        regs.push(reg);
        apply_ok(
            &app,
            &inv,
            &second,
            registration_body(name, id_type, number, false),
        );
    }
    // Every kind of change, on both listings.
    ok(registration_act(
        &app,
        &w.cj_staff.token,
        &regs[0],
        "qualify",
        json!({"member_verified": true}),
    ));
    deposit(&app, &w, &regs[1]);
    deposit(&app, &w, &regs[2]);
    reject(&app, &w, &regs[2]);
    refund(&app, &w, &regs[2]);
    reject(&app, &w, &regs[3]);
    deposit(&app, &w, &regs[4]);
    ok(app.post(
        &format!("/api/v1/listings/{second}/cancel"),
        Some(&w.cj_staff.token),
        json!({"reason": "村集体申请撤销"}),
    ));
    app.set_now(closes_at(&app, &listing) + Duration::minutes(1));
    assert_eq!(
        ok(app.get(&format!("/api/v1/listings/{}", listing), None))["status"],
        "failed"
    );
    refund(&app, &w, &regs[1]);

    let plain: Vec<&str> = people.iter().map(|p| p.3).collect();
    let leaks = |text: &str| -> Vec<String> {
        plain
            .iter()
            .filter(|p| text.contains(**p) || text.contains(&p.to_ascii_lowercase()))
            .map(|p| p.to_string())
            .collect()
    };
    // The registrations table: ciphertext that is not the number, not its base64, and
    // doesn't decode to it; the masked form is the only readable one.
    let rows: Vec<(String, String, String)> = db::lines(
        app.pool(),
        "SELECT id || ' ' || id_number_enc || ' ' || id_number_masked AS line FROM registrations",
    )
    .iter()
    .map(|l| {
        let v: Vec<&str> = l.split(' ').collect();
        assert_eq!(v.len(), 3, "{l}");
        (v[0].to_string(), v[1].to_string(), v[2].to_string())
    })
    .collect();
    assert_eq!(rows.len(), 2 * people.len());
    let mut seen = HashSet::new();
    for (id, enc, masked) in &rows {
        assert!(
            leaks(enc).is_empty(),
            "{id}: plaintext in id_number_enc {enc}"
        );
        for p in &plain {
            assert!(!enc.contains(&STANDARD.encode(p)), "{id}: base64 of {p}");
            assert!(!enc.contains(&hex(p.as_bytes())), "{id}: hex of {p}");
        }
        if let Ok(raw) = STANDARD.decode(enc) {
            let raw = String::from_utf8_lossy(&raw).to_string();
            assert!(leaks(&raw).is_empty(), "{id}: decodes to plaintext");
        }
        assert!(leaks(masked).is_empty(), "{id}: {masked}");
        assert!(masked.contains("**********"), "{masked}");
        assert!(
            seen.insert(enc.clone()),
            "same ciphertext twice: no random nonce"
        );
    }
    // Every column of every row of every table, too (the audit log and the outbox among
    // them).
    let audit = db::rows_as_text(app.pool(), "audit_log");
    assert!(audit.len() > 20, "{} audit records", audit.len());
    for table in db::tables(app.pool()) {
        let rows = db::rows_as_text(app.pool(), &table);
        if table == "registrations" {
            assert_eq!(rows.len(), 2 * people.len());
        }
        for row in rows {
            assert!(leaks(&row).is_empty(), "{table}: {row}");
        }
    }
    let outbox = app.outbox();
    assert!(outbox.len() > 20, "{} mails", outbox.len());
    for m in &outbox {
        assert!(
            leaks(&format!("{} {} {}", m.to_addr, m.subject, m.body)).is_empty(),
            "mail: {m:?}"
        );
    }
    // ... nor the mail the relay writes out.
    app.run_jobs();
    let dir = std::path::Path::new(&app.settings.mail.file_dir);
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).to_string();
        assert!(leaks(&text).is_empty(), "mail file: {text}");
        files += 1;
    }
    assert!(files > 0);
    // Lists readable by the owner collective and the public never show them.
    for (path, token) in [
        (
            format!("/api/v1/listings/{}/registrations", listing),
            Some(w.ht.token.as_str()),
        ),
        (format!("/api/v1/listings/{}", listing), None),
        ("/api/v1/listings".to_string(), None),
    ] {
        let r = app.get(&path, token);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(leaks(&r.text).is_empty(), "{path}: {}", r.text);
    }
    // The registrant still reads its own in full.
    let zhang = app.login("zhangwei@example.cn", PW);
    assert_eq!(
        ok(get_reg(&app, &zhang, &regs[0]))["id_number"],
        ID_ZHANGWEI
    );
}

/// Responses stored for `Idempotency-Key` replays carry the registration in full; they are
/// data at rest like any other.
#[test]
fn idempotency_store_keeps_no_plaintext_id_numbers() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let path = format!("/api/v1/listings/{}/registrations", listing);
    let key = [("Idempotency-Key", "zhangwei-registration-1")];
    let b = person("张伟", ID_ZHANGWEI).to_string();
    let r = app.call_raw("POST", &path, Some(&zhang.token), Some(b.clone()), &key);
    assert_eq!(r.status, 201, "{}", r.text);
    let reg = r.id();
    let key = [("Idempotency-Key", "caojing-deposit-1")];
    let r = app.call_raw(
        "POST",
        &format!("/api/v1/registrations/{reg}/deposit"),
        Some(&w.cj_staff.token),
        Some(json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1"}).to_string()),
        &key,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let stored = db::lines(
        app.pool(),
        "SELECT COALESCE(response_body, '') AS line FROM idempotency_keys",
    );
    assert_eq!(stored.len(), 2);
    for body in &stored {
        assert!(!body.contains(ID_ZHANGWEI), "stored response: {body}");
    }
    // Replays still give the registrant its number.
    let key = [("Idempotency-Key", "zhangwei-registration-1")];
    let again = app.call_raw("POST", &path, Some(&zhang.token), Some(b), &key);
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id_number"], ID_ZHANGWEI);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_change_is_audited_and_mailed_to_the_investor() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let li = verified_investor(&app, "lina@example.cn", "李娜");
    let staff_id = ok(app.get("/api/v1/me", Some(&w.cj_staff.token)))["id"]
        .as_str()
        .unwrap()
        .to_string();

    let a = apply_ok(
        &app,
        &zhang,
        &listing,
        registration_body("张伟", "resident_id", ID_ZHANGWEI, true),
    );
    app.advance(Duration::hours(1));
    ok(registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "qualify",
        json!({"member_verified": true}),
    ));
    app.advance(Duration::hours(1));
    deposit(&app, &w, &a);
    assert_eq!(
        moves(&app, &a),
        [
            mv("registration.applied", "none", "applied"),
            mv("registration.qualified", "applied", "qualified"),
            mv("deposit.changed", "unpaid", "confirmed"),
        ]
    );
    let t = trail(&app, &a);
    assert_eq!(t[0].actor_id.as_deref(), Some(zhang.id.as_str()));
    assert_eq!(t[0].actor_role.as_deref(), Some("investor"));
    assert_eq!(t[0].entity_type, "registration");
    assert_eq!(t[0].created_at, t0().naive_utc());
    for x in &t[1..] {
        assert_eq!(x.actor_id.as_deref(), Some(staff_id.as_str()));
        assert_eq!(x.actor_role.as_deref(), Some("staff"));
    }
    assert_eq!(t[1].entity_type, "registration");
    assert_eq!(t[2].entity_type, "deposit");
    assert_eq!(t[2].created_at, (t0() + Duration::hours(2)).naive_utc());
    // All on the listing's stream, chained.
    for x in &t {
        assert_eq!(x.stream, format!("listing:{}", listing));
        assert_eq!(x.entity_id, a);
    }
    assert!(t.windows(2).all(|p| p[0].seq < p[1].seq));
    let subjects = subjects_without_verification(&app, &zhang.email);
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    for (s, end) in subjects.iter().zip([
        "Registration received",
        "Registration qualified",
        "Deposit confirmed",
    ]) {
        assert!(s.ends_with(end), "{s} / {end}");
    }

    // Refused attempts leave no trace.
    let n_audit = trail(&app, &a).len();
    let n_mail = app.outbox().len();
    registration_act(&app, &w.cj_staff.token, &a, "qualify", json!({}))
        .assert_problem(409, "invalid_state");
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-x"}),
    )
    .assert_problem(409, "invalid_state");
    registration_act(
        &app,
        &w.cj_staff.token,
        &a,
        "refund",
        json!({"receipt_ref": "ICBC-x"}),
    )
    .assert_problem(409, "invalid_state");
    registration_act(&app, &w.admin, &a, "reject", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    assert_eq!(trail(&app, &a).len(), n_audit);
    assert_eq!(app.outbox().len(), n_mail);

    // Rejected with a confirmed deposit, then refunded.
    let b = apply_ok(&app, &li, &listing, person("李娜", ID_LINA));
    let n_mail = app.outbox().len();
    registration_act(
        &app,
        &w.cj_staff.token,
        &b,
        "deposit",
        json!({"amount_fen": 1, "receipt_ref": "ICBC-x"}),
    )
    .assert_field("amount_fen");
    assert_eq!(app.outbox().len(), n_mail);
    deposit(&app, &w, &b);
    reject(&app, &w, &b);
    refund(&app, &w, &b);
    assert_eq!(
        moves(&app, &b),
        [
            mv("registration.applied", "none", "applied"),
            mv("deposit.changed", "unpaid", "confirmed"),
            mv("registration.rejected", "applied", "rejected"),
            mv("deposit.changed", "confirmed", "refund_due"),
            mv("deposit.changed", "refund_due", "refunded"),
        ]
    );
    let t = trail(&app, &b);
    assert_eq!(t[2].reason.as_deref(), Some("经营主体资质材料不全"));
    assert!(t[3].reason.is_some());
    assert!(t[1..]
        .iter()
        .all(|x| x.actor_role.as_deref() == Some("staff")));
    let subjects = subjects_without_verification(&app, &li.email);
    let want = [
        "Registration received",
        "Deposit confirmed",
        "Registration rejected",
        "Deposit to be refunded",
        "Deposit refunded",
    ];
    assert_eq!(subjects.len(), want.len(), "{subjects:?}");
    for (s, end) in subjects.iter().zip(want) {
        assert!(s.ends_with(end), "{s} / {end}");
    }
    let rejected = mails_about(&app, &li.email, "")
        .into_iter()
        .find(|m| m.subject.ends_with("Registration rejected"))
        .unwrap();
    assert!(
        rejected.body.contains("经营主体资质材料不全"),
        "{}",
        rejected.body
    );
    assert!(rejected.body.starts_with("您好："), "{}", rejected.body);
    assert!(rejected.body.contains("“李娜”"), "{}", rejected.body);
    // Nobody else got mail about these registrations.
    for m in app.outbox() {
        if m.subject.contains("Registration") || m.subject.contains("Deposit") {
            assert!(
                m.to_addr == zhang.email || m.to_addr == li.email,
                "{} got {}",
                m.to_addr,
                m.subject
            );
        }
    }
}

#[test]
fn staff_list_filters_and_pages() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let people = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
        ("liuyang@example.cn", "刘洋", ID_LIUYANG),
        ("zhaomin@example.cn", "赵敏", ID_ZHAOMIN),
    ];
    let mut regs = Vec::new();
    for (email, name, id) in people {
        let inv = verified_investor(&app, email, name);
        regs.push(apply_ok(&app, &inv, &listing, person(name, id)));
    }
    // Registrations of another listing never show up.
    let other = listing_in(&app, &w, Stage::Announced);
    let lvye = verified_investor(&app, "office@lvye-coop.cn", "绿野合作社");
    apply_ok(
        &app,
        &lvye,
        &other,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    // 0: qualified, unpaid; 1: qualified, unpaid; 2: applied, confirmed;
    // 3: rejected, refund_due; 4: applied, unpaid.
    qualify(&app, &w, &regs[0]);
    qualify(&app, &w, &regs[1]);
    deposit(&app, &w, &regs[2]);
    deposit(&app, &w, &regs[3]);
    reject(&app, &w, &regs[3]);

    let base = format!("/api/v1/listings/{}/registrations", listing);
    let pick = |idx: &[usize]| sorted(idx.iter().map(|i| regs[*i].clone()).collect());
    for (query, want) in [
        ("", pick(&[0, 1, 2, 3, 4])),
        ("?status=applied", pick(&[2, 4])),
        ("?status=qualified", pick(&[0, 1])),
        ("?status=rejected", pick(&[3])),
        ("?deposit_status=unpaid", pick(&[0, 1, 4])),
        ("?deposit_status=confirmed", pick(&[2])),
        ("?deposit_status=refund_due", pick(&[3])),
        ("?deposit_status=refunded", vec![]),
        ("?status=applied&deposit_status=unpaid", pick(&[4])),
        ("?status=qualified&deposit_status=confirmed", vec![]),
    ] {
        let path = format!("{base}{query}");
        for token in [&w.cj_staff.token, &w.admin] {
            let page = ok(app.get(&path, Some(token)));
            assert_eq!(sorted(ids(&page["items"])), want, "{query}");
            assert!(page["next_cursor"].is_null());
            for item in page["items"].as_array().unwrap() {
                assert_eq!(item["listing_id"], listing.as_str());
            }
            // limit=1 walks all of them, each exactly once.
            let walked = walk(&app, Some(token), &path, 1);
            assert_eq!(walked.len(), want.len(), "{query}: {walked:?}");
            assert_eq!(sorted(walked), want, "{query}");
        }
    }
    // The owner collective pages through summaries the same way, and may filter.
    let walked = walk(&app, Some(&w.ht.token), &base, 1);
    assert_eq!(sorted(walked), pick(&[0, 1, 2, 3, 4]));
    let page = ok(app.get(&format!("{base}?status=rejected"), Some(&w.ht.token)));
    assert_eq!(
        page["items"],
        json!([{"id": regs[3], "status": "rejected", "deposit_status": "refund_due"}])
    );
    // Pages of two.
    let first = ok(app.get(&format!("{base}?limit=2"), Some(&w.cj_staff.token)));
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let c = first["next_cursor"].as_str().unwrap();
    let second = ok(app.get(
        &format!("{base}?limit=2&cursor={c}"),
        Some(&w.cj_staff.token),
    ));
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    let c = second["next_cursor"].as_str().unwrap();
    let third = ok(app.get(
        &format!("{base}?limit=2&cursor={c}"),
        Some(&w.cj_staff.token),
    ));
    assert_eq!(third["items"].as_array().unwrap().len(), 1);
    assert!(third["next_cursor"].is_null());
    let mut all = ids(&first["items"]);
    all.extend(ids(&second["items"]));
    all.extend(ids(&third["items"]));
    assert_eq!(sorted(all), pick(&[0, 1, 2, 3, 4]));
    // Bad queries.
    for q in ["?limit=0", "?limit=201"] {
        app.get(&format!("{base}{q}"), Some(&w.cj_staff.token))
            .assert_field("limit");
    }
    for q in [
        "?limit=abc",
        "?cursor=not-a-cursor",
        "?status=approved",
        "?deposit_status=paid",
    ] {
        app.get(&format!("{base}{q}"), Some(&w.cj_staff.token))
            .assert_problem(400, "bad_request");
    }
    // /me/registrations pages too.
    let mut mine = Vec::new();
    for _ in 0..3 {
        let l = listing_in(&app, &w, Stage::Announced);
        mine.push(apply_ok(
            &app,
            &lvye,
            &l,
            company("上海金山绿野农业专业合作社", USCC_LVYE),
        ));
    }
    let walked = walk(&app, Some(&lvye.token), "/api/v1/me/registrations", 1);
    assert_eq!(walked.len(), 4);
    assert_eq!(walked.iter().collect::<HashSet<_>>().len(), 4);
    for id in &mine {
        assert!(walked.contains(id));
    }
}

#[test]
fn id_helpers_reproduce_published_check_characters() {
    assert_eq!(resident_check("11010519491231002"), 'X');
    assert_eq!(resident_check("31011619800101123"), '4');
    assert_eq!(uscc_check("91350100M000100Y4"), '3');
    assert_eq!(uscc_check("91310116MA1K3CJ20"), 'P');
    assert_eq!(resident_id(7).len(), 18);
    assert_eq!(uscc(7).len(), 18);
}
