//! Accounts, linger (S42, S43), and per-user scopes.

use timerguard::model::{FileKind, ScopeKind};

use crate::common::*;

fn users_root() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nsvc-report:x:998:998::/var/lib/report:/usr/sbin/nologin\nbroken-line\nbob:x:1001:1001::/home/bob:/bin/zsh\n",
        )
        .file("/etc/group", "root:x:0:\nalice:x:1000:\ntimer-users:x:2000:alice,bob\nbob:x:1001:\n")
        .dir("/home/alice")
        .dir("/var/lib/report")
        .file("/var/lib/systemd/linger/alice", "")
        .dir("/var/lib/systemd/linger/svc-report")
        .file("/var/lib/systemd/linger/ghost", "")
        .file("/var/lib/systemd/linger/.bob", "")
        .file("/var/lib/report/.config/systemd/user/report.timer", &timer("minutely"))
        .link("/var/lib/report/.config/systemd/user/timers.target.wants/report.timer", "../report.timer")
        .file("/var/lib/report/.config/systemd/user/report.service", &service("/var/lib/report/run"));
    fx
}

#[test]
fn accounts_are_parsed_with_groups_and_bad_lines_warned() {
    let h = users_root().collect();
    let names: Vec<&str> = h.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["root", "alice", "svc-report", "bob"]);
    let alice = h.users.iter().find(|u| u.name == "alice").unwrap();
    assert_eq!(alice.groups, ["alice", "timer-users"]);
    assert!(alice.login_shell && !alice.system && alice.home_exists);
    let svc = h.users.iter().find(|u| u.name == "svc-report").unwrap();
    assert!(!svc.login_shell && svc.system);
    assert!(h.warnings.iter().any(|w| w.path == "/etc/passwd" && w.line == Some(5)));
    assert!(!h.users.iter().find(|u| u.name == "bob").unwrap().home_exists);
}

#[test]
fn s42_s43_linger_entries() {
    let h = users_root().collect();
    let e: Vec<(&str, Option<&str>, FileKind, bool, bool)> = h
        .linger
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.user.as_deref(), e.meta.kind, e.hidden, e.effective))
        .collect();
    assert_eq!(
        e,
        [
            (".bob", None, FileKind::File, true, false),
            ("alice", Some("alice"), FileKind::File, false, true),
            ("ghost", None, FileKind::File, false, false),
            ("svc-report", Some("svc-report"), FileKind::Dir, false, false),
        ]
    );
    // S43: any entry with the user's name keeps the manager alive, even a directory.
    assert!(h.users.iter().find(|u| u.name == "svc-report").unwrap().linger);
    assert!(!h.users.iter().find(|u| u.name == "bob").unwrap().linger, "hidden names do not count");
}

#[test]
fn user_timers_carry_linger_of_their_owner() {
    let h = users_root().collect();
    let s = scope(&h, ScopeKind::User, Some("svc-report"));
    let t = timer_of(&s, "report.timer");
    assert_eq!(t.linger, Some(true));
    assert!(t.activation.will_run);
    assert_eq!(t.runs_as.user, "svc-report");
    assert_eq!(t.exec[0].executable.path, "/var/lib/report/run");
}

#[test]
fn missing_passwd_is_a_warning_not_an_error() {
    let fx = Fx::new();
    fx.file("/etc/systemd/system/a.timer", &timer("daily"));
    let h = fx.collect();
    assert!(h.users.is_empty());
    assert!(h.warnings.iter().any(|w| w.path == "/etc/passwd" && w.message.contains("missing")));
    assert_eq!(system(&h).timers.len(), 1);
}
