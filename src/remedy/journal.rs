//! The journal of a `fix --apply` run: one line per record in
//! `/var/lib/timerguard/journal/RUN.jsonl` inside the root. An `intent` record (the step
//! and the prior state) is written and synced *before* each change, a `done` record (the
//! state it left) after; `undo` replays the inverses from it.
//!
//! `undo` acts on what the journal says, so a journal is trusted only when
//! - it and its directory are ours (owner = our euid, no group/other access), and
//! - every record carries an HMAC-SHA256 chained over the run id and all earlier
//!   records, keyed by a secret kept on the host outside any offline root
//!   (`/var/lib/timerguard/journal.key`, 0600; `TIMERGUARD_JOURNAL_KEY` overrides).
//!
//! A journal an image author planted, or one edited after the run, fails the chain and is
//! refused as a whole. Only a last line without its newline (a crash mid-write) is
//! ignored.

use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

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

pub fn journal_dir() -> String {
    format!("{STATE_DIR}/journal")
}

pub fn journal_path(run: &str) -> String {
    format!("{STATE_DIR}/journal/{run}.jsonl")
}

pub fn undo_path(run: &str) -> String {
    format!("{STATE_DIR}/journal/{run}.undo.jsonl")
}

type HmacSha256 = Hmac<Sha256>;

/// The host's journal key.
pub struct Key(Vec<u8>);

const KEY_LEN: usize = 32;

fn key_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TIMERGUARD_JOURNAL_KEY") {
        return PathBuf::from(p);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/timerguard/journal.key");
    }
    // Not root: the user's own state dir (only their own files can be fixed anyway).
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(".local/state"));
    base.join("timerguard/journal.key")
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

impl Key {
    /// Loads the host's key, creating it on first use. Refused when it is not a regular
    /// file of ours with no group/other access, or when it lies inside the offline root
    /// being changed (an image would then carry the key to its own forged journal).
    pub fn load(fs: &RootFs) -> io::Result<Key> {
        let path = key_path();
        let shown = path.display();
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        if let (Ok(k), Ok(r)) = (std::fs::canonicalize(path.parent().unwrap_or(Path::new("/"))), fs.host_root())
            && r != Path::new("/")
            && k.starts_with(&r)
        {
            return Err(bad(format!("journal key {shown} lies inside the root being changed; keep it on the host")));
        }
        let opened = std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NOFOLLOW).open(&path);
        let mut f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Key::create(&path),
            Err(e) => return Err(io::Error::new(e.kind(), format!("journal key {shown}: {e}"))),
        };
        let m = f.metadata()?;
        let euid = nix::unistd::geteuid().as_raw();
        if !m.is_file() || m.uid() != euid || m.mode() & 0o077 != 0 {
            return Err(bad(format!(
                "journal key {shown} is not trusted: want a regular file owned by uid {euid}, mode 0600 (it is mode {:04o}, uid {})",
                m.mode() & 0o7777,
                m.uid()
            )));
        }
        let mut k = Vec::new();
        Read::by_ref(&mut f).take(4096).read_to_end(&mut k)?;
        if k.len() != KEY_LEN {
            return Err(bad(format!("journal key {shown} is {} bytes, want {KEY_LEN}", k.len())));
        }
        Ok(Key(k))
    }

    fn create(path: &Path) -> io::Result<Key> {
        let mut k = vec![0u8; KEY_LEN];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut k)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("journal key {}: {e}", path.display())))?;
        f.write_all(&k)?;
        f.sync_all()?;
        Ok(Key(k))
    }

    fn mac(&self, prev: &str, body: &[u8]) -> String {
        // A key of any length is valid for HMAC; this cannot fail.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        m.update(prev.as_bytes());
        m.update(b"\n");
        m.update(body);
        crate::digest::hex(&m.finalize().into_bytes())
    }
}

/// Appends records to one journal, each chained to the one before.
pub struct Writer<'a> {
    fs: &'a RootFs,
    key: &'a Key,
    path: String,
    prev: String,
}

