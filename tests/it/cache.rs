//! `check --cache FILE`: a report is reused only while nothing it was made from changed,
//! byte for byte the report of a fresh check; every kind of change (a mode, a content
//! with its mtime put back, an entry added, a directory appearing, an account, a link
//! swapped in, the config, the options, a policy module) makes the next check fresh; a
//! cache that others could write, or a damaged one, is never trusted; a calendar's facts
//! are checked against "now"; and nothing is written while files are changing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

struct Run {
    code: i32,
    out: Vec<u8>,
    err: String,
}

fn check(fx: &Fx, cache: Option<&Path>, args: &[&str]) -> Run {
    let mut a: Vec<String> = ["check", "--format", "json", "--fail-on", "info"].iter().map(|s| s.to_string()).collect();
    if let Some(c) = cache {
        a.push("--cache".into());
        a.push(c.display().to_string());
    }
    a.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = fx.cli_bounded(&refs, Duration::from_secs(120));
    Run { code: o.status.code().unwrap(), out: o.stdout, err: String::from_utf8_lossy(&o.stderr).into_owned() }
}

/// A file changed less than a second ago is not trusted to show a later change: wait.
fn settle() {
    std::thread::sleep(Duration::from_millis(1100));
}

fn cache_path() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("check.cache");
    (d, p)
}

/// After a change: the next check is fresh and keeps its report, the one after reuses
/// it, and both are byte for byte a check without the cache.
fn fresh_then_reused(fx: &Fx, cache: &Path, args: &[&str], label: &str) -> Run {
    settle();
    let plain = check(fx, None, args);
    let first = check(fx, Some(cache), args);
    assert!(first.err.contains("checking afresh"), "{label}: {}", first.err);
    assert!(!first.err.contains("not written"), "{label}: {}", first.err);
    let second = check(fx, Some(cache), args);
    assert!(second.err.contains("cache: nothing changed"), "{label}: {}", second.err);
    for r in [&first, &second] {
        assert_eq!(r.code, plain.code, "{label}: exit code");
        assert!(r.out == plain.out, "{label}: the report differs from a check without the cache");
    }
    second
}

fn header(id: &str) -> String {
    header_on(id, "timer")
}

/// The metadata of a test policy `id` over `target` subjects.
fn header_on(id: &str, target: &str) -> String {
    format!(
        "const POLICY = #{{ id: \"{id}\", name: \"test-{}\", title: \"t\", severity: \"low\", targets: [\"{target}\"] }};\n",
        id.to_lowercase()
    )
}

fn ids(r: &Run) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&r.out).unwrap();
    v["findings"].as_array().unwrap().iter().map(|f| format!("{} {}", f["policy"], f["subject"])).collect()
}

#[test]
fn a_reused_report_is_the_fresh_one_in_every_format() {
    let fx = planted();
    let (_d, cache) = cache_path();
    let r = fresh_then_reused(&fx, &cache, &[], "planted");
    assert_eq!(r.code, 1);
    assert!(!ids(&r).is_empty());
    let meta = std::fs::metadata(&cache).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o600);
    for f in ["text", "sarif", "junit"] {
        let cli = |c: bool| {
            let mut a = vec!["check", "--format", f, "--color", "never", "--fail-on", "info"];
            let s = cache.display().to_string();
            if c {
                a.extend(["--cache", &s]);
            }
            fx.cli(&a)
        };
        let (plain, reused) = (cli(false), cli(true));
        assert!(String::from_utf8_lossy(&reused.stderr).contains("cache: nothing changed"));
        assert!(plain.stdout == reused.stdout, "--format {f}: a reused report renders differently");
        assert_eq!(plain.status.code(), reused.status.code());
    }
    // A baseline is applied after: it works on a reused report as on a fresh one.
    let base = _d.path().join("base.json");
    assert!(fx.cli(&["baseline", "-o", base.to_str().unwrap()]).status.success());
    let b = base.display().to_string();
    let r = check(&fx, Some(&cache), &["--baseline", &b]);
    assert!(r.err.contains("cache: nothing changed"), "{}", r.err);
    assert_eq!(r.code, 0, "every finding is in the baseline");
}

