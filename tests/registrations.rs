//! Issue 5 "Registration, qualification and deposit" (报名、资格审查、保证金), black-box over
//! HTTP: the registration and deposit state machines, who may see and do what, the rules of
//! registering, personal data at rest, what cancelling and failing a listing does to deposits,
//! audit records and e-mails, and the staff list's filters and pagination.

mod common;

use std::cell::Cell;
use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::*;
use diesel::prelude::*;
use landx::clock::Clock;
use landx::db::models::{AuditRecord, OutboxMail, Registration};
use landx::db::schema::{audit_log, registrations};
use serde_json::{json, Value};

const PW: &str = "caojing-land-2027";
const DEPOSIT: i64 = 100_000;

// Valid ID numbers: resident IDs with their GB 11643 check character, unified social credit
// codes with their GB 32100 check character.
const ID_ZHANGWEI: &str = "11010519491231002X";
const ID_LINA: &str = "310116198001011234";
const ID_WANGJUN: &str = "310116198506152040";
const ID_LIUYANG: &str = "310116199003183018";
const ID_ZHAOMIN: &str = "31022819781109412X";
const USCC_LVYE: &str = "93310116MA1G000AB0";
const USCC_JINNONG: &str = "91310116MA1K3CJ20P";
const USCC_FUJIAN: &str = "91350100M000100Y43";

/// The app, with access tokens that outlive the clock jumps of these tests (registration
/// closes 12 days after the listing is made).
fn start() -> TestApp {
    TestApp::start_with(|s| s.auth.access_token_minutes = 60 * 24 * 60)
}

// ---- world ----------------------------------------------------------------------------------

/// 漕泾镇 (CJ) with 护塘村, 山阳镇 (SY) with 华新村, an insurer, a collective per village, staff
/// per township, and an announced listing of 护塘村.
struct World {
    admin: String,
    /// Collective of 护塘村 (owns the listings).
    collective: String,
    /// Collective of 山阳镇华新村.
    sy_collective: String,
    /// Staff of 漕泾镇.
    staff: String,
    /// Staff of 山阳镇.
    sy_staff: String,
    insurer: String,
    /// An announced listing of 护塘村.
    listing: String,
    parcels: Cell<u32>,
}

#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Draft,
    Submitted,
    Announced,
}

struct Investor {
    id: String,
    email: String,
    token: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn created(r: &Resp, what: &str) -> String {
    assert_eq!(r.status, 201, "{what}: {}", r.text);
    r.id()
}

fn township(app: &TestApp, admin: &str, code: &str, name: &str, village: &str) -> (String, String) {
    let t = created(
        &app.post(
            "/api/v1/townships",
            Some(admin),
            json!({"code": code, "name": name}),
        ),
        name,
    );
    let v = created(
        &app.post(
            "/api/v1/villages",
            Some(admin),
            json!({"township_id": t, "code": format!("{code}01"), "name": village}),
        ),
        village,
    );
    (t, v)
}

/// An account made by the admin (with a password), logged in.
fn user(app: &TestApp, admin: &str, email: &str, name: &str, role: &str, org: Value) -> String {
    let mut body = json!({"email": email, "password": PW, "display_name": name, "role": role});
    for (k, v) in org.as_object().unwrap() {
        body[k] = v.clone();
    }
    created(&app.post("/api/v1/users", Some(admin), body), email);
    app.login(email, PW)
}

fn setup(app: &TestApp) -> World {
    let admin = app.admin_token();
    let (cj, hutang) = township(app, &admin, "CJ", "漕泾镇", "护塘村");
    let (sy, huaxin) = township(app, &admin, "SY", "山阳镇", "华新村");
    let insurer_org = created(
        &app.post(
            "/api/v1/insurers",
            Some(&admin),
            json!({"code": "AXNY", "name": "安信农业保险"}),
        ),
        "insurer",
    );
    let collective = user(
        app,
        &admin,
        "wangfang@hutang.cn",
        "王芳",
        "collective",
        json!({"village_id": hutang}),
    );
    let sy_collective = user(
        app,
        &admin,
        "zhoujie@huaxin.cn",
        "周杰",
        "collective",
        json!({"village_id": huaxin}),
    );
    let staff = user(
        app,
        &admin,
        "liqiang@caojing.gov.cn",
        "李强",
        "staff",
        json!({"township_id": cj}),
    );
    let sy_staff = user(
        app,
        &admin,
        "sunli@shanyang.gov.cn",
        "孙丽",
        "staff",
        json!({"township_id": sy}),
    );
    let insurer = user(
        app,
        &admin,
        "chenjing@axny.com.cn",
        "陈静",
        "insurer",
        json!({"insurer_id": insurer_org}),
    );
    let mut w = World {
        admin,
        collective,
        sy_collective,
        staff,
        sy_staff,
        insurer,
        listing: String::new(),
        parcels: Cell::new(0),
    };
    w.listing = listing(app, &w, Stage::Announced);
    w
}

/// A new parcel of 护塘村 and a valid listing of it (registration closes 12 days from the
/// clock), taken to `stage`.
fn listing(app: &TestApp, w: &World, stage: Stage) -> String {
    let n = w.parcels.get() + 1;
    w.parcels.set(n);
    let parcel = created(
        &app.post(
            "/api/v1/parcels",
            Some(&w.collective),
            json!({
                "code": format!("JS-CJ-0001-{n:03}"),
                "area_mu": "50.00",
                "land_type": "arable",
                "permanent_basic_farmland": false,
                "quality_grade": 3,
                "households": 12,
                "household_contract_end": "2057-12-31",
                "location": "漕泾镇护塘村三组，沿海公路东侧",
            }),
        ),
        "parcel",
    );
    let now = app.clock.now();
    let id = created(
        &app.post(
            "/api/v1/listings",
            Some(&w.collective),
            json!({
                "title": format!("护塘村三组50亩耕地经营权流转（第{n}号）"),
                "description": "集中连片，灌排设施完善，适宜水稻种植。",
                "parcel_ids": [parcel],
                "intended_use": "grain",
                "term_start": "2027-03-01",
                "term_end": "2036-12-31",
                "reserve_price_fen": 120_000,
                "min_increment_fen": 5_000,
                "deposit_fen": DEPOSIT,
                "registration_closes_at": rfc3339(now + Duration::days(12)),
                "auction_starts_at": rfc3339(now + Duration::days(13)),
                "auction_ends_at": rfc3339(now + Duration::days(13) + Duration::hours(1)),
                "consent": {
                    "resolution_date": "2027-01-05",
                    "members_agreeing": 20,
                    "members_total": 30,
                    "commissions_received": 12,
                },
            }),
        ),
        "listing",
    );
    if stage == Stage::Draft {
        return id;
    }
    let r = app.post(
        &format!("/api/v1/listings/{id}/submit"),
        Some(&w.collective),
        json!({}),
    );
    assert_eq!(r.status, 200, "submit: {}", r.text);
    assert_eq!(r.body["status"], "submitted");
    if stage == Stage::Submitted {
        return id;
    }
    let r = app.post(
        &format!("/api/v1/listings/{id}/approve"),
        Some(&w.staff),
        json!({}),
    );
    assert_eq!(r.status, 200, "approve: {}", r.text);
    assert_eq!(r.body["status"], "announced");
    id
}

fn closes_at(app: &TestApp, listing: &str) -> DateTime<Utc> {
    let r = app.get(&format!("/api/v1/listings/{listing}"), None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["registration_closes_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A self-registered investor that has not verified its e-mail yet, logged in.
fn unverified_investor(app: &TestApp, email: &str, name: &str) -> Investor {
    let r = app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PW, "display_name": name, "phone": "13916012345"}),
    );
    let id = created(&r, email);
    Investor {
        id,
        email: email.into(),
        token: app.login(email, PW),
    }
}

fn verify(app: &TestApp, inv: &Investor) {
    let token = app.mailed_token(&inv.email, "Verify your e-mail");
    let r = app.post("/api/v1/auth/verify-email", None, json!({"token": token}));
    assert_eq!(r.status, 200, "verify {}: {}", inv.email, r.text);
}

/// A self-registered investor with a verified e-mail, logged in.
fn investor(app: &TestApp, email: &str, name: &str) -> Investor {
    let inv = unverified_investor(app, email, name);
    verify(app, &inv);
    inv
}

fn body(legal_name: &str, id_type: &str, id_number: &str, claims_membership: bool) -> Value {
    json!({
        "legal_name": legal_name,
        "id_type": id_type,
        "id_number": id_number,
        "phone": "13916012345",
        "experience": "种植水稻十余年，现经营家庭农场120亩。",
        "business_plan": "稻麦轮作，申请绿色食品认证，配套烘干设备。",
        "claims_membership": claims_membership,
    })
}

fn person(name: &str, id_number: &str) -> Value {
    body(name, "resident_id", id_number, false)
}

fn company(name: &str, uscc: &str) -> Value {
    body(name, "unified_social_credit_code", uscc, false)
}

fn apply(app: &TestApp, token: &str, listing: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/listings/{listing}/registrations"),
        Some(token),
        body,
    )
}

