//! `lstat` → `FileMeta`, and path facts (a path resolved inside the root, with the
//! metadata of what it resolves to and of each parent directory). Read-only.

use std::collections::BTreeMap;

use super::root::{self, Root};
use super::rootfd::Stat;
use crate::model::{FileKind, FileMeta, Mode, PathFact};

/// Converts an `lstat` into a `FileMeta`; `link` is the raw link text.
pub fn meta_from(st: &Stat, link: Option<String>) -> FileMeta {
    let kind = if st.is_symlink() {
        FileKind::Symlink
    } else if st.is_dir() {
        FileKind::Dir
    } else if st.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    // A directory's size is how its filesystem stores entries (tmpfs: 20 bytes each), not
    // a fact about it: 0, so that a report never depends on it (`check --cache` compares
    // a directory it only looked through by identity, mode and owner).
    let size = if kind == FileKind::Dir { 0 } else { st.size };
    FileMeta { kind, mode: Mode(st.mode & 0o7777), uid: st.uid, gid: st.gid, size, link }
}

/// `lstat` of a canonical in-image path with the link text for symlinks.
fn lstat_meta(root: &Root, path: &str) -> std::io::Result<FileMeta> {
    let st = root.lstat(path)?;
    let link = st.is_symlink().then(|| root.readlink(path).ok()).flatten();
    Ok(meta_from(&st, link))
}

/// `lstat_meta`, `None` when missing or unreadable.
pub fn lstat(root: &Root, path: &str) -> Option<FileMeta> {
    lstat_meta(root, path).ok()
}

/// Records the metadata of `path` and every parent up to `/` into `paths`, and returns
/// the chain (path first). Missing components are skipped in the map but kept in the chain.
pub fn record_chain(root: &Root, path: &str, paths: &mut BTreeMap<String, FileMeta>) -> Vec<String> {
    let mut chain = vec![root::normalize(path)];
    while let Some(p) = chain.last().filter(|p| *p != "/") {
        chain.push(root::parent(p).to_string());
    }
    // Only this function fills `paths`, always up to `/`, and an existing path's parents
    // exist: once a path is there, so are its parents. The rest is looked at from the
    // top down, so that below a missing directory nothing is tried (the stat cache knows).
    let known = chain.iter().position(|p| paths.contains_key(p)).unwrap_or(chain.len());
    for p in chain[..known].iter().rev() {
        // Below a missing directory (or a file) every path fails the same way, and a run
        // that records what it saw drops what is under a failed path (`seen.rs`): 10,000
        // users without `/run/user/UID` asked for each of its five subdirectories,
        // component by component.
        match lstat_meta(root, p) {
            Ok(m) => {
                let file = !matches!(m.kind, FileKind::Dir | FileKind::Symlink);
                paths.insert(p.clone(), m);
                if file {
                    break;
                }
            }
            Err(e) if root::nothing_below(&e) => break,
            Err(_) => {}
        }
    }
    chain
}

/// A path fact's error when the path resolves to nothing there (its resolution met no
/// loop or unreadable directory: those are errors of their own).
pub const MISSING: &str = "does not exist";

/// A path fact's error when a `..` of it (or of a link on its way) went above `/`, where
/// the kernel holds it.
pub const CLIMBS: &str = "a '..' climbs above the root (held at /)";

/// Resolves a configured path (executable, `EnvironmentFile=`, link target) inside the
/// root and describes it. `paths` receives the metadata of every parent.
pub fn path_fact(root: &Root, path: &str, paths: &mut BTreeMap<String, FileMeta>) -> PathFact {
    let (mut fact, found) = locate_as(root, path);
    if let Some(c) = found {
        fact.meta = if c.exists { lstat(root, &c.path) } else { None };
        fact.parents = record_chain(root, root::parent(&c.path), paths);
    }
    fact
}

/// Where a configured path resolves, as `path_fact` says (its path, resolution, final
/// link and error), without the metadata of what it reaches or of its parents: what
/// `list` shows of an executable.
pub fn locate(root: &Root, path: &str) -> PathFact {
    locate_as(root, path).0
}