#[test]
fn every_kind_of_change_in_the_root_makes_the_next_check_fresh() {
    let fx = planted();
    fx.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file("/home/alice/.config/systemd/user/sync.timer", &timer("hourly"))
        .file("/home/alice/.config/systemd/user/sync.service", &service("/usr/bin/rsync"));
    let (_d, cache) = cache_path();
    let before = ids(&fresh_then_reused(&fx, &cache, &[], "start"));
    // The first changed path the walk meets is named (an ancestor before what is in it).
    let stale = |what: &str, label: &str| {
        let r = check(&fx, Some(&cache), &[]);
        assert!(r.err.contains(&format!("cache: {what} changed; checking afresh")), "{label}: {}", r.err);
        r
    };

    // A mode: the unit becomes world-writable.
    fx.mode("/etc/systemd/system/beacon.timer", 0o666);
    stale("/etc/systemd/system/beacon.timer", "chmod");
    let after = ids(&fresh_then_reused(&fx, &cache, &[], "chmod"));
    assert!(after.len() > before.len(), "the new finding is reported: {after:?}");

    // A content of the same size with its mtime put back: the ctime still moves.
    let svc = fx.host_path("/etc/systemd/system/beacon.service");
    let mtime = std::fs::metadata(&svc).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&svc).unwrap().replace("198.51.100.7", "198.51.100.8");
    std::fs::write(&svc, text).unwrap();
    std::fs::File::options().write(true).open(&svc).unwrap().set_modified(mtime).unwrap();
    stale("/etc/systemd/system/beacon.service", "content");
    fresh_then_reused(&fx, &cache, &[], "content");

    // An entry added to a user's unit directory.
    fx.file("/home/alice/.config/systemd/user/more.timer", &timer("daily"));
    stale("/home/alice/.config/systemd/user", "new entry");
    fresh_then_reused(&fx, &cache, &[], "new entry");

    // A search directory that did not exist appears.
    fx.file("/home/alice/.local/share/systemd/user/late.timer", &timer("weekly"));
    stale("/home/alice/.local", "new directory");
    let r = ids(&fresh_then_reused(&fx, &cache, &[], "new directory"));
    assert!(r.iter().any(|f| f.contains("late.timer")), "{r:?}");

    // One appears where a directory only looked through (not listed) had it missing, and
    // that directory's mtime is put back: its ctime still moved, so the missing name is
    // looked up again (a directory whose times are unchanged has its missing names
    // trusted without a lookup).
    let sysd = fx.host_path("/home/alice/.config/systemd");
    let mtime = std::fs::metadata(&sysd).unwrap().modified().unwrap();
    fx.file("/home/alice/.config/systemd/user.control/ctl.timer", &timer("weekly"));
    std::fs::File::open(&sysd).unwrap().set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(&sysd).unwrap().modified().unwrap(), mtime);
    stale("/home/alice/.config/systemd/user.control", "mtime put back");
    let r = ids(&fresh_then_reused(&fx, &cache, &[], "mtime put back"));
    assert!(r.iter().any(|f| f.contains("ctl.timer")), "{r:?}");

    // An account added.
    let passwd = std::fs::read_to_string(fx.host_path("/etc/passwd")).unwrap();
    fx.file("/etc/passwd", &format!("{passwd}bob:x:1001:1001::/home/bob:/bin/bash\n"));
    stale("/etc/passwd", "account");
    fresh_then_reused(&fx, &cache, &[], "account");

    // A unit directory swapped for a link to another one.
    let user = fx.host_path("/home/alice/.config/systemd/user");
    std::fs::rename(&user, fx.host_path("/home/alice/elsewhere")).unwrap();
    fx.link("/home/alice/.config/systemd/user", "/home/alice/elsewhere");
    stale("/home/alice/.config/systemd/user", "link");
    fresh_then_reused(&fx, &cache, &[], "link");

    // What the check never looked at may change: a file in a home, one in /etc, one in
    // /home (directories it only looked through count by identity, mode and owner).
    fx.file("/home/alice/notes.txt", "x").file("/etc/motd", "hello").dir("/home/lost+found");
    settle();
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("cache: nothing changed"), "unrelated files: {}", r.err);
    // But the mode of a directory it looked through is seen.
    fx.mode("/home/alice", 0o777);
    stale("/home/alice", "chmod of a home");
    let r = ids(&fresh_then_reused(&fx, &cache, &[], "chmod of a home"));
    assert!(r.iter().any(|f| f.contains("/home/alice")), "a writable home is reported: {r:?}");
}

