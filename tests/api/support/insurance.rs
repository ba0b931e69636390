//! The insurance tests' world: a certified contract reached through the API like a client
//! would (a negotiated deal with one bidder, the village's legal identity, both signatures,
//! certification by staff), and the policy, claim, payment and recovery actions.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::{json, Value};

use super::db;
use super::harness::{uscc, Resp, TestApp};
use super::http::{created, ok, rfc, s, with};
use super::listings::{listing_body, new_listing, parcel_body};
use super::trading::{deal_action, deal_as, enrol, schedule, view, Auction, Plan, DEPOSIT};
use super::world::{insurer, user, Town, User, World};

/// An app with the test clock on (`clock.travel`), access tokens that outlive years of
/// jumps and no per-IP login throttle.
pub fn start() -> TestApp {
    TestApp::start_with(|s| {
        s.clock.travel = true;
        s.auth.access_token_minutes = 60 * 24 * 366 * 6;
        s.auth.ip_attempts_per_minute = 1_000_000;
    })
}

/// The audit key of [`start_keyed`] (`[audit] key`, as production requires one).
pub const AUDIT_KEY: &str = "insurance-audit-key-for-tests-0123456789";

/// [`start`] with an audit key: records are HMAC-linked and carry their money
/// (`amount_fen`), which unkeyed (first-release) records leave out. The key is process-wide
/// (`landx::audit::install_keys`), so a test using this runs [`alone`].
pub fn start_keyed() -> TestApp {
    TestApp::start_with(|s| {
        s.clock.travel = true;
        s.auth.access_token_minutes = 60 * 24 * 366 * 6;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.audit.key = secrecy::SecretString::from(AUDIT_KEY.to_string());
    })
}

/// Re-runs the test `name` (e.g. `insurance::x`) alone in a new process of this test binary,
/// asserts it passed, and prints what it printed to stderr; in that process runs `body`. For
/// tests that install process-wide state (the audit key) parallel tests must not see.
pub fn alone(name: &str, body: impl FnOnce()) {
    const VAR: &str = "LANDX_TEST_IN_OWN_PROCESS";
    if std::env::var(VAR).as_deref() == Ok(name) {
        body();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(VAR, name)
        .output()
        .expect("re-run this test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in its own process:\n{stdout}\n{stderr}"
    );
    eprint!("{stderr}");
}

/// `landx audit verify` against the app's database with [`AUDIT_KEY`]: exit code and output.
pub fn audit_verify_keyed(app: &TestApp) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landx"))
        .args(["audit", "verify"])
        .env("LANDX_DATABASE__URL", &app.settings.database.url)
        .env("LANDX_ENV", "test")
        .env("LANDX_AUDIT__KEY", AUDIT_KEY)
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// 10:00 in Shanghai (02:00 UTC) on `date` (`YYYY-MM-DD`).
pub fn sh(date: &str) -> DateTime<Utc> {
    let d: NaiveDate = date.parse().expect("a date");
    Utc.from_utc_datetime(&d.and_hms_opt(2, 0, 0).unwrap())
}

/// Moves the app's clock to 10:00 Shanghai on `date` and runs the worker once.
pub fn day(app: &TestApp, date: &str) {
    at_day(app, date);
    app.run_jobs();
}

/// What a listing offers: area, price per mu per year, term.
#[derive(Clone, Copy, Debug)]
pub struct Terms {
    pub area_mu: &'static str,
    pub price_fen: i64,
    pub term_start: &'static str,
    pub term_end: &'static str,
}

impl Terms {
    /// 50 mu at 1 200 元/mu/year (annual rent 6 000 000 fen), 2027-03-01..2030-02-28 (three
    /// contract years).
    pub fn standard() -> Terms {
        Terms {
            area_mu: "50.00",
            price_fen: 120_000,
            term_start: "2027-03-01",
            term_end: "2030-02-28",
        }
    }

    /// Haimen 2017: 158.31 mu at 900 元/mu/year (annual rent 14 247 900 fen).
    pub fn haimen() -> Terms {
        Terms {
            area_mu: "158.31",
            price_fen: 90_000,
            ..Terms::standard()
        }
    }
}

/// An announced listing with its one registered (qualified, deposit paid) bidder.
pub struct Pending {
    pub a: Auction,
    pub parcel: String,
    pub owner: User,
    pub staff: User,
    pub investor: User,
}

/// A certified contract and the people around it.
pub struct Contracted {
    pub id: String,
    pub parcel: String,
    pub owner: User,
    pub staff: User,
    /// The transferee (乙方), the policy holder.
    pub investor: User,
    /// The contract as certification answered it.
    pub body: Value,
}

impl Contracted {
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/contracts/{}{rest}", self.id)
    }
}

