//! Orchestration: runs a parsed command against the library and picks the exit code.
//! Exit codes (design.md): 0 success, 1 an invalid calendar expression or time span,
//! 2 usage or input error (an unopenable root, a bad --base-time).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{CheckFormat, Cli, Command, ListFormat};
use crate::config::{Config, ConfigError};
use crate::model::Host;
use crate::policy::{PolicyError, PolicySet, engine};
use crate::{collect, inventory, timecmd};

/// What the process's own output streams are: colour and progress depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    /// Colour the text report (stdout is a terminal and `NO_COLOR` unset, or `--color always`).
    pub color: bool,
    /// Show progress (stderr is a terminal).
    pub stderr: bool,
    /// The `out` that `run` is given is this process's standard output (fd 1), so a
    /// cached report can be sent to it by the kernel.
    pub stdout: bool,
}

impl Terminal {
    /// Decides from the streams, `--color` and `NO_COLOR` (no-color.org: set and non-empty),
    /// for a `run` that writes to this process's own stdout and stderr.
    pub fn detect(choice: crate::cli::Color) -> Terminal {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match choice {
            crate::cli::Color::Always => true,
            crate::cli::Color::Never => false,
            crate::cli::Color::Auto => !no_color && std::io::stdout().is_terminal(),
        };
        Terminal { color, stderr: std::io::stderr().is_terminal(), stdout: true }
    }
}

/// Everything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Collect(#[from] collect::CollectError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("fix: {0}")]
    Fix(String),
    #[error(transparent)]
    JsonFile(#[from] crate::jsonfile::JsonFileError),
}

impl AppError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(if matches!(self, AppError::Fix(_)) { 4 } else { 2 })
    }
}

