//! `timerguard watch`: inotify on every directory any manager reads — every scope's search
//! path (each user's `~/.config/systemd/user` and `~/.local/share/systemd/user`
//! included), their `.wants`/`.d` subdirectories, the generator and preset directories,
//! `/run/systemd/transient`, `/run/user/*`, the linger directory, `/etc/passwd` — and,
//! for a directory that does not exist yet, its nearest existing parent (systemd will
//! find it once created). After a change (debounced) it re-reads only what changed: the
//! one user scope a path in a home or `/run/user/UID` belongs to, or everything for a
//! change to shared directories; it re-evaluates and prints each finding that appeared
//! or went away as a JSON line on stdout (which is the journal under systemd).
//!
//! Findings are compared by fingerprint (policy, rule, scope, subject): a finding whose
//! message changes (a new line number) is not reported again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

use crate::collect::root;
use crate::collect::{Session, paths};
use crate::finding::Finding;
use crate::model::{Scope, User};

/// What a run of the policies is, for `watch` (the caller knows the policies and config).
pub trait Checker {
    /// Every finding of a freshly opened session.
    fn all(&self, s: &Session) -> Vec<Finding>;
    /// The findings of one user's scope and of the paths in their home and runtime dir.
    fn user(&self, s: &Session, u: &User) -> Vec<Finding>;
}

/// Why a directory is watched: everything in it, or only some names (`/etc`: passwd).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    All,
    Names(&'static [&'static str]),
}

/// The directories to watch for a session, in-image and existing; with `only`, just
/// those users' (after a change inside their homes: the rest is already watched, and
/// reading every user again would make one user's change cost the whole host).
fn wanted(s: &Session, only: Option<&[User]>) -> BTreeMap<String, Purpose> {
    let root = s.root();
    let mut out = BTreeMap::new();
    let mut add = |p: &str, purpose: Purpose| {
        // A missing directory is watched through its nearest existing parent, never `/`.
        let mut cur = p.to_string();
        loop {
            if let Ok(c) = root.chase(&cur, true)
                && c.exists
                && root.lstat(&c.path).is_ok_and(|m| m.is_dir())
            {
                if c.path != "/" {
                    let e = out.entry(c.path).or_insert(purpose.clone());
                    if purpose == Purpose::All {
                        *e = Purpose::All;
                    }
                }
                return;
            }
            if cur == "/" {
                return;
            }
            cur = root::parent(&cur).to_string();
        }
    };
    let scope_dirs = |sc: &Scope| -> Vec<String> {
        let mut v: Vec<String> = sc.search_path.iter().map(|d| d.path.clone()).collect();
        v.extend(
            sc.entries
                .iter()
                .filter(|e| {
                    matches!(e.kind, crate::model::EntryKind::DropinDir | crate::model::EntryKind::DependencyDir)
                })
                .map(|e| e.path.clone()),
        );
        v
    };
    // A user's own dirs; with no unit directories yet: their home (and its parent, for
    // new homes).
    let user_dirs = |u: &User| -> Vec<String> {
        let mut v = s.user_scope(u).map(|o| scope_dirs(&o.scope)).unwrap_or_default();
        let (specs, ..) = s.user_specs(u, &mut Vec::new());
        v.extend(specs.into_iter().filter(|d| d.per_user).map(|d| d.path));
        v.push(root::parent(&root::normalize(&u.home)).to_string());
        v
    };
    if let Some(users) = only {
        for d in users.iter().flat_map(user_dirs) {
            add(&d, Purpose::All);
        }
        return out;
    }
    let host = s.host(Vec::new());
    for sc in &host.scopes {
        for d in scope_dirs(sc) {
            add(&d, Purpose::All);
        }
    }
    let per_user: Vec<Vec<String>> = {
        use rayon::prelude::*;
        s.users.par_iter().map(user_dirs).collect()
    };
    for d in per_user.into_iter().flatten() {
        add(&d, Purpose::All);
    }
    for d in paths::generator_dirs(false).into_iter().chain(paths::generator_dirs(true)) {
        add(&d, Purpose::All);
    }
    for d in [
        "/etc/systemd/system-preset",
        "/usr/lib/systemd/system-preset",
        "/var/lib/systemd/linger",
        "/run/systemd/transient",
        "/run/user",
    ] {
        add(d, Purpose::All);
    }
    out.entry("/etc".to_string()).or_insert(Purpose::Names(&["passwd", "group"]));
    out
}

