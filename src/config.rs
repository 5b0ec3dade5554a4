//! The YAML configuration: policy selection, severity overrides, per-policy parameters,
//! and waivers. Unknown keys, unknown policies or parameters, and malformed waivers are
//! errors naming the file (and line:column where YAML knows it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::finding::{Finding, Severity, WaiverNote};
use crate::policy::{Policy, PolicySet};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Only these policies run: ids (`TG101`), id prefixes (`TG1`), names, tags or
    /// mitigations (`M1022`). Empty = all.
    #[serde(default)]
    pub select: Vec<String>,
    /// Never run these (same forms as `select`).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Severity overrides by policy id.
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
    /// Parameter overrides by policy id; only parameters the policy declares.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub waivers: Vec<Waiver>,
    /// Default for `--fail-on`.
    #[serde(default)]
    pub fail_on: Option<Severity>,
    /// Policies whose unsafe fixes `fix` may plan without `--unsafe`.
    #[serde(default)]
    pub unsafe_fixes: Vec<String>,
}

/// Accepts a known finding for a while, with a reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// Policy id or name.
    pub policy: String,
    /// Glob over the finding's subject (`/etc/systemd/system/legacy-*.timer`).
    pub subject: String,
    /// Why this is acceptable (required).
    pub reason: String,
    /// `YYYY-MM-DD`; after it the finding is active again (required).
    pub expires: String,
}

/// A configuration problem (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{path}{loc}: {message}", loc = location(*line, *col))]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

fn location(line: Option<usize>, col: Option<usize>) -> String {
    match (line, col) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl Config {
    /// Reads and parses a config file (structure only; see `validate`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |line, col, message| ConfigError { path: path.to_path_buf(), line, col, message };
        let text = std::fs::read_to_string(path).map_err(|e| err(None, None, format!("cannot read: {e}")))?;
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml::from_str(&text).map_err(|e| {
            let loc = e.location();
            err(
                loc.as_ref().map(|l| l.line()),
                loc.as_ref().map(|l| l.column()),
                e.to_string().split(" at line ").next().unwrap_or("").to_string(),
            )
        })
    }

    /// Checks the config against the loaded policies: ids, parameters, waivers.
    pub fn validate(&self, path: &Path, set: &PolicySet) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError { path: path.to_path_buf(), line: None, col: None, message };
        for id in self.severity.keys() {
            set.get(id).ok_or_else(|| err(format!("severity: no policy {id:?}")))?;
        }
        for (id, params) in &self.params {
            let p = set.get(id).ok_or_else(|| err(format!("params: no policy {id:?}")))?;
            for k in params.keys() {
                if !p.meta.params.contains_key(k) {
                    let known: Vec<&str> = p.meta.params.keys().map(String::as_str).collect();
                    return Err(err(format!(
                        "params.{id}: {} has no parameter {k:?} (known: {})",
                        p.meta.id,
                        known.join(", ")
                    )));
                }
            }
        }
        for id in &self.unsafe_fixes {
            set.get(id).ok_or_else(|| err(format!("unsafe_fixes: no policy {id:?}")))?;
        }
        for (i, w) in self.waivers.iter().enumerate() {
            let at = format!("waivers[{i}]");
            set.get(&w.policy).ok_or_else(|| err(format!("{at}: no policy {:?}", w.policy)))?;
            if w.reason.trim().is_empty() {
                return Err(err(format!("{at}: a waiver needs a reason")));
            }
            parse_date(&w.expires)
                .ok_or_else(|| err(format!("{at}: expires {:?} is not a YYYY-MM-DD date", w.expires)))?;
        }
        Ok(())
    }

    /// Whether a selector names a policy: its id or an id prefix (any case), its name, a
    /// tag, or an ATT&CK mitigation.
    pub fn matches(p: &Policy, k: &str) -> bool {
        let up = k.to_ascii_uppercase();
        !k.is_empty()
            && (p.meta.id.starts_with(&up)
                || p.meta.name == k
                || p.meta.tags.iter().any(|t| t == k)
                || p.meta.mitigations.contains(&up))
    }

    /// Whether a policy runs, given the config and the command-line `select`/`ignore`.
    pub fn selected(&self, p: &Policy, cli_select: &[String], cli_ignore: &[String]) -> bool {
        let select: Vec<&String> = self.select.iter().chain(cli_select).collect();
        (select.is_empty() || select.into_iter().any(|k| Self::matches(p, k)))
            && !self.ignore.iter().chain(cli_ignore).any(|k| Self::matches(p, k))
    }

    /// The effective parameters of a policy: its defaults, overridden by the config.
    pub fn params_for(&self, p: &Policy) -> serde_json::Value {
        let mut m: serde_json::Map<String, serde_json::Value> = p.meta.params.clone().into_iter().collect();
        if let Some(o) = self.params.get(&p.meta.id).or_else(|| self.params.get(&p.meta.name)) {
            m.extend(o.clone());
        }
        serde_json::Value::Object(m)
    }

    /// Applies severity overrides and waivers (an expired waiver is noted, not applied).
    pub fn apply(&self, findings: &mut [Finding], today: (i64, i64, i64)) {
        let globs: Vec<crate::glob::Glob> = self.waivers.iter().map(|w| crate::glob::Glob::new(&w.subject)).collect();
        for f in findings.iter_mut() {
            if let Some(s) = self.severity.get(&f.policy).or_else(|| self.severity.get(&f.name)) {
                f.severity = *s;
            }
            let w = self
                .waivers
                .iter()
                .zip(&globs)
                .find(|(w, g)| (w.policy == f.policy || w.policy == f.name) && g.matches(&f.subject))
                .map(|(w, _)| w);
            if let Some(w) = w {
                let expired = parse_date(&w.expires).is_none_or(|d| d < today);
                f.waiver = Some(WaiverNote { reason: w.reason.clone(), expires: w.expires.clone(), expired });
            }
        }
    }
}

