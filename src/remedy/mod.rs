//! Remediation: turning findings' fixes into a plan of concrete, state-checked steps;
//! applying it with a journal; undoing it. `fix` without `--apply` prints exactly the plan
//! `--apply` would run (the same `plan()`). Only `fsops.rs` changes files.

mod apply;
pub mod fsops;
mod journal;

use serde::Serialize;

pub use apply::{ApplyOutcome, apply, live as run_live, undo};
use fsops::{RootFs, State};

use crate::finding::{Finding, Fix};
use crate::model::{Host, Mode, ScopeKind};

/// Where timerguard keeps its journal, lock and quarantine inside the root.
pub const STATE_DIR: &str = "/var/lib/timerguard";
/// The preset file `disable` lines go to (S20).
pub const PRESET_FILE: &str = "/etc/systemd/system-preset/00-timerguard.preset";

/// One filesystem change. `Unlink` only ever removes symlinks; files are quarantined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Step {
    Chmod {
        path: String,
        mode: Mode,
    },
    Chown {
        path: String,
        uid: u32,
        gid: u32,
    },
    Unlink {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// Move into `STATE_DIR/quarantine/RUN/…`, keeping mode, owner and times.
    Quarantine {
        path: String,
    },
    Write {
        path: String,
        content: String,
    },
    Rmdir {
        path: String,
    },
    Mkdir {
        path: String,
    },
}

impl Step {
    pub fn path(&self) -> &str {
        match self {
            Step::Chmod { path, .. }
            | Step::Chown { path, .. }
            | Step::Unlink { path }
            | Step::Symlink { path, .. }
            | Step::Quarantine { path }
            | Step::Write { path, .. }
            | Step::Rmdir { path }
            | Step::Mkdir { path } => path,
        }
    }
}

/// A step with the state its path must be in when it runs.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    pub step: Step,
    pub before: State,
    /// One line for people: `chmod 0666 → 0644 /etc/…`.
    pub describe: String,
}

/// Commands for the running manager, after the files changed (live systems only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LiveOp {
    DaemonReload,
    Stop { scope: String, unit: String },
    DisableLinger { user: String },
}

/// All steps for one finding's fix.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub policy: String,
    pub rule: String,
    pub subject: String,
    pub fix: Fix,
    pub safe: bool,
    /// Why the policy chose this fix (e.g. the file itself must not be changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub steps: Vec<PlannedStep>,
    pub live: Vec<LiveOp>,
    /// Why nothing can be done, when the fix cannot be planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The plan: what `--apply` would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub schema: &'static str,
    pub actions: Vec<Action>,
    /// Fixes left out because they are unsafe and `--unsafe` was not given.
    pub skipped_unsafe: usize,
    /// Whether applying would change anything.
    pub changes: bool,
}

/// Options of a plan.
pub struct PlanOptions {
    /// Include unsafe fixes (or these policies' unsafe fixes only).
    pub unsafe_all: bool,
    pub unsafe_policies: Vec<String>,
    /// Also remove enablement links under /run (S17: `disable --runtime`).
    pub runtime: bool,
    /// Root is the running system: add manager operations.
    pub live: bool,
}

fn describe(step: &Step, before: &State) -> String {
    match step {
        Step::Chmod { path, mode } => format!("chmod {:04o} → {:04o} {path}", before.mode, mode.0),
        Step::Chown { path, uid, gid } => format!("chown {}:{} → {uid}:{gid} {path}", before.uid, before.gid),
        Step::Unlink { path } => format!("remove link {path} → {}", before.link.as_deref().unwrap_or("?")),
        Step::Symlink { path, target } => format!("link {path} → {target}"),
        Step::Quarantine { path } => {
            format!("quarantine {path} ({}, {:04o}, {}:{})", before.kind, before.mode, before.uid, before.gid)
        }
        Step::Write { path, content } => format!("write {path} ({} lines)", content.lines().count()),
        Step::Rmdir { path } => format!("remove empty directory {path}"),
        Step::Mkdir { path } => format!("create directory {path}"),
    }
}

