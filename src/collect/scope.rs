//! Collects one manager scope: looks at each search directory (and its parents),
//! de-duplicates directories that resolve to the same place (S1), resolves units, builds
//! the boot dependency graph and the timer facts.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use super::activation;
use super::files::FileCache;
use super::install_state;
use super::names::{self, NameKind};
use super::paths::PathSpec;
use super::resolve::{BaseNames, Layer, Notes, Resolver};
use super::root::Root;
use super::scan::{DirScan, scan_dir};
use super::stat::record_chain;
use super::timer::{self, Manager};
use super::{FastMap, FastSet};
use crate::model::{
    ActivationReason, DirRole, FileKind, FileMeta, LoadState, Scope, ScopeKind, Unit, UnitDir, Warning,
};

/// Directory scans shared by all scopes (each directory is read once).
#[derive(Default)]
pub struct ScanCache {
    map: Mutex<FastMap<String, Arc<DirScan>>>,
    pub warnings: Mutex<Vec<Warning>>,
}

impl ScanCache {
    fn get(&self, root: &Root, dir: &str) -> Arc<DirScan> {
        if let Some(s) = self.map.lock().unwrap_or_else(PoisonError::into_inner).get(dir) {
            return Arc::clone(s);
        }
        let mut w = Vec::new();
        let s = Arc::new(scan_dir(root, dir, &mut w));
        self.warnings.lock().unwrap_or_else(PoisonError::into_inner).extend(w);
        self.map.lock().unwrap_or_else(PoisonError::into_inner).insert(dir.to_string(), Arc::clone(&s));
        s
    }
}

/// A collected scope with the side data to merge into the host.
pub struct ScopeOut {
    pub scope: Scope,
    pub paths: BTreeMap<String, FileMeta>,
    pub warnings: Vec<Warning>,
    /// For the global scope: what every user scope can reuse (see `UserBase`).
    pub base: Option<UserBase>,
}

/// The shared user directories resolved once: units and their boot-graph edges as every
/// user manager sees them unless the user's own directories change them. 10,000 user
/// scopes would otherwise load `default.target` and everything it pulls in 10,000 times.
#[derive(Default)]
pub struct UserBase {
    units: FastMap<String, Arc<Unit>>,
    deps: FastMap<String, activation::Node>,
    /// For every name above: what a user's directories must name to touch it (its type
    /// and the drop-in directory stems of each of its unit's names, S10), worked out once.
    keys: FastMap<String, Vec<String>>,
    /// The shared directories' name map.
    names: BaseNames,
}

impl UserBase {
    fn new(units: FastMap<String, Arc<Unit>>, deps: FastMap<String, activation::Node>, names: BaseNames) -> Self {
        let mut keys = FastMap::default();
        for n in units.keys().chain(deps.keys()) {
            if keys.contains_key(n) {
                continue;
            }
            let names = units.get(n).map(|u| u.names.as_slice()).unwrap_or_default();
            keys.insert(n.clone(), touch_keys(std::iter::once(n.as_str()).chain(names.iter().map(String::as_str))));
        }
        UserBase { units, deps, keys, names }
    }
}

/// The names whose presence in a user's directories changes how any of `names` resolves:
/// each one's type (a type-level drop-in such as `timer.d`) and drop-in stems.
fn touch_keys<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for n in names {
        for k in std::iter::once(names::unit_type(n).to_string()).chain(super::dropins::dir_stems(n)) {
            if !v.contains(&k) {
                v.push(k);
            }
        }
    }
    v
}

/// The names a user's own directories touch: units, alias sources and targets, the
/// stems of their `.d` directories, type-level drop-in dirs (`names`), and apart from
/// those the stems of their `.wants`/`.requires` directories (`deps`). A unit none of
/// whose names, templates, dash prefixes or type is in `names` resolves exactly as in the
/// shared directories; if none is in `deps` either, its dependencies are theirs too.
struct Touched {
    names: FastSet<String>,
    deps: FastSet<String>,
}

