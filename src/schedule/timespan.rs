//! Time spans (S40): `1h 30min`, `1.5h`, `90` (seconds), `infinity`. Mirrors systemd's
//! `parse_time()`: components add up, whitespace between number and unit is optional, a
//! unit-less number means seconds, `m` is minutes and `M` months, negatives are refused.

/// systemd's `USEC_INFINITY`.
pub const USEC_INFINITY: u64 = u64::MAX;

const USEC_PER_SEC: f64 = 1_000_000.0;

/// Units and their length in microseconds, longest names first where one is a prefix
/// of another so the longest match wins.
const UNITS: &[(&str, f64)] = &[
    ("seconds", USEC_PER_SEC),
    ("second", USEC_PER_SEC),
    ("sec", USEC_PER_SEC),
    ("s", USEC_PER_SEC),
    ("minutes", 60.0 * USEC_PER_SEC),
    ("minute", 60.0 * USEC_PER_SEC),
    ("min", 60.0 * USEC_PER_SEC),
    ("months", 2_629_800.0 * USEC_PER_SEC),
    ("month", 2_629_800.0 * USEC_PER_SEC),
    ("M", 2_629_800.0 * USEC_PER_SEC),
    ("msec", 1000.0),
    ("ms", 1000.0),
    ("m", 60.0 * USEC_PER_SEC),
    ("hours", 3600.0 * USEC_PER_SEC),
    ("hour", 3600.0 * USEC_PER_SEC),
    ("hr", 3600.0 * USEC_PER_SEC),
    ("h", 3600.0 * USEC_PER_SEC),
    ("days", 86400.0 * USEC_PER_SEC),
    ("day", 86400.0 * USEC_PER_SEC),
    ("d", 86400.0 * USEC_PER_SEC),
    ("weeks", 604_800.0 * USEC_PER_SEC),
    ("week", 604_800.0 * USEC_PER_SEC),
    ("w", 604_800.0 * USEC_PER_SEC),
    ("years", 31_557_600.0 * USEC_PER_SEC),
    ("year", 31_557_600.0 * USEC_PER_SEC),
    ("y", 31_557_600.0 * USEC_PER_SEC),
    ("usec", 1.0),
    ("us", 1.0),
    ("µs", 1.0),
    ("μs", 1.0),
];

const WS: [char; 4] = [' ', '\t', '\n', '\r'];

/// Parses a span into microseconds.
pub fn parse_timespan(s: &str) -> Result<u64, String> {
    // systemd skips WHITESPACE (" \t\n\r"), not every Unicode space.
    let t = s.trim_matches(WS);
    if t == "infinity" {
        return Ok(USEC_INFINITY);
    }
    if t.is_empty() {
        return Err("empty time span".into());
    }
    let mut rest = t;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        rest = rest.trim_start_matches(WS);
        if rest.starts_with('-') {
            return Err(format!("negative time span {s:?}"));
        }
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut frac_len = 0;
        if rest[int_len..].starts_with('.') {
            frac_len = rest[int_len + 1..].bytes().take_while(u8::is_ascii_digit).count();
        }
        if int_len == 0 && frac_len == 0 {
            return Err(format!("invalid time span {s:?}: expected a number at {rest:?}"));
        }
        // As parse_time(): a point must be followed by a digit ("3.", "3.sec", "3. 1").
        if rest[int_len..].starts_with('.') && frac_len == 0 {
            return Err(format!("invalid time span {s:?}: no digit after the point at {rest:?}"));
        }
        let int: u128 =
            if int_len == 0 { 0 } else { rest[..int_len].parse().map_err(|_| format!("number too large in {s:?}"))? };
        let frac = if frac_len > 0 { &rest[int_len + 1..int_len + 1 + frac_len] } else { "" };
        let num_len = int_len + if rest[int_len..].starts_with('.') { 1 + frac_len } else { 0 };
        let after = &rest[num_len..];
        rest = after.trim_start_matches(WS);
        let word_len = rest.char_indices().find(|(_, c)| !(c.is_alphabetic())).map_or(rest.len(), |(i, _)| i);
        let word = &rest[..word_len];
        // A number with neither a unit nor a space after it must end the span: not
        // "12.34.56", but "12.34 .56" and "12.34s.56" (parse_time()).
        if word.is_empty() && !rest.is_empty() && rest.len() == after.len() {
            return Err(format!("invalid time span {s:?}: a number runs into {rest:?}"));
        }
        let mult = if word.is_empty() {
            USEC_PER_SEC
        } else {
            UNITS
                .iter()
                .find(|(n, _)| *n == word)
                .map(|(_, m)| *m)
                .ok_or_else(|| format!("unknown time unit {word:?} in {s:?}"))?
        };
        // Integer arithmetic digit by digit, truncating like systemd's parse_time().
        // Checked: a long run of digits must be "too large", not an overflow.
        let too_large = || format!("time span {s:?} is too large");
        let mult = mult as u128;
        total = int.checked_mul(mult).and_then(|x| total.checked_add(x)).ok_or_else(too_large)?;
        let mut k = mult / 10;
        for d in frac.bytes() {
            total = total.checked_add(u128::from(d - b'0') * k).ok_or_else(too_large)?;
            k /= 10;
        }
        rest = &rest[word_len..];
    }
    u64::try_from(total).map_err(|_| format!("time span {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s40_spans() {
        let cases: &[(&str, u64)] = &[
            ("5", 5_000_000),
            ("1h 30min", 5_400_000_000),
            ("1.5h", 5_400_000_000),
            ("2m", 120_000_000),
            ("1M", 2_629_800_000_000),
            ("1y", 31_557_600_000_000),
            ("1d2h", 93_600_000_000),
            ("10 ms", 10_000),
            ("3 weeks", 1_814_400_000_000),
            ("250us", 250),
            ("12.34 .56", 12_900_000),
            ("12.34s.56", 12_900_000),
            (".5s", 500_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_timespan(s), Ok(*want), "{s}");
        }
        assert_eq!(parse_timespan("infinity"), Ok(USEC_INFINITY));
        for bad in ["5 parsecs", "-5s", "", "h", "1x", "9.", "3.sec", "3. 1", "1.5.5s"] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
    }

    /// Found by the timespan fuzzer: a long digit run overflowed the u128 sum (a panic
    /// in checked builds); and only systemd's WHITESPACE separates words.
    #[test]
    fn huge_numbers_are_errors_and_only_ascii_whitespace_separates() {
        let huge = "1w2d34444444344444444444444444444444444h4";
        assert!(parse_timespan(huge).unwrap_err().contains("too large"));
        assert!(parse_timespan(&"9".repeat(38)).is_err());
        assert_eq!(parse_timespan(" 5s\t"), Ok(5_000_000));
        assert!(parse_timespan("5\u{a0}s").is_err(), "a no-break space is not whitespace to systemd");
    }
}
