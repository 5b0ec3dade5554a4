//! Linger state (S42, S43): one entry per user in `/var/lib/systemd/linger`. logind
//! starts a manager at boot for every file-like entry with a visible name that resolves
//! to an account; *any* entry with a user's name keeps that manager alive after logout.

use super::names::hidden_or_backup;
use super::root::{Root, join};
use super::stat::{lstat, meta_from};
use crate::model::{FileKind, LingerEntry, LingerFacts, User, Warning};

pub const LINGER_DIR: &str = "/var/lib/systemd/linger";

pub fn collect(root: &Root, users: &mut [User], warnings: &mut Vec<Warning>) -> LingerFacts {
    let mut facts = LingerFacts { dir: LINGER_DIR.into(), dir_meta: lstat(root, LINGER_DIR), entries: Vec::new() };
    if facts.dir_meta.as_ref().is_none_or(|m| m.kind != FileKind::Dir) {
        return facts;
    }
    let rd = match std::fs::read_dir(root.host_path(LINGER_DIR)) {
        Ok(rd) => rd,
        Err(e) => {
            warnings.push(Warning {
                path: LINGER_DIR.into(),
                line: None,
                message: format!("cannot read directory: {e}"),
            });
            return facts;
        }
    };
    for de in rd.flatten() {
        let name = de.file_name().to_string_lossy().into_owned();
        let Ok(md) = std::fs::symlink_metadata(de.path()) else {
            continue;
        };
        let link = md.file_type().is_symlink().then(|| std::fs::read_link(de.path()).ok()).flatten();
        let meta = meta_from(&md, link.map(|l| l.to_string_lossy().into_owned()));
        let user = users.iter_mut().find(|u| u.name == name);
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
