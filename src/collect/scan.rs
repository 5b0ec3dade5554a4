//! Reads one search directory: unit-named entries (S4–S9), drop-in directories
//! (`*.d/`, S10–S14) and dependency directories (`*.wants/`, `*.requires/`,
//! `*.upholds/`, S15). Everything is `lstat`ed, never followed; hidden and backup names
//! are kept and marked (S8). A directory is scanned once and shared by every scope
//! that lists it (all users share `/usr/lib/systemd/user`).

use std::collections::BTreeMap;

use super::names;
use super::root::{self, Root};
use super::stat::meta_from;
use crate::model::{FileKind, FileMeta, Warning};

/// A directory entry with its metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// In-image path (under the directory's resolved path).
    pub path: String,
    pub meta: FileMeta,
    pub hidden: bool,
    /// A link to `/dev/null` or an empty file (`null_or_empty_path()`, S7/S13): decided
    /// once here, since every scope sharing this directory asks.
    pub null: bool,
    /// For a symlink: where it resolves inside the root (or why not), chased once here.
    pub target: Option<Result<super::root::Chased, super::root::ChaseError>>,
}

/// One `NAME.d/`, `NAME.wants/`, … directory and the entries systemd would read.
#[derive(Debug, Clone)]
pub struct SubDir {
    pub path: String,
    pub meta: FileMeta,
    /// Entries systemd reads: for `.d` the `*.conf` files, for `.wants` everything
    /// file-like with a visible name (validity is judged later, with a warning).
    pub entries: Vec<Entry>,
    /// Entries systemd skips (hidden/backup names, wrong suffix, directories), kept so
    /// policies can flag planted look-alikes.
    pub ignored: Vec<Entry>,
}

/// A dependency directory's key: the unit (stem) and `wants`/`requires`/`upholds`.
pub type DepKey = (String, String);

/// The scan of one search directory.
#[derive(Debug, Clone, Default)]
pub struct DirScan {
    /// Resolved in-image path.
    pub dir: String,
    /// Unit-named entries by name (files, links, or anything else with a unit name).
    pub units: BTreeMap<String, Entry>,
    /// `X.d` directories by `X` (a unit name, a dash prefix like `foo-.timer`, or a
    /// type like `timer`).
    pub dropins: BTreeMap<String, SubDir>,
    /// `(X, "wants"|"requires"|"upholds")` directories.
    pub deps: BTreeMap<(String, String), SubDir>,
    /// Every symlink in the dependency directories, by its own name and, for instances,
    /// also by its template's name: `(stem, kind)` of the directory and the entry index.
    /// `is-enabled` and activation look links up by name; scanning all of them for
    /// each of 20,000 units would be quadratic.
    pub dep_links: super::FastMap<String, Vec<(DepKey, usize)>>,
    /// Unit-named symlinks directly in the directory, by the last component of their text.
    pub links_by_dest: super::FastMap<String, Vec<String>>,
    /// The stems of `deps`, so that a lookup that misses (nearly all: each unit asks
    /// every directory for each of its stems and kinds) builds no key.
    dep_stems: super::FastSet<String>,
}

impl DirScan {
    /// The `X` of every `X.wants`/`X.requires`/`X.upholds` directory.
    pub fn dep_stem_names(&self) -> impl Iterator<Item = &str> {
        self.dep_stems.iter().map(String::as_str)
    }

    /// The dependency links named `name` (or, when `name` is a template, its instances).
    pub fn dep_links_named<'a>(&'a self, name: &str) -> impl Iterator<Item = (&'a (String, String), &'a Entry)> + 'a {
        self.dep_links
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|(k, i)| Some((k, self.deps.get(k)?.entries.get(*i)?)))
    }

    /// The `STEM.KIND/` directory (`kind`: `wants`, `requires` or `upholds`).
    pub fn dep_dir(&self, stem: &str, kind: &str) -> Option<&SubDir> {
        if !self.dep_stems.contains(stem) {
            return None;
        }
        self.deps.get(&(stem.to_string(), kind.to_string()))
    }

    fn index(&mut self) {
        self.dep_stems = self.deps.keys().map(|(stem, _)| stem.clone()).collect();
        for (k, sub) in &self.deps {
            for (i, e) in sub.entries.iter().enumerate().filter(|(_, e)| e.meta.kind == FileKind::Symlink) {
                self.dep_links.entry(e.name.clone()).or_default().push((k.clone(), i));
                if let Some(t) = names::template_of(&e.name) {
                    self.dep_links.entry(t).or_default().push((k.clone(), i));
                }
            }
        }
        for e in self.units.values().filter(|e| e.meta.kind == FileKind::Symlink) {
            let dest = e.meta.link.as_deref().map(root::basename).unwrap_or_default().to_string();
            self.links_by_dest.entry(dest).or_default().push(e.name.clone());
        }
    }
}

