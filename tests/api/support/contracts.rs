//! Contracts for the contract and rent tests: confirmed deals (two bidders each, so there is a
//! runner-up) and their draft contracts, the village's legal identity, the signatures, the
//! certification, installments and payments, and the contract's audit stream with amounts.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::{json, Value};

use super::db::{self, lit};
use super::harness::{uscc, Resp, TestApp};
use super::http::{ok, s};
use super::listings::{listing_act, patch_listing};
use super::trading::{
    bid_ok, deal_action, deal_as, enrol, make_listing, public_deal, schedule, view, Auction,
    Bidder, Plan, Stage, INCREMENT, RESERVE,
};
use super::world::{Town, User, World};

/// Term of the default listings: ten contract years, the last one short (2037-03-01..=12-31).
pub const TERM: (&str, &str) = ("2028-03-01", "2037-12-31");
/// 50 mu at the winning bid (reserve + one increment) a mu and year.
pub const ANNUAL: i64 = 50 * (RESERVE + INCREMENT);
/// The village's legal identity.
pub const VILLAGE_NAME: &str = "上海市金山区漕泾镇护塘村股份经济合作社";
pub const VILLAGE_REP: &str = "陆建华";

/// Long-lived access tokens (the rent tests jump the clock by years) and no per-IP throttle.
pub fn start() -> TestApp {
    TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 366 * 15;
        s.auth.ip_attempts_per_minute = 1_000_000;
    })
}

/// 10:00 in Shanghai (02:00 UTC) on that date.
pub fn sh(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap()
}

pub fn date(v: &Value) -> NaiveDate {
    v.as_str()
        .unwrap_or_else(|| panic!("not a date: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not a date: {v}: {e}"))
}

pub fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A confirmed deal and its draft contract.
pub struct Deal {
    pub a: Auction,
    pub winner: Bidder,
    pub runner_up: Bidder,
    pub deal: String,
    pub contract: String,
    /// The listing's parcel.
    pub parcel: String,
}

impl Deal {
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/contracts/{}{rest}", self.contract)
    }
    pub fn winner(&self) -> &User {
        &self.winner.inv
    }
}

/// `n` listings of `town` for `term`, each won by 张伟-like bidder at reserve + 1 increment
/// over a runner-up at the reserve, awarded, confirmed by the winner and then the owner.
/// The clock ends just after the auctions (about t0 + 13 days when started at t0).
pub fn confirmed_deals(
    app: &TestApp,
    w: &World,
    town: Town<'_>,
    n: usize,
    term: (&str, &str),
) -> Vec<Deal> {
    let sched = schedule(app);
    let listings: Vec<Auction> = (0..n)
        .map(|_| {
            let a = make_listing(app, w, town, "50.00", RESERVE, sched, Stage::Draft);
            let r = patch_listing(
                app,
                town.owner.t(),
                &a.id,
                json!({"term_start": term.0, "term_end": term.1}),
            );
            assert_eq!(r.status, 200, "term: {}", r.text);
            let r = listing_act(app, town.owner.t(), &a.id, "submit", json!({}));
            assert_eq!(r.status, 200, "submit: {}", r.text);
            let r = listing_act(app, town.staff.t(), &a.id, "approve", json!({}));
            assert_eq!(r.status, 200, "approve: {}", r.text);
            a
        })
        .collect();
    let bidders: Vec<(Bidder, Bidder)> = listings
        .iter()
        .map(|a| {
            (
                enrol(app, w, a, Plan::person("张伟")),
                enrol(app, w, a, Plan::person("李娜")),
            )
        })
        .collect();
    app.set_now(sched[1] + Duration::minutes(5));
    for (a, (winner, runner_up)) in listings.iter().zip(&bidders) {
        bid_ok(app, runner_up, a, RESERVE);
        bid_ok(app, winner, a, RESERVE + INCREMENT);
    }
    app.set_now(sched[2] + Duration::minutes(1));
    let mut out = Vec::new();
    for (a, (winner, runner_up)) in listings.into_iter().zip(bidders) {
        assert_eq!(view(app, &a)["status"], "awarded");
        let d = public_deal(app, &a);
        assert!(d["contract_id"].is_null(), "no contract before: {d}");
        let deal = s(&d["id"]);
        let r = deal_action(app, winner.token(), &deal, "confirm");
        assert_eq!(r.status, 200, "winner confirms: {}", r.text);
        assert!(r.body["contract_id"].is_null(), "{}", r.text);
        let r = deal_action(app, &town.owner.token, &deal, "confirm");
        assert_eq!(r.status, 200, "owner confirms: {}", r.text);
        assert_eq!(r.body["status"], "confirmed");
        let contract = s(&r.body["contract_id"]);
        assert_eq!(deal_as(app, &a, &town.owner.token)["contract_id"], contract);
        let parcel = listing_parcel(app, &a);
        out.push(Deal {
            a,
            winner,
            runner_up,
            deal,
            contract,
            parcel,
        });
    }
    out
}

