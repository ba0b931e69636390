//! The real binary under faults: kill -9 while bids flow (SQLite and PostgreSQL), and two
//! instances sharing one PostgreSQL. These run in real time (seconds), with generous polling
//! deadlines; they assert outcomes, never durations.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::TestDb;
use serde_json::{json, Value};

const SECRET: &str = "resilience-secret-resilience-secret-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
}

fn env_for(db_url: &str, work: &std::path::Path, port: u16) -> Vec<(String, String)> {
    vec![
        ("LANDX_ENV".into(), "test".into()),
        ("LANDX_DATABASE__URL".into(), db_url.into()),
        ("LANDX_SERVER__PORT".into(), port.to_string()),
        ("LANDX_SERVER__WORKERS".into(), "2".into()),
        ("LANDX_AUTH__JWT_SECRET".into(), SECRET.into()),
        ("LANDX_AUTH__BOOTSTRAP_ADMIN".into(), "false".into()),
        ("LANDX_AUTH__IP_ATTEMPTS_PER_MINUTE".into(), "100000".into()),
        ("LANDX_RULES__MIN_ANNOUNCEMENT_DAYS".into(), "0".into()),
        ("LANDX_JOBS__TICK_MS".into(), "200".into()),
        (
            "LANDX_MAIL__FILE_DIR".into(),
            work.join("mail").display().to_string(),
        ),
        ("LANDX_LOG__LEVEL".into(), "warn".into()),
    ]
}

fn start(db_url: &str, work: &std::path::Path, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_landx"))
        .arg("serve")
        .current_dir(work)
        .envs(env_for(db_url, work, port))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start landx");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ureq::get(&format!("{base}/readyz")).call().is_ok() {
            return Server { child, base };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("landx did not become ready on port {port}");
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = ureq::request(method, &format!("{base}{path}")).timeout(Duration::from_secs(20));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
        // The server is down (killed on purpose): the caller decides.
        Err(_) => (0, Value::Null),
    }
}

fn ok(base: &str, method: &str, path: &str, token: Option<&str>, body: Value, want: u16) -> Value {
    let (s, b) = call(base, method, path, token, Some(body));
    assert_eq!(s, want, "{method} {path}: {b}");
    b
}