/// Runs one command, writing results to `out` and diagnostics to `err`.
pub fn run(cli: &Cli, term: Terminal, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode, AppError> {
    if std::env::var_os("TIMERGUARD_NO_OPENAT2").is_some() {
        collect::rootfd::disable_openat2();
    }
    let code = match &cli.command {
        Command::List { format } => {
            let listing = if std::env::var_os("TIMERGUARD_NO_STREAM").is_some() {
                inventory::Listing::of_host(&*collect_host(cli, term, err)?)
            } else {
                check_root(cli, &open_root(cli)?)?;
                let (listing, warnings) = {
                    let _p = term
                        .stderr
                        .then(|| crate::progress::Progress::start(format!("reading {}", cli.root.display())));
                    let session = collect::Session::open_inventory(&cli.root, collect::now_usec())?;
                    let live = session.live();
                    let (l, w) = inventory::Listing::stream(&session);
                    (l, (w, live))
                };
                collection_notes(cli, &warnings.0, warnings.1, err)?;
                listing
            };
            match format {
                ListFormat::Text => inventory::render_text(&listing, out)?,
                ListFormat::Json => inventory::write_json(&listing, out)?,
            }
            ExitCode::SUCCESS
        }
        Command::Facts { pretty } => {
            json(out, &collect_host(cli, term, err)?, *pretty)?;
            ExitCode::SUCCESS
        }
        Command::Calendar { expressions, iterations, base_time } => {
            let zones = collect::zones_of(&open_root(cli)?);
            let base = timecmd::parse_base_time(base_time, &zones)
                .map_err(|e| AppError::Usage(format!("--base-time: {e}")))?;
            ok_or_1(timecmd::calendar(expressions, *iterations, base, &zones, out, err)?)
        }
        Command::Timespan { spans } => ok_or_1(timecmd::timespan(spans, out, err)?),
        Command::Check { output, baseline, cache, selection, sources } => {
            let mut report = match evaluate(cli, selection, sources, output.fail_on, cache.as_deref(), term, err)? {
                Evaluated::Fresh(r) => *r,
                // A reused JSON report goes out as it was written, unparsed.
                Evaluated::Cached(hit)
                    if baseline.is_none()
                        && output.format == crate::report::Format::Json
                        && output.reports.is_empty() =>
                {
                    let sent = if term.stdout { hit.write_json_to_stdout(out) } else { hit.write_json(out) };
                    quiet_pipe(sent.map_err(AppError::from))?;
                    return Ok(ExitCode::from(hit.header.exit_code));
                }
                Evaluated::Cached(hit) => hit.report().map_err(AppError::Usage)?,
            };
            if let Some(path) = baseline {
                let b = crate::baseline::Baseline::load(path)?;
                report.baseline = Some(b.apply(&mut report.findings));
                report.recount();
            }
            quiet_pipe(write_report(&report, output, term, out))?;
            ExitCode::from(report.exit_code())
        }
        Command::Baseline { output, selection, sources } => {
            let report = evaluate(cli, selection, sources, None, None, term, err)?.fresh()?;
            let b = crate::baseline::Baseline::of(&report.findings);
            let mut file = std::fs::File::create(output)
                .map_err(|e| AppError::Usage(format!("--output {}: {e}", output.display())))?;
            json(&mut file, &b, true)?;
            writeln!(out, "baseline: {} finding(s) recorded in {}", b.entries.len(), output.display())?;
            if !report.errors.is_empty() {
                return finish(out, 3);
            }
            ExitCode::SUCCESS
        }
        Command::Snapshot { output, facts } => {
            let host = match facts {
                Some(f) => Arc::new(crate::jsonfile::load::<Host>(f, "facts", crate::model::FACTS_SCHEMA)?),
                None => collect_host(cli, term, err)?,
            };
            let snap = crate::trusted::of(&host);
            let mut file = std::fs::File::create(output)
                .map_err(|e| AppError::Usage(format!("--output {}: {e}", output.display())))?;
            json(&mut file, &snap, true)?;
            writeln!(out, "snapshot: {} timers and services recorded in {}", snap.units.len(), output.display())?;
            ExitCode::SUCCESS
        }
        Command::Watch { debounce, selection } => {
            let (config, set, log) = load_policies(cli)?;
            let selected = select(cli, &config, &set, selection)?;
            check_root(cli, &open_root(cli)?)?;
            let checker = Watcher { config: &config, set: &set, selected: &selected, log: &log };
            let opts = crate::detect::watch::Options {
                debounce: std::time::Duration::from_millis(*debounce),
                rounds: std::env::var("TIMERGUARD_WATCH_ROUNDS").ok().and_then(|v| v.parse().ok()),
                journal: crate::detect::watch::stdout_is_journal(),
            };
            crate::detect::watch::run(&cli.root, collect::now_usec, &checker, &opts, out, err)?;
            ExitCode::SUCCESS
        }
        Command::AuditRules { format } => {
            check_root(cli, &open_root(cli)?)?;
            let session = collect::Session::open(&cli.root, collect::now_usec())?;
            let c = crate::detect::audit::coverage(session.root(), &session);
            out.write_all(
                match format {
                    crate::cli::AuditFormat::Auditd => crate::detect::audit::auditd(&c),
                    crate::cli::AuditFormat::Sigma => crate::detect::audit::sigma(&c),
                }
                .as_bytes(),
            )?;
            ExitCode::SUCCESS
        }
        Command::Merge { files, output } => {
            let mut parts = Vec::new();
            for f in files {
                parts.push((
                    file_label(f),
                    crate::jsonfile::load::<crate::report::Report>(f, "report", crate::report::REPORT_SCHEMA)?,
                ));
            }
            let report = crate::report::merge(parts, output.fail_on);
            quiet_pipe(write_report(&report, output, term, out))?;
            ExitCode::from(report.exit_code())
        }
        Command::Fix { apply, unsafe_, runtime, format, selection } => {
            let (config, set, log) = load_policies(cli)?;
            let selected = select(cli, &config, &set, selection)?;
            let host = collect_host(cli, term, err)?;
            let (findings, _) = findings_of(&config, &set, &selected, &host, &log, term, err)?;
            let fs = crate::remedy::fsops::RootFs::open(open_root(cli)?.host_root())
                .map_err(|e| AppError::Fix(e.to_string()))?;
            let opts = crate::remedy::PlanOptions {
                unsafe_all: *unsafe_,
                unsafe_policies: config.unsafe_fixes.clone(),
                runtime: *runtime,
                live: host.live,
            };
            let plan = crate::remedy::plan(&findings, &host, &fs, &opts);
            if !*apply {
                match format {
                    CheckFormat::Json => json(out, &plan, true)?,
                    CheckFormat::Text => render_plan(&plan, out)?,
                }
                return finish(out, if plan.changes { 1 } else { 0 });
            }
            let mut outcome = crate::remedy::apply(&fs, &plan).map_err(|e| AppError::Fix(e.to_string()))?;
            if host.live {
                let ops: Vec<_> = plan.actions.iter().flat_map(|a| a.live.clone()).collect();
                outcome.failed.extend(crate::remedy::run_live(&ops));
                outcome.done.extend(ops.iter().map(|o| format!("live: {o:?}")));
            }
            render_outcome(&outcome, *format, out)?;
            ExitCode::from(if outcome.failed.is_empty() { 0 } else { 4 })
        }
        Command::Undo { run } => {
            let fs = crate::remedy::fsops::RootFs::open(open_root(cli)?.host_root())
                .map_err(|e| AppError::Fix(e.to_string()))?;
            let Some(outcome) = crate::remedy::undo(&fs, run.as_deref()).map_err(|e| AppError::Fix(e.to_string()))?
            else {
                writeln!(out, "nothing to undo: no run of `fix --apply` is left to reverse")?;
                return Ok(ExitCode::SUCCESS);
            };
            render_outcome(&outcome, CheckFormat::Text, out)?;
            ExitCode::from(if outcome.failed.is_empty() { 0 } else { 4 })
        }
        Command::Policies => {
            let (_, set, _) = load_policies(cli)?;
            for p in &set.policies {
                let m = &p.meta;
                writeln!(
                    out,
                    "{:<8} {:<36} {:<8} {:<12} {}",
                    m.id,
                    m.name,
                    m.severity.as_str(),
                    m.mitigations.join(","),
                    m.title
                )?;
            }
            ExitCode::SUCCESS
        }
        Command::Explain { id } => {
            let (_, set, _) = load_policies(cli)?;
            let p =
                set.find(id).ok_or_else(|| AppError::Usage(format!("no policy {id:?} (see `timerguard policies`)")))?;
            explain(p, out)?;
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "timerguard", out);
            ExitCode::SUCCESS
        }
        Command::Man => {
            man_page(out)?;
            ExitCode::SUCCESS
        }
        Command::Init => {
            let (_, set, _) = load_policies(cli)?;
            out.write_all(crate::config::default_text(&set).as_bytes())?;
            ExitCode::SUCCESS
        }
        Command::Test => {
            let (_, set, _) = load_policies(cli)?;
            let ok = crate::policy::testcase::run_all(&set, !cli.no_builtin, &cli.policies, out)?;
            ok_or_1(ok)
        }
    };
    quiet_pipe(out.flush().map_err(AppError::from))?;
    Ok(code)
}

