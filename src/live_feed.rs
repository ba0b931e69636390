//! The live feed's fan-out on one instance (`GET /api/v1/listings/{id}/events`): one poller
//! per watched listing reads the database every [`POLL_EVERY`] and hands what it found to every
//! watcher of that listing on this instance through broadcast channels (a group of watchers
//! each, served one after the other), so the database sees one read per listing and tick
//! however many watch it.
//!
//! Nothing here is the only copy of a fact: the poller reads the database (so bids placed
//! through any instance show up), and a watcher that can't follow the shared stream — a gap
//! in what it was handed, a buffer it fell behind — reads the database itself from its last
//! bid on. A poller starts with a listing's first watcher and stops [`LINGER_TICKS`] ticks
//! after its last one left.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::broadcast;

use crate::app::{trading, Ctx};
use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::DataKey;
use crate::db::models::{Bid, Listing};
use crate::db::{self, Pool};
use crate::metrics::Metrics;

/// How often a poller reads the database.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// A poller stops after this many ticks in a row without a watcher (a watcher reconnecting
/// at once finds it still running).
const LINGER_TICKS: u32 = 4;

/// Updates a watcher may fall behind before it reads the database itself.
const BUFFER: usize = 256;

/// Watchers per broadcast channel. A read is handed to one group of watchers at a time,
/// spread over [`SPREAD`]: waking a thousand watchers at once would queue a thousand socket
/// writes ahead of whatever the workers (and the database's processes, on the same cores) do
/// next, such as a bid; a group's share is a fraction of a millisecond, followed by a pause.
const GROUP: usize = 32;

/// The groups' shares of one read are spread over this long (at most [`MAX_PACE`] apart): the
/// last group hears of a read at most this much after the first.
const SPREAD: Duration = Duration::from_millis(250);

/// The longest pause between two groups' shares (few groups: no need to wait long).
const MAX_PACE: Duration = Duration::from_millis(20);

/// The pause between two groups' shares of a read when there are `groups` groups.
fn pace(groups: usize) -> Duration {
    (SPREAD / groups.max(1) as u32).min(MAX_PACE)
}

/// What one read of a poller found.
#[derive(Debug)]
pub struct Tick {
    /// The bids after the poller's previous read, oldest first, consecutive.
    pub bids: Vec<Bid>,
    /// The poller has handed out every bid up to this one (the last of `bids`, or where it
    /// stood before).
    pub through_seq: i64,
    /// The listing, settled, as read just before the bids.
    pub listing: Option<Listing>,
    /// What a watcher sends for all of `bids`, written once by the first watcher that sends
    /// them all and reused by the others (a bid's event depends only on the bids before it),
    /// with the auction's end before the first of them it was written from.
    pub rendered: OnceLock<(Option<NaiveDateTime>, String)>,
}

impl Tick {
    /// What a watcher that has sent every bid up to `last_seq` takes from this read: the bids
    /// to send next (those after `last_seq`, as long as they follow on from it), and whether
    /// it then has everything the read covers. If not (it joined the stream after bids went
    /// by), it reads the database from its last bid on.
    pub fn after(&self, last_seq: i64) -> (&[Bid], bool) {
        let start = self.bids.partition_point(|b| b.seq <= last_seq);
        let mut end = start;
        while end < self.bids.len() && self.bids[end].seq == last_seq + 1 + (end - start) as i64 {
            end += 1;
        }
        let sent = self.bids[start..end].last().map_or(last_seq, |b| b.seq);
        (&self.bids[start..end], sent >= self.through_seq)
    }
}

/// What a poller hands to the watchers of its listing.
#[derive(Debug, Clone)]
pub enum Update {
    /// A read that found new bids or a new state of the listing (or the poller's first).
    Polled(Arc<Tick>),
    /// The read failed; the poller tries again at its next tick.
    Unavailable,
}

/// A watcher's place on its listing's poller.
pub struct Subscription {
    pub updates: broadcast::Receiver<Update>,
    /// The last read the poller handed out before this subscription (`None`: the poller is
    /// new, its first read comes through `updates`). What it covers may already have been
    /// missed: the watcher compares it with what it has.
    pub latest: Option<Arc<Tick>>,
    metrics: Arc<Metrics>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.metrics.feed_watchers_add(-1);
    }
}

