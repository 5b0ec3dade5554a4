//! Time spans (S40): any string parses or fails; a parsed span formats to text that
//! parses back to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::schedule::{USEC_INFINITY, format, parse_timespan};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(us) = parse_timespan(s) else { return };
    if us == USEC_INFINITY {
        return;
    }
    let text = format::timespan(us);
    assert_eq!(parse_timespan(&text), Ok(us), "{s:?} -> {us} -> {text:?}");
});
