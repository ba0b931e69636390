//! Throttling of the auth routes (429 `rate_limited`): per client (IPv6 per /64) in a sliding
//! minute, and failed logins per account and client with growing delays. The rules live here,
//! pure; the counts live in the database (`crate::app::limits` over `crate::db::limits`), so
//! every instance behind the load balancer enforces one shared limit instead of one each.
//!
//! **The sliding minute** is kept as per-second buckets: an attempt at `t` is counted in the
//! bucket `⌈t⌉` (Unix seconds, rounded up), and a bucket counts while `bucket > now − 60 s`.
//! So an attempt is counted for at least 60 s and less than 61 s (exactly 60 s when it was
//! made on a whole second): never more than the limit is admitted in any 60 seconds, and a
//! client may be refused for at most 1 s longer than an exact sliding window would; the wait
//! it is told (`Retry-After`) is rounded up to whole seconds. Each attempt drops its client's
//! buckets that left the window, so a client holds at most 61. Refused attempts are not
//! counted, as before.
//!
//! **Failed logins** are one row per (account or unknown address, client) pair with exact
//! times (no approximation): the count, the end of the current lock and the last attempt.

use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// The length of the per-client window.
pub const WINDOW_SECS: i64 = 60;

/// A failure count older than this starts again from zero (unless still locked).
pub const FORGET_AFTER_HOURS: i64 = 24;

/// Turns throttling keys into what the database stores: HMAC-SHA-256 (hex) under a key
/// derived from the JWT secret, which every instance of a deployment shares (they accept each
/// other's tokens), so they all compute the same digest; a dump of the database alone can't
/// be searched for addresses. Replacing the JWT secret starts every count afresh.
#[derive(Clone)]
pub struct LimitKeys([u8; 32]);

impl LimitKeys {
    pub fn new(jwt_secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"landx:limits:v1:");
        h.update(jwt_secret);
        LimitKeys(h.finalize().into())
    }

    /// The stored key of a client (see [`client_key`]).
    pub fn client(&self, client: &str) -> String {
        crate::crypto::hmac_hex(&self.0, format!("client\0{client}").as_bytes())
    }

    /// The stored key of a (subject, client) pair of the login throttle (the subject's length
    /// first, so no two pairs share a message).
    pub fn login(&self, subject: &str, client: &str) -> String {
        let message = format!("login\0{}\0{subject}{client}", subject.len());
        crate::crypto::hmac_hex(&self.0, message.as_bytes())
    }
}

/// The bucket an attempt at `t` is counted in: `t` in Unix seconds, rounded up.
pub fn bucket_of(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

/// The oldest bucket still in the window at `now` (`bucket > now − 60 s`).
pub fn window_floor(now: DateTime<Utc>) -> i64 {
    now.timestamp() - (WINDOW_SECS - 1)
}

/// Whether one more attempt of a client fits its window, given its buckets as `(bucket,
/// hits)` (older ones are ignored); `Err(secs)` to wait, until the oldest bucket leaves.
pub fn admit(buckets: &[(i64, i64)], now: DateTime<Utc>, per_minute: u32) -> Result<(), u64> {
    let floor = window_floor(now);
    let live = || buckets.iter().filter(|(b, hits)| *b >= floor && *hits > 0);
    let total: i64 = live().map(|(_, hits)| hits).sum();
    if total < i64::from(per_minute) {
        return Ok(());
    }
    let oldest = live()
        .map(|(b, _)| *b)
        .min()
        .unwrap_or_else(|| bucket_of(now));
    // The oldest bucket leaves at `oldest + 60` (whole seconds): the wait rounded up.
    Err((oldest + WINDOW_SECS - now.timestamp()).max(1) as u64)
}

/// How long an account is throttled after `failures` consecutive failed logins: from the
/// `max`-th failure 1 minute, doubling, at most an hour.
pub fn lock_for(failures: i64, max: i64) -> Option<Duration> {
    (failures >= max).then(|| {
        let doublings = (failures - max).clamp(0, 6) as u32;
        Duration::minutes((1i64 << doublings).min(60))
    })
}

/// The consecutive failures of one (account or address, client) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub last: DateTime<Utc>,
}

