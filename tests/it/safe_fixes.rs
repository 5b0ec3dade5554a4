//! Fixes a fleet can run unattended. Over every built-in policy's planted cases, and a
//! root with the shapes of a real host (homes, a logged-in user's /run/user/UID, sticky
//! /tmp, /var/tmp and /dev/shm, a root service using files in a home and in /var/tmp):
//! - no planned step — safe or `--unsafe` — changes a home (beyond the user's own unit
//!   directories), /run/user/UID, or a shared (sticky, world-writable) directory;
//! - safe steps only remove group/other write or give a path to root;
//! - applying every fix never creates a finding: the set only shrinks.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;
use timerguard::policy::testcase;

use crate::common::*;

type Key = (String, String, String, String);

/// (policy, rule, scope, subject) of every finding.
fn keys(r: &Value) -> BTreeSet<Key> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (s(&f["policy"]), s(&f["rule"]), s(&f["scope"]), s(&f["subject"])))
        .collect()
}

fn run(root: &Path, cfg: &Path, args: &[&str]) -> (i32, Value) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_timerguard"))
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

/// Each built-in case as a root of its own (with its parameters in a config file).
fn case_roots() -> Vec<(String, tempfile::TempDir, std::path::PathBuf)> {
    testcase::builtin_cases()
        .into_iter()
        .map(|(id, case)| {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir(&root).unwrap();
            testcase::build_root(&root, &case.root).unwrap();
            let cfg = dir.path().join("tg.yaml");
            let params = serde_json::json!({ "params": { id.clone(): case.params } });
            std::fs::write(&cfg, serde_json::to_string(&params).unwrap()).unwrap();
            (format!("{id} {}", case.name), dir, cfg)
        })
        .collect()
}

/// A host's ordinary shapes, and a root service using files in a home and in /var/tmp.
fn shapes() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\ncarol:x:1002:1002::/home/carol:/bin/bash\n",
        )
        .file("/etc/group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\ncarol:x:1002:\n")
        .dir("/tmp")
        .mode("/tmp", 0o1777)
        .dir("/var/tmp")
        .mode("/var/tmp", 0o1777)
        .dir("/dev/shm")
        .mode("/dev/shm", 0o1777)
        .file("/var/tmp/job.sh", "#!/bin/sh\n")
        .mode("/var/tmp/job.sh", 0o755)
        .file("/home/alice/.config/systemd/user/sync.timer", &timer("hourly"))
        .file("/home/alice/.config/systemd/user/sync.service", &service("/usr/bin/true"))
        .link("/home/alice/.config/systemd/user/timers.target.wants/sync.timer", "../sync.timer")
        .mode("/home/alice/.config/systemd/user", 0o777)
        .mode("/home/alice", 0o700)
        .dir("/run/user/1000/systemd/transient")
        .mode("/run/user/1000", 0o700)
        .file("/home/bob/.config/metrics/env", "A=1\n")
        .mode("/home/bob/.config/metrics/env", 0o666)
        .dir("/home/carol/.config/systemd/user")
        .mode("/home/carol", 0o777)
        .file("/usr/lib/systemd/system/metrics.timer", &timer("hourly"))
        .file("/usr/lib/systemd/system/metrics.service", &service("/usr/bin/true"))
        .link("/usr/lib/systemd/system/timers.target.wants/metrics.timer", "../metrics.timer")
        .file("/etc/systemd/system/metrics.service.d/env.conf", "[Service]\nEnvironmentFile=/home/bob/.config/metrics/env\n")
        .file("/etc/systemd/system/tmpjob.timer", &timer("daily"))
        .file("/etc/systemd/system/tmpjob.service", &service("/bin/sh /var/tmp/job.sh"))
        .link("/etc/systemd/system/timers.target.wants/tmpjob.timer", "../tmpjob.timer")
        .file("/etc/tg.yaml", "{}\n");
    for (p, uid) in [
        ("/home/alice", 1000),
        ("/home/alice/.config", 1000),
        ("/home/alice/.config/systemd", 1000),
        ("/home/alice/.config/systemd/user", 1000),
        ("/home/alice/.config/systemd/user/sync.timer", 1000),
        ("/home/alice/.config/systemd/user/sync.service", 1000),
        ("/home/alice/.config/systemd/user/timers.target.wants", 1000),
        ("/run/user/1000", 1000),
        ("/run/user/1000/systemd", 1000),
        ("/run/user/1000/systemd/transient", 1000),
        ("/home/bob", 1001),
        ("/home/bob/.config", 1001),
        ("/home/bob/.config/metrics", 1001),
        ("/home/bob/.config/metrics/env", 1001),
        ("/home/carol", 1002),
        ("/home/carol/.config", 1002),
        ("/home/carol/.config/systemd", 1002),
        ("/home/carol/.config/systemd/user", 1002),
    ] {
        fx.owner(p, uid, uid);
    }
    fx
}

