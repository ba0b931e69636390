//! The live feed's fan-out (issue 14, "Live feed that scales"): one database poller per
//! watched listing and instance, however many watch it; every watcher gets every bid once and
//! in order, a reconnecting one (`Last-Event-ID`) exactly what it missed; the poller stops
//! when the last watcher leaves. Black-box, through `/events` and `/metrics`.

use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;

use crate::support::feed::{next_event, next_main_event, open_feed};
use crate::support::trading::*;
use crate::support::*;

/// Watchers of the crowded auction.
/// More than four of the fan-out's groups of 32 watchers (the fifth one partly filled).
const WATCHERS: usize = 150;

/// The trading settings, with room for every watcher (they all connect from 127.0.0.1).
fn start() -> TestApp {
    TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 90;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.server.feeds_per_client = 2 * WATCHERS;
    })
}

/// The next `n` events of a feed, each a `bid`: (event id, amount).
fn read_bids(feed: &mut dyn BufRead, n: usize) -> Vec<(i64, i64)> {
    (0..n)
        .map(|_| {
            let e = next_main_event(feed).expect("bid event");
            assert_eq!(e.event, "bid", "{}", e.data);
            let id = e.id.expect("bid id").parse().expect("numeric id");
            (id, e.data["amount_fen"].as_i64().expect("amount"))
        })
        .collect()
}

/// Bids `from..=to` of an auction whose n-th bid is `RESERVE + (n - 1) × INCREMENT`.
fn bids_in_order(from: i64, to: i64) -> Vec<(i64, i64)> {
    (from..=to)
        .map(|n| (n, RESERVE + (n - 1) * INCREMENT))
        .collect()
}

/// Places bids `from..=to`, the two bidders taking turns.
fn place(app: &TestApp, a: &Auction, pair: [&Bidder; 2], from: i64, to: i64) {
    for n in from..=to {
        bid_ok(
            app,
            pair[(n % 2) as usize],
            a,
            RESERVE + (n - 1) * INCREMENT,
        );
    }
}

fn read_metric(text: &str, series: &str) -> i64 {
    metric(text, series).unwrap_or_else(|| panic!("{series} in /metrics:\n{text}"))
}

