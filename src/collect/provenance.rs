//! Provenance of the shared scopes' files: for every unit file, drop-in and generator of
//! the system and global scopes, and every file a root timer runs or reads — the owning
//! package, whether the content matches the package's digest, its SHA-256 — and, for a
//! full copy of a packaged unit in `/etc` (S4), the security-relevant settings it changes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use md5::Digest as _;
use rayon::prelude::*;

use super::files::FileCache;
use super::packages::{self, Algo};
use super::root::{self, Root};
use crate::model::{
    DigestState, DirRole, EntryKind, FileKind, FileProvenance, PackageDbFacts, PathFact, Scope, ScopeKind, SettingDiff,
    ShadowDiff, Warning,
};

/// The most of one file hashed (larger ones are `unreadable`).
const MAX_HASHED: u64 = 256 * 1024 * 1024;

/// `[Section] Key` prefixes that decide what a unit runs, as whom, with what: a local
/// copy that changes them changes the unit's security.
const SECURITY: [&str; 27] = [
    "User",
    "Group",
    "DynamicUser",
    "SupplementaryGroups",
    "Exec",
    "Environment",
    "EnvironmentFile",
    "PassEnvironment",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "NoNewPrivileges",
    "Protect",
    "Private",
    "Restrict",
    "SystemCall",
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "RootDirectory",
    "RootImage",
    "BindPaths",
    "BindReadOnlyPaths",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "UMask",
    "Unit",
    "LoadCredential",
];

/// A setting that changes what a unit runs, as whom, with what (and a timer's `Unit=`).
pub fn security_relevant(section: &str, key: &str) -> bool {
    match section {
        "Service" => SECURITY.iter().any(|p| key.starts_with(p)) && key != "Unit",
        "Timer" => key == "Unit",
        _ => false,
    }
}

/// A file to describe, before provenance is known.
struct Candidate<'a> {
    path: String,
    /// The type a unit file or drop-in was parsed as: its digest may be known already.
    unit_type: Option<&'a str>,
    role: &'static str,
    scope: &'static str,
    dir_role: Option<DirRole>,
    shadows: Option<(String, String)>,
}

fn real_path(path: &str, target: Option<&PathFact>) -> Option<String> {
    match target {
        Some(t) => t.resolved.clone().filter(|_| t.meta.as_ref().is_some_and(|m| m.kind == FileKind::File)),
        None => Some(path.to_string()),
    }
}

fn candidates<'a>(scopes: &'a [Arc<Scope>], generators: &[PathFact]) -> Vec<Candidate<'a>> {
    let mut out: Vec<Candidate<'a>> = Vec::new();
    for s in scopes.iter().filter(|s| s.kind != ScopeKind::User) {
        let scope = if s.kind == ScopeKind::System { "system" } else { "global" };
        // The first shadowed vendor/local unit file of each name, indexed once: looking
        // it up by scanning every entry for every unit is quadratic (20,000 timers).
        let mut shadowed: std::collections::HashMap<&str, &crate::model::EntryFact> = std::collections::HashMap::new();
        for e in s.entries.iter().filter(|e| {
            e.shadowed
                && e.kind == EntryKind::Unit
                && matches!(e.role, DirRole::Vendor | DirRole::Local)
                && e.meta.kind == FileKind::File
        }) {
            shadowed.entry(root::basename(&e.path)).or_insert(e);
        }
        let hidden = |name: &str| shadowed.get(name).copied();
        for u in &s.units {
            if let Some(f) = u.fragment.as_ref().filter(|f| !f.null)
                && let Some(path) = real_path(&f.path, f.target.as_ref())
            {
                let local = matches!(f.role, DirRole::Config | DirRole::Control | DirRole::Runtime);
                let shadows = local
                    .then(|| hidden(root::basename(&f.path)))
                    .flatten()
                    .map(|e| (e.path.clone(), u.unit_type.clone()));
                out.push(Candidate {
                    path,
                    unit_type: Some(&u.unit_type),
                    role: "unit",
                    scope,
                    dir_role: Some(f.role),
                    shadows,
                });
            }
            for d in u.dropins.iter().filter(|d| !d.null) {
                if let Some(path) = real_path(&d.path, d.target.as_ref()) {
                    out.push(Candidate {
                        path,
                        unit_type: Some(&u.unit_type),
                        role: "dropin",
                        scope,
                        dir_role: Some(d.role),
                        shadows: None,
                    });
                }
            }
        }
        for t in s.timers.iter().filter(|_| s.kind == ScopeKind::System) {
            for f in t.files.iter().filter(|f| f.privileged) {
                if let (Some(p), Some(m)) = (&f.target.resolved, &f.target.meta)
                    && m.kind == FileKind::File
                {
                    out.push(Candidate {
                        path: p.clone(),
                        unit_type: None,
                        role: f.role.as_str(),
                        scope,
                        dir_role: None,
                        shadows: None,
                    });
                }
            }
        }
    }
    for g in generators {
        if let (Some(p), Some(m)) = (&g.resolved, &g.meta)
            && m.kind == FileKind::File
        {
            let scope = if g.path.contains("/user-generators/") { "global" } else { "system" };
            out.push(Candidate {
                path: p.clone(),
                unit_type: None,
                role: "generator",
                scope,
                dir_role: None,
                shadows: None,
            });
        }
    }
    let mut seen = HashSet::new();
    out.retain(|c| seen.insert(c.path.clone()));
    out
}

