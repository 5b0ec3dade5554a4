//! `/etc/passwd` and `/etc/group` of the root (not NSS: offline there is no other source).
//! Malformed lines are warnings naming the file and line; a missing file is a warning.

use super::root::Root;
use crate::model::{Group, User, Warning};

const SYSTEM_UID_MAX: u32 = 999;
const MAX_ACCOUNT_FILE: u64 = 64 * 1024 * 1024;

fn read(root: &Root, path: &str, warnings: &mut Vec<Warning>) -> String {
    match root.chase(path, true) {
        Ok(c) if c.exists => match root.read_capped(&c.path, MAX_ACCOUNT_FILE) {
            Ok(b) => {
                if std::str::from_utf8(&b).is_err() {
                    warnings.push(Warning {
                        path: path.into(),
                        line: None,
                        message: "not valid UTF-8; invalid bytes replaced".into(),
                    });
                }
                String::from_utf8_lossy(&b).into_owned()
            }
            Err(e) => {
                warnings.push(Warning { path: path.into(), line: None, message: format!("cannot read: {e}") });
                String::new()
            }
        },
        Ok(_) => {
            warnings.push(Warning { path: path.into(), line: None, message: "missing; no accounts known".into() });
            String::new()
        }
        Err(e) => {
            warnings.push(Warning { path: path.into(), line: None, message: format!("cannot resolve: {e}") });
            String::new()
        }
    }
}

fn lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (u32::try_from(i + 1).unwrap_or(u32::MAX), l))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
}

/// Parses `/etc/group`.
pub fn groups(root: &Root, warnings: &mut Vec<Warning>) -> Vec<Group> {
    let text = read(root, "/etc/group", warnings);
    let mut out = Vec::new();
    for (n, l) in lines(&text) {
        let f: Vec<&str> = l.split(':').collect();
        match (f.len(), f.get(2).and_then(|g| g.parse::<u32>().ok())) {
            (4, Some(gid)) if !f[0].is_empty() => out.push(Group {
                name: f[0].to_string(),
                gid,
                members: f[3].split(',').filter(|m| !m.is_empty()).map(String::from).collect(),
            }),
            _ => warnings.push(Warning {
                path: "/etc/group".into(),
                line: Some(n),
                message: "malformed entry (want name:x:gid:members), ignoring".into(),
            }),
        }
    }
    out
}

/// Parses `/etc/passwd` and attaches group memberships.
pub fn users(root: &Root, groups: &[Group], warnings: &mut Vec<Warning>) -> Vec<User> {
    let text = read(root, "/etc/passwd", warnings);
    let mut out: Vec<User> = Vec::new();
    // Indexes: a 100,000-account passwd must not cost accounts × groups.
    let mut by_gid: std::collections::HashMap<u32, Vec<&str>> = std::collections::HashMap::new();
    let mut by_member: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for g in groups {
        by_gid.entry(g.gid).or_default().push(&g.name);
        for m in &g.members {
            by_member.entry(m.as_str()).or_default().push(&g.name);
        }
    }
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (n, l) in lines(&text) {
        let f: Vec<&str> = l.split(':').collect();
        let ids = (f.get(2).and_then(|u| u.parse::<u32>().ok()), f.get(3).and_then(|g| g.parse::<u32>().ok()));
        let (7, (Some(uid), Some(gid))) = (f.len(), ids) else {
            warnings.push(Warning {
                path: "/etc/passwd".into(),
                line: Some(n),
                message: "malformed entry (want name:x:uid:gid:gecos:home:shell), ignoring".into(),
            });
            continue;
        };
        if f[0].is_empty() || f[0].starts_with('+') || f[0].starts_with('-') {
            warnings.push(Warning {
                path: "/etc/passwd".into(),
                line: Some(n),
                message: "NIS or empty entry, ignoring".into(),
            });
            continue;
        }
        if !seen.insert(f[0].to_string()) {
            warnings.push(Warning {
                path: "/etc/passwd".into(),
                line: Some(n),
                message: format!("duplicate account {:?}; the first entry wins", f[0]),
            });
            continue;
        }
        let name = f[0].to_string();
        let mut gs: Vec<String> = by_gid
            .get(&gid)
            .into_iter()
            .chain(by_member.get(name.as_str()))
            .flatten()
            .map(|g| (*g).to_string())
            .collect();
        gs.sort();
        gs.dedup();
        let shell = f[6].to_string();
        let home = if f[5].is_empty() { "/".to_string() } else { f[5].to_string() };
        out.push(User {
            login_shell: !(shell.is_empty()
                || shell.ends_with("/nologin")
                || shell.ends_with("/false")
                || shell.ends_with("/sync")),
            system: uid <= SYSTEM_UID_MAX,
            name,
            uid,
            gid,
            home,
            shell,
            groups: gs,
            linger: false,
            home_exists: false,
            line: n,
        });
    }
    // One path walk per account: in parallel (10,000 homes are a third of a run's serial start).
    use rayon::prelude::*;
    out.par_iter_mut().with_max_len(super::PIECE).for_each(|u| {
        u.home_exists =
            root.chase(&u.home, true).is_ok_and(|c| c.exists && root.lstat(&c.path).is_ok_and(|m| m.is_dir()));
    });
    out
}
