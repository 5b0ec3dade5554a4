//! Builds a `Timer` fact from a loaded timer unit: its service (S33), triggers (S28,
//! S32), `Persistent=` (S35), who the service runs as (S41), what it executes and which
//! environment files it reads, each resolved inside the root.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::environ::Var;
use super::exec;
use super::names;
use super::resolve::{Notes, Resolver};
use super::schema::TRIGGER_KEYS;
use super::specifier::{SpecCtx, expand};
use crate::model::{Activation, ScopeKind};
use crate::model::{
    ExecCommand, FileRole, LoadState, RunsAs, Setting, SettingMap, Timer, Trigger, Unit, UsedFile, User, Warning,
};
use crate::schedule::{Calendar, parse_timespan};

const EXEC_KEYS: [&str; 7] =
    ["ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost"];

/// The manager a scope stands for, for specifiers and privilege.
pub struct Manager<'a> {
    pub kind: ScopeKind,
    /// The account of a user scope (`None`: system, or the global user config).
    pub user: Option<&'a User>,
    pub users: &'a [User],
    /// What the host-wide specifiers stand for.
    pub ids: &'a super::host_ids::HostIds,
    /// What the managers put in every service's environment.
    pub env: &'a super::manager_env::ManagerEnv,
    /// What this manager puts in every service's environment (`ManagerEnv::base`), made
    /// once when first needed: a user's own `environment.d` is read once, not per timer.
    pub env_base: std::sync::OnceLock<BTreeMap<String, Var>>,
    /// A user manager's own environment from `user@UID.service` (`user_manager`), and
    /// where its XDG variables place her directories.
    pub launch: Vec<(String, Var)>,
    pub homes: super::user_manager::Homes,
    /// System preset rules (S20); consulted for the system scope only.
    pub presets: &'a [super::preset::Rule],
    /// Time zones of the root, its local zone, and the time elapses are computed from.
    pub zones: &'a super::zones::RootZones,
    pub local_zone: &'a crate::schedule::Zone,
    pub now: i64,
    /// Calendar expressions already parsed and stepped in this run.
    pub calendars: &'a Calendars,
    /// What the caller reads (`list` does not read the metadata of what a service runs).
    pub detail: super::Detail,
}

/// A calendar expression as a trigger needs it: normal form, whether it never elapses,
/// the shortest gap over its next `ELAPSES` elapses.
#[derive(Debug, Clone)]
pub struct CalendarFacts {
    pub normalized: String,
    pub never: bool,
    pub interval: Option<u64>,
}

/// Calendar expressions by text, computed once per run: thousands of user timers say
/// `daily` or `*:0/15`, and stepping 16 elapses through time zones is not free. The
/// zones and "now" are the run's, so the text alone is the key. Bounded.
#[derive(Default)]
pub struct Calendars {
    map: std::sync::Mutex<super::FastMap<String, Result<CalendarFacts, String>>>,
    /// When recording (`check --cache`): every expression and what it gave, unbounded,
    /// since a report built from them is reused only while each still gives the same.
    seen: Option<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
}

impl Calendars {
    const MAX: usize = 4096;

    pub fn new(record: bool) -> Calendars {
        Calendars { map: Default::default(), seen: record.then(Default::default) }
    }

    fn get(&self, expr: &str, m: &Manager<'_>) -> Result<CalendarFacts, String> {
        let lock = || self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = lock().get(expr) {
            return r.clone();
        }
        let r = calendar_facts(expr, m.zones, m.local_zone, m.now);
        if let Some(seen) = &self.seen {
            seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(expr.to_string(), format!("{r:?}"));
        }
        let mut map = lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(expr.to_string(), r.clone());
        r
    }

