//! S23–S35, S41 end to end: unit-file syntax as the collector applies it, timer
//! triggers and pairing, who a service runs as and what it executes.

use std::process::Command;

use timerguard::model::{FileKind, LoadState, ScopeKind};

use crate::common::*;

#[test]
fn s24_s28_continuations_resets_and_last_wins() {
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/etc/systemd/system/t.timer",
            "[Timer]\nOnCalendar=Mon..Fri \\\n# a comment inside the continuation\n  10:00\nOnBootSec=5min\nPersistent=true\nAccuracySec=1h\n",
        )
        .file("/etc/systemd/system/t.timer.d/10.conf", "[Timer]\nPersistent=false\nAccuracySec=2s\n")
        .file("/etc/systemd/system/r.timer", "[Timer]\nOnCalendar=hourly\nOnBootSec=1min\n")
        .file("/etc/systemd/system/r.timer.d/10-reset.conf", "[Timer]\nOnCalendar=\nOnCalendar=weekly\n");
    let h = fx.collect();
    let sys = system(&h);
    let t = timer_of(&sys, "t.timer");
    assert_eq!(t.triggers[0].value, "Mon..Fri    10:00");
    assert_eq!(t.triggers[0].line, 4, "the line of a continued assignment is its last line");
    assert!(!t.persistent, "S28: the last assignment wins across fragment and drop-ins");
    assert_eq!(unit_of(&sys, "t.timer").last("Timer", "AccuracySec").unwrap().value, "2s");
    let r = timer_of(&sys, "r.timer");
    let trig: Vec<(&str, &str)> = r.triggers.iter().map(|x| (x.key.as_str(), x.value.as_str())).collect();
    assert_eq!(trig, [("OnCalendar", "weekly")], "S28: an empty OnCalendar= resets monotonic triggers too");
}

#[test]
fn s26_s27_s29_s30_ignored_lines_are_warned_with_file_and_line() {
    let fx = Fx::new();
    fx.debian_layout().file(
        "/etc/systemd/system/w.timer",
        "OnCalendar=minutely\n[timer]\nOnCalendar=minutely\n[Timer]\noncalendar=minutely\n.include /etc/x\nOnCalendar=\"daily\"\nPersistent=maybe\nX-Approved-By=secops\nOnBootSec=10min\n",
    );
    let h = fx.collect();
    let sys = system(&h);
    let t = timer_of(&sys, "w.timer");
    let trig: Vec<&str> = t.triggers.iter().map(|x| x.value.as_str()).collect();
    assert_eq!(trig, ["10min"]);
    let bad = &t.invalid_triggers[0];
    assert_eq!((bad.value.as_str(), bad.line), ("\"daily\"", 7), "S30: quotes are not stripped, so systemd rejects it");
    assert!(bad.error.is_some());
    assert!(!t.persistent, "S29: an invalid boolean is ignored");
    assert_eq!(unit_of(&sys, "w.timer").last("Timer", "X-Approved-By").unwrap().value, "secops");
    let lines: Vec<u32> =
        h.warnings.iter().filter(|w| w.path == "/etc/systemd/system/w.timer").filter_map(|w| w.line).collect();
    assert_eq!(lines, [1, 2, 5, 6]);
}

#[test]
fn s31_specifiers_in_unit_and_exec() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/hostname", "web1\n")
        .file("/etc/systemd/system/rep@.timer", "[Timer]\nOnCalendar=daily\nUnit=%p-run@%i.service\n")
        .file(
            "/etc/systemd/system/rep-run@.service",
            "[Service]\nUser=nobody\nExecStart=/usr/bin/report --host %H --home %h --as %u %I\n",
        )
        .link("/etc/systemd/system/timers.target.wants/rep@q1.timer", "/etc/systemd/system/rep@.timer");
    let h = fx.collect();
    let sys = system(&h);
    let t = timer_of(&sys, "rep@q1.timer");
    assert_eq!(t.service, "rep-run@q1.service");
    assert_eq!(
        t.exec[0].argv,
        ["/usr/bin/report", "--host", "web1", "--home", "/root", "--as", "root", "q1"],
        "S41: %u/%h are the manager's user"
    );
    assert_eq!(t.runs_as.user, "nobody");
}

