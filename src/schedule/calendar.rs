//! Calendar expressions (systemd.time(7), S39): parsing, normalisation, validity and the
//! normalised form, ported from systemd 252's `calendarspec.c` so that every expression
//! is accepted or refused, and printed, exactly as `systemd-analyze calendar` does.

use std::fmt;

/// `USEC_PER_SEC`.
pub const USEC: i64 = 1_000_000;
const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 2199;
const BITS_WEEKDAYS: i32 = 127;
/// systemd's `CALENDARSPEC_COMPONENTS_MAX`.
const COMPONENTS_MAX: usize = 240;

/// `start[..stop][/repeat]`; `stop` is -1 when absent. Seconds are in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    pub start: i64,
    pub stop: i64,
    pub repeat: i64,
}

/// A list of components, or `None` for `*`.
pub type Chain = Option<Vec<Component>>;

/// A parsed, normalised calendar expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSpec {
    /// Bit 0 = Monday; -1 = any day.
    pub weekdays: i32,
    pub year: Chain,
    pub month: Chain,
    pub day: Chain,
    pub hour: Chain,
    pub minute: Chain,
    pub usec: Chain,
    /// `~`: days count from the end of the month.
    pub end_of_month: bool,
    pub utc: bool,
    pub timezone: Option<String>,
}

/// Why an expression is refused; `part` names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid calendar expression {expr:?}: {part}")]
pub struct CalendarError {
    pub expr: String,
    pub part: String,
}

type R<T> = Result<T, String>;

