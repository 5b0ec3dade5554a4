//! A real server root (issue 10): Debian bookworm from Debian's packages with the timers a
//! server ships (cron, logrotate, man-db, apt, sysstat, anacron, certbot, fwupd, mdadm,
//! …; built by scripts/test.sh), plus the shapes of a running host: three users made
//! with `useradd -m`, a logged-in user's /run/user/UID (theirs, 0700), a service account
//! that lingers (allowed in the config), a team's own timer (enabled with systemctl,
//! approved). With that config: no finding at any severity, and nothing to fix. Then one
//! planted case of each shape is reported exactly, and no planned step touches a home,
//! /run/user/UID or a sticky directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{is_root, skip};

fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn put(root: &Path, rel: &str, content: &str, mode: u32) {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_r(root: &Path, rel: &str, owner: &str) {
    let r = root.to_str().unwrap();
    sh(&["chroot", r, "chown", "-R", owner, rel]);
}

fn tg(root: &Path, cfg: &Path, args: &[&str]) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap(), v)
}

/// The shapes a running host has, added to a copy of the server root.
fn host_shapes(root: &Path) {
    let r = root.to_str().unwrap();
    for u in ["alice", "bob", "carol"] {
        sh(&["chroot", r, "useradd", "-m", "-s", "/bin/bash", u]);
    }
    sh(&["chroot", r, "useradd", "-r", "-m", "-d", "/var/lib/reporter", "-s", "/usr/sbin/nologin", "reporter"]);
    // alice is logged in: logind made her runtime directory, her manager its own dir.
    let uid = std::fs::read_to_string(root.join("etc/passwd"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("alice:"))
        .map(|l| l.split(':').nth(2).unwrap().to_string())
        .unwrap();
    std::fs::create_dir_all(root.join(format!("run/user/{uid}/systemd"))).unwrap();
    std::fs::set_permissions(root.join(format!("run/user/{uid}")), std::fs::Permissions::from_mode(0o700)).unwrap();
    chown_r(root, &format!("/run/user/{uid}"), "alice:alice");
    // The service account lingers to run its own report timer.
    let ud = "/var/lib/reporter/.config/systemd/user";
    put(root, &format!("{ud}/report.timer"), "[Timer]\nOnCalendar=hourly\n[Install]\nWantedBy=timers.target\n", 0o644);
    put(root, &format!("{ud}/report.service"), "[Service]\nExecStart=/usr/bin/true\n", 0o644);
    std::fs::create_dir_all(root.join(format!("{}/timers.target.wants", &ud[1..]))).unwrap();
    std::os::unix::fs::symlink("../report.timer", root.join(format!("{}/timers.target.wants/report.timer", &ud[1..])))
        .unwrap();
    chown_r(root, "/var/lib/reporter/.config", "reporter:reporter");
    put(root, "/var/lib/systemd/linger/reporter", "", 0o644);
    // The team's own backup timer, enabled the way packages and admins do.
    put(root, "/usr/local/sbin/backup", "#!/bin/sh\n", 0o755);
    put(
        root,
        "/etc/systemd/system/backup.timer",
        "[Unit]\nDescription=Nightly backup\n[Timer]\nOnCalendar=*-*-* 02:30\nPersistent=true\n[Install]\nWantedBy=timers.target\n",
        0o644,
    );
    put(
        root,
        "/etc/systemd/system/backup.service",
        "[Service]\nType=oneshot\nExecStart=/usr/local/sbin/backup\n",
        0o644,
    );
    sh(&["systemctl", &format!("--root={r}"), "enable", "backup.timer"]);
}

const CONFIG: &str = "params:\n  TG201: { allowed: [reporter] }\n  TG202: { allowed_users: [reporter] }\n  TG301: { approved: [backup.timer] }\n";

/// Every planned step's path, with its op.
fn planned(root: &Path, cfg: &Path, unsafe_: bool) -> (bool, Vec<(String, String)>) {
    let mut args = vec!["fix", "--format", "json"];
    if unsafe_ {
        args.push("--unsafe");
    }
    let (_, plan) = tg(root, cfg, &args);
    let steps = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["steps"].as_array().unwrap().clone())
        .map(|s| (s["step"]["op"].as_str().unwrap().to_string(), s["step"]["path"].as_str().unwrap().to_string()))
        .collect();
    (plan["changes"].as_bool().unwrap(), steps)
}

