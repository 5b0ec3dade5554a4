//! `--format sarif`: SARIF 2.1.0 for code scanning. One run; the rules are the policies
//! that ran (descriptions and help from their metadata); each result sits on the unit
//! file, relative to the root (`uriBaseId` ROOT), at the line of the setting; waived
//! findings are suppressions carrying their reason; fingerprints are the baseline's
//! (policy, rule, scope, subject), so a moved line or reworded message stays one alert.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{PolicyInfo, Report};
use crate::finding::{Finding, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where a reader learns what the tool is. The project has no public home page yet;
/// `homepage` in Cargo.toml overrides this at build time.
fn information_uri() -> &'static str {
    option_env!("CARGO_PKG_HOMEPAGE")
        .filter(|h| !h.is_empty())
        .unwrap_or("https://attack.mitre.org/techniques/T1053/006/")
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` scale: critical > 9, high 7–8.9, medium 4–6.9, low < 4.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.5",
    }
}

/// SARIF asks that messages be sentences.
fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) { s.to_string() } else { format!("{s}.") }
}

/// `unit-dir-writable` → `UnitDirWritable`: SARIF's friendly rule name.
fn pascal(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn rule(p: &PolicyInfo) -> Value {
    let web: Vec<&String> = p.references.iter().filter(|r| r.starts_with("https://")).collect();
    let help_uri = web
        .first()
        .map(|s| (*s).clone())
        .or_else(|| p.mitigations.first().map(|m| format!("https://attack.mitre.org/mitigations/{m}/")))
        .unwrap_or_else(|| information_uri().into());
    let mut help = String::new();
    if !p.remediation.is_empty() {
        help.push_str(&format!("Remediation: {}\n", sentence(&p.remediation)));
    }
    for r in &p.references {
        help.push_str(&format!("See: {r}\n"));
    }
    if help.is_empty() {
        help = format!("Run `timerguard explain {}`.", p.id);
    }
    let mut markdown = String::new();
    if !p.remediation.is_empty() {
        markdown.push_str(&format!("**Remediation:** {}\n\n", sentence(&p.remediation)));
    }
    for r in &p.references {
        let item = if r.starts_with("https://") { format!("<{r}>") } else { r.clone() };
        markdown.push_str(&format!("- {item}\n"));
    }
    markdown.push_str(&format!("\n`timerguard explain {}` shows the rationale and parameters.", p.id));
    let mut tags = vec!["security".to_string()];
    tags.extend(p.mitigations.iter().cloned());
    tags.extend(p.tags.iter().cloned());
    let doc = if p.doc.trim().is_empty() { p.title.clone() } else { p.doc.replace('\n', " ") };
    json!({
        "id": p.id,
        "name": pascal(&p.name),
        "shortDescription": { "text": sentence(&p.title) },
        "fullDescription": { "text": sentence(&doc) },
        "help": { "text": help.trim_end(), "markdown": markdown.trim_start() },
        "helpUri": help_uri,
        "defaultConfiguration": { "level": level(p.severity) },
        "properties": {
            "tags": tags,
            "precision": "high",
            "security-severity": security_severity(p.severity),
            "problem.severity": match level(p.severity) { "note" => "recommendation", l => l },
        },
    })
}

/// One result; `base`: URIs are relative to ROOT; `compared`: a baseline was applied.
fn result(f: &Finding, rule_index: Option<usize>, base: bool, compared: bool) -> Value {
    let fix = f.fix.as_ref().map(|x| format!(" Fix: {}.", x.describe())).unwrap_or_default();
    let host = f.host.as_ref().map(|h| format!(" [{h}]")).unwrap_or_default();
    // Name the subject unless the message already does.
    let about = if f.message.contains(&f.subject) { String::new() } else { format!("{}: ", f.subject) };
    let mut v = json!({
        "ruleId": f.policy,
        "level": level(f.severity),
        "message": { "text": format!("{about}{}{fix}{host}", sentence(&f.message)) },
        "partialFingerprints": { "timerguard/v1": f.fingerprint() },
        "properties": {
            "rule": f.rule,
            "severity": f.severity.as_str(),
            "subject": f.subject,
            "security-severity": security_severity(f.severity),
        },
    });
    let m = v.as_object_mut().expect("json! object");
    if let Some(i) = rule_index {
        m.insert("ruleIndex".into(), json!(i));
    }
    // Every result needs a location (GitHub refuses ones without); a finding with no
    // file is located at the root itself.
    let uri = f.path.as_deref().map(|p| p.trim_start_matches('/')).filter(|p| !p.is_empty()).unwrap_or(".");
    let mut artifact = json!({ "uri": uri_escape(uri) });
    if base {
        artifact["uriBaseId"] = json!("ROOT");
    }
    let mut physical = json!({ "artifactLocation": artifact });
    if let Some(l) = f.line.filter(|l| *l > 0) {
        physical["region"] = json!({ "startLine": l });
    }
    m.insert("locations".into(), json!([{ "physicalLocation": physical }]));
    if let Some(w) = f.waiver.as_ref().filter(|_| f.waived()) {
        m.insert(
            "suppressions".into(),
            json!([{ "kind": "external", "status": "accepted",
                     "justification": format!("{} (waived until {})", w.reason, w.expires) }]),
        );
    }
    if compared {
        m.insert("baselineState".into(), json!(if f.baselined { "unchanged" } else { "new" }));
    }
    let props = m.get_mut("properties").and_then(Value::as_object_mut).expect("json! object");
    if let Some(s) = &f.scope {
        props.insert("scope".into(), json!(s));
    }
    if let Some(h) = &f.host {
        props.insert("host".into(), json!(h));
    }
    if let Some(x) = &f.fix {
        props.insert("fix".into(), json!(x));
    }
    v
}

/// Percent-encodes what may not appear raw in a relative URI reference (RFC 3986).
fn uri_escape(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `file:///abs/root/` for `originalUriBaseIds`.
fn dir_uri(root: &str) -> String {
    let abs = std::fs::canonicalize(root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| root.into());
    let mut u = format!("file://{}", uri_escape(&abs));
    if !u.ends_with('/') {
        u.push('/');
    }
    u
}

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = r.policies.iter().map(rule).collect();
    // One root: results are relative to it. Several hosts: relative URIs, host in properties.
    let root = match r.hosts.as_slice() {
        [h] => h.root.clone(),
        _ => None,
    };
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| result(f, r.policies.iter().position(|p| p.id == f.policy), root.is_some(), r.baseline.is_some()))
        .collect();
    let notifications: Vec<Value> = r
        .errors
        .iter()
        .map(|e| {
            json!({
                "level": "error",
                "message": { "text": sentence(&e.to_string()) },
                "descriptor": { "id": e.policy },
            })
        })
        .collect();
    let mut run = json!({
        "tool": { "driver": {
            "name": "timerguard",
            "version": env!("CARGO_PKG_VERSION"),
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "informationUri": information_uri(),
            "rules": rules,
        } },
        "invocations": [{
            "executionSuccessful": r.errors.is_empty(),
            "toolExecutionNotifications": notifications,
        }],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "result": r.summary.result,
            "hosts": r.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
        },
    });
    if let Some(root) = &root {
        run["originalUriBaseIds"] = json!({ "ROOT": {
            "uri": dir_uri(root),
            "description": { "text": "The root filesystem that was checked." },
        } });
    }
    let doc = json!({ "$schema": SCHEMA, "version": "2.1.0", "runs": [run] });
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::from)?;
    writeln!(out)
}