/// One confirmed deal of 护塘村 (漕泾镇) for `term`.
pub fn confirmed_deal(app: &TestApp, w: &World, term: (&str, &str)) -> Deal {
    confirmed_deals(app, w, w.cj(), 1, term).pop().unwrap()
}

/// The single parcel of a listing.
pub fn listing_parcel(app: &TestApp, a: &Auction) -> String {
    let l = ok(app.get(&a.path(""), None));
    let ids = l["parcel_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("parcel_ids in {l}"));
    assert_eq!(ids.len(), 1);
    s(&ids[0])
}

/// The body setting a village's legal identity (credit code number `n`).
pub fn identity(n: u32) -> Value {
    json!({
        "legal_name": VILLAGE_NAME,
        "unified_social_credit_code": village_uscc(n),
        "legal_representative": VILLAGE_REP,
    })
}

/// A valid unified social credit code for the village (any valid GB 32100 code will do).
pub fn village_uscc(n: u32) -> String {
    uscc(800_000 + n)
}

/// `PATCH /villages/{id}` with a legal identity, asserting 200.
pub fn set_identity(app: &TestApp, token: &str, village: &str, n: u32) -> Value {
    let r = app.patch(
        &format!("/api/v1/villages/{village}"),
        Some(token),
        identity(n),
    );
    assert_eq!(r.status, 200, "identity: {}", r.text);
    r.body
}

/// `POST /contracts/{id}/{action}`.
pub fn act(app: &TestApp, token: Option<&str>, contract: &str, action: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/contracts/{contract}/{action}"),
        token,
        body,
    )
}

pub fn get_contract(app: &TestApp, token: Option<&str>, contract: &str) -> Resp {
    app.get(&format!("/api/v1/contracts/{contract}"), token)
}

/// The contract as its township's staff read it.
pub fn contract(app: &TestApp, w: &World, contract: &str) -> Value {
    ok(get_contract(app, w.admin(), contract))
}

/// The owner (whose village's identity is set here) and the winner sign: `signed`.
pub fn sign_both(app: &TestApp, w: &World, d: &Deal) -> Value {
    let v = ok(app.get(&format!("/api/v1/villages/{}", w.hutang), None));
    if v["legal_name"].is_null() {
        set_identity(app, &w.ht.token, &w.hutang, 1);
    }
    let r = act(app, d.winner().t(), &d.contract, "sign", json!({}));
    assert_eq!(r.status, 200, "winner signs: {}", r.text);
    let r = act(app, w.ht.t(), &d.contract, "sign", json!({}));
    assert_eq!(r.status, 200, "owner signs: {}", r.text);
    assert_eq!(r.body["status"], "signed");
    r.body
}

/// 漕泾镇's staff certify, asserting 200.
pub fn certify(app: &TestApp, w: &World, d: &Deal) -> Value {
    let r = act(app, w.cj_staff.t(), &d.contract, "certify", json!({}));
    assert_eq!(r.status, 200, "certify: {}", r.text);
    r.body
}

/// Signed by both and certified.
pub fn certified(app: &TestApp, w: &World, d: &Deal) -> Value {
    sign_both(app, w, d);
    certify(app, w, d)
}

/// The installments of a contract (as the admin reads them).
pub fn installments(app: &TestApp, w: &World, contract: &str) -> Vec<Value> {
    installments_as(app, w.admin(), contract)
}

pub fn installments_as(app: &TestApp, token: Option<&str>, contract: &str) -> Vec<Value> {
    let r = ok(app.get(&format!("/api/v1/contracts/{contract}/installments"), token));
    r["items"].as_array().expect("items").clone()
}

/// The statuses of a contract's installments by year.
pub fn statuses(app: &TestApp, w: &World, contract: &str) -> Vec<String> {
    installments(app, w, contract)
        .iter()
        .map(|i| s(&i["status"]))
        .collect()
}

/// `POST /installments/{id}/payments`.
pub fn pay(
    app: &TestApp,
    token: Option<&str>,
    installment: &str,
    amount: i64,
    received_on: &str,
) -> Resp {
    app.post(
        &format!("/api/v1/installments/{installment}/payments"),
        token,
        json!({"amount_fen": amount, "received_on": received_on,
               "receipt_ref": format!("农商行回单-{amount}")}),
    )
}

