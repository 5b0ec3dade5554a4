//! The subjects `check(subject, ctx)` is called with, one type per target, each a handle
//! into the facts (a scope and an index) with the fields of the fact it stands for plus
//! where it lives (`scope`, `scope_kind`, `owner`, …) and what policies need next to it
//! (a timer's `unit`, `service_unit` and `files`). docs/policy-api.md lists every field.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine};

use super::view::{self, Control, ScopeView};
use super::{Fields, ToDyn, UnitObj, fields, handle, register_type};
use crate::finding::Fix;
use crate::model::{
    ActivationReason, DirRole, EntryFact, FileKind, FileMeta, LingerEntry, PathFact, Timer, UnitDir, UsedFile, User,
};

/// One thing a policy's `check` is called with.
pub struct Subject {
    pub fact: Dynamic,
    /// Default finding subject (a path or a unit name).
    pub label: String,
    /// Default finding path, and line in it.
    pub path: Option<String>,
    pub line: Option<u32>,
    pub scope: Option<Arc<str>>,
    /// What a policy's native pre-filter looks at.
    pub props: Props,
}

/// The properties a pre-filter (`filter` in a policy's header) tests, read once.
#[derive(Debug, Clone, Default)]
pub struct Props {
    pub scope_kind: Option<crate::model::ScopeKind>,
    pub will_run: Option<bool>,
    pub privileged: Option<bool>,
    pub kind: Option<&'static str>,
    pub unit_type: Option<String>,
    pub unit_chain: Option<bool>,
    pub writable_or_foreign: Option<bool>,
    pub has_dropins: Option<bool>,
    pub linked: Option<bool>,
    pub injected: Option<bool>,
    pub trigger_problems: Option<bool>,
    pub service_loads: Option<bool>,
    pub inline_code: Option<bool>,
    pub sets_user: Option<bool>,
    pub state: Option<String>,
    pub never_elapses: Option<bool>,
}

/// Whether `m` is group/other-writable (a symlink's mode means nothing, S48) or owned by
/// a uid that is neither root nor one of `owners`: the `writable_or_foreign` pre-filter.
pub fn writable_or_foreign(m: &FileMeta, mut owners: impl Iterator<Item = u32>) -> bool {
    let writable = m.kind != FileKind::Symlink && m.mode.0 & 0o022 != 0;
    writable || (m.uid != 0 && !owners.any(|u| u == m.uid))
}

/// A path with its metadata (a parent in a chain).
#[derive(Clone)]
pub struct ChainEntry {
    pub path: String,
    pub meta: Option<FileMeta>,
}
fields!(ChainEntry, "ChainEntry", |c| { "path" => c.path, "meta" => c.meta });

/// An account a path belongs to (its home or runtime directory holds that user's units).
#[derive(Clone)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub user: String,
}
fields!(Owner, "Owner", |o| { "uid" => o.uid, "gid" => o.gid, "user" => o.user });

fields!(Control, "Control", |c| {
    "path" => c.path, "on_file" => c.on_file, "uid" => c.uid, "user" => c.user, "gid" => c.gid,
    "group" => c.group, "everyone" => c.everyone, "who" => c.who, "why" => c.why,
});

/// Scope fields shared by timers, units, entries and unit directories. The host view
/// is this thread's (`view::with`).
#[derive(Clone)]
pub struct At {
    pub sv: Arc<ScopeView>,
}

impl At {
    fn scope(&self, name: &str) -> Option<Dynamic> {
        let owner = |f: &dyn Fn(&User) -> Dynamic| {
            view::with(|hv| self.sv.owner.map(|i| f(hv.user_at(i))).unwrap_or(Dynamic::UNIT))
        };
        Some(match name {
            "scope" => self.sv.label.to_dyn(),
            "scope_kind" => self.sv.scope.kind.as_str().to_dyn(),
            "owner" => owner(&|u| u.name.to_dyn()),
            "owner_uid" => owner(&|u| u.uid.to_dyn()),
            "owner_home" => owner(&|u| u.home.to_dyn()),
            "owner_groups" => owner(&|u| u.groups.to_dyn()),
            _ => return None,
        })
    }
    /// A path's metadata: the scope's own (a streamed user scope keeps its paths), else
    /// the host's.
    fn meta(&self, p: &str) -> Option<FileMeta> {
        self.sv.scope.paths.get(p).cloned().or_else(|| view::with(|hv| hv.meta(p).cloned()))
    }

