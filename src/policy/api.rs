//! What policies can call: `violation(rule, message)` and its builder methods, the fix
//! constructors (inert data), and small helpers. Documented in docs/policy-api.md.

use rhai::{Engine, EvalAltResult, Position};

use crate::finding::{Fix, Severity};

/// A finding as a script builds it; the evaluator adds policy metadata.
#[derive(Debug, Clone, Default)]
pub struct ScriptFinding {
    pub rule: String,
    pub message: String,
    pub subject: Option<String>,
    pub path: Option<String>,
    pub line: Option<u32>,
    pub fix: Option<Fix>,
    /// Why this fix (shown in the plan): e.g. why the file itself is not changed.
    pub fix_note: Option<String>,
    pub severity: Option<Severity>,
}

type Res<T> = Result<T, Box<EvalAltResult>>;

fn err<T>(msg: String) -> Res<T> {
    Err(EvalAltResult::ErrorRuntime(msg.into(), Position::NONE).into())
}

fn u32_of(v: i64, what: &str) -> Res<u32> {
    u32::try_from(v).or_else(|_| err(format!("{what} out of range: {v}")))
}

/// Registers the API on the engine.
pub fn register(e: &mut Engine) {
    e.register_type_with_name::<ScriptFinding>("Finding");
    e.register_fn("violation", |rule: &str, message: &str| ScriptFinding {
        rule: rule.into(),
        message: message.into(),
        ..ScriptFinding::default()
    });
    // A second `.fix(…)` adds to the first: one finding, one combined fix.
    e.register_fn("fix", |f: &mut ScriptFinding, x: Fix| {
        let mut f = f.clone();
        f.fix = Some(match f.fix.take() {
            Some(prev) => prev.and(x),
            None => x,
        });
        f
    });
    e.register_fn("fix", |f: &mut ScriptFinding, _: ()| f.clone());
    e.register_fn("note", |f: &mut ScriptFinding, s: &str| {
        let mut f = f.clone();
        f.fix_note = Some(s.into());
        f
    });
    e.register_fn("subject", |f: &mut ScriptFinding, s: &str| {
        let mut f = f.clone();
        f.subject = Some(s.into());
        f
    });
    e.register_fn("path", |f: &mut ScriptFinding, s: &str| {
        let mut f = f.clone();
        f.path = Some(s.into());
        f
    });
    e.register_fn("line", |f: &mut ScriptFinding, n: i64| -> Res<ScriptFinding> {
        let mut f = f.clone();
        f.line = Some(u32_of(n, "line")?);
        Ok(f)
    });
    e.register_fn("severity", |f: &mut ScriptFinding, s: &str| -> Res<ScriptFinding> {
        let mut f = f.clone();
        f.severity = Some(Severity::parse(s).ok_or_else(|| -> Box<EvalAltResult> {
            EvalAltResult::ErrorRuntime(format!("unknown severity {s:?}").into(), Position::NONE).into()
        })?);
        Ok(f)
    });
    e.register_get("rule", |f: &mut ScriptFinding| f.rule.clone());
    e.register_get("message", |f: &mut ScriptFinding| f.message.clone());

    e.register_type_with_name::<Fix>("Fix");
    e.register_fn("chmod", |path: &str, mode: i64| -> Res<Fix> {
        if !(0..=0o7777).contains(&mode) {
            return err(format!("chmod: mode out of range: {mode:o}"));
        }
        Ok(Fix::Chmod { path: path.into(), mode: crate::model::Mode(u32_of(mode, "mode")?) })
    });
    e.register_fn("chown", |path: &str, uid: i64, gid: i64| -> Res<Fix> {
        Ok(Fix::Chown { path: path.into(), uid: u32_of(uid, "uid")?, gid: u32_of(gid, "gid")? })
    });
    e.register_fn("disable_timer", |scope: &str, unit: &str| Fix::DisableTimer {
        scope: scope.into(),
        unit: unit.into(),
    });
    e.register_fn("mask_unit", |scope: &str, unit: &str| Fix::MaskUnit { scope: scope.into(), unit: unit.into() });
    e.register_fn("quarantine", |path: &str| Fix::Quarantine { path: path.into() });
    e.register_fn("set_linger", |user: &str, on: bool| Fix::SetLinger { user: user.into(), enable: on });
    e.register_fn("preset_disable", |unit: &str| Fix::PresetDisable { unit: unit.into() });
    e.register_fn("to_string", |f: &mut Fix| f.describe());
    e.register_fn("and", |f: &mut Fix, g: Fix| f.clone().and(g));

    // Helpers.
    e.register_fn("writable_by_others", |m: crate::model::FileMeta| -> bool {
        m.kind != crate::model::FileKind::Symlink && m.mode.0 & 0o022 != 0
    });
    e.register_fn("writable_by_others", |_: ()| false);
    e.register_fn("octal", |m: i64| format!("{m:04o}"));
    e.register_fn("basename", |p: &str| p.rsplit('/').next().unwrap_or(p).to_string());
    e.register_fn("dirname", |p: &str| crate::collect::root::parent(p).to_string());
    e.register_fn("glob_match", |pat: &str, s: &str| crate::glob::fnmatch(pat, s));
    // One native call for a list a script would loop over: each turn of a Rhai loop
    // costs about a microsecond, and TG403 asks 20 of them of every local unit.
    e.register_fn("starts_with_any", |s: &str, prefixes: rhai::Array| -> Res<bool> {
        let mut hit = false;
        for (i, p) in prefixes.iter().enumerate() {
            match p.read_lock::<rhai::ImmutableString>() {
                Some(p) => hit = hit || s.starts_with(p.as_str()),
                None => return err(format!("starts_with_any: item {i} is {}, not a string", p.type_name())),
            }
        }
        Ok(hit)
    });
    e.register_fn("parse_span", |s: &str| -> Res<i64> {
        crate::schedule::parse_timespan(s)
            .map(|u| i64::try_from(u).unwrap_or(i64::MAX))
            .or_else(|e| err(format!("parse_span: {e}")))
    });
    e.register_fn("format_span", |us: i64| crate::schedule::format::timespan(u64::try_from(us).unwrap_or(0)));
}