/// dpkg's database is looked at the way it is read: its status, its `info` directory
/// as a list of names, and only the lists (and digests) read. A package's list changing,
/// or a package appearing, makes the next check fresh; the files of `info` never read (a
/// maintainer script, the digests of a package that owns nothing wanted) may change.
#[test]
fn the_package_database_is_seen_as_far_as_it_is_read() {
    let fx = planted();
    let status = |pkgs: &[&str]| {
        pkgs.iter()
            .map(|p| format!("Package: {p}\nStatus: install ok installed\nArchitecture: all\n\n"))
            .collect::<String>()
    };
    fx.file("/var/lib/dpkg/status", &status(&["beacon", "other"]))
        .file("/var/lib/dpkg/info/beacon.list", "/etc\n/etc/systemd/system\n/etc/systemd/system/beacon.timer\n")
        .file("/var/lib/dpkg/info/other.list", "/usr\n/usr/share/doc/other\n")
        .file("/var/lib/dpkg/info/other.postinst", "#!/bin/sh\n")
        .file("/var/lib/dpkg/info/other.md5sums", "00000000000000000000000000000000  usr/share/doc/other\n");
    let (_d, cache) = cache_path();
    fresh_then_reused(&fx, &cache, &[], "start");
    let stale = |what: &str, label: &str| {
        let r = check(&fx, Some(&cache), &[]);
        assert!(r.err.contains(&format!("cache: {what} changed; checking afresh")), "{label}: {}", r.err);
    };
    // Never read: a maintainer script, and the digests of a package owning nothing wanted.
    fx.file("/var/lib/dpkg/info/other.postinst", "#!/bin/sh\nexit 0\n")
        .file("/var/lib/dpkg/info/other.md5sums", "11111111111111111111111111111111  usr/share/doc/other\n");
    settle();
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("cache: nothing changed"), "files of info never read: {}", r.err);
    // A list that is read: `other` now ships the service too.
    fx.file("/var/lib/dpkg/info/other.list", "/usr\n/usr/share/doc/other\n/etc/systemd/system/beacon.service\n");
    stale("/var/lib/dpkg/info/other.list", "a list");
    fresh_then_reused(&fx, &cache, &[], "a list");
    // Its digests are read now that it owns a unit.
    fx.file(
        "/var/lib/dpkg/info/other.md5sums",
        "22222222222222222222222222222222  etc/systemd/system/beacon.service\n",
    );
    stale("/var/lib/dpkg/info/other.md5sums", "digests of an owner");
    fresh_then_reused(&fx, &cache, &[], "digests of an owner");
    // A package appears: its list is a new name in `info`.
    fx.file("/var/lib/dpkg/info/third.list", "/usr\n");
    stale("/var/lib/dpkg/info", "a new list");
    fresh_then_reused(&fx, &cache, &[], "a new list");
    fx.file("/var/lib/dpkg/status", &status(&["beacon", "other", "third"]));
    stale("/var/lib/dpkg/status", "status");
    fresh_then_reused(&fx, &cache, &[], "status");
}