/// Subdirectories of one directory read on every thread from this many on (a host's
/// `/etc/systemd/system`: a `.d` directory of each of 50 units, read in turn, left the
/// other core waiting); a user's one or two are read in turn.
const PARALLEL_SUBDIRS: usize = 8;

/// Scans `dir` (a resolved, existing in-image directory).
pub fn scan_dir(root: &Root, dir: &str, warnings: &mut Vec<Warning>) -> DirScan {
    let mut out = DirScan { dir: dir.to_string(), ..DirScan::default() };
    // `X.d` (kind `None`) and `X.wants`, … (kind `Some`) directories, by stem `X`.
    let mut subs: Vec<(String, Option<&'static str>, Entry)> = Vec::new();
    for e in read_entries(root, dir, warnings) {
        if names::classify(&e.name).is_some() {
            out.units.insert(e.name.clone(), e);
            continue;
        }
        if e.meta.kind != FileKind::Dir {
            continue;
        }
        if let Some(stem) = e.name.strip_suffix(".d") {
            subs.push((stem.to_string(), None, e));
        } else if let Some((stem, kind)) = ["wants", "requires", "upholds"]
            .into_iter()
            .find_map(|kind| Some((e.name.strip_suffix(kind)?.strip_suffix('.')?, kind)))
        {
            subs.push((stem.to_string(), Some(kind), e));
        }
    }
    let read = |(stem, kind, e): (String, Option<&'static str>, Entry)| {
        let mut w = Vec::new();
        // A drop-in directory's `*.conf` files; a dependency directory's every entry.
        let sub = read_sub(root, &e, &mut w, |c| {
            (kind.is_some() || c.name.ends_with(".conf"))
                && !c.hidden
                && matches!(c.meta.kind, FileKind::File | FileKind::Symlink)
        });
        (stem, kind, sub, w)
    };
    let parallel = subs.len() >= PARALLEL_SUBDIRS;
    super::map_in_order(subs, parallel, read, |(stem, kind, sub, mut w)| {
        warnings.append(&mut w);
        match kind {
            None => {
                out.dropins.insert(stem, sub);
            }
            Some(kind) => {
                out.deps.insert((stem, kind.to_string()), sub);
            }
        }
    });
    out.index();
    out
}

fn read_sub(root: &Root, e: &Entry, warnings: &mut Vec<Warning>, keep: impl Fn(&Entry) -> bool) -> SubDir {
    let (entries, ignored) = read_entries(root, &e.path, warnings).into_iter().partition(|c| keep(c));
    SubDir { path: e.path.clone(), meta: e.meta.clone(), entries, ignored }
}

/// `null_or_empty_path()`: an empty regular file, or a link whose target resolves (inside
/// the root) to `/dev/null` or to an empty file.
fn is_null(
    root: &Root,
    meta: &FileMeta,
    target: Option<&Result<super::root::Chased, super::root::ChaseError>>,
) -> bool {
    match (meta.kind, target) {
        (FileKind::File, _) => meta.size == 0,
        (FileKind::Symlink, Some(Ok(c))) if c.path == "/dev/null" => true,
        (FileKind::Symlink, Some(Ok(c))) if c.exists => root.lstat(&c.path).is_ok_and(|m| m.is_file() && m.size == 0),
        _ => false,
    }
}

/// Lists a directory, sorted by name, with `lstat` metadata. Unreadable directories and
/// entries become warnings; non-UTF-8 names are shown lossily (never valid unit names).
/// Directory entries read so far by this process, for the progress line.
pub static ENTRIES_READ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn read_entries(root: &Root, dir: &str, warnings: &mut Vec<Warning>) -> Vec<Entry> {
    let (list, errs) = match root.list(dir) {
        Ok(x) => x,
        Err(e) => {
            warnings.push(Warning { path: dir.into(), line: None, message: format!("cannot read directory: {e}") });
            return Vec::new();
        }
    };
    for (name, e) in errs {
        let path = root::join(dir, &String::from_utf8_lossy(&name));
        warnings.push(Warning { path, line: None, message: format!("cannot stat: {e}") });
    }
    ENTRIES_READ.fetch_add(list.len(), std::sync::atomic::Ordering::Relaxed);
    let one = |de: super::rootfd::DirEntry| {
        let name = String::from_utf8_lossy(&de.name).into_owned();
        let path = root::join(dir, &name);
        let bad_name = std::str::from_utf8(&de.name).is_err();
        let link = de.link.as_deref().map(|l| String::from_utf8_lossy(l).into_owned());
        let meta = meta_from(&de.stat, link);
        // `dir` is canonical (resolved, or a directory listed in one): chased from there.
        let target = (meta.kind == FileKind::Symlink).then(|| root.chase_in(dir, &name, true));
        let null = is_null(root, &meta, target.as_ref());
        (Entry { hidden: names::hidden_or_backup(&name), name, path, meta, null, target }, bad_name)
    };
    let mut v = Vec::with_capacity(list.len());
    let take = |(e, bad): (Entry, bool)| {
        if bad {
            warnings.push(Warning { path: e.path.clone(), line: None, message: "file name is not valid UTF-8".into() });
        }
        v.push(e);
    };
    let parallel = list.len() >= super::rootfd::PARALLEL_LISTING;
    super::map_in_order(list, parallel, one, take);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    /// A directory's `.d` and `.wants`/`.requires` subdirectories, read on every thread
    /// (`PARALLEL_SUBDIRS` or more) or in turn (fewer), come out the same way: each
    /// under its stem and kind, the right entries kept and ignored (S10, S15), and the
    /// warnings in the order of the subdirectories' names.
    #[test]
    fn subdirectories_read_in_parallel_or_in_turn_give_the_same_scan() {
        let t = tempfile::tempdir().unwrap();
        for (dir, n) in [("many", PARALLEL_SUBDIRS * 2 + 3), ("few", 2)] {
            let d = t.path().join(dir);
            std::fs::create_dir(&d).unwrap();
            let mut want_dropins = Vec::new();
            let mut want_deps = Vec::new();
            let mut want_warnings = Vec::new();
            for i in 0..n {
                let (name, stem, kind) = match i % 3 {
                    0 => (format!("u{i:02}.service.d"), format!("u{i:02}.service"), None),
                    1 => (format!("t{i:02}.target.wants"), format!("t{i:02}.target"), Some("wants")),
                    _ => (format!("t{i:02}.target.requires"), format!("t{i:02}.target"), Some("requires")),
                };
                let sub = d.join(&name);
                std::fs::create_dir(&sub).unwrap();
                std::fs::write(sub.join("10-a.conf"), "[Unit]\n").unwrap();
                std::fs::write(sub.join("notes.txt"), "").unwrap();
                std::fs::write(sub.join(".hidden.conf"), "").unwrap();
                symlink("/dev/null", sub.join("x.timer")).unwrap();
                std::fs::write(sub.join(OsStr::from_bytes(b"bad-\xff.conf")), "").unwrap();
                want_warnings.push(format!("/{dir}/{name}/bad-\u{fffd}.conf"));
                match kind {
                    None => want_dropins.push(stem),
                    Some(k) => want_deps.push((stem, k.to_string())),
                }
            }
            std::fs::create_dir(d.join("other.dir")).unwrap(); // neither kind: not read
            let root = Root::open(t.path()).unwrap();
            let mut warnings = Vec::new();
            let scan = scan_dir(&root, &format!("/{dir}"), &mut warnings);
            want_dropins.sort();
            want_deps.sort();
            want_warnings.sort();
            assert_eq!(scan.dropins.keys().cloned().collect::<Vec<_>>(), want_dropins, "{dir}");
            assert_eq!(scan.deps.keys().cloned().collect::<Vec<_>>(), want_deps, "{dir}");
            let names = |v: &[Entry]| v.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
            for sub in scan.dropins.values() {
                assert_eq!(names(&sub.entries), ["10-a.conf", "bad-\u{fffd}.conf"], "{}", sub.path);
                assert_eq!(names(&sub.ignored), [".hidden.conf", "notes.txt", "x.timer"], "{}", sub.path);
            }
            for sub in scan.deps.values() {
                assert_eq!(
                    names(&sub.entries),
                    ["10-a.conf", "bad-\u{fffd}.conf", "notes.txt", "x.timer"],
                    "{}",
                    sub.path
                );
                assert_eq!(names(&sub.ignored), [".hidden.conf"], "{}", sub.path);
            }
            let got: Vec<String> = warnings.iter().map(|w| w.path.clone()).collect();
            assert_eq!(got, want_warnings, "{dir}");
            assert!(warnings.iter().all(|w| w.message == "file name is not valid UTF-8"), "{warnings:?}");
        }
    }
}
