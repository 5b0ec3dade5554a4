//! S10–S14 and S52: drop-in directories, order and precedence, checked against
//! `systemd-analyze verify`'s unit dump where systemd is installed.

use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::*;

fn dropin_paths(fx: &Fx, unit: &str) -> Vec<String> {
    let h = fx.collect();
    let sys = system(&h);
    unit_of(&sys, unit).dropins.iter().map(|d| d.path.clone()).collect()
}

/// `SYSTEMD_LOG_LEVEL=debug systemd-analyze verify --root=R unit` → (drop-in paths in
/// order, "Persistent:" value, "Accuracy:" value).
fn verify_dump(fx: &Fx, unit: &str) -> (Vec<String>, String, String) {
    let out = Command::new("systemd-analyze")
        .env("SYSTEMD_LOG_LEVEL", "debug")
        .arg("verify")
        .arg(format!("--root={}", fx.path().display()))
        .arg(unit)
        .current_dir(fx.path())
        .output()
        .expect("systemd-analyze");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    let root = fx.path().display().to_string();
    let mut drop = Vec::new();
    let (mut persistent, mut accuracy) = (String::new(), String::new());
    let mut in_unit = false;
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with("-> Unit ") {
            in_unit = t == format!("-> Unit {unit}:");
        }
        if !in_unit {
            continue;
        }
        if let Some(p) = t.strip_prefix("DropIn Path: ") {
            drop.push(p.strip_prefix(&root).unwrap_or(p).to_string());
        } else if let Some(v) = t.strip_prefix("Persistent: ") {
            persistent = v.to_string();
        } else if let Some(v) = t.strip_prefix("Accuracy: ") {
            accuracy = v.to_string();
        }
    }
    (drop, persistent, accuracy)
}

fn base(fx: &Fx) {
    fx.debian_layout()
        .file("/usr/lib/systemd/system/backup-daily.timer", "[Timer]\nOnCalendar=daily\nAccuracySec=1h\n")
        .file("/usr/lib/systemd/system/backup-daily.service", &service("/bin/true"));
}

#[test]
fn s11_s12_order_and_precedence() {
    let fx = Fx::new();
    base(&fx);
    fx.file("/usr/lib/systemd/system/backup-daily.timer.d/05-early.conf", "[Timer]\nAccuracySec=5s\n")
        .file("/etc/systemd/system/backup-daily.timer.d/10-override.conf", "[Timer]\nAccuracySec=10s\n")
        .file("/usr/lib/systemd/system/backup-daily.timer.d/10-override.conf", "[Timer]\nAccuracySec=99s\n")
        .file("/run/systemd/system/backup-daily.timer.d/20-run.conf", "[Timer]\nAccuracySec=20s\n")
        .file("/etc/systemd/system/timer.d/50-all.conf", "[Timer]\nAccuracySec=50s\n")
        .file("/etc/systemd/system/timer.d/same.conf", "[Timer]\nPersistent=true\n")
        .file("/usr/lib/systemd/system/backup-daily.timer.d/same.conf", "[Timer]\nPersistent=false\n")
        .file("/etc/systemd/system/backup-.timer.d/pfx.conf", "[Timer]\nPersistent=true\n")
        .file("/usr/lib/systemd/system/backup-daily.timer.d/pfx.conf", "[Timer]\nPersistent=false\n")
        .file("/etc/systemd/system/backup-daily.timer.d/notconf.txt", "[Timer]\nAccuracySec=1s\n")
        .file("/etc/systemd/system/backup-daily.timer.d/.hidden.conf", "[Timer]\nAccuracySec=1s\n");
    let got = dropin_paths(&fx, "backup-daily.timer");
    assert_eq!(
        got,
        [
            "/usr/lib/systemd/system/backup-daily.timer.d/05-early.conf",
            "/etc/systemd/system/backup-daily.timer.d/10-override.conf", // S12(a): /etc hides /usr/lib
            "/run/systemd/system/backup-daily.timer.d/20-run.conf",
            "/etc/systemd/system/timer.d/50-all.conf",
            "/etc/systemd/system/backup-.timer.d/pfx.conf", // S12(c): directory precedence first
            "/usr/lib/systemd/system/backup-daily.timer.d/same.conf", // S12(b): name-specific beats type-level
        ]
    );
    let h = fx.collect();
    let sys = system(&h);
    let u = unit_of(&sys, "backup-daily.timer");
    let acc = u.last("Timer", "AccuracySec").unwrap();
    assert_eq!((acc.value.as_str(), acc.file.as_str()), ("50s", "/etc/systemd/system/timer.d/50-all.conf"));
    assert_eq!(u.last("Timer", "Persistent").unwrap().value, "false", "same.conf is applied last");
    if have("systemd-analyze") {
        let (drop, persistent, accuracy) = verify_dump(&fx, "backup-daily.timer");
        assert_eq!(drop, got, "drop-in order equals systemd's (S52)");
        assert_eq!((persistent.as_str(), accuracy.as_str()), ("no", "50s"));
    }
}

