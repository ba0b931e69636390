//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use crate::support::db as rows;
use crate::support::listings::*;
use crate::support::trading::{make_listing, schedule, Stage, RESERVE};
#[allow(unused_imports)]
use crate::support::*;

fn status_in_db(app: &TestApp, id: &str) -> String {
    rows::lines(
        app.pool(),
        &format!(
            "SELECT status AS line FROM listings WHERE id = {}",
            rows::lit(id)
        ),
    )
    .join("")
}

// ---- item 5: the search cursor resolves only among listings the caller may see ----------

#[test]
fn search_cursor_of_a_hidden_draft_is_refused_like_an_unknown_one() {
    let app = TestApp::start();
    let w = World::new(&app);
    let cheap = make_listing(
        &app,
        &w,
        w.cj(),
        "20.00",
        90_000,
        schedule(&app),
        Stage::Announced,
    );
    let dear = make_listing(
        &app,
        &w,
        w.cj(),
        "20.00",
        150_000,
        schedule(&app),
        Stage::Announced,
    );
    // A draft in between: its reserve price is nobody's business but its village's.
    let draft = make_listing(
        &app,
        &w,
        w.cj(),
        "20.00",
        120_000,
        schedule(&app),
        Stage::Draft,
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    for sort in ["", "&sort=reserve_price_fen", "&sort=-reserve_price_fen"] {
        for token in [None, w.investor.t(), w.jg.t(), w.sy_staff.t()] {
            let r = app.get(
                &format!("/api/v1/listings?limit=10&cursor={}{sort}", draft.id),
                token,
            );
            r.assert_problem(400, "bad_request");
            let u = app.get(
                &format!("/api/v1/listings?limit=10&cursor={unknown}{sort}"),
                token,
            );
            u.assert_problem(400, "bad_request");
            assert_eq!(r.body["detail"], u.body["detail"], "same answer as unknown");
        }
    }
    // Public cursors still page.
    let page = ok(app.get(
        &format!(
            "/api/v1/listings?limit=10&sort=reserve_price_fen&cursor={}",
            cheap.id
        ),
        None,
    ));
    assert_eq!(ids(&page["items"]), vec![dear.id.clone()]);
    // The owner, who may see the draft, may page from it with `mine`.
    let page = ok(app.get(
        &format!(
            "/api/v1/listings?limit=10&mine=true&sort=reserve_price_fen&cursor={}",
            draft.id
        ),
        w.ht.t(),
    ));
    assert_eq!(ids(&page["items"]), vec![dear.id.clone()]);
}

// ---- item 13: a search settles only its page ---------------------------------------------

#[test]
fn search_settles_only_the_listings_on_its_page() {
    let app = TestApp::start();
    let w = World::new(&app);
    let older = make_listing(
        &app,
        &w,
        w.cj(),
        "30.00",
        RESERVE,
        schedule(&app),
        Stage::Announced,
    );
    let newer = make_listing(
        &app,
        &w,
        w.cj(),
        "30.00",
        RESERVE,
        schedule(&app),
        Stage::Announced,
    );
    // Both registrations closed without bidders: both are due to fail.
    app.set_now(older.closes.max(newer.closes) + Duration::minutes(1));
    let page = ok(app.get("/api/v1/listings?limit=1", None));
    assert_eq!(ids(&page["items"]), vec![newer.id.clone()]);
    assert_eq!(
        page["items"][0]["status"], "failed",
        "the page shows the settled state"
    );
    assert_eq!(status_in_db(&app, &newer.id), "failed");
    assert_eq!(
        status_in_db(&app, &older.id),
        "announced",
        "a due listing not on the page is left to the worker"
    );
    // A search by status settles the due listings of its page before filtering: the older
    // one no longer counts as announced.
    assert!(search(&app, None, "status=announced").is_empty());
    assert_eq!(status_in_db(&app, &older.id), "failed");
    assert_eq!(
        search(&app, None, "status=failed"),
        vec![newer.id.clone(), older.id.clone()]
    );
}

// ---- item 13: parcel codes are unique whatever their case --------------------------------

#[test]
fn parcel_codes_are_unique_whatever_their_letter_case() {
    let app = TestApp::start();
    let w = World::new(&app);
    new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-1", "10.00", "漕泾镇护塘村1组"),
    );
    app.post(
        "/api/v1/parcels",
        w.ht.t(),
        parcel_body("js-cj-1", "10.00", "漕泾镇护塘村1组"),
    )
    .assert_problem(409, "conflict");
    // Another village's collective can't take it either.
    app.post(
        "/api/v1/parcels",
        w.jg.t(),
        parcel_body("Js-Cj-1", "10.00", "漕泾镇金光村1组"),
    )
    .assert_problem(409, "conflict");
    let other = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-2", "10.00", "漕泾镇护塘村2组"),
    );
    app.patch(
        &format!("/api/v1/parcels/{other}"),
        w.ht.t(),
        json!({"code": "js-cj-1"}),
    )
    .assert_problem(409, "conflict");
    // Its own code in another case is fine.
    let p = ok(app.patch(
        &format!("/api/v1/parcels/{other}"),
        w.ht.t(),
        json!({"code": "js-cj-2"}),
    ));
    assert_eq!(p["code"], "js-cj-2");
}

// ---- item 13: relist takes new term dates ------------------------------------------------

