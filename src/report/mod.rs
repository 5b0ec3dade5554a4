//! The report of `check`: one value, rendered by one module per format. Output is
//! deterministic (sorted, no timestamps); paths are in-image.

mod github;
pub mod json;
mod jsonl;
mod junit;
mod sarif;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// SARIF 2.1.0, for code scanning (GitHub, Azure DevOps, IDE viewers).
    Sarif,
}

/// Renders the report in a format; `color` only affects `text`.
pub fn render(r: &Report, format: Format, color: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    match format {
        Format::Text => text::render(r, color, out),
        Format::Json => json::render(r, out),
        Format::Jsonl => jsonl::render(r, out),
        Format::Github => github::render(r, out),
        Format::Junit => junit::render(r, out),
        Format::Sarif => sarif::render(r, out),
    }
}

/// Version tag of the JSON report (docs/report.md).
pub const REPORT_SCHEMA: &str = "timerguard.check/v1";

/// A policy that ran, as reports describe it (SARIF builds its rules from this).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub id: String,
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub mitigations: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The policy's `//!` rationale.
    #[serde(default)]
    pub doc: String,
    #[serde(default)]
    pub remediation: String,
    #[serde(default)]
    pub references: Vec<String>,
}

impl From<&Policy> for PolicyInfo {
    fn from(p: &Policy) -> Self {
        PolicyInfo {
            id: p.meta.id.clone(),
            name: p.meta.name.clone(),
            title: p.meta.title.clone(),
            severity: p.meta.severity,
            mitigations: p.meta.mitigations.clone(),
            tags: p.meta.tags.clone(),
            doc: p.doc.clone(),
            remediation: p.meta.remediation.clone(),
            references: p.meta.references.clone(),
        }
    }
}

/// Counts, for one host or a whole fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Active (neither waived nor baselined) findings by severity.
    pub by_severity: BTreeMap<Severity, usize>,
    pub active: usize,
    pub waived: usize,
    #[serde(default)]
    pub baselined: usize,
    pub expired_waivers: usize,
    pub policies: usize,
    pub policy_errors: usize,
    pub warnings: usize,
    pub fail_on: Severity,
    /// What the exit code says: `pass`, `fail` (findings ≥ fail-on), `error` (a policy failed).
    pub result: String,
}

impl Summary {
    fn of<'a>(
        findings: impl Iterator<Item = &'a Finding> + Clone,
        errors: usize,
        policies: usize,
        warnings: usize,
        fail_on: Severity,
    ) -> Summary {
        let mut by = BTreeMap::new();
        for f in findings.clone().filter(|f| f.active()) {
            *by.entry(f.severity).or_insert(0) += 1;
        }
        let failing = by.keys().any(|s| *s >= fail_on);
        Summary {
            active: by.values().sum(),
            by_severity: by,
            waived: findings.clone().filter(|f| f.waived()).count(),
            baselined: findings.clone().filter(|f| f.baselined && !f.waived()).count(),
            expired_waivers: findings.filter(|f| f.waiver.as_ref().is_some_and(|w| w.expired)).count(),
            policies,
            policy_errors: errors,
            warnings,
            fail_on,
            result: if errors > 0 {
                "error"
            } else if failing {
                "fail"
            } else {
                "pass"
            }
            .into(),
        }
    }
}

/// One host a report covers: its name (hostname, else the root or facts file), the root
/// it was read from when known, and its own counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostSummary {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    pub summary: Summary,
}

/// `check --baseline FILE`: how today's findings compare with the recorded ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineCounts {
    /// Active findings not in the baseline: the ones that fail the gate.
    pub new: usize,
    /// Findings recorded in the baseline (reported, not failing).
    pub baselined: usize,
    /// Baseline entries no longer found (fixed, or their subject is gone).
    pub gone: usize,
}

/// Everything a `check` run produced (or a merge of several hosts' runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    /// timerguard's version, for reading old reports.
    #[serde(default)]
    pub version: String,
    pub summary: Summary,
    /// Every host covered, each with its own summary (one for a plain `check`).
    #[serde(default)]
    pub hosts: Vec<HostSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineCounts>,
    /// Made by merging host reports (`merge`, `check --facts` with several files).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fleet: bool,
    pub findings: Vec<Finding>,
    pub errors: Vec<PolicyRunError>,
    pub policies: Vec<PolicyInfo>,
}

/// Which host a single-host report is about.
pub struct HostLabel {
    pub name: String,
    pub root: Option<String>,
    pub warnings: usize,
}

