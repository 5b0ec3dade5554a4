//! What a *safe* fix may touch, decided in Rust for every policy (a policy cannot widen
//! it), and who controls a file a root unit uses.
//!
//! Fleets run `fix --apply` unattended, so a safe fix only removes group/other write
//! bits or gives a path to root, and only on paths that exist for systemd — unit
//! directories, unit files, drop-in and `.wants` directories, the linger and timer-stamp
//! directories, the systemd configuration trees — and on files a root unit executes or
//! reads. It never changes a home directory or anything in one (except removing group/
//! other write on the user's own unit directories), `/run/user/UID`, a sticky or
//! world-writable directory or anything in one, or any directory that is not systemd's.
//! When unsure, a change is not safe: the finding stays, with a fix at the unit.

use std::collections::{HashMap, HashSet};

use crate::collect::root::parent;
use crate::finding::Fix;
use crate::model::{FileKind, Host, ScopeKind, User};

/// Directories that may be an account's home in passwd without being anyone's home
/// (`sync` → `/bin`, `nobody` → `/nonexistent`, …).
const NOT_HOMES: [&str; 20] = [
    "/",
    "/bin",
    "/sbin",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/games",
    "/usr/local/bin",
    "/lib",
    "/usr/lib",
    "/etc",
    "/var",
    "/var/lib",
    "/run",
    "/dev",
    "/proc",
    "/sys",
    "/boot",
    "/nonexistent",
    "/opt",
];

/// Shared scratch directories, by name (also recognised by their sticky bit).
const SHARED: [&str; 6] = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/run/user"];

/// The trees systemd reads its configuration from and keeps its state in.
const SYSTEMD_TREES: [&str; 9] = [
    "/etc/systemd",
    "/run/systemd",
    "/usr/lib/systemd",
    "/lib/systemd",
    "/usr/local/lib/systemd",
    "/etc/xdg/systemd",
    "/usr/local/share/systemd",
    "/usr/share/systemd",
    "/var/lib/systemd",
];

fn under(p: &str, dir: &str) -> bool {
    p == dir || (p.starts_with(dir) && (dir == "/" || p.as_bytes().get(dir.len()) == Some(&b'/')))
}

/// Account by home (see `Safety::homes`) and home by account.
fn homes(users: &[User]) -> (HashMap<String, String>, HashMap<String, String>) {
    let real: Vec<(String, String)> = users
        .iter()
        .filter(|u| u.uid != 0)
        .map(|u| (crate::collect::root::normalize(&u.home), u.name.clone()))
        .filter(|(h, _)| !NOT_HOMES.contains(&h.as_str()))
        .collect();
    let home_by_user = real.iter().map(|(h, u)| (u.clone(), h.clone())).collect();
    // In passwd order: on a shared home the later account replaces the earlier.
    let mut homes: HashMap<String, String> = real.into_iter().collect();
    homes.insert("/home".into(), String::new());
    homes.insert("/var/home".into(), String::new());
    (homes, home_by_user)
}

/// The index a run builds once from its facts.
#[derive(Debug, Default)]
pub struct Safety {
    /// Recorded directories that are sticky or world-writable.
    open_dirs: HashSet<String>,
    /// Account by home, for every account whose home is a real home (when two share one,
    /// the last in passwd), and `/home`, `/var/home` as nobody's. A map, not a list: every
    /// fix a policy proposes asks whose home its path is in, and 10,000 homes scanned per
    /// question made a 10,000-user check quadratic.
    homes: HashMap<String, String>,
    /// Unit directories, their entries, linked units' real files, state directories.
    systemd: HashSet<String>,
    /// Homes by account name (for the user's own unit directories).
    home_by_user: HashMap<String, String>,
    /// Files a root-run unit executes or reads.
    root_files: HashSet<String>,
}

