//! S1–S5: search paths, de-duplication, precedence, shadowing, linked units.

use timerguard::model::{DirRole, FileKind, LoadState, ScopeKind};

use crate::common::*;

#[test]
fn s1_lib_symlink_is_read_once_and_parents_recorded() {
    let fx = Fx::new();
    fx.debian_layout().file("/usr/lib/systemd/system/a.timer", &timer("daily"));
    let h = fx.collect();
    let sys = system(&h);
    let lib = sys.search_path.iter().find(|d| d.path == "/lib/systemd/system").unwrap();
    assert_eq!(lib.resolved.as_deref(), Some("/usr/lib/systemd/system"));
    let usr = sys.search_path.iter().find(|d| d.path == "/usr/lib/systemd/system").unwrap();
    assert_eq!(usr.duplicate_of.as_deref(), Some("/lib/systemd/system"));
    assert_eq!(sys.timers.len(), 1, "the same file is not counted twice");
    // Every parent up to / is recorded, the /lib symlink included.
    assert_eq!(h.paths["/lib"].kind, FileKind::Symlink);
    assert_eq!(h.paths["/usr/lib/systemd"].kind, FileKind::Dir);
    assert!(h.paths.contains_key("/"));
    // A missing directory's existing parents are recorded (whoever can write them can create it).
    let ctl = sys.search_path.iter().find(|d| d.path == "/etc/systemd/system.control").unwrap();
    assert!(ctl.resolved.is_none());
    assert!(ctl.chain.contains(&"/etc/systemd".to_string()));
    assert!(h.paths.contains_key("/etc/systemd"));
    assert!(!h.paths.contains_key("/etc/systemd/system.control"));
}

#[test]
fn s1_s4_precedence_control_over_etc_over_usr() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/x.timer", &timer("monthly"))
        .file("/etc/systemd/system/x.timer", &timer("weekly"))
        .file("/etc/systemd/system.control/x.timer", &timer("hourly"))
        .file("/usr/lib/systemd/system/y.timer", &timer("monthly"))
        .file("/usr/local/lib/systemd/system/y.timer", &timer("daily"))
        .file("/run/systemd/system/y.timer", &timer("minutely"));
    let h = fx.collect();
    let sys = system(&h);
    let x = timer_of(&sys, "x.timer");
    assert_eq!(x.source.as_deref(), Some("/etc/systemd/system.control/x.timer"));
    assert_eq!(x.triggers[0].value, "hourly", "lower copies are not parsed at all (S4)");
    let y = timer_of(&sys, "y.timer");
    assert_eq!(y.source.as_deref(), Some("/run/systemd/system/y.timer"));
    assert_eq!(unit_of(&sys, "y.timer").fragment.as_ref().unwrap().role, DirRole::Runtime);
}

#[test]
fn s2_user_paths_include_home_and_runtime_dirs() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file("/etc/group", "root:x:0:\nalice:x:1000:\n")
        .file("/home/alice/.config/systemd/user/a.timer", &timer("daily"))
        .file("/home/alice/.local/share/systemd/user/b.timer", &timer("daily"))
        .file("/home/alice/.config/systemd/user.control/c.timer", &timer("daily"))
        .file("/run/user/1000/systemd/user/d.timer", &timer("daily"))
        .file("/run/user/1000/systemd/transient/e.timer", "[Timer]\nOnActiveSec=5min\n");
    let h = fx.collect();
    let al = scope(&h, ScopeKind::User, Some("alice"));
    let names: Vec<&str> = al.timers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a.timer", "b.timer", "c.timer", "d.timer", "e.timer"]);
    assert_eq!(timer_of(&al, "e.timer").activation.state, "transient");
    assert!(timer_of(&al, "e.timer").activation.will_run);
    assert!(al.search_path.iter().all(|d| d.per_user), "user scopes list only the user's own dirs");
    assert!(h.scopes.iter().all(|s| s.user.as_deref() != Some("root")), "root has no user dirs here");
}

#[test]
fn s3_global_mask_does_not_override_a_users_own_unit() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
        .link("/etc/systemd/user/miner.timer", "/dev/null")
        .file("/home/bob/.config/systemd/user/miner.timer", &timer("minutely"))
        .link("/home/bob/.config/systemd/user/timers.target.wants/miner.timer", "../miner.timer");
    let h = fx.collect();
    let g = scope(&h, ScopeKind::Global, None);
    assert_eq!(unit_of(&g, "miner.timer").load_state, LoadState::Masked);
    let bob = scope(&h, ScopeKind::User, Some("bob"));
    let t = timer_of(&bob, "miner.timer");
    assert_eq!(t.source.as_deref(), Some("/home/bob/.config/systemd/user/miner.timer"));
    assert!(t.activation.will_run, "the user's copy outranks /etc/systemd/user (S3)");
    assert_eq!(t.linger, Some(false));
}

#[test]
fn s5_linked_unit_follows_target_and_alias_keeps_only_name() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/opt/app/linked.timer", &timer("daily"))
        .mode("/opt/app", 0o777)
        .link("/etc/systemd/system/linked.timer", "/opt/app/linked.timer")
        .link("/etc/systemd/system/dangling-alias.timer", "/usr/lib/systemd/system/nothere.timer");
    let h = fx.collect();
    let sys = system(&h);
    let u = unit_of(&sys, "linked.timer");
    assert_eq!(u.load_state, LoadState::Loaded);
    let f = u.fragment.as_ref().unwrap();
    let target = f.target.as_ref().unwrap();
    assert_eq!(target.resolved.as_deref(), Some("/opt/app/linked.timer"));
    assert!(target.parents.contains(&"/opt/app".to_string()));
    assert_eq!(h.paths["/opt/app"].mode.0, 0o777, "the target's parents are checked, not just the link");
    assert_eq!(sys.unit_files["linked.timer"].as_str(), "linked");
    // An alias whose target is inside the path only contributes its name; here it dangles.
    assert_eq!(unit_of(&sys, "dangling-alias.timer").load_state, LoadState::NotFound);
}

