//! `timerguard test`: policy test cases. A case describes a fixture root in YAML (files
//! with contents, modes and owners, directories, links, accounts, linger) and the
//! findings one policy must report on it; the runner builds the root in a temp dir and
//! runs the real collector and engine over it.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{PolicySet, builtin, engine};

/// "Now" for test cases (schedules are computed from it): 2025-06-15 12:00:00 UTC.
pub const TEST_NOW: i64 = 1_749_988_800_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub policy: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub root: RootSpec,
    /// Parameter overrides for this case.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// A golden root: the case's root is checked against a trusted snapshot of it
    /// (`check --trusted`).
    #[serde(default)]
    pub trusted: Option<RootSpec>,
    /// What the running managers report (the live view), as `facts` would show it.
    #[serde(default)]
    pub loaded: Vec<crate::model::LoadedTimer>,
    /// The findings of this policy, as (rule, subject) and optionally the file and line
    /// they point at; the set must match exactly.
    #[serde(default)]
    pub expect: Vec<Expect>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub rule: String,
    pub subject: String,
    /// Checked only when given.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub line: Option<u32>,
}

impl Expect {
    /// `self` (an expectation) is met by `got` (a finding's full location).
    fn met_by(&self, got: &Expect) -> bool {
        self.rule == got.rule
            && self.subject == got.subject
            && self.path.as_ref().is_none_or(|p| got.path.as_ref() == Some(p))
            && self.line.is_none_or(|l| got.line == Some(l))
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.rule, self.subject)?;
        if let Some(p) = &self.path {
            write!(f, " at {p}")?;
        }
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        Ok(())
    }
}

/// Every expectation met by its own finding, and every finding expected.
fn matches(want: &[Expect], got: &[Expect]) -> bool {
    let mut left: Vec<&Expect> = got.iter().collect();
    for w in want {
        match left.iter().position(|g| w.met_by(g)) {
            Some(i) => {
                left.remove(i);
            }
            None => return false,
        }
    }
    left.is_empty()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootSpec {
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub dirs: Vec<FileSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    /// Extra `/etc/passwd` lines (root is always there).
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Names to create in `/var/lib/systemd/linger`.
    #[serde(default)]
    pub linger: Vec<String>,
    /// `/etc/machine-id` (default: an initialised id, so not a first boot).
    #[serde(default)]
    pub machine_id: Option<String>,
    /// Owners for symlinks themselves (`lchown`), after everything is created.
    #[serde(default)]
    pub lchown: Vec<FileSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
    #[serde(default)]
    pub content: String,
    /// Octal string, default 0644 for files and 0755 for directories.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub path: String,
    pub target: String,
}

fn host(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

fn mode_of(s: &Option<String>, default: u32) -> io::Result<u32> {
    match s {
        None => Ok(default),
        Some(m) => {
            u32::from_str_radix(m.trim_start_matches("0o"), 8).map_err(|_| io::Error::other(format!("bad mode {m:?}")))
        }
    }
}

/// Materialises a fixture root (owned by root when we are root).
pub fn build_root(root: &Path, spec: &RootSpec) -> io::Result<()> {
    let mkdir = |p: &str| std::fs::create_dir_all(host(root, p));
    for d in [
        "/usr/lib/systemd/system",
        "/usr/lib/systemd/user",
        "/usr/bin",
        "/etc/systemd/system",
        "/etc/systemd/user",
        "/var/lib/systemd",
        "/etc/xdg/systemd",
    ] {
        mkdir(d)?;
    }
    symlink("usr/lib", host(root, "/lib"))?;
    symlink("usr/bin", host(root, "/bin"))?;
    symlink("../../systemd/user", host(root, "/etc/xdg/systemd/user"))?;
    std::fs::write(
        host(root, "/etc/machine-id"),
        format!("{}\n", spec.machine_id.as_deref().unwrap_or("6aef49f50614453386767d831f4f6ddf")),
    )?;
    let passwd: String = std::iter::once("root:x:0:0:root:/root:/bin/bash".to_string())
        .chain(spec.users.iter().cloned())
        .map(|l| l + "\n")
        .collect();
    std::fs::write(host(root, "/etc/passwd"), passwd)?;
    let group: String =
        std::iter::once("root:x:0:".to_string()).chain(spec.groups.iter().cloned()).map(|l| l + "\n").collect();
    std::fs::write(host(root, "/etc/group"), group)?;
    for d in &spec.dirs {
        mkdir(&d.path)?;
    }
    for f in &spec.files {
        let hp = host(root, &f.path);
        if let Some(parent) = hp.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&hp, &f.content)?;
    }
    for l in &spec.links {
        let hp = host(root, &l.path);
        if let Some(parent) = hp.parent() {
            std::fs::create_dir_all(parent)?;
        }
        symlink(&l.target, hp)?;
    }
    if !spec.linger.is_empty() {
        mkdir("/var/lib/systemd/linger")?;
        for u in &spec.linger {
            std::fs::write(host(root, &format!("/var/lib/systemd/linger/{u}")), "")?;
        }
    }
    for l in &spec.lchown {
        let (u, g) = (l.uid.map(nix::unistd::Uid::from_raw), l.gid.map(nix::unistd::Gid::from_raw));
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &host(root, &l.path),
            u,
            g,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(io::Error::other)?;
    }
    // Modes and owners last, so creating children did not need write access.
    for (specs, default) in [(&spec.files, 0o644), (&spec.dirs, 0o755)] {
        for f in specs.iter() {
            let hp = host(root, &f.path);
            std::fs::set_permissions(&hp, std::fs::Permissions::from_mode(mode_of(&f.mode, default)?))?;
            if f.uid.is_some() || f.gid.is_some() {
                nix::unistd::chown(&hp, f.uid.map(nix::unistd::Uid::from_raw), f.gid.map(nix::unistd::Gid::from_raw))
                    .map_err(io::Error::other)?;
            }
        }
    }
    Ok(())
}

/// Every built-in test case with its policy id: planted roots, one per case, for tests
/// that check properties of the whole pack (fixes never add findings, safe fixes stay safe).
pub fn builtin_cases() -> Vec<(String, Case)> {
    builtin::TESTS
        .iter()
        .filter_map(|(_, text)| serde_yaml::from_str::<CaseFile>(text).ok())
        .flat_map(|cf| {
            let id = cf.policy;
            cf.cases.into_iter().map(move |c| (id.clone(), c))
        })
        .collect()
}

/// Outcome counts.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// Runs the built-in cases (when `builtin`) and each `DIR/tests/*.yaml`; prints a line per
/// case and a closing `N passed, N failed, N skipped`. Returns whether all passed.
pub fn run_all(set: &PolicySet, builtin: bool, dirs: &[PathBuf], out: &mut dyn Write) -> io::Result<bool> {
    let mut files: Vec<(String, String)> = Vec::new();
    if builtin {
        files.extend(builtin::TESTS.iter().map(|(n, s)| (format!("policies/tests/{n} (built in)"), s.to_string())));
    }
    for d in dirs {
        let t = d.join("tests");
        let Ok(rd) = std::fs::read_dir(&t) else { continue };
        let mut paths: Vec<PathBuf> =
            rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect();
        paths.sort();
        for p in paths {
            files.push((p.display().to_string(), std::fs::read_to_string(&p)?));
        }
    }
    let mut tally = Tally::default();
    for (name, text) in files {
        let cf: CaseFile = match serde_yaml::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                writeln!(out, "FAIL {name}: {e}")?;
                tally.failed += 1;
                continue;
            }
        };
        for case in &cf.cases {
            run_case(set, &cf.policy, case, out, &mut tally)?;
        }
    }
    writeln!(out, "\n{} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.skipped)?;
    Ok(tally.failed == 0)
}

