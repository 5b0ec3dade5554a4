//! Will a unit run? The dependency graph a manager builds at boot: `Wants=`/`Requires=`/
//! `BindsTo=`/`Upholds=` settings (fragment and drop-ins) and `.wants/`/`.requires/`
//! links, followed from the boot targets (S15, S18). Unlike `is-enabled`, every link
//! counts here, vendor ones included, and a link counts by its *name* (S15).
//!
//! Boot roots: `default.target` plus `basic.target`, `sysinit.target` and `timers.target`,
//! which every real distribution pulls in from it; they are assumed so that a fixture
//! root without target units still answers like a booted system.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use super::FastSet;

use super::dropins;
use super::names::{self, NameKind};
use super::resolve::Resolver;
use crate::model::{ActivationReason, DirRole, FileKind, Unit, Warning};

pub const BOOT_ROOTS: [&str; 4] = ["default.target", "basic.target", "sysinit.target", "timers.target"];

/// A target taken as reached at boot whether or not the root has its file: the boot
/// roots, and `multi-user.target`, the default without a `default.target`.
pub fn assumed_at_boot(name: &str) -> bool {
    BOOT_ROOTS.contains(&name) || name == "multi-user.target"
}

/// `[Unit]` settings that start the units they name: at boot with their unit
/// (`Wants=`, `Requires=`, `BindsTo=`, `Upholds=`), or when it succeeds or fails
/// (`OnSuccess=`, `OnFailure=`: still a way to get code run, counted as a pull).
pub const PULL_KEYS: [&str; 6] = ["Wants", "Requires", "BindsTo", "Upholds", "OnSuccess", "OnFailure"];

/// Directory roles whose links, when they are not the unit's own `[Install]`, are
/// injected: the admin's and runtime config. Vendor links are the package's; generator
/// output is systemd's (generators themselves are judged as executables, S21).
const LOCAL_ROLES: [DirRole; 5] =
    [DirRole::Config, DirRole::Control, DirRole::Runtime, DirRole::Attached, DirRole::Local];

/// Marks the links into `unit` that its own `[Install]` section does not explain
/// (`WantedBy=`/`RequiredBy=`/`UpheldBy=` naming the unit whose directory holds the link).
pub fn mark_injected_links(reasons: &mut [ActivationReason], unit: &Unit) {
    let own: Vec<&str> = ["WantedBy", "RequiredBy", "UpheldBy"]
        .iter()
        .flat_map(|k| unit.get("Install", k))
        .flat_map(|s| s.value.split_whitespace())
        .collect();
    for r in reasons {
        if let ActivationReason::Link { role, by, injected, .. } = r {
            *injected = LOCAL_ROLES.contains(role) && !own.contains(&by.as_str());
        }
    }
}

/// One dependency edge out of a unit.
#[derive(Debug, Clone)]
pub struct Dep {
    pub target: String,
    pub reason: ActivationReason,
}

/// Outgoing pull-in dependencies of a loaded unit.
pub fn deps_of(r: &mut Resolver<'_>, unit: &Unit) -> Vec<Dep> {
    let mut out = Vec::new();
    // Only the distribution's own files are trusted to pull units in; a `Wants=` in an
    // admin's or an attacker's file or drop-in is an injected dependency.
    let vendor_file =
        |f: &str| unit.fragment.iter().chain(&unit.dropins).any(|r| r.path == f && r.role == DirRole::Vendor);
    for key in PULL_KEYS {
        for s in unit.get("Unit", key) {
            for word in s.value.split_whitespace() {
                out.push(Dep {
                    target: word.to_string(),
                    reason: ActivationReason::Dependency {
                        unit: unit.name.clone(),
                        key: key.into(),
                        file: s.file.clone(),
                        line: s.line,
                        boot: false,
                        injected: !vendor_file(&s.file),
                    },
                });
            }
        }
    }
    let aliases: Vec<String> = unit.names.iter().filter(|n| **n != unit.name).cloned().collect();
    let mut links = Vec::new();
    let mut warnings = Vec::new();
    {
        let scans = r.scans();
        // Both kinds look in the same stems' directories: the stems are worked out once.
        let deps = dropins::Pick::Deps("wants");
        let stems = dropins::stems_for(&scans, deps, &unit.name, &aliases);
        for kind in ["wants", "requires"] {
            let dirs = dropins::applicable_to(&scans, &stems, &unit.unit_type, dropins::Pick::Deps(kind));
            for (li, e) in dropins::merge(&dirs) {
                if e.null {
                    continue; // a masked dependency
                }
                if e.meta.kind != FileKind::Symlink {
                    warnings.push(Warning {
                        path: e.path.clone(),
                        line: None,
                        message: "dependency entry is not a symlink; systemd ignores it".into(),
                    });
                    continue;
                }
                let Some(k) = names::classify(&e.name) else {
                    warnings.push(Warning {
                        path: e.path.clone(),
                        line: None,
                        message: "dependency link is not a valid unit name; systemd ignores it".into(),
                    });
                    continue;
                };
                let mut target = e.name.clone();
                if let (NameKind::Template, Some(i)) = (k, names::instance(&unit.name)) {
                    target = names::with_instance(&e.name, i); // instance propagation
                }
                links.push((target, e.path.clone(), r.layers[li].spec.role));
            }
        }
    }
    r.warnings.extend(warnings);
    for (target, path, role) in links {
        out.push(Dep {
            target,
            reason: ActivationReason::Link { path, role, by: unit.name.clone(), boot: false, injected: false },
        });
    }
    out
}