/// A reader that closed the pipe early (`timerguard check | head`) is not a failure:
/// the command ends quietly with the exit code its result gives.
fn quiet_pipe(r: Result<(), AppError>) -> Result<(), AppError> {
    match r {
        Err(AppError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(AppError::Json(e)) if e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) => Ok(()),
        other => other,
    }
}

/// Evaluates, applies config (severities, waivers) and logs policy output and errors.
fn findings_of(
    config: &Config,
    set: &PolicySet,
    selected: &[&crate::policy::Policy],
    host: &Arc<Host>,
    log: &engine::Log,
    term: Terminal,
    err: &mut dyn Write,
) -> Result<(Vec<crate::finding::Finding>, crate::policy::Evaluation), AppError> {
    let ev = {
        let _p =
            term.stderr.then(|| crate::progress::Progress::start(format!("evaluating {} policies", selected.len())));
        crate::policy::evaluate(set, selected, host, &|p| config.params_for(p), &engine::Limits::default())
    };
    applied(config, ev, log, err)
}

/// The config applied to an evaluation's findings; the policies' log and errors written.
fn applied(
    config: &Config,
    mut ev: crate::policy::Evaluation,
    log: &engine::Log,
    err: &mut dyn Write,
) -> Result<(Vec<crate::finding::Finding>, crate::policy::Evaluation), AppError> {
    let mut findings = std::mem::take(&mut ev.findings);
    config.apply(&mut findings, crate::config::today());
    for l in log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
        writeln!(err, "{l}")?;
    }
    for e in &ev.errors {
        writeln!(err, "error: policy {e}")?;
    }
    Ok((findings, ev))
}

/// The policies `watch` runs: all of them over a session, or one user's.
struct Watcher<'a> {
    config: &'a Config,
    set: &'a PolicySet,
    selected: &'a [&'a crate::policy::Policy],
    log: &'a engine::Log,
}

impl Watcher<'_> {
    fn applied(&self, ev: crate::policy::Evaluation) -> Vec<crate::finding::Finding> {
        let mut f = ev.findings;
        self.config.apply(&mut f, crate::config::today());
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        f.retain(|x| !x.waived());
        f
    }
}

