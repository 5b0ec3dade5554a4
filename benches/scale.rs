//! Speed and memory at scale, as ratios to the I/O floor (not a test): `cargo bench
//! --bench scale` (as root: the corpus generator chowns to fake uids).
//!
//! Builds the 1,000- and 10,000-user roots of `benches/corpus/make_corpus.sh` (cached in
//! `target/bench-corpus/`), compiles `benches/corpus/floor_probe.rs` (a bare Rust program
//! that lstats every entry and reads every unit file) with `rustc -O`, then, for each
//! root, runs in turn, `TG_SCALE_RUNS` times (default 3): the floor with 2 threads and
//! with 1, `timerguard list --format json`, `timerguard check --format json` and `check`
//! on one thread (`RAYON_NUM_THREADS=1`); then the warm re-check: `check --cache FILE`
//! once to keep the report (after a pause: files changed within a second are not
//! trusted), and each round a `check --cache` with nothing changed, against the stat-only
//! walk (the floor probe with its read of unit files switched off, derived at bench time). Prints the median
//! wall time of each, its ratio to the matching floor, and the peak RSS of `check` (GNU
//! time's `%M`). The findings of
//! the release build are the same as of the whole-host path (tests/it/streaming.rs).
//! `TG_SCALE_USERS=1000,10000` picks the sizes.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;
use common::corpus;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Wall time (s) and peak RSS (KiB) of one run, through GNU time.
fn run(cmd: &[&str], env: &[(&str, &str)]) -> (f64, u64) {
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%M", "-o", rss_file.path().to_str().unwrap()]).args(cmd);
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let o = c.output().unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    let rss = std::fs::read_to_string(rss_file.path()).unwrap().trim().lines().last().unwrap().parse().unwrap_or(0);
    (wall, rss)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if !bench || !nix::unistd::geteuid().is_root() || !Path::new("/usr/bin/time").exists() {
        println!("scale: run as root with `cargo bench --bench scale` (needs GNU time)");
        return;
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let dir = target.join("bench-corpus");
    std::fs::create_dir_all(&dir).unwrap();
    let build = |name: &str, src: &Path| {
        let bin = dir.join(name);
        let st = Command::new("rustc").args(["-C", "opt-level=3", "-o"]).arg(&bin).arg(src).status().unwrap();
        assert!(st.success());
        bin
    };
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus/floor_probe.rs"));
    let probe = build("floor_probe", src);
    // The stat-only walk is the floor probe with its one read of unit files switched off,
    // derived here so that it cannot drift from the probe.
    let text = std::fs::read_to_string(src).unwrap();
    let read = "} else if ft.is_file() {";
    assert_eq!(text.matches(read).count(), 1, "floor_probe.rs reads unit files in one place");
    let walk_src = dir.join("stat_walk.rs");
    std::fs::write(&walk_src, text.replace(read, "} else if false && ft.is_file() {")).unwrap();
    let walker = build("stat_walk", &walk_src);
    let cache_dir = tempfile::tempdir().unwrap();
    let tg = env!("CARGO_BIN_EXE_timerguard");
    let runs: usize = std::env::var("TG_SCALE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let sizes: Vec<usize> = std::env::var("TG_SCALE_USERS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "| users | floor 2 thr | floor 1 thr | list (×floor) | check (×floor) | check 1 thr (×floor 1) | check peak RSS | stat-only walk | warm re-check (×walk) | warm RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut checks = Vec::new();
    for users in sizes {
        let root = corpus(&dir, users);
        let r = root.to_str().unwrap();
        let p = probe.to_str().unwrap();
        let mut m: Vec<Vec<f64>> = vec![Vec::new(); 7];
        let mut rss = 0;
        let mut warm_rss = 0;
        let cache = cache_dir.path().join(format!("c{users}"));
        let c = cache.to_str().unwrap();
        let cached = [tg, "--root", r, "check", "--format", "json", "--cache", c];
        std::thread::sleep(std::time::Duration::from_millis(1100));
        run(&cached, &[]);
        let again = Command::new(cached[0]).args(&cached[1..]).output().unwrap();
        let said = String::from_utf8_lossy(&again.stderr);
        assert!(said.contains("cache: nothing changed"), "the warm re-check reuses the report: {said}");
        for _ in 0..runs {
            // Paired: each round runs every command once, so drift hits all alike.
            m[0].push(run(&[p, r, "2"], &[]).0);
            m[1].push(run(&[p, r, "1"], &[]).0);
            m[2].push(run(&[tg, "--root", r, "list", "--format", "json"], &[]).0);
            let (w, k) = run(&[tg, "--root", r, "check", "--format", "json"], &[]);
            m[3].push(w);
            rss = rss.max(k);
            m[4].push(run(&[tg, "--root", r, "check", "--format", "json"], &[("RAYON_NUM_THREADS", "1")]).0);
            m[5].push(run(&[walker.to_str().unwrap(), r, "2"], &[]).0);
            let (w, k) = run(&cached, &[]);
            m[6].push(w);
            warm_rss = warm_rss.max(k);
        }
        let med: Vec<f64> = m.into_iter().map(median).collect();
        println!(
            "| {users} | {:.2} s | {:.2} s | {:.2} s ({:.1}×) | {:.2} s ({:.1}×) | {:.2} s ({:.1}×) | {} MiB | {:.2} s | {:.2} s ({:.2}×) | {} MiB |",
            med[0],
            med[1],
            med[2],
            med[2] / med[0],
            med[3],
            med[3] / med[0],
            med[4],
            med[4] / med[1],
            rss / 1024,
            med[5],
            med[6],
            med[6] / med[5],
            warm_rss / 1024
        );
        checks.push((users, med[3], med[0]));
    }
    if let [(u1, t1, f1), (u2, t2, f2)] = checks[..] {
        // The floor's own ratio says how much of the corpus is fixed work (its 500 system
        // timers and /usr): a ratio the floor itself cannot reach is not a target.
        println!(
            "\ncheck time {u2}/{u1} users: {:.1}× for {:.0}× the users (the 2-thread floor: {:.1}×)",
            t2 / t1,
            u2 as f64 / u1 as f64,
            f2 / f1
        );
    }
    // Negative dentries left by earlier runs slow every path lookup, the floor's too.
    if let Ok(d) = std::fs::read_to_string("/proc/sys/fs/dentry-state") {
        let f: Vec<&str> = d.split_whitespace().collect();
        println!("dentry cache: {} dentries, {} negative", f.first().unwrap_or(&"?"), f.get(4).unwrap_or(&"?"));
    }
}