    fn chain(&self, paths: &[String]) -> Vec<ChainEntry> {
        paths.iter().map(|p| ChainEntry { path: p.clone(), meta: self.meta(p) }).collect()
    }
}

/// Implements `Fields` for a subject: its own `extra` fields, the scope fields, then the
/// fields of the fact it wraps (`base`).
macro_rules! subject_fields {
    ($ty:ty, $name:literal, $base:ty, $names:expr, |$s:ident, $n:ident| $extra:expr, |$b:ident| $get:expr) => {
        impl Fields for $ty {
            const NAME: &'static str = $name;
            const NAMES: &'static [&'static str] = $names;
            fn field(&self, name: &str) -> Option<Dynamic> {
                let $s = self;
                let $n = name;
                if let Some(v) = $extra {
                    return Some(v);
                }
                if let Some(v) = self.at.scope(name) {
                    return Some(v);
                }
                let $b = $s;
                <$base as Fields>::field($get, name)
            }
        }
    };
}

/// A timer in its scope.
#[derive(Clone)]
pub struct TimerS {
    pub at: At,
    pub i: usize,
}

impl TimerS {
    pub fn timer(&self) -> &Timer {
        &self.at.sv.scope.timers[self.i]
    }
    fn service_unit(&self) -> Option<UnitObj> {
        let t = self.timer();
        let own = self.at.sv.unit(&t.service);
        let global = || view::with(|hv| hv.global.as_ref().and_then(|g| g.unit(&t.service)).cloned());
        own.cloned().or_else(global).map(UnitObj)
    }
    fn files(&self) -> Array {
        (0..self.timer().files.len()).map(|k| Dynamic::from(FileS { timer: self.clone(), k })).collect()
    }

    /// The fix that removes a risk at the unit: quarantine `file` when it is a local
    /// drop-in of the timer or its service (the setting goes, the packaged unit stays);
    /// else disable the timer when its only boot reasons are its own enablement links;
    /// else mask it (S19: the only thing that defeats every activation path).
    pub fn unit_fix(&self, file: &str) -> Fix {
        self.fix_at_unit(file, false)
    }

    fn fix_at_unit(&self, file: &str, mask: bool) -> Fix {
        let t = self.timer();
        let units = [self.at.sv.unit(&t.name).cloned(), self.service_unit().map(|u| u.0)];
        let local_dropin = units
            .iter()
            .flatten()
            .flat_map(|u| &u.dropins)
            .any(|d| d.path == file && d.role != DirRole::Vendor && !d.null);
        if local_dropin {
            return Fix::Quarantine { path: file.to_string() };
        }
        let scope = self.at.sv.label.to_string();
        // Links `disable` removes: in the scope's own config and runtime directories
        // (a user's timer enabled from /etc/systemd/user is not hers to disable).
        let dirs = view::with(|hv| {
            crate::remedy::disable_dirs(&scope, self.at.sv.owner.map(|i| hv.user_at(i)), true).unwrap_or_default()
        });
        let own_links_only = t.activation.reasons.iter().all(|r| match r {
            ActivationReason::Link { role, injected, boot, path, .. } => {
                !boot
                    || (!injected
                        && matches!(role, DirRole::Config | DirRole::Control | DirRole::Runtime)
                        && crate::remedy::in_dirs(path, &dirs))
            }
            ActivationReason::Dependency { boot, .. } => !boot,
            ActivationReason::Preset { .. } => true, // disable also writes a preset line
            ActivationReason::Transient { .. } | ActivationReason::Generated { .. } => false,
        });
        if own_links_only && !mask {
            Fix::DisableTimer { scope, unit: t.name.clone() }
        } else {
            Fix::MaskUnit { scope, unit: t.name.clone() }
        }
    }
}

