//! Detection: `watch` reports each planted thing once — a timer, a drop-in, a new
//! `.wants` link, a new user's home with a timer, a linger file — and nothing for an
//! unrelated write; `audit-rules` covers every search-path directory with rules in
//! auditctl's grammar, and its Sigma form is YAML with both rules.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn watch(fx: &Fx) -> Watch {
    let mut child = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(fx.path())
        .args(["watch", "--debounce", "150"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.starts_with("watching "), "{first}");
    std::thread::spawn(move || for _ in err.lines() {});
    Watch { child, lines }
}

/// The (event, policy, rule, subject) lines that arrive until `want` are all seen (or
/// 10 s pass), then whatever else comes in the next second.
fn events(w: &Watch, want: usize) -> Vec<(String, String, String, String)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut quiet_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let until = quiet_until.unwrap_or(deadline);
        if now >= until {
            break;
        }
        if let Ok(l) = w.lines.recv_timeout(until - now) {
            let v: Value = serde_json::from_str(&l).unwrap();
            let f = &v["finding"];
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            got.push((v["event"].as_str().unwrap().to_string(), s("policy"), s("rule"), s("subject")));
        }
        if got.len() >= want && quiet_until.is_none() {
            quiet_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    got.sort();
    got
}

fn new(policy: &str, rule: &str, subject: &str) -> (String, String, String, String) {
    ("new".into(), policy.into(), rule.into(), subject.into())
}

#[test]
fn watch_reports_each_planted_thing_once_and_nothing_unrelated() {
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n",
        )
        .dir("/home/alice")
        .dir("/var/lib/systemd/linger")
        .file("/usr/lib/systemd/system/cron.service", &service("/usr/sbin/cron"))
        .file("/etc/motd", "hello\n");
    fx.owner("/home/alice", 1000, 1000);
    let w = watch(&fx);

    // A world-writable system timer (with its service).
    fx.file("/etc/systemd/system/x.service", &service("/usr/bin/true"));
    fx.file("/etc/systemd/system/x.timer", &timer("daily")).mode("/etc/systemd/system/x.timer", 0o666);
    assert_eq!(events(&w, 1), [new("TG102", "writable", "/etc/systemd/system/x.timer")]);
    // A drop-in that adds a command to a vendor service.
    fx.file("/etc/systemd/system/cron.service.d/x.conf", "[Service]\nExecStartPre=/usr/bin/true\n");
    assert_eq!(events(&w, 1), [new("TG304", "exec-added", "cron.service")]);
    // A .wants link for a timer without [Install].
    fx.file("/etc/systemd/system/s.timer", "[Timer]\nOnCalendar=hourly\n")
        .file("/etc/systemd/system/s.service", &service("/usr/bin/true"))
        .link("/etc/systemd/system/timers.target.wants/s.timer", "../s.timer");
    assert_eq!(events(&w, 1), [new("TG310", "timer-injected", "s.timer")]);
    // A new user's home, with a timer of theirs.
    fx.file("/home/bob/.config/systemd/user/j.timer", &timer("hourly"))
        .file("/home/bob/.config/systemd/user/j.service", &service("/usr/bin/true"))
        .link("/home/bob/.config/systemd/user/timers.target.wants/j.timer", "../j.timer");
    assert_eq!(events(&w, 1), [new("TG202", "not-allowed", "j.timer")]);
    // Linger for alice.
    fx.file("/var/lib/systemd/linger/alice", "");
    assert_eq!(events(&w, 1), [new("TG201", "not-allowed", "/var/lib/systemd/linger/alice")]);
    // Unrelated writes: nothing.
    fx.file("/etc/motd", "changed\n").file("/home/alice/notes.txt", "x\n");
    assert!(events(&w, 1).is_empty(), "an unrelated write reports nothing");
    // And a fix is seen as resolved.
    fx.mode("/etc/systemd/system/x.timer", 0o644);
    assert_eq!(
        events(&w, 1),
        [(
            "resolved".to_string(),
            "TG102".to_string(),
            "writable".to_string(),
            "/etc/systemd/system/x.timer".to_string()
        )]
    );
}