#[test]
fn other_options_config_or_policies_make_another_key() {
    let fx = planted();
    let (d, cache) = cache_path();
    fresh_then_reused(&fx, &cache, &[], "start");
    // The check with another key is fresh and keeps its report; the next one reuses it.
    let other = |args: &[&str], label: &str| {
        let r = check(&fx, Some(&cache), args);
        assert!(r.err.contains("made with other options") && !r.err.contains("not written"), "{label}: {}", r.err);
        let again = check(&fx, Some(&cache), args);
        assert!(again.err.contains("cache: nothing changed"), "{label}: {}", again.err);
        assert!(again.out == check(&fx, None, args).out, "{label}");
    };
    other(&["--select", "TG1"], "selection");
    other(&["--select", "TG1", "--ignore", "TG101"], "ignore");
    // The same root given another way is another key: reports name it as given.
    let slash = format!("{}/", fx.path().display());
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["--root", &slash, "check", "--format", "json", "--fail-on", "info", "--cache", cache.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&r.stderr);
    assert!(said.contains("made with other options"), "{said}");
    let cfg = d.path().join("tg.yaml");
    std::fs::write(&cfg, "params:\n  TG202: { allowed_users: [alice] }\n").unwrap();
    let c = cfg.display().to_string();
    other(&["--config", &c], "config");
    std::fs::write(&cfg, "params:\n  TG202: { allowed_users: [] }\n").unwrap();
    let r = check(&fx, Some(&cache), &["--config", &c]);
    assert!(r.err.contains("made with other options"), "config content: {}", r.err);

    // A policy module, read at run time from the policy directory, counts too.
    let pol = tempfile::tempdir().unwrap();
    std::fs::write(
        pol.path().join("XX100.rhai"),
        format!(
            "import \"_helper\" as h;\n{}fn check(t, ctx) {{ if h::FLAG {{ violation(\"seen\", \"module\") }} }}\n",
            header("XX100")
        ),
    )
    .unwrap();
    std::fs::write(pol.path().join("_helper.rhai"), "export const FLAG = true;\n").unwrap();
    let p = pol.path().display().to_string();
    let args = ["--policies", p.as_str()];
    let r = fresh_then_reused(&fx, &cache, &args, "policy dir");
    assert!(r.err.contains("cache: nothing changed"));
    assert!(ids(&r).iter().any(|f| f.contains("XX100")), "{}", r.err);
    std::fs::write(pol.path().join("_helper.rhai"), "export const FLAG = false;\n").unwrap();
    let r = check(&fx, Some(&cache), &args);
    assert!(r.err.contains("made with other options"), "module: {}", r.err);
    assert!(!ids(&r).iter().any(|f| f.contains("XX100")), "the module's new value is used");
}

