//! Builds the subjects of each target, the host object of `check_host`, and `ctx`.

use std::collections::HashMap;
use std::sync::Arc;

use rhai::{Dynamic, Engine, Map};

use super::model::Params;
use super::subject::{
    At, EntryS, FileProvS, GeneratorS, LingerS, Owner, PathS, Props, Subject, TimerS, UnitDirS, UnitS,
    writable_or_foreign,
};
use super::view::{self, HostView, ScopeView};
use super::{Fields, ToDyn, fields, register_type};
use crate::collect::root::basename;
use crate::finding::Fix;
use crate::model::{FileMeta, LingerFacts};

/// Targets whose subjects live in a scope (the rest are the host's).
pub const SCOPE_TARGETS: [&str; 4] = ["timer", "unit", "entry", "unit_dir"];

/// The subjects of a scope target in one scope, in a stable order.
pub fn scope_subjects(hv: &Arc<HostView>, sv: &Arc<ScopeView>, target: &str, out: &mut Vec<Subject>) {
    let owner_uid = sv.owner.map(|i| hv.user_at(i).uid);
    let at = At { sv: Arc::clone(sv) };
    let s = &sv.scope;
    let scope = Some(Arc::clone(&sv.label));
    let base = Props { scope_kind: Some(s.kind), ..Props::default() };
    let sub = |fact: Dynamic, label: &str, path: Option<&String>, props: Props| Subject {
        fact,
        label: label.to_string(),
        path: path.cloned(),
        line: None,
        scope: scope.clone(),
        props,
    };
    match target {
        "timer" => {
            for (i, t) in s.timers.iter().enumerate() {
                let service = sv.unit(&t.service).or_else(|| hv.global.as_ref().and_then(|g| g.unit(&t.service)));
                let props = Props {
                    will_run: Some(t.activation.will_run),
                    privileged: Some(t.runs_as.privileged),
                    ..timer_props(t, service.map(|u| &**u), &base)
                };
                out.push(sub(Dynamic::from(TimerS { at: at.clone(), i }), &t.name, t.source.as_ref(), props));
            }
        }
        "unit" => {
            let mut shadowed: HashMap<&str, Vec<String>> = HashMap::new();
            for e in s.entries.iter().filter(|e| e.shadowed) {
                shadowed.entry(basename(&e.path)).or_default().push(e.path.clone());
            }
            for (i, u) in s.units.iter().enumerate() {
                let path = u.fragment.as_ref().map(|f| &f.path);
                let shadows = path.and_then(|p| shadowed.get(basename(p))).cloned().unwrap_or_default();
                let fact = Dynamic::from(UnitS { at: at.clone(), i, shadows: Arc::new(shadows) });
                let props = Props {
                    unit_type: Some(u.unit_type.clone()),
                    has_dropins: Some(!u.dropins.is_empty()),
                    linked: Some(u.fragment.as_ref().is_some_and(|f| f.meta.kind == crate::model::FileKind::Symlink)),
                    ..base.clone()
                };
                out.push(sub(fact, &u.name, path, props));
            }
        }
        "entry" => {
            for (i, e) in s.entries.iter().enumerate() {
                let props = Props {
                    kind: Some(e.kind.as_str()),
                    writable_or_foreign: Some(writable_or_foreign(&e.meta, owner_uid.into_iter())),
                    ..base.clone()
                };
                out.push(sub(Dynamic::from(EntryS { at: at.clone(), i }), &e.path, Some(&e.path), props));
            }
        }
        "unit_dir" => {
            for (i, d) in s.search_path.iter().enumerate() {
                out.push(sub(Dynamic::from(UnitDirS { at: at.clone(), i }), &d.path, Some(&d.path), base.clone()));
            }
        }
        _ => {}
    }
}