/// Builds the plan for the findings' fixes (waived findings are left alone).
pub fn plan(findings: &[Finding], host: &Host, fs: &RootFs, opts: &PlanOptions) -> Plan {
    let mut actions: Vec<Action> = Vec::new();
    let mut skipped = 0;
    let safety = crate::safety::Safety::new(host);
    let mut seen: Vec<Fix> = Vec::new();
    for f in findings.iter().filter(|f| !f.waived()) {
        let Some(fix) = &f.fix else { continue };
        if seen.contains(fix) {
            continue; // several findings may propose the same fix
        }
        seen.push(fix.clone());
        if !fix.safe() && !opts.unsafe_all && !opts.unsafe_policies.contains(&f.policy) {
            skipped += 1;
            continue;
        }
        let mut a = Action {
            policy: f.policy.clone(),
            rule: f.rule.clone(),
            subject: f.subject.clone(),
            fix: fix.clone(),
            safe: fix.safe(),
            note: f.fix_note.clone(),
            steps: Vec::new(),
            live: Vec::new(),
            refused: None,
        };
        // The safe-fix rules hold whatever a policy proposed and whatever flags were
        // given: a home, /run/user, a shared directory, a directory that is not systemd's
        // is never changed in mode or owner.
        if let Some(why) = safety.refuse(fix, &|p| fs.state(p).is_ok_and(|s| s.kind == "dir")) {
            a.refused = Some(format!("not changed: {why}"));
            actions.push(a);
            continue;
        }
        // Steps are planned against the state earlier steps leave (paths they create).
        let mut planner = Planner { fs, pending: actions.iter().flat_map(|a| a.steps.iter()).collect() };
        match planner.steps(fix, host, opts) {
            Ok((steps, live)) => {
                a.steps = steps;
                a.live = live;
            }
            Err(why) => a.refused = Some(why),
        }
        // An action may be only manager operations (live linger off goes through logind).
        if !a.steps.is_empty() || !a.live.is_empty() || a.refused.is_some() {
            actions.push(a);
        }
    }
    let changes = actions.iter().any(|a| !a.steps.is_empty() || !a.live.is_empty());
    Plan { schema: "timerguard.plan/v1", actions, skipped_unsafe: skipped, changes }
}

struct Planner<'a> {
    fs: &'a RootFs,
    pending: Vec<&'a PlannedStep>,
}

type Planned = (Vec<PlannedStep>, Vec<LiveOp>);
/// A directory's entries (name, state), for the config dir and each dependency subdir.
type Listing = Vec<(String, Vec<(String, State)>)>;