/// Counts an attempt of a pair whose record is `before` (`None`: none yet) *before* its
/// password is checked: the new record, or `Err(secs)` to wait while the pair is locked (and
/// nothing changes). The `max`-th consecutive attempt locks the pair (1 minute, doubling up to
/// an hour); a correct password then clears the record. A record untouched for
/// [`FORGET_AFTER_HOURS`] starts again from zero (a lock never lasts that long).
pub fn count_attempt(
    before: Option<&Failures>,
    now: DateTime<Utc>,
    max: i64,
) -> Result<Failures, u64> {
    if let Some(until) = before.and_then(|f| f.locked_until).filter(|u| *u > now) {
        return Err((until - now).num_seconds().max(1) as u64);
    }
    let count = match before {
        Some(f) if now - f.last <= Duration::hours(FORGET_AFTER_HOURS) => f.count + 1,
        _ => 1,
    };
    Ok(Failures {
        count,
        locked_until: lock_for(count, max).map(|d| now + d),
        last: now,
    })
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
/// The key an HTTP request's client is throttled by: its address (IPv6: its /64), read
/// through `X-Forwarded-For` only from a trusted proxy.
pub fn request_client(req: &actix_web::HttpRequest, trusted: &[String]) -> String {
    client_key(&client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        trusted,
    ))
}

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

    use chrono::TimeZone;

    /// A window as the database holds it, fed by `admit` like `crate::app::limits` does.
    fn attempt(buckets: &mut Vec<(i64, i64)>, now: DateTime<Utc>, max: u32) -> Result<(), u64> {
        admit(buckets, now, max)?;
        let b = bucket_of(now);
        match buckets.iter_mut().find(|(x, _)| *x == b) {
            Some(entry) => entry.1 += 1,
            None => buckets.push((b, 1)),
        }
        Ok(())
    }

    #[test]
    fn sliding_window() {
        let t0 = Utc.with_ymd_and_hms(2027, 1, 10, 2, 0, 0).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            assert!(attempt(&mut a, t0, 3).is_ok());
        }
        assert_eq!(attempt(&mut a, t0, 3), Err(60));
        assert!(attempt(&mut b, t0, 3).is_ok(), "other clients unaffected");
        assert_eq!(attempt(&mut a, t0 + Duration::seconds(59), 3), Err(1));
        // On whole seconds the window is exact: gone after 60 s, as an exact sliding minute.
        assert!(attempt(&mut a, t0 + Duration::seconds(60), 3).is_ok());
        assert_eq!(
            a.iter().map(|(_, h)| h).sum::<i64>(),
            4,
            "refusals are not counted"
        );
    }

    #[test]
    fn the_window_errs_by_less_than_a_second_and_only_towards_refusing() {
        let t0 = Utc.with_ymd_and_hms(2027, 1, 10, 2, 0, 0).unwrap();
        for offset_ms in [1, 250, 500, 999] {
            let t = t0 + Duration::milliseconds(offset_ms);
            let mut w = Vec::new();
            assert!(attempt(&mut w, t, 1).is_ok());
            // Counted for at least 60 s ...
            let just_before = t + Duration::seconds(60) - Duration::milliseconds(1);
            let wait = attempt(&mut w, just_before, 1).unwrap_err();
            assert_eq!(wait, 1, "{offset_ms}: rounded up");
            // ... and less than 61 s; a retry after `Retry-After` is admitted.
            let told = t + Duration::seconds(60 - 1);
            let wait = attempt(&mut w, told, 1).unwrap_err() as i64;
            assert!(attempt(&mut w, told + Duration::seconds(wait), 1).is_ok());
            assert!(wait <= 2, "{offset_ms}: {wait}");
        }
    }

    #[test]
    fn stored_keys_are_keyed_digests() {
        let k = LimitKeys::new(b"secret-one");
        let client = k.client("203.0.113.5");
        assert_eq!(client.len(), 64);
        assert_eq!(client, LimitKeys::new(b"secret-one").client("203.0.113.5"));
        assert_ne!(client, LimitKeys::new(b"secret-two").client("203.0.113.5"));
        assert_ne!(
            k.login("user:1:0", "203.0.113.5"),
            k.login("user:1:0", "203.0.113.6")
        );
        assert_ne!(k.login("a", "b\0c"), k.login("a\0b", "c"));
    }

    #[test]
    fn lock_durations_double_up_to_an_hour() {
        assert_eq!(lock_for(4, 5), None);
        assert_eq!(lock_for(5, 5), Some(Duration::minutes(1)));
        assert_eq!(lock_for(6, 5), Some(Duration::minutes(2)));
        assert_eq!(lock_for(50, 5), Some(Duration::minutes(60)));
    }

    #[test]
    fn attempts_are_counted_per_pair_with_growing_locks() {
        let t0 = Utc.with_ymd_and_hms(2027, 1, 10, 2, 0, 0).unwrap();
        let mut f: Option<Failures> = None;
        for _ in 0..5 {
            f = Some(count_attempt(f.as_ref(), t0, 5).unwrap());
        }
        assert_eq!(count_attempt(f.as_ref(), t0, 5), Err(60));
        let later = t0 + Duration::seconds(61);
        f = Some(count_attempt(f.as_ref(), later, 5).unwrap());
        assert_eq!(f.unwrap().count, 6);
        assert_eq!(count_attempt(f.as_ref(), later, 5), Err(120));
        // A day after the last attempt the count starts again.
        let next_day = later + Duration::hours(FORGET_AFTER_HOURS) + Duration::seconds(1);
        assert_eq!(count_attempt(f.as_ref(), next_day, 5).unwrap().count, 1);
        assert_eq!(count_attempt(None, t0, 5).unwrap().locked_until, None);
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
