//! `--format github`: GitHub Actions workflow commands, one annotation per active finding
//! on its file and line (paths relative to the root, as checked out in an image repo).

use std::io::{self, Write};

use super::Report;
use crate::finding::Severity;

/// Escaping of workflow-command data and properties (actions/toolkit `command.ts`).
fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn prop(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    for f in r.findings.iter().filter(|f| f.active()) {
        let level = match f.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some(p) = &f.path {
            props.push(format!("file={}", prop(p.trim_start_matches('/'))));
            if let Some(l) = f.line {
                props.push(format!("line={l}"));
            }
        }
        props.push(format!("title={}", prop(&format!("{} {} ({})", f.policy, f.name, f.severity.as_str()))));
        let fix = f.fix.as_ref().map(|x| format!(" Fix: {}", x.describe())).unwrap_or_default();
        let host = f.host.as_ref().map(|h| format!(" [{h}]")).unwrap_or_default();
        writeln!(out, "::{level} {}::{}", props.join(","), data(&format!("{}: {}{fix}{host}", f.subject, f.message)))?;
    }
    Ok(())
}
