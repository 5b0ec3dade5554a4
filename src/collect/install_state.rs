//! `systemctl is-enabled` offline (S15–S19), as systemd 252's install.c computes it,
//! calibrated against `systemctl --root` (see tests/oracle_systemctl.rs):
//! - only the persistent and runtime *config* directories count; a vendor
//!   `/usr/lib/…/timers.target.wants` link leaves the unit `disabled` (S18);
//! - in `.wants/`/`.requires/` a link counts by its *name* (its target is ignored);
//! - a symlink directly in a config dir counts by name or by target: named as the unit
//!   and pointing at it, it makes the unit `linked`; an alias not declared in `Alias=`
//!   makes its target `indirect`.

use super::names::{self, NameKind};
use super::resolve::Resolver;
use super::root;
use crate::model::{DirRole, FileKind, Unit, UnitFileState};

struct Install {
    aliases: Vec<String>,
    has_rules: bool,
    has_also: bool,
    default_instance: Option<String>,
}

fn install_info(r: &Resolver<'_>, unit: &Unit) -> Install {
    let mut i = Install { aliases: Vec::new(), has_rules: false, has_also: false, default_instance: None };
    for (k, v) in r.install_section(unit) {
        let words: Vec<String> = v.split_whitespace().map(String::from).collect();
        match k.as_str() {
            "Alias" => {
                i.has_rules |= !words.is_empty();
                i.aliases.extend(words);
            }
            "WantedBy" | "RequiredBy" | "UpheldBy" => i.has_rules |= !words.is_empty(),
            "Also" => i.has_also |= !words.is_empty(),
            "DefaultInstance" => i.default_instance = Some(v).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    i
}

/// The state of `name` (which resolved to `unit`), or `None` when no file exists.
pub fn file_state(r: &Resolver<'_>, unit: &Unit, name: &str) -> Option<UnitFileState> {
    let frag = unit.fragment.as_ref()?;
    if frag.null {
        return Some(if frag.role.is_runtime() { UnitFileState::MaskedRuntime } else { UnitFileState::Masked });
    }
    let frag_base = root::basename(&frag.path);
    if name != frag_base && names::classify(name) != Some(NameKind::Instance) {
        return Some(UnitFileState::Alias);
    }
    if frag.role.is_generator() {
        return Some(UnitFileState::Generated);
    }
    if frag.role == DirRole::Transient {
        return Some(UnitFileState::Transient);
    }
    if unit.load_state == crate::model::LoadState::Error {
        return Some(UnitFileState::Bad);
    }
    let info = install_info(r, unit);
    let known = |link: &str| {
        link == name
            || info.aliases.iter().any(|a| a == link)
            || (names::classify(name) == Some(NameKind::Template)
                && info.default_instance.as_deref().is_some_and(|d| names::with_instance(name, d) == link))
    };
    let frag_layer = r.layer_of(&frag.path);
    let (mut enabled, mut runtime, mut linked, mut linked_rt, mut indirect) = (false, false, false, false, false);
    for (i, layer) in r.layers.iter().enumerate() {
        if !matches!(layer.spec.role, DirRole::Config | DirRole::Runtime) {
            continue;
        }
        let ignore_same_name = frag_layer.is_some_and(|fl| i > fl);
        let is_runtime = layer.spec.role == DirRole::Runtime;
        let (mut hit, mut other, mut same) = (false, false, false);
        if !ignore_same_name {
            // Links in `.wants/`/`.requires/` named as the unit (or, for a template, as
            // an instance of it); the index holds both keys.
            for (_, e) in layer.scan.dep_links_named(name) {
                let instance_of_template = names::classify(name) == Some(NameKind::Template)
                    && names::template_of(&e.name).as_deref() == Some(name);
                if e.name == name || instance_of_template {
                    if known(&e.name) { hit = true } else { other = true }
                }
            }
        }
        // Unit-named links directly in the directory: by their name, or by their target.
        let by_name = layer.scan.units.get(name).filter(|e| e.meta.kind == FileKind::Symlink && !ignore_same_name);
        let by_dest = layer.scan.links_by_dest.get(name).into_iter().flatten().filter_map(|n| layer.scan.units.get(n));
        let mut looked: Vec<&str> = Vec::new();
        for e in by_name.into_iter().chain(by_dest) {
            if looked.contains(&e.name.as_str()) {
                continue;
            }
            looked.push(&e.name);
            let dest = e.meta.link.as_deref().map(root::basename).unwrap_or_default();
            let found_path = !ignore_same_name && e.name == name;
            let found_dest = dest == name;
            if found_path && found_dest {
                same = true;
            } else if found_path || found_dest {
                if known(&e.name) { hit = true } else { other = true }
            }
        }
        if hit {
            if is_runtime { runtime = true } else { enabled = true }
        }
        if same {
            if is_runtime { linked_rt = true } else { linked = true }
        }
        indirect |= other;
    }
    Some(if enabled {
        UnitFileState::Enabled
    } else if runtime {
        UnitFileState::EnabledRuntime
    } else if linked {
        UnitFileState::Linked
    } else if linked_rt {
        UnitFileState::LinkedRuntime
    } else if indirect {
        UnitFileState::Indirect
    } else if info.has_rules {
        UnitFileState::Disabled
    } else if info.has_also {
        UnitFileState::Indirect
    } else {
        UnitFileState::Static
    })
}