const TIMER_FIELDS: &[&str] = &[
    "unit",
    "service_unit",
    "files",
    "scope",
    "scope_kind",
    "owner",
    "owner_uid",
    "owner_home",
    "owner_groups",
    "name",
    "source",
    "file_state",
    "activation",
    "service",
    "unit_setting",
    "service_loaded",
    "service_fragment",
    "triggers",
    "invalid_triggers",
    "persistent",
    "never_elapses",
    "min_interval_usec",
    "runs_as",
    "exec",
    "environment_files",
    "preset",
    "linger",
    "service_activation",
];

subject_fields!(
    TimerS,
    "TimerSubject",
    Timer,
    TIMER_FIELDS,
    |s, n| match n {
        "unit" => Some(s.at.sv.unit(&s.timer().name).map(|u| UnitObj(Arc::clone(u))).to_dyn()),
        "service_unit" => Some(s.service_unit().to_dyn()),
        "files" => Some(Dynamic::from_array(s.files())),
        // Handles, not copies: a policy that loops over `t.exec` of 30,000 timers must
        // not copy every command (and its paths) each time.
        "exec" => Some((0..s.timer().exec.len()).map(|k| ExecH(s.clone(), k)).collect::<Vec<_>>().to_dyn()),
        "activation" => Some(ActH(s.clone()).to_dyn()),
        "triggers" => {
            Some((0..s.timer().triggers.len()).map(|k| TriggerH(s.clone(), false, k)).collect::<Vec<_>>().to_dyn())
        }
        "invalid_triggers" => Some(
            (0..s.timer().invalid_triggers.len()).map(|k| TriggerH(s.clone(), true, k)).collect::<Vec<_>>().to_dyn(),
        ),
        _ => None,
    },
    |b| b.timer()
);

/// One command of a timer's service, read in place.
#[derive(Clone)]
pub struct ExecH(TimerS, usize);
handle!(ExecH => crate::model::ExecCommand, |h| &h.0.timer().exec[h.1]);

/// A timer's activation, read in place.
#[derive(Clone)]
pub struct ActH(TimerS);
handle!(ActH => crate::model::Activation, |h| &h.0.timer().activation);

/// A trigger (or an invalid one), read in place.
#[derive(Clone)]
pub struct TriggerH(TimerS, bool, usize);
handle!(TriggerH => crate::model::Trigger, |h| if h.1 {
    &h.0.timer().invalid_triggers[h.2]
} else {
    &h.0.timer().triggers[h.2]
});

/// One file a timer's service uses.
#[derive(Clone)]
pub struct FileS {
    timer: TimerS,
    k: usize,
}

impl FileS {
    fn f(&self) -> &UsedFile {
        &self.timer.timer().files[self.k]
    }
    fn controls(&self) -> Vec<Control> {
        view::with(|hv| hv.controls(&self.f().target, &self.timer.at.sv))
    }
    /// A safe fix of the file itself that removes every way others control it, when the
    /// only control is on the file and the safe-fix rules allow changing it.
    fn safe_fix(&self) -> Option<Fix> {
        let f = &self.f().target;
        let (path, meta) = (f.resolved.as_ref()?, f.meta.as_ref()?);
        let cs = self.controls();
        if cs.is_empty() || cs.iter().any(|c| !c.on_file) || meta.kind != FileKind::File {
            return None;
        }
        let mut fixes = Vec::new();
        if meta.uid != 0 || meta.gid != 0 && meta.mode.0 & 0o020 != 0 {
            fixes.push(Fix::Chown { path: path.clone(), uid: 0, gid: 0 });
        }
        if meta.mode.0 & 0o022 != 0 {
            fixes.push(Fix::Chmod { path: path.clone(), mode: crate::model::Mode(meta.mode.0 & 0o7755) });
        }
        let fix = fixes.into_iter().reduce(Fix::and)?;
        view::with(|hv| hv.safety.refuse(&fix, &|_| false)).is_none().then_some(fix)
    }
}

const FILE_FIELDS: &[&str] = &[
    "role",
    "path",
    "resolved",
    "meta",
    "link_meta",
    "parents",
    "error",
    "hidden_by",
    "key",
    "file",
    "line",
    "privileged",
    "control",
    "controls",
    "safe_fix",
    "home_of",
    "shared_dir",
];