impl Planner<'_> {
    fn state(&self, p: &str) -> Result<State, String> {
        self.fs.state(p).map_err(|e| format!("{p}: {e}"))
    }

    /// The state `p` will be in when the next step runs: its state now, changed by every
    /// step already planned on it (earlier actions' and this one's, in order).
    fn expected(&self, v: &[PlannedStep], p: &str) -> Result<State, String> {
        let mut s = self.state(p)?;
        for e in self.pending.iter().map(|x| &x.step).chain(v.iter().map(|x| &x.step)).filter(|x| x.path() == p) {
            match e {
                Step::Chmod { mode, .. } => s.mode = mode.0,
                Step::Chown { uid, gid, .. } => {
                    (s.uid, s.gid) = (*uid, *gid);
                    // chown(2) clears set-id bits of a non-directory, as root too.
                    if s.kind == "file" {
                        s.mode &= !0o4000;
                        if s.mode & 0o010 != 0 {
                            s.mode &= !0o2000;
                        }
                    }
                }
                Step::Quarantine { .. } | Step::Unlink { .. } | Step::Rmdir { .. } => s = State::missing(),
                Step::Write { content, .. } => {
                    if s.kind != "file" {
                        // What a new file is created as: 0644, owned by us.
                        s = State { mode: 0o644, uid: euid(), gid: egid(), ..State::new("file") };
                    }
                    s.hash = Some(fsops::hash(content.as_bytes()));
                    // Written by rename: a new inode, with one link, in the same directory.
                    (s.ino, s.dev, s.nlink, s.mount) = (0, 0, 1, false);
                }
                Step::Symlink { target, .. } => {
                    s = State {
                        mode: 0o777,
                        uid: euid(),
                        gid: egid(),
                        link: Some(target.clone()),
                        ..State::new("symlink")
                    };
                }
                Step::Mkdir { .. } => s = State { mode: 0o755, uid: euid(), gid: egid(), ..State::new("dir") },
            }
        }
        Ok(s)
    }

    /// Adds a step, with the state its path must be in then (see `expected`).
    fn push(&self, v: &mut Vec<PlannedStep>, step: Step) -> Result<(), String> {
        let before = self.expected(v, step.path())?;
        v.push(PlannedStep { describe: describe(&step, &before), step, before });
        Ok(())
    }

    fn steps(&mut self, fix: &Fix, host: &Host, opts: &PlanOptions) -> Result<Planned, String> {
        let mut v = Vec::new();
        let mut live = Vec::new();
        self.steps_into(fix, host, opts, &mut v, &mut live)?;
        Ok((v, live))
    }

    /// Adds the steps of `fix` to `v` (planned against what the steps in `v` leave).
    fn steps_into(
        &mut self,
        fix: &Fix,
        host: &Host,
        opts: &PlanOptions,
        v: &mut Vec<PlannedStep>,
        live: &mut Vec<LiveOp>,
    ) -> Result<(), String> {
        match fix {
            Fix::All { fixes } => {
                for f in fixes {
                    self.steps_into(f, host, opts, v, live)?;
                }
            }
            Fix::Chmod { path, mode } => {
                let s = self.expected(v, path)?;
                if !matches!(s.kind.as_str(), "file" | "dir") {
                    return Err(format!(
                        "{path} is a {}: modes are only changed on files and directories, never through a link",
                        s.kind
                    ));
                }
                // Only ever remove bits (S48: never below what the fix asked); a safe fix
                // removes group/other write and nothing else.
                let to = s.mode & mode.0;
                if fix.safe() && (s.mode & !to) & !0o022 != 0 {
                    return Err(format!(
                        "{path}: chmod {:04o} → {to:04o} removes more than group/other write; not a safe change",
                        s.mode
                    ));
                }
                if to != s.mode {
                    self.push(v, Step::Chmod { path: path.clone(), mode: Mode(to) })?;
                }
            }
            Fix::Chown { path, uid, gid } => {
                let s = self.expected(v, path)?;
                if s.kind == "missing" {
                    return Err(format!("{path} no longer exists"));
                }
                if (s.uid, s.gid) != (*uid, *gid) {
                    self.push(v, Step::Chown { path: path.clone(), uid: *uid, gid: *gid })?;
                }
            }
            Fix::DisableTimer { scope, unit } => {
                let dirs = config_dirs(host, scope, opts.runtime)?;
                // Runtime links are `--runtime`'s to remove (as `systemctl disable` leaves
                // them without it): they do not make the fix impossible.
                let kept = started_from_elsewhere(host, scope, unit, &config_dirs(host, scope, true)?);
                if !kept.is_empty() {
                    return Err(format!(
                        "{unit} is started at boot by {}, which `disable` in {scope} does not remove \
                         (a shared, vendor or control directory, or another unit's file): mask it instead",
                        kept.join(", ")
                    ));
                }
                for dir in dirs {
                    self.disable_in(v, &dir, &unit_names(host, scope, unit))?;
                }
                if scope == "system" && !v.is_empty() {
                    self.preset_disable(v, unit)?;
                }
                if opts.live && !v.is_empty() {
                    live.extend([LiveOp::DaemonReload, LiveOp::Stop { scope: scope.clone(), unit: unit.clone() }]);
                }
            }
            Fix::MaskUnit { scope, unit } => {
                let dir = config_dirs(host, scope, false)?.remove(0);
                // Directories made in a home would be root's there: her unit directory
                // must exist already (`systemctl --user mask` as her makes it hers).
                if scope.starts_with("user:") && self.state(&dir)?.kind != "dir" {
                    return Err(format!(
                        "{dir} does not exist; making it would leave root's directories in a home: \
                         run `systemctl --user mask {unit}` as the user"
                    ));
                }
                let path = format!("{dir}/{unit}");
                let s = self.expected(v, &path)?;
                match s.kind.as_str() {
                    "symlink" if s.link.as_deref() == Some("/dev/null") => {}
                    "symlink" => self.push(v, Step::Unlink { path: path.clone() })?,
                    "file" => self.push(v, Step::Quarantine { path: path.clone() })?,
                    "missing" => {}
                    k => return Err(format!("{path} is a {k}; refusing to mask over it")),
                }
                if !(s.kind == "symlink" && s.link.as_deref() == Some("/dev/null")) {
                    self.mkdirs(v, &dir)?;
                    self.push(v, Step::Symlink { path, target: "/dev/null".into() })?;
                    if opts.live {
                        live.extend([LiveOp::DaemonReload, LiveOp::Stop { scope: scope.clone(), unit: unit.clone() }]);
                    }
                }
            }
            Fix::Quarantine { path } => {
                let s = self.expected(v, path)?;
                match s.kind.as_str() {
                    "missing" => {}
                    "file" | "symlink" | "dir" => self.push(v, Step::Quarantine { path: path.clone() })?,
                    k => return Err(format!("{path} is a {k}")),
                }
            }
            Fix::SetLinger { user, enable } => {
                let path = format!("/var/lib/systemd/linger/{user}");
                if user.contains('/') || user.starts_with('.') && user.len() < 3 {
                    return Err(format!("invalid user name {user:?}"));
                }
                let s = self.expected(v, &path)?;
                if !enable && s.kind != "missing" {
                    if opts.live {
                        live.push(LiveOp::DisableLinger { user: user.clone() });
                    } else {
                        self.push(v, Step::Quarantine { path })?;
                    }
                } else if *enable && s.kind == "missing" {
                    self.mkdirs(v, "/var/lib/systemd/linger")?;
                    self.push(v, Step::Write { path, content: String::new() })?;
                }
            }
            Fix::PresetDisable { unit } => self.preset_disable(v, unit)?,
        }
        Ok(())
    }

    fn pending_creates(&self, p: &str) -> bool {
        self.pending.iter().any(|s| matches!(&s.step, Step::Mkdir { path } | Step::Write { path, .. } if path == p))
    }

    fn mkdirs(&self, v: &mut Vec<PlannedStep>, dir: &str) -> Result<(), String> {
        let mut cur = String::new();
        for c in dir.split('/').filter(|c| !c.is_empty()) {
            cur = format!("{cur}/{c}");
            let planned = v.iter().any(|s| matches!(&s.step, Step::Mkdir { path } if *path == cur));
            if self.state(&cur)?.kind == "missing" && !planned && !self.pending_creates(&cur) {
                self.push(v, Step::Mkdir { path: cur.clone() })?;
            }
        }
        Ok(())
    }

    /// `systemctl disable` offline (S17): every symlink in the config dir and its
    /// `.wants/.requires/.upholds` subdirectories named after the unit (or an alias, or
    /// an instance of it) or pointing at a file of that name; then now-empty subdirs.
    fn disable_in(&self, v: &mut Vec<PlannedStep>, dir: &str, names: &[String]) -> Result<(), String> {
        let matches = |name: &str, target: Option<&str>| {
            let tb = target.map(|t| t.rsplit('/').next().unwrap_or(t));
            names.iter().any(|n| {
                name == n
                    || tb == Some(n.as_str())
                    || (n.contains("@.") && crate::collect::names::template_of(name).as_deref() == Some(n.as_str()))
            })
        };
        for (sub, entries) in self.listing(dir)? {
            let mut removed = 0;
            for (name, st) in &entries {
                if st.kind == "symlink" && matches(name, st.link.as_deref()) {
                    self.push(v, Step::Unlink { path: format!("{sub}/{name}") })?;
                    removed += 1;
                }
            }
            if sub != dir && removed > 0 && removed == entries.len() {
                self.push(v, Step::Rmdir { path: sub })?;
            }
        }
        Ok(())
    }

    /// The config dir's direct entries, then each dependency subdirectory's.
    fn listing(&self, dir: &str) -> Result<Listing, String> {
        let list = |d: &str| -> Result<Vec<(String, State)>, String> {
            let names = self.fs.list(d).map_err(|e| format!("{d}: {e}"))?;
            names.into_iter().map(|n| Ok((n.clone(), self.state(&format!("{d}/{n}"))?))).collect()
        };
        if self.state(dir)?.kind != "dir" {
            return Ok(Vec::new());
        }
        let top = list(dir)?;
        let mut out = Vec::new();
        for (n, st) in &top {
            if st.kind == "dir" && [".wants", ".requires", ".upholds"].iter().any(|s| n.ends_with(s)) {
                let p = format!("{dir}/{n}");
                out.push((p.clone(), list(&p)?));
            }
        }
        out.insert(0, (dir.to_string(), top.into_iter().filter(|(_, s)| s.kind == "symlink").collect()));
        Ok(out)
    }

    fn preset_disable(&self, v: &mut Vec<PlannedStep>, unit: &str) -> Result<(), String> {
        let line = format!("disable {unit}");
        let mut content = match self.fs.read(PRESET_FILE) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => "# Written by timerguard fix: units disabled for policy reasons stay off on first boot (systemd.preset(5)).\n".into(),
        };
        if let Some(prev) = self.pending.iter().copied().chain(v.iter()).rev().find_map(|s| match &s.step {
            Step::Write { path, content } if path == PRESET_FILE => Some(content.clone()),
            _ => None,
        }) {
            content = prev;
        }
        if content.lines().any(|l| l.trim() == line) {
            return Ok(());
        }
        content.push_str(&line);
        content.push('\n');
        self.mkdirs(v, "/etc/systemd/system-preset")?;
        self.push(v, Step::Write { path: PRESET_FILE.into(), content })
    }
}

