//! Organisations: public lists with pagination, uniqueness and field rules, admin-only
//! creation, and the audit records of each creation.

use std::collections::HashSet;

use serde_json::json;

use crate::support::*;

#[test]
fn organisations_are_public_and_paginate() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let mut townships = vec![o.township.clone()];
    for (code, name) in [("JSW", "金山卫镇"), ("LX", "廊下镇"), ("ZJ", "张堰镇")] {
        let r = app.post(
            "/api/v1/townships",
            Some(&admin),
            json!({"code": code, "name": name, "insurance_required": false}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["insurance_required"], false);
        townships.push(r.id());
    }
    let other_village = app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": townships[2], "code": "HT", "name": "中华村"}),
    );
    assert_eq!(
        other_village.status, 201,
        "same code in another township is fine: {}",
        other_village.text
    );
    let r = app.post(
        "/api/v1/insurers",
        Some(&admin),
        json!({"code": "ZHLH", "name": "中华联合财产保险"}),
    );
    assert_eq!(r.status, 201);
    let insurers = [o.insurer.clone(), r.id()];

    let all = app.get("/api/v1/townships", None);
    assert_eq!(all.status, 200);
    assert!(all.body["next_cursor"].is_null());
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let cj = items.iter().find(|t| t["code"] == "CJ").unwrap();
    assert_eq!(cj["name"], "漕泾镇");
    assert_eq!(cj["insurance_required"], true);
    assert!(cj["created_at"].as_str().unwrap().ends_with('Z'));

    let walked = walk(&app, None, "/api/v1/townships", 1);
    assert_eq!(walked.len(), 4, "{walked:?}");
    assert_eq!(
        walked.iter().collect::<HashSet<_>>(),
        townships.iter().collect::<HashSet<_>>()
    );
    let walked = walk(
        &app,
        None,
        &format!("/api/v1/townships/{}/villages", o.township),
        1,
    );
    assert_eq!(walked.len(), 3);
    assert_eq!(
        walked.iter().collect::<HashSet<_>>(),
        o.villages.iter().collect::<HashSet<_>>()
    );
    let walked = walk(&app, None, "/api/v1/insurers", 1);
    assert_eq!(
        walked.iter().collect::<HashSet<_>>(),
        insurers.iter().collect::<HashSet<_>>()
    );
    assert_eq!(walked.len(), 2);

    let villages = app.get(&format!("/api/v1/townships/{}/villages", o.township), None);
    let names: HashSet<&str> = villages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["护塘村", "金光村", "阮巷村"]));
    assert!(villages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["township_id"] == o.township.as_str()));
    let there = app.get(
        &format!("/api/v1/townships/{}/villages", townships[2]),
        None,
    );
    assert_eq!(there.body["items"].as_array().unwrap().len(), 1);
    let empty = app.get(
        &format!("/api/v1/townships/{}/villages", townships[1]),
        None,
    );
    assert_eq!(empty.status, 200);
    assert!(empty.body["items"].as_array().unwrap().is_empty());
    assert!(empty.body["next_cursor"].is_null());

    let v = app.get(&format!("/api/v1/villages/{}", o.villages[2]), None);
    assert_eq!(v.body["name"], "阮巷村");
    assert_eq!(v.body["code"], "RX");
    let t = app.get(&format!("/api/v1/townships/{}", o.township), None);
    assert_eq!(t.body["code"], "CJ");

    let ghost = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/townships/{ghost}/villages"), None)
        .assert_problem(404, "not_found");
    app.get(&format!("/api/v1/townships/{ghost}"), None)
        .assert_problem(404, "not_found");
    app.get(&format!("/api/v1/villages/{ghost}"), None)
        .assert_problem(404, "not_found");
    app.get("/api/v1/townships/CJ/villages", None)
        .assert_problem(400, "bad_request");
    app.get("/api/v1/insurers?limit=0", None)
        .assert_field("limit");
}

#[test]
fn organisation_rules() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);

    app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "CJ", "name": "漕泾镇（重复）"}),
    )
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/insurers",
        Some(&admin),
        json!({"code": "AXNY", "name": "安信农业保险"}),
    )
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": o.township, "code": "HT", "name": "护塘村"}),
    )
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": uuid::Uuid::new_v4().to_string(), "code": "HY", "name": "花园村"}),
    )
    .assert_field("township_id");
    app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": "CJ", "code": "HY", "name": "花园村"}),
    )
    .assert_field("township_id");
    app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "漕泾", "name": "漕泾镇"}),
    )
    .assert_field("code");
    app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "JSW", "name": ""}),
    )
    .assert_field("name");
    app.post("/api/v1/insurers", Some(&admin), json!({"code": "ZHLH"}))
        .assert_field("name");
    // Nothing of that was created.
    assert_eq!(
        app.get("/api/v1/townships", None).body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get(&format!("/api/v1/townships/{}/villages", o.township), None)
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Every creation is audited, by the admin, on the system stream.
    let admin_id = me(&app, &admin).id;
    for (id, action, ty) in [
        (&o.township, "township.created", "township"),
        (&o.villages[0], "village.created", "village"),
        (&o.villages[1], "village.created", "village"),
        (&o.villages[2], "village.created", "village"),
        (&o.insurer, "insurer.created", "insurer"),
    ] {
        let recs = app.audit_for(id);
        assert_eq!(recs.len(), 1, "{id}");
        assert_eq!(recs[0].action, action);
        assert_eq!(recs[0].entity_type, ty);
        assert_eq!(recs[0].stream, "system");
        assert_eq!(recs[0].actor_id.as_deref(), Some(admin_id.as_str()));
        assert_eq!(recs[0].actor_role.as_deref(), Some("admin"));
    }
    // The system stream is one gapless chain.
    let mut seqs: Vec<i64> = [&o.township, &o.villages[0], &o.insurer]
        .iter()
        .map(|id| app.audit_for(id)[0].seq)
        .collect();
    seqs.sort();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn patching_an_organisation_needs_a_body_and_plain_text() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    for path in [
        format!("/api/v1/townships/{}", o.township),
        format!("/api/v1/villages/{}", o.villages[0]),
    ] {
        // No body at all: nothing to change, and a client that meant to send one learns it.
        let r = app.call_raw("PATCH", &path, Some(&admin), None, &[]);
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "body", "{path}");
        // serde alone reads a struct from an array of its fields: `[null, null]` was a 200.
        for body in ["[null, null]", "[]", "\"x\"", "7"] {
            let r = app.call_raw("PATCH", &path, Some(&admin), Some(body.to_string()), &[]);
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["field"], "body", "{path}");
        }
        // `{}` is a valid PATCH that changes nothing.
        assert_eq!(
            app.patch(&path, Some(&admin), json!({})).status,
            200,
            "{path}"
        );
    }
    let r = app.patch(
        &format!("/api/v1/townships/{}", o.township),
        Some(&admin),
        json!({"name": "漕泾\u{1a}镇"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "name");
    let r = app.patch(
        &format!("/api/v1/villages/{}", o.villages[0]),
        Some(&admin),
        json!({"legal_name": "护塘村\u{202e}股份经济合作社"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "legal_name");
}