impl Fields for FileS {
    const NAME: &'static str = "UsedFile";
    const NAMES: &'static [&'static str] = FILE_FIELDS;
    fn field(&self, name: &str) -> Option<Dynamic> {
        let f = self.f();
        let t: &PathFact = &f.target;
        let res = t.resolved.as_deref().unwrap_or(&t.path);
        Some(match name {
            "role" => f.role.as_str().to_dyn(),
            "key" => f.key.to_dyn(),
            "file" => f.file.to_dyn(),
            "line" => f.line.to_dyn(),
            "privileged" => f.privileged.to_dyn(),
            "parents" => self.timer.at.chain(&t.parents).to_dyn(),
            "control" => self.controls().into_iter().next().to_dyn(),
            "controls" => self.controls().to_dyn(),
            "safe_fix" => self.safe_fix().map_or(Dynamic::UNIT, Dynamic::from),
            "home_of" => view::with(|hv| hv.safety.home_of(res).map(str::to_string)).to_dyn(),
            "shared_dir" => view::with(|hv| hv.safety.shared(res)).to_dyn(),
            n => return t.field(n),
        })
    }
}

/// A unit in its scope.
#[derive(Clone)]
pub struct UnitS {
    pub at: At,
    pub i: usize,
    /// Lower copies of the fragment that it hides (S4).
    pub shadows: Arc<Vec<String>>,
}

impl UnitS {
    fn unit(&self) -> UnitObj {
        UnitObj(Arc::clone(&self.at.sv.scope.units[self.i]))
    }
}

const UNIT_FIELDS: &[&str] = &[
    "target_chain",
    "shadows",
    "scope",
    "scope_kind",
    "owner",
    "owner_uid",
    "owner_home",
    "owner_groups",
    "name",
    "names",
    "type",
    "load_state",
    "load_error",
    "fragment",
    "dropins",
    "settings",
    "file_state",
    "hidden",
];

subject_fields!(
    UnitS,
    "UnitSubject",
    UnitObj,
    UNIT_FIELDS,
    |s, n| match n {
        "target_chain" => {
            let u = s.unit();
            let t = u.0.fragment.as_ref().and_then(|f| f.target.as_ref());
            let paths: Vec<String> =
                t.map(|t| t.parents.iter().chain(&t.resolved).cloned().collect()).unwrap_or_default();
            // Only what was recorded (the target itself is a file; its metadata is on it).
            let mut chain = s.at.chain(&paths);
            if let (Some(t), Some(last)) = (t, chain.last_mut())
                && Some(&last.path) == t.resolved.as_ref()
            {
                last.meta = t.meta.clone();
            }
            chain.retain(|c| c.meta.is_some());
            Some(chain.to_dyn())
        }
        "shadows" => Some((*s.shadows).clone().to_dyn()),
        _ => None,
    },
    |b| &b.unit()
);

/// An entry of a unit directory in its scope.
#[derive(Clone)]
pub struct EntryS {
    pub at: At,
    pub i: usize,
}

const ENTRY_FIELDS: &[&str] = &[
    "scope",
    "scope_kind",
    "owner",
    "owner_uid",
    "owner_home",
    "owner_groups",
    "path",
    "kind",
    "role",
    "meta",
    "target",
    "target_error",
    "hidden",
    "shadowed",
];

subject_fields!(EntryS, "EntrySubject", EntryFact, ENTRY_FIELDS, |_s, _n| None::<Dynamic>, |b| &b.at.sv.scope.entries
    [b.i]);

/// A search-path directory in its scope.
#[derive(Clone)]
pub struct UnitDirS {
    pub at: At,
    pub i: usize,
}

const UNIT_DIR_FIELDS: &[&str] = &[
    "exists",
    "meta",
    "chain",
    "scope",
    "scope_kind",
    "owner",
    "owner_uid",
    "owner_home",
    "owner_groups",
    "path",
    "role",
    "per_user",
    "resolved",
    "duplicate_of",
];

