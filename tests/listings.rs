//! Issue 4 "Parcels and listings": the village land register, the listing lifecycle with
//! every submit rule, access scoping, public search, and the audit records and e-mails each
//! transition leaves, black-box over HTTP on SQLite or PostgreSQL.

mod common;

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use common::*;
use landx::clock::Clock;
use serde_json::{json, Value};

const PW: &str = "caojing-land-2027";

// ---- world ---------------------------------------------------------------------------------

/// An account and its current access token (tokens last 15 minutes of the test clock, so
/// [`World::relogin`] after moving the clock).
struct Actor {
    email: String,
    token: String,
}

impl Actor {
    fn t(&self) -> Option<&str> {
        Some(self.token.as_str())
    }
}

/// 漕泾镇 (CJ) with 护塘村 and 金光村, 山阳镇 (SY) with 长兴村; a collective account per
/// village, a staff account per township, an investor and an admin.
struct World {
    admin: String,
    cj: String,
    sy: String,
    hutang: String,
    jinguang: String,
    changxing: String,
    /// 护塘村 collective.
    ht: Actor,
    /// 金光村 collective.
    jg: Actor,
    /// 长兴村 collective (山阳镇).
    cx: Actor,
    cj_staff: Actor,
    sy_staff: Actor,
    investor: Actor,
}

impl World {
    fn admin(&self) -> Option<&str> {
        Some(self.admin.as_str())
    }

    /// Fresh tokens for everyone at the clock's current time.
    fn relogin(&mut self, app: &TestApp) {
        for a in [
            &mut self.ht,
            &mut self.jg,
            &mut self.cx,
            &mut self.cj_staff,
            &mut self.sy_staff,
            &mut self.investor,
        ] {
            a.token = app.login(&a.email, PW);
        }
        self.admin = app.admin_token();
    }
}

fn setup(app: &TestApp) -> World {
    let admin = app.admin_token();
    let township = |code: &str, name: &str| {
        let r = app.post(
            "/api/v1/townships",
            Some(&admin),
            json!({"code": code, "name": name}),
        );
        assert_eq!(r.status, 201, "township {name}: {}", r.text);
        r.id()
    };
    let cj = township("CJ", "漕泾镇");
    let sy = township("SY", "山阳镇");
    let village = |township_id: &str, code: &str, name: &str| {
        let r = app.post(
            "/api/v1/villages",
            Some(&admin),
            json!({"township_id": township_id, "code": code, "name": name}),
        );
        assert_eq!(r.status, 201, "village {name}: {}", r.text);
        r.id()
    };
    let hutang = village(&cj, "HT", "护塘村");
    let jinguang = village(&cj, "JG", "金光村");
    let changxing = village(&sy, "CX", "长兴村");
    let user = |email: &str, name: &str, role: &str, org: Option<(&str, &str)>| {
        let mut body = json!({"email": email, "password": PW, "display_name": name, "role": role});
        if let Some((field, id)) = org {
            body[field] = json!(id);
        }
        let r = app.post("/api/v1/users", Some(&admin), body);
        assert_eq!(r.status, 201, "user {email}: {}", r.text);
        Actor {
            email: email.to_string(),
            token: app.login(email, PW),
        }
    };
    let ht = user(
        "hutang@cj.landx.test",
        "护塘村股份经济合作社 陆建华",
        "collective",
        Some(("village_id", &hutang)),
    );
    let jg = user(
        "jinguang@cj.landx.test",
        "金光村股份经济合作社 张卫东",
        "collective",
        Some(("village_id", &jinguang)),
    );
    let cx = user(
        "changxing@sy.landx.test",
        "长兴村股份经济合作社 沈国强",
        "collective",
        Some(("village_id", &changxing)),
    );
    let cj_staff = user(
        "nongjing@cj.landx.test",
        "漕泾镇农村产权交易服务中心 顾敏",
        "staff",
        Some(("township_id", &cj)),
    );
    let sy_staff = user(
        "nongjing@sy.landx.test",
        "山阳镇农村产权交易服务中心 朱丽",
        "staff",
        Some(("township_id", &sy)),
    );
    let investor = user(
        "farm@jinshan-nongye.test",
        "金山绿野家庭农场 王海",
        "investor",
        None,
    );
    World {
        admin,
        cj,
        sy,
        hutang,
        jinguang,
        changxing,
        ht,
        jg,
        cx,
        cj_staff,
        sy_staff,
        investor,
    }
}

