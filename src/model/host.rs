//! The whole collected host: scopes (the system manager, the global user configuration
//! and each user's manager), their search paths, units and timers, accounts, linger, and
//! the metadata of every directory looked at. `Host` is the root of the facts JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FileMeta, LingerFacts, PathFact, Timer, Unit, User};
use crate::model::Group;

/// Version tag of the facts JSON. Bump on any incompatible change (see docs/facts.md).
pub const FACTS_SCHEMA: &str = "timerguard.facts/v1";

/// Everything timerguard knows about one root filesystem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub schema: String,
    /// `true` when the root is `/` of the running system.
    pub live: bool,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub machine_id: Option<String>,
    /// The machine-id is missing, empty or `uninitialized`: the next boot is a first
    /// boot, and `preset-all` will run (S20).
    #[serde(default)]
    pub first_boot: bool,
    /// Shared so that policy facts can point into a scope without copying it.
    pub scopes: Vec<std::sync::Arc<Scope>>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub linger: LingerFacts,
    /// Generator executables (S21): opaque persistence vectors, reported with metadata.
    pub generators: Vec<PathFact>,
    /// The package database, when the root has one (dpkg or RPM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<super::PackageDbFacts>,
    /// Provenance of the shared scopes' files (unit files, drop-ins, generators, what
    /// root timers run).
    #[serde(default)]
    pub provenance: Vec<super::FileProvenance>,
    /// Differences from a trusted snapshot, when `check --trusted` gave one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<super::Drift>,
    /// Timers as the running managers have them loaded (live view only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loaded: Vec<LoadedTimer>,
    /// The running managers that answered the live view (`system`, `user:NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<String>,
    /// `lstat` metadata of every unit directory and each of its parents up to `/`,
    /// keyed by in-image path. A missing directory is absent here; its existing parents
    /// are present (whoever can write them can create it).
    pub paths: BTreeMap<String, FileMeta>,
    /// Facts that could not be known offline and were assumed (S2: XDG variables).
    pub assumptions: Vec<String>,
    /// Non-fatal problems met while collecting, each naming its path.
    pub warnings: Vec<Warning>,
}

impl Host {
    /// Facts of nothing (a placeholder where facts are needed but none were collected).
    pub fn empty() -> Host {
        Host {
            schema: FACTS_SCHEMA.into(),
            live: false,
            hostname: None,
            machine_id: None,
            first_boot: false,
            scopes: Vec::new(),
            users: Vec::new(),
            groups: Vec::new(),
            linger: LingerFacts::default(),
            generators: Vec::new(),
            packages: None,
            provenance: Vec::new(),
            drift: Vec::new(),
            loaded: Vec::new(),
            managers: Vec::new(),
            paths: BTreeMap::new(),
            assumptions: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Which manager a scope describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeKind {
    /// PID 1's system manager: runs as root unless a service says otherwise.
    System,
    /// Units in the shared user directories (`/etc/systemd/user`, `/usr/lib/systemd/user`,
    /// …): they load in *every* user's manager.
    Global,
    /// One account's user manager, with its home and runtime directories.
    User,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::System => "system",
            ScopeKind::Global => "global",
            ScopeKind::User => "user",
        }
    }
}

/// One manager's view: its search path (highest precedence first) and resolved units.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scope {
    pub kind: ScopeKind,
    /// The account, for `ScopeKind::User`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub search_path: Vec<UnitDir>,
    /// Every unit that resolves in this scope (for user scopes: only units that the
    /// user's own directories define or change; the rest is in the global scope).
    pub units: Vec<std::sync::Arc<Unit>>,
    pub timers: Vec<Timer>,
    /// `systemctl [--global] list-unit-files` offline: every visible unit file name on
    /// the path (first wins, hidden names skipped, S8) and its `is-enabled` state.
    /// Empty for user scopes (systemctl cannot answer for them offline, S50).
    #[serde(default)]
    pub unit_files: BTreeMap<String, super::UnitFileState>,
    /// Every entry of the scope's directories (user scopes: the user's own), whether or
    /// not systemd uses it: unit files (shadowed copies too), drop-in and dependency
    /// directories and what is in them, with `lstat` metadata.
    #[serde(default)]
    pub entries: Vec<EntryFact>,
    /// `lstat` metadata of paths only this scope looked at (a user's home and runtime
    /// directories, files its units use there), keyed by in-image path; shared paths
    /// are in `Host::paths`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<String, FileMeta>,
}