/// `YYYY-MM-DD` → (y, m, d).
pub fn parse_date(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    (it.next().is_none() && (1..=12).contains(&m) && (1..=31).contains(&d) && s.len() == 10).then_some((y, m, d))
}

/// Today's date (UTC).
pub fn today() -> (i64, i64, i64) {
    let tm = crate::schedule::zone::now_utc();
    (tm.year, tm.mon + 1, tm.mday)
}

/// The commented default configuration `timerguard init` writes, generated from the
/// loaded policies' own metadata: every id, name and parameter in it exists (tested),
/// and each parameter example is that parameter's default.
pub fn default_text(set: &PolicySet) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(
        "# timerguard configuration. Every key is optional; this file lists them all with their\n\
         # defaults or an example. Check it with `timerguard --config FILE check`.\n\
         # Generated by `timerguard init` from the policies' metadata.\n\n\
         # Only run these policies: ids (TG101), id prefixes (TG1), names (unit-dir-writable),\n\
         # tags (permissions) or ATT&CK mitigations (M1022). Empty means all. A selector that\n\
         # matches no policy is an error.\n\
         select: []\n\n\
         # Never run these (same forms as select).\n\
         ignore: []\n\n\
         # Fail (exit 1) when a finding at or above this severity remains:\n\
         # info | low | medium | high | critical. `--fail-on` on the command line wins.\n\
         fail_on: high\n\n\
         # Severity overrides by policy id.\n\
         severity: {}\n",
    );
    if let Some(p) = set.policies.iter().find(|p| p.meta.severity != Severity::High) {
        let _ = writeln!(s, "#  {}: high", p.meta.id);
    }
    s.push_str("\n# Parameters by policy id (defaults shown; see `timerguard explain ID`).\nparams: {}\n");
    for p in set.policies.iter().filter(|p| !p.meta.params.is_empty()) {
        let _ =
            writeln!(s, "#  {}:{:w$}# {}", p.meta.id, "", p.meta.name, w = 24usize.saturating_sub(p.meta.id.len() + 1));
        for (k, v) in &p.meta.params {
            let _ = writeln!(s, "#    {k}: {}", flow(v));
        }
    }
    let unsafe_example = set.policies.iter().find(|p| p.meta.id == "TG201").or(set.policies.first());
    s.push_str(
        "\n# Policies whose unsafe fixes (disable, mask, quarantine, linger) `timerguard fix` plans\n\
         # without --unsafe (by id).\nunsafe_fixes: []\n",
    );
    if let Some(p) = unsafe_example {
        let _ = writeln!(s, "#  - {}", p.meta.id);
    }
    s.push_str(
        "\n# Accept a known finding for a while. reason and expires (YYYY-MM-DD) are required; an\n\
         # expired waiver stops applying and the finding says so.\nwaivers: []\n",
    );
    if let Some(p) = set.policies.iter().find(|p| p.meta.id == "TG102").or(set.policies.first()) {
        let _ = writeln!(
            s,
            "#  - policy: {}\n#    subject: /etc/systemd/system/legacy-*.timer\n#    reason: vendor appliance, replaced in Q3 (TICKET-123)\n#    expires: 2027-06-30",
            p.meta.id
        );
    }
    s
}

/// A JSON value as a YAML flow value, with a space after each comma.
fn flow(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}
