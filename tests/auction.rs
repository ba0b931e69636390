//! Issue 6 "Auction engine and deals" (网络竞价、成交), black-box over HTTP on both databases:
//! the bid rules in the contract's order, anti-sniping, the members' priority right, what
//! registration close and auction close decide, deals with their confirmation, decline,
//! time-out and runner-up fallback, relisting, `Idempotency-Key` on bids, many bidders at
//! once, audit records and e-mails, and the live feed (SSE).

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use common::*;
use diesel::prelude::*;
use landx::clock::Clock;
use landx::db::models::{AuditRecord, Bid, Deal};
use landx::db::schema::{audit_log, bids, deals};
use serde_json::{json, Value};

const PW: &str = "caojing-land-2027";
const RESERVE: i64 = 120_000;
const INCREMENT: i64 = 1_000;
const DEPOSIT: i64 = 100_000;
const EXTENSION: i64 = 300;

/// The app with access tokens that outlive the clock jumps of these tests and without the
/// per-IP throttle of the auth routes (every test investor logs in from 127.0.0.1).
fn start() -> TestApp {
    TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 90;
        s.auth.ip_attempts_per_minute = 1_000_000;
    })
}

// ---- valid ID numbers -----------------------------------------------------------------------

#[test]
fn id_helpers_reproduce_published_check_characters() {
    assert_eq!(resident_check("11010519491231002"), 'X');
    assert_eq!(resident_check("31011619800101123"), '4');
    assert_eq!(uscc_check("91350100M000100Y4"), '3');
    assert_eq!(uscc_check("91310116MA1K3CJ20"), 'P');
    assert_eq!(resident_id(7).len(), 18);
    assert_eq!(uscc(7).len(), 18);
}

// ---- world ----------------------------------------------------------------------------------

/// A township (漕泾镇 CJ in most tests) with the village owning the listings (护塘村), a
/// neighbouring village (金光村), a collective per village and the township's staff.
struct World {
    admin: String,
    /// The township's code.
    code: String,
    collective: String,
    collective_email: String,
    /// The collective of 金光村: same township, not the owner.
    other_collective: String,
    staff: String,
    staff_email: String,
    seq: AtomicU32,
}

impl World {
    fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A listing's schedule.
#[derive(Clone)]
struct Auction {
    id: String,
    closes: DateTime<Utc>,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
}

impl Auction {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/listings/{}{rest}", self.id)
    }
}

struct Investor {
    id: String,
    email: String,
    token: String,
}

/// An investor registered for a listing.
struct Bidder {
    inv: Investor,
    reg: String,
}

