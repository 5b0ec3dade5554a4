//! systemd time syntax (systemd.time(7)), pure — no I/O: time spans (S40), calendar
//! expressions with normalisation and next elapses (S39), time zones from TZif data the
//! caller supplies, and systemd's ways of printing times. `systemd-analyze` is the
//! oracle in tests (tests/it/schedule.rs).

mod calendar;
pub mod format;
mod next;
mod timespan;
pub mod zone;

pub use calendar::{CalendarError, CalendarSpec};
pub use next::next_elapse;
pub use timespan::{USEC_INFINITY, parse_timespan};
pub use zone::Zone;

/// Where time-zone data comes from (the root's zoneinfo, the host's).
pub trait ZoneSource {
    /// The TZif bytes of an IANA zone name, if it exists.
    fn tzif(&self, name: &str) -> Option<Vec<u8>>;

    /// The zone the machine's local time follows (`/etc/localtime`).
    fn local(&self) -> Zone;
}

/// A syntactically acceptable zone name (as systemd's `timezone_is_valid`): no empty or
/// `..` components, no leading `/`, only the characters IANA names use.
pub fn zone_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+' | '.'))
}

/// Loads a zone by name from a source.
pub fn load_zone(src: &dyn ZoneSource, name: &str) -> Option<Zone> {
    if !zone_name_ok(name) {
        return None;
    }
    let bytes = src.tzif(name)?;
    if !bytes.starts_with(b"TZif") {
        return None;
    }
    Zone::from_tzif(name, &bytes)
}

/// A calendar expression resolved against a zone source: the spec and its zone.
pub struct Calendar {
    pub spec: CalendarSpec,
    pub zone: Option<Zone>,
}

impl Calendar {
    pub fn parse(expr: &str, src: &dyn ZoneSource) -> Result<Calendar, CalendarError> {
        let spec = CalendarSpec::parse(expr, &|w| load_zone(src, w).is_some())?;
        let zone = spec.timezone.as_deref().and_then(|z| load_zone(src, z));
        Ok(Calendar { spec, zone })
    }

    /// Up to `n` elapses strictly after `after` (µs), in order.
    pub fn elapses(&self, local: &Zone, after: i64, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match next_elapse(&self.spec, local, self.zone.as_ref(), t) {
                Some(x) => {
                    out.push(x);
                    t = x;
                }
                None => break,
            }
        }
        out
    }
}