#[test]
fn s33_pairing_missing_and_timer_targets() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/orphan.timer", &timer("daily"))
        .file("/etc/systemd/system/chain.timer", "[Timer]\nOnCalendar=daily\nUnit=orphan.timer\n")
        .file("/etc/systemd/system/paired.timer", &timer("daily"))
        .file("/etc/systemd/system/paired.service", &service("/bin/true"));
    let h = fx.collect();
    let sys = system(&h);
    let o = timer_of(&sys, "orphan.timer");
    assert_eq!((o.service.as_str(), o.service_loaded), ("orphan.service", false));
    let c = timer_of(&sys, "chain.timer");
    assert_eq!((c.service.as_str(), c.service_loaded), ("orphan.timer", true));
    assert_eq!(c.unit_setting.as_ref().unwrap().line, 3);
    assert!(timer_of(&sys, "paired.timer").service_loaded);
}

#[test]
fn s34_timer_without_trigger_is_refused() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/none.timer", "[Timer]\nPersistent=true\n[Install]\nWantedBy=timers.target\n")
        .link("/etc/systemd/system/timers.target.wants/none.timer", "../none.timer")
        .file("/etc/systemd/system/badspan.timer", "[Timer]\nOnBootSec=5 parsecs\n")
        .file("/etc/systemd/system/onegood.timer", "[Timer]\nOnBootSec=5 parsecs\nOnBootSec=5min\n");
    let h = fx.collect();
    let sys = system(&h);
    assert_eq!(unit_of(&sys, "none.timer").load_state, LoadState::BadSetting);
    let n = timer_of(&sys, "none.timer");
    assert_eq!((n.activation.state.as_str(), n.activation.will_run), ("bad", false));
    assert_eq!(timer_of(&sys, "badspan.timer").activation.state, "bad");
    let g = timer_of(&sys, "onegood.timer");
    assert_eq!(g.triggers.len(), 1);
    assert_eq!(g.triggers[0].usec, Some(300_000_000));
    assert_eq!(g.invalid_triggers.len(), 1, "one bad line among good ones is only a warning");
}

#[test]
fn s41_runs_as_exec_and_environment_files() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\nsvc:x:990:990::/nonexistent:/usr/sbin/nologin\n")
        .file("/usr/bin/sh", "#!fake\n")
        // A bare name is found only where the file can be executed (`check_x_access`).
        .mode("/usr/bin/sh", 0o755)
        .file("/usr/local/bin/sh", "#!not executable\n")
        .file("/opt/jobs/run.sh", "#!/bin/sh\n")
        .mode("/opt/jobs", 0o777)
        .file("/etc/default/job", "A=1\n")
        .file("/etc/systemd/system/a.timer", &timer("daily"))
        .file(
            "/etc/systemd/system/a.service",
            "[Service]\nExecStartPre=-+/bin/sh /opt/jobs/run.sh\nExecStart=sh -c 'echo hi'\nEnvironmentFile=-/etc/default/job\nEnvironmentFile=/etc/missing\n",
        )
        .file("/etc/systemd/system/b.timer", &timer("daily"))
        .file("/etc/systemd/system/b.service", "[Service]\nUser=toor\nExecStart=/usr/bin/true\n")
        .file("/etc/systemd/system/c.timer", &timer("daily"))
        .file("/etc/systemd/system/c.service", "[Service]\nUser=svc\nExecStart=+/usr/bin/install -d /x\nExecStart=/usr/bin/true\n")
        .file("/etc/systemd/system/d.timer", &timer("daily"))
        .file("/etc/systemd/system/d.service", "[Service]\nDynamicUser=yes\nUser=root\nExecStart=/usr/bin/true\n")
        .file("/etc/systemd/system/e.timer", &timer("daily"))
        .file("/etc/systemd/system/e.service", "[Service]\nUser=svc\nExecStart=!/usr/bin/true\n")
        .file("/etc/systemd/system/f.timer", &timer("daily"))
        .file("/etc/systemd/system/f.service", "[Service]\nUser=svc\nExecStart=!!/usr/bin/true\n");
    let h = fx.collect();
    let sys = system(&h);
    let a = timer_of(&sys, "a.timer");
    assert!(a.runs_as.privileged && a.runs_as.user == "root");
    let pre = &a.exec[0];
    assert_eq!((pre.key.as_str(), pre.prefixes.as_str()), ("ExecStartPre", "-+"));
    assert_eq!(pre.executable.resolved.as_deref(), Some("/usr/bin/sh"), "/bin -> usr/bin followed inside the root");
    assert_eq!(pre.scripts[0].resolved.as_deref(), Some("/opt/jobs/run.sh"));
    assert_eq!(h.paths["/opt/jobs"].mode.0, 0o777, "script parents are recorded");
    assert_eq!(a.exec[1].executable.resolved.as_deref(), Some("/usr/bin/sh"), "bare names use the fixed PATH, x bits");
    assert_eq!(a.exec[1].argv, ["sh", "-c", "echo hi"]);
    assert_eq!(a.environment_files.len(), 2);
    assert_eq!(a.environment_files[0].meta.as_ref().unwrap().kind, FileKind::File);
    assert!(a.environment_files[1].error.is_some());
    let b = timer_of(&sys, "b.timer");
    assert!(b.runs_as.privileged, "a uid-0 account other than root is still root");
    let c = timer_of(&sys, "c.timer");
    assert!(!c.runs_as.user_is_root);
    assert!(c.runs_as.privileged, "some of its code runs as root");
    assert_eq!(c.runs_as.elevated, ["ExecStart"]);
    assert_eq!(c.runs_as.label(), "svc (ExecStart as root)");
    assert_eq!(c.exec.iter().map(|e| e.privileged).collect::<Vec<_>>(), [true, false], "'+' runs with full privileges");
    assert!(!timer_of(&sys, "d.timer").runs_as.privileged, "DynamicUser= never runs as root");
    let e = timer_of(&sys, "e.timer");
    assert!(e.runs_as.privileged && e.exec[0].privileged, "'!' skips the credential change: root");
    let f = timer_of(&sys, "f.timer");
    assert!(!f.runs_as.privileged && !f.exec[0].privileged, "'!!' does nothing where ambient capabilities exist");
    // Every file the service uses, with the setting that names it.
    let roles: Vec<(&str, &str, u32)> =
        a.files.iter().map(|f| (f.role.as_str(), f.target.path.as_str(), f.line)).collect();
    assert_eq!(
        roles,
        [
            ("executable", "/bin/sh", 2),
            ("script", "/opt/jobs/run.sh", 2),
            ("executable", "/usr/bin/sh", 3),
            ("environment-file", "/etc/default/job", 4),
            ("environment-file", "/etc/missing", 5)
        ]
    );
}

