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
    /// Normalise calendar expressions and print their next elapses (like systemd-analyze).
    Calendar {
        #[arg(required = true)]
        expressions: Vec<String>,
        /// How many elapses to show.
        #[arg(long, default_value_t = 1)]
        iterations: usize,
        /// Compute elapses after this time: `YYYY-MM-DD [HH:MM[:SS]] [UTC|ZONE]`, `@SECONDS`, `now`.
        #[arg(long, default_value = "now")]
        base_time: String,
    },
    /// Parse time spans and print them in microseconds and normalised (like systemd-analyze).
    Timespan {
        #[arg(required = true)]
        spans: Vec<String>,
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
