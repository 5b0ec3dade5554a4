//! Is everything a run saw in the root still the same? A walk down the recorded paths
//! only: each directory opened from its parent with `O_NOFOLLOW`, each entry
//! `fstatat`ed in it without following — so the check, like the collection, never
//! follows a link and never leaves the root — and stopped at the first difference.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::collect::rootfd;
use crate::collect::seen::{Outcome, Record};

const ENOENT: i32 = nix::errno::Errno::ENOENT as i32;

/// Children of one directory worth handing to other threads (a home directory list).
const PARALLEL: usize = 32;

/// `None` when every recorded path gives what it gave; else the first path found changed.
/// `recs` is in tree order (`seen::tree_order`) and starts with `/`.
pub fn changed<P: AsRef<str> + Sync>(root: BorrowedFd<'_>, recs: &[Record<P>]) -> Option<String> {
    let Some((first, want, listed)) = recs.first() else { return Some("/".into()) };
    let got = rootfd::lstat(root, "/").map_err(|e| e.raw_os_error().unwrap_or(-1));
    if first.as_ref() != "/" || !same(&got, want, *listed) {
        return Some("/".into());
    }
    let stop = AtomicBool::new(false);
    under(root, 1, got == *want, &recs[1..], &stop)
}

/// Whether `got` is what was recorded. A directory only looked through is the same while
/// it is the same inode with the same type, mode and owner (its entries that matter are
/// recorded themselves); anything else must match in every field, times included.
fn same(got: &Outcome, want: &Outcome, listed: bool) -> bool {
    match (got, want) {
        (Ok(g), Ok(w)) if w.is_dir() && !listed => {
            (g.mode, g.uid, g.gid, g.ino, g.dev) == (w.mode, w.uid, w.gid, w.ino, w.dev)
        }
        _ => got == want,
    }
}

/// Checks `recs`, everything recorded under a directory whose path is `prefix` bytes
/// long with its slash, against the directory open at `dir`. `settled`: the directory's
/// stat is the recorded one in every field, times included.
fn under<P: AsRef<str> + Sync>(
    dir: BorrowedFd<'_>,
    prefix: usize,
    settled: bool,
    recs: &[Record<P>],
    stop: &AtomicBool,
) -> Option<String> {
    // In a directory whose stat is unchanged to the nanosecond no entry came or went
    // (that moves its mtime, and its ctime, which no one can put back): what was missing
    // there still is, and needs no syscall. This holds for a directory only looked
    // through (a home) as for a listed one; when its times moved, each missing name is
    // looked up again. Sound whatever the order the run took them in: a name that came
    // after the directory's recorded stat moved its times since, and one that came
    // before that stat but after the lookup made the stat recent, and no cache is
    // written with a stat that recent (`store`).
    let groups: Vec<_> = groups(recs).into_iter().filter(|g| !(settled && g[0].1 == Err(ENOENT))).collect();
    let one = |g: &&[Record<P>]| {
        if stop.load(Ordering::Relaxed) {
            return Some(String::new());
        }
        let r = entry(dir, prefix, g, stop);
        if r.is_some() {
            stop.store(true, Ordering::Relaxed);
        }
        r
    };
    let found = if groups.len() >= PARALLEL {
        groups.par_iter().filter_map(one).find_any(|p| !p.is_empty())
    } else {
        groups.iter().find_map(one)
    };
    found.filter(|p| !p.is_empty())
}

/// One child (`g[0]`) and what is recorded under it.
fn entry<P: AsRef<str> + Sync>(
    dir: BorrowedFd<'_>,
    prefix: usize,
    g: &[Record<P>],
    stop: &AtomicBool,
) -> Option<String> {
    let (path, want, listed) = &g[0];
    let path = path.as_ref();
    // A name that is not one plain component (a damaged cache) counts as changed.
    let Some(name) = path.get(prefix..).filter(|n| !n.is_empty() && !n.contains('/') && *n != "." && *n != "..") else {
        return Some(path.to_string());
    };
    let got = rootfd::stat_child(dir, name).map_err(|e| e.raw_os_error().unwrap_or(-1));
    if !same(&got, want, *listed) {
        return Some(path.to_string());
    }
    // Below a path that is (still, identically) missing, a link or a file, everything
    // fails the way it failed before: only directories are descended.
    let sub = &g[1..];
    let settled = got == *want;
    let needed = sub.iter().any(|(_, o, _)| !(settled && *o == Err(ENOENT)));
    match want {
        Ok(st) if st.is_dir() && needed => match rootfd::open_child_dir(dir, name) {
            Ok(fd) => under(fd.as_fd(), path.len() + 1, settled, sub, stop),
            Err(_) => Some(path.to_string()),
        },
        _ => None,
    }
}

/// Splits records under one directory into its children, each with its subtree.
fn groups<P: AsRef<str>>(recs: &[Record<P>]) -> Vec<&[Record<P>]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < recs.len() {
        let head = recs[i].0.as_ref();
        let mut j = i + 1;
        while j < recs.len() && is_under(recs[j].0.as_ref(), head) {
            j += 1;
        }
        out.push(&recs[i..j]);
        i = j;
    }
    out
}

fn is_under(p: &str, dir: &str) -> bool {
    p.len() > dir.len() && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/'
}
