//! Parcels and listings: request bodies every rule accepts, and the lifecycle actions.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::documents::attach_listing_documents;
use super::harness::{Client, Resp, TestApp};
use super::http::{expect, fields, s, walk};
use super::world::User;

pub fn polygon() -> Value {
    json!({"type": "Polygon", "coordinates": [[
        [121.3921, 30.8012], [121.3968, 30.8012], [121.3968, 30.8047],
        [121.3921, 30.8047], [121.3921, 30.8012]
    ]]})
}

/// A permanent-basic-farmland arable parcel of 12 households, contract end 2058-12-31.
pub fn parcel_body(code: &str, area_mu: &str, location: &str) -> Value {
    json!({
        "code": code,
        "area_mu": area_mu,
        "land_type": "arable",
        "permanent_basic_farmland": true,
        "quality_grade": 3,
        "households": 12,
        "household_contract_end": "2058-12-31",
        "location": location,
    })
}

pub fn new_parcel(c: &Client, owner: &User, body: Value) -> String {
    let r = c.post("/api/v1/parcels", owner.t(), body);
    assert_eq!(r.status, 201, "parcel: {}", r.text);
    r.id()
}

pub fn consent(agreeing: i64, total: i64, commissions: i64) -> Value {
    json!({
        "resolution_date": "2027-01-05",
        "members_agreeing": agreeing,
        "members_total": total,
        "commissions_received": commissions,
    })
}

/// A listing every rule accepts at t0 for one 12-household parcel with a late contract end:
/// grain, 2027-03-01…2037-02-28, 1 200 yuan/mu/year, registration closes 2027-02-01 02:00Z
/// (t0 + 22 days), auction 2027-02-02 02:00–04:00Z.
pub fn listing_body(title: &str, parcel_ids: &[&str]) -> Value {
    json!({
        "title": title,
        "description": "经村民代表会议表决同意，将本村承包地经营权统一委托村集体公开流转，用于粮食生产。",
        "parcel_ids": parcel_ids,
        "intended_use": "grain",
        "term_start": "2027-03-01",
        "term_end": "2037-02-28",
        "reserve_price_fen": 120_000,
        "min_increment_fen": 1_000,
        "deposit_fen": 1_000_000,
        "registration_closes_at": "2027-02-01T02:00:00Z",
        "auction_starts_at": "2027-02-02T02:00:00Z",
        "auction_ends_at": "2027-02-02T04:00:00Z",
        "consent": consent(20, 30, 12),
    })
}

/// Creates a draft (asserting 201, no number yet, a `Location`); returns it.
pub fn new_listing(c: &Client, owner: &User, body: Value) -> Value {
    let r = c.post("/api/v1/listings", owner.t(), body);
    assert_eq!(r.status, 201, "create listing: {}", r.text);
    assert_eq!(r.body["status"], "draft");
    assert!(r.body["listing_no"].is_null());
    assert_eq!(
        r.header("location").map(String::from),
        Some(format!("/api/v1/listings/{}", r.id()))
    );
    attach_listing_documents(c, owner, &r.id());
    r.body
}

/// `POST /listings/{id}/{action}`.
pub fn listing_act(c: &Client, token: Option<&str>, id: &str, action: &str, body: Value) -> Resp {
    c.post(&format!("/api/v1/listings/{id}/{action}"), token, body)
}

pub fn submit(c: &Client, owner: &User, id: &str) -> Resp {
    listing_act(c, owner.t(), id, "submit", json!({}))
}

pub fn get_listing(c: &Client, token: Option<&str>, id: &str) -> Resp {
    c.get(&format!("/api/v1/listings/{id}"), token)
}

pub fn patch_listing(c: &Client, token: Option<&str>, id: &str, body: Value) -> Resp {
    c.patch(&format!("/api/v1/listings/{id}"), token, body)
}

/// Creates, submits and approves; returns the announced listing.
pub fn announce(c: &Client, owner: &User, staff: &User, body: Value) -> Value {
    let id = s(&new_listing(c, owner, body)["id"]);
    expect(submit(c, owner, &id), 200, "submit");
    let l = expect(
        listing_act(c, staff.t(), &id, "approve", json!({})),
        200,
        "approve",
    );
    assert_eq!(l["status"], "announced");
    l
}

