//! The unit-file parser over any bytes, for every unit type's schema: never panics, and
//! every assignment it returns is well formed (a line inside the input, a known
//! section, a trimmed non-empty key).
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::collect::{schema::schema_for, unit_file::parse};

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|b| matches!(b, b'\n' | b'\r' | 0)).count().max(1) as u32;
    for ty in ["timer", "service", "target"] {
        let p = parse(data, &schema_for(ty));
        for a in &p.assignments {
            assert!(a.line >= 1 && a.line <= lines, "line {} of {lines}", a.line);
            // systemd's WHITESPACE (" \t\n\r"), not Unicode whitespace.
            assert!(!a.key.is_empty() && a.key == a.key.trim_matches([' ', '\t', '\n', '\r']));
        }
    }
});
