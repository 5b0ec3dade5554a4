//! `Exec*=` values over any text: never panics; the kept part of a line cut short is a
//! prefix of it that reads back as the same commands with nothing fatal; the quick
//! `summary` agrees with the full reading.
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::collect::exec::{exec_line, summary};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let l = exec_line(value);
    assert!(value.is_char_boundary(l.kept_len));
    assert!(l.commands.iter().all(|c| !c.argv.is_empty() && !c.argv[0].is_empty()));
    assert_eq!(summary(value), (l.commands.len(), l.fatal.is_some()), "{value:?}");
    if l.kept_len < value.len() {
        let again = exec_line(value[..l.kept_len].trim_end_matches([' ', '\t', '\n', '\r']));
        assert_eq!(again.commands, l.commands, "{value:?}");
        assert!(again.fatal.is_none());
    }
});
