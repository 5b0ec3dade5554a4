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

/// Parses a span into microseconds.
pub fn parse_timespan(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t == "infinity" {
        return Ok(USEC_INFINITY);
    }
    if t.is_empty() {
        return Err("empty time span".into());
    }
    let mut rest = t;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        rest = rest.trim_start();
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
        let int: u128 =
            if int_len == 0 { 0 } else { rest[..int_len].parse().map_err(|_| format!("number too large in {s:?}"))? };
        let frac = if frac_len > 0 { &rest[int_len + 1..int_len + 1 + frac_len] } else { "" };
        let num_len = int_len + if rest[int_len..].starts_with('.') { 1 + frac_len } else { 0 };
        rest = rest[num_len..].trim_start();
        let word_len = rest.char_indices().find(|(_, c)| !(c.is_alphabetic())).map_or(rest.len(), |(i, _)| i);
        let word = &rest[..word_len];
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
        let mult = mult as u128;
        total += int * mult;
        let mut k = mult / 10;
        for d in frac.bytes() {
            total += u128::from(d - b'0') * k;
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
        ];
        for (s, want) in cases {
            assert_eq!(parse_timespan(s), Ok(*want), "{s}");
        }
        assert_eq!(parse_timespan("infinity"), Ok(USEC_INFINITY));
        for bad in ["5 parsecs", "-5s", "", "h", "1x"] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
    }
}