/// Fixed "now" for schedule facts: 2025-06-15 12:00:00 UTC.
const NOW: i64 = 1_749_988_800_000_000;

#[test]
fn s34_s39_calendar_validity_normal_form_never_and_intervals() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/allbad.timer", "[Timer]\nOnCalendar=Sat,Sun 25:00\nOnCalendar=@reboot\n")
        .file("/etc/systemd/system/mixed.timer", "[Timer]\nOnCalendar=Sat,Sun 25:00\nOnCalendar=MONDAY 12:00\n")
        .file("/etc/systemd/system/dead.timer", "[Timer]\nOnCalendar=2024-02-30\n")
        .file("/etc/systemd/system/past.timer", "[Timer]\nOnCalendar=2020-01-01 00:00\n")
        .file("/etc/systemd/system/fast.timer", "[Timer]\nOnCalendar=*:0/15\nOnCalendar=hourly\n")
        .file("/etc/systemd/system/mono.timer", "[Timer]\nOnBootSec=15min\nOnUnitActiveSec=30s\n")
        .file("/etc/systemd/system/berlin.timer", "[Timer]\nOnCalendar=weekly Europe/Berlin\n");
    let h = timerguard::collect::collect_at(fx.path(), NOW).unwrap();
    let sys = system(&h);
    assert_eq!(unit_of(&sys, "allbad.timer").load_state, LoadState::BadSetting, "S34: no valid trigger");
    assert_eq!(timer_of(&sys, "allbad.timer").activation.state, "bad");
    let m = timer_of(&sys, "mixed.timer");
    assert_eq!(m.triggers[0].normalized.as_deref(), Some("Mon *-*-* 12:00:00"));
    assert_eq!(m.invalid_triggers.len(), 1, "S34: one bad line among good ones is only ignored");
    assert_eq!(unit_of(&sys, "mixed.timer").load_state, LoadState::Loaded);
    assert_eq!(m.min_interval_usec, Some(7 * 86_400 * 1_000_000));
    let d = timer_of(&sys, "dead.timer");
    assert!(d.never_elapses && d.triggers[0].normalized.as_deref() == Some("2024-02-30 00:00:00"));
    assert!(timer_of(&sys, "past.timer").never_elapses);
    assert_eq!(timer_of(&sys, "fast.timer").min_interval_usec, Some(15 * 60 * 1_000_000));
    let mono = timer_of(&sys, "mono.timer");
    assert_eq!(mono.min_interval_usec, Some(30_000_000), "OnBootSec= fires once; OnUnitActiveSec= repeats");
    assert!(!mono.never_elapses);
    assert_eq!(
        timer_of(&sys, "berlin.timer").triggers[0].normalized.as_deref(),
        Some("Mon *-*-* 00:00:00 Europe/Berlin")
    );
}