impl Bidder {
    fn token(&self) -> &str {
        &self.inv.token
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not a time: {v}: {e}"))
}

fn created(r: &Resp, what: &str) -> String {
    assert_eq!(r.status, 201, "{what}: {}", r.text);
    r.id()
}

fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// An account made by the admin with a password (e-mail counts as verified), logged in.
fn user(app: &TestApp, admin: &str, email: &str, name: &str, role: &str, org: Value) -> Investor {
    let mut body = json!({"email": email, "password": PW, "display_name": name, "role": role});
    for (k, v) in org.as_object().unwrap() {
        body[k] = v.clone();
    }
    let id = created(&app.post("/api/v1/users", Some(admin), body), email);
    Investor {
        id,
        email: email.into(),
        token: app.login(email, PW),
    }
}

fn setup(app: &TestApp) -> World {
    let admin = app.admin_token();
    township(app, &admin, "CJ", "漕泾镇", ["护塘村", "金光村"])
}

/// A township with two villages, a collective per village and the township's staff.
fn township(app: &TestApp, admin: &str, code: &str, name: &str, villages: [&str; 2]) -> World {
    let t = created(
        &app.post(
            "/api/v1/townships",
            Some(admin),
            json!({"code": code, "name": name}),
        ),
        name,
    );
    let village = |n: usize| {
        created(
            &app.post(
                "/api/v1/villages",
                Some(admin),
                json!({"township_id": t, "code": format!("{code}0{n}"), "name": villages[n - 1]}),
            ),
            villages[n - 1],
        )
    };
    let (owner, neighbour) = (village(1), village(2));
    let lc = code.to_ascii_lowercase();
    let collective_email = format!("wangfang@{lc}01.cun.cn");
    let collective = user(
        app,
        admin,
        &collective_email,
        "王芳",
        "collective",
        json!({"village_id": owner}),
    );
    let other_collective = user(
        app,
        admin,
        &format!("zhoujie@{lc}02.cun.cn"),
        "周杰",
        "collective",
        json!({"village_id": neighbour}),
    );
    let staff_email = format!("liqiang@{lc}.gov.cn");
    let staff = user(
        app,
        admin,
        &staff_email,
        "李强",
        "staff",
        json!({"township_id": t}),
    );
    World {
        admin: admin.to_string(),
        code: code.to_string(),
        collective: collective.token,
        collective_email,
        other_collective: other_collective.token,
        staff: staff.token,
        staff_email,
        seq: AtomicU32::new(0),
    }
}

/// A parcel of `area_mu` and an announced listing of it: registration closes 12 days from the
/// clock, the auction runs from +13 days for one hour, extension 300 s.
fn listing(app: &TestApp, w: &World, area_mu: &str, reserve: i64) -> Auction {
    let now = app.clock.now();
    let closes = now + Duration::days(12);
    let starts = now + Duration::days(13);
    listing_at(
        app,
        w,
        area_mu,
        reserve,
        [closes, starts, starts + Duration::hours(1)],
    )
}

/// A parcel of `area_mu` and an announced listing of it with this schedule
/// (`[registration_closes_at, auction_starts_at, auction_ends_at]`).
fn listing_at(
    app: &TestApp,
    w: &World,
    area_mu: &str,
    reserve: i64,
    [closes, starts, ends]: [DateTime<Utc>; 3],
) -> Auction {
    let n = w.next();
    let parcel = created(
        &app.post(
            "/api/v1/parcels",
            Some(&w.collective),
            json!({
                "code": format!("JS-{}-0001-{n:03}", w.code),
                "area_mu": area_mu,
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
    let r = app.post(
        "/api/v1/listings",
        Some(&w.collective),
        json!({
            "title": format!("{area_mu}亩耕地经营权流转（第{n}号）"),
            "description": "集中连片，灌排设施完善，适宜水稻种植。",
            "parcel_ids": [parcel],
            "intended_use": "grain",
            "term_start": "2028-03-01",
            "term_end": "2037-12-31",
            "reserve_price_fen": reserve,
            "min_increment_fen": INCREMENT,
            "deposit_fen": DEPOSIT,
            "registration_closes_at": rfc(closes),
            "auction_starts_at": rfc(starts),
            "auction_ends_at": rfc(ends),
            "extension_secs": EXTENSION,
            "consent": {
                "resolution_date": "2027-01-05",
                "members_agreeing": 20,
                "members_total": 30,
                "commissions_received": 12,
            },
        }),
    );
    let id = created(&r, "listing");
    let a = Auction {
        closes: ts(&r.body["registration_closes_at"]),
        starts: ts(&r.body["auction_starts_at"]),
        ends: ts(&r.body["auction_ends_at"]),
        id,
    };
    assert_eq!([a.closes, a.starts, a.ends], [closes, starts, ends]);
    let s = ok(app.post(&a.path("/submit"), Some(&w.collective), json!({})));
    assert_eq!(s["status"], "submitted");
    let s = ok(app.post(&a.path("/approve"), Some(&w.staff), json!({})));
    assert_eq!(s["status"], "announced");
    a
}

/// A self-registered investor with a verified e-mail, logged in.
fn self_registered(app: &TestApp, w: &World, display: &str) -> Investor {
    let email = format!(
        "investor{}@{}.nongye.cn",
        w.next(),
        w.code.to_ascii_lowercase()
    );
    let r = app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PW, "display_name": display, "phone": "13916012345"}),
    );
    let id = created(&r, &email);
    assert_eq!(r.body["email_verified"], false);
    let token = app.mailed_token(&email, "Verify your e-mail");
    let v = app.post("/api/v1/auth/verify-email", None, json!({"token": token}));
    assert_eq!(v.status, 200, "verify {email}: {}", v.text);
    Investor {
        id,
        token: app.login(&email, PW),
        email,
    }
}

/// How far an investor gets with its registration.
#[derive(Clone, Copy)]
struct Plan {
    name: &'static str,
    company: bool,
    claims: bool,
    member: bool,
    qualify: bool,
    deposit: bool,
}

impl Plan {
    fn person(name: &'static str) -> Plan {
        Plan {
            name,
            company: false,
            claims: false,
            member: false,
            qualify: true,
            deposit: true,
        }
    }
    fn company(name: &'static str) -> Plan {
        Plan {
            company: true,
            ..Plan::person(name)
        }
    }
    /// Claims membership of the collective and staff verify it.
    fn member(self) -> Plan {
        Plan {
            claims: true,
            member: true,
            ..self
        }
    }
    /// Claims membership; staff qualify without verifying it.
    fn claims_only(self) -> Plan {
        Plan {
            claims: true,
            member: false,
            ..self
        }
    }
    fn unqualified(self) -> Plan {
        Plan {
            qualify: false,
            ..self
        }
    }
    fn unpaid(self) -> Plan {
        Plan {
            deposit: false,
            ..self
        }
    }
}

/// A new self-registered investor, registered for `a` as `p` says.
fn enrol(app: &TestApp, w: &World, a: &Auction, p: Plan) -> Bidder {
    let inv = self_registered(app, w, p.name);
    enrol_as(app, w, a, inv, p)
}

fn enrol_as(app: &TestApp, w: &World, a: &Auction, inv: Investor, p: Plan) -> Bidder {
    let n = w.next();
    let (id_type, id_number) = if p.company {
        ("unified_social_credit_code", uscc(n))
    } else {
        ("resident_id", resident_id(n))
    };
    let r = app.post(
        &a.path("/registrations"),
        Some(&inv.token),
        json!({
            "legal_name": p.name,
            "id_type": id_type,
            "id_number": id_number,
            "phone": "13916012345",
            "experience": "种植水稻十余年，现经营家庭农场120亩。",
            "business_plan": "稻麦轮作，申请绿色食品认证，配套烘干设备。",
            "claims_membership": p.claims,
        }),
    );
    let reg = created(&r, p.name);
    if p.qualify {
        let q = ok(app.post(
            &format!("/api/v1/registrations/{reg}/qualify"),
            Some(&w.staff),
            json!({"member_verified": p.member}),
        ));
        assert_eq!(q["member_verified"], p.member);
    }
    if p.deposit {
        let d = ok(app.post(
            &format!("/api/v1/registrations/{reg}/deposit"),
            Some(&w.staff),
            json!({"amount_fen": DEPOSIT, "receipt_ref": format!("ICBC-310116-{n:06}")}),
        ));
        assert_eq!(d["deposit_status"], "confirmed");
    }
    Bidder { inv, reg }
}

// ---- actions and reads ----------------------------------------------------------------------

fn bid(app: &TestApp, token: &str, a: &Auction, amount: i64) -> Resp {
    app.post(&a.path("/bids"), Some(token), json!({"amount_fen": amount}))
}

fn bid_ok(app: &TestApp, b: &Bidder, a: &Auction, amount: i64) -> Value {
    let r = bid(app, b.token(), a, amount);
    assert_eq!(r.status, 201, "bid {amount}: {}", r.text);
    assert_eq!(r.body["amount_fen"], amount);
    assert_eq!(r.body["is_leading"], true);
    assert_eq!(r.body["current_price_fen"], amount);
    r.body
}

fn bid_with_key(app: &TestApp, token: &str, path: &str, key: &str, body: &str) -> Resp {
    app.call_raw(
        "POST",
        path,
        Some(token),
        Some(body.to_string()),
        &[("Idempotency-Key", key)],
    )
}

/// The public view of a listing (a read: performs what is due first).
fn view(app: &TestApp, a: &Auction) -> Value {
    ok(app.get(&a.path(""), None))
}

fn public_deal(app: &TestApp, a: &Auction) -> Value {
    ok(app.get(&a.path("/deal"), None))
}

fn deal_as(app: &TestApp, a: &Auction, token: &str) -> Value {
    ok(app.get(&a.path("/deal"), Some(token)))
}

fn deal_action(app: &TestApp, token: &str, deal: &str, action: &str) -> Resp {
    app.post(
        &format!("/api/v1/deals/{deal}/{action}"),
        Some(token),
        json!({}),
    )
}

fn deposit_of(app: &TestApp, w: &World, b: &Bidder) -> String {
    let r = ok(app.get(&format!("/api/v1/registrations/{}", b.reg), Some(&w.admin)));
    r["deposit_status"].as_str().unwrap().to_string()
}

/// Every bid of a listing through the API, newest first (all pages).
fn all_bids(app: &TestApp, a: &Auction, token: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => a.path(&format!("/bids?limit=200&cursor={c}")),
            None => a.path("/bids?limit=200"),
        };
        let page = ok(app.get(&path, token));
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

fn db_bids(app: &TestApp, a: &Auction) -> Vec<Bid> {
    let mut conn = app.pool().get().unwrap();
    bids::table
        .filter(bids::listing_id.eq(&a.id))
        .order(bids::seq.asc())
        .select(Bid::as_select())
        .load(&mut conn)
        .unwrap()
}

fn db_deals(app: &TestApp, a: &Auction) -> Vec<Deal> {
    let mut conn = app.pool().get().unwrap();
    deals::table
        .filter(deals::listing_id.eq(&a.id))
        .order(deals::round.asc())
        .select(Deal::as_select())
        .load(&mut conn)
        .unwrap()
}

/// The audit records of one listing's stream, in stream order.
fn stream(app: &TestApp, a: &Auction) -> Vec<AuditRecord> {
    let mut conn = app.pool().get().unwrap();
    audit_log::table
        .filter(audit_log::stream.eq(format!("listing:{}", a.id)))
        .order(audit_log::seq.asc())
        .select(AuditRecord::as_select())
        .load(&mut conn)
        .unwrap()
}

fn actions(app: &TestApp, entity: &str) -> Vec<String> {
    let mut a = app.audit_for(entity);
    a.sort_by_key(|r| r.seq);
    a.into_iter().map(|r| r.action).collect()
}

fn subjects(app: &TestApp, to: &str) -> Vec<String> {
    app.outbox()
        .into_iter()
        .filter(|m| m.to_addr == to)
        .map(|m| m.subject)
        .collect()
}

fn count_mail(app: &TestApp, to: &str, needle: &str) -> usize {
    subjects(app, to)
        .iter()
        .filter(|s| s.contains(needle))
        .count()
}

/// `round_half_up(price × centimu / 100)`, computed independently of the server.
fn rent(price: i64, centimu: i64) -> i64 {
    let x = price * centimu;
    x / 100 + i64::from(x % 100 >= 50)
}

// ---- 1. bid rules ---------------------------------------------------------------------------

#[test]
fn bids_are_checked_in_the_contract_order() {
    let app = start();
    let w = setup(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜").member());
    let lvye = enrol(&app, &w, &a, Plan::company("上海绿野农业发展有限公司"));
    let zhao = enrol(&app, &w, &a, Plan::person("赵敏").claims_only());
    let applied = enrol(&app, &w, &a, Plan::person("王军").unqualified());
    let unpaid = enrol(&app, &w, &a, Plan::person("刘洋").unpaid());
    let outsider = self_registered(&app, &w, "陈刚");
    let not_investors = [&w.staff, &w.collective, &w.admin];

    // Announced: no auction yet.
    bid(&app, zhang.token(), &a, RESERVE).assert_problem(409, "auction_closed");
    for t in not_investors {
        bid(&app, t, &a, RESERVE).assert_problem(403, "forbidden");
    }

    // Registration closed: `auction` with 4 eligible bidders, but not started.
    app.clock.set(a.closes + Duration::seconds(1));
    let l = view(&app, &a);
    assert_eq!(l["status"], "auction");
    assert_eq!(l["eligible_bidders"], 4);
    assert_eq!(l["current_price_fen"], Value::Null);
    assert_eq!(l["bid_count"], 0);
    assert_eq!(ts(&l["current_ends_at"]), a.ends);
    app.get(&a.path("/deal"), None)
        .assert_problem(404, "not_found");
    for t in not_investors {
        bid(&app, t, &a, 1).assert_problem(403, "forbidden");
    }
    // The window is checked before eligibility, the leader and the amount.
    for t in [zhang.token(), applied.token(), outsider.token.as_str()] {
        bid(&app, t, &a, 1).assert_problem(409, "auction_closed");
    }
    app.clock.set(a.starts - Duration::seconds(1));
    bid(&app, zhang.token(), &a, RESERVE).assert_problem(409, "auction_closed");

    // Open.
    app.clock.set(a.starts);
    for t in not_investors {
        bid(&app, t, &a, 1).assert_problem(403, "forbidden");
    }
    // Eligibility is checked before the amount.
    for t in [outsider.token.as_str(), applied.token(), unpaid.token()] {
        bid(&app, t, &a, RESERVE).assert_problem(403, "not_eligible");
        bid(&app, t, &a, 1).assert_problem(403, "not_eligible");
    }
    let nowhere = Auction {
        id: uuid::Uuid::new_v4().to_string(),
        ..a.clone()
    };
    bid(&app, zhang.token(), &nowhere, RESERVE).assert_problem(404, "not_found");
    app.post(
        "/api/v1/listings/not-a-uuid/bids",
        Some(zhang.token()),
        json!({"amount_fen": RESERVE}),
    )
    .assert_problem(400, "bad_request");
    bid(&app, zhang.token(), &a, RESERVE - INCREMENT).assert_problem(422, "bid_too_low");
    bid(&app, zhang.token(), &a, RESERVE + INCREMENT / 2).assert_problem(422, "bid_too_low");
    bid(&app, zhang.token(), &a, 0).assert_problem(422, "bid_too_low");
    assert_eq!(
        view(&app, &a)["bid_count"],
        0,
        "refused bids leave no trace"
    );

    let r = bid(&app, zhang.token(), &a, RESERVE);
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.body.clone();
    let keys: HashSet<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want: HashSet<&str> = [
        "id",
        "listing_id",
        "amount_fen",
        "bidder_alias",
        "placed_at",
        "is_leading",
        "priority",
        "current_price_fen",
        "current_ends_at",
    ]
    .into();
    assert!(want.is_subset(&keys), "{keys:?}");
    assert!(!keys.contains("registration_id"), "no identity in a bid");
    assert_eq!(first["listing_id"], a.id);
    assert_eq!(first["amount_fen"], RESERVE);
    assert_eq!(first["bidder_alias"], "竞买人 1");
    assert_eq!(ts(&first["placed_at"]), a.starts);
    assert_eq!(first["is_leading"], true);
    assert_eq!(first["priority"], false);
    assert_eq!(first["current_price_fen"], RESERVE);
    assert_eq!(ts(&first["current_ends_at"]), a.ends);
    assert!(r.header("location").is_some());

    // The leader is refused before the amount is looked at.
    bid(&app, zhang.token(), &a, RESERVE + INCREMENT).assert_problem(409, "already_leading");
    bid(&app, zhang.token(), &a, 1).assert_problem(409, "already_leading");
    let l = view(&app, &a);
    assert_eq!(l["current_price_fen"], RESERVE);
    assert_eq!(l["bid_count"], 1);

    // Equal (non-member), off the grid, or below current + increment.
    bid(&app, lvye.token(), &a, RESERVE).assert_problem(422, "bid_too_low");
    bid(&app, lvye.token(), &a, RESERVE + 1_500).assert_problem(422, "bid_too_low");
    bid(&app, lvye.token(), &a, RESERVE - INCREMENT).assert_problem(422, "bid_too_low");
    let b = bid_ok(&app, &lvye, &a, RESERVE + INCREMENT);
    assert_eq!(b["bidder_alias"], "竞买人 2");
    assert_eq!(b["priority"], false);

    // Priority right (优先权): only a verified member, only over a non-member leader.
    bid(&app, zhao.token(), &a, RESERVE + INCREMENT).assert_problem(422, "bid_too_low");
    let p = bid_ok(&app, &li, &a, RESERVE + INCREMENT);
    assert_eq!(p["priority"], true);
    assert_eq!(p["bidder_alias"], "竞买人 3");
    for t in [lvye.token(), zhao.token(), zhang.token()] {
        bid(&app, t, &a, RESERVE + INCREMENT).assert_problem(422, "bid_too_low");
    }
    let b = bid_ok(&app, &zhang, &a, RESERVE + 2 * INCREMENT);
    assert_eq!(
        b["bidder_alias"], "竞买人 1",
        "aliases are stable per bidder"
    );
    assert_eq!(b["priority"], false);
    let p = bid_ok(&app, &li, &a, RESERVE + 2 * INCREMENT);
    assert_eq!(p["priority"], true, "again over a non-member leader");
    assert_eq!(p["bidder_alias"], "竞买人 3");
    // Jumping several increments is fine.
    let b = bid_ok(&app, &zhao, &a, RESERVE + 5 * INCREMENT);
    assert_eq!(b["bidder_alias"], "竞买人 4");
    assert_eq!(ts(&b["current_ends_at"]), a.ends);

    // Anti-sniping: one second too early doesn't extend; exactly extension_secs before the
    // end, or later, moves the end to placed_at + extension_secs.
    app.clock.set(a.ends - Duration::seconds(EXTENSION + 1));
    let b = bid_ok(&app, &lvye, &a, RESERVE + 6 * INCREMENT);
    assert_eq!(
        ts(&b["current_ends_at"]),
        a.ends,
        "not within extension_secs"
    );
    app.clock.set(a.ends - Duration::seconds(EXTENSION));
    let b = bid_ok(&app, &zhang, &a, RESERVE + 7 * INCREMENT);
    assert_eq!(ts(&b["current_ends_at"]), a.ends);
    app.clock.set(a.ends - Duration::seconds(10));
    let b = bid_ok(&app, &lvye, &a, RESERVE + 8 * INCREMENT);
    let ends1 = a.ends + Duration::seconds(EXTENSION - 10);
    assert_eq!(ts(&b["current_ends_at"]), ends1);
    assert_eq!(ts(&view(&app, &a)["current_ends_at"]), ends1);
    // The original end has passed, the auction goes on.
    app.clock.set(a.ends);
    let b = bid_ok(&app, &zhang, &a, RESERVE + 9 * INCREMENT);
    let ends2 = a.ends + Duration::seconds(EXTENSION);
    assert_eq!(ts(&b["current_ends_at"]), ends2);
    app.clock.set(ends2 - Duration::seconds(1));
    let b = bid_ok(&app, &li, &a, RESERVE + 10 * INCREMENT);
    let ends3 = ends2 - Duration::seconds(1) + Duration::seconds(EXTENSION);
    assert_eq!(ts(&b["current_ends_at"]), ends3);
    assert_eq!(b["priority"], false);

    // At current_ends_at the auction is closed: window before everything but the role.
    app.clock.set(ends3);
    bid(&app, zhang.token(), &a, RESERVE + 20 * INCREMENT).assert_problem(409, "auction_closed");
    bid(&app, outsider.token.as_str(), &a, 1).assert_problem(409, "auction_closed");
    bid(&app, li.token(), &a, 1).assert_problem(409, "auction_closed");
    bid(&app, &w.staff, &a, 1).assert_problem(403, "forbidden");
    let l = view(&app, &a);
    assert_eq!(l["status"], "awarded");
    assert_eq!(l["current_price_fen"], RESERVE + 10 * INCREMENT);
    assert_eq!(ts(&l["current_ends_at"]), ends3, "keeps its final value");
    assert_eq!(l["bid_count"], 11);
    bid(&app, zhang.token(), &a, RESERVE + 30 * INCREMENT).assert_problem(409, "auction_closed");
    // At award every deposit but the winner's and the runner-up's is released, including one
    // paid by a registration that was never qualified.
    assert_eq!(deposit_of(&app, &w, &li), "confirmed");
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    assert_eq!(deposit_of(&app, &w, &lvye), "refund_due");
    assert_eq!(deposit_of(&app, &w, &zhao), "refund_due");
    assert_eq!(deposit_of(&app, &w, &applied), "refund_due");
    assert_eq!(deposit_of(&app, &w, &unpaid), "unpaid");

    // The public history: newest first, aliases, no identities.
    let expect: Vec<(i64, &str, bool)> = vec![
        (RESERVE + 10 * INCREMENT, "竞买人 3", false),
        (RESERVE + 9 * INCREMENT, "竞买人 1", false),
        (RESERVE + 8 * INCREMENT, "竞买人 2", false),
        (RESERVE + 7 * INCREMENT, "竞买人 1", false),
        (RESERVE + 6 * INCREMENT, "竞买人 2", false),
        (RESERVE + 5 * INCREMENT, "竞买人 4", false),
        (RESERVE + 2 * INCREMENT, "竞买人 3", true),
        (RESERVE + 2 * INCREMENT, "竞买人 1", false),
        (RESERVE + INCREMENT, "竞买人 3", true),
        (RESERVE + INCREMENT, "竞买人 2", false),
        (RESERVE, "竞买人 1", false),
    ];
    for token in [None, Some(zhang.token()), Some(w.collective.as_str())] {
        let items = all_bids(&app, &a, token);
        let got: Vec<(i64, &str, bool)> = items
            .iter()
            .map(|b| {
                assert!(b.get("registration_id").is_none(), "public: {b}");
                (
                    b["amount_fen"].as_i64().unwrap(),
                    b["bidder_alias"].as_str().unwrap(),
                    b["priority"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expect);
    }
    let staff_items = all_bids(&app, &a, Some(&w.staff));
    let regs: Vec<&str> = staff_items
        .iter()
        .map(|b| b["registration_id"].as_str().expect("staff see identities"))
        .collect();
    assert_eq!(regs[0], li.reg);
    assert_eq!(regs[1], zhang.reg);
    assert_eq!(regs[5], zhao.reg);
    assert_eq!(regs[10], zhang.reg);
    // Staff of another township are the public here.
    let sy = township(&app, &w.admin, "SY", "山阳镇", ["华新村", "渔业村"]);
    assert!(all_bids(&app, &a, Some(&sy.staff))
        .iter()
        .all(|b| b.get("registration_id").is_none()));
    let admin_items = all_bids(&app, &a, Some(&w.admin));
    assert_eq!(admin_items[2]["registration_id"], lvye.reg.as_str());
    // Placed-at never decreases in acceptance order.
    let times: Vec<DateTime<Utc>> = staff_items
        .iter()
        .rev()
        .map(|b| ts(&b["placed_at"]))
        .collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{times:?}");
    // Pages.
    let p1 = ok(app.get(&a.path("/bids?limit=4"), None));
    assert_eq!(p1["items"].as_array().unwrap().len(), 4);
    let c = p1["next_cursor"].as_str().expect("more").to_string();
    let p2 = ok(app.get(&a.path(&format!("/bids?limit=4&cursor={c}")), None));
    assert_eq!(p2["items"][0]["amount_fen"], expect[4].0);
    app.get(&a.path("/bids?limit=201"), None)
        .assert_field("limit");
}

// ---- 2. closing, award, confirmation --------------------------------------------------------

#[test]
fn the_best_bidder_wins_losers_get_deposits_back_and_both_sides_confirm() {
    let app = start();
    let w = setup(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let jinnong = enrol(&app, &w, &a, Plan::company("上海金农农业专业合作社"));
    let wang = enrol(&app, &w, &a, Plan::person("王军"));
    let liu = enrol(&app, &w, &a, Plan::person("刘洋"));
    let zhao = enrol(&app, &w, &a, Plan::person("赵敏").unpaid());

    app.clock.set(a.closes + Duration::seconds(1));
    assert_eq!(view(&app, &a)["eligible_bidders"], 4);
    for b in [&zhang, &jinnong, &wang, &liu] {
        assert_eq!(count_mail(&app, &b.inv.email, "Auction scheduled"), 1);
    }
    assert_eq!(count_mail(&app, &zhao.inv.email, "Auction scheduled"), 0);
    assert_eq!(
        count_mail(&app, &w.collective_email, "Auction scheduled"),
        1
    );
    app.clock.set(a.starts + Duration::minutes(5));
    bid_ok(&app, &wang, &a, RESERVE);
    bid_ok(&app, &jinnong, &a, RESERVE + INCREMENT);
    bid_ok(&app, &wang, &a, RESERVE + 2 * INCREMENT);
    bid_ok(&app, &jinnong, &a, RESERVE + 3 * INCREMENT);
    let top = bid_ok(&app, &zhang, &a, RESERVE + 4 * INCREMENT);
    assert_eq!(top["bidder_alias"], "竞买人 3");
    let bid_id = top["id"].as_str().unwrap().to_string();
    app.get(&a.path("/deal"), None)
        .assert_problem(404, "not_found");

    // Still running one second before the end.
    app.clock.set(a.ends - Duration::seconds(1));
    assert_eq!(view(&app, &a)["status"], "auction");

    // A read after the end performs the close.
    app.clock.set(a.ends + Duration::minutes(10));
    let l = view(&app, &a);
    assert_eq!(l["status"], "awarded");
    assert_eq!(ts(&l["closed_at"]), a.ends);
    assert_eq!(l["current_price_fen"], RESERVE + 4 * INCREMENT);
    let price = RESERVE + 4 * INCREMENT;

    let d = public_deal(&app, &a);
    assert_eq!(d["listing_id"], a.id);
    assert_eq!(d["confirmation_no"], "DL-CJ-2027-0001");
    assert_eq!(d["winner_alias"], "竞买人 3");
    assert_eq!(
        d["winner_name"], "张*",
        "a natural person is masked in public"
    );
    assert_eq!(d["price_fen"], price);
    assert_eq!(d["annual_rent_fen"], rent(price, 5_000));
    assert_eq!(d["status"], "pending_confirmation");
    assert_eq!(d["round"], 1);
    assert_eq!(d["negotiated"], false);
    assert_eq!(ts(&d["confirm_by"]), a.ends + Duration::days(3));
    assert_eq!(ts(&d["publicity_ends_at"]), a.ends + Duration::days(5));
    assert_eq!(d["winner_confirmed_at"], Value::Null);
    assert_eq!(d["collective_confirmed_at"], Value::Null);
    assert!(d.get("registration_id").is_none(), "{d}");
    assert!(d.get("winner_id_number_masked").is_none(), "{d}");
    let deal_id = d["id"].as_str().unwrap().to_string();
    // Another investor sees the public summary; the parties see everything.
    let seen = deal_as(&app, &a, wang.token());
    assert_eq!(seen["winner_name"], "张*");
    assert!(seen.get("registration_id").is_none());
    for token in [zhang.token(), w.collective.as_str(), w.staff.as_str()] {
        let full = deal_as(&app, &a, token);
        assert_eq!(full["winner_name"], "张伟");
        assert_eq!(full["registration_id"], zhang.reg.as_str());
        let masked = full["winner_id_number_masked"].as_str().unwrap();
        assert!(
            masked.starts_with("3101") && masked.contains('*'),
            "{masked}"
        );
    }

    // Deposits: the winner's and the runner-up's stay; other eligible bidders' are released.
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    assert_eq!(deposit_of(&app, &w, &jinnong), "confirmed", "runner-up");
    assert_eq!(deposit_of(&app, &w, &wang), "refund_due");
    assert_eq!(
        deposit_of(&app, &w, &liu),
        "refund_due",
        "eligible, never bid"
    );
    assert_eq!(deposit_of(&app, &w, &zhao), "unpaid");

    // Audit records and e-mails of the close.
    let listing_actions = actions(&app, &a.id);
    for act in ["listing.registration_closed", "listing.auction_closed"] {
        assert_eq!(
            listing_actions.iter().filter(|x| *x == act).count(),
            1,
            "{listing_actions:?}"
        );
    }
    assert_eq!(actions(&app, &deal_id), ["deal.created"]);
    let bid_audit = app.audit_for(&bid_id);
    assert_eq!(bid_audit.len(), 1);
    assert_eq!(bid_audit[0].action, "bid.placed");
    assert_eq!(
        bid_audit[0].actor_id.as_deref(),
        Some(zhang.inv.id.as_str())
    );
    assert_eq!(bid_audit[0].actor_role.as_deref(), Some("investor"));
    assert_eq!(bid_audit[0].stream, format!("listing:{}", a.id));
    let moved: Vec<(String, String)> = app
        .audit_for(&wang.reg)
        .into_iter()
        .filter(|r| r.action == "deposit.changed")
        .map(|r| (r.from_state.unwrap(), r.to_state.unwrap()))
        .collect();
    assert_eq!(
        moved,
        [
            ("unpaid".to_string(), "confirmed".to_string()),
            ("confirmed".to_string(), "refund_due".to_string())
        ]
    );
    let won = app
        .outbox()
        .into_iter()
        .find(|m| m.to_addr == zhang.inv.email && m.subject.contains("You won"))
        .expect("winner mailed");
    assert!(won.body.contains("DL-CJ-2027-0001"), "{}", won.body);
    for loser in [&wang, &liu] {
        assert_eq!(
            count_mail(&app, &loser.inv.email, "Deposit to be refunded"),
            1
        );
        assert_eq!(count_mail(&app, &loser.inv.email, "You won"), 0);
    }
    assert_eq!(
        count_mail(&app, &jinnong.inv.email, "Deposit to be refunded"),
        0
    );
    assert_eq!(count_mail(&app, &w.collective_email, "Listing awarded"), 1);
    assert_eq!(count_mail(&app, &w.staff_email, "Listing awarded"), 1);

    // Nobody but the winner and the owner collective may act.
    for t in [
        wang.token(),
        jinnong.token(),
        w.other_collective.as_str(),
        w.staff.as_str(),
        w.admin.as_str(),
    ] {
        let r = deal_action(&app, t, &deal_id, "confirm");
        assert!(matches!(r.status, 403 | 404), "{}", r.text);
        let r = deal_action(&app, t, &deal_id, "decline");
        assert!(matches!(r.status, 403 | 404), "{}", r.text);
    }
    deal_action(&app, &w.collective, &deal_id, "decline").assert_problem(403, "forbidden");
    deal_action(
        &app,
        zhang.token(),
        &uuid::Uuid::new_v4().to_string(),
        "confirm",
    )
    .assert_problem(404, "not_found");

    // The winner confirms within confirm_by; the collective is late: staff are told once.
    app.clock.set(a.ends + Duration::days(2));
    let d = ok(deal_action(&app, zhang.token(), &deal_id, "confirm"));
    assert_eq!(d["status"], "pending_confirmation");
    assert_eq!(ts(&d["winner_confirmed_at"]), a.ends + Duration::days(2));
    let again = ok(deal_action(&app, zhang.token(), &deal_id, "confirm"));
    assert_eq!(again["winner_confirmed_at"], d["winner_confirmed_at"]);
    app.clock
        .set(a.ends + Duration::days(3) + Duration::seconds(1));
    app.run_jobs();
    app.run_jobs();
    assert_eq!(
        count_mail(&app, &w.staff_email, "Collective has not confirmed"),
        1
    );
    let d = public_deal(&app, &a);
    assert_eq!(
        d["status"], "pending_confirmation",
        "confirm_by binds the investor only"
    );
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    deal_action(&app, zhang.token(), &deal_id, "decline").assert_problem(409, "invalid_state");

    let d = ok(deal_action(&app, &w.collective, &deal_id, "confirm"));
    assert_eq!(d["status"], "confirmed");
    assert!(d["collective_confirmed_at"].is_string());
    assert_eq!(public_deal(&app, &a)["status"], "confirmed");
    assert_eq!(
        deposit_of(&app, &w, &jinnong),
        "refund_due",
        "runner-up released"
    );
    assert_eq!(deposit_of(&app, &w, &zhang), "confirmed");
    assert_eq!(view(&app, &a)["status"], "awarded");
    assert_eq!(
        actions(&app, &deal_id),
        [
            "deal.created",
            "deal.winner_confirmed",
            "deal.collective_confirmed"
        ]
    );
    assert_eq!(count_mail(&app, &zhang.inv.email, "Deal confirmed"), 1);
    assert_eq!(count_mail(&app, &w.collective_email, "Deal confirmed"), 1);
    assert_eq!(
        count_mail(&app, &jinnong.inv.email, "Deposit to be refunded"),
        1
    );
    deal_action(&app, &w.collective, &deal_id, "confirm").assert_problem(409, "invalid_state");
    deal_action(&app, zhang.token(), &deal_id, "decline").assert_problem(409, "invalid_state");
    assert_eq!(db_deals(&app, &a).len(), 1);
}

// ---- 2b. what registration close decides ----------------------------------------------------

#[test]
fn registration_close_starts_an_auction_a_negotiated_deal_or_fails() {
    let app = start();
    let w = setup(&app);
    // 0 eligible (one registered with a deposit, never qualified).
    let none = listing(&app, &w, "50.00", RESERVE);
    let waiting = enrol(&app, &w, &none, Plan::person("王军").unqualified());
    // 1 eligible: a company; 50.01 mu at 1200.50 yuan makes a rent ending in half a fen.
    let one = listing(&app, &w, "50.01", 120_050);
    let lvye = enrol(&app, &w, &one, Plan::company("上海绿野农业发展有限公司"));
    let _late = enrol(&app, &w, &one, Plan::person("刘洋").unpaid());
    // 2 eligible, nobody bids.
    let two = listing(&app, &w, "50.00", RESERVE);
    let quiet1 = enrol(&app, &w, &two, Plan::person("张伟"));
    let quiet2 = enrol(&app, &w, &two, Plan::person("李娜"));

    // The worker performs the registration close, before any read does.
    app.clock.set(none.closes + Duration::seconds(1));
    app.run_jobs();
    for (l, to) in [(&none, "failed"), (&one, "awarded"), (&two, "auction")] {
        let closed: Vec<AuditRecord> = app
            .audit_for(&l.id)
            .into_iter()
            .filter(|r| r.action == "listing.registration_closed")
            .collect();
        assert_eq!(closed.len(), 1, "worker closed registration of {}", l.id);
        assert_eq!(closed[0].from_state.as_deref(), Some("announced"));
        assert_eq!(closed[0].to_state.as_deref(), Some(to));
        assert_eq!(closed[0].actor_id, None, "the system acts");
    }

    let l = view(&app, &none);
    assert_eq!(l["status"], "failed");
    assert_eq!(l["eligible_bidders"], 0);
    assert_eq!(deposit_of(&app, &w, &waiting), "refund_due");
    app.get(&none.path("/deal"), None)
        .assert_problem(404, "not_found");
    assert_eq!(count_mail(&app, &w.collective_email, "Listing failed"), 1);

    // Negotiated deal (协议转让): awarded at once at the reserve, no bid, no runner-up.
    let l = view(&app, &one);
    assert_eq!(l["status"], "awarded");
    assert_eq!(l["eligible_bidders"], 1);
    assert_eq!(l["bid_count"], 0);
    assert_eq!(l["current_price_fen"], Value::Null);
    assert!(all_bids(&app, &one, None).is_empty());
    assert!(db_bids(&app, &one).is_empty());
    let d = public_deal(&app, &one);
    assert_eq!(d["negotiated"], true);
    assert_eq!(d["round"], 1);
    assert_eq!(d["price_fen"], 120_050);
    assert_eq!(rent(120_050, 5_001), 6_003_701);
    assert_eq!(d["annual_rent_fen"], 6_003_701, "round half up");
    assert_eq!(
        d["winner_name"], "上海绿野农业发展有限公司",
        "a company is named in public"
    );
    assert_eq!(d["confirmation_no"], "DL-CJ-2027-0001");
    assert_eq!(ts(&d["confirm_by"]), one.closes + Duration::days(3));
    assert_eq!(ts(&d["publicity_ends_at"]), one.closes + Duration::days(5));
    assert_eq!(deposit_of(&app, &w, &lvye), "confirmed");
    assert_eq!(count_mail(&app, &lvye.inv.email, "You won"), 1);
    bid(&app, lvye.token(), &one, 120_050).assert_problem(409, "auction_closed");

    // Two eligible bidders, no bid at all → failed at the end (closed by the worker).
    let l = view(&app, &two);
    assert_eq!(l["status"], "auction");
    assert_eq!(l["eligible_bidders"], 2);
    app.clock.set(two.ends);
    app.run_jobs();
    let closed: Vec<AuditRecord> = app
        .audit_for(&two.id)
        .into_iter()
        .filter(|r| r.action == "listing.auction_closed")
        .collect();
    assert_eq!(closed.len(), 1, "the worker closed the auction");
    assert_eq!(closed[0].to_state.as_deref(), Some("failed"));
    let l = view(&app, &two);
    assert_eq!(l["status"], "failed");
    assert_eq!(l["current_price_fen"], Value::Null);
    app.get(&two.path("/deal"), None)
        .assert_problem(404, "not_found");
    assert_eq!(deposit_of(&app, &w, &quiet1), "refund_due");
    assert_eq!(deposit_of(&app, &w, &quiet2), "refund_due");
    assert!(db_deals(&app, &two).is_empty());

    // The negotiated party declines: forfeited, and with no runner-up the listing fails.
    let deal_id = d["id"].as_str().unwrap().to_string();
    let declined = ok(deal_action(&app, lvye.token(), &deal_id, "decline"));
    assert_eq!(declined["status"], "fallen_through");
    assert_eq!(deposit_of(&app, &w, &lvye), "forfeited");
    assert_eq!(view(&app, &one)["status"], "failed");
    assert_eq!(db_deals(&app, &one).len(), 1, "no runner-up offer");
    assert_eq!(public_deal(&app, &one)["status"], "fallen_through");

    // A failed listing is relisted once, by its owner.
    let body = json!({
        "reserve_price_fen": 110_000,
        "registration_closes_at": rfc(app.clock.now() + Duration::days(12)),
        "auction_starts_at": rfc(app.clock.now() + Duration::days(13)),
        "auction_ends_at": rfc(app.clock.now() + Duration::days(13) + Duration::hours(1)),
    });
    let r = app.post(
        &two.path("/relist"),
        Some(&w.other_collective),
        body.clone(),
    );
    assert!(matches!(r.status, 403 | 404), "{}", r.text);
    for l in [&none, &one, &two] {
        let r = app.post(&l.path("/relist"), Some(&w.collective), body.clone());
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["status"], "draft");
        assert_eq!(r.body["attempt"], 2);
        assert_eq!(r.body["previous_listing_id"], l.id.as_str());
        assert_eq!(r.body["reserve_price_fen"], 110_000);
        app.post(&l.path("/relist"), Some(&w.collective), body.clone())
            .assert_problem(409, "invalid_state");
    }
}

// ---- 3. decline, time-out, runner-up --------------------------------------------------------

/// A listing where 张伟 wins at reserve + 4 increments; 李娜 (verified member) matched 王军's
/// reserve + 3 increments with a priority bid and is the runner-up; 王军 is third.
struct Contest {
    a: Auction,
    winner: Bidder,
    runner_up: Bidder,
    third: Bidder,
}

fn contest(app: &TestApp, w: &World, a: Auction) -> Contest {
    let winner = enrol(app, w, &a, Plan::person("张伟"));
    let runner_up = enrol(app, w, &a, Plan::person("李娜").member());
    let third = enrol(app, w, &a, Plan::person("王军"));
    Contest {
        a,
        winner,
        runner_up,
        third,
    }
}

fn run_contest(app: &TestApp, c: &Contest) {
    let a = &c.a;
    bid_ok(app, &c.third, a, RESERVE);
    bid_ok(app, &c.runner_up, a, RESERVE + INCREMENT);
    bid_ok(app, &c.winner, a, RESERVE + 2 * INCREMENT);
    bid_ok(app, &c.third, a, RESERVE + 3 * INCREMENT);
    let p = bid_ok(app, &c.runner_up, a, RESERVE + 3 * INCREMENT);
    assert_eq!(p["priority"], true);
    bid_ok(app, &c.winner, a, RESERVE + 4 * INCREMENT);
}

#[test]
fn winner_declines_runner_up_declines_listing_fails_and_is_relisted() {
    let app = start();
    let w = setup(&app);
    let c = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    let a = &c.a;
    app.clock.set(a.starts);
    run_contest(&app, &c);
    app.clock.set(a.ends);
    assert_eq!(view(&app, a)["status"], "awarded");
    let d1 = public_deal(&app, a);
    assert_eq!(d1["confirmation_no"], "DL-CJ-2027-0001");
    let d1_id = d1["id"].as_str().unwrap().to_string();
    // The priority bid ranks above the bid it matched: 李娜 is the runner-up.
    assert_eq!(deposit_of(&app, &w, &c.runner_up), "confirmed");
    assert_eq!(deposit_of(&app, &w, &c.third), "refund_due");

    // The runner-up can't act on the winner's deal.
    let r = deal_action(&app, c.runner_up.token(), &d1_id, "confirm");
    assert!(matches!(r.status, 403 | 404), "{}", r.text);

    // The winner declines a day later.
    let declined_at = a.ends + Duration::days(1);
    app.clock.set(declined_at);
    let r = ok(deal_action(&app, c.winner.token(), &d1_id, "decline"));
    assert_eq!(r["id"], d1_id.as_str());
    assert_eq!(r["status"], "fallen_through");
    assert_eq!(deposit_of(&app, &w, &c.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &c.runner_up), "confirmed");
    assert_eq!(view(&app, a)["status"], "awarded");

    // Round 2: the runner-up at its own highest bid, with its own dates.
    let d2 = public_deal(&app, a);
    let d2_id = d2["id"].as_str().unwrap().to_string();
    assert_ne!(d2_id, d1_id);
    assert_eq!(d2["round"], 2);
    assert_eq!(d2["confirmation_no"], "DL-CJ-2027-0002");
    assert_eq!(d2["price_fen"], RESERVE + 3 * INCREMENT);
    assert_eq!(d2["annual_rent_fen"], rent(RESERVE + 3 * INCREMENT, 5_000));
    assert_eq!(d2["winner_alias"], "竞买人 2");
    assert_eq!(d2["winner_name"], "李*");
    assert_eq!(d2["status"], "pending_confirmation");
    assert_eq!(ts(&d2["confirm_by"]), declined_at + Duration::days(3));
    assert_eq!(
        ts(&d2["publicity_ends_at"]),
        declined_at + Duration::days(5)
    );
    let full = deal_as(&app, a, c.runner_up.token());
    assert_eq!(full["registration_id"], c.runner_up.reg.as_str());
    assert_eq!(full["winner_name"], "李娜");
    assert!(deal_as(&app, a, c.winner.token())
        .get("registration_id")
        .is_none());

    // The former winner can do nothing more.
    deal_action(&app, c.winner.token(), &d1_id, "confirm").assert_problem(409, "invalid_state");
    deal_action(&app, c.winner.token(), &d1_id, "decline").assert_problem(409, "invalid_state");
    let r = deal_action(&app, c.winner.token(), &d2_id, "confirm");
    assert!(matches!(r.status, 403 | 404), "{}", r.text);
    let r = deal_action(&app, c.third.token(), &d2_id, "decline");
    assert!(matches!(r.status, 403 | 404), "{}", r.text);

    assert_eq!(
        count_mail(&app, &c.winner.inv.email, "Deposit forfeited"),
        1
    );
    assert_eq!(
        count_mail(&app, &c.runner_up.inv.email, "Runner-up offer"),
        1
    );
    assert_eq!(
        count_mail(&app, &w.collective_email, "Runner-up offered"),
        1
    );

    // The collective's confirmation alone doesn't make the deal; the runner-up declines.
    let r = ok(deal_action(&app, &w.collective, &d2_id, "confirm"));
    assert_eq!(r["status"], "pending_confirmation");
    app.clock.set(declined_at + Duration::hours(5));
    let r = ok(deal_action(&app, c.runner_up.token(), &d2_id, "decline"));
    assert_eq!(r["status"], "fallen_through");
    assert_eq!(
        deposit_of(&app, &w, &c.runner_up),
        "refund_due",
        "it never won"
    );
    assert_eq!(deposit_of(&app, &w, &c.winner), "forfeited");
    let l = view(&app, a);
    assert_eq!(l["status"], "failed");
    let d = public_deal(&app, a);
    assert_eq!(d["id"], d2_id.as_str(), "the newest deal");
    assert_eq!(d["status"], "fallen_through");
    let rows = db_deals(&app, a);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|d| d.status.as_str() == "fallen_through"));

    assert_eq!(actions(&app, &d1_id), ["deal.created", "deal.fell_through"]);
    assert_eq!(
        actions(&app, &d2_id),
        [
            "deal.created",
            "deal.collective_confirmed",
            "deal.fell_through"
        ]
    );
    let fell: Vec<AuditRecord> = app
        .audit_for(&a.id)
        .into_iter()
        .filter(|r| r.action == "listing.deal_fell_through")
        .collect();
    assert_eq!(fell.len(), 1);
    assert_eq!(fell[0].to_state.as_deref(), Some("failed"));
    assert_eq!(
        fell[0].actor_id.as_deref(),
        Some(c.runner_up.inv.id.as_str())
    );
    assert_eq!(count_mail(&app, &w.collective_email, "Listing failed"), 1);
    assert_eq!(count_mail(&app, &w.staff_email, "Listing failed"), 1);

    // Relist by the owner.
    let body = json!({
        "registration_closes_at": rfc(app.clock.now() + Duration::days(12)),
        "auction_starts_at": rfc(app.clock.now() + Duration::days(13)),
        "auction_ends_at": rfc(app.clock.now() + Duration::days(13) + Duration::hours(1)),
    });
    let r = app.post(&a.path("/relist"), Some(c.winner.token()), body.clone());
    assert!(matches!(r.status, 403 | 404), "{}", r.text);
    let r = app.post(&a.path("/relist"), Some(&w.collective), body);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["attempt"], 2);
    assert_eq!(r.body["reserve_price_fen"], RESERVE);
}

#[test]
fn missing_confirm_by_passes_the_offer_to_the_runner_up_on_read_and_in_the_worker() {
    let app = start();
    let w = setup(&app);
    let read = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    let worker = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    app.clock.set(read.a.starts);
    run_contest(&app, &read);
    run_contest(&app, &worker);
    app.clock.set(read.a.ends + Duration::seconds(1));
    assert_eq!(
        public_deal(&app, &read.a)["confirmation_no"],
        "DL-CJ-2027-0001"
    );
    assert_eq!(
        public_deal(&app, &worker.a)["confirmation_no"],
        "DL-CJ-2027-0002"
    );
    let confirm_by = read.a.ends + Duration::days(3);

    // One second before confirm_by nothing happens.
    app.clock.set(confirm_by - Duration::seconds(1));
    app.run_jobs();
    assert_eq!(public_deal(&app, &read.a)["round"], 1);
    assert_eq!(deposit_of(&app, &w, &read.winner), "confirmed");

    // Past confirm_by: a read shows the runner-up's offer, as if the winner had declined.
    app.clock.set(confirm_by + Duration::hours(1));
    let d2 = public_deal(&app, &read.a);
    assert_eq!(d2["round"], 2);
    assert_eq!(d2["confirmation_no"], "DL-CJ-2027-0003");
    assert_eq!(d2["price_fen"], RESERVE + 3 * INCREMENT);
    assert_eq!(
        ts(&d2["awarded_at"]),
        confirm_by,
        "offered when the winner timed out"
    );
    assert_eq!(ts(&d2["confirm_by"]), confirm_by + Duration::days(3));
    assert_eq!(ts(&d2["publicity_ends_at"]), confirm_by + Duration::days(5));
    assert_eq!(deposit_of(&app, &w, &read.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &read.runner_up), "confirmed");
    let d1 = &db_deals(&app, &read.a)[0];
    assert_eq!(d1.status.as_str(), "fallen_through");
    assert_eq!(
        d1.fall_reason.as_deref(),
        Some("not confirmed by confirm_by")
    );
    // The late winner can't confirm any more.
    deal_action(&app, read.winner.token(), &d1.id, "confirm").assert_problem(409, "invalid_state");

    // The runner-up and the collective confirm: the deal stands.
    let d2_id = d2["id"].as_str().unwrap().to_string();
    ok(deal_action(&app, read.runner_up.token(), &d2_id, "confirm"));
    let done = ok(deal_action(&app, &w.collective, &d2_id, "confirm"));
    assert_eq!(done["status"], "confirmed");
    assert_eq!(deposit_of(&app, &w, &read.runner_up), "confirmed");
    assert_eq!(deposit_of(&app, &w, &read.third), "refund_due");
    assert_eq!(view(&app, &read.a)["status"], "awarded");

    // The other listing: the worker passes the offer on, before anybody reads.
    app.run_jobs();
    let rows = db_deals(&app, &worker.a);
    assert_eq!(rows.len(), 2, "the worker made the runner-up's offer");
    assert_eq!(rows[0].status.as_str(), "fallen_through");
    assert_eq!(rows[1].status.as_str(), "pending_confirmation");
    assert_eq!(rows[1].registration_id, worker.runner_up.reg);
    assert_eq!(rows[1].confirmation_no, "DL-CJ-2027-0004");
    assert_eq!(
        count_mail(&app, &worker.runner_up.inv.email, "Runner-up offer"),
        1
    );
    // ... and when the runner-up times out too, the listing fails.
    app.clock
        .set(rows[1].confirm_by.and_utc() + Duration::seconds(1));
    app.run_jobs();
    let rows = db_deals(&app, &worker.a);
    assert!(
        rows.iter().all(|d| d.status.as_str() == "fallen_through"),
        "{rows:?}"
    );
    assert!(app
        .audit_for(&worker.a.id)
        .iter()
        .any(|r| r.action == "listing.deal_fell_through" && r.actor_id.is_none()));
    assert_eq!(view(&app, &worker.a)["status"], "failed");
    assert_eq!(deposit_of(&app, &w, &worker.runner_up), "refund_due");
    assert_eq!(deposit_of(&app, &w, &worker.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &worker.third), "refund_due");
    // The confirmed deal of the first listing is untouched.
    assert_eq!(public_deal(&app, &read.a)["status"], "confirmed");
}

#[test]
fn one_late_read_performs_every_due_step_at_its_own_time() {
    let app = start();
    let w = setup(&app);
    let c = contest(&app, &w, listing(&app, &w, "50.00", RESERVE));
    let a = &c.a;
    app.clock.set(a.starts);
    run_contest(&app, &c);
    // Nobody looks until both offers have lapsed.
    let first_by = a.ends + Duration::days(3);
    let second_by = first_by + Duration::days(3);
    app.clock.set(second_by + Duration::days(1));
    let l = view(&app, a);
    assert_eq!(l["status"], "failed");
    assert_eq!(ts(&l["closed_at"]), a.ends);
    let rows = db_deals(&app, a);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let at = |t: DateTime<Utc>| Some(t.naive_utc());
    assert_eq!(rows[0].registration_id, c.winner.reg);
    assert_eq!(rows[0].confirmation_no, "DL-CJ-2027-0001");
    assert_eq!(rows[0].awarded_at, a.ends.naive_utc());
    assert_eq!(rows[0].confirm_by, first_by.naive_utc());
    assert_eq!(rows[0].fell_through_at, at(first_by));
    assert_eq!(rows[1].registration_id, c.runner_up.reg);
    assert_eq!(rows[1].confirmation_no, "DL-CJ-2027-0002");
    assert_eq!(rows[1].price_fen, RESERVE + 3 * INCREMENT);
    assert_eq!(rows[1].awarded_at, first_by.naive_utc());
    assert_eq!(rows[1].confirm_by, second_by.naive_utc());
    assert_eq!(rows[1].fell_through_at, at(second_by));
    assert!(rows.iter().all(|d| d.status.as_str() == "fallen_through"));
    assert_eq!(deposit_of(&app, &w, &c.winner), "forfeited");
    assert_eq!(deposit_of(&app, &w, &c.runner_up), "refund_due");
    assert_eq!(deposit_of(&app, &w, &c.third), "refund_due");
    let steps: Vec<String> = stream(&app, a)
        .into_iter()
        .filter(|r| r.entity_type == "listing" || r.entity_type == "deal")
        .map(|r| r.action)
        .collect();
    assert_eq!(
        steps[steps.len() - 6..],
        [
            "listing.auction_closed",
            "deal.created",
            "deal.fell_through",
            "deal.created",
            "deal.fell_through",
            "listing.deal_fell_through"
        ]
    );
}

#[test]
fn deal_numbers_run_per_township_and_shanghai_calendar_year() {
    let app = start();
    app.clock
        .set(Utc.with_ymd_and_hms(2027, 12, 1, 2, 0, 0).unwrap());
    let admin = app.admin_token();
    let cj = township(&app, &admin, "CJ", "漕泾镇", ["护塘村", "金光村"]);
    let sy = township(&app, &admin, "SY", "山阳镇", ["华新村", "渔业村"]);
    // 23:30 on 31 December and 00:30 on 1 January in Shanghai.
    let old_year = Utc.with_ymd_and_hms(2027, 12, 31, 15, 30, 0).unwrap();
    let new_year = old_year + Duration::hours(1);
    let at = |closes: DateTime<Utc>| {
        [
            closes,
            closes + Duration::hours(1),
            closes + Duration::hours(2),
        ]
    };
    let cj1 = listing_at(&app, &cj, "50.00", RESERVE, at(old_year));
    let cj2 = listing_at(&app, &cj, "50.00", RESERVE, at(old_year));
    let cj3 = listing_at(&app, &cj, "50.00", RESERVE, at(new_year));
    let sy1 = listing_at(&app, &sy, "50.00", RESERVE, at(old_year));
    for (w, l) in [(&cj, &cj1), (&cj, &cj2), (&cj, &cj3), (&sy, &sy1)] {
        enrol(&app, w, l, Plan::person("张伟"));
    }
    app.clock.set(new_year + Duration::seconds(1));
    app.run_jobs();
    let no = |l: &Auction| {
        let d = db_deals(&app, l);
        assert_eq!(d.len(), 1);
        assert!(d[0].negotiated);
        d[0].confirmation_no.clone()
    };
    let mut old: Vec<String> = vec![no(&cj1), no(&cj2)];
    old.sort();
    assert_eq!(old, ["DL-CJ-2027-0001", "DL-CJ-2027-0002"]);
    assert_eq!(no(&cj3), "DL-CJ-2028-0001");
    assert_eq!(no(&sy1), "DL-SY-2027-0001");
    assert_eq!(
        public_deal(&app, &cj3)["confirmation_no"],
        "DL-CJ-2028-0001"
    );
}

// ---- 4. Idempotency-Key ---------------------------------------------------------------------

#[test]
fn idempotency_key_replays_bids_and_refuses_reuse() {
    let app = start();
    let w = setup(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let other = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    let wang = enrol(&app, &w, &a, Plan::person("王军"));
    app.clock.set(a.starts);
    let path = a.path("/bids");

    let first = bid_with_key(
        &app,
        zhang.token(),
        &path,
        "k-1",
        r#"{"amount_fen":120000}"#,
    );
    assert_eq!(first.status, 201, "{}", first.text);
    // Equal as parsed JSON: replayed, not placed again.
    for body in [r#"{"amount_fen":120000}"#, "{ \"amount_fen\" : 120000 }\n"] {
        let again = bid_with_key(&app, zhang.token(), &path, "k-1", body);
        assert_eq!(again.status, 201);
        assert_eq!(again.text, first.text);
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }
    assert_eq!(db_bids(&app, &a).len(), 1);
    // Same key, another body or another path.
    bid_with_key(
        &app,
        zhang.token(),
        &path,
        "k-1",
        r#"{"amount_fen":121000}"#,
    )
    .assert_problem(422, "idempotency_key_reused");
    bid_with_key(
        &app,
        zhang.token(),
        &other.path("/bids"),
        "k-1",
        r#"{"amount_fen":120000}"#,
    )
    .assert_problem(422, "idempotency_key_reused");
    // Keys are per user.
    let theirs = bid_with_key(&app, li.token(), &path, "k-1", r#"{"amount_fen":121000}"#);
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_ne!(theirs.body["id"], first.body["id"]);

    // A refusal is stored and replayed too, even once the same request would succeed.
    let lead = bid_with_key(&app, li.token(), &path, "k-2", r#"{"amount_fen":123000}"#);
    lead.assert_problem(409, "already_leading");
    bid_ok(&app, &zhang, &a, 122_000);
    let replay = bid_with_key(&app, li.token(), &path, "k-2", r#"{"amount_fen":123000}"#);
    replay.assert_problem(409, "already_leading");
    assert_eq!(replay.text, lead.text);
    let low = bid_with_key(&app, wang.token(), &path, "k-3", r#"{"amount_fen":122500}"#);
    low.assert_problem(422, "bid_too_low");
    let replay = bid_with_key(&app, wang.token(), &path, "k-3", r#"{"amount_fen":122500}"#);
    replay.assert_problem(422, "bid_too_low");
    assert_eq!(replay.text, low.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // Without the key the same bid is judged afresh.
    bid_ok(&app, &li, &a, 123_000);

    // Duplicates arriving together: one bid, the same answer for all.
    let go = Barrier::new(6);
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    go.wait();
                    bid_with_key(
                        &app,
                        wang.token(),
                        &path,
                        "burst",
                        r#"{"amount_fen":125000}"#,
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body, answers[0].body);
    }
    let rows = db_bids(&app, &a);
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows.iter().filter(|b| b.amount_fen == 125_000).count(), 1);

    // A malformed key.
    let long = "k".repeat(256);
    bid_with_key(&app, wang.token(), &path, &long, r#"{"amount_fen":126000}"#)
        .assert_field("Idempotency-Key");
    assert_eq!(db_bids(&app, &a).len(), 5);
}

// ---- 5. many bidders at once ----------------------------------------------------------------

#[test]
fn fifty_bidders_at_once_keep_every_invariant() {
    const BIDDERS: usize = 50;
    const ATTEMPTS: usize = 10;
    let app = start();
    let w = setup(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let setup_started = Instant::now();
    // Admin-made investors (verified, with a password), registered in parallel; every
    // seventh claims membership and is verified.
    let numbers: Vec<u32> = (0..BIDDERS).map(|_| w.next()).collect();
    let bidders: Vec<(Bidder, bool)> = std::thread::scope(|s| {
        let chunks: Vec<_> = numbers
            .chunks(BIDDERS.div_ceil(6))
            .map(|chunk| {
                let (app, w, a) = (&app, &w, &a);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&n| {
                            let member = n % 7 == 0;
                            let inv = user(
                                app,
                                &w.admin,
                                &format!("bidder{n}@nongye.cn"),
                                "竞买人",
                                "investor",
                                json!({}),
                            );
                            let plan = if member {
                                Plan::person("陈静").member()
                            } else {
                                Plan::person("周强")
                            };
                            (enrol_as(app, w, a, inv, plan), member)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(bidders.iter().filter(|(_, m)| *m).count() >= 5);
    app.clock.set(a.closes + Duration::seconds(1));
    assert_eq!(view(&app, &a)["eligible_bidders"], BIDDERS as i64);
    eprintln!("setup of {BIDDERS} bidders: {:?}", setup_started.elapsed());

    app.clock.set(a.starts);
    let price_now = |app: &TestApp| -> Option<i64> {
        ok(app.get(&a.path(""), None))["current_price_fen"].as_i64()
    };
    // (bidder, amount, status, body) of every attempt.
    let log: Mutex<Vec<(usize, i64, u16, Value)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let go = Barrier::new(BIDDERS);
    std::thread::scope(|s| {
        for (i, (b, _)) in bidders.iter().enumerate() {
            let (app, a, go, log) = (&app, &a, &go, &log);
            s.spawn(move || {
                go.wait();
                let mut known: Option<i64> = None;
                for k in 0..ATTEMPTS {
                    // Time moves on while they bid; bids must stay in time order.
                    app.clock.advance(Duration::milliseconds(1));
                    let amount = match ((i + k) % 6, known) {
                        // deliberately equal to the last price seen (a priority bid for members)
                        (4, Some(p)) => p,
                        // deliberately too low or off the grid
                        (5, Some(p)) if k % 2 == 0 => p - INCREMENT,
                        (5, _) => RESERVE + INCREMENT / 2,
                        (_, Some(p)) => p + INCREMENT,
                        (_, None) => RESERVE,
                    };
                    let r = bid(app, b.token(), a, amount);
                    if r.status == 201 {
                        known = r.body["current_price_fen"].as_i64();
                    } else {
                        known = price_now(app);
                    }
                    log.lock().unwrap().push((i, amount, r.status, r.body));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let log = log.into_inner().unwrap();
    assert_eq!(log.len(), BIDDERS * ATTEMPTS);

    // No 5xx; every refusal is one of the bid refusals.
    let mut by_code: HashMap<(u16, String), usize> = HashMap::new();
    for (_, _, status, body) in &log {
        *by_code
            .entry((*status, body["code"].as_str().unwrap_or("").to_string()))
            .or_default() += 1;
    }
    eprintln!(
        "{} bid attempts by {BIDDERS} bidders in {elapsed:?}: {by_code:?}",
        log.len()
    );
    for ((status, code), n) in &by_code {
        assert!(
            matches!(
                (*status, code.as_str()),
                (201, "") | (409, "already_leading") | (422, "bid_too_low")
            ),
            "{n} × {status} {code}"
        );
    }
    let accepted: Vec<&Value> = log
        .iter()
        .filter(|(_, _, s, _)| *s == 201)
        .map(|(_, _, _, b)| b)
        .collect();
    // Most attempts lose the race; enough must win for the checks below to mean something.
    assert!(
        accepted.len() >= 10,
        "only {} bids accepted",
        accepted.len()
    );

    // Every 201 has its row, and nothing else does.
    let rows = db_bids(&app, &a);
    assert_eq!(rows.len(), accepted.len());
    let by_id: HashMap<&str, &Bid> = rows.iter().map(|b| (b.id.as_str(), b)).collect();
    for b in &accepted {
        let row = by_id[b["id"].as_str().unwrap()];
        assert_eq!(row.amount_fen, b["amount_fen"].as_i64().unwrap());
        assert_eq!(row.priority, b["priority"].as_bool().unwrap());
        assert_eq!(row.placed_at, ts(&b["placed_at"]).naive_utc());
        assert_eq!(format!("竞买人 {}", row.bidder_no), b["bidder_alias"]);
    }
    // Acceptance order: seq 1..n, time never goes back, each bid beats the one before it
    // (or matches it as a member's priority bid), nobody outbids itself, aliases in order of
    // first bid.
    let mut aliases: HashMap<&str, i64> = HashMap::new();
    let mut last_time: Option<NaiveDateTime> = None;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1);
        if let Some(t) = last_time {
            assert!(
                row.placed_at >= t,
                "bid {} placed before its predecessor",
                row.seq
            );
        }
        last_time = Some(row.placed_at);
        assert_eq!((row.amount_fen - RESERVE) % INCREMENT, 0);
        if i == 0 {
            assert!(row.amount_fen >= RESERVE && !row.priority);
        } else {
            let prev = &rows[i - 1];
            assert_ne!(
                row.registration_id, prev.registration_id,
                "leader bid again"
            );
            if row.priority {
                assert_eq!(row.amount_fen, prev.amount_fen);
            } else {
                assert!(
                    row.amount_fen >= prev.amount_fen + INCREMENT,
                    "{prev:?} → {row:?}"
                );
            }
        }
        let next = aliases.len() as i64 + 1;
        let n = *aliases.entry(row.registration_id.as_str()).or_insert(next);
        assert_eq!(row.bidder_no, n);
    }
    let mut amounts: HashMap<i64, Vec<&Bid>> = HashMap::new();
    for row in &rows {
        amounts.entry(row.amount_fen).or_default().push(row);
    }
    for (amount, same) in &amounts {
        assert!(
            same.len() == 1 || (same.len() == 2 && same.iter().filter(|b| b.priority).count() == 1),
            "{amount} accepted {} times",
            same.len()
        );
    }
    let members: HashSet<&str> = bidders
        .iter()
        .filter(|(_, m)| *m)
        .map(|(b, _)| b.reg.as_str())
        .collect();
    assert!(rows
        .iter()
        .filter(|b| b.priority)
        .all(|b| members.contains(b.registration_id.as_str())));
    let top = rows.iter().map(|b| b.amount_fen).max().unwrap();
    let l = view(&app, &a);
    assert_eq!(l["current_price_fen"], top);
    assert_eq!(l["bid_count"], rows.len() as i64);
    assert_eq!(all_bids(&app, &a, None).len(), rows.len());

    // The listing's audit stream: one record per bid, hash chain intact.
    let records = stream(&app, &a);
    assert_eq!(
        records.iter().filter(|r| r.entity_type == "bid").count(),
        rows.len()
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1);
        assert_eq!(landx::audit::record_hash(r), r.hash);
        if i > 0 {
            assert_eq!(r.prev_hash, records[i - 1].hash);
        }
    }

    // Closing raced by readers and the worker: exactly one deal.
    let ends = ts(&l["current_ends_at"]);
    app.clock.set(ends + Duration::seconds(1));
    let go = Barrier::new(9);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (app, a, go) = (&app, &a, &go);
            s.spawn(move || {
                go.wait();
                let path = if i % 2 == 0 {
                    a.path("")
                } else {
                    a.path("/deal")
                };
                let r = app.get(&path, None);
                assert_eq!(r.status, 200, "{}", r.text);
            });
        }
        go.wait();
        app.run_jobs();
    });
    let deals = db_deals(&app, &a);
    assert_eq!(deals.len(), 1, "{deals:?}");
    assert_eq!(deals[0].price_fen, top);
    assert_eq!(deals[0].confirmation_no, "DL-CJ-2027-0001");
    assert_eq!(
        deals[0].registration_id,
        rows.last().unwrap().registration_id
    );
    assert_eq!(actions(&app, &deals[0].id), ["deal.created"]);
    let closes = app
        .audit_for(&a.id)
        .into_iter()
        .filter(|r| r.action == "listing.auction_closed")
        .count();
    assert_eq!(closes, 1);
    assert_eq!(view(&app, &a)["status"], "awarded");
    let refunds = bidders
        .iter()
        .filter(|(b, _)| deposit_of(&app, &w, b) == "refund_due")
        .count();
    assert_eq!(refunds, BIDDERS - 2, "all but the winner and the runner-up");
}

// ---- 7. live feed ---------------------------------------------------------------------------

struct Event {
    event: String,
    id: Option<String>,
    data: Value,
}

/// The next event of a feed, skipping comments; `None` when the stream ends. A read timeout
/// panics, so a silent feed fails the test instead of hanging it.
fn next_event(r: &mut dyn BufRead) -> Option<Event> {
    let (mut event, mut id, mut data) = (None, None, String::new());
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).expect("feed read");
        if n == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if let Some(event) = event.take() {
                return Some(Event {
                    event,
                    id: id.take(),
                    data: serde_json::from_str(&data).expect("event data is JSON"),
                });
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        } else {
            panic!("unexpected feed line {line:?}");
        }
    }
}

/// The next `bid` or `closed` event (skipping `extended`).
fn next_main_event(r: &mut dyn BufRead) -> Option<Event> {
    loop {
        let e = next_event(r)?;
        if e.event != "extended" {
            return Some(e);
        }
    }
}

fn open_feed(app: &TestApp, a: &Auction, last_event_id: Option<&str>) -> Box<dyn BufRead> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(StdDuration::from_secs(5))
        .timeout_read(StdDuration::from_secs(5))
        .build();
    let mut req = agent.get(&app.url(&a.path("/events")));
    if let Some(id) = last_event_id {
        req = req.set("Last-Event-ID", id);
    }
    let res = req.call().expect("feed opens");
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_type(), "text/event-stream");
    Box::new(BufReader::new(res.into_reader()))
}

#[test]
fn live_feed_streams_bids_resumes_after_last_event_id_and_ends_with_the_close() {
    let app = start();
    let w = setup(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let empty = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    app.get(
        &format!("/api/v1/listings/{}/events", uuid::Uuid::new_v4()),
        None,
    )
    .assert_problem(404, "not_found");
    app.clock.set(a.starts);
    bid_ok(&app, &zhang, &a, RESERVE);
    bid_ok(&app, &li, &a, RESERVE + INCREMENT);
    bid_ok(&app, &zhang, &a, RESERVE + 2 * INCREMENT);
    app.clock.set(a.ends - Duration::seconds(100));
    let sniped = bid_ok(&app, &li, &a, RESERVE + 3 * INCREMENT);
    let extended_to = a.ends + Duration::seconds(EXTENSION - 100);
    assert_eq!(ts(&sniped["current_ends_at"]), extended_to);

    // From the start: every bid with its acceptance order as the event id.
    let mut feed = open_feed(&app, &a, None);
    let aliases = ["竞买人 1", "竞买人 2", "竞买人 1", "竞买人 2"];
    for (i, alias) in aliases.iter().enumerate() {
        let e = next_event(&mut *feed).expect("bid event");
        assert_eq!(e.event, "bid");
        assert_eq!(e.id.as_deref(), Some((i + 1).to_string().as_str()));
        let amount = RESERVE + i as i64 * INCREMENT;
        assert_eq!(e.data["amount_fen"], amount);
        assert_eq!(e.data["bidder_alias"], *alias);
        assert_eq!(e.data["priority"], false);
        assert_eq!(e.data["current_price_fen"], amount);
        assert!(e.data.get("registration_id").is_none());
        let ends = if i < 3 { a.ends } else { extended_to };
        assert_eq!(
            ts(&e.data["current_ends_at"]),
            ends,
            "bid {}: {}",
            i + 1,
            e.data
        );
    }
    let e = next_event(&mut *feed).expect("extended event");
    assert_eq!(e.event, "extended");
    assert_eq!(ts(&e.data["current_ends_at"]), extended_to);
    drop(feed);

    // Resuming after the first bid; then a live bid and the close.
    let mut feed = open_feed(&app, &a, Some("1"));
    for n in 2..=4 {
        let e = next_main_event(&mut *feed).expect("bid event");
        assert_eq!(e.event, "bid");
        assert_eq!(e.id, Some(n.to_string()));
        let ends = if n < 4 { a.ends } else { extended_to };
        assert_eq!(ts(&e.data["current_ends_at"]), ends, "bid {n}: {}", e.data);
    }
    app.clock.set(a.ends + Duration::seconds(1));
    let live = bid_ok(&app, &zhang, &a, RESERVE + 4 * INCREMENT);
    let final_end = ts(&live["current_ends_at"]);
    let e = next_main_event(&mut *feed).expect("live bid event");
    assert_eq!(e.event, "bid");
    assert_eq!(e.id.as_deref(), Some("5"));
    assert_eq!(e.data["amount_fen"], RESERVE + 4 * INCREMENT);
    assert_eq!(ts(&e.data["current_ends_at"]), final_end);
    app.clock.set(final_end);
    let e = next_main_event(&mut *feed).expect("closed event");
    assert_eq!(e.event, "closed");
    assert_eq!(e.data["outcome"], "awarded");
    assert_eq!(e.data["winning_price_fen"], RESERVE + 4 * INCREMENT);
    assert!(
        next_event(&mut *feed).is_none(),
        "the feed ends after the close"
    );
    assert_eq!(view(&app, &a)["status"], "awarded");

    // After the close: the history, the close, the end.
    let mut feed = open_feed(&app, &a, Some("4"));
    let e = next_main_event(&mut *feed).unwrap();
    assert_eq!(e.id.as_deref(), Some("5"));
    assert_eq!(ts(&e.data["current_ends_at"]), final_end);
    assert_eq!(next_main_event(&mut *feed).unwrap().event, "closed");
    assert!(next_event(&mut *feed).is_none());

    // A listing that failed without bids.
    let mut feed = open_feed(&app, &empty, None);
    let e = next_event(&mut *feed).expect("closed event");
    assert_eq!(e.event, "closed");
    assert_eq!(e.data["outcome"], "failed");
    assert_eq!(e.data["winning_price_fen"], Value::Null);
    assert!(next_event(&mut *feed).is_none());
}
