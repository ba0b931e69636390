//! `landx demo seed`: the Caojing pilot data set on an empty database, refused on a used one
//! (with the reason, changing nothing).

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::db::{count, tables};
use crate::support::internals::{demo_seed, Refusal, DEMO_PASSWORD};
use crate::support::{register, TestApp};

/// Rows of every table of the application.
fn row_counts(app: &TestApp) -> BTreeMap<String, i64> {
    tables(app.pool())
        .into_iter()
        .map(|t| {
            let n = count(app.pool(), &t, "1 = 1");
            (t, n)
        })
        .collect()
}

/// Asserts that seeding is refused because the database holds data, and changes nothing.
fn assert_refused(app: &TestApp) {
    let before = row_counts(app);
    let refusal = demo_seed(app).expect_err("seeding a used database");
    assert_eq!(
        refusal,
        Refusal {
            code: "invalid_state".into(),
            message: "the database already holds data; demo seed runs only on an empty one".into(),
        }
    );
    assert_eq!(row_counts(app), before, "a refused seed changed rows");
}

#[test]
fn demo_seed_fills_an_empty_database_once() {
    let app = TestApp::start();
    let accounts = demo_seed(&app).expect("seeding an empty database");
    assert_eq!(accounts.len(), 6);
    let seeded = row_counts(&app);
    for table in ["townships", "villages", "users", "parcels", "listings"] {
        assert!(seeded[table] > 0, "{table}: {seeded:?}");
    }
    // Seeding again is refused and changes nothing.
    assert_refused(&app);
    // Every role can log in with the documented demo password.
    for (email, role) in &accounts {
        let token = app.login(email, DEMO_PASSWORD);
        assert_eq!(
            app.get("/api/v1/me", Some(&token)).body["role"],
            role.as_str()
        );
    }
    // The public sees the announced, auction and failed listings (the auction one turns from
    // announced into `auction` on the first read), never the drafts.
    let list = app.get("/api/v1/listings", None);
    let statuses: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"announced"));
    assert!(statuses.contains(&"auction"));
    assert!(statuses.contains(&"failed"));
    assert!(!statuses
        .iter()
        .any(|s| ["draft", "submitted", "returned", "cancelled"].contains(s)));
    // The collective sees its drafts with mine=true.
    let coll = app.login("hutang@demo.landx.cn", DEMO_PASSWORD);
    let mine = app.get("/api/v1/listings?mine=true", Some(&coll));
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 7);
    // The investors may bid once the auction opens.
    let farm = app.login("farm@demo.landx.cn", DEMO_PASSWORD);
    let auction = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["status"] == "auction")
        .unwrap();
    let id = auction["id"].as_str().unwrap();
    let r = app.post(
        &format!("/api/v1/listings/{id}/bids"),
        Some(&farm),
        json!({"amount_fen": auction["reserve_price_fen"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn demo_seed_refuses_a_database_with_data() {
    // A township is data.
    let app = TestApp::start();
    let admin = app.admin_token();
    let r = app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "CJ", "name": "漕泾镇"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_refused(&app);

    // So is one account that isn't an admin.
    let app = TestApp::start();
    register(&app, "zhangwei@example.cn", "张伟");
    assert_refused(&app);

    // An admin alone is not (`landx admin create` comes before the seed).
    let app = TestApp::start();
    app.admin_token();
    assert_eq!(demo_seed(&app).expect("admins only").len(), 6);
}