/// The persistent (and with `runtime`, runtime) config dirs of a scope label.
fn config_dirs(host: &Host, scope: &str, runtime: bool) -> Result<Vec<String>, String> {
    let owner = match scope.strip_prefix("user:") {
        Some(name) => Some(host.users.iter().find(|u| u.name == name).ok_or_else(|| format!("no account {name:?}"))?),
        None => None,
    };
    disable_dirs(scope, owner, runtime)
}

/// The directories `disable` in `scope` removes links from (`owner`: a user scope's
/// account): the persistent config directory, and with `runtime` the runtime one.
pub fn disable_dirs(scope: &str, owner: Option<&crate::model::User>, runtime: bool) -> Result<Vec<String>, String> {
    Ok(match (scope, owner) {
        ("system", _) => {
            let mut v = vec!["/etc/systemd/system".to_string()];
            if runtime {
                v.push("/run/systemd/system".into());
            }
            v
        }
        ("global", _) => vec!["/etc/systemd/user".to_string()],
        (s, Some(u)) if s.starts_with("user:") => {
            let mut v = vec![format!("{}/.config/systemd/user", u.home.trim_end_matches('/'))];
            if runtime {
                v.push(format!("/run/user/{}/systemd/user", u.uid));
            }
            v
        }
        (s, _) => return Err(format!("unknown scope {s:?}")),
    })
}

