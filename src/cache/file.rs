//! The cache file: a text file, one thing per line, so a damaged one fails with the line.
//!
//! ```text
//! timerguard.cache/v1
//! {"key":…,"made_usec":…,"live":…,"calendars":[…],"notes":…}   header (JSON)
//! report N LINES                                                then N bytes (LINES lines):
//! {"schema": "timerguard.check/v1", …}                         the report as `--format json` writes it
//! paths N                                                       then N records:
//! s MODE UID GID SIZE INO DEV NLINK MTIME_NS CTIME_NS<TAB>PATH  an lstat
//! l …                                                           of a listed directory
//! e ERRNO<TAB>PATH                                              a failure
//! host M                                                        host files, the same way
//! end
//! ```
//!
//! Paths escape `\` as `\\` and a newline as `\n`. Whoever can write this file decides
//! what a reused check reports, so it is read only when it and its directory belong to
//! this user and nobody else can write them, and it is replaced by a rename.

use std::borrow::Cow;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::collect::rootfd::Stat;
use crate::collect::seen::Record;
use crate::report::Report;

const MAGIC: &str = "timerguard.cache/v1";
/// A cache larger than this is not read (a 10,000-user host's is about 40 MB).
const MAX_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// The sum of every input but the root's files (`cache::key`).
    pub key: String,
    /// When the run that made it started (µs since the epoch).
    pub made_usec: i64,
    /// The live view's sum (`collect::live_fingerprint`), when it was on.
    pub live: Option<String>,
    /// Calendar expressions stepped from "now", and what they gave.
    pub calendars: Vec<(String, String)>,
    /// What the run wrote to stderr (warnings, policy log lines), written again on reuse.
    pub notes: String,
    /// The check's exit code (before any `--baseline`).
    pub exit_code: u8,
}

pub struct Cached {
    pub header: Header,
    pub report: Report,
    pub paths: Vec<Record<String>>,
    pub host: Vec<Record<String>>,
}

/// Writes the file (streamed: a 10,000-user report is large).
pub fn encode(
    out: &mut dyn Write,
    header: &Header,
    report: &Report,
    paths: &[Record<String>],
    host: &[Record<String>],
) -> std::io::Result<()> {
    writeln!(out, "{MAGIC}")?;
    serde_json::to_writer(&mut *out, header)?;
    writeln!(out)?;
    // As `--format json` renders it: a reused JSON check writes these bytes unparsed.
    let mut json = Vec::new();
    crate::report::render(report, crate::report::Format::Json, false, &mut json)?;
    let lines = json.iter().filter(|b| **b == b'\n').count();
    writeln!(out, "report {} {lines}", json.len())?;
    out.write_all(&json)?;
    for (label, recs) in [("paths", paths), ("host", host)] {
        writeln!(out, "{label} {}", recs.len())?;
        for (p, o, listed) in recs {
            match o {
                Ok(s) => write!(
                    out,
                    "{} {} {} {} {} {} {} {} {} {}\t",
                    if *listed { 'l' } else { 's' },
                    s.mode,
                    s.uid,
                    s.gid,
                    s.size,
                    s.ino,
                    s.dev,
                    s.nlink,
                    s.mtime_ns,
                    s.ctime_ns
                )?,
                Err(code) => write!(out, "e {code}\t")?,
            }
            escape(p, out)?;
            writeln!(out)?;
        }
    }
    writeln!(out, "end")
}

fn escape(p: &str, out: &mut dyn Write) -> std::io::Result<()> {
    if !p.contains(['\\', '\n']) {
        return out.write_all(p.as_bytes());
    }
    out.write_all(p.replace('\\', "\\\\").replace('\n', "\\n").as_bytes())
}

fn unescape(s: &str) -> Result<Cow<'_, str>, String> {
    if !s.contains('\\') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            _ => return Err("a bad escape in a path".into()),
        }
    }
    Ok(Cow::Owned(out))
}

/// A cache file split into its parts. The report stays in the file (`report_at`): a
/// reused JSON check copies it out, so a 10,000-user one (17 MB) is never held whole.
pub struct Parts {
    pub header: Header,
    /// Where the report's JSON lies in the file.
    pub report_at: std::ops::Range<u64>,
    report_lines: usize,
    rest: String,
}

