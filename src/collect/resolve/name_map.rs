//! The name map of a scope (`unit_file_build_name_map`): the entry each unit name maps
//! to, with shadowing (S4), aliases and links to files elsewhere (S5, S9); and the shared
//! directories' part of it, built once for every user scope (`BaseNames`).

use super::{Layer, Resolver};
use crate::collect::FastMap;
use crate::collect::names::{self, NameKind};
use crate::collect::root::{self, ChaseError};
use crate::collect::scan::Entry;
use crate::model::{FileKind, Warning};

/// systemd's `FOLLOW_MAX` for alias chains.
const FOLLOW_MAX: usize = 8;

/// What a name maps to in a scope.
#[derive(Debug, Clone)]
pub(super) enum Id {
    /// A unit file (or linked file, or mask) at this entry.
    Path { layer: usize, name: String },
    /// A symlink inside the search path: an alias to another name (S5, S9).
    Alias(String),
}

/// A unit-named entry, by where it leads.
enum Link {
    /// Not a symlink.
    File,
    /// A link out of the search path: a linked unit file (or a mask).
    Linked,
    /// A link to another name on the search path, valid as an alias.
    Alias(String),
    /// A link on the search path named as its target.
    SelfAlias,
    /// A link on the search path that is no valid alias (another type, …).
    BadAlias(&'static str),
    /// A link that cannot be followed (a loop, a component that is no directory).
    Unresolvable(ChaseError),
}

/// The name map of the shared user directories, built once by the global scope. Each of
/// 10,000 user scopes rebuilt the same entries, a tenth of a user's allocations. A user
/// scope takes it only where that is exact (`Resolver::overlay`); otherwise it builds its
/// whole map as before.
#[derive(Default)]
pub struct BaseNames {
    ids: FastMap<String, Id>,
    /// Each layer the map was built over: its configured and its canonical directory.
    dirs: Vec<(String, String)>,
    /// Where the links taken as linked unit files (or masks) point: under a user's own
    /// directory such a link is an alias for that user.
    linked: Vec<String>,
    /// The names that are aliases: which entry they reach depends on the whole scope.
    aliases: Vec<String>,
    /// What building the map warned about, which a user scope building it would repeat.
    warnings: Vec<Warning>,
}

/// The shared map as one user scope sees it: each of its layers' index in that scope.
pub(super) struct Overlay<'a> {
    names: &'a BaseNames,
    layer: Vec<usize>,
}

/// True when an in-image path lies in `l` (by its configured or canonical path).
fn holds(l: &Layer, p: &str) -> bool {
    under(&l.spec.path, p) || under(&l.scan.dir, p)
}

/// True when `p` lies below the directory `d`.
fn under(d: &str, p: &str) -> bool {
    p.strip_prefix(d).is_some_and(|t| t.starts_with('/'))
}

impl<'a> Resolver<'a> {
    /// This scope's map, for a user scope to build on (call right after `new`, on a
    /// scope of shared directories only).
    pub fn base_names(&self) -> BaseNames {
        debug_assert!(self.base.is_none() && self.layers.iter().all(|l| !l.spec.per_user));
        debug_assert!(self.units.is_empty(), "the warnings must be the name map's alone");
        // A link kept as a plain entry is one whose target lies outside the search path.
        let linked = self
            .ids
            .values()
            .filter_map(|id| match id {
                Id::Path { layer, name } => {
                    let e = self.layers[*layer].scan.units.get(name)?;
                    self.link_target(*layer, e)?.ok()
                }
                Id::Alias(_) => None,
            })
            .collect();
        BaseNames {
            ids: self.ids.clone(),
            dirs: self.layers.iter().map(|l| (l.spec.path.clone(), l.scan.dir.clone())).collect(),
            linked,
            aliases: self.ids.iter().filter(|(_, id)| matches!(id, Id::Alias(_))).map(|(n, _)| n.clone()).collect(),
            warnings: self.warnings.clone(),
        }
    }