/// A fresh cache is found before any policy is compiled; whatever the ordinary path
/// would refuse (a policy that no longer compiles, a broken config, a root that is not a
/// Linux root) is still refused, with its own error, however fresh the cache.
#[test]
fn errors_come_before_a_fresh_cache() {
    let fx = planted();
    let (d, cache) = cache_path();
    let pol = tempfile::tempdir().unwrap();
    let src = format!("{}fn check(t, ctx) {{ violation(\"seen\", \"x\") }}\n", header("XX400"));
    std::fs::write(pol.path().join("XX400.rhai"), &src).unwrap();
    let cfg = d.path().join("tg.yaml");
    std::fs::write(&cfg, "params:\n  TG202: { allowed_users: [alice] }\n").unwrap();
    let (p, c) = (pol.path().display().to_string(), cfg.display().to_string());
    let args = ["--policies", p.as_str(), "--config", c.as_str()];
    fresh_then_reused(&fx, &cache, &args, "start");

    // The policy broken: a compile error (exit 2), not the cached report; mended, the same
    // source gives the same key (contents count, not times), so the cache is reused.
    let file = pol.path().join("XX400.rhai");
    std::fs::write(&file, src.replace("fn check(t, ctx) {", "fn check(t, ctx) { let = ;")).unwrap();
    let r = check(&fx, Some(&cache), &args);
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(!r.err.contains("cache:"), "no cache step before the compile error: {}", r.err);
    std::fs::write(&file, &src).unwrap();
    let r = check(&fx, Some(&cache), &args);
    assert!(r.err.contains("cache: nothing changed"), "the mended policy: {}", r.err);

    // A config that does not parse, then one naming a policy that does not exist.
    for (text, label) in [("params: [", "unparsable"), ("params:\n  XX999: { a: 1 }\n", "unknown policy")] {
        std::fs::write(&cfg, text).unwrap();
        let r = check(&fx, Some(&cache), &args);
        assert_eq!(r.code, 2, "{label}: {}", r.err);
    }
    std::fs::write(&cfg, "params:\n  TG202: { allowed_users: [alice] }\n").unwrap();
    let r = check(&fx, Some(&cache), &args);
    assert!(r.err.contains("cache: nothing changed"), "the config restored: {}", r.err);

    // Streaming switched off: the cache is not used (the run reads the whole host), though
    // the key is the same; and `--cache` with `--facts` is refused before anything is read.
    let c = cache.display().to_string();
    let root = fx.path().display().to_string();
    let mut whole = vec!["--root", root.as_str(), "check", "--format", "json", "--fail-on", "info", "--cache", &c];
    whole.extend(args);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(&whole)
        .env("TIMERGUARD_NO_STREAM", "1")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("cache: not used:") && said.contains("TIMERGUARD_NO_STREAM"), "{said}");
    assert!(o.stdout == check(&fx, None, &args).out, "the report of a check without the cache");
    let r = check(&fx, Some(&cache), &["--facts", &c]);
    assert_eq!(r.code, 2, "{}", r.err);
    let r = check(&fx, Some(&cache), &args);
    assert!(r.err.contains("cache: nothing changed"), "kept for the streaming run: {}", r.err);

    // Not a Linux root any more (no /etc): refused, as without a cache.
    std::fs::rename(fx.host_path("/etc"), fx.host_path("/etc.moved")).unwrap();
    let r = check(&fx, Some(&cache), &args);
    assert_eq!(r.code, 2, "{}", r.err);
    assert_eq!(r.code, check(&fx, None, &args).code);
}

#[test]
fn a_cache_others_could_write_or_a_damaged_one_is_never_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let fx = planted();
    let (d, cache) = cache_path();
    let good = fresh_then_reused(&fx, &cache, &[], "start");

    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o622)).unwrap();
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("cache: not used:") && r.err.contains("only it can write"), "{}", r.err);
    assert!(r.out == good.out);
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "replaced by a private one");

    // Damaged: a record's number, then the report cut short.
    let text = std::fs::read_to_string(&cache).unwrap();
    let bad = text.replacen("\ns ", "\ns x", 1);
    std::fs::write(&cache, &bad).unwrap();
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("is damaged (line ") && r.err.contains("not a number"), "{}", r.err);
    assert!(r.out == good.out && r.code == good.code);
    std::fs::write(&cache, &text[..text.len() / 2]).unwrap();
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("is damaged ("), "{}", r.err);
    assert!(r.out == good.out);

    // A directory others can write: not read, not written.
    let open = d.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let c = open.join("c");
    let r = check(&fx, Some(&c), &[]);
    assert!(r.err.contains("not used") && r.err.contains("not written"), "{}", r.err);
    assert!(!c.exists());

    // A link planted where the cache goes is not followed, and is replaced.
    let target = d.path().join("target");
    std::fs::write(&target, "keep").unwrap();
    std::fs::remove_file(&cache).unwrap();
    std::os::unix::fs::symlink(&target, &cache).unwrap();
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("cache: not used:"), "{}", r.err);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert!(!std::fs::symlink_metadata(&cache).unwrap().file_type().is_symlink());
}

