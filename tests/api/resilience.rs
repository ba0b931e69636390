//! The real binary under faults: kill -9 while bids flow (SQLite and PostgreSQL), two
//! instances sharing one PostgreSQL, SIGTERM. These run on the wall clock, so every window
//! is generous for a loaded 2-core machine: the slow setup (password hashing) happens before
//! the registration window starts, that window is 15 s for a few dozen quick requests, and
//! the auction ends only 30 s after the last bid (anti-sniping), so a restart can't miss it.
//! Waits poll for states with deadlines; they assert outcomes, never durations.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::db::{self, lit};
use crate::support::harness::TestDb;
use crate::support::internals::pool_for;
use crate::support::process::{
    bid_amounts, free_port, live_auction, wait_for_status, LiveAuction, Server,
};
use crate::support::Client;

/// Registration closes this long after the timed part of the setup starts.
const WINDOW: chrono::Duration = chrono::Duration::seconds(15);
/// The auction's own length and its anti-sniping extension: every bid moves the end to 30 s
/// after it, so the auction runs while bids keep coming and ends 30 s after the last one.
const EXTENSION: chrono::Duration = chrono::Duration::seconds(30);

/// How long a state may take on a loaded machine before the test gives up.
fn patience() -> Duration {
    Duration::from_secs(60)
}

fn until_auction_closed() -> Duration {
    EXTENSION.to_std().unwrap() + patience()
}

fn until_auction_opens(a: &LiveAuction) -> Duration {
    (a.closes - chrono::Utc::now()).to_std().unwrap_or_default() + patience()
}

/// Bidders outbid each other on `clients` (round-robin) until told to stop; each returns
/// its acknowledged (201) bids as (id, amount).
fn bid_loop(
    clients: Arc<Mutex<Vec<Client>>>,
    listing: &str,
    tokens: Vec<String>,
    stop: Arc<AtomicBool>,
) -> Vec<JoinHandle<Vec<(String, i64)>>> {
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (clients, listing, stop) = (clients.clone(), listing.to_string(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let c = {
                        let cs = clients.lock().unwrap();
                        cs[(i + n) % cs.len()].clone()
                    };
                    // The server may be down on purpose: a transport error is no answer.
                    let Ok(l) = c.try_call_raw(
                        "GET",
                        &format!("/api/v1/listings/{listing}"),
                        None,
                        None,
                        &[],
                    ) else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    if l.status != 200 || l.body["status"] != "auction" {
                        if l.body["status"] == "awarded" || l.body["status"] == "failed" {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    let amount = l.body["current_price_fen"]
                        .as_i64()
                        .map(|p| p + 1000)
                        .unwrap_or(120_000);
                    let r = c.try_call_raw(
                        "POST",
                        &format!("/api/v1/listings/{listing}/bids"),
                        Some(&t),
                        Some(json!({"amount_fen": amount}).to_string()),
                        &[],
                    );
                    // No answer at all (the server was killed mid-request) acknowledges nothing.
                    if let Ok(r) = r {
                        match r.status {
                            201 => acked.push((r.id(), amount)),
                            409 | 422 | 503 => {}
                            other => panic!("unexpected {other}: {}", r.text),
                        }
                    }
                    // Pacing, not synchronisation.
                    std::thread::sleep(Duration::from_millis(20));
                }
                acked
            })
        })
        .collect()
}