/// One listing's channels (one per group of [`GROUP`] watchers) and the poller feeding them.
struct Channel {
    groups: Vec<broadcast::Sender<Update>>,
    latest: Option<Arc<Tick>>,
    /// Which poller feeds it (a stopped poller never touches its successor's channel).
    poller: u64,
}

/// The pollers and channels of one instance.
pub struct Hub {
    pool: Pool,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    data_key: DataKey,
    metrics: Arc<Metrics>,
    channels: Mutex<HashMap<String, Channel>>,
    next_poller: AtomicU64,
}

impl Hub {
    pub fn new(
        pool: Pool,
        clock: Arc<dyn Clock>,
        settings: Arc<Settings>,
        data_key: DataKey,
        metrics: Arc<Metrics>,
    ) -> Hub {
        Hub {
            pool,
            clock,
            settings,
            data_key,
            metrics,
            channels: Mutex::default(),
            next_poller: AtomicU64::new(0),
        }
    }

    fn channels(&self) -> MutexGuard<'_, HashMap<String, Channel>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows `listing_id`'s poller, starting one (on the current actix runtime) if none runs.
    /// The caller has checked that the watcher may see the listing.
    pub fn subscribe(self: &Arc<Self>, listing_id: &str) -> Subscription {
        let mut channels = self.channels();
        let channel = channels.entry(listing_id.to_string()).or_insert_with(|| {
            let poller = self.next_poller.fetch_add(1, Ordering::Relaxed);
            let guard = PollerGuard::new(self.clone(), listing_id.to_string(), poller);
            actix_web::rt::spawn(poll(guard));
            Channel {
                groups: Vec::new(),
                latest: None,
                poller,
            }
        });
        let updates = match channel.groups.iter().find(|g| g.receiver_count() < GROUP) {
            Some(group) => group.subscribe(),
            None => {
                let group = broadcast::channel(BUFFER).0;
                let updates = group.subscribe();
                channel.groups.push(group);
                updates
            }
        };
        self.metrics.feed_watchers_add(1);
        Subscription {
            updates,
            latest: channel.latest.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Hands `update` to the watchers of the listing, if `poller` still feeds its channel: to
    /// one group at a time, [`pace`] apart.
    async fn publish(&self, listing_id: &str, poller: u64, update: Update) {
        let groups = {
            let mut channels = self.channels();
            let Some(channel) = channels.get_mut(listing_id).filter(|c| c.poller == poller) else {
                return;
            };
            if let Update::Polled(tick) = &update {
                channel.latest = Some(tick.clone());
            }
            channel.groups.clone()
        };
        let pause = pace(groups.len());
        for (i, group) in groups.iter().enumerate() {
            if i > 0 {
                actix_web::rt::time::sleep(pause).await;
            }
            // Fails only without receivers: nobody to tell.
            let _ = group.send(update.clone());
        }
    }

    /// Whether `poller` should stop: its channel is gone, or it has had no watcher for
    /// [`LINGER_TICKS`] ticks (`unwatched` counts them). Removes the channel when it stops, under
    /// the same lock a new watcher subscribes with, so no watcher is left on a stopped poller.
    fn should_stop(&self, listing_id: &str, poller: u64, unwatched: &mut u32) -> bool {
        let mut channels = self.channels();
        let Some(channel) = channels.get(listing_id).filter(|c| c.poller == poller) else {
            return true;
        };
        if channel.groups.iter().any(|g| g.receiver_count() > 0) {
            *unwatched = 0;
            return false;
        }
        *unwatched += 1;
        if *unwatched < LINGER_TICKS {
            return false;
        }
        channels.remove(listing_id);
        true
    }

    /// The use-case context of a poll: the platform itself, the clock read now.
    fn ctx(&self) -> Ctx {
        Ctx::new(
            None,
            self.clock.clone(),
            self.settings.clone(),
            self.data_key.clone(),
        )
    }
}

/// A running poller, counted in `landx_feed_pollers`. However the poller ends (stopped, or
/// dropped with its runtime), its channel goes too, so its watchers see the channel closed
/// and subscribe again.
struct PollerGuard {
    hub: Arc<Hub>,
    listing_id: String,
    poller: u64,
}

impl PollerGuard {
    fn new(hub: Arc<Hub>, listing_id: String, poller: u64) -> PollerGuard {
        hub.metrics.feed_pollers_add(1);
        PollerGuard {
            hub,
            listing_id,
            poller,
        }
    }
}

impl Drop for PollerGuard {
    fn drop(&mut self) {
        let mut channels = self.hub.channels();
        if channels
            .get(&self.listing_id)
            .is_some_and(|c| c.poller == self.poller)
        {
            channels.remove(&self.listing_id);
        }
        drop(channels);
        self.hub.metrics.feed_pollers_add(-1);
    }
}

/// The poller of one listing: reads the bids after the last one it handed out (starting after
/// the listing's last bid) and the listing, every [`POLL_EVERY`] (at once again after a full
/// page), and hands out each read that found something new (spread over [`SPREAD`], within the
/// tick).
async fn poll(guard: PollerGuard) {
    let (hub, listing_id, poller) = (&guard.hub, &guard.listing_id, guard.poller);
    let mut through: Option<i64> = None;
    let mut status = None;
    let mut unwatched = 0;
    loop {
        if hub.should_stop(listing_id, poller, &mut unwatched) {
            return;
        }
        // Ticks [`POLL_EVERY`] apart from start to start, however long handing out a read took.
        let next_tick = actix_web::rt::time::Instant::now() + POLL_EVERY;
        let ctx = hub.ctx();
        let lid = listing_id.clone();
        let polled = db::run(&hub.pool, move |conn| {
            trading::poll_shared_feed(&ctx, conn, &lid, through)
        })
        .await;
        hub.metrics.feed_polled();
        let mut more = false;
        match polled {
            Ok(read) => {
                more = read.bids.len() as i64 >= trading::FEED_PAGE;
                let through_seq = read.bids.last().map_or(read.after_seq, |b| b.seq);
                let new_status = read.listing.as_ref().map(|l| l.status);
                if through.is_none() || !read.bids.is_empty() || new_status != status {
                    let tick = Tick {
                        bids: read.bids,
                        through_seq,
                        listing: read.listing,
                        rendered: OnceLock::new(),
                    };
                    hub.publish(listing_id, poller, Update::Polled(Arc::new(tick)))
                        .await;
                }
                through = Some(through_seq);
                status = new_status;
            }
            Err(e) => {
                tracing::warn!(listing_id = %listing_id, error = %e, "live feed poll failed");
                hub.publish(listing_id, poller, Update::Unavailable).await;
            }
        }
        if !more {
            actix_web::rt::time::sleep_until(next_tick).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(seqs: &[i64], through_seq: i64) -> Tick {
        let bids = seqs
            .iter()
            .map(|&seq| Bid {
                id: format!("b{seq}"),
                listing_id: "l".into(),
                registration_id: "r".into(),
                seq,
                bidder_no: 1,
                amount_fen: 1_000 * seq,
                priority: false,
                placed_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
                extended_to: None,
            })
            .collect();
        Tick {
            bids,
            through_seq,
            listing: None,
            rendered: OnceLock::new(),
        }
    }

    fn seqs(t: &Tick, last_seq: i64) -> (Vec<i64>, bool) {
        let (bids, complete) = t.after(last_seq);
        (bids.iter().map(|b| b.seq).collect(), complete)
    }

    #[test]
    fn a_watcher_takes_each_bid_once_and_reads_the_database_for_a_gap() {
        // Following on: everything.
        assert_eq!(seqs(&tick(&[4, 5, 6], 6), 3), (vec![4, 5, 6], true));
        // Some already sent (read from the database on connect): the rest, once.
        assert_eq!(seqs(&tick(&[4, 5, 6], 6), 5), (vec![6], true));
        assert_eq!(seqs(&tick(&[4, 5, 6], 6), 6), (vec![], true));
        // Ahead of the poller (a Last-Event-ID beyond it): nothing, nothing missing.
        assert_eq!(seqs(&tick(&[4, 5, 6], 6), 9), (vec![], true));
        // Bids went by before it joined: none of these, the database first.
        assert_eq!(seqs(&tick(&[4, 5, 6], 6), 2), (vec![], false));
        // A read without bids that covers bids this watcher never saw.
        assert_eq!(seqs(&tick(&[], 6), 4), (vec![], false));
        assert_eq!(seqs(&tick(&[], 6), 6), (vec![], true));
        // A hole inside a read (never made by a poller): up to it, then the database.
        assert_eq!(seqs(&tick(&[4, 5, 7], 7), 3), (vec![4, 5], false));
    }
}