#[test]
fn nothing_is_kept_while_files_change_or_when_a_policy_reads_the_clock() {
    let fx = planted();
    let (_d, cache) = cache_path();
    // The fixture was written just now: its timestamps cannot show a change made in the
    // same instant, so no cache is written yet.
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("cache: not written:") && r.err.contains("less than a second"), "{}", r.err);
    assert!(!cache.exists());

    let pol = tempfile::tempdir().unwrap();
    std::fs::write(
        pol.path().join("XX200.rhai"),
        format!("{}fn check(t, ctx) {{ let now = timestamp(); () }}\n", header("XX200")),
    )
    .unwrap();
    settle();
    let p = pol.path().display().to_string();
    let r = check(&fx, Some(&cache), &["--policies", &p]);
    assert!(r.err.contains("cache: not used: policy XX200 reads `timestamp`"), "{}", r.err);
    assert!(!cache.exists());

    // A live timer's sub-state moves with the clock too (`running` while its service runs).
    std::fs::write(
        pol.path().join("XX200.rhai"),
        format!(
            "{}fn check(l, ctx) {{ if l.sub_state == \"running\" {{ violation(\"busy\", l.unit) }} }}\n",
            header_on("XX200", "loaded")
        ),
    )
    .unwrap();
    let r = check(&fx, Some(&cache), &["--policies", &p]);
    assert!(r.err.contains("cache: not used: policy XX200 reads `sub_state`"), "{}", r.err);
    assert_ne!(r.code, 3, "the policy runs on loaded timers without failing: {}", r.err);
    assert!(!cache.exists());

    // A module of the policy directory reading the clock counts as much.
    std::fs::write(
        pol.path().join("XX200.rhai"),
        format!("import \"_clock\" as c;\n{}fn check(t, ctx) {{ () }}\n", header("XX200")),
    )
    .unwrap();
    std::fs::write(pol.path().join("_clock.rhai"), "fn now() { timestamp() }\n").unwrap();
    let r = check(&fx, Some(&cache), &["--policies", &p]);
    assert!(r.err.contains("cache: not used:") && r.err.contains("_clock.rhai reads `timestamp`"), "{}", r.err);
    assert!(!cache.exists());
    std::fs::remove_file(pol.path().join("_clock.rhai")).unwrap();

    // A policy that fails at run time: its report is not kept (a failure need not recur).
    std::fs::write(
        pol.path().join("XX200.rhai"),
        format!("{}fn check(t, ctx) {{ throw \"boom\" }}\n", header("XX200")),
    )
    .unwrap();
    let r = check(&fx, Some(&cache), &["--policies", &p]);
    assert_eq!(r.code, 3, "{}", r.err);
    assert!(r.err.contains("cache: not written: a policy failed"), "{}", r.err);
    assert!(!cache.exists());

    // A policy over the whole host runs without streaming, and without the cache.
    std::fs::remove_file(pol.path().join("XX200.rhai")).unwrap();
    std::fs::write(
        pol.path().join("XX300.rhai"),
        header("XX300").replace("targets: [\"timer\"] ", "targets: [] ") + "fn check_host(host, ctx) { () }\n",
    )
    .unwrap();
    let r = check(&fx, Some(&cache), &["--policies", &p]);
    assert!(r.err.contains("cache: not used: a selected policy reads the whole host"), "{}", r.err);
    assert_eq!(r.out, check(&fx, None, &["--policies", &p]).out);
    assert!(!cache.exists());
}

