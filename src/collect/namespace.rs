//! The file system a service's commands see: its `RootDirectory=`, `BindPaths=`,
//! `BindReadOnlyPaths=`, `TemporaryFileSystem=`, `InaccessiblePaths=`, `ProtectHome=`
//! and `PrivateTmp=`. What a command names is found there, not in the image as it lies:
//! `BindReadOnlyPaths=/opt/x:/usr/bin/backup` runs `/opt/x` when `ExecStart=` says
//! `/usr/bin/backup`, and a link in a jail with an absolute target points into the jail.
//!
//! Measured with systemd 252 in a booted image (`tests/it/exec_oracle.rs`): links resolve
//! in the unit's view (an absolute target from its root, `..` held at it); a bind mount's
//! source is the image's path with its links followed, its destination resolved in the
//! unit's view; of two binds onto one place the first listed wins; a command with `+` is
//! in the jail and sees the binds and temporary file systems too, but not what
//! `InaccessiblePaths=`, `ProtectHome=` and `PrivateTmp=` hide; below an inaccessible path
//! nothing shows, a bind beneath it neither; a bind whose source is missing (without
//! `-`), or that puts a directory onto a file or a file onto a directory, fails the
//! service at start (`fails`).
//!
//! A disk image (`RootImage=`, `MountImages=`, `ExtensionImages=`) is not read: what a
//! command finds in one is not known, and its fact says so; the image itself is code the
//! service runs (`images`). `ExtensionDirectories=` lays its directories' `usr/` and
//! `opt/` over `/usr` and `/opt` (the last listed on top; measured, a `+` command too): a
//! path is taken from the top layer that has it, else from below; one without its
//! `usr/lib/extension-release.d/extension-release.NAME` fails the service (measured).
//! An empty `BindPaths=` or `BindReadOnlyPaths=` resets both lists (`merge_settings`).
//! Not modelled: whiteouts in an extension directory, whether an extension-release file matches the os-release,
//! and `PrivateUsers=` (which a user manager's service needs for any of this).

use std::collections::BTreeMap;

use super::root::{self, ChaseError, Root};
use super::stat::{self, CLIMBS, MISSING};
use super::timer::parse_bool;
use crate::model::{FileKind, FileMeta, PathFact, Setting, Unit};

const MAX_HOPS: usize = 32;

/// What a mount puts at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// The image's directory or file there (canonical); `""` for the image's root.
    Image(String),
    /// An empty directory (`TemporaryFileSystem=`, `PrivateTmp=`, `ProtectHome=tmpfs`):
    /// only the places of deeper mounts show in it.
    Empty,
    /// An inaccessible node (`InaccessiblePaths=`, `ProtectHome=yes`): nothing below it.
    Hidden,
    /// A disk image's file system (`RootImage=`, `MountImages=`): not read.
    Disk,
    /// `ExtensionImages=`/`ExtensionDirectories=` over `/usr` or `/opt`, bottom to top.
    Overlay(Vec<Layer>),
}

/// One layer of an extension overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layer {
    /// An extension directory of the image (canonical): its `usr/` and `opt/` show.
    Dir(String),
    /// An extension image, not read: the setting that names it.
    Disk(String),
}

/// A disk image or extension directory a service's commands take files from: code it
/// runs, whatever is inside.
#[derive(Debug, Clone)]
pub struct Image {
    pub key: &'static str,
    pub setting: Setting,
    /// The image's path of it, links followed.
    pub path: String,
}

#[derive(Debug, Clone)]
struct Mount {
    /// Its place in the unit's view, normalized; `""` for `/`.
    at: String,
    source: Source,
    /// The setting that made it (`InaccessiblePaths=/opt`), for a path it hides.
    why: String,
}

/// One service's view of the file system, for its commands with or without `+`.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The root first; the rest in the order systemd lists them (first one wins).
    mounts: Vec<Mount>,
    /// A bind the manager cannot make, so that the service fails to start (226/NAMESPACE)
    /// and none of its commands runs: the setting and why.
    pub fails: Option<(Setting, String)>,
    /// The first setting whose mounts were past `MAX_MOUNTS` and left out.
    pub capped: Option<Setting>,
    /// The disk images and extension directories the view is made of, in order.
    pub images: Vec<Image>,
    /// Entries looked at so far (binds onto one place, missing sources count too).
    looked: usize,
}

/// Mounts past this many (or entries past four times as many) are left out, and warned
/// about: each lookup looks at every mount, and a hostile unit file of a megabyte could
/// list tens of thousands.
pub const MAX_MOUNTS: usize = 1024;