// ---- helpers -------------------------------------------------------------------------------

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// `t0 + days + secs` as RFC 3339.
fn at(days: i64, secs: i64) -> String {
    rfc(t0() + Duration::days(days) + Duration::seconds(secs))
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Asserts the status and returns the body.
fn expect(r: Resp, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    r.body
}

/// The fields a 422 `validation_failed` names, sorted.
fn fields(r: &Resp) -> Vec<String> {
    r.assert_problem(422, "validation_failed");
    let mut v: Vec<String> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| s(&e["field"]))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Overrides top-level keys of a JSON object.
fn with(mut base: Value, over: Value) -> Value {
    for (k, v) in over.as_object().expect("object") {
        base[k] = v.clone();
    }
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().expect("object").remove(key);
    base
}

/// Percent-encodes a query value (Chinese text, `+`, `:`).
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn polygon() -> Value {
    json!({"type": "Polygon", "coordinates": [[
        [121.3921, 30.8012], [121.3968, 30.8012], [121.3968, 30.8047],
        [121.3921, 30.8047], [121.3921, 30.8012]
    ]]})
}

/// A permanent-basic-farmland arable parcel of 12 households, contract end 2058-12-31.
fn parcel_body(code: &str, area_mu: &str, location: &str) -> Value {
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

fn new_parcel(app: &TestApp, owner: &Actor, body: Value) -> String {
    let r = app.post("/api/v1/parcels", owner.t(), body);
    assert_eq!(r.status, 201, "parcel: {}", r.text);
    r.id()
}

fn consent(agreeing: i64, total: i64, commissions: i64) -> Value {
    json!({
        "resolution_date": "2027-01-05",
        "members_agreeing": agreeing,
        "members_total": total,
        "commissions_received": commissions,
    })
}

/// A listing every rule accepts at t0 for one 12-household parcel with a late contract end:
/// grain, 2027-03-01…2037-02-28, 1 200 yuan/mu/year, registration closes t0 + 22 days.
fn listing_body(title: &str, parcel_ids: &[&str]) -> Value {
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

fn new_listing(app: &TestApp, owner: &Actor, body: Value) -> Value {
    let r = app.post("/api/v1/listings", owner.t(), body);
    assert_eq!(r.status, 201, "create listing: {}", r.text);
    assert_eq!(r.body["status"], "draft");
    assert!(r.body["listing_no"].is_null());
    assert_eq!(
        r.header("location").map(String::from),
        Some(format!("/api/v1/listings/{}", r.id()))
    );
    r.body
}

fn act(app: &TestApp, token: Option<&str>, id: &str, action: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/listings/{id}/{action}"), token, body)
}

fn submit(app: &TestApp, owner: &Actor, id: &str) -> Resp {
    act(app, owner.t(), id, "submit", json!({}))
}

fn get_listing(app: &TestApp, token: Option<&str>, id: &str) -> Resp {
    app.get(&format!("/api/v1/listings/{id}"), token)
}

fn patch_listing(app: &TestApp, token: Option<&str>, id: &str, body: Value) -> Resp {
    app.patch(&format!("/api/v1/listings/{id}"), token, body)
}

/// Creates, submits and approves; returns the announced listing.
fn announce(app: &TestApp, owner: &Actor, staff: &Actor, body: Value) -> Value {
    let id = s(&new_listing(app, owner, body)["id"]);
    expect(submit(app, owner, &id), 200, "submit");
    let l = expect(
        act(app, staff.t(), &id, "approve", json!({})),
        200,
        "approve",
    );
    assert_eq!(l["status"], "announced");
    l
}

/// Ids of one page of `GET /listings?{qs}` (limit 200, asserting it is the only page).
fn search(app: &TestApp, token: Option<&str>, qs: &str) -> Vec<String> {
    let r = app.get(&format!("/api/v1/listings?limit=200&{qs}"), token);
    let body = expect(r, 200, qs);
    assert!(body["next_cursor"].is_null(), "{qs}: one page");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| s(&l["id"]))
        .collect()
}

fn set(v: &[&String]) -> HashSet<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn search_set(app: &TestApp, token: Option<&str>, qs: &str) -> HashSet<String> {
    search(app, token, qs).into_iter().collect()
}

/// Follows `next_cursor` with `limit=2` and returns every id seen, in order.
fn walk(app: &TestApp, qs: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let c = cursor
            .as_deref()
            .map(|c| format!("&cursor={}", enc(c)))
            .unwrap_or_default();
        let body = expect(
            app.get(&format!("/api/v1/listings?limit=2&{qs}{c}"), None),
            200,
            qs,
        );
        let items = body["items"].as_array().expect("items");
        assert!(items.len() <= 2, "{qs}: page over the limit");
        seen.extend(items.iter().map(|l| s(&l["id"])));
        if body["next_cursor"].is_null() {
            return seen;
        }
        assert_eq!(items.len(), 2, "{qs}: a short page must be the last");
        cursor = Some(s(&body["next_cursor"]));
    }
    panic!("{qs}: pagination does not end");
}

/// (action, from_state, to_state, actor_role, reason) of a listing's audit records, in stream
/// order.
type AuditRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn audit_rows(app: &TestApp, id: &str) -> Vec<AuditRow> {
    let mut recs = app.audit_for(id);
    recs.sort_by_key(|r| r.seq);
    // Only the listing itself writes to its stream here: sequence 1.. and the hash chain.
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.stream, format!("listing:{id}"), "listing stream");
        assert_eq!(r.entity_type, "listing");
        assert_eq!(r.seq, i as i64 + 1, "gap-free stream sequence");
        if i > 0 {
            assert_eq!(r.prev_hash, recs[i - 1].hash, "hash chain");
        }
    }
    recs.into_iter()
        .map(|r| (r.action, r.from_state, r.to_state, r.actor_role, r.reason))
        .collect()
}

