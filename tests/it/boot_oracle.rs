//! S15, S18, S34: which system timers run at boot, against systemd itself. `systemd-analyze
//! verify --root=R default.target` builds the boot transaction offline; with debug logging
//! it names every job it installs, so the timers with a start job are the ones a boot
//! starts. Checked on a fixed shape and on seeded random boot graphs: `Wants=`/
//! `Requires=` in units and drop-ins, `.wants`/`.requires`/`.upholds` links in every
//! persistent and runtime directory, masks, aliases, templates, timers that do not load.
//!
//! Left out of the random layouts, where the offline oracle differs from a boot by design:
//! generator and transient directories (systemd-analyze does not read the image's; a boot
//! regenerates them, a live host runs what they hold), absolute link targets (tested on
//! the host, not in the root, by systemd-analyze), and layouts whose boot transaction
//! itself fails (a `Requires=` on a masked unit).

use crate::common::*;

const V: &str = "/usr/lib/systemd/system";

/// The timers with a start job in default.target's transaction, or `None` when
/// systemd-analyze is missing or the transaction itself failed.
fn booted_timers(fx: &Fx) -> Option<Vec<String>> {
    if !have("systemd-analyze") {
        return None;
    }
    let log = fx.verify_log("default.target");
    if log.contains("Failed to create") {
        return None;
    }
    let mut v: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("Installed new job ")?.1.split_once("/start").map(|(u, _)| u.to_string()))
        .filter(|u| u.ends_with(".timer"))
        .collect();
    v.sort();
    v.dedup();
    Some(v)
}

fn our_timers(fx: &Fx) -> Vec<String> {
    let s = system(&fx.collect());
    let mut v: Vec<String> = s.timers.iter().filter(|t| t.activation.will_run).map(|t| t.name.clone()).collect();
    v.sort();
    v
}

/// The boot targets chained as on Debian: default -> multi-user -> basic -> sysinit and
/// timers, so that the four roots timerguard assumes are the ones the boot reaches.
fn boot_targets(fx: &Fx) {
    fx.debian_layout().dir("/dev").file("/dev/null", "").file("/usr/bin/true", "#!/bin/sh\n");
    fx.file(&format!("{V}/multi-user.target"), "[Unit]\nDescription=m\nRequires=basic.target\n")
        .file(&format!("{V}/basic.target"), "[Unit]\nDescription=b\nRequires=sysinit.target\nWants=timers.target\n")
        .file(&format!("{V}/sysinit.target"), "[Unit]\nDescription=s\n")
        .file(&format!("{V}/timers.target"), "[Unit]\nDescription=t\n")
        .link(&format!("{V}/default.target"), "multi-user.target");
}

/// S34: a timer that does not load (no trigger) gets no job, so what it wants is not
/// pulled in by it.
#[test]
fn s34_a_timer_that_does_not_load_pulls_nothing_in() {
    let fx = Fx::new();
    boot_targets(&fx);
    fx.file(&format!("{V}/z.target"), "[Unit]\nDescription=z\n")
        .file(&format!("{V}/broken.timer"), "[Unit]\nWants=z.target\n[Timer]\nUnit=a.service\n")
        .file("/etc/systemd/system/basic.target.d/pull.conf", "[Unit]\nWants=broken.timer\n")
        .file(&format!("{V}/a.timer"), "[Timer]\nOnCalendar=daily\n")
        .file(&format!("{V}/a.service"), "[Service]\nExecStart=/bin/true\n")
        .link(&format!("{V}/z.target.requires/a.timer"), "../a.timer");
    assert_eq!(our_timers(&fx), Vec::<String>::new());
    if let Some(theirs) = booted_timers(&fx) {
        assert_eq!(theirs, Vec::<String>::new());
    }
    // Once it loads, it pulls z.target and z.target pulls a.timer.
    fx.file(&format!("{V}/broken.timer"), "[Unit]\nWants=z.target\n[Timer]\nOnCalendar=daily\nUnit=a.service\n");
    assert_eq!(our_timers(&fx), ["a.timer", "broken.timer"]);
    if let Some(theirs) = booted_timers(&fx) {
        assert_eq!(theirs, ["a.timer", "broken.timer"]);
    }
}