/// A line of at most `MAX_BYTES`, without its newline; the error names it.
fn line(r: &mut impl std::io::BufRead, n: usize, what: &str) -> Result<String, String> {
    let mut v = Vec::new();
    r.take(MAX_BYTES).read_until(b'\n', &mut v).map_err(|e| format!("line {n}: {e}"))?;
    if v.pop() != Some(b'\n') {
        return Err(format!("ends before {what}"));
    }
    String::from_utf8(v).map_err(|_| format!("line {n}: not UTF-8"))
}

/// Reads the header, finds the report and reads the records' text; the error names the
/// line.
pub fn split<R: std::io::BufRead + std::io::Seek>(r: &mut R) -> Result<Parts, String> {
    use std::io::SeekFrom;
    if line(r, 1, "the header")? != MAGIC {
        return Err(format!("line 1: not a {MAGIC} file"));
    }
    let header: Header = serde_json::from_str(&line(r, 2, "the header")?).map_err(|e| format!("line 2: {e}"))?;
    let l3 = line(r, 3, "the report")?;
    let (len, report_lines) = l3
        .strip_prefix("report ")
        .and_then(|x| x.split_once(' '))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<usize>().ok()?)))
        .ok_or("line 3: expected `report LENGTH LINES`")?;
    let io = |e: std::io::Error| format!("line 4: {e}");
    let start = r.stream_position().map_err(io)?;
    let end = start.checked_add(len).filter(|e| *e > start).ok_or("line 4: the report is empty")?;
    // The report ends with a newline: a file cut inside it fails here.
    r.seek(SeekFrom::Start(end - 1)).map_err(io)?;
    let mut last = [0u8; 1];
    if r.read(&mut last).map_err(io)? != 1 || last[0] != b'\n' {
        return Err("line 4: the report is cut short".into());
    }
    // Sized up front: growing it by doubling would copy and fault in 15 MB twice.
    let size = r.seek(SeekFrom::End(0)).map_err(io)?;
    r.seek(SeekFrom::Start(end)).map_err(io)?;
    let mut rest = String::with_capacity(usize::try_from(size.saturating_sub(end).min(MAX_BYTES)).unwrap_or(0));
    r.take(MAX_BYTES).read_to_string(&mut rest).map_err(|_| "after the report: not UTF-8".to_string())?;
    Ok(Parts { header, report_at: start..end, report_lines, rest })
}

/// The report's bytes, read from where `split` found them.
pub fn report_bytes(f: &std::fs::File, at: &std::ops::Range<u64>) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut v = vec![0; usize::try_from(at.end - at.start).map_err(std::io::Error::other)?];
    f.read_exact_at(&mut v, at.start)?;
    Ok(v)
}

/// What stdout's pipe is grown to for a reused report.
const PIPE_SIZE: usize = 1 << 20;

/// Sends the report from the file to this process's standard output with `sendfile`
/// (the kernel moves the bytes; nothing is read into memory), growing stdout's pipe so
/// that the reader drains it in fewer, larger gulps. `Ok(false)` when stdout takes no
/// `sendfile` and nothing was sent (a file opened with `O_APPEND`, some terminals, an fd
/// open only for reading, which std's stdout ignores): copy it then.
pub fn send_report_to_stdout(f: &std::fs::File, at: &std::ops::Range<u64>) -> std::io::Result<bool> {
    use std::os::fd::AsFd;
    send_report(f, at, std::io::stdout().as_fd())
}

