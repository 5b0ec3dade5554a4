//! Next elapse of a calendar expression: systemd 252's `find_next()`, field by field
//! from the year down to the microsecond, normalising through `mktime` at every step,
//! giving up after 1000 iterations or past 2199 (then the expression "never" elapses).

use super::calendar::{CalendarSpec, Chain, USEC};
use super::zone::{Tm, Zone};

const MAX_ITERATIONS: usize = 1000;
const MAX_YEAR: i64 = 2199;

fn end_of_month(zone: &Zone, tm: &Tm, day: i64) -> i64 {
    let mut t = *tm;
    t.mon += 1;
    t.mday = 1 - day;
    zone.mktime(&mut t);
    if t.mon != tm.mon.rem_euclid(12) { -1 } else { t.mday }
}

/// `find_matching_component`: the smallest allowed value ≥ `val`, and whether it moved;
/// `None` when nothing in the chain is ≥ `val`.
fn matching(spec: &CalendarSpec, chain: &Chain, is_day: bool, zone: &Zone, tm: &Tm, val: i64) -> Option<(bool, i64)> {
    let Some(v) = chain else { return Some((false, val)) };
    let mut best: Option<i64> = None;
    for c in v {
        let (mut start, mut stop) = (c.start, c.stop);
        if spec.end_of_month && is_day {
            start = end_of_month(zone, tm, start);
            stop = end_of_month(zone, tm, stop);
            if stop > 0 {
                std::mem::swap(&mut start, &mut stop);
            }
        }
        if start >= val {
            if best.is_none_or(|b| start < b) {
                best = Some(start);
            }
        } else if c.repeat > 0 {
            let k = start + c.repeat * ((val - start + c.repeat - 1) / c.repeat);
            if best.is_none_or(|b| k < b) && (stop < 0 || k <= stop) {
                best = Some(k);
            }
        }
    }
    let d = best?;
    Some((val != d, d))
}

/// `tm_within_bounds`: `Err` past 2199, or when normalising would go backwards; `Ok(true)`
/// when `tm` is a real time; otherwise `Ok(false)`, and `tm` becomes the normalised time
/// with only the field below the first one that changed reset: the search goes on from
/// there. So `*:1/47` from 23:59 gives 00:48 (23:95 is 00:35 the next day, minute kept),
/// and a listed hour in a DST gap (02:07 on a spring-forward day) moves on to 03:00 of the
/// same day rather than to the next day, as systemd 252 does.
fn within_bounds(zone: &Zone, tm: &mut Tm) -> Result<bool, ()> {
    use std::cmp::Ordering;
    if tm.year > MAX_YEAR {
        return Err(());
    }
    let mut t = *tm;
    zone.mktime(&mut t);
    let pairs = [(t.year, tm.year), (t.mon, tm.mon), (t.mday, tm.mday), (t.hour, tm.hour), (t.min, tm.min)];
    let cmp = match pairs.iter().position(|(a, b)| a != b) {
        Some(i) => {
            // The field below the first that changed starts over; the rest are kept.
            *[&mut t.mon, &mut t.mday, &mut t.hour, &mut t.min, &mut t.sec][i] = i64::from(i == 1);
            pairs[i].0.cmp(&pairs[i].1)
        }
        None => t.sec.cmp(&tm.sec),
    };
    match cmp {
        Ordering::Less => Err(()),
        Ordering::Equal => Ok(true),
        Ordering::Greater => {
            *tm = t;
            Ok(false)
        }
    }
}

fn weekday_ok(bits: i32, zone: &Zone, tm: &Tm) -> bool {
    if !(0..127).contains(&bits) {
        return true;
    }
    let mut t = *tm;
    zone.mktime(&mut t);
    let k = if t.wday == 0 { 6 } else { t.wday - 1 };
    bits & (1 << k) != 0
}

