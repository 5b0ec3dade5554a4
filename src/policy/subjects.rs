//! Turns the facts into the subjects each target iterates over. Each subject is the
//! fact itself plus where it lives (`scope`, `scope_kind`, `owner`, `owner_uid`) and,
//! for timers, the timer's own unit and its service's unit.

use rayon::prelude::*;
use serde_json::{Value, json};

use super::fact::{Fact, Node};
use crate::model::{Host, Scope, ScopeKind};

/// One thing a policy's `check` is called with.
pub struct Subject {
    pub fact: Fact,
    /// Default finding subject (a path or a unit name).
    pub label: String,
    /// Default finding path, and line in it.
    pub path: Option<String>,
    pub line: Option<u32>,
    pub scope: Option<String>,
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Accounts by name (a linear search per subject is quadratic on a 10,000-user host).
type Users<'a> = std::collections::HashMap<&'a str, &'a crate::model::User>;

fn with_scope(mut v: Value, users: &Users<'_>, s: &Scope) -> Value {
    let owner = s.user.as_deref().and_then(|u| users.get(u).copied());
    if let Value::Object(m) = &mut v {
        m.insert("scope".into(), json!(s.label()));
        m.insert("scope_kind".into(), to_value(&s.kind));
        m.insert("owner".into(), owner.map_or(Value::Null, |u| json!(u.name)));
        m.insert("owner_uid".into(), owner.map_or(Value::Null, |u| json!(u.uid)));
        m.insert("owner_home".into(), owner.map_or(Value::Null, |u| json!(u.home)));
        m.insert("owner_groups".into(), owner.map_or(Value::Null, |u| json!(u.groups)));
    }
    v
}

fn subject(v: Value, label: String, path: Option<String>, scope: Option<String>) -> Subject {
    Subject { fact: Fact(Node::from_json(&v)), label, path, line: None, scope }
}

/// A scope's units by each of their names (the first unit wins, as `Scope::unit`).
fn unit_index(s: &Scope) -> std::collections::HashMap<&str, usize> {
    let mut m = std::collections::HashMap::new();
    for (k, u) in s.units.iter().enumerate() {
        for n in std::iter::once(&u.name).chain(&u.names) {
            m.entry(n.as_str()).or_insert(k);
        }
    }
    m
}

/// The subjects of one target, in a stable order.
pub fn of(host: &Host, target: &str) -> Vec<Subject> {
    let users: Users<'_> = host.users.iter().map(|u| (u.name.as_str(), u)).collect();
    let mut out = Vec::new();
    match target {
        "timer" => {
            // Built in parallel: 30,000 timers with their units are the costliest subjects.
            // Units by every name, per scope: a linear search per timer is quadratic on a
            // host with 20,000 timers.
            let index: Vec<_> = host.scopes.iter().map(|s| unit_index(s)).collect();
            let gi = host.scopes.iter().position(|s| s.kind == ScopeKind::Global);
            out = host
                .scopes
                .par_iter()
                .enumerate()
                .flat_map_iter(|(i, s)| s.timers.iter().map(move |t| (i, s, t)))
                .map(|(i, s, t)| {
                    let find = |j: usize, n: &str| index[j].get(n).map(|&k| &host.scopes[j].units[k]);
                    let unit = find(i, &t.name);
                    let svc = find(i, &t.service).or_else(|| gi.and_then(|g| find(g, &t.service)));
                    let mut v = with_scope(to_value(t), &users, s);
                    // Metadata of every file the service runs or reads, and of their parents.
                    let mut metas = serde_json::Map::new();
                    let facts = t
                        .exec
                        .iter()
                        .flat_map(|e| std::iter::once(&e.executable).chain(&e.scripts))
                        .chain(&t.environment_files);
                    for f in facts {
                        for p in f.parents.iter().chain(&f.resolved) {
                            if let Some(m) = host.paths.get(p) {
                                metas.insert(p.clone(), to_value(m));
                            }
                        }
                    }
                    if let Value::Object(m) = &mut v {
                        m.insert("unit".into(), unit.map_or(Value::Null, to_value));
                        m.insert("service_unit".into(), svc.map_or(Value::Null, to_value));
                        m.insert("path_meta".into(), Value::Object(metas));
                    }
                    subject(v, t.name.clone(), t.source.clone(), Some(s.label()))
                })
                .collect();
        }
        "unit" => {
            for s in &host.scopes {
                let mut shadowed: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
                for e in s.entries.iter().filter(|e| e.shadowed) {
                    shadowed.entry(crate::collect::root::basename(&e.path)).or_default().push(&e.path);
                }
                for u in &s.units {
                    let path = u.fragment.as_ref().map(|f| f.path.clone());
                    let target_chain: Vec<Value> = u
                        .fragment
                        .iter()
                        .filter_map(|f| f.target.as_ref())
                        .flat_map(|t| t.parents.iter().chain(&t.resolved))
                        .filter_map(|p| host.paths.get(p).map(|m| json!({ "path": p, "meta": to_value(m) })))
                        .collect();
                    let mut v = with_scope(to_value(u), &users, s);
                    if let Value::Object(m) = &mut v {
                        m.insert("target_chain".into(), Value::Array(target_chain));
                        let shadows = path
                            .as_deref()
                            .map(crate::collect::root::basename)
                            .and_then(|n| shadowed.get(n))
                            .cloned()
                            .unwrap_or_default();
                        m.insert("shadows".into(), json!(shadows));
                    }
                    out.push(subject(v, u.name.clone(), path, Some(s.label())));
                }
            }
        }
        "entry" => {
            for s in &host.scopes {
                for e in &s.entries {
                    out.push(subject(
                        with_scope(to_value(e), &users, s),
                        e.path.clone(),
                        Some(e.path.clone()),
                        Some(s.label()),
                    ));
                }
            }
        }
        "unit_dir" => {
            for s in &host.scopes {
                for d in &s.search_path {
                    let chain: Vec<Value> = d
                        .chain
                        .iter()
                        .filter_map(|p| host.paths.get(p).map(|m| json!({ "path": p, "meta": to_value(m) })))
                        .collect();
                    let mut v = with_scope(to_value(d), &users, s);
                    if let Value::Object(m) = &mut v {
                        m.insert("exists".into(), json!(d.resolved.is_some()));
                        m.insert("meta".into(), host.paths.get(&d.path).map_or(Value::Null, to_value));
                        m.insert("chain".into(), Value::Array(chain));
                    }
                    out.push(subject(v, d.path.clone(), Some(d.path.clone()), Some(s.label())));
                }
            }
        }
        "user" => {
            for u in &host.users {
                // An account is defined by its passwd entry: findings point there.
                let mut s = subject(to_value(u), u.name.clone(), Some("/etc/passwd".into()), None);
                s.line = (u.line > 0).then_some(u.line);
                out.push(s);
            }
        }
        "linger" => {
            for e in &host.linger.entries {
                let mut v = to_value(e);
                let account = e.user.as_deref().and_then(|n| users.get(n).copied());
                if let Value::Object(m) = &mut v {
                    m.insert("account".into(), account.map_or(Value::Null, to_value));
                    m.insert("dir_meta".into(), host.linger.dir_meta.as_ref().map_or(Value::Null, to_value));
                }
                out.push(subject(v, e.path.clone(), Some(e.path.clone()), None));
            }
        }
        "generator" => {
            for g in &host.generators {
                let mut v = to_value(g);
                if let Value::Object(m) = &mut v {
                    m.insert("user".into(), json!(g.path.contains("/user-generators/")));
                    let vendor = g.path.starts_with("/usr/lib/") || g.path.starts_with("/lib/");
                    m.insert("vendor".into(), json!(vendor));
                }
                out.push(subject(v, g.path.clone(), Some(g.path.clone()), None));
            }
        }
        "path" => {
            // Which unit directories each path is (a parent of), and whose home it is in.
            let mut unit_chain: std::collections::HashMap<&str, (bool, Vec<Value>)> = std::collections::HashMap::new();
            for s in &host.scopes {
                let owner = s.user.as_deref().and_then(|u| users.get(u).copied());
                for d in &s.search_path {
                    for (i, p) in d.chain.iter().enumerate() {
                        let e = unit_chain.entry(p.as_str()).or_default();
                        e.0 |= i == 0;
                        if let Some(u) = owner.filter(|u| {
                            d.per_user && (p == &u.home || p.starts_with(&format!("{}/", u.home.trim_end_matches('/'))))
                        }) {
                            let h = json!({ "uid": u.uid, "gid": u.gid, "user": u.name });
                            if !e.1.contains(&h) {
                                e.1.push(h);
                            }
                        }
                    }
                }
            }
            for (p, m) in &host.paths {
                let (is_dir, homes) = unit_chain.get(p.as_str()).cloned().unwrap_or_default();
                let v = json!({
                    "path": p, "meta": to_value(m), "unit_chain": unit_chain.contains_key(p.as_str()),
                    "unit_dir": is_dir, "user_owners": homes,
                });
                out.push(subject(v, p.clone(), Some(p.clone()), None));
            }
        }
        _ => {}
    }
    out
}

/// The whole host (for `check_host`). Costly on huge hosts; built only when needed.
pub fn host_fact(host: &Host) -> Fact {
    Fact(Node::from_json(&to_value(host)))
}