impl Touched {
    fn of(r: &Resolver<'_>, base: &UserBase) -> Touched {
        let mut names = FastSet::default();
        let mut deps = FastSet::default();
        for l in r.layers.iter().filter(|l| l.spec.per_user) {
            for (n, e) in &l.scan.units {
                names.insert(n.clone());
                // A shared alias that reaches her unit in her map (`/usr/local/share/
                // systemd/user/a.timer -> t.timer`, her `t.timer` the only one): the shared
                // map has it lead elsewhere or nowhere, so it is touched.
                names.extend(r.reverse_of(n).cloned());
                if let Some(t) = e.meta.link.as_deref() {
                    names.insert(super::root::basename(t).to_string());
                }
            }
            names.extend(l.scan.dropins.keys().cloned());
            deps.extend(l.scan.deps.keys().map(|(stem, _)| stem.clone()));
        }
        // A shared link into her directories, whether her file is there or not
        // (`/usr/lib/systemd/user/a.timer -> ~/.local/share/systemd/user/t.timer`): an
        // alias of `t.timer` for her, a link out of the search path for the others.
        names.extend(r.shared_links_into_own());
        // A shared alias of a touched name is the same unit: touched too.
        for set in [&mut names, &mut deps] {
            let more: Vec<String> =
                set.iter().filter_map(|n| base.units.get(n)).flat_map(|u| u.names.iter().cloned()).collect();
            set.extend(more);
        }
        Touched { names, deps }
    }

    /// Whether the user's directories change how `name` resolves (its unit).
    fn touches(&self, name: &str, base: &UserBase) -> bool {
        holds_a_key(&self.names, name, base)
    }

    /// Whether they change the unit or its dependencies (`.wants`/`.requires` links): a
    /// user's `timers.target.wants/` leaves `timers.target` as the shared directories have
    /// it, with the user's links among its dependencies.
    fn touches_deps(&self, name: &str, base: &UserBase) -> bool {
        self.touches(name, base) || holds_a_key(&self.deps, name, base)
    }
}

/// Whether `set` holds any of `name`'s keys (`touch_keys`).
fn holds_a_key(set: &FastSet<String>, name: &str, base: &UserBase) -> bool {
    if set.is_empty() {
        return false;
    }
    match base.keys.get(name) {
        Some(k) => k.iter().any(|s| set.contains(s)),
        // A name of the user's own (most names asked here are) is one of its own keys:
        // no list of them is built for it.
        None if set.contains(name) || set.contains(names::unit_type(name)) => true,
        None => touch_keys(std::iter::once(name)).iter().any(|s| set.contains(s)),
    }
}

/// Shared inputs of a collection run.
pub struct Shared<'a> {
    pub root: &'a Root,
    pub files: &'a FileCache,
    pub scans: &'a ScanCache,
    /// Where the shared (non-per-user) directories resolve, computed once: 10,000 user
    /// scopes would otherwise re-resolve the same ten paths.
    pub shared_dirs: &'a FastMap<String, Option<String>>,
    /// The global scope's units and edges, once collected (user scopes reuse them).
    pub user_base: Option<&'a UserBase>,
}

/// Resolves a search directory: its in-image path when it exists and is a directory.
pub fn resolve_dir(root: &Root, path: &str) -> Option<String> {
    match root.chase(path, true) {
        Ok(c) if c.exists && root.lstat(&c.path).is_ok_and(|md| md.is_dir()) => Some(c.path),
        _ => None,
    }
}

/// `resolve_dir` answered from what `record_chain` just stat'ed, when it can be: every
/// component a directory (the path resolves to itself) or one missing or not a directory
/// (it does not resolve). A link on the way needs the walk (`None`). Each user has eight
/// search directories of six components: walking them again was a third of a user's
/// stat-cache lookups.
fn by_chain(path: &str, chain: &[String], paths: &BTreeMap<String, FileMeta>) -> Option<Option<String>> {
    // A path that is not in normal form (`..`, `//`) is walked: `..` after a link is not
    // lexical.
    if chain.first().map(String::as_str) != Some(path) {
        return None;
    }
    for p in chain.iter().rev() {
        match paths.get(p) {
            // Missing or unreadable: the walk ends there without a directory.
            None => return Some(None),
            Some(m) if m.kind == FileKind::Symlink => return None,
            Some(m) if m.kind != FileKind::Dir => return Some(None),
            Some(_) => {}
        }
    }
    Some(Some(path.to_string()))
}