impl Report {
    pub fn new(
        findings: Vec<Finding>,
        errors: Vec<PolicyRunError>,
        policies: Vec<PolicyInfo>,
        fail_on: Severity,
        host: HostLabel,
    ) -> Report {
        let summary = Summary::of(findings.iter(), errors.len(), policies.len(), host.warnings, fail_on);
        let hosts = vec![HostSummary { name: host.name, root: host.root, summary: summary.clone() }];
        Report {
            schema: REPORT_SCHEMA.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary,
            hosts,
            baseline: None,
            fleet: false,
            findings,
            errors,
            policies,
        }
    }

    /// Recounts the report and each host after findings changed (baseline marks).
    pub fn recount(&mut self) {
        let s = &self.summary;
        self.summary = Summary::of(self.findings.iter(), self.errors.len(), s.policies, s.warnings, s.fail_on);
        let single = self.hosts.len() == 1;
        for h in &mut self.hosts {
            let mine = |x: &Option<String>| single || x.as_deref() == Some(h.name.as_str());
            let errors = self.errors.iter().filter(|e| mine(&e.host)).count();
            let s = &h.summary;
            h.summary =
                Summary::of(self.findings.iter().filter(|f| mine(&f.host)), errors, s.policies, s.warnings, s.fail_on);
        }
    }

    /// The exit code, the same for every format: 3 a policy failed, 1 findings at or
    /// above `fail_on`, else 0.
    pub fn exit_code(&self) -> u8 {
        match self.summary.result.as_str() {
            "error" => 3,
            "fail" => 1,
            _ => 0,
        }
    }
}

/// Merges the reports of many hosts into one (fleet). Each part comes with a fallback
/// name (its file) used when two hosts share a name. Every host keeps its own summary and
/// result; the fleet's summary counts everything against `fail_on` (default: the
/// strictest of the parts').
pub fn merge(parts: Vec<(String, Report)>, fail_on: Option<Severity>) -> Report {
    let fail_on = fail_on.or_else(|| parts.iter().map(|(_, r)| r.summary.fail_on).min()).unwrap_or(Severity::High);
    let mut out = Report {
        schema: REPORT_SCHEMA.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        summary: Summary::of(std::iter::empty(), 0, 0, 0, fail_on),
        hosts: Vec::new(),
        baseline: None,
        fleet: true,
        findings: Vec::new(),
        errors: Vec::new(),
        policies: Vec::new(),
    };
    for (fallback, mut r) in parts {
        if r.hosts.is_empty() {
            // A report without a host list (hand-made, or trimmed): its file names it.
            r.hosts.push(HostSummary { name: fallback.clone(), root: None, summary: r.summary.clone() });
        }
        let mut renames = BTreeMap::new();
        for mut h in r.hosts {
            let old = h.name.clone();
            if out.hosts.iter().any(|x| x.name == h.name) {
                h.name = format!("{} ({fallback})", h.name);
            }
            renames.insert(old, h.name.clone());
            out.hosts.push(h);
        }
        // A plain report's findings carry no host: they are its one host's.
        let only = renames.values().next().cloned().filter(|_| renames.len() == 1);
        let host_of = |h: &Option<String>| h.as_ref().and_then(|h| renames.get(h).cloned()).or_else(|| only.clone());
        for mut f in r.findings {
            f.host = host_of(&f.host);
            out.findings.push(f);
        }
        for mut e in r.errors {
            e.host = host_of(&e.host);
            out.errors.push(e);
        }
        for p in r.policies {
            if !out.policies.iter().any(|x| x.id == p.id) {
                out.policies.push(p);
            }
        }
        if let Some(b) = r.baseline {
            let t = out.baseline.get_or_insert_with(BaselineCounts::default);
            t.new += b.new;
            t.baselined += b.baselined;
            t.gone += b.gone;
        }
        out.summary.warnings += r.summary.warnings;
    }
    out.policies.sort_by(|a, b| a.id.cmp(&b.id));
    out.findings.sort_by(|a, b| {
        (b.severity, &a.host, &a.policy, &a.scope, &a.subject, &a.rule)
            .cmp(&(a.severity, &b.host, &b.policy, &b.scope, &b.subject, &b.rule))
    });
    out.summary = Summary::of(out.findings.iter(), out.errors.len(), out.policies.len(), out.summary.warnings, fail_on);
    out
}

impl crate::jsonfile::Tagged for Report {
    fn schema(&self) -> &str {
        &self.schema
    }
}
