//! Hostile and broken roots: every problem is a warning naming its path (and line), the
//! run completes, nothing outside the root is read and nothing is written.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use proptest::prelude::*;
use timerguard::model::LoadState;

use crate::common::*;

/// A listing of a tree: path → (mode, size, mtime, link target).
fn listing(root: &std::path::Path) -> BTreeMap<String, (u32, u64, i64, Option<String>)> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            let m = e.path().symlink_metadata().unwrap();
            let link = std::fs::read_link(e.path()).ok().map(|l| l.display().to_string());
            (e.path().display().to_string(), (m.mode(), m.size(), m.mtime(), link))
        })
        .collect()
}

fn hostile() -> (tempfile::TempDir, Fx) {
    // A sentinel next to the root: a unit the collector must never read.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.timer"), "[Timer]\nOnCalendar=Sat 13:13:13\n").unwrap();
    let fx = Fx::new();
    let rel_out = format!("../../../../../../../../{}", outside.path().display().to_string().trim_start_matches('/'));
    fx.debian_layout()
        .bytes("/etc/systemd/system/utf8.timer", b"[Timer]\nOnCalendar=\xff\xfedaily\nOnCalendar=weekly\n")
        .file("/etc/systemd/system/long.timer", &format!("[Timer]\nOnCalendar={}\n", "x".repeat(10 * 1024 * 1024)))
        .file("/etc/systemd/system/garbage.timer", "\u{0}\u{1}[[[\n==\n[Timer]\nOnCalendar\n")
        .link("/etc/systemd/system/loop1.timer", "loop2.timer")
        .link("/etc/systemd/system/loop2.timer", "loop1.timer")
        .link("/etc/systemd/system/self.timer", "/etc/systemd/system/self.timer")
        .link("/etc/systemd/system/dangling.timer", "/opt/nothere.timer")
        .link("/etc/systemd/system/escape.timer", &format!("{rel_out}/evil.timer"))
        .link("/etc/systemd/system/abs-out.timer", &format!("{}/evil.timer", outside.path().display()))
        .link("/etc/systemd/system/dirloop", "dirloop")
        .link("/etc/systemd/system/timers.target.wants/escape.timer", &format!("{rel_out}/evil.timer"))
        .dir("/etc/systemd/system/dir.timer")
        .link("/etc/systemd/system/x.timer.d", "/etc/systemd/system/x.timer.d")
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n\u{0}garbage\nnohome:x:5:5::/../../../../tmp:/bin/sh\n")
        .file("/etc/group", "::::\n")
        // A service whose jail links out of the image, and 30,000 mounts.
        .file("/etc/systemd/system/flood.timer", "[Timer]\nOnCalendar=daily\n")
        .file(
            "/etc/systemd/system/flood.service",
            &format!(
                "[Service]\nRootDirectory=/srv/j\nBindPaths={}\nExecStart=/bin/escape\nExecStart=/bin/abs\nExecStart=/bin/loop\n",
                (0..30_000).map(|i| format!("/etc:/m/{i}")).collect::<Vec<_>>().join(" ")
            ),
        )
        .link("/srv/j/bin/escape", &format!("{rel_out}/evil.timer"))
        .link("/srv/j/bin/abs", &format!("{}/evil.timer", outside.path().display()))
        .link("/srv/j/bin/loop", "/bin/loop");
    (outside, fx)
}

#[test]
fn hostile_root_completes_with_located_warnings() {
    let (_outside, fx) = hostile();
    let before = listing(fx.path());
    let h = fx.collect();
    let sys = system(&h);
    let w = |p: &str| h.warnings.iter().filter(|w| w.path == p).map(|w| w.to_string()).collect::<Vec<_>>();
    // systemd 252: "String is not UTF-8 clean", then "Failed to load configuration:
    // Invalid argument": the file stops there and the unit does not load.
    assert!(w("/etc/systemd/system/utf8.timer").iter().any(|m| m.contains(":2: line 2: not valid UTF-8")));
    assert_eq!(unit_of(&sys, "utf8.timer").load_state, LoadState::Error);
    assert!(w("/etc/systemd/system/long.timer").iter().any(|m| m.contains(":2: line 2: line too long")));
    assert_eq!(unit_of(&sys, "long.timer").load_state, LoadState::Error);
    assert_eq!(unit_of(&sys, "loop1.timer").load_state, LoadState::NotFound);
    assert_eq!(unit_of(&sys, "dir.timer").load_state, LoadState::Error);
    assert_eq!(unit_of(&sys, "dangling.timer").load_state, LoadState::Error);
    assert!(!w("/etc/passwd").is_empty());
    let flood = w("/etc/systemd/system/flood.service");
    assert!(flood.iter().any(|m| m.contains(":3: flood.service: more than 1024 mounts")), "{flood:?}");
    // The jail's links stay in the jail: a `..` stops at its root, an absolute target
    // starts there.
    let t = sys.timers.iter().find(|t| t.name == "flood.timer").unwrap();
    let (looped, out) = t.exec.split_last().unwrap();
    // A link loop in the jail is an error of that path (`/bin/loop` → itself).
    assert!(looped.executable.error.as_deref().is_some_and(|e| e.contains("too many levels")), "{looped:?}");
    assert_eq!(out.len(), 2);
    for c in out {
        let r = c.executable.resolved.as_deref().unwrap();
        assert!(r.starts_with("/srv/j/") && r.ends_with("/evil.timer"), "{r}");
        assert!(c.executable.meta.is_none());
    }
    // Nothing outside the root was read: the sentinel's schedule appears nowhere.
    let json = serde_json::to_string(&h).unwrap();
    assert!(!json.contains("13:13:13"), "a unit outside the root was read");
    let esc = unit_of(&sys, "escape.timer").fragment.as_ref().unwrap().target.clone().unwrap();
    assert!(esc.resolved.as_deref().unwrap().ends_with("/evil.timer"));
    assert!(esc.error.as_deref().unwrap().contains("climbs above the root"));
    assert!(!fx.path().join(esc.resolved.unwrap().trim_start_matches('/')).exists());
    // Nothing was written.
    assert_eq!(before, listing(fx.path()));
}

