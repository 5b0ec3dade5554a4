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
//! service at start (`fails`). Not modelled: `RootImage=`, `MountImages=`, an empty
//! `BindPaths=` resetting `BindReadOnlyPaths=` too, and `PrivateUsers=` (which a user
//! manager's service needs for any of this).

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
    /// What hides it, when something does.
    pub hidden_by: Option<String>,
}

/// What is at one place of the view.
enum At {
    Image(String),
    MadeDir,
    Gone(Option<String>),
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
const KEYS: [&str; 8] = [
    "RootDirectory",
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
        let mut ns = Namespace { mounts, fails: None, capped: None, looked: 0 };
        for (key, s) in in_order(svc, &["BindPaths", "BindReadOnlyPaths"]) {
            for w in words(&s.value) {
                if ns.full(s) {
                    break;
                }
                let Some(w) = expand(&w) else { continue };
                let mut parts = split_colons(&w).into_iter();
                let src = parts.next().unwrap_or_default();
                // `-`: a missing source is passed over; without it the service fails.
                let (optional, src) = match src.strip_prefix('-') {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, src),
                };
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
    fn at(&self, cur: &str) -> At {
        // Below an inaccessible node nothing shows, deeper mounts neither.
        if let Some(h) = self.mounts.iter().find(|m| m.source == Source::Hidden && under(cur, &m.at).is_some()) {
            return match cur == h.at {
                true => At::MadeDir,
                false => At::Gone(Some(h.why.clone())),
            };
        }
        let deepest = self
            .mounts
            .iter()
            .filter(|m| under(cur, &m.at).is_some())
            .max_by_key(|m| m.at.len())
            .unwrap_or(&self.mounts[0]);
        match &deepest.source {
            Source::Image(src) => At::Image(format!("{src}{}", under(cur, &deepest.at).unwrap_or(""))),
            _ if cur == deepest.at || self.holds_a_place(cur) => At::MadeDir,
            _ => At::Gone(Some(deepest.why.clone())),
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
        let done = |cur: String, image: Option<String>, exists, clamped, hidden_by| {
            let path = if cur.is_empty() { "/".to_string() } else { cur };
            Ok(Seen { image, path, exists, clamped, hidden_by })
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
            let image = match self.at(&cur) {
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
                    let image = self.lexical(&cur);
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
        let image = self.lexical(&cur);
        done(cur, image, true, clamped, None)
    }

    /// The image's path a normalized path of the view stands for, links not followed.
    fn lexical(&self, path: &str) -> Option<String> {
        let cur = if path == "/" { "" } else { path };
        match self.at(cur) {
            At::Image(i) if i.is_empty() => Some("/".into()),
            At::Image(i) => Some(i),
            _ => None,
        }
    }

    /// `stat::path_fact` (with `paths`) or `stat::locate` of a path of the view: `path`
    /// is the image's path it names, `resolved` where its links lead.
    pub fn path_fact(&self, root: &Root, p: &str, paths: Option<&mut BTreeMap<String, FileMeta>>) -> PathFact {
        let norm = root::normalize(p);
        let named = self.lexical(&norm).unwrap_or_else(|| norm.clone());
        let mut fact =
            PathFact { path: named, resolved: None, meta: None, link_meta: None, parents: Vec::new(), error: None };
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
                fact.error = match (&s.hidden_by, s.clamped, s.exists) {
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

    /// Whether `p` (of the view) is a regular file with an execute bit, as a bare name's
    /// lookup wants (`check_x_access`).
    pub fn runnable(&self, root: &Root, p: &str) -> bool {
        matches!(self.chase(root, p, true), Ok(Seen { image: Some(i), exists: true, .. })
            if root.lstat(&i).is_ok_and(|m| m.is_file() && m.mode & 0o111 != 0))
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
            (hidden.resolved, hidden.error.as_deref()),
            (None, Some("does not exist for the command: InaccessiblePaths=-/usr hides it"))
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
