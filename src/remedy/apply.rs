//! Executing a plan with its journal, and undoing a run. Each step first checks that its
//! path is still in the state it had when planned (a file swapped for a symlink after
//! collection is refused, not followed); a failed step stops only its own action.

use std::io;

use serde::Serialize;

use super::fsops::{self, RootFs, State};
use super::journal::{self, Key, Record};
use super::{LiveOp, Plan, STATE_DIR, Step};

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct ApplyOutcome {
    pub run: String,
    pub done: Vec<String>,
    /// Steps that failed or were refused, each with the reason.
    pub failed: Vec<String>,
}

fn run_id() -> String {
    let tm = crate::schedule::zone::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
        tm.year,
        tm.mon + 1,
        tm.mday,
        tm.hour,
        tm.min,
        tm.sec,
        std::process::id()
    )
}

/// Test-only switch: `TIMERGUARD_KILL_AT=SEQ:PHASE` kills the process with SIGKILL at
/// step SEQ, PHASE `intent` (journaled, not yet made), `change` (made, not yet
/// confirmed) or `done` (confirmed): the journal and `undo` must survive a kill anywhere.
fn kill_point(seq: usize, phase: &str) {
    let Ok(v) = std::env::var("TIMERGUARD_KILL_AT") else { return };
    if v == format!("{seq}:{phase}") {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Creates the state and journal dirs (0755 and 0700, ours) or checks existing ones.
fn prepare_state_dir(fs: &RootFs) -> io::Result<()> {
    for (p, mode) in [(STATE_DIR.to_string(), 0o755), (journal::journal_dir(), 0o700)] {
        if fs.state(&p)?.kind == "missing" {
            fs.mkdir_p(crate::collect::root::parent(&p))?;
            fs.mkdir(&p, mode)?;
            fs.chmod(&p, mode)?;
        }
    }
    Ok(())
}

/// The temporary file a `Write` step writes before renaming it over its path.
fn tmp_path(path: &str, run: &str, seq: usize) -> String {
    format!("{}/.timerguard-{run}-{seq}.tmp", crate::collect::root::parent(path))
}

/// Applies the plan. Errors only when the run cannot start (lock, journal, key).
pub fn apply(fs: &RootFs, plan: &Plan) -> io::Result<ApplyOutcome> {
    let key = Key::load(fs)?;
    prepare_state_dir(fs)?;
    journal::check_dirs(fs)?;
    let _lock = fs.lock(&format!("{STATE_DIR}/lock"))?;
    let run = run_id();
    let jpath = journal::journal_path(&run);
    let mut jw = journal::Writer::open(fs, &key, &jpath)?;
    let mut out = ApplyOutcome { run: run.clone(), ..ApplyOutcome::default() };
    let mut seq = 0;
    for a in &plan.actions {
        for ps in &a.steps {
            seq += 1;
            let mut rec = Record {
                run: run.clone(),
                seq,
                status: "intent".into(),
                step: ps.step.clone(),
                before: ps.before.clone(),
                after: None,
                quarantine: None,
                before_content: None,
                error: None,
            };
            let now = fs.state(ps.step.path())?;
            if let Some(why) = refusal(&ps.before, &now, &ps.step) {
                rec.status = "refused".into();
                rec.error = Some(why);
                jw.write(&rec)?;
                out.failed.push(format!("{}: {}", ps.describe, rec.error.clone().unwrap_or_default()));
                break;
            }
            rec.before = now;
            if let Step::Quarantine { path } = &ps.step {
                rec.quarantine = Some(format!("{STATE_DIR}/quarantine/{run}{path}"));
            }
            if let Step::Write { path, .. } = &ps.step {
                rec.before_content = fs.read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
            }
            jw.write(&rec)?;
            kill_point(seq, "intent");
            match perform(fs, &rec) {
                Ok(()) => {
                    kill_point(seq, "change");
                    let where_ = rec.quarantine.clone().unwrap_or_else(|| ps.step.path().to_string());
                    rec.after = Some(fs.state(&where_)?);
                    rec.status = "done".into();
                    jw.write(&rec)?;
                    out.done.push(ps.describe.clone());
                    kill_point(seq, "done");
                }
                Err(e) => {
                    rec.status = "failed".into();
                    rec.error = Some(e.to_string());
                    jw.write(&rec)?;
                    out.failed.push(format!("{}: {e}", ps.describe));
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// Why a step must not run on its path as it is now.
fn refusal(planned: &State, now: &State, step: &Step) -> Option<String> {
    if now != planned || (planned.ino != 0 && (now.ino, now.dev) != (planned.ino, planned.dev)) {
        return Some(format!("changed since it was collected: was {}, now {}", summary(planned), summary(now)));
    }
    // Renaming or unlinking a name leaves the object's other names alone; changing the
    // object does not.
    let in_place = matches!(step, Step::Chmod { .. } | Step::Chown { .. } | Step::Write { .. });
    let moves = matches!(step, Step::Quarantine { .. } | Step::Unlink { .. } | Step::Rmdir { .. });
    match now.in_place_refusal() {
        Some(why) if in_place || (moves && now.mount) => Some(format!("refused: {why}")),
        _ => None,
    }
}

fn summary(s: &State) -> String {
    match &s.link {
        Some(l) => format!("{} → {l}", s.kind),
        None => format!("{} {:04o} {}:{}", s.kind, s.mode, s.uid, s.gid),
    }
}

fn perform(fs: &RootFs, r: &Record) -> io::Result<()> {
    match &r.step {
        Step::Chmod { path, mode } => fs.chmod(path, mode.0),
        Step::Chown { path, uid, gid } => fs.chown(path, *uid, *gid),
        Step::Unlink { path } => fs.unlink(path),
        Step::Symlink { path, target } => fs.symlink(path, target),
        Step::Quarantine { path } => {
            let dest = r.quarantine.as_deref().ok_or_else(|| io::Error::other("no quarantine path"))?;
            fs.mkdir_p(crate::collect::root::parent(dest))?;
            fs.rename(path, dest)
        }
        Step::Write { path, content } => {
            let meta = (r.before.kind == "file").then_some(&r.before);
            fs.write(path, content.as_bytes(), &tmp_path(path, &r.run, r.seq), meta)
        }
        Step::Rmdir { path } => fs.rmdir(path),
        Step::Mkdir { path } => fs.mkdir(path, 0o755),
    }
}

/// Whether an interrupted step (intent, no outcome) was made: its path is in the state
/// the step leaves. `None` when it is in neither that state nor the one before.
fn interrupted_made(fs: &RootFs, r: &Record) -> io::Result<Option<State>> {
    let path = r.step.path();
    let now = fs.state(path)?;
    let b = &r.before;
    let made = match &r.step {
        Step::Chmod { mode, .. } => now == State { mode: mode.0, ..b.clone() },
        // chown clears set-id bits on files: compare the owner and content.
        Step::Chown { uid, gid, .. } => {
            (&now.kind, now.uid, now.gid, &now.hash, &now.link) == (&b.kind, *uid, *gid, &b.hash, &b.link) && now != *b
        }
        Step::Unlink { .. } | Step::Rmdir { .. } => now.kind == "missing" && b.kind != "missing",
        Step::Symlink { target, .. } => now.kind == "symlink" && now.link.as_deref() == Some(target) && now != *b,
        Step::Quarantine { .. } => {
            let q = fs.state(r.quarantine.as_deref().unwrap_or(""))?;
            now.kind == "missing" && q == *b
        }
        Step::Write { content, .. } => {
            now.kind == "file" && now.hash.as_deref() == Some(&fsops::hash(content.as_bytes())) && now != *b
        }
        Step::Mkdir { .. } => now.kind == "dir" && b.kind == "missing",
    };
    if made {
        let where_ = r.quarantine.clone().unwrap_or_else(|| path.to_string());
        return Ok(Some(fs.state(&where_)?));
    }
    if now == *b {
        return Ok(None);
    }
    Err(io::Error::other(format!(
        "step {} ({path}) was interrupted and its path is in neither the state before nor after it; check it by hand",
        r.seq
    )))
}

/// Reverses a run (the given one, or the most recent not yet undone), last step first.
/// The journal must verify (ours, private, its chain intact) or nothing is done. A step
/// whose path is no longer in the state the run left is refused and reported; the others
/// are still undone. A step interrupted by a crash is undone if it was made.
pub fn undo(fs: &RootFs, run: Option<&str>) -> io::Result<Option<ApplyOutcome>> {
    let jdir = journal::journal_dir();
    if fs.state(&jdir)?.kind != "dir" {
        return Ok(None);
    }
    let key = Key::load(fs)?;
    journal::check_dirs(fs)?;
    let _lock = fs.lock(&format!("{STATE_DIR}/lock"))?;
    let run = match run {
        Some(r) => r.to_string(),
        None => match journal::pending_runs(fs)?.pop() {
            Some(r) => r,
            None => return Ok(None),
        },
    };
    let jpath = journal::journal_path(&run);
    if fs.state(&jpath)?.kind == "missing" {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no journal for run {run} ({jpath})")));
    }
    let records = journal::read(fs, &key, &jpath)?;
    let mut uw = journal::Writer::open(fs, &key, &journal::undo_path(&run))?;
    let mut out = ApplyOutcome { run: run.clone(), ..ApplyOutcome::default() };
    // The last record of each step says how far it got.
    let mut last: std::collections::BTreeMap<usize, &Record> = std::collections::BTreeMap::new();
    for r in &records {
        last.insert(r.seq, r);
    }
    for r in last.into_values().rev() {
        let after = match r.status.as_str() {
            "done" => r.after.clone(),
            "intent" => match interrupted_made(fs, r) {
                Ok(a) => {
                    if let Step::Write { path, .. } = &r.step {
                        let tmp = tmp_path(path, &r.run, r.seq);
                        if fs.state(&tmp)?.kind == "file" {
                            fs.unlink(&tmp)?;
                        }
                    }
                    a
                }
                Err(e) => {
                    out.failed.push(e.to_string());
                    continue;
                }
            },
            _ => None,
        };
        let Some(after) = after else { continue };
        let where_ = r.quarantine.clone().unwrap_or_else(|| r.step.path().to_string());
        let now = fs.state(&where_)?;
        // A file's inode is its identity, except after a Write: a later step's Write (or
        // its undo) replaces it by rename, and the content hash identifies it instead.
        let replaced = !matches!(r.step, Step::Write { .. }) && after.ino != 0 && now.ino != after.ino;
        if now != after || replaced {
            out.failed.push(format!("{}: refused, it changed after the run (now {})", where_, summary(&now)));
            continue;
        }
        let res = inverse(fs, r);
        let mut u = r.clone();
        u.status = if res.is_ok() { "undone".into() } else { "failed".into() };
        u.error = res.as_ref().err().map(ToString::to_string);
        uw.write(&u)?;
        match res {
            Ok(()) => out.done.push(format!("undo step {} on {}", r.seq, r.step.path())),
            Err(e) => out.failed.push(format!("undo step {} on {}: {e}", r.seq, r.step.path())),
        }
    }
    if out.done.is_empty() && out.failed.is_empty() {
        // A run that changed nothing still gets its undo journal: it is not pending.
        uw.touch()?;
    }
    Ok(Some(out))
}

fn restore_meta(fs: &RootFs, path: &str, s: &State) -> io::Result<()> {
    fs.chown(path, s.uid, s.gid)?;
    // After the owner: chown clears set-id bits, the mode puts them back.
    if s.kind != "symlink" {
        fs.chmod(path, s.mode)?;
    }
    Ok(())
}

fn inverse(fs: &RootFs, r: &Record) -> io::Result<()> {
    let b = &r.before;
    match &r.step {
        Step::Chmod { path, .. } => fs.chmod(path, b.mode),
        Step::Chown { path, .. } => restore_meta(fs, path, b),
        Step::Unlink { path } => {
            fs.symlink(path, b.link.as_deref().unwrap_or(""))?;
            fs.chown(path, b.uid, b.gid)
        }
        Step::Symlink { path, .. } | Step::Write { path, .. } if b.kind == "missing" => fs.unlink(path),
        Step::Symlink { .. } => Err(io::Error::other("a created link replaced something; refusing")),
        Step::Write { path, .. } => {
            let content = r.before_content.as_deref().unwrap_or("");
            fs.write(path, content.as_bytes(), &tmp_path(path, &r.run, r.seq), Some(b))?;
            restore_meta(fs, path, b)
        }
        Step::Quarantine { path } => fs.rename(r.quarantine.as_deref().unwrap_or(""), path),
        Step::Rmdir { path } => {
            fs.mkdir(path, b.mode)?;
            restore_meta(fs, path, b)
        }
        Step::Mkdir { path } => fs.rmdir(path),
    }
}

/// Tells the running manager (live systems only); failures are reported, not fatal.
pub fn live(ops: &[LiveOp]) -> Vec<String> {
    let mut errs = Vec::new();
    let mut reloaded = false;
    for op in ops {
        let (cmd, args): (&str, Vec<String>) = match op {
            LiveOp::DaemonReload if reloaded => continue,
            LiveOp::DaemonReload => {
                reloaded = true;
                ("systemctl", vec!["daemon-reload".into()])
            }
            LiveOp::Stop { scope, unit } => match scope.strip_prefix("user:") {
                Some(u) => {
                    ("systemctl", vec!["--user".into(), "-M".into(), format!("{u}@"), "stop".into(), unit.clone()])
                }
                None => ("systemctl", vec!["stop".into(), unit.clone()]),
            },
            LiveOp::DisableLinger { user } => ("loginctl", vec!["disable-linger".into(), user.clone()]),
        };
        match std::process::Command::new(cmd).args(&args).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => errs.push(format!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => errs.push(format!("{cmd}: {e}")),
        }
    }
    errs
}
