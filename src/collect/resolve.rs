//! Unit resolution for one manager scope: the name map (`unit_file_build_name_map`),
//! fragment lookup with aliases and templates (`unit_file_find_fragment`), masks,
//! drop-ins, and the merged effective settings (S4–S14, S28).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::FastMap;
use super::dropins;
use super::files::{FileCache, Loaded};
use super::names::{self, NameKind};
use super::paths::PathSpec;
use super::root::{self, Root};
use super::scan::{DirScan, Entry};
use super::schema::Merge;
use super::stat;
use crate::model::{FileKind, FileMeta, FileRef, LoadState, Setting, SettingMap, Unit, Warning};

mod name_map;
pub use name_map::BaseNames;
use name_map::{Id, Overlay};

/// One existing, de-duplicated directory of a scope's search path.
pub struct Layer {
    pub spec: PathSpec,
    pub scan: Arc<DirScan>,
}

/// A unit as another scope already resolved it, when it resolves the same here.
pub type Reuse<'a> = Box<dyn Fn(&str) -> Option<Arc<Unit>> + Send + Sync + 'a>;

/// What loading a unit notes besides the unit: its files' warnings and the metadata of
/// the link targets it followed. Kept apart so that units can be loaded on every thread.
#[derive(Default)]
pub struct Notes {
    pub warnings: Vec<Warning>,
    pub paths: BTreeMap<String, FileMeta>,
}

impl Notes {
    fn take_in(&mut self, other: Notes) {
        other.move_into(&mut self.warnings, &mut self.paths);
    }

    fn move_into(mut self, warnings: &mut Vec<Warning>, paths: &mut BTreeMap<String, FileMeta>) {
        warnings.append(&mut self.warnings);
        paths.extend(self.paths); // not `append`: that rebuilds the whole map each time
    }
}

/// Resolves and memoises units of one scope.
pub struct Resolver<'a> {
    pub root: &'a Root,
    pub layers: Vec<Layer>,
    /// Search directories that do not exist: still on the search path, so a link into
    /// one is an alias (followed by name), not a linked unit file (S5, S9).
    absent: Vec<PathSpec>,
    files: &'a FileCache,
    /// Files of the scope's own (per-user) directories: parsed for this scope only.
    local: FileCache,
    ids: FastMap<String, Id>,
    /// main name → names that point to it (aliases), including itself when it has a file
    /// (not a shared entry's own name: `reverse_of`).
    reverse: FastMap<String, Vec<String>>,
    /// For user scopes: the shared directories' part of the name map (`BaseNames`).
    base: Option<Overlay<'a>>,
    units: FastMap<String, Arc<Unit>>,
    /// Installed `[Install]` of fragments, by fragment path (install.c reads only those).
    pub paths: BTreeMap<String, FileMeta>,
    pub warnings: Vec<Warning>,
    /// For user scopes: a unit their own directories do not touch, as the shared
    /// directories resolve it (`scope::UserBase`).
    pub reuse: Option<Reuse<'a>>,
    /// A user manager's (the global scope's or a user's), not the system manager's: it
    /// accepts fewer `SuccessAction=`s.
    user_manager: bool,
}

impl<'a> Resolver<'a> {
    /// A scope's resolver; a user scope passes the shared directories' name map, which it
    /// uses where that is exact.
    pub fn new(
        root: &'a Root,
        layers: Vec<Layer>,
        absent: Vec<PathSpec>,
        files: &'a FileCache,
        base: Option<&'a BaseNames>,
    ) -> Self {
        let user_manager = !layers.iter().map(|l| &l.spec).chain(&absent).any(|s| s.path == "/etc/systemd/system");
        let mut r = Resolver {
            user_manager,
            root,
            layers,
            absent,
            files,
            local: FileCache::default(),
            ids: FastMap::default(),
            reverse: FastMap::default(),
            base: None,
            units: FastMap::default(),
            paths: BTreeMap::new(),
            warnings: Vec::new(),
            reuse: None,
        };
        r.base = base.and_then(|b| r.overlay(b));
        r.build_name_map();
        r
    }

    pub fn scans(&self) -> Vec<&DirScan> {
        self.layers.iter().map(|l| l.scan.as_ref()).collect()
    }

