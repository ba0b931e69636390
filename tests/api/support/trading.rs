//! Listings in a given state for the trading tests, investors registered for them as far as
//! a [`Plan`] says, and the registration, deposit, bid and deal actions.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::db::{self, Audit, BidRow, DealRow};
use super::harness::{resident_id, uscc, Resp, TestApp};
use super::http::{created, ok, rfc, s, ts, with};
use super::listings::{listing_body, new_listing, parcel_body};
use super::records::trail;
use super::world::{verified_investor, Town, User, World};

pub const RESERVE: i64 = 120_000;
pub const INCREMENT: i64 = 1_000;
pub const DEPOSIT: i64 = 100_000;
pub const EXTENSION: i64 = 300;

// Real-looking valid ID numbers: resident IDs with their GB 11643 check character, unified social credit
// codes with their GB 32100 check character.
pub const ID_ZHANGWEI: &str = "11010519491231002X";
pub const ID_LINA: &str = "310116198001011234";
pub const ID_WANGJUN: &str = "310116198506152040";
pub const ID_LIUYANG: &str = "310116199003183018";
pub const ID_ZHAOMIN: &str = "31022819781109412X";
pub const USCC_LVYE: &str = "93310116MA1G000AB0";
pub const USCC_JINNONG: &str = "91310116MA1K3CJ20P";
pub const USCC_FUJIAN: &str = "91350100M000100Y43";

/// A listing and its schedule.
#[derive(Clone, Debug)]
pub struct Auction {
    pub id: String,
    pub closes: DateTime<Utc>,
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    /// A token of its township's staff (they qualify and take deposits).
    pub staff: String,
}

impl Auction {
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/listings/{}{rest}", self.id)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    Draft,
    Submitted,
    Announced,
}

/// The default schedule from the clock: registration closes in 12 days, the auction runs
/// from +13 days for one hour.
pub fn schedule(app: &TestApp) -> [DateTime<Utc>; 3] {
    let now = app.now();
    let starts = now + Duration::days(13);
    [
        now + Duration::days(12),
        starts,
        starts + Duration::hours(1),
    ]
}

/// A new 12-household parcel of `area_mu` in `town`'s owner village and a listing of it
/// (grain, 2028-03-01…2037-12-31, `reserve` fen/mu/year, increment 1 000, deposit 1 000
/// yuan, extension 300 s) with this schedule, taken to `stage`.
pub fn make_listing(
    app: &TestApp,
    w: &World,
    town: Town<'_>,
    area_mu: &str,
    reserve: i64,
    [closes, starts, ends]: [DateTime<Utc>; 3],
    stage: Stage,
) -> Auction {
    let n = w.next();
    let mut parcel = parcel_body(
        &format!("JS-{}-0900-{n:03}", town.code),
        area_mu,
        &format!("{}第{n}号地块，沿海公路东侧", town.code),
    );
    parcel["permanent_basic_farmland"] = json!(false);
    parcel["household_contract_end"] = json!("2057-12-31");
    let parcel = created(
        &app.post("/api/v1/parcels", town.owner.t(), parcel),
        "parcel",
    );
    let body = with(
        listing_body(&format!("{area_mu}亩耕地经营权流转（第{n}号）"), &[&parcel]),
        json!({
            "term_start": "2028-03-01",
            "term_end": "2037-12-31",
            "reserve_price_fen": reserve,
            "min_increment_fen": INCREMENT,
            "deposit_fen": DEPOSIT,
            "registration_closes_at": rfc(closes),
            "auction_starts_at": rfc(starts),
            "auction_ends_at": rfc(ends),
            "extension_secs": EXTENSION,
        }),
    );
    let l = new_listing(app, town.owner, body);
    let a = Auction {
        id: s(&l["id"]),
        closes: ts(&l["registration_closes_at"]),
        starts: ts(&l["auction_starts_at"]),
        ends: ts(&l["auction_ends_at"]),
        staff: town.staff.token.clone(),
    };
    assert_eq!([a.closes, a.starts, a.ends], [closes, starts, ends]);
    if stage == Stage::Draft {
        return a;
    }
    let r = ok(app.post(&a.path("/submit"), town.owner.t(), json!({})));
    assert_eq!(r["status"], "submitted");
    if stage == Stage::Submitted {
        return a;
    }
    let r = ok(app.post(&a.path("/approve"), town.staff.t(), json!({})));
    assert_eq!(r["status"], "announced");
    a
}

