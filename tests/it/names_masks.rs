//! S6–S9: templates and instances, masks, hidden names, aliases.

use timerguard::model::LoadState;

use crate::common::*;

#[test]
fn s6_template_instance_gets_its_instance() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/job@.timer", "[Timer]\nOnCalendar=daily\nUnit=%p-worker@%i.service\n[Install]\nWantedBy=timers.target\nDefaultInstance=alpha\n")
        .file("/usr/lib/systemd/system/job-worker@.service", &service("/bin/echo %i"))
        .link("/etc/systemd/system/timers.target.wants/job@beta.timer", "/usr/lib/systemd/system/job@.timer");
    let h = fx.collect();
    let sys = system(&h);
    let t = timer_of(&sys, "job@beta.timer");
    assert_eq!(t.service, "job-worker@beta.service");
    assert!(t.service_loaded);
    assert_eq!(t.exec[0].argv, ["/bin/echo", "beta"]);
    assert!(t.activation.will_run);
    assert!(sys.timers.iter().all(|t| t.name != "job@.timer"), "a template alone never runs");
}

#[test]
fn s7_masks_by_dev_null_link_and_empty_file() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/a.timer", &timer("daily"))
        .link("/etc/systemd/system/a.timer", "/dev/null")
        .file("/usr/lib/systemd/system/b.timer", &timer("daily"))
        .file("/etc/systemd/system/b.timer", "")
        .link("/etc/systemd/system/timers.target.wants/a.timer", "/usr/lib/systemd/system/a.timer");
    let h = fx.collect();
    let sys = system(&h);
    for n in ["a.timer", "b.timer"] {
        let t = timer_of(&sys, n);
        assert_eq!(t.activation.state, "masked", "{n}");
        assert!(!t.activation.will_run, "a mask defeats every activation path (S19)");
        assert_eq!(sys.unit_files[n].as_str(), "masked");
    }
}

#[test]
fn s8_hidden_unit_is_collected_marked_and_its_link_ignored() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/.hidden.timer", &timer("minutely"))
        .link("/etc/systemd/system/timers.target.wants/.hidden.timer", "/etc/systemd/system/.hidden.timer")
        .file("/etc/systemd/system/timers.target.d/pull.conf", "[Unit]\nWants=.hidden2.timer\n")
        .file("/etc/systemd/system/.hidden2.timer", &timer("minutely"));
    let h = fx.collect();
    let sys = system(&h);
    let t = timer_of(&sys, ".hidden.timer");
    assert!(unit_of(&sys, ".hidden.timer").hidden);
    assert!(!sys.unit_files.contains_key(".hidden.timer"), "list-unit-files does not show it");
    assert!(!t.activation.will_run, "the manager ignores a hidden .wants link (S8)");
    let t2 = timer_of(&sys, ".hidden2.timer");
    assert!(t2.activation.will_run, "but it loads by name: a drop-in Wants= pulls it in (S8)");
    assert_eq!(t2.activation.state, "wanted");
}

#[test]
fn s9_alias_names_and_alias_dropins() {
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/usr/lib/systemd/system/backup.timer",
            "[Timer]\nOnCalendar=daily\n[Install]\nAlias=bk.timer\nWantedBy=timers.target\n",
        )
        .link("/etc/systemd/system/bk.timer", "/usr/lib/systemd/system/backup.timer")
        .file("/etc/systemd/system/bk.timer.d/50-persist.conf", "[Timer]\nPersistent=yes\n")
        .link("/etc/systemd/system/wrong.service", "/usr/lib/systemd/system/backup.timer");
    let h = fx.collect();
    let sys = system(&h);
    let u = unit_of(&sys, "bk.timer");
    assert_eq!(u.name, "backup.timer");
    assert_eq!(u.names, ["backup.timer", "bk.timer"]);
    assert!(timer_of(&sys, "backup.timer").persistent, "alias drop-in dirs apply (S10)");
    assert_eq!(sys.unit_files["bk.timer"].as_str(), "alias");
    assert!(
        h.warnings.iter().any(|w| w.path == "/etc/systemd/system/wrong.service" && w.message.contains("incompatible"))
    );
}

#[test]
fn s6_invalid_names_are_not_units() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/systemd/system/Bad Name.timer", &timer("daily"))
        .file("/etc/systemd/system/x.Timer", &timer("daily"));
    let h = fx.collect();
    assert!(system(&h).timers.is_empty());
}

#[test]
fn s7_bad_fragment_loads_as_error() {
    let fx = Fx::new();
    fx.debian_layout().file("/etc/systemd/system/broken.timer", "[Timer\nOnCalendar=daily\n");
    let h = fx.collect();
    let sys = system(&h);
    assert_eq!(unit_of(&sys, "broken.timer").load_state, LoadState::Error);
    assert_eq!(timer_of(&sys, "broken.timer").activation.state, "bad");
    assert!(h.warnings.iter().any(|w| w.path == "/etc/systemd/system/broken.timer" && w.line == Some(1)));
}
