//! The root filesystem being read, and chroot-style path resolution inside it (S16).
//!
//! Every in-image path is resolved component by component with `lstat`/`readlink` on
//! the host path `ROOT/…`: an absolute link target restarts at ROOT, `..` at ROOT stays
//! at ROOT (and is reported as clamped), and no host path outside ROOT is ever opened.
//! This is what `chase_symlinks(…, root, …)` does in systemd and what `systemctl --root`
//! relies on; resolving against the host instead would read the wrong files.

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::rootfd::{self, Stat};
use super::seen::{self, Seen};

/// The errno values a missing directory fails with.
mod libc_codes {
    pub const ENOENT: i32 = nix::errno::Errno::ENOENT as i32;
    pub const ENOTDIR: i32 = nix::errno::Errno::ENOTDIR as i32;
}

/// "Nothing there" (missing, or a file where a directory should be): every path below
/// fails the same way. A loop, an escape or a permission error says nothing of below.
pub fn nothing_below(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc_codes::ENOENT | libc_codes::ENOTDIR))
}

/// systemd's `CHASE_SYMLINKS_MAX`: more hops than this is a loop.
const MAX_HOPS: usize = 32;

/// An opened root: a host directory that stands for `/`, held by an fd so that every
/// read is relative to it (see `rootfd.rs`).
#[derive(Debug, Clone)]
pub struct Root {
    host: PathBuf,
    fd: Arc<OwnedFd>,
    stats: Arc<StatCache>,
    /// What this run looked at, when recording (`check --cache`).
    seen: Option<Arc<Seen>>,
}

/// `lstat` results of this run by canonical in-image path, and `O_PATH` fds of the
/// directories they were taken in: 10,000 user scopes share `/`, `/home` and
/// `/run/user`, and each of their own paths is asked for by several search directories.
/// A stat is taken once, relative to its directory's fd (no path walk). Bounded: both
/// maps start over when full.
#[derive(Debug, Default)]
struct StatCache {
    stats: std::sync::Mutex<super::FastMap<String, Known>>,
    fds: std::sync::Mutex<super::FastMap<String, Arc<OwnedFd>>>,
    /// Directories that could not be opened because they (or a parent) do not exist or
    /// are not directories: 10,000 users without `/run/user/UID` would otherwise each
    /// try every one of its six `systemd/…` subdirectories in turn.
    missing: std::sync::Mutex<super::FastMap<String, i32>>,
}

/// What the run knows of a path: its `lstat` (or the errno), and for a link listed in
/// its directory the link's text: chasing a `.wants/` link (every user has three) would
/// otherwise open its directory again and read the link a second time. Kept with the
/// stat, not in a map of its own, so that the path is not held twice (4 MiB at 10,000
/// users).
#[derive(Debug)]
struct Known {
    st: Result<Stat, i32>,
    link: Option<Box<[u8]>>,
}

impl StatCache {
    const MAX_STATS: usize = 16_384;
    const MAX_FDS: usize = 256;

    fn dir_fd(&self, root: BorrowedFd<'_>, dir: &str) -> io::Result<Arc<OwnedFd>> {
        let lock = || self.fds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(fd) = lock().get(dir) {
            return Ok(Arc::clone(fd));
        }
        if let Some(code) = self.unopenable(dir) {
            return Err(io::Error::from_raw_os_error(code));
        }
        let fd = match rootfd::open_dir_path(root, dir) {
            Ok(fd) => Arc::new(fd),
            Err(e) => {
                // Only "nothing there" is remembered; anything else is reported.
                if let Some(code) = e.raw_os_error().filter(|_| nothing_below(&e)) {
                    let mut m = self.missing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if m.len() >= Self::MAX_STATS {
                        m.clear();
                    }
                    m.insert(dir.to_string(), code);
                }
                return Err(e);
            }
        };
        let mut m = lock();
        if m.len() >= Self::MAX_FDS {
            m.clear();
        }
        m.insert(dir.to_string(), Arc::clone(&fd));
        Ok(fd)
    }

