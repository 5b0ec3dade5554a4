//! The cost of `timerguard watch` (not a test): `cargo bench --bench watch`, as root.
//!
//! On the 1,000- and 10,000-user corpus roots (`benches/corpus/make_corpus.sh`, cached in
//! `target/bench-corpus/`), for `--debounce 300` (the default) and `--debounce 0`:
//! - start-up: until the watch says how many directories it holds (one full check);
//! - idle: inotify watches (counted from /proc/PID/fdinfo), resident and peak memory
//!   (VmRSS, VmHWM), CPU time used over 5 s of quiet;
//! - latency from a write to the JSON line that reports it: a timer written into a
//!   user's `~/.config/systemd/user` (only that user is re-read; median of 5) and into
//!   `/etc/systemd/system` (the shared scopes change: everything is re-read; median of 2).
//!
//! `TG_WATCH_USERS=1000,10000` picks the sizes.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

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

/// Starts a watch; returns it, the start-up time and the directory count it reports.
fn start(root: &Path, debounce: u64) -> (Watch, Duration, usize) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(root)
        .args(["watch", "--debounce", &debounce.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    while !first.starts_with("watching ") {
        first.clear();
        assert!(err.read_line(&mut first).unwrap() > 0, "the watch ended");
    }
    let startup = t.elapsed();
    let dirs = first.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    std::thread::spawn(move || for _ in err.lines() {});
    let (tx, lines) = channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    (Watch { child, lines }, startup, dirs)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// inotify watches the process holds, from its fdinfo.
fn inotify_watches(pid: u32) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path()) {
            n += s.lines().filter(|l| l.starts_with("inotify wd:")).count();
        }
    }
    n
}

/// CPU time (user + system) in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Writes a world-writable timer (a finding in any scope) and waits for its line.
fn latency(w: &Watch, dir: &Path, name: &str) -> Duration {
    while w.lines.try_recv().is_ok() {}
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    let t = Instant::now();
    std::fs::write(&p, "[Timer]\nOnCalendar=daily\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    loop {
        let l = w.lines.recv_timeout(Duration::from_secs(120)).expect("no finding within 120 s");
        if l.contains(name) && l.contains("\"new\"") {
            return t.elapsed();
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if !bench || !nix::unistd::geteuid().is_root() {
        println!("watch: run as root with `cargo bench --bench watch`");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-corpus");
    std::fs::create_dir_all(&dir).unwrap();
    let sizes: Vec<usize> = std::env::var("TG_WATCH_USERS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "| users | debounce | start-up | dirs | inotify watches | idle RSS | peak RSS | idle CPU (5 s) | user write → finding | system write → finding |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for users in sizes {
        let root = common::corpus(&dir, users);
        for debounce in [300, 0] {
            let (w, startup, dirs) = start(&root, debounce);
            let pid = w.child.id();
            std::thread::sleep(Duration::from_secs(1));
            let watches = inotify_watches(pid);
            let c0 = cpu_ticks(pid);
            std::thread::sleep(Duration::from_secs(5));
            let idle_cpu = cpu_ticks(pid) - c0;
            let (rss, hwm) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
            let mut user = Vec::new();
            for i in 0..5 {
                let home = root.join(format!("home/u{}", 1 + (i * 997) % users));
                let d = home.join(".config/systemd/user");
                user.push(latency(&w, &d, &format!("bench-{debounce}-{i}.timer")));
            }
            let mut system = Vec::new();
            for i in 0..2 {
                system.push(latency(&w, &root.join("etc/systemd/system"), &format!("bench-{debounce}-{i}.timer")));
            }
            println!(
                "| {users} | {debounce} ms | {:.2} s | {dirs} | {watches} | {} MiB | {} MiB | {} ticks | {:.0} ms | {:.2} s |",
                startup.as_secs_f64(),
                rss / 1024,
                hwm / 1024,
                idle_cpu,
                median(user).as_secs_f64() * 1000.0,
                median(system).as_secs_f64()
            );
            drop(w);
            // Leave the corpus as it was.
            for i in 0..5 {
                let home = root.join(format!("home/u{}", 1 + (i * 997) % users));
                let _ = std::fs::remove_file(home.join(format!(".config/systemd/user/bench-{debounce}-{i}.timer")));
            }
            for i in 0..2 {
                let _ = std::fs::remove_file(root.join(format!("etc/systemd/system/bench-{debounce}-{i}.timer")));
            }
        }
    }
}