/// Where a path of the unit's view resolved.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The image's path of it (`None`: an empty directory the manager makes, or hidden).
    pub image: Option<String>,
    /// Its path in the unit's view.
    pub path: String,
    pub exists: bool,
    pub clamped: bool,
    /// The setting that hides it from the command, or the disk image it is in.
    pub unseen: Option<String>,
    /// In a disk image that is not read (`unseen` names it): whether it is there is not
    /// known.
    pub unread: bool,
}

/// What is at one place of the view.
enum At {
    Image(String),
    MadeDir,
    /// Not there for the command: the setting that hides it, if one does.
    Gone(Option<String>),
    /// In a disk image that is not read: the setting that names the image.
    Unread(String),
}

fn under<'p>(path: &'p str, at: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(at)?;
    (rest.is_empty() || rest.starts_with('/') || at.is_empty()).then_some(rest)
}

/// A service's two views: for its commands without `+` and for those with it.
#[derive(Debug, Default)]
pub struct Views {
    pub sandboxed: Option<Namespace>,
    pub plus: Option<Namespace>,
}

impl Views {
    /// Whether a `+` command sees anything other than the rest do: the sandboxed view is
    /// the `+` one with what the sandboxing options hide added.
    pub fn differ(&self) -> bool {
        let mounts = |v: &Option<Namespace>| v.as_ref().map_or(1, |n| n.mounts.len());
        mounts(&self.sandboxed) != mounts(&self.plus)
    }
}

/// Every setting that changes what a command sees.
const KEYS: [&str; 12] = [
    "RootDirectory",
    "RootImage",
    "MountImages",
    "ExtensionImages",
    "ExtensionDirectories",
    "BindPaths",
    "BindReadOnlyPaths",
    "TemporaryFileSystem",
    "InaccessiblePaths",
    "ProtectHome",
    "PrivateTmp",
    "DynamicUser",
];

impl Namespace {
    /// Both views of `svc`'s commands; none at all (nothing looked at twice) for a
    /// service that sets none of `KEYS`, as most do.
    pub fn views(root: &Root, svc: &Unit, expand: &dyn Fn(&str) -> Option<String>) -> Views {
        let Some(section) = svc.settings.get("Service") else { return Views::default() };
        if !KEYS.iter().any(|k| section.contains_key(*k)) {
            return Views::default();
        }
        // Every command sees the jail, the binds and the temporary file systems; those
        // without `+` also what the sandboxing options hide. Made once, then grown.
        let plus = Namespace::of(root, svc, expand);
        let mut sandboxed = plus.clone();
        sandboxed.sandbox(svc, expand);
        let kept = |ns: Namespace| (ns.mounts.len() > 1 || ns.jailed() || ns.fails.is_some()).then_some(ns);
        Views { sandboxed: kept(sandboxed), plus: kept(plus) }
    }

