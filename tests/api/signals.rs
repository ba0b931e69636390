//! Collusion signals (围标、串标): one township scenario that raises every kind once, each
//! checked against its evidence worked out by hand, beside a clean control listing that raises
//! none; the window and paging; and who may read signals (the township's staff and admins).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::support::harness::resident_id;
use crate::support::signals::*;
use crate::support::trading::*;
use crate::support::*;

/// A registration as evidence names it.
fn reg_ref(b: &Bidder, a: &Auction, no: &str, investor_name: &str, p: &Person) -> Value {
    json!({
        "registration_id": b.reg,
        "listing_id": a.id,
        "listing_no": no,
        "investor_id": b.inv.id,
        "investor_name": investor_name,
        "legal_name": p.legal_name,
        "id_number_masked": p.masked(),
    })
}

fn listing_ref(a: &Auction, no: &str) -> Value {
    json!({"listing_id": a.id, "listing_no": no})
}

fn sorted_ids(v: &[&String]) -> Vec<String> {
    sorted(v.iter().map(|x| x.to_string()).collect())
}

/// Sorts JSON objects by the string at `key`.
fn by(mut v: Vec<Value>, key: &str) -> Vec<Value> {
    v.sort_by(|a, b| s(&a[key]).cmp(&s(&b[key])));
    v
}

/// The only signal of `kind` in a page.
fn one<'a>(page: &'a Value, kind: &str) -> &'a Value {
    let found = of_kind(page, kind);
    assert_eq!(found.len(), 1, "{kind} in {page:#}");
    found[0]
}

