//! Deposits (保证金) when a listing ends without an auction: cancelled (by staff or an
//! admin, also racing a deposit) or failed at registration close, with the audit records and
//! e-mails of the releases.

use chrono::Duration;
use serde_json::json;

use crate::support::records::*;
use crate::support::trading::*;
use crate::support::*;

#[test]
fn a_deposit_racing_a_cancel_never_stays_confirmed() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let names = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
    ];
    for (email, name, number) in names {
        let l = listing_in(&app, &w, Stage::Announced);
        let inv = verified_investor(&app, email, name);
        let reg = apply_ok(&app, &inv, &l, person(name, number));
        let (cancel, dep) = std::thread::scope(|s| {
            let c = s.spawn(|| {
                app.post(
                    &format!("/api/v1/listings/{l}/cancel"),
                    Some(&w.cj_staff.token),
                    json!({"reason": "村集体申请撤销"}),
                )
                .status
            });
            let d = s.spawn(|| {
                registration_act(
                    &app,
                    &w.cj_staff.token,
                    &reg,
                    "deposit",
                    json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1"}),
                )
                .status
            });
            (c.join().unwrap(), d.join().unwrap())
        });
        assert_eq!(cancel, 200);
        let (_, deposit_status) = reg_status(&app, &w, &reg);
        match dep {
            200 => assert_eq!(deposit_status, "refund_due"),
            409 => assert_eq!(deposit_status, "unpaid"),
            other => panic!("deposit answered {other}"),
        }
    }
}