/// Where a step may not go: (why, the path's class) or `None` when it may.
fn forbidden(root: &Path, path: &str, op: &str) -> Option<String> {
    if path == "/run/user" || path.starts_with("/run/user/") {
        return Some("a runtime directory under /run/user".into());
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 || f[2] == "0" || f[5] == "/" || !f[5].starts_with("/home/") {
            continue;
        }
        let home = f[5].trim_end_matches('/');
        if path == home || path.starts_with(&format!("{home}/")) {
            let unit_dirs = [format!("{home}/.config/systemd/user"), format!("{home}/.local/share/systemd/user")];
            let in_units = unit_dirs.iter().any(|d| path == d || path.starts_with(&format!("{d}/")));
            // Unsafe fixes act on the user's own unit directories (disable a user timer);
            // a safe fix there only removes group/other write.
            if in_units && op != "chown" {
                return None;
            }
            return Some(format!("inside the home {home} ({op})"));
        }
    }
    // systemd's own state directory is systemd's even when someone made it 1777 (the
    // timer-stamp CVE-2016-10156 case): tightening it is the fix.
    if path.starts_with("/var/lib/systemd/") {
        return None;
    }
    let mut cur = Path::new(path);
    loop {
        if let Ok(m) = std::fs::symlink_metadata(root.join(cur.strip_prefix("/").unwrap_or(cur)))
            && m.is_dir()
            && m.mode() & 0o1002 == 0o1002
        {
            return Some(format!("a sticky shared directory {} ({op})", cur.display()));
        }
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    None
}

fn check_plan(label: &str, root: &Path, cfg: &Path) -> usize {
    let (_, plan) = run(root, cfg, &["fix", "--unsafe", "--format", "json"]);
    let mut n = 0;
    for a in plan["actions"].as_array().unwrap() {
        for s in a["steps"].as_array().unwrap() {
            let (op, path) = (s["step"]["op"].as_str().unwrap(), s["step"]["path"].as_str().unwrap());
            n += 1;
            if let Some(why) = forbidden(root, path, op) {
                panic!("{label}: {} {} plans `{}`: {why}", a["policy"], a["rule"], s["describe"]);
            }
            if op == "chmod" {
                let (from, to) = (s["before"]["mode"].as_u64().unwrap(), s["step"]["mode"].as_str().unwrap());
                let to = u64::from_str_radix(to, 8).unwrap();
                assert_eq!((from & !to) & !0o022, 0, "{label}: {} removes more than group/other write", s["describe"]);
            }
            if op == "chown" {
                assert_eq!((s["step"]["uid"].as_u64(), s["step"]["gid"].as_u64()), (Some(0), Some(0)), "{label}");
            }
        }
    }
    n
}

#[test]
fn no_fix_of_any_builtin_policy_touches_a_home_run_user_or_a_shared_dir() {
    if !is_root() {
        skip("owners need root");
        return;
    }
    let mut steps = 0;
    for (label, dir, cfg) in case_roots() {
        steps += check_plan(&label, &dir.path().join("root"), &cfg);
    }
    let fx = shapes();
    let cfg = fx.host_path("/etc/tg.yaml");
    let n = check_plan("shapes", fx.path(), &cfg);
    assert!(n > 0 && steps > 50, "the enumeration planned something to check: {n} + {steps} steps");
    // The shapes' risks stay reported, with their fix at the unit.
    let (_, r) = run(fx.path(), &cfg, &["check", "--format", "json", "--fail-on", "info"]);
    let f = r["findings"].as_array().unwrap();
    let by = |subject: &str| f.iter().find(|x| x["policy"] == "TG106" && x["subject"] == subject).cloned();
    let env = by("/home/bob/.config/metrics/env").expect("the root service's file in bob's home is reported");
    assert_eq!(env["fix"]["action"], "quarantine", "the drop-in that added it goes: {env}");
    assert_eq!(env["fix"]["path"], "/etc/systemd/system/metrics.service.d/env.conf");
    assert!(env["message"].as_str().unwrap().contains("bob (uid 1001)"), "{env}");
    let tmp = by("/var/tmp/job.sh").expect("the root service's script in /var/tmp is reported");
    assert_eq!(tmp["fix"]["action"], "disable-timer", "{tmp}");
    assert!(
        !f.iter().any(|x| x["subject"].as_str().is_some_and(|s| s.starts_with("/run/user/1000"))),
        "alice's own runtime directory is hers: {f:?}"
    );
}

#[test]
fn applying_every_fix_never_creates_a_finding() {
    if !is_root() {
        skip("owners need root");
        return;
    }
    let fx = shapes();
    let shapes_cfg = fx.host_path("/etc/tg.yaml");
    let mut roots: Vec<(String, std::path::PathBuf, std::path::PathBuf)> =
        vec![("shapes".into(), fx.path().to_path_buf(), shapes_cfg)];
    let cases = case_roots();
    roots.extend(cases.iter().map(|(l, d, c)| (l.clone(), d.path().join("root"), c.clone())));
    let mut shrunk = 0;
    for (label, root, cfg) in &roots {
        let (_, before) = run(root, cfg, &["check", "--format", "json", "--fail-on", "info"]);
        let (code, out) = run(root, cfg, &["fix", "--unsafe", "--apply", "--format", "json"]);
        assert_eq!(code, 0, "{label}: {out}");
        let (_, after) = run(root, cfg, &["check", "--format", "json", "--fail-on", "info"]);
        let (b, a) = (keys(&before), keys(&after));
        let new: Vec<&Key> = a.difference(&b).collect();
        assert!(new.is_empty(), "{label}: fixes created findings {new:?}");
        shrunk += usize::from(a.len() < b.len());
    }
    assert!(shrunk > 20, "fixes removed findings in {shrunk} roots");
}
