//! Orchestration: runs a parsed command against the library and picks the exit code.
//! Exit codes (design.md): 0 success, 2 usage or input error.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command, ListFormat};
use crate::{collect, inventory};

/// Everything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Collect(#[from] collect::CollectError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl AppError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(2)
    }
}

/// Runs one command, writing results to `out` and diagnostics to `err`.
pub fn run(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode, AppError> {
    let host = collect::collect(&cli.root)?;
    for w in &host.warnings {
        writeln!(err, "warning: {w}")?;
    }
    match &cli.command {
        Command::List { format } => match format {
            ListFormat::Text => inventory::render_text(&host, out)?,
            ListFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &inventory::rows_json(&host))?;
                writeln!(out)?;
            }
        },
        Command::Facts { pretty } => {
            if *pretty {
                serde_json::to_writer_pretty(&mut *out, &host)?;
            } else {
                serde_json::to_writer(&mut *out, &host)?;
            }
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