    /// What every command of `svc` sees, `+` ones too. `expand` resolves a value's
    /// specifiers.
    fn of(root: &Root, svc: &Unit, expand: &dyn Fn(&str) -> Option<String>) -> Namespace {
        let mut mounts = Vec::new();
        let jail = svc
            .last("Service", "RootDirectory")
            .and_then(|s| expand(&s.value))
            .filter(|d| d.starts_with('/') && !d.trim_end_matches('/').is_empty());
        // A jail that resolves to the image's root is none.
        let top = match &jail {
            Some(j) => root.chase(j, true).map(|c| c.path).unwrap_or_else(|_| root::normalize(j)),
            None => String::new(),
        };
        let top = if top == "/" { String::new() } else { top };
        mounts.push(Mount { at: String::new(), source: Source::Image(top), why: String::new() });
        let mut ns = Namespace { mounts, fails: None, capped: None, images: Vec::new(), looked: 0 };
        // `RootImage=` is the root the commands run in, a `+` one too (as `RootDirectory=`).
        if let Some(s) = svc.last("Service", "RootImage")
            && let Some(v) = expand(&s.value).filter(|v| v.starts_with('/'))
            && ns.image(root, "RootImage", s, &v, false).is_some()
        {
            ns.mounts[0] = Mount { at: String::new(), source: Source::Disk, why: format!("RootImage={v}") };
        }
        for (key, s) in in_order(svc, &["BindPaths", "BindReadOnlyPaths"]) {
            for w in words(&s.value) {
                if ns.full(s) {
                    break;
                }
                let Some(w) = expand(&w) else { continue };
                let mut parts = split_colons(&w).into_iter();
                let src = parts.next().unwrap_or_default();
                // `-`: a missing source is passed over; without it the service fails.
                let (optional, src) = strip_dash(&src);
                let src = src.to_string();
                let dest = parts.next().filter(|d| !d.is_empty()).unwrap_or_else(|| src.clone());
                if !src.starts_with('/') || !dest.starts_with('/') {
                    continue;
                }
                let c = root.chase(&src, true).ok().filter(|c| c.exists);
                let Some(c) = c else {
                    if !optional {
                        ns.fail(s, format!("{key}={w}: its source does not exist"));
                    }
                    continue;
                };
                // The destination is found in the view as made so far.
                let at = ns.place(root, &dest);
                if ns.mounts.iter().skip(1).any(|m| m.at == at) {
                    continue;
                }
                // A directory cannot be put where a file is, nor a file on a directory.
                let is_dir = |m: Option<FileMeta>| m.map(|m| m.kind == FileKind::Dir);
                let there = ns.chase(root, &at, true).ok().and_then(|s| s.image).and_then(|i| stat::lstat(root, &i));
                if let (Some(from), Some(onto)) = (is_dir(stat::lstat(root, &c.path)), is_dir(there))
                    && from != onto
                {
                    let what = if from { "a directory onto a file" } else { "a file onto a directory" };
                    ns.fail(s, format!("{key}={w}: binds {what}"));
                    continue;
                }
                ns.mounts.push(Mount { at, source: Source::Image(c.path), why: format!("{key}={w}") });
            }
        }
        for (_, s) in in_order(svc, &["MountImages"]) {
            for w in words(&s.value) {
                if ns.full(s) {
                    break;
                }
                let Some(w) = expand(&w) else { continue };
                let mut parts = split_colons(&w).into_iter();
                let (src, dest) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                let (optional, src) = strip_dash(&src);
                if !src.starts_with('/') || !dest.starts_with('/') {
                    continue;
                }
                if ns.image(root, "MountImages", s, src, optional).is_some() {
                    let at = ns.place(root, &dest);
                    if !ns.mounts.iter().skip(1).any(|m| m.at == at) {
                        ns.mounts.push(Mount { at, source: Source::Disk, why: format!("MountImages={w}") });
                    }
                }
            }
        }
        ns.extensions(root, svc, expand);
        for (_, s) in in_order(svc, &["TemporaryFileSystem"]) {
            for w in words(&s.value) {
                if ns.full(s) {
                    break;
                }
                let Some(w) = expand(&w) else { continue };
                let path = split_colons(&w).into_iter().next().unwrap_or_default();
                ns.add(&path, Source::Empty, format!("TemporaryFileSystem={w}"));
            }
        }
        ns
    }

    /// The overlays of `ExtensionImages=` and `ExtensionDirectories=` on `/usr` and `/opt`,
    /// the layers in the order listed (the first at the bottom).
    fn extensions(&mut self, root: &Root, svc: &Unit, expand: &dyn Fn(&str) -> Option<String>) {
        let mut layers = Vec::new();
        for (key, s) in in_order(svc, &["ExtensionImages", "ExtensionDirectories"]) {
            for w in words(&s.value) {
                if self.full(s) {
                    break;
                }
                let Some(w) = expand(&w) else { continue };
                let first = split_colons(&w).into_iter().next().unwrap_or_default();
                let src = if key == "ExtensionImages" { first } else { w.clone() };
                let (optional, src) = strip_dash(&src);
                if !src.starts_with('/') {
                    continue;
                }
                let Some(path) = self.image(root, key, s, src, optional) else { continue };
                if key == "ExtensionImages" {
                    layers.push(Layer::Disk(format!("{key}={w}")));
                    continue;
                }
                // Without its extension-release file the manager fails the service at
                // start (measured); whether its contents match is not looked at.
                let name = path.rsplit('/').next().unwrap_or_default();
                let release = format!("{path}/usr/lib/extension-release.d/extension-release.{name}");
                if !root.chase(&release, true).is_ok_and(|c| c.exists) {
                    self.fail(s, format!("{key}={w}: it has no {}", &release[path.len() + 1..]));
                }
                layers.push(Layer::Dir(if path == "/" { String::new() } else { path }));
            }
        }
        if !layers.is_empty() {
            for at in ["/usr", "/opt"] {
                self.add(at, Source::Overlay(layers.clone()), "the extensions".into());
            }
        }
    }

    /// Notes the disk image or extension directory `src` that `s` names (its links
    /// followed), when it exists; a missing one fails the service unless `optional`.
    fn image(&mut self, root: &Root, key: &'static str, s: &Setting, src: &str, optional: bool) -> Option<String> {
        let Some(c) = root.chase(src, true).ok().filter(|c| c.exists) else {
            if !optional {
                self.fail(s, format!("{key}={src}: it does not exist"));
            }
            return None;
        };
        self.images.push(Image { key, setting: s.clone(), path: c.path.clone() });
        Some(c.path)
    }

