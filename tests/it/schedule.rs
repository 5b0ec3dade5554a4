//! S39/S40: calendar expressions and time spans against `systemd-analyze` over a
//! generated corpus (validity, normalised form, next elapses), and properties of elapses.

use std::collections::BTreeMap;
use std::process::Command;

use proptest::prelude::*;
use timerguard::collect::zones::RootZones;
use timerguard::schedule::{self, Calendar, Zone, format, zone};

use crate::common::have;

fn zones() -> RootZones {
    RootZones::host()
}

/// The S39 examples plus generated combinations of every syntax element, valid and not.
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = [
        "daily",
        // Ranges that collapse to one value (found by the calendar fuzz target).
        "0:0:0.5..1/1",
        "10..10:00",
        "*-*-1..1",
        "0:0:0..5/10",
        "*:0..3/5",
        "0:0:0..0.5",
        "*:0/15",
        "MONDAY 12:00",
        "weekly Europe/Berlin",
        "Sat,Sun 25:00",
        "@reboot",
        "\"daily\"",
        "2024-02-30",
        "*-02~01",
        "minutely",
        "hourly",
        "weekly",
        "monthly",
        "quarterly",
        "semiannually",
        "yearly",
        "annually",
        "DAILY",
        "daily utc",
        "@1395716396",
        "Mon,",
        "Mon..",
        "Fri..Mon",
        "*-*",
        "12",
        "12:",
        "Mon 12",
        "*/2:00",
        " daily",
        "daily ",
        "Thurs",
        "daily Foo/Bar",
        "1.5:00",
        "*:*:60",
        "*-*-1..3/0",
        "*-*~3..1",
        "2200-01-01",
        "1969-12-31",
        "05:40:00.123456789",
        "*-*-* 0/1:0/1:0/1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let wd = ["", "Mon ", "mon,wed ", "Mon..Fri ", "Sat,Sun ", "Tue-Thu ", "Fri..Mon ", "Sunday ", "Wed..Sat,Mon "];
    let date = [
        "",
        "*-*-* ",
        "*-*-01 ",
        "2024-02-29 ",
        "*-02~01 ",
        "*-*~03 ",
        "2024-*-1..7/2 ",
        "*-1..31/7 ",
        "23-01-01 ",
        "*-13-01 ",
        "2199-12-31 ",
        "*-02-30 ",
        "*-*-29,30,31 ",
        "2025-06-* ",
        "*-01,04,07,10-01 ",
        "*-*~1..7 ",
        "2023,2025-03-* ",
        "*-*-31 ",
        "*-2-29 ",
        "*-*-0 ",
    ];
    let time = [
        "",
        "00:00",
        "*:0/15",
        "12:00:00",
        "*:*",
        "1..3:0/30:10",
        "25:00",
        "*:*:0/0.5",
        "05:40:00.25",
        "*:*:59.999999",
        "8,20:15",
        "*:00/90",
        "23:59:59",
        "0/7:0/13:0/17",
        "*:*:*",
        "2..22/5:45",
        "12:0..30/10",
        "3:07",
        // A repeat without an end that cannot fire twice in its component's range is
        // refused (found by a random search against systemd-analyze): 12 + 48 > 59 …
        "*:*:12/48",
        "*:*:12/47",
        "*:*:5,12/48",
        "*:*:58.5/1.5",
        "*:*:58.5/1.4",
        "*:37/23",
        "*:37/22",
        "1/23:00",
        "1/22:00",
        "*-*-2/30",
        "*-*-2/29",
        "*-2/11-1",
        "*-1/11-1",
        "2100/100-1-1",
        "2100/99-1-1",
        // … and from the end of the month, counted down: start - repeat < 1.
        "*-*~01/1",
        "*-*~02/1",
        "*-*~05/5",
        "*-*~03/2",
        "*-*~1..5/2",
    ];
    let tz = ["", " UTC", " Europe/Berlin", " America/New_York", " Asia/Kolkata", " Foo/Bar", " Australia/Lord_Howe"];
    // A small deterministic generator: the corpus is the same on every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    while v.len() < 1300 {
        let e = format!("{}{}{}", wd[next(wd.len())], date[next(date.len())], time[next(time.len())]);
        let e = e.trim_end().to_string();
        if e.is_empty() {
            continue;
        }
        v.push(format!("{e}{}", tz[next(tz.len())]));
    }
    v.sort();
    v.dedup();
    v
}

