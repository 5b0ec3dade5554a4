//! Scale benchmark for collection (not a test): a generated root with USERS accounts,
//! each with 3 enabled user timers and their services, plus SYSTEM_TIMERS system timers.
//! `cargo bench --bench collect` (defaults 10,000 and 500; override with
//! TG_BENCH_USERS / TG_BENCH_SYSTEM_TIMERS). Prints wall time per run and peak RSS.
//! TG_BENCH_ROOT=DIR keeps the generated root for profiling the CLI on it. Then it
//! evaluates the built-in policy pack over the facts three times.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::fmt::Write as _;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn write(root: &Path, p: &str, content: &str) {
    let hp = root.join(p.trim_start_matches('/'));
    std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
    std::fs::write(hp, content).unwrap();
}

fn link(root: &Path, p: &str, target: &str) {
    let hp = root.join(p.trim_start_matches('/'));
    std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
    symlink(target, hp).unwrap();
}

/// Builds the root; returns the number of files written.
fn generate(root: &Path, users: usize, system_timers: usize) -> usize {
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    let mut group = String::from("root:x:0:\n");
    let mut files = 0;
    link(root, "/lib", "usr/lib");
    for i in 0..system_timers {
        let v = "/usr/lib/systemd/system";
        write(
            root,
            &format!("{v}/sys{i}.timer"),
            &format!("[Timer]\nOnCalendar=*-*-* {:02}:{:02}\n[Install]\nWantedBy=timers.target\n", i % 24, i % 60),
        );
        write(root, &format!("{v}/sys{i}.service"), "[Service]\nType=oneshot\nExecStart=/usr/bin/true\n");
        link(root, &format!("/etc/systemd/system/timers.target.wants/sys{i}.timer"), &format!("{v}/sys{i}.timer"));
        files += 3;
    }
    write(root, "/usr/lib/systemd/user/default.target", "[Unit]\nRequires=basic.target\n");
    write(root, "/usr/lib/systemd/user/basic.target", "[Unit]\nWants=timers.target sockets.target\n");
    write(root, "/usr/lib/systemd/user/timers.target", "[Unit]\nDescription=Timers\n");
    for u in 0..users {
        let (name, uid) = (format!("u{u}"), 10_000 + u);
        let _ = writeln!(passwd, "{name}:x:{uid}:{uid}::/home/{name}:/bin/bash");
        let _ = writeln!(group, "{name}:x:{uid}:");
        let d = format!("/home/{name}/.config/systemd/user");
        for t in 0..3 {
            write(
                root,
                &format!("{d}/job{t}.timer"),
                &format!("[Timer]\nOnCalendar=*:0/{}\n[Install]\nWantedBy=timers.target\n", 5 + t),
            );
            write(root, &format!("{d}/job{t}.service"), &format!("[Service]\nExecStart=/home/{name}/bin/job{t}\n"));
            link(root, &format!("{d}/timers.target.wants/job{t}.timer"), &format!("../job{t}.timer"));
            files += 3;
        }
        if u % 10 == 0 {
            write(root, &format!("/var/lib/systemd/linger/{name}"), "");
        }
    }
    write(root, "/etc/passwd", &passwd);
    write(root, "/etc/group", &group);
    files + 2
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: keep that tiny.
    let bench = std::env::args().any(|a| a == "--bench");
    let users = if bench { env_or("TG_BENCH_USERS", 10_000) } else { 20 };
    let sys = if bench { env_or("TG_BENCH_SYSTEM_TIMERS", 500) } else { 5 };
    // TG_BENCH_ROOT=DIR keeps the generated root there (to profile the CLI on it).
    let dir = tempfile::tempdir().unwrap();
    let root =
        std::env::var("TG_BENCH_ROOT").map(std::path::PathBuf::from).unwrap_or_else(|_| dir.path().to_path_buf());
    let t = Instant::now();
    let files = generate(&root, users, sys);
    println!("generated {users} users, {sys} system timers ({files} files) in {:.2?}", t.elapsed());
    for run in 1..=3 {
        let t = Instant::now();
        let host = timerguard::collect::collect(&root).unwrap();
        let timers: usize = host.scopes.iter().map(|s| s.timers.len()).sum();
        let will_run: usize = host.scopes.iter().flat_map(|s| &s.timers).filter(|t| t.activation.will_run).count();
        println!(
            "collect run {run}: {:.3?}  ({timers} timers, {will_run} will run, {} scopes)",
            t.elapsed(),
            host.scopes.len()
        );
        assert_eq!(timers, sys + 3 * users);
        assert_eq!(will_run, sys + 3 * users);
    }
    // `check` with the built-in pack, defaults (no config), on the same facts.
    let host = std::sync::Arc::new(timerguard::collect::collect(&root).unwrap());
    let limits = timerguard::policy::engine::Limits::default();
    let set = timerguard::policy::PolicySet::load(true, &[], &limits, &Default::default()).unwrap();
    let all: Vec<_> = set.policies.iter().collect();
    for run in 1..=3 {
        let t = Instant::now();
        let ev = timerguard::policy::evaluate(
            &set,
            &all,
            &host,
            &|p| serde_json::Value::Object(p.meta.params.clone().into_iter().collect()),
            &limits,
        );
        println!(
            "check run {run}: {:.3?}  ({} policies, {} findings, {} errors)",
            t.elapsed(),
            all.len(),
            ev.findings.len(),
            ev.errors.len()
        );
        assert!(ev.errors.is_empty());
    }
    println!("peak RSS: {:.1} MiB", peak_rss_mib());
}
