//! A gate that cannot pass by accident: a selection that names no policy, a run with no
//! policy, a root that is not a Linux root, a mistyped fact field — each is an error with
//! exit 2 (or 3 for a policy's runtime error) that says what was expected.

use std::process::Command;

use crate::common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn selections_that_match_nothing_are_errors() {
    let fx = planted();
    for (args, want) in [
        (vec!["check", "--select", "TG999"], "--select \"TG999\" matches no policy"),
        (vec!["check", "--ignore", "nonsense"], "--ignore \"nonsense\" matches no policy"),
        (vec!["--no-builtin", "check"], "nothing to check: no policies are loaded"),
        (vec!["check", "--select", "TG1", "--ignore", "TG1"], "the selection leaves no policy to run"),
        (vec!["fix", "--select", "TG99"], "matches no policy"),
    ] {
        let o = fx.cli(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "no report that could read as a pass: {args:?}");
    }
    fx.file("/etc/tg.yaml", "select: [TG99]\n");
    let cfg = fx.host_path("/etc/tg.yaml").display().to_string();
    let o = fx.cli(&["--config", &cfg, "check"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("config {cfg}: select \"TG99\" matches no policy")), "{}", stderr(&o));
    // Ids match in any case, as prefixes: `tg3` is the M1026 family.
    let o = fx.cli(&["check", "--select", "tg3", "--format", "json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = timerguard::policy::builtin_ids().iter().filter(|i| i.starts_with("TG3")).count();
    assert_eq!(r["summary"]["policies"], n, "{}", stderr(&o));
    assert!(r["findings"].as_array().unwrap().iter().any(|f| f["policy"] == "TG303"));
}

#[test]
fn a_root_that_is_not_a_linux_root_is_refused() {
    let empty = tempfile::tempdir().unwrap();
    let tg = |root: &std::path::Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_timerguard")).arg("--root").arg(root).args(args).output().unwrap()
    };
    for cmd in [&["check"][..], &["list"], &["facts"], &["fix"]] {
        let o = tg(empty.path(), cmd);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        let e = stderr(&o);
        assert!(e.contains("does not look like a Linux root") && e.contains("/etc/passwd"), "{e}");
    }
    let fx = planted();
    let o = tg(&fx.host_path("/usr"), &["check"]);
    assert_eq!(o.status.code(), Some(2), "an image's /usr is not its root");
    assert!(stderr(&o).contains("missing /etc, /etc/passwd"), "{}", stderr(&o));
    let o = tg(empty.path(), &["--allow-minimal-root", "check"]);
    assert_eq!(o.status.code(), Some(0), "allowed on purpose: {}", stderr(&o));
}

/// What is wrong with the policies or the selection is said first, and only that; a
/// root that is no root is said once they are fine.
#[test]
fn the_policies_errors_come_before_the_roots() {
    let empty = tempfile::tempdir().unwrap();
    let pol = tempfile::tempdir().unwrap();
    std::fs::write(pol.path().join("bad.rhai"), "const POLICY = #{ id: \"BAD001\" };\nfn check(t, ctx) { let = ; }\n")
        .unwrap();
    let tg = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_timerguard")).arg("--root").arg(empty.path()).args(args).output().unwrap()
    };
    let p = pol.path().to_str().unwrap();
    for (args, want) in [
        (&["--policies", p, "check"][..], "bad.rhai"),
        (&["check", "--select", "TG99"], "matches no policy"),
        (&["check"], "does not look like a Linux root"),
    ] {
        let o = tg(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains(want), "{args:?}: {e}");
        let root_said = e.contains("does not look like a Linux root");
        assert_eq!(root_said, want.contains("Linux root"), "{args:?}: only the first error: {e}");
    }
}

#[test]
fn a_mistyped_fact_field_is_a_located_error() {
    let fx = planted();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("typo.rhai"),
        "const POLICY = #{ id: \"TYPO001\", name: \"typo\", title: \"t\", severity: \"high\", targets: [\"timer\"] };\n\
         fn check(t, ctx) {\n    if t.runs_as.privilegd { violation(\"r\", t.name) }\n}\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("param.rhai"),
        "const POLICY = #{ id: \"TYPO002\", name: \"param\", title: \"t\", severity: \"high\", targets: [\"timer\"], params: #{ allowed: [] } };\n\
         fn check(t, ctx) {\n    if t.name in ctx.params.allowd { return (); }\n}\n",
    )
    .unwrap();
    let o = fx.cli(&["--no-builtin", "--policies", d.path().to_str().unwrap(), "check"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("typo.rhai:3:") && e.contains("unknown fact field 'privilegd' of RunsAs"), "{e}");
    assert!(e.contains("param.rhai:3:") && e.contains("declares no parameter 'allowd'"), "{e}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let fx = planted();
    let bin = env!("CARGO_BIN_EXE_timerguard");
    // `true` reads nothing and exits at once; `head` after ten bytes.
    let cases = [
        ("facts --pretty", "true"),
        ("list", "true"),
        ("list --format json", "true"),
        ("check --format json", "true"),
        ("facts", "head -c 10"),
    ];
    for (cmd, reader) in cases {
        let line = format!("{bin} --root {} {cmd} | {reader} >/dev/null", fx.path().display());
        let o = Command::new("bash").args(["-o", "pipefail", "-c", &line]).output().unwrap();
        let e = stderr(&o);
        assert!(!e.contains("error") && !e.contains("panicked"), "{cmd}: {e}");
        // `check` exits 1 on the planted findings; the others 0.
        let want = if cmd.starts_with("check") { 1 } else { 0 };
        assert_eq!(o.status.code(), Some(want), "{cmd}: {e}");
    }
}

#[test]
fn reading_slash_without_systemd_as_pid1_says_so_once() {
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["list"]).output().unwrap();
    let notes = stderr(&o).matches("note: systemd is not PID 1 here").count();
    assert_eq!(notes, usize::from(pid1.trim() != "systemd"), "{}", stderr(&o));
    let fx = planted();
    assert!(!stderr(&fx.cli(&["list"])).contains("note:"), "an image root is offline by nature");
}
