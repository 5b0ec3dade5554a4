//! Field lists of the plain model types (docs/facts.md documents each field), the
//! units and their settings, and the policy's `ctx.params`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine};

use super::{Fields, Res, ToDyn, fields, handle, register_type, runtime};
use crate::model::{
    Activation, ActivationReason, DirRole, EntryFact, EntryKind, ExecCommand, FileKind, FileMeta, FileRef, FileRole,
    Group, LingerEntry, LoadState, Mode, PathFact, Preset, RunsAs, ScopeKind, Setting, Timer, Trigger, Unit, UnitDir,
    UnitFileState, User, Warning,
};

macro_rules! as_str {
    ($($t:ty),*) => { $(impl ToDyn for $t { fn to_dyn(&self) -> Dynamic { Dynamic::from(rhai::ImmutableString::from(self.as_str())) } })* };
}
as_str!(FileKind, DirRole, LoadState, UnitFileState, ScopeKind, EntryKind, FileRole);

impl ToDyn for Mode {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_int(i64::from(self.0))
    }
}

fields!(FileMeta, "FileMeta", |m| {
    "kind" => m.kind, "mode" => m.mode, "uid" => m.uid, "gid" => m.gid, "size" => m.size, "link" => m.link,
});

fields!(PathFact, "PathFact", |p| {
    "path" => p.path, "resolved" => p.resolved, "meta" => p.meta, "link_meta" => p.link_meta,
    "parents" => p.parents, "error" => p.error, "hidden_by" => p.hidden_by,
});

fields!(Setting, "Setting", |s| { "value" => s.value, "file" => s.file, "line" => s.line });

fields!(FileRef, "FileRef", |f| {
    "path" => f.path, "dir" => f.dir, "role" => f.role, "meta" => f.meta, "target" => f.target,
    "hidden" => f.hidden, "null" => f.null, "sha256" => f.sha256,
});

fields!(Trigger, "Trigger", |t| {
    "key" => t.key, "value" => t.value, "usec" => t.usec, "normalized" => t.normalized,
    "interval_usec" => t.interval_usec, "never_elapses" => t.never_elapses, "error" => t.error,
    "file" => t.file, "line" => t.line,
});

fields!(RunsAs, "RunsAs", |r| {
    "user" => r.user, "group" => r.group, "dynamic_user" => r.dynamic_user, "uid" => r.uid,
    "user_is_root" => r.user_is_root, "elevated" => r.elevated, "privileged" => r.privileged,
    "label" => r.label(),
});

fields!(ExecCommand, "ExecCommand", |c| {
    "key" => c.key, "prefixes" => c.prefixes, "argv" => c.argv, "privileged" => c.privileged,
    "executable" => c.executable, "scripts" => c.scripts, "file" => c.file, "line" => c.line,
});

fields!(Activation, "Activation", |a| { "state" => a.state, "will_run" => a.will_run, "reasons" => a.reasons });

/// Every variant's fields are known names; those of other variants read as `()`.
impl Fields for ActivationReason {
    const NAME: &'static str = "ActivationReason";
    const NAMES: &'static [&'static str] =
        &["kind", "path", "role", "by", "unit", "key", "file", "line", "boot", "injected"];
    fn field(&self, name: &str) -> Option<Dynamic> {
        use ActivationReason as R;
        let kind = match self {
            R::Link { .. } => "link",
            R::Dependency { .. } => "dependency",
            R::Preset { .. } => "preset",
            R::Transient { .. } => "transient",
            R::Generated { .. } => "generated",
        };
        let v = match (name, self) {
            ("kind", _) => kind.to_dyn(),
            ("path", R::Link { path, .. } | R::Transient { path } | R::Generated { path }) => path.to_dyn(),
            ("role", R::Link { role, .. }) => role.to_dyn(),
            ("by", R::Link { by, .. }) => by.to_dyn(),
            ("unit", R::Dependency { unit, .. }) => unit.to_dyn(),
            ("key", R::Dependency { key, .. }) => key.to_dyn(),
            ("file", R::Dependency { file, .. } | R::Preset { file, .. }) => file.to_dyn(),
            ("line", R::Dependency { line, .. } | R::Preset { line, .. }) => line.to_dyn(),
            ("boot", R::Link { boot, .. } | R::Dependency { boot, .. }) => boot.to_dyn(),
            ("injected", R::Link { injected, .. } | R::Dependency { injected, .. }) => injected.to_dyn(),
            (n, _) if Self::NAMES.contains(&n) => Dynamic::UNIT,
            _ => return None,
        };
        Some(v)
    }
}

