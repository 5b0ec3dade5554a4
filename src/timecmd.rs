//! `timerguard calendar` and `timerguard timespan`: the fields `systemd-analyze calendar`
//! and `systemd-analyze timespan` print, from our own implementation (S39, S40).

use std::io::{self, Write};

use crate::schedule::{self, Calendar, ZoneSource, format};

/// Parses `--base-time`: `now`, `@SECONDS`, or `YYYY-MM-DD[ HH:MM[:SS]][ UTC|ZONE]`.
pub fn parse_base_time(s: &str, src: &dyn ZoneSource) -> Result<i64, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now_usec());
    }
    if let Some(e) = s.strip_prefix('@') {
        return e.parse::<i64>().map(|v| v * 1_000_000).map_err(|_| format!("invalid timestamp {s:?}"));
    }
    let mut words: Vec<&str> = s.split_whitespace().collect();
    let zone = match words.last() {
        Some(w) if w.eq_ignore_ascii_case("UTC") => {
            words.pop();
            schedule::Zone::Utc
        }
        Some(w) if w.contains('/') => {
            let z = schedule::load_zone(src, w).ok_or_else(|| format!("unknown time zone {w:?}"))?;
            words.pop();
            z
        }
        _ => src.local(),
    };
    let bad = || format!("invalid timestamp {s:?} (want YYYY-MM-DD [HH:MM[:SS]] [UTC|ZONE], @SECONDS or now)");
    let date: Vec<i64> =
        words.first().ok_or_else(bad)?.split('-').map(|x| x.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let time: Vec<i64> = match words.get(1) {
        Some(t) => t.split(':').map(|x| x.parse().map_err(|_| bad())).collect::<Result<_, _>>()?,
        None => vec![0, 0, 0],
    };
    if date.len() != 3 || !(2..=3).contains(&time.len()) || words.len() > 2 {
        return Err(bad());
    }
    let mut tm = schedule::zone::Tm {
        year: date[0],
        mon: date[1] - 1,
        mday: date[2],
        hour: time[0],
        min: time[1],
        sec: *time.get(2).unwrap_or(&0),
        wday: 0,
    };
    Ok(zone.mktime(&mut tm) * 1_000_000)
}

fn now_usec() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Prints each expression like `systemd-analyze calendar`; returns whether all parsed.
pub fn calendar(
    exprs: &[String],
    iterations: usize,
    base: i64,
    src: &dyn ZoneSource,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let local = src.local();
    let now = now_usec();
    let mut ok = true;
    for (i, e) in exprs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let cal = match Calendar::parse(e, src) {
            Ok(c) => c,
            Err(x) => {
                writeln!(err, "error: {x}")?;
                ok = false;
                continue;
            }
        };
        let normalized = cal.spec.to_string();
        if *e != normalized {
            writeln!(out, "  Original form: {e}")?;
        }
        writeln!(out, "Normalized form: {normalized}")?;
        let elapses = cal.elapses(&local, base, iterations.max(1));
        if elapses.is_empty() {
            writeln!(out, "    Next elapse: never")?;
            continue;
        }
        for (n, t) in elapses.iter().enumerate() {
            let label = if n == 0 { "    Next elapse".to_string() } else { format!("       Iter. #{}", n + 1) };
            writeln!(out, "{label}: {}", format::timestamp(*t, &local))?;
            if !local.is_utc() {
                writeln!(out, "       (in UTC): {}", format::timestamp(*t, &schedule::Zone::Utc))?;
            }
            writeln!(out, "       From now: {}", format::relative(*t, now))?;
        }
    }
    Ok(ok)
}

/// Prints each span like `systemd-analyze timespan`; stops at the first invalid one.
pub fn timespan(spans: &[String], out: &mut dyn Write, err: &mut dyn Write) -> io::Result<bool> {
    for (i, s) in spans.iter().enumerate() {
        let us = match schedule::parse_timespan(s) {
            Ok(us) => us,
            Err(x) => {
                writeln!(err, "error: {x}")?;
                return Ok(false);
            }
        };
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "Original: {s}")?;
        writeln!(out, "      μs: {us}")?;
        writeln!(out, "   Human: {}", format::timespan(us))?;
    }
    Ok(true)
}
