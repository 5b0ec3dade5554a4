//! Trusted snapshots: what every timer and its service look like on a golden image —
//! the content hash of each fragment and drop-in, the security-relevant settings as they
//! resolve, whether and why the timer runs, who the service runs as, the owning package,
//! the hashes of what a root timer runs — and the drift of a host from it (new,
//! changed with a setting-level diff, gone). ATT&CK's advice for T1053.006 is to compare
//! against a trusted baseline; this is that baseline. Unlike `baseline` (a record of
//! findings), it records the units themselves, so a change no policy flags still shows.
//! Built from facts alone, so hosts' `facts` files can be compared centrally.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::collect::provenance::security_relevant;
use crate::model::{Change, Drift, Host, Scope, Unit};

pub const SNAPSHOT_SCHEMA: &str = "timerguard.snapshot/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema: String,
    #[serde(default)]
    pub hostname: Option<String>,
    pub units: Vec<SnapUnit>,
}

impl crate::jsonfile::Tagged for Snapshot {
    fn schema(&self) -> &str {
        &self.schema
    }
}

/// One timer or service as the snapshot saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapUnit {
    pub scope: String,
    pub name: String,
    pub unit_type: String,
    #[serde(default)]
    pub fragment: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub package: Option<String>,
    /// Drop-in path → content hash.
    #[serde(default)]
    pub dropins: BTreeMap<String, Option<String>>,
    /// `Section.Key` → values, for security-relevant settings and a timer's triggers.
    #[serde(default)]
    pub settings: BTreeMap<String, Vec<String>>,
    /// Timers: the activation state and whether it runs.
    #[serde(default)]
    pub activation: Option<String>,
    /// Services: who they run as.
    #[serde(default)]
    pub runs_as: Option<String>,
    /// What a timer's service runs or reads → content hash (shared scopes only).
    #[serde(default)]
    pub executables: BTreeMap<String, Option<String>>,
}

fn settings_of(u: &Unit) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (sec, keys) in u.settings.iter() {
        for (k, v) in keys {
            let trigger = sec == "Timer" && (k.starts_with("On") || k == "Persistent");
            if security_relevant(sec, k) || trigger {
                out.insert(format!("{sec}.{k}"), v.iter().map(|s| s.value.clone()).collect());
            }
        }
    }
    out
}

fn snap_unit(scope: &Scope, u: &Unit, packages: &HashMap<&str, (&Option<String>, &Option<String>)>) -> SnapUnit {
    let f = u.fragment.as_ref();
    let real = f.map(|f| f.target.as_ref().and_then(|t| t.resolved.clone()).unwrap_or_else(|| f.path.clone()));
    SnapUnit {
        scope: scope.label(),
        name: u.name.clone(),
        unit_type: u.unit_type.clone(),
        fragment: f.map(|f| f.path.clone()),
        sha256: f.and_then(|f| f.sha256.clone()),
        package: real.as_deref().and_then(|p| packages.get(p)).and_then(|x| x.0.clone()),
        dropins: u.dropins.iter().filter(|d| !d.null).map(|d| (d.path.clone(), d.sha256.clone())).collect(),
        settings: settings_of(u),
        activation: None,
        runs_as: None,
        executables: BTreeMap::new(),
    }
}

