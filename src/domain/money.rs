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

/// Formats fen as yuan in figures: thousands separators, two decimals, `元`, and a leading
/// minus when negative (`14_247_900` → `"142,479.00元"`, `-5` → `"-0.05元"`).
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    let digits = (a / 100).to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}元", a % 100)
}

const CAPITAL_DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];

/// 1..=9999 with 仟佰拾: one `零` for each run of skipped places inside, none at the end
/// (`1005` → `壹仟零伍`, `1100` → `壹仟壹佰`, `10` → `壹拾`).
fn capital_section(n: u64, out: &mut String) {
    const UNITS: [&str; 4] = ["仟", "佰", "拾", ""];
    let digits = [n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10];
    let mut started = false;
    let mut pending_zero = false;
    for (d, unit) in digits.into_iter().zip(UNITS) {
        if d == 0 {
            pending_zero = started;
            continue;
        }
        if pending_zero {
            out.push('零');
            pending_zero = false;
        }
        out.push(CAPITAL_DIGITS[d as usize]);
        out.push_str(unit);
        started = true;
    }
}

/// A whole number ≥ 1 in capitals, in sections of four places named 万, 亿, 万亿 and 亿亿
/// (10^16; u64 needs no more). A nonzero section after a skipped place (a whole section of
/// zeros, or fewer than four places of its own) is led by one `零`.
fn capital_integer(n: u64, out: &mut String) {
    const UNITS: [&str; 5] = ["亿亿", "万亿", "亿", "万", ""];
    let sections = [
        n / 10_000_000_000_000_000,
        n / 1_000_000_000_000 % 10_000,
        n / 100_000_000 % 10_000,
        n / 10_000 % 10_000,
        n % 10_000,
    ];
    let mut started = false;
    let mut skipped = false;
    for (v, unit) in sections.into_iter().zip(UNITS) {
        if v == 0 {
            skipped = started;
            continue;
        }
        if started && (skipped || v < 1000) {
            out.push('零');
        }
        capital_section(v, out);
        out.push_str(unit);
        started = true;
        skipped = false;
    }
}

