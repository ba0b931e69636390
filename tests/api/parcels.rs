//! Parcels (the village land register): round trip and field rules, locking while in a live
//! listing, scoped lists and reads, and PATCH semantics.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::listings::*;
use crate::support::*;

#[test]
fn parcels_register_round_trip_and_validate() {
    let app = TestApp::start();
    let w = World::new(&app);
    let body = with(
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
        json!({"boundary_geojson": polygon()}),
    );
    let r = app.post("/api/v1/parcels", w.ht.t(), body);
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    assert_eq!(
        r.header("location").map(String::from),
        Some(format!("/api/v1/parcels/{id}"))
    );
    let p = r.body;
    assert_eq!(p["code"], "JS-CJ-0001-017");
    assert_eq!(p["area_mu"], "158.31");
    assert_eq!(p["land_type"], "arable");
    assert_eq!(p["permanent_basic_farmland"], true);
    assert_eq!(p["quality_grade"], 3);
    assert_eq!(p["households"], 12);
    assert_eq!(p["household_contract_end"], "2058-12-31");
    assert_eq!(p["location"], "漕泾镇护塘村3组");
    assert_eq!(p["village_id"], json!(w.hutang));
    assert_eq!(p["township_id"], json!(w.cj));
    assert_eq!(p["boundary_geojson"], polygon());
    assert_eq!(p["locked"], false);
    let got = expect(
        app.get(&format!("/api/v1/parcels/{id}"), w.ht.t()),
        200,
        "get",
    );
    assert_eq!(got, p, "GET returns what POST answered");

    // One decimal and whole numbers are fine and come back with two decimals.
    let r = app.post(
        "/api/v1/parcels",
        w.ht.t(),
        parcel_body("JS-CJ-0001-018", "36.5", "漕泾镇护塘村4组"),
    );
    assert_eq!(expect(r, 201, "36.5")["area_mu"], "36.50");

    // Area: a decimal string, at most two decimals, positive.
    for bad in [
        json!("1.234"),
        json!("-1"),
        json!("abc"),
        json!(12.5),
        json!("0"),
        json!(""),
    ] {
        let body = with(
            parcel_body("JS-CJ-0001-019", "1", "漕泾镇护塘村4组"),
            json!({"area_mu": bad}),
        );
        let r = app.post("/api/v1/parcels", w.ht.t(), body);
        assert_eq!(fields(&r), vec!["area_mu"], "area {bad}");
    }
    // GeoJSON: an unclosed ring, a point.
    let open = json!({"type": "Polygon", "coordinates": [[
        [121.3921, 30.8012], [121.3968, 30.8012], [121.3968, 30.8047], [121.3921, 30.8047]
    ]]});
    for bad in [
        open,
        json!({"type": "Point", "coordinates": [121.39, 30.80]}),
    ] {
        let body = with(
            parcel_body("JS-CJ-0001-019", "12.00", "漕泾镇护塘村4组"),
            json!({"boundary_geojson": bad}),
        );
        let r = app.post("/api/v1/parcels", w.ht.t(), body);
        assert_eq!(fields(&r), vec!["boundary_geojson"]);
    }
    // Other field rules.
    for (over, field) in [
        (json!({"code": "JS-CJ-漕泾-1"}), "code"),
        (json!({"code": ""}), "code"),
        (json!({"quality_grade": 11}), "quality_grade"),
        (json!({"households": -1}), "households"),
        (json!({"location": "   "}), "location"),
        (json!({"land_type": "wasteland"}), "land_type"),
        (
            json!({"household_contract_end": "2027-13-01"}),
            "household_contract_end",
        ),
        (json!({"village_id": w.jinguang}), "village_id"),
        (json!({"locked": false}), "locked"),
    ] {
        let body = with(
            parcel_body("JS-CJ-0001-019", "12.00", "漕泾镇护塘村4组"),
            over,
        );
        let r = app.post("/api/v1/parcels", w.ht.t(), body);
        r.assert_field(field);
    }
    let r = app.post(
        "/api/v1/parcels",
        w.ht.t(),
        without(
            parcel_body("JS-CJ-0001-019", "12.00", "漕泾镇护塘村4组"),
            "households",
        ),
    );
    r.assert_field("households");

    // Codes are unique platform-wide, across villages too.
    app.post(
        "/api/v1/parcels",
        w.ht.t(),
        parcel_body("JS-CJ-0001-017", "10.00", "漕泾镇护塘村3组"),
    )
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/parcels",
        w.jg.t(),
        parcel_body("JS-CJ-0001-017", "10.00", "漕泾镇金光村1组"),
    )
    .assert_problem(409, "conflict");
    // PATCH to a taken code is a conflict too.
    app.patch(
        &format!("/api/v1/parcels/{id}"),
        w.ht.t(),
        json!({"code": "JS-CJ-0001-018"}),
    )
    .assert_problem(409, "conflict");

    // Only a collective registers parcels.
    for who in [&w.investor, &w.cj_staff] {
        app.post(
            "/api/v1/parcels",
            who.t(),
            parcel_body("JS-CJ-0001-020", "10.00", "漕泾镇护塘村3组"),
        )
        .assert_problem(403, "forbidden");
    }
    app.post(
        "/api/v1/parcels",
        w.admin(),
        parcel_body("JS-CJ-0001-020", "10.00", "漕泾镇护塘村3组"),
    )
    .assert_problem(403, "forbidden");
    app.post(
        "/api/v1/parcels",
        None,
        parcel_body("JS-CJ-0001-020", "10.00", "漕泾镇护塘村3组"),
    )
    .assert_problem(401, "unauthorized");
}

