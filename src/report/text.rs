//! `--format text`: findings grouped by severity, each with its policy, subject, file and
//! line, message and the fix `fix` would propose; then waived and baselined counts, errors,
//! a table of hosts when the report covers several, and a one-line summary. Colour (ANSI)
//! only when the caller says stdout is a terminal that wants it.

use std::io::{self, Write};

use super::{Report, Summary};
use crate::finding::Severity;

/// ANSI styling, or nothing.
struct Paint(bool);

impl Paint {
    fn sev(&self, s: Severity, text: &str) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.wrap(code, text)
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    fn result(&self, r: &str) -> String {
        self.wrap(if r == "pass" { "1;32" } else { "1;31" }, &r.to_uppercase())
    }
}

pub fn render(r: &Report, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let paint = Paint(color);
    for sev in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info] {
        let group: Vec<_> = r.findings.iter().filter(|f| f.severity == sev && f.active()).collect();
        if group.is_empty() {
            continue;
        }
        writeln!(out, "{}", paint.sev(sev, &format!("{} ({})", sev.as_str().to_uppercase(), group.len())))?;
        for f in group {
            let loc = f.location().unwrap_or_default();
            let host = f.host.as_deref().map(|h| format!("{h}: ")).unwrap_or_default();
            let scope = f.scope.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
            write!(out, "  {host}{} {}/{}{}  {}", paint.wrap("1", &f.policy), f.name, f.rule, scope, f.subject)?;
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
            let host = f.host.as_deref().map(|h| format!("{h}: ")).unwrap_or_default();
            writeln!(out, "  {host}{} {}  {}: {}", f.policy, f.name, f.subject, w)?;
        }
        writeln!(out)?;
    }
    if !r.errors.is_empty() {
        writeln!(out, "{}", paint.wrap("1;31", &format!("POLICY ERRORS ({})", r.errors.len())))?;
        for e in &r.errors {
            writeln!(out, "  {e}")?;
        }
        writeln!(out)?;
    }
    if r.fleet {
        hosts_table(r, &paint, out)?;
    }
    if let Some(b) = &r.baseline {
        writeln!(out, "baseline: {} new, {} baselined, {} gone", b.new, b.baselined, b.gone)?;
    }
    let s = &r.summary;
    let n = r.hosts.len();
    let hosts = if r.fleet { format!("{n} host{}; ", if n == 1 { "" } else { "s" }) } else { String::new() };
    writeln!(
        out,
        "{hosts}{} finding{}{}; {} waived; {} policies; {} policy error{}; fail-on {}: {}",
        s.active,
        if s.active == 1 { "" } else { "s" },
        counts(s),
        s.waived,
        s.policies,
        s.policy_errors,
        if s.policy_errors == 1 { "" } else { "s" },
        s.fail_on.as_str(),
        paint.result(&s.result)
    )
}

fn counts(s: &Summary) -> String {
    let c: Vec<String> = s.by_severity.iter().rev().map(|(k, v)| format!("{v} {}", k.as_str())).collect();
    if c.is_empty() { String::new() } else { format!(" ({})", c.join(", ")) }
}

/// One line per host: its own result and counts (a fleet summary).
fn hosts_table(r: &Report, paint: &Paint, out: &mut dyn Write) -> io::Result<()> {
    let w = r.hosts.iter().map(|h| h.name.chars().count()).max().unwrap_or(4).max(4);
    writeln!(out, "HOSTS ({})", r.hosts.len())?;
    writeln!(
        out,
        "  {:<w$}  {:<6}  {:>4} {:>4} {:>4} {:>4} {:>4}  {:>6}  {:>6}",
        "host", "result", "crit", "high", "med", "low", "info", "waived", "errors"
    )?;
    for h in &r.hosts {
        let s = &h.summary;
        let n = |v: Severity| s.by_severity.get(&v).copied().unwrap_or(0);
        // Pad before painting: escape codes would break the alignment.
        let result = format!("{:<6}", s.result);
        writeln!(
            out,
            "  {:<w$}  {}  {:>4} {:>4} {:>4} {:>4} {:>4}  {:>6}  {:>6}",
            h.name,
            if s.result == "pass" { paint.wrap("32", &result) } else { paint.wrap("31", &result) },
            n(Severity::Critical),
            n(Severity::High),
            n(Severity::Medium),
            n(Severity::Low),
            n(Severity::Info),
            s.waived,
            s.policy_errors
        )?;
    }
    writeln!(out)
}