/// Runs `systemd-analyze calendar` on every expression at once (TZ=UTC); returns
/// expression → (normalised, elapse lines); missing = refused.
fn theirs(exprs: &[String], base: &str, n: usize) -> BTreeMap<String, (String, Vec<String>)> {
    let out = Command::new("systemd-analyze")
        .env("TZ", "UTC")
        .args(["calendar", &format!("--iterations={n}"), &format!("--base-time={base}"), "--"])
        .args(exprs)
        .output()
        .unwrap();
    // Blocks are separated by blank lines; "Original form" is printed only when it
    // differs from the normalised form, so the key is whichever is present.
    let mut map = BTreeMap::new();
    let text = String::from_utf8_lossy(&out.stdout);
    for block in text.split("\n\n") {
        let (mut orig, mut norm, mut lines) = (None, String::new(), Vec::new());
        for l in block.lines() {
            if let Some(e) = l.strip_prefix("  Original form: ") {
                orig = Some(e.to_string());
            } else if let Some(n) = l.strip_prefix("Normalized form: ") {
                norm = n.to_string();
            } else if l.contains("Next elapse:") || l.contains("Iter. #") {
                lines.push(l.split_once(": ").unwrap().1.to_string());
            }
        }
        if !norm.is_empty() {
            map.insert(orig.unwrap_or_else(|| norm.clone()), (norm, lines));
        }
    }
    map
}

fn ours(exprs: &[String], base: i64, n: usize) -> BTreeMap<String, (String, Vec<String>)> {
    let z = zones();
    exprs
        .iter()
        .filter_map(|e| {
            let c = Calendar::parse(e, &z).ok()?;
            let mut lines: Vec<String> =
                c.elapses(&Zone::Utc, base, n).iter().map(|t| format::timestamp(*t, &Zone::Utc)).collect();
            if lines.is_empty() {
                lines.push("never".into());
            }
            Some((e.clone(), (c.spec.to_string(), lines)))
        })
        .collect()
}

#[test]
fn s39_calendar_corpus_matches_systemd_analyze() {
    if !have("systemd-analyze") {
        return;
    }
    let exprs = corpus();
    assert!(exprs.len() >= 1000, "{} expressions", exprs.len());
    for (base, base_us) in
        [("2023-06-15 12:34:56 UTC", 1_686_832_496_000_000), ("2023-03-25 22:00:00 UTC", 1_679_781_600_000_000)]
    {
        let want = theirs(&exprs, base, 5);
        let got = ours(&exprs, base_us, 5);
        let mut diffs = Vec::new();
        for e in &exprs {
            if want.get(e) != got.get(e) {
                diffs.push(format!("{e:?}\n  systemd: {:?}\n  ours:    {:?}", want.get(e), got.get(e)));
            }
        }
        let valid = want.len();
        assert!(
            diffs.is_empty(),
            "{} of {} differ (base {base}):\n{}",
            diffs.len(),
            exprs.len(),
            diffs[..diffs.len().min(15)].join("\n")
        );
        assert!(valid > 300 && valid < exprs.len() - 100, "corpus has both valid ({valid}) and invalid expressions");
    }
}