    /// Expression → what it gave (`Debug` of the facts), when recording.
    pub fn seen(&self) -> Vec<(String, String)> {
        let Some(seen) = &self.seen else { return Vec::new() };
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A calendar expression's facts as of `now`: what `Calendars` keeps, and what a reused
/// report is checked against (`Debug` of this, compared as text).
pub fn calendar_facts(
    expr: &str,
    zones: &dyn crate::schedule::ZoneSource,
    local: &crate::schedule::Zone,
    now: i64,
) -> Result<CalendarFacts, String> {
    Calendar::parse(expr, zones)
        .map(|c| {
            let e = c.elapses(local, now, ELAPSES);
            CalendarFacts {
                normalized: c.spec.to_string(),
                never: e.is_empty(),
                interval: e.windows(2).map(|w| w[1].abs_diff(w[0])).min(),
            }
        })
        .map_err(|e| e.part)
}

impl Manager<'_> {
    /// The shared user directories' specifiers: no user yet, so hers stay unresolved.
    fn shared_ctx<'b>(&'b self, unit: &'b Unit) -> SpecCtx<'b> {
        SpecCtx {
            unit: &unit.name,
            user: "%u",
            uid: 0,
            group: "%g",
            gid: 0,
            home: "%h",
            shell: "%s",
            system: false,
            ids: self.ids,
            fragment: real_fragment(unit),
            homes: None,
        }
    }

    fn ctx<'b>(&'b self, unit: &'b Unit) -> SpecCtx<'b> {
        let fragment = real_fragment(unit);
        match self.user {
            Some(u) => SpecCtx {
                unit: &unit.name,
                user: &u.name,
                uid: u.uid,
                group: u.groups.first().map_or("", String::as_str),
                gid: u.gid,
                home: &u.home,
                shell: &u.shell,
                system: false,
                ids: self.ids,
                fragment,
                homes: Some(&self.homes),
            },
            None if self.kind == ScopeKind::Global => self.shared_ctx(unit),
            None => SpecCtx::system(&unit.name, self.ids, fragment),
        }
    }
}

/// `%y`: the fragment with every link on its way followed, as systemd chases it (a
/// linked unit's file outside the search path). A search directory's own path is
/// already resolved, so a regular file is where it was listed.
pub(super) fn real_fragment(unit: &Unit) -> Option<&str> {
    let f = unit.fragment.as_ref()?;
    match &f.target {
        Some(t) => t.resolved.as_deref(),
        None => Some(&f.path),
    }
}

/// Builds the timer fact (activation is filled in by the caller from the graph), with
/// the service it triggers as loaded for it; what it notes on the way (warnings,
/// metadata of the files it runs) goes to `notes`.
pub fn build(r: &Resolver<'_>, m: &Manager<'_>, unit: &Unit, notes: &mut Notes) -> (Timer, Arc<Unit>) {
    let ctx = m.ctx(unit);
    let mut warn = Vec::new();
    let (service, unit_setting) = match trigger_unit(unit, &ctx, &mut warn) {
        Some((name, s)) => (name, Some(s)),
        None => (default_trigger(&unit.name), None),
    };
    let (triggers, invalid) = triggers(unit, &ctx, m, &mut warn);
    let never_elapses = !triggers.is_empty() && triggers.iter().all(|t| t.never_elapses);
    let min_interval_usec = triggers.iter().filter_map(|t| t.interval_usec).min();
    let persistent = unit.last("Timer", "Persistent").and_then(|s| parse_bool(&s.value)).unwrap_or(false);
    let svc: Arc<Unit> = r.load_shared(&service, notes);
    // `User=` is read with the service's specifiers: `Unit=tpl@.service` from `t.timer` runs
    // `tpl@t.service`, whose `%i` is `t`.
    let sctx = m.ctx(&svc);
    let mut runs_as = runs_as(m, &svc, &sctx);
    // What the commands' environment holds: their arguments may name a script through
    // it (`ExecStart=/bin/sh $SCRIPT`), and its `LD_PRELOAD` is code they run. `list`
    // shows neither, so reads no environment file for it.
    let full = m.detail == super::Detail::Full;
    let env_files = match full {
        true => super::environ::env_files(r.root, &svc, &sctx, &mut notes.paths),
        false => Vec::new(),
    };
    let env_facts: Vec<crate::model::PathFact> = env_files.iter().map(|(_, f)| f.clone()).collect();
    let (env, files_read) = match full {
        true => {
            let base = manager_env(r, m, &svc, &sctx, &runs_as, notes);
            super::environ::environment(r.root, &svc, &sctx, &env_files, base, &mut notes.warnings)
        }
        false => Default::default(),
    };
    let system = m.kind == ScopeKind::System;
    // An account the image's passwd lacks may come from NSS (LDAP, userdb) when the
    // command starts: its `HOME` and `SHELL` are not known to be unset.
    let (user, dynamic) = (runs_as.user.clone(), runs_as.dynamic_user);
    let unset = |n: &str| {
        m.env.unset_is_known(&svc, system, files_read, n)
            && !(matches!(n, "HOME" | "SHELL") && elsewhere_account(m, &svc, &user, dynamic))
    };
    let search = exec::search_path(svc.get("Service", "ExecSearchPath"), |d| expand(d, &sctx).ok());
    // What the commands see (`namespace.rs`): one view for those with `+`, one for the
    // rest, which the sandboxing options hide more from.
    let views = super::namespace::Namespace::views(r.root, &svc, &|v: &str| expand(v, &sctx).ok());
    if let Some((s, why)) = views.plus.as_ref().and_then(|v| v.fails.as_ref()) {
        // Measured: the start fails at step NAMESPACE, before any command.
        let message =
            format!("{why}: the manager fails {} at start (226/NAMESPACE); none of its commands runs", svc.name);
        warn.push(Warning { path: s.file.clone(), line: Some(s.line), message });
    }
    if let Some(s) = views.sandboxed.as_ref().and_then(|v| v.capped.as_ref()) {
        let max = super::namespace::MAX_MOUNTS;
        let message = format!("{}: more than {max} mounts; the rest are not looked at", svc.name);
        warn.push(Warning { path: s.file.clone(), line: Some(s.line), message });
    }
    let wd = working_dir(m, &svc, &sctx, &runs_as);
    let lookup = |prefixes: &str| exec::Lookup {
        search: search.as_deref(),
        ns: if prefixes.contains('+') { views.plus.as_ref() } else { views.sandboxed.as_ref() },
        wd: wd.as_deref(),
    };
    let mut cmds = Vec::new();
    for key in EXEC_KEYS {
        for s in svc.get("Service", key) {
            // A command systemd refuses does not run: with `-` it is dropped (and what
            // follows it on the line), without it the service does not load.
            match exec::parse_commands(&s.value) {
                Ok(cs) => {
                    for mut c in cs {
                        // The line is split first, then each word has its specifiers
                        // resolved (`config_parse_exec`): a space, quote or `;` that a
                        // value brings in (`%I` of `job@a\x3b.service`) stays in its word.
                        // `exec_line` has refused every word with a specifier `expand`
                        // does not know (`stand_in` knows the same ones), so none fails.
                        for w in &mut c.argv {
                            if let Ok(x) = expand(w, &sctx) {
                                *w = x;
                            }
                        }
                        let how = lookup(&c.prefixes);
                        let (executable, scripts) = match m.detail {
                            super::Detail::Full => (
                                exec::resolve_executable(r.root, &c.argv[0], &how, Some(&mut notes.paths)),
                                exec::scripts(r.root, &as_run(&c, &env, &unset), &how, &mut notes.paths),
                            ),
                            super::Detail::Inventory => {
                                (exec::resolve_executable(r.root, &c.argv[0], &how, None), Vec::new())
                            }
                        };
                        let elevated = m.kind == ScopeKind::System && exec::elevates(&c.prefixes);
                        if elevated && !runs_as.elevated.iter().any(|k| k == key) {
                            runs_as.elevated.push(key.into());
                        }
                        cmds.push(ExecCommand {
                            key: key.into(),
                            prefixes: c.prefixes.clone(),
                            privileged: runs_as.user_is_root || elevated,
                            argv: c.argv,
                            executable,
                            scripts,
                            file: s.file.clone(),
                            line: s.line,
                        });
                    }
                }
                Err(e) => {
                    warn.push(Warning { path: s.file.clone(), line: Some(s.line), message: format!("{key}=: {e}") })
                }
            }
        }
    }
    runs_as.privileged = runs_as.user_is_root || !runs_as.elevated.is_empty();
    let mut files = Vec::new();
    for c in &cmds {
        let used = |role, target: &crate::model::PathFact| UsedFile {
            role,
            target: target.clone(),
            key: c.key.clone(),
            file: c.file.clone(),
            line: c.line,
            privileged: c.privileged,
        };
        files.push(used(FileRole::Executable, &c.executable));
        files.extend(c.scripts.iter().map(|x| used(FileRole::Script, x)));
    }
    // A disk image or extension directory is code for every command that sees it: the
    // sandboxed view holds what the `+` one does.
    let images = views.sandboxed.as_ref().or(views.plus.as_ref()).map_or(&[][..], |ns| &ns.images[..]);
    for i in images {
        let target = match m.detail {
            super::Detail::Full => super::stat::path_fact(r.root, &i.path, &mut notes.paths),
            super::Detail::Inventory => super::stat::locate(r.root, &i.path),
        };
        files.push(UsedFile {
            role: FileRole::Image,
            target,
            key: i.key.into(),
            file: i.setting.file.clone(),
            line: i.setting.line,
            privileged: runs_as.privileged,
        });
    }
    // The manager reads environment files and applies them (and any LD_PRELOAD) to every
    // command, the elevated ones included: they are privileged when any code is.
    for (s, f) in &env_files {
        files.push(UsedFile {
            role: FileRole::EnvironmentFile,
            target: f.clone(),
            key: "EnvironmentFile".into(),
            file: s.file.clone(),
            line: s.line,
            privileged: runs_as.privileged,
        });
    }
    if full {
        // `LD_PRELOAD` is read where each command runs: a `+` one may see a library the
        // others do not.
        files.extend(super::environ::preloads(r, &env, &lookup(""), runs_as.privileged, notes));
        if views.differ() && cmds.iter().any(|c| c.prefixes.contains('+')) {
            let plus = super::environ::preloads(r, &env, &lookup("+"), runs_as.privileged, notes);
            files.extend(plus.into_iter().filter(|f| f.target.error.is_none()));
        }
    }
    notes.warnings.extend(warn);
    let t = Timer {
        name: unit.name.clone(),
        source: unit.fragment.as_ref().map(|f| f.path.clone()),
        file_state: unit.file_state,
        activation: Activation { state: String::new(), will_run: false, reasons: Vec::new() },
        service_loaded: svc.load_state == LoadState::Loaded,
        service_fragment: svc.fragment.as_ref().map(|f| f.path.clone()),
        service,
        unit_setting,
        triggers,
        invalid_triggers: invalid,
        persistent,
        never_elapses,
        min_interval_usec,
        preset: (m.kind == ScopeKind::System).then(|| preset_of(m.presets, &unit.name)),
        runs_as,
        exec: cmds,
        environment_files: env_facts,
        files,
        service_activation: Vec::new(),
        linger: m.user.map(|u| u.linger),
    };
    (t, svc)
}

/// The unit `unit` (a timer) triggers in manager `m`: its first usable `Unit=` (with
/// `m`'s specifiers: a shared timer's `Unit=%u-job.service` is a different unit for each
/// user), else the `.service` of its prefix.
pub fn triggered(unit: &Unit, m: &Manager<'_>) -> String {
    match trigger_unit(unit, &m.ctx(unit), &mut Vec::new()) {
        Some((name, _)) => name,
        None => default_trigger(&unit.name),
    }
}

/// Whether `unit`, a shared timer that triggers `hers` in `m`'s user manager
/// (`triggered`), triggers another unit in the shared directories: its `Unit=` uses her
/// name or home (`Unit=%u-job.service`).
pub fn triggered_elsewhere(unit: &Unit, m: &Manager<'_>, hers: &str) -> bool {
    if !unit.get("Timer", "Unit").iter().any(|s| s.value.contains('%')) {
        return false;
    }
    let shared = trigger_unit(unit, &m.shared_ctx(unit), &mut Vec::new()).map(|(n, _)| n);
    shared.unwrap_or_else(|| default_trigger(&unit.name)) != hers
}

fn default_trigger(timer: &str) -> String {
    format!("{}.service", timer.rsplit_once('.').map_or(timer, |(s, _)| s))
}

/// The unit a timer triggers as `config_parse_trigger_unit` (systemd 252) picks it, with
/// the line that named it; `None`: the same-prefix service (S33). Each `Unit=` line in
/// order: once one was taken the others are ignored ("Multiple units to trigger
/// specified"), so a drop-in cannot retarget a timer whose fragment names its unit; a
/// line is ignored when its specifiers fail, when it is no unit name of a known type (an
/// empty one too: it resets nothing) or when it names the timer itself. A template is
/// instantiated with the timer's instance, or its prefix when it has none; a name that
/// comes back to the timer adds no trigger.
fn trigger_unit(unit: &Unit, ctx: &SpecCtx<'_>, warn: &mut Vec<Warning>) -> Option<(String, Setting)> {
    let mut chosen: Option<(String, Setting)> = None;
    let is_self = |n: &str| unit.name == n || unit.names.iter().any(|x| x == n);
    // A hostile timer may hold a million `Unit=` lines: the first few ignored are named,
    // the rest counted in one warning.
    const NAMED: usize = 16;
    let mut n_ignored = 0usize;
    let lines = unit.get("Timer", "Unit");
    for s in lines {
        let mut ignored = |why: String| {
            n_ignored += 1;
            if n_ignored <= NAMED {
                warn.push(Warning {
                    path: s.file.clone(),
                    line: Some(s.line),
                    message: format!("Unit={}: {why}", s.value),
                })
            }
        };
        if let Some((c, _)) = &chosen {
            ignored(format!("{c} is triggered already; systemd ignores this line"));
            continue;
        }
        let name = match super::specifier::expand_name(&s.value, ctx) {
            Ok(v) => v,
            Err(e) => {
                ignored(format!("{e}; systemd ignores the line"));
                continue;
            }
        };
        let kind = names::classify(&name);
        if kind.is_none() {
            // The shared directories' `%u`, `%h`, … stay unresolved (`shared_ctx`): each
            // user's manager resolves them, and users with unit directories of their own
            // get their timer row with the unit it triggers for them.
            let per_user = ctx.user == "%u" && ["%u", "%U", "%h", "%g", "%G", "%s"].iter().any(|x| s.value.contains(x));
            ignored(if per_user {
                "names a unit after each user; a user's manager triggers her own, the shared row shows the default"
                    .into()
            } else {
                "not a unit name of a known type; systemd ignores the line".into()
            });
            continue;
        }
        if is_self(&name) {
            ignored("a unit cannot trigger itself; systemd ignores the line".into());
            continue;
        }
        let name = if kind == Some(names::NameKind::Template) {
            names::with_instance(&name, names::instance(&unit.name).unwrap_or(names::prefix(&unit.name)))
        } else {
            name
        };
        if names::classify(&name).is_none() || is_self(&name) {
            continue; // not added (too long, or the timer itself), as `unit_add_dependency` does
        }
        chosen = Some((name, s.clone()));
    }
    if n_ignored > NAMED
        && let Some(first) = lines.first()
    {
        warn.push(Warning {
            path: first.file.clone(),
            line: Some(first.line),
            message: format!("{} more Unit= lines of {} are ignored by systemd", n_ignored - NAMED, unit.name),
        });
    }
    chosen
}

/// `OnClockChange=yes`/`OnTimezoneChange=yes`: they fire the timer too, with no schedule
/// of their own, and either alone is a trigger (`timer_verify`). Each where its last line
/// says so (the merge kept only valid booleans).
pub(super) fn change_triggers(settings: &SettingMap) -> impl Iterator<Item = (&'static str, &Setting)> {
    let timer = settings.get("Timer");
    super::schema::CHANGE_KEYS.iter().filter_map(move |k| {
        let s = timer?.get(*k)?.last()?;
        (super::parse_bool(&s.value) == Some(true)).then_some((*k, s))
    })
}

/// How many upcoming elapses the shortest calendar interval is taken over.
const ELAPSES: usize = 16;
/// Calendar triggers of one timer whose elapses are computed: a hostile timer with
/// 500,000 `OnCalendar=` lines must not take minutes. Beyond this, elapses are computed
/// only while none has elapsed yet (so `never_elapses` stays exact); the shortest
/// interval is then taken over these first ones, with a warning.
const ELAPSE_TRIGGERS: usize = 64;

/// Trigger lines after the S28 reset rule, specifiers expanded (S31), each checked as
/// systemd would (S39, S40); invalid ones are returned apart with the reason (S34).
fn triggers(unit: &Unit, ctx: &SpecCtx<'_>, m: &Manager<'_>, warn: &mut Vec<Warning>) -> (Vec<Trigger>, Vec<Trigger>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut stepped = 0usize;
    let mut any_elapses = false;
    for key in TRIGGER_KEYS {
        for s in unit.get("Timer", key) {
            let mut t = Trigger::of(key, s);
            match expand(&s.value, ctx) {
                Ok(v) => t.value = v,
                Err(e) => {
                    t.error = Some(e);
                    bad.push(t);
                    continue;
                }
            }
            if *key == "OnCalendar" {
                match m.calendars.get(&t.value, m) {
                    Ok(c) => {
                        t.normalized = Some(c.normalized.clone());
                        if stepped < ELAPSE_TRIGGERS || !any_elapses {
                            stepped += 1;
                            t.never_elapses = c.never;
                            any_elapses |= !c.never;
                            // Past the first triggers only whether it elapses is computed.
                            t.interval_usec = c.interval.filter(|_| stepped <= ELAPSE_TRIGGERS);
                        } else if stepped == ELAPSE_TRIGGERS {
                            stepped += 1;
                            warn.push(Warning {
                                path: s.file.clone(),
                                line: Some(s.line),
                                message: format!(
                                    "more than {ELAPSE_TRIGGERS} OnCalendar= triggers: the shortest interval is \
                                     computed over the first {ELAPSE_TRIGGERS}"
                                ),
                            });
                        }
                        good.push(t);
                    }
                    Err(part) => {
                        t.error = Some(part);
                        bad.push(t);
                    }
                }
            } else {
                match parse_timespan(&t.value) {
                    Ok(us) => {
                        t.usec = Some(us);
                        if matches!(*key, "OnUnitActiveSec" | "OnUnitInactiveSec") {
                            t.interval_usec = Some(us);
                        }
                        good.push(t);
                    }
                    Err(e) => {
                        t.error = Some(e);
                        bad.push(t);
                    }
                }
            }
        }
    }
    for (key, s) in change_triggers(&unit.settings) {
        good.push(Trigger::of(key, s));
    }
    // Keep the order they were written in: fragment first, then drop-ins, by line.
    let files: Vec<&str> =
        unit.fragment.iter().map(|f| f.path.as_str()).chain(unit.dropins.iter().map(|d| d.path.as_str())).collect();
    let pos = |t: &Trigger| (files.iter().position(|f| *f == t.file).unwrap_or(usize::MAX), t.line);
    good.sort_by_key(|t| pos(t));
    bad.sort_by_key(|t| pos(t));
    (good, bad)
}

/// The directory a service's commands start in, where a relative argument is looked
/// up: `WorkingDirectory=` (`-` only lets it be missing; `~` is the home of the user it
/// runs as, other values are paths with specifiers), else the manager's default.
fn working_dir(m: &Manager<'_>, svc: &Unit, ctx: &SpecCtx<'_>, runs_as: &RunsAs) -> Option<String> {
    let Some(s) = svc.last("Service", "WorkingDirectory").filter(|s| !s.value.is_empty()) else {
        // Unset (or reset): `/` for the system manager, the user's home for a user
        // manager (systemd.exec(5); measured). The shared user directories' is not known.
        return match m.kind {
            ScopeKind::System => Some("/".into()),
            _ => m.user.map(|u| u.home.clone()),
        };
    };
    let v = s.value.strip_prefix('-').unwrap_or(&s.value);
    if v == "~" {
        let home = |u: &User| u.home.clone();
        return m.user.map(home).or_else(|| m.users.iter().find(|u| u.name == runs_as.user).map(home));
    }
    expand(v, ctx).ok().filter(|d| d.starts_with('/'))
}

/// A command's arguments as started, the unit's environment put in (`:` keeps them as
/// written); a name `unset` says is certainly not set stands for nothing.
fn as_run(c: &exec::Command, env: &BTreeMap<String, Var>, unset: &dyn Fn(&str) -> bool) -> Vec<String> {
    match c.prefixes.contains(':') {
        true => c.argv.clone(),
        false => exec::substitute(&c.argv, |n| env.get(n).map(|v| v.value.as_str()).or_else(|| unset(n).then_some(""))),
    }
}

/// S41: the system manager runs a service as root unless `User=`/`DynamicUser=` say
/// otherwise; a user manager runs everything as its user.
fn runs_as(m: &Manager<'_>, svc: &Unit, ctx: &SpecCtx<'_>) -> RunsAs {
    let dynamic = svc.last("Service", "DynamicUser").and_then(|s| parse_bool(&s.value)).unwrap_or(false);
    let group = svc
        .last("Service", "Group")
        .map(|s| expand(&s.value, ctx).unwrap_or_else(|_| s.value.clone()))
        .filter(|g| !g.is_empty());
    let plain = |user: String, uid: Option<u32>, group| {
        let root = uid == Some(0);
        RunsAs { user, group, dynamic_user: false, uid, user_is_root: root, elevated: Vec::new(), privileged: root }
    };
    if let Some(u) = m.user {
        return plain(u.name.clone(), Some(u.uid), group);
    }
    if m.kind == ScopeKind::Global {
        return plain("%u".into(), None, group);
    }
    let set = svc
        .last("Service", "User")
        .map(|s| expand(&s.value, ctx).unwrap_or_else(|_| s.value.clone()))
        .filter(|u| !u.is_empty());
    let (user, group) = match set {
        Some(u) => (u, group),
        // The manager names the dynamic user after the unit; its group is the same name.
        None if dynamic => {
            let u = dynamic_user_name(&svc.name);
            (u.clone(), group.or(Some(u)))
        }
        None => ("root".into(), group),
    };
    let uid = user.parse::<u32>().ok().or_else(|| m.users.iter().find(|u| u.name == user).map(|u| u.uid));
    let root = !dynamic && (uid == Some(0) || (user == "root"));
    RunsAs { user, group, dynamic_user: dynamic, uid, user_is_root: root, elevated: Vec::new(), privileged: root }
}

/// What the manager puts in the service's environment before its own settings, when it
/// can matter: an `Exec*=` line with a `$`, or an `LD_PRELOAD` from the manager. Else
/// nothing: built for every timer, it took a 10,000-user `list`'s user time from 0.84 to
/// 0.95 s (medians of seven), for values no one reads.
fn manager_env(
    r: &Resolver<'_>,
    m: &Manager<'_>,
    svc: &Unit,
    sctx: &SpecCtx<'_>,
    runs_as: &RunsAs,
    notes: &mut Notes,
) -> BTreeMap<String, Var> {
    let system = m.kind == ScopeKind::System;
    let dollar = EXEC_KEYS.iter().any(|k| svc.get("Service", k).iter().any(|s| s.value.contains('$')));
    if !dollar && !m.env.can_preload(system, &m.launch) {
        return BTreeMap::new();
    }
    let shared = m.env_base.get_or_init(|| m.env.base(r.root, system, m.user, &m.launch, &mut notes.warnings));
    if !dollar && !shared.contains_key("LD_PRELOAD") {
        return BTreeMap::new();
    }
    let mut base = shared.clone();
    if m.kind != ScopeKind::Global {
        let acct = account(m, svc, &runs_as.user, runs_as.dynamic_user);
        m.env.service(&mut base, svc, sctx, acct.as_ref().map(|(n, e)| (n.as_str(), *e)));
    }
    base
}

/// The account a service runs as by name, and its entry, for what the manager sets in
/// its environment: a user manager's own, or `User=` (a uid naming its account) or a
/// dynamic user for the system manager; `None` for the system manager's root without
/// `User=`, or the shared user directories.
fn account<'a>(m: &Manager<'a>, svc: &Unit, user: &str, dynamic: bool) -> Option<(String, Option<&'a User>)> {
    if let Some(u) = m.user {
        return Some((u.name.clone(), Some(u)));
    }
    let named = dynamic || svc.last("Service", "User").is_some_and(|s| !s.value.trim().is_empty());
    if m.kind == ScopeKind::Global || !named {
        return None;
    }
    let by_uid = user.parse::<u32>().ok().and_then(|id| m.users.iter().find(|u| u.uid == id));
    match by_uid.or_else(|| m.users.iter().find(|u| u.name == user)) {
        Some(u) => Some((u.name.clone(), Some(u))),
        None => Some((user.to_string(), None)),
    }
}

