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
pub mod host_ids;
pub mod install_state;
mod linger;
pub mod manager_env;
pub mod names;
pub mod namespace;
pub mod packages;
pub mod paths;
pub mod preset;
pub mod provenance;
pub mod resolve;
pub mod root;
pub mod rootfd;
mod rpmdb;
pub mod scan;
pub mod schema;
mod scope;
pub mod seen;
mod service_check;
pub mod specifier;
pub mod stat;
mod timer;
pub mod unit_file;
pub mod user_manager;
pub mod zones;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::model::{FACTS_SCHEMA, Host, PathFact, ScopeKind};
pub use root::Root;
pub use scope::ScopeOut;

/// The hash maps on the per-entry paths of a collection. Their keys are names and paths
/// from the image, which an attacker writes: ahash keeps std's per-run random keys (no
/// crafted collisions) at a fraction of SipHash's cost per short key (5% of `list`'s CPU
/// at 10,000 users went to SipHash).
pub type FastMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
/// See `FastMap`.
pub type FastSet<K> = std::collections::HashSet<K, ahash::RandomState>;
use scope::{ScanCache, Shared, collect_scope};
use timer::Manager;
pub use timer::{calendar_facts, parse_bool};

// The most items one parallel task takes. On two threads rayon stops splitting at a
// quarter of the work unless a piece is stolen, and a thread runs the pieces it made in
// turn: when the other thread comes late to take one (it sleeps when idle), it finds
// none left to take, and waits. Profiles showed it: the other core idle through most of
// a host's largest listing, and for the last few hundred of 10,000 user scopes.

/// A listing's entries, or accounts' homes (an `lstat` or two each, a few µs).
const PIECE: usize = 32;
/// Units loaded, described or hashed, packages' file lists read (tens of µs each).
const UNITS_PER_TASK: usize = 8;
/// User scopes read (and checked: about 0.15 ms each).
const USERS_PER_TASK: usize = 8;

/// `f` of each of `items`, handed to `take` in order: mapped on every thread when
/// `parallel` (a host's large directories), else one by one with no list in between (a
/// user's few entries, where a list per directory cost more than it saved).
pub(crate) fn map_in_order<I, T, U>(items: I, parallel: bool, f: impl Fn(T) -> U + Sync + Send, take: impl FnMut(U))
where
    I: IntoIterator<Item = T> + IntoParallelIterator<Item = T>,
    I::Iter: IndexedParallelIterator,
    T: Send,
    U: Send,
{
    if parallel {
        let mapped: Vec<U> = items.into_par_iter().with_max_len(PIECE).map(f).collect();
        mapped.into_iter().for_each(take);
    } else {
        items.into_iter().map(f).for_each(take);
    }
}

/// How much of the facts a session's caller reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything policies read.
    Full,
    /// What `list` shows: the timers, their schedules, activation and services, and where
    /// each command's executable resolves. Not the metadata of the files a service runs
    /// (nor their parent directories), the arguments that name scripts, the commands'
    /// environment (environment files, preloaded libraries), the generators,
    /// the directories' entry inventory or the package provenance: 5% of a 10,000-user
    /// `list`, and about half of a Debian host's (most of that the package database).
    Inventory,
}

/// Why a collection could not even start.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot open root {path}: {source}")]
    Root { path: PathBuf, source: std::io::Error },
}

/// Collects the facts of the root filesystem at `root_dir` (`/` for the live system).
pub fn collect(root_dir: &Path) -> Result<Host, CollectError> {
    collect_at(root_dir, now_usec())
}

/// Now, in µs since the epoch (what schedules are computed from).
pub fn now_usec() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Like `collect`, with "now" (µs since the epoch) given: next elapses, and so
/// `never_elapses` and intervals, are computed from it.
pub fn collect_at(root_dir: &Path, now_usec: i64) -> Result<Host, CollectError> {
    let session = Session::open(root_dir, now_usec)?;
    let per_user: Vec<ScopeOut> =
        session.users.par_iter().with_max_len(USERS_PER_TASK).filter_map(|u| session.user_scope(u)).collect();
    Ok(session.host(per_user))
}

