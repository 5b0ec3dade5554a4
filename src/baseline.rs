//! Baselines: today's findings recorded by fingerprint (policy, rule, scope, subject —
//! never the message), so a gate can fail only on what is new. A finding whose waiver
//! applies is not recorded: the waiver, with its expiry, already covers it.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::report::BaselineCounts;

pub const BASELINE_SCHEMA: &str = "timerguard.baseline/v1";

/// One recorded finding; the fields besides the fingerprint are for people reading it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub fingerprint: String,
    pub policy: String,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub schema: String,
    pub entries: Vec<Entry>,
}

impl crate::jsonfile::Tagged for Baseline {
    fn schema(&self) -> &str {
        &self.schema
    }
}

impl Baseline {
    /// Records the findings not covered by a waiver, one entry per fingerprint.
    pub fn of(findings: &[Finding]) -> Baseline {
        let mut seen = BTreeSet::new();
        let mut entries: Vec<Entry> = findings
            .iter()
            .filter(|f| !f.waived())
            .map(|f| (f.fingerprint(), f))
            .filter(|(fp, _)| seen.insert(fp.clone()))
            .map(|(fingerprint, f)| Entry {
                fingerprint,
                policy: f.policy.clone(),
                rule: f.rule.clone(),
                scope: f.scope.clone(),
                subject: f.subject.clone(),
                host: f.host.clone(),
            })
            .collect();
        entries.sort_by(|a, b| {
            (&a.policy, &a.host, &a.scope, &a.subject, &a.rule)
                .cmp(&(&b.policy, &b.host, &b.scope, &b.subject, &b.rule))
        });
        Baseline { schema: BASELINE_SCHEMA.into(), entries }
    }

    pub fn load(path: &Path) -> Result<Baseline, crate::jsonfile::JsonFileError> {
        crate::jsonfile::load(path, "baseline", BASELINE_SCHEMA)
    }

    /// Marks the findings the baseline records and counts new / baselined / gone.
    pub fn apply(&self, findings: &mut [Finding]) -> BaselineCounts {
        let known: BTreeSet<&str> = self.entries.iter().map(|e| e.fingerprint.as_str()).collect();
        let mut matched = BTreeSet::new();
        for f in findings.iter_mut().filter(|f| !f.waived()) {
            let fp = f.fingerprint();
            if known.contains(fp.as_str()) {
                f.baselined = true;
                matched.insert(fp);
            }
        }
        BaselineCounts {
            new: findings.iter().filter(|f| f.active()).count(),
            baselined: findings.iter().filter(|f| f.baselined).count(),
            gone: known.iter().filter(|k| !matched.contains(**k)).count(),
        }
    }
}