#[test]
fn audit_rules_cover_every_search_path_directory_in_auditctl_grammar() {
    let fx = planted();
    fx.file(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n",
    )
    .file("/home/alice/.config/systemd/user/s.timer", &timer("daily"))
    .dir("/home/bob/.local/share/systemd/user")
    .dir("/usr/lib/systemd/system-generators")
    .file("/usr/bin/systemctl", "")
    .file("/usr/bin/systemd-run", "");
    let o = fx.cli(&["audit-rules"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rules = String::from_utf8(o.stdout).unwrap();
    let watch = regex_like_watch();
    let mut watched = Vec::new();
    for l in rules.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        if let Some(p) = watch(l) {
            watched.push(p);
            continue;
        }
        let f: Vec<&str> = l.split(' ').collect();
        assert!(
            f.len() == 10
                && f[..3] == ["-a", "always,exit", "-F"]
                && (f[3] == "arch=b64" || f[3] == "arch=b32")
                && f[4..6] == ["-S", "execve"]
                && f[6] == "-F"
                && f[7].starts_with("path=/")
                && f[8] == "-k"
                && f[9].len() <= 31,
            "not auditctl syntax: {l}"
        );
    }
    for tool in ["/usr/bin/systemd-run", "/usr/bin/systemctl", "/usr/bin/loginctl"] {
        assert!(rules.contains(&format!("-F path={tool} -k T1053.006_timer_tools")), "{tool}: {rules}");
    }
    // Every existing directory of every scope's search path is covered (watches are recursive).
    let facts: Value = serde_json::from_slice(&fx.cli(&["facts"]).stdout).unwrap();
    let mut n = 0;
    for s in facts["scopes"].as_array().unwrap() {
        for d in s["search_path"].as_array().unwrap() {
            let Some(r) = d["resolved"].as_str() else { continue };
            n += 1;
            assert!(watched.iter().any(|w| r == w || r.starts_with(&format!("{w}/"))), "{r} not covered:\n{rules}");
        }
    }
    assert!(n >= 5, "the user scopes' own directories are in the facts: {n}");
    assert!(watched.iter().any(|w| w == "/home/alice/.config/systemd/user"), "{rules}");
    assert!(watched.iter().any(|w| w == "/home/bob/.local/share/systemd/user"), "{rules}");
    assert!(watched.iter().any(|w| w == "/var/lib/systemd/linger"), "{rules}");
    // Sigma: YAML, two rules over auditd logs.
    let o = fx.cli(&["audit-rules", "--format", "sigma"]);
    let yaml = String::from_utf8(o.stdout).unwrap();
    let docs: Vec<serde_yaml::Value> =
        serde_yaml::Deserializer::from_str(&yaml).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
    assert_eq!(docs.len(), 2, "{yaml}");
    for d in &docs {
        assert_eq!(d["logsource"]["service"].as_str(), Some("auditd"));
        assert!(d["tags"].as_sequence().unwrap().iter().any(|t| t.as_str() == Some("attack.t1053.006")));
    }
    let dirs = docs[0]["detection"]["selection"]["name|startswith"].as_sequence().unwrap();
    assert!(dirs.iter().any(|x| x.as_str() == Some("/home/alice/.config/systemd/user/")), "{yaml}");
}

/// `-w PATH -p wa -k KEY` (auditctl(8)): the watched path.
fn regex_like_watch() -> impl Fn(&str) -> Option<String> {
    |l: &str| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.len() == 6
            && f[0] == "-w"
            && f[1].starts_with('/')
            && f[2] == "-p"
            && !f[3].is_empty()
            && f[3].chars().all(|c| "rwxa".contains(c))
            && f[4] == "-k"
            && f[5].len() <= 31)
            .then(|| f[1].to_string())
    }
}

/// The unit shipped for `watch` is hardened: systemd's own offline assessment rates its
/// exposure below 3 (of 10).
#[test]
fn the_watch_unit_is_hardened() {
    if !have("systemd-analyze") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc/systemd/system")).unwrap();
    std::fs::create_dir_all(d.path().join("usr/local/bin")).unwrap();
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/systemd/timerguard-watch.service");
    std::fs::copy(unit, d.path().join("etc/systemd/system/timerguard-watch.service")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_timerguard"), d.path().join("usr/local/bin/timerguard")).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--root={}", d.path().display()))
        .arg("timerguard-watch.service")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let level: f64 = out
        .lines()
        .find_map(|l| l.split("timerguard-watch.service: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {out}{}", String::from_utf8_lossy(&o.stderr)));
    assert!(level < 3.0, "exposure {level}:\n{out}");
    let text = std::fs::read_to_string(unit).unwrap();
    for want in ["ProtectSystem=strict", "NoNewPrivileges=yes", "ReadOnlyPaths=/"] {
        assert!(text.contains(want), "{want}");
    }
}