#[test]
fn a_zone_read_from_the_host_is_recorded_and_checked() {
    if !std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
        skip("tzdata not installed");
        return;
    }
    // The image has no zoneinfo: the host's is read, so the host's file is recorded.
    let fx = planted();
    fx.file("/etc/systemd/system/tz.timer", &timer("*-*-* 03:00:00 Europe/Berlin"))
        .file("/etc/systemd/system/tz.service", &service("/bin/true"))
        .link("/etc/systemd/system/timers.target.wants/tz.timer", "../tz.timer");
    let (_d, cache) = cache_path();
    fresh_then_reused(&fx, &cache, &[], "start");
    let text = std::fs::read_to_string(&cache).unwrap();
    let line =
        text.lines().find(|l| l.ends_with("\t/usr/share/zoneinfo/Europe/Berlin")).expect("host record").to_string();
    // As if the host's zone file had changed since: its recorded ctime moves.
    let (stat, path) = line.split_once('\t').unwrap();
    let mut f: Vec<&str> = stat.split(' ').collect();
    f[9] = "1";
    std::fs::write(&cache, text.replace(&line, &format!("{}\t{path}", f.join(" ")))).unwrap();
    let r = check(&fx, Some(&cache), &[]);
    assert!(r.err.contains("cache: host file /usr/share/zoneinfo/Europe/Berlin changed; checking afresh"), "{}", r.err);
}

#[test]
fn a_calendar_is_checked_against_now() {
    let fx = planted();
    fx.file("/etc/systemd/system/once.timer", &timer("2031-01-01 00:00:00 UTC"))
        .file("/etc/systemd/system/once.service", &service("/bin/true"))
        .link("/etc/systemd/system/timers.target.wants/once.timer", "../once.timer");
    let (_d, cache) = cache_path();
    fresh_then_reused(&fx, &cache, &[], "start");
    let text = std::fs::read_to_string(&cache).unwrap();
    let header: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    let key = header["key"].as_str().unwrap();
    let root = timerguard::collect::Root::open(fx.path()).unwrap();
    let now = timerguard::collect::now_usec();
    assert!(matches!(timerguard::cache::lookup(&cache, key, &root, now), timerguard::cache::Lookup::Fresh(_)));
    // In 2032 the one-shot calendar never elapses again: the facts differ, so does the cache.
    let later = 1_956_528_000_000_000; // 2032-01-01
    match timerguard::cache::lookup(&cache, key, &root, later) {
        timerguard::cache::Lookup::Stale(why) => assert!(why.contains("OnCalendar=2031-01-01"), "{why}"),
        timerguard::cache::Lookup::Fresh(_) => panic!("reused a report whose calendar facts moved on"),
    }
}

