//! Calendar expressions (S39): any string either fails to parse or yields a normal form
//! that parses again to the same normal form, and stepping its next elapses stays
//! strictly increasing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::schedule::{CalendarSpec, Zone, next_elapse};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let zones = |z: &str| z == "UTC" || z == "Europe/Berlin";
    let Ok(spec) = CalendarSpec::parse(s, &zones) else { return };
    let norm = spec.to_string();
    let again = CalendarSpec::parse(&norm, &zones).expect("a normal form parses");
    assert_eq!(again.to_string(), norm, "normal form of {s:?} is not a fixed point");
    let mut t = 1_749_988_800_000_000; // 2025-06-15 12:00 UTC
    for _ in 0..4 {
        match next_elapse(&spec, &Zone::Utc, None, t) {
            Some(n) => {
                assert!(n > t, "elapse {n} not after {t} for {s:?}");
                t = n;
            }
            None => break,
        }
    }
});