#[test]
fn cli_on_hostile_root_exits_zero_with_warnings_on_stderr() {
    let (_outside, fx) = hostile();
    let out = fx.cli(&["list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: /etc/systemd/system/long.timer:2:"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("13:13:13"));
}

#[test]
fn unreadable_directories_are_warnings() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/a.timer", &timer("daily"))
        .file("/etc/systemd/system/a.timer.d/x.conf", "[Timer]\nPersistent=yes\n")
        .file("/usr/lib/systemd/system/b.timer", &timer("daily"));
    std::fs::set_permissions(fx.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    fx.mode("/etc/systemd/system/a.timer.d", 0o000).mode("/usr/lib/systemd/system", 0o311);
    // root reads everything; drop to nobody so permissions bite.
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_timerguard")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_timerguard"))
    };
    let out = cmd.arg("--root").arg(fx.path()).args(["list", "--format", "json"]).output().unwrap();
    fx.mode("/etc/systemd/system/a.timer.d", 0o755).mode("/usr/lib/systemd/system", 0o755);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: /etc/systemd/system/a.timer.d: cannot read directory"), "{err}");
    assert!(err.contains("warning: /usr/lib/systemd/system: cannot read directory"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"a.timer\""));
}

#[test]
fn missing_root_is_an_error_with_exit_2() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["--root", "/nonexistent/root", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open root /nonexistent/root"));
}

/// Names and link targets a random tree is built from: loops, climbs, absolute paths,
/// masks, directories.
const NAMES: &[&str] = &[
    "a.timer",
    "b.timer",
    "a.service",
    "timers.target.wants",
    "a.timer.d",
    "x.conf",
    ".h.timer",
    "c@.timer",
    "c@i.timer",
];
const TARGETS: &[&str] = &[
    "a.timer",
    "../a.timer",
    "/etc/systemd/system/b.timer",
    "/dev/null",
    "../../../../..",
    "/",
    "b.timer",
    "/usr/lib/systemd/system/a.timer",
    "..",
    ".",
    "c@.timer",
    "/proc/self/root",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The resolver never panics, never hangs, and every resolved path is in-image.
    #[test]
    fn random_trees_collect_without_panic(ops in proptest::collection::vec((0..3usize, 0..3usize, 0..NAMES.len(), 0..TARGETS.len(), proptest::collection::vec(any::<u8>(), 0..64)), 1..24)) {
        let fx = Fx::new();
        let dirs = ["/etc/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system/timers.target.wants"];
        for (kind, d, n, t, bytes) in &ops {
            // Best effort: an op whose parent became a file or link is skipped.
            let hp = fx.host_path(&format!("{}/{}", dirs[*d], NAMES[*n]));
            if hp.symlink_metadata().is_ok() || std::fs::create_dir_all(hp.parent().unwrap()).is_err() {
                continue;
            }
            let _ = match kind {
                0 => std::fs::write(&hp, bytes),
                1 => std::os::unix::fs::symlink(TARGETS[*t], &hp),
                _ => std::fs::create_dir(&hp),
            };
        }
        let h = fx.collect();
        let json = serde_json::to_string(&h).unwrap();
        prop_assert!(!json.contains(&fx.path().display().to_string()), "a host path leaked into the facts");
    }

    /// The unit-file parser accepts any bytes.
    #[test]
    fn parser_accepts_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let p = timerguard::collect::unit_file::parse(&bytes, &timerguard::collect::schema::schema_for("timer"));
        for a in &p.assignments {
            prop_assert!(a.line >= 1);
        }
    }

    /// Structured junk: sections, keys, continuations and comments in any order.
    #[test]
    fn parser_accepts_any_lines(lines in proptest::collection::vec(prop_oneof![
        Just("[Timer]".to_string()), Just("[Unit".to_string()), Just("# c".to_string()), Just("\\".to_string()),
        "[A-Za-z]{0,8}=[ -~]{0,20}\\\\?", "[ -~]{0,30}"], 0..40)) {
        let text = lines.join("\n");
        let p = timerguard::collect::unit_file::parse(text.as_bytes(), &timerguard::collect::schema::schema_for("timer"));
        let n = u32::try_from(lines.len()).unwrap();
        for a in &p.assignments {
            prop_assert!(a.line >= 1 && a.line <= n.max(1), "line {} of {}", a.line, n);
            prop_assert!(a.section == "Timer" || a.section == "Unit" || a.section == "Install");
            prop_assert!(!a.key.is_empty() && a.key == a.key.trim());
        }
    }
}
