//! Real processes: the `landx` binary (its command line, or `landx serve` under faults) and
//! re-running one test of this binary alone.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::harness::{resident_id, Client, TestApp};
use super::http::{created, expect, rfc};
use super::listings::{listing_body, parcel_body};
use super::world::{township, user, village};

/// Runs `landx <args>` against the app's database, in an empty directory.
pub fn landx_cli(app: &TestApp, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_landx"))
        .args(args)
        .env("LANDX_DATABASE__URL", &app.settings.database.url)
        .env("LANDX_ENV", "test")
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx")
}

/// Runs `landx <args>` in an empty directory with only these `LANDX_*` variables (the
/// database a SQLite file there unless `env` names one); what it printed and its exit code.
pub fn landx_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_landx"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LANDX_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .env(
            "LANDX_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("landx.db").display()),
        )
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const SERVER_SECRET: &str = "resilience-secret-resilience-secret-0123456789";

fn server_env(db_url: &str, work: &Path, port: u16) -> Vec<(String, String)> {
    vec![
        ("LANDX_ENV".into(), "test".into()),
        ("LANDX_DATABASE__URL".into(), db_url.into()),
        ("LANDX_SERVER__PORT".into(), port.to_string()),
        ("LANDX_SERVER__WORKERS".into(), "2".into()),
        ("LANDX_AUTH__JWT_SECRET".into(), SERVER_SECRET.into()),
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

/// A `landx serve` process; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub client: Client,
}

impl Server {
    /// Starts `landx serve` on `port` and waits (polling `/readyz`, up to a minute) until
    /// it answers.
    pub fn start(db_url: &str, work: &Path, port: u16) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_landx"))
            .arg("serve")
            .current_dir(work)
            .envs(server_env(db_url, work, port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start landx");
        let client = Client::new(format!("http://127.0.0.1:{port}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if client
                .try_call_raw("GET", "/readyz", None, None, &[])
                .is_ok_and(|r| r.status == 200)
            {
                return Server { child, client };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("landx exited before becoming ready: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("landx did not become ready on port {port}");
    }

    /// Kills the process without warning (SIGKILL) and reaps it.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An announced listing on a `landx` process with eligible bidders, see [`live_auction`].
pub struct LiveAuction {
    pub id: String,
    /// Access tokens of the eligible investors.
    pub bidders: Vec<String>,
    pub closes: DateTime<Utc>,
}

/// Sets up, over HTTP against a `landx serve` process on the database `db_url` (wall
/// clock):
/// 1. first everything slow (password hashing): an admin made with `landx admin create`,
///    漕泾镇 with 护塘村, its collective and staff, `bidders` investors, all logged in;
/// 2. then, starting the clock only now, a listing whose registration closes `window` from
///    now and whose auction runs `auction` after that (anti-sniping `extension`),
///    submitted, approved, and every investor registered, qualified and paid.
///
/// Step 2 takes a few dozen quick requests; it must finish well inside `window`, and the
/// helper fails loudly (not with a confusing 409 later) if it didn't.
pub fn live_auction(
    c: &Client,
    db_url: &str,
    work: &Path,
    bidders: usize,
    window: chrono::Duration,
    auction: chrono::Duration,
    extension: chrono::Duration,
) -> LiveAuction {
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
        .envs(server_env(db_url, work, 1))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let admin = c.login("ops@landx.test", "ops-password-1");
    let cj = township(c, &admin, "CJ", "漕泾镇");
    let ht = village(c, &admin, &cj, "HT", "护塘村");
    let coll = user(
        c,
        &admin,
        "ht@landx.test",
        "护塘村股份经济合作社",
        "collective",
        json!({"village_id": ht}),
    );
    let staff = user(
        c,
        &admin,
        "cj@landx.test",
        "漕泾镇农经站",
        "staff",
        json!({"township_id": cj}),
    );
    let investors: Vec<_> = (0..bidders)
        .map(|i| {
            user(
                c,
                &admin,
                &format!("farm{i}@landx.test"),
                &format!("家庭农场{i}"),
                "investor",
                json!({}),
            )
        })
        .collect();
    let mut parcel = parcel_body("JS-CJ-0001-001", "50.00", "漕泾镇护塘村3组");
    parcel["household_contract_end"] = json!("2057-12-31");
    let parcel = created(&c.post("/api/v1/parcels", coll.t(), parcel), "parcel");

    // The timed part.
    let started = Utc::now();
    let closes = started + window;
    let ends = closes + auction;
    let mut body = listing_body("护塘村2027年第一批土地经营权流转", &[&parcel]);
    for (k, v) in [
        (
            "term_start",
            json!((ends + chrono::Duration::days(1)).date_naive().to_string()),
        ),
        ("term_end", json!("2036-12-31")),
        ("deposit_fen", json!(100_000)),
        ("registration_closes_at", json!(rfc(closes))),
        ("auction_starts_at", json!(rfc(closes))),
        ("auction_ends_at", json!(rfc(ends))),
        ("extension_secs", json!(extension.num_seconds())),
    ] {
        body[k] = v;
    }
    body["consent"]["resolution_date"] = json!((started - chrono::Duration::days(3))
        .date_naive()
        .to_string());
    let id = created(&c.post("/api/v1/listings", coll.t(), body), "listing");
    super::documents::attach_listing_documents(c, &coll, &id);
    expect(
        c.post(
            &format!("/api/v1/listings/{id}/submit"),
            coll.t(),
            json!({}),
        ),
        200,
        "submit",
    );
    expect(
        c.post(
            &format!("/api/v1/listings/{id}/approve"),
            staff.t(),
            json!({}),
        ),
        200,
        "approve",
    );
    for (i, inv) in investors.iter().enumerate() {
        let reg = created(
            &c.post(
                &format!("/api/v1/listings/{id}/registrations"),
                inv.t(),
                json!({
                    "legal_name": format!("张{i}"), "id_type": "resident_id",
                    "id_number": resident_id(i as u32), "phone": "13800138000",
                    "experience": "十年水稻种植", "business_plan": "优质稻米",
                    "claims_membership": false
                }),
            ),
            "registration",
        );
        expect(
            c.post(
                &format!("/api/v1/registrations/{reg}/qualify"),
                staff.t(),
                json!({}),
            ),
            200,
            "qualify",
        );
        expect(
            c.post(
                &format!("/api/v1/registrations/{reg}/deposit"),
                staff.t(),
                json!({"amount_fen": 100_000, "receipt_ref": format!("BANK-{i}")}),
            ),
            200,
            "deposit",
        );
    }
    let took = Utc::now() - started;
    assert!(
        took < window,
        "the timed part of the setup took {took}, longer than the {window} registration \
         window: raise the window"
    );
    LiveAuction {
        id,
        bidders: investors.into_iter().map(|u| u.token).collect(),
        closes,
    }
}

/// Polls a listing (public read, every 100 ms) until its status is one of `want`; fails
/// after `within`.
pub fn wait_for_status(
    c: &Client,
    listing: &str,
    want: &[&str],
    within: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let r = c.try_call_raw(
            "GET",
            &format!("/api/v1/listings/{listing}"),
            None,
            None,
            &[],
        );
        if let Ok(r) = &r {
            if r.status == 200 && want.contains(&r.body["status"].as_str().unwrap_or_default()) {
                return r.body.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "listing never reached {want:?} within {within:?}: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every bid amount of a listing through the API (all pages).
pub fn bid_amounts(c: &Client, listing: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = expect(
            c.get(
                &format!("/api/v1/listings/{listing}/bids?limit=200{cursor}"),
                None,
            ),
            200,
            "bids",
        );
        out.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["amount_fen"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// Re-runs the test `name` (its path in this binary, e.g. `accounts::x`) alone in a new
/// process of this test binary and asserts that it ran and passed; in that process runs
/// `body`. For checks of process-wide state (counters) that parallel tests would disturb.
pub fn in_own_process(name: &str, body: impl FnOnce()) {
    const VAR: &str = "LANDX_TEST_IN_OWN_PROCESS";
    if std::env::var(VAR).as_deref() == Ok(name) {
        body();
        return;
    }
    let out = Command::new(std::env::current_exe().expect("this test binary"))
        .args([name, "--exact", "--test-threads=1", "--include-ignored"])
        .env(VAR, name)
        .output()
        .expect("re-run this test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in its own process:\n{stdout}\n{stderr}"
    );
}
