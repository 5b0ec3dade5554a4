//! `--format junit`: one test suite per policy that ran, one test case per policy ×
//! subject (failed with its findings, skipped when waived; a policy with no finding has
//! one passing case), for CI test-report viewers.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::Report;
use crate::finding::Finding;

fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || *c >= ' ')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The case name: the subject, and its host in a fleet report.
fn case_name(f: &Finding) -> String {
    match &f.host {
        Some(h) => format!("{h}: {}", f.subject),
        None => f.subject.clone(),
    }
}

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut by_policy: BTreeMap<&str, BTreeMap<String, Vec<&Finding>>> = BTreeMap::new();
    for p in &r.policies {
        by_policy.entry(p.id.as_str()).or_default();
    }
    for f in &r.findings {
        by_policy.entry(f.policy.as_str()).or_default().entry(case_name(f)).or_default().push(f);
    }
    let total: usize = by_policy.values().map(|s| s.len().max(1)).sum();
    let failures = by_policy.values().flat_map(|s| s.values()).filter(|fs| fs.iter().any(|f| f.active())).count();
    let skipped = by_policy.values().flat_map(|s| s.values()).filter(|fs| fs.iter().all(|f| !f.active())).count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="timerguard" tests="{total}" failures="{failures}" errors="{}" skipped="{skipped}">"#,
        r.errors.len()
    )?;
    for (id, subjects) in &by_policy {
        let info = r.policies.iter().find(|p| p.id == *id);
        let name = info.map(|p| format!("{id} {}", p.name)).unwrap_or_else(|| (*id).to_string());
        let fails = subjects.values().filter(|fs| fs.iter().any(|f| f.active())).count();
        let skips = subjects.values().filter(|fs| fs.iter().all(|f| !f.active())).count();
        let errors: Vec<_> = r.errors.iter().filter(|e| e.policy == *id).collect();
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{fails}" errors="{}" skipped="{skips}">"#,
            esc(&name),
            subjects.len().max(1) + errors.len(),
            errors.len()
        )?;
        let class = esc(&name.replace(' ', "."));
        if subjects.is_empty() && errors.is_empty() {
            writeln!(out, r#"    <testcase classname="{class}" name="no findings"/>"#)?;
        }
        for e in errors {
            writeln!(
                out,
                r#"    <testcase classname="{class}" name="policy run"><error message="{}"/></testcase>"#,
                esc(&e.to_string())
            )?;
        }
        for (subject, fs) in subjects {
            writeln!(out, r#"    <testcase classname="{class}" name="{}">"#, esc(subject))?;
            let active: Vec<_> = fs.iter().filter(|f| f.active()).collect();
            if active.is_empty() {
                let w = match fs[0].waiver.as_ref().filter(|_| fs[0].waived()) {
                    Some(w) => format!("waived: {} (until {})", w.reason, w.expires),
                    None => "baselined: recorded in the --baseline file".into(),
                };
                writeln!(out, r#"      <skipped message="{}"/>"#, esc(&w))?;
            } else {
                let first = active[0];
                let body: Vec<String> = active
                    .iter()
                    .map(|f| {
                        let loc = f.location().map(|l| format!("{l}: ")).unwrap_or_default();
                        let fix = f.fix.as_ref().map(|x| format!(" [fix: {}]", x.describe())).unwrap_or_default();
                        format!("{loc}{} ({}): {}{fix}", f.rule, f.severity.as_str(), f.message)
                    })
                    .collect();
                writeln!(
                    out,
                    r#"      <failure type="{}" message="{}">{}</failure>"#,
                    first.severity.as_str(),
                    esc(&first.message),
                    esc(&body.join("\n"))
                )?;
            }
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}
