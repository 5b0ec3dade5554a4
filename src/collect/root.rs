//! The root filesystem being read, and chroot-style path resolution inside it (S16).
//!
//! Every in-image path is resolved component by component with `lstat`/`readlink` on
//! the host path `ROOT/…`: an absolute link target restarts at ROOT, `..` at ROOT stays
//! at ROOT (and is reported as clamped), and no host path outside ROOT is ever opened.
//! This is what `chase_symlinks(…, root, …)` does in systemd and what `systemctl --root`
//! relies on; resolving against the host instead would read the wrong files.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::rootfd::{self, Stat};

/// systemd's `CHASE_SYMLINKS_MAX`: more hops than this is a loop.
const MAX_HOPS: usize = 32;

/// An opened root: a host directory that stands for `/`, held by an fd so that every
/// read is relative to it (see `rootfd.rs`).
#[derive(Debug, Clone)]
pub struct Root {
    host: PathBuf,
    fd: Arc<OwnedFd>,
    dirs: Arc<DirCache>,
}

/// Directories walked so far in this run, by their canonical in-image path (a real
/// directory reached with no link on the way). A walk resumes below the longest such
/// prefix of a path instead of from the root. Bounded: it only saves syscalls.
#[derive(Debug, Default)]
struct DirCache(std::sync::Mutex<std::collections::HashSet<String>>);

impl DirCache {
    /// Entries kept at most; past this the cache starts over.
    const MAX: usize = 65_536;

    fn has(&self, p: &str) -> bool {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(p)
    }

    fn put(&self, p: &str) {
        let mut m = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= Self::MAX {
            m.clear();
        }
        if !m.contains(p) {
            m.insert(p.to_string());
        }
    }
}

/// Why a path could not be resolved inside the root.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChaseError {
    #[error("too many levels of symbolic links (loop?)")]
    Loop,
    #[error("a path component is not a directory: {0}")]
    NotADirectory(String),
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
}

/// The outcome of resolving an in-image path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chased {
    /// The resolved in-image path (absolute, normalised).
    pub path: String,
    /// Whether the resolved path exists.
    pub exists: bool,
    /// A `..` tried to climb above the root and was held at `/`.
    pub clamped: bool,
}

impl Root {
    /// Opens a root. The host path is canonicalised once so links in it (e.g. a root
    /// given as a symlink) are not mistaken for links inside the image.
    pub fn open(host: &Path) -> io::Result<Root> {
        let host = host.canonicalize()?;
        let fd = nix::fcntl::open(
            &host,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| match e {
            nix::Error::ENOTDIR => io::Error::new(io::ErrorKind::NotADirectory, "root is not a directory"),
            e => rootfd::errno(e),
        })?;
        Ok(Root { host, fd: Arc::new(fd), dirs: Arc::default() })
    }

    pub fn host_root(&self) -> &Path {
        &self.host
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// True when this root is the running system's `/`.
    pub fn is_slash(&self) -> bool {
        self.host == Path::new("/")
    }

    /// `lstat` of a canonical in-image path, never following the last component.
    pub fn lstat(&self, inimage: &str) -> io::Result<Stat> {
        rootfd::lstat(self.fd(), inimage)
    }

    /// `readlink` of a canonical in-image path (the raw link text, lossily UTF-8).
    pub fn readlink(&self, inimage: &str) -> io::Result<String> {
        rootfd::readlink(self.fd(), inimage).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Every entry of a canonical directory, `lstat`ed relative to it, sorted by name;
    /// and the entries that could not be stat'ed, with why.
    pub fn list(&self, dir: &str) -> io::Result<rootfd::Listing> {
        rootfd::list(self.fd(), dir)
    }

    /// Resolves `path` inside the root, like systemd's `chase()` with `CHASE_PREFIX_ROOT`:
    /// component by component through directory fds, so a link anywhere on the way is
    /// seen and resolved here (an absolute target restarts at the root, `..` never
    /// climbs above it) and the kernel never follows one. With `follow_last` false a
    /// final symlink is left as is (like `O_NOFOLLOW`). A missing component ends the
    /// walk: the rest is normalised lexically and `exists` is false.
    ///
    /// Directories already resolved in this run are remembered (see `DirCache`): 10,000
    /// user scopes resolve `/home`, and each its own home, once instead of per path.
    pub fn chase(&self, path: &str, follow_last: bool) -> Result<Chased, ChaseError> {
        let mut todo: Vec<String> = Vec::new();
        push_components(&mut todo, Path::new(path));
        // Start below the longest prefix of the path already resolved to a directory (a
        // path with `..` walks from the root: `..` needs the real parents).
        let mut stack: Vec<(String, Option<OwnedFd>)> = Vec::new();
        if !todo.iter().any(|c| c == "..") {
            let mut prefix = String::from("/");
            let mut hit = 0;
            for c in todo.iter().rev().take(todo.len().saturating_sub(1)) {
                prefix = join(&prefix, c);
                if !self.dirs.has(&prefix) {
                    break;
                }
                hit += 1;
                stack.push((prefix.clone(), None));
            }
            todo.truncate(todo.len() - hit);
        }
        let mut hops = 0;
        let mut clamped = false;
        let cur =
            |stack: &Vec<(String, Option<OwnedFd>)>| stack.last().map_or_else(|| "/".to_string(), |s| s.0.clone());
        while let Some(comp) = todo.pop() {
            if comp == ".." {
                clamped |= stack.pop().is_none();
                continue;
            }
            let here = cur(&stack);
            let next = join(&here, &comp);
            let is_last = todo.is_empty();
            // The top directory's fd, opened on first use (a canonical, link-free path).
            if let Some(top) = stack.last_mut()
                && top.1.is_none()
            {
                top.1 = Some(rootfd::open_dir_path(self.fd(), &top.0).map_err(|e| io_err(&top.0, &e))?);
            }
            let dfd = stack.last().and_then(|s| s.1.as_ref()).map_or_else(|| self.fd(), |fd| fd.as_fd());
            let st = match rootfd::stat_child(dfd, &comp) {
                Ok(st) => st,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let mut rest = next;
                    while let Some(c) = todo.pop() {
                        if c == ".." {
                            clamped |= !pop(&mut rest);
                        } else {
                            rest = join(&rest, &c);
                        }
                    }
                    return Ok(Chased { path: rest, exists: false, clamped });
                }
                Err(e) => return Err(io_err(&next, &e)),
            };
            if st.is_symlink() && (!is_last || follow_last) {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(ChaseError::Loop);
                }
                let target = rootfd::readlink_child(dfd, &comp).map_err(|e| io_err(&next, &e))?;
                let target = PathBuf::from(String::from_utf8_lossy(&target).into_owned());
                if target.is_absolute() {
                    stack.clear();
                }
                push_components(&mut todo, &target);
                continue;
            }
            if is_last {
                return Ok(Chased { path: next, exists: true, clamped });
            }
            if !st.is_dir() {
                return Err(ChaseError::NotADirectory(next));
            }
            let fd = rootfd::open_child_dir(dfd, &comp).map_err(|e| io_err(&next, &e))?;
            self.dirs.put(&next);
            stack.push((next, Some(fd)));
        }
        Ok(Chased { path: cur(&stack), exists: true, clamped })
    }