impl Safety {
    pub fn new(host: &Host) -> Safety {
        let (homes, home_by_user) = homes(&host.users);
        let open_dirs = host
            .paths
            .iter()
            .filter(|(_, m)| m.kind == FileKind::Dir && m.mode.0 & 0o1002 != 0)
            .map(|(p, _)| p.clone())
            .collect();
        let mut s = Safety { open_dirs, homes, home_by_user, systemd: HashSet::new(), root_files: HashSet::new() };
        for scope in &host.scopes {
            for d in scope.search_path.iter().filter(|d| !d.per_user) {
                s.systemd.extend(std::iter::once(&d.path).chain(&d.resolved).cloned());
            }
            if scope.kind != ScopeKind::User {
                s.systemd.extend(scope.entries.iter().map(|e| e.path.clone()));
            }
            for u in &scope.units {
                if let Some(t) = u.fragment.as_ref().and_then(|f| f.target.as_ref()).and_then(|t| t.resolved.as_ref()) {
                    s.systemd.insert(t.clone());
                }
            }
            if scope.kind == ScopeKind::System {
                for t in &scope.timers {
                    for f in t.files.iter().filter(|f| f.privileged) {
                        if let (Some(r), Some(m)) = (&f.target.resolved, &f.target.meta)
                            && m.kind == FileKind::File
                        {
                            s.root_files.insert(r.clone());
                        }
                    }
                }
            }
        }
        for e in &host.linger.entries {
            s.systemd.insert(e.path.clone());
        }
        s
    }

    /// `p` is one of `user`'s own unit directories in their home
    /// (`~/.config/systemd/user`, its `.control`, `~/.local/share/systemd/user`) or in one.
    fn own_unit_dir(&self, p: &str, user: &str) -> bool {
        let Some(home) = self.home_by_user.get(user) else { return false };
        ["/.config/systemd/user", "/.config/systemd/user.control", "/.local/share/systemd/user"]
            .iter()
            .any(|d| under(p, &format!("{home}{d}")))
    }

    /// The account whose home `p` is in (empty for an unowned `/home/…`).
    pub fn home_of(&self, p: &str) -> Option<&str> {
        // Homes are normal absolute paths other than `/`: the ones `p` is `under` are `p`
        // itself and its prefixes that end before a `/`. Looked up longest first, the first
        // found is the deepest.
        let cuts = p.match_indices('/').map(|(i, _)| i).filter(|&i| i > 0);
        let mut cuts: Vec<usize> = cuts.collect();
        cuts.push(p.len());
        cuts.into_iter().rev().find_map(|i| self.homes.get(&p[..i]).map(String::as_str))
    }

    /// `p` is a shared scratch directory or inside one: listed by name, or an ancestor
    /// (or itself, for a directory) that is sticky or world-writable.
    pub fn shared(&self, p: &str) -> Option<String> {
        let mut cur = p.to_string();
        loop {
            let named = SHARED.iter().any(|s| under(&cur, s));
            let open = self.open_dirs.contains(&cur);
            if named || open {
                return Some(cur);
            }
            if cur == "/" {
                return None;
            }
            cur = parent(&cur).to_string();
        }
    }

    /// Why changing `path`'s mode (`chmod`) or owner (`!chmod`) is not a safe fix.
    pub fn refuse_path(&self, path: &str, chmod: bool, is_dir: bool) -> Option<String> {
        if under(path, "/run/user") {
            return Some(format!("{path} is a user's runtime directory (/run/user): it belongs to their session"));
        }
        if let Some(u) = self.home_of(path) {
            if !(chmod && self.own_unit_dir(path, u)) {
                let whose = if u.is_empty() { "a home directory".to_string() } else { format!("{u}'s home") };
                return Some(format!(
                    "{path} is in {whose}: its owner and mode are the user's (only group/other write on the user's own unit directories is removed)"
                ));
            }
            return None;
        }
        // systemd's own directories first: a world-writable timer-stamp directory is
        // systemd's misconfiguration (CVE-2016-10156), not a scratch directory.
        if self.systemd.contains(path) || SYSTEMD_TREES.iter().any(|t| under(path, t)) {
            return None;
        }
        if let Some(s) = self.shared(path) {
            return Some(if s == path {
                format!(
                    "{path} is a shared directory (sticky or world-writable): changing it breaks every program that writes there"
                )
            } else {
                format!("{path} is inside the shared directory {s}")
            });
        }
        if !is_dir && self.root_files.contains(path) {
            return None;
        }
        Some(if is_dir {
            format!("{path} is not a systemd directory: other programs may rely on its owner and mode")
        } else {
            format!("{path} is neither a systemd file nor a file a root unit uses")
        })
    }