/// Collects a scope. User scopes report only what the user's own directories define or
/// change (the rest is the global scope) and are skipped when they have none.
pub fn collect_scope(sh: &Shared<'_>, specs: Vec<PathSpec>, m: &Manager<'_>, first_boot: bool) -> Option<ScopeOut> {
    let per_user_only = m.kind == ScopeKind::User;
    let mut paths = BTreeMap::new();
    let mut dirs = Vec::new();
    let mut layers: Vec<Layer> = Vec::new();
    let mut absent = Vec::new();
    let mut scan_warnings = Vec::new();
    for spec in specs {
        let record = !per_user_only || spec.per_user;
        let chain = if record { record_chain(sh.root, &spec.path, &mut paths) } else { Vec::new() };
        let resolved = match sh.shared_dirs.get(&spec.path) {
            Some(r) if !spec.per_user => r.clone(),
            _ => by_chain(&spec.path, &chain, &paths).unwrap_or_else(|| resolve_dir(sh.root, &spec.path)),
        };
        let mut dir = UnitDir {
            path: spec.path.clone(),
            role: spec.role,
            per_user: spec.per_user,
            resolved: resolved.clone(),
            duplicate_of: None,
            chain,
        };
        if let Some(res) = &resolved {
            if res != &spec.path && record {
                dir.chain.extend(record_chain(sh.root, res, &mut paths));
            }
            if let Some(first) = layers.iter().find(|l| &l.scan.dir == res) {
                dir.duplicate_of = Some(first.spec.path.clone());
            } else {
                // A user's own directories are read for that scope only: caching them
                // would hold every user's scan until the run ends.
                let scan = if spec.per_user {
                    Arc::new(scan_dir(sh.root, res, &mut scan_warnings))
                } else {
                    sh.scans.get(sh.root, res)
                };
                layers.push(Layer { spec, scan });
            }
        } else {
            absent.push(spec);
        }
        if record {
            dirs.push(dir);
        }
    }
    if per_user_only && !layers.iter().any(|l| l.spec.per_user) {
        return None;
    }
    let entries = match m.detail {
        super::Detail::Full => super::entries::inventory(&layers, per_user_only),
        super::Detail::Inventory => Vec::new(),
    };
    if !per_user_only {
        prefetch_fragments(sh, &layers);
    }
    let base = sh.user_base.filter(|_| per_user_only);
    let mut r = Resolver::new(sh.root, layers, absent, sh.files, base.map(|b| &b.names));
    let keep_base = m.kind == ScopeKind::Global;
    // Taken before any unit is loaded: the warnings are then the name map's own.
    let base_names = keep_base.then(|| r.base_names());
    let touched = base.map(|b| Arc::new(Touched::of(&r, b)));
    if let (Some(b), Some(t)) = (base, touched.clone()) {
        r.reuse = Some(Box::new(move |name: &str| (!t.touches(name, b)).then(|| b.units.get(name).cloned()).flatten()));
    }
    let mut wanted = if per_user_only { user_names(&r) } else { all_names(&r) };
    // A shared timer whose triggered unit the user's directories touch runs her version
    // of it in her manager: `~/.config/systemd/user/backup.service` next to an enabled
    // `/etc/systemd/user/backup.timer` is her code on the admin's schedule. One whose
    // `Unit=` names a unit after her (`%u-job.service`) triggers a unit of hers alone.
    // Such timers are hers too.
    if let (Some(b), Some(t)) = (base, &touched) {
        let hijacked: Vec<String> = b
            .units
            .values()
            .filter(|u| u.unit_type == "timer" && !wanted.contains(&u.name))
            .filter(|u| names::classify(&u.name) != Some(NameKind::Template))
            .filter(|u| {
                // Her template or drop-ins for an instance the shared graph pulls in, her
                // version of its service, or a unit named after her.
                if t.touches(&u.name, b) {
                    return true;
                }
                let hers = timer::triggered(u, m);
                t.touches(&hers, b) || timer::triggered_elsewhere(u, m, &hers)
            })
            .map(|u| u.name.clone())
            .collect();
        wanted.extend(hijacked);
    }
    let mut ids: BTreeMap<String, Arc<Unit>> = BTreeMap::new();
    if !per_user_only {
        r.preload(wanted.iter().map(String::as_str));
    }
    for n in &wanted {
        let u = r.load(n);
        ids.entry(u.name.clone()).or_insert(u);
    }
    let mut walked: FastMap<String, activation::Node> = FastMap::default();
    let graph = activation::walk(|name| {
        if let (Some(b), Some(t)) = (base, &touched)
            && !t.touches_deps(name, b)
            && let Some(d) = b.deps.get(name)
        {
            return Some(Cow::Borrowed(d));
        }
        let u = r.load(name);
        // Only a unit that loads gets a job, and only a job pulls in what the unit wants:
        // a masked, missing or refused one (a timer without a trigger, S34) pulls nothing.
        // The boot targets are assumed reached even without a file (fixture roots).
        let pulls = match u.load_state {
            LoadState::Loaded => true,
            LoadState::NotFound => activation::assumed_at_boot(name),
            _ => false,
        };
        let deps = if pulls { activation::deps_of(&mut r, &u) } else { Vec::new() };
        let out = (u.name.clone(), u.fragment.is_some(), deps);
        if keep_base {
            walked.insert(name.to_string(), out.clone());
        }
        Some(Cow::Owned(out))
    });
    // Graph targets are names as written (aliases, instances): key them by unit id.
    let mut into: BTreeMap<String, Vec<ActivationReason>> = BTreeMap::new();
    for (target, reasons) in graph.into {
        let u = r.load(&target);
        if !per_user_only && u.unit_type == "timer" {
            ids.entry(u.name.clone()).or_insert_with(|| Arc::clone(&u));
        }
        match into.get_mut(&u.name) {
            Some(v) => v.extend(reasons),
            None => {
                into.insert(u.name.clone(), reasons);
            }
        }
    }
    // Each unit's facts, and each timer's, on every thread for a shared scope (a
    // thousand units, before any user scope starts); what they note is taken in, and
    // each timer's service kept as `load` would keep it, in order afterwards.
    let one = |r: &Resolver<'_>, (id, u): (&String, &Arc<Unit>)| {
        let mut notes = Notes::default();
        let mut unit = (**u).clone();
        unit.file_state = install_state::file_state(r, &unit, id);
        let mut timer = None;
        if unit.unit_type == "timer" && names::classify(id) != Some(NameKind::Template) {
            let (mut t, svc) = timer::build(r, m, &unit, &mut notes);
            if t.triggers.is_empty() && unit.load_state == LoadState::Loaded {
                unit.load_state = LoadState::BadSetting; // S34: every trigger line was invalid
                unit.load_error = Some("timer unit lacks a valid trigger, refused (S34)".into());
            }
            t.activation = activation_of(r, &unit, &into, &t, first_boot);
            t.service_activation = into.get(&svc.name).cloned().unwrap_or_default();
            activation::mark_injected_links(&mut t.service_activation, &svc);
            timer = Some((t, svc));
        }
        (Arc::new(unit), timer, notes)
    };
    let mut units = Vec::with_capacity(ids.len());
    let mut timers = Vec::new();
    type Built = (Arc<Unit>, Option<(crate::model::Timer, Arc<Unit>)>, Notes);
    let mut take = |r: &mut Resolver<'_>, (unit, timer, notes): Built| {
        r.note(notes);
        if let Some((t, svc)) = timer {
            r.remember(&t.service, svc);
            timers.push(t);
        }
        units.push(unit);
    };
    if per_user_only {
        // A user's few units one by one, with no list of them in between.
        for kv in &ids {
            let built = one(&r, kv);
            take(&mut r, built);
        }
    } else {
        use rayon::prelude::*;
        let ids: Vec<_> = ids.iter().collect();
        let built: Vec<_> = ids.par_iter().with_max_len(super::UNITS_PER_TASK).map(|kv| one(&r, *kv)).collect();
        for b in built {
            take(&mut r, b);
        }
    }
    let unit_files = if per_user_only { BTreeMap::new() } else { unit_files(&mut r) };
    let mut warnings = std::mem::take(&mut r.warnings);
    warnings.append(&mut scan_warnings);
    paths.extend(std::mem::take(&mut r.paths));
    warnings.sort();
    warnings.dedup();
    let scope = Scope {
        kind: m.kind,
        user: m.user.map(|u| u.name.clone()),
        search_path: dirs,
        units,
        timers,
        unit_files,
        entries,
        paths: BTreeMap::new(),
    };
    let base = base_names.map(|names| UserBase::new(r.take_units(), walked, names));
    Some(ScopeOut { scope, paths, warnings, base })
}