fn apply_ok(app: &TestApp, inv: &Investor, listing: &str, body: Value) -> String {
    created(&apply(app, &inv.token, listing, body), &inv.email)
}

/// `POST /registrations/{id}/{action}`.
fn act(app: &TestApp, token: &str, reg: &str, action: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/registrations/{reg}/{action}"),
        Some(token),
        body,
    )
}

fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn qualify(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(act(app, &w.staff, reg, "qualify", json!({})))
}

fn deposit(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(act(
        app,
        &w.staff,
        reg,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-310116-20270112-0001"}),
    ))
}

fn reject(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(act(
        app,
        &w.staff,
        reg,
        "reject",
        json!({"reason": "经营主体资质材料不全"}),
    ))
}

fn refund(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(act(
        app,
        &w.staff,
        reg,
        "refund",
        json!({"receipt_ref": "ICBC-310116-20270125-0009"}),
    ))
}

fn get_reg(app: &TestApp, token: &str, reg: &str) -> Resp {
    app.get(&format!("/api/v1/registrations/{reg}"), Some(token))
}

fn reg_status(app: &TestApp, w: &World, reg: &str) -> (String, String) {
    let b = ok(get_reg(app, &w.admin, reg));
    (
        b["status"].as_str().unwrap().to_string(),
        b["deposit_status"].as_str().unwrap().to_string(),
    )
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The audit trail of a registration, in stream order.
fn trail(app: &TestApp, reg: &str) -> Vec<AuditRecord> {
    let mut a = app.audit_for(reg);
    a.sort_by_key(|r| r.seq);
    a
}

/// `(action, from, to)` of each audit record of a registration.
fn moves(app: &TestApp, reg: &str) -> Vec<(String, String, String)> {
    trail(app, reg)
        .into_iter()
        .map(|a| {
            (
                a.action,
                a.from_state.unwrap_or_default(),
                a.to_state.unwrap_or_default(),
            )
        })
        .collect()
}

fn mv(action: &str, from: &str, to: &str) -> (String, String, String) {
    (action.into(), from.into(), to.into())
}

fn mails_to(app: &TestApp, to: &str) -> Vec<OutboxMail> {
    app.outbox()
        .into_iter()
        .filter(|m| m.to_addr == to)
        .collect()
}

/// Subjects of the mails to `to`, without the `Verify your e-mail` one.
fn subjects_to(app: &TestApp, to: &str) -> Vec<String> {
    mails_to(app, to)
        .into_iter()
        .map(|m| m.subject)
        .filter(|s| !s.ends_with("Verify your e-mail"))
        .collect()
}

fn count_rows(app: &TestApp, listing: &str, investor: &str) -> i64 {
    let mut conn = app.pool().get().unwrap();
    registrations::table
        .filter(registrations::listing_id.eq(listing))
        .filter(registrations::investor_id.eq(investor))
        .count()
        .get_result(&mut conn)
        .unwrap()
}

// ---- 1. happy path --------------------------------------------------------------------------

#[test]
fn register_qualify_deposit_reject_refund() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let lvye = investor(&app, "office@lvye-coop.cn", "绿野合作社");
    let li = investor(&app, "lina@example.cn", "李娜");

    // 张伟 registers as a member of the collective.
    let r = apply(
        &app,
        &zhang.token,
        &w.listing,
        body("张伟", "resident_id", ID_ZHANGWEI, true),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let a = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/registrations/{a}").as_str())
    );
    let b = &r.body;
    assert_eq!(b["status"], "applied");
    assert_eq!(b["deposit_status"], "unpaid");
    assert_eq!(b["listing_id"], w.listing.as_str());
    assert_eq!(b["investor_id"], zhang.id.as_str());
    assert_eq!(b["legal_name"], "张伟");
    assert_eq!(b["id_type"], "resident_id");
    assert_eq!(b["id_number"], ID_ZHANGWEI);
    assert_eq!(b["id_number_masked"], "1101**********002X");
    assert_eq!(b["phone"], "13916012345");
    assert_eq!(b["claims_membership"], true);
    assert_eq!(b["member_verified"], false);
    assert!(b["deposit_amount_fen"].is_null());
    assert!(b["reject_reason"].is_null());
    assert_eq!(b["created_at"], "2027-01-10T02:00:00Z");
    // Its investor reads it back in full.
    let got = ok(get_reg(&app, &zhang.token, &a));
    assert_eq!(got["id_number"], ID_ZHANGWEI);
    assert_eq!(got["status"], "applied");

    // A cooperative registers with its unified social credit code, claiming nothing.
    let r = apply(
        &app,
        &lvye.token,
        &w.listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let c = r.id();
    assert_eq!(r.body["id_type"], "unified_social_credit_code");
    assert_eq!(r.body["id_number"], USCC_LVYE);
    assert_eq!(r.body["id_number_masked"], "9331**********0AB0");

    // member_verified only for a claimed membership.
    act(
        &app,
        &w.staff,
        &c,
        "qualify",
        json!({"member_verified": true}),
    )
    .assert_field("member_verified");
    assert_eq!(reg_status(&app, &w, &c).0, "applied");
    let q = ok(act(
        &app,
        &w.staff,
        &c,
        "qualify",
        json!({"member_verified": false}),
    ));
    assert_eq!(q["status"], "qualified");
    assert_eq!(q["member_verified"], false);
    let q = ok(act(
        &app,
        &w.staff,
        &a,
        "qualify",
        json!({"member_verified": true}),
    ));
    assert_eq!(q["status"], "qualified");
    assert_eq!(q["member_verified"], true);
    assert_eq!(q["deposit_status"], "unpaid");
    // Outcomes are final.
    act(&app, &w.staff, &a, "qualify", json!({})).assert_problem(409, "invalid_state");
    act(&app, &w.staff, &a, "reject", json!({"reason": "重复审查"}))
        .assert_problem(409, "invalid_state");

    // The deposit must be exactly the listing's.
    for amount in [DEPOSIT - 1, DEPOSIT + 1, 0, -DEPOSIT] {
        act(
            &app,
            &w.staff,
            &a,
            "deposit",
            json!({"amount_fen": amount, "receipt_ref": "ICBC-1"}),
        )
        .assert_field("amount_fen");
    }
    act(
        &app,
        &w.staff,
        &a,
        "deposit",
        json!({"amount_fen": "100000", "receipt_ref": "ICBC-1"}),
    )
    .assert_field("amount_fen");
    act(
        &app,
        &w.staff,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "  "}),
    )
    .assert_field("receipt_ref");
    act(
        &app,
        &w.staff,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT}),
    )
    .assert_field("receipt_ref");
    assert_eq!(reg_status(&app, &w, &a).1, "unpaid");
    // Nothing to refund before refund_due.
    act(
        &app,
        &w.staff,
        &a,
        "refund",
        json!({"receipt_ref": "ICBC-2"}),
    )
    .assert_problem(409, "invalid_state");
    let d = deposit(&app, &w, &a);
    assert_eq!(d["deposit_status"], "confirmed");
    assert_eq!(d["deposit_amount_fen"], DEPOSIT);
    assert_eq!(d["deposit_receipt_ref"], "ICBC-310116-20270112-0001");
    assert_eq!(d["deposit_confirmed_at"], "2027-01-10T02:00:00Z");
    assert_eq!(d["status"], "qualified");
    act(
        &app,
        &w.staff,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-3"}),
    )
    .assert_problem(409, "invalid_state");
    act(
        &app,
        &w.staff,
        &a,
        "refund",
        json!({"receipt_ref": "ICBC-2"}),
    )
    .assert_problem(409, "invalid_state");
    assert_eq!(
        reg_status(&app, &w, &a),
        ("qualified".into(), "confirmed".into())
    );

    // 李娜 pays while still applied, then is rejected: the deposit becomes due for refund.
    let e = apply_ok(&app, &li, &w.listing, person("李娜", ID_LINA));
    let d = deposit(&app, &w, &e);
    assert_eq!(d["status"], "applied");
    assert_eq!(d["deposit_status"], "confirmed");
    act(&app, &w.staff, &e, "reject", json!({"reason": "  "})).assert_field("reason");
    act(&app, &w.staff, &e, "reject", json!({})).assert_field("reason");
    let rj = reject(&app, &w, &e);
    assert_eq!(rj["status"], "rejected");
    assert_eq!(rj["reject_reason"], "经营主体资质材料不全");
    assert_eq!(rj["deposit_status"], "refund_due");
    act(&app, &w.staff, &e, "qualify", json!({})).assert_problem(409, "invalid_state");
    act(&app, &w.staff, &e, "reject", json!({"reason": "再次驳回"}))
        .assert_problem(409, "invalid_state");
    act(&app, &w.staff, &e, "refund", json!({})).assert_field("receipt_ref");
    let rf = refund(&app, &w, &e);
    assert_eq!(rf["deposit_status"], "refunded");
    assert_eq!(rf["refund_receipt_ref"], "ICBC-310116-20270125-0009");
    assert_eq!(rf["refunded_at"], "2027-01-10T02:00:00Z");
    assert_eq!(rf["status"], "rejected");
    act(
        &app,
        &w.staff,
        &e,
        "refund",
        json!({"receipt_ref": "ICBC-4"}),
    )
    .assert_problem(409, "invalid_state");
    // A rejected registration takes no deposit.
    act(
        &app,
        &w.staff,
        &e,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-5"}),
    )
    .assert_problem(409, "invalid_state");
    // An unpaid registration stays unpaid when rejected.
    let wang = investor(&app, "wangjun@example.cn", "王军");
    let f = apply_ok(&app, &wang, &w.listing, person("王军", ID_WANGJUN));
    let rj = reject(&app, &w, &f);
    assert_eq!(rj["deposit_status"], "unpaid");
    act(
        &app,
        &w.staff,
        &f,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-6"}),
    )
    .assert_problem(409, "invalid_state");
    act(
        &app,
        &w.staff,
        &f,
        "refund",
        json!({"receipt_ref": "ICBC-7"}),
    )
    .assert_problem(409, "invalid_state");
    assert_eq!(
        reg_status(&app, &w, &f),
        ("rejected".into(), "unpaid".into())
    );

    // GET /me/registrations: one's own only, in full, over several listings.
    let second = listing(&app, &w, Stage::Announced);
    let a2 = apply_ok(
        &app,
        &zhang,
        &second,
        body("张伟", "resident_id", ID_ZHANGWEI, false),
    );
    for (inv, want) in [
        (&zhang, vec![a.clone(), a2.clone()]),
        (&lvye, vec![c.clone()]),
        (&li, vec![e.clone()]),
        (&wang, vec![f.clone()]),
    ] {
        let r = ok(app.get("/api/v1/me/registrations", Some(&inv.token)));
        assert_eq!(sorted(ids(&r["items"])), sorted(want), "{}", inv.email);
        assert!(r["next_cursor"].is_null());
        for item in r["items"].as_array().unwrap() {
            assert_eq!(item["investor_id"], inv.id.as_str());
            assert!(item["id_number"].is_string());
        }
    }
    let fresh = investor(&app, "liuyang@example.cn", "刘洋");
    let r = ok(app.get("/api/v1/me/registrations", Some(&fresh.token)));
    assert_eq!(r["items"], json!([]));
    for t in [&w.staff, &w.collective, &w.admin, &w.insurer] {
        app.get("/api/v1/me/registrations", Some(t))
            .assert_problem(403, "forbidden");
    }
    app.get("/api/v1/me/registrations", None)
        .assert_problem(401, "unauthorized");
}