#[test]
fn s39_time_zones_come_from_the_roots_zoneinfo_first() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/z.timer", "[Timer]\nOnCalendar=daily Acme/Plant7\n")
        .file("/etc/systemd/system/h.timer", "[Timer]\nOnCalendar=daily Europe/Berlin\n");
    // A zone only the image has (a copy of Berlin under a private name).
    let Ok(berlin) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") else {
        skip("host has no tzdata");
        return;
    };
    fx.bytes("/usr/share/zoneinfo/Acme/Plant7", &berlin);
    let h = timerguard::collect::collect_at(fx.path(), NOW).unwrap();
    let sys = system(&h);
    let z = timer_of(&sys, "z.timer");
    assert_eq!(
        z.triggers.first().and_then(|t| t.normalized.as_deref()),
        Some("*-*-* 00:00:00 Acme/Plant7"),
        "{:?}",
        z.invalid_triggers
    );
    assert_eq!(
        timer_of(&sys, "h.timer").triggers[0].normalized.as_deref(),
        Some("*-*-* 00:00:00 Europe/Berlin"),
        "falls back to the host's zoneinfo"
    );
    let o = fx.cli(&["calendar", "--base-time", "2025-06-15 12:00:00 UTC", "daily Acme/Plant7"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Normalized form: *-*-* 00:00:00 Acme/Plant7"));
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["calendar", "daily Acme/Plant7"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "the host does not know that zone");
}

/// S41: a name set nowhere is unset when a system service's command starts: `${NOPE}` is
/// empty, so `sh ${NOPE}/opt/u/x.sh` runs `/opt/u/x.sh` (measured in `exec_oracle`).
/// Where something the image does not hold may set it — the manager's own environment
/// (`PassEnvironment=`), a PAM session (`PAMName=`), an environment file not read, what
/// the manager sets at start, the `HOME` of an account passwd lacks (NSS may hold it), a
/// user manager's environment — it is kept as written.
#[test]
fn s41_a_name_set_nowhere_is_unset_only_where_nothing_else_could_set_it() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file("/etc/group", "root:x:0:\nalice:x:1000:\n")
        .file("/opt/u/x.sh", "#!/bin/sh\n")
        .dir("/etc/default/a-dir")
        .file("/home/alice/.config/systemd/user/u.timer", &timer("daily"))
        .file("/home/alice/.config/systemd/user/u.service", &service("/bin/sh ${NOPE}/opt/u/x.sh"));
    let cases: [(&str, &str, bool); 10] = [
        ("plain", "", true),
        ("optional", "EnvironmentFile=-/etc/default/none\n", true),
        ("unset", "Environment=NOPE=/elsewhere\nUnsetEnvironment=NOPE\n", true),
        ("required", "EnvironmentFile=/etc/default/none\n", false),
        ("directory", "EnvironmentFile=/etc/default/a-dir\n", false),
        ("passed", "PassEnvironment=NOPE\n", false),
        ("pam", "PAMName=login\n", false),
        ("reset", "PassEnvironment=NOPE\nPassEnvironment=\n", true),
        ("at-start", "#INVOCATION_ID\n", false),
        // An account passwd lacks (NSS may know it): its HOME is not known.
        ("elsewhere", "User=ldapuser\n", false),
    ];
    for (name, extra, _) in cases {
        let var = match name {
            "at-start" => "INVOCATION_ID",
            "elsewhere" => "HOME",
            _ => "NOPE",
        };
        let body = format!("[Service]\n{extra}ExecStart=/bin/sh ${{{var}}}/opt/u/x.sh\n");
        fx.file(&format!("/etc/systemd/system/{name}.timer"), &timer("daily"))
            .file(&format!("/etc/systemd/system/{name}.service"), &body);
    }
    let h = fx.collect();
    let sys = system(&h);
    // A script is an argument that names a file: none when the name is kept.
    for (name, _, emptied) in cases {
        let t = timer_of(&sys, &format!("{name}.timer"));
        let got: Vec<&str> = t.exec[0].scripts.iter().filter(|s| s.meta.is_some()).map(|s| s.path.as_str()).collect();
        let want: &[&str] = if emptied { &["/opt/u/x.sh"] } else { &[] };
        assert_eq!(got, want, "{name}");
    }
    let alice = scope(&h, ScopeKind::User, Some("alice"));
    assert!(
        timer_of(&alice, "u.timer").exec[0].scripts.iter().all(|s| s.meta.is_none()),
        "a user manager's is not known"
    );
}
