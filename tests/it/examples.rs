//! The examples a new user starts from, run as they would run them: the CI gate script
//! on image roots (a directory, a tar of one, a real Debian root), and the Ansible role
//! with ansible-core against this machine (`connection: local`) on a fixture root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::*;

fn example(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(p)
}

fn gate(image: &Path, out: &Path, env: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(example("ci-gate/gate.sh"))
        .arg(image)
        .arg(out)
        .env("TIMERGUARD", env!("CARGO_BIN_EXE_timerguard"))
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// (policy, rule, subject) of the JSON report's active findings, sorted.
fn active(report: &Path) -> Vec<(String, String, String)> {
    let r: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let mut v: Vec<_> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("waiver").is_none() && f.get("baselined").is_none())
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("policy"), s("rule"), s("subject"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn ci_gate_script_gates_directories_and_tarballs() {
    let fx = planted();
    let out = tempfile::tempdir().unwrap();
    let o = gate(fx.path(), &out.path().join("dir"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("TG303"), "the text report is printed");
    for f in ["timerguard.sarif", "timerguard.junit.xml", "timerguard.json"] {
        assert!(out.path().join("dir").join(f).metadata().unwrap().len() > 0, "{f}");
    }
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("dir/timerguard.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 4);
    let from_dir = active(&out.path().join("dir/timerguard.json"));

    // The same root as an exported container filesystem (owners and modes kept).
    let tar = out.path().join("image.tar.gz");
    let st = Command::new("tar").arg("-czf").arg(&tar).arg("-C").arg(fx.path()).arg(".").status().unwrap();
    assert!(st.success());
    let o = gate(&tar, &out.path().join("tar"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(active(&out.path().join("tar/timerguard.json")), from_dir, "a tarball gates like its directory");

    // A baseline of today's findings lets the gate pass until something new appears.
    let b = out.path().join("baseline.json");
    assert!(fx.cli(&["baseline", "--output", &b.display().to_string()]).status.success());
    let o = gate(fx.path(), &out.path().join("base"), &[("TIMERGUARD_BASELINE", &b.display().to_string())]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // A damaged archive: tar's error, non-zero, and no report that could pass for a result.
    let bad = out.path().join("broken.tar");
    std::fs::write(&bad, b"this is not a tar archive").unwrap();
    let o = gate(&bad, &out.path().join("broken"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.path().join("broken/timerguard.json").exists());

    // Not an image: a usage error.
    let o = gate(&out.path().join("nope"), &out.path().join("x"), &[]);
    assert_eq!(o.status.code(), Some(2));
}

/// A real image nobody here wrote: the stock Debian root passes the gate.
#[test]
fn ci_gate_passes_a_stock_debian_root() {
    let Ok(root) = std::env::var("TIMERGUARD_DEBIAN_ROOT") else {
        skip("TIMERGUARD_DEBIAN_ROOT not set (scripts/test.sh builds one with debootstrap)");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = gate(Path::new(&root), out.path(), &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(active(&out.path().join("timerguard.json")).is_empty());
}

struct Play {
    playbook: String,
    inventory: PathBuf,
    work: tempfile::TempDir,
    root: PathBuf,
}

impl Play {
    fn run(&self, mode: &str, extra: &[&str]) -> (i32, String) {
        let w = self.work.path();
        let vars = serde_json::json!({
            "ansible_become": false, // no sudo here; the test already runs as root
            "timerguard_binary_src": env!("CARGO_BIN_EXE_timerguard"),
            "timerguard_install_dir": w.join("bin"),
            "timerguard_root": self.root,
            "timerguard_reports_dir": w.join("reports"),
            "timerguard_report_path": w.join("host/check.json"),
            "timerguard_cache": w.join("cache/check"),
            "timerguard_mode": mode,
            "timerguard_unsafe": true,
        });
        let o = Command::new(&self.playbook)
            .current_dir(example("ansible"))
            .arg("-i")
            .arg(&self.inventory)
            .arg("playbook.yml")
            .arg("-e")
            .arg(vars.to_string())
            .args(extra)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", w.join("ansible-tmp"))
            .env("ANSIBLE_REMOTE_TEMP", w.join("ansible-tmp"))
            .output()
            .unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        (o.status.code().unwrap(), log)
    }
}

/// `changed=N` from the recap line of the test host.
fn changed(log: &str) -> u32 {
    let line = log.lines().find(|l| l.starts_with("testhost ")).unwrap_or_else(|| panic!("no recap: {log}"));
    let n = line.split("changed=").nth(1).unwrap().split_whitespace().next().unwrap();
    n.parse().unwrap()
}

#[test]
fn ansible_role_gates_enforces_and_honours_check_mode() {
    let Ok(playbook) = std::env::var("TIMERGUARD_ANSIBLE_PLAYBOOK") else {
        skip("TIMERGUARD_ANSIBLE_PLAYBOOK not set (scripts/test.sh installs ansible-core from PyPI)");
        return;
    };
    if !is_root() {
        skip("the role chowns its binary to root");
        return;
    }
    let fx = planted();
    let work = tempfile::tempdir().unwrap();
    let python = Command::new(python()).args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    let inventory = work.path().join("inventory");
    std::fs::write(
        &inventory,
        format!(
            "testhost ansible_connection=local ansible_python_interpreter={}\n",
            String::from_utf8_lossy(&python.stdout).trim()
        ),
    )
    .unwrap();
    let play = Play { playbook, inventory, root: fx.path().to_path_buf(), work };
    let w = play.work.path().to_path_buf();

    // Audit: installs, reports, never fails; the controller gets the report and a summary.
    let (code, log) = play.run("audit", &[]);
    assert_eq!(code, 0, "{log}");
    assert!(w.join("bin/timerguard").exists(), "installed");
    assert_eq!(active(&w.join("reports/testhost.json")).len(), 4);
    let summary = std::fs::read_to_string(w.join("reports/fleet-summary.txt")).unwrap();
    assert!(summary.contains("HOSTS (1)") && summary.contains("testhost"), "{summary}");
    assert!(summary.contains("fail-on high: FAIL"), "{summary}");

    // Gate: the host fails on its findings; the fleet summary is still written.
    let (code, log) = play.run("gate", &[]);
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("findings at or above the fail-on severity"), "{log}");
    assert!(w.join("cache/check").exists(), "the check keeps its report for the next run");

    // Check mode: changed from the plan, nothing touched, no gate failure.
    let before = listing(fx.path());
    let (code, log) = play.run("enforce", &["--check"]);
    assert_eq!(code, 0, "{log}");
    assert!(changed(&log) >= 1, "check mode reports what would change: {log}");
    assert!(log.contains("chmod 0666 → 0644"), "the plan's steps are shown: {log}");
    assert_eq!(listing(fx.path()), before, "check mode touches nothing");
    assert!(!fx.path().join("var/lib/timerguard/journal").exists());

    // Enforce: applied, journaled, the gate passes; again: nothing to change.
    let (code, log) = play.run("enforce", &[]);
    assert_eq!(code, 0, "{log}");
    assert!(changed(&log) >= 1, "{log}");
    assert!(fx.path().join("var/lib/timerguard/journal").exists(), "journaled, so `undo` can reverse it");
    assert_eq!(fx.cli(&["check"]).status.code(), Some(0), "enforced host passes the gate");
    let (code, log) = play.run("enforce", &[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(changed(&log), 0, "a second enforce run changes nothing: {log}");
    let fleet: Value = serde_json::from_str(&std::fs::read_to_string(w.join("reports/fleet.json")).unwrap()).unwrap();
    assert_eq!(fleet["hosts"][0]["name"], "testhost");
    assert_eq!(fleet["hosts"][0]["summary"]["result"], "pass");

    // The journal undoes the enforce run on the host.
    assert!(fx.cli(&["undo"]).status.success());
    assert_eq!(listing(fx.path()), before, "undo restores the tree");
}