/// Creates a listing (201) and submits it: answers the submit response.
pub fn create_and_submit(app: &Client, owner: &User, body: Value) -> Resp {
    let l = new_listing(app, owner, body);
    submit(app, owner, &s(&l["id"]))
}

/// Creates a listing, submits it and expects 422 naming exactly `want`; the listing stays
/// a numberless draft.
pub fn submit_fails(app: &Client, owner: &User, body: Value, want: &[&str]) {
    let l = new_listing(app, owner, body.clone());
    let id = s(&l["id"]);
    let r = submit(app, owner, &id);
    assert_eq!(fields(&r), want, "submit of {body}");
    let after = expect(get_listing(app, owner.t(), &id), 200, "get");
    assert_eq!(after["status"], "draft");
    assert!(after["listing_no"].is_null());
}

/// Creates and submits a listing (200), then cancels it so its parcels are free again.
/// Returns the listing number it got.
pub fn submit_passes(app: &Client, owner: &User, body: Value) -> String {
    let r = create_and_submit(app, owner, body.clone());
    let l = expect(r, 200, &format!("submit of {body}"));
    assert_eq!(l["status"], "submitted");
    let id = s(&l["id"]);
    let c = expect(
        listing_act(
            app,
            owner.t(),
            &id,
            "cancel",
            json!({"reason": "测试后撤回"}),
        ),
        200,
        "cancel",
    );
    assert_eq!(c["status"], "cancelled");
    s(&l["listing_no"])
}

/// Ids of one page of `GET /listings?{qs}` (limit 200, asserting it is the only page).
pub fn search(c: &Client, token: Option<&str>, qs: &str) -> Vec<String> {
    let r = c.get(&format!("/api/v1/listings?limit=200&{qs}"), token);
    let body = expect(r, 200, qs);
    assert!(body["next_cursor"].is_null(), "{qs}: one page");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| s(&l["id"]))
        .collect()
}

pub fn search_set(c: &Client, token: Option<&str>, qs: &str) -> HashSet<String> {
    search(c, token, qs).into_iter().collect()
}

/// Every id of `GET /listings?{qs}` in order, walked in pages of 2.
pub fn walk_search(c: &Client, qs: &str) -> Vec<String> {
    let path = if qs.is_empty() {
        "/api/v1/listings".to_string()
    } else {
        format!("/api/v1/listings?{qs}")
    };
    walk(c, None, &path, 2)
}

/// (action, from_state, to_state, actor_role, reason) of a listing's audit records, in stream
/// order.
pub type AuditRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The records of a listing written on its own stream, checking that stream: sequence 1..
/// without gaps and the hash chain. Besides the listing itself only its documents write to
/// it in these tests (the resolution and commission every listing carries).
pub fn listing_audit_rows(app: &TestApp, id: &str) -> Vec<AuditRow> {
    let mut stream = super::db::audit_where(
        app.pool(),
        &format!("stream = {}", super::db::lit(&format!("listing:{id}"))),
    );
    stream.sort_by_key(|r| r.seq);
    for (i, r) in stream.iter().enumerate() {
        assert!(
            matches!(r.entity_type.as_str(), "listing" | "document"),
            "only the listing and its documents: {}",
            r.entity_type
        );
        assert_eq!(r.seq, i as i64 + 1, "gap-free stream sequence");
        if i > 0 {
            assert_eq!(r.prev_hash, stream[i - 1].hash, "hash chain");
        }
    }
    let mut recs = app.audit_for(id);
    recs.sort_by_key(|r| r.seq);
    for r in &recs {
        assert_eq!(r.stream, format!("listing:{id}"), "listing stream");
        assert_eq!(r.entity_type, "listing");
    }
    recs.into_iter()
        .map(|r| (r.action, r.from_state, r.to_state, r.actor_role, r.reason))
        .collect()
}

pub fn listing_audit_actions(app: &TestApp, id: &str) -> Vec<String> {
    listing_audit_rows(app, id)
        .into_iter()
        .map(|r| r.0)
        .collect()
}
