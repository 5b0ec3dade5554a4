//! systemd time syntax (systemd.time(7)). Pure: no I/O. Today: time spans (S40), used
//! for monotonic timer triggers.

mod timespan;

pub use timespan::{USEC_INFINITY, parse_timespan};