// ---- 2. who sees and does what ----------------------------------------------------------------

#[test]
fn registrations_are_scoped_to_their_investor_township_and_admins() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let lvye = investor(&app, "office@lvye-coop.cn", "绿野合作社");
    let a = apply_ok(&app, &zhang, &w.listing, person("张伟", ID_ZHANGWEI));
    let b = apply_ok(
        &app,
        &lvye,
        &w.listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    // A confirmed deposit on B, later rejected, so that a refund is possible.
    deposit(&app, &w, &b);

    let actions: [(&str, Value); 4] = [
        ("qualify", json!({})),
        ("reject", json!({"reason": "材料不全"})),
        (
            "deposit",
            json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1"}),
        ),
        ("refund", json!({"receipt_ref": "ICBC-2"})),
    ];
    // Another investor, staff of another township, the owner collective, a collective of
    // another township and an insurer can neither see a registration nor act on it: 404.
    let outsiders = [
        ("other investor", zhang.token.as_str(), b.as_str()),
        ("other investor", lvye.token.as_str(), a.as_str()),
        ("staff of 山阳镇", w.sy_staff.as_str(), a.as_str()),
        ("owner collective", w.collective.as_str(), a.as_str()),
        ("collective of 山阳镇", w.sy_collective.as_str(), a.as_str()),
        ("insurer", w.insurer.as_str(), a.as_str()),
    ];
    for (who, token, reg) in outsiders {
        let r = get_reg(&app, token, reg);
        assert_eq!(r.status, 404, "{who} GET: {}", r.text);
        r.assert_problem(404, "not_found");
        assert!(!r.text.contains(ID_ZHANGWEI) && !r.text.contains(USCC_LVYE));
        for (action, body) in &actions {
            let r = act(&app, token, reg, action, body.clone());
            assert_eq!(r.status, 404, "{who} {action}: {}", r.text);
            r.assert_problem(404, "not_found");
        }
    }
    // Nothing moved.
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &b),
        ("applied".into(), "confirmed".into())
    );

    // Its own investor reads it but can't review or pay it itself.
    for (action, body) in &actions {
        let r = act(&app, &zhang.token, &a, action, body.clone());
        assert_eq!(r.status, 403, "own {action}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    // Admins see everything but act on nothing: reviewing is the township staff's.
    let full = ok(get_reg(&app, &w.admin, &a));
    assert_eq!(full["id_number"], ID_ZHANGWEI);
    assert_eq!(full["phone"], "13916012345");
    for (action, body) in &actions {
        act(&app, &w.admin, &a, action, body.clone()).assert_problem(403, "forbidden");
    }
    // The township's own staff do.
    let staff_view = ok(get_reg(&app, &w.staff, &b));
    assert_eq!(staff_view["id_number"], USCC_LVYE);
    reject(&app, &w, &b);
    for (who, token) in [
        ("other investor", zhang.token.as_str()),
        ("staff of 山阳镇", w.sy_staff.as_str()),
        ("owner collective", w.collective.as_str()),
    ] {
        let r = act(&app, token, &b, "refund", json!({"receipt_ref": "ICBC-9"}));
        assert_eq!(r.status, 404, "{who} refund: {}", r.text);
    }
    act(
        &app,
        &w.admin,
        &b,
        "refund",
        json!({"receipt_ref": "ICBC-9"}),
    )
    .assert_problem(403, "forbidden");
    assert_eq!(reg_status(&app, &w, &b).1, "refund_due");
    assert_eq!(refund(&app, &w, &b)["deposit_status"], "refunded");

    // The registration list of a listing.
    let path = format!("/api/v1/listings/{}/registrations", w.listing);
    for token in [&w.staff, &w.admin] {
        let r = ok(app.get(&path, Some(token)));
        assert_eq!(sorted(ids(&r["items"])), sorted(vec![a.clone(), b.clone()]));
        for item in r["items"].as_array().unwrap() {
            assert!(item["id_number"].is_string(), "{item}");
            assert!(item["phone"].is_string(), "{item}");
            assert!(item["legal_name"].is_string(), "{item}");
        }
    }
    // The owner collective: ids and states only.
    let r = app.get(&path, Some(&w.collective));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(ID_ZHANGWEI) && !r.text.contains(USCC_LVYE));
    assert!(!r.text.contains("13916012345") && !r.text.contains("张伟"));
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(keys, ["deposit_status", "id", "status"], "{item}");
    }
    let by_id: Vec<(String, Value, Value)> = items
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["status"].clone(),
                i["deposit_status"].clone(),
            )
        })
        .collect();
    assert!(by_id.contains(&(a.clone(), json!("applied"), json!("unpaid"))));
    assert!(by_id.contains(&(b.clone(), json!("rejected"), json!("refunded"))));
    // Everyone else who can see the (public) listing may not see its registrations.
    for (who, token) in [
        ("investor", zhang.token.as_str()),
        ("staff of 山阳镇", w.sy_staff.as_str()),
        ("collective of 山阳镇", w.sy_collective.as_str()),
        ("insurer", w.insurer.as_str()),
    ] {
        let r = app.get(&path, Some(token));
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    app.get(&path, None).assert_problem(401, "unauthorized");
    // On a listing they can't see at all, the answer is 404.
    let draft = listing(&app, &w, Stage::Draft);
    let draft_path = format!("/api/v1/listings/{draft}/registrations");
    for token in [&zhang.token, &w.sy_staff, &w.sy_collective, &w.insurer] {
        app.get(&draft_path, Some(token))
            .assert_problem(404, "not_found");
    }
    assert_eq!(ok(app.get(&draft_path, Some(&w.staff)))["items"], json!([]));
    let missing = uuid::Uuid::new_v4();
    app.get(
        &format!("/api/v1/listings/{missing}/registrations"),
        Some(&w.admin),
    )
    .assert_problem(404, "not_found");
    app.get(&format!("/api/v1/registrations/{missing}"), Some(&w.admin))
        .assert_problem(404, "not_found");
    act(&app, &w.staff, &missing.to_string(), "qualify", json!({}))
        .assert_problem(404, "not_found");
    app.get("/api/v1/registrations/not-a-uuid", Some(&w.admin))
        .assert_problem(400, "bad_request");
    act(&app, &w.staff, "not-a-uuid", "qualify", json!({})).assert_problem(400, "bad_request");
    app.get(&format!("/api/v1/registrations/{a}"), None)
        .assert_problem(401, "unauthorized");
    app.post(
        &format!("/api/v1/registrations/{a}/qualify"),
        None,
        json!({}),
    )
    .assert_problem(401, "unauthorized");
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "unpaid".into())
    );
}