impl CalendarSpec {
    /// Parses `expr`. `is_zone` says whether a word names a time zone (systemd looks it
    /// up in zoneinfo).
    pub fn parse(expr: &str, is_zone: &dyn Fn(&str) -> bool) -> Result<CalendarSpec, CalendarError> {
        let err = |part: String| CalendarError { expr: expr.to_string(), part };
        let mut c = CalendarSpec {
            weekdays: -1,
            year: None,
            month: None,
            day: None,
            hour: None,
            minute: None,
            usec: None,
            end_of_month: false,
            utc: false,
            timezone: None,
        };
        let mut p = expr;
        if let Some(sp) = p.rfind(' ') {
            let last = &p[sp + 1..];
            if last.eq_ignore_ascii_case("UTC") {
                c.utc = true;
                p = &p[..sp];
            } else if is_zone(last) {
                c.timezone = Some(last.to_string());
                p = &p[..sp];
            }
        }
        if p.is_empty() {
            return Err(err("empty expression".into()));
        }
        let short = |s: &str| -> Option<&'static str> {
            Some(match s.to_ascii_lowercase().as_str() {
                "minutely" => "*-*-* *:*:00",
                "hourly" => "*-*-* *:00:00",
                "daily" => "*-*-* 00:00:00",
                "monthly" => "*-*-01 00:00:00",
                "weekly" => "Mon *-*-* 00:00:00",
                "annually" | "yearly" => "*-01-01 00:00:00",
                "quarterly" => "*-01,04,07,10-01 00:00:00",
                "semiannually" => "*-01,07-01 00:00:00",
                _ => return None,
            })
        };
        let expanded;
        if let Some(s) = short(p) {
            expanded = s;
            p = expanded;
        }
        let mut rest = p;
        parse_weekdays(&mut rest, &mut c).map_err(err)?;
        let done = parse_date(&mut rest, &mut c).map_err(err)?;
        if !done {
            parse_time(&mut rest, &mut c).map_err(err)?;
        }
        if !rest.is_empty() {
            return Err(err(format!("unexpected {rest:?}")));
        }
        c.normalize();
        if let Some(why) = c.invalid() {
            return Err(err(why));
        }
        Ok(c)
    }

    fn normalize(&mut self) {
        if self.timezone.as_deref() == Some("UTC") {
            self.utc = true;
            self.timezone = None;
        }
        if self.weekdays <= 0 || self.weekdays >= BITS_WEEKDAYS {
            self.weekdays = -1;
        }
        if self.end_of_month && self.day.is_none() {
            self.end_of_month = false;
        }
        if let Some(y) = &mut self.year {
            for c in y.iter_mut() {
                for v in [&mut c.start, &mut c.stop] {
                    if (0..70).contains(v) {
                        *v += 2000;
                    } else if (70..100).contains(v) {
                        *v += 1900;
                    }
                }
            }
        }
        let chains = [&mut self.year, &mut self.month, &mut self.day, &mut self.hour, &mut self.minute, &mut self.usec];
        for v in chains.into_iter().flatten() {
            for c in v.iter_mut() {
                if c.stop > c.start && c.repeat > 0 {
                    c.stop = ((c.stop - c.start) / c.repeat) * c.repeat + c.start;
                }
                // As systemd's normalize_chain: a repeat that cannot trigger twice, or a
                // range that collapsed to one value, is a single value.
                if (c.stop > c.start && c.start + c.repeat > c.stop) || c.start == c.stop {
                    c.repeat = 0;
                    c.stop = -1;
                }
            }
            v.sort();
            v.dedup();
        }
    }

    fn invalid(&self) -> Option<String> {
        let checks: [(&Chain, i64, i64, bool, &str); 6] = [
            (&self.year, MIN_YEAR, MAX_YEAR, false, "year"),
            (&self.month, 1, 12, false, "month"),
            (&self.day, 1, 31, self.end_of_month, "day"),
            (&self.hour, 0, 23, false, "hour"),
            (&self.minute, 0, 59, false, "minute"),
            (&self.usec, 0, 60 * USEC - 1, false, "second"),
        ];
        for (chain, from, to, eom, what) in checks {
            let to = if eom { to - 3 } else { to };
            for c in chain.iter().flatten() {
                // systemd 252 also refuses a repeat without an end that cannot fire twice
                // in the component's range: `*:*:12/48` (12 + 48 > 59), `1/23:00`, and
                // from the end of the month, counted down, `~01/1` (measured against
                // `systemd-analyze calendar`, tests/it/schedule.rs).
                let lone_repeat_past =
                    c.stop < 0 && c.repeat > 0 && if eom { c.start - c.repeat < from } else { c.start + c.repeat > to };
                let bad = c.start < from
                    || c.start > to
                    || c.repeat > to - from
                    || lone_repeat_past
                    || (c.stop >= 0 && (c.stop < from || c.stop > to || c.stop < c.start));
                if bad {
                    return Some(format!("{what} out of range"));
                }
            }
        }
        None
    }
}

const DAYS: [(&str, i32); 14] = [
    ("Monday", 0),
    ("Mon", 0),
    ("Tuesday", 1),
    ("Tue", 1),
    ("Wednesday", 2),
    ("Wed", 2),
    ("Thursday", 3),
    ("Thu", 3),
    ("Friday", 4),
    ("Fri", 4),
    ("Saturday", 5),
    ("Sat", 5),
    ("Sunday", 6),
    ("Sun", 6),
];

