//! Orchestration: runs a parsed command against the library and picks the exit code.
//! Exit codes (design.md): 0 success, 1 an invalid calendar expression or time span,
//! 2 usage or input error (an unopenable root, a bad --base-time).

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command, ListFormat};
use crate::model::Host;
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
}

impl AppError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(2)
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
    };
    out.flush()?;
    Ok(code)
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