    /// The names of a unit (`add_names`).
    fn add_names(
        &self,
        kind: NameKind,
        inst: Option<&str>,
        frag_base: Option<&str>,
        set: &mut BTreeSet<String>,
        name: &str,
    ) {
        if kind != NameKind::Template && names::classify(name) != Some(NameKind::Template) {
            set.insert(name.to_string());
        }
        for alias in self.reverse_of(name) {
            match (kind, inst, names::classify(alias)) {
                (NameKind::Instance, Some(i), Some(NameKind::Template)) => {
                    let n = names::with_instance(alias, i);
                    if let (Ok((_, e)), Some(fb)) = (self.ids_get(&n), frag_base)
                        && e.name != fb
                    {
                        continue; // that instance has a fragment of its own
                    }
                    set.insert(n);
                }
                (NameKind::Instance, _, Some(NameKind::Template)) => {}
                _ => {
                    set.insert(alias.clone());
                }
            }
        }
    }

    /// Loads a unit by name, memoised (every name of a unit maps to the same value).
    pub fn load(&mut self, name: &str) -> Arc<Unit> {
        if let Some(u) = self.units.get(name) {
            return Arc::clone(u);
        }
        let (u, notes) = self.load_new(name);
        self.keep(name, &u, notes);
        u
    }

