//! The `const POLICY = #{ … }` header, read from the compiled AST without running the
//! script (it must be a literal), and validated: id shape, kebab name, severity, known
//! targets and mitigations, parameter defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// The subjects a policy's `check(subject, ctx)` is called with.
pub const TARGETS: [&str; 11] =
    ["timer", "unit", "entry", "unit_dir", "user", "linger", "generator", "path", "file", "drift", "loaded"];

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
    /// Which subjects `check` is called with at all, decided natively before any script
    /// runs (a policy about system timers need not be called for 30,000 user timers).
    /// It only says what `check` itself would return nothing for.
    #[serde(default)]
    pub filter: Filter,
}

/// A native pre-filter (docs/policy-api.md). Each key set must match; unset keys match all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Scope kinds (`system`, `global`, `user`): timer, unit, entry, unit_dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// Timers that will (or will not) run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will_run: Option<bool>,
    /// Timers some code of which runs as root (or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Entry kinds (`unit`, `dropin-dir`, `dropin`, `dependency-dir`, `dependency`, `ignored`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Vec<String>>,
    /// Unit types (`service`, `timer`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_type: Option<Vec<String>>,
    /// Paths on a unit directory's chain (or not): path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_chain: Option<bool>,
    /// These paths only: a list, or `"params.NAME"` for a list parameter: path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<serde_json::Value>,
    /// The subject's own metadata is group/other-writable (not a symlink: its mode means
    /// nothing) or owned by neither root nor the account it belongs to (an entry's scope
    /// owner, a path's `user_owners`): entry, path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writable_or_foreign: Option<bool>,
    /// Units with at least one drop-in (suppressed ones included): unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_dropins: Option<bool>,
    /// Units whose fragment is a symlink (a linked unit file, S5): unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked: Option<bool>,
    /// Timers that, or whose service, a boot reason marked `injected` pulls in: timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected: Option<bool>,
    /// Timers with no valid trigger or with an invalid trigger line: timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_problems: Option<bool>,
    /// Timers whose `Unit=` loads and is not another timer: timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_loads: Option<bool>,
    /// Timers a command of which passes code inline (`PROG -c|-e|-lc|-ec CODE…`): timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_code: Option<bool>,
    /// Timers whose service names a user: in the system scope, `runs_as.user` is not
    /// `root`; elsewhere, the service unit's `[Service]` has a `User=` line: timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets_user: Option<bool>,
    /// Timers whose `activation.state` is one of these: timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Vec<String>>,
    /// Timers that never elapse (or do): timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub never_elapses: Option<bool>,
}

/// Filter keys each target's subjects carry.
const FILTER_KEYS: [(&str, &[&str]); 4] = [
    (
        "timer",
        &[
            "scope",
            "will_run",
            "privileged",
            "injected",
            "trigger_problems",
            "service_loads",
            "inline_code",
            "sets_user",
            "state",
            "never_elapses",
        ],
    ),
    ("unit", &["scope", "unit_type", "has_dropins", "linked"]),
    ("entry", &["scope", "kind", "writable_or_foreign"]),
    ("path", &["unit_chain", "path", "writable_or_foreign"]),
];

fn check_filter(m: &PolicyMeta) -> Result<(), String> {
    let f = &m.filter;
    // The keys set are the ones that serialise (every field skips `None`): a new key
    // needs no second list here.
    let set: Vec<String> = match serde_json::to_value(f) {
        Ok(serde_json::Value::Object(o)) => o.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for k in &set {
        let k = k.as_str();
        let ok = m.targets.iter().all(|t| {
            FILTER_KEYS.iter().find(|(tt, _)| tt == t).is_some_and(|(_, keys)| keys.contains(&k))
                || (k == "scope" && t == "unit_dir")
        });
        if !ok {
            return Err(format!("filter key {k:?} does not apply to every target ({})", m.targets.join(", ")));
        }
    }
    if let Some(p) = &f.path {
        let ok = match p {
            serde_json::Value::Array(a) => a.iter().all(serde_json::Value::is_string),
            serde_json::Value::String(s) => {
                s.strip_prefix("params.").is_some_and(|n| m.params.get(n).is_some_and(serde_json::Value::is_array))
            }
            _ => false,
        };
        if !ok {
            return Err("filter path must be a list of paths or \"params.NAME\" naming a list parameter".into());
        }
    }
    Ok(())
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
    check_filter(m)?;
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