impl crate::detect::watch::Checker for Watcher<'_> {
    fn all(&self, s: &collect::Session) -> Vec<crate::finding::Finding> {
        let limits = engine::Limits::default();
        let st = crate::policy::evaluate_streaming(self.set, self.selected, s, &|p| self.config.params_for(p), &limits);
        self.applied(st.evaluation)
    }

    fn user(&self, s: &collect::Session, u: &crate::model::User) -> Vec<crate::finding::Finding> {
        let limits = engine::Limits::default();
        let ev = crate::policy::evaluate_user(self.set, self.selected, s, u, &|p| self.config.params_for(p), &limits);
        self.applied(ev)
    }
}

/// Whether a run reads user scopes one at a time (memory flat in the number of users):
/// always, unless a policy needs the whole host at once (`check_host`).
/// `TIMERGUARD_NO_STREAM=1` reads everything first (tests compare the two).
fn streaming(selected: &[&crate::policy::Policy]) -> bool {
    std::env::var_os("TIMERGUARD_NO_STREAM").is_none() && !selected.iter().any(|p| p.has_check_host)
}

/// Writes the collection's warnings and, when `/` is read without systemd as PID 1, says so.
fn collection_notes(
    cli: &Cli,
    warnings: &[crate::model::Warning],
    live: bool,
    err: &mut dyn Write,
) -> Result<(), AppError> {
    for w in warnings {
        writeln!(err, "warning: {w}")?;
    }
    if live != collect::root_is_slash(&cli.root) {
        writeln!(
            err,
            "note: systemd is not PID 1 here: / is read offline, as an image (no running transient timers, no live fixes)"
        )?;
    }
    Ok(())
}

/// What `--cache` decided before a check: reuse this report, or check afresh and keep
/// the new one under this key (`None`: not at all); each with the line stderr says.
enum CacheStep<'a> {
    Reuse(Box<crate::cache::Hit>, String),
    Fresh(Option<(&'a std::path::Path, String)>, String),
}

/// What a cache lookup is made from.
struct CacheQuery<'a> {
    cli: &'a Cli,
    selection: &'a crate::cli::Selection,
    fail_on: crate::finding::Severity,
    host_name: Option<&'a str>,
    root: &'a collect::Root,
    now: i64,
}

/// The cache step of a check with `selected`: not used when one of them reads the clock.
fn cache_step<'p>(q: &CacheQuery<'_>, selected: &[&crate::policy::Policy], path: &'p std::path::Path) -> CacheStep<'p> {
    match crate::cache::clock_in(selected) {
        Some(why) => CacheStep::Fresh(None, format!("cache: not used: {why}")),
        None => lookup_step(q, path),
    }
}

fn lookup_step<'p>(q: &CacheQuery<'_>, path: &'p std::path::Path) -> CacheStep<'p> {
    let key = match crate::cache::key_of(q.cli, q.selection, q.fail_on, q.host_name) {
        Ok(k) => k,
        Err(why) => return CacheStep::Fresh(None, format!("cache: not used: {why}")),
    };
    match crate::cache::lookup(path, &key, q.root, q.now) {
        crate::cache::Lookup::Fresh(hit) => {
            let age = q.now.saturating_sub(hit.header.made_usec) / 1_000_000;
            let said = format!("cache: nothing changed; reusing the report of {age} s ago ({})", path.display());
            CacheStep::Reuse(hit, said)
        }
        crate::cache::Lookup::Stale(why) => {
            CacheStep::Fresh(Some((path, key)), format!("cache: {why}; checking afresh"))
        }
    }
}

