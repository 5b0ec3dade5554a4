//! Issue 12, the read side: roots an attacker prepared. Each case plants one thing in an
//! otherwise ordinary root and runs the real CLI under a hang guard: no panic, no hang,
//! nothing read outside the root, and the planted thing named in a warning or a fact.

use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(120);

fn base() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/ok.timer", &timer("daily"))
        .file("/etc/systemd/system/ok.service", &service("/usr/bin/true"))
        .link("/etc/systemd/system/timers.target.wants/ok.timer", "../ok.timer");
    fx
}

fn facts(fx: &Fx) -> (Value, String) {
    let o = fx.cli_bounded(&["facts"], LIMIT);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    (serde_json::from_slice(&o.stdout).unwrap(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn system_timer<'a>(f: &'a Value, name: &str) -> &'a Value {
    f["scopes"][0]["timers"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()
}

/// A calendar value with a multibyte character after a shorthand used to panic (a byte
/// index into a `str`): it is an invalid trigger with a reason, like any other.
#[test]
fn non_ascii_calendar_is_an_invalid_trigger_not_a_panic() {
    let fx = base();
    fx.bytes("/etc/systemd/system/p.timer", b"[Timer]\nOnCalendar=daily\xc3\xa4\nOnCalendar=*-*-* 1\xc3\xa4:00\n");
    let (f, _) = facts(&fx);
    let t = system_timer(&f, "p.timer");
    assert_eq!(t["triggers"].as_array().unwrap().len(), 0);
    let bad = t["invalid_triggers"].as_array().unwrap();
    assert_eq!(bad.len(), 2);
    assert!(bad.iter().all(|b| b["error"].is_string()), "{bad:?}");
    let o = fx.cli_bounded(&["calendar", "dailyä"], LIMIT);
    assert_eq!(o.status.code(), Some(1), "an invalid expression, not a crash");
}

/// `/etc/localtime` as a FIFO (would block a plain open) and, as root, as a character
/// device reading zeros (would grow without bound): refused unopened; local time is UTC.
#[test]
fn localtime_fifo_or_device_is_refused_not_read() {
    let fx = base();
    nix::unistd::mkfifo(&fx.host_path("/etc/localtime"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let (f, _) = facts(&fx);
    assert_eq!(system_timer(&f, "ok.timer")["triggers"][0]["normalized"], "*-*-* 00:00:00");
    if !is_root() {
        return;
    }
    std::fs::remove_file(fx.host_path("/etc/localtime")).unwrap();
    nix::sys::stat::mknod(
        &fx.host_path("/etc/localtime"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
        nix::sys::stat::makedev(1, 5), // /dev/zero
    )
    .unwrap();
    let (f, _) = facts(&fx);
    assert_eq!(system_timer(&f, "ok.timer")["triggers"][0]["normalized"], "*-*-* 00:00:00");
}

/// A unit file that is a FIFO (or, as root, a device) is not a unit systemd can load:
/// a load error naming the file type, and the rest of the root is read as usual.
#[test]
fn fifo_or_device_as_unit_file_is_a_load_error() {
    let fx = base();
    nix::unistd::mkfifo(&fx.host_path("/etc/systemd/system/f.timer"), nix::sys::stat::Mode::from_bits_truncate(0o644))
        .unwrap();
    if is_root() {
        nix::sys::stat::mknod(
            &fx.host_path("/etc/systemd/system/d.timer"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            nix::sys::stat::makedev(1, 5),
        )
        .unwrap();
    }
    let (f, _) = facts(&fx);
    let units = f["scopes"][0]["units"].as_array().unwrap();
    let unit = |n: &str| units.iter().find(|u| u["name"] == n).cloned();
    let fifo = unit("f.timer").unwrap();
    assert_eq!(fifo["load_state"], "error");
    assert!(fifo["load_error"].as_str().unwrap().contains("a FIFO"), "{fifo}");
    if is_root() {
        assert!(unit("d.timer").unwrap()["load_error"].as_str().unwrap().contains("a character device"));
    }
    assert_eq!(system_timer(&f, "ok.timer")["activation"]["will_run"], true);
}

/// Exponential glob matching used to hang on a preset line like this one against a long
/// unit name (the same matcher serves waivers and `glob_match`).
#[test]
fn pathological_preset_glob_does_not_hang() {
    let fx = base();
    let long = format!("{}.timer", "a".repeat(200));
    fx.file(&format!("/etc/systemd/system/{long}"), &timer("daily"))
        .file("/etc/systemd/system-preset/10-evil.preset", "disable *a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n");
    let (f, _) = facts(&fx);
    assert_eq!(system_timer(&f, &long)["preset"]["enable"], true, "no line matched: the default, enable");
    let cfg = fx.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        "waivers:\n  - { policy: TG401, subject: \"*a*a*a*a*a*a*a*a*a*a*a*a*a*b\", reason: r, expires: 2999-01-01 }\n",
    )
    .unwrap();
    let o = fx.cli_bounded(&["--config", cfg.to_str().unwrap(), "check"], LIMIT);
    assert!(o.status.code().is_some(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// 500,000 `OnCalendar=` lines in one timer: every line is a trigger, elapses are stepped
/// for the first ones only, and a warning says so.
#[test]
fn half_a_million_triggers_are_bounded() {
    let fx = base();
    let mut s = String::from("[Timer]\n");
    for i in 0..500_000 {
        s.push_str(&format!("OnCalendar=*-*-* {:02}:{:02}:{:02}\n", i % 24, i % 60, (i / 60) % 60));
    }
    fx.file("/etc/systemd/system/many.timer", &s);
    let (f, err) = facts(&fx);
    assert_eq!(system_timer(&f, "many.timer")["triggers"].as_array().unwrap().len(), 500_000);
    assert!(err.contains("more than 64 OnCalendar= triggers"), "{err}");
}

/// 200,000 `Unit=` lines (S33): systemd takes the first usable one; the ignored ones are
/// named up to 16 and then counted in one warning, not one warning each.
#[test]
fn many_unit_lines_are_one_warning() {
    let fx = base();
    let mut s = String::from("[Timer]\nOnCalendar=daily\nUnit=bogus\nUnit=first.service\n");
    for i in 0..200_000 {
        s.push_str(&format!("Unit=u{i}.service\n"));
    }
    fx.file("/etc/systemd/system/many.timer", &s);
    let (f, err) = facts(&fx);
    assert_eq!(system_timer(&f, "many.timer")["service"], "first.service");
    let lines = err.lines().filter(|l| l.contains("/etc/systemd/system/many.timer:")).count();
    assert_eq!(lines, 17, "16 named and one count: {}", &err[..err.len().min(4000)]);
    assert!(
        err.contains("199985 more Unit= lines of many.timer are ignored by systemd"),
        "{}",
        &err[err.len().saturating_sub(2000)..]
    );
}

/// The linger directory (or `/var`) as a link to a host directory outside the root:
/// resolved chroot-style inside the root, so the outside directory's names never appear.
#[test]
fn linger_dir_linking_outside_is_resolved_inside() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("systemd/linger")).unwrap();
    std::fs::write(outside.path().join("systemd/linger/alice"), "").unwrap();
    let fx = base();
    fx.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .dir("/var")
        .link("/var/lib", outside.path().to_str().unwrap());
    let (f, _) = facts(&fx);
    assert_eq!(f["linger"]["entries"].as_array().unwrap().len(), 0, "{}", f["linger"]);
    // A link inside the image is followed, as logind would.
    std::fs::remove_file(fx.host_path("/var/lib")).unwrap();
    fx.file("/srv/lib/systemd/linger/alice", "").link("/var/lib", "/srv/lib");
    let (f, _) = facts(&fx);
    assert_eq!(f["linger"]["entries"][0]["name"], "alice");
}

/// A zone file that links to a host file outside the root resolves inside the image
/// (where it does not exist): the zone is unknown and the trigger invalid.
#[test]
fn zoneinfo_linking_outside_is_not_read() {
    let Ok(berlin) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") else {
        skip("host has no tzdata");
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let evil = outside.path().join("Evil");
    std::fs::write(&evil, berlin).unwrap();
    let fx = base();
    fx.file("/etc/systemd/system/z.timer", "[Timer]\nOnCalendar=daily Evil\n")
        .link("/usr/share/zoneinfo/Evil", evil.to_str().unwrap());
    let (f, _) = facts(&fx);
    let t = system_timer(&f, "z.timer");
    assert_eq!(t["triggers"].as_array().unwrap().len(), 0, "{t}");
    assert_eq!(t["invalid_triggers"].as_array().unwrap().len(), 1);
}

/// Many accounts and many system timers: linear work (100,000 and 20,000 are in the
/// benchmark; this guards the algorithmic shape at a size a debug build runs quickly).
#[test]
fn many_accounts_and_timers_complete() {
    let fx = base();
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    let mut group = String::from("root:x:0:\n");
    for i in 0..20_000 {
        passwd.push_str(&format!("u{i}:x:{}:{}::/home/u{i}:/bin/bash\n", 10_000 + i, 10_000 + i));
        group.push_str(&format!("g{i}:x:{}:u{i},u{}\n", 10_000 + i, i + 1));
    }
    fx.file("/etc/passwd", &passwd).file("/etc/group", &group);
    for i in 0..3_000 {
        fx.file(&format!("/etc/systemd/system/t{i}.timer"), &timer("daily"))
            .link(&format!("/etc/systemd/system/timers.target.wants/t{i}.timer"), &format!("../t{i}.timer"));
    }
    let o = fx.cli_bounded(&["list", "--format", "json"], Duration::from_secs(300));
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["timers"].as_array().unwrap().len(), 3_001);
}

/// The manager's configuration (`DefaultEnvironment=`) or a preset file as a FIFO, or a
/// drop-in a link loop: neither blocks nor fails the run; each is named in a warning,
/// and what the other files say still applies.
#[test]
fn manager_configuration_fifo_or_link_loop_is_a_warning() {
    let fx = base();
    nix::unistd::mkfifo(&fx.host_path("/etc/systemd/system.conf"), nix::sys::stat::Mode::from_bits_truncate(0o644))
        .unwrap();
    fx.link("/etc/systemd/system.conf.d/10-a.conf", "20-b.conf")
        .link("/etc/systemd/system.conf.d/20-b.conf", "10-a.conf")
        .file("/etc/systemd/system.conf.d/30-ok.conf", "[Manager]\nDefaultEnvironment=D=/opt/d\n")
        .file("/opt/d/run.sh", "#!/bin/sh\n")
        .file("/etc/systemd/system/p.timer", &timer("daily"))
        .file("/etc/systemd/system/p.service", "[Service]\nExecStart=/bin/sh ${D}/run.sh\n")
        .file("/etc/systemd/system/q.timer", &timer("daily"))
        .file("/etc/systemd/system/q.service", "[Service]\nExecStart=/bin/sh ${E}/opt/d/run.sh\n");
    // A preset file is read the same way (`paths::read_conf`).
    std::fs::create_dir_all(fx.host_path("/usr/lib/systemd/system-preset")).unwrap();
    nix::unistd::mkfifo(
        &fx.host_path("/usr/lib/systemd/system-preset/90-x.preset"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let (f, _) = facts(&fx);
    let warned = |p: &str| {
        f["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["path"] == p && w["message"].as_str().unwrap().contains("manager configuration"))
    };
    assert!(warned("/etc/systemd/system.conf"), "{}", f["warnings"]);
    assert!(warned("/etc/systemd/system.conf.d/10-a.conf"), "{}", f["warnings"]);
    let preset = f["warnings"].as_array().unwrap().iter().any(|w| {
        w["path"] == "/usr/lib/systemd/system-preset/90-x.preset"
            && w["message"].as_str().unwrap().contains("preset file not read")
    });
    assert!(preset, "{}", f["warnings"]);
    let files = system_timer(&f, "p.timer")["files"].as_array().unwrap().clone();
    assert!(files.iter().any(|x| x["role"] == "script" && x["target"]["path"] == "/opt/d/run.sh"), "{files:?}");
    // A file not read may set `E`: it is not taken for unset (`${E}/opt/d/run.sh` is
    // kept as written, no file).
    let files = system_timer(&f, "q.timer")["files"].as_array().unwrap().clone();
    assert!(!files.iter().any(|x| x["role"] == "script"), "{files:?}");
}