/// `send_report_to_stdout`, to `out`.
fn send_report(
    f: &std::fs::File,
    at: &std::ops::Range<u64>,
    out: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<bool> {
    if rustix::fs::fstat(out)
        .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo)
    {
        // As big as an unprivileged process may make it (`/proc/sys/fs/pipe-max-size`,
        // 1 MiB by default), never smaller than it was; a refusal leaves it as it was.
        if rustix::pipe::fcntl_getpipe_size(out).is_ok_and(|n| n < PIPE_SIZE) {
            let _ = rustix::pipe::fcntl_setpipe_size(out, PIPE_SIZE);
        }
    }
    let mut pos = at.start;
    while pos < at.end {
        let want = usize::try_from(at.end - pos).unwrap_or(usize::MAX);
        let mut off = pos;
        match rustix::fs::sendfile(out, f, Some(&mut off), want) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the cache file shrank")),
            Ok(n) => pos += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            // A non-blocking pipe that is full: wait until its reader makes room.
            Err(rustix::io::Errno::AGAIN) => crate::waiting::wait_writable(&out)?,
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::BADF) if pos == at.start => {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Copies the report out of the file (positioned reads: the file is not moved).
pub fn copy_report(f: &std::fs::File, at: &std::ops::Range<u64>, out: &mut dyn Write) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = at.start;
    while pos < at.end {
        let want = usize::try_from((at.end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = f.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the cache file shrank"));
        }
        out.write_all(&buf[..n])?;
        pos += n as u64;
    }
    Ok(())
}

impl Parts {
    /// The root's records and the host's. The lines are found in one pass and parsed in
    /// parallel straight into a vector of the exact size: 200,000 of them, the part of a
    /// warm check no other thread can share (a vector of every line, and a collect that
    /// grows and copies, were 45 ms of a 10,000-user one's 220).
    pub fn records(&self) -> Result<Records<'_>, String> {
        let first = self.report_lines.saturating_add(4);
        let text = self.rest.as_str();
        let mut pos = 0;
        let mut at = 0;
        let mut part = |label: &str| -> Result<Vec<Record<Cow<'_, str>>>, String> {
            let n = first.saturating_add(at);
            let (head, body) = next_line(text, pos).ok_or_else(|| format!("line {n}: expected `{label} COUNT`"))?;
            let count: usize = head
                .strip_prefix(label)
                .and_then(|c| c.strip_prefix(' '))
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("line {n}: expected `{label} COUNT`"))?;
            // Where each record starts, and where the next line does (not sized by the
            // count a damaged file could inflate).
            let mut starts = vec![body];
            let mut end = body;
            for _ in 0..count {
                (_, end) = next_line(text, end).ok_or_else(|| format!("ends before its {count} records"))?;
                starts.push(end);
            }
            let v = parse_all(text, &starts, n.saturating_add(1))?;
            at += 1 + count;
            pos = end;
            Ok(v)
        };
        let paths = part("paths")?;
        let host = part("host")?;
        match next_line(text, pos) {
            Some(("end", _)) => Ok((paths, host)),
            _ => Err(format!("line {}: expected `end`", first.saturating_add(at))),
        }
    }
}

/// The line of `text` that starts at byte `at` (without its newline) and where the next
/// one starts; `None` at the end of the text. The last line need not end in a newline.
fn next_line(text: &str, at: usize) -> Option<(&str, usize)> {
    let rest = text.get(at..).filter(|r| !r.is_empty())?;
    Some(match rest.find('\n') {
        Some(i) => (&rest[..i], at + i + 1),
        None => (rest, text.len()),
    })
}

/// Parses the lines between consecutive `starts`; the first bad one (numbered from
/// `line`) is the error.
fn parse_all<'a>(text: &'a str, starts: &[usize], line: usize) -> Result<Vec<Record<Cow<'a, str>>>, String> {
    use rayon::prelude::*;
    let bad = std::sync::Mutex::new(None::<(usize, String)>);
    let v: Vec<Record<Cow<'a, str>>> = starts
        .par_windows(2)
        .enumerate()
        .map(|(i, w)| {
            let l = text[w[0]..w[1]].strip_suffix('\n').unwrap_or(&text[w[0]..w[1]]);
            record(l).unwrap_or_else(|e| {
                let mut b = bad.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if b.as_ref().is_none_or(|(j, _)| i < *j) {
                    *b = Some((i, e));
                }
                (Cow::Borrowed(""), Err(0), false)
            })
        })
        .collect();
    match bad.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        Some((i, e)) => Err(format!("line {}: {e}", line.saturating_add(i))),
        None => Ok(v),
    }
}

/// Records of the root's paths and of host files (borrowed from the file's text).
pub type Records<'a> = (Vec<Record<Cow<'a, str>>>, Vec<Record<Cow<'a, str>>>);

/// Parses a whole cache file; the error names the line.
pub fn decode(bytes: &[u8]) -> Result<Cached, String> {
    let mut cur = std::io::Cursor::new(bytes);
    let parts = split(&mut cur)?;
    let (s, e) = (usize::try_from(parts.report_at.start), usize::try_from(parts.report_at.end));
    let json = bytes.get(s.unwrap_or(usize::MAX)..e.unwrap_or(0)).ok_or("line 4: the report is cut short")?;
    let report = serde_json::from_slice(json).map_err(|e| format!("the report (line 4 on): {e}"))?;
    let (paths, host) = parts.records()?;
    let own = |v: Vec<Record<Cow<'_, str>>>| v.into_iter().map(|(p, o, l)| (p.into_owned(), o, l)).collect();
    let (paths, host) = (own(paths), own(host));
    Ok(Cached { header: parts.header, report, paths, host })
}