fn login(base: &str, email: &str, password: &str) -> String {
    ok(
        base,
        "POST",
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
        200,
    )["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn rfc(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Sets up an announced listing whose registration closes in `close_in` seconds and whose
/// auction runs `auction_secs` after that, with `bidders` eligible investors. Returns the
/// listing id, the investors' tokens and the staff token.
fn prepare(
    base: &str,
    work: &std::path::Path,
    db_url: &str,
    bidders: usize,
    close_in: i64,
    auction_secs: i64,
) -> (String, Vec<String>) {
    let status = Command::new(env!("CARGO_BIN_EXE_landx"))
        .args([
            "admin",
            "create",
            "--email",
            "ops@landx.test",
            "--password",
            "ops-password-1",
        ])
        .current_dir(work)
        .envs(env_for(db_url, work, 1))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let admin = login(base, "ops@landx.test", "ops-password-1");
    let ts = ok(
        base,
        "POST",
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "CJ", "name": "漕泾镇"}),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let vl = ok(
        base,
        "POST",
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": ts, "code": "HT", "name": "护塘村"}),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        base,
        "POST",
        "/api/v1/users",
        Some(&admin),
        json!({"email": "ht@landx.test", "password": "collective-pw-1", "display_name": "护塘村股份经济合作社", "role": "collective", "village_id": vl}),
        201,
    );
    ok(
        base,
        "POST",
        "/api/v1/users",
        Some(&admin),
        json!({"email": "cj@landx.test", "password": "staff-password-1", "display_name": "漕泾镇农经站", "role": "staff", "township_id": ts}),
        201,
    );
    let coll = login(base, "ht@landx.test", "collective-pw-1");
    let staff = login(base, "cj@landx.test", "staff-password-1");
    let parcel = ok(base, "POST", "/api/v1/parcels", Some(&coll), json!({
        "code": "JS-CJ-0001-001", "area_mu": "50.00", "land_type": "arable", "permanent_basic_farmland": true,
        "quality_grade": 3, "households": 12, "household_contract_end": "2057-12-31", "location": "漕泾镇护塘村3组"
    }), 201)["id"].as_str().unwrap().to_string();
    let now = Utc::now();
    let closes = now + chrono::Duration::seconds(close_in);
    let ends = closes + chrono::Duration::seconds(auction_secs);
    let term_start = (ends + chrono::Duration::days(1)).date_naive();
    let listing = ok(base, "POST", "/api/v1/listings", Some(&coll), json!({
        "title": "护塘村2027年第一批土地经营权流转", "description": "粮食种植", "parcel_ids": [parcel],
        "intended_use": "grain", "term_start": term_start.to_string(), "term_end": "2036-12-31",
        "reserve_price_fen": 120000, "min_increment_fen": 1000, "deposit_fen": 100000,
        "registration_closes_at": rfc(closes), "auction_starts_at": rfc(closes), "auction_ends_at": rfc(ends),
        "extension_secs": 2,
        "consent": {"resolution_date": (now - chrono::Duration::days(3)).date_naive().to_string(), "members_agreeing": 20, "members_total": 30, "commissions_received": 12}
    }), 201)["id"].as_str().unwrap().to_string();
    ok(
        base,
        "POST",
        &format!("/api/v1/listings/{listing}/submit"),
        Some(&coll),
        json!({}),
        200,
    );
    ok(
        base,
        "POST",
        &format!("/api/v1/listings/{listing}/approve"),
        Some(&staff),
        json!({}),
        200,
    );
    let mut tokens = Vec::new();
    for i in 0..bidders {
        let email = format!("farm{i}@landx.test");
        ok(
            base,
            "POST",
            "/api/v1/users",
            Some(&admin),
            json!({"email": email, "password": "investor-pw-1", "display_name": format!("家庭农场{i}"), "role": "investor"}),
            201,
        );
        let t = login(base, &email, "investor-pw-1");
        let reg = ok(base, "POST", &format!("/api/v1/listings/{listing}/registrations"), Some(&t), json!({
            "legal_name": format!("张{i}"), "id_type": "resident_id", "id_number": common::resident_id(i as u32), "phone": "13800138000",
            "experience": "十年水稻种植", "business_plan": "优质稻米", "claims_membership": false
        }), 201)["id"].as_str().unwrap().to_string();
        ok(
            base,
            "POST",
            &format!("/api/v1/registrations/{reg}/qualify"),
            Some(&staff),
            json!({}),
            200,
        );
        ok(
            base,
            "POST",
            &format!("/api/v1/registrations/{reg}/deposit"),
            Some(&staff),
            json!({"amount_fen": 100000, "receipt_ref": format!("BANK-{i}")}),
            200,
        );
        tokens.push(t);
    }
    (listing, tokens)
}

fn wait_for_status(base: &str, listing: &str, want: &[&str], secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (s, l) = call(
            base,
            "GET",
            &format!("/api/v1/listings/{listing}"),
            None,
            None,
        );
        if s == 200 && want.contains(&l["status"].as_str().unwrap_or_default()) {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "listing never reached {want:?}: {l}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Bidders outbid each other on `bases` (round-robin) until told to stop; returns the
/// acknowledged (201) bids as (id, amount).
fn bid_loop(
    bases: Arc<Mutex<Vec<String>>>,
    listing: String,
    tokens: Vec<String>,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<(String, i64)>>> {
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (bases, listing, stop) = (bases.clone(), listing.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let base = {
                        let b = bases.lock().unwrap();
                        b[(i + n) % b.len()].clone()
                    };
                    let (s, l) = call(
                        &base,
                        "GET",
                        &format!("/api/v1/listings/{listing}"),
                        None,
                        None,
                    );
                    if s != 200 {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    if l["status"] != "auction" {
                        if l["status"] == "awarded" || l["status"] == "failed" {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    let amount = l["current_price_fen"]
                        .as_i64()
                        .map(|p| p + 1000)
                        .unwrap_or(120000);
                    let (s, b) = call(
                        &base,
                        "POST",
                        &format!("/api/v1/listings/{listing}/bids"),
                        Some(&t),
                        Some(json!({"amount_fen": amount})),
                    );
                    match s {
                        201 => acked.push((b["id"].as_str().unwrap().to_string(), amount)),
                        0 | 409 | 422 | 503 => {}
                        other => panic!("unexpected {other}: {b}"),
                    }
                    assert!(s < 500 || s == 503, "5xx {s}: {b}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                acked
            })
        })
        .collect()
}

/// How many bids the database holds (the server is down).
fn all_bid_amounts_direct(url: &str, listing: &str) -> usize {
    use diesel::prelude::*;
    let sql = format!("SELECT COUNT(*) AS n FROM bids WHERE listing_id = '{listing}'");
    let n = if let Some(path) = url.strip_prefix("sqlite://") {
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        diesel::sql_query(sql)
            .get_result::<Count>(&mut c)
            .unwrap()
            .n
    } else {
        let mut c = diesel::PgConnection::establish(url).unwrap();
        diesel::sql_query(sql)
            .get_result::<Count>(&mut c)
            .unwrap()
            .n
    };
    n as usize
}

fn all_bid_amounts(base: &str, listing: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, b) = call(
            base,
            "GET",
            &format!("/api/v1/listings/{listing}/bids?limit=200{cursor}"),
            None,
            None,
        );
        assert_eq!(s, 200, "{b}");
        out.extend(
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["amount_fen"].as_i64().unwrap()),
        );
        match b["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

#[test]
fn kill_9_while_bids_flow_loses_no_acknowledged_bid() {
    let (db, url) = TestDb::create();
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(&url, work.path(), port);
    let (listing, tokens) = prepare(&server.base, work.path(), &url, 4, 4, 8);
    wait_for_status(&server.base, &listing, &["auction"], 30);
    let bases = Arc::new(Mutex::new(vec![server.base.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let handles = bid_loop(bases.clone(), listing.clone(), tokens, stop.clone());
    // Let some bids land, then kill the server without warning.
    let deadline = Instant::now() + Duration::from_secs(20);
    while all_bid_amounts(&server.base, &listing).len() < 5 {
        assert!(Instant::now() < deadline, "no bids flowed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before_restart = all_bid_amounts_direct(&url, &listing);
    let server = start(&url, work.path(), port);
    // Bids flow again through the new process; then the bidders stop (anti-sniping would
    // otherwise extend the auction for as long as they bid).
    let deadline = Instant::now() + Duration::from_secs(30);
    while all_bid_amounts(&server.base, &listing).len() < before_restart + 3 {
        assert!(
            Instant::now() < deadline,
            "bids did not resume after the restart"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, i64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    // The auction still closes by itself (the worker of the new process), exactly once.
    let l = wait_for_status(&server.base, &listing, &["awarded"], 60);
    assert!(!acked.is_empty());
    let stored = all_bid_amounts(&server.base, &listing);
    for (_, amount) in &acked {
        assert!(
            stored.contains(amount),
            "acknowledged bid {amount} lost; stored {stored:?}"
        );
    }
    let max = *stored.iter().max().unwrap();
    assert_eq!(l["current_price_fen"], max);
    let (s, deal) = call(
        &server.base,
        "GET",
        &format!("/api/v1/listings/{listing}/deal"),
        None,
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(deal["price_fen"], max);
    assert_eq!(deal["round"], 1);
    drop(server);
    drop(db);
}

#[test]
fn two_instances_on_one_postgresql_close_once() {
    let (db, url) = TestDb::create();
    if !db.is_postgres() {
        eprintln!("two-instance test needs PostgreSQL (LANDX_TEST_DATABASE_URL); SQLite is single-instance by design");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let a = start(&url, work.path(), free_port());
    let b = start(&url, work.path(), free_port());
    let (listing, tokens) = prepare(&a.base, work.path(), &url, 6, 4, 6);
    wait_for_status(&b.base, &listing, &["auction"], 30);
    let bases = Arc::new(Mutex::new(vec![a.base.clone(), b.base.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let handles = bid_loop(bases, listing.clone(), tokens, stop.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while all_bid_amounts(&a.base, &listing).len() < 40 {
        assert!(Instant::now() < deadline, "bids did not flow");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, i64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let l = wait_for_status(&a.base, &listing, &["awarded"], 60);
    let stored = all_bid_amounts(&b.base, &listing);
    assert_eq!(
        acked.len(),
        stored.len(),
        "every 201 has its row and nothing else was stored"
    );
    let mut sorted = stored.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        stored.len(),
        "no two accepted bids share a price (no members here)"
    );
    assert_eq!(l["current_price_fen"], *stored.iter().max().unwrap());
    // Exactly one close and one deal, whichever instance's worker did it.
    use diesel::prelude::*;
    let mut conn = diesel::PgConnection::establish(&url).unwrap();
    let deals: i64 = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM deals WHERE listing_id = '{listing}'"
    ))
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(deals, 1);
    let closes: i64 = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM audit_log WHERE entity_id = '{listing}' AND action = 'listing.auction_closed'"))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
    assert_eq!(closes, 1);
    // Each e-mail once: the relays of both instances never send one message twice.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: i64 =
            diesel::sql_query("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")
                .get_result::<Count>(&mut conn)
                .unwrap()
                .n;
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "mail never relayed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let total: i64 = diesel::sql_query("SELECT COUNT(*) AS n FROM outbox")
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
    let attempts: i64 =
        diesel::sql_query("SELECT COALESCE(SUM(attempts), 0)::BIGINT AS n FROM outbox")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n;
    let files = std::fs::read_dir(work.path().join("mail")).unwrap().count() as i64;
    assert_eq!(files, total, "one file per message");
    assert_eq!(attempts, total, "each message sent exactly once");
    drop((a, b));
    drop(conn);
    drop(db);
}

#[test]
fn sigterm_stops_gracefully_with_exit_0() {
    let (db, url) = TestDb::create();
    let work = tempfile::tempdir().unwrap();
    let mut server = start(&url, work.path(), free_port());
    let (s, _) = call(&server.base, "GET", "/healthz", None, None);
    assert_eq!(s, 200);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "landx did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    // It stopped accepting connections.
    let (s, _) = call(&server.base, "GET", "/healthz", None, None);
    assert_eq!(s, 0);
    drop(server);
    drop(db);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
