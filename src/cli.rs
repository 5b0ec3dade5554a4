//! Command-line definitions (clap derive). Parsing only; `app.rs` does the work.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Policy-as-code hardening for systemd timers (MITRE ATT&CK T1053.006).
#[derive(Debug, Parser)]
#[command(name = "timerguard", version, about, long_about = None)]
pub struct Cli {
    /// Root filesystem to inspect: `/` for this system, or an offline image root.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inventory of every timer in every scope: will it run, when, as whom, what.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Dump the collected facts as JSON (schema timerguard.facts/v1, docs/facts.md).
    Facts {
        /// Indent the JSON for reading.
        #[arg(long)]
        pretty: bool,
    },
}

/// Output formats of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// An aligned table for people.
    Text,
    /// `timerguard.list/v1` JSON for programs.
    Json,
}
