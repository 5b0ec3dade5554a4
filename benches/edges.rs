//! The large ends of a hostile root (not a test): `cargo bench --bench edges`.
//! Two shapes, each at a tenth and at full size, through the release CLI
//! (`check --format json` with the built-in pack):
//! - ACCOUNTS: passwd with N users (homes absent, as on a directory-backed host);
//! - TIMERS: N enabled system timers with their services.
//!
//! Prints wall time, the child's peak RSS and the time ratio full/tenth (10 is linear).
//! Defaults 100,000 users and 20,000 timers (TG_EDGE_USERS, TG_EDGE_TIMERS).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn write(root: &Path, p: &str, content: &str) {
    let hp = root.join(p.trim_start_matches('/'));
    std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
    std::fs::write(hp, content).unwrap();
}

fn base(root: &Path) {
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    write(root, "/etc/group", "root:x:0:\n");
    write(root, "/usr/lib/systemd/system/timers.target", "[Unit]\nDescription=Timers\n");
}

fn accounts(root: &Path, n: usize) {
    base(root);
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    for u in 0..n {
        let _ = writeln!(passwd, "u{u}:x:{}:{}::/home/u{u}:/bin/bash", 10_000 + u, 10_000 + u);
    }
    write(root, "/etc/passwd", &passwd);
}

fn timers(root: &Path, n: usize) {
    base(root);
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    let d = "/etc/systemd/system";
    for i in 0..n {
        let timer =
            format!("[Timer]\nOnCalendar=*-*-* {:02}:{:02}\n[Install]\nWantedBy=timers.target\n", i % 24, i % 60);
        write(root, &format!("{d}/t{i}.timer"), &timer);
        write(root, &format!("{d}/t{i}.service"), "[Service]\nExecStart=/usr/bin/true\n");
        std::fs::create_dir_all(root.join("etc/systemd/system/timers.target.wants")).unwrap();
        std::os::unix::fs::symlink(
            format!("../t{i}.timer"),
            root.join(format!("etc/systemd/system/timers.target.wants/t{i}.timer")),
        )
        .unwrap();
    }
}

/// Runs `check` on the root; returns (wall time, findings, peak RSS of the largest child
/// so far in MiB — the runs go smallest first, so it is this run's).
fn check(root: &Path) -> (Duration, usize, f64) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["--root", root.to_str().unwrap(), "check", "--format", "json"])
        .output()
        .unwrap();
    let wall = t.elapsed();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let findings = v["findings"].as_array().map_or(0, Vec::len);
    let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    (wall, findings, ru.max_rss() as f64 / 1024.0)
}

/// A root shape: its name, how to build it, its full size.
type Shape = (&'static str, fn(&Path, usize), usize);

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: keep that tiny.
    let bench = std::env::args().any(|a| a == "--bench");
    let users = if bench { env_or("TG_EDGE_USERS", 100_000) } else { 100 };
    let ntimers = if bench { env_or("TG_EDGE_TIMERS", 20_000) } else { 20 };
    let shapes: [Shape; 2] = [("accounts", accounts, users), ("timers", timers, ntimers)];
    println!("| shape | size | check wall | findings | peak RSS |");
    println!("|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (name, make, n) in shapes {
        let mut walls = Vec::new();
        for size in [n / 10, n] {
            let dir = tempfile::tempdir().unwrap();
            make(dir.path(), size);
            let (wall, findings, rss) = check(dir.path());
            println!("| {name} | {size} | {wall:.2?} | {findings} | {rss:.0} MiB |");
            walls.push(wall.as_secs_f64());
        }
        ratios.push(format!("{name}: {:.1}x for 10x the size", walls[1] / walls[0].max(1e-9)));
    }
    println!("\n{}", ratios.join("; "));
}
