//! Without `openat2` — a kernel before 5.6, or a sandbox that forbids it (systemd's
//! `RestrictSUIDSGID=`, which the shipped watch unit used to set and which made every
//! path read as missing) — confined opens walk component by component instead
//! (`TIMERGUARD_NO_OPENAT2=1` forces that): the facts and the report are byte for byte
//! the same, hostile links included, and a fix applied that way is undone the same way.

use std::process::Command;

use crate::common::*;

fn run(root: &std::path::Path, no_openat2: bool, args: &[&str]) -> (i32, Vec<u8>) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_timerguard"));
    c.arg("--root").arg(root).args(args);
    if no_openat2 {
        c.env("TIMERGUARD_NO_OPENAT2", "1");
    }
    let o = c.output().unwrap();
    (o.status.code().unwrap(), o.stdout)
}

fn same(label: &str, root: &std::path::Path) {
    for args in [&["facts"][..], &["check", "--format", "json", "--fail-on", "info"], &["list", "--format", "json"]] {
        let (a, b) = (run(root, false, args), run(root, true, args));
        assert_eq!(a.0, b.0, "{label} {args:?}: exit codes");
        assert!(a.1 == b.1, "{label} {args:?}: output differs without openat2");
        assert!(!a.1.is_empty(), "{label} {args:?}");
    }
}

#[test]
fn without_openat2_facts_and_reports_are_identical() {
    same("planted", planted().path());
    // Links that lead out of the root: a unit dir that is a link outside, a unit file
    // that is a link to /etc/shadow, a vendor unit linking up past the root.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.timer"), "[Timer]\nOnCalendar=daily\n").unwrap();
    let fx = planted();
    fx.link("/etc/systemd/system/out.timer", "/etc/shadow")
        .link("/usr/local/lib/systemd/system", outside.path().to_str().unwrap())
        .link("/usr/lib/systemd/system/up.timer", "../../../../../../etc/systemd/system/out.timer");
    same("hostile links", fx.path());
    if let Ok(deb) = std::env::var("TIMERGUARD_DEBIAN_ROOT") {
        same("debian root", std::path::Path::new(&deb));
    }
}

#[test]
fn a_fix_applied_without_openat2_is_undone() {
    if !is_root() {
        skip("fixes change ownership: needs root");
        return;
    }
    let fx = planted();
    let before = listing(fx.path());
    let (code, _) = run(fx.path(), true, &["fix", "--apply", "--unsafe"]);
    assert_eq!(code, 0);
    assert!(listing(fx.path()) != before, "the fix changed something");
    let (code, _) = run(fx.path(), true, &["undo"]);
    assert_eq!(code, 0);
    assert_eq!(listing(fx.path()), before);
}