fn audit_actions(app: &TestApp, id: &str) -> Vec<String> {
    audit_rows(app, id).into_iter().map(|r| r.0).collect()
}

/// Mails to `to` whose subject mentions `needle`.
fn mails_to(app: &TestApp, to: &str, needle: &str) -> Vec<landx::db::models::OutboxMail> {
    app.outbox()
        .into_iter()
        .filter(|m| m.to_addr == to && m.subject.contains(needle))
        .collect()
}

// ---- 1. parcels ----------------------------------------------------------------------------

#[test]
fn parcels_register_round_trip_and_validate() {
    let app = TestApp::start();
    let w = setup(&app);
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
    let w = setup(&app);
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
        act(
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
        act(&app, w.cj_staff.t(), &lid, "approve", json!({})),
        200,
        "approve",
    );
    assert_eq!(expect(app.get(&path, w.ht.t()), 200, "get")["locked"], true);
    app.patch(&path, w.ht.t(), json!({"households": 15}))
        .assert_problem(409, "invalid_state");

    // Cancelled: free again.
    let c = expect(
        act(
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
        act(
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
fn a_draft_follows_edits_of_its_parcels() {
    let app = TestApp::start();
    let w = setup(&app);
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
fn parcel_lists_and_reads_are_scoped() {
    let app = TestApp::start();
    let w = setup(&app);
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
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let body = expect(
            app.get(&format!("/api/v1/parcels?limit=3{cursor}"), w.admin()),
            200,
            "page",
        );
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| s(&p["id"])),
        );
        if body["next_cursor"].is_null() {
            break;
        }
        cursor = format!("&cursor={}", s(&body["next_cursor"]));
        assert!(seen.len() < 10);
    }
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

// ---- 2. submit rules -----------------------------------------------------------------------

/// Creates a listing (201) and submits it: answers the submit response.
fn create_and_submit(app: &TestApp, owner: &Actor, body: Value) -> Resp {
    let l = new_listing(app, owner, body);
    submit(app, owner, &s(&l["id"]))
}

/// Creates a listing, submits it and expects 422 naming exactly `want`; the listing stays
/// a numberless draft.
fn submit_fails(app: &TestApp, owner: &Actor, body: Value, want: &[&str]) {
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
fn submit_passes(app: &TestApp, owner: &Actor, body: Value) -> String {
    let r = create_and_submit(app, owner, body.clone());
    let l = expect(r, 200, &format!("submit of {body}"));
    assert_eq!(l["status"], "submitted");
    let id = s(&l["id"]);
    let c = expect(
        act(
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

#[test]
fn every_submit_rule_names_its_field() {
    let app = TestApp::start();
    let w = setup(&app);
    // 158.31 mu, 12 households, permanent basic farmland, contract end 2058-12-31.
    let p1 = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    // 36.50 mu, 5 households, not basic farmland, contract end 2027-12-31 (the second round).
    let p2 = new_parcel(
        &app,
        &w.ht,
        with(
            parcel_body("JS-CJ-0001-018", "36.50", "漕泾镇护塘村4组"),
            json!({"households": 5, "household_contract_end": "2027-12-31",
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

    // 2. Term: not past a parcel's household contract end (p2 ends 2027-12-31).
    let p2_body = |term_end: &str| {
        with(
            listing_body("护塘村2027年第二批土地经营权流转", &[&p2]),
            json!({"consent": consent(20, 30, 5), "term_end": term_end}),
        )
    };
    submit_fails(&app, &w.ht, p2_body("2028-02-29"), &["term_end"]);
    submit_fails(&app, &w.ht, p2_body("2028-01-01"), &["term_end"]);
    numbers.push(submit_passes(&app, &w.ht, p2_body("2027-12-31")));
    // Two parcels: the earliest contract end binds, households add up.
    let both = with(
        listing_body("护塘村2027年第三批土地经营权流转", &[&p1, &p2]),
        json!({"consent": consent(20, 30, 17), "term_end": "2027-12-31"}),
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
        with(p2_body("2027-12-31"), json!({"intended_use": "fruit"})),
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
        act(
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
        act(
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

// ---- 3. lifecycle --------------------------------------------------------------------------

#[test]
fn submit_return_resubmit_approve_cancel() {
    let app = TestApp::start();
    let w = setup(&app);
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
    assert_eq!(mails_to(&app, &w.cj_staff.email, "CJ-2027-0001").len(), 1);
    assert!(mails_to(&app, &w.sy_staff.email, "").is_empty());
    assert!(mails_to(&app, &w.ht.email, "").is_empty());
    // Submitted: can't be edited or submitted again; an action body with fields is refused.
    patch_listing(&app, w.ht.t(), &id, json!({"title": "改"})).assert_problem(409, "invalid_state");
    submit(&app, &w.ht, &id).assert_problem(409, "invalid_state");
    act(&app, w.cj_staff.t(), &id, "approve", json!({"note": "好"})).assert_field("note");
    // Staff see it in their queue and the public doesn't.
    assert!(search(&app, w.cj_staff.t(), "mine=true").contains(&id));
    assert!(!search(&app, None, "").contains(&id));
    get_listing(&app, None, &id).assert_problem(404, "not_found");

    // Return with a reason: the collective sees it and is e-mailed.
    let reason = "村民代表会议决议缺少到会人员签字页，请补充后重新提交";
    act(&app, w.cj_staff.t(), &id, "return", json!({})).assert_field("reason");
    act(&app, w.cj_staff.t(), &id, "return", json!({"reason": "  "})).assert_field("reason");
    let ret = expect(
        act(
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
    let m = mails_to(&app, &w.ht.email, "CJ-2027-0001");
    assert_eq!(m.len(), 1, "collective told of the return");
    assert!(m[0].body.contains(reason), "{}", m[0].body);
    assert!(mails_to(&app, &w.jg.email, "").is_empty());
    act(
        &app,
        w.cj_staff.t(),
        &id,
        "return",
        json!({"reason": reason}),
    )
    .assert_problem(409, "invalid_state");
    act(&app, w.cj_staff.t(), &id, "approve", json!({})).assert_problem(409, "invalid_state");

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
    app.clock.advance(Duration::minutes(5));
    let again = expect(submit(&app, &w.ht, &id), 200, "resubmit");
    assert_eq!(again["status"], "submitted");
    assert_eq!(again["listing_no"], "CJ-2027-0001");
    assert_eq!(again["submitted_at"], "2027-01-10T02:05:00Z");
    assert_eq!(mails_to(&app, &w.cj_staff.email, "CJ-2027-0001").len(), 2);

    // Who may approve: the township's staff only.
    act(&app, w.ht.t(), &id, "approve", json!({})).assert_problem(403, "forbidden");
    act(&app, w.admin(), &id, "approve", json!({})).assert_problem(403, "forbidden");
    act(&app, w.sy_staff.t(), &id, "approve", json!({})).assert_problem(404, "not_found");
    act(&app, w.jg.t(), &id, "approve", json!({})).assert_problem(404, "not_found");
    act(&app, w.investor.t(), &id, "approve", json!({})).assert_problem(404, "not_found");

    app.clock.advance(Duration::minutes(5));
    let ann = expect(
        act(&app, w.cj_staff.t(), &id, "approve", json!({})),
        200,
        "approve",
    );
    assert_eq!(ann["status"], "announced");
    assert_eq!(ann["announced_at"], "2027-01-10T02:10:00Z");
    assert_eq!(ann["listing_no"], "CJ-2027-0001");
    let m = mails_to(&app, &w.ht.email, "CJ-2027-0001");
    assert_eq!(m.len(), 2, "collective told of the approval");
    assert!(mails_to(&app, &w.jg.email, "").is_empty());

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
    act(&app, w.cj_staff.t(), &id, "approve", json!({})).assert_problem(409, "invalid_state");
    act(&app, w.cj_staff.t(), &id, "return", json!({"reason": "x"}))
        .assert_problem(409, "invalid_state");
    act(
        &app,
        w.ht.t(),
        &id,
        "cancel",
        json!({"reason": "村集体申请撤牌"}),
    )
    .assert_problem(409, "invalid_state");
    // Readable but not theirs to act on.
    act(&app, w.sy_staff.t(), &id, "approve", json!({})).assert_problem(403, "forbidden");
    act(&app, w.sy_staff.t(), &id, "cancel", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    act(&app, w.jg.t(), &id, "cancel", json!({"reason": "x"})).assert_problem(403, "forbidden");
    act(&app, w.investor.t(), &id, "cancel", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    assert_eq!(
        expect(get_listing(&app, None, &id), 200, "still")["status"],
        "announced"
    );

    // Township staff cancel an announced listing, with a reason.
    let cancel_reason = "应村集体申请，因土地整治项目撤销挂牌";
    act(&app, w.cj_staff.t(), &id, "cancel", json!({})).assert_field("reason");
    let c = expect(
        act(
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
    act(
        &app,
        w.cj_staff.t(),
        &id,
        "cancel",
        json!({"reason": cancel_reason}),
    )
    .assert_problem(409, "invalid_state");

    // The audit trail, in order.
    let rows = audit_rows(&app, &id);
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
    assert_eq!(mails_to(&app, &w.ht.email, "CJ-2027-0001").len(), 3);

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
    assert_eq!(mails_to(&app, &w.sy_staff.email, "SY-2027-0001").len(), 1);
    assert!(mails_to(&app, &w.cj_staff.email, "SY-2027-0001").is_empty());
    act(&app, w.cj_staff.t(), &s(&cl["id"]), "approve", json!({})).assert_problem(404, "not_found");
    expect(
        act(&app, w.sy_staff.t(), &s(&cl["id"]), "approve", json!({})),
        200,
        "SY staff approve",
    );
    // And the 漕泾镇 counter goes on where it was.
    let cancelled_other = expect(
        act(
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
    let w = setup(&app);
    let p = new_parcel(
        &app,
        &w.ht,
        parcel_body("JS-CJ-0001-017", "158.31", "漕泾镇护塘村3组"),
    );
    let body = listing_body("护塘村2027年第一批土地经营权流转", &[&p]);
    let cancel = |token: Option<&str>, id: &str| {
        act(
            &app,
            token,
            id,
            "cancel",
            json!({"reason": "村民代表会议决定暂缓流转"}),
        )
    };

    // From draft.
    let d = s(&new_listing(&app, &w.ht, body.clone())["id"]);
    act(&app, w.cj_staff.t(), &d, "approve", json!({})).assert_problem(409, "invalid_state");
    act(&app, w.cj_staff.t(), &d, "return", json!({"reason": "x"}))
        .assert_problem(409, "invalid_state");
    act(&app, w.ht.t(), &d, "cancel", json!({})).assert_field("reason");
    act(
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
    assert_eq!(mails_to(&app, &w.cj_staff.email, "CJ-2027-0001").len(), 2);
    act(&app, w.cj_staff.t(), &sb, "approve", json!({})).assert_problem(409, "invalid_state");

    // From returned.
    let rt = s(&new_listing(&app, &w.ht, body.clone())["id"]);
    expect(submit(&app, &w.ht, &rt), 200, "submit");
    expect(
        act(
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
        let rows = audit_rows(&app, id);
        let last = rows.last().unwrap();
        assert_eq!(last.0, "listing.cancelled");
        assert_eq!(last.1.as_deref(), Some(from));
        assert_eq!(last.2.as_deref(), Some("cancelled"));
        assert_eq!(last.4.as_deref(), Some("村民代表会议决定暂缓流转"));
    }
    assert_eq!(
        audit_rows(&app, &an).last().unwrap().3.as_deref(),
        Some("admin")
    );
    // Every cancelled listing is gone from public view.
    assert!(search(&app, None, "").is_empty());
}

#[test]
fn approve_rechecks_the_announcement_period() {
    let app = TestApp::start();
    let mut w = setup(&app);
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
    app.clock.advance(Duration::days(3));
    w.relogin(&app);
    let r = act(&app, w.cj_staff.t(), &id, "approve", json!({}));
    assert_eq!(fields(&r), vec!["registration_closes_at"]);
    let still = expect(get_listing(&app, w.ht.t(), &id), 200, "get");
    assert_eq!(still["status"], "submitted");
    assert!(still["announced_at"].is_null());
    assert!(!audit_actions(&app, &id).contains(&"listing.approved".to_string()));

    // Returned, moved to exactly 10 days from now, resubmitted and approved at once.
    expect(
        act(
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
        act(&app, w.cj_staff.t(), &id, "approve", json!({})),
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
    let mut w = setup(&app);
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
    act(&app, w.ht.t(), &id, "relist", new_dates.clone()).assert_problem(409, "invalid_state");

    // One second before registration closes: still announced.
    let closes = Utc.with_ymd_and_hms(2027, 2, 1, 2, 0, 0).unwrap();
    app.clock.set(closes - Duration::seconds(1));
    let r = expect(get_listing(&app, None, &id), 200, "before close");
    assert_eq!(r["status"], "announced");
    assert!(r["eligible_bidders"].is_null());

    // At the closing instant a read performs the due transition: no eligible bidder → failed.
    app.clock.set(closes);
    let r = expect(get_listing(&app, None, &id), 200, "after close");
    assert_eq!(r["status"], "failed");
    assert_eq!(r["eligible_bidders"], 0);
    assert_eq!(r["closed_at"], "2027-02-01T02:00:00Z");
    assert!(r["current_price_fen"].is_null());
    let rows = audit_rows(&app, &id);
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
    assert_eq!(audit_rows(&app, &id).len(), rows.len());
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
        act(&app, token, &id, "relist", new_dates.clone()).assert_problem(403, "forbidden");
    }
    act(&app, w.sy_staff.t(), &id, "relist", new_dates.clone()).assert_problem(403, "forbidden");
    let r = act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        with(new_dates.clone(), json!({"reserve_price_fen": 120_001})),
    );
    assert_eq!(fields(&r), vec!["reserve_price_fen"]);
    let r = act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        with(new_dates.clone(), json!({"attempt": 5})),
    );
    assert_eq!(fields(&r), vec!["attempt"]);
    let r = act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        json!({"reserve_price_fen": 110_000}),
    );
    r.assert_field("registration_closes_at");

    let r = act(
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
    assert!(audit_actions(&app, &id).contains(&"listing.relisted".to_string()));
    assert_eq!(audit_actions(&app, &new_id), vec!["listing.created"]);
    // The copy is a draft: not public, the owner's own.
    get_listing(&app, None, &new_id).assert_problem(404, "not_found");
    assert!(search(&app, w.ht.t(), "mine=true").contains(&new_id));

    // Once per failed listing; a draft can't be relisted.
    act(
        &app,
        w.ht.t(),
        &id,
        "relist",
        with(new_dates.clone(), json!({"reserve_price_fen": 100_000})),
    )
    .assert_problem(409, "invalid_state");
    act(&app, w.ht.t(), &new_id, "relist", new_dates.clone()).assert_problem(409, "invalid_state");

    // The copy is fully re-checked on submit: its term now starts before the new auction.
    assert_eq!(rfc(app.clock.now()), "2027-02-01T02:00:00Z");
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
    let mut w = setup(&app);
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
    app.clock
        .set(Utc.with_ymd_and_hms(2027, 12, 31, 15, 59, 59).unwrap());
    w.relogin(&app);
    let a = new_listing(&app, &w.ht, body("护塘村2027年第四批土地经营权流转", &p1));
    let a = expect(submit(&app, &w.ht, &s(&a["id"])), 200, "submit a");
    assert_eq!(a["listing_no"], "CJ-2027-0001");
    // ... one second later it is 2028 there (still 2027 in UTC): a new sequence.
    app.clock
        .set(Utc.with_ymd_and_hms(2027, 12, 31, 16, 0, 0).unwrap());
    let b = new_listing(&app, &w.ht, body("护塘村2028年第一批土地经营权流转", &p2));
    let b = expect(submit(&app, &w.ht, &s(&b["id"])), 200, "submit b");
    assert_eq!(b["listing_no"], "CJ-2028-0001");
}

#[test]
fn searches_perform_due_closes_and_closed_listings_stay_put() {
    let app = TestApp::start();
    let mut w = setup(&app);
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
    // Past the first close only: the search itself closes it.
    app.clock.set(t0() + Duration::days(12));
    assert_eq!(search(&app, None, "status=failed"), vec![early.clone()]);
    assert_eq!(search(&app, None, "status=announced"), vec![late.clone()]);
    assert_eq!(
        audit_actions(&app, &early).last().map(String::as_str),
        Some("listing.registration_closed")
    );
    // The background worker does the same for the second one.
    app.clock.set(t0() + Duration::days(30));
    app.run_jobs();
    assert_eq!(
        audit_actions(&app, &late).last().map(String::as_str),
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
        act(&app, token, &early, "cancel", json!({"reason": "撤牌"}))
            .assert_problem(409, "invalid_state");
    }
    patch_listing(&app, w.ht.t(), &early, json!({"title": "改"}))
        .assert_problem(409, "invalid_state");
    act(&app, w.cj_staff.t(), &early, "approve", json!({})).assert_problem(409, "invalid_state");
    submit(&app, &w.ht, &early).assert_problem(409, "invalid_state");
    assert_eq!(
        audit_actions(&app, &early),
        vec![
            "listing.created",
            "listing.submitted",
            "listing.approved",
            "listing.registration_closed"
        ]
    );
}

#[test]
fn concurrent_submits_number_without_gaps_and_never_share_a_parcel() {
    let app = TestApp::start();
    let w = setup(&app);
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

// ---- 4. access -----------------------------------------------------------------------------

#[test]
fn listings_are_scoped_to_village_and_township() {
    let app = TestApp::start();
    let w = setup(&app);
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
        act(&app, token, &draft, "submit", json!({})).assert_problem(404, "not_found");
        act(&app, token, &draft, "cancel", json!({"reason": "x"})).assert_problem(404, "not_found");
    }
    // Staff of another township: a submitted listing doesn't exist for them.
    act(&app, w.sy_staff.t(), &submitted, "approve", json!({})).assert_problem(404, "not_found");
    act(
        &app,
        w.sy_staff.t(),
        &submitted,
        "return",
        json!({"reason": "x"}),
    )
    .assert_problem(404, "not_found");
    act(
        &app,
        w.sy_staff.t(),
        &submitted,
        "cancel",
        json!({"reason": "x"}),
    )
    .assert_problem(404, "not_found");
    // Readable but not theirs: 403.
    act(&app, w.admin(), &submitted, "approve", json!({})).assert_problem(403, "forbidden");
    act(
        &app,
        w.admin(),
        &submitted,
        "return",
        json!({"reason": "x"}),
    )
    .assert_problem(403, "forbidden");
    act(&app, w.ht.t(), &submitted, "approve", json!({})).assert_problem(403, "forbidden");
    act(&app, w.ht.t(), &submitted, "return", json!({"reason": "x"}))
        .assert_problem(403, "forbidden");
    act(&app, w.cj_staff.t(), &draft, "submit", json!({})).assert_problem(403, "forbidden");
    patch_listing(&app, w.cj_staff.t(), &draft, json!({"title": "改"}))
        .assert_problem(403, "forbidden");
    patch_listing(&app, w.admin(), &draft, json!({"title": "改"})).assert_problem(403, "forbidden");
    act(&app, w.sy_staff.t(), &announced, "approve", json!({})).assert_problem(403, "forbidden");
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

// ---- 5. request shapes and roles -----------------------------------------------------------

#[test]
fn read_only_and_unknown_fields_roles_and_ids() {
    let app = TestApp::start();
    let w = setup(&app);
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
        act(&app, w.ht.t(), "123", action, json!({})).assert_problem(400, "bad_request");
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
    act(&app, None, &id, "submit", json!({})).assert_problem(401, "unauthorized");
    for token in [w.investor.t(), w.cj_staff.t(), w.admin()] {
        app.post("/api/v1/listings", token, body.clone())
            .assert_problem(403, "forbidden");
    }
    // An expired token is 401 too.
    app.clock.advance(Duration::hours(1));
    app.post("/api/v1/listings", w.ht.t(), body.clone())
        .assert_problem(401, "unauthorized");
}

// ---- 6. public search ----------------------------------------------------------------------

#[test]
fn public_search_filters_sorts_and_pages() {
    let app = TestApp::start();
    let w = setup(&app);
    let parcel = |who: &Actor, code: &str, area: &str, loc: &str, over: Value| {
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
        assert_eq!(walk(&app, &qs), want, "pages of 2, {sort}");
    }
    // Default order: every item once, pages agree with one page.
    let one = search(&app, None, "");
    assert_eq!(one.len(), 5);
    assert_eq!(walk(&app, ""), one);
    // Pages with a filter.
    let qs = format!("q={}&sort=reserve_price_fen", enc("村"));
    assert_eq!(walk(&app, &qs), by_price);
    let qs = format!("township_id={}&sort=-total_area_mu", w.cj);
    assert_eq!(
        walk(&app, &qs),
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
fn parcel_patch_null_clears_optional_fields_and_absence_keeps_them() {
    let app = TestApp::start();
    let w = setup(&app);
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

#[test]
fn another_villages_parcel_in_a_draft_shows_nothing_of_it() {
    let app = TestApp::start();
    let w = setup(&app);
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