/// The timer pre-filter properties that need more than one field (see docs/policy-api.md).
/// `service` is the timer's service unit as `t.service_unit` shows it.
fn timer_props(t: &crate::model::Timer, service: Option<&crate::model::Unit>, base: &Props) -> Props {
    use crate::model::ActivationReason::{Dependency, Link};
    let injected = t.activation.reasons.iter().chain(&t.service_activation).any(|r| match r {
        Link { boot, injected, .. } | Dependency { boot, injected, .. } => *boot && *injected,
        _ => false,
    });
    let inline_code =
        t.exec.iter().any(|e| e.argv.len() >= 3 && ["-c", "-e", "-lc", "-ec"].contains(&e.argv[1].as_str()));
    // A system manager's user comes from the service's (possibly instantiated) User=,
    // which `runs_as` already resolved; other scopes' policies read the unit's settings.
    let sets_user = if base.scope_kind == Some(crate::model::ScopeKind::System) {
        t.runs_as.user != "root"
    } else {
        service.is_some_and(|u| u.settings.get("Service").is_some_and(|s| s.contains_key("User")))
    };
    Props {
        injected: Some(injected),
        trigger_problems: Some(t.triggers.is_empty() || !t.invalid_triggers.is_empty()),
        service_loads: Some(t.service_loaded && !t.service.ends_with(".timer")),
        inline_code: Some(inline_code),
        sets_user: Some(sets_user),
        state: Some(t.activation.state.clone()),
        never_elapses: Some(t.never_elapses),
        ..base.clone()
    }
}

/// The subjects of a host target (`user`, `linger`, `generator`, `path`).
pub fn host_subjects(hv: &Arc<HostView>, target: &str) -> Vec<Subject> {
    let h = &hv.host;
    let sub = |fact: Dynamic, label: &str, path: &str| Subject {
        fact,
        label: label.to_string(),
        path: Some(path.to_string()),
        line: None,
        scope: None,
        props: Props::default(),
    };
    match target {
        "user" => h
            .users
            .iter()
            .map(|u| {
                // An account is defined by its passwd entry: findings point there.
                let mut s = sub(Dynamic::from(u.clone()), &u.name, "/etc/passwd");
                s.line = (u.line > 0).then_some(u.line);
                s
            })
            .collect(),
        "linger" => (0..h.linger.entries.len())
            .map(|i| {
                let e = &h.linger.entries[i];
                sub(Dynamic::from(LingerS { i }), &e.path, &e.path)
            })
            .collect(),
        "drift" => h
            .drift
            .iter()
            .map(|d| {
                let label = format!("{} ({})", d.unit, d.scope);
                let mut s = sub(Dynamic::from(d.clone()), &label, d.path.as_deref().unwrap_or(""));
                s.path = d.path.clone();
                s.scope = Some(Arc::from(d.scope.as_str()));
                s
            })
            .collect(),
        "loaded" => h
            .loaded
            .iter()
            .map(|l| {
                let label = format!("{} ({})", l.unit, l.manager);
                let mut s = sub(Dynamic::from(l.clone()), &label, l.fragment_path.as_deref().unwrap_or(""));
                s.path = l.fragment_path.clone();
                s.scope = Some(Arc::from(l.manager.as_str()));
                s
            })
            .collect(),
        "file" => (0..h.provenance.len())
            .map(|i| {
                let f = &h.provenance[i];
                sub(Dynamic::from(FileProvS { i }), &f.path, &f.path)
            })
            .collect(),
        "generator" => (0..h.generators.len())
            .map(|i| {
                let g = &h.generators[i];
                sub(Dynamic::from(GeneratorS { i }), &g.path, &g.path)
            })
            .collect(),
        "path" => {
            let mut chains = Chains::default();
            for sv in &hv.scopes {
                chains.add(hv, sv);
            }
            path_subjects(&h.paths, &chains)
        }
        _ => Vec::new(),
    }
}