/// An announced listing of 护塘村 (漕泾镇) on the default [`schedule`].
pub fn listing(app: &TestApp, w: &World, area_mu: &str, reserve: i64) -> Auction {
    make_listing(
        app,
        w,
        w.cj(),
        area_mu,
        reserve,
        schedule(app),
        Stage::Announced,
    )
}

/// An announced listing of `town` with this schedule.
pub fn listing_at(
    app: &TestApp,
    w: &World,
    town: Town<'_>,
    area_mu: &str,
    reserve: i64,
    sched: [DateTime<Utc>; 3],
) -> Auction {
    make_listing(app, w, town, area_mu, reserve, sched, Stage::Announced)
}

/// A 50-mu listing of 护塘村 at the reserve on the default schedule, taken to `stage`; its id.
pub fn listing_in(app: &TestApp, w: &World, stage: Stage) -> String {
    make_listing(app, w, w.cj(), "50.00", RESERVE, schedule(app), stage).id
}

/// `registration_closes_at` of a listing, read publicly.
pub fn closes_at(app: &TestApp, listing: &str) -> DateTime<Utc> {
    ts(&ok(app.get(&format!("/api/v1/listings/{listing}"), None))["registration_closes_at"])
}

// ---- registrations ------------------------------------------------------------------------------

pub fn registration_body(
    legal_name: &str,
    id_type: &str,
    id_number: &str,
    claims_membership: bool,
) -> Value {
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

/// A natural person's registration, not claiming membership.
pub fn person(name: &str, id_number: &str) -> Value {
    registration_body(name, "resident_id", id_number, false)
}

/// A company's registration.
pub fn company(name: &str, uscc: &str) -> Value {
    registration_body(name, "unified_social_credit_code", uscc, false)
}

/// `POST /listings/{id}/registrations`.
pub fn apply(app: &TestApp, token: &str, listing: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/listings/{listing}/registrations"),
        Some(token),
        body,
    )
}

pub fn apply_ok(app: &TestApp, inv: &User, listing: &str, body: Value) -> String {
    created(&apply(app, &inv.token, listing, body), &inv.email)
}

/// `POST /registrations/{id}/{action}`.
pub fn registration_act(app: &TestApp, token: &str, reg: &str, action: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/registrations/{reg}/{action}"),
        Some(token),
        body,
    )
}

/// 漕泾镇's staff qualify.
pub fn qualify(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(registration_act(
        app,
        &w.cj_staff.token,
        reg,
        "qualify",
        json!({}),
    ))
}

/// 漕泾镇's staff record the deposit.
pub fn deposit(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(registration_act(
        app,
        &w.cj_staff.token,
        reg,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": "ICBC-310116-20270112-0001"}),
    ))
}

/// 漕泾镇's staff reject (reason 经营主体资质材料不全).
pub fn reject(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(registration_act(
        app,
        &w.cj_staff.token,
        reg,
        "reject",
        json!({"reason": "经营主体资质材料不全"}),
    ))
}

/// 漕泾镇's staff refund.
pub fn refund(app: &TestApp, w: &World, reg: &str) -> Value {
    ok(registration_act(
        app,
        &w.cj_staff.token,
        reg,
        "refund",
        json!({"receipt_ref": "ICBC-310116-20270125-0009"}),
    ))
}

pub fn get_reg(app: &TestApp, token: &str, reg: &str) -> Resp {
    app.get(&format!("/api/v1/registrations/{reg}"), Some(token))
}

