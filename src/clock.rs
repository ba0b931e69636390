//! The one place the wall clock is read. Domain code takes `now` as an argument; handlers ask
//! the injected [`Clock`] once at the edge. Tests use [`ManualClock`]; `clock.travel` wraps
//! either in a [`TravelClock`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, truncated to microseconds (what both databases store).
    fn now(&self) -> DateTime<Utc>;

    /// The test clock, when this is one (`clock.travel`).
    fn travel(&self) -> Option<&TravelClock> {
        None
    }
}

pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::microseconds(1)).unwrap_or(t)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_micros(Utc::now())
    }
}

/// A clock tests move by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(truncate_micros(start))))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().expect("clock poisoned") = truncate_micros(t);
    }
    pub fn advance(&self, d: Duration) {
        let mut g = self.0.lock().expect("clock poisoned");
        *g = truncate_micros(*g + d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock poisoned")
    }
}

/// The test clock (`clock.travel`, never in production): a base clock moved forward by an
/// offset that is stored in the database. The offset only grows: a stale refresh never takes
/// back an advance seen before.
pub struct TravelClock {
    base: Arc<dyn Clock>,
    offset_secs: AtomicI64,
}

impl TravelClock {
    pub fn new(base: Arc<dyn Clock>) -> Self {
        TravelClock {
            base,
            offset_secs: AtomicI64::new(0),
        }
    }

    /// Seconds added to the base clock.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::SeqCst)
    }

    /// Takes the stored offset (ignored when older than the one already seen).
    pub fn observe_offset(&self, offset_secs: i64) {
        self.offset_secs.fetch_max(offset_secs, Ordering::SeqCst);
    }
}

impl Clock for TravelClock {
    fn now(&self) -> DateTime<Utc> {
        let base = self.base.now();
        base.checked_add_signed(Duration::seconds(self.offset_secs()))
            .unwrap_or(base)
    }

    fn travel(&self) -> Option<&TravelClock> {
        Some(self)
    }
}

/// Database representation of an instant (UTC, no zone).
pub fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_microseconds() {
        let t = DateTime::parse_from_rfc3339("2027-03-01T02:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            truncate_micros(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2027-03-01T02:00:00.123456000Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Utc::now());
        let a = c.now();
        assert_eq!(a, c.now());
        c.advance(Duration::seconds(5));
        assert_eq!(c.now() - a, Duration::seconds(5));
    }

    #[test]
    fn travel_clock_adds_an_offset_that_only_grows() {
        let base = ManualClock::new(Utc::now());
        let t = TravelClock::new(Arc::new(base.clone()));
        assert!(base.travel().is_none());
        assert_eq!(t.now(), base.now());
        t.observe_offset(3600);
        assert_eq!(t.now() - base.now(), Duration::hours(1));
        t.observe_offset(60);
        assert_eq!(
            t.offset_secs(),
            3600,
            "a stale offset never moves time back"
        );
        base.advance(Duration::seconds(5));
        assert_eq!(t.now() - base.now(), Duration::hours(1));
        assert_eq!(t.travel().map(TravelClock::offset_secs), Some(3600));
    }
}