#[test]
fn a_parcel_is_locked_while_in_a_live_listing() {
    let app = TestApp::start();
    let w = World::new(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let path = format!("/api/v1/parcels/{p}");

    // Free: editable; read-only and unknown fields are refused.
    let r = app.patch(
        &path,
        w.ht.t(),
        json!({"location": "漕泾镇护塘村3组、4组", "households": 14, "area_mu": "160.02"}),
    );
    let body = expect(r, 200, "patch free parcel");
    assert_eq!(body["location"], "漕泾镇护塘村3组、4组");
    assert_eq!(body["households"], 14);
    assert_eq!(body["area_mu"], "160.02");
    assert_eq!(body["code"], "JS-CJ-0001-017", "untouched fields stay");
    app.patch(&path, w.ht.t(), json!({"area_mu": "1.234"}))
        .assert_field("area_mu");
    for f in ["village_id", "locked", "township_id", "id"] {
        let mut b = json!({});
        b[f] = json!(w.jinguang);
        app.patch(&path, w.ht.t(), b).assert_field(f);
    }

    // In a draft listing: still free.
    let l = new_listing(
        &app,
        &w.ht,
        with(
            listing_body("护塘村2027年第一批土地经营权流转", &[&p]),
            json!({"consent": consent(20, 30, 14)}),
        ),
    );
    let lid = s(&l["id"]);
    assert_eq!(
        expect(app.get(&path, w.ht.t()), 200, "get")["locked"],
        false
    );
    expect(
        app.patch(&path, w.ht.t(), json!({"quality_grade": 2})),
        200,
        "patch while draft",
    );

    // Submitted: locked.
    expect(submit(&app, &w.ht, &lid), 200, "submit");
    assert_eq!(expect(app.get(&path, w.ht.t()), 200, "get")["locked"], true);
    let listed = expect(app.get("/api/v1/parcels", w.ht.t()), 200, "list");
    assert_eq!(listed["items"][0]["locked"], true);
    app.patch(&path, w.ht.t(), json!({"location": "漕泾镇护塘村5组"}))
        .assert_problem(409, "invalid_state");
    // Unchanged.
    assert_eq!(
        expect(app.get(&path, w.ht.t()), 200, "get")["location"],
        "漕泾镇护塘村3组、4组"
    );

    // Returned locks nothing; resubmitted locks again; announced locks.
    expect(
        listing_act(
            &app,
            w.cj_staff.t(),
            &lid,
            "return",
            json!({"reason": "请补充四至范围图"}),
        ),
        200,
        "return",
    );
    assert_eq!(
        expect(app.get(&path, w.ht.t()), 200, "get")["locked"],
        false
    );
    expect(
        app.patch(&path, w.ht.t(), json!({"boundary_geojson": polygon()})),
        200,
        "patch while returned",
    );
    expect(submit(&app, &w.ht, &lid), 200, "resubmit");
    expect(
        listing_act(&app, w.cj_staff.t(), &lid, "approve", json!({})),
        200,
        "approve",
    );
    assert_eq!(expect(app.get(&path, w.ht.t()), 200, "get")["locked"], true);
    app.patch(&path, w.ht.t(), json!({"households": 15}))
        .assert_problem(409, "invalid_state");

    // Cancelled: free again.
    let c = expect(
        listing_act(
            &app,
            w.cj_staff.t(),
            &lid,
            "cancel",
            json!({"reason": "村集体申请撤牌"}),
        ),
        200,
        "cancel",
    );
    assert_eq!(c["status"], "cancelled");
    assert_eq!(
        expect(app.get(&path, w.ht.t()), 200, "get")["locked"],
        false
    );
    let r = app.patch(&path, w.ht.t(), json!({"households": 15}));
    assert_eq!(expect(r, 200, "patch after cancel")["households"], 15);

    // A returned listing whose parcel was meanwhile submitted elsewhere can't be resubmitted.
    let first = s(&new_listing(
        &app,
        &w.ht,
        with(
            listing_body("护塘村2027年第一批土地经营权流转", &[&p]),
            json!({"consent": consent(20, 30, 15)}),
        ),
    )["id"]);
    expect(submit(&app, &w.ht, &first), 200, "submit first");
    expect(
        listing_act(
            &app,
            w.cj_staff.t(),
            &first,
            "return",
            json!({"reason": "请核对面积"}),
        ),
        200,
        "return first",
    );
    let second = s(&new_listing(
        &app,
        &w.ht,
        with(
            listing_body("护塘村2027年第二批土地经营权流转", &[&p]),
            json!({"consent": consent(20, 30, 15)}),
        ),
    )["id"]);
    expect(submit(&app, &w.ht, &second), 200, "submit second");
    assert_eq!(fields(&submit(&app, &w.ht, &first)), vec!["parcel_ids"]);
    let f = expect(get_listing(&app, w.ht.t(), &first), 200, "first");
    assert_eq!(f["status"], "returned");
}

#[test]
fn parcel_lists_and_reads_are_scoped() {
    let app = TestApp::start();
    let w = World::new(&app);
    let ht1 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let ht2 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-018", "36.50", "漕泾镇护塘村4组"),
    );
    let jg1 = new_parcel(
        &app,
        &w.jg,
        parcel_body("JS-CJ-0002-003", "230.05", "漕泾镇金光村1组"),
    );
    let cx1 = new_parcel(
        &app,
        &w.cx,
        with(
            parcel_body("JS-SY-0007-001", "80.00", "山阳镇长兴村8组"),
            json!({"land_type": "aquaculture", "permanent_basic_farmland": false}),
        ),
    );
    let ids = |token: Option<&str>, qs: &str| -> HashSet<String> {
        let body = expect(app.get(&format!("/api/v1/parcels{qs}"), token), 200, qs);
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| s(&p["id"]))
            .collect()
    };
    assert_eq!(ids(w.ht.t(), ""), set(&[&ht1, &ht2]));
    assert_eq!(ids(w.jg.t(), ""), set(&[&jg1]));
    assert_eq!(ids(w.cx.t(), ""), set(&[&cx1]));
    assert_eq!(ids(w.cj_staff.t(), ""), set(&[&ht1, &ht2, &jg1]));
    assert_eq!(ids(w.sy_staff.t(), ""), set(&[&cx1]));
    assert_eq!(ids(w.admin(), ""), set(&[&ht1, &ht2, &jg1, &cx1]));
    assert_eq!(
        ids(w.admin(), &format!("?village_id={}", w.jinguang)),
        set(&[&jg1])
    );
    assert_eq!(
        ids(w.cj_staff.t(), &format!("?village_id={}", w.hutang)),
        set(&[&ht1, &ht2])
    );
    assert_eq!(
        ids(w.ht.t(), &format!("?village_id={}", w.hutang)),
        set(&[&ht1, &ht2])
    );
    // Asking for another scope's village never shows its parcels.
    for (token, village) in [
        (w.ht.t(), &w.jinguang),
        (w.sy_staff.t(), &w.hutang),
        (w.cj_staff.t(), &w.changxing),
    ] {
        let r = app.get(&format!("/api/v1/parcels?village_id={village}"), token);
        if r.status == 200 {
            assert_eq!(r.body["items"], json!([]), "{}", r.text);
        } else {
            r.assert_problem(404, "not_found");
        }
    }
    app.get("/api/v1/parcels", w.investor.t())
        .assert_problem(403, "forbidden");
    app.get("/api/v1/parcels", None)
        .assert_problem(401, "unauthorized");
    app.get("/api/v1/parcels?limit=201", w.admin())
        .assert_field("limit");

    // Paging walks every parcel once.
    let seen = walk(&app, w.admin(), "/api/v1/parcels", 3);
    assert_eq!(seen.len(), 4);
    assert_eq!(
        seen.into_iter().collect::<HashSet<_>>(),
        set(&[&ht1, &ht2, &jg1, &cx1])
    );

    // Single parcels: another village's collective and another township's staff get 404,
    // for reading and editing alike; the township's staff read but may not edit.
    let path = format!("/api/v1/parcels/{ht1}");
    for token in [w.jg.t(), w.cx.t(), w.sy_staff.t(), w.investor.t()] {
        app.get(&path, token).assert_problem(404, "not_found");
        app.patch(&path, token, json!({"households": 1}))
            .assert_problem(404, "not_found");
    }
    expect(app.get(&path, w.cj_staff.t()), 200, "staff reads");
    expect(app.get(&path, w.admin()), 200, "admin reads");
    app.patch(&path, w.cj_staff.t(), json!({"households": 1}))
        .assert_problem(403, "forbidden");
    app.patch(&path, w.admin(), json!({"households": 1}))
        .assert_problem(403, "forbidden");
    app.get(
        &format!("/api/v1/parcels/{}", uuid::Uuid::now_v7()),
        w.ht.t(),
    )
    .assert_problem(404, "not_found");
    app.get("/api/v1/parcels/JS-CJ-0001-017", w.ht.t())
        .assert_problem(400, "bad_request");
    app.patch("/api/v1/parcels/not-a-uuid", w.ht.t(), json!({}))
        .assert_problem(400, "bad_request");
    assert_eq!(
        expect(app.get(&path, w.ht.t()), 200, "get")["households"],
        12,
        "nothing was changed by the refused edits"
    );
}

#[test]
fn parcel_patch_null_clears_optional_fields_and_absence_keeps_them() {
    let app = TestApp::start();
    let w = World::new(&app);
    let body = with(
        parcel_body("JS-CJ-0009-001", "20.00", "漕泾镇护塘村9组"),
        json!({"boundary_geojson": polygon()}),
    );
    let id = new_parcel(&app, &w.ht, body);
    let path = format!("/api/v1/parcels/{id}");
    let kept = app.patch(&path, w.ht.t(), json!({"location": "漕泾镇护塘村10组"}));
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.body["quality_grade"], 3);
    assert_eq!(kept.body["boundary_geojson"], polygon());
    let cleared = app.patch(
        &path,
        w.ht.t(),
        json!({"quality_grade": null, "boundary_geojson": null}),
    );
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["quality_grade"], Value::Null);
    assert_eq!(cleared.body["boundary_geojson"], Value::Null);
    assert_eq!(
        app.get(&path, w.ht.t()).body["location"],
        "漕泾镇护塘村10组"
    );
}
