//! The confined syscalls the collector is built on: every operation is relative to the
//! root's directory fd, and nothing follows a symlink the collector did not decide to
//! follow. Paths given here are *canonical* in-image paths (already chased): their parent
//! is opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)`, so a component that was
//! swapped for a link since fails with `ELOOP` instead of leading outside the root; the
//! last component is `fstatat`ed or opened with `O_NOFOLLOW`. Reads open with `O_NONBLOCK`
//! and refuse anything but a regular file, so a FIFO, socket or device planted as a unit
//! file, zone or passwd never blocks and is never read.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{FileStat, fstat, fstatat};

/// What `lstat` says about one path: only the fields timerguard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

const S_IFMT: u32 = 0o170_000;

impl Stat {
    pub fn from_raw(st: &FileStat) -> Stat {
        Stat {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            ino: st.st_ino,
            dev: st.st_dev,
            nlink: st.st_nlink,
            mtime_ns: st.st_mtime.saturating_mul(1_000_000_000).saturating_add(st.st_mtime_nsec),
            ctime_ns: st.st_ctime.saturating_mul(1_000_000_000).saturating_add(st.st_ctime_nsec),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == 0o040_000
    }

    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == 0o100_000
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == 0o120_000
    }
}

/// One directory entry: its name (raw bytes), `lstat` and, for a symlink, its text.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub stat: Stat,
    pub link: Option<Vec<u8>>,
}

pub fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn how(flags: OFlag) -> OpenHow {
    // openat2 refuses O_PATH with any flag but O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC.
    let extra = if flags.contains(OFlag::O_PATH) { OFlag::O_CLOEXEC } else { OFlag::O_CLOEXEC | OFlag::O_NOCTTY };
    OpenHow::new()
        .flags(flags | extra)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// `/a/b` → `a/b`; `/` → `.` (what openat2 wants relative to the root fd).
fn rel(p: &str) -> &str {
    let r = p.trim_start_matches('/');
    if r.is_empty() { "." } else { r }
}

/// Splits a canonical path into its parent and last component (`None` for `/`).
pub fn split(p: &str) -> Option<(&str, &str)> {
    let p = p.trim_end_matches('/');
    let i = p.rfind('/')?;
    let name = &p[i + 1..];
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some((if i == 0 { "/" } else { &p[..i] }, name))
}

/// Opens a canonical directory path as an `O_PATH` fd, confined.
pub fn open_dir_path(root: BorrowedFd<'_>, p: &str) -> io::Result<OwnedFd> {
    openat2(root, rel(p), how(OFlag::O_PATH | OFlag::O_DIRECTORY)).map_err(errno)
}

/// `lstat` of a canonical path, confined (the root itself is `fstat`ed).
pub fn lstat(root: BorrowedFd<'_>, p: &str) -> io::Result<Stat> {
    match split(p) {
        None => fstat(root).map(|st| Stat::from_raw(&st)).map_err(errno),
        Some((dir, name)) => {
            let d = open_dir_path(root, dir)?;
            fstatat(d.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| Stat::from_raw(&st)).map_err(errno)
        }
    }
}

/// `readlink` of a canonical path, confined.
pub fn readlink(root: BorrowedFd<'_>, p: &str) -> io::Result<Vec<u8>> {
    let (dir, name) = split(p).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a link"))?;
    let d = open_dir_path(root, dir)?;
    nix::fcntl::readlinkat(d.as_fd(), name).map(|s| s.as_bytes().to_vec()).map_err(errno)
}

/// Reads a regular file at a canonical path, at most `cap` bytes (more is an error).
/// Checks the type before opening (opening a device can have effects) — from `before`,
/// the path's `lstat` — and again on the open fd, with the inode, so a swap in between is
/// refused.
pub fn read_capped(root: BorrowedFd<'_>, p: &str, cap: u64, before: Stat) -> io::Result<Vec<u8>> {
    if !before.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, not_regular(&before)));
    }
    if before.size > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("file is {} bytes, over the {cap}-byte limit", before.size),
        ));
    }
    let fd = openat2(root, rel(p), how(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK)).map_err(errno)?;
    let now = fstat(fd.as_fd()).map(|st| Stat::from_raw(&st)).map_err(errno)?;
    if !now.is_file() || (now.ino, now.dev) != (before.ino, before.dev) {
        return Err(io::Error::other("the file changed while it was being opened"));
    }
    let mut buf = Vec::with_capacity(usize::try_from(now.size.min(cap)).unwrap_or(0));
    std::fs::File::from(fd).take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("file grew over the {cap}-byte limit")));
    }
    Ok(buf)
}

fn not_regular(st: &Stat) -> String {
    let kind = match st.mode & S_IFMT {
        0o040_000 => "a directory",
        0o120_000 => "a symbolic link",
        0o010_000 => "a FIFO",
        0o140_000 => "a socket",
        0o020_000 => "a character device",
        0o060_000 => "a block device",
        _ => "not a regular file",
    };
    format!("not a regular file ({kind}); not read")
}

/// A directory's entries and the ones that could not be stat'ed (name, why).
pub type Listing = (Vec<DirEntry>, Vec<(Vec<u8>, io::Error)>);

/// Every entry of a canonical directory, sorted by name, each `lstat`ed relative to the
/// open directory (never through a path). Entries that vanish while listing are skipped;
/// other per-entry failures are returned with the entry's name.
pub fn list(root: BorrowedFd<'_>, p: &str) -> io::Result<Listing> {
    let fd = openat2(root, rel(p), how(OFlag::O_RDONLY | OFlag::O_DIRECTORY)).map_err(errno)?;
    let dfd = fd.try_clone()?;
    let mut dir = nix::dir::Dir::from_fd(fd).map_err(errno)?;
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for e in dir.iter() {
        let e = match e {
            Ok(e) => e,
            Err(e) => {
                errs.push((Vec::new(), errno(e)));
                break; // getdents failed: the rest of the listing is unknown
            }
        };
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let stat = match fstatat(dfd.as_fd(), OsStr::from_bytes(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Stat::from_raw(&st),
            Err(nix::Error::ENOENT) => continue,
            Err(err) => {
                errs.push((name.to_vec(), errno(err)));
                continue;
            }
        };
        let link = if stat.is_symlink() {
            nix::fcntl::readlinkat(dfd.as_fd(), OsStr::from_bytes(name)).ok().map(|s| s.as_bytes().to_vec())
        } else {
            None
        };
        out.push(DirEntry { name: name.to_vec(), stat, link });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, errs))
}

/// Opens the next directory down from `dir` without following a link (for chasing).
pub fn open_child_dir(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(errno)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn stat_child(dir: BorrowedFd<'_>, name: &str) -> io::Result<Stat> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| Stat::from_raw(&st)).map_err(errno)
}

/// `readlinkat(dir, name)`.
pub fn readlink_child(dir: BorrowedFd<'_>, name: &str) -> io::Result<Vec<u8>> {
    nix::fcntl::readlinkat(dir, name).map(|s| s.as_bytes().to_vec()).map_err(errno)
}