/// Reads and parses, in parallel, the files the resolver is about to read one by one for
/// a shared scope: every unit name's first entry on the search path when it is a regular,
/// non-empty file (the fragment `load` reads for that name, with that name's type). The
/// system scope of a host is a thousand files read before any user scope can start.
/// Drop-ins and links are left to the resolver: which of them are read depends on what
/// else the path holds.
fn prefetch_fragments(sh: &Shared<'_>, layers: &[Layer]) {
    use rayon::prelude::*;
    let mut first: FastSet<&str> = FastSet::default();
    let mut todo: Vec<(&str, &str)> = Vec::new();
    for l in layers {
        for (n, e) in &l.scan.units {
            if first.insert(n.as_str())
                && names::classify(n).is_some()
                && e.meta.kind == crate::model::FileKind::File
                && !e.null
            {
                todo.push((e.path.as_str(), names::unit_type(n)));
            }
        }
    }
    todo.par_iter().with_max_len(super::UNITS_PER_TASK).for_each(|(path, ty)| {
        sh.files.load(sh.root, path, ty);
    });
}

/// `list-unit-files`: visible unit-named entries of every directory, first one wins.
fn unit_files(r: &mut Resolver<'_>) -> BTreeMap<String, crate::model::UnitFileState> {
    let mut names = BTreeSet::new();
    for l in &r.layers {
        names.extend(l.scan.units.keys().filter(|n| !names::hidden_or_backup(n)).cloned());
    }
    let mut out = BTreeMap::new();
    for n in names {
        let u = r.load(&n);
        if let Some(st) = install_state::file_state(r, &u, &n) {
            out.insert(n, st);
        }
    }
    out
}

