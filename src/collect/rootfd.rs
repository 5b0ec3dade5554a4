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
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};

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

/// Set once `openat2` has failed with ENOSYS or EPERM: from then on, walk.
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Opens `path` relative to `dir` without following any symlink and without leaving
/// `dir` (`..` is refused): `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS)` — or, where there is no `openat2` (kernels before 5.6) or a
/// sandbox forbids it (systemd's `RestrictSUIDSGID=` makes it fail: seccomp cannot see
/// the mode inside `struct open_how`), the same by walking: each directory opened
/// `O_PATH | O_DIRECTORY | O_NOFOLLOW` relative to the last, the last component with
/// `O_NOFOLLOW`. A symlink anywhere fails with ELOOP either way.
pub fn open_confined(dir: BorrowedFd<'_>, path: &str, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    use std::sync::atomic::Ordering;
    // openat2 refuses O_PATH with any flag but O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC.
    let extra = if flags.contains(OFlag::O_PATH) { OFlag::O_CLOEXEC } else { OFlag::O_CLOEXEC | OFlag::O_NOCTTY };
    let flags = flags | extra;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = OpenHow::new().flags(flags).mode(mode).resolve(
            ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
        match openat2(dir, path, how) {
            Err(nix::Error::ENOSYS | nix::Error::EPERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            r => return r,
        }
    }
    walk(dir, path, flags, mode)
}

/// From now on, confined opens walk instead of calling `openat2` (as a kernel without it
/// would; `TIMERGUARD_NO_OPENAT2=1` sets this for a whole run, so tests cover both).
pub fn disable_openat2() {
    NO_OPENAT2.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `open_confined` without `openat2`.
pub(crate) fn walk(dir: BorrowedFd<'_>, path: &str, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    use nix::fcntl::openat;
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if comps.contains(&"..") {
        return Err(nix::Error::EXDEV);
    }
    let Some((last, parents)) = comps.split_last() else {
        return openat(dir, ".", flags, mode);
    };
    // A component that is a symlink fails O_DIRECTORY|O_NOFOLLOW with ENOTDIR: say ELOOP,
    // as openat2 does.
    let link_is_loop = |base: BorrowedFd<'_>, name: &str, e: nix::Error| {
        let is_link =
            fstatat(base, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| Stat::from_raw(&st).is_symlink());
        if is_link { nix::Error::ELOOP } else { e }
    };
    let mut cur: Option<OwnedFd> = None;
    for c in parents {
        let base = cur.as_ref().map_or(dir, AsFd::as_fd);
        let next =
            openat(base, *c, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| link_is_loop(base, c, e))?;
        cur = Some(next);
    }
    let base = cur.as_ref().map_or(dir, AsFd::as_fd);
    let fd = openat(base, *last, flags | OFlag::O_NOFOLLOW, mode).map_err(|e| link_is_loop(base, last, e))?;
    // O_PATH | O_NOFOLLOW opens a symlink itself: refuse it like openat2 would.
    if flags.contains(OFlag::O_PATH) && fstat(fd.as_fd()).is_ok_and(|st| Stat::from_raw(&st).is_symlink()) {
        return Err(nix::Error::ELOOP);
    }
    Ok(fd)
}

fn confined(root: BorrowedFd<'_>, p: &str, flags: OFlag) -> io::Result<OwnedFd> {
    open_confined(root, rel(p), flags, Mode::empty()).map_err(errno)
}

/// `/a/b` → `a/b`; `/` → `.` (what openat2 wants relative to the root fd).
fn rel(p: &str) -> &str {
    let r = p.trim_start_matches('/');
    if r.is_empty() { "." } else { r }
}

/// Splits a canonical path into its parent and last component (`None` for `/`).
pub fn split(p: &str) -> Option<(&str, &str)> {
    let p = p.trim_end_matches('/');
    let i = super::root::last_byte(p, b'/')?;
    let name = &p[i + 1..];
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some((if i == 0 { "/" } else { &p[..i] }, name))
}

/// Opens a canonical directory path as an `O_PATH` fd, confined.
pub fn open_dir_path(root: BorrowedFd<'_>, p: &str) -> io::Result<OwnedFd> {
    confined(root, p, OFlag::O_PATH | OFlag::O_DIRECTORY)
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
    let (f, now) = open_checked(root, p, before)?;
    let buf = read_sized(f, now.size, cap)?;
    if buf.len() as u64 > cap {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("file grew over the {cap}-byte limit")));
    }
    Ok(buf)
}

/// The first `n` bytes of a regular file at a canonical path (fewer when it is shorter),
/// with `read_capped`'s checks; the rest is not read (an ELF header of a large binary).
pub fn read_head(root: BorrowedFd<'_>, p: &str, n: u64, before: Stat) -> io::Result<Vec<u8>> {
    use std::io::Read;
    if !before.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, not_regular(&before)));
    }
    let (f, _) = open_checked(root, p, before)?;
    let mut buf = Vec::new();
    f.take(n).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Opens the regular file `before` describes (no final link followed), refusing it when
