//! The one place the wall clock is read. Domain code takes `now` as an argument; handlers ask
//! the injected [`Clock`] once at the edge. Tests use [`ManualClock`].

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, truncated to microseconds (what both databases store).
    fn now(&self) -> DateTime<Utc>;
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
}
