//! Listings: every submit rule naming its field, the lifecycle (submit, return, resubmit,
//! approve, cancel, relist) with its audit records and e-mails, numbering, concurrency,
//! who may see and do what, and request shapes.

use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};

use crate::support::listings::*;
use crate::support::records::mails_about;
use crate::support::*;

#[test]
fn a_draft_follows_edits_of_its_parcels() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let l = new_listing(
        &app,
        &w.ht,
        listing_body("护塘村2027年第一批土地经营权流转", &[&p]),
    );
    let id = s(&l["id"]);
    assert_eq!(l["total_area_mu"], "158.31");
    // The village re-measures the parcel while the listing is still a draft.
    expect(
        app.patch(
            &format!("/api/v1/parcels/{p}"),
            w.ht.t(),
            json!({"area_mu": "100.00", "land_type": "garden", "permanent_basic_farmland": false}),
        ),
        200,
        "re-measure",
    );
    let d = expect(get_listing(&app, w.ht.t(), &id), 200, "draft");
    assert_eq!(d["parcels"][0]["area_mu"], "100.00");
    assert_eq!(d["total_area_mu"], "100.00", "total of its parcels");
    assert_eq!(d["annual_reserve_rent_fen"], 12_000_000);
    assert_eq!(
        search(&app, w.ht.t(), "mine=true&max_area_mu=120"),
        vec![id.clone()]
    );
    assert_eq!(
        search(&app, w.ht.t(), "mine=true&land_type=garden"),
        vec![id.clone()]
    );
    // And the submit checks and stores the current figures.
    let sub = expect(submit(&app, &w.ht, &id), 200, "submit");
    assert_eq!(sub["total_area_mu"], "100.00");
    assert_eq!(sub["annual_reserve_rent_fen"], 12_000_000);
}