/// Whether the system manager runs the service as a named account (`User=`, `account`)
/// that the image's passwd does not hold and the manager does not fix itself (root,
/// nobody): a dynamic user has no entry by design.
fn elsewhere_account(m: &Manager<'_>, svc: &Unit, user: &str, dynamic: bool) -> bool {
    let fixed = matches!(user, "root" | "0" | "nobody" | "65534");
    !dynamic && !fixed && matches!(account(m, svc, user, dynamic), Some((_, None)))
}

/// `user_from_unit_name` (systemd 252): the name a `DynamicUser=yes` service without
/// `User=` runs as. The unit's prefix when it is a strict user name (a letter or `_`,
/// then letters, digits, `_`, `-`; at most 31 bytes), else `_du` and the SipHash-2-4 of
/// the prefix under systemd's fixed key.
fn dynamic_user_name(unit: &str) -> String {
    let p = names::prefix(unit);
    let b = p.as_bytes();
    let strict = !b.is_empty()
        && b.len() <= 31
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    if strict {
        return p.to_string();
    }
    const KEY: [u8; 16] =
        [0x58, 0x1a, 0xaf, 0xe6, 0x28, 0x58, 0x4e, 0x96, 0xb4, 0x4e, 0xf5, 0x3b, 0x8c, 0x92, 0x07, 0xec];
    let (k0, k1) = KEY.split_at(8);
    let word = |k: &[u8]| u64::from_le_bytes(k.try_into().unwrap_or([0; 8]));
    // std's SipHasher is SipHash-2-4; deprecated only in favour of randomly keyed hashers.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(word(k0), word(k1));
    std::hash::Hasher::write(&mut h, b);
    format!("_du{:016x}", std::hash::Hasher::finish(&h))
}