/// A new parcel of `town`'s owner village and an announced listing of it on `terms`, with
/// one investor registered, qualified and its deposit (1 000 元) confirmed.
pub fn prepare(app: &TestApp, w: &World, town: Town<'_>, terms: Terms) -> Pending {
    let n = w.next();
    let parcel = created(
        &app.post(
            "/api/v1/parcels",
            town.owner.t(),
            parcel_body(
                &format!("HM-{}-0700-{n:03}", town.code),
                terms.area_mu,
                &format!("{}第{n}号地块，通启运河北侧", town.code),
            ),
        ),
        "parcel",
    );
    let [closes, starts, ends] = schedule(app);
    let body = with(
        listing_body(
            &format!("{}亩耕地经营权流转（第{n}号）", terms.area_mu),
            &[&parcel],
        ),
        json!({
            "term_start": terms.term_start,
            "term_end": terms.term_end,
            "reserve_price_fen": terms.price_fen,
            "min_increment_fen": 1_000,
            "deposit_fen": DEPOSIT,
            "registration_closes_at": rfc(closes),
            "auction_starts_at": rfc(starts),
            "auction_ends_at": rfc(ends),
        }),
    );
    let l = new_listing(app, town.owner, body);
    let a = Auction {
        id: s(&l["id"]),
        closes,
        starts,
        ends,
        staff: town.staff.token.clone(),
    };
    let r = ok(app.post(&a.path("/submit"), town.owner.t(), json!({})));
    assert_eq!(r["status"], "submitted");
    let r = ok(app.post(&a.path("/approve"), town.staff.t(), json!({})));
    assert_eq!(r["status"], "announced");
    let bidder = enrol(app, w, &a, Plan::company("上海金农农业专业合作社"));
    Pending {
        a,
        parcel,
        owner: town.owner.clone(),
        staff: town.staff.clone(),
        investor: bidder.inv,
    }
}

/// Takes a [`Pending`] listing to a certified contract: registration closes (the clock moves
/// there if it isn't past it yet) → a negotiated deal at the reserve, both sides confirm,
/// the village's legal identity is set, both parties sign and staff certify.
pub fn finish(app: &TestApp, w: &World, p: Pending) -> Contracted {
    if app.now() <= p.a.closes {
        app.set_now(p.a.closes + Duration::seconds(1) - Duration::seconds(app.clock_offset_secs()));
    }
    assert_eq!(view(app, &p.a)["status"], "awarded");
    let deal = deal_as(app, &p.a, &p.staff.token);
    assert_eq!(deal["negotiated"], true, "{deal}");
    let deal_id = s(&deal["id"]);
    ok(deal_action(app, &p.investor.token, &deal_id, "confirm"));
    let d = ok(deal_action(app, &p.owner.token, &deal_id, "confirm"));
    assert_eq!(d["status"], "confirmed", "{d}");
    let id = s(&deal_as(app, &p.a, &p.staff.token)["contract_id"]);

    let village_id = s(&ok(app.get("/api/v1/me", p.owner.t()))["village_id"]);
    let v = ok(app.patch(
        &format!("/api/v1/villages/{village_id}"),
        p.owner.t(),
        json!({
            "legal_name": "海门市常乐镇汤家村股份经济合作社",
            "unified_social_credit_code": uscc(700 + w.next()),
            "legal_representative": "汤建国",
        }),
    ));
    assert_eq!(v["legal_representative"], "汤建国");
    let c = Contracted {
        id,
        parcel: p.parcel,
        owner: p.owner,
        staff: p.staff,
        investor: p.investor,
        body: Value::Null,
    };
    for u in [&c.owner, &c.investor] {
        ok(app.post(&c.path("/sign"), u.t(), json!({})));
    }
    let body = ok(app.post(&c.path("/certify"), c.staff.t(), json!({})));
    assert!(body["certification_no"].is_string(), "{body}");
    Contracted { body, ..c }
}

