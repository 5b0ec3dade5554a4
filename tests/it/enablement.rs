//! S15–S22: enablement links, is-enabled states (oracle: `systemctl --root`), what will
//! really run, presets, generators, transient units.

use timerguard::model::{ActivationReason, DirRole, Host};

use crate::common::*;

/// Our `list-unit-files` for the system scope equals systemctl's, state by state.
fn assert_matches_systemctl(fx: &Fx, h: &Host) {
    let Some(out) = fx.systemctl(&["list-unit-files", "--no-legend", "--no-pager"]) else {
        skip("systemctl not installed");
        return;
    };
    assert_eq!(our_unit_files(&system(h)), parse_unit_files(&out));
}

/// One root with a unit in every state systemctl knows offline.
fn every_state() -> Fx {
    let fx = Fx::new();
    fx.debian_layout().dir("/dev").file("/dev/null", "");
    let v = "/usr/lib/systemd/system";
    for n in ["enabled", "disabled", "runtime", "vendor", "alias-target", "masked", "rmasked", "evil-target"] {
        fx.file(&format!("{v}/{n}.timer"), &timer("daily")).file(&format!("{v}/{n}.service"), &service("/bin/true"));
    }
    fx.file(&format!("{v}/static.timer"), "[Timer]\nOnCalendar=daily\n")
        .file(&format!("{v}/indirect.timer"), "[Timer]\nOnCalendar=daily\n[Install]\nAlso=enabled.timer\n")
        .file(
            &format!("{v}/job@.timer"),
            "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\nDefaultInstance=alpha\n",
        )
        .file("/opt/linked.timer", &timer("daily"))
        .link("/etc/systemd/system/linked.timer", "/opt/linked.timer")
        .link("/etc/systemd/system/timers.target.wants/enabled.timer", &format!("{v}/enabled.timer"))
        .link("/run/systemd/system/timers.target.wants/runtime.timer", &format!("{v}/runtime.timer"))
        .link(&format!("{v}/timers.target.wants/vendor.timer"), "../vendor.timer")
        .link("/etc/systemd/system/al.timer", &format!("{v}/alias-target.timer"))
        .link("/etc/systemd/system/masked.timer", "/dev/null")
        .link("/run/systemd/system/rmasked.timer", "/dev/null")
        .link("/etc/systemd/system/timers.target.wants/evil.timer", &format!("{v}/evil-target.timer"))
        .link("/etc/systemd/system/timers.target.wants/job@alpha.timer", &format!("{v}/job@.timer"))
        .file("/run/systemd/transient/run-r1.timer", "[Timer]\nOnActiveSec=30\nUnit=run-r1.service\n")
        .file("/run/systemd/transient/run-r1.service", &service("/bin/sh -c 'curl x|sh'"))
        .file("/run/systemd/generator/gen.timer", "[Timer]\nOnCalendar=daily\n")
        .file("/etc/systemd/system/timers.target.d/pull.conf", "[Unit]\nWants=static.timer\n");
    fx
}

#[test]
fn s15_s19_states_match_systemctl() {
    let fx = every_state();
    let h = fx.collect();
    let sys = system(&h);
    let st = |n: &str| sys.unit_files.get(n).map(|s| s.as_str().to_string()).unwrap_or_default();
    assert_eq!(st("enabled.timer"), "enabled");
    assert_eq!(st("runtime.timer"), "enabled-runtime");
    assert_eq!(st("vendor.timer"), "disabled", "S18: vendor links do not count for is-enabled");
    assert_eq!(st("al.timer"), "alias");
    assert_eq!(st("alias-target.timer"), "indirect");
    assert_eq!(st("masked.timer"), "masked");
    assert_eq!(st("rmasked.timer"), "masked-runtime");
    assert_eq!(st("evil-target.timer"), "disabled", "S15: a link counts by its name");
    assert_eq!(st("linked.timer"), "linked");
    assert_eq!(st("static.timer"), "static");
    assert_eq!(st("indirect.timer"), "indirect");
    assert_eq!(st("job@.timer"), "enabled");
    assert_eq!(st("run-r1.timer"), "transient");
    assert_eq!(st("gen.timer"), "generated");
    assert_matches_systemctl(&fx, &h);
}

#[test]
fn s15_s18_what_really_runs() {
    let fx = every_state();
    let h = fx.collect();
    let sys = system(&h);
    let run = |n: &str| {
        let t = timer_of(&sys, n);
        (t.activation.state.clone(), t.activation.will_run)
    };
    assert_eq!(run("enabled.timer"), ("enabled".into(), true));
    assert_eq!(run("runtime.timer"), ("enabled-runtime".into(), true));
    assert_eq!(run("vendor.timer"), ("vendor".into(), true), "S18: disabled, yet pulled in at boot");
    assert_eq!(run("static.timer"), ("wanted".into(), true), "S18: static, yet a drop-in Wants= it");
    assert_eq!(run("disabled.timer"), ("inert".into(), false));
    assert_eq!(run("masked.timer"), ("masked".into(), false));
    assert_eq!(run("evil.timer"), ("not-found".into(), false), "S15: looked up by the link's name");
    assert_eq!(run("evil-target.timer"), ("inert".into(), false));
    assert_eq!(run("job@alpha.timer"), ("enabled".into(), true));
    assert_eq!(run("run-r1.timer"), ("transient".into(), true), "S22: running now");
    let wanted = timer_of(&sys, "static.timer");
    assert!(wanted.activation.reasons.iter().any(|r| matches!(r, ActivationReason::Dependency { file, line: 2, .. } if file == "/etc/systemd/system/timers.target.d/pull.conf")));
    let vendor = timer_of(&sys, "vendor.timer");
    assert!(
        vendor
            .activation
            .reasons
            .iter()
            .any(|r| matches!(r, ActivationReason::Link { role: DirRole::Vendor, boot: true, .. }))
    );
}