// ---- 3. rules of registering and reviewing ----------------------------------------------------

#[test]
fn only_verified_investors_register_and_only_once() {
    let app = start();
    let w = setup(&app);

    // An unverified investor may not register; once verified it may, with the same token.
    let zhang = unverified_investor(&app, "zhangwei@example.cn", "张伟");
    apply(&app, &zhang.token, &w.listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(403, "forbidden");
    assert_eq!(count_rows(&app, &w.listing, &zhang.id), 0);
    verify(&app, &zhang);
    let a = apply_ok(&app, &zhang, &w.listing, person("张伟", ID_ZHANGWEI));

    // Once per listing, whatever the body says.
    apply(&app, &zhang.token, &w.listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(409, "conflict");
    apply(
        &app,
        &zhang.token,
        &w.listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    )
    .assert_problem(409, "conflict");
    assert_eq!(count_rows(&app, &w.listing, &zhang.id), 1);
    // ... but also after being rejected.
    reject(&app, &w, &a);
    apply(&app, &zhang.token, &w.listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(409, "conflict");
    assert_eq!(count_rows(&app, &w.listing, &zhang.id), 1);

    // A retry with the same Idempotency-Key gets the first answer again, not a 409.
    let wang = investor(&app, "wangjun@example.cn", "王军");
    let path = format!("/api/v1/listings/{}/registrations", w.listing);
    let b = person("王军", ID_WANGJUN).to_string();
    let key = [("Idempotency-Key", "wangjun-registration-1")];
    let first = app.call_raw("POST", &path, Some(&wang.token), Some(b.clone()), &key);
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.call_raw("POST", &path, Some(&wang.token), Some(b), &key);
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body, first.body);
    assert_eq!(count_rows(&app, &w.listing, &wang.id), 1);
    assert_eq!(trail(&app, &first.id()).len(), 1);
    apply(&app, &wang.token, &w.listing, person("王军", ID_WANGJUN))
        .assert_problem(409, "conflict");

    // Two requests at once: one registration.
    let lvye = investor(&app, "office@lvye-coop.cn", "绿野合作社");
    for round in 0..3 {
        let target = if round == 0 {
            w.listing.clone()
        } else {
            listing(&app, &w, Stage::Announced)
        };
        let results: Vec<Resp> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        apply(
                            &app,
                            &lvye.token,
                            &target,
                            company("上海金山绿野农业专业合作社", USCC_LVYE),
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}");
        for r in &results {
            if r.status == 409 {
                r.assert_problem(409, "conflict");
            }
        }
        let winner = results.iter().find(|r| r.status == 201).unwrap().id();
        assert_eq!(count_rows(&app, &target, &lvye.id), 1);
        let applied: Vec<_> = trail(&app, &winner)
            .into_iter()
            .filter(|a| a.action == "registration.applied")
            .collect();
        assert_eq!(applied.len(), 1);
    }
    let received = subjects_to(&app, &lvye.email)
        .into_iter()
        .filter(|s| s.ends_with("Registration received"))
        .count();
    assert_eq!(received, 3, "one receipt mail per registration");
}

/// Sends the `(action, body)` requests on `reg` at once; returns the statuses in that order.
fn race(app: &TestApp, token: &str, reg: &str, reqs: &[(&str, Value)]) -> Vec<u16> {
    std::thread::scope(|s| {
        let hs: Vec<_> = reqs
            .iter()
            .map(|(action, body)| {
                s.spawn(move || act(app, token, reg, action, body.clone()).status)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn racing_reviews_and_deposits_move_a_registration_once() {
    let app = start();
    let w = setup(&app);
    let pay = || json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-310116-0001"});
    let names = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
    ];
    for (round, (email, name, number)) in names.into_iter().enumerate() {
        let inv = investor(&app, email, name);
        let reg = apply_ok(&app, &inv, &w.listing, person(name, number));
        // Qualify and reject at once: one outcome.
        let st = race(
            &app,
            &w.staff,
            &reg,
            &[
                ("qualify", json!({})),
                ("reject", json!({"reason": "材料不全"})),
            ],
        );
        assert_eq!(sorted_u16(&st), [200, 409], "round {round}: {st:?}");
        let (status, _) = reg_status(&app, &w, &reg);
        assert_eq!(
            status,
            if st[0] == 200 {
                "qualified"
            } else {
                "rejected"
            }
        );
        let reviews = moves(&app, &reg)
            .into_iter()
            .filter(|m| m.0 != "registration.applied")
            .count();
        assert_eq!(reviews, 1, "round {round}");
        // Two deposits at once: one (or none, if rejected).
        let st = race(
            &app,
            &w.staff,
            &reg,
            &[("deposit", pay()), ("deposit", pay())],
        );
        let deposits = moves(&app, &reg)
            .into_iter()
            .filter(|m| m.0 == "deposit.changed")
            .count();
        if status == "qualified" {
            assert_eq!(sorted_u16(&st), [200, 409], "round {round}: {st:?}");
            assert_eq!(deposits, 1);
        } else {
            assert_eq!(st, [409, 409], "round {round}");
            assert_eq!(deposits, 0);
        }
    }
    // Two refunds at once: one.
    let liu = investor(&app, "liuyang@example.cn", "刘洋");
    let reg = apply_ok(&app, &liu, &w.listing, person("刘洋", ID_LIUYANG));
    deposit(&app, &w, &reg);
    reject(&app, &w, &reg);
    let refund_body = || json!({"receipt_ref": "ICBC-310116-0002"});
    let st = race(
        &app,
        &w.staff,
        &reg,
        &[("refund", refund_body()), ("refund", refund_body())],
    );
    assert_eq!(sorted_u16(&st), [200, 409], "{st:?}");
    assert_eq!(
        moves(&app, &reg).last().unwrap(),
        &mv("deposit.changed", "refund_due", "refunded")
    );
    assert_eq!(
        subjects_to(&app, &liu.email)
            .iter()
            .filter(|s| s.ends_with("Deposit refunded"))
            .count(),
        1
    );
}

#[test]
fn a_deposit_racing_a_cancel_never_stays_confirmed() {
    let app = start();
    let w = setup(&app);
    let names = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
    ];
    for (email, name, number) in names {
        let l = listing(&app, &w, Stage::Announced);
        let inv = investor(&app, email, name);
        let reg = apply_ok(&app, &inv, &l, person(name, number));
        let (cancel, dep) = std::thread::scope(|s| {
            let c = s.spawn(|| {
                app.post(
                    &format!("/api/v1/listings/{l}/cancel"),
                    Some(&w.staff),
                    json!({"reason": "村集体申请撤销"}),
                )
                .status
            });
            let d = s.spawn(|| {
                act(
                    &app,
                    &w.staff,
                    &reg,
                    "deposit",
                    json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1"}),
                )
                .status
            });
            (c.join().unwrap(), d.join().unwrap())
        });
        assert_eq!(cancel, 200);
        let (_, deposit_status) = reg_status(&app, &w, &reg);
        match dep {
            200 => assert_eq!(deposit_status, "refund_due"),
            409 => assert_eq!(deposit_status, "unpaid"),
            other => panic!("deposit answered {other}"),
        }
    }
}

fn sorted_u16(v: &[u16]) -> Vec<u16> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[test]
fn only_investors_register() {
    let app = start();
    let w = setup(&app);
    for (who, token) in [
        ("owner collective", w.collective.as_str()),
        ("collective of 山阳镇", w.sy_collective.as_str()),
        ("staff", w.staff.as_str()),
        ("staff of 山阳镇", w.sy_staff.as_str()),
        ("admin", w.admin.as_str()),
        ("insurer", w.insurer.as_str()),
    ] {
        let r = apply(&app, token, &w.listing, person("张伟", ID_ZHANGWEI));
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        r.assert_problem(403, "forbidden");
    }
    apply(&app, "not-a-token", &w.listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(401, "unauthorized");
    app.post(
        &format!("/api/v1/listings/{}/registrations", w.listing),
        None,
        person("张伟", ID_ZHANGWEI),
    )
    .assert_problem(401, "unauthorized");
    let staff_list = ok(app.get(
        &format!("/api/v1/listings/{}/registrations", w.listing),
        Some(&w.staff),
    ));
    assert_eq!(staff_list["items"], json!([]));
}

#[test]
fn registration_bodies_are_validated() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let with = |k: &str, v: Value| {
        let mut b = person("张伟", ID_ZHANGWEI);
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = person("张伟", ID_ZHANGWEI);
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        // Wrong check characters.
        (with("id_number", json!("110105194912310021")), "id_number"),
        (with("id_number", json!("310116198001011235")), "id_number"),
        (
            company("上海金山绿野农业专业合作社", "93310116MA1G000AB1"),
            "id_number",
        ),
        (company("福建某公司", "91350100M000100Y44"), "id_number"),
        // Wrong shapes: length, alphabet, a code of the other type.
        (with("id_number", json!("1101051949123100")), "id_number"),
        (with("id_number", json!("11010519491231002X1")), "id_number"),
        (with("id_number", json!("A1010519491231002X")), "id_number"),
        (company("福建某公司", "91350100M000100YI3"), "id_number"),
        (with("id_number", json!(USCC_LVYE)), "id_number"),
        (company("福建某公司", ID_ZHANGWEI), "id_number"),
        (with("id_number", json!("")), "id_number"),
        (with("id_type", json!("passport")), "id_type"),
        (with("legal_name", json!("   ")), "legal_name"),
        (with("legal_name", json!("张".repeat(201))), "legal_name"),
        (with("phone", json!("call me")), "phone"),
        (with("experience", json!("稻".repeat(5001))), "experience"),
        (
            with("business_plan", json!("稻".repeat(10001))),
            "business_plan",
        ),
        (with("claims_membership", json!("yes")), "claims_membership"),
        (without("id_number"), "id_number"),
        (without("claims_membership"), "claims_membership"),
        // Nothing can be smuggled in.
        (with("status", json!("qualified")), "status"),
        (with("deposit_status", json!("confirmed")), "deposit_status"),
        (with("member_verified", json!(true)), "member_verified"),
        (with("investor_id", json!(w.admin)), "investor_id"),
    ];
    for (b, field) in cases {
        let r = apply(&app, &zhang.token, &w.listing, b.clone());
        assert_eq!(r.status, 422, "{b}: {}", r.text);
        r.assert_field(field);
    }
    app.call_raw(
        "POST",
        &format!("/api/v1/listings/{}/registrations", w.listing),
        Some(&zhang.token),
        Some("{\"legal_name\":".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
    app.post(
        "/api/v1/listings/not-a-uuid/registrations",
        Some(&zhang.token),
        person("张伟", ID_ZHANGWEI),
    )
    .assert_problem(400, "bad_request");
    assert_eq!(count_rows(&app, &w.listing, &zhang.id), 0);
    assert!(subjects_to(&app, &zhang.email).is_empty());

    // A lower-case check character is the same ID.
    let r = apply(
        &app,
        &zhang.token,
        &w.listing,
        with("id_number", json!("11010519491231002x")),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id_number"], ID_ZHANGWEI);
    let reg = r.id();

    // Staff bodies are checked too.
    act(
        &app,
        &w.staff,
        &reg,
        "qualify",
        json!({"status": "qualified"}),
    )
    .assert_field("status");
    act(
        &app,
        &w.staff,
        &reg,
        "qualify",
        json!({"member_verified": "yes"}),
    )
    .assert_field("member_verified");
    act(
        &app,
        &w.staff,
        &reg,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1", "deposit_status": "refunded"}),
    )
    .assert_field("deposit_status");
    act(
        &app,
        &w.staff,
        &reg,
        "reject",
        json!({"reason": "材料不全", "status": "qualified"}),
    )
    .assert_field("status");
    app.call_raw(
        "POST",
        &format!("/api/v1/registrations/{reg}/qualify"),
        Some(&w.staff),
        Some("{".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
    assert_eq!(
        reg_status(&app, &w, &reg),
        ("applied".into(), "unpaid".into())
    );
    // An action without parameters takes an empty body.
    let r = app.call_raw(
        "POST",
        &format!("/api/v1/registrations/{reg}/qualify"),
        Some(&w.staff),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "qualified");
}

#[test]
fn only_announced_listings_take_registrations() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let b = || person("张伟", ID_ZHANGWEI);

    // Drafts and submitted listings are invisible to investors: 404.
    let draft = listing(&app, &w, Stage::Draft);
    let submitted = listing(&app, &w, Stage::Submitted);
    for l in [&draft, &submitted] {
        apply(&app, &zhang.token, l, b()).assert_problem(404, "not_found");
        // Those who can see it are no investors.
        for t in [&w.staff, &w.collective, &w.admin] {
            apply(&app, t, l, b()).assert_problem(403, "forbidden");
        }
        // An outsider still gets 404.
        apply(&app, &w.sy_staff, l, b()).assert_problem(404, "not_found");
    }
    let missing = uuid::Uuid::new_v4().to_string();
    apply(&app, &zhang.token, &missing, b()).assert_problem(404, "not_found");

    // A cancelled listing is invisible again.
    let cancelled = listing(&app, &w, Stage::Announced);
    ok(app.post(
        &format!("/api/v1/listings/{cancelled}/cancel"),
        Some(&w.staff),
        json!({"reason": "村集体申请撤销"}),
    ));
    apply(&app, &zhang.token, &cancelled, b()).assert_problem(404, "not_found");

    // The announced one takes registrations until registration closes, exclusive.
    let closes = closes_at(&app, &w.listing);
    app.clock.set(closes - Duration::seconds(1));
    let a = apply_ok(&app, &zhang, &w.listing, b());
    let lvye = investor(&app, "office@lvye-coop.cn", "绿野合作社");
    app.clock.set(closes);
    apply(
        &app,
        &lvye.token,
        &w.listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    )
    .assert_problem(409, "invalid_state");
    // No eligible bidder: the listing failed, and it is public, so this is 409 as well.
    let l = app.get(&format!("/api/v1/listings/{}", w.listing), None);
    assert_eq!(l.body["status"], "failed", "{}", l.text);
    app.clock.advance(Duration::days(3));
    apply(
        &app,
        &lvye.token,
        &w.listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    )
    .assert_problem(409, "invalid_state");
    assert_eq!(count_rows(&app, &w.listing, &lvye.id), 0);
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "unpaid".into())
    );
}

#[test]
fn reviews_and_deposits_stop_when_registration_closes() {
    let app = start();
    let w = setup(&app);
    let closes = closes_at(&app, &w.listing);
    let names = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
        ("liuyang@example.cn", "刘洋", ID_LIUYANG),
    ];
    let regs: Vec<String> = names
        .iter()
        .map(|(email, name, id)| {
            let inv = investor(&app, email, name);
            apply_ok(&app, &inv, &w.listing, person(name, id))
        })
        .collect();
    let [q, d, r, open] = [&regs[0], &regs[1], &regs[2], &regs[3]];
    // One second before the close all of this still works (without making anybody eligible).
    app.clock.set(closes - Duration::seconds(1));
    qualify(&app, &w, q);
    deposit(&app, &w, d);
    reject(&app, &w, r);
    // From the close on, the set of eligible bidders is fixed.
    app.clock.set(closes);
    for (reg, action, body) in [
        (open, "qualify", json!({})),
        (open, "reject", json!({"reason": "逾期"})),
        (
            open,
            "deposit",
            json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-late"}),
        ),
        (
            q,
            "deposit",
            json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-late"}),
        ),
        (d, "qualify", json!({})),
        (d, "reject", json!({"reason": "逾期"})),
    ] {
        let resp = act(&app, &w.staff, reg, action, body);
        assert_eq!(resp.status, 409, "{action} after close: {}", resp.text);
        resp.assert_problem(409, "invalid_state");
    }
    assert_eq!(
        reg_status(&app, &w, open),
        ("applied".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, q),
        ("qualified".into(), "unpaid".into())
    );
    // The confirmed deposit of an unqualified registration is released at the close.
    assert_eq!(
        reg_status(&app, &w, d),
        ("applied".into(), "refund_due".into())
    );
    // Refunds go on after the close.
    assert_eq!(refund(&app, &w, d)["deposit_status"], "refunded");
    let l = ok(app.get(&format!("/api/v1/listings/{}", w.listing), None));
    assert_eq!(l["status"], "failed");
    assert_eq!(l["eligible_bidders"], 0);
}

// ---- 4. personal data at rest ------------------------------------------------------------------

#[test]
fn id_numbers_are_encrypted_at_rest_and_never_audited_or_mailed() {
    let app = start();
    let w = setup(&app);
    let people = [
        ("zhangwei@example.cn", "张伟", "resident_id", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", "resident_id", ID_LINA),
        ("zhaomin@example.cn", "赵敏", "resident_id", ID_ZHAOMIN),
        (
            "office@lvye-coop.cn",
            "上海金山绿野农业专业合作社",
            "unified_social_credit_code",
            USCC_LVYE,
        ),
        (
            "office@jinnong.cn",
            "上海金农生态农业有限公司",
            "unified_social_credit_code",
            USCC_JINNONG,
        ),
        (
            "office@minnong.cn",
            "福建闽农农业发展有限公司",
            "unified_social_credit_code",
            USCC_FUJIAN,
        ),
    ];
    let second = listing(&app, &w, Stage::Announced);
    let mut regs = Vec::new();
    for (i, (email, name, id_type, number)) in people.iter().enumerate() {
        let inv = investor(&app, email, name);
        let reg = apply_ok(&app, &inv, &w.listing, body(name, id_type, number, i == 0));
        regs.push(reg);
        apply_ok(&app, &inv, &second, body(name, id_type, number, false));
    }
    // Every kind of change, on both listings.
    ok(act(
        &app,
        &w.staff,
        &regs[0],
        "qualify",
        json!({"member_verified": true}),
    ));
    deposit(&app, &w, &regs[1]);
    deposit(&app, &w, &regs[2]);
    reject(&app, &w, &regs[2]);
    refund(&app, &w, &regs[2]);
    reject(&app, &w, &regs[3]);
    deposit(&app, &w, &regs[4]);
    ok(app.post(
        &format!("/api/v1/listings/{second}/cancel"),
        Some(&w.staff),
        json!({"reason": "村集体申请撤销"}),
    ));
    app.clock
        .set(closes_at(&app, &w.listing) + Duration::minutes(1));
    assert_eq!(
        ok(app.get(&format!("/api/v1/listings/{}", w.listing), None))["status"],
        "failed"
    );
    refund(&app, &w, &regs[1]);

    let plain: Vec<&str> = people.iter().map(|p| p.3).collect();
    let leaks = |text: &str| -> Vec<String> {
        plain
            .iter()
            .filter(|p| text.contains(**p) || text.contains(&p.to_ascii_lowercase()))
            .map(|p| p.to_string())
            .collect()
    };
    let mut conn = app.pool().get().unwrap();

    // The registrations table: ciphertext that is not the number, not its base64, and
    // doesn't decode to it; the masked form is the only readable one.
    let rows: Vec<(String, String, String)> = registrations::table
        .select((
            registrations::id,
            registrations::id_number_enc,
            registrations::id_number_masked,
        ))
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 2 * people.len());
    let mut seen = HashSet::new();
    for (id, enc, masked) in &rows {
        assert!(
            leaks(enc).is_empty(),
            "{id}: plaintext in id_number_enc {enc}"
        );
        for p in &plain {
            assert!(!enc.contains(&STANDARD.encode(p)), "{id}: base64 of {p}");
            assert!(!enc.contains(&hex(p.as_bytes())), "{id}: hex of {p}");
        }
        if let Ok(raw) = STANDARD.decode(enc) {
            let raw = String::from_utf8_lossy(&raw).to_string();
            assert!(leaks(&raw).is_empty(), "{id}: decodes to plaintext");
        }
        assert!(leaks(masked).is_empty(), "{id}: {masked}");
        assert!(masked.contains("**********"), "{masked}");
        assert!(
            seen.insert(enc.clone()),
            "same ciphertext twice: no random nonce"
        );
    }
    // Every column of every row, too.
    let all: Vec<Registration> = registrations::table
        .select(Registration::as_select())
        .load(&mut conn)
        .unwrap();
    assert_eq!(all.len(), rows.len());
    for r in &all {
        assert!(leaks(&format!("{r:?}")).is_empty(), "{r:?}");
    }

    // The audit log and the outbox hold none of them.
    let audit: Vec<AuditRecord> = audit_log::table
        .select(AuditRecord::as_select())
        .load(&mut conn)
        .unwrap();
    drop(conn);
    assert!(audit.len() > 20, "{} audit records", audit.len());
    for a in &audit {
        assert!(leaks(&format!("{a:?}")).is_empty(), "audit: {a:?}");
    }
    let outbox = app.outbox();
    assert!(outbox.len() > 20, "{} mails", outbox.len());
    for m in &outbox {
        assert!(
            leaks(&format!("{} {} {}", m.to_addr, m.subject, m.body)).is_empty(),
            "mail: {m:?}"
        );
    }
    // ... nor the mail the relay writes out.
    app.run_jobs();
    let dir = std::path::Path::new(&app.settings.mail.file_dir);
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).to_string();
        assert!(leaks(&text).is_empty(), "mail file: {text}");
        files += 1;
    }
    assert!(files > 0);
    // Lists readable by the owner collective and the public never show them.
    for (path, token) in [
        (
            format!("/api/v1/listings/{}/registrations", w.listing),
            Some(w.collective.as_str()),
        ),
        (format!("/api/v1/listings/{}", w.listing), None),
        ("/api/v1/listings".to_string(), None),
    ] {
        let r = app.get(&path, token);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(leaks(&r.text).is_empty(), "{path}: {}", r.text);
    }
    // The registrant still reads its own in full.
    let zhang = app.login("zhangwei@example.cn", PW);
    assert_eq!(
        ok(get_reg(&app, &zhang, &regs[0]))["id_number"],
        ID_ZHANGWEI
    );
}

/// Responses stored for `Idempotency-Key` replays carry the registration in full; they are
/// data at rest like any other.
#[test]
fn idempotency_store_keeps_no_plaintext_id_numbers() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let path = format!("/api/v1/listings/{}/registrations", w.listing);
    let key = [("Idempotency-Key", "zhangwei-registration-1")];
    let b = person("张伟", ID_ZHANGWEI).to_string();
    let r = app.call_raw("POST", &path, Some(&zhang.token), Some(b.clone()), &key);
    assert_eq!(r.status, 201, "{}", r.text);
    let reg = r.id();
    let key = [("Idempotency-Key", "caojing-deposit-1")];
    let r = app.call_raw(
        "POST",
        &format!("/api/v1/registrations/{reg}/deposit"),
        Some(&w.staff),
        Some(json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-1"}).to_string()),
        &key,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let mut conn = app.pool().get().unwrap();
    use landx::db::schema::idempotency_keys as ik;
    let stored: Vec<Option<String>> = ik::table.select(ik::response_body).load(&mut conn).unwrap();
    drop(conn);
    assert_eq!(stored.len(), 2);
    for body in stored.iter().flatten() {
        assert!(!body.contains(ID_ZHANGWEI), "stored response: {body}");
    }
    // Replays still give the registrant its number.
    let key = [("Idempotency-Key", "zhangwei-registration-1")];
    let again = app.call_raw("POST", &path, Some(&zhang.token), Some(b), &key);
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id_number"], ID_ZHANGWEI);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---- 5. cancelled and failed listings ------------------------------------------------------------

#[test]
fn cancelling_an_announced_listing_releases_deposits_and_tells_every_registrant() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let li = investor(&app, "lina@example.cn", "李娜");
    let wang = investor(&app, "wangjun@example.cn", "王军");
    let lvye = investor(&app, "office@lvye-coop.cn", "绿野合作社");
    let liu = investor(&app, "liuyang@example.cn", "刘洋");
    // 张伟: qualified, confirmed (eligible); 李娜: applied, confirmed; 王军: qualified, unpaid;
    // 绿野: applied, unpaid; 刘洋: rejected, refund_due.
    let a = apply_ok(&app, &zhang, &w.listing, person("张伟", ID_ZHANGWEI));
    let b = apply_ok(&app, &li, &w.listing, person("李娜", ID_LINA));
    let c = apply_ok(&app, &wang, &w.listing, person("王军", ID_WANGJUN));
    let d = apply_ok(
        &app,
        &lvye,
        &w.listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    let e = apply_ok(&app, &liu, &w.listing, person("刘洋", ID_LIUYANG));
    qualify(&app, &w, &a);
    deposit(&app, &w, &a);
    deposit(&app, &w, &b);
    qualify(&app, &w, &c);
    deposit(&app, &w, &e);
    reject(&app, &w, &e);
    let before: Vec<usize> = [&zhang, &li, &wang, &lvye, &liu]
        .iter()
        .map(|i| subjects_to(&app, &i.email).len())
        .collect();

    app.clock.advance(Duration::days(2));
    app.post(
        &format!("/api/v1/listings/{}/cancel", w.listing),
        Some(&w.staff),
        json!({}),
    )
    .assert_field("reason");
    assert_eq!(reg_status(&app, &w, &a).1, "confirmed");
    let r = ok(app.post(
        &format!("/api/v1/listings/{}/cancel", w.listing),
        Some(&w.staff),
        json!({"reason": "村集体经济组织申请撤销挂牌"}),
    ));
    assert_eq!(r["status"], "cancelled");

    assert_eq!(
        reg_status(&app, &w, &a),
        ("qualified".into(), "refund_due".into())
    );
    assert_eq!(
        reg_status(&app, &w, &b),
        ("applied".into(), "refund_due".into())
    );
    assert_eq!(
        reg_status(&app, &w, &c),
        ("qualified".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &d),
        ("applied".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &e),
        ("rejected".into(), "refund_due".into())
    );
    // Each confirmed deposit moved once, by the staff member, with the reason.
    let staff_id = ok(app.get("/api/v1/me", Some(&w.staff)))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for reg in [&a, &b] {
        let last = trail(&app, reg).pop().unwrap();
        assert_eq!(last.action, "deposit.changed");
        assert_eq!(last.entity_type, "deposit");
        assert_eq!(last.from_state.as_deref(), Some("confirmed"));
        assert_eq!(last.to_state.as_deref(), Some("refund_due"));
        assert_eq!(last.actor_id.as_deref(), Some(staff_id.as_str()));
        assert_eq!(last.actor_role.as_deref(), Some("staff"));
        assert!(last.reason.as_deref().unwrap_or("").contains("cancel"));
        assert_eq!(last.created_at, (t0() + Duration::days(2)).naive_utc());
    }
    for reg in [&c, &d, &e] {
        assert!(
            !trail(&app, reg)
                .iter()
                .any(|x| x.created_at == (t0() + Duration::days(2)).naive_utc()),
            "{reg} moved on cancel"
        );
    }
    // Every registrant is told; those with a confirmed deposit also about the refund.
    for (i, (inv, refund_mail)) in [
        (&zhang, true),
        (&li, true),
        (&wang, false),
        (&lvye, false),
        (&liu, false),
    ]
    .into_iter()
    .enumerate()
    {
        let subjects = subjects_to(&app, &inv.email);
        let new = &subjects[before[i]..];
        assert_eq!(
            new.iter()
                .filter(|s| s.ends_with("Listing cancelled"))
                .count(),
            1,
            "{}: {new:?}",
            inv.email
        );
        assert_eq!(
            new.iter()
                .filter(|s| s.ends_with("Deposit to be refunded"))
                .count(),
            usize::from(refund_mail),
            "{}: {new:?}",
            inv.email
        );
        assert_eq!(new.len(), 1 + usize::from(refund_mail), "{new:?}");
        let cancel_mail = mails_to(&app, &inv.email)
            .into_iter()
            .rfind(|m| m.subject.ends_with("Listing cancelled"))
            .unwrap();
        assert!(cancel_mail.body.contains("村集体经济组织申请撤销挂牌"));
    }
    // Registrants still see their registrations; staff refund after the cancel; nothing
    // else moves any more.
    assert_eq!(
        ok(get_reg(&app, &zhang.token, &a))["deposit_status"],
        "refund_due"
    );
    assert_eq!(refund(&app, &w, &a)["deposit_status"], "refunded");
    act(&app, &w.staff, &d, "qualify", json!({})).assert_problem(409, "invalid_state");
    act(
        &app,
        &w.staff,
        &c,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-x"}),
    )
    .assert_problem(409, "invalid_state");
    let staff_list = ok(app.get(
        &format!("/api/v1/listings/{}/registrations", w.listing),
        Some(&w.staff),
    ));
    assert_eq!(staff_list["items"].as_array().unwrap().len(), 5);
    // The cancelled listing is no longer public: its registrations are hidden from outsiders.
    app.get(
        &format!("/api/v1/listings/{}/registrations", w.listing),
        Some(&w.sy_staff),
    )
    .assert_problem(404, "not_found");

    // An admin may cancel an announced listing as well.
    let second = listing(&app, &w, Stage::Announced);
    let f = apply_ok(&app, &zhang, &second, person("张伟", ID_ZHANGWEI));
    deposit(&app, &w, &f);
    ok(app.post(
        &format!("/api/v1/listings/{second}/cancel"),
        Some(&w.admin),
        json!({"reason": "平台核查发现权属争议"}),
    ));
    assert_eq!(
        reg_status(&app, &w, &f),
        ("applied".into(), "refund_due".into())
    );
    let last = trail(&app, &f).pop().unwrap();
    assert_eq!(last.actor_role.as_deref(), Some("admin"));
}

/// "A read that finds a transition due performs it first": a cancel arriving after
/// registration has closed, before any read or worker pass settled the listing, must find it
/// failed (here: no eligible bidder), not announced.
#[test]
fn cancelling_after_registration_closed_finds_the_listing_settled() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let a = apply_ok(&app, &zhang, &w.listing, person("张伟", ID_ZHANGWEI));
    deposit(&app, &w, &a);
    app.clock
        .set(closes_at(&app, &w.listing) + Duration::minutes(1));
    app.post(
        &format!("/api/v1/listings/{}/cancel", w.listing),
        Some(&w.staff),
        json!({"reason": "村集体申请撤销"}),
    )
    .assert_problem(409, "invalid_state");
    let l = ok(app.get(&format!("/api/v1/listings/{}", w.listing), Some(&w.staff)));
    assert_eq!(l["status"], "failed");
    assert_eq!(reg_status(&app, &w, &a).1, "refund_due");
    let last = trail(&app, &a).pop().unwrap();
    assert_eq!(last.reason.as_deref(), Some("listing failed"));
}

#[test]
fn a_listing_without_eligible_bidders_fails_at_close_and_releases_deposits() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let li = investor(&app, "lina@example.cn", "李娜");
    let wang = investor(&app, "wangjun@example.cn", "王军");
    let lvye = investor(&app, "office@lvye-coop.cn", "绿野合作社");
    // 张伟: applied, confirmed; 李娜: qualified, unpaid; 王军: rejected, refunded;
    // 绿野: applied, unpaid. Nobody is eligible.
    let a = apply_ok(&app, &zhang, &w.listing, person("张伟", ID_ZHANGWEI));
    let b = apply_ok(&app, &li, &w.listing, person("李娜", ID_LINA));
    let c = apply_ok(&app, &wang, &w.listing, person("王军", ID_WANGJUN));
    let d = apply_ok(
        &app,
        &lvye,
        &w.listing,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    deposit(&app, &w, &a);
    qualify(&app, &w, &b);
    deposit(&app, &w, &c);
    reject(&app, &w, &c);
    refund(&app, &w, &c);
    let counts: Vec<usize> = [&zhang, &li, &wang, &lvye]
        .iter()
        .map(|i| subjects_to(&app, &i.email).len())
        .collect();
    let closes = closes_at(&app, &w.listing);

    // Before the close nothing happens.
    app.clock.set(closes - Duration::seconds(1));
    let l = ok(app.get(&format!("/api/v1/listings/{}", w.listing), None));
    assert_eq!(l["status"], "announced");
    assert_eq!(reg_status(&app, &w, &a).1, "confirmed");

    // The first read after the close performs it.
    app.clock.set(closes + Duration::minutes(5));
    let l = ok(app.get(&format!("/api/v1/listings/{}", w.listing), None));
    assert_eq!(l["status"], "failed", "{l}");
    assert_eq!(l["eligible_bidders"], 0);
    assert_eq!(
        reg_status(&app, &w, &a),
        ("applied".into(), "refund_due".into())
    );
    assert_eq!(
        reg_status(&app, &w, &b),
        ("qualified".into(), "unpaid".into())
    );
    assert_eq!(
        reg_status(&app, &w, &c),
        ("rejected".into(), "refunded".into())
    );
    assert_eq!(
        reg_status(&app, &w, &d),
        ("applied".into(), "unpaid".into())
    );
    let last = trail(&app, &a).pop().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.from_state.as_deref(),
            last.to_state.as_deref()
        ),
        ("deposit.changed", Some("confirmed"), Some("refund_due"))
    );
    assert_eq!(last.actor_id, None, "the system releases it");
    assert_eq!(last.stream, format!("listing:{}", w.listing));
    // Only 张伟 hears of it (about the refund); reading again changes nothing.
    ok(app.get(&format!("/api/v1/listings/{}", w.listing), None));
    for (i, inv) in [&zhang, &li, &wang, &lvye].iter().enumerate() {
        let subjects = subjects_to(&app, &inv.email);
        let new = &subjects[counts[i]..];
        if i == 0 {
            assert_eq!(new.len(), 1, "{new:?}");
            assert!(new[0].ends_with("Deposit to be refunded"), "{new:?}");
        } else {
            assert!(new.is_empty(), "{}: {new:?}", inv.email);
        }
    }
    assert_eq!(moves(&app, &a).len(), 3);
    assert_eq!(refund(&app, &w, &a)["deposit_status"], "refunded");
}

// ---- 6. audit records and e-mails ------------------------------------------------------------------

#[test]
fn every_change_is_audited_and_mailed_to_the_investor() {
    let app = start();
    let w = setup(&app);
    let zhang = investor(&app, "zhangwei@example.cn", "张伟");
    let li = investor(&app, "lina@example.cn", "李娜");
    let staff_id = ok(app.get("/api/v1/me", Some(&w.staff)))["id"]
        .as_str()
        .unwrap()
        .to_string();

    let a = apply_ok(
        &app,
        &zhang,
        &w.listing,
        body("张伟", "resident_id", ID_ZHANGWEI, true),
    );
    app.clock.advance(Duration::hours(1));
    ok(act(
        &app,
        &w.staff,
        &a,
        "qualify",
        json!({"member_verified": true}),
    ));
    app.clock.advance(Duration::hours(1));
    deposit(&app, &w, &a);
    assert_eq!(
        moves(&app, &a),
        [
            mv("registration.applied", "none", "applied"),
            mv("registration.qualified", "applied", "qualified"),
            mv("deposit.changed", "unpaid", "confirmed"),
        ]
    );
    let t = trail(&app, &a);
    assert_eq!(t[0].actor_id.as_deref(), Some(zhang.id.as_str()));
    assert_eq!(t[0].actor_role.as_deref(), Some("investor"));
    assert_eq!(t[0].entity_type, "registration");
    assert_eq!(t[0].created_at, t0().naive_utc());
    for x in &t[1..] {
        assert_eq!(x.actor_id.as_deref(), Some(staff_id.as_str()));
        assert_eq!(x.actor_role.as_deref(), Some("staff"));
    }
    assert_eq!(t[1].entity_type, "registration");
    assert_eq!(t[2].entity_type, "deposit");
    assert_eq!(t[2].created_at, (t0() + Duration::hours(2)).naive_utc());
    // All on the listing's stream, chained.
    for x in &t {
        assert_eq!(x.stream, format!("listing:{}", w.listing));
        assert_eq!(x.entity_id, a);
    }
    assert!(t.windows(2).all(|p| p[0].seq < p[1].seq));
    let subjects = subjects_to(&app, &zhang.email);
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    for (s, end) in subjects.iter().zip([
        "Registration received",
        "Registration qualified",
        "Deposit confirmed",
    ]) {
        assert!(s.ends_with(end), "{s} / {end}");
    }

    // Refused attempts leave no trace.
    let n_audit = trail(&app, &a).len();
    let n_mail = app.outbox().len();
    act(&app, &w.staff, &a, "qualify", json!({})).assert_problem(409, "invalid_state");
    act(
        &app,
        &w.staff,
        &a,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-x"}),
    )
    .assert_problem(409, "invalid_state");
    act(
        &app,
        &w.staff,
        &a,
        "refund",
        json!({"receipt_ref": "ICBC-x"}),
    )
    .assert_problem(409, "invalid_state");
    act(&app, &w.admin, &a, "reject", json!({"reason": "x"})).assert_problem(403, "forbidden");
    assert_eq!(trail(&app, &a).len(), n_audit);
    assert_eq!(app.outbox().len(), n_mail);

    // Rejected with a confirmed deposit, then refunded.
    let b = apply_ok(&app, &li, &w.listing, person("李娜", ID_LINA));
    let n_mail = app.outbox().len();
    act(
        &app,
        &w.staff,
        &b,
        "deposit",
        json!({"amount_fen": 1, "receipt_ref": "ICBC-x"}),
    )
    .assert_field("amount_fen");
    assert_eq!(app.outbox().len(), n_mail);
    deposit(&app, &w, &b);
    reject(&app, &w, &b);
    refund(&app, &w, &b);
    assert_eq!(
        moves(&app, &b),
        [
            mv("registration.applied", "none", "applied"),
            mv("deposit.changed", "unpaid", "confirmed"),
            mv("registration.rejected", "applied", "rejected"),
            mv("deposit.changed", "confirmed", "refund_due"),
            mv("deposit.changed", "refund_due", "refunded"),
        ]
    );
    let t = trail(&app, &b);
    assert_eq!(t[2].reason.as_deref(), Some("经营主体资质材料不全"));
    assert!(t[3].reason.is_some());
    assert!(t[1..]
        .iter()
        .all(|x| x.actor_role.as_deref() == Some("staff")));
    let subjects = subjects_to(&app, &li.email);
    let want = [
        "Registration received",
        "Deposit confirmed",
        "Registration rejected",
        "Deposit to be refunded",
        "Deposit refunded",
    ];
    assert_eq!(subjects.len(), want.len(), "{subjects:?}");
    for (s, end) in subjects.iter().zip(want) {
        assert!(s.ends_with(end), "{s} / {end}");
    }
    let rejected = mails_to(&app, &li.email)
        .into_iter()
        .find(|m| m.subject.ends_with("Registration rejected"))
        .unwrap();
    assert!(
        rejected.body.contains("经营主体资质材料不全"),
        "{}",
        rejected.body
    );
    assert!(rejected.body.starts_with("李娜"), "{}", rejected.body);
    // Nobody else got mail about these registrations.
    for m in app.outbox() {
        if m.subject.contains("Registration") || m.subject.contains("Deposit") {
            assert!(
                m.to_addr == zhang.email || m.to_addr == li.email,
                "{} got {}",
                m.to_addr,
                m.subject
            );
        }
    }
}

// ---- 7. filters and pagination ---------------------------------------------------------------------

/// Walks a list with `limit=1`, checking every page; returns the ids in order.
fn walk(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=1&cursor={c}"),
            None => format!("{path}{sep}limit=1"),
        };
        let page = ok(app.get(&url, Some(token)));
        let items = ids(&page["items"]);
        assert!(items.len() <= 1, "{url}: {page}");
        out.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 1, "a cursor after an empty page: {page}");
                cursor = Some(c.to_string());
            }
            None => return out,
        }
    }
    panic!("{path}: no end after 50 pages");
}

