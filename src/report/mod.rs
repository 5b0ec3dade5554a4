//! The report of `check`: one value, rendered by one module per format. Output is
//! deterministic (sorted, no timestamps); paths are in-image.

mod github;
mod json;
mod jsonl;
mod junit;
mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::policy::{Policy, PolicyRunError};

/// Every output format of `check`, all rendered from the one `Report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Grouped by severity, for people.
    Text,
    /// `timerguard.check/v1` (docs/report.md).
    Json,
    /// One finding per line, for log shippers and SIEMs.
    Jsonl,
    /// GitHub Actions annotations on the file and line.
    Github,
    /// JUnit XML: a suite per policy, a case per policy × subject.
    Junit,
}

/// Renders the report in a format.
pub fn render(r: &Report, format: Format, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    match format {
        Format::Text => text::render(r, out),
        Format::Json => json::render(r, out),
        Format::Jsonl => jsonl::render(r, out),
        Format::Github => github::render(r, out),
        Format::Junit => junit::render(r, out),
    }
}

/// Version tag of the JSON report (docs/report.md).
pub const REPORT_SCHEMA: &str = "timerguard.check/v1";

/// A policy that ran, as reports describe it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub id: String,
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub mitigations: Vec<String>,
}

impl From<&Policy> for PolicyInfo {
    fn from(p: &Policy) -> Self {
        PolicyInfo {
            id: p.meta.id.clone(),
            name: p.meta.name.clone(),
            title: p.meta.title.clone(),
            severity: p.meta.severity,
            mitigations: p.meta.mitigations.clone(),
        }
    }
}

/// Counts.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Active (not waived) findings by severity.
    pub by_severity: BTreeMap<Severity, usize>,
    pub active: usize,
    pub waived: usize,
    pub expired_waivers: usize,
    pub policies: usize,
    pub policy_errors: usize,
    pub warnings: usize,
    pub fail_on: Severity,
    /// What the exit code says: `pass`, `fail` (findings ≥ fail-on), `error` (a policy failed).
    pub result: &'static str,
}

/// Everything a `check` run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    pub errors: Vec<PolicyRunError>,
    pub policies: Vec<PolicyInfo>,
}

impl Report {
    pub fn new(
        findings: Vec<Finding>,
        errors: Vec<PolicyRunError>,
        policies: Vec<PolicyInfo>,
        fail_on: Severity,
        warnings: usize,
    ) -> Report {
        let active: Vec<&Finding> = findings.iter().filter(|f| !f.waived()).collect();
        let mut by = BTreeMap::new();
        for f in &active {
            *by.entry(f.severity).or_insert(0) += 1;
        }
        let failing = active.iter().any(|f| f.severity >= fail_on);
        let summary = Summary {
            by_severity: by,
            active: active.len(),
            waived: findings.len() - active.len(),
            expired_waivers: findings.iter().filter(|f| f.waiver.as_ref().is_some_and(|w| w.expired)).count(),
            policies: policies.len(),
            policy_errors: errors.len(),
            warnings,
            fail_on,
            result: if !errors.is_empty() {
                "error"
            } else if failing {
                "fail"
            } else {
                "pass"
            },
        };
        Report { schema: REPORT_SCHEMA, summary, findings, errors, policies }
    }

    /// The exit code, the same for every format: 3 a policy failed, 1 findings at or
    /// above `fail_on`, else 0.
    pub fn exit_code(&self) -> u8 {
        match self.summary.result {
            "error" => 3,
            "fail" => 1,
            _ => 0,
        }
    }
}