fn run_case(set: &PolicySet, id: &str, case: &Case, out: &mut dyn Write, tally: &mut Tally) -> io::Result<()> {
    let Some(policy) = set.get(id) else {
        writeln!(out, "FAIL {id} {}: no such policy", case.name)?;
        tally.failed += 1;
        return Ok(());
    };
    // Ownership is part of what permission policies judge: without root every file
    // would belong to the caller, so those cases only run as root.
    if !nix::unistd::geteuid().is_root() && policy.meta.tags.iter().any(|t| t == "permissions") {
        writeln!(out, "skip {id} {}: needs root (file ownership)", case.name)?;
        tally.skipped += 1;
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    build_root(dir.path(), &case.root)?;
    let mut host = crate::collect::collect_at(dir.path(), TEST_NOW).map_err(io::Error::other)?;
    if let Some(golden) = &case.trusted {
        let g = tempfile::tempdir()?;
        build_root(g.path(), golden)?;
        let gh = crate::collect::collect_at(g.path(), TEST_NOW).map_err(io::Error::other)?;
        host.drift = crate::trusted::drift(&crate::trusted::of(&gh), &host);
    }
    host.loaded = case.loaded.clone();
    let host = std::sync::Arc::new(host);
    let params = |p: &super::Policy| {
        let mut m: serde_json::Map<String, serde_json::Value> = p.meta.params.clone().into_iter().collect();
        m.extend(case.params.clone());
        serde_json::Value::Object(m)
    };
    let ev = super::evaluate(set, &[policy], &host, &params, &engine::Limits::default());
    let got: Vec<Expect> = ev
        .findings
        .iter()
        .map(|f| Expect { rule: f.rule.clone(), subject: f.subject.clone(), path: f.path.clone(), line: f.line })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let want: Vec<Expect> = case.expect.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    if !ev.errors.is_empty() {
        writeln!(out, "FAIL {id} {}: policy error: {}", case.name, ev.errors[0])?;
        tally.failed += 1;
    } else if matches(&want, &got) {
        writeln!(out, "ok   {id} {}", case.name)?;
        tally.passed += 1;
    } else {
        let show = |s: &[Expect]| s.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        writeln!(out, "FAIL {id} {}: expected [{}], got [{}]", case.name, show(&want), show(&got))?;
        tally.failed += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Expect, matches};

    fn e(subject: &str, path: Option<&str>, line: Option<u32>) -> Expect {
        Expect { rule: "r".into(), subject: subject.into(), path: path.map(String::from), line }
    }

    #[test]
    fn location_is_checked_only_when_given() {
        let got = [e("a.timer", Some("/etc/a.timer"), Some(3)), e("b.timer", Some("/etc/b.timer"), None)];
        assert!(matches(&[e("a.timer", None, None), e("b.timer", None, None)], &got));
        assert!(matches(&[e("a.timer", Some("/etc/a.timer"), Some(3)), e("b.timer", None, None)], &got));
        assert!(!matches(&[e("a.timer", None, Some(4)), e("b.timer", None, None)], &got), "wrong line");
        assert!(!matches(&[e("a.timer", Some("/etc/x"), None), e("b.timer", None, None)], &got), "wrong file");
        assert!(!matches(&[e("a.timer", None, None)], &got), "an unexpected finding");
        assert!(!matches(&[e("a.timer", None, None), e("b.timer", None, None), e("c.timer", None, None)], &got));
    }
}
