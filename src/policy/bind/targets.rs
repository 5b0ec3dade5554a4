//! Builds the subjects of each target, the host object of `check_host`, and `ctx`.

use std::collections::HashMap;
use std::sync::Arc;

use rhai::{Dynamic, Engine, Map};

use super::model::Params;
use super::subject::{At, EntryS, GeneratorS, LingerS, Owner, PathS, Subject, TimerS, UnitDirS, UnitS};
use super::view::{HostView, ScopeView};
use super::{ToDyn, fields, register_type};
use crate::collect::root::basename;
use crate::finding::Fix;
use crate::model::{FileMeta, LingerFacts};

/// Targets whose subjects live in a scope (the rest are the host's).
pub const SCOPE_TARGETS: [&str; 4] = ["timer", "unit", "entry", "unit_dir"];

/// The subjects of a scope target in one scope, in a stable order.
pub fn scope_subjects(hv: &Arc<HostView>, sv: &Arc<ScopeView>, target: &str, out: &mut Vec<Subject>) {
    let at = At { hv: Arc::clone(hv), sv: Arc::clone(sv) };
    let s = &sv.scope;
    let scope = Some(Arc::clone(&sv.label));
    let sub = |fact: Dynamic, label: &str, path: Option<&String>| Subject {
        fact,
        label: label.to_string(),
        path: path.cloned(),
        line: None,
        scope: scope.clone(),
    };
    match target {
        "timer" => {
            for (i, t) in s.timers.iter().enumerate() {
                out.push(sub(Dynamic::from(TimerS { at: at.clone(), i }), &t.name, t.source.as_ref()));
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
                out.push(sub(fact, &u.name, path));
            }
        }
        "entry" => {
            for (i, e) in s.entries.iter().enumerate() {
                out.push(sub(Dynamic::from(EntryS { at: at.clone(), i }), &e.path, Some(&e.path)));
            }
        }
        "unit_dir" => {
            for (i, d) in s.search_path.iter().enumerate() {
                out.push(sub(Dynamic::from(UnitDirS { at: at.clone(), i }), &d.path, Some(&d.path)));
            }
        }
        _ => {}
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
                sub(Dynamic::from(LingerS { hv: Arc::clone(hv), i }), &e.path, &e.path)
            })
            .collect(),
        "generator" => (0..h.generators.len())
            .map(|i| {
                let g = &h.generators[i];
                sub(Dynamic::from(GeneratorS { hv: Arc::clone(hv), i }), &g.path, &g.path)
            })
            .collect(),
        "path" => paths(hv).into_iter().map(|p| sub(Dynamic::from(p.clone()), &p.path, &p.path)).collect(),
        _ => Vec::new(),
    }
}

/// Every recorded directory: which are unit directories or parents of one, and whose
/// home or runtime directory (`/run/user/UID`) it is in, for the scopes whose own unit
/// directories live there.
fn paths(hv: &HostView) -> Vec<PathS> {
    let mut chains: HashMap<&str, (bool, Vec<Owner>)> = HashMap::new();
    for sv in &hv.scopes {
        let owner = sv.owner.map(|i| hv.user_at(i));
        for d in &sv.scope.search_path {
            for (i, p) in d.chain.iter().enumerate() {
                let e = chains.entry(p.as_str()).or_default();
                e.0 |= i == 0;
                let Some(u) = owner.filter(|_| d.per_user) else { continue };
                let home = u.home.trim_end_matches('/');
                let runtime = format!("/run/user/{}", u.uid);
                let inside = |base: &str| !base.is_empty() && (p == base || p.starts_with(&format!("{base}/")));
                if (inside(home) || inside(&runtime)) && !e.1.iter().any(|o| o.uid == u.uid) {
                    e.1.push(Owner { uid: u.uid, gid: u.gid, user: u.name.clone() });
                }
            }
        }
    }
    hv.host
        .paths
        .iter()
        .map(|(p, m)| {
            let (unit_dir, owners) = chains.get(p.as_str()).cloned().unwrap_or_default();
            PathS { path: p.clone(), meta: m.clone(), unit_chain: chains.contains_key(p.as_str()), unit_dir, owners }
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

/// `ctx.host`.
#[derive(Clone)]
pub struct HostInfo(Arc<HostView>);
fields!(HostInfo, "HostInfo", |h| {
    "hostname" => h.0.host.hostname, "machine_id" => h.0.host.machine_id, "live" => h.0.host.live,
    "first_boot" => h.0.host.first_boot,
});

/// `ctx`: the policy's parameters, the host's identity, the policy id.
#[derive(Clone)]
pub struct Ctx {
    pub params: Params,
    pub hv: Arc<HostView>,
}
fields!(Ctx, "Ctx", |c| {
    "params" => Dynamic::from(c.params.clone()), "host" => HostInfo(Arc::clone(&c.hv)),
    "policy" => c.params.id.as_ref(),
});

impl Ctx {
    /// A fix `fix` would apply without `--unsafe`: safe by kind and by what it touches.
    fn is_safe(&self, fix: &Fix) -> bool {
        let is_dir = |p: &str| self.hv.meta(p).is_some_and(|m: &FileMeta| m.kind == crate::model::FileKind::Dir);
        fix.safe() && self.hv.safety.refuse(fix, &is_dir).is_none()
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
