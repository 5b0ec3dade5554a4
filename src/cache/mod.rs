//! `check --cache FILE`: a report reused while nothing it was made from has changed.
//!
//! A check reads the root through `Root`, which (when recording) notes every path it
//! looked at and the `lstat` it saw (`collect::seen`). The cache keeps the report with
//! those records, the host files read, the calendar facts computed from "now", the live
//! view's sum and a key over every other input (binary, options, config, policies, the
//! day, `TZ`). The next check reuses the report only when the key matches, every path
//! still `lstat`s the same (never following a link: `tree.rs`), every calendar still
//! gives the same facts and the live view the same answer; otherwise it checks afresh and
//! replaces the cache. A cache is not written when a file changed less than a second
//! before or during the run (its timestamps could not tell a later change apart), when
//! a policy failed, or when a selected policy reads the clock.

mod file;
mod inputs;
mod tree;

pub use inputs::{clock_in, key as key_of, reads_clock};

use std::path::Path;

pub use file::Header;
pub use file::{Cached, decode};

use crate::collect::seen::{Outcome, Record};
use crate::collect::{Root, Session};
use crate::report::Report;

/// What a recording session saw (taken before it is dropped).
pub struct Recorded {
    pub paths: Vec<Record<String>>,
    pub host: Vec<Record<String>>,
    pub calendars: Vec<(String, String)>,
    pub live: Option<String>,
}

impl Recorded {
    pub fn of(s: &Session) -> Recorded {
        Recorded {
            paths: s.root().take_seen().unwrap_or_default(),
            host: s.root().take_seen_host().into_iter().map(|(p, o)| (p, o, false)).collect(),
            calendars: s.calendars_seen(),
            live: s.live_print().map(str::to_string),
        }
    }
}

/// A sum of every input that is not a file of the root, in order (`inputs.rs`).
fn sum(parts: &[(&str, String)]) -> String {
    let mut text = String::from("timerguard.cache/v1\n");
    for (k, v) in parts {
        text.push_str(&format!("{k}={}\n", v.len()));
        text.push_str(v);
        text.push('\n');
    }
    crate::digest::sha256(text.as_bytes())
}

/// A cache found fresh, or why it was not.
pub enum Lookup {
    Fresh(Box<Hit>),
    Stale(String),
}

/// A fresh cache: its header, and its report as `--format json` wrote it (left in the
/// open file until asked for).
pub struct Hit {
    pub header: Header,
    file: std::fs::File,
    report_at: std::ops::Range<u64>,
}

impl Hit {
    /// Writes the report's JSON, exactly as a fresh `check --format json` writes it.
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        file::copy_report(&self.file, &self.report_at, out)
    }

    /// Like `write_json`, when `out` is this process's standard output: flushed, then
    /// the report sent to it by the kernel where it can be.
    pub fn write_json_to_stdout(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.flush()?;
        if file::send_report_to_stdout(&self.file, &self.report_at)? {
            return Ok(());
        }
        self.write_json(out)
    }

    pub fn report(&self) -> Result<Report, String> {
        let bytes = file::report_bytes(&self.file, &self.report_at).map_err(|e| format!("the cached report: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the cached report: {e}"))
    }
}

/// Looks the cache at `path` up for a check of `root` now.
pub fn lookup(path: &Path, key: &str, root: &Root, now_usec: i64) -> Lookup {
    let stale = Lookup::Stale;
    let file = match file::open(path) {
        Ok(Some(f)) => f,
        Ok(None) => return stale("none yet".into()),
        Err(why) => return stale(format!("not used: {why}")),
    };
    let damaged = |why: String| Lookup::Stale(format!("{} is damaged ({why})", path.display()));
    let parts = match file::split(&mut std::io::BufReader::new(&file)) {
        Ok(p) => p,
        Err(why) => return damaged(why),
    };
    if parts.header.key != key {
        return stale("made with other options, config, policies, version or day".into());
    }
    match check(&parts, root, now_usec) {
        Ok(None) => {
            let (header, report_at) = (parts.header, parts.report_at);
            Lookup::Fresh(Box::new(Hit { header, file, report_at }))
        }
        Ok(Some(why)) => stale(why),
        Err(why) => damaged(why),
    }
}

/// Why what the cache was made from differs now (`None`: nothing does); `Err` when the
/// records cannot be read.
fn check(parts: &file::Parts, root: &Root, now_usec: i64) -> Result<Option<String>, String> {
    let (paths, host) = parts.records()?;
    if let Some((p, ..)) = host.iter().find(|(p, o, _)| crate::collect::seen::host_stat(Path::new(p.as_ref())) != *o) {
        return Ok(Some(format!("host file {p} changed")));
    }
    // The calendars and the live view are worked out while the tree is walked (17 ms of
    // a 10,000-user warm check, on one thread); a changed path still comes first.
    let (moved, then) = rayon::join(|| tree::changed(root.fd(), &paths), || elapsed_or_live(parts, root, now_usec));
    match moved {
        Some(p) => Ok(Some(format!("{p} changed"))),
        None => Ok(then),
    }
}

/// Why the calendar facts or the live view differ now from the cache's (`None`: they
/// do not).
fn elapsed_or_live(parts: &file::Parts, root: &Root, now_usec: i64) -> Option<String> {
    let zones = crate::collect::zones_of(root);
    let local = crate::schedule::ZoneSource::local(&zones);
    for (expr, want) in &parts.header.calendars {
        if format!("{:?}", crate::collect::calendar_facts(expr, &zones, &local, now_usec)) != *want {
            return Some(format!("OnCalendar={expr} elapses differently now"));
        }
    }
    if crate::collect::live_fingerprint(root) != parts.header.live {
        return Some("the running managers' view changed".into());
    }
    None
}

/// Writes the cache for a fresh check that started at `start_usec`; the error says
/// why it was not written.
pub fn store(
    path: &Path,
    key: String,
    start_usec: i64,
    report: &Report,
    notes: String,
    rec: Recorded,
) -> Result<(), String> {
    if !report.errors.is_empty() {
        return Err("a policy failed".into());
    }
    // A change within the timestamps' resolution of the run could go unseen next time.
    let racy = start_usec.saturating_mul(1000).saturating_sub(1_000_000_000);
    let recent = |o: &Outcome| o.as_ref().is_ok_and(|s| s.ctime_ns >= racy || s.mtime_ns >= racy);
    if let Some((p, ..)) = rec.paths.iter().chain(&rec.host).find(|(_, o, _)| recent(o)) {
        return Err(format!("{p} changed less than a second before or during the check"));
    }
    let exit_code = report.exit_code();
    let header = Header { key, made_usec: start_usec, live: rec.live, calendars: rec.calendars, notes, exit_code };
    file::write(path, |w| file::encode(w, &header, report, &rec.paths, &rec.host))
}
