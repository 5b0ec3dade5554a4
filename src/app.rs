//! Orchestration: runs a parsed command against the library and picks the exit code.
//! Exit codes (design.md): 0 success, 1 an invalid calendar expression or time span,
//! 2 usage or input error (an unopenable root, a bad --base-time).

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{CheckFormat, Cli, Command, ListFormat};
use crate::config::{Config, ConfigError};
use crate::model::Host;
use crate::policy::{PolicyError, PolicySet, engine};
use crate::{collect, inventory, timecmd};

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
}

impl AppError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(if matches!(self, AppError::Fix(_)) { 4 } else { 2 })
    }
}

/// Runs one command, writing results to `out` and diagnostics to `err`.
pub fn run(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode, AppError> {
    let code = match &cli.command {
        Command::List { format } => {
            let host = collect_host(cli, err)?;
            match format {
                ListFormat::Text => inventory::render_text(&host, out)?,
                ListFormat::Json => json(out, &inventory::rows_json(&host), true)?,
            }
            ExitCode::SUCCESS
        }
        Command::Facts { pretty } => {
            json(out, &collect_host(cli, err)?, *pretty)?;
            ExitCode::SUCCESS
        }
        Command::Calendar { expressions, iterations, base_time } => {
            let zones = collect::zones_of(&open_root(cli)?);
            let base = timecmd::parse_base_time(base_time, &zones)
                .map_err(|e| AppError::Usage(format!("--base-time: {e}")))?;
            ok_or_1(timecmd::calendar(expressions, *iterations, base, &zones, out, err)?)
        }
        Command::Timespan { spans } => ok_or_1(timecmd::timespan(spans, out, err)?),
        Command::Check { format, reports, fail_on, select, ignore } => {
            let (config, set, log) = load_policies(cli)?;
            let host = collect_host(cli, err)?;
            let selected: Vec<_> = set.policies.iter().filter(|p| config.selected(p, select, ignore)).collect();
            let ev =
                crate::policy::evaluate(&set, &selected, &host, &|p| config.params_for(p), &engine::Limits::default());
            let mut findings = ev.findings;
            config.apply(&mut findings, crate::config::today());
            for l in log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
                writeln!(err, "{l}")?;
            }
            for e in &ev.errors {
                writeln!(err, "error: policy {e}")?;
            }
            let fail_on = fail_on.or(config.fail_on).unwrap_or(crate::finding::Severity::High);
            let infos = selected.iter().map(|p| crate::report::PolicyInfo::from(*p)).collect();
            let report = crate::report::Report::new(findings, ev.errors, infos, fail_on, host.warnings.len());
            crate::report::render(&report, *format, out)?;
            for (f, path) in reports {
                let mut file = std::fs::File::create(path)
                    .map_err(|e| AppError::Usage(format!("--report {}: {e}", path.display())))?;
                crate::report::render(&report, *f, &mut file)?;
            }
            ExitCode::from(report.exit_code())
        }
        Command::Fix { apply, unsafe_, runtime, format, select, ignore } => {
            let (config, set, log) = load_policies(cli)?;
            let host = collect_host(cli, err)?;
            let selected: Vec<_> = set.policies.iter().filter(|p| config.selected(p, select, ignore)).collect();
            let (findings, _) = findings_of(&config, &set, &selected, &host, &log, err)?;
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
            let outcome = crate::remedy::undo(&fs, run.as_deref()).map_err(|e| AppError::Fix(e.to_string()))?;
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
                set.get(id).ok_or_else(|| AppError::Usage(format!("no policy {id:?} (see `timerguard policies`)")))?;
            explain(p, out)?;
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "timerguard", out);
            ExitCode::SUCCESS
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)?;
            ExitCode::SUCCESS
        }
        Command::Init => {
            out.write_all(crate::config::DEFAULT.as_bytes())?;
            ExitCode::SUCCESS
        }
        Command::Test => {
            let (_, set, _) = load_policies(cli)?;
            let ok = crate::policy::testcase::run_all(&set, !cli.no_builtin, &cli.policies, out)?;
            ok_or_1(ok)
        }
    };
    out.flush()?;
    Ok(code)
}

/// Evaluates, applies config (severities, waivers) and logs policy output and errors.
fn findings_of(
    config: &Config,
    set: &PolicySet,
    selected: &[&crate::policy::Policy],
    host: &Host,
    log: &engine::Log,
    err: &mut dyn Write,
) -> Result<(Vec<crate::finding::Finding>, crate::policy::Evaluation), AppError> {
    let mut ev = crate::policy::evaluate(set, selected, host, &|p| config.params_for(p), &engine::Limits::default());
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

/// Collects the root; warnings go to stderr.
fn collect_host(cli: &Cli, err: &mut dyn Write) -> Result<Host, AppError> {
    let host = collect::collect(&cli.root)?;
    for w in &host.warnings {
        writeln!(err, "warning: {w}")?;
    }
    Ok(host)
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
