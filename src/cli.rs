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
    /// Configuration file (YAML; see `timerguard init`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A directory of a team's own policies (`*.rhai`, tests in `tests/*.yaml`); repeatable.
    #[arg(long = "policies", global = true, value_name = "DIR")]
    pub policies: Vec<PathBuf>,
    /// Leave out the built-in policy pack.
    #[arg(long, global = true)]
    pub no_builtin: bool,
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
    /// Evaluate the policies and report; exits 1 on findings at or above --fail-on.
    Check {
        #[arg(long, value_enum, default_value_t = crate::report::Format::Text)]
        format: crate::report::Format,
        /// Also write the report in FORMAT to PATH (repeatable), e.g. `junit=report.xml`.
        #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report)]
        reports: Vec<(crate::report::Format, PathBuf)>,
        /// Fail on findings at or above this severity (default: config, else high).
        #[arg(long, value_enum)]
        fail_on: Option<crate::finding::Severity>,
        /// Only these policies (id, id prefix, name, tag or mitigation); repeatable.
        #[arg(long)]
        select: Vec<String>,
        /// Skip these policies; repeatable.
        #[arg(long)]
        ignore: Vec<String>,
    },
    /// Plan the findings' fixes (dry run; exit 1 when something would change); --apply runs them.
    Fix {
        /// Execute the plan (journaled; `undo` reverses it).
        #[arg(long)]
        apply: bool,
        /// Include unsafe fixes: disable, mask, quarantine, linger, presets.
        #[arg(long = "unsafe")]
        unsafe_: bool,
        /// Also remove enablement links under /run (`systemctl disable --runtime`).
        #[arg(long)]
        runtime: bool,
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
        #[arg(long)]
        select: Vec<String>,
        #[arg(long)]
        ignore: Vec<String>,
    },
    /// Reverse an applied `fix` run from its journal (default: the latest not undone).
    Undo { run: Option<String> },
    /// List the policies.
    Policies,
    /// Show a policy's rationale, rules, parameters, remediation and references.
    Explain { id: String },
    /// Print a commented default configuration.
    Init,
    /// Run policy test cases: the built-in pack's and those in each --policies DIR/tests.
    Test,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), generated from these definitions.
    Man,
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

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    /// `timerguard.check/v1` (docs/report.md).
    Json,
}

/// `FORMAT=PATH` for `--report`.
fn parse_report(s: &str) -> Result<(crate::report::Format, PathBuf), String> {
    let (f, p) = s.split_once('=').ok_or_else(|| format!("{s:?}: want FORMAT=PATH, e.g. junit=report.xml"))?;
    let f = <crate::report::Format as ValueEnum>::from_str(f, true)
        .map_err(|_| format!("unknown format {f:?} (text, json, jsonl, github, junit)"))?;
    if p.is_empty() {
        return Err(format!("{s:?}: empty path"));
    }
    Ok((f, PathBuf::from(p)))
}
