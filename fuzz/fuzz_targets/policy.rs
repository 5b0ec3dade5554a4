//! The policy loader and its metadata reader: any source compiles into a policy with a
//! validated header, or fails with a located error — never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::policy::{PolicySet, engine};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Ok(p) = PolicySet::compile_source("fuzz.rhai", src, &engine::Limits::default()) {
        assert!(!p.meta.id.is_empty() && !p.meta.name.is_empty());
    }
});
