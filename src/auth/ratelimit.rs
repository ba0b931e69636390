//! Throttling of the auth routes, in memory of this instance (it guards the instance against
//! bursts; it is not a fact of the business): per client (IPv6 per /64) in a sliding minute,
//! and failed logins per account and client with growing delays.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

pub struct IpLimiter {
    per_minute: u32,
    hits: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl IpLimiter {
    pub fn new(per_minute: u32) -> Self {
        IpLimiter {
            per_minute,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt; `Err(secs)` to wait when the window is full.
    pub fn check(&self, client: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let mut map = self.hits.lock().expect("limiter poisoned");
        if map.len() > 100_000 {
            let horizon = now - Duration::minutes(1);
            map.retain(|_, q| q.back().is_some_and(|t| *t > horizon));
        }
        let q = map.entry(client.to_string()).or_default();
        let horizon = now - Duration::minutes(1);
        while q.front().is_some_and(|t| *t <= horizon) {
            q.pop_front();
        }
        if q.len() as u32 >= self.per_minute {
            let oldest = *q.front().expect("non-empty");
            let wait = (oldest + Duration::minutes(1) - now).num_seconds().max(1);
            return Err(wait as u64);
        }
        q.push_back(now);
        Ok(())
    }
}

/// How long an account is throttled after `failures` consecutive failed logins: from the
/// `max`-th failure 1 minute, doubling, at most an hour.
pub fn lock_for(failures: i64, max: i64) -> Option<Duration> {
    (failures >= max).then(|| {
        let doublings = (failures - max).clamp(0, 6) as u32;
        Duration::minutes((1i64 << doublings).min(60))
    })
}

/// Consecutive failures of one (account, client) pair and the end of its current lock.
struct Failures {
    count: i64,
    locked_until: Option<DateTime<Utc>>,
    last: DateTime<Utc>,
    /// Insertion order, to evict the oldest entry when the map is full.
    seq: u64,
}

/// A failure count older than this starts again from zero (unless still locked).
const FORGET_AFTER_HOURS: i64 = 24;

/// The login throttle: failed attempts per account **and** client (see [`client_key`]), so a
/// stranger's guesses from elsewhere lock out the stranger's source, never the owner's own
/// client. Each attempt is counted *before* the password is verified, under one lock, so a
/// burst of parallel guesses can't slip past the limit. Addresses without an account are
/// throttled alike (the answers must not reveal which accounts exist). Keys are SHA-256
/// digests (fixed size whatever the input) and the map holds at most `capacity` entries, the
/// oldest evicted first.
pub struct LoginThrottle {
    capacity: usize,
    inner: Mutex<ThrottleMap>,
}

#[derive(Default)]
struct ThrottleMap {
    entries: HashMap<[u8; 32], Failures>,
    order: VecDeque<([u8; 32], u64)>,
    next_seq: u64,
}

fn throttle_key(subject: &str, client: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(subject.as_bytes());
    h.update([0u8]);
    h.update(client.as_bytes());
    h.finalize().into()
}

impl LoginThrottle {
    pub fn new(capacity: usize) -> Self {
        LoginThrottle {
            capacity: capacity.max(1),
            inner: Mutex::new(ThrottleMap::default()),
        }
    }

    /// Counts an attempt of `subject` (an account, or an address without one) from `client`
    /// before its password is checked; `Err(secs)` to wait while the pair is locked. The
    /// `max`-th consecutive attempt locks the pair (1 minute, doubling up to an hour); a
    /// correct password then clears it ([`LoginThrottle::succeeded`]).
    pub fn attempt(
        &self,
        subject: &str,
        client: &str,
        now: DateTime<Utc>,
        max: i64,
    ) -> Result<(), u64> {
        let key = throttle_key(subject, client);
        let mut m = self.inner.lock().expect("limiter poisoned");
        if let Some(f) = m.entries.get_mut(&key) {
            if let Some(until) = f.locked_until.filter(|u| *u > now) {
                return Err((until - now).num_seconds().max(1) as u64);
            }
            if now - f.last > Duration::hours(FORGET_AFTER_HOURS) {
                f.count = 0;
            }
            f.count += 1;
            f.last = now;
            f.locked_until = lock_for(f.count, max).map(|d| now + d);
            return Ok(());
        }
        while m.entries.len() >= self.capacity {
            let Some((old, seq)) = m.order.pop_front() else {
                break;
            };
            if m.entries.get(&old).is_some_and(|f| f.seq == seq) {
                m.entries.remove(&old);
            }
        }
        let seq = m.next_seq;
        m.next_seq += 1;
        m.order.push_back((key, seq));
        m.entries.insert(
            key,
            Failures {
                count: 1,
                locked_until: lock_for(1, max).map(|d| now + d),
                last: now,
                seq,
            },
        );
        // Keep the order queue from growing without bound through stale positions.
        if m.order.len() > 2 * self.capacity {
            let ThrottleMap { entries, order, .. } = &mut *m;
            order.retain(|(k, s)| entries.get(k).is_some_and(|f| f.seq == *s));
        }
        Ok(())
    }

    /// A correct password: the pair starts again from zero.
    pub fn succeeded(&self, subject: &str, client: &str) {
        let key = throttle_key(subject, client);
        self.inner
            .lock()
            .expect("limiter poisoned")
            .entries
            .remove(&key);
    }

    /// Entries held (for tests).
    pub fn len(&self) -> usize {
        self.inner.lock().expect("limiter poisoned").entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The key a client is throttled by: an IPv4 address as is, an IPv6 address by its /64
/// (one subscriber usually holds a whole /64), an IPv4-mapped IPv6 address as the IPv4 one.
pub fn client_key(client: &str) -> String {
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => client.chars().take(64).collect(),
    }
}

/// The client address: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[String]) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    let is_trusted = |ip: &str| trusted.iter().any(|t| t == ip);
    if !is_trusted(&peer.to_string()) {
        return peer.to_string();
    }
    if let Some(xff) = forwarded_for {
        for hop in xff.rsplit(',').map(str::trim) {
            if hop.parse::<IpAddr>().is_ok() && !is_trusted(hop) {
                return hop.to_string();
            }
        }
    }
    peer.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let l = IpLimiter::new(3);
        let t0 = Utc::now();
        for _ in 0..3 {
            assert!(l.check("a", t0).is_ok());
        }
        assert!(l.check("a", t0).is_err());
        assert!(l.check("b", t0).is_ok(), "other clients unaffected");
        assert!(l.check("a", t0 + Duration::seconds(61)).is_ok());
    }

    #[test]
    fn lock_durations_double_up_to_an_hour() {
        assert_eq!(lock_for(4, 5), None);
        assert_eq!(lock_for(5, 5), Some(Duration::minutes(1)));
        assert_eq!(lock_for(6, 5), Some(Duration::minutes(2)));
        assert_eq!(lock_for(50, 5), Some(Duration::minutes(60)));
    }

    #[test]
    fn attempts_are_counted_per_subject_and_client() {
        let t = LoginThrottle::new(100);
        let t0 = Utc::now();
        for _ in 0..5 {
            assert!(t.attempt("u1", "203.0.113.5", t0, 5).is_ok());
        }
        assert_eq!(t.attempt("u1", "203.0.113.5", t0, 5), Err(60));
        assert!(
            t.attempt("u1", "198.51.100.7", t0, 5).is_ok(),
            "owner's client"
        );
        assert!(
            t.attempt("u2", "203.0.113.5", t0, 5).is_ok(),
            "other account"
        );
        let later = t0 + Duration::seconds(61);
        assert!(t.attempt("u1", "203.0.113.5", later, 5).is_ok());
        assert_eq!(t.attempt("u1", "203.0.113.5", later, 5), Err(120));
        t.succeeded("u1", "198.51.100.7");
        assert!(t.attempt("u1", "198.51.100.7", t0, 5).is_ok());
    }

    #[test]
    fn the_throttle_map_is_bounded() {
        let t = LoginThrottle::new(10);
        let t0 = Utc::now();
        let long = "x".repeat(100_000);
        for i in 0..1000 {
            let _ = t.attempt(&format!("{long}{i}"), "203.0.113.5", t0, 5);
        }
        assert_eq!(t.len(), 10);
        // The newest are kept: the 1000th address is still counted.
        for _ in 0..4 {
            assert!(t
                .attempt(&format!("{long}999"), "203.0.113.5", t0, 5)
                .is_ok());
        }
        assert!(t
            .attempt(&format!("{long}999"), "203.0.113.5", t0, 5)
            .is_err());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(client_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(client_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            client_key("2001:db8:1:2:ffff:eeee:dddd:cccc"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(client_key("2001:db8:1:3::1"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(client_key("unknown"), "unknown");
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.1".to_string()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_ip(Some(peer), Some("1.2.3.4, 10.0.0.1"), &trusted),
            "1.2.3.4"
        );
        assert_eq!(
            client_ip(Some(other), Some("1.2.3.4"), &trusted),
            "203.0.113.9"
        );
    }
}