#[test]
fn every_submit_rule_names_its_field() {
    let app = TestApp::start();
    let w = World::new(&app);
    // 158.31 mu, 12 households, permanent basic farmland, contract end 2058-12-31.
    let p1 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    // 36.50 mu, 5 households, not basic farmland, contract end 2028-03-31 (the second round).
    let p2 = new_parcel(
        &app,
        &w.ht,
        with(
            parcel_body("JS-CJ-0001-018", "36.50", "漕泾镇护塘村4组"),
            json!({"households": 5, "household_contract_end": "2028-03-31",
                   "permanent_basic_farmland": false}),
        ),
    );
    // 金光村's parcel, registered by 金光村's collective.
    let p3 = new_parcel(
        &app,
        &w.jg,
        parcel_body("JS-CJ-0002-003", "230.05", "漕泾镇金光村1组"),
    );
    let base = listing_body("护塘村2027年第一批土地经营权流转", &[&p1]);
    let b = |over: Value| with(base.clone(), over);
    let mut numbers = Vec::new();

    // The base listing passes.
    numbers.push(submit_passes(&app, &w.ht, base.clone()));

    // 1. Consent: exactly two thirds passes, just below fails.
    submit_fails(
        &app,
        &w.ht,
        b(json!({"consent": consent(19, 30, 12)})),
        &["consent.members_agreeing"],
    );
    numbers.push(submit_passes(
        &app,
        &w.ht,
        b(json!({"consent": consent(46, 69, 12)})),
    ));
    submit_fails(
        &app,
        &w.ht,
        b(json!({"consent": consent(45, 69, 12)})),
        &["consent.members_agreeing"],
    );
    submit_fails(
        &app,
        &w.ht,
        b(json!({"consent": consent(31, 30, 12)})),
        &["consent.members_agreeing"],
    );
    // Commissions must equal the parcels' households (12; with p2 too, 17).
    for n in [11, 13, 0] {
        submit_fails(
            &app,
            &w.ht,
            b(json!({"consent": consent(20, 30, n)})),
            &["consent.commissions_received"],
        );
    }
    // Resolution date: today passes, tomorrow is in the future.
    let mut c = consent(20, 30, 12);
    c["resolution_date"] = json!("2027-01-11");
    submit_fails(
        &app,
        &w.ht,
        b(json!({"consent": c})),
        &["consent.resolution_date"],
    );
    let mut c = consent(20, 30, 12);
    c["resolution_date"] = json!("2027-01-10");
    numbers.push(submit_passes(&app, &w.ht, b(json!({"consent": c}))));

    // 2. Term: not past a parcel's household contract end (p2 ends 2028-03-31); terms start
    // 2027-03-01, so a valid one (at least a year) ends 2028-02-29 … 2028-03-31.
    let p2_body = |term_end: &str| {
        with(
            listing_body("护塘村2027年第二批土地经营权流转", &[&p2]),
            json!({"consent": consent(20, 30, 5), "term_end": term_end}),
        )
    };
    submit_fails(&app, &w.ht, p2_body("2028-04-01"), &["term_end"]);
    submit_fails(&app, &w.ht, p2_body("2029-01-01"), &["term_end"]);
    numbers.push(submit_passes(&app, &w.ht, p2_body("2028-03-31")));
    // Two parcels: the earliest contract end binds, households add up.
    let both = with(
        listing_body("护塘村2027年第三批土地经营权流转", &[&p1, &p2]),
        json!({"consent": consent(20, 30, 17), "term_end": "2028-03-31"}),
    );
    numbers.push(submit_passes(&app, &w.ht, both.clone()));
    submit_fails(
        &app,
        &w.ht,
        with(both.clone(), json!({"term_end": "2037-02-28"})),
        &["term_end"],
    );
    submit_fails(
        &app,
        &w.ht,
        with(both, json!({"consent": consent(20, 30, 12)})),
        &["consent.commissions_received"],
    );
    // At most 30 years: 2028-01-01…2057-12-31 is exactly 30 and passes; a day more fails.
    numbers.push(submit_passes(
        &app,
        &w.ht,
        b(json!({"term_start": "2028-01-01", "term_end": "2057-12-31"})),
    ));
    submit_fails(
        &app,
        &w.ht,
        b(json!({"term_start": "2028-01-01", "term_end": "2058-01-01"})),
        &["term_end"],
    );
    submit_fails(
        &app,
        &w.ht,
        b(json!({"term_start": "2027-03-01", "term_end": "2057-03-01"})),
        &["term_end"],
    );
    // term_start < term_end.
    submit_fails(
        &app,
        &w.ht,
        b(json!({"term_start": "2027-03-01", "term_end": "2027-03-01"})),
        &["term_end"],
    );
    // term_start not before the (UTC) date the auction ends: that day itself is fine.
    submit_fails(
        &app,
        &w.ht,
        b(json!({"term_start": "2027-02-01"})),
        &["term_start"],
    );
    numbers.push(submit_passes(
        &app,
        &w.ht,
        b(json!({"term_start": "2027-02-02"})),
    ));

    // 3. Use: permanent basic farmland only for grain or vegetables.
    for bad in ["fruit", "aquaculture", "agritourism", "livestock"] {
        submit_fails(
            &app,
            &w.ht,
            b(json!({"intended_use": bad})),
            &["intended_use"],
        );
    }
    numbers.push(submit_passes(
        &app,
        &w.ht,
        b(json!({"intended_use": "vegetables"})),
    ));
    // Not basic farmland: an orchard is fine.
    numbers.push(submit_passes(
        &app,
        &w.ht,
        with(p2_body("2028-03-31"), json!({"intended_use": "fruit"})),
    ));
    // Not a use at all: refused at once.
    app.post(
        "/api/v1/listings",
        w.ht.t(),
        b(json!({"intended_use": "factory"})),
    )
    .assert_field("intended_use");

    // 6. Parcels: another village's parcel (created by that village) can't be listed.
    submit_fails(
        &app,
        &w.ht,
        with(
            listing_body("护塘村2027年第一批土地经营权流转", &[&p3]),
            json!({"consent": consent(20, 30, 12)}),
        ),
        &["parcel_ids"],
    );
    submit_fails(
        &app,
        &w.ht,
        with(
            listing_body("护塘村2027年第一批土地经营权流转", &[&p1, &p3]),
            json!({"consent": consent(20, 30, 24)}),
        ),
        &["parcel_ids"],
    );
    // A parcel already in a live (submitted) listing can't be in a second one.
    let live = expect(
        create_and_submit(&app, &w.ht, base.clone()),
        200,
        "live listing",
    );
    numbers.push(s(&live["listing_no"]));
    submit_fails(&app, &w.ht, base.clone(), &["parcel_ids"]);
    // ...but a second draft of it is fine until submit.
    let draft = new_listing(&app, &w.ht, base.clone());
    expect(
        listing_act(
            &app,
            w.ht.t(),
            &s(&live["id"]),
            "cancel",
            json!({"reason": "改为合并挂牌"}),
        ),
        200,
        "cancel live",
    );
    let second = expect(submit(&app, &w.ht, &s(&draft["id"])), 200, "now free");
    numbers.push(s(&second["listing_no"]));
    expect(
        listing_act(
            &app,
            w.ht.t(),
            &s(&draft["id"]),
            "cancel",
            json!({"reason": "测试后撤回"}),
        ),
        200,
        "cancel",
    );
    // Unknown parcels and duplicates are refused at once.
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        b(json!({"parcel_ids": [uuid::Uuid::now_v7().to_string()]})),
    );
    assert_eq!(fields(&r), vec!["parcel_ids"]);
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        b(json!({"parcel_ids": [p1, p1]})),
    );
    assert_eq!(fields(&r), vec!["parcel_ids"]);
    let r = app.post("/api/v1/listings", w.ht.t(), b(json!({"parcel_ids": []})));
    assert_eq!(fields(&r), vec!["parcel_ids"]);

    // 5. Schedule: registration closes at least 10 days after submit (exactly 10 is fine).
    submit_fails(
        &app,
        &w.ht,
        b(
            json!({"registration_closes_at": at(10, -1), "auction_starts_at": at(10, 0),
                 "auction_ends_at": at(10, 7200)}),
        ),
        &["registration_closes_at"],
    );
    numbers.push(submit_passes(
        &app,
        &w.ht,
        b(
            json!({"registration_closes_at": at(10, 0), "auction_starts_at": at(10, 0),
                 "auction_ends_at": at(10, 7200)}),
        ),
    ));
    // auction_starts_at ≥ registration_closes_at; auction_ends_at > auction_starts_at.
    submit_fails(
        &app,
        &w.ht,
        b(json!({"auction_starts_at": "2027-02-01T01:59:59Z"})),
        &["auction_starts_at"],
    );
    submit_fails(
        &app,
        &w.ht,
        b(json!({"auction_ends_at": "2027-02-02T02:00:00Z"})),
        &["auction_ends_at"],
    );
    submit_fails(
        &app,
        &w.ht,
        b(json!({"auction_ends_at": "2027-02-02T01:00:00Z"})),
        &["auction_ends_at"],
    );
    submit_fails(
        &app,
        &w.ht,
        b(json!({"extension_secs": 0})),
        &["extension_secs"],
    );

    // 4. Money. One year's reserve rent is round_half_up(price × centimu / 100):
    // 15 831 centimu × 120 050 fen = 1 900 511 550 → 19 005 115.50 → 19 005 116 fen.
    let l = new_listing(
        &app,
        &w.ht,
        b(json!({"reserve_price_fen": 120_050, "deposit_fen": 19_005_117})),
    );
    assert_eq!(l["total_area_mu"], "158.31");
    assert_eq!(l["annual_reserve_rent_fen"], 19_005_116);
    assert_eq!(
        fields(&submit(&app, &w.ht, &s(&l["id"]))),
        vec!["deposit_fen"]
    );
    numbers.push(submit_passes(
        &app,
        &w.ht,
        b(json!({"reserve_price_fen": 120_050, "deposit_fen": 19_005_116})),
    ));
    // 120 000 fen/mu: 18 997 200 fen a year.
    submit_fails(
        &app,
        &w.ht,
        b(json!({"deposit_fen": 18_997_201})),
        &["deposit_fen"],
    );
    for v in [0, -100] {
        let r = create_and_submit(&app, &w.ht, b(json!({"reserve_price_fen": v})));
        r.assert_field("reserve_price_fen");
        submit_fails(
            &app,
            &w.ht,
            b(json!({"min_increment_fen": v})),
            &["min_increment_fen"],
        );
        submit_fails(&app, &w.ht, b(json!({"deposit_fen": v})), &["deposit_fen"]);
    }

    // Several broken rules: all named at once.
    let r = create_and_submit(
        &app,
        &w.ht,
        b(
            json!({"consent": consent(1, 30, 3), "intended_use": "fruit",
                 "min_increment_fen": 0, "auction_ends_at": "2027-02-02T02:00:00Z"}),
        ),
    );
    assert_eq!(
        fields(&r),
        vec![
            "auction_ends_at",
            "consent.commissions_received",
            "consent.members_agreeing",
            "intended_use",
            "min_increment_fen",
        ]
    );

    // Failed submits use up no number: the passing ones are numbered without gaps.
    let expected: Vec<String> = (1..=numbers.len())
        .map(|n| format!("CJ-2027-{n:04}"))
        .collect();
    assert_eq!(numbers, expected);
}

