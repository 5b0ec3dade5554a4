//! The root filesystem being read, and chroot-style path resolution inside it (S16).
//!
//! Every in-image path is resolved component by component with `lstat`/`readlink` on
//! the host path `ROOT/…`: an absolute link target restarts at ROOT, `..` at ROOT stays
//! at ROOT (and is reported as clamped), and no host path outside ROOT is ever opened.
//! This is what `chase_symlinks(…, root, …)` does in systemd and what `systemctl --root`
//! relies on; resolving against the host instead would read the wrong files.

use std::fs::Metadata;
use std::io;
use std::path::{Component, Path, PathBuf};

/// systemd's `CHASE_SYMLINKS_MAX`: more hops than this is a loop.
const MAX_HOPS: usize = 32;

/// An opened root: a host directory that stands for `/`.
#[derive(Debug, Clone)]
pub struct Root {
    host: PathBuf,
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
        if !host.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "root is not a directory"));
        }
        Ok(Root { host })
    }

    pub fn host_root(&self) -> &Path {
        &self.host
    }

    /// True when this root is the running system's `/`.
    pub fn is_slash(&self) -> bool {
        self.host == Path::new("/")
    }

    /// The host path of an in-image path (purely lexical; callers chase first).
    pub fn host_path(&self, inimage: &str) -> PathBuf {
        self.host.join(inimage.trim_start_matches('/'))
    }

    /// `lstat` of an in-image path, never following the last component.
    pub fn lstat(&self, inimage: &str) -> io::Result<Metadata> {
        std::fs::symlink_metadata(self.host_path(inimage))
    }

    /// `readlink` of an in-image path.
    pub fn readlink(&self, inimage: &str) -> io::Result<PathBuf> {
        std::fs::read_link(self.host_path(inimage))
    }

    /// Resolves `path` inside the root. With `follow_last` false a final symlink is left
    /// as is (like `O_NOFOLLOW`). A missing component ends the walk: the rest is
    /// normalised lexically and `exists` is false.
    pub fn chase(&self, path: &str, follow_last: bool) -> Result<Chased, ChaseError> {
        let mut todo: Vec<String> = Vec::new();
        push_components(&mut todo, Path::new(path));
        let mut cur = String::from("/");
        let mut hops = 0;
        let mut clamped = false;
        while let Some(comp) = todo.pop() {
            if comp == ".." {
                clamped |= !pop(&mut cur);
                continue;
            }
            let next = join(&cur, &comp);
            let is_last = todo.is_empty();
            let meta = match self.lstat(&next) {
                Ok(m) => m,
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
            if meta.file_type().is_symlink() && (!is_last || follow_last) {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(ChaseError::Loop);
                }
                let target = self.readlink(&next).map_err(|e| io_err(&next, &e))?;
                if target.is_absolute() {
                    cur = "/".into();
                }
                push_components(&mut todo, &target);
                continue;
            }
            if !is_last && !meta.is_dir() {
                return Err(ChaseError::NotADirectory(next));
            }
            cur = next;
        }
        Ok(Chased { path: cur, exists: true, clamped })
    }

    /// Reads a regular file inside the root without following a final symlink, with a
    /// size cap so a hostile 10 GiB "unit" cannot exhaust memory.
    pub fn read_capped(&self, inimage: &str, cap: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let meta = self.lstat(inimage)?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        if meta.len() > cap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file is {} bytes, over the {cap}-byte limit", meta.len()),
            ));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(self.host_path(inimage))?.take(cap + 1).read_to_end(&mut buf)?;
        Ok(buf)
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
