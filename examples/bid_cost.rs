//! Cost of one accepted bid, for comparing two versions of the bid path by instruction counts
//! (load-independent) rather than wall-clock time. Driven by `scripts/bid_cost.sh`, which runs
//! it under `valgrind --tool=callgrind` with two bid counts and divides the difference of the
//! totals by the difference of the counts (setup and start-up cancel out).
//!
//!     bid_cost run   <direct|http> <bids>   # set up one hot auction, place <bids> bids, exit
//!     bid_cost count <direct|http> <bids>   # natively: SQL statements per bid (and the
//!                                           # PostgreSQL server's CPU per bid), bids/s
//!
//! One client, two bidders alternating, every bid accepted (the same load as section 1/2 of
//! `benches/bids.rs`). `direct` calls the bid use case on a pooled connection, `http` posts
//! to `/api/v1/listings/{id}/bids` on the in-process server. SQLite by default, PostgreSQL
//! with LANDX_TEST_DATABASE_URL (as the tests and benches).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use chrono::SecondsFormat;
use landx::clock::Clock;
use serde_json::json;

const RESERVE: i64 = 120_000;
const INC: i64 = 1_000;

// BEGIN direct-bid (scripts/bid_cost.sh replaces this block for trees before app::trading)
/// Places one bid by calling the use case directly.
struct Direct {
    ctxs: Vec<landx::app::Ctx>,
}

impl Direct {
    fn new(app: &common::TestApp, bidders: &[(String, String)]) -> Direct {
        let ctxs = bidders
            .iter()
            .map(|(uid, _)| {
                app.state.ctx(Some(landx::domain::access::Caller {
                    id: uid.clone(),
                    role: landx::domain::roles::Role::Investor,
                    email: String::new(),
                    village_id: None,
                    township_id: None,
                    insurer_id: None,
                    email_verified: true,
                }))
            })
            .collect();
        Direct { ctxs }
    }

    fn bid(
        &self,
        _app: &common::TestApp,
        conn: &mut landx::db::DbConn,
        listing: &str,
        k: usize,
        amount: i64,
    ) {
        landx::app::trading::place_bid(&self.ctxs[k], conn, listing, amount).unwrap();
    }
}
// END direct-bid

/// An auction open at the app's clock with `n` eligible bidders; returns the listing id and
/// the bidders' (user id, token). (As in `benches/bids.rs`.)
fn hot_auction(app: &common::TestApp, n: usize, tag: &str) -> (String, Vec<(String, String)>) {
    let admin = app.admin_token();
    let ts = app
        .post(
            "/api/v1/townships",
            Some(&admin),
            json!({"code": format!("T{tag}"), "name": "漕泾镇"}),
        )
        .id();
    let vl = app
        .post(
            "/api/v1/villages",
            Some(&admin),
            json!({"township_id": ts, "code": "HT", "name": "护塘村"}),
        )
        .id();
    let (ce, se) = (format!("c{tag}@landx.test"), format!("s{tag}@landx.test"));
    app.post("/api/v1/users", Some(&admin), json!({"email": ce, "password": "collective-pw-1", "display_name": "护塘村", "role": "collective", "village_id": vl}));
    app.post("/api/v1/users", Some(&admin), json!({"email": se, "password": "staff-password-1", "display_name": "农经站", "role": "staff", "township_id": ts}));
    let coll = app.login(&ce, "collective-pw-1");
    let staff = app.login(&se, "staff-password-1");
    let parcel = app.post("/api/v1/parcels", Some(&coll), json!({"code": format!("JS-{tag}-1"), "area_mu": "50.00", "land_type": "arable",
        "permanent_basic_farmland": false, "households": 10, "household_contract_end": "2057-12-31", "location": "护塘村1组"})).id();
    let now = app.clock.now();
    let closes = now + chrono::Duration::days(11);
    let ends = closes + chrono::Duration::days(1);
    let rfc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let listing = app.post("/api/v1/listings", Some(&coll), json!({"title": "基准竞价", "description": "", "parcel_ids": [parcel],
        "intended_use": "grain", "term_start": (ends + chrono::Duration::days(1)).date_naive().to_string(), "term_end": "2040-12-31",
        "reserve_price_fen": RESERVE, "min_increment_fen": INC, "deposit_fen": 100000,
        "registration_closes_at": rfc(closes), "auction_starts_at": rfc(closes), "auction_ends_at": rfc(ends), "extension_secs": 60,
        "consent": {"resolution_date": now.date_naive().to_string(), "members_agreeing": 2, "members_total": 3, "commissions_received": 10}})).id();
    // Submitting needs the villagers' resolution and the commission letters.
    for kind in ["resolution", "commission"] {
        let path = format!("/api/v1/listings/{listing}/documents?kind={kind}&filename={kind}.pdf");
        let body = format!("%PDF-1.4\n% {kind} scan\n%%EOF\n");
        let r = app.send_bytes(&path, Some(&coll), Some("application/pdf"), body.as_bytes());
        assert_eq!(r.status, 201, "upload {kind}: {}", r.text);
    }
    for (action, tok) in [("submit", &coll), ("approve", &staff)] {
        let r = app.post(
            &format!("/api/v1/listings/{listing}/{action}"),
            Some(tok),
            json!({}),
        );
        assert_eq!(r.status, 200, "{action}: {}", r.text);
    }
    let mut bidders = Vec::new();
    for i in 0..n {
        let email = format!("b{tag}-{i}@landx.test");
        let uid = app.post("/api/v1/users", Some(&admin), json!({"email": email, "password": "investor-pw-1", "display_name": "农场", "role": "investor"})).id();
        let t = app.login(&email, "investor-pw-1");
        let reg = app.post(&format!("/api/v1/listings/{listing}/registrations"), Some(&t), json!({"legal_name": "张伟", "id_type": "resident_id",
            "id_number": common::resident_id(i as u32), "phone": "13800138000", "experience": "", "business_plan": "", "claims_membership": false})).id();
        app.post(
            &format!("/api/v1/registrations/{reg}/qualify"),
            Some(&staff),
            json!({}),
        );
        app.post(
            &format!("/api/v1/registrations/{reg}/deposit"),
            Some(&staff),
            json!({"amount_fen": 100000, "receipt_ref": "R"}),
        );
        bidders.push((uid, t));
    }
    app.clock.set(closes);
    assert_eq!(
        app.get(&format!("/api/v1/listings/{listing}"), None).body["status"],
        "auction"
    );
    (listing, bidders)
}