fn parse_weekdays(p: &mut &str, c: &mut CalendarSpec) -> R<()> {
    let mut l: i32 = -1;
    let mut first = true;
    let mut bits = 0;
    loop {
        let hit = DAYS.iter().find(|(n, _)| p.get(..n.len()).is_some_and(|h| h.eq_ignore_ascii_case(n)));
        let Some((name, nr)) = hit else {
            return if first { Ok(()) } else { Err("bad weekday list".into()) };
        };
        let next = p.as_bytes().get(name.len()).copied().unwrap_or(0);
        if !matches!(next, 0 | b'-' | b'.' | b',' | b' ') {
            return Err(format!("bad weekday near {p:?}"));
        }
        bits |= 1 << nr;
        if l >= 0 {
            if l > *nr {
                return Err("weekday range runs backwards".into());
            }
            for j in l + 1..*nr {
                bits |= 1 << j;
            }
        }
        *p = &p[name.len()..];
        c.weekdays = bits;
        match p.as_bytes().first() {
            None => return Ok(()),
            Some(b' ') => {
                *p = p.trim_start_matches(' ');
                return Ok(());
            }
            Some(b'.') => {
                if l >= 0 || p.as_bytes().get(1) != Some(&b'.') {
                    return Err("bad weekday range".into());
                }
                l = *nr;
                *p = &p[2..];
            }
            Some(b'-') => {
                if l >= 0 {
                    return Err("bad weekday range".into());
                }
                l = *nr;
                *p = &p[1..];
            }
            Some(b',') => {
                l = -1;
                *p = &p[1..];
            }
            _ => {}
        }
        if p.is_empty() || p.starts_with(' ') {
            *p = p.trim_start_matches(' ');
            return if l < 0 { Ok(()) } else { Err("open weekday range".into()) };
        }
        first = false;
    }
}

/// Returns true when the date part consumed the whole expression (`@epoch`).
fn parse_date(p: &mut &str, c: &mut CalendarSpec) -> R<bool> {
    let mut t = *p;
    if t.is_empty() {
        return Ok(false);
    }
    if let Some(epoch) = t.strip_prefix('@') {
        let us = super::parse_timespan(epoch).map_err(|e| format!("bad @timestamp: {e}"))?;
        let secs = i64::try_from(us / 1_000_000).map_err(|_| "timestamp out of range".to_string())?;
        let tm = super::zone::gmtime(secs);
        let k = |v: i64| Some(vec![Component { start: v, stop: -1, repeat: 0 }]);
        (c.year, c.month, c.day, c.hour, c.minute) = (k(tm.year), k(tm.mon + 1), k(tm.mday), k(tm.hour), k(tm.min));
        c.usec = k(tm.sec * USEC);
        c.utc = true;
        *p = "";
        return Ok(true);
    }
    let first = parse_chain(&mut t, false)?;
    if t.is_empty() || t.starts_with(':') {
        return Ok(false); // it was a time
    }
    if t.starts_with('~') {
        c.end_of_month = true;
    } else if !t.starts_with('-') {
        return Err(format!("bad date near {t:?}"));
    }
    t = &t[1..];
    let second = parse_chain(&mut t, false)?;
    if t.is_empty() || t.starts_with(' ') {
        *p = t.trim_start_matches(' ');
        (c.month, c.day) = (first, second);
        return Ok(false);
    } else if c.end_of_month {
        return Err("'~' must come before the day".into());
    }
    if t.starts_with('~') {
        c.end_of_month = true;
    } else if !t.starts_with('-') {
        return Err(format!("bad date near {t:?}"));
    }
    t = &t[1..];
    let third = parse_chain(&mut t, false)?;
    if !(t.is_empty() || t.starts_with(' ')) {
        return Err(format!("bad date near {t:?}"));
    }
    *p = t.trim_start_matches(' ');
    (c.year, c.month, c.day) = (first, second, third);
    Ok(false)
}

fn parse_time(p: &mut &str, c: &mut CalendarSpec) -> R<()> {
    let zero = |v| Some(vec![Component { start: v, stop: -1, repeat: 0 }]);
    let mut t = *p;
    if t.is_empty() {
        (c.hour, c.minute, c.usec) = (zero(0), zero(0), zero(0));
        return Ok(());
    }
    let h = parse_chain(&mut t, false)?;
    if !t.starts_with(':') {
        return Err(format!("bad time near {t:?}"));
    }
    t = &t[1..];
    let m = parse_chain(&mut t, false)?;
    let s = if t.is_empty() {
        zero(0)
    } else {
        if !t.starts_with(':') {
            return Err(format!("bad time near {t:?}"));
        }
        t = &t[1..];
        let s = parse_chain(&mut t, true)?;
        if !t.is_empty() {
            return Err(format!("bad time near {t:?}"));
        }
        s
    };
    *p = t;
    (c.hour, c.minute, c.usec) = (h, m, s);
    Ok(())
}

