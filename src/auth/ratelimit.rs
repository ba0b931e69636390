//! Per-client-IP throttling of the auth routes: a sliding one-minute window. It guards this
//! instance against bursts; it is not a fact of the business, so keeping it in memory is
//! fine (per-account throttling lives in the database).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

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

/// The same throttle for e-mails that match no account, so a locked answer (429) does not
/// reveal which addresses exist. Kept in memory: it protects nobody's data, it only keeps
/// the answers alike.
/// Consecutive failures and the end of the current lock.
type Failures = (i64, Option<DateTime<Utc>>);

#[derive(Default)]
pub struct UnknownAccounts {
    map: Mutex<HashMap<String, Failures>>,
}

impl UnknownAccounts {
    /// Seconds to wait when this address is throttled.
    pub fn locked(&self, email: &str, now: DateTime<Utc>) -> Option<u64> {
        let map = self.map.lock().expect("limiter poisoned");
        match map.get(email) {
            Some((_, Some(until))) if *until > now => {
                Some((*until - now).num_seconds().max(1) as u64)
            }
            _ => None,
        }
    }

    pub fn fail(&self, email: &str, now: DateTime<Utc>, max: i64) {
        let mut map = self.map.lock().expect("limiter poisoned");
        if map.len() > 100_000 {
            map.retain(|_, (_, until)| until.is_some_and(|u| u > now));
        }
        let entry = map.entry(email.to_string()).or_insert((0, None));
        entry.0 += 1;
        entry.1 = lock_for(entry.0, max).map(|d| now + d);
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
        let u = UnknownAccounts::default();
        let t0 = Utc::now();
        for _ in 0..5 {
            assert!(u.locked("ghost@x.cn", t0).is_none());
            u.fail("ghost@x.cn", t0, 5);
        }
        assert!(u.locked("ghost@x.cn", t0).is_some());
        assert!(u.locked("ghost@x.cn", t0 + Duration::seconds(61)).is_none());
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