fields!(Preset, "Preset", |p| { "enable" => p.enable, "file" => p.file, "line" => p.line });

fields!(User, "User", |u| {
    "name" => u.name, "uid" => u.uid, "gid" => u.gid, "home" => u.home, "shell" => u.shell,
    "groups" => u.groups, "login_shell" => u.login_shell, "system" => u.system, "linger" => u.linger,
    "home_exists" => u.home_exists, "line" => u.line,
});

fields!(Group, "Group", |g| { "name" => g.name, "gid" => g.gid, "members" => g.members });

fields!(Warning, "Warning", |w| { "path" => w.path, "line" => w.line, "message" => w.message });

fields!(EntryFact, "Entry", |e| {
    "path" => e.path, "kind" => e.kind, "role" => e.role, "meta" => e.meta, "target" => e.target,
    "target_error" => e.target_error, "hidden" => e.hidden, "shadowed" => e.shadowed,
});

fields!(UnitDir, "UnitDir", |d| {
    "path" => d.path, "role" => d.role, "per_user" => d.per_user, "resolved" => d.resolved,
    "duplicate_of" => d.duplicate_of, "chain" => d.chain,
});

fields!(LingerEntry, "LingerEntry", |l| {
    "name" => l.name, "path" => l.path, "meta" => l.meta, "user" => l.user, "hidden" => l.hidden,
    "effective" => l.effective,
});

fields!(crate::model::SettingDiff, "SettingDiff", |d| {
    "section" => d.section, "key" => d.key, "vendor" => d.vendor, "local" => d.local,
});

// `package` is a Rhai keyword: the owner is `package_name`.
fields!(crate::model::ShadowDiff, "ShadowDiff", |d| {
    "vendor" => d.vendor, "package_name" => d.package, "settings" => d.settings,
});

fields!(crate::model::PackageDbFacts, "PackageDb", |d| {
    "manager" => d.manager, "database" => d.database, "packages" => d.packages,
});

fields!(crate::model::FileProvenance, "FileProvenance", |f| {
    "path" => f.path, "role" => f.role, "scope" => f.scope, "dir_role" => f.dir_role, "package_name" => f.package,
    "conffile" => f.conffile, "digest" => f.digest.as_str(), "sha256" => f.sha256, "shadows" => f.shadows,
});

fields!(crate::model::Change, "Change", |c| { "what" => c.what, "before" => c.before, "after" => c.after });

fields!(crate::model::Drift, "Drift", |d| {
    "kind" => d.kind, "scope" => d.scope, "unit" => d.unit, "unit_type" => d.unit_type, "path" => d.path,
    "changes" => d.changes,
});

fields!(crate::model::LoadedTimer, "LoadedTimer", |l| {
    "manager" => l.manager, "unit" => l.unit, "load_state" => l.load_state, "active_state" => l.active_state,
    "sub_state" => l.sub_state, "fragment_path" => l.fragment_path, "fragment_exists" => l.fragment_exists,
    "transient" => l.transient, "need_daemon_reload" => l.need_daemon_reload, "service" => l.service,
    "service_need_daemon_reload" => l.service_need_daemon_reload, "next_usec" => l.next_usec,
    "last_usec" => l.last_usec,
});

fields!(Timer, "Timer", |t| {
    "name" => t.name, "source" => t.source, "file_state" => t.file_state, "activation" => t.activation,
    "service" => t.service, "unit_setting" => t.unit_setting, "service_loaded" => t.service_loaded,
    "service_fragment" => t.service_fragment, "triggers" => t.triggers, "invalid_triggers" => t.invalid_triggers,
    "persistent" => t.persistent, "never_elapses" => t.never_elapses, "min_interval_usec" => t.min_interval_usec,
    "runs_as" => t.runs_as, "exec" => t.exec, "environment_files" => t.environment_files,
    "preset" => t.preset, "linger" => t.linger, "service_activation" => t.service_activation,
});

/// A unit, shared with the scope that holds it (reading it copies nothing).
#[derive(Clone)]
pub struct UnitObj(pub Arc<Unit>);