/// Statements diesel started (counted only in `count` mode), and their texts.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static TEXTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn counting() -> Option<Box<dyn diesel::connection::Instrumentation>> {
    Some(Box::new(
        |event: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
                STATEMENTS.fetch_add(1, Ordering::Relaxed);
                let text = query.to_string();
                let text = text.split("-- binds").next().unwrap_or_default().trim();
                TEXTS.lock().unwrap().push(text.to_string());
            }
        },
    ))
}

/// CPU time (user + system, in clock ticks) of the PostgreSQL backends serving this test's
/// database (the server runs on this machine).
fn pg_backend_ticks(app: &common::TestApp) -> u64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut conn = app.pool().get().unwrap();
    let pids: Vec<Pid> = match &mut *conn {
        landx::db::DbConn::Pg(c) => {
            diesel::sql_query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                .load(c)
                .unwrap()
        }
        landx::db::DbConn::Sqlite(_) => return 0,
    };
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{}/stat", p.pid)).ok())
        .map(|s| {
            // Fields after the command's closing parenthesis: utime and stime are 14 and 15.
            let rest = &s[s.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
        })
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bid_cost <run|count> <direct|http> <bids>";
    let (mode, path, bids) = match &args[1..] {
        [m, p, n] => (m.as_str(), p.as_str(), n.parse::<usize>().expect(usage)),
        _ => panic!("{usage}"),
    };
    assert!(matches!(path, "direct" | "http"), "{usage}");
    let count = match mode {
        "run" => false,
        "count" => true,
        _ => panic!("{usage}"),
    };
    if count {
        diesel::connection::set_default_instrumentation(counting).unwrap();
    }
    let app = common::TestApp::start_with(|s| {
        s.database.pool_size = 4;
        s.auth.access_token_minutes = 60 * 24 * 30;
    });
    let (listing, bidders) = hot_auction(&app, 2, "A");
    let direct = Direct::new(&app, &bidders);
    let mut conn = app.pool().get().unwrap();
    let ticks0 = pg_backend_ticks(&app);
    let stmts0 = STATEMENTS.load(Ordering::Relaxed);
    let texts0 = TEXTS.lock().unwrap().len();
    let t = Instant::now();
    for i in 0..bids {
        let amount = RESERVE + INC * i as i64;
        if path == "direct" {
            direct.bid(&app, &mut conn, &listing, i % 2, amount);
        } else {
            let r = app.post(
                &format!("/api/v1/listings/{listing}/bids"),
                Some(&bidders[i % 2].1),
                json!({"amount_fen": amount}),
            );
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    if count {
        let stmts = STATEMENTS.load(Ordering::Relaxed) - stmts0;
        let texts_end = TEXTS.lock().unwrap().len();
        let ticks = pg_backend_ticks(&app) - ticks0;
        let hz = 100.0; // USER_HZ on Linux
        let backend = if app.db.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        };
        println!(
            "[{backend}] {path}: {bids} bids, {:.0} bids/s, {:.2} statements/bid",
            bids as f64 / secs,
            stmts as f64 / bids as f64
        );
        if app.db.is_postgres() {
            println!(
                "[{backend}] {path}: PostgreSQL backends' CPU {:.0} µs/bid",
                ticks as f64 / hz / bids as f64 * 1e6
            );
        }
        // The last bid's statements.
        let texts = TEXTS.lock().unwrap();
        let per = (stmts as usize).div_ceil(bids.max(1));
        for s in &texts[texts_end.saturating_sub(per).max(texts0)..texts_end] {
            println!("    {}", s.replace('\n', " "));
        }
    }
}
