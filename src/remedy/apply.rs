//! Executing a plan with its journal, and undoing a run. Each step first checks that its
//! path is still in the state it had when planned (a file swapped for a symlink after
//! collection is refused, not followed); a failed step stops only its own action.

use std::io;

use serde::Serialize;

use super::fsops::{RootFs, State};
use super::journal::{self, Record};
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

/// Test-only switch: `TIMERGUARD_ABORT_AFTER=N` aborts the process after N steps, to
/// prove the journal and `undo` survive a crash mid-run.
fn abort_after() -> Option<usize> {
    std::env::var("TIMERGUARD_ABORT_AFTER").ok().and_then(|v| v.parse().ok())
}

/// Applies the plan. Errors only when the run cannot start (lock, journal).
pub fn apply(fs: &RootFs, plan: &Plan) -> io::Result<ApplyOutcome> {
    fs.mkdir_p(&format!("{STATE_DIR}/journal"))?;
    let _lock = fs.lock(&format!("{STATE_DIR}/lock"))?;
    let run = run_id();
    let jpath = journal::journal_path(&run);
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
            if now != ps.before {
                rec.status = "refused".into();
                rec.error =
                    Some(format!("changed since it was collected: was {}, now {}", summary(&ps.before), summary(&now)));
                journal::write(fs, &jpath, &rec)?;
                out.failed.push(format!("{}: {}", ps.describe, rec.error.clone().unwrap_or_default()));
                break;
            }
            if let Step::Quarantine { path } = &ps.step {
                rec.quarantine = Some(format!("{STATE_DIR}/quarantine/{run}{path}"));
            }
            if let Step::Write { path, .. } = &ps.step {
                rec.before_content = fs.read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
            }
            journal::write(fs, &jpath, &rec)?;
            match perform(fs, &ps.step, rec.quarantine.as_deref()) {
                Ok(()) => {
                    let where_ = rec.quarantine.clone().unwrap_or_else(|| ps.step.path().to_string());
                    rec.after = Some(fs.state(&where_)?);
                    rec.status = "done".into();
                    journal::write(fs, &jpath, &rec)?;
                    out.done.push(ps.describe.clone());
                    if abort_after() == Some(out.done.len()) {
                        std::process::abort();
                    }
                }
                Err(e) => {
                    rec.status = "failed".into();
                    rec.error = Some(e.to_string());
                    journal::write(fs, &jpath, &rec)?;
                    out.failed.push(format!("{}: {e}", ps.describe));
                    break;
                }
            }
        }
    }
    Ok(out)
}

fn summary(s: &State) -> String {
    match &s.link {
        Some(l) => format!("{} → {l}", s.kind),
        None => format!("{} {:04o} {}:{}", s.kind, s.mode, s.uid, s.gid),
    }
}

fn perform(fs: &RootFs, step: &Step, quarantine: Option<&str>) -> io::Result<()> {
    match step {
        Step::Chmod { path, mode } => fs.chmod(path, mode.0),
        Step::Chown { path, uid, gid } => fs.chown(path, *uid, *gid),
        Step::Unlink { path } => fs.unlink(path),
        Step::Symlink { path, target } => fs.symlink(path, target),
        Step::Quarantine { path } => {
            let dest = quarantine.ok_or_else(|| io::Error::other("no quarantine path"))?;
            fs.mkdir_p(crate::collect::root::parent(dest))?;
            fs.rename(path, dest)
        }
        Step::Write { path, content } => fs.write(path, content.as_bytes()),
        Step::Rmdir { path } => fs.rmdir(path),
        Step::Mkdir { path } => fs.mkdir(path, 0o755),
    }
}

/// Reverses a run (the given one, or the most recent not yet undone), last step first.
/// A step whose path is no longer in the state the run left is refused and reported;
/// the others are still undone.
pub fn undo(fs: &RootFs, run: Option<&str>) -> io::Result<ApplyOutcome> {
    let jdir = format!("{STATE_DIR}/journal");
    if fs.state(&jdir)?.kind != "dir" {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no run to undo: {jdir} does not exist")));
    }
    let _lock = fs.lock(&format!("{STATE_DIR}/lock"))?;
    let run = match run {
        Some(r) => r.to_string(),
        None => {
            journal::pending_runs(fs)?.pop().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no run to undo"))?
        }
    };
    let jpath = journal::journal_path(&run);
    let records = journal::read(fs, &jpath)
        .map_err(|e| io::Error::new(e.kind(), format!("no journal for run {run} ({jpath}: {e})")))?;
    let upath = journal::undo_path(&run);
    let mut out = ApplyOutcome { run: run.clone(), ..ApplyOutcome::default() };
    let done: Vec<&Record> = records.iter().filter(|r| r.status == "done").collect();
    // A step with an intent but no outcome was interrupted: it is fine only if nothing changed.
    for r in records
        .iter()
        .filter(|r| r.status == "intent" && !records.iter().any(|d| d.seq == r.seq && d.status != "intent"))
    {
        let now = fs.state(r.step.path())?;
        if now != r.before {
            out.failed.push(format!(
                "step {} ({}) was interrupted and its path changed; check it by hand",
                r.seq,
                r.step.path()
            ));
        }
    }
    for r in done.into_iter().rev() {
        let where_ = r.quarantine.clone().unwrap_or_else(|| r.step.path().to_string());
        let now = fs.state(&where_)?;
        if Some(&now) != r.after.as_ref() {
            out.failed.push(format!("{}: refused, it changed after the run (now {})", where_, summary(&now)));
            continue;
        }
        let res = inverse(fs, r);
        let mut u = r.clone();
        u.status = if res.is_ok() { "undone".into() } else { "failed".into() };
        u.error = res.as_ref().err().map(ToString::to_string);
        journal::write(fs, &upath, &u)?;
        match res {
            Ok(()) => out.done.push(format!("undo step {} on {}", r.seq, r.step.path())),
            Err(e) => out.failed.push(format!("undo step {} on {}: {e}", r.seq, r.step.path())),
        }
    }
    Ok(out)
}

fn restore_meta(fs: &RootFs, path: &str, s: &State) -> io::Result<()> {
    if s.kind != "symlink" {
        fs.chmod(path, s.mode)?;
    }
    fs.chown(path, s.uid, s.gid)
}

fn inverse(fs: &RootFs, r: &Record) -> io::Result<()> {
    let b = &r.before;
    match &r.step {
        Step::Chmod { path, .. } => fs.chmod(path, b.mode),
        Step::Chown { path, .. } => fs.chown(path, b.uid, b.gid),
        Step::Unlink { path } => {
            fs.symlink(path, b.link.as_deref().unwrap_or(""))?;
            fs.chown(path, b.uid, b.gid)
        }
        Step::Symlink { path, .. } | Step::Write { path, .. } if b.kind == "missing" => fs.unlink(path),
        Step::Symlink { .. } => Err(io::Error::other("a created link replaced something; refusing")),
        Step::Write { path, .. } => {
            fs.write(path, r.before_content.as_deref().unwrap_or("").as_bytes())?;
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
