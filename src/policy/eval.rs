//! Evaluates policies over the facts: each policy's `check` over the subjects of its
//! targets in parallel (rayon), `check_host` once. A policy that fails or breaks a limit
//! stops at its first error, which is reported with the file and line:column; the
//! other policies' findings are unaffected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rayon::prelude::*;
use rhai::{CallFnOptions, Dynamic, EvalAltResult, Scope};
use serde::Serialize;

use super::api::ScriptFinding;
use super::bind::targets::{self, Ctx, HostObj};
use super::bind::{HostView, Params, Subject};
use super::engine::{self, Limits};
use super::{Policy, PolicySet};
use crate::finding::Finding;
use crate::model::Host;

/// A policy that failed at run time (exit 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PolicyRunError {
    pub policy: String,
    pub origin: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The subject it failed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The host, in reports that cover several (fleet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl std::fmt::Display for PolicyRunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}:{}:{}): {}", self.policy, self.origin, self.line, self.col, self.message)?;
        if let Some(s) = &self.subject {
            write!(f, " [subject {s}]")?;
        }
        if let Some(h) = &self.host {
            write!(f, " [host {h}]")?;
        }
        Ok(())
    }
}

/// The outcome of evaluating a policy set.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub errors: Vec<PolicyRunError>,
}

/// Runs `policies` over `host`. `params` gives each policy's effective parameters.
pub fn evaluate(
    set: &PolicySet,
    policies: &[&Policy],
    host: &Arc<Host>,
    params: &dyn Fn(&Policy) -> serde_json::Value,
    limits: &Limits,
) -> Evaluation {
    let hv = Arc::new(HostView::new(Arc::clone(host)));
    let mut cache: HashMap<&str, Arc<Vec<Subject>>> = HashMap::new();
    // How many of the remaining policies still need each target's subjects: a cache
    // entry is dropped after its last use.
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for p in policies.iter().filter(|p| p.has_check) {
        for t in &p.meta.targets {
            *uses.entry(t.as_str()).or_default() += 1;
        }
    }
    let mut out = Evaluation::default();
    for p in policies {
        let ctx = Ctx { params: Params::new(&p.meta.id, &params(p)), hv: Arc::clone(&hv) };
        let engine = set.engine_for(p);
        let deadline = Instant::now() + limits.deadline;
        let failed = AtomicBool::new(false);
        let found: Mutex<Vec<Finding>> = Mutex::new(Vec::new());
        let first_err: Mutex<Option<PolicyRunError>> = Mutex::new(None);
        let call = |fname: &str, subject: Dynamic, s: &Subject| {
            if failed.load(Ordering::Relaxed) {
                return;
            }
            engine::arm(deadline, &p.id_arc);
            let mut sc = Scope::new();
            let r = engine.call_fn_with_options::<Dynamic>(
                CallFnOptions::new().eval_ast(p.imports),
                &mut sc,
                &p.call_ast,
                fname,
                (subject, Dynamic::from(ctx.clone())),
            );
            let res = r.map_err(|e| *e).and_then(|v| collect(v, p, s));
            match res {
                Ok(mut f) => found.lock().unwrap_or_else(PoisonError::into_inner).append(&mut f),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    let (mut line, mut col, message) = locate(&e);
                    if line == 0 {
                        // No position from Rhai (limit errors): point at the entry function.
                        if let Some((_, l, c)) = p.entry_pos.iter().find(|(n, ..)| *n == fname) {
                            (line, col) = (*l, *c);
                        }
                    }
                    let err = PolicyRunError {
                        policy: p.meta.id.clone(),
                        origin: p.origin.to_string(),
                        line,
                        col,
                        message,
                        subject: Some(s.label.clone()),
                        host: None,
                    };
                    first_err.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(err);
                }
            }
        };
        if p.has_check_host {
            let host_subject =
                Subject { fact: Dynamic::UNIT, label: "host".into(), path: None, line: None, scope: None };
            call("check_host", Dynamic::from(HostObj(Arc::clone(&hv))), &host_subject);
        }
        if p.has_check {
            for t in &p.meta.targets {
                let subs = cache.entry(t.as_str()).or_insert_with(|| Arc::new(subjects_of(&hv, t))).clone();
                subs.par_iter().for_each(|s| call("check", s.fact.clone(), s));
                let left = uses.entry(t.as_str()).or_default();
                *left = left.saturating_sub(1);
                if *left == 0 {
                    cache.remove(t.as_str());
                }
            }
        }
        out.findings.extend(found.into_inner().unwrap_or_else(PoisonError::into_inner));
        out.errors.extend(first_err.into_inner().unwrap_or_else(PoisonError::into_inner));
    }
    out.findings.sort_by(|a, b| {
        (b.severity, &a.policy, &a.scope, &a.subject, &a.rule, &a.path, a.line)
            .cmp(&(a.severity, &b.policy, &b.scope, &b.subject, &b.rule, &b.path, b.line))
    });
    out.findings.dedup();
    out
}