#[test]
fn s4_s8_s15_every_entry_is_inventoried_with_metadata() {
    use timerguard::model::EntryKind;
    let fx = Fx::new();
    fx.debian_layout()
        .file("/usr/lib/systemd/system/x.timer", &timer("monthly"))
        .file("/etc/systemd/system/x.timer", &timer("weekly"))
        .mode("/etc/systemd/system/x.timer", 0o666)
        .file("/etc/systemd/system/x.timer.d/.evil.conf", "[Timer]\nOnCalendar=minutely\n")
        .file("/etc/systemd/system/x.timer.d/notes.txt", "")
        .link("/etc/systemd/system/timers.target.wants/x.timer", "../x.timer")
        .file("/etc/systemd/system/.hidden.timer", &timer("daily"));
    let h = fx.collect();
    let sys = system(&h);
    let e = |p: &str| sys.entries.iter().find(|e| e.path == p).unwrap_or_else(|| panic!("{p} not inventoried"));
    assert!(e("/usr/lib/systemd/system/x.timer").shadowed, "S4: the lower copy is listed as shadowed");
    assert!(!e("/etc/systemd/system/x.timer").shadowed);
    assert_eq!(e("/etc/systemd/system/x.timer").meta.mode.0, 0o666);
    assert_eq!(e("/etc/systemd/system/x.timer.d").kind, EntryKind::DropinDir);
    let evil = e("/etc/systemd/system/x.timer.d/.evil.conf");
    assert_eq!((evil.kind, evil.hidden), (EntryKind::Ignored, true), "S8/S11: skipped by systemd, still listed");
    assert_eq!(e("/etc/systemd/system/x.timer.d/notes.txt").kind, EntryKind::Ignored);
    let l = e("/etc/systemd/system/timers.target.wants/x.timer");
    assert_eq!((l.kind, l.target.as_deref()), (EntryKind::Dependency, Some("/etc/systemd/system/x.timer")));
    assert!(e("/etc/systemd/system/.hidden.timer").hidden);
}

/// S2: what `user@.service` (its drop-ins, an instance's own) gives a user manager in
/// `Environment=` moves her own unit directories: `XDG_CONFIG_HOME` and `XDG_DATA_HOME`
/// (`%i` is her uid); the defaults are then not read. What would move the shared
/// directories is named in a warning with its file and line. The same names in
/// `environment.d` move nothing (measured in `user_oracle`).
#[test]
fn s2_user_manager_environment_moves_her_own_directories() {
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n",
        )
        .file("/etc/group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\n")
        .file("/usr/lib/systemd/system/user@.service", "[Service]\nUser=%i\nExecStart=/lib/systemd/systemd --user\n")
        .file("/etc/systemd/system/user@.service.d/xdg.conf", "[Service]\nEnvironment=XDG_DATA_HOME=/srv/xdg/%i\n")
        .file(
            "/etc/systemd/system/user@1000.service.d/cfg.conf",
            "[Service]\nEnvironment=XDG_CONFIG_HOME=/home/alice/.hidden\nEnvironment=XDG_CONFIG_DIRS=/opt/xdg\n",
        )
        .file("/etc/environment.d/50-x.conf", "XDG_CONFIG_HOME=/nowhere\n")
        .file("/home/alice/.hidden/systemd/user/h.timer", &timer("daily"))
        .file("/srv/xdg/1000/systemd/user/d.timer", &timer("daily"))
        .file("/home/alice/.config/systemd/user/c.timer", &timer("daily"))
        .file("/home/alice/.local/share/systemd/user/l.timer", &timer("daily"))
        .file("/srv/xdg/1001/systemd/user/b.timer", &timer("daily"))
        .file("/home/bob/.config/systemd/user/own.timer", &timer("daily"));
    let h = fx.collect();
    let names = |user: &str| -> Vec<String> {
        scope(&h, ScopeKind::User, Some(user)).timers.iter().map(|t| t.name.clone()).collect()
    };
    assert_eq!(names("alice"), ["d.timer", "h.timer"]);
    assert_eq!(names("bob"), ["b.timer", "own.timer"], "the template's drop-in for every user, %i as the uid");
    let al = scope(&h, ScopeKind::User, Some("alice"));
    let dirs: Vec<&str> = al.search_path.iter().filter(|d| d.per_user).map(|d| d.path.as_str()).collect();
    assert!(dirs.contains(&"/home/alice/.hidden/systemd/user.control") && dirs.contains(&"/srv/xdg/1000/systemd/user"));
    let warned: Vec<_> = h.warnings.iter().filter(|w| w.message.starts_with("XDG_CONFIG_DIRS set")).collect();
    assert_eq!(warned.len(), 1, "said once: {warned:?}");
    let w = warned[0];
    assert_eq!((w.path.as_str(), w.line), ("/etc/systemd/system/user@1000.service.d/cfg.conf", Some(3)));
}