/// `--cache` looked up before any policy is compiled (a quarter of a small host's warm
/// check was compiling the built-in pack): the key is made from the sources and options as
/// given, so the same key means the same policies, selection and outcome as the run that
/// kept the report. `None` whenever that run's own path must decide: a config or root that
/// fails (its error comes from the ordinary path, in its order), a policy that may read
/// the clock, streaming switched off. The step found is the ordinary path's, which takes
/// it as is (the lookup is not done twice).
fn early_step<'a>(
    cli: &Cli,
    selection: &crate::cli::Selection,
    sources: &crate::cli::Sources,
    fail_on: Option<crate::finding::Severity>,
    path: &'a std::path::Path,
    now: i64,
) -> Option<CacheStep<'a>> {
    // `--cache` cannot come with `--facts` or `--trusted` (clap refuses them together).
    if std::env::var_os("TIMERGUARD_NO_STREAM").is_some() {
        return None;
    }
    if !cli.no_builtin
        && crate::policy::builtin::POLICIES.iter().any(|(_, src)| crate::cache::reads_clock(src).is_some())
    {
        return None;
    }
    let config = match &cli.config {
        Some(p) => Config::load(p).ok()?,
        None => Config::default(),
    };
    let fail_on = fail_on_of(fail_on, &config);
    let root = open_root(cli).ok()?;
    check_root(cli, &root).ok()?;
    let q = CacheQuery { cli, selection, fail_on, host_name: sources.host_name.as_deref(), root: &root, now };
    match lookup_step(&q, path) {
        // A module that reads the clock: the ordinary path says which policy, if selected.
        CacheStep::Fresh(None, _) => None,
        step => Some(step),
    }
}

/// A reused report: the notes its check wrote to stderr, then why it is reused.
fn reused(hit: Box<crate::cache::Hit>, said: &str, err: &mut dyn Write) -> Result<Evaluated, AppError> {
    err.write_all(hit.header.notes.as_bytes())?;
    writeln!(err, "{said}")?;
    Ok(Evaluated::Cached(hit))
}

/// The severity a check fails on: `--fail-on`, else the config's, else high.
fn fail_on_of(given: Option<crate::finding::Severity>, config: &Config) -> crate::finding::Severity {
    given.or(config.fail_on).unwrap_or(crate::finding::Severity::High)
}

/// A check's report: made now, or reused from `--cache`.
enum Evaluated {
    Fresh(Box<crate::report::Report>),
    Cached(Box<crate::cache::Hit>),
}

impl Evaluated {
    fn fresh(self) -> Result<crate::report::Report, AppError> {
        match self {
            Evaluated::Fresh(r) => Ok(*r),
            Evaluated::Cached(hit) => hit.report().map_err(AppError::Usage),
        }
    }
}