fn parse_chain(p: &mut &str, usec: bool) -> R<Chain> {
    if let Some(rest) = p.strip_prefix('*') {
        *p = rest;
        // `*` seconds means every whole second (0/1), not every microsecond.
        return Ok(usec.then(|| vec![Component { start: 0, stop: -1, repeat: USEC }]));
    }
    let mut v = Vec::new();
    loop {
        if v.len() > COMPONENTS_MAX {
            return Err("too many components".into());
        }
        let start = decimal(p, usec)?;
        let mut stop = -1;
        let mut repeat = 0;
        if p.starts_with("..") {
            *p = &p[2..];
            stop = decimal(p, usec)?;
            repeat = if usec { USEC } else { 1 };
        }
        if let Some(rest) = p.strip_prefix('/') {
            *p = rest;
            repeat = decimal(p, usec)?;
            if repeat == 0 {
                return Err("repeat of 0".into());
            }
        } else if usec && stop >= 0 && start + repeat > stop {
            return Err("range below one second".into());
        }
        if !matches!(p.as_bytes().first(), None | Some(b' ' | b',' | b'-' | b'~' | b':')) {
            return Err(format!("bad component near {p:?}"));
        }
        v.push(Component { start, stop, repeat });
        match p.strip_prefix(',') {
            Some(rest) => *p = rest,
            None => return Ok(Some(v)),
        }
    }
}

/// `parse_component_decimal`: digits, and for seconds an optional fraction rounded to µs.
fn decimal(p: &mut &str, usec: bool) -> R<i64> {
    let n = p.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return Err(format!("expected a number at {p:?}"));
    }
    let mut v: i64 = p[..n].parse().map_err(|_| "number out of range".to_string())?;
    if v > i64::from(i32::MAX) {
        return Err("number out of range".into());
    }
    *p = &p[n..];
    if usec {
        v *= USEC;
        if p.starts_with('.') && !p.starts_with("..") {
            let frac = &p[1..];
            let d = frac.bytes().take_while(u8::is_ascii_digit).count();
            if d == 0 {
                return Err("bad fraction".into());
            }
            let digits = &frac[..d];
            let mut add: i64 = 0;
            for i in 0..6 {
                add = add * 10 + digits.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            }
            if digits.as_bytes().get(6).is_some_and(|b| *b >= b'5') {
                add += 1;
            }
            v += add;
            *p = &frac[d..];
        }
    }
    if v > i64::from(i32::MAX) {
        return Err("number out of range".into());
    }
    Ok(v)
}

const WD: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn fmt_weekdays(f: &mut fmt::Formatter<'_>, bits: i32) -> fmt::Result {
    let mut l: i32 = -1;
    let mut comma = false;
    let mut x = 0;
    while x < 7 {
        if bits & (1 << x) != 0 {
            if l < 0 {
                if comma {
                    f.write_str(",")?;
                }
                comma = true;
                f.write_str(WD[x as usize])?;
                l = x;
            }
        } else if l >= 0 {
            if x > l + 1 {
                f.write_str(if x > l + 2 { ".." } else { "," })?;
                f.write_str(WD[(x - 1) as usize])?;
            }
            l = -1;
        }
        x += 1;
    }
    if l >= 0 && x > l + 1 {
        f.write_str(if x > l + 2 { ".." } else { "," })?;
        f.write_str(WD[(x - 1) as usize])?;
    }
    Ok(())
}