/// A certified contract of `town` on `terms`.
pub fn certified_contract(app: &TestApp, w: &World, town: Town<'_>, terms: Terms) -> Contracted {
    let p = prepare(app, w, town, terms);
    finish(app, w, p)
}

/// The insurer (company) id of an insurer account.
pub fn company_of(app: &TestApp, u: &User) -> String {
    s(&ok(app.get("/api/v1/me", u.t()))["insurer_id"])
}

/// A second insurance company (中华联合财产保险, code ZHLH) and its underwriter.
pub fn other_insurer(app: &TestApp, w: &World) -> (String, User) {
    let id = insurer(app, &w.admin, "ZHLH", "中华联合财产保险");
    let u = user(
        app,
        &w.admin,
        "hebin@zhlh.com.cn",
        "中华联合财产保险 何斌",
        "insurer",
        json!({"insurer_id": id}),
    );
    (id, u)
}

// ---- reads --------------------------------------------------------------------------------------

/// The contract's installments by year.
pub fn installments(app: &TestApp, token: &str, contract: &str) -> Vec<Value> {
    let r = ok(app.get(
        &format!("/api/v1/contracts/{contract}/installments"),
        Some(token),
    ));
    r["items"].as_array().expect("items").clone()
}

/// Installment `year` (1-based) of the contract.
pub fn installment(app: &TestApp, token: &str, contract: &str, year: usize) -> Value {
    installments(app, token, contract)[year - 1].clone()
}

pub fn get_policy(app: &TestApp, token: &str, id: &str) -> Resp {
    app.get(&format!("/api/v1/policies/{id}"), Some(token))
}

pub fn policy_status(app: &TestApp, token: &str, id: &str) -> String {
    let r = get_policy(app, token, id);
    assert_eq!(r.status, 200, "{}", r.text);
    s(&r.body["status"])
}

pub fn get_claim(app: &TestApp, token: &str, id: &str) -> Resp {
    app.get(&format!("/api/v1/claims/{id}"), Some(token))
}

/// The `id`s of the `items` of a list answer (asserting 200).
pub fn listed(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let r = ok(app.get(path, Some(token)));
    r["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| s(&i["id"]))
        .collect()
}

// ---- actions ------------------------------------------------------------------------------------

/// `POST /policies`.
pub fn quote(app: &TestApp, token: &str, contract: &str, year: i64, insurer_id: &str) -> Resp {
    app.post(
        "/api/v1/policies",
        Some(token),
        json!({"contract_id": contract, "year": year, "insurer_id": insurer_id}),
    )
}

/// A quote that must be made: 201 `quoted`, a `Location`; the policy.
pub fn quote_ok(app: &TestApp, token: &str, contract: &str, year: i64, insurer_id: &str) -> Value {
    let r = quote(app, token, contract, year, insurer_id);
    assert_eq!(r.status, 201, "quote year {year}: {}", r.text);
    assert_eq!(r.body["status"], "quoted");
    assert!(r.body["policy_no"].is_null());
    assert_eq!(
        r.header("location").map(String::from),
        Some(format!("/api/v1/policies/{}", r.id()))
    );
    r.body
}

/// `POST /policies/{id}/issue`.
pub fn issue(app: &TestApp, token: &str, policy: &str, policy_no: &str) -> Resp {
    app.post(
        &format!("/api/v1/policies/{policy}/issue"),
        Some(token),
        json!({"policy_no": policy_no}),
    )
}

/// `POST /policies/{id}/cancel`.
pub fn withdraw(app: &TestApp, token: &str, policy: &str) -> Resp {
    app.post(
        &format!("/api/v1/policies/{policy}/cancel"),
        Some(token),
        json!({}),
    )
}

/// `POST /installments/{id}/payments`.
pub fn pay_rent(app: &TestApp, token: &str, inst: &str, amount: i64, received_on: &str) -> Resp {
    app.post(
        &format!("/api/v1/installments/{inst}/payments"),
        Some(token),
        json!({"amount_fen": amount, "received_on": received_on, "receipt_ref": format!("NSYH-{amount}-{received_on}")}),
    )
}

/// `POST /claims`.
pub fn file_claim(app: &TestApp, token: &str, inst: &str) -> Resp {
    app.post(
        "/api/v1/claims",
        Some(token),
        json!({"installment_id": inst, "note": "乙方逾期未缴纳本年度租金，经催告仍未支付。"}),
    )
}

/// `POST /claims/{id}/{action}` with `body`.
pub fn decide(app: &TestApp, token: &str, claim: &str, action: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/claims/{claim}/{action}"),
        Some(token),
        body,
    )
}