#[test]
fn s13_dev_null_dropin_suppresses_lower_ones() {
    let fx = Fx::new();
    base(&fx);
    fx.file("/usr/lib/systemd/system/backup-daily.timer.d/50-vendor.conf", "[Timer]\nPersistent=true\n")
        .link("/etc/systemd/system/backup-daily.timer.d/50-vendor.conf", "/dev/null");
    let h = fx.collect();
    let sys = system(&h);
    let u = unit_of(&sys, "backup-daily.timer");
    assert_eq!(u.dropins.len(), 1);
    assert!(u.dropins[0].null, "listed as a drop-in but contributes nothing");
    assert!(u.last("Timer", "Persistent").is_none());
}

#[test]
fn s10_template_and_instance_dirs() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/job@.timer", "[Timer]\nOnCalendar=daily\n")
        .file("/etc/systemd/system/job@.timer.d/a.conf", "[Timer]\nAccuracySec=1s\n")
        .file("/etc/systemd/system/job@beta.timer.d/b.conf", "[Timer]\nAccuracySec=2s\n")
        .file("/etc/systemd/system/timers.target.d/w.conf", "[Unit]\nWants=job@beta.timer\n");
    let got = dropin_paths(&fx, "job@beta.timer");
    assert_eq!(got, ["/etc/systemd/system/job@.timer.d/a.conf", "/etc/systemd/system/job@beta.timer.d/b.conf"]);
    if have("systemd-analyze") {
        assert_eq!(verify_dump(&fx, "job@beta.timer").0, got);
    }
}

/// Random drop-in layouts: every file name in every kind of directory, in random
/// search directories; our order and merged values must equal systemd's.
#[test]
fn s10_s14_random_layouts_match_systemd() {
    if !have("systemd-analyze") {
        return;
    }
    let dirs =
        ["/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system"];
    let subdirs = ["backup-daily-x.timer.d", "backup-daily-.timer.d", "backup-.timer.d", "timer.d", "bk.timer.d"];
    let files = ["10-a.conf", "20-b.conf", "30-c.conf"];
    let strat = proptest::collection::vec(
        (0..dirs.len(), 0..subdirs.len(), 0..files.len(), 1u32..60, any::<bool>(), any::<bool>()),
        1..8,
    );
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&strat, |layout| {
            let fx = Fx::new();
            fx.debian_layout()
                .file("/usr/lib/systemd/system/backup-daily-x.timer", "[Timer]\nOnCalendar=daily\nAccuracySec=1h\n")
                .file("/usr/lib/systemd/system/backup-daily-x.service", &service("/bin/true"))
                .link("/etc/systemd/system/bk.timer", "/usr/lib/systemd/system/backup-daily-x.timer");
            for (d, s, f, acc, pers, null) in &layout {
                let p = format!("{}/{}/{}", dirs[*d], subdirs[*s], files[*f]);
                if fx.host_path(&p).exists() || fx.host_path(&p).is_symlink() {
                    continue;
                }
                if *null && *acc % 5 == 0 {
                    fx.dir("/dev").file("/dev/null", "");
                    fx.link(&p, "/dev/null");
                } else {
                    fx.file(&p, &format!("[Timer]\nAccuracySec={acc}s\nPersistent={pers}\n"));
                }
            }
            let h = fx.collect();
            let sys = system(&h);
            let u = unit_of(&sys, "backup-daily-x.timer");
            let ours: Vec<String> = u.dropins.iter().map(|d| d.path.clone()).collect();
            let (theirs, persistent, accuracy) = verify_dump(&fx, "backup-daily-x.timer");
            prop_assert_eq!(&ours, &theirs);
            let our_acc = u.last("Timer", "AccuracySec").map(|s| s.value.clone()).unwrap_or_default();
            let acc_want = if our_acc == "1h" { "1h".to_string() } else { our_acc.clone() };
            prop_assert_eq!(accuracy.replace("min", "m"), acc_want.replace("min", "m"));
            let our_p = u.last("Timer", "Persistent").map(|s| s.value == "true").unwrap_or(false);
            prop_assert_eq!(persistent == "yes", our_p);
            Ok(())
        })
        .unwrap();
}