/// Waits (a minute at most) until `series` reads `value` on `/metrics`.
fn wait_for_metric(app: &TestApp, series: &str, value: i64) {
    let deadline = Instant::now() + StdDuration::from_secs(60);
    loop {
        let text = app.scrape();
        if metric(&text, series) == Some(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{series} never {value}:\n{text}");
        std::thread::sleep(StdDuration::from_millis(100));
    }
}

/// 150 watchers of one auction (five groups of the fan-out) while bids are placed: each gets every bid once, in
/// acceptance order; the database is read by one poller (a read per 500 ms tick, not one per
/// watcher and tick), no watcher reads it after connecting, and no request waits for the pool.
#[test]
fn one_poller_serves_every_watcher_each_bid_once_in_order() {
    const BIDS: i64 = 30;
    let app = start();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    app.set_now(a.starts);
    assert_eq!(read_metric(&app.scrape(), "landx_feed_pollers"), 0);

    let (ready, connected) = mpsc::channel();
    std::thread::scope(|s| {
        let watchers: Vec<_> = (0..WATCHERS)
            .map(|_| {
                let (app, a, ready) = (&app, &a, ready.clone());
                s.spawn(move || {
                    let mut feed = open_feed(app, a, None);
                    ready.send(()).unwrap();
                    read_bids(&mut *feed, BIDS as usize)
                })
            })
            .collect();
        for _ in 0..WATCHERS {
            connected
                .recv_timeout(StdDuration::from_secs(60))
                .expect("every watcher connects");
        }
        let before = app.scrape();
        assert_eq!(read_metric(&before, "landx_feed_pollers"), 1, "{before}");
        assert_eq!(read_metric(&before, "landx_feed_watchers"), WATCHERS as i64);
        // Each watcher read the database once, on connect.
        assert_eq!(
            read_metric(&before, "landx_feed_catch_ups_total"),
            WATCHERS as i64
        );

        let started = Instant::now();
        for n in 1..=BIDS {
            place(&app, &a, [&zhang, &li], n, n);
            if n % 5 == 0 {
                let text = app.scrape();
                assert_eq!(read_metric(&text, "landx_db_pool_waiting"), 0, "{text}");
            }
        }
        for watcher in watchers {
            assert_eq!(watcher.join().unwrap(), bids_in_order(1, BIDS));
        }
        let elapsed = started.elapsed();

        let after = app.scrape();
        let polls = read_metric(&after, "landx_feed_polls_total")
            - read_metric(&before, "landx_feed_polls_total");
        // A poller sleeps 500 ms between reads (bids never fill a page here): at most one
        // read per tick of the time the bids took, plus the one under way at the start.
        let ticks = (elapsed.as_millis() / 500) as i64;
        assert!(
            (1..=ticks + 2).contains(&polls),
            "{polls} polls in {elapsed:?} for {WATCHERS} watchers"
        );
        assert_eq!(
            read_metric(&after, "landx_feed_catch_ups_total"),
            WATCHERS as i64,
            "no watcher read the database after connecting"
        );
        assert_eq!(read_metric(&after, "landx_db_pool_waiting"), 0);
        assert_eq!(read_metric(&after, "landx_feed_pollers"), 1);
    });
}

/// A watcher that drops out mid-auction and comes back with `Last-Event-ID` gets exactly the
/// bids it missed, then the live ones and the close, each once; so does a watcher on another
/// instance (sharing the database), which runs its own poller.
#[test]
fn a_watcher_back_with_last_event_id_gets_exactly_the_missed_bids_then_the_rest() {
    let app = start();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    let pair = [&zhang, &li];
    app.set_now(a.starts);

    // One watcher stays throughout: the listing's poller keeps running.
    let mut stays = open_feed(&app, &a, None);
    let mut leaves = open_feed(&app, &a, None);
    place(&app, &a, pair, 1, 3);
    assert_eq!(read_bids(&mut *leaves, 3), bids_in_order(1, 3));
    drop(leaves);
    place(&app, &a, pair, 4, 6);
    // The poller has handed bids 4–6 out before the watcher is back.
    assert_eq!(read_bids(&mut *stays, 6), bids_in_order(1, 6));

    let mut back = open_feed(&app, &a, Some("3"));
    let twin = app.second_instance();
    let mut elsewhere = open_feed(&twin, &a, Some("5"));
    place(&app, &a, pair, 7, 8);
    assert_eq!(read_bids(&mut *back, 5), bids_in_order(4, 8));
    assert_eq!(read_bids(&mut *elsewhere, 3), bids_in_order(6, 8));
    assert_eq!(read_bids(&mut *stays, 2), bids_in_order(7, 8));

    // The auction ends (each instance's clock): the close, then the end of every feed.
    for instance in [&app, &twin] {
        instance.set_now(a.ends + Duration::seconds(1));
    }
    for feed in [&mut back, &mut elsewhere, &mut stays] {
        let e = next_main_event(&mut **feed).expect("closed event");
        assert_eq!(e.event, "closed", "{}", e.data);
        assert_eq!(e.id.as_deref(), Some("8"));
        assert_eq!(e.data["winning_price_fen"], RESERVE + 7 * INCREMENT);
        assert!(
            next_event(&mut **feed).is_none(),
            "the feed ends after the close"
        );
    }
    assert_eq!(view(&app, &a)["status"], "awarded");
}

/// A poller per watched listing, running while someone watches it and stopped once the last
/// watcher has left; the next watcher starts a new one, and sees what happened in between.
#[test]
fn a_listings_poller_stops_after_its_last_watcher_leaves() {
    let app = start();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    // Announced, its auction a month later: a listing open to watch, without bids.
    let [closes, starts, ends] = schedule(&app).map(|t| t + Duration::days(30));
    let other = listing_at(&app, &w, w.cj(), "30.00", RESERVE, [closes, starts, ends]);
    let zhang = enrol(&app, &w, &a, Plan::person("张伟"));
    let li = enrol(&app, &w, &a, Plan::person("李娜"));
    app.set_now(a.starts);

    let watchers: Vec<_> = (0..3).map(|_| open_feed(&app, &a, None)).collect();
    let watching_other = open_feed(&app, &other, None);
    let text = app.scrape();
    assert_eq!(read_metric(&text, "landx_feed_pollers"), 2, "{text}");
    assert_eq!(read_metric(&text, "landx_feed_watchers"), 4, "{text}");

    // The server notices a watcher gone at its next write at the latest (a keep-alive after
    // 15 s of silence); its poller stops a few ticks after its last watcher.
    drop(watchers);
    drop(watching_other);
    wait_for_metric(&app, "landx_feed_watchers", 0);
    wait_for_metric(&app, "landx_feed_pollers", 0);

    // Nobody watching: a bid; then a watcher, its poller, and the bid and the next one.
    place(&app, &a, [&zhang, &li], 1, 1);
    let mut feed = open_feed(&app, &a, None);
    assert_eq!(read_metric(&app.scrape(), "landx_feed_pollers"), 1);
    place(&app, &a, [&zhang, &li], 2, 2);
    assert_eq!(read_bids(&mut *feed, 2), bids_in_order(1, 2));
}