#[test]
fn s16_links_written_by_systemctl_enable_resolve_inside_root() {
    if !have("systemctl") {
        return;
    }
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/usr/lib/systemd/system/backup.timer",
            "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\nAlias=bk.timer\n",
        )
        .file("/usr/lib/systemd/system/backup.service", &service("/bin/true"));
    fx.systemctl(&["enable", "backup.timer"]);
    let link = std::fs::read_link(fx.host_path("/etc/systemd/system/timers.target.wants/backup.timer")).unwrap();
    assert!(link.is_absolute() && !link.starts_with(fx.path()), "root prefix stripped: {link:?}");
    let h = fx.collect();
    let sys = system(&h);
    assert_eq!(timer_of(&sys, "backup.timer").activation.state, "enabled");
    assert_eq!(sys.unit_files["bk.timer"].as_str(), "alias");
    assert_matches_systemctl(&fx, &h);
    fx.systemctl(&["disable", "backup.timer"]);
    let h = fx.collect();
    assert_eq!(timer_of(&system(&h), "backup.timer").activation.state, "inert", "S17");
    assert_matches_systemctl(&fx, &h);
}

#[test]
fn s17_runtime_links_survive_disable_and_count() {
    if !have("systemctl") {
        return;
    }
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/backup.timer", &timer("daily"))
        .link("/run/systemd/system/timers.target.wants/backup.timer", "/usr/lib/systemd/system/backup.timer");
    fx.systemctl(&["disable", "backup.timer"]);
    let h = fx.collect();
    assert_eq!(timer_of(&system(&h), "backup.timer").activation.state, "enabled-runtime");
    assert_matches_systemctl(&fx, &h);
}

#[test]
fn s21_generators_are_reported_with_metadata() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system-generators/persist", "#!/bin/sh\n")
        .mode("/etc/systemd/system-generators/persist", 0o777)
        .file("/usr/lib/systemd/user-generators/vendor-gen", "#!/bin/sh\n");
    let h = fx.collect();
    let g: Vec<(&str, u32)> = h.generators.iter().map(|g| (g.path.as_str(), g.meta.as_ref().unwrap().mode.0)).collect();
    assert_eq!(
        g,
        [("/etc/systemd/system-generators/persist", 0o777), ("/usr/lib/systemd/user-generators/vendor-gen", 0o644)]
    );
}

#[test]
fn s15_wants_entries_that_are_not_links_are_ignored() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/a.timer", &timer("daily"))
        .file("/etc/systemd/system/timers.target.wants/a.timer", &timer("daily"));
    let h = fx.collect();
    assert!(!timer_of(&system(&h), "a.timer").activation.will_run);
    assert!(h.warnings.iter().any(|w| w.path == "/etc/systemd/system/timers.target.wants/a.timer"));
}

#[test]
fn s20_first_boot_presets_undo_a_disable() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/backup-daily.timer", &timer("daily"))
        .file("/usr/lib/systemd/system/keep-off.timer", &timer("daily"))
        .file("/usr/lib/systemd/system/masked.timer", &timer("daily"))
        .link("/etc/systemd/system/masked.timer", "/dev/null")
        .file("/etc/systemd/system-preset/00-site.preset", "# site policy\ndisable keep-off.timer\n");
    let h = fx.collect();
    assert!(!h.first_boot);
    assert!(!timer_of(&system(&h), "backup-daily.timer").activation.will_run);
    fx.file("/etc/machine-id", "uninitialized\n");
    let h = fx.collect();
    assert!(h.first_boot);
    let sys = system(&h);
    let t = timer_of(&sys, "backup-daily.timer");
    assert_eq!((t.activation.state.as_str(), t.activation.will_run), ("preset", true));
    assert!(t.preset.as_ref().unwrap().enable, "no matching line: the default is enable");
    let off = timer_of(&sys, "keep-off.timer");
    assert!(!off.activation.will_run);
    let p = off.preset.as_ref().unwrap();
    assert_eq!(
        (p.enable, p.file.as_deref(), p.line),
        (false, Some("/etc/systemd/system-preset/00-site.preset"), Some(2))
    );
    assert!(!timer_of(&sys, "masked.timer").activation.will_run, "masks survive presets");
}

/// S20 with systemctl itself: `preset-all --preset-mode=enable-only` re-creates exactly
/// the links our first-boot answer predicts.
#[test]
fn s20_preset_prediction_matches_systemctl_preset_all() {
    if !have("systemctl") {
        return;
    }
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/a.timer", &timer("daily"))
        .file("/usr/lib/systemd/system/b.timer", &timer("daily"))
        .file("/usr/lib/systemd/system/c.timer", "[Timer]\nOnCalendar=daily\n")
        .file("/usr/lib/systemd/system-preset/50-x.preset", "disable b.timer\n")
        .file("/etc/machine-id", "");
    let h = fx.collect();
    let predicted: Vec<String> =
        system(&h).timers.iter().filter(|t| t.activation.will_run).map(|t| t.name.clone()).collect();
    fx.file("/etc/machine-id", "6aef49f50614453386767d831f4f6ddf\n");
    fx.systemctl(&["preset-all", "--preset-mode=enable-only"]);
    let h = fx.collect();
    let after: Vec<String> =
        system(&h).timers.iter().filter(|t| t.activation.will_run).map(|t| t.name.clone()).collect();
    assert_eq!(predicted, ["a.timer"]);
    assert_eq!(after, predicted);
}