#[test]
fn submit_return_resubmit_approve_cancel() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p1 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let p2 = new_parcel(
        &app,
        &w.ht,
        with(
            parcel_body("JS-CJ-0001-018", "36.50", "漕泾镇护塘村4组"),
            json!({"households": 5, "land_type": "garden", "permanent_basic_farmland": false}),
        ),
    );
    let title = "护塘村2027年第一批土地经营权流转";
    let l = new_listing(&app, &w.ht, listing_body(title, &[&p1]));
    let id = s(&l["id"]);
    assert_eq!(l["title"], title);
    assert_eq!(l["village_id"], json!(w.hutang));
    assert_eq!(l["township_id"], json!(w.cj));
    assert_eq!(l["attempt"], 1);
    assert!(l["previous_listing_id"].is_null());
    assert_eq!(l["parcel_ids"], json!([p1]));
    assert_eq!(l["parcels"][0]["code"], "JS-CJ-0001-017");
    assert_eq!(l["parcels"][0]["location"], "漕泾镇护塘村3组");
    assert_eq!(l["total_area_mu"], "158.31");
    assert_eq!(l["annual_reserve_rent_fen"], 18_997_200);
    assert_eq!(
        l["extension_secs"], 300,
        "default from rules.extension_secs"
    );
    assert_eq!(l["registration_closes_at"], "2027-02-01T02:00:00Z");
    assert_eq!(l["term_end"], "2037-02-28");
    assert_eq!(l["consent"], consent(20, 30, 12));
    assert!(l["submitted_at"].is_null() && l["announced_at"].is_null());
    assert_eq!(
        expect(get_listing(&app, w.ht.t(), &id), 200, "get"),
        l,
        "GET returns what POST answered"
    );

    // PATCH while draft: parcels change area and rent.
    let r = patch_listing(
        &app,
        w.ht.t(),
        &id,
        json!({"parcel_ids": [p1, p2], "consent": consent(20, 30, 17),
               "description": "3组、4组承包地经营权整体流转"}),
    );
    let patched = expect(r, 200, "patch draft");
    assert_eq!(patched["status"], "draft");
    assert_eq!(patched["total_area_mu"], "194.81");
    assert_eq!(patched["annual_reserve_rent_fen"], 23_377_200);
    assert_eq!(patched["title"], title, "untouched fields stay");
    let r = patch_listing(
        &app,
        w.ht.t(),
        &id,
        json!({"parcel_ids": [p1], "consent": consent(20, 30, 12)}),
    );
    assert_eq!(expect(r, 200, "patch back")["total_area_mu"], "158.31");

    // Submit: numbered CJ-2027-0001, staff of 漕泾镇 are told.
    let sub = expect(
        app.call(
            "POST",
            &format!("/api/v1/listings/{id}/submit"),
            w.ht.t(),
            None,
        ),
        200,
        "submit with an empty body",
    );
    assert_eq!(sub["status"], "submitted");
    assert_eq!(sub["listing_no"], "CJ-2027-0001");
    assert_eq!(sub["submitted_at"], "2027-01-10T02:00:00Z");
    assert_eq!(
        mails_about(&app, &w.cj_staff.email, "CJ-2027-0001").len(),
        1
    );
    assert!(mails_about(&app, &w.sy_staff.email, "").is_empty());
    assert!(mails_about(&app, &w.ht.email, "").is_empty());
    // Submitted: can't be edited or submitted again; an action body with fields is refused.
    patch_listing(&app, w.ht.t(), &id, json!({"title": "改"})).assert_problem(409, "invalid_state");
    submit(&app, &w.ht, &id).assert_problem(409, "invalid_state");
    listing_act(&app, w.cj_staff.t(), &id, "approve", json!({"note": "好"})).assert_field("note");
    // Staff see it in their queue and the public doesn't.
    assert!(search(&app, w.cj_staff.t(), "mine=true").contains(&id));
    assert!(!search(&app, None, "").contains(&id));
    get_listing(&app, None, &id).assert_problem(404, "not_found");

    // Return with a reason: the collective sees it and is e-mailed.
    let reason = "村民代表会议决议缺少到会人员签字页，请补充后重新提交";
    listing_act(&app, w.cj_staff.t(), &id, "return", json!({})).assert_field("reason");
    listing_act(&app, w.cj_staff.t(), &id, "return", json!({"reason": "  "}))
        .assert_field("reason");
    let ret = expect(
        listing_act(
            &app,
            w.cj_staff.t(),
            &id,
            "return",
            json!({"reason": reason}),
        ),
        200,
        "return",
    );
    assert_eq!(ret["status"], "returned");
    assert_eq!(ret["return_reason"], reason);
    let seen = expect(get_listing(&app, w.ht.t(), &id), 200, "owner reads");
    assert_eq!(seen["status"], "returned");
    assert_eq!(seen["return_reason"], reason);
    assert_eq!(seen["listing_no"], "CJ-2027-0001");
    let m = mails_about(&app, &w.ht.email, "CJ-2027-0001");
    assert_eq!(m.len(), 1, "collective told of the return");
    assert!(m[0].body.contains(reason), "{}", m[0].body);
    assert!(mails_about(&app, &w.jg.email, "").is_empty());
    listing_act(
        &app,
        w.cj_staff.t(),
        &id,
        "return",
        json!({"reason": reason}),
    )
    .assert_problem(409, "invalid_state");
    listing_act(&app, w.cj_staff.t(), &id, "approve", json!({}))
        .assert_problem(409, "invalid_state");

    // While returned the owner edits; it stays returned until resubmitted.
    let new_title = "护塘村2027年第一批土地经营权流转（补正）";
    let r = patch_listing(&app, w.ht.t(), &id, json!({"title": new_title}));
    let edited = expect(r, 200, "patch returned");
    assert_eq!(edited["status"], "returned");
    assert_eq!(edited["title"], new_title);

    // Another listing submitted meanwhile takes the next number.
    let other = new_listing(
        &app,
        &w.ht,
        with(
            listing_body("护塘村2027年第二批果园经营权流转", &[&p2]),
            json!({"intended_use": "fruit", "consent": consent(20, 30, 5)}),
        ),
    );
    let other_id = s(&other["id"]);
    let o = expect(submit(&app, &w.ht, &other_id), 200, "submit other");
    assert_eq!(o["listing_no"], "CJ-2027-0002");

    // Resubmit keeps the number.
    app.advance(Duration::minutes(5));
    let again = expect(submit(&app, &w.ht, &id), 200, "resubmit");
    assert_eq!(again["status"], "submitted");
    assert_eq!(again["listing_no"], "CJ-2027-0001");
    assert_eq!(again["submitted_at"], "2027-01-10T02:05:00Z");
    assert_eq!(
        mails_about(&app, &w.cj_staff.email, "CJ-2027-0001").len(),
        2
    );

    // Who may approve: the township's staff only.
    listing_act(&app, w.ht.t(), &id, "approve", json!({})).assert_problem(403, "forbidden");
    listing_act(&app, w.admin(), &id, "approve", json!({})).assert_problem(403, "forbidden");
    listing_act(&app, w.sy_staff.t(), &id, "approve", json!({})).assert_problem(404, "not_found");
    listing_act(&app, w.jg.t(), &id, "approve", json!({})).assert_problem(404, "not_found");
    listing_act(&app, w.investor.t(), &id, "approve", json!({})).assert_problem(404, "not_found");

    app.advance(Duration::minutes(5));
    let ann = expect(
        listing_act(&app, w.cj_staff.t(), &id, "approve", json!({})),
        200,
        "approve",
    );
    assert_eq!(ann["status"], "announced");
    assert_eq!(ann["announced_at"], "2027-01-10T02:10:00Z");
    assert_eq!(ann["listing_no"], "CJ-2027-0001");
    let m = mails_about(&app, &w.ht.email, "CJ-2027-0001");
    assert_eq!(m.len(), 2, "collective told of the approval");
    assert!(mails_about(&app, &w.jg.email, "").is_empty());

    // Public now: without a token, in the search and by id.
    let public = expect(get_listing(&app, None, &id), 200, "public read");
    assert_eq!(public["status"], "announced");
    assert_eq!(public["title"], new_title);
    assert!(public["eligible_bidders"].is_null());
    assert_eq!(public["bid_count"], 0);
    assert!(public["current_price_fen"].is_null());
    assert_eq!(search(&app, None, ""), vec![id.clone()]);
    assert_eq!(search(&app, w.investor.t(), ""), vec![id.clone()]);
    expect(get_listing(&app, w.sy_staff.t(), &id), 200, "public");

    // Announced: frozen for the owner.
    patch_listing(&app, w.ht.t(), &id, json!({"title": "改"})).assert_problem(409, "invalid_state");
    listing_act(&app, w.cj_staff.t(), &id, "approve", json!({}))
        .assert_problem(409, "invalid_state");
    listing_act(&app, w.cj_staff.t(), &id, "return", json!({"reason": "x"}))
        .assert_problem(409, "invalid_state");
    listing_act(
        &app,
        w.ht.t(),
        &id,
        "cancel",
        json!({"reason": "村集体申请撤牌"}),
    )
    .assert_problem(409, "invalid_state");
    // Readable but not theirs to act on.
    listing_act(&app, w.sy_staff.t(), &id, "approve", json!({})).assert_problem(403, "forbidden");
    listing_act(&app, w.sy_staff.t(), &id, "cancel", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    listing_act(&app, w.jg.t(), &id, "cancel", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    listing_act(&app, w.investor.t(), &id, "cancel", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    assert_eq!(
        expect(get_listing(&app, None, &id), 200, "still")["status"],
        "announced"
    );

    // Township staff cancel an announced listing, with a reason.
    let cancel_reason = "应村集体申请，因土地整治项目撤销挂牌";
    listing_act(&app, w.cj_staff.t(), &id, "cancel", json!({})).assert_field("reason");
    let c = expect(
        listing_act(
            &app,
            w.cj_staff.t(),
            &id,
            "cancel",
            json!({"reason": cancel_reason}),
        ),
        200,
        "staff cancel",
    );
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["cancel_reason"], cancel_reason);
    get_listing(&app, None, &id).assert_problem(404, "not_found");
    assert!(search(&app, None, "").is_empty());
    assert_eq!(
        expect(get_listing(&app, w.ht.t(), &id), 200, "owner")["status"],
        "cancelled"
    );
    listing_act(
        &app,
        w.cj_staff.t(),
        &id,
        "cancel",
        json!({"reason": cancel_reason}),
    )
    .assert_problem(409, "invalid_state");

    // The audit trail, in order.
    let rows = listing_audit_rows(&app, &id);
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "listing.created",
            "listing.edited",
            "listing.edited",
            "listing.submitted",
            "listing.returned",
            "listing.edited",
            "listing.submitted",
            "listing.approved",
            "listing.cancelled",
        ]
    );
    let to: Vec<Option<&str>> = rows.iter().map(|r| r.2.as_deref()).collect();
    assert_eq!(
        to,
        vec![
            Some("draft"),
            Some("draft"),
            Some("draft"),
            Some("submitted"),
            Some("returned"),
            Some("returned"),
            Some("submitted"),
            Some("announced"),
            Some("cancelled"),
        ]
    );
    let from: Vec<Option<&str>> = rows.iter().map(|r| r.1.as_deref()).collect();
    assert_eq!(from[3], Some("draft"));
    assert_eq!(from[4], Some("submitted"));
    assert_eq!(from[6], Some("returned"));
    assert_eq!(from[7], Some("submitted"));
    assert_eq!(from[8], Some("announced"));
    let roles: Vec<Option<&str>> = rows.iter().map(|r| r.3.as_deref()).collect();
    assert_eq!(roles[0], Some("collective"));
    assert_eq!(roles[3], Some("collective"));
    assert_eq!(roles[4], Some("staff"));
    assert_eq!(roles[7], Some("staff"));
    assert_eq!(roles[8], Some("staff"));
    assert_eq!(rows[4].4.as_deref(), Some(reason));
    assert_eq!(rows[8].4.as_deref(), Some(cancel_reason));
    // Cancelling an announced listing tells the collective.
    assert_eq!(mails_about(&app, &w.ht.email, "CJ-2027-0001").len(), 3);

    // 山阳镇 numbers its own listings and e-mails its own staff.
    let cxp = new_parcel(
        &app,
        &w.cx,
        with(
            parcel_body("JS-SY-0007-001", "80.00", "山阳镇长兴村8组"),
            json!({"households": 7}),
        ),
    );
    let cl = new_listing(
        &app,
        &w.cx,
        with(
            listing_body("长兴村2027年第一批土地经营权流转", &[&cxp]),
            json!({"consent": consent(20, 30, 7)}),
        ),
    );
    let cs = expect(submit(&app, &w.cx, &s(&cl["id"])), 200, "submit SY");
    assert_eq!(cs["listing_no"], "SY-2027-0001");
    assert_eq!(
        mails_about(&app, &w.sy_staff.email, "SY-2027-0001").len(),
        1
    );
    assert!(mails_about(&app, &w.cj_staff.email, "SY-2027-0001").is_empty());
    listing_act(&app, w.cj_staff.t(), &s(&cl["id"]), "approve", json!({}))
        .assert_problem(404, "not_found");
    expect(
        listing_act(&app, w.sy_staff.t(), &s(&cl["id"]), "approve", json!({})),
        200,
        "SY staff approve",
    );
    // And the 漕泾镇 counter goes on where it was.
    let cancelled_other = expect(
        listing_act(
            &app,
            w.ht.t(),
            &other_id,
            "cancel",
            json!({"reason": "重新规划"}),
        ),
        200,
        "cancel other",
    );
    assert_eq!(cancelled_other["status"], "cancelled");
    let third = new_listing(
        &app,
        &w.ht,
        listing_body("护塘村2027年第三批土地经营权流转", &[&p1]),
    );
    let t3 = expect(submit(&app, &w.ht, &s(&third["id"])), 200, "third");
    assert_eq!(t3["listing_no"], "CJ-2027-0003");
}

