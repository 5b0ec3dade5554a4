//! The only code that changes files. Every path is in-image; each operation opens the
//! parent directory with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)` relative to the
//! root, so it can neither leave the root nor pass through a symlink (one swapped in
//! after collection makes the operation fail instead of redirecting it), and then acts
//! on the last component with `AT_SYMLINK_NOFOLLOW` semantics.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, fchmod, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, symlinkat, unlinkat};
use serde::{Deserialize, Serialize};

/// The state of one path: what the journal records before and after each change.
/// Equality compares what a change would alter (kind, mode, owner, link, content); the
/// identity fields are checked separately (a planned step's synthesized state has none).
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
pub struct State {
    /// `missing`, `file`, `dir`, `symlink`, `other`.
    pub kind: String,
    #[serde(default)]
    pub mode: u32,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// SHA-256 of a regular file's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Inode and device: the object itself, so one swapped in is refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ino: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dev: u64,
    /// Hard links to the object: more than one (for a non-directory) means other names,
    /// maybe outside the root, share whatever an in-place change does.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nlink: u64,
    /// Whether the path is a mount point or a bind-mounted file (its mount differs from
    /// its directory's): its content belongs to another filesystem.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mount: bool,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl PartialEq for State {
    fn eq(&self, o: &State) -> bool {
        (&self.kind, self.mode, self.uid, self.gid, &self.link, &self.hash)
            == (&o.kind, o.mode, o.uid, o.gid, &o.link, &o.hash)
    }
}

impl State {
    pub fn missing() -> State {
        State::new("missing")
    }

    pub fn new(kind: &str) -> State {
        State {
            kind: kind.into(),
            mode: 0,
            uid: 0,
            gid: 0,
            link: None,
            hash: None,
            ino: 0,
            dev: 0,
            nlink: 0,
            mount: false,
        }
    }

    /// Why this object must not be changed in place, if it must not.
    pub fn in_place_refusal(&self) -> Option<String> {
        if self.mount {
            return Some("it is a mount point: its content belongs to another filesystem".into());
        }
        if self.kind != "dir" && self.nlink > 1 {
            return Some(format!(
                "it has {} hard links: changing it would change its other names too, maybe outside the root",
                self.nlink
            ));
        }
        None
    }
}

fn err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// An open root.
pub struct RootFs {
    fd: OwnedFd,
    path: std::path::PathBuf,
}

/// Confined open (openat2, or a no-follow walk where openat2 is unavailable or forbidden).
fn open_in(dir: BorrowedFd<'_>, p: &str, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    crate::collect::rootfd::open_confined(dir, p, flags, mode)
}

fn rel(p: &str) -> &str {
    let r = p.trim_start_matches('/');
    if r.is_empty() { "." } else { r }
}

