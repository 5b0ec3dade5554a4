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
use super::stat;
use crate::model::{FileKind, FileMeta, FileRef, LoadState, Setting, SettingMap, Unit, Warning};

/// systemd's `FOLLOW_MAX` for alias chains.
const FOLLOW_MAX: usize = 8;

/// One existing, de-duplicated directory of a scope's search path.
pub struct Layer {
    pub spec: PathSpec,
    pub scan: Arc<DirScan>,
}

/// What a name maps to in a scope.
#[derive(Debug, Clone)]
enum Id {
    /// A unit file (or linked file, or mask) at this entry.
    Path { layer: usize, name: String },
    /// A symlink inside the search path: an alias to another name (S5, S9).
    Alias(String),
}

/// A unit as another scope already resolved it, when it resolves the same here.
pub type Reuse<'a> = Box<dyn Fn(&str) -> Option<Arc<Unit>> + 'a>;

/// Resolves and memoises units of one scope.
pub struct Resolver<'a> {
    pub root: &'a Root,
    pub layers: Vec<Layer>,
    files: &'a FileCache,
    /// Files of the scope's own (per-user) directories: parsed for this scope only.
    local: FileCache,
    ids: FastMap<String, Id>,
    /// main name → names that point to it (aliases), including itself when it has a file.
    reverse: FastMap<String, Vec<String>>,
    units: FastMap<String, Arc<Unit>>,
    /// Installed `[Install]` of fragments, by fragment path (install.c reads only those).
    pub paths: BTreeMap<String, FileMeta>,
    pub warnings: Vec<Warning>,
    /// For user scopes: a unit their own directories do not touch, as the shared
    /// directories resolve it (`scope::UserBase`).
    pub reuse: Option<Reuse<'a>>,
}

impl<'a> Resolver<'a> {
    pub fn new(root: &'a Root, layers: Vec<Layer>, files: &'a FileCache) -> Self {
        let mut r = Resolver {
            root,
            layers,
            files,
            local: FileCache::default(),
            ids: FastMap::default(),
            reverse: FastMap::default(),
            units: FastMap::default(),
            paths: BTreeMap::new(),
            warnings: Vec::new(),
            reuse: None,
        };
        r.build_name_map();
        r
    }

    pub fn scans(&self) -> Vec<&DirScan> {
        self.layers.iter().map(|l| l.scan.as_ref()).collect()
    }

    /// Every name that has an entry on the search path.
    pub fn known_names(&self) -> impl Iterator<Item = &String> {
        self.ids.keys()
    }

    fn warn(&mut self, path: &str, message: String) {
        self.warnings.push(Warning { path: path.to_string(), line: None, message });
    }

    /// True when an in-image path lies in one of the search directories.
    fn in_search_path(&self, p: &str) -> bool {
        self.layers.iter().any(|l| {
            [l.spec.path.as_str(), l.scan.dir.as_str()]
                .iter()
                .any(|d| p.strip_prefix(d).is_some_and(|t| t.starts_with('/')))
        })
    }

    fn build_name_map(&mut self) {
        for li in 0..self.layers.len() {
            let scan = Arc::clone(&self.layers[li].scan);
            for (name, e) in &scan.units {
                if self.ids.contains_key(name) {
                    continue; // shadowed by a higher directory (S4)
                }
                if let Some(id) = self.classify_entry(li, e) {
                    self.ids.insert(name.clone(), id);
                }
            }
        }
        let mut pairs = Vec::with_capacity(self.ids.len());
        for src in self.ids.keys() {
            let Ok((_, e)) = self.ids_get(src) else { continue };
            if e.null {
                continue;
            }
            let mut dst = e.name.clone();
            if names::classify(&dst) == Some(NameKind::Template)
                && let Some(inst) = names::instance(src)
            {
                dst = names::with_instance(&dst, inst);
            }
            pairs.push((dst, src.clone()));
        }
        for (dst, src) in pairs {
            self.reverse.entry(dst).or_default().push(src);
        }
        for v in self.reverse.values_mut() {
            v.sort();
        }
    }

    /// A unit-named entry: alias, linked file, mask or plain file (S5).
    fn classify_entry(&mut self, li: usize, e: &Entry) -> Option<Id> {
        let path_id = Some(Id::Path { layer: li, name: e.name.clone() });
        let Some(link) = e.meta.link.as_deref().filter(|_| e.meta.kind == FileKind::Symlink) else {
            return path_id;
        };
        let dir = &self.layers[li].scan.dir;
        // A relative link is chased from its (canonical, listed) directory.
        let chased =
            if link.starts_with('/') { self.root.chase(link, false) } else { self.root.chase_in(dir, link, false) };
        let simplified = match chased {
            Ok(c) => c.path,
            Err(err) => {
                self.warn(&e.path, format!("cannot resolve symlink to {link}: {err}, ignoring"));
                return None;
            }
        };
        if !self.in_search_path(&simplified) {
            return path_id; // linked unit file, or a mask
        }
        let dst = root::basename(&simplified).to_string();
        if dst == e.name {
            return None; // self-alias: no effect; a lower directory may supply the file
        }
        if let Err(why) = valid_alias(&e.name, &dst) {
            self.warn(&e.path, format!("alias symlink to {link} rejected: {why}"));
            return None;
        }
        Some(Id::Alias(dst))
    }