/// the inode changed since (a swap between the `lstat` and the open).
fn open_checked(root: BorrowedFd<'_>, p: &str, before: Stat) -> io::Result<(std::fs::File, Stat)> {
    let fd = confined(root, p, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK)?;
    let now = fstat(fd.as_fd()).map(|st| Stat::from_raw(&st)).map_err(errno)?;
    if !now.is_file() || (now.ino, now.dev) != (before.ino, before.dev) {
        return Err(io::Error::other("the file changed while it was being opened"));
    }
    Ok((std::fs::File::from(fd), now))
}

/// Reads an open regular file of `size` bytes (by `fstat`), at most `cap + 1`. One
/// `read` asks for a byte more than `size`: a read that comes back short exactly at `size`
/// is the end of the file, and the second `read` that `read_to_end` makes to learn that
/// (63,000 unit files on a 10,000-user host) is not needed. A file that is not where its
/// size says (it grew, or the size is stale) is read on to its end, as before.
fn read_sized(mut f: std::fs::File, size: u64, cap: u64) -> io::Result<Vec<u8>> {
    let want = usize::try_from(size.min(cap)).unwrap_or(usize::MAX - 1);
    let mut buf = vec![0u8; want + 1];
    let mut len = 0;
    loop {
        match f.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(buf);
            }
            Ok(n) => {
                len += n;
                if len as u64 == size {
                    buf.truncate(len);
                    return Ok(buf);
                }
                if len == buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    f.take((cap + 1).saturating_sub(len as u64)).read_to_end(&mut buf)?;
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
    let (dir, names, mut errs) = read_names(root, p)?;
    let dfd = dir.fd().map_err(io::Error::from)?;
    let one = |name: Vec<u8>| -> Option<Result<DirEntry, (Vec<u8>, io::Error)>> {
        let stat = match fstatat(dfd, OsStr::from_bytes(&name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Stat::from_raw(&st),
            Err(nix::Error::ENOENT) => return None,
            Err(err) => return Some(Err((name, errno(err)))),
        };
        let link = if stat.is_symlink() {
            nix::fcntl::readlinkat(dfd, OsStr::from_bytes(&name)).ok().map(|s| s.as_bytes().to_vec())
        } else {
            None
        };
        Some(Ok(DirEntry { name, stat, link }))
    };
    let mut out = Vec::with_capacity(names.len());
    // An entry that vanished while listing (`None`) is skipped.
    let take = |r| match r {
        Some(Ok(e)) => out.push(e),
        Some(Err(e)) => errs.push(e),
        None => {}
    };
    let parallel = names.len() >= PARALLEL_LISTING;
    super::map_in_order(names, parallel, one, take);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, errs))
}

/// The names in a canonical directory, unsorted, `.` and `..` left out. A listing cut
/// short by `getdents` is an error here (not the part read, as `list` gives).
pub fn names(root: BorrowedFd<'_>, p: &str) -> io::Result<Vec<Vec<u8>>> {
    let (_, names, errs) = read_names(root, p)?;
    match errs.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(names),
    }
}

/// The open directory, its names, and the error that cut its listing short.
type NamesRead = (rustix::fs::Dir, Vec<Vec<u8>>, Vec<(Vec<u8>, io::Error)>);

fn read_names(root: BorrowedFd<'_>, p: &str) -> io::Result<NamesRead> {
    let fd = confined(root, p, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    // rustix reads with getdents64 on this very fd: no dup, no fdopendir flags, no
    // rewind (five syscalls per directory that libc's DIR* adds, on 20,000 directories).
    let mut dir = rustix::fs::Dir::new(fd).map_err(io::Error::from)?;
    let mut names = Vec::new();
    let mut errs = Vec::new();
    while let Some(e) = dir.read() {
        match e {
            Ok(e) => {
                let name = e.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(name.to_vec());
                }
            }
            Err(e) => {
                errs.push((Vec::new(), io::Error::from(e)));
                break; // getdents failed: the rest of the listing is unknown
            }
        }
    }
    Ok((dir, names, errs))
}