fn find_next(spec: &CalendarSpec, zone: &Zone, tm: &mut Tm, usec: &mut i64) -> Option<()> {
    let mut c = *tm;
    let mut tu = *usec;
    for _ in 0..MAX_ITERATIONS {
        zone.mktime(&mut c);
        let (r, v) = matching(spec, &spec.year, false, zone, &c, c.year)?;
        c.year = v;
        if r {
            (c.mon, c.mday, c.hour, c.min, c.sec, tu) = (0, 1, 0, 0, 0, 0);
        }
        if within_bounds(zone, &mut c) != Ok(true) {
            return None;
        }
        c.mon += 1;
        let r = matching(spec, &spec.month, false, zone, &c, c.mon).map(|(ch, v)| {
            c.mon = v;
            ch
        });
        c.mon -= 1;
        if r == Some(true) {
            (c.mday, c.hour, c.min, c.sec, tu) = (1, 0, 0, 0, 0);
        }
        match r.map(|_| within_bounds(zone, &mut c)) {
            None | Some(Err(())) => {
                (c.year, c.mon, c.mday, c.hour, c.min, c.sec, tu) = (c.year + 1, 0, 1, 0, 0, 0, 0);
                continue;
            }
            Some(Ok(false)) => continue,
            Some(Ok(true)) => {}
        }
        let r = matching(spec, &spec.day, true, zone, &c, c.mday).map(|(ch, v)| {
            c.mday = v;
            ch
        });
        if r == Some(true) {
            (c.hour, c.min, c.sec, tu) = (0, 0, 0, 0);
        }
        match r.map(|_| within_bounds(zone, &mut c)) {
            None | Some(Err(())) => {
                (c.mon, c.mday, c.hour, c.min, c.sec, tu) = (c.mon + 1, 1, 0, 0, 0, 0);
                continue;
            }
            Some(Ok(false)) => continue,
            Some(Ok(true)) => {}
        }
        if !weekday_ok(spec.weekdays, zone, &c) {
            (c.mday, c.hour, c.min, c.sec, tu) = (c.mday + 1, 0, 0, 0, 0);
            continue;
        }
        let r = matching(spec, &spec.hour, false, zone, &c, c.hour).map(|(ch, v)| {
            c.hour = v;
            ch
        });
        if r == Some(true) {
            (c.min, c.sec, tu) = (0, 0, 0);
        }
        match r.map(|_| within_bounds(zone, &mut c)) {
            None | Some(Err(())) => {
                (c.mday, c.hour, c.min, c.sec, tu) = (c.mday + 1, 0, 0, 0, 0);
                continue;
            }
            // The hour we set may be missing in a time zone change: on from the normal time.
            Some(Ok(false)) => continue,
            Some(Ok(true)) => {}
        }
        let r = matching(spec, &spec.minute, false, zone, &c, c.min).map(|(ch, v)| {
            c.min = v;
            ch
        });
        if r == Some(true) {
            (c.sec, tu) = (0, 0);
        }
        match r.map(|_| within_bounds(zone, &mut c)) {
            None | Some(Err(())) => {
                (c.hour, c.min, c.sec, tu) = (c.hour + 1, 0, 0, 0);
                continue;
            }
            Some(Ok(false)) => continue,
            Some(Ok(true)) => {}
        }
        let mut s = c.sec * USEC + tu;
        let r = matching(spec, &spec.usec, false, zone, &c, s).map(|(ch, v)| {
            s = v;
            ch
        });
        tu = s % USEC;
        c.sec = s / USEC;
        match r.map(|_| within_bounds(zone, &mut c)) {
            None | Some(Err(())) => {
                (c.min, c.sec, tu) = (c.min + 1, 0, 0);
                continue;
            }
            Some(Ok(false)) => continue,
            Some(Ok(true)) => {}
        }
        *tm = c;
        *usec = tu;
        return Some(());
    }
    None
}

/// The first elapse strictly after `after_usec` (µs since the epoch), or `None` when the
/// expression never elapses again. `local` is the zone used when the expression names
/// none (the machine's local time).
pub fn next_elapse(spec: &CalendarSpec, local: &Zone, zoned: Option<&Zone>, after_usec: i64) -> Option<i64> {
    let zone = if spec.utc { &Zone::Utc } else { zoned.unwrap_or(local) };
    let u = after_usec + 1;
    let t = u.div_euclid(USEC);
    let mut tm = zone.localtime(t);
    let mut tu = u.rem_euclid(USEC);
    find_next(spec, zone, &mut tm, &mut tu)?;
    let t = zone.mktime(&mut tm);
    Some(t * USEC + tu)
}
