//! The `check --cache` file: any bytes either parse or fail with a reason (naming the
//! line where there is one), and looking such a file up against a root either reuses it
//! or says why not — never a panic, never a path outside the root.
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::cache::{Lookup, decode, lookup};

fuzz_target!(|data: &[u8]| {
    let parsed = decode(data);
    if let Err(e) = &parsed {
        assert!(!e.is_empty());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("root");
    let root = timerguard::collect::Root::open(&root).expect("open the root");
    let path = dir.path().join("check.cache");
    std::fs::write(&path, data).expect("write");
    let key = parsed.map(|c| c.header.key).unwrap_or_default();
    if let Lookup::Stale(why) = lookup(&path, &key, &root, 0) {
        assert!(!why.is_empty());
    }
});