    /// Adds what `InaccessiblePaths=`, `ProtectHome=` and `PrivateTmp=` (or
    /// `DynamicUser=`) hide from the commands without `+`.
    fn sandbox(&mut self, svc: &Unit, expand: &dyn Fn(&str) -> Option<String>) {
        for (_, s) in in_order(svc, &["InaccessiblePaths"]) {
            for w in words(&s.value) {
                if self.full(s) {
                    break;
                }
                let Some(w) = expand(&w) else { continue };
                let path = w.trim_start_matches(['-', '+']);
                self.add(path, Source::Hidden, format!("InaccessiblePaths={w}"));
            }
        }
        let home = svc.last("Service", "ProtectHome").map(|s| s.value.to_ascii_lowercase());
        let how = match home.as_deref() {
            Some("tmpfs") => Some(Source::Empty),
            Some(v) if parse_bool(v) == Some(true) => Some(Source::Hidden),
            _ => None,
        };
        if let (Some(how), Some(v)) = (how, home) {
            for p in ["/home", "/root", "/run/user"] {
                self.add(p, how.clone(), format!("ProtectHome={v}"));
            }
        }
        let flag = |k: &str| svc.last("Service", k).and_then(|s| parse_bool(&s.value)) == Some(true);
        if flag("PrivateTmp") || flag("DynamicUser") {
            for p in ["/tmp", "/var/tmp"] {
                self.add(p, Source::Empty, "PrivateTmp=yes".into());
            }
        }
    }

    /// Whether no more entries are taken (noting `s` as the first left out).
    fn full(&mut self, s: &Setting) -> bool {
        self.looked += 1;
        let full = self.mounts.len() >= MAX_MOUNTS || self.looked > 4 * MAX_MOUNTS;
        if full {
            self.capped.get_or_insert_with(|| s.clone());
        }
        full
    }

    fn fail(&mut self, s: &Setting, why: String) {
        self.fails.get_or_insert_with(|| (s.clone(), why));
    }

    fn add(&mut self, path: &str, source: Source, why: String) {
        if !path.starts_with('/') {
            return;
        }
        let at = root::normalize(path);
        let at = if at == "/" { String::new() } else { at };
        if !self.mounts.iter().skip(1).any(|m| m.at == at) {
            self.mounts.push(Mount { at, source, why });
        }
    }

    /// Whether the commands' root is a directory of the image, not its root.
    fn jailed(&self) -> bool {
        self.mounts[0].source != Source::Image(String::new())
    }

    /// Where `dest` is in the view (links followed), normalized; `""` for `/`.
    fn place(&self, root: &Root, dest: &str) -> String {
        let p = self.chase(root, dest, true).map(|s| s.path).unwrap_or_else(|_| root::normalize(dest));
        if p == "/" { String::new() } else { p }
    }

    /// What is at `cur` (a normalized path of the view, `""` for `/`).
    fn at(&self, root: &Root, cur: &str) -> At {
        let hides = |why: &str| At::Gone(Some(why.to_string()));
        let unread = |why: &str| At::Unread(why.to_string());
        // Below an inaccessible node nothing shows, deeper mounts neither.
        if let Some(h) = self.mounts.iter().find(|m| m.source == Source::Hidden && under(cur, &m.at).is_some()) {
            return match cur == h.at {
                true => At::MadeDir,
                false => hides(&h.why),
            };
        }
        // The deepest mount above `cur`; an overlay without the path shows what is below.
        let mut limit = usize::MAX;
        loop {
            let Some(deepest) = self
                .mounts
                .iter()
                .filter(|m| m.at.len() < limit && under(cur, &m.at).is_some())
                .max_by_key(|m| m.at.len())
            else {
                return At::Gone(None);
            };
            return match &deepest.source {
                Source::Image(src) => At::Image(format!("{src}{}", under(cur, &deepest.at).unwrap_or(""))),
                Source::Overlay(layers) => {
                    for l in layers.iter().rev() {
                        match l {
                            Layer::Disk(why) => return unread(why),
                            Layer::Dir(d) if root.lstat(&format!("{d}{cur}")).is_ok() => {
                                return At::Image(format!("{d}{cur}"));
                            }
                            Layer::Dir(_) => {}
                        }
                    }
                    limit = deepest.at.len();
                    continue;
                }
                _ if self.holds_a_place(cur) => At::MadeDir,
                Source::Disk => unread(&deepest.why),
                _ if cur == deepest.at => At::MadeDir,
                _ => hides(&deepest.why),
            };
        }
    }

    /// Whether a deeper mount's place is below `cur` (the manager makes the directories).
    fn holds_a_place(&self, cur: &str) -> bool {
        self.mounts.iter().any(|m| m.at.len() > cur.len() && under(&m.at, cur).is_some())
    }