/// The units reachable from the boot roots, and every edge into a unit (by unit id).
#[derive(Default)]
pub struct Graph {
    pub reached: FastSet<String>,
    pub into: BTreeMap<String, Vec<ActivationReason>>,
}

/// One unit's place in the graph: its id, whether it has a fragment, its edges.
pub type Node = (String, bool, Vec<Dep>);

/// Walks the graph from the boot roots; `deps` yields a unit's node (borrowed when a user
/// scope reuses the shared directories': no copy of their edges per user). Without a
/// `default.target` file (fixture roots), `multi-user.target` is taken as the default,
/// as on a server.
pub fn walk<'a>(mut deps: impl FnMut(&str) -> Option<Cow<'a, Node>>) -> Graph {
    let mut g = Graph::default();
    let mut queue: VecDeque<String> = BOOT_ROOTS.iter().map(|s| s.to_string()).collect();
    if deps("default.target").is_none_or(|n| !n.1) {
        queue.push_back("multi-user.target".into());
    }
    while let Some(name) = queue.pop_front() {
        let Some(node) = deps(&name) else { continue };
        if g.reached.contains(&node.0) {
            continue;
        }
        match node {
            Cow::Owned((id, _, edges)) => {
                g.reached.insert(id);
                edges.into_iter().for_each(|d| g.edge(&mut queue, d.target, d.reason));
            }
            Cow::Borrowed((id, _, edges)) => {
                g.reached.insert(id.clone());
                edges.iter().for_each(|d| g.edge(&mut queue, d.target.clone(), d.reason.clone()));
            }
        }
    }
    g
}

impl Graph {
    fn edge(&mut self, queue: &mut VecDeque<String>, target: String, reason: ActivationReason) {
        queue.push_back(target.clone());
        self.into.entry(target).or_default().push(set_boot(reason, true));
    }
}

fn set_boot(mut r: ActivationReason, b: bool) -> ActivationReason {
    match &mut r {
        ActivationReason::Link { boot, .. } | ActivationReason::Dependency { boot, .. } => *boot = b,
        _ => {}
    }
    r
}

/// Every `.wants`/`.requires` link named `name` in any directory of the scope, for
/// reporting links whose owner is not reached at boot.
pub fn links_named(r: &Resolver<'_>, names_: &[String]) -> Vec<ActivationReason> {
    let mut out = Vec::new();
    for l in &r.layers {
        // In the order the directory map holds them: by (stem, kind), then entry.
        let mut here: Vec<(&(String, String), &crate::collect::scan::Entry)> = Vec::new();
        for n in names_ {
            // Ignored by the 252 manager (S15); the index also holds instances under their
            // template's name, which are not links *named* `n`.
            here.extend(l.scan.dep_links_named(n).filter(|(k, e)| k.1 != "upholds" && e.name == *n));
        }
        here.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
        here.dedup_by(|a, b| a.1.path == b.1.path);
        for ((stem, _), e) in here {
            out.push(ActivationReason::Link {
                path: e.path.clone(),
                role: l.spec.role,
                by: stem.clone(),
                boot: false,
                injected: false,
            });
        }
    }
    out
}

/// The one-word activation state for the table, from the strongest reason.
pub fn state_word(reasons: &[ActivationReason]) -> &'static str {
    let boot_link = |roles: &[DirRole]| {
        reasons.iter().any(|r| matches!(r, ActivationReason::Link { role, boot: true, .. } if roles.contains(role)))
    };
    if reasons.iter().any(|r| matches!(r, ActivationReason::Transient { .. })) {
        "transient"
    } else if boot_link(&[DirRole::Config, DirRole::Control, DirRole::Attached]) {
        "enabled"
    } else if boot_link(&[DirRole::Runtime]) {
        "enabled-runtime"
    } else if boot_link(&[DirRole::Vendor, DirRole::Local]) {
        "vendor"
    } else if reasons.iter().any(|r| matches!(r, ActivationReason::Generated { .. })) {
        "generated"
    } else if reasons.iter().any(|r| matches!(r, ActivationReason::Dependency { boot: true, .. })) {
        "wanted"
    } else if reasons.iter().any(|r| matches!(r, ActivationReason::Preset { .. })) {
        "preset"
    } else if reasons
        .iter()
        .any(|r| matches!(r, ActivationReason::Link { role, boot: true, .. } if role.is_generator()))
    {
        "generated"
    } else {
        "inert"
    }
}
