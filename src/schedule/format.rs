//! Printing times the way systemd does: `format_timestamp` ("Tue 2024-01-02 00:00:00
//! UTC"), `format_timespan` ("1h 30min"), and `format_timestamp_relative`
//! ("2 years 10 months ago").

use super::zone::Zone;

const WDAY: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const SEC: u64 = 1_000_000;
const MINUTE: u64 = 60 * SEC;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
const MONTH: u64 = 2_629_800 * SEC;
const YEAR: u64 = 31_557_600 * SEC;

/// A timestamp (µs since the epoch) in `zone`.
pub fn timestamp(usec: i64, zone: &Zone) -> String {
    let t = usec.div_euclid(1_000_000);
    let abbr = zone.designation(t);
    let tm = zone.localtime(t);
    format!(
        "{} {:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
        WDAY[tm.wday as usize],
        tm.year,
        tm.mon + 1,
        tm.mday,
        tm.hour,
        tm.min,
        tm.sec,
        abbr
    )
}

/// `format_timespan(…, accuracy = 1µs)`.
pub fn timespan(t: u64) -> String {
    const TABLE: [(&str, u64); 9] = [
        ("y", YEAR),
        ("month", MONTH),
        ("w", WEEK),
        ("d", DAY),
        ("h", HOUR),
        ("min", MINUTE),
        ("s", SEC),
        ("ms", 1000),
        ("us", 1),
    ];
    if t == u64::MAX {
        return "infinity".into();
    }
    if t == 0 {
        return "0".into();
    }
    let mut out = String::new();
    let mut t = t;
    for (suffix, unit) in TABLE {
        if t == 0 {
            break;
        }
        if t < unit {
            continue;
        }
        let (a, b) = (t / unit, t % unit);
        let sep = if out.is_empty() { "" } else { " " };
        if t < MINUTE && b > 0 {
            let mut j = 0;
            let mut cc = unit;
            while cc > 1 {
                j += 1;
                cc /= 10;
            }
            if j > 0 {
                out.push_str(&format!("{sep}{a}.{b:0j$}{suffix}"));
                break;
            }
        }
        out.push_str(&format!("{sep}{a}{suffix}"));
        t = b;
    }
    out
}

/// `format_timestamp_relative`: the distance from `now` to `usec`.
pub fn relative(usec: i64, now: i64) -> String {
    let (d, s) = if now > usec { ((now - usec) as u64, "ago") } else { ((usec - now) as u64, "left") };
    let pl = |n: u64, one: &str, many: &str| if n == 1 { one.to_string() } else { many.to_string() };
    if d >= YEAR {
        let (y, m) = (d / YEAR, (d % YEAR) / MONTH);
        format!("{y} {} {m} {} {s}", pl(y, "year", "years"), pl(m, "month", "months"))
    } else if d >= MONTH {
        let (m, dd) = (d / MONTH, (d % MONTH) / DAY);
        format!("{m} {} {dd} {} {s}", pl(m, "month", "months"), pl(dd, "day", "days"))
    } else if d >= WEEK {
        let (w, dd) = (d / WEEK, (d % WEEK) / DAY);
        format!("{w} {} {dd} {} {s}", pl(w, "week", "weeks"), pl(dd, "day", "days"))
    } else if d >= 2 * DAY {
        format!("{} days {s}", d / DAY)
    } else if d >= 25 * HOUR {
        format!("1 day {}h {s}", (d - DAY) / HOUR)
    } else if d >= 6 * HOUR {
        format!("{}h {s}", d / HOUR)
    } else if d >= HOUR {
        format!("{}h {}min {s}", d / HOUR, (d % HOUR) / MINUTE)
    } else if d >= 5 * MINUTE {
        format!("{}min {s}", d / MINUTE)
    } else if d >= MINUTE {
        format!("{}min {}s {s}", d / MINUTE, (d % MINUTE) / SEC)
    } else if d >= SEC {
        format!("{}s {s}", d / SEC)
    } else if d >= 1000 {
        format!("{}ms {s}", d / 1000)
    } else if d > 0 {
        format!("{d}us {s}")
    } else {
        "now".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s40_human_spans() {
        assert_eq!(timespan(5_400_000_000), "1h 30min");
        assert_eq!(timespan(1_500_000), "1.500000s");
        assert_eq!(timespan(90_000_000), "1min 30s");
        assert_eq!(timespan(2_629_800_000_000), "1month");
        assert_eq!(timespan(0), "0");
    }
}
