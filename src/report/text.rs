//! `--format text`: findings grouped by severity, each with its policy, subject, file and
//! line, message and the fix `fix` would propose; then errors and a one-line summary.

use std::io::{self, Write};

use super::Report;
use crate::finding::Severity;

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    for sev in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info] {
        let group: Vec<_> = r.findings.iter().filter(|f| f.severity == sev && !f.waived()).collect();
        if group.is_empty() {
            continue;
        }
        writeln!(out, "{} ({})", sev.as_str().to_uppercase(), group.len())?;
        for f in group {
            let loc = match (&f.path, f.line) {
                (Some(p), Some(l)) => format!("{p}:{l}"),
                (Some(p), None) => p.clone(),
                _ => String::new(),
            };
            let scope = f.scope.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
            write!(out, "  {} {}/{}{}  {}", f.policy, f.name, f.rule, scope, f.subject)?;
            if !loc.is_empty() && loc != f.subject {
                write!(out, "  {loc}")?;
            }
            writeln!(out)?;
            writeln!(out, "      {}", f.message)?;
            if let Some(w) = f.waiver.as_ref().filter(|w| w.expired) {
                writeln!(out, "      waiver expired on {} ({}): active again", w.expires, w.reason)?;
            }
            if let Some(x) = &f.fix {
                writeln!(out, "      fix{}: {}", if x.safe() { "" } else { " (unsafe)" }, x.describe())?;
            }
        }
        writeln!(out)?;
    }
    let waived: Vec<_> = r.findings.iter().filter(|f| f.waived()).collect();
    if !waived.is_empty() {
        writeln!(out, "WAIVED ({})", waived.len())?;
        for f in waived {
            let w = f.waiver.as_ref().map(|w| format!("{} (until {})", w.reason, w.expires)).unwrap_or_default();
            writeln!(out, "  {} {}  {}: {}", f.policy, f.name, f.subject, w)?;
        }
        writeln!(out)?;
    }
    if !r.errors.is_empty() {
        writeln!(out, "POLICY ERRORS ({})", r.errors.len())?;
        for e in &r.errors {
            writeln!(out, "  {e}")?;
        }
        writeln!(out)?;
    }
    let s = &r.summary;
    let counts: Vec<String> = s.by_severity.iter().rev().map(|(k, v)| format!("{v} {}", k.as_str())).collect();
    writeln!(
        out,
        "{} finding{}{}; {} waived; {} policies; {} policy error{}; fail-on {}: {}",
        s.active,
        if s.active == 1 { "" } else { "s" },
        if counts.is_empty() { String::new() } else { format!(" ({})", counts.join(", ")) },
        s.waived,
        s.policies,
        s.policy_errors,
        if s.policy_errors == 1 { "" } else { "s" },
        s.fail_on.as_str(),
        s.result.to_uppercase()
    )
}