const TIMERS: [&str; 5] = ["a", "b", "c", "d", "job@"];
const TARGETS: [&str; 7] =
    ["x.target", "y.target", "timers.target", "multi-user.target", "basic.target", "sysinit.target", "z.target"];

/// A link at `from` (in-image) to `to`, relative as a package would write it.
fn rel_link(fx: &Fx, from: &str, to: &str) {
    let up = from.trim_start_matches('/').matches('/').count();
    fx.link(from, &format!("{}{}", "../".repeat(up), to.trim_start_matches('/')));
}

fn random_boot(g: &mut Rng, fx: &Fx) {
    boot_targets(fx);
    for t in ["x.target", "y.target", "z.target"] {
        if g.chance(70) {
            let wants = if g.chance(40) { format!("Wants={}\n", g.pick(&TARGETS)) } else { String::new() };
            fx.file(&format!("{V}/{t}"), &format!("[Unit]\nDescription=o\n{wants}"));
        }
    }
    let dirs = [
        V,
        V,
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/local/lib/systemd/system",
        "/etc/systemd/system.control",
        "/run/systemd/system.control",
    ];
    for _ in 0..4 + g.below(10) {
        let n = g.pick(&TIMERS);
        let name = format!("{n}.timer");
        let d = g.pick(&dirs);
        let p = format!("{d}/{name}");
        let free = |p: &str| std::fs::symlink_metadata(fx.host_path(p)).is_err();
        match g.below(100) {
            0..50 if free(&p) => {
                let mut b = String::from("[Unit]\nDescription=t\n");
                if g.chance(20) {
                    b += &format!("Wants={}\n", g.pick(&TARGETS));
                }
                b += "[Timer]\n";
                if g.chance(90) {
                    b += "OnCalendar=daily\n";
                }
                if g.chance(30) {
                    b += &format!("Unit={}.service\n", g.pick(&["a", "b", "missing"]));
                }
                b += &format!("[Install]\nWantedBy={}\n", g.pick(&TARGETS));
                fx.file(&p, &b);
                if !n.ends_with('@') && g.chance(60) && free(&format!("{V}/{n}.service")) {
                    fx.file(&format!("{V}/{n}.service"), "[Service]\nExecStart=/bin/true\n");
                }
            }
            50..58 if free(&p) => rel_link(fx, &p, "/dev/null"),
            58..64 if free(&p) => {
                fx.file(&p, "");
            }
            64..70 if free(&p) => rel_link(fx, &p, &format!("{V}/{}.timer", g.pick(&TIMERS).trim_end_matches('@'))),
            70..92 => {
                let owner = g.pick(&[&TARGETS[..], &["a.timer"]].concat());
                let kind = g.pick(&["wants", "wants", "requires", "upholds"]);
                let link =
                    if n.ends_with('@') { format!("{n}{}.timer", g.pick(&["alpha", "beta"])) } else { name.clone() };
                let lp = format!("{d}/{owner}.{kind}/{link}");
                if free(&lp) {
                    rel_link(fx, &lp, &format!("{V}/{name}"));
                }
            }
            92.. => {
                let owner = g.pick(&TARGETS);
                let link = if n.ends_with('@') { format!("{n}alpha.timer") } else { name.clone() };
                let pp = format!("{d}/{owner}.d/pull.conf");
                if free(&pp) {
                    fx.file(&pp, &format!("[Unit]\nWants={link}\n"));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn s15_s18_random_boot_graphs_run_the_timers_systemd_starts() {
    let (mut compared, mut running) = (0, 0);
    for seed in 0..120u64 {
        let fx = Fx::new();
        let mut g = Rng(0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        random_boot(&mut g, &fx);
        if !have("systemd-analyze") {
            skip("systemd-analyze not installed");
            return;
        }
        let Some(theirs) = booted_timers(&fx) else { continue };
        compared += 1;
        running += usize::from(!theirs.is_empty());
        let ours = our_timers(&fx);
        assert_eq!(ours, theirs, "seed {seed}: the timers a boot starts differ");
    }
    assert!(compared >= 100, "only {compared} of 120 layouts had a boot transaction");
    assert!(running >= 30, "only {running} layouts start a timer at all");
}