#[test]
fn a_real_server_root_with_ordinary_shapes_is_clean_and_planted_shapes_are_exact() {
    let Ok(base) = std::env::var("TIMERGUARD_SERVER_ROOT") else {
        skip("TIMERGUARD_SERVER_ROOT not set (scripts/test.sh builds it)");
        return;
    };
    if !is_root() {
        skip("useradd and owners need root");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    sh(&["cp", "-a", &base, root.to_str().unwrap()]);
    host_shapes(&root);
    let cfg = work.path().join("tg.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();

    let (code, r) = tg(&root, &cfg, &["check", "--format", "json", "--fail-on", "info"]);
    let findings = r["findings"].as_array().unwrap();
    assert_eq!((code, findings.len()), (0, 0), "an ordinary server raises nothing: {findings:#?}");
    assert_eq!(
        r["summary"]["policies"].as_u64(),
        Some(timerguard::policy::builtin_ids().len() as u64),
        "the whole pack ran"
    );
    for unsafe_ in [false, true] {
        let (changes, steps) = planned(&root, &cfg, unsafe_);
        assert!(!changes && steps.is_empty(), "fix (unsafe: {unsafe_}) plans nothing: {steps:?}");
    }
    // `check --cache` on a real root with real accounts: kept, then reused byte for byte.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cache = work.path().join("check.cache");
    let cached = |label: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
            .arg("--root")
            .arg(&root)
            .arg("--config")
            .arg(&cfg)
            .args(["check", "--format", "json", "--fail-on", "info", "--cache", cache.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let plain = Command::new(env!("CARGO_BIN_EXE_timerguard"))
            .arg("--root")
            .arg(&root)
            .arg("--config")
            .arg(&cfg)
            .args(["check", "--format", "json", "--fail-on", "info"])
            .output()
            .unwrap();
        assert!(o.stdout == plain.stdout && o.status.code() == plain.status.code(), "{label}: {err}");
        err
    };
    let first = cached("first");
    assert!(first.contains("checking afresh") && !first.contains("not written"), "{first}");
    let second = cached("second");
    assert!(second.contains("cache: nothing changed"), "{second}");

    // 1. A root service reads a file in bob's home (a drop-in on a packaged service).
    put(&root, "/home/bob/.config/metrics/env", "LEVEL=1\n", 0o644);
    chown_r(&root, "/home/bob/.config", "bob:bob");
    put(
        &root,
        "/etc/systemd/system/logrotate.service.d/metrics.conf",
        "[Service]\nEnvironmentFile=/home/bob/.config/metrics/env\n",
        0o644,
    );
    // 2. A root timer runs a script from /var/tmp.
    put(&root, "/var/tmp/cleanup.sh", "#!/bin/sh\n", 0o755);
    put(
        &root,
        "/etc/systemd/system/cleanup.timer",
        "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n",
        0o644,
    );
    put(&root, "/etc/systemd/system/cleanup.service", "[Service]\nExecStart=/bin/sh /var/tmp/cleanup.sh\n", 0o644);
    sh(&["systemctl", &format!("--root={}", root.display()), "enable", "cleanup.timer"]);
    // 3. A timer without [Install], pulled in by a Wants= drop-in on cron.service.
    put(&root, "/etc/systemd/system/beacon.timer", "[Timer]\nOnCalendar=hourly\n", 0o644);
    put(&root, "/etc/systemd/system/beacon.service", "[Service]\nExecStart=/usr/bin/true\n", 0o644);
    put(&root, "/etc/systemd/system/cron.service.d/override.conf", "[Unit]\nWants=beacon.timer\n", 0o644);

    let after = cached("after the planted shapes");
    assert!(after.contains("changed; checking afresh"), "{after}");
    let (code, r) = tg(&root, &cfg, &["check", "--format", "json", "--fail-on", "info"]);
    assert_eq!(code, 1);
    let mut got: Vec<(String, String, String, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            let at = format!("{}:{}", s("path"), f["line"].as_u64().map_or(String::new(), |l| l.to_string()));
            (s("policy"), s("rule"), s("subject"), at)
        })
        .collect();
    got.sort();
    let want: Vec<(String, String, String, String)> = [
        (
            "TG106",
            "file-writable",
            "/home/bob/.config/metrics/env",
            "/etc/systemd/system/logrotate.service.d/metrics.conf:2",
        ),
        ("TG106", "parent-writable", "/var/tmp/cleanup.sh", "/etc/systemd/system/cleanup.service:2"),
        ("TG301", "unapproved", "beacon.timer", "/etc/systemd/system/beacon.timer:"),
        ("TG301", "unapproved", "cleanup.timer", "/etc/systemd/system/cleanup.timer:"),
        ("TG302", "untrusted-location", "cleanup.timer", "/etc/systemd/system/cleanup.service:2"),
        ("TG310", "timer-injected", "beacon.timer", "/etc/systemd/system/cron.service.d/override.conf:2"),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(got, want);
    let bob = r["findings"].as_array().unwrap().iter().find(|f| f["policy"] == "TG106").unwrap().clone();
    assert!(bob["message"].as_str().unwrap().contains("bob (uid"), "names the controlling user: {bob}");

    let home_dirs = ["/home/", "/var/lib/reporter", "/root"];
    let untouchable = |p: &str| {
        home_dirs.iter().any(|h| p.starts_with(h))
            || p.starts_with("/run/user")
            || ["/tmp", "/var/tmp", "/dev/shm"].iter().any(|d| p == *d || p.starts_with(&format!("{d}/")))
    };
    let (_, safe) = planned(&root, &cfg, false);
    assert!(safe.is_empty(), "every fix here is at the unit (unsafe): {safe:?}");
    let (_, all) = planned(&root, &cfg, true);
    assert!(!all.is_empty());
    for (op, p) in &all {
        assert!(!untouchable(p), "a planned step touches {p} ({op})");
    }
    assert!(all.iter().any(|(op, p)| op == "quarantine" && p.ends_with("logrotate.service.d/metrics.conf")), "{all:?}");
    assert!(all.iter().any(|(op, p)| op == "quarantine" && p.ends_with("cron.service.d/override.conf")), "{all:?}");
}