#[test]
fn relist_with_new_term_dates_then_submit_passes() {
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
    app.set_now(Utc.with_ymd_and_hms(2027, 2, 1, 2, 0, 0).unwrap());
    assert_eq!(ok(get_listing(&app, None, &id))["status"], "failed");
    w.relogin(&app);
    // The old term starts 2027-03-01, before the new auction ends: it moves with the dates.
    let r = listing_act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        json!({
            "registration_closes_at": "2027-03-10T02:00:00Z",
            "auction_starts_at": "2027-03-11T02:00:00Z",
            "auction_ends_at": "2027-03-11T04:00:00Z",
            "term_start": "2027-04-01",
            "term_end": "2037-03-31",
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let new_id = r.id();
    assert_eq!(r.body["term_start"], "2027-04-01");
    assert_eq!(r.body["term_end"], "2037-03-31");
    let sub = expect(
        submit(&app, &w.ht, &new_id),
        200,
        "submit of the relisted draft",
    );
    assert_eq!(sub["status"], "submitted");
    // The new term dates are typed like anywhere else: a wrong type is 422 naming it.
    let r = listing_act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        json!({
            "registration_closes_at": "2027-03-10T02:00:00Z",
            "auction_starts_at": "2027-03-11T02:00:00Z",
            "auction_ends_at": "2027-03-11T04:00:00Z",
            "term_start": 5,
        }),
    );
    assert_eq!(fields(&r), vec!["term_start"]);
}

// ---- item 12 (part): return_reason is internal once approved -----------------------------

#[test]
fn return_reason_is_not_public_once_announced() {
    let app = TestApp::start();
    let w = World::new(&app);
    let a = make_listing(
        &app,
        &w,
        w.cj(),
        "40.00",
        RESERVE,
        schedule(&app),
        Stage::Submitted,
    );
    let reason = "村民代表会议决议缺少签字页，请补充";
    let r = ok(app.post(
        &a.path("/return"),
        w.cj_staff.t(),
        json!({"reason": reason}),
    ));
    assert_eq!(r["return_reason"], reason);
    ok(app.post(&a.path("/submit"), w.ht.t(), json!({})));
    let r = ok(app.post(&a.path("/approve"), w.cj_staff.t(), json!({})));
    assert_eq!(r["status"], "announced");
    for token in [
        None,
        w.investor.t(),
        w.jg.t(),
        w.sy_staff.t(),
        w.insurer.t(),
    ] {
        let one = ok(get_listing(&app, token, &a.id));
        assert!(one["return_reason"].is_null(), "GET as {token:?}: {one}");
        let page = ok(app.get("/api/v1/listings?limit=50", token));
        let item = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == json!(a.id))
            .expect("in the search")
            .clone();
        assert!(item["return_reason"].is_null(), "search as {token:?}");
    }
    for token in [w.ht.t(), w.cj_staff.t(), w.admin()] {
        let one = ok(get_listing(&app, token, &a.id));
        assert_eq!(one["return_reason"], reason, "GET as {token:?}");
        let page = ok(app.get("/api/v1/listings?limit=50&mine=true", token));
        let item = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == json!(a.id))
            .expect("in the search")
            .clone();
        assert_eq!(item["return_reason"], reason, "search as {token:?}");
    }
}

// ---- item 8 (part): free text of listings and parcels --------------------------------------

#[test]
fn listing_and_parcel_texts_refuse_control_and_bidi_characters() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let body = listing_body("护塘村2027年第一批土地经营权流转", &[&p]);
    // Title: one line, no bidi override.
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        with(body.clone(), json!({"title": "护塘村\u{202E}转流"})),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(fields(&r), vec!["title"]);
    // Description: several lines are fine, control and bidi characters are not.
    for bad in [
        "第一段\u{202E}反向",
        "第一段\u{0007}响铃",
        "第一段\u{2066}隔离\u{2069}",
    ] {
        let r = app.post(
            "/api/v1/listings",
            w.ht.t(),
            with(body.clone(), json!({"description": bad})),
        );
        r.assert_problem(422, "validation_failed");
        assert_eq!(fields(&r), vec!["description"], "{bad:?}");
    }
    let l = new_listing(
        &app,
        &w.ht,
        with(
            body.clone(),
            json!({"description": "第一段\n第二段\r\n\t第三段"}),
        ),
    );
    let id = s(&l["id"]);
    let r = patch_listing(&app, w.ht.t(), &id, json!({"description": "改\u{202E}写"}));
    r.assert_problem(422, "validation_failed");
    assert_eq!(fields(&r), vec!["description"]);
    // Reasons.
    expect(submit(&app, &w.ht, &id), 200, "submit");
    let r = listing_act(
        &app,
        w.cj_staff.t(),
        &id,
        "return",
        json!({"reason": "请\u{202E}补充"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(fields(&r), vec!["reason"]);
    // Parcel location, on create and on edit.
    let r = app.post(
        "/api/v1/parcels",
        w.ht.t(),
        parcel_body("JS-CJ-0001-018", "10.00", "护塘村\u{202E}组3"),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(fields(&r), vec!["location"]);
    let q = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-019", "10.00", "护塘村4组"),
    );
    let r = app.patch(
        &format!("/api/v1/parcels/{q}"),
        w.ht.t(),
        json!({"location": "护塘村\u{0000}4组"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(fields(&r), vec!["location"]);
}