/// A directory this large has its entries stat'ed (and, in `scan`, described) on every
/// thread: a host's `/etc/systemd/system` or `/usr/lib/systemd/system` (hundreds of
/// entries) is read before any user scope starts, while the other core waits. Smaller
/// ones, a user's own directories among them, are not worth a task each.
pub const PARALLEL_LISTING: usize = 128;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Whatever size it is told, `read_sized` reads the whole file (a stale size, too
    /// small or too large, reads on to the end), and no more than `cap + 1` bytes.
    #[test]
    fn a_sized_read_is_the_whole_file_whatever_size_it_is_told() {
        let t = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 7, 100, 4096, 70_000] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let p = t.path().join(format!("f{len}"));
            std::fs::write(&p, &body).unwrap();
            let open = || std::fs::File::open(&p).unwrap();
            for told in [len as u64, 0, len as u64 / 2, len as u64 + 1, len as u64 * 3 + 5] {
                let got = read_sized(open(), told, 1 << 20).unwrap();
                assert!(got == body, "{len} bytes told {told}: read {}", got.len());
            }
            for cap in [0u64, 1, len as u64 / 2] {
                if (len as u64) <= cap {
                    continue;
                }
                // Over the cap: one byte more than the cap, so the caller sees it is over.
                let got = read_sized(open(), len as u64, cap).unwrap();
                assert_eq!(got, body[..=cap as usize], "{len} bytes, cap {cap}");
            }
        }
    }

    /// A file read against its earlier `lstat`: one that grew past the cap since is
    /// refused, one that grew within it is read whole, and one swapped for another file
    /// (another inode) is refused.
    #[test]
    fn a_read_is_refused_when_the_file_grew_over_the_cap_or_was_swapped() {
        use std::io::Write;
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::File::open(t.path()).unwrap();
        let f = t.path().join("f.service");
        std::fs::write(&f, "0123456789").unwrap();
        let before = lstat(root.as_fd(), "/f.service").unwrap();
        std::fs::OpenOptions::new().append(true).open(&f).unwrap().write_all(&[b'x'; 90]).unwrap();
        let e = read_capped(root.as_fd(), "/f.service", 50, before).unwrap_err();
        assert!(e.to_string().contains("grew over the 50-byte limit"), "{e}");
        assert_eq!(read_capped(root.as_fd(), "/f.service", 200, before).unwrap().len(), 100);
        std::fs::rename(t.path().join("f.service"), t.path().join("old")).unwrap();
        std::fs::write(&f, "0123456789").unwrap();
        let e = read_capped(root.as_fd(), "/f.service", 200, before).unwrap_err();
        assert!(e.to_string().contains("changed while it was being opened"), "{e}");
    }

    /// The walk refuses and allows exactly what openat2 does, on the same tree.
    #[test]
    fn walk_agrees_with_openat2() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        std::fs::write(r.join("a/b/f"), "x").unwrap();
        symlink("/etc", r.join("a/out")).unwrap();
        symlink("b", r.join("a/lb")).unwrap();
        symlink("f", r.join("a/b/lf")).unwrap();
        let root = std::fs::File::open(r).unwrap();
        let dir = root.as_fd();
        let how = |flags: OFlag| {
            OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(
                ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            )
        };
        let flag_sets = [
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
            OFlag::O_RDONLY,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            OFlag::O_PATH,
        ];
        for p in [".", "a", "a/b", "a/b/f", "a/out", "a/out/passwd", "a/lb/f", "a/b/lf", "a/missing/f", "a/b/f/x"] {
            for flags in flag_sets {
                let want = openat2(dir, p, how(flags)).map(|_| ());
                let got = walk(dir, p, flags | OFlag::O_CLOEXEC, Mode::empty()).map(|_| ());
                assert_eq!(got, want, "{p} {flags:?}");
            }
        }
        assert_eq!(walk(dir, "a/../a", OFlag::O_RDONLY, Mode::empty()).map(|_| ()), Err(nix::Error::EXDEV));
    }

    /// A listing stat'ed on every thread (a directory of `PARALLEL_LISTING` entries or
    /// more) and one stat'ed in turn say what `symlink_metadata` and `read_link` say of
    /// each entry, sorted by name; a name that is not UTF-8 is listed too.
    #[test]
    fn a_large_listing_is_each_entry_lstat_ed_and_sorted() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        for (dir, n) in [("big", PARALLEL_LISTING * 3 + 7), ("small", PARALLEL_LISTING / 4)] {
            let d = t.path().join(dir);
            std::fs::create_dir(&d).unwrap();
            for i in 0..n {
                match i % 4 {
                    0 => std::fs::write(d.join(format!("u{i}.timer")), "x".repeat(i)).unwrap(),
                    1 => symlink(format!("u{}.timer", i - 1), d.join(format!("l{i}.timer"))).unwrap(),
                    2 => std::fs::create_dir(d.join(format!("u{i}.service.d"))).unwrap(),
                    _ => symlink("/dev/null", d.join(format!("m{i}.service"))).unwrap(),
                }
            }
            std::fs::write(d.join(OsStr::from_bytes(b"bad-\xff.timer")), "").unwrap();
            let root = std::fs::File::open(t.path()).unwrap();
            let (got, errs) = list(root.as_fd(), dir).unwrap();
            assert!(errs.is_empty(), "{errs:?}");
            let mut want: Vec<Vec<u8>> =
                std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().as_bytes().to_vec()).collect();
            want.sort();
            assert_eq!(got.iter().map(|e| e.name.clone()).collect::<Vec<_>>(), want, "{dir}");
            for e in &got {
                let p = d.join(OsStr::from_bytes(&e.name));
                let m = std::fs::symlink_metadata(&p).unwrap();
                let st = (e.stat.mode, e.stat.ino, e.stat.size, e.stat.uid, e.stat.nlink);
                assert_eq!(st, (m.mode(), m.ino(), m.size(), m.uid(), m.nlink()), "{p:?}");
                let link = std::fs::read_link(&p).ok().map(|l| l.as_os_str().as_bytes().to_vec());
                assert_eq!(e.link, link, "{p:?}");
            }
        }
    }
}
