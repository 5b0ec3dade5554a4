//! Reading a root filesystem into facts (`Host`). Read-only: nothing here writes, and
//! every path is resolved inside the root (see `root.rs`). Problems with individual
//! files are warnings in the facts; only an unopenable root is an error.

mod accounts;
pub mod activation;
pub mod dropins;
mod entries;
mod environ;
pub mod exec;
pub mod files;
pub mod install_state;
mod linger;
pub mod names;
pub mod paths;
pub mod preset;
pub mod resolve;
pub mod root;
pub mod rootfd;
pub mod scan;
pub mod schema;
mod scope;
pub mod specifier;
pub mod stat;
mod timer;
pub mod unit_file;
pub mod zones;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::model::{FACTS_SCHEMA, Host, PathFact, ScopeKind};
pub use root::Root;
use scope::{ScanCache, Shared, collect_scope};
use timer::Manager;
pub use timer::parse_bool;

/// Why a collection could not even start.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot open root {path}: {source}")]
    Root { path: PathBuf, source: std::io::Error },
}

/// Collects the facts of the root filesystem at `root_dir` (`/` for the live system).
pub fn collect(root_dir: &Path) -> Result<Host, CollectError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    collect_at(root_dir, now)
}

/// Like `collect`, with "now" (µs since the epoch) given: next elapses, and so
/// `never_elapses` and intervals, are computed from it.
pub fn collect_at(root_dir: &Path, now_usec: i64) -> Result<Host, CollectError> {
    let root = Root::open(root_dir).map_err(|source| CollectError::Root { path: root_dir.to_path_buf(), source })?;
    let mut warnings = Vec::new();
    let groups = accounts::groups(&root, &mut warnings);
    let mut users = accounts::users(&root, &groups, &mut warnings);
    let linger = linger::collect(&root, &mut users, &mut warnings);
    let hostname = small_file(&root, "/etc/hostname");
    let machine_id = small_file(&root, "/etc/machine-id");
    let files = files::FileCache::default();
    let scans = ScanCache::default();
    let shared_dirs =
        paths::user_paths(None).into_iter().map(|s| (s.path.clone(), scope::resolve_dir(&root, &s.path))).collect();
    let mut sh = Shared { root: &root, files: &files, scans: &scans, shared_dirs, user_base: None };
    let (h, mid) = (hostname.clone().unwrap_or_default(), machine_id.clone().unwrap_or_default());
    let first_boot = machine_id.as_deref().is_none_or(|m| m == "uninitialized");
    let presets = preset::load(&root, "system-preset", &mut warnings);
    let zones = zones_of(&root);
    let local_zone = crate::schedule::ZoneSource::local(&zones);
    let calendars = timer::Calendars::default();
    let mgr = |kind, user| Manager {
        kind,
        user,
        users: &users,
        hostname: &h,
        machine_id: &mid,
        presets: &presets,
        zones: &zones,
        local_zone: &local_zone,
        now: now_usec,
        calendars: &calendars,
    };

    let mut outs = Vec::new();
    outs.extend(collect_scope(&sh, paths::system_paths(), &mgr(ScopeKind::System, None), first_boot));
    let mut global = collect_scope(&sh, paths::user_paths(None), &mgr(ScopeKind::Global, None), false);
    let base = global.as_mut().and_then(|g| g.base.take());
    sh.user_base = base.as_ref();
    outs.extend(global);
    let sh = sh;
    let per_user: Vec<_> = users
        .par_iter()
        .filter_map(|u| {
            let specs: Vec<_> = paths::user_paths(Some((&u.home, u.uid)))
                .into_iter()
                .filter(|s| u.home_exists || !s.path.starts_with(u.home.trim_end_matches('/')) || u.home == "/")
                .collect();
            collect_scope(&sh, specs, &mgr(ScopeKind::User, Some(u)), false)
        })
        .collect();
    outs.extend(per_user);

    let mut all_paths = BTreeMap::new();
    let mut scopes = Vec::new();
    for mut o in outs {
        all_paths.extend(std::mem::take(&mut o.paths)); // not `append`: that re-merges the whole map each time
        warnings.append(&mut o.warnings);
        scopes.push(std::sync::Arc::new(o.scope));
    }
    let generators = generators(&root, &mut all_paths);
    // State directories whose write access means forging timer runs or linger (S35, S42).
    for dir in ["/var/lib/systemd/timers", linger::LINGER_DIR] {
        stat::record_chain(&root, dir, &mut all_paths);
    }
    warnings.extend(scans.warnings.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner));
    warnings.sort();
    warnings.dedup();
    Ok(Host {
        schema: FACTS_SCHEMA.into(),
        live: root.is_slash() && systemd_is_pid1(),
        hostname,
        machine_id,
        first_boot,
        scopes,
        users,
        groups,
        linger,
        generators,
        paths: all_paths,
        assumptions: vec![
            paths::XDG_ASSUMPTION.into(),
            format!(
                "boot: {} are taken as reached at boot (fixture roots rarely ship them)",
                activation::BOOT_ROOTS.join(", ")
            ),
        ],
        warnings,
    })
}

/// Time zones of a root: its zoneinfo first, then the host's; its `/etc/localtime`.
pub fn zones_of(root: &Root) -> zones::RootZones {
    zones::RootZones::new(root)
}

/// Generator executables of both managers (S21), each directory read once.
fn generators(root: &Root, paths: &mut BTreeMap<String, crate::model::FileMeta>) -> Vec<PathFact> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in paths::generator_dirs(false).into_iter().chain(paths::generator_dirs(true)) {
        let Ok(c) = root.chase(&dir, true) else { continue };
        if !c.exists || seen.contains(&c.path) {
            continue;
        }
        seen.push(c.path.clone());
        stat::record_chain(root, &c.path, paths);
        let Ok((list, _)) = root.list(&c.path) else {
            continue;
        };
        for n in list.iter().map(|e| String::from_utf8_lossy(&e.name)) {
            out.push(stat::path_fact(root, &root::join(&c.path, &n), paths));
        }
    }
    out
}

fn small_file(root: &Root, path: &str) -> Option<String> {
    let c = root.chase(path, true).ok().filter(|c| c.exists)?;
    let b = root.read_capped(&c.path, 4096).ok()?;
    let s = String::from_utf8_lossy(&b).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// `dir` names this system's `/`.
pub fn root_is_slash(dir: &Path) -> bool {
    Root::open(dir).is_ok_and(|r| r.is_slash())
}

/// The running system's PID 1 is systemd (live actions need it).
fn systemd_is_pid1() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}