    /// Loads, in parallel, each of `names` not loaded yet: what `load` would do for each
    /// in turn, with the same result. A system scope resolves a thousand units before
    /// any user scope starts, on one thread while the other waits.
    pub fn preload<'n>(&mut self, names: impl IntoIterator<Item = &'n str>) {
        use rayon::prelude::*;
        let todo: Vec<&str> = names.into_iter().filter(|n| !self.units.contains_key(*n)).collect();
        let this = &*self;
        let done: Vec<(Arc<Unit>, Notes)> =
            todo.par_iter().with_max_len(super::UNITS_PER_TASK).map(|n| this.load_new(n)).collect();
        for (n, (u, notes)) in todo.into_iter().zip(done) {
            if !self.units.contains_key(n) {
                self.keep(n, &u, notes); // a name given twice is kept once, as `load` would
            }
        }
    }

    fn load_new(&self, name: &str) -> (Arc<Unit>, Notes) {
        let mut notes = Notes::default();
        let u = match self.reuse.as_ref().and_then(|f| f(name)) {
            Some(u) => u,
            None => Arc::new(self.load_uncached(name, &mut notes)),
        };
        (u, notes)
    }

    fn keep(&mut self, name: &str, u: &Arc<Unit>, notes: Notes) {
        self.units.insert(name.to_string(), Arc::clone(u));
        self.note(notes);
    }

    /// Takes in what a unit's loading, or a timer's building, noted on another thread.
    pub fn note(&mut self, notes: Notes) {
        notes.move_into(&mut self.warnings, &mut self.paths);
    }

    /// Keeps a unit `load_shared` loaded under `name` (its notes taken in with `note`),
    /// as `load` would have: the first one loaded under a name stays.
    pub fn remember(&mut self, name: &str, u: Arc<Unit>) {
        if !self.units.contains_key(name) {
            self.units.insert(name.to_string(), u);
        }
    }

    /// `load` for a caller on any thread: a unit not loaded yet is loaded for it (its
    /// notes in `notes`) and not kept.
    pub fn load_shared(&self, name: &str, notes: &mut Notes) -> Arc<Unit> {
        if let Some(u) = self.units.get(name) {
            return Arc::clone(u);
        }
        let (u, n) = self.load_new(name);
        notes.take_in(n);
        u
    }

    fn load_uncached(&self, name: &str, notes: &mut Notes) -> Unit {
        let unit_type = names::unit_type(name).to_string();
        let mut unit = Unit {
            name: name.to_string(),
            names: vec![name.to_string()],
            unit_type: unit_type.clone(),
            load_state: LoadState::NotFound,
            load_error: None,
            fragment: None,
            dropins: Vec::new(),
            settings: Default::default(),
            file_state: None,
            hidden: names::hidden_or_backup(name),
        };
        let Some(kind) = names::classify(name) else {
            unit.load_error = Some("invalid unit name".into());
            return unit;
        };
        let inst = names::instance(name).map(str::to_string);
        let mut set = BTreeSet::new();
        self.add_names(kind, inst.as_deref(), None, &mut set, name);
        let mut frag = self.ids_get(name).ok();
        if frag.is_none() && kind == NameKind::Instance {
            frag = names::template_of(name).and_then(|t| self.ids_get(&t).ok());
        }
        let frag = frag.map(|(l, e)| (l, e.clone())); // the loading below needs `&mut self`
        let mut main = name.to_string();
        if let Some((_, e)) = &frag {
            if e.name != name {
                self.add_names(kind, inst.as_deref(), Some(&e.name), &mut set, &e.name.clone());
            }
            main = match (&inst, names::classify(&e.name)) {
                (Some(i), Some(NameKind::Template)) => names::with_instance(&e.name, i),
                _ => e.name.clone(),
            };
        }
        set.insert(main.clone());
        if kind == NameKind::Template {
            set.retain(|n| names::classify(n) == Some(NameKind::Template));
        }
        unit.names = set.into_iter().collect();
        let aliases: Vec<String> = unit.names.iter().filter(|n| **n != main).cloned().collect();
        unit.name = main.clone();

        let mut content: Vec<(String, Arc<Loaded>)> = Vec::new();
        if let Some((li, e)) = frag {
            let fref = self.file_ref_to(li, &e, &mut notes.paths);
            let null = fref.null;
            let read_from = fref.target.as_ref().and_then(|t| t.resolved.clone()).unwrap_or_else(|| e.path.clone());
            unit.hidden |= e.hidden;
            unit.fragment = Some(fref);
            if null {
                unit.load_state = LoadState::Masked;
                return unit;
            }
            let loaded = applied(self.cache(Some(li)).load(self.root, &read_from, &unit_type), &unit_type);
            if let Some(f) = unit.fragment.as_mut() {
                f.sha256 = loaded.sha256().cloned();
            }
            if let Some(err) = loaded.fatal() {
                // A fatal setting before the line that stops the file makes it a bad
                // setting: systemd stops at whichever comes first.
                let bad_setting = loaded.stopped_at_setting();
                unit.load_state = if bad_setting { LoadState::BadSetting } else { LoadState::Error };
                unit.load_error = Some(err.clone());
                file_warnings(&mut notes.warnings, &e.path, &loaded);
                return unit;
            }
            unit.load_state = LoadState::Loaded;
            content.push((e.path.clone(), loaded));
        }
        let scans = self.scans();
        let dirs = dropins::applicable(&scans, &main, &aliases, &unit_type, dropins::Pick::DropIns);
        let merged: Vec<(usize, Entry)> = dropins::merge(&dirs).into_iter().map(|(l, e)| (l, e.clone())).collect();
        drop(scans);
        for (li, e) in merged {
            let mut fref = self.file_ref_to(li, &e, &mut notes.paths);
            if !fref.null {
                let read_from = fref.target.as_ref().and_then(|t| t.resolved.clone()).unwrap_or_else(|| e.path.clone());
                let loaded = applied(self.cache(Some(li)).load(self.root, &read_from, &unit_type), &unit_type);
                fref.sha256 = loaded.sha256().cloned();
                content.push((e.path.clone(), loaded));
            }
            unit.dropins.push(fref);
        }
        for (path, loaded) in &content {
            file_warnings(&mut notes.warnings, path, loaded);
        }
        unit.settings = Arc::new(merge_settings(&content));
        if unit.load_state == LoadState::Loaded && unit_type == "timer" && !has_trigger(&unit.settings) {
            unit.load_state = LoadState::BadSetting;
            unit.load_error = Some("timer unit lacks value setting (no trigger), refused (S34)".into());
        }
        if unit.load_state == LoadState::Loaded
            && unit_type == "service"
            && let Some(why) = super::service_check::refusal(&content, &unit.settings, self.user_manager)
        {
            unit.load_state = LoadState::BadSetting;
            unit.load_error = Some(why);
        }
        unit
    }

    /// Describes a fragment or drop-in entry; follows a symlink chroot-style, noting the
    /// metadata of what it passes in `paths`.
    fn file_ref_to(&self, li: usize, e: &Entry, paths: &mut BTreeMap<String, FileMeta>) -> FileRef {
        let layer = &self.layers[li];
        let target = (e.meta.kind == FileKind::Symlink).then(|| stat::path_fact(self.root, &e.path, paths));
        FileRef {
            path: e.path.clone(),
            dir: layer.spec.path.clone(),
            role: layer.spec.role,
            meta: e.meta.clone(),
            null: e.null,
            target,
            hidden: e.hidden,
            sha256: None,
        }
    }

    /// Every unit loaded so far, by each name it was asked by.
    pub fn take_units(&mut self) -> FastMap<String, Arc<Unit>> {
        std::mem::take(&mut self.units)
    }

    /// The fragment's own `[Install]` assignments (install.c ignores drop-ins).
    pub fn install_section(&self, unit: &Unit) -> Vec<(String, String)> {
        let Some(f) = &unit.fragment else { return Vec::new() };
        let from = f.target.as_ref().and_then(|t| t.resolved.clone()).unwrap_or_else(|| f.path.clone());
        let loaded = self.cache(self.layer_of(&f.path)).load(self.root, &from, &unit.unit_type);
        loaded.assignments().filter(|a| a.section == "Install").map(|a| (a.key.clone(), a.value.clone())).collect()
    }

    /// Where a file of layer `li` is parsed and kept: the run's cache for shared
    /// directories, this scope's for a user's own.
    fn cache(&self, li: Option<usize>) -> &FileCache {
        match li {
            Some(i) if self.layers[i].spec.per_user => &self.local,
            _ => self.files,
        }
    }

    /// The search-directory index of the layer that holds a path, if any.
    pub fn layer_of(&self, path: &str) -> Option<usize> {
        self.layers.iter().position(|l| root::parent(path) == l.scan.dir)
    }
}