/// One collection run: everything but the user scopes is read when it opens; each user
/// scope is read on demand (`user_scope`), so a caller can stream 10,000 of them
/// through evaluation without holding them all (`host` puts a full `Host` together).
pub struct Session {
    root: Root,
    now: i64,
    pub users: Vec<crate::model::User>,
    pub groups: Vec<crate::model::Group>,
    pub linger: crate::model::LingerFacts,
    hostname: Option<String>,
    machine_id: Option<String>,
    /// What the host-wide specifiers stand for.
    ids: host_ids::HostIds,
    /// What the managers put in every service's environment (`DefaultEnvironment=`).
    menv: manager_env::ManagerEnv,
    /// What each user's manager is started with (`user@.service`).
    user_managers: user_manager::UserManagers,
    first_boot: bool,
    presets: Vec<preset::Rule>,
    zones: zones::RootZones,
    local_zone: crate::schedule::Zone,
    calendars: timer::Calendars,
    files: files::FileCache,
    scans: ScanCache,
    shared_dirs: FastMap<String, Option<String>>,
    base: Option<scope::UserBase>,
    /// The system and global scopes.
    scopes: Vec<std::sync::Arc<crate::model::Scope>>,
    /// Metadata of the paths the shared scopes, generators and state dirs looked at.
    paths: BTreeMap<String, crate::model::FileMeta>,
    generators: Vec<PathFact>,
    packages: Option<crate::model::PackageDbFacts>,
    provenance: Vec<crate::model::FileProvenance>,
    /// What the running managers have loaded, and which answered (live view only).
    loaded: Vec<crate::model::LoadedTimer>,
    managers: Vec<String>,
    /// What the running managers said, as `live_fingerprint` sums it (live view only).
    live_print: Option<String>,
    warnings: Vec<crate::model::Warning>,
    detail: Detail,
}

impl Session {
    pub fn open(root_dir: &Path, now_usec: i64) -> Result<Session, CollectError> {
        Session::open_with(root_dir, now_usec, false)
    }

    /// Like `open`; with `record`, the root notes every path looked at and the calendar
    /// facts computed from "now" (`seen`, `calendars_seen`: what `check --cache` keeps).
    pub fn open_with(root_dir: &Path, now_usec: i64, record: bool) -> Result<Session, CollectError> {
        Session::open_as(root_dir, now_usec, record, Detail::Full)
    }

    /// Like `open`, collecting only what `list` shows (`Detail::Inventory`): its `host`
    /// is not one for policies.
    pub fn open_inventory(root_dir: &Path, now_usec: i64) -> Result<Session, CollectError> {
        Session::open_as(root_dir, now_usec, false, Detail::Inventory)
    }