    /// Why `dir` cannot be opened, when the run already knows: it or an ancestor failed
    /// to open as missing or not a directory, or was stat'ed missing or as a file
    /// (parent chains are stat'ed from the top down, so below a missing `~/.local`
    /// nothing is tried). A link is left to the open, which says why itself.
    fn unopenable(&self, dir: &str) -> Option<i32> {
        let missing = self.missing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut d = dir;
        loop {
            if let Some(code) = missing.get(d) {
                return Some(*code);
            }
            match stats.get(d).map(|k| &k.st) {
                Some(Err(code @ (libc_codes::ENOENT | libc_codes::ENOTDIR))) => return Some(*code),
                Some(Ok(st)) if !st.is_dir() && !st.is_symlink() => return Some(libc_codes::ENOTDIR),
                _ => {}
            }
            d = &d[..last_byte(d, b'/').filter(|&i| i > 0)?];
        }
    }

    fn forget(&self, prefix: &str) {
        // A directory that appeared may be under any remembered missing one.
        self.missing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        let under = |k: &String| k == prefix || k.starts_with(&format!("{prefix}/"));
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|k, _| !under(k));
        self.fds.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|k, _| !under(k));
    }

    fn link(&self, p: &str) -> Option<Vec<u8>> {
        let m = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.get(p).and_then(|k| k.link.as_deref()).map(<[u8]>::to_vec)
    }

    /// Remembers a listing's stats under one lock (keys built before taking it).
    fn remember_all(&self, entries: Vec<(String, Known)>) {
        let mut m = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() + entries.len() > Self::MAX_STATS {
            m.clear();
        }
        m.extend(entries);
    }

    fn lstat(&self, root: BorrowedFd<'_>, p: &str) -> io::Result<Stat> {
        let lock = || self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(k) = lock().get(p) {
            return k.st.map_err(io::Error::from_raw_os_error);
        }
        let r = match rootfd::split(p) {
            None => rootfd::lstat(root, p),
            Some((dir, name)) => self.dir_fd(root, dir).and_then(|d| rootfd::stat_child(d.as_fd(), name)),
        };
        let keep = match &r {
            Ok(st) => Ok(*st),
            Err(e) => match e.raw_os_error() {
                Some(code) => Err(code),
                None => return r, // not an OS error: not remembered
            },
        };
        let mut m = lock();
        if m.len() >= Self::MAX_STATS {
            m.clear();
        }
        m.insert(p.to_string(), Known { st: keep, link: None });
        r
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
        Ok(Root { host, fd: Arc::new(fd), stats: Arc::default(), seen: None })
    }

    /// From now on, notes every path looked at and what was seen (`seen.rs`).
    pub fn record(&mut self) {
        self.seen = Some(Arc::default());
    }

    /// What was looked at since `record`, in tree order (`None` when not recording).
    pub fn take_seen(&self) -> Option<Vec<seen::Record<String>>> {
        let s = self.seen.as_ref()?;
        Some(s.take(|p| seen::outcome(&self.stats.lstat(self.fd(), p))))
    }

    /// Notes a file of the host (outside the root) that was read, e.g. a zone the
    /// image lacks.
    pub fn saw_host(&self, path: &str) {
        if let Some(s) = &self.seen {
            s.saw_host(path);
        }
    }

    /// The host files noted by `saw_host`, with their (followed) stat.
    pub fn take_seen_host(&self) -> Vec<(String, seen::Outcome)> {
        self.seen.as_ref().map(|s| s.take_host()).unwrap_or_default()
    }

    fn saw(&self, path: &str, outcome: Option<seen::Outcome>) {
        if let Some(s) = &self.seen {
            s.saw(path, outcome);
        }
    }

    pub fn host_root(&self) -> &Path {
        &self.host
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// True when this root is the running system's `/`.
    pub fn is_slash(&self) -> bool {
        self.host == Path::new("/")
    }

    /// `lstat` of a canonical in-image path, never following the last component.
    pub fn lstat(&self, inimage: &str) -> io::Result<Stat> {
        let r = self.stats.lstat(self.fd(), inimage);
        self.saw(inimage, Some(seen::outcome(&r)));
        r
    }

    /// Forgets what this run knows of `prefix` and everything under it (it changed).
    pub fn forget(&self, prefix: &str) {
        self.stats.forget(prefix);
    }

    /// `readlink` of a canonical in-image path (the raw link text, lossily UTF-8).
    pub fn readlink(&self, inimage: &str) -> io::Result<String> {
        self.readlink_raw(inimage).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn readlink_raw(&self, inimage: &str) -> io::Result<Vec<u8>> {
        let (dir, name) =
            rootfd::split(inimage).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a link"))?;
        self.saw(inimage, None);
        if let Some(l) = self.stats.link(inimage) {
            return Ok(l);
        }
        let d = self.stats.dir_fd(self.fd(), dir)?;
        rootfd::readlink_child(d.as_fd(), name)
    }

    /// Every entry of a canonical directory, `lstat`ed relative to it, sorted by name;
    /// and the entries that could not be stat'ed, with why. The stats are remembered for
    /// the run (`lstat`, `chase` and reads of these entries need no syscall of their own).
    pub fn list(&self, dir: &str) -> io::Result<rootfd::Listing> {
        if let Some(s) = &self.seen {
            s.listed(dir);
        }
        let listing = rootfd::list(self.fd(), dir)?;
        let entries: Vec<(String, Stat)> =
            listing.0.iter().map(|e| (join(dir, &String::from_utf8_lossy(&e.name)), e.stat)).collect();
        if let Some(s) = &self.seen {
            for (p, st) in &entries {
                s.saw(p, Some(Ok(*st)));
            }
            for (name, e) in &listing.1 {
                // A listing cut short (no name) cannot be seen again the same way: -1.
                let (p, code) = match name.is_empty() {
                    true => (dir.to_string(), -1),
                    false => (join(dir, &String::from_utf8_lossy(name)), e.raw_os_error().unwrap_or(-1)),
                };
                s.saw(&p, Some(Err(code)));
            }
        }
        let known = entries
            .into_iter()
            .zip(&listing.0)
            .map(|((p, st), e)| (p, Known { st: Ok(st), link: e.link.as_deref().map(Box::from) }))
            .collect();
        self.stats.remember_all(known);
        Ok(listing)
    }

    /// The names in a canonical directory, sorted, nothing of them `lstat`ed: for a
    /// directory most of whose entries are never looked at (dpkg's 3,000-file `info`).
    /// Recorded as listed; what is then read of it is recorded as it is read.
    pub fn names(&self, dir: &str) -> io::Result<Vec<Vec<u8>>> {
        if let Some(s) = &self.seen {
            s.listed(dir);
        }
        let mut names = rootfd::names(self.fd(), dir)?;
        names.sort();
        Ok(names)
    }

    /// Resolves `path` inside the root, like systemd's `chase()` with `CHASE_PREFIX_ROOT`:
    /// component by component, each `lstat`ed relative to its (confined) directory, so a
    /// link anywhere on the way is seen and resolved here (an absolute target restarts at
    /// the root, `..` never climbs above it) and the kernel never follows one. With
    /// `follow_last` false a final symlink is left as is (like `O_NOFOLLOW`). A missing
    /// component ends the walk: the rest is normalised lexically and `exists` is false.
    /// Every directory on the way is canonical, so its stats come from the run's cache.
    pub fn chase(&self, path: &str, follow_last: bool) -> Result<Chased, ChaseError> {
        let mut todo: Vec<Cow<'_, str>> = Vec::new();
        push_components(&mut todo, path);
        self.chase_from(String::with_capacity(path.len() + 16), Vec::new(), todo, follow_last, "")
    }

    /// `chase(dir/name)` for `dir` a canonical directory this run has already resolved
    /// (one it listed): its components are not walked again. Every symlink a listing
    /// finds is chased, and each walk from `/` was a stat-cache lookup per component.
    pub fn chase_in(&self, dir: &str, name: &str, follow_last: bool) -> Result<Chased, ChaseError> {
        let cur = if dir == "/" { String::new() } else { dir.to_string() };
        // Where each directory on `cur` starts, as the walk would have marked them.
        let marks: Vec<usize> = cur.match_indices('/').map(|(i, _)| i).collect();
        let mut todo: Vec<Cow<'_, str>> = Vec::new();
        push_components(&mut todo, name);
        if todo.is_empty() {
            return self.chase(dir, follow_last);
        }
        self.chase_from(cur, marks, todo, follow_last, dir)
    }

    /// The walk of `chase`: from `cur` (a canonical directory, "" for `/`, with `marks`
    /// where each of its directories starts) through the components left in `todo`.
    /// `canon` is a canonical directory ("" for none): an absolute link target restarts
    /// at the deepest of its ancestors the target goes through, not at `/` (`systemctl
    /// enable` writes absolute links, and every user has three).
    fn chase_from(
        &self,
        mut cur: String,
        mut marks: Vec<usize>,
        mut todo: Vec<Cow<'_, str>>,
        follow_last: bool,
        canon: &str,
    ) -> Result<Chased, ChaseError> {
        let mut hops = 0;
        let mut clamped = false;
        while let Some(comp) = todo.pop() {
            if comp == ".." {
                clamped |= !climb(&mut cur, &mut marks);
                continue;
            }
            let mark = cur.len();
            cur.push('/');
            cur.push_str(&comp);
            let is_last = todo.is_empty();
            let st = match self.lstat(&cur) {
                Ok(st) => st,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // The rest is lexical: grown and climbed like `cur` above, the missing
                    // component included.
                    marks.push(mark);
                    clamped |= walk_lexically(&mut cur, &mut marks, todo.drain(..).rev());
                    if cur.is_empty() {
                        cur.push('/');
                    }
                    return Ok(Chased { path: cur, exists: false, clamped });
                }
                Err(e) => return Err(io_err(&cur, &e)),
            };
            if st.is_symlink() && (!is_last || follow_last) {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(ChaseError::Loop);
                }
                let target = self.readlink_raw(&cur).map_err(|e| io_err(&cur, &e))?;
                let target = String::from_utf8_lossy(&target);
                cur.truncate(mark);
                let mut rest = components(&target).peekable();
                if target.starts_with('/') {
                    cur.clear();
                    marks.clear();
                    // Each ancestor of a canonical directory is one: taken as the walk
                    // would have found it, component by component.
                    for c in components(canon) {
                        if rest.peek() != Some(&c) || c == ".." {
                            break;
                        }
                        rest.next();
                        marks.push(cur.len());
                        cur.push('/');
                        cur.push_str(c);
                    }
                }
                let at = todo.len();
                todo.extend(rest.map(|c| Cow::Owned(c.to_string())));
                todo[at..].reverse();
                continue;
            }
            if is_last {
                return Ok(Chased { path: cur, exists: true, clamped });
            }
            if !st.is_dir() {
                return Err(ChaseError::NotADirectory(cur));
            }
            marks.push(mark);
        }
        if cur.is_empty() {
            cur.push('/');
        }
        Ok(Chased { path: cur, exists: true, clamped })
    }

    /// Reads a regular file at a canonical path without following a final symlink, with
    /// a size cap so a hostile 10 GiB "unit" cannot exhaust memory. FIFOs, sockets and
    /// devices are refused unopened.
    pub fn read_capped(&self, inimage: &str, cap: u64) -> io::Result<Vec<u8>> {
        rootfd::read_capped(self.fd(), inimage, cap, self.lstat(inimage)?)
    }

    /// The first `n` bytes of a regular file at a canonical path (`read_capped`'s checks).
    pub fn read_head(&self, inimage: &str, n: u64) -> io::Result<Vec<u8>> {
        rootfd::read_head(self.fd(), inimage, n, self.lstat(inimage)?)
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

/// The components of `p` (`.` and empty components dropped, as `Path::components` does
/// for a Unix path).
/// A walk's `..`: back to where its last directory started; `false` when there is none
/// (held at the top, as the kernel holds it at `/`).
pub(super) fn climb(cur: &mut String, marks: &mut Vec<usize>) -> bool {
    match marks.pop() {
        Some(m) => {
            cur.truncate(m);
            true
        }
        None => false,
    }
}

/// The rest of a walk below a missing component, by name alone: a `..` climbs, a name
/// goes down. Whether a `..` was held at the top.
pub(super) fn walk_lexically<S: AsRef<str>>(
    cur: &mut String,
    marks: &mut Vec<usize>,
    rest: impl Iterator<Item = S>,
) -> bool {
    let mut clamped = false;
    for c in rest {
        match c.as_ref() {
            ".." => clamped |= !climb(cur, marks),
            c => {
                marks.push(cur.len());
                cur.push('/');
                cur.push_str(c);
            }
        }
    }
    clamped
}

fn components(p: &str) -> impl DoubleEndedIterator<Item = &str> {
    p.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Pushes the components of `p` onto a stack so they pop in path order, borrowed: a
/// string per component was an allocation per stat-cache lookup.
fn push_components<'p>(todo: &mut Vec<Cow<'p, str>>, p: &'p str) {
    todo.extend(components(p).rev().map(Cow::Borrowed));
}

/// Removes the last component; false when already at `/`.
fn pop(p: &mut String) -> bool {
    if p == "/" {
        return false;
    }
    match last_byte(p, b'/') {
        Some(0) => *p = "/".into(),
        Some(i) => p.truncate(i),
        None => *p = "/".into(),
    }
    true
}

/// Joins an in-image directory and a name, in one allocation of the exact size (every
/// listed entry's path is made here).
pub fn join(dir: &str, name: &str) -> String {
    let mut p = String::with_capacity(dir.len() + 1 + name.len());
    p.push_str(dir);
    if !dir.ends_with('/') {
        p.push('/');
    }
    p.push_str(name);
    p
}

/// Where the ASCII byte `c` last occurs in `s`. A plain loop: the paths and names asked
/// are short, and `rfind` (a char searcher, then `memrchr`'s word-at-a-time set-up) cost
/// about 170 instructions a call, 3% of a user scope.
pub fn last_byte(s: &str, c: u8) -> Option<usize> {
    s.as_bytes().iter().rposition(|&b| b == c)
}

/// The parent of an in-image path (`/` for `/x`).
pub fn parent(p: &str) -> &str {
    match last_byte(p, b'/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    }
}

/// The last component of an in-image path.
pub fn basename(p: &str) -> &str {
    last_byte(p, b'/').map_or(p, |i| &p[i + 1..])
}

/// `path_simplify` followed by `path_is_normalized`: the components of `p` without the
/// empty and `.` ones, or `None` when one is `..` (systemd refuses such a path in a
/// setting; it does not resolve it, as `normalize` does).
pub fn simplified(p: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    (!parts.contains(&"..")).then_some(parts)
}

/// Normalises an in-image path lexically (`.`/`..`/duplicate slashes), clamped at `/`.
pub fn normalize(p: &str) -> String {
    // Most paths asked for are in normal form already (every search directory and its
    // parents): one copy, not a string grown component by component.
    if is_normal(p) {
        return p.to_string();
    }
    let mut out = String::from("/");
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                pop(&mut out);
            }
            c => {
                // In place: a new string per component was 1% of a 10k-user `list`.
                if !out.ends_with('/') {
                    out.push('/');
                }
                out.push_str(c);
            }
        }
    }
    out
}