    /// Why a fix is not safe; `None` when it is (unsafe fixes are judged by `--unsafe`).
    /// `kind` is what the path is now (a directory or not).
    pub fn refuse(&self, fix: &Fix, is_dir: &dyn Fn(&str) -> bool) -> Option<String> {
        match fix {
            Fix::Chmod { path, .. } => self.refuse_path(path, true, is_dir(path)),
            Fix::Chown { path, uid, gid } => {
                if (*uid, *gid) != (0, 0) {
                    return Some(format!("{path}: a safe fix only gives ownership to root, not {uid}:{gid}"));
                }
                self.refuse_path(path, false, is_dir(path))
            }
            Fix::All { fixes } => fixes.iter().find_map(|f| self.refuse(f, is_dir)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::User;

    fn user(name: &str, uid: u32, home: &str) -> User {
        User::for_tests(name, uid, home)
    }

    /// The definition `home_of` answers by lookups: of every home `p` is `under`, the
    /// longest, the last account in passwd order on a tie (as the list it replaced did).
    fn linear<'a>(users: &'a [User], p: &str) -> Option<&'a str> {
        let mut homes: Vec<(String, &str)> = users
            .iter()
            .filter(|u| u.uid != 0)
            .map(|u| (crate::collect::root::normalize(&u.home), u.name.as_str()))
            .filter(|(h, _)| !NOT_HOMES.contains(&h.as_str()))
            .collect();
        homes.push(("/home".into(), ""));
        homes.push(("/var/home".into(), ""));
        homes.iter().filter(|(h, _)| under(p, h)).max_by_key(|(h, _)| h.len()).map(|(_, u)| *u)
    }

    #[test]
    fn home_of_is_the_deepest_home_a_path_is_under() {
        let users = vec![
            user("root", 0, "/root"),
            user("alice", 1000, "/home/alice"),
            user("bob", 1001, "/home/alice/bob"),
            user("carol", 1002, "/srv/shared/"),
            user("dave", 1003, "/srv//shared"),
            user("eve", 1004, "/var/home/eve"),
            user("sync", 4, "/bin"),
            user("nobody", 65534, "/nonexistent"),
            user("odd", 1005, "/home/a.b/../odd"),
            user("top", 1006, "/"),
        ];
        let (homes, _) = homes(&users);
        let s = Safety { homes, ..Safety::default() };
        let paths = [
            "/home/alice",
            "/home/alice/",
            "/home/alice/.config/systemd/user/x.timer",
            "/home/alicex/file",
            "/home/alice/bob",
            "/home/alice/bob/.config",
            "/home/alice/bobby",
            "/home",
            "/home/",
            "/home/nobody-here/x",
            "/srv/shared",
            "/srv/shared/x",
            "/srv",
            "/var/home/eve/x",
            "/var/home/zed",
            "/var/homes/x",
            "/bin/sh",
            "/root/x",
            "/home/odd/y",
            "/home//alice/x",
            "/",
            "",
            "relative/home/alice",
            "/nonexistent",
        ];
        for p in paths {
            assert_eq!(s.home_of(p), linear(&users, p), "home_of({p:?})");
        }
        // The cases the comparison is there for, spelled out.
        assert_eq!(s.home_of("/home/alice/bob/x"), Some("bob"));
        assert_eq!(s.home_of("/home/alice/x"), Some("alice"));
        assert_eq!(s.home_of("/srv/shared/x"), Some("dave"));
        assert_eq!(s.home_of("/home/zed"), Some(""));
        assert_eq!(s.home_of("/bin/sh"), None);
    }
}