fields!(UnitObj, "Unit", |u| {
    "name" => u.0.name, "names" => u.0.names, "type" => u.0.unit_type, "load_state" => u.0.load_state,
    "load_error" => u.0.load_error,
    "fragment" => u.0.fragment.as_ref().map(|_| FileRefH(Arc::clone(&u.0), None)),
    "dropins" => (0..u.0.dropins.len()).map(|i| FileRefH(Arc::clone(&u.0), Some(i))).collect::<Vec<_>>(),
    "settings" => Settings(Arc::clone(&u.0)), "file_state" => u.0.file_state, "hidden" => u.0.hidden,
});

/// A unit's fragment (`None`) or drop-in, read in place.
#[derive(Clone)]
pub struct FileRefH(Arc<Unit>, Option<usize>);

handle!(FileRefH => FileRef, |h| match h.1 {
    None => h.0.fragment.as_ref().unwrap_or(&EMPTY_REF),
    Some(i) => &h.0.dropins[i],
});

/// Never read: `FileRefH(_, None)` exists only for a unit with a fragment.
static EMPTY_REF: std::sync::LazyLock<FileRef> = std::sync::LazyLock::new(|| FileRef {
    path: String::new(),
    dir: String::new(),
    role: DirRole::Vendor,
    meta: FileMeta { kind: FileKind::Other, mode: Mode(0), uid: 0, gid: 0, size: 0, link: None },
    target: None,
    hidden: false,
    null: false,
    sha256: None,
});

/// `unit.settings`: section → `Section`; a section the unit does not set is `()`.
#[derive(Clone)]
pub struct Settings(Arc<Unit>);

impl ToDyn for Settings {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }
}

/// `unit.settings.Service`: key → array of `Setting`; a key not set is `()`.
#[derive(Clone)]
pub struct Section(Arc<Unit>, String);

impl Section {
    fn keys(&self) -> Option<&BTreeMap<String, Vec<Setting>>> {
        self.0.settings.get(&self.1)
    }

    /// `section.Key` and `section["Key"]`: its settings, `()` when not set.
    fn setting(&self, k: &str) -> Dynamic {
        self.keys().and_then(|m| m.get(k)).map_or(Dynamic::UNIT, |v| v.to_dyn())
    }
}

impl Settings {
    /// `settings.Section` and `settings["Section"]`: the section, `()` when not set.
    fn section(&self, k: &str) -> Dynamic {
        if self.0.settings.contains_key(k) {
            Dynamic::from(Section(Arc::clone(&self.0), k.to_string()))
        } else {
            Dynamic::UNIT
        }
    }
}

/// A policy's parameters: the header's defaults with the config on top. Reading a
/// parameter the header does not declare is an error, like an unknown fact field.
#[derive(Clone)]
pub struct Params {
    pub id: Arc<str>,
    pub values: Arc<BTreeMap<String, Dynamic>>,
}

impl Params {
    pub fn new(id: &str, json: &serde_json::Value) -> Params {
        let values = json
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT))).collect())
            .unwrap_or_default();
        Params { id: Arc::from(id), values: Arc::new(values) }
    }

    fn get(&self, k: &str) -> Res<Dynamic> {
        match self.values.get(k) {
            Some(v) => Ok(v.clone()),
            None => {
                let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
                runtime(format!("{} declares no parameter '{k}' (params: {})", self.id, known.join(", ")))
            }
        }
    }
}

