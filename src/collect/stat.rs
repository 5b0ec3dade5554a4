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

/// Resolves a configured path (executable, `EnvironmentFile=`, link target) inside the
/// root and describes it. `paths` receives the metadata of every parent.
pub fn path_fact(root: &Root, path: &str, paths: &mut BTreeMap<String, FileMeta>) -> PathFact {
    let nofollow = root.chase(path, false);
    let link_meta = nofollow
        .as_ref()
        .ok()
        .filter(|c| c.exists)
        .and_then(|c| lstat(root, &c.path))
        .filter(|m| m.kind == FileKind::Symlink);
    // Without a link at the end, following it resolves the same way: chase once.
    let chased = if link_meta.is_some() { root.chase(path, true) } else { nofollow };
    match chased {
        Ok(c) => {
            let meta = if c.exists { lstat(root, &c.path) } else { None };
            let parents = record_chain(root, root::parent(&c.path), paths);
            let mut error = None;
            if !c.exists {
                error = Some("does not exist".to_string());
            }
            if c.clamped {
                error = Some("a '..' climbs above the root (held at /)".to_string());
            }
            PathFact { path: path.to_string(), resolved: Some(c.path), meta, link_meta, parents, error }
        }
        Err(e) => PathFact {
            path: path.to_string(),
            resolved: None,
            meta: None,
            link_meta,
            parents: Vec::new(),
            error: Some(e.to_string()),
        },
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
}