/// Fen in standard Chinese financial capitals (大写金额): `14_247_900` →
/// `"壹拾肆万贰仟肆佰柒拾玖元整"`, `1_000_530` → `"壹万零伍元叁角整"`, `105` → `"壹元零伍分"`,
/// `5` → `"伍分"`, `0` → `"零元整"`, negative amounts led by `负`. `整` closes an amount
/// without 分; `零` stands once for each run of skipped places and between 元 and 分 when
/// there is no 角. Total over all of i64.
pub fn rmb_capitals(fen: i64) -> String {
    let mut out = String::new();
    if fen < 0 {
        out.push('负');
    }
    let a = fen.unsigned_abs();
    let (yuan, jiao, fen_digit) = (a / 100, (a / 10 % 10) as usize, (a % 10) as usize);
    if a == 0 {
        out.push_str("零元整");
        return out;
    }
    if yuan > 0 {
        capital_integer(yuan, &mut out);
        out.push('元');
    }
    if jiao > 0 {
        out.push(CAPITAL_DIGITS[jiao]);
        out.push('角');
    } else if fen_digit > 0 && yuan > 0 {
        out.push('零');
    }
    if fen_digit > 0 {
        out.push(CAPITAL_DIGITS[fen_digit]);
        out.push('分');
    } else {
        out.push('整');
    }
    out
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

    #[test]
    fn yuan_in_figures() {
        assert_eq!(format_yuan(14_247_900), "142,479.00元");
        assert_eq!(format_yuan(0), "0.00元");
        assert_eq!(format_yuan(5), "0.05元");
        assert_eq!(format_yuan(-5), "-0.05元");
        assert_eq!(format_yuan(99_999), "999.99元");
        assert_eq!(format_yuan(100_000), "1,000.00元");
        assert_eq!(format_yuan(1_000_530), "10,005.30元");
        assert_eq!(format_yuan(-123_456_789), "-1,234,567.89元");
        assert_eq!(format_yuan(i64::MAX), "92,233,720,368,547,758.07元");
        assert_eq!(format_yuan(i64::MIN), "-92,233,720,368,547,758.08元");
    }

    #[test]
    fn capitals_examples() {
        let cases: &[(i64, &str)] = &[
            (0, "零元整"),
            (1, "壹分"),
            (5, "伍分"),
            (10, "壹角整"),
            (35, "叁角伍分"),
            (100, "壹元整"),
            (105, "壹元零伍分"),
            (110, "壹元壹角整"),
            (1_000, "壹拾元整"),
            (1_050, "壹拾元伍角整"),
            (1_001, "壹拾元零壹分"),
            (10_000, "壹佰元整"),
            (100_000, "壹仟元整"),
            (100_100, "壹仟零壹元整"),
            (101_000, "壹仟零壹拾元整"),
            (110_000, "壹仟壹佰元整"),
            (1_000_000, "壹万元整"),
            (1_000_530, "壹万零伍元叁角整"),
            (1_001_000, "壹万零壹拾元整"),
            (1_010_000, "壹万零壹佰元整"),
            (1_100_000, "壹万壹仟元整"),
            (10_000_000, "壹拾万元整"),
            (14_247_900, "壹拾肆万贰仟肆佰柒拾玖元整"),
            (10_010_000, "壹拾万零壹佰元整"),
            (100_000_000, "壹佰万元整"),
            (1_000_000_000, "壹仟万元整"),
            (10_000_000_000, "壹亿元整"),
            (10_000_000_100, "壹亿零壹元整"),
            (10_001_000_000, "壹亿零壹万元整"),
            (11_000_000_000, "壹亿壹仟万元整"),
            (10_100_000_000, "壹亿零壹佰万元整"),
            (10_000_000_101, "壹亿零壹元零壹分"),
            (10_000_000_100, "壹亿零壹元整"),
            (100_000_000_000_000, "壹万亿元整"),
            (100_010_000_000_000, "壹万亿零壹亿元整"),
            (100_001_000_000_000, "壹万亿零壹仟万元整"),
            (100_100_000_000_000, "壹万亿零壹拾亿元整"),
            (110_000_000_000_000, "壹万亿壹仟亿元整"),
            (200_000_000_010_000, "贰万亿零壹佰元整"),
            (200_000_000_000_005, "贰万亿元零伍分"),
            (
                12_345_678_901_234,
                "壹仟贰佰叁拾肆亿伍仟陆佰柒拾捌万玖仟零壹拾贰元叁角肆分",
            ),
            (100_000_000_000_000_000, "壹仟万亿元整"),
            (1_000_000_000_000_000_000, "壹亿亿元整"),
            (1_000_000_000_000_000_500, "壹亿亿零伍元整"),
            (-14_247_900, "负壹拾肆万贰仟肆佰柒拾玖元整"),
            (-5, "负伍分"),
            (
                i64::MAX,
                "玖亿亿贰仟贰佰叁拾叁万亿柒仟贰佰零叁亿陆仟捌佰伍拾肆万柒仟柒佰伍拾捌元零柒分",
            ),
            (
                i64::MIN,
                "负玖亿亿贰仟贰佰叁拾叁万亿柒仟贰佰零叁亿陆仟捌佰伍拾肆万柒仟柒佰伍拾捌元零捌分",
            ),
        ];
        for &(fen, want) in cases {
            assert_eq!(rmb_capitals(fen), want, "{fen} fen");
        }
        // 158.31 mu at 900.00 yuan a year: the sample contract's annual rent.
        assert_eq!(rmb_capitals(14_247_900), "壹拾肆万贰仟肆佰柒拾玖元整");
    }

    /// Reads capitals back into fen, written apart from `rmb_capitals`: splits at the last
    /// 亿, then at 万, and sums digit × place inside a section; `零` carries no value.
    fn parse_capitals(s: &str) -> Option<i128> {
        fn digit(c: char) -> Option<i128> {
            "零壹贰叁肆伍陆柒捌玖"
                .chars()
                .position(|d| d == c)
                .map(|p| p as i128)
        }
        fn section(s: &str) -> Option<i128> {
            let (mut total, mut pending) = (0i128, None::<i128>);
            for c in s.chars() {
                let place = match c {
                    '仟' => 1000,
                    '佰' => 100,
                    '拾' => 10,
                    '零' => {
                        pending = None;
                        continue;
                    }
                    _ => {
                        if pending.is_some() {
                            return None;
                        }
                        pending = Some(digit(c)?);
                        continue;
                    }
                };
                total += pending.take()? * place;
            }
            Some(total + pending.unwrap_or(0))
        }
        /// Sections closed by 亿亿, 万亿, 亿 or 万, each unit smaller than the one before.
        fn integer(s: &str) -> Option<i128> {
            let chars: Vec<char> = s.chars().collect();
            let (mut total, mut start, mut last_unit) = (0i128, 0, i128::MAX);
            let mut i = 0;
            while i < chars.len() {
                let next = chars.get(i + 1).copied();
                let (unit, width) = match (chars[i], next) {
                    ('亿', Some('亿')) => (10i128.pow(16), 2),
                    ('万', Some('亿')) => (10i128.pow(12), 2),
                    ('亿', _) => (10i128.pow(8), 1),
                    ('万', _) => (10i128.pow(4), 1),
                    _ => {
                        i += 1;
                        continue;
                    }
                };
                let v = section(&chars[start..i].iter().collect::<String>())?;
                if v == 0 || unit >= last_unit {
                    return None;
                }
                total += v * unit;
                last_unit = unit;
                i += width;
                start = i;
            }
            Some(total + section(&chars[start..].iter().collect::<String>())?)
        }
        let (neg, s) = match s.strip_prefix('负') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (s, whole) = match s.strip_suffix('整') {
            Some(rest) => (rest, true),
            None => (s, false),
        };
        let (yuan_part, small) = match s.split_once('元') {
            Some((y, rest)) => (y, rest),
            None => ("", s),
        };
        let yuan = if yuan_part == "零" {
            0
        } else {
            integer(yuan_part)?
        };
        let mut fen = 0i128;
        let mut rest: Vec<char> = small.chars().collect();
        if rest.first() == Some(&'零') {
            rest.remove(0);
        }
        let mut chars = rest.into_iter();
        while let Some(d) = chars.next() {
            match chars.next()? {
                '角' => fen += digit(d)? * 10,
                '分' if !whole => fen += digit(d)?,
                _ => return None,
            }
        }
        let v = yuan * 100 + fen;
        Some(if neg { -v } else { v })
    }

    #[test]
    fn the_parser_reads_the_examples() {
        assert_eq!(
            parse_capitals("壹拾肆万贰仟肆佰柒拾玖元整"),
            Some(14_247_900)
        );
        assert_eq!(parse_capitals("壹万零伍元叁角整"), Some(1_000_530));
        assert_eq!(parse_capitals("伍分"), Some(5));
        assert_eq!(parse_capitals("零元整"), Some(0));
    }

    proptest! {
        /// Never panics anywhere in i64; reads back to the same amount; keeps the zero rules
        /// (no `零零`, no `零` ending a section or before 元/角/分/整).
        #[test]
        fn capitals_round_trip(fen in any::<i64>()) {
            let s = rmb_capitals(fen);
            prop_assert_eq!(parse_capitals(&s), Some(i128::from(fen)), "{}", s);
            if fen != 0 {
                for bad in ["零零", "零万", "零亿", "零元", "零角", "零整", "分整"] {
                    prop_assert!(!s.contains(bad), "{} in {}", bad, s);
                }
            }
            prop_assert!(s.ends_with('整') || s.ends_with('分'), "{}", s);
            prop_assert_eq!(s.ends_with('分'), fen % 10 != 0);
        }

        #[test]
        fn capitals_round_trip_non_negative(fen in 0i64..=i64::MAX) {
            let s = rmb_capitals(fen);
            prop_assert_eq!(parse_capitals(&s), Some(i128::from(fen)), "{}", s);
            prop_assert!(!s.starts_with('负'));
        }

        /// Amounts of ordinary size, where every place is likely to be tried.
        #[test]
        fn capitals_round_trip_small(fen in 0i64..=10_000_000_000) {
            prop_assert_eq!(parse_capitals(&rmb_capitals(fen)), Some(i128::from(fen)));
        }

        #[test]
        fn figures_round_trip(fen in any::<i64>()) {
            let s = format_yuan(fen);
            let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
            let v: i128 = digits.parse().unwrap();
            prop_assert_eq!(if fen < 0 { -v } else { v }, i128::from(fen));
            prop_assert!(s.ends_with('元'));
        }
    }
}