/// System and global scopes: every unit name on the path, and every name a dependency
/// link pulls in (instances like `job@alpha.timer` exist only as links).
fn all_names(r: &Resolver<'_>) -> BTreeSet<String> {
    let mut v: BTreeSet<String> = r.known_names().cloned().collect();
    for l in &r.layers {
        for sub in l.scan.deps.values() {
            v.extend(sub.entries.iter().filter(|e| names::classify(&e.name).is_some()).map(|e| e.name.clone()));
        }
        // A user's manager with drop-ins of its own (`user@1000.service.d/`): what it is
        // started with places her unit directories (`user_manager`).
        v.extend(l.scan.dropins.keys().filter(|n| super::user_manager::instance_uid(n).is_some()).cloned());
    }
    v
}

/// User scopes: names the user's own directories define, link or drop into. A
/// type-level or dash-prefix drop-in of the user's changes shared units too.
fn user_names(r: &Resolver<'_>) -> BTreeSet<String> {
    let mut v = BTreeSet::new();
    let mut broad: Vec<String> = Vec::new();
    for l in r.layers.iter().filter(|l| l.spec.per_user) {
        v.extend(l.scan.units.keys().cloned());
        for sub in l.scan.deps.values() {
            v.extend(sub.entries.iter().filter(|e| names::classify(&e.name).is_some()).map(|e| e.name.clone()));
        }
        for stem in l.scan.dropins.keys() {
            match names::classify(stem) {
                Some(NameKind::Plain) if !names::prefix(stem).ends_with('-') => {
                    v.insert(stem.clone());
                }
                Some(_) => broad.push(stem.clone()),
                None => broad.push(stem.clone()), // a type-level dir such as `timer`
            }
        }
    }
    if !broad.is_empty() {
        let all = all_names(r);
        for n in all {
            let stems = super::dropins::dir_stems(&n);
            if broad.iter().any(|b| stems.contains(b) || b == names::unit_type(&n)) {
                v.insert(n);
            }
        }
    }
    v
}

