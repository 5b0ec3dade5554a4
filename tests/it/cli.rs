//! The CLI as a user meets it: `list` (text and JSON) and `facts`, snapshotted; the
//! live system; a real Debian root gated against systemctl.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn demo() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file("/etc/group", "root:x:0:\nalice:x:1000:\n")
        .file("/usr/bin/backup", "#!/bin/sh\n")
        .file(
            "/usr/lib/systemd/system/backup.timer",
            "[Timer]\nOnCalendar=daily\nPersistent=true\n[Install]\nWantedBy=timers.target\n",
        )
        .file("/usr/lib/systemd/system/backup.service", &service("/usr/bin/backup --all"))
        .link("/etc/systemd/system/timers.target.wants/backup.timer", "/usr/lib/systemd/system/backup.timer")
        .file("/etc/systemd/system/report.timer", "[Timer]\nOnBootSec=15min\nOnUnitActiveSec=1h\n")
        .file("/etc/systemd/system/report.service", "[Service]\nUser=nobody\nExecStart=/usr/bin/backup --report\n")
        .link("/etc/systemd/system/off.timer", "/dev/null")
        .file("/home/alice/.config/systemd/user/sync.timer", &timer("*:0/15"))
        .file("/home/alice/.config/systemd/user/sync.service", &service("/home/alice/bin/sync"))
        .link("/home/alice/.config/systemd/user/timers.target.wants/sync.timer", "../sync.timer")
        .file("/var/lib/systemd/linger/alice", "");
    fx
}

#[test]
fn list_text_snapshot() {
    let out = demo().cli(&["list"]);
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn list_json_is_versioned() {
    let out = demo().cli(&["list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "timerguard.list/v1");
    insta::assert_json_snapshot!(v);
}

#[test]
fn facts_round_trip_and_schema() {
    let fx = demo();
    let out = fx.cli(&["facts"]);
    assert!(out.status.success());
    let host: timerguard::model::Host = serde_json::from_slice(&out.stdout).expect("facts deserialise into Host");
    assert_eq!(host.schema, "timerguard.facts/v1");
    let again = serde_json::to_vec(&host).unwrap();
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b: Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(a, b, "facts are a lossless, documented value");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&fx.path().display().to_string()), "paths are in-image");
}

#[test]
fn output_is_deterministic() {
    let fx = demo();
    assert_eq!(fx.cli(&["facts"]).stdout, fx.cli(&["facts"]).stdout);
}

#[test]
fn list_on_this_machine_completes() {
    let out = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["list", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["timers"].is_array());
}

/// A real Debian root built by debootstrap (scripts/test.sh sets TIMERGUARD_DEBIAN_ROOT):
/// every system and global unit file's state equals `systemctl --root [--global]
/// list-unit-files`, and `list` shows exactly the system timers systemctl lists.
#[test]
fn debian_root_matches_systemctl() {
    let Ok(root) = std::env::var("TIMERGUARD_DEBIAN_ROOT") else {
        skip("TIMERGUARD_DEBIAN_ROOT not set (scripts/test.sh builds one with debootstrap)");
        return;
    };
    if !have("systemctl") {
        return;
    }
    let host = timerguard::collect::collect(std::path::Path::new(&root)).unwrap();
    for (global, kind) in [(false, timerguard::model::ScopeKind::System), (true, timerguard::model::ScopeKind::Global)]
    {
        let mut args = vec![format!("--root={root}")];
        if global {
            args.push("--global".into());
        }
        args.extend(["list-unit-files", "--no-legend", "--no-pager"].map(String::from));
        let out = Command::new("systemctl").args(&args).output().unwrap();
        let theirs = parse_unit_files(&String::from_utf8_lossy(&out.stdout));
        let ours = our_unit_files(host.scopes.iter().find(|s| s.kind == kind).unwrap());
        assert_eq!(ours, theirs, "global={global}");
        assert!(ours.len() > 100 || global, "a real root has many units");
    }
    let sys = system(&host);
    let listed: Vec<&str> = sys.timers.iter().map(|t| t.name.as_str()).collect();
    let want: Vec<&str> =
        sys.unit_files.keys().filter(|n| n.ends_with(".timer") && !n.contains("@.")).map(String::as_str).collect();
    assert_eq!(listed, want);
    assert!(sys.timers.iter().any(|t| t.name == "apt-daily.timer" && t.activation.will_run));
    assert!(host.warnings.is_empty(), "{:?}", host.warnings);
}

#[test]
fn completions_load_in_bash_and_the_man_page_lists_every_command() {
    let bin = env!("CARGO_BIN_EXE_timerguard");
    let o = Command::new("bash")
        .args(["-c", &format!("source <({bin} completions bash) && complete -p timerguard")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("-F _timerguard"), "bash registered the completion function");
    let man = String::from_utf8(Command::new(bin).arg("man").output().unwrap().stdout).unwrap();
    assert!(man.starts_with(".ie") && man.contains(".TH timerguard 1"));
    assert!(man.contains(".SH \"EXIT STATUS\"") && man.contains(".SH EXAMPLES"), "{man}");
    let exit = &man[man.find("EXIT STATUS").unwrap()..man.find(".SH EXAMPLES").unwrap()];
    for code in 0..=4 {
        assert!(exit.contains(&format!(".B {code}\n")), "exit status {code} documented");
    }
    for cmd in ["check", "list", "facts", "fix", "undo", "policies", "explain", "init", "test", "calendar", "timespan"]
    {
        assert!(
            man.contains(&format!("timerguard\\-{cmd}(1)")) || man.contains(&format!("\\fB{cmd}\\fR")),
            "{cmd} missing from the man page"
        );
    }
    let help = String::from_utf8(Command::new(bin).arg("--help").output().unwrap().stdout).unwrap();
    insta::assert_snapshot!("help", help);
}

/// A reader that stops early (`timerguard list --format json | head`) is not a failure
/// (`no_silent_pass::a_closed_pipe_ends_quietly`), also for JSON written in parallel
/// parts (the list's rows, the report's findings in batches): nothing on stderr, and the
/// exit code of the whole run (`check` still gates: 1 on its findings). 1,500 timers
/// make each document larger than a pipe's buffer and the findings more than a batch.
#[test]
fn a_closed_pipe_ends_a_large_json_document_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let fx = Fx::new();
    fx.debian_layout().file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n").file("/etc/group", "root:x:0:\n");
    for i in 0..1500 {
        fx.file(&format!("/etc/systemd/system/job{i}.timer"), &timer("daily"))
            .file(&format!("/etc/systemd/system/job{i}.service"), &service("/tmp/job"))
            .link(&format!("/etc/systemd/system/timers.target.wants/job{i}.timer"), &format!("../job{i}.timer"));
    }
    for args in [&["list", "--format", "json"][..], &["check", "--format", "json"]] {
        let whole = fx.cli(args);
        assert!(whole.stdout.len() > 1 << 17, "{args:?}: {} bytes", whole.stdout.len());
        let mut child = Command::new(env!("CARGO_BIN_EXE_timerguard"))
            .arg("--root")
            .arg(fx.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut head).unwrap();
        // The read end is closed here: every write after the pipe's buffer fills fails.
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(head, whole.stdout[..100], "{args:?}");
        assert_eq!(status.code(), whole.status.code(), "{args:?}: stderr {err}");
        assert_eq!(whole.status.code(), Some(i32::from(args[0] == "check")), "{args:?}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}