    fn open_as(root_dir: &Path, now_usec: i64, record: bool, detail: Detail) -> Result<Session, CollectError> {
        let mut root =
            Root::open(root_dir).map_err(|source| CollectError::Root { path: root_dir.to_path_buf(), source })?;
        if record {
            root.record();
        }
        let mut warnings = Vec::new();
        let groups = accounts::groups(&root, &mut warnings);
        let mut users = accounts::users(&root, &groups, &mut warnings);
        crate::profile::phase("accounts read");
        let linger = linger::collect(&root, &mut users, &mut warnings);
        let hostname = small_file(&root, "/etc/hostname").and_then(|t| host_ids::etc_hostname(&t));
        let machine_id = small_file(&root, "/etc/machine-id");
        let ids = host_ids::HostIds::read(&root, hostname.as_deref(), machine_id.as_deref());
        let shared_dirs =
            paths::user_paths(None).into_iter().map(|s| (s.path.clone(), scope::resolve_dir(&root, &s.path))).collect();
        let first_boot = machine_id.as_deref().is_none_or(|m| m == "uninitialized");
        let presets = preset::load(&root, "system-preset", &mut warnings);
        let menv = manager_env::ManagerEnv::read(&root, &mut warnings);
        let zones = zones_of(&root);
        let local_zone = crate::schedule::ZoneSource::local(&zones);
        let mut s = Session {
            root,
            now: now_usec,
            users,
            groups,
            linger,
            hostname,
            machine_id,
            ids,
            menv,
            user_managers: user_manager::UserManagers::default(),
            first_boot,
            presets,
            zones,
            local_zone,
            calendars: timer::Calendars::new(record),
            files: files::FileCache::default(),
            scans: ScanCache::default(),
            shared_dirs,
            base: None,
            scopes: Vec::new(),
            paths: BTreeMap::new(),
            generators: Vec::new(),
            packages: None,
            provenance: Vec::new(),
            loaded: Vec::new(),
            managers: Vec::new(),
            live_print: None,
            warnings,
            detail,
        };
        // Independent of each other (their caches are shared and thread-safe).
        let (system, mut global) = rayon::join(
            || collect_scope(&s.shared(), paths::system_paths(), &s.mgr(ScopeKind::System, None), first_boot),
            || collect_scope(&s.shared(), paths::user_paths(None), &s.mgr(ScopeKind::Global, None), false),
        );
        crate::profile::phase("system and global scopes collected");
        s.user_managers =
            user_manager::UserManagers::of(system.as_ref().map(|o| &o.scope), &s.root, &s.ids, &mut s.warnings);
        s.base = global.as_mut().and_then(|g| g.base.take());
        for mut o in system.into_iter().chain(global) {
            s.paths.extend(std::mem::take(&mut o.paths));
            s.warnings.append(&mut o.warnings);
            s.scopes.push(std::sync::Arc::new(o.scope));
        }
        if detail == Detail::Full {
            s.generators = generators(&s.root, &mut s.paths);
            // State directories whose write access means forging timer runs or linger (S35, S42).
            for dir in ["/var/lib/systemd/timers", linger::LINGER_DIR] {
                stat::record_chain(&s.root, dir, &mut s.paths);
            }
            (s.packages, s.provenance) =
                provenance::collect(&s.root, &s.scopes, &s.generators, &s.files, &mut s.warnings);
            crate::profile::phase("generators and provenance");
        }
        if s.live() && std::env::var_os("TIMERGUARD_NO_LIVE").is_none() {
            let mut a = crate::live::query(&s.users);
            s.live_print = Some(live_print(&a));
            s.loaded = a.loaded;
            s.managers = a.managers;
            s.warnings.append(&mut a.warnings);
        }
        Ok(s)
    }