#[test]
fn owner_cancels_before_announcement_only() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let body = listing_body("护塘村2027年第一批土地经营权流转", &[&p]);
    let cancel = |token: Option<&str>, id: &str| {
        listing_act(
            &app,
            token,
            id,
            "cancel",
            json!({"reason": "村民代表会议决定暂缓流转"}),
        )
    };

    // From draft.
    let d = s(&new_listing(&app, &w.ht, body.clone())["id"]);
    listing_act(&app, w.cj_staff.t(), &d, "approve", json!({}))
        .assert_problem(409, "invalid_state");
    listing_act(&app, w.cj_staff.t(), &d, "return", json!({"reason": "x"}))
        .assert_problem(409, "invalid_state");
    listing_act(&app, w.ht.t(), &d, "cancel", json!({})).assert_field("reason");
    listing_act(
        &app,
        w.ht.t(),
        &d,
        "cancel",
        json!({"reason": "x", "status": "draft"}),
    )
    .assert_field("status");
    let c = expect(cancel(w.ht.t(), &d), 200, "cancel draft");
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["cancel_reason"], "村民代表会议决定暂缓流转");
    assert!(c["listing_no"].is_null());
    cancel(w.ht.t(), &d).assert_problem(409, "invalid_state");
    submit(&app, &w.ht, &d).assert_problem(409, "invalid_state");
    patch_listing(&app, w.ht.t(), &d, json!({"title": "改"})).assert_problem(409, "invalid_state");

    // From submitted.
    let sb = s(&new_listing(&app, &w.ht, body.clone())["id"]);
    expect(submit(&app, &w.ht, &sb), 200, "submit");
    let c = expect(cancel(w.ht.t(), &sb), 200, "cancel submitted");
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["listing_no"], "CJ-2027-0001");
    // Staff were told of the submission and of its withdrawal.
    assert_eq!(
        mails_about(&app, &w.cj_staff.email, "CJ-2027-0001").len(),
        2
    );
    listing_act(&app, w.cj_staff.t(), &sb, "approve", json!({}))
        .assert_problem(409, "invalid_state");

    // From returned.
    let rt = s(&new_listing(&app, &w.ht, body.clone())["id"]);
    expect(submit(&app, &w.ht, &rt), 200, "submit");
    expect(
        listing_act(
            &app,
            w.cj_staff.t(),
            &rt,
            "return",
            json!({"reason": "底价偏低，请重新评估"}),
        ),
        200,
        "return",
    );
    assert_eq!(
        expect(cancel(w.ht.t(), &rt), 200, "cancel returned")["status"],
        "cancelled"
    );

    // Announced: the owner can't; an admin can.
    let an = s(&announce(&app, &w.ht, &w.cj_staff, body.clone())["id"]);
    cancel(w.ht.t(), &an).assert_problem(409, "invalid_state");
    let c = expect(cancel(w.admin(), &an), 200, "admin cancels announced");
    assert_eq!(c["status"], "cancelled");

    for (id, from) in [
        (&d, "draft"),
        (&sb, "submitted"),
        (&rt, "returned"),
        (&an, "announced"),
    ] {
        let rows = listing_audit_rows(&app, id);
        let last = rows.last().unwrap();
        assert_eq!(last.0, "listing.cancelled");
        assert_eq!(last.1.as_deref(), Some(from));
        assert_eq!(last.2.as_deref(), Some("cancelled"));
        assert_eq!(last.4.as_deref(), Some("村民代表会议决定暂缓流转"));
    }
    assert_eq!(
        listing_audit_rows(&app, &an).last().unwrap().3.as_deref(),
        Some("admin")
    );
    // Every cancelled listing is gone from public view.
    assert!(search(&app, None, "").is_empty());
}