/// The preset verdict for a unit: the first matching line, else enable (S20). Instances
/// are matched by their template name too, as `preset-all` does for templates.
fn preset_of(rules: &[super::preset::Rule], name: &str) -> crate::model::Preset {
    let hit = super::preset::matching(rules, name)
        .or_else(|| names::template_of(name).and_then(|t| super::preset::matching(rules, &t)));
    match hit {
        Some(r) => crate::model::Preset { enable: r.enable, file: Some(r.file.clone()), line: Some(r.line) },
        None => crate::model::Preset { enable: true, file: None, line: None },
    }
}

/// systemd's `parse_boolean` (S29).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::dynamic_user_name;

    /// systemd 252's answers (`systemd-analyze verify`'s `User:` for a `DynamicUser=yes`
    /// service of each name).
    #[test]
    fn s41_dynamic_user_names_are_systemds() {
        for (unit, user) in [
            ("t.service", "t"),
            ("my-svc.service", "my-svc"),
            ("_x.service", "_x"),
            ("job@inst.service", "job"),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.service", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("1abc.service", "_du46c11576cd06efe1"),
            ("a.b.service", "_dud645219be626ade9"),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.service", "_du04e3f57717db6219"),
            ("a\\x2db.service", "_du30f4cd97f5fb441e"),
        ] {
            assert_eq!(dynamic_user_name(unit), user, "{unit}");
        }
    }
}