    /// `b` as this scope's shared part, when building the whole map would give the same:
    /// the same shared directories in the same order, no entry of the user's named as a
    /// shared one (the user's may sit above or below it, S4), and no shared link into a
    /// user's directory (an alias there, not a linked file).
    pub(super) fn overlay(&self, b: &'a BaseNames) -> Option<Overlay<'a>> {
        let layer: Vec<usize> = (0..self.layers.len()).filter(|i| !self.layers[*i].spec.per_user).collect();
        let same = layer.len() == b.dirs.len()
            && layer
                .iter()
                .zip(&b.dirs)
                .all(|(i, (p, d))| self.layers[*i].spec.path == *p && self.layers[*i].scan.dir == *d);
        let own = || self.layers.iter().filter(|l| l.spec.per_user);
        let clash = || own().any(|l| l.scan.units.keys().any(|n| b.ids.contains_key(n)));
        let own_absent = || self.absent.iter().filter(|s| s.per_user);
        let into_own =
            || b.linked.iter().any(|t| own().any(|l| holds(l, t)) || own_absent().any(|s| under(&s.path, t)));
        (same && !clash() && !into_own()).then_some(Overlay { names: b, layer })
    }

    /// Shared links that lead into the user's own directories (there or not) and the
    /// names they lead to: in her map they are aliases of those names, where the shared
    /// map has links out of the search path. Only a map built whole (no overlay) can
    /// have them.
    pub fn shared_links_into_own(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.base.is_some() {
            return v;
        }
        let own = |p: &str| {
            self.layers.iter().filter(|l| l.spec.per_user).any(|l| holds(l, p))
                || self.absent.iter().filter(|s| s.per_user).any(|s| under(&s.path, p))
        };
        for (li, l) in self.layers.iter().enumerate().filter(|(_, l)| !l.spec.per_user) {
            for e in l.scan.units.values() {
                if let Some(Ok(t)) = self.link_target(li, e)
                    && own(&t)
                {
                    v.push(e.name.clone());
                    v.push(root::basename(&t).to_string());
                }
            }
        }
        v
    }

    /// Every name that has an entry on the search path.
    pub fn known_names(&self) -> impl Iterator<Item = &String> {
        self.ids.keys().chain(self.base.iter().flat_map(|o| o.names.ids.keys()))
    }

    fn warn(&mut self, path: &str, message: String) {
        self.warnings.push(Warning { path: path.to_string(), line: None, message });
    }

    /// True when an in-image path lies in one of the search directories, existing or not
    /// (install.c and the manager compare the configured paths).
    fn in_search_path(&self, p: &str) -> bool {
        self.layers.iter().any(|l| holds(l, p)) || self.absent.iter().any(|s| under(&s.path, p))
    }

    /// Fills `ids` from every layer (with an overlay, the user's own layers only: no
    /// name of theirs is a shared one) and `reverse` from every name that leads to an
    /// entry, except a shared entry's own name (`reverse_of` adds it).
    pub(super) fn build_name_map(&mut self) {
        let own_only = self.base.is_some();
        for li in 0..self.layers.len() {
            if own_only && !self.layers[li].spec.per_user {
                continue;
            }
            let scan = std::sync::Arc::clone(&self.layers[li].scan);
            for (name, e) in &scan.units {
                if self.ids.contains_key(name) {
                    continue; // shadowed by a higher directory (S4)
                }
                if let Some(id) = self.classify_entry(li, e) {
                    self.ids.insert(name.clone(), id);
                }
            }
        }
        let shared_aliases = self.base.as_ref().map(|o| o.names.aliases.as_slice()).unwrap_or_default();
        let mut pairs = Vec::with_capacity(self.ids.len());
        // A shared alias may reach a user's entry (a link to a name only the user has).
        for src in self.ids.keys().chain(shared_aliases) {
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
        if let Some(o) = &self.base {
            self.warnings.extend(o.names.warnings.iter().cloned());
        }
    }

    /// The names that lead to `name`'s entry: its aliases (in a user's map, a shared link
    /// that reaches her unit among them), and itself when it has one.
    pub(crate) fn reverse_of(&self, name: &str) -> impl Iterator<Item = &String> {
        // A shared entry's own name, which is not stored per user: a plain entry's pair
        // is always (itself, itself).
        let shared = self.base.as_ref().and_then(|o| match o.names.ids.get_key_value(name) {
            Some((k, Id::Path { layer, name: n }))
                if self.layers[o.layer[*layer]].scan.units.get(n).is_some_and(|e| !e.null) =>
            {
                Some(k)
            }
            _ => None,
        });
        self.reverse.get(name).into_iter().flatten().chain(shared)
    }

    /// A unit-named entry: alias, linked file, mask or plain file (S5).
    fn classify_entry(&mut self, li: usize, e: &Entry) -> Option<Id> {
        let link = e.meta.link.as_deref().unwrap_or_default();
        match self.link_kind(li, e) {
            Link::File | Link::Linked => Some(Id::Path { layer: li, name: e.name.clone() }),
            Link::Alias(dst) => Some(Id::Alias(dst)),
            // No effect: a lower directory may supply the file.
            Link::SelfAlias => None,
            Link::Unresolvable(err) => {
                self.warn(&e.path, format!("cannot resolve symlink to {link}: {err}, ignoring"));
                None
            }
            Link::BadAlias(why) => {
                self.warn(&e.path, format!("alias symlink to {link} rejected: {why}"));
                None
            }
        }
    }

    /// What a unit-named entry of layer `li` is, as `unit_file_resolve_symlink` and the
    /// alias checks see it (the manager's name map and install.c both ask).
    fn link_kind(&self, li: usize, e: &Entry) -> Link {
        let Some(chased) = self.link_target(li, e) else { return Link::File };
        let simplified = match chased {
            Ok(p) => p,
            Err(err) => return Link::Unresolvable(err),
        };
        if !self.in_search_path(&simplified) {
            return Link::Linked; // a linked unit file, or a mask
        }
        let dst = root::basename(&simplified);
        if dst == e.name {
            return Link::SelfAlias;
        }
        match valid_alias(&e.name, dst) {
            Ok(()) => Link::Alias(dst.to_string()),
            Err(why) => Link::BadAlias(why),
        }
    }

    /// Where a symlink entry of layer `li` points, its last component not followed
    /// (`None`: not a symlink). A relative link is chased from its (canonical, listed)
    /// directory.
    fn link_target(&self, li: usize, e: &Entry) -> Option<Result<String, ChaseError>> {
        let link = e.meta.link.as_deref().filter(|_| e.meta.kind == FileKind::Symlink)?;
        let chased = if link.starts_with('/') {
            self.root.chase(link, false)
        } else {
            self.root.chase_in(&self.layers[li].scan.dir, link, false)
        };
        Some(chased.map(|c| c.path))
    }

    /// What `name` maps to: this scope's own map, then the shared one (no name is in
    /// both), with the layer of a shared entry as this scope numbers it.
    fn id(&self, name: &str) -> Option<(&Id, Option<&[usize]>)> {
        if let Some(id) = self.ids.get(name) {
            return Some((id, None));
        }
        let o = self.base.as_ref()?;
        o.names.ids.get(name).map(|id| (id, Some(o.layer.as_slice())))
    }

    /// `unit_ids_map_get`: follows aliases (with the template fallback) to an entry.
    pub(super) fn ids_get(&self, name: &str) -> Result<(usize, &Entry), &'static str> {
        let mut id: Option<String> = None;
        for _ in 0..FOLLOW_MAX {
            let key = id.as_deref().unwrap_or(name);
            let t = match self.id(key) {
                Some(t) => t,
                None => {
                    let Some(cur) = id.as_deref() else {
                        return Err("not found");
                    };
                    let tmpl = names::template_of(cur).ok_or("alias target not found")?;
                    self.id(&tmpl).ok_or("alias target not found")?
                }
            };
            match t {
                (Id::Path { layer, name }, map) => {
                    let li = map.map_or(*layer, |m| m[*layer]);
                    let e = self.layers[li].scan.units.get(name).ok_or("vanished")?;
                    return Ok((li, e));
                }
                (Id::Alias(n), _) => id = Some(n.clone()),
            }
        }
        Err("too many levels of aliases")
    }
}

impl Resolver<'_> {
    /// install.c's view of `name` (`unit_file_lookup_state`, which `list-unit-files` and
    /// `is-enabled` report as `bad` when it fails): true when the first entry of that name
    /// on the search path, or an alias chain from it, holds a link install.c cannot
    /// follow. The manager skips such a link and may load a lower file of the name;
    /// install.c stops at it.
    pub(crate) fn install_bad(&self, name: &str) -> bool {
        self.first_entry(name).is_some_and(|(li, e)| self.entry_bad(li, e, 0))
    }