/// (status, deposit_status) of a registration, as an admin reads it.
pub fn reg_status(app: &TestApp, w: &World, reg: &str) -> (String, String) {
    let b = ok(get_reg(app, &w.admin, reg));
    (s(&b["status"]), s(&b["deposit_status"]))
}

/// The deposit status of a bidder's registration.
pub fn deposit_of(app: &TestApp, w: &World, b: &Bidder) -> String {
    reg_status(app, w, &b.reg).1
}

/// `(action, from, to)` of each audit record of an entity, in stream order.
pub fn moves(app: &TestApp, entity: &str) -> Vec<(String, String, String)> {
    trail(app, entity)
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

pub fn mv(action: &str, from: &str, to: &str) -> (String, String, String) {
    (action.into(), from.into(), to.into())
}

/// Registrations stored for (listing, investor), counted in the database.
pub fn registrations_stored(app: &TestApp, listing: &str, investor: &str) -> i64 {
    db::count(
        app.pool(),
        "registrations",
        &format!(
            "listing_id = {} AND investor_id = {}",
            db::lit(listing),
            db::lit(investor)
        ),
    )
}

// ---- bidders ------------------------------------------------------------------------------------

/// How far an investor gets with its registration.
#[derive(Clone, Copy)]
pub struct Plan {
    pub name: &'static str,
    pub company: bool,
    pub claims: bool,
    pub member: bool,
    pub qualify: bool,
    pub deposit: bool,
}

impl Plan {
    pub fn person(name: &'static str) -> Plan {
        Plan {
            name,
            company: false,
            claims: false,
            member: false,
            qualify: true,
            deposit: true,
        }
    }
    pub fn company(name: &'static str) -> Plan {
        Plan {
            company: true,
            ..Plan::person(name)
        }
    }
    /// Claims membership of the collective and staff verify it.
    pub fn member(self) -> Plan {
        Plan {
            claims: true,
            member: true,
            ..self
        }
    }
    /// Claims membership; staff qualify without verifying it.
    pub fn claims_only(self) -> Plan {
        Plan {
            claims: true,
            member: false,
            ..self
        }
    }
    pub fn unqualified(self) -> Plan {
        Plan {
            qualify: false,
            ..self
        }
    }
    pub fn unpaid(self) -> Plan {
        Plan {
            deposit: false,
            ..self
        }
    }
}

/// An investor registered for a listing.
pub struct Bidder {
    pub inv: User,
    pub reg: String,
}

impl Bidder {
    pub fn token(&self) -> &str {
        &self.inv.token
    }
}

/// A new self-registered investor with a verified e-mail, logged in.
pub fn new_investor(app: &TestApp, w: &World, display: &str) -> User {
    verified_investor(app, &format!("investor{}@nongye.cn", w.next()), display)
}

/// A new investor, registered for `a` as `p` says.
pub fn enrol(app: &TestApp, w: &World, a: &Auction, p: Plan) -> Bidder {
    let inv = new_investor(app, w, p.name);
    enrol_as(app, w, a, inv, p)
}

/// `inv` registers for `a` with a fresh valid ID number; staff take it as far as `p` says.
pub fn enrol_as(app: &TestApp, w: &World, a: &Auction, inv: User, p: Plan) -> Bidder {
    let n = w.next();
    let (id_type, id_number) = if p.company {
        ("unified_social_credit_code", uscc(n))
    } else {
        ("resident_id", resident_id(n))
    };
    let reg = created(
        &app.post(
            &a.path("/registrations"),
            inv.t(),
            registration_body(p.name, id_type, &id_number, p.claims),
        ),
        p.name,
    );
    if p.qualify {
        let q = ok(registration_act(
            app,
            &a.staff,
            &reg,
            "qualify",
            json!({"member_verified": p.member}),
        ));
        assert_eq!(q["member_verified"], p.member);
    }
    if p.deposit {
        let d = ok(registration_act(
            app,
            &a.staff,
            &reg,
            "deposit",
            json!({"amount_fen": DEPOSIT, "receipt_ref": format!("ICBC-310116-{n:06}")}),
        ));
        assert_eq!(d["deposit_status"], "confirmed");
    }
    Bidder { inv, reg }
}

// ---- bids and deals -----------------------------------------------------------------------------

pub fn bid(app: &TestApp, token: &str, a: &Auction, amount: i64) -> Resp {
    app.post(&a.path("/bids"), Some(token), json!({"amount_fen": amount}))
}

/// A bid that must be accepted and lead.
pub fn bid_ok(app: &TestApp, b: &Bidder, a: &Auction, amount: i64) -> Value {
    let r = bid(app, b.token(), a, amount);
    assert_eq!(r.status, 201, "bid {amount}: {}", r.text);
    assert_eq!(r.body["amount_fen"], amount);
    assert_eq!(r.body["is_leading"], true);
    assert_eq!(r.body["current_price_fen"], amount);
    r.body
}

pub fn bid_with_key(app: &TestApp, token: &str, path: &str, key: &str, body: &str) -> Resp {
    app.call_raw(
        "POST",
        path,
        Some(token),
        Some(body.to_string()),
        &[("Idempotency-Key", key)],
    )
}

/// The public view of a listing (a read: performs what is due first).
pub fn view(app: &TestApp, a: &Auction) -> Value {
    ok(app.get(&a.path(""), None))
}

pub fn public_deal(app: &TestApp, a: &Auction) -> Value {
    ok(app.get(&a.path("/deal"), None))
}

pub fn deal_as(app: &TestApp, a: &Auction, token: &str) -> Value {
    ok(app.get(&a.path("/deal"), Some(token)))
}

/// `POST /deals/{id}/{action}` with `{}`.
pub fn deal_action(app: &TestApp, token: &str, deal: &str, action: &str) -> Resp {
    app.post(
        &format!("/api/v1/deals/{deal}/{action}"),
        Some(token),
        json!({}),
    )
}

/// Every bid of a listing through the API, newest first (all pages).
pub fn all_bids(app: &TestApp, a: &Auction, token: Option<&str>) -> Vec<Value> {
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

/// The stored bids of a listing in acceptance order.
pub fn db_bids(app: &TestApp, a: &Auction) -> Vec<BidRow> {
    db::bids_of(app.pool(), &a.id)
}

/// The stored deals of a listing by round.
pub fn db_deals(app: &TestApp, a: &Auction) -> Vec<DealRow> {
    db::deals_of(app.pool(), &a.id)
}

/// The audit records of a listing's stream, in stream order.
pub fn stream(app: &TestApp, a: &Auction) -> Vec<Audit> {
    db::audit_stream(app.pool(), &format!("listing:{}", a.id))
}

// ---- a contest with a winner, a runner-up and a third bidder ------------------------------

/// A listing where 张伟 wins at reserve + 4 increments; 李娜 (verified member) matched 王军's
/// reserve + 3 increments with a priority bid and is the runner-up; 王军 is third.
pub struct Contest {
    pub a: Auction,
    pub winner: Bidder,
    pub runner_up: Bidder,
    pub third: Bidder,
}

pub fn contest(app: &TestApp, w: &World, a: Auction) -> Contest {
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

pub fn run_contest(app: &TestApp, c: &Contest) {
    let a = &c.a;
    bid_ok(app, &c.third, a, RESERVE);
    bid_ok(app, &c.runner_up, a, RESERVE + INCREMENT);
    bid_ok(app, &c.winner, a, RESERVE + 2 * INCREMENT);
    bid_ok(app, &c.third, a, RESERVE + 3 * INCREMENT);
    let p = bid_ok(app, &c.runner_up, a, RESERVE + 3 * INCREMENT);
    assert_eq!(p["priority"], true);
    bid_ok(app, &c.winner, a, RESERVE + 4 * INCREMENT);
}
