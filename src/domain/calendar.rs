//! Business dates are Asia/Shanghai calendar dates (UTC+8 all year, no daylight saving): the
//! one place that turns an instant into such a date, and that adds years to a date (29 Feb →
//! 28 Feb in a common year), so contract years, terms and numbering agree everywhere.

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, Utc};

fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The Shanghai calendar date of an instant.
pub fn shanghai_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&shanghai()).date_naive()
}

/// The Shanghai calendar year of an instant.
pub fn shanghai_year(t: DateTime<Utc>) -> i32 {
    shanghai_date(t).year()
}

/// `date` plus `years` years; 29 February becomes 28 February in a common year. `None` past
/// the calendar's range or for a negative count.
pub fn add_years(date: NaiveDate, years: i32) -> Option<NaiveDate> {
    let months = u32::try_from(years).ok()?.checked_mul(12)?;
    date.checked_add_months(Months::new(months))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_shanghai_date_turns_at_16_00_utc() {
        let before = Utc.with_ymd_and_hms(2026, 12, 31, 15, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap();
        assert_eq!(shanghai_date(before), d(2026, 12, 31));
        assert_eq!(shanghai_date(after), d(2027, 1, 1));
        assert_eq!(shanghai_year(after), 2027);
    }

    #[test]
    fn a_leap_day_plus_a_year_is_the_28th() {
        assert_eq!(add_years(d(2028, 2, 29), 1), Some(d(2029, 2, 28)));
        assert_eq!(add_years(d(2028, 2, 29), 4), Some(d(2032, 2, 29)));
        assert_eq!(add_years(d(2027, 3, 1), 30), Some(d(2057, 3, 1)));
        assert_eq!(add_years(d(2027, 3, 1), -1), None);
        assert_eq!(add_years(NaiveDate::MAX, 1), None);
    }
}
