//! D-Bus messages (the live view's replies from the running managers): any bytes decode
//! or fail, never panic or run away; a decoded message's length agrees with its header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::live::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = wire::parse(data) {
        let head: &[u8; 16] = data[..16].try_into().unwrap();
        assert_eq!(wire::message_len(head), Ok(data.len()), "{m:?}");
    }
});