#[test]
fn staff_list_filters_and_pages() {
    let app = start();
    let w = setup(&app);
    let people = [
        ("zhangwei@example.cn", "张伟", ID_ZHANGWEI),
        ("lina@example.cn", "李娜", ID_LINA),
        ("wangjun@example.cn", "王军", ID_WANGJUN),
        ("liuyang@example.cn", "刘洋", ID_LIUYANG),
        ("zhaomin@example.cn", "赵敏", ID_ZHAOMIN),
    ];
    let mut regs = Vec::new();
    for (email, name, id) in people {
        let inv = investor(&app, email, name);
        regs.push(apply_ok(&app, &inv, &w.listing, person(name, id)));
    }
    // Registrations of another listing never show up.
    let other = listing(&app, &w, Stage::Announced);
    let lvye = investor(&app, "office@lvye-coop.cn", "绿野合作社");
    apply_ok(
        &app,
        &lvye,
        &other,
        company("上海金山绿野农业专业合作社", USCC_LVYE),
    );
    // 0: qualified, unpaid; 1: qualified, unpaid; 2: applied, confirmed;
    // 3: rejected, refund_due; 4: applied, unpaid.
    qualify(&app, &w, &regs[0]);
    qualify(&app, &w, &regs[1]);
    deposit(&app, &w, &regs[2]);
    deposit(&app, &w, &regs[3]);
    reject(&app, &w, &regs[3]);

    let base = format!("/api/v1/listings/{}/registrations", w.listing);
    let pick = |idx: &[usize]| sorted(idx.iter().map(|i| regs[*i].clone()).collect());
    for (query, want) in [
        ("", pick(&[0, 1, 2, 3, 4])),
        ("?status=applied", pick(&[2, 4])),
        ("?status=qualified", pick(&[0, 1])),
        ("?status=rejected", pick(&[3])),
        ("?deposit_status=unpaid", pick(&[0, 1, 4])),
        ("?deposit_status=confirmed", pick(&[2])),
        ("?deposit_status=refund_due", pick(&[3])),
        ("?deposit_status=refunded", vec![]),
        ("?status=applied&deposit_status=unpaid", pick(&[4])),
        ("?status=qualified&deposit_status=confirmed", vec![]),
    ] {
        let path = format!("{base}{query}");
        for token in [&w.staff, &w.admin] {
            let page = ok(app.get(&path, Some(token)));
            assert_eq!(sorted(ids(&page["items"])), want, "{query}");
            assert!(page["next_cursor"].is_null());
            for item in page["items"].as_array().unwrap() {
                assert_eq!(item["listing_id"], w.listing.as_str());
            }
            // limit=1 walks all of them, each exactly once.
            let walked = walk(&app, token, &path);
            assert_eq!(walked.len(), want.len(), "{query}: {walked:?}");
            assert_eq!(sorted(walked), want, "{query}");
        }
    }
    // The owner collective pages through summaries the same way, and may filter.
    let walked = walk(&app, &w.collective, &base);
    assert_eq!(sorted(walked), pick(&[0, 1, 2, 3, 4]));
    let page = ok(app.get(&format!("{base}?status=rejected"), Some(&w.collective)));
    assert_eq!(
        page["items"],
        json!([{"id": regs[3], "status": "rejected", "deposit_status": "refund_due"}])
    );
    // Pages of two.
    let first = ok(app.get(&format!("{base}?limit=2"), Some(&w.staff)));
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let c = first["next_cursor"].as_str().unwrap();
    let second = ok(app.get(&format!("{base}?limit=2&cursor={c}"), Some(&w.staff)));
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    let c = second["next_cursor"].as_str().unwrap();
    let third = ok(app.get(&format!("{base}?limit=2&cursor={c}"), Some(&w.staff)));
    assert_eq!(third["items"].as_array().unwrap().len(), 1);
    assert!(third["next_cursor"].is_null());
    let mut all = ids(&first["items"]);
    all.extend(ids(&second["items"]));
    all.extend(ids(&third["items"]));
    assert_eq!(sorted(all), pick(&[0, 1, 2, 3, 4]));
    // Bad queries.
    for q in ["?limit=0", "?limit=201"] {
        app.get(&format!("{base}{q}"), Some(&w.staff))
            .assert_field("limit");
    }
    for q in [
        "?limit=abc",
        "?cursor=not-a-cursor",
        "?status=approved",
        "?deposit_status=paid",
    ] {
        app.get(&format!("{base}{q}"), Some(&w.staff))
            .assert_problem(400, "bad_request");
    }
    // /me/registrations pages too.
    let mut mine = Vec::new();
    for _ in 0..3 {
        let l = listing(&app, &w, Stage::Announced);
        mine.push(apply_ok(
            &app,
            &lvye,
            &l,
            company("上海金山绿野农业专业合作社", USCC_LVYE),
        ));
    }
    let walked = walk(&app, &lvye.token, "/api/v1/me/registrations");
    assert_eq!(walked.len(), 4);
    assert_eq!(walked.iter().collect::<HashSet<_>>().len(), 4);
    for id in &mine {
        assert!(walked.contains(id));
    }
}
