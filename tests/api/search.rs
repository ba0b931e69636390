//! Public search: filters, sorting with stable ties, pagination, parameter errors, and the
//! due transitions a search performs on what it returns.

use std::collections::HashSet;

use chrono::Duration;
use serde_json::{json, Value};

use crate::support::listings::*;
use crate::support::*;

#[test]
fn public_search_filters_sorts_and_pages() {
    let app = TestApp::start();
    let w = World::new(&app);
    let parcel = |who: &User, code: &str, area: &str, loc: &str, over: Value| {
        new_parcel(&app, who, with(parcel_body(code, area, loc), over))
    };
    let ht17 = parcel(
        &w.ht,
        "JS-CJ-0001-017",
        "158.31",
        "漕泾镇护塘村3组",
        json!({}),
    );
    let ht21 = parcel(
        &w.ht,
        "JS-CJ-0001-021",
        "30.60",
        "漕泾镇护塘村5组",
        json!({"land_type": "garden", "permanent_basic_farmland": false, "households": 4}),
    );
    let ht22 = parcel(
        &w.ht,
        "JS-CJ-0001-022",
        "15.00",
        "漕泾镇护塘村5组",
        json!({"permanent_basic_farmland": false, "households": 2}),
    );
    let jg03 = parcel(
        &w.jg,
        "JS-CJ-0002-003",
        "230.05",
        "漕泾镇金光村1组",
        json!({"households": 18}),
    );
    let jg04 = parcel(
        &w.jg,
        "JS-CJ-0002-004",
        "66.66",
        "漕泾镇金光村2组",
        json!({"households": 6}),
    );
    let jg05 = parcel(
        &w.jg,
        "JS-CJ-0002-005",
        "40.00",
        "漕泾镇金光村3组",
        json!({}),
    );
    let cx01 = parcel(
        &w.cx,
        "JS-SY-0007-001",
        "80.00",
        "山阳镇长兴村8组",
        json!({"land_type": "aquaculture", "permanent_basic_farmland": false, "households": 7}),
    );
    let listing = |title: &str, parcels: &[&str], over: Value| {
        let days = over["days"].as_i64().expect("days");
        let mut over = over;
        over.as_object_mut().unwrap().remove("days");
        let dates = json!({
            "registration_closes_at": at(days, 0),
            "auction_starts_at": at(days + 1, 0),
            "auction_ends_at": at(days + 1, 7200),
        });
        with(with(listing_body(title, parcels), dates), over)
    };
    let a = s(&announce(
        &app,
        &w.ht,
        &w.cj_staff,
        listing(
            "护塘村2027年第一批土地经营权流转",
            &[&ht17],
            json!({"days": 20, "reserve_price_fen": 120_000}),
        ),
    )["id"]);
    let b = s(&announce(
        &app,
        &w.ht,
        &w.cj_staff,
        listing(
            "护塘村2027年第二批果园经营权流转",
            &[&ht21, &ht22],
            json!({"days": 15, "reserve_price_fen": 150_000, "intended_use": "fruit",
                   "consent": consent(20, 30, 6)}),
        ),
    )["id"]);
    let c = s(&announce(
        &app,
        &w.jg,
        &w.cj_staff,
        listing(
            "金光村蔬菜基地土地经营权流转",
            &[&jg03],
            json!({"days": 25, "reserve_price_fen": 98_000, "intended_use": "vegetables",
                   "consent": consent(20, 30, 18)}),
        ),
    )["id"]);
    let d = s(&announce(
        &app,
        &w.jg,
        &w.cj_staff,
        listing(
            "金光村2027年第一批土地经营权流转",
            &[&jg04],
            json!({"days": 18, "reserve_price_fen": 120_000, "consent": consent(20, 30, 6)}),
        ),
    )["id"]);
    let e = s(&announce(
        &app,
        &w.cx,
        &w.sy_staff,
        listing(
            "长兴村养殖水面经营权流转",
            &[&cx01],
            json!({"days": 12, "reserve_price_fen": 130_000, "intended_use": "aquaculture",
                   "consent": consent(20, 30, 7)}),
        ),
    )["id"]);
    // Not public: a draft and a submitted listing that would match many filters.
    new_listing(
        &app,
        &w.ht,
        listing(
            "护塘村2027年第三批土地经营权流转",
            &[&ht17],
            json!({"days": 16, "reserve_price_fen": 50_000}),
        ),
    );
    let g = new_listing(
        &app,
        &w.jg,
        listing(
            "金光村待审核土地经营权流转",
            &[&jg05],
            json!({"days": 16, "reserve_price_fen": 50_000}),
        ),
    );
    expect(submit(&app, &w.jg, &s(&g["id"])), 200, "submit g");

    let all = set(&[&a, &b, &c, &d, &e]);
    let q = |qs: &str| search_set(&app, None, qs);
    assert_eq!(q(""), all);
    assert_eq!(
        search_set(&app, w.ht.t(), ""),
        all,
        "a token changes nothing"
    );
    assert_eq!(q("status=announced"), all);
    assert!(q("status=failed").is_empty());
    assert!(q("status=draft").is_empty());
    assert!(q("status=submitted").is_empty());
    assert_eq!(q(&format!("township_id={}", w.cj)), set(&[&a, &b, &c, &d]));
    assert_eq!(q(&format!("township_id={}", w.sy)), set(&[&e]));
    assert_eq!(q(&format!("village_id={}", w.hutang)), set(&[&a, &b]));
    assert_eq!(q(&format!("village_id={}", w.jinguang)), set(&[&c, &d]));
    assert_eq!(q(&format!("village_id={}", w.changxing)), set(&[&e]));
    // Any parcel of the type matches (b has a garden and an arable parcel).
    assert_eq!(q("land_type=garden"), set(&[&b]));
    assert_eq!(q("land_type=arable"), set(&[&a, &b, &c, &d]));
    assert_eq!(q("land_type=aquaculture"), set(&[&e]));
    assert!(q("land_type=forest").is_empty());
    assert_eq!(q("intended_use=vegetables"), set(&[&c]));
    assert_eq!(q("intended_use=grain"), set(&[&a, &d]));
    assert_eq!(q("intended_use=fruit"), set(&[&b]));
    // Area bounds are inclusive: b 45.60, d 66.66, e 80.00, a 158.31, c 230.05.
    assert_eq!(q("min_area_mu=66.66"), set(&[&a, &c, &d, &e]));
    assert_eq!(q("max_area_mu=66.66"), set(&[&b, &d]));
    assert_eq!(q("min_area_mu=50&max_area_mu=100"), set(&[&d, &e]));
    assert_eq!(q("min_area_mu=66.67&max_area_mu=79.99"), HashSet::new());
    assert_eq!(q("max_reserve_price_fen=120000"), set(&[&a, &c, &d]));
    assert_eq!(q("max_reserve_price_fen=119999"), set(&[&c]));
    // Title text, in Chinese.
    assert_eq!(q(&format!("q={}", enc("护塘"))), set(&[&a, &b]));
    assert_eq!(q(&format!("q={}", enc("金光"))), set(&[&c, &d]));
    assert_eq!(q(&format!("q={}", enc("果园"))), set(&[&b]));
    assert_eq!(q(&format!("q={}", enc("第一批"))), set(&[&a, &d]));
    assert_eq!(q(&format!("q={}", enc("待审核"))), HashSet::new());
    assert_eq!(q(&format!("q={}", enc("100%"))), HashSet::new());
    assert_eq!(q(&format!("q={}", enc("_"))), HashSet::new());
    // Combined.
    assert_eq!(
        q(&format!(
            "township_id={}&intended_use=grain&max_area_mu=100",
            w.cj
        )),
        set(&[&d])
    );
    assert_eq!(
        q(&format!(
            "q={}&land_type=arable&min_area_mu=100",
            enc("护塘")
        )),
        set(&[&a])
    );

    // Sorting; ties (a and d both 120 000 fen) fall back to the id in the same direction.
    let (ad_lo, ad_hi) = if a < d { (&a, &d) } else { (&d, &a) };
    let by_price: Vec<String> = [&c, ad_lo, ad_hi, &e, &b]
        .iter()
        .map(|x| x.to_string())
        .collect();
    let by_area: Vec<String> = [&b, &d, &e, &a, &c].iter().map(|x| x.to_string()).collect();
    let by_close: Vec<String> = [&e, &b, &d, &a, &c].iter().map(|x| x.to_string()).collect();
    let rev = |v: &Vec<String>| v.iter().rev().cloned().collect::<Vec<_>>();
    for (sort, want) in [
        ("reserve_price_fen", by_price.clone()),
        ("-reserve_price_fen", rev(&by_price)),
        ("total_area_mu", by_area.clone()),
        ("-total_area_mu", rev(&by_area)),
        ("registration_closes_at", by_close.clone()),
        ("-registration_closes_at", rev(&by_close)),
    ] {
        let qs = format!("sort={}", enc(sort));
        assert_eq!(search(&app, None, &qs), want, "one page, {sort}");
        assert_eq!(walk_search(&app, &qs), want, "pages of 2, {sort}");
    }
    // Default order: every item once, pages agree with one page.
    let one = search(&app, None, "");
    assert_eq!(one.len(), 5);
    assert_eq!(walk_search(&app, ""), one);
    // Pages with a filter.
    let qs = format!("q={}&sort=reserve_price_fen", enc("村"));
    assert_eq!(walk_search(&app, &qs), by_price);
    let qs = format!("township_id={}&sort=-total_area_mu", w.cj);
    assert_eq!(
        walk_search(&app, &qs),
        vec![c.clone(), a.clone(), d.clone(), b.clone()]
    );

    // Items carry what a buyer needs.
    let page = expect(
        app.get("/api/v1/listings?sort=total_area_mu&limit=1", None),
        200,
        "page",
    );
    let first = &page["items"][0];
    assert_eq!(first["id"], json!(b));
    assert_eq!(first["total_area_mu"], "45.60");
    assert_eq!(first["annual_reserve_rent_fen"], 6_840_000);
    assert_eq!(first["status"], "announced");
    assert_eq!(first["listing_no"], "CJ-2027-0002");
    assert_eq!(first["parcels"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());

    // Limits and bad parameters.
    app.get("/api/v1/listings?limit=201", None)
        .assert_field("limit");
    app.get("/api/v1/listings?limit=0", None)
        .assert_field("limit");
    assert_eq!(
        expect(app.get("/api/v1/listings?limit=200", None), 200, "200")["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    for bad in [
        "sort=price",
        "status=open",
        "land_type=wasteland",
        "township_id=CJ",
        "cursor=not-a-cursor",
        "min_area_mu=abc",
        "limit=abc",
    ] {
        app.get(&format!("/api/v1/listings?{bad}"), None)
            .assert_problem(400, "bad_request");
    }
}

#[test]
fn searches_perform_due_closes_and_closed_listings_stay_put() {
    let app = TestApp::start();
    let mut w = World::new(&app);
    let p1 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let p2 = new_parcel(
        &app,
        &w.jg,
        parcel_body("JS-CJ-0002-003", "230.05", "漕泾镇金光村1组"),
    );
    let early = s(&announce(
        &app,
        &w.ht,
        &w.cj_staff,
        with(
            listing_body("护塘村2027年第一批土地经营权流转", &[&p1]),
            json!({"registration_closes_at": at(12, 0), "auction_starts_at": at(13, 0),
                   "auction_ends_at": at(13, 3600)}),
        ),
    )["id"]);
    let late = s(&announce(
        &app,
        &w.jg,
        &w.cj_staff,
        listing_body("金光村2027年第一批土地经营权流转", &[&p2]),
    )["id"]);
    // Past the first close only: the search whose page holds it closes it (a search settles
    // only its page: `status=failed` alone wouldn't find a listing still `announced`).
    app.set_now(t0() + Duration::days(12));
    assert_eq!(search(&app, None, "status=announced"), vec![late.clone()]);
    assert_eq!(search(&app, None, "status=failed"), vec![early.clone()]);
    assert_eq!(
        listing_audit_actions(&app, &early)
            .last()
            .map(String::as_str),
        Some("listing.registration_closed")
    );
    // The background worker does the same for the second one.
    app.set_now(t0() + Duration::days(30));
    app.run_jobs();
    assert_eq!(
        listing_audit_actions(&app, &late)
            .last()
            .map(String::as_str),
        Some("listing.registration_closed"),
        "closed by the worker, before any read"
    );
    assert_eq!(
        search_set(&app, None, "status=failed"),
        set(&[&early, &late])
    );
    // A failed listing can't be cancelled, edited or approved by anyone.
    w.relogin(&app);
    for token in [w.ht.t(), w.cj_staff.t(), w.admin()] {
        listing_act(&app, token, &early, "cancel", json!({"reason": "撤牌"}))
            .assert_problem(409, "invalid_state");
    }
    patch_listing(&app, w.ht.t(), &early, json!({"title": "改"}))
        .assert_problem(409, "invalid_state");
    listing_act(&app, w.cj_staff.t(), &early, "approve", json!({}))
        .assert_problem(409, "invalid_state");
    submit(&app, &w.ht, &early).assert_problem(409, "invalid_state");
    assert_eq!(
        listing_audit_actions(&app, &early),
        vec![
            "listing.created",
            "listing.submitted",
            "listing.approved",
            "listing.registration_closed"
        ]
    );
}

/// A query sent with raw UTF-8 bytes (`curl "…?q=护塘"`) is not a valid request target: the
/// HTTP layer (actix-http's h1 codec) answers a bare 400 before any of landx's code runs, so
/// it can't be problem+json (README: clients must percent-encode). Percent-encoded, the same
/// search is answered.
#[test]
fn unencoded_query_bytes_are_refused_by_the_http_layer_and_encoded_ones_answered() {
    use std::io::{Read, Write};
    let app = TestApp::start();
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut raw = std::net::TcpStream::connect(&addr).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    raw.write_all(
        format!(
            "GET /api/v1/listings?q=护塘 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let r = app.get(&format!("/api/v1/listings?q={}", enc("护塘")), None);
    assert_eq!(r.status, 200, "{}", r.text);
}
