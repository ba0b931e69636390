//! Money and area arithmetic. Money is integer fen (分); areas are hundredths of a mu
//! ("centimu") internally and decimal strings with at most two decimals at the edge.

/// Annual rent of `area_centimu` at `price_fen` per mu per year:
/// `round_half_up(price × area_centimu / 100)`. The one rent function used everywhere.
/// `None` on overflow (not reachable below 10^6 mu at 10^9 fen).
pub fn annual_rent_fen(price_fen: i64, area_centimu: i64) -> Option<i64> {
    if price_fen < 0 || area_centimu < 0 {
        return None;
    }
    let product = (price_fen as i128) * (area_centimu as i128);
    let rounded = (product + 50) / 100;
    i64::try_from(rounded).ok()
}

/// `round_half_up(amount × bp / 10000)` for non-negative amounts: premiums, subsidies.
pub fn apply_basis_points(amount_fen: i64, bp: i64) -> Option<i64> {
    if amount_fen < 0 || bp < 0 {
        return None;
    }
    let product = (amount_fen as i128) * (bp as i128);
    i64::try_from((product + 5_000) / 10_000).ok()
}

/// Parses a mu amount such as `"158.31"`, `"12"`, `"0.5"` into centimu. Rejects signs,
/// exponents, more than two decimals and values over 10^9 mu.
pub fn parse_mu(s: &str) -> Result<i64, String> {
    let err =
        || "must be a decimal string of mu with at most 2 decimals, e.g. \"158.31\"".to_string();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty()
        || int.len() > 9
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || (s.contains('.') && frac.is_empty())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(err());
    }
    let int: i64 = int.parse().map_err(|_| err())?;
    let frac_val: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| err())? * 10,
        _ => frac.parse().map_err(|_| err())?,
    };
    Ok(int * 100 + frac_val)
}

/// Formats centimu as a mu string with exactly two decimals (`15831` → `"158.31"`).
pub fn format_mu(centimu: i64) -> String {
    let sign = if centimu < 0 { "-" } else { "" };
    let a = centimu.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rent_examples() {
        // 158.31 mu at 1 200.00 yuan/mu/year = 189 972.00 yuan.
        assert_eq!(annual_rent_fen(120_000, 15_831), Some(18_997_200));
        // half a fen rounds up
        assert_eq!(annual_rent_fen(1, 50), Some(1));
        assert_eq!(annual_rent_fen(1, 49), Some(0));
        assert_eq!(annual_rent_fen(-1, 100), None);
    }

    #[test]
    fn premium_rounding() {
        assert_eq!(apply_basis_points(18_997_200, 300), Some(569_916));
        assert_eq!(apply_basis_points(50, 100), Some(1)); // 0.5 fen rounds up
        assert_eq!(apply_basis_points(49, 100), Some(0));
    }

    #[test]
    fn mu_parsing() {
        assert_eq!(parse_mu("158.31"), Ok(15_831));
        assert_eq!(parse_mu("12"), Ok(1_200));
        assert_eq!(parse_mu("0.5"), Ok(50));
        assert_eq!(parse_mu("0.05"), Ok(5));
        for bad in [
            "", ".5", "5.", "1.234", "-1", "+1", "1e3", "abc", "1,5", " 1",
        ] {
            assert!(parse_mu(bad).is_err(), "{bad}");
        }
        assert_eq!(format_mu(15_831), "158.31");
        assert_eq!(format_mu(5), "0.05");
    }

    proptest! {
        #[test]
        fn rent_never_negative_and_no_overflow(price in 0i64..=1_000_000_000, area in 0i64..=100_000_000) {
            let r = annual_rent_fen(price, area).expect("no overflow up to 10^6 mu and 10^9 fen");
            prop_assert!(r >= 0);
        }

        #[test]
        fn rent_exact_for_whole_mu(price in 0i64..=1_000_000_000, mu in 0i64..=1_000_000) {
            prop_assert_eq!(annual_rent_fen(price, mu * 100), Some(price * mu));
        }

        #[test]
        fn rent_monotonic(price in 0i64..=1_000_000_000, area in 0i64..=100_000_000, dp in 0i64..1000, da in 0i64..1000) {
            let base = annual_rent_fen(price, area).unwrap();
            prop_assert!(annual_rent_fen(price + dp, area).unwrap() >= base);
            prop_assert!(annual_rent_fen(price, area + da).unwrap() >= base);
        }

        #[test]
        fn rent_is_the_rounded_exact_value(price in 0i64..=1_000_000_000, area in 0i64..=100_000_000) {
            let r = annual_rent_fen(price, area).unwrap() as i128;
            let exact_x100 = price as i128 * area as i128;
            // |r*100 - exact| <= 50, and exactly .5 rounds up
            prop_assert!((r * 100 - exact_x100).abs() <= 50);
            if (exact_x100 % 100) == 50 { prop_assert_eq!(r * 100, exact_x100 + 50); }
        }

        #[test]
        fn mu_round_trip(c in 0i64..=100_000_000_000) {
            prop_assert_eq!(parse_mu(&format_mu(c)), Ok(c));
        }
    }
}