/// What an entry of a unit directory is to systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A unit-named file or link (fragment, alias, linked unit or mask).
    Unit,
    /// A `NAME.d/` directory.
    DropinDir,
    /// A `*.conf` in a drop-in directory.
    Dropin,
    /// A `NAME.wants/`, `.requires/` or `.upholds/` directory.
    DependencyDir,
    /// An entry of a dependency directory (normally a symlink).
    Dependency,
    /// Present but skipped by systemd (hidden name, wrong suffix, not a file).
    Ignored,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Unit => "unit",
            EntryKind::DropinDir => "dropin-dir",
            EntryKind::Dropin => "dropin",
            EntryKind::DependencyDir => "dependency-dir",
            EntryKind::Dependency => "dependency",
            EntryKind::Ignored => "ignored",
        }
    }
}

/// One directory entry with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryFact {
    pub path: String,
    pub kind: EntryKind,
    /// The role of the search directory it lives in.
    pub role: DirRole,
    pub meta: super::FileMeta,
    /// For symlinks: the in-image path it resolves to (or why it does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_error: Option<String>,
    #[serde(default)]
    pub hidden: bool,
    /// A unit file that a higher directory's entry of the same name hides (S4).
    #[serde(default)]
    pub shadowed: bool,
}

impl Scope {
    /// A short label: `system`, `global`, or `user:NAME`.
    pub fn label(&self) -> String {
        match (&self.kind, &self.user) {
            (ScopeKind::User, Some(u)) => format!("user:{u}"),
            (ScopeKind::User, None) => "user".into(),
            (ScopeKind::Global, _) => "global".into(),
            (ScopeKind::System, _) => "system".into(),
        }
    }

    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.name == name || u.names.iter().any(|n| n == name)).map(|u| &**u)
    }
}

/// What a search directory is for; decides enablement states and who may write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirRole {
    /// `system.control` / `user.control`: written by `systemctl set-property`.
    Control,
    /// `/run/systemd/transient`: `systemd-run` units (S22).
    Transient,
    GeneratorEarly,
    /// `/etc/systemd/system`, `~/.config/systemd/user`: the admin's (or user's) config.
    Config,
    /// Portable service attachments (`*.attached`).
    Attached,
    /// `/run/systemd/system`: runtime config (`enable --runtime`).
    Runtime,
    Generator,
    /// `/usr/local/lib/systemd/…`, `~/.local/share/systemd/user`, XDG data dirs.
    Local,
    /// `/usr/lib/systemd/…`, `/lib/systemd/…`: the distribution's units.
    Vendor,
    GeneratorLate,
}

impl DirRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DirRole::Control => "control",
            DirRole::Transient => "transient",
            DirRole::GeneratorEarly => "generator-early",
            DirRole::Config => "config",
            DirRole::Attached => "attached",
            DirRole::Runtime => "runtime",
            DirRole::Generator => "generator",
            DirRole::Local => "local",
            DirRole::Vendor => "vendor",
            DirRole::GeneratorLate => "generator-late",
        }
    }

    /// Directories systemd itself writes at boot: their content cannot exist offline.
    pub fn is_generator(self) -> bool {
        matches!(self, DirRole::GeneratorEarly | DirRole::Generator | DirRole::GeneratorLate)
    }
}

/// One directory of a search path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitDir {
    /// The path as systemd lists it (in-image).
    pub path: String,
    pub role: DirRole,
    /// For per-user scopes: true when the directory belongs to the user (home, runtime).
    #[serde(default)]
    pub per_user: bool,
    /// Where the directory resolves inside the root (e.g. `/lib/systemd/system` →
    /// `/usr/lib/systemd/system`); absent when it does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// When another, higher directory of the same list resolves to the same place, this
    /// one is that directory's duplicate and is not read twice (S1: `/lib` → `usr/lib`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// This path and all its parents up to `/` (metadata in `Host::paths`).
    pub chain: Vec<String>,
}

/// A non-fatal problem, naming the file (and line) it is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Warning {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path, l, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl crate::jsonfile::Tagged for Host {
    fn schema(&self) -> &str {
        &self.schema
    }
}

/// A timer as a running manager has it loaded (the live view, read over D-Bus when the
/// root is `/` and systemd is PID 1). It may differ from the files: a unit changed on disk
/// since it was loaded, a timer whose file is gone, a transient one made by `systemd-run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedTimer {
    /// The manager: `system` or `user:NAME` (the label of the matching scope).
    pub manager: String,
    pub unit: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// The file the manager loaded it from (empty for a unit that has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_path: Option<String>,
    /// That file exists now.
    pub fragment_exists: bool,
    pub transient: bool,
    /// The timer's files changed on disk since the manager loaded them.
    pub need_daemon_reload: bool,
    /// The unit it triggers, as the manager resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The triggered unit's files changed since it was loaded.
    pub service_need_daemon_reload: bool,
    /// Next elapse in µs since the epoch (the earlier of the realtime and the monotonic
    /// deadline converted to realtime, as `systemctl list-timers` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_usec: Option<u64>,
    /// Last trigger in µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_usec: Option<u64>,
}
