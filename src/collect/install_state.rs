//! `systemctl is-enabled` offline (S15–S19), as systemd 252's install.c computes it
//! (`unit_file_lookup_state`), checked against `systemctl --root` on fixed shapes and on
//! random layouts (tests/it/install_oracle.rs, tests/it/enablement.rs):
//! - the first entry of a name decides: a link install.c cannot follow there is `bad`
//!   even where the manager, skipping it, loads a lower file (`Resolver::install_bad`);
//! - a mask anywhere under `/run` is `masked-runtime`; a linked file is judged by its
//!   target's path (a link in a generator directory to `/opt` is not `generated`);
//! - links in every directory of the search path are looked at: in the persistent config
//!   directory (and, for a user, `/etc/systemd/user`) they enable, under `/run` they
//!   enable at runtime, elsewhere (vendor, local, `system.control`) they only make an
//!   instance `static` — a vendor `timers.target.wants` link leaves a unit `disabled`
//!   (S18);
//! - in `.wants/`/`.requires/` a link counts by its *name* (its target is ignored), below
//!   the unit's own directory too; 252 reads no `.upholds/` and knows no `UpheldBy=`;
//! - a symlink directly in a directory counts by name or by target: named as the unit
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
            // 252's install.c knows no `UpheldBy=` ("Unknown key"): it is no rule there.
            "WantedBy" | "RequiredBy" => i.has_rules |= !words.is_empty(),
            "Also" => i.has_also |= !words.is_empty(),
            "DefaultInstance" => i.default_instance = Some(v).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    i
}

/// install.c's `path_is_runtime`: everything under `/run` (in-image).
fn under_run(path: &str) -> bool {
    path == "/run" || path.starts_with("/run/")
}

/// What one directory of the search path counts as for install.c (`find_symlinks_in_scope`):
/// links in the persistent config directory (and, for a user, `/etc/systemd/user`) enable,
/// links anywhere under `/run` enable at runtime, links elsewhere (vendor, local,
/// `system.control`, …) only make an instance `static`. Strongest last.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Counts {
    Elsewhere,
    Runtime,
    UserConfig,
    Persistent,
}

/// install.c compares search-path strings, and reads a directory again under each path
/// that leads to it; a layer here is read once, under the first such path, so it counts
/// as the strongest of its configured and its resolved path (Debian's
/// `/etc/xdg/systemd/user -> ../../systemd/user` is `/etc/systemd/user` too).
fn counts(r: &Resolver<'_>, li: usize, user_scope: bool) -> Counts {
    const XDG: &str = "/etc/xdg/systemd/user";
    let (spec, dir) = (&r.layers[li].spec, r.layers[li].scan.dir.as_str());
    // The persistent config dir: a user's `~/.config/systemd/user`, `/etc/systemd/system`,
    // or, for the global scope (no user's directories), `/etc/systemd/user`.
    let own = spec.role == DirRole::Config && spec.path != XDG && (spec.per_user || !user_scope);
    let of = |p: &str| {
        if (p == spec.path && own) || p == "/etc/systemd/system" || (!user_scope && p == "/etc/systemd/user") {
            Counts::Persistent
        } else if user_scope && p == "/etc/systemd/user" {
            Counts::UserConfig
        } else if under_run(p) {
            Counts::Runtime
        } else {
            Counts::Elsewhere
        }
    };
    let (a, b) = (of(&spec.path), of(dir));
    if a >= b { a } else { b }
}

/// The state of `name` (which resolved to `unit`), or `None` when no file exists.
pub fn file_state(r: &Resolver<'_>, unit: &Unit, name: &str) -> Option<UnitFileState> {
    if r.install_bad(name) {
        return Some(UnitFileState::Bad);
    }
    let frag = unit.fragment.as_ref()?;
    if frag.null {
        return Some(if under_run(&frag.path) { UnitFileState::MaskedRuntime } else { UnitFileState::Masked });
    }
    // install.c follows a link to the file it names: a linked unit file is judged by the
    // path of its target (a link in a generator directory to /opt is not `generated`).
    let info_path = match (&frag.meta.kind, &frag.target) {
        (FileKind::Symlink, Some(t)) => t.resolved.as_deref().unwrap_or(&frag.path),
        _ => frag.path.as_str(),
    };
    let instance = || names::classify(name) == Some(NameKind::Instance);
    if name != root::basename(info_path) && !instance() {
        return Some(UnitFileState::Alias);
    }
    let info_layer = r.layer_of(info_path);
    match info_layer.map(|l| r.layers[l].spec.role) {
        Some(role) if role.is_generator() => return Some(UnitFileState::Generated),
        Some(DirRole::Transient) => return Some(UnitFileState::Transient),
        _ => {}
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
    // Per directory: a link with a name `[Install]` would make (`hit`), another link to
    // the unit (`other`), a link named as the unit to a file of that name (`same`).
    let (mut enabled, mut runtime, mut at_all, mut linked, mut linked_rt) = (false, false, false, false, false);
    let (mut other_counted, mut other_elsewhere) = (false, false);
    let user_scope = r.layers.iter().any(|l| l.spec.per_user);
    for (i, layer) in r.layers.iter().enumerate() {
        // Directories below the one holding the unit's file: a same-named entry directly
        // in one is that file's shadow, not a link to it.
        let ignore_same_name = info_layer.is_some_and(|fl| i > fl);
        let (mut hit, mut other, mut same) = (false, false, false);
        // Links in `.wants/`/`.requires/` named as the unit (or, for a template, as an
        // instance of it), in every directory, below the unit's own too; the index holds
        // both keys. 252 does not look in `.upholds/` (S15).
        for (_, e) in layer.scan.dep_links_named(name).filter(|(k, _)| k.1 != "upholds") {
            let instance_of_template = names::classify(name) == Some(NameKind::Template)
                && names::template_of(&e.name).as_deref() == Some(name);
            if e.name == name || instance_of_template {
                if known(&e.name) { hit = true } else { other = true }
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
        if !(hit || other || same) {
            continue;
        }
        let c = counts(r, i, user_scope);
        if hit {
            match c {
                Counts::Persistent | Counts::UserConfig => enabled = true,
                Counts::Runtime => runtime = true,
                Counts::Elsewhere => at_all = true,
            }
        } else if same {
            match c {
                Counts::Persistent => linked = true,
                Counts::Runtime => linked_rt = true,
                Counts::UserConfig | Counts::Elsewhere => {}
            }
        }
        if other {
            if c == Counts::Elsewhere { other_elsewhere = true } else { other_counted = true }
        }
    }
    Some(if enabled {
        UnitFileState::Enabled
    } else if runtime {
        UnitFileState::EnabledRuntime
    } else if at_all && instance() {
        UnitFileState::Static
    } else if linked {
        UnitFileState::Linked
    } else if linked_rt {
        UnitFileState::LinkedRuntime
    } else if other_counted || (other_elsewhere && instance()) {
        UnitFileState::Indirect
    } else if info.has_rules {
        UnitFileState::Disabled
    } else if info.has_also {
        UnitFileState::Indirect
    } else {
        UnitFileState::Static
    })
}