    /// `install_bad` of one entry, `hops` aliases down a chain: install.c follows an alias
    /// *by name*, to that name's first entry (or its template's), and each hop must be one
    /// it can follow.
    fn entry_bad(&self, li: usize, e: &Entry, hops: usize) -> bool {
        match self.link_kind(li, e) {
            Link::File => false,
            Link::Unresolvable(_) | Link::SelfAlias | Link::BadAlias(_) => true,
            Link::Linked => self.leads_nowhere(e),
            Link::Alias(dst) => {
                let next =
                    self.first_entry(&dst).or_else(|| names::template_of(&dst).and_then(|t| self.first_entry(&t)));
                // An alias to a name with no entry, or a chain too long, is bad too.
                hops >= FOLLOW_MAX || next.is_none_or(|(li, e)| self.entry_bad(li, e, hops + 1))
            }
        }
    }

    /// The first entry named `name` on the search path, and its layer.
    fn first_entry(&self, name: &str) -> Option<(usize, &Entry)> {
        self.layers.iter().enumerate().find_map(|(i, l)| l.scan.units.get(name).map(|e| (i, e)))
    }

    /// A linked unit file (a link out of the search path) that does not lead to a file.
    fn leads_nowhere(&self, e: &Entry) -> bool {
        let file = |p: &str| self.root.lstat(p).is_ok_and(|m| m.is_file());
        e.meta.kind == FileKind::Symlink && !e.null && !matches!(&e.target, Some(Ok(c)) if c.exists && file(&c.path))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::files::FileCache;
    use crate::collect::root::Root;
    use std::collections::BTreeSet;
    use std::os::unix::fs::symlink;
    use std::sync::Arc;

    fn layers(root: &Root, user: Option<(&str, u32)>) -> Vec<Layer> {
        let mut w = Vec::new();
        crate::collect::paths::user_paths(user)
            .into_iter()
            .filter_map(|spec| {
                let dir = crate::collect::scope::resolve_dir(root, &spec.path)?;
                Some(Layer { spec, scan: Arc::new(crate::collect::scan::scan_dir(root, &dir, &mut w)) })
            })
            .collect()
    }

    /// S4, S5, S9: a user scope on the shared name map resolves every name as a user
    /// scope building its whole map does (units, names, warnings), and falls back to
    /// building it where the shared map would be wrong: a user's entry named as a shared
    /// one, above or below it, and a shared link into the user's own directory.
    #[test]
    fn s5_a_user_scope_on_the_shared_name_map_resolves_as_one_building_its_own() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let (lib, etc) = (p.join("usr/lib/systemd/user"), p.join("etc/systemd/user"));
        let home = |u: &str, sub: &str| p.join(format!("home/{u}/{sub}"));
        let (cfg, local) = (".config/systemd/user", ".local/share/systemd/user");
        for dir in [&lib, &etc, &p.join("opt"), &home("u1", cfg), &home("u2", cfg), &home("u2", local)] {
            std::fs::create_dir_all(dir).unwrap();
        }
        for dir in [home("u3", cfg), home("u4", local)] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let unit = |path: std::path::PathBuf| std::fs::write(path, "[Service]\nExecStart=/bin/true\n").unwrap();
        unit(lib.join("a.service"));
        unit(lib.join("t@.service"));
        unit(etc.join("c.service"));
        unit(p.join("opt/ext.service"));
        symlink("a.service", lib.join("b.service")).unwrap(); // a shared alias
        symlink("t@.service", lib.join("t@x.service")).unwrap(); // an instance of a template
        symlink("/dev/null", lib.join("m.service")).unwrap(); // a mask
        symlink("/opt/ext.service", lib.join("ext.service")).unwrap(); // a linked file
        symlink("a.service", lib.join("bad.socket")).unwrap(); // rejected: another type
        symlink("x.service", lib.join("dang.service")).unwrap(); // to a name only u1 has
        symlink("/home/u3/.config/systemd/user/mine.service", lib.join("in.service")).unwrap();
        unit(home("u1", cfg).join("x.service"));
        symlink("/usr/lib/systemd/user/a.service", home("u1", cfg).join("my.service")).unwrap();
        symlink("/usr/lib/systemd/user/t@.service", home("u1", cfg).join("t@y.service")).unwrap();
        unit(home("u2", cfg).join("a.service")); // above the shared one
        unit(home("u2", local).join("c.service")); // below the shared one
        unit(home("u3", cfg).join("mine.service")); // an alias of `in.service`, for u3 only
        unit(home("u4", local).join("z.service"));

        let root = Root::open(p).unwrap();
        let files = FileCache::default();
        let global = Resolver::new(&root, layers(&root, None), Vec::new(), &files, None);
        let base = global.base_names();
        assert!(base.warnings.iter().any(|w| w.path.ends_with("/bad.socket")), "{:?}", base.warnings);
        // Resolves every name both ways and compares; whether the shared map was used.
        let same_as_full = |user: &str, l: &dyn Fn() -> Vec<Layer>| {
            let mut full = Resolver::new(&root, l(), Vec::new(), &files, None);
            let mut over = Resolver::new(&root, l(), Vec::new(), &files, Some(&base));
            let known = |r: &Resolver<'_>| r.known_names().cloned().collect::<BTreeSet<String>>();
            assert_eq!(known(&over), known(&full), "{user}");
            let mut asked = known(&full);
            asked.extend(["t@z.service", "t@x.service", "x.service", "c.service", "nope.service"].map(String::from));
            for n in &asked {
                let rev = |r: &Resolver<'_>| r.reverse_of(n).cloned().collect::<BTreeSet<String>>();
                assert_eq!(rev(&over), rev(&full), "{user}: {n}");
                let json = |u: Arc<crate::model::Unit>| serde_json::to_string(&*u).unwrap();
                assert_eq!(json(over.load(n)), json(full.load(n)), "{user}: {n}");
                assert_eq!(over.paths, full.paths, "{user}: {n}");
            }
            let sorted = |r: &Resolver<'_>| {
                let mut w = r.warnings.clone();
                w.sort();
                w
            };
            assert_eq!(sorted(&over), sorted(&full), "{user}");
            over.base.is_some()
        };
        for (i, on_base) in [true, false, false, true].into_iter().enumerate() {
            let user = format!("u{}", i + 1);
            let home = format!("/home/{user}");
            let used = same_as_full(&user, &|| layers(&root, Some((&home, 1000 + i as u32))));
            assert_eq!(used, on_base, "{user}");
        }
        // A user scope whose shared directories are not the global scope's (one of them
        // de-duplicated into a user's own directory, S1) builds its whole map.
        let fewer = || {
            let mut l = layers(&root, Some(("/home/u1", 1000)));
            l.retain(|l| l.spec.path != "/etc/systemd/user");
            l
        };
        assert!(!same_as_full("u1 without /etc/systemd/user", &fewer));
        // What the comparison rests on: a shared alias reaching a user's entry, and a
        // user's alias of a shared unit among its names.
        let l1 = layers(&root, Some(("/home/u1", 1000)));
        let mut u1 = Resolver::new(&root, l1, Vec::new(), &files, Some(&base));
        assert_eq!(u1.load("dang.service").name, "x.service");
        assert!(u1.load("x.service").names.contains(&"dang.service".to_string()));
        assert!(u1.load("a.service").names.contains(&"my.service".to_string()));
        assert_eq!(
            u1.load("t@y.service").fragment.as_ref().map(|f| f.path.as_str()),
            Some("/usr/lib/systemd/user/t@.service")
        );
    }
}
