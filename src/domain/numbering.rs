//! Gap-free document numbers: listing numbers (`<township>-<year>-<seq4>`) and deal
//! confirmation numbers (成交确认书编号 `DL-<township>-<year>-<seq4>`), counted per township and
//! Asia/Shanghai calendar year.

pub use super::calendar::shanghai_year;

/// The counter scope and the number format of listing numbers.
pub fn listing_counter(township_id: &str, year: i32) -> String {
    format!("listing_no:{township_id}:{year}")
}

pub fn listing_no(township_code: &str, year: i32, seq: i64) -> String {
    format!("{township_code}-{year}-{seq:04}")
}

/// The counter scope and the number format of deal confirmation numbers.
pub fn deal_counter(township_id: &str, year: i32) -> String {
    format!("deal_no:{township_id}:{year}")
}

pub fn deal_no(township_code: &str, year: i32, seq: i64) -> String {
    format!("DL-{township_code}-{year}-{seq:04}")
}

/// The counter scope and the number format of certification numbers (鉴证 `JD-…`).
pub fn certification_counter(township_id: &str, year: i32) -> String {
    format!("certification_no:{township_id}:{year}")
}

pub fn certification_no(township_code: &str, year: i32, seq: i64) -> String {
    format!("JD-{township_code}-{year}-{seq:04}")
}

/// The counter scope and the number format of claim numbers (理赔 `LP-…`), per insurer.
pub fn claim_counter(insurer_id: &str, year: i32) -> String {
    format!("claim_no:{insurer_id}:{year}")
}

pub fn claim_no(insurer_code: &str, year: i32, seq: i64) -> String {
    format!("LP-{insurer_code}-{year}-{seq:04}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn shanghai_new_year() {
        assert_eq!(
            shanghai_year(Utc.with_ymd_and_hms(2027, 12, 31, 15, 59, 59).unwrap()),
            2027
        );
        assert_eq!(
            shanghai_year(Utc.with_ymd_and_hms(2027, 12, 31, 16, 0, 0).unwrap()),
            2028
        );
    }

    #[test]
    fn formats() {
        assert_eq!(listing_no("CJ", 2027, 1), "CJ-2027-0001");
        assert_eq!(deal_no("CJ", 2027, 12), "DL-CJ-2027-0012");
    }
}