    /// Reads a regular file at a canonical path without following a final symlink, with
    /// a size cap so a hostile 10 GiB "unit" cannot exhaust memory. FIFOs, sockets and
    /// devices are refused unopened.
    pub fn read_capped(&self, inimage: &str, cap: u64) -> io::Result<Vec<u8>> {
        rootfd::read_capped(self.fd(), inimage, cap)
    }

    /// Chases `path` (following links) and reads the regular file it names.
    pub fn read_resolved(&self, path: &str, cap: u64) -> io::Result<Vec<u8>> {
        let c = self.chase(path, true).map_err(io::Error::other)?;
        if !c.exists {
            return Err(io::Error::new(io::ErrorKind::NotFound, "does not exist"));
        }
        self.read_capped(&c.path, cap)
    }
}

/// Pushes the components of `p` onto a stack so they pop in path order.
fn push_components(todo: &mut Vec<String>, p: &Path) {
    let comps: Vec<String> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    todo.extend(comps.into_iter().rev());
}

/// Removes the last component; false when already at `/`.
fn pop(p: &mut String) -> bool {
    if p == "/" {
        return false;
    }
    match p.rfind('/') {
        Some(0) => *p = "/".into(),
        Some(i) => p.truncate(i),
        None => *p = "/".into(),
    }
    true
}

/// Joins an in-image directory and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') { format!("{dir}{name}") } else { format!("{dir}/{name}") }
}

/// The parent of an in-image path (`/` for `/x`).
pub fn parent(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    }
}

/// The last component of an in-image path.
pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Normalises an in-image path lexically (`.`/`..`/duplicate slashes), clamped at `/`.
pub fn normalize(p: &str) -> String {
    let mut out = String::from("/");
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                pop(&mut out);
            }
            c => out = join(&out, c),
        }
    }
    out
}

fn io_err(path: &str, e: &io::Error) -> ChaseError {
    ChaseError::Io { path: path.to_string(), message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, Root) {
        let d = tempfile::tempdir().unwrap();
        let r = Root::open(d.path()).unwrap();
        (d, r)
    }

    #[test]
    fn s16_absolute_link_resolves_inside_root() {
        let (d, r) = root();
        std::fs::create_dir_all(d.path().join("usr/lib/systemd/system")).unwrap();
        std::fs::write(d.path().join("usr/lib/systemd/system/x.timer"), "").unwrap();
        symlink("usr/lib", d.path().join("lib")).unwrap();
        symlink("/usr/lib/systemd/system/x.timer", d.path().join("y.timer")).unwrap();
        let c = r.chase("/y.timer", true).unwrap();
        assert_eq!(c.path, "/usr/lib/systemd/system/x.timer");
        assert!(c.exists);
        let c = r.chase("/lib/systemd/system", true).unwrap();
        assert_eq!(c.path, "/usr/lib/systemd/system");
    }

    #[test]
    fn dotdot_never_climbs_above_root() {
        let (d, r) = root();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        symlink("../../../../etc/shadow", d.path().join("etc/evil")).unwrap();
        let c = r.chase("/etc/evil", true).unwrap();
        assert_eq!(c.path, "/etc/shadow");
        assert!(c.clamped);
        assert!(!c.exists);
    }

    #[test]
    fn loops_are_errors_not_hangs() {
        let (d, r) = root();
        symlink("b", d.path().join("a")).unwrap();
        symlink("a", d.path().join("b")).unwrap();
        assert_eq!(r.chase("/a", true), Err(ChaseError::Loop));
        assert_eq!(r.chase("/a", false).unwrap().path, "/a");
    }

    #[test]
    fn normalize_is_lexical_and_clamped() {
        assert_eq!(normalize("/a/./b/../c//d"), "/a/c/d");
        assert_eq!(normalize("/../../x"), "/x");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(basename("/a/b.timer"), "b.timer");
    }
}
