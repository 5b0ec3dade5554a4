//! The inventory of a scope's directories: every entry with `lstat` metadata and, for
//! links, where they resolve inside the root. Permission policies (M1022) judge these;
//! resolution only uses some of them.

use std::collections::HashSet;

use super::resolve::Layer;
use super::scan::Entry;
use crate::model::{DirRole, EntryFact, EntryKind};

/// Lists the entries of `layers` (only per-user ones when `per_user_only`).
pub fn inventory(layers: &[Layer], per_user_only: bool) -> Vec<EntryFact> {
    let mut out = Vec::new();
    let mut seen_names: HashSet<&str> = HashSet::new();
    for l in layers {
        let mine = !per_user_only || l.spec.per_user;
        let role = l.spec.role;
        for (name, e) in &l.scan.units {
            let shadowed = !seen_names.insert(name.as_str());
            if mine {
                out.push(fact(e, EntryKind::Unit, role, shadowed));
            }
        }
        if !mine {
            continue;
        }
        for sub in l.scan.dropins.values().chain(l.scan.deps.values()) {
            let is_dropin = sub.path.ends_with(".d");
            let (dir_kind, kind) = if is_dropin {
                (EntryKind::DropinDir, EntryKind::Dropin)
            } else {
                (EntryKind::DependencyDir, EntryKind::Dependency)
            };
            let dir_entry = Entry {
                name: String::new(),
                path: sub.path.clone(),
                meta: sub.meta.clone(),
                hidden: false,
                null: false,
                target: None,
            };
            out.push(fact(&dir_entry, dir_kind, role, false));
            out.extend(sub.entries.iter().map(|e| fact(e, kind, role, false)));
            out.extend(sub.ignored.iter().map(|e| fact(e, EntryKind::Ignored, role, false)));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn fact(e: &Entry, kind: EntryKind, role: DirRole, shadowed: bool) -> EntryFact {
    // The scan chased every link once; only its result is described here.
    let (target, target_error) = match &e.target {
        Some(Ok(c)) if c.clamped => (Some(c.path.clone()), Some(super::stat::CLIMBS.to_string())),
        Some(Ok(c)) if !c.exists => (Some(c.path.clone()), Some("dangling".to_string())),
        Some(Ok(c)) => (Some(c.path.clone()), None),
        Some(Err(err)) => (None, Some(err.to_string())),
        None => (None, None),
    };
    EntryFact {
        path: e.path.clone(),
        kind,
        role,
        meta: e.meta.clone(),
        target,
        target_error,
        hidden: e.hidden,
        shadowed,
    }
}