    /// `Root::chase` in the unit's view: `p` is a path of the view.
    pub fn chase(&self, root: &Root, p: &str, follow_last: bool) -> Result<Seen, ChaseError> {
        let mut todo: Vec<String> =
            p.split('/').filter(|c| !c.is_empty() && *c != ".").rev().map(String::from).collect();
        let mut cur = String::new();
        let mut marks: Vec<usize> = Vec::new();
        let (mut hops, mut clamped) = (0, false);
        let done = |cur: String, image: Option<String>, exists, clamped, unseen: Option<String>| {
            let path = if cur.is_empty() { "/".to_string() } else { cur };
            Ok(Seen { image, path, exists, clamped, unseen, unread: false })
        };
        while let Some(comp) = todo.pop() {
            if comp == ".." {
                clamped |= !root::climb(&mut cur, &mut marks);
                continue;
            }
            let mark = cur.len();
            cur.push('/');
            cur.push_str(&comp);
            let is_last = todo.is_empty();
            let image = match self.at(root, &cur) {
                At::Image(i) => i,
                At::MadeDir if is_last => return done(cur, None, true, clamped, None),
                At::MadeDir => {
                    marks.push(mark);
                    continue;
                }
                At::Gone(why) => {
                    clamped |= root::walk_lexically(&mut cur, &mut marks, todo.into_iter().rev());
                    return done(cur, None, false, clamped, why);
                }
                At::Unread(why) => {
                    clamped |= root::walk_lexically(&mut cur, &mut marks, todo.into_iter().rev());
                    return done(cur, None, false, clamped, Some(why)).map(|s| Seen { unread: true, ..s });
                }
            };
            let st = match root.lstat(&image) {
                Ok(st) => st,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if self.holds_a_place(&cur) && !is_last {
                        marks.push(mark);
                        continue;
                    }
                    marks.push(mark);
                    clamped |= root::walk_lexically(&mut cur, &mut marks, todo.into_iter().rev());
                    let image = self.lexical(root, &cur);
                    return done(cur, image, false, clamped, None);
                }
                Err(e) => return Err(ChaseError::Io { path: image, message: e.to_string() }),
            };
            if st.is_symlink() && (!is_last || follow_last) {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(ChaseError::Loop);
                }
                let target = root
                    .readlink(&image)
                    .map_err(|e| ChaseError::Io { path: image.clone(), message: e.to_string() })?;
                cur.truncate(mark);
                if target.starts_with('/') {
                    cur.clear();
                    marks.clear();
                }
                todo.extend(target.split('/').filter(|c| !c.is_empty() && *c != ".").rev().map(String::from));
                continue;
            }
            if is_last {
                return done(cur, Some(image), true, clamped, None);
            }
            if !st.is_dir() {
                return Err(ChaseError::NotADirectory(image));
            }
            marks.push(mark);
        }
        let image = self.lexical(root, &cur);
        done(cur, image, true, clamped, None)
    }

    /// The image's path a normalized path of the view stands for, links not followed.
    fn lexical(&self, root: &Root, path: &str) -> Option<String> {
        let cur = if path == "/" { "" } else { path };
        match self.at(root, cur) {
            At::Image(i) if i.is_empty() => Some("/".into()),
            At::Image(i) => Some(i),
            _ => None,
        }
    }

    /// `stat::path_fact` (with `paths`) or `stat::locate` of a path of the view: `path`
    /// is the image's path it names, `resolved` where its links lead.
    pub fn path_fact(&self, root: &Root, p: &str, paths: Option<&mut BTreeMap<String, FileMeta>>) -> PathFact {
        let norm = root::normalize(p);
        let named = self.lexical(root, &norm).unwrap_or_else(|| norm.clone());
        let mut fact = PathFact::named(named);
        let nofollow = self.chase(root, p, false);
        fact.link_meta = match &nofollow {
            Ok(Seen { image: Some(i), exists: true, .. }) => {
                stat::lstat(root, i).filter(|m| m.kind == FileKind::Symlink)
            }
            _ => None,
        };
        let chased = if fact.link_meta.is_some() { self.chase(root, p, true) } else { nofollow };
        match chased {
            Err(e) => fact.error = Some(e.to_string()),
            Ok(s) => {
                if !s.unread {
                    fact.hidden_by.clone_from(&s.unseen);
                }
                fact.error = match (&s.unseen, s.clamped, s.exists) {
                    (Some(why), _, _) if s.unread => Some(unread_error(why)),
                    (Some(why), _, _) => Some(format!("{MISSING} for the command: {why} hides it")),
                    // In a jail, `..` stops at its root as at any root: nothing odd.
                    (None, true, _) if !self.jailed() => Some(CLIMBS.into()),
                    (None, false, false) => Some(MISSING.into()),
                    _ => None,
                };
                fact.resolved = s.image.clone();
                if let (Some(paths), Some(i)) = (paths, &s.image) {
                    fact.meta = if s.exists { stat::lstat(root, i) } else { None };
                    fact.parents = stat::record_chain(root, root::parent(i), paths);
                }
            }
        }
        fact
    }

    /// Why what is at `p` (of the view) is not known, when it is in a disk image.
    #[cfg(test)]
    fn unread(&self, root: &Root, p: &str) -> Option<String> {
        self.runnable(root, p).err()
    }

    /// Whether `p` (of the view) is a regular file with an execute bit, as a bare name's
    /// lookup wants (`check_x_access`); in a disk image that is not read, why that is not
    /// known (one chase answers both).
    pub fn runnable(&self, root: &Root, p: &str) -> Result<bool, String> {
        match self.chase(root, p, true) {
            Ok(Seen { unread: true, unseen, .. }) => Err(unread_error(unseen.as_deref().unwrap_or_default())),
            Ok(Seen { image: Some(i), exists: true, .. }) => {
                Ok(root.lstat(&i).is_ok_and(|m| m.is_file() && m.mode & 0o111 != 0))
            }
            _ => Ok(false),
        }
    }
}

