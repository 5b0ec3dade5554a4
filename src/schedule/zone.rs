//! Broken-down time and time zones: UTC, or a TZif zone (from the root's zoneinfo).
//! `mktime` reproduces glibc with `tm_isdst = -1`, which systemd's calendar code relies
//! on: out-of-range fields are carried over; a local time inside a DST gap is taken with
//! the offset from before the gap (02:30 → 03:30); inside an overlap the first (DST)
//! occurrence wins. Both were checked against `systemd-analyze calendar`.

/// Broken-down time; fields may be out of range until normalised. `mon` is 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    pub year: i64,
    pub mon: i64,
    pub mday: i64,
    pub hour: i64,
    pub min: i64,
    pub sec: i64,
    /// 0 = Sunday.
    pub wday: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-based).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `gmtime`.
pub fn gmtime(t: i64) -> Tm {
    let days = t.div_euclid(86_400);
    let rem = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Tm {
        year: y,
        mon: m - 1,
        mday: d,
        hour: rem / 3600,
        min: rem % 3600 / 60,
        sec: rem % 60,
        wday: (days + 4).rem_euclid(7),
    }
}

/// `timegm` of possibly out-of-range fields (no normalisation of `tm` itself).
pub fn timegm(tm: &Tm) -> i64 {
    let y = tm.year + tm.mon.div_euclid(12);
    let m = tm.mon.rem_euclid(12);
    (days_from_civil(y, m + 1, 1) + tm.mday - 1) * 86_400 + tm.hour * 3600 + tm.min * 60 + tm.sec
}

/// A time zone.
pub enum Zone {
    Utc,
    Tz { name: String, tz: Box<tz::TimeZone> },
}

impl Zone {
    /// Loads a TZif zone.
    pub fn from_tzif(name: &str, bytes: &[u8]) -> Option<Zone> {
        let tz = tz::TimeZone::from_tz_data(bytes).ok()?;
        Some(Zone::Tz { name: name.to_string(), tz: Box::new(tz) })
    }

    pub fn is_utc(&self) -> bool {
        matches!(self, Zone::Utc)
    }

    /// The designation in force at `t` (`CET`, `UTC`), as timestamps are shown.
    pub fn designation(&self, t: i64) -> String {
        match self {
            Zone::Tz { tz, .. } => {
                tz.find_local_time_type(t).map_or_else(|_| "UTC".into(), |l| l.time_zone_designation().to_string())
            }
            Zone::Utc => "UTC".into(),
        }
    }

    /// UTC offset (seconds) at `t`: no string made (every timer's next elapse asks this
    /// many times).
    pub fn offset(&self, t: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Tz { tz, .. } => tz.find_local_time_type(t).map_or(0, |l| i64::from(l.ut_offset())),
        }
    }

    pub fn localtime(&self, t: i64) -> Tm {
        gmtime(t + self.offset(t))
    }

    /// `mktime` with `tm_isdst = -1`: normalises `tm` in place and returns the time.
    pub fn mktime(&self, tm: &mut Tm) -> i64 {
        let local = timegm(tm);
        let t = match self {
            Zone::Utc => local,
            Zone::Tz { .. } => self.resolve(local),
        };
        *tm = self.localtime(t);
        t
    }

    /// The UTC time for a local wall-clock time (see the module doc for gaps/overlaps).
    fn resolve(&self, local: i64) -> i64 {
        // The earliest of the times that read back as `local` (the first of an overlap).
        let mut earliest: Option<i64> = None;
        for probe in [local - 86_400, local, local + 86_400] {
            let off = self.offset(probe);
            let t = local - off;
            if self.offset(t) == off {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        if let Some(t) = earliest {
            return t;
        }
        // In a gap: use the offset in force just before it.
        let before = self.offset(local - 86_400);
        local - before
    }
}

/// Now, broken down in UTC (for dates in names and waiver expiry).
pub fn now_utc() -> Tm {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    gmtime(i64::try_from(secs).unwrap_or(0))
}
