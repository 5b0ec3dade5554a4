//! Linger state (S42, S43): one entry per user in `/var/lib/systemd/linger`. logind
//! starts a manager at boot for every file-like entry with a visible name that resolves
//! to an account; *any* entry with a user's name keeps that manager alive after logout.

use super::names::hidden_or_backup;
use super::root::{Root, join};
use super::stat::{lstat, meta_from};
use crate::model::{FileKind, LingerEntry, LingerFacts, User, Warning};

pub const LINGER_DIR: &str = "/var/lib/systemd/linger";

pub fn collect(root: &Root, users: &mut [User], warnings: &mut Vec<Warning>) -> LingerFacts {
    // logind opens the directory by path: a link anywhere on it is followed (inside the
    // root, chroot-style); the metadata recorded is of what it resolves to.
    let resolved = root.chase(LINGER_DIR, true).ok().filter(|c| c.exists).map(|c| c.path);
    let dir_meta = resolved.as_deref().and_then(|p| lstat(root, p));
    let mut facts = LingerFacts { dir: LINGER_DIR.into(), dir_meta, entries: Vec::new() };
    let Some(dir) = resolved.filter(|_| facts.dir_meta.as_ref().is_some_and(|m| m.kind == FileKind::Dir)) else {
        return facts;
    };
    let (list, errs) = match root.list(&dir) {
        Ok(x) => x,
        Err(e) => {
            warnings.push(Warning {
                path: LINGER_DIR.into(),
                line: None,
                message: format!("cannot read directory: {e}"),
            });
            return facts;
        }
    };
    for (name, e) in errs {
        let path = join(LINGER_DIR, &String::from_utf8_lossy(&name));
        warnings.push(Warning { path, line: None, message: format!("cannot stat: {e}") });
    }
    let by_name: std::collections::HashMap<String, usize> =
        users.iter().enumerate().map(|(i, u)| (u.name.clone(), i)).collect();
    for de in list {
        let name = String::from_utf8_lossy(&de.name).into_owned();
        let meta = meta_from(&de.stat, de.link.as_deref().map(|l| String::from_utf8_lossy(l).into_owned()));
        let user = by_name.get(&name).map(|i| &mut users[*i]);
        let hidden = hidden_or_backup(&name);
        let file_like = matches!(meta.kind, FileKind::File | FileKind::Symlink | FileKind::Other);
        let effective = !hidden && file_like && user.is_some();
        let user_name = user.map(|u| {
            u.linger = true;
            u.name.clone()
        });
        facts.entries.push(LingerEntry {
            path: join(LINGER_DIR, &name),
            name,
            meta,
            user: user_name,
            hidden,
            effective,
        });
    }
    facts.entries.sort_by(|a, b| a.name.cmp(&b.name));
    facts
}