/// Policies evaluated over the root, or over each `--facts` file (one report for all).
fn evaluate(
    cli: &Cli,
    selection: &crate::cli::Selection,
    sources: &crate::cli::Sources,
    fail_on: Option<crate::finding::Severity>,
    cache: Option<&std::path::Path>,
    term: Terminal,
    err: &mut dyn Write,
) -> Result<Evaluated, AppError> {
    let now = collect::now_usec();
    let early = match cache.and_then(|path| early_step(cli, selection, sources, fail_on, path, now)) {
        Some(CacheStep::Reuse(hit, said)) => return reused(hit, &said, err),
        other => other,
    };
    let (config, set, log) = load_policies(cli)?;
    crate::profile::phase("policies compiled");
    let selected = select(cli, &config, &set, selection)?;
    let fail_on = fail_on_of(fail_on, &config);
    let trusted = match &sources.trusted {
        Some(p) => {
            Some(crate::jsonfile::load::<crate::trusted::Snapshot>(p, "snapshot", crate::trusted::SNAPSHOT_SCHEMA)?)
        }
        None => None,
    };
    // Drift from the trusted snapshot is part of the facts policies see.
    let with_drift = |host: Arc<Host>| match &trusted {
        None => host,
        Some(snap) => {
            let mut h = Arc::try_unwrap(host).unwrap_or_else(|a| (*a).clone());
            h.drift = crate::trusted::drift(snap, &h);
            Arc::new(h)
        }
    };
    let infos: Vec<_> = selected.iter().map(|p| crate::report::PolicyInfo::from(*p)).collect();
    let one = |host: &Arc<Host>, name: String, root: Option<String>, err: &mut dyn Write| {
        let (findings, ev) = findings_of(&config, &set, &selected, host, &log, term, err)?;
        let label = crate::report::HostLabel { name, root, warnings: host.warnings.len() };
        Ok::<_, AppError>(crate::report::Report::new(findings, ev.errors, infos.clone(), fail_on, label))
    };
    if sources.facts.is_empty() && trusted.is_none() && streaming(&selected) {
        let root = open_root(cli)?;
        check_root(cli, &root)?;
        let q = CacheQuery { cli, selection, fail_on, host_name: sources.host_name.as_deref(), root: &root, now };
        let step = |path| cache_step(&q, &selected, path);
        // A step found early stands: no policy that could be selected reads the clock.
        let cache = match early.or_else(|| cache.map(step)) {
            Some(CacheStep::Reuse(hit, said)) => return reused(hit, &said, err),
            Some(CacheStep::Fresh(keep, said)) => {
                writeln!(err, "{said}")?;
                keep
            }
            None => None,
        };
        let (streamed, recorded) = {
            let _p = term.stderr.then(|| crate::progress::Progress::start(format!("checking {}", cli.root.display())));
            let session = collect::Session::open_with(&cli.root, now, cache.is_some())?;
            crate::profile::phase("shared scopes read");
            let st = crate::policy::evaluate_streaming(
                &set,
                &selected,
                &session,
                &|p| config.params_for(p),
                &engine::Limits::default(),
            );
            (st, cache.is_some().then(|| crate::cache::Recorded::of(&session)))
        };
        crate::profile::phase("user scopes read and checked");
        // What goes to stderr is kept too: a reused report repeats it.
        let mut notes = Vec::new();
        collection_notes(cli, &streamed.warnings, streamed.live, &mut notes)?;
        let (findings, ev) = applied(&config, streamed.evaluation, &log, &mut notes)?;
        err.write_all(&notes)?;
        let root = cli.root.display().to_string();
        let name = sources.host_name.clone().or(streamed.hostname).unwrap_or_else(|| root.clone());
        let label = crate::report::HostLabel { name, root: Some(root), warnings: streamed.warnings.len() };
        let report = crate::report::Report::new(findings, ev.errors, infos, fail_on, label);
        if let (Some((path, key)), Some(rec)) = (cache, recorded) {
            let notes = String::from_utf8_lossy(&notes).into_owned();
            if let Err(why) = crate::cache::store(path, key, now, &report, notes, rec) {
                writeln!(err, "cache: not written: {why}")?;
            }
        }
        return Ok(Evaluated::Fresh(Box::new(report)));
    }
    if cache.is_some() {
        // --cache conflicts with --facts and --trusted; what is left is a whole-host run.
        writeln!(
            err,
            "cache: not used: a selected policy reads the whole host at once (check_host), or TIMERGUARD_NO_STREAM is set"
        )?;
    }
    if sources.facts.is_empty() {
        let host = with_drift(collect_host(cli, term, err)?);
        let root = cli.root.display().to_string();
        let name = sources.host_name.clone().or_else(|| host.hostname.clone()).unwrap_or_else(|| root.clone());
        return one(&host, name, Some(root), err).map(|r| Evaluated::Fresh(Box::new(r)));
    }
    let mut parts = Vec::new();
    for f in &sources.facts {
        let host: Arc<Host> = with_drift(Arc::new(crate::jsonfile::load(f, "facts", crate::model::FACTS_SCHEMA)?));
        for w in &host.warnings {
            writeln!(err, "warning: {}: {w}", f.display())?;
        }
        let label = file_label(f);
        parts.push((label.clone(), one(&host, host.hostname.clone().unwrap_or(label), None, err)?));
    }
    let report = if parts.len() == 1 { parts.remove(0).1 } else { crate::report::merge(parts, Some(fail_on)) };
    Ok(Evaluated::Fresh(Box::new(report)))
}

/// The report on stdout in its format, and in every `--report FORMAT=PATH`.
fn write_report(
    report: &crate::report::Report,
    output: &crate::cli::Output,
    term: Terminal,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    crate::report::render(report, output.format, term.color, out)?;
    for (f, path) in &output.reports {
        let mut file =
            std::fs::File::create(path).map_err(|e| AppError::Usage(format!("--report {}: {e}", path.display())))?;
        crate::report::render(report, *f, false, &mut file)?;
    }
    crate::profile::phase("report written");
    Ok(())
}

/// A file's name without directory and extension, naming the host it came from.
fn file_label(p: &std::path::Path) -> String {
    p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into_owned())
}

fn finish(out: &mut dyn Write, code: u8) -> Result<ExitCode, AppError> {
    out.flush()?;
    Ok(ExitCode::from(code))
}