/// Polls until the listing has at least `n` bids.
fn wait_for_bids(c: &Client, listing: &str, n: usize, what: &str) {
    let deadline = Instant::now() + patience();
    while bid_amounts(c, listing).len() < n {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kill_9_while_bids_flow_loses_no_acknowledged_bid() {
    let (db, url) = TestDb::create();
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(&url, work.path(), port);
    let a = live_auction(
        &server.client,
        &url,
        work.path(),
        4,
        WINDOW,
        EXTENSION,
        EXTENSION,
    );
    wait_for_status(&server.client, &a.id, &["auction"], until_auction_opens(&a));
    let clients = Arc::new(Mutex::new(vec![server.client.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let handles = bid_loop(clients, &a.id, a.bidders.clone(), stop.clone());
    // Let some bids land, then kill the server without warning.
    wait_for_bids(&server.client, &a.id, 5, "no bids flowed");
    server.kill_9();
    let stored_at_kill = {
        let pool = pool_for(&url);
        db::count(&pool, "bids", &format!("listing_id = {}", lit(&a.id))) as usize
    };
    let server = Server::start(&url, work.path(), port);
    // Bids flow again through the new process; then the bidders stop (anti-sniping would
    // otherwise extend the auction for as long as they bid).
    wait_for_bids(
        &server.client,
        &a.id,
        stored_at_kill + 3,
        "bids did not resume after the restart",
    );
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, i64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    // The auction still closes by itself (the worker of the new process), exactly once.
    let l = wait_for_status(&server.client, &a.id, &["awarded"], until_auction_closed());
    assert!(!acked.is_empty());
    let stored = bid_amounts(&server.client, &a.id);
    for (_, amount) in &acked {
        assert!(
            stored.contains(amount),
            "acknowledged bid {amount} lost; stored {stored:?}"
        );
    }
    let max = *stored.iter().max().unwrap();
    assert_eq!(l["current_price_fen"], max);
    let deal = server
        .client
        .get(&format!("/api/v1/listings/{}/deal", a.id), None);
    assert_eq!(deal.status, 200, "{}", deal.text);
    assert_eq!(deal.body["price_fen"], max);
    assert_eq!(deal.body["round"], 1);
    drop(server);
    drop(db);
}

#[test]
#[cfg_attr(
    not(landx_pg),
    ignore = "PostgreSQL only (SQLite is single-instance by design): set LANDX_TEST_DATABASE_URL=postgres://…"
)]
fn two_instances_on_one_postgresql_close_once() {
    let (db, url) = TestDb::create();
    assert!(
        db.is_postgres(),
        "a PostgreSQL-only test ran without LANDX_TEST_DATABASE_URL=postgres://…"
    );
    let work = tempfile::tempdir().unwrap();
    let a_srv = Server::start(&url, work.path(), free_port());
    let b_srv = Server::start(&url, work.path(), free_port());
    let a = live_auction(
        &a_srv.client,
        &url,
        work.path(),
        6,
        WINDOW,
        EXTENSION,
        EXTENSION,
    );
    wait_for_status(&b_srv.client, &a.id, &["auction"], until_auction_opens(&a));
    let clients = Arc::new(Mutex::new(vec![a_srv.client.clone(), b_srv.client.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let handles = bid_loop(clients, &a.id, a.bidders.clone(), stop.clone());
    wait_for_bids(&a_srv.client, &a.id, 40, "bids did not flow");
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, i64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let l = wait_for_status(&a_srv.client, &a.id, &["awarded"], until_auction_closed());
    let stored = bid_amounts(&b_srv.client, &a.id);
    assert_eq!(
        acked.len(),
        stored.len(),
        "every 201 has its row and nothing else was stored"
    );
    let mut distinct = stored.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        stored.len(),
        "no two accepted bids share a price (no members here)"
    );
    assert_eq!(l["current_price_fen"], *stored.iter().max().unwrap());
    // Exactly one close and one deal, whichever instance's worker did it.
    let pool = pool_for(&url);
    let of_listing = format!("listing_id = {}", lit(&a.id));
    assert_eq!(db::count(&pool, "deals", &of_listing), 1);
    assert_eq!(
        db::count(
            &pool,
            "audit_log",
            &format!(
                "entity_id = {} AND action = 'listing.auction_closed'",
                lit(&a.id)
            )
        ),
        1
    );
    // Each e-mail once: the relays of both instances never send one message twice.
    let deadline = Instant::now() + patience();
    while db::count(&pool, "outbox", "sent_at IS NULL") > 0 {
        assert!(Instant::now() < deadline, "mail never relayed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let total = db::count(&pool, "outbox", "1 = 1");
    let attempts = db::scalar(
        &pool,
        "SELECT COALESCE(SUM(attempts), 0)::BIGINT AS n FROM outbox",
    );
    let files = std::fs::read_dir(work.path().join("mail")).unwrap().count() as i64;
    assert_eq!(files, total, "one file per message");
    assert_eq!(attempts, total, "each message sent exactly once");
    drop((a_srv, b_srv));
    drop(pool);
    drop(db);
}

#[test]
fn sigterm_stops_gracefully_with_exit_0() {
    let (db, url) = TestDb::create();
    let work = tempfile::tempdir().unwrap();
    let mut server = Server::start(&url, work.path(), free_port());
    assert_eq!(server.client.get("/healthz", None).status, 200);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + patience();
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
    assert!(server
        .client
        .try_call_raw("GET", "/healthz", None, None, &[])
        .is_err());
    drop(server);
    drop(db);
}