/// What the scopes' search paths say of each path on them: whether it is a unit
/// directory (or only a parent of one), and the accounts whose own unit directories it
/// holds (inside their home or their `/run/user/UID`). Built scope by scope, so user
/// scopes can be streamed and their contributions merged.
#[derive(Default, Clone)]
pub struct Chains(crate::collect::FastMap<String, (bool, Vec<Owner>)>);

impl Chains {
    /// One scope's contribution.
    pub fn of(hv: &HostView, sv: &ScopeView) -> Chains {
        let mut c = Chains::default();
        c.add(hv, sv);
        c
    }

    pub fn add(&mut self, hv: &HostView, sv: &ScopeView) {
        let owner = sv.owner.map(|i| hv.user_at(i));
        // Computed once per scope, not per path: this runs for every directory on every
        // chain of 10,000 user scopes.
        let areas = owner.map(|u| (u.home.trim_end_matches('/').to_string(), format!("/run/user/{}", u.uid)));
        let inside = |p: &str, base: &str| {
            !base.is_empty() && p.starts_with(base) && (p.len() == base.len() || p.as_bytes()[base.len()] == b'/')
        };
        for d in &sv.scope.search_path {
            for (i, p) in d.chain.iter().enumerate() {
                let e = match self.0.get_mut(p.as_str()) {
                    Some(e) => e,
                    None => self.0.entry(p.clone()).or_default(),
                };
                e.0 |= i == 0;
                let (Some(u), Some((home, runtime))) = (owner.filter(|_| d.per_user), &areas) else { continue };
                if (inside(p, home) || inside(p, runtime)) && !e.1.iter().any(|o| o.uid == u.uid) {
                    e.1.reserve_exact(1); // nearly always the only one: not room for four
                    e.1.push(Owner { uid: u.uid, gid: u.gid, user: u.name.clone() });
                }
            }
        }
    }

    /// Whether a scope's chain holds `p`.
    pub fn contains(&self, p: &str) -> bool {
        self.0.contains_key(p)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Moves the paths `take` picks into a chains of their own.
    pub fn split_off(&mut self, take: impl Fn(&str) -> bool) -> Chains {
        let picked: Vec<String> = self.0.keys().filter(|p| take(p)).cloned().collect();
        Chains(picked.into_iter().filter_map(|p| self.0.remove_entry(&p)).collect())
    }

    /// Adds a later scope's contribution (owners keep scope order).
    pub fn merge(&mut self, other: Chains) {
        for (p, (dir, owners)) in other.0 {
            let e = match self.0.get_mut(p.as_str()) {
                Some(e) => e,
                None => self.0.entry(p).or_default(),
            };
            e.0 |= dir;
            for o in owners {
                if !e.1.iter().any(|x| x.uid == o.uid) {
                    e.1.reserve_exact(1);
                    e.1.push(o);
                }
            }
        }
    }
}

/// The `path` subjects: every recorded path, with what the chains say of it.
pub fn path_subjects(paths: &std::collections::BTreeMap<String, FileMeta>, chains: &Chains) -> Vec<Subject> {
    paths
        .iter()
        .map(|(p, m)| {
            let (unit_dir, owners) = chains.0.get(p).cloned().unwrap_or_default();
            let unit_chain = chains.0.contains_key(p);
            let props = Props {
                unit_chain: Some(unit_chain),
                writable_or_foreign: Some(writable_or_foreign(m, owners.iter().map(|o| o.uid))),
                ..Props::default()
            };
            let fact = PathS { path: p.clone(), meta: m.clone(), unit_chain, unit_dir, owners };
            Subject {
                fact: Dynamic::from(fact),
                label: p.clone(),
                path: Some(p.clone()),
                line: None,
                scope: None,
                props,
            }
        })
        .collect()
}

/// `host` of `check_host`: the whole facts, read in place.
#[derive(Clone)]
pub struct HostObj(pub Arc<HostView>);

fields!(HostObj, "Host", |h| {
    "schema" => h.0.host.schema, "live" => h.0.host.live, "hostname" => h.0.host.hostname,
    "machine_id" => h.0.host.machine_id, "first_boot" => h.0.host.first_boot,
    "scopes" => h.0.scopes.iter().map(|s| ScopeObj(Arc::clone(s))).collect::<Vec<_>>(),
    "users" => h.0.host.users, "groups" => h.0.host.groups, "linger" => h.0.host.linger,
    "generators" => h.0.host.generators, "paths" => PathsObj(Arc::clone(&h.0)),
    "packages" => h.0.host.packages, "provenance" => h.0.host.provenance,
    "assumptions" => h.0.host.assumptions, "warnings" => h.0.host.warnings,
});

/// One scope of `host.scopes`.
#[derive(Clone)]
pub struct ScopeObj(Arc<ScopeView>);

fields!(ScopeObj, "Scope", |s| {
    "kind" => s.0.scope.kind, "user" => s.0.scope.user, "label" => s.0.label.as_ref(),
    "search_path" => s.0.scope.search_path,
    "units" => s.0.scope.units.iter().map(|u| super::UnitObj(Arc::clone(u))).collect::<Vec<_>>(),
    "timers" => s.0.scope.timers, "entries" => s.0.scope.entries,
    "unit_files" => s.0.scope.unit_files.iter().map(|(k, v)| (k.into(), v.as_str().to_dyn())).collect::<Map>(),
});

impl ToDyn for Map {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_map(self.clone())
    }
}