subject_fields!(
    UnitDirS,
    "UnitDirSubject",
    UnitDir,
    UNIT_DIR_FIELDS,
    |s, n| {
        let d = &s.at.sv.scope.search_path[s.i];
        match n {
            "exists" => Some(d.resolved.is_some().to_dyn()),
            "meta" => Some(s.at.meta(&d.path).to_dyn()),
            "chain" => Some(s.at.chain(&d.chain).into_iter().filter(|c| c.meta.is_some()).collect::<Vec<_>>().to_dyn()),
            _ => None,
        }
    },
    |b| &b.at.sv.scope.search_path[b.i]
);

/// A recorded directory (unit directories, their parents, state directories).
#[derive(Clone)]
pub struct PathS {
    pub path: String,
    pub meta: FileMeta,
    pub unit_chain: bool,
    pub unit_dir: bool,
    pub owners: Vec<Owner>,
}
fields!(PathS, "PathSubject", |p| {
    "path" => p.path, "meta" => p.meta, "unit_chain" => p.unit_chain, "unit_dir" => p.unit_dir,
    "user_owners" => p.owners,
});

/// An entry of the linger directory with the account it names.
#[derive(Clone)]
pub struct LingerS {
    pub i: usize,
}
impl Fields for LingerS {
    const NAME: &'static str = "LingerSubject";
    const NAMES: &'static [&'static str] =
        &["account", "dir_meta", "name", "path", "meta", "user", "hidden", "effective"];
    fn field(&self, name: &str) -> Option<Dynamic> {
        view::with(|hv| {
            let e: &LingerEntry = &hv.host.linger.entries[self.i];
            Some(match name {
                "account" => e.user.as_deref().and_then(|n| hv.user(n)).cloned().to_dyn(),
                "dir_meta" => hv.host.linger.dir_meta.to_dyn(),
                n => return e.field(n),
            })
        })
    }
}

/// A file of the shared scopes with its provenance, and whether a package database was
/// read at all (`managed`: without one, "no package owns it" means nothing).
#[derive(Clone)]
pub struct FileProvS {
    pub i: usize,
}
impl Fields for FileProvS {
    const NAME: &'static str = "FileSubject";
    const NAMES: &'static [&'static str] =
        &["managed", "path", "role", "scope", "dir_role", "package_name", "conffile", "digest", "sha256", "shadows"];
    fn field(&self, name: &str) -> Option<Dynamic> {
        view::with(|hv| {
            if name == "managed" {
                return Some(hv.host.packages.is_some().to_dyn());
            }
            hv.host.provenance[self.i].field(name)
        })
    }
}

/// A generator executable.
#[derive(Clone)]
pub struct GeneratorS {
    pub i: usize,
}
impl Fields for GeneratorS {
    const NAME: &'static str = "GeneratorSubject";
    const NAMES: &'static [&'static str] =
        &["user", "vendor", "path", "resolved", "meta", "link_meta", "parents", "error", "hidden_by"];
    fn field(&self, name: &str) -> Option<Dynamic> {
        view::with(|hv| {
            let g = &hv.host.generators[self.i];
            Some(match name {
                "user" => g.path.contains("/user-generators/").to_dyn(),
                "vendor" => (g.path.starts_with("/usr/lib/") || g.path.starts_with("/lib/")).to_dyn(),
                n => return g.field(n),
            })
        })
    }
}

pub fn register(e: &mut Engine) {
    register_type::<ChainEntry>(e);
    register_type::<Owner>(e);
    register_type::<Control>(e);
    register_type::<TimerS>(e);
    register_type::<ExecH>(e);
    register_type::<ActH>(e);
    register_type::<TriggerH>(e);
    register_type::<FileS>(e);
    register_type::<UnitS>(e);
    register_type::<EntryS>(e);
    register_type::<UnitDirS>(e);
    register_type::<PathS>(e);
    register_type::<LingerS>(e);
    register_type::<GeneratorS>(e);
    register_type::<FileProvS>(e);
    e.register_fn("unit_fix", |t: &mut TimerS, file: &str| t.unit_fix(file));
    // Like `unit_fix`, but never merely disable: for what must not run even by hand.
    e.register_fn("mask_fix", |t: &mut TimerS, file: &str| t.fix_at_unit(file, true));
}