/// The plan for people: each action with its steps, before → after.
fn render_plan(plan: &crate::remedy::Plan, out: &mut dyn Write) -> std::io::Result<()> {
    let steps: usize = plan.actions.iter().map(|a| a.steps.len()).sum();
    writeln!(
        out,
        "PLAN: {} action(s), {steps} step(s) (dry run; --apply executes exactly this)",
        plan.actions.iter().filter(|a| !a.steps.is_empty()).count()
    )?;
    for a in &plan.actions {
        writeln!(out, "  {} {}{}  {}", a.policy, a.rule, if a.safe { "" } else { " (unsafe)" }, a.subject)?;
        if let Some(n) = &a.note {
            writeln!(out, "    why: {n}")?;
        }
        if let Some(r) = &a.refused {
            writeln!(out, "    refused: {r}")?;
        }
        for s in &a.steps {
            writeln!(out, "    {}", s.describe)?;
        }
        for l in &a.live {
            writeln!(out, "    then (live): {l:?}")?;
        }
    }
    if plan.skipped_unsafe > 0 {
        writeln!(out, "{} unsafe fix(es) not planned (add --unsafe)", plan.skipped_unsafe)?;
    }
    if !plan.changes {
        writeln!(out, "nothing to change")?;
    }
    Ok(())
}

fn render_outcome(o: &crate::remedy::ApplyOutcome, format: CheckFormat, out: &mut dyn Write) -> Result<(), AppError> {
    if format == CheckFormat::Json {
        return json(out, o, true);
    }
    writeln!(out, "run {}: {} step(s) done, {} failed", o.run, o.done.len(), o.failed.len())?;
    for d in &o.done {
        writeln!(out, "  done: {d}")?;
    }
    for f in &o.failed {
        writeln!(out, "  FAILED: {f}")?;
    }
    Ok(())
}

/// The config (validated against the policies) and the compiled policy set.
fn load_policies(cli: &Cli) -> Result<(Config, PolicySet, engine::Log), AppError> {
    let log = engine::Log::default();
    let set = PolicySet::load(!cli.no_builtin, &cli.policies, &engine::Limits::default(), &log)?;
    let config = match &cli.config {
        Some(path) => {
            let c = Config::load(path)?;
            c.validate(path, &set)?;
            c
        }
        None => Config::default(),
    };
    Ok((config, set, log))
}

/// The man page: clap's sections, then EXIT STATUS and EXAMPLES (roff).
fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    out.write_all(MAN_EXTRA.as_bytes())?;
    man.render_version_section(out)
}

const MAN_EXTRA: &str = r#".SH "EXIT STATUS"
The same for every output format:
.TP
.B 0
nothing at or above \fB\-\-fail\-on\fR (default high); for \fBfix\fR without \fB\-\-apply\fR, nothing would change.
.TP
.B 1
findings at or above \fB\-\-fail\-on\fR; \fBfix\fR would change something; an invalid calendar expression or time span.
.TP
.B 2
usage, configuration or policy compile error; a selection that matches no policy; a root that does not look like a Linux root.
.TP
.B 3
a policy failed at run time (the others still report).
.TP
.B 4
a fix failed while applying or undoing.
.SH EXAMPLES
.TP
.B timerguard check
Check this system with the built\-in policies; exit 1 on high or critical findings.
.TP
.B timerguard \-\-root /srv/image check \-\-format sarif \-\-report junit=report.xml
Gate an image root before it ships, writing SARIF on stdout and JUnit to a file.
.TP
.B timerguard check \-\-format json \-\-cache /var/cache/timerguard/check
A hook that runs every few minutes: the last report is reused, at the cost of a stat of
every path it was made from, while none of them (nor options, config, policies or the
day) changed.
.TP
.B timerguard \-\-config /etc/timerguard.yaml fix
Show the plan of safe fixes (a dry run); add \fB\-\-apply\fR to make them, journaled.
.TP
.B timerguard fix \-\-unsafe \-\-apply && timerguard undo
Also disable, mask or quarantine what the policies name; \fBundo\fR reverses the run.
.TP
.B timerguard list
Every timer of every scope: will it run, when, as whom, what it executes.
.TP
.B timerguard explain TG106
A policy's rationale, parameters, remediation and references.
"#;

/// The policies a run uses. A selector that names no policy, or a run left with none,
/// is an error: a gate that checked nothing must not pass.
fn select<'a>(
    cli: &Cli,
    config: &Config,
    set: &'a PolicySet,
    selection: &crate::cli::Selection,
) -> Result<Vec<&'a crate::policy::Policy>, AppError> {
    let cfg = cli.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let sources = [
        ("--select", &selection.select, String::new()),
        ("--ignore", &selection.ignore, String::new()),
        ("select", &config.select, format!("config {cfg}: ")),
        ("ignore", &config.ignore, format!("config {cfg}: ")),
    ];
    for (what, keys, at) in sources {
        if let Some(k) = keys.iter().find(|k| !set.policies.iter().any(|p| Config::matches(p, k))) {
            return Err(AppError::Usage(format!(
                "{at}{what} {k:?} matches no policy (an id or id prefix, a name, a tag or a mitigation; see `timerguard policies`)"
            )));
        }
    }
    let chosen: Vec<_> =
        set.policies.iter().filter(|p| config.selected(p, &selection.select, &selection.ignore)).collect();
    if chosen.is_empty() {
        let why = if set.policies.is_empty() {
            "no policies are loaded (--no-builtin without --policies DIR)"
        } else {
            "the selection leaves no policy to run"
        };
        return Err(AppError::Usage(format!("nothing to check: {why}")));
    }
    Ok(chosen)
}

