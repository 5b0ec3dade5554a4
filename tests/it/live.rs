//! Live end to end: boot a debootstrapped root with a real systemd as PID 1
//! (`systemd-nspawn -b`), holding an unapproved enabled timer and a lingering user; inside
//! it, `timerguard fix --apply --unsafe` runs against the running manager; then
//! `systemctl` and `loginctl` must show the timer stopped and disabled and linger off.
//! Needs root, systemd-nspawn and a bootable root with dbus: scripts/test.sh builds one
//! and sets TIMERGUARD_E2E_ROOT (see README "Live test").

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const SCRIPT: &str = r#"#!/bin/sh
out=/root/e2e.out
{
  echo "== before"
  systemctl is-active evil.timer
  loginctl show-user alice -p Linger
  ls -A /var/lib/systemd/linger
  /usr/local/bin/timerguard --config /etc/timerguard.yaml fix --unsafe --apply --select TG301 --select TG201
  echo "fix rc=$?"
  echo "== after"
  systemctl is-active evil.timer
  systemctl is-enabled evil.timer
  systemctl list-timers --all --no-pager --no-legend
  loginctl show-user alice -p Linger
  ls -A /var/lib/systemd/linger
  echo "== end"
} > $out.tmp 2>&1
mv $out.tmp $out
systemctl poweroff
"#;

fn put(root: &std::path::Path, rel: &str, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn append(root: &std::path::Path, rel: &str, line: &str) {
    let p = root.join(rel.trim_start_matches('/'));
    let mut s = std::fs::read_to_string(&p).unwrap_or_default();
    s.push_str(line);
    std::fs::write(p, s).unwrap();
}

#[test]
fn live_fix_against_a_running_systemd() {
    let Ok(base) = std::env::var("TIMERGUARD_E2E_ROOT") else {
        skip("TIMERGUARD_E2E_ROOT not set (scripts/test.sh sets it as root)");
        return;
    };
    assert!(is_root(), "the live test needs root");
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = dir.path().join("root");
    let st = Command::new("cp").args(["-a", &base, root.to_str().unwrap()]).status().unwrap();
    assert!(st.success());
    // The binary under test, a lingering user, an unapproved root timer, the driver unit.
    std::fs::copy(env!("CARGO_BIN_EXE_timerguard"), root.join("usr/local/bin/timerguard")).unwrap();
    append(&root, "/etc/passwd", "alice:x:1000:1000::/home/alice:/bin/sh\n");
    append(&root, "/etc/group", "alice:x:1000:\n");
    append(&root, "/etc/shadow", "alice:*:19000:0:99999:7:::\n");
    put(&root, "/var/lib/systemd/linger/alice", "", 0o644);
    put(
        &root,
        "/etc/systemd/system/evil.timer",
        "[Timer]\nOnCalendar=minutely\n[Install]\nWantedBy=timers.target\n",
        0o644,
    );
    put(&root, "/etc/systemd/system/evil.service", "[Service]\nType=oneshot\nExecStart=/bin/true\n", 0o644);
    std::os::unix::fs::symlink(
        "/etc/systemd/system/evil.timer",
        root.join("etc/systemd/system/timers.target.wants/evil.timer"),
    )
    .ok();
    put(
        &root,
        "/etc/timerguard.yaml",
        "params:\n  TG301:\n    approved: [systemd-tmpfiles-clean.timer, fstrim.timer, apt-daily.timer, apt-daily-upgrade.timer, dpkg-db-backup.timer, e2scrub_all.timer, logrotate.timer, man-db.timer]\n",
        0o644,
    );
    put(&root, "/usr/local/bin/tg-e2e.sh", SCRIPT, 0o755);
    put(
        &root,
        "/etc/systemd/system/tg-e2e.service",
        "[Unit]\nAfter=multi-user.target systemd-logind.service user@1000.service\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/tg-e2e.sh\n",
        0o644,
    );
    std::fs::create_dir_all(root.join("etc/systemd/system/multi-user.target.wants")).unwrap();
    std::os::unix::fs::symlink(
        "/etc/systemd/system/tg-e2e.service",
        root.join("etc/systemd/system/multi-user.target.wants/tg-e2e.service"),
    )
    .unwrap();
    put(&root, "/etc/machine-id", "6aef49f50614453386767d831f4f6ddf\n", 0o444);

    let mut child = Command::new("systemd-nspawn")
        .args(["--register=no", "--keep-unit", "-q", "-D", root.to_str().unwrap(), "-b"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // nspawn may not exit by itself after the container halts: watch for the result.
    let out = root.join("root/e2e.out");
    let start = Instant::now();
    while !out.exists() && start.elapsed() < Duration::from_secs(180) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|_| panic!("the container produced no result in {:?}", start.elapsed()));
    let (before, after) = text.split_once("== after").unwrap();
    assert!(before.contains("\nactive\n") && before.contains("Linger=yes") && before.contains("\nalice\n"), "{text}");
    assert!(before.contains("live: DisableLinger"), "linger goes through logind on a live system: {text}");
    assert!(before.contains("fix rc=0"), "{text}");
    let after_lines: Vec<&str> = after.lines().map(str::trim).collect();
    assert_eq!(after_lines.get(1).copied(), Some("inactive"), "{text}");
    assert_eq!(after_lines.get(2).copied(), Some("disabled"), "{text}");
    assert!(
        !after.lines().any(|l| l.contains("evil.timer") && !l.contains("n/a")),
        "no next elapse for evil.timer: {text}"
    );
    // logind either keeps the user with Linger=no or, with nothing left running, drops it.
    assert!(after.contains("Linger=no") || after.contains("is not logged in or lingering"), "{text}");
    assert!(!after.lines().any(|l| l.trim() == "alice"), "the linger file is gone: {text}");
}