/// Payments of an installment (as the admin reads them).
pub fn payments(app: &TestApp, w: &World, installment: &str) -> Vec<Value> {
    ok(app.get(
        &format!("/api/v1/installments/{installment}/payments"),
        w.admin(),
    ))["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// A registration's deposit status as the admin reads it.
pub fn deposit_status(app: &TestApp, w: &World, b: &Bidder) -> String {
    s(&ok(app.get(&format!("/api/v1/registrations/{}", b.reg), w.admin()))["deposit_status"])
}

/// A listing's status as the admin reads it.
pub fn listing_status(app: &TestApp, w: &World, a: &Auction) -> String {
    s(&ok(app.get(&a.path(""), w.admin()))["status"])
}

/// A new draft listing of the owner holding `parcel` (term, schedule and consent valid now),
/// submitted: the answer of the submit.
pub fn list_again(app: &TestApp, w: &World, parcel: &str) -> Resp {
    let now = app.now();
    let mut body = super::listings::listing_body("护塘村土地经营权再次流转", &[parcel]);
    body["term_start"] = json!("2040-03-01");
    body["term_end"] = json!("2045-02-28");
    body["deposit_fen"] = json!(100_000);
    body["registration_closes_at"] = json!(super::http::rfc(now + Duration::days(12)));
    body["auction_starts_at"] = json!(super::http::rfc(now + Duration::days(13)));
    body["auction_ends_at"] = json!(super::http::rfc(
        now + Duration::days(13) + Duration::hours(1)
    ));
    let today = now.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    body["consent"]["resolution_date"] = json!(today.date_naive().to_string());
    body["consent"]["commissions_received"] = json!(12);
    let r = app.post("/api/v1/listings", w.ht.t(), body);
    assert_eq!(r.status, 201, "new listing: {}", r.text);
    super::documents::attach_listing_documents(app, &w.ht, &r.id());
    listing_act(app, w.ht.t(), &r.id(), "submit", json!({}))
}

/// Whether the parcel reads as locked.
pub fn parcel_locked(app: &TestApp, w: &World, parcel: &str) -> bool {
    ok(app.get(&format!("/api/v1/parcels/{parcel}"), w.ht.t()))["locked"]
        .as_bool()
        .expect("locked")
}

// ---- the contract's audit stream -------------------------------------------------------------

/// An audit record of a contract's stream with its amount.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Rec {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub entity_type: String,
    #[diesel(sql_type = Text)]
    pub entity_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub from_state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub to_state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_role: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub amount_fen: Option<i64>,
    #[diesel(sql_type = Text)]
    pub prev_hash: String,
    #[diesel(sql_type = Text)]
    pub hash: String,
}

/// The records of stream `contract:<id>` in order, checking the sequence and the chain.
pub fn contract_stream(app: &TestApp, contract: &str) -> Vec<Rec> {
    let recs: Vec<Rec> = db::load(
        app.pool(),
        &format!(
            "SELECT seq, action, entity_type, entity_id, from_state, to_state, actor_role, \
             amount_fen, prev_hash, hash FROM audit_log WHERE stream = {} ORDER BY seq",
            lit(&format!("contract:{contract}"))
        ),
    );
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1, "gap-free sequence");
        if i > 0 {
            assert_eq!(r.prev_hash, recs[i - 1].hash, "hash chain");
        }
    }
    recs
}

/// (action, from, to, amount) of an audit record.
pub type Move = (String, Option<String>, Option<String>, Option<i64>);

/// The [`Move`]s of the records of `entity` on a contract's stream.
pub fn moves_of(app: &TestApp, contract: &str, entity: &str) -> Vec<Move> {
    contract_stream(app, contract)
        .into_iter()
        .filter(|r| r.entity_id == entity)
        .map(|r| (r.action, r.from_state, r.to_state, r.amount_fen))
        .collect()
}

pub fn verify_audit(app: &TestApp) {
    let n = super::internals::verify_audit(app.pool()).expect("audit chains intact");
    assert!(n > 0);
}

/// Runs the test `name` (`module::test`) in a process of its own, where it may start the
/// app with [`start_keyed`] (the audit key is process-wide).
pub fn keyed(name: &str, body: impl FnOnce()) {
    super::process::in_own_process(name, body);
}

/// [`start`] with an audit key, so the audit records carry their amounts as fields (the
/// unkeyed first-release form has none). Only inside [`keyed`].
pub fn start_keyed() -> TestApp {
    TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 366 * 15;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.audit.key =
            secrecy::SecretString::from("contract-audit-key-for-tests-0123456789".to_string());
    })
}