/// The chain's start: binds the first record to this journal's run and kind.
fn chain_start(path: &str) -> String {
    format!("timerguard-journal-v1 {path}")
}

impl<'a> Writer<'a> {
    /// Starts a journal, or continues an existing one (an undo journal on a second undo)
    /// after verifying it.
    pub fn open(fs: &'a RootFs, key: &'a Key, path: &str) -> io::Result<Writer<'a>> {
        let prev = match fs.state(path)?.kind.as_str() {
            "missing" => chain_start(path),
            _ => read_chain(fs, key, path)?.1,
        };
        Ok(Writer { fs, key, path: path.to_string(), prev })
    }

    /// Creates the journal (empty, which verifies) if it does not exist.
    pub fn touch(&self) -> io::Result<()> {
        self.fs.append(&self.path, b"")
    }

    /// Appends one record, synced.
    pub fn write(&mut self, r: &Record) -> io::Result<()> {
        let body = serde_json::to_vec(r).map_err(io::Error::other)?;
        let mac = self.key.mac(&self.prev, &body);
        let mut line = Vec::with_capacity(body.len() + mac.len() + 2);
        line.extend_from_slice(mac.as_bytes());
        line.push(b'\t');
        line.extend_from_slice(&body);
        line.push(b'\n');
        self.fs.append(&self.path, &line)?;
        self.prev = mac;
        Ok(())
    }
}

/// Checks that the state and journal dirs are ours and private (no one else can add,
/// replace or edit a journal in them).
pub fn check_dirs(fs: &RootFs) -> io::Result<()> {
    check(fs, STATE_DIR, "dir", 0o022)?;
    check(fs, &journal_dir(), "dir", 0o077)
}

fn check(fs: &RootFs, p: &str, kind: &str, forbidden: u32) -> io::Result<()> {
    let euid = nix::unistd::geteuid().as_raw();
    let s = fs.state(p)?;
    if s.kind != kind || s.uid != euid || s.mode & forbidden != 0 {
        return Err(bad(format!(
            "{p} is not trusted: want a {kind} owned by uid {euid} with none of the mode bits {forbidden:04o} (it is a {} mode {:04o} uid {})",
            s.kind, s.mode, s.uid
        )));
    }
    Ok(())
}

/// Reads and verifies a journal; returns its records and the chain head.
fn read_chain(fs: &RootFs, key: &Key, path: &str) -> io::Result<(Vec<Record>, String)> {
    check_dirs(fs)?;
    check(fs, path, "file", 0o077)?;
    let bytes = fs.read(path)?;
    let mut prev = chain_start(path);
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    let mut n = 0;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..i];
        rest = &rest[i + 1..];
        n += 1;
        let forged = |why: &str| {
            bad(format!("{path}:{n}: {why}; the journal was edited or not written by this host's timerguard"))
        };
        let tab = line.iter().position(|&b| b == b'\t').ok_or_else(|| forged("no authentication code"))?;
        let (mac, body) = (&line[..tab], &line[tab + 1..]);
        if mac != key.mac(&prev, body).as_bytes() {
            return Err(forged("authentication code does not match"));
        }
        let r: Record =
            serde_json::from_slice(body).map_err(|e| forged(&format!("authenticated but unreadable ({e})")))?;
        prev = String::from_utf8_lossy(mac).into_owned();
        out.push(r);
    }
    // Whatever follows the last newline is a record torn by a crash mid-write.
    Ok((out, prev))
}

/// Reads a verified journal.
pub fn read(fs: &RootFs, key: &Key, path: &str) -> io::Result<Vec<Record>> {
    Ok(read_chain(fs, key, path)?.0)
}

/// The runs that have a journal and no undo journal yet, oldest first.
pub fn pending_runs(fs: &RootFs) -> io::Result<Vec<String>> {
    let names = fs.list(&journal_dir()).unwrap_or_default();
    Ok(names
        .iter()
        .filter_map(|n| n.strip_suffix(".jsonl"))
        .filter(|r| !r.ends_with(".undo"))
        .filter(|r| !names.contains(&format!("{r}.undo.jsonl")))
        .map(String::from)
        .collect())
}