#[test]
fn cancelling_an_announced_listing_releases_deposits_and_tells_every_registrant() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let li = verified_investor(&app, "lina@example.cn", "李娜");
    let wang = verified_investor(&app, "wangjun@example.cn", "王军");
    let lvye = verified_investor(&app, "office@lvye-coop.cn", "绿野合作社");
    let liu = verified_investor(&app, "liuyang@example.cn", "刘洋");
    // 张伟: qualified, confirmed (eligible); 李娜: applied, confirmed; 王军: qualified, unpaid;
    // 绿野: applied, unpaid; 刘洋: rejected, refund_due.
    let a = apply_ok(&app, &zhang, &listing, person("张伟", ID_ZHANGWEI));
    let b = apply_ok(&app, &li, &listing, person("李娜", ID_LINA));
    let c = apply_ok(&app, &wang, &listing, person("王军", ID_WANGJUN));
    let d = apply_ok(
        &app,
        &lvye,
        &listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    let e = apply_ok(&app, &liu, &listing, person("刘洋", ID_LIUYANG));
    qualify(&app, &w, &a);
    deposit(&app, &w, &a);
    deposit(&app, &w, &b);
    qualify(&app, &w, &c);
    deposit(&app, &w, &e);
    reject(&app, &w, &e);
    let before: Vec<usize> = [&zhang, &li, &wang, &lvye, &liu]
        .iter()
        .map(|i| subjects_without_verification(&app, &i.email).len())
        .collect();

    app.advance(Duration::days(2));
    app.post(
        &format!("/api/v1/listings/{}/cancel", listing),
        Some(&w.cj_staff.token),
        json!({}),
    )
    .assert_field("reason");
    assert_eq!(reg_status(&app, &w, &a).1, "confirmed");
    let r = ok(app.post(
        &format!("/api/v1/listings/{}/cancel", listing),
        Some(&w.cj_staff.token),
        json!({"reason": "村集体经济组织申请撤销挂牌"}),
    ));
    assert_eq!(r["status"], "cancelled");

    assert_eq!(
        reg_status(&app, &w, &a),
        ("qualified".into(), "refund_due".into())
    );
    assert_eq!(
        reg_status(&app, &w, &b),
        ("applied".into(), "refund_due".into())
    );
    assert_eq!(
        reg_status(&app, &w, &c),
        ("qualified".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &d),
        ("applied".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &e),
        ("rejected".into(), "refund_due".into())
    );
    // Each confirmed deposit moved once, by the staff member, with the reason.
    let staff_id = ok(app.get("/api/v1/me", Some(&w.cj_staff.token)))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for reg in [&a, &b] {
        let last = trail(&app, reg).pop().unwrap();
        assert_eq!(last.action, "deposit.changed");
        assert_eq!(last.entity_type, "deposit");
        assert_eq!(last.from_state.as_deref(), Some("confirmed"));
        assert_eq!(last.to_state.as_deref(), Some("refund_due"));
        assert_eq!(last.actor_id.as_deref(), Some(staff_id.as_str()));
        assert_eq!(last.actor_role.as_deref(), Some("staff"));
        assert!(last.reason.as_deref().unwrap_or("").contains("cancel"));
        assert_eq!(last.created_at, (t0() + Duration::days(2)).naive_utc());
    }
    for reg in [&c, &d, &e] {
        assert!(
            !trail(&app, reg)
                .iter()
                .any(|x| x.created_at == (t0() + Duration::days(2)).naive_utc()),
            "{reg} moved on cancel"
        );
    }
    // Every registrant is told; those with a confirmed deposit also about the refund.
    for (i, (inv, refund_mail)) in [
        (&zhang, true),
        (&li, true),
        (&wang, false),
        (&lvye, false),
        (&liu, false),
    ]
    .into_iter()
    .enumerate()
    {
        let subjects = subjects_without_verification(&app, &inv.email);
        let new = &subjects[before[i]..];
        assert_eq!(
            new.iter()
                .filter(|s| s.ends_with("Listing cancelled"))
                .count(),
            1,
            "{}: {new:?}",
            inv.email
        );
        assert_eq!(
            new.iter()
                .filter(|s| s.ends_with("Deposit to be refunded"))
                .count(),
            usize::from(refund_mail),
            "{}: {new:?}",
            inv.email
        );
        assert_eq!(new.len(), 1 + usize::from(refund_mail), "{new:?}");
        let cancel_mail = mails_about(&app, &inv.email, "")
            .into_iter()
            .rfind(|m| m.subject.ends_with("Listing cancelled"))
            .unwrap();
        assert!(cancel_mail.body.contains("村集体经济组织申请撤销挂牌"));
    }
    // Registrants still see their registrations; staff refund after the cancel; nothing
    // else moves any more.
    assert_eq!(
        ok(get_reg(&app, &zhang.token, &a))["deposit_status"],
        "refund_due"
    );
    assert_eq!(refund(&app, &w, &a)["deposit_status"], "refunded");
    registration_act(&app, &w.cj_staff.token, &d, "qualify", json!({}))
        .assert_problem(409, "invalid_state");
    registration_act(
        &app,
        &w.cj_staff.token,
        &c,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-x"}),
    )
    .assert_problem(409, "invalid_state");
    let staff_list = ok(app.get(
        &format!("/api/v1/listings/{}/registrations", listing),
        Some(&w.cj_staff.token),
    ));
    assert_eq!(staff_list["items"].as_array().unwrap().len(), 5);
    // The cancelled listing is no longer public: its registrations are hidden from outsiders.
    app.get(
        &format!("/api/v1/listings/{}/registrations", listing),
        Some(&w.sy_staff.token),
    )
    .assert_problem(404, "not_found");

    // An admin may cancel an announced listing as well.
    let second = listing_in(&app, &w, Stage::Announced);
    let f = apply_ok(&app, &zhang, &second, person("张伟", ID_ZHANGWEI));
    deposit(&app, &w, &f);
    ok(app.post(
        &format!("/api/v1/listings/{second}/cancel"),
        Some(&w.admin),
        json!({"reason": "平台核查发现权属争议"}),
    ));
    assert_eq!(
        reg_status(&app, &w, &f),
        ("applied".into(), "refund_due".into())
    );
    let last = trail(&app, &f).pop().unwrap();
    assert_eq!(last.actor_role.as_deref(), Some("admin"));
}

