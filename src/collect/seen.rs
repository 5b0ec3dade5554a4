//! What a run looked at, and what it saw there (`check --cache`): every in-image path
//! it stat'ed, listed, read or resolved, with the `lstat` of each (or the errno), and
//! every ancestor of those paths. A report can be reused only while all of these are
//! unchanged: a file's content cannot change without its ctime changing, nor a
//! directory's entries without its own, and a swapped inode has another number.

use std::sync::{Mutex, PoisonError};

use super::FastMap;
use super::rootfd::Stat;

/// The outcome of `lstat` on one path: its metadata, or the errno it failed with
/// (`-1` for a failure that is not an OS error, which never compares equal again).
pub type Outcome = Result<Stat, i32>;

/// A recorded path, what `lstat` gave, and whether it is a directory that was listed.
/// A listed directory's entries were all read, so its whole stat counts (an entry
/// coming or going changes its mtime); a directory only looked through counts by its
/// identity, type, mode and owner, and each entry looked up in it is recorded itself —
/// so a home or `/etc` whose other files change all day does not void the cache.
pub type Record<P> = (P, Outcome, bool);

/// What is known of a path: its outcome (`None`: only an ancestor so far), and whether
/// it was listed.
type Slot = (Option<Outcome>, bool);

/// The recorder a `Root` fills while recording is on.
#[derive(Debug, Default)]
pub struct Seen {
    /// Path → what was seen first (`None`: only an ancestor of something seen).
    map: Mutex<FastMap<String, Slot>>,
    /// Host files read (outside the root), by absolute host path.
    host: Mutex<std::collections::BTreeMap<String, Outcome>>,
}

impl Seen {
    /// Notes `path` with what `lstat` gave, and every ancestor of it (unstat'ed yet).
    pub fn saw(&self, path: &str, outcome: Option<Outcome>) {
        self.note(path, outcome, false);
    }

    /// Notes a directory whose entries were read.
    pub fn listed(&self, path: &str) {
        self.note(path, None, true);
    }

    fn note(&self, path: &str, outcome: Option<Outcome>, listed: bool) {
        let mut m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get_mut(path) {
            Some(slot) => {
                // The first outcome stands: a later one differing means the path changed
                // during the run, which the reuse check then sees as a change.
                if slot.0.is_none() {
                    slot.0 = outcome;
                }
                slot.1 |= listed;
                return;
            }
            None => {
                m.insert(path.to_string(), (outcome, listed));
            }
        }
        let mut p = path;
        while let Some(i) = super::root::last_byte(p, b'/') {
            p = if i == 0 { "/" } else { &p[..i] };
            if m.contains_key(p) {
                break;
            }
            m.insert(p.to_string(), (None, false));
            if p == "/" {
                break;
            }
        }
    }

    /// Notes a host file that was read, with its stat (links followed, as it was read).
    pub fn saw_host(&self, path: &str) {
        let o = host_stat(std::path::Path::new(path));
        self.host.lock().unwrap_or_else(PoisonError::into_inner).entry(path.to_string()).or_insert(o);
    }

    pub fn take_host(&self) -> Vec<(String, Outcome)> {
        std::mem::take(&mut *self.host.lock().unwrap_or_else(PoisonError::into_inner)).into_iter().collect()
    }

    /// Everything seen, sorted so that a directory comes right before what is under it;
    /// an ancestor never stat'ed gets `fill(path)` now.
    pub fn take(&self, fill: impl Fn(&str) -> Outcome) -> Vec<Record<String>> {
        let m = std::mem::take(&mut *self.map.lock().unwrap_or_else(PoisonError::into_inner));
        let mut v: Vec<Record<String>> = m
            .into_iter()
            .map(|(p, (o, listed))| {
                let o = o.unwrap_or_else(|| fill(&p));
                (p, o, listed)
            })
            .collect();
        rayon::slice::ParallelSliceMut::par_sort_unstable_by(&mut v[..], |a, b| tree_order(&a.0, &b.0));
        prune(v)
    }
}

/// Drops what lies under a path that is missing, failed, or is not a directory: it
/// fails the same way while that path is unchanged (10,000 users without a runtime
/// directory would otherwise keep every search directory under it).
fn prune(v: Vec<Record<String>>) -> Vec<Record<String>> {
    let mut out: Vec<Record<String>> = Vec::with_capacity(v.len());
    // The last kept path that ends descent (not a directory), if we are under it.
    let mut dead: Option<String> = None;
    for (p, o, listed) in v {
        if let Some(d) = &dead {
            if d == "/" || (p.starts_with(d.as_str()) && p.as_bytes().get(d.len()) == Some(&b'/')) {
                continue;
            }
            dead = None;
        }
        if !o.as_ref().is_ok_and(Stat::is_dir) {
            dead = Some(p.clone());
        }
        out.push((p, o, listed));
    }
    out
}

/// Orders paths by component: `/a`, `/a/b`, `/a-c` (plain byte order would put `/a-c`
/// between `/a` and `/a/b`, splitting the subtree of `/a`).
pub fn tree_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let key = |c: u8| if c == b'/' { 0 } else { c };
    match (a.get(same), b.get(same)) {
        (Some(x), Some(y)) => key(*x).cmp(&key(*y)),
        _ => a.len().cmp(&b.len()),
    }
}

/// `stat` (following links) of a host path, as an outcome.
pub fn host_stat(path: &std::path::Path) -> Outcome {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Stat {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            ino: m.ino(),
            dev: m.dev(),
            nlink: m.nlink(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec()),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000).saturating_add(m.ctime_nsec()),
        }),
        Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
    }
}

/// The outcome of an `io::Result<Stat>` as recorded.
pub fn outcome(r: &std::io::Result<Stat>) -> Outcome {
    match r {
        Ok(st) => Ok(*st),
        Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_are_noted_and_the_order_keeps_subtrees_together() {
        let dir = Stat { mode: 0o040755, uid: 0, gid: 0, size: 0, ino: 1, dev: 1, nlink: 2, mtime_ns: 0, ctime_ns: 0 };
        let s = Seen::default();
        s.saw("/a/b/c", Some(Err(2)));
        s.saw("/a-c", Some(Err(2)));
        s.saw("/a-c", Some(Err(13))); // the first outcome stands
        let v = s.take(|p| if p == "/a/b" { Err(99) } else { Ok(dir) });
        let paths: Vec<&str> = v.iter().map(|(p, ..)| p.as_str()).collect();
        // `/a/b` failed: what is under it is left out (it fails the same way).
        assert_eq!(paths, ["/", "/a", "/a/b", "/a-c"]);
        assert_eq!(v[2].1, Err(99), "an ancestor is stat'ed when taken");
        assert_eq!(v[3].1, Err(2));
        s.listed("/d");
        s.saw("/d", Some(Ok(dir)));
        assert_eq!(s.take(|_| Ok(dir)).iter().find(|r| r.0 == "/d").map(|r| r.2), Some(true), "marked listed");
        let mut p = vec!["/a-c", "/a/b", "/a", "/", "/a/b/c", "/ab"];
        p.sort_by(|a, b| tree_order(a, b));
        assert_eq!(p, ["/", "/a", "/a/b", "/a/b/c", "/a-c", "/ab"]);
    }
}
