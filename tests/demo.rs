//! `landx demo seed`: the Caojing pilot data set on an empty database, refused on a used one.

mod common;

use common::*;
use landx::clock::Clock;

#[test]
fn demo_seed_fills_an_empty_database_once() {
    let app = TestApp::start();
    let mut conn = app.pool().get().unwrap();
    let accounts = landx::demo::seed(&mut conn, &app.state.data_key, app.clock.now()).unwrap();
    assert_eq!(accounts.len(), 6);
    // Seeding again is refused and changes nothing.
    assert!(landx::demo::seed(&mut conn, &app.state.data_key, app.clock.now()).is_err());
    drop(conn);
    // Every role can log in with the documented demo password.
    for (email, role) in &accounts {
        let token = app.login(email, landx::demo::DEMO_PASSWORD);
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
    let coll = app.login("hutang@demo.landx.cn", landx::demo::DEMO_PASSWORD);
    let mine = app.get("/api/v1/listings?mine=true", Some(&coll));
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 7);
    // The investors may bid once the auction opens.
    let farm = app.login("farm@demo.landx.cn", landx::demo::DEMO_PASSWORD);
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
        serde_json::json!({"amount_fen": auction["reserve_price_fen"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn demo_seed_refuses_a_database_with_data() {
    let app = TestApp::start();
    let admin = app.admin_token();
    app.post(
        "/api/v1/townships",
        Some(&admin),
        serde_json::json!({"code": "CJ", "name": "漕泾镇"}),
    );
    let mut conn = app.pool().get().unwrap();
    assert!(landx::demo::seed(&mut conn, &app.state.data_key, app.clock.now()).is_err());
}