    /// `unit_ids_map_get`: follows aliases (with the template fallback) to an entry.
    fn ids_get(&self, name: &str) -> Result<(usize, &Entry), &'static str> {
        let mut id: Option<String> = None;
        for _ in 0..FOLLOW_MAX {
            let key = id.as_deref().unwrap_or(name);
            let t = match self.ids.get(key) {
                Some(t) => t,
                None => {
                    let Some(cur) = id.as_deref() else {
                        return Err("not found");
                    };
                    let tmpl = names::template_of(cur).ok_or("alias target not found")?;
                    self.ids.get(&tmpl).ok_or("alias target not found")?
                }
            };
            match t {
                Id::Path { layer, name } => {
                    let e = self.layers[*layer].scan.units.get(name).ok_or("vanished")?;
                    return Ok((*layer, e));
                }
                Id::Alias(n) => id = Some(n.clone()),
            }
        }
        Err("too many levels of aliases")
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
        for alias in self.reverse.get(name).into_iter().flatten() {
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
        let u = match self.reuse.as_ref().and_then(|f| f(name)) {
            Some(u) => u,
            None => Arc::new(self.load_uncached(name)),
        };
        self.units.insert(name.to_string(), Arc::clone(&u));
        u
    }

    fn load_uncached(&mut self, name: &str) -> Unit {
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
            let fref = self.file_ref(li, &e);
            let null = fref.null;
            let read_from = fref.target.as_ref().and_then(|t| t.resolved.clone()).unwrap_or_else(|| e.path.clone());
            unit.hidden |= e.hidden;
            unit.fragment = Some(fref);
            if null {
                unit.load_state = LoadState::Masked;
                return unit;
            }
            let loaded = self.cache(Some(li)).load(self.root, &read_from, &unit_type);
            if let Some(f) = unit.fragment.as_mut() {
                f.sha256 = loaded.sha256().cloned();
            }
            if let Some(err) = loaded.fatal() {
                unit.load_state = LoadState::Error;
                unit.load_error = Some(err.clone());
                self.push_file_warnings(&e.path, &loaded);
                return unit;
            }
            unit.load_state = LoadState::Loaded;
            content.push((e.path.clone(), loaded));
        }
        let scans = self.scans();
        let dirs = dropins::applicable(&scans, &main, &aliases, &unit_type, |s, n| s.dropins.get(n));
        let merged: Vec<(usize, Entry)> = dropins::merge(&dirs).into_iter().map(|(l, e)| (l, e.clone())).collect();
        drop(scans);
        for (li, e) in merged {
            let mut fref = self.file_ref(li, &e);
            if !fref.null {
                let read_from = fref.target.as_ref().and_then(|t| t.resolved.clone()).unwrap_or_else(|| e.path.clone());
                let loaded = self.cache(Some(li)).load(self.root, &read_from, &unit_type);
                fref.sha256 = loaded.sha256().cloned();
                content.push((e.path.clone(), loaded));
            }
            unit.dropins.push(fref);
        }
        for (path, loaded) in &content {
            self.push_file_warnings(path, loaded);
        }
        unit.settings = Arc::new(merge_settings(&content));
        if unit.load_state == LoadState::Loaded && unit_type == "timer" && !has_trigger(&unit.settings) {
            unit.load_state = LoadState::BadSetting;
            unit.load_error = Some("timer unit lacks value setting (no trigger), refused (S34)".into());
        }
        unit
    }

    fn push_file_warnings(&mut self, path: &str, loaded: &Loaded) {
        for (line, msg) in loaded.warnings() {
            self.warnings.push(Warning { path: path.to_string(), line: Some(line), message: msg });
        }
    }

    /// Describes a fragment or drop-in entry; follows a symlink chroot-style.
    pub fn file_ref(&mut self, li: usize, e: &Entry) -> FileRef {
        let layer = &self.layers[li];
        let target = (e.meta.kind == FileKind::Symlink).then(|| stat::path_fact(self.root, &e.path, &mut self.paths));
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

/// `unit_validate_alias_symlink_and_warn` (S9).
fn valid_alias(src: &str, dst: &str) -> Result<(), &'static str> {
    let s = names::classify(src).ok_or("not a valid unit name")?;
    let d = names::classify(dst).ok_or("target is not a valid unit name")?;
    if !matches!(names::unit_type(src), "service" | "socket" | "target" | "device" | "timer" | "path") {
        return Err("units of this type cannot be aliased");
    }
    if names::unit_type(src) != names::unit_type(dst) {
        return Err("target has an incompatible suffix");
    }
    if !(s == d || (s == NameKind::Instance && d == NameKind::Template)) {
        return Err("target name type does not match");
    }
    if d == NameKind::Instance && names::instance(src) != names::instance(dst) {
        return Err("instance names differ");
    }
    Ok(())
}

/// Applies assignments in order: lists accumulate and reset on empty; single values are
/// replaced (S28). An empty trigger resets every trigger of the timer.
pub(super) fn merge_settings(content: &[(String, Arc<Loaded>)]) -> SettingMap {
    let mut map = SettingMap::new();
    for (path, loaded) in content {
        for a in loaded.assignments() {
            let sec = map.entry(a.section.clone()).or_default();
            let s = Setting { value: a.value.clone(), file: path.clone(), line: a.line };
            if super::schema::is_list(&a.section, &a.key) {
                if a.value.is_empty() {
                    if a.section == "Timer" {
                        for k in super::schema::TRIGGER_KEYS {
                            sec.remove(*k);
                        }
                    } else {
                        sec.remove(&a.key);
                    }
                } else {
                    sec.entry(a.key.clone()).or_default().push(s);
                }
            } else {
                sec.insert(a.key.clone(), vec![s]);
            }
        }
    }
    map.retain(|_, v| !v.is_empty());
    map
}

fn has_trigger(s: &SettingMap) -> bool {
    s.get("Timer").is_some_and(|t| super::schema::TRIGGER_KEYS.iter().any(|k| t.get(*k).is_some_and(|v| !v.is_empty())))
}