fn file_warnings(out: &mut Vec<Warning>, path: &str, loaded: &Loaded) {
    for (line, msg) in loaded.warnings() {
        out.push(Warning { path: path.to_string(), line: Some(line), message: msg });
    }
}

/// A file as systemd applies it to a unit of `unit_type`: a service's file stops at its
/// first fatal setting (`service_check::cut_at_fatal`). Not in the file cache: install.c
/// reads the `[Install]` lines after such a line all the same.
fn applied(loaded: Arc<Loaded>, unit_type: &str) -> Arc<Loaded> {
    match unit_type {
        "service" => super::service_check::cut_at_fatal(&loaded).map_or(loaded, Arc::new),
        _ => loaded,
    }
}

/// Applies assignments in order: lists accumulate and reset on empty; single values are
/// replaced (S28), unless systemd ignores the new value (an invalid boolean or span). An
/// empty trigger resets every trigger of the timer.
pub(super) fn merge_settings(content: &[(String, Arc<Loaded>)]) -> SettingMap {
    let mut map = SettingMap::new();
    for (path, loaded) in content {
        for a in loaded.assignments() {
            // Looked up before copied: most lines go to a section that is there already.
            let sec = match map.get_mut(a.section) {
                Some(sec) => sec,
                None => map.entry(a.section.to_string()).or_default(),
            };
            if super::schema::value_ignored(a.section, &a.key, &a.value) {
                continue; // systemd ignores it: the value before stays (S29)
            }
            let merge = super::schema::merge_of(a.section, &a.key);
            if merge == Merge::List && a.value.is_empty() {
                let keys = super::schema::reset_together(a.section, &a.key);
                for k in keys.unwrap_or(&[]).iter().copied().chain(keys.is_none().then_some(a.key.as_str())) {
                    sec.remove(k);
                }
                continue;
            }
            let s = Setting { value: a.value.clone(), file: path.clone(), line: a.line };
            match sec.get_mut(&a.key) {
                Some(v) => {
                    // A later single value replaces the earlier one (S28).
                    if merge == Merge::Last {
                        v.clear();
                    }
                    v.push(s);
                }
                None => {
                    sec.insert(a.key.clone(), vec![s]);
                }
            }
        }
    }
    map.retain(|_, v| !v.is_empty());
    map
}

