//! The configuration loader: any file either loads and validates against the built-in
//! pack, or fails with an error that names the file — never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use timerguard::config::Config;
use timerguard::policy::{PolicySet, engine};

static SET: OnceLock<PolicySet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let set = SET.get_or_init(|| {
        PolicySet::load(true, &[], &engine::Limits::default(), &engine::Log::default()).expect("built-in pack")
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("timerguard.yaml");
    std::fs::write(&path, data).expect("write");
    match Config::load(&path) {
        Ok(c) => {
            if let Err(e) = c.validate(&path, set) {
                assert!(e.to_string().contains("timerguard.yaml"), "{e}");
            }
        }
        Err(e) => assert!(e.to_string().contains("timerguard.yaml"), "{e}"),
    }
});