#[test]
fn a_township_scenario_raises_each_signal_with_its_evidence_and_a_clean_listing_none() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let staff = w.cj_staff.t();
    let [l1, l2, l3, l4, l5, l6] = [0; 6].map(|_| listing(&app, &w, "50.00", RESERVE));
    let no = |a: &Auction| s(&view(&app, a)["listing_no"]);
    let [n1, n2, n3, n4, n5, n6] = [&l1, &l2, &l3, &l4, &l5, &l6].map(no);

    // The cast: every legal person its own ID number and phone, except where a signal wants
    // them shared.
    let id = || resident_id(w.next());
    let chen = Person::new("陈军", id(), "13900000001");
    let lin = Person::new("林芳", id(), "13900000002");
    let zhou = Person::new("周强", id(), "13900000003");
    let wang = Person::new("王海", id(), "13900000004");
    let li = Person::new("李娜", id(), "13900000005");
    let zhao = Person::new("赵敏", id(), "13900000006");
    let wu = Person::new("吴刚", id(), "+86-137-0000-1111");
    let zheng = Person::new("郑丽", id(), "13700001111");
    let xu = Person::new("徐涛", id(), "13900000007");
    let yang = Person::new("杨洁", id(), "13900000008");
    let zhu = Person::new("朱磊", id(), "13900000009");
    let c_acct = new_investor(&app, &w, "陈军");
    let f_acct = new_investor(&app, &w, "林芳");
    let z1_acct = new_investor(&app, &w, "周强");
    let z2_acct = new_investor(&app, &w, "周强（新账户）");
    let [w_acct, r_acct, t_acct, g_acct, h_acct, x_acct, y_acct, u_acct] = [
        "王海", "李娜", "赵敏", "吴刚", "郑丽", "徐涛", "杨洁", "朱磊",
    ]
    .map(|name| new_investor(&app, &w, name));

    // L1, L2: 陈军 and 林芳 with 周强, who registers from a different account each time.
    let c1 = eligible_as(&app, &l1, &c_acct, &chen);
    let f1 = eligible_as(&app, &l1, &f_acct, &lin);
    let z1 = eligible_as(&app, &l1, &z1_acct, &zhou);
    let c2 = eligible_as(&app, &l2, &c_acct, &chen);
    let f2 = eligible_as(&app, &l2, &f_acct, &lin);
    let z2 = eligible_as(&app, &l2, &z2_acct, &zhou);
    // L3: 陈军 and 林芳 alone (their third listing together); 林芳 will never bid.
    let c3 = eligible_as(&app, &l3, &c_acct, &chen);
    let f3 = eligible_as(&app, &l3, &f_acct, &lin);
    // L4: a contest whose winner and runner-up both walk away.
    let w4 = eligible_as(&app, &l4, &w_acct, &wang);
    let r4 = eligible_as(&app, &l4, &r_acct, &li);
    let t4 = eligible_as(&app, &l4, &t_acct, &zhao);
    // L5: two legal persons, one phone (written two ways); never qualified.
    let g5 = apply_as(&app, &l5, &g_acct, &wu);
    let h5 = apply_as(&app, &l5, &h_acct, &zheng);
    // L6, the control: three bidders of their own, all bidding, won well above the reserve.
    let x6 = eligible_as(&app, &l6, &x_acct, &xu);
    let y6 = eligible_as(&app, &l6, &y_acct, &yang);
    let u6 = eligible_as(&app, &l6, &u_acct, &zhu);

    app.set_now(l1.starts + Duration::minutes(5));
    for (a, c, f, z) in [(&l1, &c1, &f1, &z1), (&l2, &c2, &f2, &z2)] {
        bid_ok(&app, c, a, RESERVE);
        bid_ok(&app, f, a, RESERVE + INCREMENT);
        bid_ok(&app, c, a, RESERVE + 2 * INCREMENT);
        bid_ok(&app, z, a, RESERVE + 3 * INCREMENT);
    }
    bid_ok(&app, &c3, &l3, RESERVE);
    bid_ok(&app, &t4, &l4, RESERVE);
    bid_ok(&app, &r4, &l4, RESERVE + INCREMENT);
    bid_ok(&app, &t4, &l4, RESERVE + 2 * INCREMENT);
    bid_ok(&app, &r4, &l4, RESERVE + 3 * INCREMENT);
    bid_ok(&app, &w4, &l4, RESERVE + 4 * INCREMENT);
    bid_ok(&app, &x6, &l6, RESERVE);
    bid_ok(&app, &y6, &l6, RESERVE + INCREMENT);
    bid_ok(&app, &u6, &l6, RESERVE + 2 * INCREMENT);
    bid_ok(&app, &x6, &l6, RESERVE + 3 * INCREMENT);

    app.set_now(l1.ends + Duration::minutes(1));
    for a in [&l1, &l2, &l3, &l4, &l6] {
        assert_eq!(view(&app, a)["status"], "awarded");
    }
    assert_eq!(view(&app, &l5)["status"], "failed", "no eligible bidder");
    let d3 = public_deal(&app, &l3);
    assert_eq!(d3["price_fen"], RESERVE);
    // L4: the winner declines, then the runner-up; the collective relists.
    let d41 = s(&public_deal(&app, &l4)["id"]);
    let declined1: DateTime<Utc> = l4.ends + Duration::hours(2);
    app.set_now(declined1);
    ok(deal_action(&app, w4.token(), &d41, "decline"));
    let d42 = public_deal(&app, &l4);
    assert_eq!(d42["round"], 2);
    assert_eq!(d42["price_fen"], RESERVE + 3 * INCREMENT);
    let d42 = s(&d42["id"]);
    let declined2 = declined1 + Duration::hours(3);
    app.set_now(declined2);
    ok(deal_action(&app, r4.token(), &d42, "decline"));
    assert_eq!(view(&app, &l4)["status"], "failed");
    let relist = app.post(
        &l4.path("/relist"),
        w.ht.t(),
        json!({
            "registration_closes_at": rfc(app.now() + Duration::days(12)),
            "auction_starts_at": rfc(app.now() + Duration::days(13)),
            "auction_ends_at": rfc(app.now() + Duration::days(13) + Duration::hours(1)),
        }),
    );
    let relisted = created(&relist, "relist");

    // ---- the township: six signals, one of each kind ----
    let page = ok(township_signals(&app, staff, &w.cj, ""));
    assert_eq!(
        kinds(&page),
        [
            "cover_bidding",
            "low_win_few_bidders",
            "recurring_bidder_pair",
            "rotation_decline",
            "shared_identity",
            "shared_phone"
        ],
        "{page:#}"
    );
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(
        page["window"]["listings_considered"], 6,
        "the relisted draft is not announced"
    );
    assert_eq!(page["window"]["truncated"], false);
    assert_eq!(page["window"]["max_listings"], 200);
    assert_eq!(
        ts(&page["window"]["since"]),
        app.now() - Duration::days(365)
    );
    assert_eq!(page["window"]["until"], Value::Null);

    // 周强 registered from two accounts (never on one listing together): medium.
    let sig = one(&page, "shared_identity");
    assert_eq!(sig["severity"], "medium");
    assert_eq!(sig["listing_id"], Value::Null);
    assert_eq!(sig["listing_no"], Value::Null);
    assert_eq!(sig["listing_ids"], json!(sorted_ids(&[&l1.id, &l2.id])));
    assert_eq!(
        sig["evidence"],
        json!({
            "id_number_masked": zhou.masked(),
            "legal_names": ["周强"],
            "accounts": by(vec![
                json!({"investor_id": z1_acct.id, "investor_name": "周强"}),
                json!({"investor_id": z2_acct.id, "investor_name": "周强（新账户）"}),
            ], "investor_id"),
            "registrations": by(vec![
                reg_ref(&z1, &l1, &n1, "周强", &zhou),
                reg_ref(&z2, &l2, &n2, "周强（新账户）", &zhou),
            ], "registration_id"),
            "common_listings": [],
        })
    );
    assert!(s(&sig["summary"]).contains("One legal person"));

    // 吴刚 and 郑丽 gave one phone on one listing: high.
    let sig = one(&page, "shared_phone");
    assert_eq!(sig["severity"], "high");
    assert_eq!(sig["listing_id"], Value::Null);
    assert_eq!(sig["listing_ids"], json!([l5.id]));
    let g5b = Bidder {
        inv: g_acct.clone(),
        reg: g5.clone(),
    };
    let h5b = Bidder {
        inv: h_acct.clone(),
        reg: h5.clone(),
    };
    let mut persons = vec![
        json!({"legal_name": "吴刚", "id_number_masked": wu.masked()}),
        json!({"legal_name": "郑丽", "id_number_masked": zheng.masked()}),
    ];
    persons.sort_by(|a, b| s(&a["legal_name"]).cmp(&s(&b["legal_name"])));
    assert_eq!(
        sig["evidence"],
        json!({
            "persons": persons,
            "accounts": by(vec![
                json!({"investor_id": g_acct.id, "investor_name": "吴刚"}),
                json!({"investor_id": h_acct.id, "investor_name": "郑丽"}),
            ], "investor_id"),
            "registrations": by(vec![
                reg_ref(&g5b, &l5, &n5, "吴刚", &wu),
                reg_ref(&h5b, &l5, &n5, "郑丽", &zheng),
            ], "registration_id"),
            "same_listing": [listing_ref(&l5, &n5)],
        })
    );

    // 陈军 and 林芳, eligible together on L1, L2 and L3 (the threshold, 3): medium.
    let sig = one(&page, "recurring_bidder_pair");
    assert_eq!(sig["severity"], "medium");
    assert_eq!(
        sig["listing_ids"],
        json!(sorted_ids(&[&l1.id, &l2.id, &l3.id]))
    );
    // Persons in name order; each listing's registrations in the same order.
    let chen_first = chen.legal_name < lin.legal_name;
    let pair = |c: &Bidder, f: &Bidder| {
        if chen_first {
            json!([c.reg, f.reg])
        } else {
            json!([f.reg, c.reg])
        }
    };
    let mut persons = vec![
        json!({"legal_name": "陈军", "id_number_masked": chen.masked()}),
        json!({"legal_name": "林芳", "id_number_masked": lin.masked()}),
    ];
    if !chen_first {
        persons.reverse();
    }
    assert_eq!(
        sig["evidence"],
        json!({
            "persons": persons,
            "listings": by(vec![
                json!({"listing_id": l1.id, "listing_no": n1, "registration_ids": pair(&c1, &f1)}),
                json!({"listing_id": l2.id, "listing_no": n2, "registration_ids": pair(&c2, &f2)}),
                json!({"listing_id": l3.id, "listing_no": n3, "registration_ids": pair(&c3, &f3)}),
            ], "listing_id"),
            "listing_count": 3,
            "threshold": 3,
        })
    );

    // L3: won at the reserve with two eligible bidders, one of whom bid: high.
    let sig = one(&page, "low_win_few_bidders");
    assert_eq!(sig["severity"], "high");
    assert_eq!(sig["listing_id"], l3.id.as_str());
    assert_eq!(sig["listing_no"], n3.as_str());
    assert_eq!(sig["listing_ids"], json!([l3.id]));
    assert_eq!(ts(&sig["at"]), l3.ends, "the award");
    assert_eq!(
        sig["evidence"],
        json!({
            "deal_id": d3["id"],
            "winner": reg_ref(&c3, &l3, &n3, "陈军", &chen),
            "negotiated": false,
            "reserve_price_fen": RESERVE,
            "min_increment_fen": INCREMENT,
            "price_fen": RESERVE,
            "increments_above_reserve": 0,
            "eligible_bidders": 2,
            "active_bidders": 1,
        })
    );

    // L3: 林芳 was eligible and never bid, the only time in the window: low.
    let sig = one(&page, "cover_bidding");
    assert_eq!(sig["severity"], "low");
    assert_eq!(sig["listing_id"], l3.id.as_str());
    assert_eq!(sig["listing_ids"], json!([l3.id]));
    assert_eq!(ts(&sig["at"]), l3.ends, "the auction's close");
    assert_eq!(
        sig["evidence"],
        json!({
            "eligible_bidders": 2,
            "active_bidders": 1,
            "silent": [{
                "registration": reg_ref(&f3, &l3, &n3, "林芳", &lin),
                "silent_auctions": 1,
                "silent_listings": [listing_ref(&l3, &n3)],
            }],
        })
    );

    // L4: the winner and the runner-up both declined, and the listing was relisted: high.
    let sig = one(&page, "rotation_decline");
    assert_eq!(sig["severity"], "high");
    assert_eq!(sig["listing_id"], l4.id.as_str());
    assert_eq!(sig["listing_no"], n4.as_str());
    assert_eq!(sig["listing_ids"], json!(sorted_ids(&[&l4.id, &relisted])));
    assert_eq!(ts(&sig["at"]), declined2);
    let e = &sig["evidence"];
    assert_eq!(ts(&e["winner"]["fell_through_at"]), declined1);
    assert_eq!(ts(&e["runner_up"]["fell_through_at"]), declined2);
    let mut e = e.clone();
    e["winner"]["fell_through_at"] = Value::Null;
    e["runner_up"]["fell_through_at"] = Value::Null;
    assert_eq!(
        e,
        json!({
            "winner": {
                "deal_id": d41,
                "registration": reg_ref(&w4, &l4, &n4, "王海", &wang),
                "price_fen": RESERVE + 4 * INCREMENT,
                "outcome": "declined",
                "fell_through_at": null,
            },
            "runner_up": {
                "deal_id": d42,
                "registration": reg_ref(&r4, &l4, &n4, "李娜", &li),
                "price_fen": RESERVE + 3 * INCREMENT,
                "outcome": "declined",
                "fell_through_at": null,
            },
            "relisted_as": {"listing_id": relisted, "listing_no": null},
        })
    );

    // Newest first; no phone and no full ID number anywhere.
    let items = page["items"].as_array().unwrap();
    for pair in items.windows(2) {
        assert!(s(&pair[0]["id"]) > s(&pair[1]["id"]));
        assert!(ts(&pair[0]["at"]) >= ts(&pair[1]["at"]));
    }
    let text = page.to_string();
    for p in [
        &chen, &lin, &zhou, &wang, &li, &zhao, &wu, &zheng, &xu, &yang, &zhu,
    ] {
        assert!(!text.contains(&p.id_number), "{} leaked", p.legal_name);
        assert!(!text.contains(&p.phone), "{} leaked", p.phone);
    }

    // Pages of 4 walk the same signals in the same order.
    let all = ids(&page["items"]);
    let path = format!("/api/v1/townships/{}/signals", w.cj);
    assert_eq!(walk(&app, staff, &path, 4), all);
    assert_eq!(walk(&app, w.admin(), &path, 1), all);

    // ---- per listing: the signals whose evidence names it ----
    let on = |a: &Auction| kinds(&ok(listing_signals(&app, staff, &a.id, "")));
    assert_eq!(on(&l1), ["recurring_bidder_pair", "shared_identity"]);
    assert_eq!(on(&l2), ["recurring_bidder_pair", "shared_identity"]);
    assert_eq!(
        on(&l3),
        [
            "cover_bidding",
            "low_win_few_bidders",
            "recurring_bidder_pair"
        ]
    );
    assert_eq!(on(&l4), ["rotation_decline"]);
    assert_eq!(on(&l5), ["shared_phone"]);
    let text = page.to_string();
    assert!(
        !text.contains(&l6.id) && !text.contains(&n6),
        "no signal names the control"
    );
    let control = ok(listing_signals(&app, staff, &l6.id, ""));
    assert_eq!(
        control["items"],
        json!([]),
        "the control listing raises nothing"
    );
    assert_eq!(control["next_cursor"], Value::Null);
    // The same signal reads the same on both routes.
    let l3_page = ok(listing_signals(&app, w.admin(), &l3.id, ""));
    let cover = one(&l3_page, "cover_bidding");
    assert_eq!(cover, one(&page, "cover_bidding"));

    // ---- the window ----
    // Before every close, or after: nothing considered, nothing raised.
    let after = format!("?since={}", enc(&rfc(l1.closes + Duration::seconds(1))));
    let empty = ok(township_signals(&app, staff, &w.cj, &after));
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["window"]["listings_considered"], 0);
    let before = format!("?until={}", enc(&rfc(l1.closes)));
    let empty = ok(township_signals(&app, staff, &w.cj, &before));
    assert_eq!(empty["items"], json!([]));
    assert_eq!(ts(&empty["window"]["until"]), l1.closes);
    // A listing is always read with its window: alone, L3 still shows its own auction's
    // signals, not the pair (which needs the other two listings).
    assert_eq!(
        kinds(&ok(listing_signals(&app, staff, &l3.id, &after))),
        ["cover_bidding", "low_win_few_bidders"]
    );
    let around = format!(
        "?since={}&until={}",
        enc(&rfc(l1.closes - Duration::days(1))),
        enc(&rfc(l1.closes + Duration::days(1)))
    );
    let same = ok(township_signals(&app, staff, &w.cj, &around));
    assert_eq!(ids(&same["items"]), all);
    // 山阳镇 has no listings: nothing.
    let other = ok(township_signals(&app, w.sy_staff.t(), &w.sy, ""));
    assert_eq!(other["items"], json!([]));
}