/// Every subject of a target: each scope's, or the host's.
fn subjects_of(hv: &Arc<HostView>, target: &str) -> Vec<Subject> {
    if !targets::SCOPE_TARGETS.contains(&target) {
        return targets::host_subjects(hv, target);
    }
    let per_scope: Vec<Vec<Subject>> = hv
        .scopes
        .par_iter()
        .map(|sv| {
            let mut v = Vec::new();
            targets::scope_subjects(hv, sv, target, &mut v);
            v
        })
        .collect();
    per_scope.into_iter().flatten().collect()
}

/// The innermost error's position and message (errors inside functions are wrapped).
fn locate(e: &EvalAltResult) -> (usize, usize, String) {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => locate(inner),
        EvalAltResult::ErrorTerminated(v, pos) => (
            pos.line().unwrap_or(0),
            pos.position().unwrap_or(0),
            format!("stopped: {}", v.clone().into_string().unwrap_or_else(|_| "terminated".into())),
        ),
        other => {
            let pos = other.position();
            let mut msg = other.to_string();
            if let Some(i) = msg.rfind(" (line ") {
                msg.truncate(i);
            }
            (pos.line().unwrap_or(0), pos.position().unwrap_or(0), msg)
        }
    }
}

/// Converts a `check` result: `()`, a finding, or an array of findings.
fn collect(v: Dynamic, p: &Policy, s: &Subject) -> Result<Vec<Finding>, EvalAltResult> {
    let mut items = Vec::new();
    if v.is_unit() {
        return Ok(Vec::new());
    }
    if v.is_array() {
        for x in v.into_array().unwrap_or_default() {
            if !x.is_unit() {
                items.push(x);
            }
        }
    } else {
        items.push(v);
    }
    items
        .into_iter()
        .map(|x| {
            let type_name = x.type_name().to_string();
            let sf = x.try_cast::<ScriptFinding>().ok_or_else(|| {
                EvalAltResult::ErrorRuntime(
                    format!("check must return violation(…), an array of them, or (); got {type_name}").into(),
                    rhai::Position::NONE,
                )
            })?;
            Ok(Finding {
                policy: p.meta.id.clone(),
                name: p.meta.name.clone(),
                rule: sf.rule,
                severity: sf.severity.unwrap_or(p.meta.severity),
                message: sf.message,
                mitigations: p.meta.mitigations.clone(),
                scope: s.scope.as_deref().map(str::to_string),
                subject: sf.subject.unwrap_or_else(|| s.label.clone()),
                // The subject's own line only goes with the subject's own path.
                line: if sf.path.is_some() { sf.line } else { sf.line.or(s.line) },
                path: sf.path.or_else(|| s.path.clone()),
                fix: sf.fix,
                fix_note: sf.fix_note,
                waiver: None,
                baselined: false,
                host: None,
            })
        })
        .collect()
}