/// The snapshot of a host's facts.
pub fn of(host: &Host) -> Snapshot {
    let packages: HashMap<&str, (&Option<String>, &Option<String>)> =
        host.provenance.iter().map(|p| (p.path.as_str(), (&p.package, &p.sha256))).collect();
    let global = host.scopes.iter().find(|s| s.kind == crate::model::ScopeKind::Global);
    let mut units = Vec::new();
    for s in &host.scopes {
        for t in &s.timers {
            if let Some(u) = s.unit(&t.name) {
                let mut su = snap_unit(s, u, &packages);
                su.activation = Some(format!(
                    "{} (runs: {})",
                    t.activation.state,
                    if t.activation.will_run { "yes" } else { "no" }
                ));
                units.push(su);
            }
            // A user timer's service may come from the shared user directories.
            let svc = s.unit(&t.service).or_else(|| global.and_then(|g| g.unit(&t.service)));
            if let Some(u) = svc {
                let mut su = snap_unit(s, u, &packages);
                su.runs_as = Some(t.runs_as.label());
                for f in &t.files {
                    let p = f.target.resolved.clone().unwrap_or_else(|| f.target.path.clone());
                    let sha = packages.get(p.as_str()).and_then(|x| x.1.clone());
                    su.executables.insert(p, sha);
                }
                units.push(su);
            }
        }
    }
    units.sort_by(|a, b| (&a.scope, &a.name).cmp(&(&b.scope, &b.name)));
    units.dedup_by(|a, b| (&a.scope, &a.name) == (&b.scope, &b.name));
    Snapshot { schema: SNAPSHOT_SCHEMA.into(), hostname: host.hostname.clone(), units }
}

fn show(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join("; "))
}

fn changes(before: &SnapUnit, now: &SnapUnit) -> Vec<Change> {
    let mut out = Vec::new();
    let mut push = |what: String, b: Option<String>, a: Option<String>| {
        if b != a {
            out.push(Change { what, before: b, after: a });
        }
    };
    push("fragment".into(), before.fragment.clone(), now.fragment.clone());
    if before.fragment == now.fragment {
        push("content".into(), before.sha256.clone(), now.sha256.clone());
    }
    push("package".into(), before.package.clone(), now.package.clone());
    let keys: std::collections::BTreeSet<&String> = before.dropins.keys().chain(now.dropins.keys()).collect();
    for k in keys {
        let hash =
            |m: &BTreeMap<String, Option<String>>| m.get(k).map(|h| h.clone().unwrap_or_else(|| "present".into()));
        push(format!("drop-in {k}"), hash(&before.dropins), hash(&now.dropins));
    }
    let keys: std::collections::BTreeSet<&String> = before.settings.keys().chain(now.settings.keys()).collect();
    for k in keys {
        let v = |m: &BTreeMap<String, Vec<String>>| m.get(k).and_then(|v| show(v));
        push(format!("setting {k}"), v(&before.settings), v(&now.settings));
    }
    push("activation".into(), before.activation.clone(), now.activation.clone());
    push("runs as".into(), before.runs_as.clone(), now.runs_as.clone());
    let keys: std::collections::BTreeSet<&String> = before.executables.keys().chain(now.executables.keys()).collect();
    for k in keys {
        let hash =
            |m: &BTreeMap<String, Option<String>>| m.get(k).map(|h| h.clone().unwrap_or_else(|| "present".into()));
        push(format!("executable {k}"), hash(&before.executables), hash(&now.executables));
    }
    out
}

/// What changed on `host` since `snap`: units new, changed (with each change), gone.
pub fn drift(snap: &Snapshot, host: &Host) -> Vec<Drift> {
    let now = of(host);
    let key = |u: &SnapUnit| (u.scope.clone(), u.name.clone());
    let before: BTreeMap<(String, String), &SnapUnit> = snap.units.iter().map(|u| (key(u), u)).collect();
    let after: BTreeMap<(String, String), &SnapUnit> = now.units.iter().map(|u| (key(u), u)).collect();
    let mut out = Vec::new();
    let drift = |kind: &str, u: &SnapUnit, changes: Vec<Change>| Drift {
        kind: kind.into(),
        scope: u.scope.clone(),
        unit: u.name.clone(),
        unit_type: u.unit_type.clone(),
        path: u.fragment.clone(),
        changes,
    };
    for (k, u) in &after {
        match before.get(k) {
            None => out.push(drift("new", u, Vec::new())),
            Some(b) => {
                let c = changes(b, u);
                if !c.is_empty() {
                    out.push(drift("changed", u, c));
                }
            }
        }
    }
    for (k, b) in &before {
        if !after.contains_key(k) {
            out.push(drift("gone", b, Vec::new()));
        }
    }
    out
}