/// "A read that finds a transition due performs it first": a cancel arriving after
/// registration has closed, before any read or worker pass settled the listing, must find it
/// failed (here: no eligible bidder), not announced.
#[test]
fn cancelling_after_registration_closed_finds_the_listing_settled() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let a = apply_ok(&app, &zhang, &listing, person("张伟", ID_ZHANGWEI));
    deposit(&app, &w, &a);
    app.set_now(closes_at(&app, &listing) + Duration::minutes(1));
    app.post(
        &format!("/api/v1/listings/{}/cancel", listing),
        Some(&w.cj_staff.token),
        json!({"reason": "村集体申请撤销"}),
    )
    .assert_problem(409, "invalid_state");
    let l = ok(app.get(
        &format!("/api/v1/listings/{}", listing),
        Some(&w.cj_staff.token),
    ));
    assert_eq!(l["status"], "failed");
    assert_eq!(reg_status(&app, &w, &a).1, "refund_due");
    let last = trail(&app, &a).pop().unwrap();
    assert_eq!(last.reason.as_deref(), Some("listing failed"));
}

#[test]
fn a_listing_without_eligible_bidders_fails_at_close_and_releases_deposits() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let li = verified_investor(&app, "lina@example.cn", "李娜");
    let wang = verified_investor(&app, "wangjun@example.cn", "王军");
    let lvye = verified_investor(&app, "office@lvye-coop.cn", "绿野合作社");
    // 张伟: applied, confirmed; 李娜: qualified, unpaid; 王军: rejected, refunded;
    // 绿野: applied, unpaid. Nobody is eligible.
    let a = apply_ok(&app, &zhang, &listing, person("张伟", ID_ZHANGWEI));
    let b = apply_ok(&app, &li, &listing, person("李娜", ID_LINA));
    let c = apply_ok(&app, &wang, &listing, person("王军", ID_WANGJUN));
    let d = apply_ok(
        &app,
        &lvye,
        &listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    deposit(&app, &w, &a);
    qualify(&app, &w, &b);
    deposit(&app, &w, &c);
    reject(&app, &w, &c);
    refund(&app, &w, &c);
    let counts: Vec<usize> = [&zhang, &li, &wang, &lvye]
        .iter()
        .map(|i| subjects_without_verification(&app, &i.email).len())
        .collect();
    let closes = closes_at(&app, &listing);

    // Before the close nothing happens.
    app.set_now(closes - Duration::seconds(1));
    let l = ok(app.get(&format!("/api/v1/listings/{}", listing), None));
    assert_eq!(l["status"], "announced");
    assert_eq!(reg_status(&app, &w, &a).1, "confirmed");

    // The first read after the close performs it.
    app.set_now(closes + Duration::minutes(5));
    let l = ok(app.get(&format!("/api/v1/listings/{}", listing), None));
    assert_eq!(l["status"], "failed", "{l}");
    assert_eq!(l["eligible_bidders"], 0);
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "refund_due".into())
    );
    assert_eq!(
        reg_status(&app, &w, &b),
        ("qualified".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &c),
        ("rejected".into(), "refunded".into())
    );
    assert_eq!(
        reg_status(&app, &w, &d),
        ("applied".into(), "unpaid".into())
    );
    let last = trail(&app, &a).pop().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.from_state.as_deref(),
            last.to_state.as_deref()
        ),
        ("deposit.changed", Some("confirmed"), Some("refund_due"))
    );
    assert_eq!(last.actor_id, None, "the system releases it");
    assert_eq!(last.stream, format!("listing:{}", listing));
    // Only 张伟 hears of it (about the refund); reading again changes nothing.
    ok(app.get(&format!("/api/v1/listings/{}", listing), None));
    for (i, inv) in [&zhang, &li, &wang, &lvye].iter().enumerate() {
        let subjects = subjects_without_verification(&app, &inv.email);
        let new = &subjects[counts[i]..];
        if i == 0 {
            assert_eq!(new.len(), 1, "{new:?}");
            assert!(new[0].ends_with("Deposit to be refunded"), "{new:?}");
        } else {
            assert!(new.is_empty(), "{}: {new:?}", inv.email);
        }
    }
    assert_eq!(moves(&app, &a).len(), 3);
    assert_eq!(refund(&app, &w, &a)["deposit_status"], "refunded");
}