fn split(p: &str) -> io::Result<(&str, &str)> {
    let p = p.trim_end_matches('/');
    match p.rfind('/') {
        Some(i) if !p[i + 1..].is_empty() && &p[i + 1..] != ".." && &p[i + 1..] != "." => {
            Ok((if i == 0 { "/" } else { &p[..i] }, &p[i + 1..]))
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not an in-image path: {p:?}"))),
    }
}

/// Content digest of a file, as states record it.
pub fn hash(bytes: &[u8]) -> String {
    crate::digest::sha256(bytes)
}

/// The mount id of `name` in `dfd` (statx; 0 when the kernel does not say).
fn mnt_id(dfd: &OwnedFd, name: &str) -> u64 {
    use rustix::fs::{AtFlags as RAt, StatxFlags, statx};
    statx(dfd, name, RAt::SYMLINK_NOFOLLOW, StatxFlags::MNT_ID)
        .ok()
        .filter(|x| StatxFlags::from_bits_retain(x.stx_mask).contains(StatxFlags::MNT_ID))
        .map_or(0, |x| x.stx_mnt_id)
}

impl RootFs {
    pub fn open(root: &Path) -> io::Result<RootFs> {
        let fd = std::fs::File::open(root)?;
        Ok(RootFs { fd: fd.into(), path: root.to_path_buf() })
    }

    /// The root's path on the host, resolved.
    pub fn host_root(&self) -> io::Result<std::path::PathBuf> {
        std::fs::canonicalize(&self.path)
    }

    fn dir(&self, p: &str) -> io::Result<OwnedFd> {
        open_in(self.fd.as_fd(), rel(p), OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).map_err(err)
    }

    /// The parent directory (opened safely) and the last component.
    fn parent<'a>(&self, p: &'a str) -> io::Result<(OwnedFd, &'a str)> {
        let (d, name) = split(p)?;
        Ok((self.dir(d)?, name))
    }

    /// `lstat`-like state; `missing` when the path (or a parent) does not exist.
    pub fn state(&self, p: &str) -> io::Result<State> {
        let (dfd, name) = match self.parent(p) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::missing()),
            Err(e) => return Err(e),
        };
        let st = match fstatat(dfd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(nix::Error::ENOENT) => return Ok(State::missing()),
            Err(e) => return Err(err(e)),
        };
        let fmt = st.st_mode & libc_s_ifmt();
        let kind = match fmt {
            0o100_000 => "file",
            0o040_000 => "dir",
            0o120_000 => "symlink",
            _ => "other",
        };
        let link = (kind == "symlink")
            .then(|| nix::fcntl::readlinkat(dfd.as_fd(), name).ok().map(|l| l.to_string_lossy().into_owned()))
            .flatten();
        let hash = if kind == "file" { Some(hash(&self.read(p)?)) } else { None };
        // A different device, or a different mount id on the same device (a bind mount),
        // from the directory holding it.
        let dst = fstatat(dfd.as_fd(), ".", AtFlags::empty()).map_err(err)?;
        let mount = st.st_dev != dst.st_dev || mnt_id(&dfd, name) != mnt_id(&dfd, ".");
        Ok(State {
            kind: kind.into(),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            link,
            hash,
            ino: st.st_ino,
            dev: st.st_dev,
            nlink: st.st_nlink,
            mount,
        })
    }

    pub fn read(&self, p: &str) -> io::Result<Vec<u8>> {
        let fd =
            open_in(self.fd.as_fd(), rel(p), OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK, Mode::empty())
                .map_err(err)?;
        let mut f = std::fs::File::from(fd);
        if !f.metadata()?.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        let mut v = Vec::new();
        f.read_to_end(&mut v)?;
        Ok(v)
    }

    /// chmod without following: opens the object itself (a symlink fails with ELOOP).
    pub fn chmod(&self, p: &str, mode: u32) -> io::Result<()> {
        let fd =
            open_in(self.fd.as_fd(), rel(p), OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK, Mode::empty())
                .map_err(err)?;
        fchmod(fd.as_fd(), Mode::from_bits_truncate(mode)).map_err(err)
    }

    /// lchown: changes the link itself when `p` is a symlink.
    pub fn chown(&self, p: &str, uid: u32, gid: u32) -> io::Result<()> {
        let (dfd, name) = self.parent(p)?;
        fchownat(dfd.as_fd(), name, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(err)
    }

    pub fn unlink(&self, p: &str) -> io::Result<()> {
        let (dfd, name) = self.parent(p)?;
        unlinkat(dfd.as_fd(), name, UnlinkatFlags::NoRemoveDir).map_err(err)
    }

    pub fn rmdir(&self, p: &str) -> io::Result<()> {
        let (dfd, name) = self.parent(p)?;
        unlinkat(dfd.as_fd(), name, UnlinkatFlags::RemoveDir).map_err(err)
    }

    pub fn symlink(&self, p: &str, target: &str) -> io::Result<()> {
        let (dfd, name) = self.parent(p)?;
        symlinkat(OsStr::new(target), dfd.as_fd(), name).map_err(err)
    }

    pub fn mkdir(&self, p: &str, mode: u32) -> io::Result<()> {
        let (dfd, name) = self.parent(p)?;
        mkdirat(dfd.as_fd(), name, Mode::from_bits_truncate(mode)).map_err(err)
    }

    /// Creates `p` and missing parents (0755); returns the directories it created, top first.
    pub fn mkdir_p(&self, p: &str) -> io::Result<Vec<String>> {
        let mut made = Vec::new();
        let mut cur = String::new();
        for c in p.split('/').filter(|c| !c.is_empty()) {
            cur = format!("{cur}/{c}");
            if self.state(&cur)?.kind == "missing" {
                self.mkdir(&cur, 0o755)?;
                made.push(cur.clone());
            }
        }
        Ok(made)
    }

    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (a, an) = self.parent(from)?;
        let (b, bn) = self.parent(to)?;
        nix::fcntl::renameat(a.as_fd(), an, b.as_fd(), bn).map_err(err)
    }

    /// Replaces a file's content atomically: written to `tmp` in the same directory,
    /// synced, given `meta`'s mode and owner (or 0644 and ours), then renamed over `p`.
    /// A crash leaves either the old file or the new one, and maybe `tmp`.
    pub fn write(&self, p: &str, bytes: &[u8], tmp: &str, meta: Option<&State>) -> io::Result<()> {
        let (dfd, name) = self.parent(p)?;
        let (_, tname) = split(tmp)?;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(dfd.as_fd(), tname, flags, Mode::from_bits_truncate(0o600)).map_err(err)?;
        let mut f = std::fs::File::from(fd);
        f.write_all(bytes)?;
        if let Some(m) = meta.filter(|m| m.kind == "file") {
            nix::unistd::fchown(f.as_fd(), Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid))).map_err(err)?;
            fchmod(f.as_fd(), Mode::from_bits_truncate(m.mode)).map_err(err)?;
        } else {
            fchmod(f.as_fd(), Mode::from_bits_truncate(0o644)).map_err(err)?;
        }
        f.sync_all()?;
        nix::fcntl::renameat(dfd.as_fd(), tname, dfd.as_fd(), name).map_err(err)?;
        // The rename is durable once the directory is synced (an O_PATH fd cannot be).
        let d = open_in(self.fd.as_fd(), rel(split(p)?.0), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(err)?;
        nix::unistd::fsync(d.as_fd()).map_err(err)
    }

    /// Appends to a file (created 0600) and syncs it: journal records are durable before
    /// the change they describe is made.
    pub fn append(&self, p: &str, bytes: &[u8]) -> io::Result<()> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND | OFlag::O_NOFOLLOW;
        let fd = open_in(self.fd.as_fd(), rel(p), flags, Mode::from_bits_truncate(0o600)).map_err(err)?;
        let mut f = std::fs::File::from(fd);
        f.write_all(bytes)?;
        f.sync_all()
    }

    /// Takes an exclusive lock on `p` (created if needed); held until the value drops.
    pub fn lock(&self, p: &str) -> io::Result<nix::fcntl::Flock<std::fs::File>> {
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW;
        let fd = open_in(self.fd.as_fd(), rel(p), flags, Mode::from_bits_truncate(0o600)).map_err(err)?;
        nix::fcntl::Flock::lock(std::fs::File::from(fd), nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|_| io::Error::new(io::ErrorKind::WouldBlock, format!("another timerguard run holds {p}")))
    }

    /// Names in a directory, sorted.
    pub fn list(&self, p: &str) -> io::Result<Vec<String>> {
        let fd = open_in(self.fd.as_fd(), rel(p), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).map_err(err)?;
        let mut d = nix::dir::Dir::from_fd(fd).map_err(err)?;
        let mut v: Vec<String> = d
            .iter()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .collect();
        v.sort();
        Ok(v)
    }
}

const fn libc_s_ifmt() -> u32 {
    0o170_000
}