/// `timer_verify`: a timer needs a trigger line, or `OnClockChange=`/`OnTimezoneChange=`
/// (it then runs whenever the clock or the zone changes).
fn has_trigger(s: &SettingMap) -> bool {
    let lines = s
        .get("Timer")
        .is_some_and(|t| super::schema::TRIGGER_KEYS.iter().any(|k| t.get(*k).is_some_and(|v| !v.is_empty())));
    lines || super::timer::change_triggers(s).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn resolver<'a>(root: &'a Root, files: &'a FileCache) -> Resolver<'a> {
        let mut w = Vec::new();
        let layers = super::super::paths::system_paths()
            .into_iter()
            .filter_map(|spec| {
                let dir = super::super::scope::resolve_dir(root, &spec.path)?;
                Some(Layer { spec, scan: Arc::new(super::super::scan::scan_dir(root, &dir, &mut w)) })
            })
            .collect();
        Resolver::new(root, layers, Vec::new(), files, None)
    }

    /// S4–S14: units loaded on every thread (`preload`) are the units `load` gives one
    /// at a time, with the same warnings and link-target metadata: aliases, alias
    /// chains, templates and instances, masks, linked and dangling fragments, drop-ins,
    /// a shadowed vendor file, a file with bad lines, names without a file.
    #[test]
    fn s5_units_preloaded_in_parallel_are_the_units_loaded_one_by_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let (etc, lib) = (p.join("etc/systemd/system"), p.join("usr/lib/systemd/system"));
        for dir in [&etc, &lib, &etc.join("a.service.d"), &etc.join("service.d"), &p.join("opt")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let w = |dir: &std::path::Path, f: &str, s: &str| std::fs::write(dir.join(f), s).unwrap();
        w(&etc, "a.timer", "[Timer]\nOnCalendar=daily\n");
        w(&lib, "a.timer", "[Timer]\nOnCalendar=weekly\n");
        w(&etc, "a.service", "[Service]\nExecStart=/bin/a\n");
        w(&etc.join("a.service.d"), "x.conf", "[Service]\nNice=5\nExecStart=\nExecStart=/bin/b\n");
        w(&etc.join("service.d"), "top.conf", "[Service]\nNice=1\n");
        w(&p.join("opt"), "c.service", "[Service]\nExecStart=/bin/c\n");
        w(&lib, "t@.service", "[Service]\nExecStart=/bin/t %i\n");
        w(&lib, "g.timer", "[Timer]\nOnBootSec=5\n");
        w(&etc, "bad.service", "[Service]\nExecStart=/bin/x\nthis is not a line\n[Nope]\nK=v\n");
        w(&etc, "notrigger.timer", "[Timer]\nPersistent=yes\n");
        for (from, to) in [
            ("b.timer", "a.timer"),
            ("b2.timer", "b.timer"),
            ("c.service", "/opt/c.service"),
            ("d.service", "/dev/null"),
            ("t@x.service", "t@.service"),
            ("f.service", "/nope/f.service"),
            ("loop1.service", "loop2.service"),
            ("loop2.service", "loop1.service"),
        ] {
            symlink(to, etc.join(from)).unwrap();
        }
        let root = Root::open(p).unwrap();
        let names = [
            "a.timer",
            "b.timer",
            "b2.timer",
            "a.service",
            "c.service",
            "d.service",
            "t@.service",
            "t@x.service",
            "t@y.service",
            "f.service",
            "loop1.service",
            "g.timer",
            "bad.service",
            "notrigger.timer",
            "missing.service",
            "not a name",
            "a.timer",
        ];
        let (f1, f2) = (FileCache::default(), FileCache::default());
        let (mut one, mut all) = (resolver(&root, &f1), resolver(&root, &f2));
        all.preload(names);
        for n in names {
            let (a, b) = (one.load(n), all.load(n));
            assert_eq!(serde_json::to_string(&*a).unwrap(), serde_json::to_string(&*b).unwrap(), "{n}");
        }
        let (mut w1, mut w2) = (one.warnings.clone(), all.warnings.clone());
        w1.sort();
        w2.sort();
        assert_eq!(w1, w2);
        assert!(w1.iter().any(|w| w.path.ends_with("bad.service")), "{w1:?}");
        assert_eq!(one.paths, all.paths);
        assert!(one.paths.contains_key("/opt"), "a linked fragment's target chain: {:?}", one.paths.keys());
        assert_eq!(
            one.load("t@x.service").fragment.as_ref().map(|f| f.path.as_str()),
            Some("/usr/lib/systemd/system/t@.service")
        );
    }

    /// S28: in file order across the fragment and its drop-ins, a single-valued key keeps
    /// only its last assignment, a list key accumulates, an empty list assignment resets
    /// that key, and an empty trigger resets every trigger of the timer.
    /// The settings of a unit file of `unit_type` and its drop-in `x.conf`, merged.
    fn merged(unit_type: &str, fragment: &str, dropin: &str) -> SettingMap {
        let d = tempfile::tempdir().unwrap();
        let name = format!("a.{unit_type}");
        std::fs::write(d.path().join(&name), fragment).unwrap();
        std::fs::write(d.path().join("x.conf"), dropin).unwrap();
        let root = Root::open(d.path()).unwrap();
        let files = FileCache::default();
        let content: Vec<(String, Arc<Loaded>)> = [format!("/{name}"), "/x.conf".into()]
            .into_iter()
            .map(|p| {
                let loaded = files.load(&root, &p, unit_type);
                (p, loaded)
            })
            .collect();
        merge_settings(&content)
    }

    #[test]
    fn s28_merge_replaces_single_values_and_accumulates_lists() {
        let map = merged(
            "timer",
            "[Unit]\nDescription=one\nDescription=two\n[Timer]\nOnCalendar=daily\nOnBootSec=5\nPersistent=yes\n",
            "[Timer]\nPersistent=no\nOnCalendar=\nOnCalendar=weekly\nOnCalendar=hourly\n[Unit]\nAfter=b.service\nAfter=\nAfter=c.service\n",
        );
        let got = |sec: &str, key: &str| -> Vec<(String, String, u32)> {
            map.get(sec)
                .and_then(|s| s.get(key))
                .map(|v| v.iter().map(|s| (s.value.clone(), s.file.clone(), s.line)).collect())
                .unwrap_or_default()
        };
        let at = |v: &str, f: &str, l: u32| (v.to_string(), f.to_string(), l);
        assert_eq!(got("Unit", "Description"), [at("two", "/a.timer", 3)]);
        assert_eq!(got("Timer", "Persistent"), [at("no", "/x.conf", 2)]);
        assert_eq!(got("Timer", "OnCalendar"), [at("weekly", "/x.conf", 4), at("hourly", "/x.conf", 5)]);
        assert_eq!(got("Timer", "OnBootSec"), [], "the empty OnCalendar= reset every trigger");
        assert_eq!(got("Unit", "After"), [at("c.service", "/x.conf", 9)]);
        assert_eq!(map.get("Timer").map(|t| t.len()), Some(2), "{map:?}");
    }

    /// S28, S41: the lists of what a service's commands see accumulate across the
    /// fragment and its drop-ins, and an empty `BindPaths=` or `BindReadOnlyPaths=`
    /// resets both lists of binds (systemd.exec(5)).
    #[test]
    fn s28_a_services_mount_lists_accumulate_and_binds_reset_together() {
        let map = merged(
            "service",
            "[Service]\nBindReadOnlyPaths=/a:/b\nBindPaths=/c\nTemporaryFileSystem=/t\nMountImages=/i:/m\n\
             ExtensionDirectories=/e\nStateDirectory=s\n",
            "[Service]\nBindPaths=\nBindReadOnlyPaths=/d:/e\nTemporaryFileSystem=/u\nMountImages=/j:/n\n\
             ExtensionDirectories=/f\nStateDirectory=t\n",
        );
        let got = |key: &str| -> Vec<&str> {
            let values = map.get("Service").and_then(|s| s.get(key));
            values.map(|v| v.iter().map(|s| s.value.as_str()).collect()).unwrap_or_default()
        };
        assert_eq!(got("BindPaths"), Vec::<&str>::new(), "reset by the empty BindPaths=");
        assert_eq!(got("BindReadOnlyPaths"), ["/d:/e"], "the one before the reset is gone too");
        assert_eq!(got("TemporaryFileSystem"), ["/t", "/u"]);
        assert_eq!(got("MountImages"), ["/i:/m", "/j:/n"]);
        assert_eq!(got("ExtensionDirectories"), ["/e", "/f"]);
        assert_eq!(got("StateDirectory"), ["s", "t"]);
    }
}