fn fmt_chain(f: &mut fmt::Formatter<'_>, w: usize, chain: &Chain, usec: bool) -> fmt::Result {
    let d = if usec { USEC } else { 1 };
    let Some(v) = chain else { return f.write_str("*") };
    if usec && v.len() == 1 && v[0].start == 0 && v[0].repeat == USEC && v[0].stop < 0 {
        return f.write_str("*");
    }
    for (i, c) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{:0w$}", c.start / d)?;
        if c.start % d > 0 {
            write!(f, ".{:06}", c.start % d)?;
        }
        if c.stop > 0 {
            write!(f, "..{:0w$}", c.stop / d)?;
        }
        if c.stop > 0 && c.stop % d > 0 {
            write!(f, ".{:06}", c.stop % d)?;
        }
        if c.repeat > 0 && !(c.stop > 0 && c.repeat == d) {
            write!(f, "/{}", c.repeat / d)?;
        }
        if c.repeat % d > 0 {
            write!(f, ".{:06}", c.repeat % d)?;
        }
    }
    Ok(())
}

impl fmt::Display for CalendarSpec {
    /// The normalised form, as `systemd-analyze calendar` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weekdays > 0 && self.weekdays <= BITS_WEEKDAYS {
            fmt_weekdays(f, self.weekdays)?;
            f.write_str(" ")?;
        }
        fmt_chain(f, 4, &self.year, false)?;
        f.write_str("-")?;
        fmt_chain(f, 2, &self.month, false)?;
        f.write_str(if self.end_of_month { "~" } else { "-" })?;
        fmt_chain(f, 2, &self.day, false)?;
        f.write_str(" ")?;
        fmt_chain(f, 2, &self.hour, false)?;
        f.write_str(":")?;
        fmt_chain(f, 2, &self.minute, false)?;
        f.write_str(":")?;
        fmt_chain(f, 2, &self.usec, true)?;
        if self.utc {
            f.write_str(" UTC")?;
        } else if let Some(z) = &self.timezone {
            write!(f, " {z}")?;
        }
        Ok(())
    }
}

impl CalendarSpec {
    /// Whether a broken-down local time (normalised; `usec` within the second) satisfies
    /// every field of the expression. `month_days` is the length of `tm`'s month.
    pub fn matches(&self, tm: &super::zone::Tm, usec: i64, month_days: i64) -> bool {
        // One item `start[..stop][/repeat]`: a repeat without an end runs to the range's end.
        let hit = |start: i64, stop: i64, repeat: i64, v: i64| {
            let stop = if stop >= 0 {
                stop
            } else if repeat > 0 {
                i64::MAX
            } else {
                start
            };
            v >= start && v <= stop && (repeat == 0 && v == start || repeat > 0 && (v - start) % repeat == 0)
        };
        let has = |chain: &Chain, v: i64| {
            chain.as_ref().is_none_or(|cs| cs.iter().any(|c| hit(c.start, c.stop, c.repeat, v)))
        };
        // From the end of the month (`~`), as systemd's find_matching_component: the item
        // is turned into calendar days (`~02..05` is days 27..30 of a 31-day month) and a
        // repeat then counts forward in them (`~02/1` is days 30 and 31).
        let day_has = |v: i64| {
            if !self.end_of_month {
                return has(&self.day, v);
            }
            self.day.as_ref().is_none_or(|cs| {
                cs.iter().any(|c| {
                    let (start, stop) = (month_days - c.start + 1, month_days - c.stop + 1);
                    if c.stop >= 0 { hit(stop, start, c.repeat, v) } else { hit(start, -1, c.repeat, v) }
                })
            })
        };
        let wd = if tm.wday == 0 { 6 } else { tm.wday - 1 };
        (self.weekdays < 0 || self.weekdays & (1 << wd) != 0)
            && has(&self.year, tm.year)
            && has(&self.month, tm.mon + 1)
            && day_has(tm.mday)
            && has(&self.hour, tm.hour)
            && has(&self.minute, tm.min)
            && has(&self.usec, tm.sec * USEC + usec)
    }
}