#[test]
fn approve_rechecks_the_announcement_period() {
    let app = TestApp::start();
    let mut w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    // Registration closes 12 days after submit: fine at submit.
    let l = new_listing(
        &app,
        &w.ht,
        with(
            listing_body("护塘村2027年第一批土地经营权流转", &[&p]),
            json!({"registration_closes_at": at(12, 0), "auction_starts_at": at(13, 0),
                   "auction_ends_at": at(13, 7200)}),
        ),
    );
    let id = s(&l["id"]);
    expect(submit(&app, &w.ht, &id), 200, "submit");
    // Three days later only 9 remain.
    app.advance(Duration::days(3));
    w.relogin(&app);
    let r = listing_act(&app, w.cj_staff.t(), &id, "approve", json!({}));
    assert_eq!(fields(&r), vec!["registration_closes_at"]);
    let still = expect(get_listing(&app, w.ht.t(), &id), 200, "get");
    assert_eq!(still["status"], "submitted");
    assert!(still["announced_at"].is_null());
    assert!(!listing_audit_actions(&app, &id).contains(&"listing.approved".to_string()));

    // Returned, moved to exactly 10 days from now, resubmitted and approved at once.
    expect(
        listing_act(
            &app,
            w.cj_staff.t(),
            &id,
            "return",
            json!({"reason": "公告期不足10天，请调整报名截止时间"}),
        ),
        200,
        "return",
    );
    let r = patch_listing(
        &app,
        w.ht.t(),
        &id,
        json!({"registration_closes_at": at(13, 0), "auction_starts_at": at(14, 0),
               "auction_ends_at": at(14, 7200)}),
    );
    expect(r, 200, "patch dates");
    expect(submit(&app, &w.ht, &id), 200, "resubmit");
    let ann = expect(
        listing_act(&app, w.cj_staff.t(), &id, "approve", json!({})),
        200,
        "approve with exactly 10 days",
    );
    assert_eq!(ann["status"], "announced");
    assert_eq!(ann["announced_at"], at(3, 0));
    assert_eq!(ann["listing_no"], "CJ-2027-0001");
}

#[test]
fn registration_close_without_bidders_fails_then_relists_once() {
    let app = TestApp::start();
    let mut w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let l = announce(
        &app,
        &w.ht,
        &w.cj_staff,
        listing_body("护塘村2027年第一批土地经营权流转", &[&p]),
    );
    let id = s(&l["id"]);
    // New dates after the old term start, so the copy's term must be moved too.
    let new_dates = json!({
        "registration_closes_at": "2027-03-10T02:00:00Z",
        "auction_starts_at": "2027-03-11T02:00:00Z",
        "auction_ends_at": "2027-03-11T04:00:00Z",
    });
    // Only a failed listing can be relisted.
    listing_act(&app, w.ht.t(), &id, "relist", new_dates.clone())
        .assert_problem(409, "invalid_state");

    // One second before registration closes: still announced.
    let closes = Utc.with_ymd_and_hms(2027, 2, 1, 2, 0, 0).unwrap();
    app.set_now(closes - Duration::seconds(1));
    let r = expect(get_listing(&app, None, &id), 200, "before close");
    assert_eq!(r["status"], "announced");
    assert!(r["eligible_bidders"].is_null());

    // At the closing instant a read performs the due transition: no eligible bidder → failed.
    app.set_now(closes);
    let r = expect(get_listing(&app, None, &id), 200, "after close");
    assert_eq!(r["status"], "failed");
    assert_eq!(r["eligible_bidders"], 0);
    assert_eq!(r["closed_at"], "2027-02-01T02:00:00Z");
    assert!(r["current_price_fen"].is_null());
    let rows = listing_audit_rows(&app, &id);
    let last = rows.last().unwrap();
    assert_eq!(last.0, "listing.registration_closed");
    assert_eq!(last.1.as_deref(), Some("announced"));
    assert_eq!(last.2.as_deref(), Some("failed"));
    assert_eq!(
        rows.iter()
            .filter(|r| r.0 == "listing.registration_closed")
            .count(),
        1
    );
    // Reading again changes nothing; failed listings stay public.
    let r = expect(get_listing(&app, None, &id), 200, "again");
    assert_eq!(r["status"], "failed");
    assert_eq!(listing_audit_rows(&app, &id).len(), rows.len());
    assert_eq!(search(&app, None, "status=failed"), vec![id.clone()]);
    // The failed listing's parcel is free.
    w.relogin(&app);
    assert_eq!(
        expect(
            app.get(&format!("/api/v1/parcels/{p}"), w.ht.t()),
            200,
            "parcel"
        )["locked"],
        false
    );

    // Relist: only the owner; never a higher reserve.
    for token in [w.jg.t(), w.cj_staff.t(), w.admin(), w.investor.t()] {
        listing_act(&app, token, &id, "relist", new_dates.clone()).assert_problem(403, "forbidden");
    }
    listing_act(&app, w.sy_staff.t(), &id, "relist", new_dates.clone())
        .assert_problem(403, "forbidden");
    let r = listing_act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        with(new_dates.clone(), json!({"reserve_price_fen": 120_001})),
    );
    assert_eq!(fields(&r), vec!["reserve_price_fen"]);
    let r = listing_act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        with(new_dates.clone(), json!({"attempt": 5})),
    );
    assert_eq!(fields(&r), vec!["attempt"]);
    let r = listing_act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        json!({"reserve_price_fen": 110_000}),
    );
    r.assert_field("registration_closes_at");

    let r = listing_act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        with(new_dates.clone(), json!({"reserve_price_fen": 110_000})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let new_id = r.id();
    assert_eq!(
        r.header("location").map(String::from),
        Some(format!("/api/v1/listings/{new_id}"))
    );
    let n = r.body;
    assert_ne!(new_id, id);
    assert_eq!(n["status"], "draft");
    assert_eq!(n["attempt"], 2);
    assert_eq!(n["previous_listing_id"], json!(id));
    assert!(n["listing_no"].is_null());
    assert_eq!(n["reserve_price_fen"], 110_000);
    assert_eq!(n["annual_reserve_rent_fen"], 17_414_100);
    assert_eq!(n["total_area_mu"], "158.31");
    assert_eq!(n["parcel_ids"], json!([p]));
    assert_eq!(n["title"], l["title"]);
    assert_eq!(n["consent"], l["consent"]);
    assert_eq!(n["registration_closes_at"], "2027-03-10T02:00:00Z");
    assert_eq!(n["term_start"], "2027-03-01", "copied as it was");
    assert!(n["eligible_bidders"].is_null() && n["closed_at"].is_null());
    let old = expect(get_listing(&app, None, &id), 200, "old");
    assert_eq!(old["status"], "failed");
    assert_eq!(old["relisted_as_id"], json!(new_id));
    assert!(listing_audit_actions(&app, &id).contains(&"listing.relisted".to_string()));
    assert_eq!(
        listing_audit_actions(&app, &new_id),
        vec!["listing.created"]
    );
    // The copy is a draft: not public, the owner's own.
    get_listing(&app, None, &new_id).assert_problem(404, "not_found");
    assert!(search(&app, w.ht.t(), "mine=true").contains(&new_id));

    // Once per failed listing; a draft can't be relisted.
    listing_act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        with(new_dates.clone(), json!({"reserve_price_fen": 100_000})),
    )
    .assert_problem(409, "invalid_state");
    listing_act(&app, w.ht.t(), &new_id, "relist", new_dates.clone())
        .assert_problem(409, "invalid_state");

    // The copy is fully re-checked on submit: its term now starts before the new auction.
    assert_eq!(rfc(app.now()), "2027-02-01T02:00:00Z");
    let r = submit(&app, &w.ht, &new_id);
    assert_eq!(fields(&r), vec!["term_start"]);
    expect(
        patch_listing(
            &app,
            w.ht.t(),
            &new_id,
            json!({"term_start": "2027-04-01", "term_end": "2037-03-31"}),
        ),
        200,
        "patch copy",
    );
    let sub = expect(submit(&app, &w.ht, &new_id), 200, "submit copy");
    assert_eq!(sub["listing_no"], "CJ-2027-0002");
    assert_eq!(sub["attempt"], 2);
}