/// `POST /claims/{id}/recoveries`.
pub fn recover(app: &TestApp, token: &str, claim: &str, amount: i64, received_on: &str) -> Resp {
    app.post(
        &format!("/api/v1/claims/{claim}/recoveries"),
        Some(token),
        json!({"amount_fen": amount, "received_on": received_on, "ref": format!("ZC-{amount}")}),
    )
}

/// A new listing of `parcel` by `owner` on a schedule from the clock; its id and the answer
/// to submitting it.
pub fn relist(app: &TestApp, owner: &User, parcel: &str) -> (String, Resp) {
    let [closes, starts, ends] = schedule(app);
    let start = (ends + Duration::days(30)).date_naive();
    let end = start
        .checked_add_months(chrono::Months::new(36))
        .and_then(|d| d.pred_opt())
        .unwrap();
    let body = with(
        listing_body("原合同解除后重新流转", &[parcel]),
        json!({
            "term_start": start.to_string(),
            "term_end": end.to_string(),
            "registration_closes_at": rfc(closes),
            "auction_starts_at": rfc(starts),
            "auction_ends_at": rfc(ends),
        }),
    );
    let id = s(&new_listing(app, owner, body)["id"]);
    let r = submit(app, owner, &id);
    (id, r)
}

/// `POST /listings/{id}/submit`.
pub fn submit(app: &TestApp, owner: &User, listing: &str) -> Resp {
    app.post(
        &format!("/api/v1/listings/{listing}/submit"),
        owner.t(),
        json!({}),
    )
}

/// How many mails to `to` have a subject ending with `end`.
pub fn mails_ending(app: &TestApp, to: &str, end: &str) -> usize {
    app.outbox()
        .iter()
        .filter(|m| m.to_addr == to && m.subject.ends_with(end))
        .count()
}

/// Moves the app's clock to 10:00 Shanghai on `date` without running the worker.
pub fn at_day(app: &TestApp, date: &str) {
    app.set_now(sh(date) - Duration::seconds(app.clock_offset_secs()));
    assert_eq!(app.now(), sh(date));
}

// ---- the audit stream ---------------------------------------------------------------------------

/// A record of a contract's stream: what moved, from where to where, with what money.
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Move {
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
    #[diesel(sql_type = Nullable<BigInt>)]
    pub amount_fen: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_role: Option<String>,
}

/// The records of `contract:<id>` in stream order.
pub fn contract_stream(app: &TestApp, contract: &str) -> Vec<Move> {
    db::load(
        app.pool(),
        &format!(
            "SELECT action, entity_type, entity_id, from_state, to_state, amount_fen, actor_role \
             FROM audit_log WHERE stream = {} ORDER BY seq",
            db::lit(&format!("contract:{contract}"))
        ),
    )
}

/// Whether the stream holds `action` on `entity` from → to with this amount.
pub fn has_move(
    stream: &[Move],
    action: &str,
    entity: &str,
    from: Option<&str>,
    to: &str,
    amount: Option<i64>,
) -> bool {
    stream.iter().any(|m| {
        m.action == action
            && m.entity_id == entity
            && m.from_state.as_deref() == from
            && m.to_state.as_deref() == Some(to)
            && m.amount_fen == amount
    })
}

/// The stored status of a policy, read past the API (to tell the worker's move from a
/// read's).
pub fn stored_policy_status(app: &TestApp, policy: &str) -> String {
    db::lines(
        app.pool(),
        &format!(
            "SELECT status AS line FROM policies WHERE id = {}",
            db::lit(policy)
        ),
    )
    .remove(0)
}