/// A root that does not look like a Linux root is refused (unless --allow-minimal-root):
/// an empty directory, or `…/usr` of an image, would otherwise pass every check.
fn check_root(cli: &Cli, root: &collect::Root) -> Result<(), AppError> {
    if cli.allow_minimal_root {
        return Ok(());
    }
    let is = |p: &str, dir: bool| {
        root.chase(p, true)
            .ok()
            .filter(|c| c.exists)
            .and_then(|c| root.lstat(&c.path).ok())
            .is_some_and(|m| if dir { m.is_dir() } else { m.is_file() })
    };
    let mut missing = Vec::new();
    if !is("/etc", true) {
        missing.push("/etc");
    }
    if !is("/etc/passwd", false) {
        missing.push("/etc/passwd");
    }
    if !is("/usr/lib", true) && !is("/lib", true) {
        missing.push("/usr/lib (or /lib)");
    }
    let systemd = ["/etc/systemd", "/usr/lib/systemd", "/lib/systemd", "/run/systemd", "/var/lib/systemd"];
    if !systemd.iter().any(|d| is(d, true)) {
        missing.push("a systemd directory (/etc/systemd, /usr/lib/systemd, …)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(AppError::Usage(format!(
        "{} does not look like a Linux root: missing {} (give the image's top directory; --allow-minimal-root accepts it as it is)",
        cli.root.display(),
        missing.join(", ")
    )))
}

/// `explain`: everything a reader needs to act on a policy's findings.
fn explain(p: &crate::policy::Policy, out: &mut dyn Write) -> std::io::Result<()> {
    let m = &p.meta;
    writeln!(out, "{} {} — {}", m.id, m.name, m.title)?;
    writeln!(
        out,
        "severity: {}   mitigations: {}   tags: {}",
        m.severity.as_str(),
        m.mitigations.join(", "),
        m.tags.join(", ")
    )?;
    writeln!(
        out,
        "checks: {}   source: {}",
        if m.targets.is_empty() { "host".into() } else { m.targets.join(", ") },
        p.origin
    )?;
    if !p.doc.is_empty() {
        writeln!(out, "\n{}", p.doc)?;
    }
    if !m.params.is_empty() {
        writeln!(out, "\nparameters (defaults; override under params.{} in the config):", m.id)?;
        for (k, v) in &m.params {
            writeln!(out, "  {k}: {v}")?;
        }
    }
    if !m.remediation.is_empty() {
        writeln!(out, "\nremediation: {}", m.remediation)?;
    }
    for r in &m.references {
        writeln!(out, "see: {r}")?;
    }
    Ok(())
}

fn open_root(cli: &Cli) -> Result<collect::Root, AppError> {
    collect::Root::open(&cli.root)
        .map_err(|source| collect::CollectError::Root { path: cli.root.clone(), source }.into())
}

/// Collects the root (with a progress line on a terminal); warnings go to stderr.
fn collect_host(cli: &Cli, term: Terminal, err: &mut dyn Write) -> Result<Arc<Host>, AppError> {
    check_root(cli, &open_root(cli)?)?;
    let host = {
        let _p = term.stderr.then(|| crate::progress::Progress::start(format!("reading {}", cli.root.display())));
        collect::collect(&cli.root)?
    };
    collection_notes(cli, &host.warnings, host.live, err)?;
    Ok(Arc::new(host))
}

fn json<T: serde::Serialize>(out: &mut dyn Write, v: &T, pretty: bool) -> Result<(), AppError> {
    if pretty {
        serde_json::to_writer_pretty(&mut *out, v)?;
    } else {
        serde_json::to_writer(&mut *out, v)?;
    }
    writeln!(out)?;
    Ok(())
}

fn ok_or_1(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