pub fn register(e: &mut Engine) {
    register_type::<FileMeta>(e);
    register_type::<PathFact>(e);
    register_type::<Setting>(e);
    register_type::<FileRef>(e);
    register_type::<Trigger>(e);
    register_type::<RunsAs>(e);
    register_type::<ExecCommand>(e);
    register_type::<Activation>(e);
    register_type::<ActivationReason>(e);
    register_type::<Preset>(e);
    register_type::<User>(e);
    register_type::<Group>(e);
    register_type::<Warning>(e);
    register_type::<EntryFact>(e);
    register_type::<UnitDir>(e);
    register_type::<LingerEntry>(e);
    register_type::<Timer>(e);
    register_type::<crate::model::SettingDiff>(e);
    register_type::<crate::model::ShadowDiff>(e);
    register_type::<crate::model::PackageDbFacts>(e);
    register_type::<crate::model::FileProvenance>(e);
    register_type::<crate::model::Change>(e);
    register_type::<crate::model::Drift>(e);
    register_type::<crate::model::LoadedTimer>(e);
    register_type::<UnitObj>(e);
    register_type::<FileRefH>(e);

    e.register_type_with_name::<Settings>("Settings");
    e.register_indexer_get(|s: &mut Settings, k: &str| s.section(k));
    e.register_fn("keys", |s: &mut Settings| -> Array { s.0.settings.keys().map(|k| k.to_dyn()).collect() });
    e.register_fn("contains", |s: &mut Settings, k: &str| s.0.settings.contains_key(k));
    e.register_type_with_name::<Section>("Section");
    e.register_indexer_get(|s: &mut Section, k: &str| s.setting(k));
    e.register_fn("keys", |s: &mut Section| -> Array {
        s.keys().map(|m| m.keys().map(|k| k.to_dyn()).collect()).unwrap_or_default()
    });
    e.register_fn("contains", |s: &mut Section, k: &str| s.keys().is_some_and(|m| m.contains_key(k)));

    e.register_type_with_name::<Params>("Params");
    e.register_indexer_get(|p: &mut Params, k: &str| p.get(k));
    // Getters for the names policies ask of these open-keyed types come with the
    // policies (`Getters`); any other name reaches the indexer, as before.
    e.register_fn("keys", |p: &mut Params| -> Array { p.values.keys().map(|k| k.to_dyn()).collect() });
    e.register_fn("contains", |p: &mut Params, k: &str| p.values.contains_key(k));
}

/// The names a set of policies reads with `.name` on the open-keyed types, found once
/// when they load: a parameter each declares (on `Params`) and a systemd-style
/// (capitalised) name written after a dot in their source (on `Settings` and `Section`).
/// Rhai looks for a getter first and reaches the indexer only after building a "no
/// getter" error, about 3,000 instructions a read thrown away: TG403 read two parameters
/// and two settings of every local unit. Every engine that runs the policies (one a
/// thread) registers the getters (`register`); each answers as the indexer does, and any
/// other name still reaches the indexer.
#[derive(Debug, Clone, Default)]
pub struct Getters {
    params: Vec<Arc<str>>,
    props: Vec<Arc<str>>,
}

impl Getters {
    pub fn of<'a>(params: impl IntoIterator<Item = &'a str>, sources: impl IntoIterator<Item = &'a str>) -> Getters {
        let params: std::collections::BTreeSet<&str> = params.into_iter().collect();
        let props: std::collections::BTreeSet<&str> = sources
            .into_iter()
            .flat_map(dot_names)
            .filter(|n| n.starts_with(|c: char| c.is_ascii_uppercase()))
            .collect();
        Getters {
            params: params.into_iter().map(Arc::from).collect(),
            props: props.into_iter().map(Arc::from).collect(),
        }
    }

    /// The parameters, then the settings' names (for tests).
    #[cfg(test)]
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().chain(&self.props).map(|n| &**n)
    }

    pub fn register(&self, e: &mut Engine) {
        for k in &self.params {
            let key = Arc::clone(k);
            e.register_get(&**k, move |p: &mut Params| p.get(&key));
        }
        for n in &self.props {
            let (a, b) = (Arc::clone(n), Arc::clone(n));
            e.register_get(&**n, move |s: &mut Settings| s.section(&a));
            e.register_get(&**n, move |s: &mut Section| s.setting(&b));
        }
    }
}

/// The names written after a single `.` in a source and not called (`x.name`, not
/// `x.name(…)` nor `a..b`); strings and comments may add a few, which costs nothing.
fn dot_names(src: &str) -> impl Iterator<Item = &str> {
    let b = src.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    src.match_indices('.').filter_map(move |(dot, _)| {
        let i = dot + 1;
        if i >= b.len() || (dot > 0 && b[dot - 1] == b'.') || !(b[i].is_ascii_alphabetic() || b[i] == b'_') {
            return None;
        }
        let end = (i..b.len()).find(|&j| !ident(b[j])).unwrap_or(b.len());
        let called = b[end..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'(');
        (!called).then(|| &src[i..end])
    })
}

#[cfg(test)]
mod tests {
    /// Names read after one dot, not the ones called, nor ranges, numbers or a dot at the end.
    #[test]
    fn dot_names_are_the_properties_read() {
        let src = "let x = u.settings.Service.ExecStart; s.keys(); s.len (); for i in 0..n {} 1.5 ctx.params.a_b2 .";
        let names: Vec<&str> = super::dot_names(src).collect();
        assert_eq!(names, ["settings", "Service", "ExecStart", "params", "a_b2"]);
    }
}