#[test]
fn listing_numbers_follow_the_shanghai_calendar_year() {
    let app = TestApp::start();
    let mut w = World::new(&app);
    let p1 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let p2 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-018", "40.00", "漕泾镇护塘村4组"),
    );
    let body = |title: &str, p: &str| {
        with(
            listing_body(title, &[p]),
            json!({
                "term_start": "2028-03-01", "term_end": "2038-02-28",
                "registration_closes_at": "2028-01-20T02:00:00Z",
                "auction_starts_at": "2028-01-21T02:00:00Z",
                "auction_ends_at": "2028-01-21T04:00:00Z",
                "consent": {"resolution_date": "2027-12-20", "members_agreeing": 25,
                            "members_total": 30, "commissions_received": 12},
            }),
        )
    };
    // 23:59:59 on 31 December in Shanghai is still 2027 ...
    app.set_now(Utc.with_ymd_and_hms(2027, 12, 31, 15, 59, 59).unwrap());
    w.relogin(&app);
    let a = new_listing(&app, &w.ht, body("护塘村2027年第四批土地经营权流转", &p1));
    let a = expect(submit(&app, &w.ht, &s(&a["id"])), 200, "submit a");
    assert_eq!(a["listing_no"], "CJ-2027-0001");
    // ... one second later it is 2028 there (still 2027 in UTC): a new sequence.
    app.set_now(Utc.with_ymd_and_hms(2027, 12, 31, 16, 0, 0).unwrap());
    let b = new_listing(&app, &w.ht, body("护塘村2028年第一批土地经营权流转", &p2));
    let b = expect(submit(&app, &w.ht, &s(&b["id"])), 200, "submit b");
    assert_eq!(b["listing_no"], "CJ-2028-0001");
}