/// `locate`, with the chase that resolved the path (`None` when it failed).
fn locate_as(root: &Root, path: &str) -> (PathFact, Option<root::Chased>) {
    let nofollow = root.chase(path, false);
    let link_meta = nofollow
        .as_ref()
        .ok()
        .filter(|c| c.exists)
        .and_then(|c| lstat(root, &c.path))
        .filter(|m| m.kind == FileKind::Symlink);
    // Without a link at the end, following it resolves the same way: chase once.
    let chased = if link_meta.is_some() { root.chase(path, true) } else { nofollow };
    let fact = PathFact { link_meta, ..PathFact::named(path.to_string()) };
    match chased {
        Ok(c) => {
            let error = if c.clamped {
                Some(CLIMBS.to_string())
            } else if !c.exists {
                Some(MISSING.to_string())
            } else {
                None
            };
            (PathFact { resolved: Some(c.path.clone()), error, ..fact }, Some(c))
        }
        Err(e) => (PathFact { error: Some(e.to_string()), ..fact }, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S1: a search directory's parent chain records every existing component and no
    /// other, whether or not the walk stops at the first missing one (or a file).
    #[test]
    fn s1_a_chain_records_exactly_the_components_that_exist() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("home/u/.config/systemd")).unwrap();
        std::fs::write(p.join("home/f"), "").unwrap();
        std::os::unix::fs::symlink("u/.config", p.join("home/l")).unwrap();
        let root = Root::open(p).unwrap();
        for path in [
            "/home/u/.config/systemd/user",
            "/home/u/.local/share/systemd/user",
            "/home/f/x/y",
            "/home/l/systemd/user",
            "/run/user/1000/systemd/transient",
        ] {
            let mut paths = BTreeMap::new();
            let chain = record_chain(&root, path, &mut paths);
            assert_eq!(chain.first().map(String::as_str), Some(path));
            assert_eq!(chain.last().map(String::as_str), Some("/"));
            for c in &chain {
                // Asked one by one, as a fresh root would answer.
                let fresh = Root::open(p).unwrap();
                assert_eq!(paths.get(c), lstat(&fresh, c).as_ref(), "{path}: {c}");
            }
        }
    }

    /// What `list` keeps of a path (`locate`) is what `path_fact` says of it, less the
    /// metadata, and both resolve as the chase does: for files, links (relative,
    /// absolute, dangling, looping, through a directory link), a `..` above the root, a
    /// path through a file and a missing one.
    #[test]
    fn locate_is_path_fact_without_the_metadata() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("usr/bin")).unwrap();
        std::fs::write(p.join("usr/bin/tool"), "#!/bin/sh\n").unwrap();
        symlink("usr/bin", p.join("bin")).unwrap();
        symlink("tool", p.join("usr/bin/rel")).unwrap();
        symlink("/usr/bin/tool", p.join("usr/bin/abs")).unwrap();
        symlink("/usr/bin/gone", p.join("usr/bin/dangling")).unwrap();
        symlink("loop2", p.join("usr/bin/loop1")).unwrap();
        symlink("loop1", p.join("usr/bin/loop2")).unwrap();
        symlink("../../../../../usr/bin/tool", p.join("usr/bin/climb")).unwrap();
        let root = Root::open(p).unwrap();
        // (path, where it resolves, its error's start), as the chase answers.
        let clamp = "a '..' climbs above the root";
        let cases = [
            ("/usr/bin/tool", Some("/usr/bin/tool"), None),
            ("/bin/tool", Some("/usr/bin/tool"), None),
            ("/usr/bin/rel", Some("/usr/bin/tool"), None),
            ("/usr/bin/abs", Some("/usr/bin/tool"), None),
            ("/usr/bin/dangling", Some("/usr/bin/gone"), Some("does not exist")),
            ("/usr/bin/loop1", None, Some("")),
            ("/usr/bin/climb", Some("/usr/bin/tool"), Some(clamp)),
            ("/usr/../../usr/bin/tool", Some("/usr/bin/tool"), Some(clamp)),
            ("/usr/bin/tool/x", None, Some("")),
            ("/opt/missing", Some("/opt/missing"), Some("does not exist")),
        ];
        let (mut linked, mut failed, mut erred) = (0, 0, 0);
        for (path, resolved, error) in cases {
            let full = path_fact(&root, path, &mut BTreeMap::new());
            assert_eq!(full.resolved.as_deref(), resolved, "{path}: {full:?}");
            assert_eq!(full.error.is_some(), error.is_some(), "{path}: {full:?}");
            assert!(
                full.error.as_deref().unwrap_or_default().starts_with(error.unwrap_or_default()),
                "{path}: {full:?}"
            );
            let want = PathFact { meta: None, parents: Vec::new(), ..full.clone() };
            assert_eq!(locate(&root, path), want, "{path}");
            linked += usize::from(full.link_meta.is_some());
            failed += usize::from(full.resolved.is_none());
            erred += usize::from(full.error.is_some());
        }
        assert!(linked >= 4 && failed >= 1 && erred >= 4, "{linked} {failed} {erred}: the cases cover each branch");
    }
}
