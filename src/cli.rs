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
    /// Accept a root that does not look like a Linux root (no /etc, /etc/passwd, /usr/lib
    /// or systemd directory): by default that is an error, so a gate never passes a
    /// directory it could not have checked.
    #[arg(long, global = true)]
    pub allow_minimal_root: bool,
    /// Colour in text output: `auto` (a terminal, and `NO_COLOR` unset), `always`, `never`.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
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
        #[command(flatten)]
        output: Output,
        /// Fail only on findings not recorded in this baseline (`timerguard baseline`).
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Reuse the last report kept in FILE when nothing it was made from changed
        /// (every path read still stats the same, same options, config, policies, day);
        /// else check afresh and keep the new one there. FILE and its directory must be
        /// this user's and writable by nobody else.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["facts", "trusted"])]
        cache: Option<PathBuf>,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        sources: Sources,
    },
    /// Record today's findings (by fingerprint) so `check --baseline` fails only on new ones.
    Baseline {
        /// Where to write the baseline (`timerguard.baseline/v1` JSON).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        sources: Sources,
    },
    /// Record a trusted snapshot of every timer and service (content hashes, security
    /// settings, activation, packages): `check --trusted FILE` reports drift from it.
    Snapshot {
        /// Where to write the snapshot (`timerguard.snapshot/v1` JSON).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Take it from a facts file (`timerguard facts` of the golden image) instead of --root.
        #[arg(long, value_name = "FILE")]
        facts: Option<PathBuf>,
    },
    /// Watch every directory a manager reads; print findings that appear or go away as
    /// JSON lines (`{"event": "new"|"resolved", "finding": …}`).
    Watch {
        /// Quiet time (ms) after the last change before re-checking.
        #[arg(long, default_value_t = 300)]
        debounce: u64,
        #[command(flatten)]
        selection: Selection,
    },
    /// Audit rules for T1053.006: watches on every unit, generator, preset and linger
    /// directory, and the execution of systemd-run, systemctl and loginctl.
    AuditRules {
        #[arg(long, value_enum, default_value_t = AuditFormat::Auditd)]
        format: AuditFormat,
    },
    /// Merge JSON reports of many hosts (`check --format json`) into one fleet report.
    Merge {
        /// `timerguard.check/v1` JSON reports.
        #[arg(required = true, value_name = "REPORT")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        output: Output,
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
        #[command(flatten)]
        selection: Selection,
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

/// How a report is written and gated (`check`, `merge`).
#[derive(Debug, clap::Args)]
pub struct Output {
    #[arg(long, value_enum, default_value_t = crate::report::Format::Text)]
    pub format: crate::report::Format,
    /// Also write the report in FORMAT to PATH (repeatable), e.g. `sarif=timerguard.sarif`.
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report)]
    pub reports: Vec<(crate::report::Format, PathBuf)>,
    /// Fail on findings at or above this severity (default: config, else high).
    #[arg(long, value_enum)]
    pub fail_on: Option<crate::finding::Severity>,
}

/// Which policies run.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Only these policies (id, id prefix, name, tag or mitigation); repeatable.
    #[arg(long)]
    pub select: Vec<String>,
    /// Skip these policies; repeatable.
    #[arg(long)]
    pub ignore: Vec<String>,
}

/// Where the facts come from.
#[derive(Debug, clap::Args)]
pub struct Sources {
    /// Evaluate facts files (`timerguard facts` run on other hosts) instead of reading
    /// --root: one report covering every host.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub facts: Vec<PathBuf>,
    /// Name the host in reports (default: the root's /etc/hostname, else the root path;
    /// with --facts, the facts' hostname, else the file's name).
    #[arg(long, value_name = "NAME", conflicts_with = "facts")]
    pub host_name: Option<String>,
    /// Compare every timer and service with this trusted snapshot (`timerguard snapshot`
    /// of the golden image): what is new, changed or gone is reported (TG510).
    #[arg(long, value_name = "FILE")]
    pub trusted: Option<PathBuf>,
}

/// Output formats of `audit-rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// `auditctl` rules (a file for /etc/audit/rules.d/).
    Auditd,
    /// Sigma rules over auditd logs.
    Sigma,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
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
        .map_err(|_| format!("unknown format {f:?} (text, json, jsonl, github, junit, sarif)"))?;
    if p.is_empty() {
        return Err(format!("{s:?}: empty path"));
    }
    Ok((f, PathBuf::from(p)))
}