#[test]
fn concurrent_submits_number_without_gaps_and_never_share_a_parcel() {
    let app = TestApp::start();
    let w = World::new(&app);
    // Six listings of six parcels submitted at once: six numbers, no gap, no repeat.
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let p = new_parcel(
                &app,
                &w.ht,
                parcel_body(
                    &format!("JS-CJ-0001-{:03}", 30 + i),
                    "100.00",
                    "漕泾镇护塘村6组",
                ),
            );
            s(&new_listing(
                &app,
                &w.ht,
                listing_body(&format!("护塘村2027年第{}批土地经营权流转", i + 1), &[&p]),
            )["id"])
        })
        .collect();
    let results: Vec<Resp> = std::thread::scope(|sc| {
        let hs: Vec<_> = ids
            .iter()
            .map(|id| sc.spawn(|| submit(&app, &w.ht, id)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut numbers: Vec<String> = results
        .into_iter()
        .map(|r| s(&expect(r, 200, "concurrent submit")["listing_no"]))
        .collect();
    numbers.sort();
    let want: Vec<String> = (1..=6).map(|n| format!("CJ-2027-{n:04}")).collect();
    assert_eq!(numbers, want);

    // Two listings of one parcel submitted at once: exactly one gets it.
    for round in 0..5 {
        let p = new_parcel(
            &app,
            &w.ht,
            parcel_body(
                &format!("JS-CJ-0001-{:03}", 50 + round),
                "100.00",
                "漕泾镇护塘村7组",
            ),
        );
        let pair: Vec<String> = (0..2)
            .map(|_| {
                s(&new_listing(
                    &app,
                    &w.ht,
                    listing_body("护塘村2027年土地经营权流转", &[&p]),
                )["id"])
            })
            .collect();
        let rs: Vec<Resp> = std::thread::scope(|sc| {
            let hs: Vec<_> = pair
                .iter()
                .map(|id| sc.spawn(|| submit(&app, &w.ht, id)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = rs.iter().filter(|r| r.status == 200).count();
        assert_eq!(
            ok,
            1,
            "round {round}: {:?}",
            rs.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        let loser = rs.iter().find(|r| r.status != 200).unwrap();
        assert_eq!(fields(loser), vec!["parcel_ids"]);
    }

    // A parcel edit racing a submit: either the edit lands first (and the listing is
    // submitted with it) or it is refused; never an edit of a parcel already locked.
    for round in 0..10 {
        let p = new_parcel(
            &app,
            &w.ht,
            parcel_body(
                &format!("JS-CJ-0001-{:03}", 70 + round),
                "100.00",
                "漕泾镇护塘村8组",
            ),
        );
        let id = s(&new_listing(
            &app,
            &w.ht,
            listing_body("护塘村2027年土地经营权流转", &[&p]),
        )["id"]);
        let (sub, edit) = std::thread::scope(|sc| {
            let a = sc.spawn(|| submit(&app, &w.ht, &id));
            let b = sc.spawn(|| {
                app.patch(
                    &format!("/api/v1/parcels/{p}"),
                    w.ht.t(),
                    json!({"area_mu": "120.00"}),
                )
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(sub.status, 200, "{}", sub.text);
        let parcel = expect(
            app.get(&format!("/api/v1/parcels/{p}"), w.ht.t()),
            200,
            "parcel",
        );
        let listing = expect(get_listing(&app, w.ht.t(), &id), 200, "listing");
        match edit.status {
            200 => assert_eq!(
                listing["total_area_mu"], "120.00",
                "round {round}: the parcel changed after the listing locked it"
            ),
            _ => {
                edit.assert_problem(409, "invalid_state");
                assert_eq!(parcel["area_mu"], "100.00");
            }
        }
        assert_eq!(listing["total_area_mu"], parcel["area_mu"], "round {round}");
    }
}

#[test]
fn listings_are_scoped_to_village_and_township() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p1 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let p2 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-018", "50.00", "漕泾镇护塘村4组"),
    );
    let p3 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-019", "20.00", "漕泾镇护塘村5组"),
    );
    let draft = s(&new_listing(
        &app,
        &w.ht,
        listing_body("护塘村2027年第三批土地经营权流转", &[&p1]),
    )["id"]);
    let submitted = s(&new_listing(
        &app,
        &w.ht,
        listing_body("护塘村2027年第二批土地经营权流转", &[&p2]),
    )["id"]);
    expect(submit(&app, &w.ht, &submitted), 200, "submit");
    let announced = s(&announce(
        &app,
        &w.ht,
        &w.cj_staff,
        listing_body("护塘村2027年第一批土地经营权流转", &[&p3]),
    )["id"]);

    // A draft: only its village, its township's staff and admins know it.
    for token in [None, w.jg.t(), w.cx.t(), w.sy_staff.t(), w.investor.t()] {
        get_listing(&app, token, &draft).assert_problem(404, "not_found");
        get_listing(&app, token, &submitted).assert_problem(404, "not_found");
    }
    for token in [w.ht.t(), w.cj_staff.t(), w.admin()] {
        expect(get_listing(&app, token, &draft), 200, "may read draft");
        expect(
            get_listing(&app, token, &submitted),
            200,
            "may read submitted",
        );
    }
    // Another village's collective can't act on it: 404 whatever the action.
    for token in [w.jg.t(), w.cx.t(), w.investor.t()] {
        patch_listing(&app, token, &draft, json!({"title": "改"})).assert_problem(404, "not_found");
        listing_act(&app, token, &draft, "submit", json!({})).assert_problem(404, "not_found");
        listing_act(&app, token, &draft, "cancel", json!({"reason": "x"}))
            .assert_problem(404, "not_found");
    }
    // Staff of another township: a submitted listing doesn't exist for them.
    listing_act(&app, w.sy_staff.t(), &submitted, "approve", json!({}))
        .assert_problem(404, "not_found");
    listing_act(
        &app,
        w.sy_staff.t(),
        &submitted,
        "return",
        json!({"reason": "x"}),
    )
    .assert_problem(404, "not_found");
    listing_act(
        &app,
        w.sy_staff.t(),
        &submitted,
        "cancel",
        json!({"reason": "x"}),
    )
    .assert_problem(404, "not_found");
    // Readable but not theirs: 403.
    listing_act(&app, w.admin(), &submitted, "approve", json!({})).assert_problem(403, "forbidden");
    listing_act(
        &app,
        w.admin(),
        &submitted,
        "return",
        json!({"reason": "x"}),
    )
    .assert_problem(403, "forbidden");
    listing_act(&app, w.ht.t(), &submitted, "approve", json!({})).assert_problem(403, "forbidden");
    listing_act(&app, w.ht.t(), &submitted, "return", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    listing_act(&app, w.cj_staff.t(), &draft, "submit", json!({})).assert_problem(403, "forbidden");
    patch_listing(&app, w.cj_staff.t(), &draft, json!({"title": "改"}))
        .assert_problem(403, "forbidden");
    patch_listing(&app, w.admin(), &draft, json!({"title": "改"})).assert_problem(403, "forbidden");
    listing_act(&app, w.sy_staff.t(), &announced, "approve", json!({}))
        .assert_problem(403, "forbidden");
    // Nothing moved.
    let d = expect(get_listing(&app, w.ht.t(), &draft), 200, "draft");
    assert_eq!(d["status"], "draft");
    assert_eq!(d["title"], "护塘村2027年第三批土地经营权流转");
    assert_eq!(
        expect(get_listing(&app, w.ht.t(), &submitted), 200, "sub")["status"],
        "submitted"
    );

    // Public search: only the announced one, with or without a token.
    for token in [
        None,
        w.ht.t(),
        w.jg.t(),
        w.cj_staff.t(),
        w.sy_staff.t(),
        w.investor.t(),
        w.admin(),
    ] {
        assert_eq!(search(&app, token, ""), vec![announced.clone()]);
        assert!(search(&app, token, "status=draft").is_empty());
        assert!(search(&app, token, "status=submitted").is_empty());
    }
    // mine=true: the owner sees its drafts; staff their township's submissions, not drafts.
    assert_eq!(
        search_set(&app, w.ht.t(), "mine=true"),
        set(&[&draft, &submitted, &announced])
    );
    assert_eq!(
        search(&app, w.ht.t(), "mine=true&status=draft"),
        vec![draft.clone()]
    );
    assert_eq!(
        search_set(&app, w.cj_staff.t(), "mine=true"),
        set(&[&submitted, &announced])
    );
    assert_eq!(
        search(&app, w.cj_staff.t(), "mine=true&status=submitted"),
        vec![submitted.clone()]
    );
    let jg_mine = search_set(&app, w.jg.t(), "mine=true");
    assert!(!jg_mine.contains(&draft) && !jg_mine.contains(&submitted));
    let jg_mine = search_set(
        &app,
        w.jg.t(),
        &format!("mine=true&village_id={}", w.hutang),
    );
    assert!(!jg_mine.contains(&draft) && !jg_mine.contains(&submitted));
    let sy_mine = search_set(&app, w.sy_staff.t(), "mine=true");
    assert!(!sy_mine.contains(&draft) && !sy_mine.contains(&submitted));
    let sy_mine = search_set(
        &app,
        w.sy_staff.t(),
        &format!("mine=true&township_id={}", w.cj),
    );
    assert!(!sy_mine.contains(&draft) && !sy_mine.contains(&submitted));
    for token in [None, w.investor.t()] {
        assert_eq!(search(&app, token, "mine=true"), vec![announced.clone()]);
    }
}

#[test]
fn read_only_and_unknown_fields_roles_and_ids() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let body = listing_body("护塘村2027年第一批土地经营权流转", &[&p]);
    let id = s(&new_listing(&app, &w.ht, body.clone())["id"]);
    let smuggled = [
        ("status", json!("announced")),
        ("listing_no", json!("CJ-2027-9999")),
        ("village_id", json!(w.jinguang)),
        ("township_id", json!(w.sy)),
        ("attempt", json!(3)),
        ("previous_listing_id", json!(id)),
        ("annual_reserve_rent_fen", json!(1)),
        ("announced_at", json!("2027-01-10T02:00:00Z")),
        ("owner_id", json!(w.hutang)),
    ];
    for (field, value) in &smuggled {
        let mut b = body.clone();
        b[*field] = value.clone();
        let r = app.post("/api/v1/listings", w.ht.t(), b);
        assert_eq!(fields(&r), vec![field.to_string()], "create with {field}");
        let mut b = json!({"title": "护塘村2027年第一批土地经营权流转（更正）"});
        b[*field] = value.clone();
        let r = patch_listing(&app, w.ht.t(), &id, b);
        assert_eq!(fields(&r), vec![field.to_string()], "patch with {field}");
    }
    let mut c = consent(20, 30, 12);
    c["verified"] = json!(true);
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        with(body.clone(), json!({"consent": c})),
    );
    assert_eq!(fields(&r), vec!["consent.verified"]);
    // Missing and mistyped fields.
    let r = app.post("/api/v1/listings", w.ht.t(), without(body.clone(), "title"));
    assert_eq!(fields(&r), vec!["title"]);
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        without(body.clone(), "consent"),
    );
    assert_eq!(fields(&r), vec!["consent"]);
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        with(body.clone(), json!({"reserve_price_fen": "1200元"})),
    );
    assert_eq!(fields(&r), vec!["reserve_price_fen"]);
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        with(
            body.clone(),
            json!({"registration_closes_at": "2027-02-01"}),
        ),
    );
    assert_eq!(fields(&r), vec!["registration_closes_at"]);
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        with(body.clone(), json!({"term_end": "2037/02/28"})),
    );
    assert_eq!(fields(&r), vec!["term_end"]);
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        with(body.clone(), json!({"title": " "})),
    );
    assert_eq!(fields(&r), vec!["title"]);
    app.call_raw(
        "POST",
        "/api/v1/listings",
        w.ht.t(),
        Some("{\"title\": ".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
    // Nothing smuggled in: the draft is as created.
    let l = expect(get_listing(&app, w.ht.t(), &id), 200, "get");
    assert_eq!(l["status"], "draft");
    assert_eq!(l["title"], "护塘村2027年第一批土地经营权流转");
    assert_eq!(l["village_id"], json!(w.hutang));
    assert_eq!(l["attempt"], 1);
    // Only one listing exists.
    assert_eq!(search(&app, w.ht.t(), "mine=true"), vec![id.clone()]);

    // Path ids must be UUIDs.
    get_listing(&app, None, "CJ-2027-0001").assert_problem(400, "bad_request");
    get_listing(&app, w.ht.t(), "not-a-uuid").assert_problem(400, "bad_request");
    patch_listing(&app, w.ht.t(), "not-a-uuid", json!({"title": "x"}))
        .assert_problem(400, "bad_request");
    for action in ["submit", "approve", "return", "cancel", "relist"] {
        listing_act(&app, w.ht.t(), "123", action, json!({})).assert_problem(400, "bad_request");
    }
    // Unknown ids: 404.
    let ghost = uuid::Uuid::now_v7().to_string();
    get_listing(&app, None, &ghost).assert_problem(404, "not_found");
    submit(&app, &w.ht, &ghost).assert_problem(404, "not_found");

    // Tokens and roles.
    app.post("/api/v1/listings", None, body.clone())
        .assert_problem(401, "unauthorized");
    app.post("/api/v1/listings", Some("not-a-token"), body.clone())
        .assert_problem(401, "unauthorized");
    patch_listing(&app, None, &id, json!({"title": "x"})).assert_problem(401, "unauthorized");
    listing_act(&app, None, &id, "submit", json!({})).assert_problem(401, "unauthorized");
    for token in [w.investor.t(), w.cj_staff.t(), w.admin()] {
        app.post("/api/v1/listings", token, body.clone())
            .assert_problem(403, "forbidden");
    }
    // An expired token is 401 too.
    app.advance(Duration::hours(1));
    app.post("/api/v1/listings", w.ht.t(), body.clone())
        .assert_problem(401, "unauthorized");
}

#[test]
fn another_villages_parcel_in_a_draft_shows_nothing_of_it() {
    let app = TestApp::start();
    let w = World::new(&app);
    let foreign = new_parcel(
        &app,
        &w.jg,
        parcel_body("JS-CJ-0102-001", "33.33", "漕泾镇金光村7组"),
    );
    let own = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0101-001", "10.00", "漕泾镇护塘村1组"),
    );
    let l = new_listing(&app, &w.ht, listing_body("护塘村草稿", &[&own, &foreign]));
    let codes: Vec<&str> = l["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["JS-CJ-0101-001"],
        "the other village's parcel is not shown"
    );
    assert_eq!(l["total_area_mu"], "10.00", "nor counted");
    assert!(!l.to_string().contains("金光村7组"));
    // and submit refuses it
    let r = submit(&app, &w.ht, l["id"].as_str().unwrap());
    r.assert_field("parcel_ids");
}

/// The listing whose term the bound tests vary: one parcel with a contract end far enough.
fn term_body(p: &str, start: &str, end: &str) -> Value {
    with(
        listing_body("护塘村2027年第一批土地经营权流转", &[p]),
        json!({"term_start": start, "term_end": end}),
    )
}

/// DOMAIN.md's longest term as calendar dates written out here (no date arithmetic of the
/// code under test): `term_end < term_start + 30 years`, with 29 February becoming 28
/// February in a common year.
#[test]
fn the_longest_term_ends_on_the_documented_calendar_date() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    // 2028-02-29 + 30 years is 2058-02-28: the day before is the last allowed end.
    submit_passes(&app, &w.ht, term_body(&p, "2028-02-29", "2058-02-27"));
    submit_fails(
        &app,
        &w.ht,
        term_body(&p, "2028-02-29", "2058-02-28"),
        &["term_end"],
    );
    // 2027-03-01 + 30 years is 2057-03-01.
    submit_passes(&app, &w.ht, term_body(&p, "2027-03-01", "2057-02-28"));
    submit_fails(
        &app,
        &w.ht,
        term_body(&p, "2027-03-01", "2057-03-01"),
        &["term_end"],
    );
}

/// DOMAIN.md rule 2: "the term is at least one year: `term_end ≥ term_start + 1 year − 1
/// day`", again as written-out calendar dates.
#[test]
fn a_term_shorter_than_one_year_is_refused() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    for (start, end) in [
        // 2028-02-29 + 1 year − 1 day = 2029-02-27.
        ("2028-02-29", "2029-02-27"),
        // 2027-03-01 + 1 year − 1 day = 2028-02-29 (a leap day).
        ("2027-03-01", "2028-02-29"),
        ("2028-01-01", "2028-12-31"),
    ] {
        submit_passes(&app, &w.ht, term_body(&p, start, end));
    }
    for (start, end) in [
        ("2028-02-29", "2029-02-26"),
        ("2027-03-01", "2028-02-28"),
        ("2028-01-01", "2028-12-30"),
        ("2027-03-01", "2027-03-02"),
    ] {
        submit_fails(&app, &w.ht, term_body(&p, start, end), &["term_end"]);
    }
}