/// The account a changed path belongs to: inside a home (not the home itself) or a
/// runtime dir. `None`: shared.
fn owner_of<'a>(s: &'a Session, p: &str) -> Option<&'a User> {
    s.users.iter().find(|u| {
        let home = root::normalize(&u.home);
        let run = format!("/run/user/{}", u.uid);
        (home != "/" && u.home_exists && p.starts_with(&format!("{home}/"))) || p.starts_with(&format!("{run}/"))
    })
}

/// A finding's identity across runs.
fn key(f: &Finding) -> String {
    f.fingerprint()
}

/// Findings of `u`'s bucket: its scope's, and those about paths in its home or runtime dir.
fn in_bucket(f: &Finding, u: &User) -> bool {
    let label = format!("user:{}", u.name);
    let home = root::normalize(&u.home);
    let run = format!("/run/user/{}", u.uid);
    let inside = |p: &str| (home != "/" && (p == home || p.starts_with(&format!("{home}/")))) || p.starts_with(&run);
    f.scope.as_deref() == Some(label.as_str()) || (f.scope.is_none() && inside(&f.subject))
}

/// The syslog priority prefix journald reads off a stdout line (`SyslogLevelPrefix=`,
/// on by default): a new finding at its severity, a resolved one as a notice — so
/// `journalctl -p err` shows new high findings.
fn priority(event: &str, f: &Finding) -> u8 {
    use crate::finding::Severity;
    match (event, f.severity) {
        ("new", Severity::Critical) => 2,
        ("new", Severity::High) => 3,
        ("new", Severity::Medium) => 4,
        ("new", Severity::Info) => 6,
        _ => 5,
    }
}

fn emit(out: &mut dyn Write, event: &str, f: &Finding, journal: bool) -> std::io::Result<()> {
    let line = serde_json::json!({ "event": event, "finding": f });
    if journal {
        write!(out, "<{}>", priority(event, f))?;
    }
    writeln!(out, "{line}")?;
    out.flush()
}

/// Prints the difference between two finding sets; returns how many lines.
fn diff(
    out: &mut dyn Write,
    before: &BTreeMap<String, Finding>,
    after: &BTreeMap<String, Finding>,
    journal: bool,
) -> std::io::Result<usize> {
    let mut n = 0;
    for (k, f) in after {
        if !before.contains_key(k) {
            emit(out, "new", f, journal)?;
            n += 1;
        }
    }
    for (k, f) in before {
        if !after.contains_key(k) {
            emit(out, "resolved", f, journal)?;
            n += 1;
        }
    }
    Ok(n)
}

/// The inotify instance and what each watch descriptor stands for.
struct Watches {
    fd: OwnedFd,
    host: std::path::PathBuf,
    by_wd: HashMap<i32, (String, Purpose)>,
    by_path: HashMap<String, i32>,
}

const MASK: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::DONT_FOLLOW)
    .union(WatchFlags::ONLYDIR);

