//! `environment.d` files over any text, as a user manager's generator applies them
//! (`$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternate}`, nested): never panics,
//! never loops; a value without a `$` is kept as written, and every name set is a
//! variable name.
#![no_main]
use libfuzzer_sys::fuzz_target;
use timerguard::collect::manager_env::apply_env_d_text;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let env = [("HOME", "/home/alice"), ("EMPTY", ""), ("X", "${X}")];
    for (k, v) in apply_env_d_text(&text, &env) {
        assert!(!k.is_empty() && !k.as_bytes()[0].is_ascii_digit(), "{k:?}");
        assert!(k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'), "{k:?}");
        if !text.contains('$') {
            assert!(!v.contains("/home/alice") || text.contains("/home/alice"), "{v:?}");
        }
    }
});