/// Hashes a file: SHA-256, and the package's digest algorithm's when it differs. A unit
/// file or drop-in the scopes have read already is not read again when SHA-256 is all
/// that is asked: a thousand files of the system scope, most of them owned by no package.
fn hash(root: &Root, files: &FileCache, c: &Candidate<'_>, algo: Option<Algo>) -> Option<(String, Option<String>)> {
    if matches!(algo, None | Some(Algo::Sha256))
        && let Some(sha) = c.unit_type.and_then(|t| files.peek(&c.path, t)).and_then(|l| l.sha256().cloned())
    {
        let pkg = algo.map(|_| sha.clone());
        return Some((sha, pkg));
    }
    let bytes = root.read_capped(&c.path, MAX_HASHED).ok()?;
    let sha256 = crate::digest::sha256(&bytes);
    let pkg = match algo {
        Some(Algo::Md5) => Some(crate::digest::hex(&md5::Md5::digest(&bytes))),
        Some(Algo::Sha256) => Some(sha256.clone()),
        Some(Algo::Sha512) => Some(crate::digest::hex(&sha2::Sha512::digest(&bytes))),
        Some(Algo::Sha1) | None => None,
    };
    Some((sha256, pkg))
}

/// The security-relevant settings of one file on its own (list semantics, S28).
fn own_settings(
    files: &FileCache,
    root: &Root,
    path: &str,
    unit_type: &str,
) -> BTreeMap<(String, String), Vec<String>> {
    let loaded = files.load(root, path, unit_type);
    let settings = super::resolve::merge_settings(&[(path.to_string(), loaded)]);
    let mut out = BTreeMap::new();
    for (sec, keys) in settings {
        for (k, v) in keys {
            if security_relevant(&sec, &k) {
                out.insert((sec.clone(), k), v.into_iter().map(|s| s.value).collect());
            }
        }
    }
    out
}

fn diff(
    vendor: &BTreeMap<(String, String), Vec<String>>,
    local: &BTreeMap<(String, String), Vec<String>>,
) -> Vec<SettingDiff> {
    let keys: std::collections::BTreeSet<&(String, String)> = vendor.keys().chain(local.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (v, l) = (vendor.get(k).cloned().unwrap_or_default(), local.get(k).cloned().unwrap_or_default());
            (v != l).then(|| SettingDiff { section: k.0.clone(), key: k.1.clone(), vendor: v, local: l })
        })
        .collect()
}

/// Provenance of the shared scopes' files, and the package database it came from.
pub fn collect(
    root: &Root,
    scopes: &[Arc<Scope>],
    generators: &[PathFact],
    files: &FileCache,
    warnings: &mut Vec<Warning>,
) -> (Option<PackageDbFacts>, Vec<FileProvenance>) {
    let cands = candidates(scopes, generators);
    let mut wanted: HashSet<String> = cands.iter().map(|c| c.path.clone()).collect();
    wanted.extend(cands.iter().filter_map(|c| c.shadows.as_ref().map(|s| s.0.clone())));
    let db = packages::load(root, &wanted, warnings);
    let owner = |p: &str| db.as_ref().and_then(|d| d.owned.get(p));
    // Each candidate is read and hashed on its own: in parallel (a thousand unit files
    // of the system scope, before any user scope starts), the order kept.
    let out = cands
        .into_par_iter()
        .with_max_len(super::UNITS_PER_TASK)
        .map(|c| {
            let own = owner(&c.path);
            let algo = own.and_then(|o| o.digest.as_ref().map(|d| d.0));
            let (digest, sha256) = match hash(root, files, &c, algo) {
                None => (DigestState::Unreadable, None),
                Some((sha, pkg)) => {
                    let state = match (own.and_then(|o| o.digest.as_ref()), pkg) {
                        (Some((_, want)), Some(got)) if *want == got => DigestState::Match,
                        (Some(_), Some(_)) => DigestState::Differs,
                        _ => DigestState::Unknown,
                    };
                    (state, Some(sha))
                }
            };
            let shadows = c.shadows.map(|(vendor, ty)| ShadowDiff {
                package: owner(&vendor).map(|o| o.package.clone()),
                settings: diff(&own_settings(files, root, &vendor, &ty), &own_settings(files, root, &c.path, &ty)),
                vendor,
            });
            FileProvenance {
                path: c.path,
                role: c.role.into(),
                scope: c.scope.into(),
                dir_role: c.dir_role,
                package: own.map(|o| o.package.clone()),
                conffile: own.is_some_and(|o| o.conffile),
                digest,
                sha256,
                shadows,
            }
        })
        .collect();
    let facts = db.map(|d| PackageDbFacts { manager: d.manager, database: d.database, packages: d.packages });
    (facts, out)
}