impl Watches {
    fn sync(&mut self, want: &BTreeMap<String, Purpose>, err: &mut dyn Write) -> std::io::Result<()> {
        for (p, purpose) in want {
            if self.by_path.contains_key(p) {
                continue;
            }
            let host = self.host.join(p.trim_start_matches('/'));
            match inotify::add_watch(&self.fd, &host, MASK) {
                Ok(wd) => {
                    self.by_wd.insert(wd, (p.clone(), purpose.clone()));
                    self.by_path.insert(p.clone(), wd);
                }
                Err(e) => writeln!(err, "warning: {p}: cannot watch: {e}")?,
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for events; returns the in-image paths changed.
    fn wait(&mut self, timeout: Option<Duration>) -> std::io::Result<Vec<String>> {
        let ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        let mut fds = [nix::poll::PollFd::new(self.fd.as_fd(), nix::poll::PollFlags::POLLIN)];
        let t = nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::NONE);
        match nix::poll::poll(&mut fds, t) {
            Ok(0) => return Ok(Vec::new()),
            Ok(_) => {}
            Err(nix::Error::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(std::io::Error::from_raw_os_error(e as i32)),
        }
        let mut buf = [std::mem::MaybeUninit::uninit(); 16384];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut out = Vec::new();
        loop {
            let ev = match reader.next() {
                Ok(ev) => ev,
                Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR) => break,
                Err(e) => return Err(e.into()),
            };
            if ev.events().contains(inotify::ReadFlags::IGNORED) {
                if let Some((p, _)) = self.by_wd.remove(&ev.wd()) {
                    self.by_path.remove(&p);
                }
                continue;
            }
            let Some((dir, purpose)) = self.by_wd.get(&ev.wd()) else { continue };
            let name = ev.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if let Purpose::Names(names) = purpose
                && !names.contains(&name.as_str())
            {
                continue;
            }
            out.push(if name.is_empty() { dir.clone() } else { root::join(dir, &name) });
        }
        Ok(out)
    }
}

/// Options of a watch.
pub struct Options {
    /// Quiet time after the last event before re-reading.
    pub debounce: Duration,
    /// Stop after this many re-reads (tests); `None`: forever.
    pub rounds: Option<usize>,
    /// Stdout is the journal (`JOURNAL_STREAM`): lines carry a priority prefix.
    pub journal: bool,
}

/// Whether stdout is the journal stream systemd connected (`JOURNAL_STREAM` names its
/// device and inode), as sd_journal_stream_fd's readers check.
pub fn stdout_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = v.to_str().and_then(|v| v.split_once(':')) else { return false };
    let Ok(st) = nix::sys::stat::fstat(std::io::stdout().as_fd()) else { return false };
    dev.parse::<u64>().is_ok_and(|d| d == st.st_dev) && ino.parse::<u64>().is_ok_and(|i| i == st.st_ino)
}

/// Watches `root_dir` until killed (or `opts.rounds` re-reads).
pub fn run(
    root_dir: &Path,
    now: impl Fn() -> i64,
    checker: &dyn Checker,
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), crate::app::AppError> {
    let mut session = Session::open(root_dir, now())?;
    let mut state: BTreeMap<String, Finding> = checker.all(&session).into_iter().map(|f| (key(&f), f)).collect();
    let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(std::io::Error::from)?;
    let mut w =
        Watches { fd, host: session.root().host_root().to_path_buf(), by_wd: HashMap::new(), by_path: HashMap::new() };
    w.sync(&wanted(&session, None), err)?;
    writeln!(err, "watching {} directories ({} findings now)", w.by_wd.len(), state.len())?;
    let mut rounds = 0;
    loop {
        let mut changed = w.wait(None)?;
        // Debounce: gather until the directories are quiet.
        let start = Instant::now();
        loop {
            let more = w.wait(Some(opts.debounce))?;
            if more.is_empty() || start.elapsed() > opts.debounce * 20 {
                break;
            }
            changed.extend(more);
        }
        if changed.is_empty() {
            continue;
        }
        let users: HashSet<Option<String>> =
            changed.iter().map(|p| owner_of(&session, p).map(|u| u.name.clone())).collect();
        let mut touched = Vec::new();
        let next: BTreeMap<String, Finding> = if users.contains(&None) {
            session = Session::open(root_dir, now())?;
            checker.all(&session).into_iter().map(|f| (key(&f), f)).collect()
        } else {
            let mut next = state.clone();
            for name in users.into_iter().flatten() {
                let Some(u) = session.users.iter().find(|u| u.name == name).cloned() else { continue };
                touched.push(u.clone());
                session.forget(&root::normalize(&u.home));
                session.forget(&format!("/run/user/{}", u.uid));
                next.retain(|_, f| !in_bucket(f, &u));
                next.extend(checker.user(&session, &u).into_iter().filter(|f| in_bucket(f, &u)).map(|f| (key(&f), f)));
            }
            next
        };
        diff(out, &state, &next, opts.journal)?;
        state = next;
        let full = touched.is_empty();
        w.sync(&wanted(&session, (!full).then_some(touched.as_slice())), err)?;
        rounds += 1;
        if opts.rounds.is_some_and(|r| rounds >= r) {
            return Ok(());
        }
    }
}

/// How many directories a watch of `root_dir` would hold (for the benchmark).
pub fn watch_count(s: &Session) -> usize {
    wanted(s, None).len()
}