#[test]
fn s40_timespan_corpus_matches_systemd_analyze() {
    if !have("systemd-analyze") {
        return;
    }
    let mut spans: Vec<String> = [
        "1.5h",
        "5 parsecs",
        "-5s",
        "infinity",
        "90",
        "1h 30min",
        "2m",
        "2M",
        "1y 2w",
        "0",
        "1.5",
        "3 weeks 2 days",
        // Found by a random search against systemd-analyze: a point needs a digit after
        // it, and a number without unit or space after it must end the span.
        "9.",
        "9.s",
        "9. s",
        "6.y",
        ".5s",
        "5 .5s",
        "1.5.5s",
        "12.34 .56",
        "12.34s.56",
        "9w68",
        ".8second 79",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let units = [
        "", "us", "usec", "µs", "ms", "msec", "s", "sec", "second", "seconds", "m", "min", "minute", "minutes", "h",
        "hr", "hour", "hours", "d", "day", "days", "w", "week", "weeks", "M", "month", "months", "y", "year", "years",
        "x", "mins",
    ];
    for (i, u) in units.iter().enumerate() {
        for n in ["1", "7", "2.5", "0.001", "36"] {
            spans.push(format!("{n}{u}"));
            if i % 3 == 0 {
                spans.push(format!("{n} {u} 1s"));
            }
        }
    }
    let mut diffs = Vec::new();
    for s in &spans {
        let out = Command::new("systemd-analyze").args(["timespan", "--", s]).output().unwrap();
        let theirs = String::from_utf8_lossy(&out.stdout).to_string();
        let mut ours = Vec::new();
        let mut err = Vec::new();
        let ok = timerguard::timecmd::timespan(std::slice::from_ref(s), &mut ours, &mut err).unwrap();
        if ok != out.status.success() || (ok && theirs != String::from_utf8_lossy(&ours)) {
            diffs.push(format!("{s:?}: systemd {theirs:?} ours {:?}", String::from_utf8_lossy(&ours)));
        }
    }
    assert!(diffs.is_empty(), "{} of {} differ:\n{}", diffs.len(), spans.len(), diffs.join("\n"));
}

fn month_days(tm: &zone::Tm) -> i64 {
    let (y, m) = (tm.year, tm.mon + 1);
    zone::days_from_civil(y + i64::from(m == 12), m % 12 + 1, 1) - zone::days_from_civil(y, m, 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Elapses strictly increase and each one satisfies the expression.
    #[test]
    fn elapses_increase_and_match(i in 0usize..1300, base in 0i64..4_000_000_000) {
        let exprs = corpus();
        let e = &exprs[i % exprs.len()];
        let z = zones();
        if let Ok(c) = Calendar::parse(e, &z) {
            let zone = if c.spec.utc { Zone::Utc } else { schedule::load_zone(&z, c.spec.timezone.as_deref().unwrap_or("UTC")).unwrap_or(Zone::Utc) };
            let base = base * 1_000_000;
            let mut prev = base;
            for t in c.elapses(&Zone::Utc, base, 6) {
                prop_assert!(t > prev, "{e}: {t} after {prev}");
                prev = t;
                let tm = zone.localtime(t.div_euclid(1_000_000));
                prop_assert!(c.spec.matches(&tm, t.rem_euclid(1_000_000), month_days(&tm)), "{e}: {} does not match", format::timestamp(t, &zone));
            }
        }
    }
}

/// The `calendar` and `timespan` commands print systemd-analyze's fields, line for line
/// (but "From now", which depends on the clock), and exit 1 naming a bad expression.
#[test]
fn calendar_and_timespan_commands_match_systemd_analyze() {
    let exprs = ["daily", "weekly Europe/Berlin", "*-02~01", "2024-02-30", "*:0/15", "Mon..Fri 10:00", "@1395716396"];
    let strip = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.contains("From now"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let ours = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .env("TZ", "UTC")
        .args(["calendar", "--iterations", "3", "--base-time", "2023-01-01 00:00:00 UTC"])
        .args(exprs)
        .output()
        .unwrap();
    assert!(ours.status.success());
    if have("systemd-analyze") {
        let theirs = Command::new("systemd-analyze")
            .env("TZ", "UTC")
            .args(["calendar", "--iterations=3", "--base-time=2023-01-01 00:00:00 UTC"])
            .args(exprs)
            .output()
            .unwrap();
        assert_eq!(strip(&ours.stdout), strip(&theirs.stdout));
    }
    let bad =
        Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["calendar", "daily", "Sat,Sun 25:00"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("invalid calendar expression \"Sat,Sun 25:00\": hour out of range"), "{err}");
    let ts = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["timespan", "1.5h", "5 parsecs"]).output().unwrap();
    assert_eq!(ts.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ts.stdout).contains("   Human: 1h 30min"));
    assert!(String::from_utf8_lossy(&ts.stderr).contains("unknown time unit \"parsecs\""));
}

/// S39: when a step overflows (minute 95, 31 December + 13 days, an hour in a DST gap),
/// systemd 252 normalises the time and goes on from there with the fields below the one
/// that changed kept: `*:1/47` from 23:59 next fires at 00:48, not 00:01. Found by a random
/// search against systemd-analyze; the elapses are systemd's.
#[test]
fn s39_after_an_overflow_the_search_goes_on_from_the_normal_time() {
    let cases = [
        (
            "*:1/47",
            "2024-02-28 23:59:59 UTC",
            1_709_164_799_000_000,
            ["Thu 2024-02-29 00:48:00 UTC", "Thu 2024-02-29 01:01:00 UTC"],
        ),
        (
            "*:1/47",
            "2024-02-28 22:59:59 UTC",
            1_709_161_199_000_000,
            ["Wed 2024-02-28 23:01:00 UTC", "Wed 2024-02-28 23:48:00 UTC"],
        ),
        (
            "*-*-04/13 *:23/16",
            "2027-12-31 12:00:00 UTC",
            1_830_254_400_000_000,
            ["Mon 2028-01-17 00:23:00 UTC", "Mon 2028-01-17 00:39:00 UTC"],
        ),
        (
            "2,23:07 Europe/Berlin",
            "2025-03-30 00:30:00 UTC",
            1_743_294_600_000_000,
            ["Sun 2025-03-30 21:07:00 UTC", "Mon 2025-03-31 00:07:00 UTC"],
        ),
    ];
    for (e, base, base_us, want) in cases {
        let got = ours(&[e.to_string()], base_us, 2);
        assert_eq!(got[e].1, want, "{e} after {base}");
        if have("systemd-analyze") {
            assert_eq!(theirs(&[e.to_string()], base, 2)[e].1, want, "systemd-analyze: {e} after {base}");
        }
    }
}