/// Whether `path` lies in one of `dirs`.
pub fn in_dirs(path: &str, dirs: &[String]) -> bool {
    dirs.iter().any(|d| path.strip_prefix(d.as_str()).is_some_and(|r| r.starts_with('/')))
}

/// What starts `unit` at boot in `scope` that `disable` in `dirs` would leave: links
/// outside those directories (a user's timer enabled from `/etc/systemd/user`, a shared
/// timer she hijacked by overriding its service, a vendor `.wants` link) and `Wants=`-like
/// dependencies in unit files. Planning the removal of the rest would report a timer
/// disabled that still runs.
fn started_from_elsewhere(host: &Host, scope: &str, unit: &str, dirs: &[String]) -> Vec<String> {
    use crate::model::ActivationReason as R;
    let s = host.scopes.iter().find(|s| s.label() == scope);
    let Some(t) = s.and_then(|s| s.timers.iter().find(|t| t.name == unit)).filter(|t| t.activation.will_run) else {
        return Vec::new();
    };
    t.activation
        .reasons
        .iter()
        .filter_map(|r| match r {
            R::Link { path, boot: true, .. } if !in_dirs(path, dirs) => Some(path.clone()),
            R::Dependency { unit, key, file, boot: true, .. } => Some(format!("{key}= of {unit} ({file})")),
            _ => None,
        })
        .collect()
}

/// The unit's names: itself, its aliases, its `Alias=` (what `disable` removes).
fn unit_names(host: &Host, scope: &str, unit: &str) -> Vec<String> {
    let mut v = vec![unit.to_string()];
    let s = host.scopes.iter().find(|s| s.label() == scope || (scope == "global" && s.kind == ScopeKind::Global));
    if let Some(u) = s.and_then(|s| s.unit(unit)) {
        v.extend(u.names.iter().cloned());
        for a in u.get("Install", "Alias") {
            v.extend(a.value.split_whitespace().map(String::from));
        }
    }
    v.sort();
    v.dedup();
    v
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn egid() -> u32 {
    nix::unistd::getegid().as_raw()
}