fn record(l: &str) -> Result<Record<Cow<'_, str>>, String> {
    let (st, p) = l.split_once('\t').ok_or("no tab before the path")?;
    let p = unescape(p)?;
    if !p.starts_with('/') {
        return Err("the path is not absolute".into());
    }
    let (kind, nums) = st.split_at_checked(1).ok_or("an empty record")?;
    let mut f = Numbers(nums.as_bytes());
    let o = match kind {
        "e" => Err(i32::try_from(f.next()?).map_err(|_| "errno out of range")?),
        "s" | "l" => {
            let u32_ = |x: i64| u32::try_from(x).map_err(|_| "a field out of range".to_string());
            let u64_ = |x: i64| u64::try_from(x).map_err(|_| "a negative field".to_string());
            Ok(Stat {
                mode: u32_(f.next()?)?,
                uid: u32_(f.next()?)?,
                gid: u32_(f.next()?)?,
                size: u64_(f.next()?)?,
                ino: u64_(f.next()?)?,
                dev: u64_(f.next()?)?,
                nlink: u64_(f.next()?)?,
                mtime_ns: f.next()?,
                ctime_ns: f.next()?,
            })
        }
        _ => return Err("a record starts with `s` or `e`".into()),
    };
    if !f.0.is_empty() {
        return Err("too many fields".into());
    }
    Ok((p, o, kind == "l"))
}

/// ` N` fields, read by hand: `str::split` and `parse` were most of a warm check's
/// parsing time.
struct Numbers<'a>(&'a [u8]);

impl Numbers<'_> {
    fn next(&mut self) -> Result<i64, String> {
        let bad = || "a field is missing or not a number".to_string();
        let rest = self.0.strip_prefix(b" ").ok_or_else(bad)?;
        let (neg, digits) = match rest.strip_prefix(b"-") {
            Some(d) => (true, d),
            None => (false, rest),
        };
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 19 {
            return Err(bad());
        }
        let mut v: i64 = 0;
        for d in &digits[..n] {
            v = v.checked_mul(10).and_then(|v| v.checked_add(i64::from(d - b'0'))).ok_or_else(bad)?;
        }
        self.0 = &digits[n..];
        Ok(if neg { -v } else { v })
    }
}

/// Why `dir` may not hold a cache: someone else owns it or can write to it.
fn unsafe_dir(dir: &Path) -> Option<String> {
    let md = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(format!("{}: {e}", dir.display())),
    };
    let me = nix::unistd::geteuid().as_raw();
    if !md.is_dir() || (md.uid() != me && md.uid() != 0) || md.mode() & 0o022 != 0 {
        return Some(format!("{} is not a directory that only its owner (root or this user) can write", dir.display()));
    }
    None
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The cache file, opened; `Ok(None)` when there is none yet. Refused (an error) unless
/// it is a regular file of this user that nobody else can write, in such a directory.
pub fn open(path: &Path) -> Result<Option<std::fs::File>, String> {
    if let Some(why) = unsafe_dir(parent(path)) {
        return Err(why);
    }
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let md = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    if !md.is_file() || md.uid() != nix::unistd::geteuid().as_raw() || md.mode() & 0o022 != 0 {
        return Err(format!("{} is not a regular file of this user that only it can write", path.display()));
    }
    if md.len() > MAX_BYTES {
        return Err(format!("{} is over {MAX_BYTES} bytes", path.display()));
    }
    Ok(Some(f))
}