#[test]
fn only_the_townships_staff_and_admins_read_signals() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let public = listing(&app, &w, "50.00", RESERVE);
    let draft = listing_in(&app, &w, Stage::Draft);
    let (cj, sy) = (w.cj.as_str(), w.sy.as_str());

    for token in [w.cj_staff.t(), w.admin()] {
        for id in [public.id.as_str(), draft.as_str()] {
            let r = ok(listing_signals(&app, token, id, ""));
            assert_eq!(r["items"], json!([]));
        }
        ok(township_signals(&app, token, cj, ""));
    }
    ok(township_signals(&app, w.sy_staff.t(), sy, ""));

    // Anonymous: 401 everywhere.
    listing_signals(&app, None, &public.id, "").assert_problem(401, "unauthorized");
    township_signals(&app, None, cj, "").assert_problem(401, "unauthorized");
    // Another township's staff may not know: 404.
    listing_signals(&app, w.sy_staff.t(), &public.id, "").assert_problem(404, "not_found");
    listing_signals(&app, w.sy_staff.t(), &draft, "").assert_problem(404, "not_found");
    township_signals(&app, w.sy_staff.t(), cj, "").assert_problem(404, "not_found");
    // The owner collective sees both listings but may not read signals: 403.
    for id in [public.id.as_str(), draft.as_str()] {
        listing_signals(&app, w.ht.t(), id, "").assert_problem(403, "forbidden");
    }
    township_signals(&app, w.ht.t(), cj, "").assert_problem(403, "forbidden");
    // Everyone else: 403 on what they may see (the announced listing, the public township),
    // 404 on the draft they may not.
    for u in [&w.jg, &w.cx, &w.investor, &w.insurer] {
        listing_signals(&app, u.t(), &public.id, "").assert_problem(403, "forbidden");
        listing_signals(&app, u.t(), &draft, "").assert_problem(404, "not_found");
        township_signals(&app, u.t(), cj, "").assert_problem(403, "forbidden");
        // The query is read only after access: a bad one still answers 403.
        township_signals(&app, u.t(), cj, "?limit=0").assert_problem(403, "forbidden");
    }

    // Unknown or malformed ids.
    let unknown = "01890000-0000-7000-8000-000000000000";
    listing_signals(&app, w.admin(), unknown, "").assert_problem(404, "not_found");
    township_signals(&app, w.admin(), unknown, "").assert_problem(404, "not_found");
    listing_signals(&app, w.admin(), "nope", "").assert_problem(400, "bad_request");
    township_signals(&app, w.admin(), "nope", "").assert_problem(400, "bad_request");

    // The query.
    let staff = w.cj_staff.t();
    township_signals(&app, staff, cj, "?limit=0").assert_field("limit");
    township_signals(&app, staff, cj, "?limit=201").assert_field("limit");
    township_signals(&app, staff, cj, "?cursor=abc").assert_problem(400, "bad_request");
    township_signals(&app, staff, cj, "?since=yesterday").assert_problem(400, "bad_request");
    let t = enc(&rfc(app.now()));
    township_signals(&app, staff, cj, &format!("?since={t}&until={t}")).assert_field("until");
    listing_signals(&app, staff, &public.id, &format!("?since={t}&until={t}"))
        .assert_field("until");
}