/// The assignments of `keys` in the order the manager read them (fragment, then each
/// drop-in; by line), each with its key.
fn in_order<'u>(svc: &'u Unit, keys: &[&'static str]) -> Vec<(&'static str, &'u Setting)> {
    let rank = |f: &str| match &svc.fragment {
        Some(fr) if fr.path == f => 0,
        _ => svc.dropins.iter().position(|d| d.path == f).map_or(usize::MAX, |i| i + 1),
    };
    let mut out: Vec<(&'static str, &Setting)> =
        keys.iter().flat_map(|k| svc.get("Service", k).iter().map(move |s| (*k, s))).collect();
    out.sort_by_key(|(_, s)| (rank(&s.file), s.line));
    out
}

/// The error of a path in the disk image `why` names.
fn unread_error(why: &str) -> String {
    format!("not known: it is in the disk image of {why}, which is not read")
}

/// `-PATH`: whether a missing path is passed over, and the path.
fn strip_dash(w: &str) -> (bool, &str) {
    match w.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, w),
    }
}

/// A value's words (quotes removed); an unbalanced one gives none.
fn words(v: &str) -> Vec<String> {
    super::exec::split_words(v).map(|w| w.into_iter().map(|(w, _)| w).collect()).unwrap_or_default()
}

/// `SRC:DEST:OPTIONS`, a `\\:` standing for a colon.
fn split_colons(w: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = w.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => match chars.next() {
                Some(n) => n,
                None => break,
            },
            ':' => {
                out.push(String::new());
                continue;
            }
            c => c,
        };
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LoadState;

    fn service(lines: &[(&str, &str)]) -> Unit {
        let mut section: BTreeMap<String, Vec<Setting>> = BTreeMap::new();
        for (i, (k, v)) in lines.iter().enumerate() {
            let s = Setting { value: (*v).into(), file: "/etc/systemd/system/x.service".into(), line: i as u32 + 2 };
            section.entry((*k).into()).or_default().push(s);
        }
        Unit {
            name: "x.service".into(),
            names: vec!["x.service".into()],
            unit_type: "service".into(),
            load_state: LoadState::Loaded,
            load_error: None,
            fragment: None,
            dropins: Vec::new(),
            settings: std::sync::Arc::new(BTreeMap::from([("Service".to_string(), section)])),
            file_state: None,
            hidden: false,
        }
    }

    fn put(root: &std::path::Path, p: &str) {
        let f = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, "#!/bin/sh\n").unwrap();
    }

    /// S41: what each command of a service sees, as measured in the booted image
    /// (`tests/it/exec_oracle.rs`), on the pieces the oracle does not reach one by one.
    #[test]
    fn s41_a_commands_view_of_the_file_system() {
        let d = tempfile::tempdir().unwrap();
        for p in ["/srv/j/opt/d", "/opt/a", "/opt/b", "/opt/c", "/tmp/t", "/home/h/x"] {
            put(d.path(), p);
        }
        std::fs::create_dir_all(d.path().join("srv/j/usr/bin")).unwrap();
        std::os::unix::fs::symlink("../../../../opt/d", d.path().join("srv/j/usr/bin/up")).unwrap();
        let root = Root::open(d.path()).unwrap();
        let id = |v: &str| Some(v.to_string());
        let svc = service(&[
            ("RootDirectory", "/srv/j"),
            ("BindReadOnlyPaths", r"/opt/b:/opt/b\:c /opt/c:/opt/a"),
            ("BindPaths", "/opt/b:/opt/a"),
            ("TemporaryFileSystem", "/empty:ro"),
            ("BindPaths", "/opt/b:/empty/in/x"),
            ("InaccessiblePaths", "-/usr"),
            ("BindPaths", "/opt/b:/usr/bin/x"),
            ("ProtectHome", "tmpfs"),
            ("PrivateTmp", "yes"),
        ]);
        let views = Namespace::views(&root, &svc, &id);
        let (all, plus) = (views.sandboxed.as_ref().unwrap(), views.plus.as_ref().unwrap());
        assert!(views.differ());
        let fact = |ns: &Namespace, p: &str| ns.path_fact(&root, p, None);
        // The first bind onto a place wins; `\:` is a colon of the name.
        assert_eq!(fact(all, "/opt/a").resolved.as_deref(), Some("/opt/c"));
        assert_eq!(fact(all, "/opt/b:c").resolved.as_deref(), Some("/opt/b"));
        // An empty directory shows the places of deeper binds, made on the way.
        assert_eq!(fact(all, "/empty/in/x").resolved.as_deref(), Some("/opt/b"));
        assert!(fact(all, "/empty/in").error.is_none());
        assert!(
            fact(all, "/empty/other").error.as_deref().is_some_and(|e| e.contains("TemporaryFileSystem=/empty:ro"))
        );
        // Below an inaccessible path nothing shows, a bind neither; a `+` command sees it.
        let hidden = fact(all, "/usr/bin/x");
        assert_eq!(
            (hidden.resolved, hidden.error.as_deref(), hidden.hidden_by.as_deref()),
            (
                None,
                Some("does not exist for the command: InaccessiblePaths=-/usr hides it"),
                Some("InaccessiblePaths=-/usr")
            )
        );
        assert_eq!(fact(plus, "/usr/bin/x").resolved.as_deref(), Some("/opt/b"));
        // In the jail a `..` stops at its root, and that is no error there.
        let up = fact(plus, "/usr/bin/up");
        assert_eq!((up.resolved.as_deref(), up.error), (Some("/srv/j/opt/d"), None));
        // `ProtectHome=tmpfs` and `PrivateTmp=` empty their places for the sandboxed only.
        assert!(fact(all, "/home/h/x").resolved.is_none() && fact(all, "/tmp/t").resolved.is_none());
        assert_eq!(fact(plus, "/tmp/t").resolved.as_deref(), Some("/srv/j/tmp/t"));
        // Without any of those settings there is no view to make.
        let plain = Namespace::views(&root, &service(&[("ExecStart", "/bin/true")]), &id);
        assert!(plain.sandboxed.is_none() && plain.plus.is_none());
        // Any boolean systemd takes (`y`); a jail that is the image's root is none.
        let short = Namespace::views(&root, &service(&[("PrivateTmp", "y"), ("RootDirectory", "/srv/j/../..")]), &id);
        assert!(short.plus.is_none() && short.differ());
        assert!(short.sandboxed.as_ref().is_some_and(|ns| ns.path_fact(&root, "/tmp/t", None).resolved.is_none()));
    }

    /// S41: a disk image is not read, so what a command finds in it is not known (and a
    /// bare name's lookup stops there); an extension directory's files show over `/usr`
    /// and `/opt`, the last listed on top; the images are code the service runs.
    #[test]
    fn s41_disk_images_and_extensions() {
        let d = tempfile::tempdir().unwrap();
        for p in ["/usr/bin/job", "/usr/bin/plain", "/srv/ext/usr/bin/job", "/srv/ext2/usr/bin/job", "/srv/ext2/opt/o"]
        {
            put(d.path(), p);
        }
        put(d.path(), "/var/lib/img/app.raw");
        for ext in ["ext", "ext2"] {
            put(d.path(), &format!("/srv/{ext}/usr/lib/extension-release.d/extension-release.{ext}"));
        }
        put(d.path(), "/srv/bare/usr/bin/job");
        let root = Root::open(d.path()).unwrap();
        let id = |v: &str| Some(v.to_string());
        let view = |lines: &[(&str, &str)]| Namespace::views(&root, &service(lines), &id).sandboxed;
        let resolved = |ns: &Namespace, p: &str| ns.path_fact(&root, p, None).resolved;

        let img = view(&[("RootImage", "/var/lib/img/app.raw"), ("BindReadOnlyPaths", "/usr/bin/plain:/usr/bin/p2")]);
        let img = img.unwrap();
        let job = img.path_fact(&root, "/usr/bin/job", None);
        assert_eq!((job.resolved, job.hidden_by), (None, None));
        assert_eq!(
            job.error.as_deref(),
            Some("not known: it is in the disk image of RootImage=/var/lib/img/app.raw, which is not read")
        );
        assert_eq!(resolved(&img, "/usr/bin/p2").as_deref(), Some("/usr/bin/plain"));
        assert_eq!(
            img.images.iter().map(|i| (i.key, i.path.as_str())).collect::<Vec<_>>(),
            [("RootImage", "/var/lib/img/app.raw")]
        );
        let how = super::super::exec::Lookup { search: None, ns: Some(&img), wd: None };
        let bare = super::super::exec::resolve_executable(&root, "job", &how, None);
        assert!(bare.resolved.is_none() && bare.error.is_some_and(|e| e.contains("RootImage=")));

        let ext =
            view(&[("ExtensionDirectories", "/srv/ext2 -/srv/none"), ("ExtensionDirectories", "/srv/ext")]).unwrap();
        assert_eq!(resolved(&ext, "/usr/bin/job").as_deref(), Some("/srv/ext/usr/bin/job"));
        assert_eq!(resolved(&ext, "/opt/o").as_deref(), Some("/srv/ext2/opt/o"));
        assert_eq!(resolved(&ext, "/usr/bin/plain").as_deref(), Some("/usr/bin/plain"));
        assert_eq!(ext.images.len(), 2);
        assert!(ext.fails.is_none());
        // Without its extension-release file an extension fails the service.
        let bare = view(&[("ExtensionDirectories", "/srv/bare")]).unwrap();
        let why = bare.fails.map(|(_, why)| why);
        assert_eq!(
            why.as_deref(),
            Some("ExtensionDirectories=/srv/bare: it has no usr/lib/extension-release.d/extension-release.bare")
        );

        // An extension image above a directory hides what is below it; below, it does not.
        let over = view(&[("ExtensionDirectories", "/srv/ext"), ("ExtensionImages", "/var/lib/img/app.raw:root:ro")]);
        let over = over.unwrap();
        assert!(
            over.unread(&root, "/usr/bin/job")
                .is_some_and(|e| e.contains("ExtensionImages=/var/lib/img/app.raw:root:ro"))
        );
        assert!(over.unread(&root, "/etc/passwd").is_none());
        let under = view(&[("ExtensionImages", "/var/lib/img/app.raw"), ("ExtensionDirectories", "/srv/ext")]).unwrap();
        assert_eq!(resolved(&under, "/usr/bin/job").as_deref(), Some("/srv/ext/usr/bin/job"));
        assert!(under.unread(&root, "/usr/bin/plain").is_some());

        let mounted = view(&[("MountImages", "/var/lib/img/app.raw:/opt/app:ro")]).unwrap();
        assert!(mounted.unread(&root, "/opt/app/bin/x").is_some());
        assert_eq!(resolved(&mounted, "/usr/bin/job").as_deref(), Some("/usr/bin/job"));
        // A missing image fails the service, unless `-` says to pass it over.
        assert!(view(&[("MountImages", "/none.raw:/opt/app")]).is_some_and(|ns| ns.fails.is_some()));
        assert!(
            view(&[("MountImages", "-/none.raw:/opt/app"), ("RootImage", "/none.raw")])
                .is_some_and(|ns| ns.fails.as_ref().is_some_and(|(s, _)| s.line == 3))
        );
    }

    /// A hostile unit listing tens of thousands of mounts is cut at `MAX_MOUNTS` (each
    /// lookup looks at every mount: all of them would take minutes), and says so.
    #[test]
    fn a_flood_of_mounts_is_cut_short() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "/opt/a");
        let root = Root::open(d.path()).unwrap();
        let many = |f: &dyn Fn(usize) -> String| (0..20_000).map(f).collect::<Vec<_>>().join(" ");
        let svc = service(&[
            ("BindPaths", &many(&|i| format!("/opt:/m/{i}"))),
            ("BindReadOnlyPaths", &many(&|_| "/opt/a:/x".to_string())),
            ("TemporaryFileSystem", &many(&|i| format!("/t/{i}"))),
        ]);
        let ns = Namespace::views(&root, &svc, &|v: &str| Some(v.to_string())).sandboxed.unwrap();
        assert_eq!(ns.mounts.len(), MAX_MOUNTS);
        assert_eq!(ns.capped.as_ref().map(|s| s.line), Some(2));
        assert_eq!(ns.path_fact(&root, "/m/7/a", None).resolved.as_deref(), Some("/opt/a"));
    }

    #[test]
    fn colons_split_unless_escaped() {
        assert_eq!(split_colons(r"-/a\:b:/c:rbind"), ["-/a:b", "/c", "rbind"]);
        assert_eq!(split_colons("/a"), ["/a"]);
        assert_eq!(split_colons("/a\\"), ["/a"]);
    }
}