/// Whether `p` is `/` or `/`-separated components none of which is empty, `.` or `..`
/// (a byte loop: the `split` it replaces was 1% of a user scope).
fn is_normal(p: &str) -> bool {
    let b = p.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    if b.len() == 1 {
        return true;
    }
    let mut start = 1;
    for end in (1..=b.len()).filter(|&i| i == b.len() || b[i] == b'/') {
        if matches!(&b[start..end], b"" | b"." | b"..") {
            return false;
        }
        start = end + 1;
    }
    true
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
    fn a_missing_directory_is_remembered_until_forgotten() {
        let (d, r) = root();
        std::fs::write(d.path().join("file"), "").unwrap();
        let code = |p: &str| r.lstat(p).err().and_then(|e| e.raw_os_error());
        assert_eq!(code("/run/user/1000/systemd/transient"), Some(2));
        // Below a remembered missing directory: the same answer, and for a file as parent.
        assert_eq!(code("/run/user/1000/systemd/user"), Some(2));
        assert_eq!(code("/run/user/1001/x"), Some(2));
        assert_eq!(code("/file/x/y"), Some(20));
        std::fs::create_dir_all(d.path().join("run/user/1000/systemd/user")).unwrap();
        // Until told, the run keeps its answer (a run sees one state of the root) …
        assert_eq!(code("/run/user/1000/systemd/user"), Some(2));
        // … and once told (watch), the directory that appeared is found.
        r.forget("/run/user/1000");
        assert!(r.lstat("/run/user/1000/systemd/user").unwrap().is_dir());
        assert!(r.lstat("/run/user/1000/systemd").unwrap().is_dir());
    }

    #[test]
    fn below_a_path_stated_missing_or_a_file_the_answer_is_the_same_as_opening() {
        let (d, r) = root();
        std::fs::create_dir_all(d.path().join("home/u")).unwrap();
        std::fs::write(d.path().join("home/u/f"), "").unwrap();
        let code = |p: &str| r.lstat(p).err().and_then(|e| e.raw_os_error());
        // Top down, as record_chain asks: the parent's stat decides for the child.
        assert_eq!(code("/home/u/.local"), Some(2));
        assert_eq!(code("/home/u/.local/share"), Some(2));
        assert_eq!(code("/home/u/.local/share/systemd/user"), Some(2), "an ancestor's stat answers too");
        assert_eq!(code("/home/u/f"), None);
        assert_eq!(code("/home/u/f/x"), Some(20));
        // A link as parent is not a file: opening it says why (a loop error, not ENOTDIR).
        std::os::unix::fs::symlink("/etc", d.path().join("home/u/l")).unwrap();
        assert!(r.lstat("/home/u/l").unwrap().is_symlink());
        assert_ne!(code("/home/u/l/x"), Some(20));
        std::fs::create_dir_all(d.path().join("home/u/.local/share")).unwrap();
        r.forget("/home/u/.local");
        assert!(r.lstat("/home/u/.local/share").unwrap().is_dir());
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

    /// S16: chasing a listed entry from its (canonical) directory answers what the walk
    /// from `/` answers, for every kind of link target: relative, `..` (climbing past the
    /// root), absolute, through a linked directory, dangling, looping, a file as directory.
    #[test]
    fn s16_a_chase_from_a_listed_directory_is_the_chase_from_the_root() {
        let (d, r) = root();
        let p = d.path();
        std::fs::create_dir_all(p.join("usr/lib/systemd/user")).unwrap();
        std::fs::create_dir_all(p.join("home/u/.config/systemd/user/timers.target.wants")).unwrap();
        std::fs::write(p.join("usr/lib/systemd/user/v.timer"), "").unwrap();
        std::fs::write(p.join("home/u/.config/systemd/user/a.timer"), "").unwrap();
        symlink("usr/lib", p.join("lib")).unwrap();
        let wants = p.join("home/u/.config/systemd/user/timers.target.wants");
        let targets = [
            "../a.timer",
            "../../../../../../../../../usr/lib/systemd/user/v.timer",
            "/lib/systemd/user/v.timer",
            "/home/u/.config/systemd/user/a.timer",
            "../missing/../a.timer",
            "../nothing.timer",
            "loop1",
            "../a.timer/x",
            "./../a.timer",
            "/",
            "..",
            "/home/u/.config/systemd/user/timers.target.wants/l0.timer",
            "/home/u/../u/.config/systemd/user/a.timer",
            "/home/u/.config/systemd/user/timers.target.wants/../a.timer",
            "/home/u/.config/systemd/user/timers.target.wants/loop1",
            "//home/./u/.config/systemd/user/a.timer",
            "/home/u/.config/systemd/user/timers.target.wants",
            "/home/u/.config/systemd/user/timers.target.wants/../../../../../../../../lib",
            "/home/u/.config/systemd/user/a.timer/x",
            "/home/uu/.config",
        ];
        for (i, t) in targets.iter().enumerate() {
            symlink(t, wants.join(format!("l{i}.timer"))).unwrap();
        }
        symlink("loop2", wants.join("loop1")).unwrap();
        symlink("loop1", wants.join("loop2")).unwrap();
        let dir = "/home/u/.config/systemd/user/timers.target.wants";
        for (i, t) in targets.iter().enumerate() {
            let name = format!("l{i}.timer");
            for follow in [true, false] {
                let walked = r.chase(&join(dir, &name), follow);
                assert_eq!(r.chase_in(dir, &name, follow), walked, "{name} -> {t}, follow {follow}");
            }
        }
        assert_eq!(r.chase_in("/", "lib", true), r.chase("/lib", true));
        assert_eq!(r.chase_in(dir, ".", true), r.chase(dir, true));
        assert_eq!(r.chase_in(dir, "l0.timer", true).unwrap().path, "/home/u/.config/systemd/user/a.timer");
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
    fn a_missing_tail_is_normalised_lexically() {
        let (d, r) = root();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        let c = r.chase("/etc/missing/a/../b", true).unwrap();
        assert_eq!((c.path.as_str(), c.exists, c.clamped), ("/etc/missing/b", false, false));
        let c = r.chase("/etc/missing/../../..", true).unwrap();
        assert_eq!((c.path.as_str(), c.exists, c.clamped), ("/", false, true));
        let c = r.chase("/missing/..", true).unwrap();
        assert_eq!((c.path.as_str(), c.exists, c.clamped), ("/", false, false));
        // Climbing out of the missing part into what exists still names it lexically.
        let c = r.chase("/etc/missing/../x", true).unwrap();
        assert_eq!((c.path.as_str(), c.exists, c.clamped), ("/etc/x", false, false));
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
        // Already normal (returned as it is) and nearly so (walked).
        let cases = [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/.a/..b/...", "/.a/..b/..."),
            ("", "/"),
            ("a/b", "/a/b"),
            ("/a/", "/a"),
            ("//a", "/a"),
            ("/a/.", "/a"),
            ("/a/..", "/"),
            ("/./a", "/a"),
        ];
        for (p, want) in cases {
            assert_eq!(normalize(p), want, "{p:?}");
        }
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(basename("/a/b.timer"), "b.timer");
    }

    /// `last_byte` is `rfind` of an ASCII char, in strings with multi-byte characters
    /// too (no UTF-8 sequence holds an ASCII byte), and `basename` is `rsplit`'s last piece.
    #[test]
    fn last_byte_answers_as_rfind() {
        for s in ["", "/", "a", "/a/b", "a/", "é/ü-ß.x", "ß.é.", "--", "x@y-z.timer", "/home/ü/.config"] {
            for c in ['/', '.', '-', '@'] {
                assert_eq!(last_byte(s, c as u8), s.rfind(c), "{s:?} {c:?}");
            }
            assert_eq!(basename(s), s.rsplit('/').next().unwrap_or(s), "{s:?}");
        }
    }

    /// The byte loop answers as the component split it replaced, on every string of up
    /// to six bytes from `/`, `.`, `a` (and so does `normalize`: its walk is the same).
    #[test]
    fn is_normal_answers_as_the_split() {
        let split = |p: &str| {
            p == "/" || p.strip_prefix('/').is_some_and(|t| t.split('/').all(|c| !matches!(c, "" | "." | "..")))
        };
        let (mut all, mut level) = (vec![String::new()], vec![String::new()]);
        for _ in 0..6 {
            level = level.iter().flat_map(|p| ['/', '.', 'a'].map(|c| format!("{p}{c}"))).collect();
            all.extend(level.iter().cloned());
        }
        assert!(all.len() > 1000);
        for p in &all {
            assert_eq!(is_normal(p), split(p), "{p:?}");
        }
    }
}