fields!(LingerFacts, "LingerFacts", |l| { "dir" => l.dir, "dir_meta" => l.dir_meta, "entries" => l.entries });

/// `host.paths`: path → FileMeta; a path that was not recorded is `()`.
#[derive(Clone)]
pub struct PathsObj(Arc<HostView>);

impl ToDyn for PathsObj {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }
}

/// `ctx.host` (this thread's host view).
#[derive(Clone)]
pub struct HostInfo;
impl Fields for HostInfo {
    const NAME: &'static str = "HostInfo";
    const NAMES: &'static [&'static str] = &["hostname", "machine_id", "live", "first_boot"];
    fn field(&self, name: &str) -> Option<Dynamic> {
        view::with(|hv| {
            let h = &hv.host;
            Some(match name {
                "hostname" => h.hostname.to_dyn(),
                "machine_id" => h.machine_id.to_dyn(),
                "live" => h.live.to_dyn(),
                "first_boot" => h.first_boot.to_dyn(),
                _ => return None,
            })
        })
    }
}

/// `ctx`: the policy's parameters, the host's identity, the policy id.
#[derive(Clone)]
pub struct Ctx {
    pub params: Params,
}
fields!(Ctx, "Ctx", |c| {
    "params" => Dynamic::from(c.params.clone()), "host" => HostInfo, "policy" => c.params.id.as_ref(),
});

impl Ctx {
    /// A fix `fix` would apply without `--unsafe`: safe by kind and by what it touches.
    fn is_safe(&self, fix: &Fix) -> bool {
        view::with(|hv| {
            let is_dir = |p: &str| hv.meta(p).is_some_and(|m: &FileMeta| m.kind == crate::model::FileKind::Dir);
            fix.safe() && hv.safety.refuse(fix, &is_dir).is_none()
        })
    }
}

pub fn register_types(e: &mut Engine) {
    register_type::<HostObj>(e);
    register_type::<ScopeObj>(e);
    register_type::<LingerFacts>(e);
    register_type::<HostInfo>(e);
    register_type::<Ctx>(e);
    e.register_type_with_name::<PathsObj>("Paths");
    e.register_indexer_get(|p: &mut PathsObj, k: &str| p.0.meta(k).cloned().to_dyn());
    e.register_fn("contains", |p: &mut PathsObj, k: &str| p.0.meta(k).is_some());
    e.register_fn("is_safe", |c: &mut Ctx, f: Fix| c.is_safe(&f));
}