/// Why (and whether) a timer runs: boot-graph edges, links whose owner is not reached,
/// and transient/generated origins.
fn activation_of(
    r: &Resolver<'_>,
    unit: &Unit,
    into: &BTreeMap<String, Vec<ActivationReason>>,
    t: &crate::model::Timer,
    first_boot: bool,
) -> crate::model::Activation {
    let mut reasons: Vec<ActivationReason> = into.get(&unit.name).cloned().unwrap_or_default();
    for l in activation::links_named(r, &unit.names) {
        if let ActivationReason::Link { path, .. } = &l {
            let dup = reasons.iter().any(|x| matches!(x, ActivationReason::Link { path: p, .. } if p == path));
            if !dup {
                reasons.push(l);
            }
        }
    }
    if let Some(f) = &unit.fragment {
        if f.role == DirRole::Transient {
            reasons.push(ActivationReason::Transient { path: f.path.clone() });
        } else if f.role.is_generator() {
            reasons.push(ActivationReason::Generated { path: f.path.clone() });
        }
    }
    activation::mark_injected_links(&mut reasons, unit);
    // S20: enable-only preset-all at first boot re-enables a disabled unit.
    if first_boot
        && unit.file_state == Some(crate::model::UnitFileState::Disabled)
        && let Some(p) = t.preset.as_ref().filter(|p| p.enable)
    {
        reasons.push(ActivationReason::Preset { file: p.file.clone().unwrap_or_default(), line: p.line.unwrap_or(0) });
    }
    let loads = unit.load_state == LoadState::Loaded && !t.triggers.is_empty();
    let state = match unit.load_state {
        LoadState::Masked => "masked",
        LoadState::NotFound => "not-found",
        LoadState::BadSetting | LoadState::Error => "bad",
        LoadState::Loaded if t.triggers.is_empty() => "bad",
        LoadState::Loaded => activation::state_word(&reasons),
    };
    let runs = reasons.iter().any(|x| match x {
        ActivationReason::Link { boot, .. } | ActivationReason::Dependency { boot, .. } => *boot,
        ActivationReason::Transient { .. } | ActivationReason::Preset { .. } => true,
        ActivationReason::Generated { .. } => false,
    });
    crate::model::Activation { state: state.into(), will_run: loads && runs, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S10: whether a user's directories touch a name is whether they hold any of its
    /// keys (its type, its drop-in stems), also for names the shared directories do not
    /// have, where a user's own name (or type) answers without its keys being built.
    #[test]
    fn s10_a_name_is_touched_when_a_users_directories_hold_one_of_its_keys() {
        let held = ["sync-notes.timer", "backup-.service", "job@.timer", "path", "x-y.service"];
        let touched = Touched { names: held.iter().map(|s| s.to_string()).collect(), deps: FastSet::default() };
        let base = UserBase::default();
        let by_keys = |n: &str| touch_keys(std::iter::once(n)).iter().any(|k| touched.names.contains(k));
        let names = [
            "sync-notes.timer",
            "sync-notes.service",
            "backup-daily.service",
            "backup-daily.timer",
            "job@a.timer",
            "job@a.service",
            "home.path",
            "x-y.service",
            "x-y-z.service",
            "other.target",
        ];
        for n in names {
            assert_eq!(touched.touches(n, &base), by_keys(n), "{n}");
        }
        let yes: Vec<&str> = names.into_iter().filter(|n| touched.touches(n, &base)).collect();
        assert_eq!(
            yes,
            // `x-y-z.service`'s stems are `x-y-.service` and `x-.service`, not `x-y.service`.
            ["sync-notes.timer", "backup-daily.service", "job@a.timer", "home.path", "x-y.service"]
        );
        let none = Touched { names: FastSet::default(), deps: FastSet::default() };
        assert!(!none.touches("sync-notes.timer", &base));
    }

    /// S1/S16: a search directory answered from its parent chain resolves as the walk
    /// does; a link on the way is left to the walk.
    #[test]
    fn s16_a_search_directory_resolved_from_its_chain_is_the_walked_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for dir in ["home/a/.config/systemd/user", "home/b/dotfiles/systemd/user", "home/c/.config", "srv"] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("dotfiles", p.join("home/b/.config")).unwrap();
        std::fs::write(p.join("home/c/.config/systemd"), "").unwrap();
        std::os::unix::fs::symlink("/srv", p.join("home/d")).unwrap();
        let root = Root::open(p).unwrap();
        let cases = [
            ("/home/a/.config/systemd/user", Some(Some("/home/a/.config/systemd/user"))),
            ("/home/b/.config/systemd/user", None),            // a link: walked
            ("/home/c/.config/systemd/user", Some(None)),      // a file on the way
            ("/home/a/.local/share/systemd/user", Some(None)), // missing
            ("/home/d/x", None),
            ("/home/a/../a/.config/systemd/user", None), // not in normal form: walked
            ("/home/a/.config/systemd/user/", None),
        ];
        for (path, want) in cases {
            let mut paths = BTreeMap::new();
            let chain = record_chain(&root, path, &mut paths);
            let got = by_chain(path, &chain, &paths);
            assert_eq!(got, want.map(|w| w.map(String::from)), "{path}");
            if let Some(answer) = got {
                assert_eq!(answer, resolve_dir(&root, path), "{path}: as the walk");
            }
        }
        assert_eq!(
            resolve_dir(&root, "/home/b/.config/systemd/user").as_deref(),
            Some("/home/b/dotfiles/systemd/user")
        );
    }
}
