//! The `const POLICY = #{ … }` header, read from the compiled AST without running the
//! script (it must be a literal), and validated: id shape, kebab name, severity, known
//! targets and mitigations, parameter defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// The subjects a policy's `check(subject, ctx)` is called with.
pub const TARGETS: [&str; 8] = ["timer", "unit", "entry", "unit_dir", "user", "linger", "generator", "path"];

/// A policy's declared metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    /// Stable code: two or more capitals then three or more digits (`TG101`, `ACME001`).
    pub id: String,
    /// kebab-case name of the bad state (`unit-dir-writable`).
    pub name: String,
    pub title: String,
    pub severity: Severity,
    #[serde(default)]
    pub mitigations: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub remediation: String,
    #[serde(default)]
    pub references: Vec<String>,
    /// Parameter defaults; the config may override only these keys.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// Validates the header; returns what is wrong.
pub fn validate(m: &PolicyMeta) -> Result<(), String> {
    let caps = m.id.chars().take_while(char::is_ascii_uppercase).count();
    let digits = m.id.len() - caps;
    if caps < 2 || digits < 3 || !m.id[caps..].chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("id {:?} must be capitals then digits, like TG101", m.id));
    }
    let kebab = !m.name.is_empty()
        && m.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !m.name.starts_with('-')
        && !m.name.ends_with('-');
    if !kebab {
        return Err(format!("name {:?} must be kebab-case", m.name));
    }
    if m.title.trim().is_empty() {
        return Err("title is empty".into());
    }
    if let Some(t) = m.targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        return Err(format!("unknown target {t:?} (known: {})", TARGETS.join(", ")));
    }
    if let Some(x) = m
        .mitigations
        .iter()
        .find(|x| !(x.starts_with('M') && x.len() == 5 && x[1..].chars().all(|c| c.is_ascii_digit())))
    {
        return Err(format!("mitigation {x:?} is not an ATT&CK mitigation id like M1022"));
    }
    Ok(())
}

/// The `//!` lines at the top of a policy: its rationale, shown by `explain`.
pub fn doc_comment(source: &str) -> String {
    source
        .lines()
        .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}
