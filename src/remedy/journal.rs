//! The journal of a `fix --apply` run: JSON Lines in `/var/lib/timerguard/journal/RUN.jsonl`
//! inside the root. An `intent` record (the step and the prior state) is written and
//! synced *before* each change, a `done` record (the state it left) after; `undo` replays
//! the inverses from it.

use serde::{Deserialize, Serialize};

use super::fsops::{RootFs, State};
use super::{STATE_DIR, Step};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub run: String,
    pub seq: usize,
    /// `intent`, `done`, `failed`, `refused` (and, in undo journals, `undone`).
    pub status: String,
    pub step: Step,
    pub before: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<State>,
    /// Where a quarantined file went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<String>,
    /// A file's content before `Write` replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn journal_path(run: &str) -> String {
    format!("{STATE_DIR}/journal/{run}.jsonl")
}

pub fn undo_path(run: &str) -> String {
    format!("{STATE_DIR}/journal/{run}.undo.jsonl")
}

/// Appends one record, synced.
pub fn write(fs: &RootFs, path: &str, r: &Record) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    line.push(b'\n');
    fs.append(path, &line)
}

/// Reads a journal; a torn last line (crash while writing) is ignored.
pub fn read(fs: &RootFs, path: &str) -> std::io::Result<Vec<Record>> {
    let bytes = fs.read(path)?;
    Ok(String::from_utf8_lossy(&bytes).lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// The runs that have a journal and no undo journal yet, oldest first.
pub fn pending_runs(fs: &RootFs) -> std::io::Result<Vec<String>> {
    let names = fs.list(&format!("{STATE_DIR}/journal")).unwrap_or_default();
    Ok(names
        .iter()
        .filter_map(|n| n.strip_suffix(".jsonl"))
        .filter(|r| !r.ends_with(".undo"))
        .filter(|r| !names.contains(&format!("{r}.undo.jsonl")))
        .map(String::from)
        .collect())
}
