//! Money and area arithmetic. Money is integer fen (分); areas are hundredths of a mu
//! ("centimu") internally and decimal strings with at most two decimals at the edge.

/// Annual rent of `area_centimu` at `price_fen` per mu per year:
/// `round_half_up(price × area_centimu / 100)`. The one rent function used everywhere.
/// `None` for a negative input or when the rent does not fit an i64 (not reachable up to
/// 10^6 mu at the largest accepted price, 10^11 fen).
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

    /// The largest price the API accepts (`max_price_fen`, DOMAIN.md) and the largest area
    /// (`parse_mu` takes at most nine integer digits: 999 999 999.99 mu).
    const MAX_PRICE_FEN: i64 = 100_000_000_000;
    const MAX_AREA_CENTIMU: i64 = 99_999_999_999;

    /// Reference for the rent, written apart from `annual_rent_fen`: the exact product in
    /// i128, whole fen plus one when the remainder is half a fen or more; `None` when the
    /// result does not fit an i64.
    fn reference_rent(price: i64, area: i64) -> Option<i64> {
        if price < 0 || area < 0 {
            return None;
        }
        let hundredths = i128::from(price) * i128::from(area);
        let whole = hundredths / 100;
        let up = if hundredths % 100 >= 50 { 1 } else { 0 };
        let r = whole + up;
        if r > i128::from(i64::MAX) {
            None
        } else {
            Some(r as i64)
        }
    }

    #[test]
    fn rent_at_the_limits() {
        // 10^11 fen × 10^6 mu = 10^17 fen: fits.
        assert_eq!(
            annual_rent_fen(MAX_PRICE_FEN, 100_000_000),
            Some(100_000_000_000_000_000)
        );
        // 10^11 fen × (10^9 mu − 0.01 mu) ≈ 10^20 fen: no i64 holds it.
        assert_eq!(annual_rent_fen(MAX_PRICE_FEN, MAX_AREA_CENTIMU), None);
        assert_eq!(annual_rent_fen(i64::MAX, i64::MAX), None);
        assert_eq!(annual_rent_fen(i64::MIN, 1), None);
        assert_eq!(annual_rent_fen(1, i64::MIN), None);
        // The largest result: i64::MAX hundredths of a fen is 92 233 720 368 547 758.07 fen.
        assert_eq!(annual_rent_fen(i64::MAX, 1), Some(92_233_720_368_547_758));
        assert_eq!(annual_rent_fen(i64::MAX, 100), Some(i64::MAX));
        assert_eq!(annual_rent_fen(i64::MAX, 101), None);
    }

    proptest! {
        /// Over everything the API accepts: exact and rounded half up where the rent fits,
        /// `None` (never a wrapped or saturated value) where it doesn't.
        #[test]
        fn rent_over_the_accepted_range(price in 0i64..=MAX_PRICE_FEN, area in 0i64..=MAX_AREA_CENTIMU) {
            prop_assert_eq!(annual_rent_fen(price, area), reference_rent(price, area));
        }

        /// Up to 10^6 mu every accepted price has a rent.
        #[test]
        fn rent_defined_up_to_a_million_mu(price in 0i64..=MAX_PRICE_FEN, area in 0i64..=100_000_000) {
            let r = annual_rent_fen(price, area);
            prop_assert!(r.is_some_and(|r| r >= 0), "{:?}", r);
        }

        /// Absurd inputs anywhere in i64: no panic, no overflow, `None` unless it fits.
        #[test]
        fn rent_over_all_of_i64(price in any::<i64>(), area in any::<i64>()) {
            prop_assert_eq!(annual_rent_fen(price, area), reference_rent(price, area));
        }

        #[test]
        fn rent_exact_for_whole_mu(price in 0i64..=MAX_PRICE_FEN, mu in 0i64..=10_000_000) {
            prop_assert_eq!(annual_rent_fen(price, mu * 100), Some(price * mu));
        }

        #[test]
        fn rent_monotonic(price in 0i64..=MAX_PRICE_FEN, area in 0i64..=100_000_000, dp in 0i64..1000, da in 0i64..1000) {
            let base = annual_rent_fen(price, area).unwrap();
            prop_assert!(annual_rent_fen(price + dp, area).unwrap() >= base);
            prop_assert!(annual_rent_fen(price, area + da).unwrap() >= base);
        }

        #[test]
        fn mu_round_trip(c in 0i64..=100_000_000_000) {
            prop_assert_eq!(parse_mu(&format_mu(c)), Ok(c));
        }
    }
}