/// A reused JSON report is sent by the kernel (`sendfile`) where stdout takes it, else
/// copied: it comes out whole and the same, larger than a pipe holds at its biggest
/// (1 MiB), to a pipe, to a non-blocking pipe read only after it filled, to a file, and to
/// a file opened for appending (which `sendfile` refuses), after what that file held. A
/// fresh report gets through a full non-blocking pipe whole as well.
#[test]
fn a_reused_json_report_goes_out_whole_to_any_kind_of_stdout() {
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};
    let fx = planted();
    for i in 0..1200 {
        fx.file(&format!("/etc/systemd/system/bulk{i:04}.timer"), &timer("hourly"))
            .file(&format!("/etc/systemd/system/bulk{i:04}.service"), &service("/usr/bin/true"));
    }
    let pol = tempfile::tempdir().unwrap();
    let pad = "x".repeat(1000);
    let src = format!("{}fn check(t, ctx) {{ violation(\"big\", t.name + \" {pad}\") }}\n", header("XX200"));
    std::fs::write(pol.path().join("XX200.rhai"), src).unwrap();
    let p = pol.path().display().to_string();
    let (d, cache) = cache_path();
    let r = fresh_then_reused(&fx, &cache, &["--policies", &p], "bulk");
    assert!(r.out.len() > 1 << 20, "the report outgrows a pipe: {} bytes", r.out.len());
    let plain = r.out;
    let cmd_as = |cached: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_timerguard"));
        c.arg("--root").arg(fx.path()).args(["check", "--format", "json", "--fail-on", "info", "--policies", &p]);
        if cached {
            c.arg("--cache").arg(&cache);
        }
        c.stderr(Stdio::piped());
        c
    };
    let cmd = || cmd_as(true);
    let reused = |o: &std::process::Output, label: &str| {
        let said = String::from_utf8_lossy(&o.stderr);
        assert!(said.contains("cache: nothing changed") || label.starts_with("fresh"), "{label}: {said}");
        assert!(said.lines().all(|l| !l.starts_with("error")), "{label}: {said}");
        assert_eq!(o.status.code(), Some(1), "{label}");
    };
    // A file, and a file opened for appending that already holds a line.
    for append in [false, true] {
        let path = d.path().join(format!("out-{append}.json"));
        std::fs::write(&path, if append { "before\n" } else { "" }).unwrap();
        let f = std::fs::OpenOptions::new().write(true).append(append).open(&path).unwrap();
        let o = cmd().stdout(f).output().unwrap();
        reused(&o, &format!("append {append}"));
        let want = [if append { b"before\n".as_slice() } else { b"" }, &plain].concat();
        assert!(std::fs::read(&path).unwrap() == want, "append {append}: the file holds another report");
    }
    // A stdout open only for reading takes nothing (EBADF): as with a fresh report, which
    // std's stdout drops without an error, the run ends with its own code, unchanged.
    let path = d.path().join("out-false.json");
    let o = cmd().stdout(std::fs::File::open(&path).unwrap()).output().unwrap();
    reused(&o, "read-only stdout");
    assert!(std::fs::read(&path).unwrap() == plain, "read-only stdout: the file was written");
    // Through a pipe of `size` bytes (the kernel's default when `None`), non-blocking or
    // not, read only once the child had time to fill it: what came and the pipe's size after.
    let through_pipe = |nonblocking: bool, size: Option<i32>, label: &str| {
        let cached = !label.starts_with("fresh");
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let (rd, wr): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
        if let Some(n) = size
            && fcntl(&wr, FcntlArg::F_SETPIPE_SZ(n)).is_err()
        {
            return None; // over pipe-max-size without CAP_SYS_RESOURCE
        }
        if nonblocking {
            let fl = OFlag::from_bits_truncate(fcntl(&wr, FcntlArg::F_GETFL).unwrap());
            fcntl(&wr, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK)).unwrap();
        }
        let mut child = cmd_as(cached).stdout(Stdio::from(wr)).spawn().unwrap();
        let mut se = child.stderr.take().unwrap();
        let errs = std::thread::spawn(move || {
            let mut v = Vec::new();
            se.read_to_end(&mut v).unwrap();
            v
        });
        std::thread::sleep(Duration::from_millis(500));
        let mut rd = std::fs::File::from(rd);
        let mut got = Vec::new();
        rd.read_to_end(&mut got).unwrap();
        let status = child.wait().unwrap();
        let o = std::process::Output { status, stdout: Vec::new(), stderr: errs.join().unwrap() };
        reused(&o, label);
        assert!(got == plain, "{label}: {} bytes of {}", got.len(), plain.len());
        Some(fcntl(&rd, FcntlArg::F_GETPIPE_SZ).unwrap())
    };
    // A default pipe is grown to 1 MiB for the report; a bigger one (where this process
    // may make one: CAP_SYS_RESOURCE, or a raised pipe-max-size) is not made smaller.
    assert_eq!(through_pipe(true, None, "non-blocking pipe"), Some(1 << 20));
    // A fresh report is written through the same kind of pipe whole too (waited on, not
    // "Resource temporarily unavailable").
    through_pipe(true, None, "fresh, non-blocking pipe");
    if let Some(size) = through_pipe(false, Some(4 << 20), "a 4 MiB pipe") {
        assert_eq!(size, 4 << 20, "a bigger pipe was made smaller");
    }
}