/// Replaces the cache at `path` with what `fill` writes (mode 0600, by a rename: a
/// reader sees the old or the new).
pub fn write(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), String> {
    let dir = parent(path);
    if let Some(why) = unsafe_dir(dir) {
        return Err(why);
    }
    let t = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, t);
    fill(&mut w).and_then(|()| w.flush()).map_err(|e| format!("{}: {e}", path.display()))?;
    // Not synced: a file torn by a crash fails to parse (counts, `end`) and is replaced.
    let t = w.into_inner().map_err(|e| format!("{}: {}", path.display(), e.error()))?;
    t.persist(path).map_err(|e| format!("{}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_round_trip_and_damage_names_the_line() {
        let st =
            Stat { mode: 0o100644, uid: 0, gid: 0, size: 3, ino: 9, dev: 2049, nlink: 1, mtime_ns: 5, ctime_ns: -7 };
        let paths = vec![("/a\\b\nc".to_string(), Ok(st), true), ("/x".to_string(), Err(2), false)];
        let report = crate::report::Report::new(
            Vec::new(),
            Vec::new(),
            Vec::new(),
            crate::finding::Severity::High,
            crate::report::HostLabel { name: "h".into(), root: None, warnings: 0 },
        );
        let header = Header {
            key: "k".into(),
            made_usec: 1,
            live: None,
            calendars: Vec::new(),
            notes: "n\n".into(),
            exit_code: 0,
        };
        let mut bytes = Vec::new();
        encode(&mut bytes, &header, &report, &paths, &[("/usr/share/zoneinfo/X".into(), Err(2), false)]).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back.paths, paths);
        assert_eq!(back.header.notes, "n\n");
        let text = String::from_utf8(bytes).unwrap();
        let cut = text.replace("e 2\t/x", "e two\t/x");
        let n = 1 + cut.lines().position(|l| l == "e two\t/x").unwrap();
        assert_eq!(decode(cut.as_bytes()).err().unwrap(), format!("line {n}: a field is missing or not a number"));
        // Two bad lines (parsed in parallel): the first is the one named.
        let prev = cut.lines().nth(n - 2).unwrap();
        assert!(prev.starts_with("l ") && prev.contains('\t'), "{prev}");
        let two = cut.replacen(prev, &prev.replacen('\t', " ", 1), 1);
        assert_eq!(decode(two.as_bytes()).err().unwrap(), format!("line {}: no tab before the path", n - 1));
        // A line count of 2^64-1 numbers errors without overflowing.
        let lines = text.lines().nth(2).unwrap().to_string();
        let many = text.replacen(&lines, &format!("{} 18446744073709551615", lines.rsplit_once(' ').unwrap().0), 1);
        assert!(decode(many.as_bytes()).is_ok(), "the line count only numbers errors");
        let bad = many.replacen("e 2\t/x", "e two\t/x", 1);
        assert!(decode(bad.as_bytes()).err().unwrap().starts_with("line 18446744073709551615"));
        let huge = text.replacen("paths 2", "paths 18446744073709551614", 1);
        assert!(decode(huge.as_bytes()).err().unwrap().contains("ends before"));
        let huge = text.replacen("paths 2", "paths 18446744073709551615", 1);
        assert!(decode(huge.as_bytes()).is_err(), "no overflow");
        let short = text.replace("end\n", "");
        assert!(decode(short.as_bytes()).err().unwrap().ends_with("expected `end`"));
    }

    use std::os::fd::AsFd;

    /// `sendfile` moves exactly the report's range into a pipe (grown to 1 MiB); a range
    /// that runs past the end of the file (it shrank since its header was read) is an
    /// error after what there was, never a loop; a stdout that refuses `sendfile` at the
    /// start (an `O_APPEND` file, an fd open only for reading) gets nothing and the
    /// caller copies instead.
    #[test]
    fn a_report_is_sent_whole_cut_short_loudly_or_left_to_the_copy() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let (rd, wr) = rustix::pipe::pipe().unwrap();
        assert!(rustix::pipe::fcntl_getpipe_size(&wr).unwrap() < super::PIPE_SIZE);
        assert!(super::send_report(&f, &(2..8), wr.as_fd()).unwrap());
        assert_eq!(rustix::pipe::fcntl_getpipe_size(&wr).unwrap(), super::PIPE_SIZE);
        let err = super::send_report(&f, &(5..20), wr.as_fd()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
        drop(wr);
        let mut got = String::new();
        std::fs::File::from(rd).read_to_string(&mut got).unwrap();
        assert_eq!(got, "23456756789");

        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("out");
        std::fs::write(&path, "before\n").unwrap();
        let appending = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        assert!(!super::send_report(&f, &(0..10), appending.as_fd()).unwrap(), "O_APPEND");
        let reading = std::fs::File::open(&path).unwrap();
        assert!(!super::send_report(&f, &(0..10), reading.as_fd()).unwrap(), "read-only");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\n");
    }
}