    fn shared(&self) -> Shared<'_> {
        Shared {
            root: &self.root,
            files: &self.files,
            scans: &self.scans,
            shared_dirs: &self.shared_dirs,
            user_base: self.base.as_ref(),
        }
    }

    fn mgr<'a>(&'a self, kind: ScopeKind, user: Option<&'a crate::model::User>) -> Manager<'a> {
        Manager {
            kind,
            user,
            users: &self.users,
            ids: &self.ids,
            env: &self.menv,
            env_base: std::sync::OnceLock::new(),
            launch: Vec::new(),
            homes: user_manager::Homes::default(),
            presets: &self.presets,
            zones: &self.zones,
            local_zone: &self.local_zone,
            now: self.now,
            calendars: &self.calendars,
            detail: self.detail,
        }
    }

    /// The scope of one account's user manager: only what its own directories define or
    /// change (`None` when they have nothing). Thread-safe; nothing of it is kept here.
    pub fn user_scope(&self, u: &crate::model::User) -> Option<ScopeOut> {
        let mut warnings = Vec::new();
        let (specs, launch, homes) = self.user_specs(u, &mut warnings);
        let specs = specs
            .into_iter()
            .filter(|s| u.home_exists || !s.path.starts_with(u.home.trim_end_matches('/')) || u.home == "/")
            .collect();
        let m = Manager { launch, homes, ..self.mgr(ScopeKind::User, Some(u)) };
        let mut out = collect_scope(&self.shared(), specs, &m, false);
        if let Some(o) = out.as_mut() {
            o.warnings.splice(0..0, warnings);
        }
        out
    }

    /// A user manager's search path, the environment `user@UID.service` starts it with,
    /// and where that places her own directories (`user_manager`).
    pub(crate) fn user_specs(
        &self,
        u: &crate::model::User,
        warnings: &mut Vec<crate::model::Warning>,
    ) -> (Vec<paths::PathSpec>, Vec<(String, environ::Var)>, user_manager::Homes) {
        let launch = match self.user_managers.is_plain() {
            true => Vec::new(),
            false => self.user_managers.env(&self.root, &self.ids, u.uid, warnings),
        };
        let homes = user_manager::homes(&launch);
        (paths::user_paths_in(Some((&u.home, u.uid)), &homes), launch, homes)
    }

    /// The root being read.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The calendar expressions stepped from "now" and what came out, when recording.
    pub fn calendars_seen(&self) -> Vec<(String, String)> {
        self.calendars.seen()
    }

    /// The sum of the live view (`None` when it is off).
    pub fn live_print(&self) -> Option<&str> {
        self.live_print.as_deref()
    }

    /// Forgets what the session knows of the paths under `prefix` (they changed).
    pub fn forget(&self, prefix: &str) {
        self.root.forget(prefix);
    }

    /// The zone local time is shown in (the root's `/etc/localtime`).
    pub fn local_zone(&self) -> &crate::schedule::Zone {
        &self.local_zone
    }

    /// The root is `/` of this system and systemd is its PID 1.
    pub fn live(&self) -> bool {
        self.root.is_slash() && systemd_is_pid1()
    }

    /// Reads every user scope and hands each to `f` (in parallel), keeping only what `f`
    /// returns, in user order.
    pub fn for_each_user<T: Send>(&self, f: impl Fn(ScopeOut) -> T + Sync + Send) -> Vec<T> {
        self.users.par_iter().with_max_len(USERS_PER_TASK).filter_map(|u| self.user_scope(u).map(&f)).collect()
    }

    /// The run's warnings with `extra` (from streamed user scopes), sorted, once each.
    pub fn warnings_with(&self, mut extra: Vec<crate::model::Warning>) -> Vec<crate::model::Warning> {
        extra.extend(self.warnings.iter().cloned());
        extra.extend(self.scans.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned());
        extra.sort();
        extra.dedup();
        extra
    }

    /// The facts: the shared scopes, then `user_scopes`, with every path and warning.
    pub fn host(&self, user_scopes: Vec<ScopeOut>) -> Host {
        let mut all_paths = self.paths.clone();
        let mut warnings = self.warnings.clone();
        let mut scopes = self.scopes.clone();
        for mut o in user_scopes {
            all_paths.extend(std::mem::take(&mut o.paths)); // not `append`: that re-merges the whole map each time
            warnings.append(&mut o.warnings);
            scopes.push(std::sync::Arc::new(o.scope));
        }
        warnings.extend(self.scans.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned());
        warnings.sort();
        warnings.dedup();
        Host {
            schema: FACTS_SCHEMA.into(),
            live: self.live(),
            hostname: self.hostname.clone(),
            machine_id: self.machine_id.clone(),
            first_boot: self.first_boot,
            scopes,
            users: self.users.clone(),
            groups: self.groups.clone(),
            linger: self.linger.clone(),
            generators: self.generators.clone(),
            packages: self.packages.clone(),
            provenance: self.provenance.clone(),
            drift: Vec::new(),
            loaded: self.loaded.clone(),
            managers: self.managers.clone(),
            paths: all_paths,
            assumptions: vec![
                paths::XDG_ASSUMPTION.into(),
                format!(
                    "boot: {} are taken as reached at boot (fixture roots rarely ship them)",
                    activation::BOOT_ROOTS.join(", ")
                ),
            ],
            warnings,
        }
    }
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
    let s = text_file(root, path, 4096)?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The text of the file `path` names in the image (links followed), at most `cap` bytes.
fn text_file(root: &Root, path: &str, cap: u64) -> Option<String> {
    let c = root.chase(path, true).ok().filter(|c| c.exists)?;
    root.read_capped(&c.path, cap).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A sum of what the running managers answered, leaving out the next and last elapse
/// and the sub-state (they move with the clock: a timer firing turns `waiting` into
/// `running` for as long as its service runs; no built-in policy reads them, and
/// `check --cache` is not used when a selected policy's source names them).
fn live_print(a: &crate::live::Answer) -> String {
    let steady = |l: &crate::model::LoadedTimer| crate::model::LoadedTimer {
        next_usec: None,
        last_usec: None,
        sub_state: String::new(),
        ..l.clone()
    };
    let loaded: Vec<_> = a.loaded.iter().map(steady).collect();
    let text = serde_json::to_string(&(loaded, &a.managers, &a.warnings)).unwrap_or_default();
    crate::digest::sha256(text.as_bytes())
}

/// What `Session::live_print` would say for `root` now: `None` when the live view is off
/// (not `/`, systemd not PID 1, or `TIMERGUARD_NO_LIVE`). Reads only the accounts and
/// linger state it needs to ask the managers.
pub fn live_fingerprint(root: &Root) -> Option<String> {
    if !(root.is_slash() && systemd_is_pid1()) || std::env::var_os("TIMERGUARD_NO_LIVE").is_some() {
        return None;
    }
    let mut w = Vec::new();
    let groups = accounts::groups(root, &mut w);
    let mut users = accounts::users(root, &groups, &mut w);
    linger::collect(root, &mut users, &mut w);
    Some(live_print(&crate::live::query(&users)))
}

/// `dir` names this system's `/`.
pub fn root_is_slash(dir: &Path) -> bool {
    Root::open(dir).is_ok_and(|r| r.is_slash())
}

/// The running system's PID 1 is systemd (live actions need it).
fn systemd_is_pid1() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LoadedTimer;

    fn timer(sub_state: &str, next: u64, last: u64) -> LoadedTimer {
        LoadedTimer {
            manager: "user:alice".into(),
            unit: "sync.timer".into(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: sub_state.into(),
            fragment_path: Some("/home/alice/.config/systemd/user/sync.timer".into()),
            fragment_exists: true,
            transient: false,
            need_daemon_reload: false,
            service: Some("sync.service".into()),
            service_need_daemon_reload: false,
            next_usec: Some(next),
            last_usec: Some(last),
        }
    }

    fn print(t: LoadedTimer) -> String {
        let managers = vec!["system".into(), "user:alice".into()];
        live_print(&crate::live::Answer { loaded: vec![t], managers, warnings: Vec::new() })
    }

    /// The live view's sum (what `check --cache` compares) moves with what a policy can
    /// read without reading the clock, and not with a timer firing: its service running,
    /// its next and last elapse moved.
    #[test]
    fn the_live_sum_ignores_a_timer_firing_but_not_a_change() {
        let waiting = print(timer("waiting", 3_600_000_000, 0));
        assert_eq!(print(timer("running", 7_200_000_000, 3_600_000_000)), waiting);
        let stopped = LoadedTimer { active_state: "inactive".into(), ..timer("dead", 0, 0) };
        assert_ne!(print(stopped), waiting);
        let stale = LoadedTimer { need_daemon_reload: true, ..timer("waiting", 3_600_000_000, 0) };
        assert_ne!(print(stale), waiting);
    }
}

#[cfg(test)]
mod reuse_tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// S4/S10/S11: a user scope that reuses the shared user directories' units and edges
    /// (`UserBase`) is the scope resolved from scratch, for users whose directories touch
    /// shared units every way there is: `.wants`/`.requires` links on a shared target
    /// (its unit reused, its dependencies the user's), by its alias, by a dash prefix and
    /// by type; a drop-in on it; a mask of a shared unit; an alias of a shared unit.
    #[test]
    fn a_user_scope_reusing_the_shared_units_is_the_one_resolved_from_scratch() {
        let d = tempfile::tempdir().unwrap();
        // The host path of an in-image one, its parent directories made.
        let at = |p: &str| {
            let p = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            p
        };
        let w = |p: &str, s: &str| std::fs::write(at(p), s).unwrap();
        let l = |target: &str, p: &str| symlink(target, at(p)).unwrap();
        let cases = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
        for (i, u) in cases.iter().enumerate() {
            passwd.push_str(&format!("{u}:x:{}:{}::/home/{u}:/bin/bash\n", 1001 + i, 1001 + i));
        }
        w("/etc/passwd", &passwd);
        w("/etc/group", "root:x:0:\n");
        let lib = "/usr/lib/systemd/user";
        w(&format!("{lib}/default.target"), "[Unit]\nRequires=basic.target\n");
        w(&format!("{lib}/basic.target"), "[Unit]\nWants=timers.target sockets.target\n");
        w(&format!("{lib}/timers.target"), "[Unit]\nDescription=Timers\n");
        w(&format!("{lib}/sockets.target"), "[Unit]\nDescription=Sockets\n");
        w(&format!("{lib}/shared.service"), "[Service]\nExecStart=/bin/true\n");
        w(&format!("{lib}/shared-x.service"), "[Service]\nExecStart=/bin/false\n");
        w(&format!("{lib}/shared.timer"), "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n");
        l("shared.service", &format!("{lib}/alias.service"));
        l(&format!("{lib}/shared.timer"), "/etc/systemd/user/timers.target.wants/shared.timer");
        let own = |u: &str| {
            let dir = format!("/home/{u}/.config/systemd/user");
            w(&format!("{dir}/own.timer"), "[Timer]\nOnCalendar=hourly\n[Install]\nWantedBy=timers.target\n");
            w(&format!("{dir}/own.service"), "[Service]\nExecStart=/bin/echo\n");
            dir
        };
        let dir = own("a");
        l(&format!("{dir}/own.timer"), &format!("{dir}/timers.target.wants/own.timer"));
        let dir = own("b");
        l(&format!("{lib}/shared.service"), &format!("{dir}/default.target.wants/shared.service"));
        let dir = own("c");
        w(&format!("{dir}/timers.target.d/x.conf"), "[Unit]\nWants=shared-x.service own.timer\n");
        let dir = own("d");
        l(&format!("{dir}/own.service"), &format!("{dir}/alias.service.wants/own.service"));
        let dir = own("e");
        l(&format!("{lib}/shared-x.service"), &format!("{dir}/target.wants/shared-x.service"));
        let dir = own("f");
        l(&format!("{dir}/own.timer"), &format!("{dir}/timers.target.requires/own.timer"));
        let dir = own("g");
        l(&format!("{dir}/own.service"), &format!("{dir}/shared-.service.wants/own.service"));
        let dir = own("h");
        l("/dev/null", &format!("{dir}/shared.timer"));
        l(&format!("{dir}/own.timer"), &format!("{dir}/timers.target.wants/own.timer"));
        let dir = own("i");
        l(&format!("{lib}/timers.target"), &format!("{dir}/my-timers.target"));
        l(&format!("{dir}/own.timer"), &format!("{dir}/my-timers.target.wants/own.timer"));

        let mut s = Session::open(d.path(), 1_700_000_000_000_000).unwrap();
        assert!(s.base.is_some(), "the global scope leaves a base to reuse");
        let show = |o: Option<ScopeOut>| {
            let o = o.expect("every user here has a scope");
            let scope = serde_json::to_string_pretty(&o.scope).unwrap();
            (scope, serde_json::to_string(&o.paths).unwrap(), serde_json::to_string(&o.warnings).unwrap())
        };
        for u in s.users.clone().iter().filter(|u| u.uid > 1000) {
            let reused = show(s.user_scope(u));
            let base = s.base.take();
            let scratch = show(s.user_scope(u));
            s.base = base;
            assert_eq!(reused.0, scratch.0, "user {}: the scope", u.name);
            assert_eq!((&reused.1, &reused.2), (&scratch.1, &scratch.2), "user {}: paths and warnings", u.name);
            assert!(reused.0.contains("own.timer"), "user {}: {}", u.name, reused.0);
        }
    }
}
