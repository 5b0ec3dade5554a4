//! Evaluates policies over the facts: each policy's `check` over the subjects of its
//! targets in parallel (rayon), `check_host` once. A policy that fails or breaks a limit
//! stops at its first error, which is reported with the file and line:column; the
//! other policies' findings are unaffected.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rhai::{CallFnOptions, Dynamic, EvalAltResult, Scope};
use serde::Serialize;

use super::api::ScriptFinding;
use super::bind::targets::{self, Ctx, HostObj};
use super::bind::view;
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

/// Run ids, for the per-thread copies of a run's script and context.
static RUN_IDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// Per thread: an engine of its own, and per run the policy compiled with it and its
    /// `ctx`. Registered functions, a compiled script's string literals and the context's
    /// parameters are all reference-counted; shared by two cores, every evaluation (every
    /// `for` loop fetches the array iterator) would bounce those counts between them, at a
    /// cost ten times the script's own (measured). Copies made by this thread touch only
    /// this thread's counts.
    static LOCAL: std::cell::RefCell<Local> = std::cell::RefCell::new(Local::default());
}

#[derive(Default)]
struct Local {
    engines: HashMap<(usize, Option<std::path::PathBuf>), Arc<rhai::Engine>>,
    runs: HashMap<usize, (Arc<rhai::Engine>, rhai::AST, Dynamic)>,
    /// The scope every call on this thread starts from, empty: Rhai rewinds it after a
    /// call (even a failed one), and keeping it keeps its two vectors' room (two
    /// allocations less per call).
    scope: Scope<'static>,
}

/// One policy's run: its context, the budget it has spent, its findings and first error.
struct Run<'a> {
    id: usize,
    p: &'a Policy,
    set: &'a PolicySet,
    hv: Arc<HostView>,
    params: serde_json::Value,
    /// Wall-clock time spent in this policy's calls (ns): the deadline is a budget over
    /// all its subjects, however their calls are interleaved with other policies'.
    spent: AtomicU64,
    budget: Duration,
    failed: AtomicBool,
    /// Shared by every run of one evaluation (`runs_of`): the findings are sorted
    /// together at the end, and one list is not copied into another there (32,500
    /// findings of a 10,000-user check, 12 MB, held twice at the run's peak of memory).
    found: Arc<Mutex<Vec<Finding>>>,
    first_err: Mutex<Option<PolicyRunError>>,
    /// The header's `filter`, with `"params.NAME"` resolved.
    paths: Option<std::collections::HashSet<String>>,
    /// Script calls made (for `TIMERGUARD_PROFILE`).
    calls: AtomicU64,
}

impl<'a> Run<'a> {
    /// Whether the policy's native pre-filter lets `s` through to `check`.
    fn admits(&self, s: &Subject) -> bool {
        // TIMERGUARD_NO_PREFILTER=1 calls `check` on every subject: the tests prove with
        // it that the built-in pack's filters change no finding.
        static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        // `filter.path` is not a speed-up but which paths the policy is about: always applied.
        let on_path = self.paths.as_ref().is_none_or(|ps| s.path.as_ref().is_some_and(|p| ps.contains(p)));
        if !on_path || *OFF.get_or_init(|| std::env::var_os("TIMERGUARD_NO_PREFILTER").is_some()) {
            return on_path;
        }
        let f = &self.p.meta.filter;
        let x = &s.props;
        let list = |want: &Option<Vec<String>>, got: Option<&str>| match (want, got) {
            (Some(w), Some(g)) => w.iter().any(|v| v == g),
            _ => true,
        };
        let flag = |want: Option<bool>, got: Option<bool>| match (want, got) {
            (Some(w), Some(g)) => w == g,
            _ => true,
        };
        list(&f.scope, x.scope_kind.map(crate::model::ScopeKind::as_str))
            && flag(f.will_run, x.will_run)
            && flag(f.privileged, x.privileged)
            && list(&f.kind, x.kind)
            && list(&f.unit_type, x.unit_type.as_deref())
            && flag(f.unit_chain, x.unit_chain)
            && flag(f.writable_or_foreign, x.writable_or_foreign)
            && flag(f.has_dropins, x.has_dropins)
            && flag(f.linked, x.linked)
            && flag(f.injected, x.injected)
            && flag(f.trigger_problems, x.trigger_problems)
            && flag(f.service_loads, x.service_loads)
            && flag(f.inline_code, x.inline_code)
            && flag(f.sets_user, x.sets_user)
            && list(&f.state, x.state.as_deref())
            && flag(f.never_elapses, x.never_elapses)
    }

    fn new(
        set: &'a PolicySet,
        p: &'a Policy,
        hv: &Arc<HostView>,
        params: &serde_json::Value,
        limits: &Limits,
        found: &Arc<Mutex<Vec<Finding>>>,
    ) -> Self {
        let paths = p.meta.filter.path.as_ref().map(|v| {
            let list = match v.as_str().and_then(|s| s.strip_prefix("params.")) {
                Some(name) => params.get(name).cloned().unwrap_or_default(),
                None => v.clone(),
            };
            list.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(String::from)).collect()
        });
        Run {
            id: RUN_IDS.fetch_add(1, Ordering::Relaxed),
            paths,
            calls: AtomicU64::new(0),
            p,
            set,
            hv: Arc::clone(hv),
            params: params.clone(),
            spent: AtomicU64::new(0),
            budget: limits.deadline,
            failed: AtomicBool::new(false),
            found: Arc::clone(found),
            first_err: Mutex::new(None),
        }
    }

    /// Calls `check`/`check_host` on one subject; the first error stops the policy.
    fn call(&self, fname: &str, subject: &Dynamic, s: &Subject) {
        self.call_to(fname, subject, s, None);
    }

    /// Like `call`, the findings going to `sink` when given (not to the run's own list).
    /// The subject is copied for the script only once the policy's filter admits it
    /// (most pairs of a policy and a subject end at the filter).
    fn call_to(&self, fname: &str, subject: &Dynamic, s: &Subject, sink: Option<&mut Vec<Finding>>) {
        if self.failed.load(Ordering::Relaxed) || !self.admits(s) {
            return;
        }
        let subject = subject.clone();
        let p = self.p;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let spent = Duration::from_nanos(self.spent.load(Ordering::Relaxed));
        let start = Instant::now();
        engine::arm(start + self.budget.saturating_sub(spent), &p.id_arc);
        view::enter(&self.hv);
        let r = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if !l.runs.contains_key(&self.id) {
                if l.runs.len() >= 256 {
                    l.runs.clear();
                    l.engines.clear();
                }
                let key = (self.set.id, PolicySet::dir_of(p));
                let (engine, ast) = if std::thread::current().id() == self.set.home {
                    // The thread that compiled the set: its engine and script are this
                    // thread's own already (one compilation of the pack less per run).
                    (Arc::clone(self.set.engine_for(p)), p.call_ast.clone())
                } else {
                    let engine = l
                        .engines
                        .entry(key.clone())
                        .or_insert_with(|| Arc::new(self.set.engine_like(key.1.clone())))
                        .clone();
                    let ast = self.local_ast(&engine);
                    (engine, ast)
                };
                let ctx = Dynamic::from(Ctx { params: Params::new(&self.p.meta.id, &self.params) });
                l.runs.insert(self.id, (engine, ast, ctx));
            }
            let l = &mut *l;
            let (engine, ast, ctx) = &l.runs[&self.id];
            let sc = &mut l.scope;
            sc.clear(); // already empty unless Rhai changed how it rewinds
            engine.call_fn_with_options::<Dynamic>(
                CallFnOptions::new().eval_ast(p.imports),
                sc,
                ast,
                fname,
                (subject, ctx.clone()),
            )
        });
        self.spent.fetch_add(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        match r.map_err(|e| *e).and_then(|v| collect(v, p, s)) {
            Ok(mut f) => match sink {
                Some(v) => v.append(&mut f),
                None => self.found.lock().unwrap_or_else(PoisonError::into_inner).append(&mut f),
            },
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
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
                self.first_err.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(err);
            }
        }
    }

    /// This thread's own compilation of the policy.
    fn local_ast(&self, engine: &rhai::Engine) -> rhai::AST {
        match engine.compile(self.p.source.as_ref()) {
            Ok(a) if self.p.imports => a,
            Ok(a) => a.clone_functions_only(),
            Err(_) => self.p.call_ast.clone(), // compiled once already; not reached
        }
    }

    fn targets(&self, pick: impl Fn(&str) -> bool) -> impl Iterator<Item = &str> {
        self.p.meta.targets.iter().map(String::as_str).filter(move |t| self.p.has_check && pick(t))
    }
}

fn finish(runs: Vec<Run<'_>>) -> Evaluation {
    let mut out = Evaluation::default();
    if crate::profile::on() {
        // Where a check's time goes, per policy: for policy authors and the benchmark doc.
        let mut lines: Vec<String> = runs
            .iter()
            .map(|r| {
                let ms = r.spent.load(Ordering::Relaxed) / 1_000_000;
                format!("profile {:<8} {:>8} calls {:>7} ms", r.p.meta.id, r.calls.load(Ordering::Relaxed), ms)
            })
            .collect();
        lines.sort();
        for l in lines {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{l}");
            }
        }
    }
    let found = runs.first().map(|r| Arc::clone(&r.found));
    for r in runs {
        out.errors.extend(r.first_err.into_inner().unwrap_or_else(PoisonError::into_inner));
    }
    if let Some(found) = found {
        out.findings = std::mem::take(&mut *found.lock().unwrap_or_else(PoisonError::into_inner));
    }
    crate::finding::sort_in_report_order(&mut out.findings);
    out.findings.dedup();
    out
}

fn is_scope_target(t: &str) -> bool {
    targets::SCOPE_TARGETS.contains(&t)
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
    let runs = runs_of(set, policies, &hv, params, limits);
    let mut cache: HashMap<&str, Arc<Vec<Subject>>> = HashMap::new();
    // How many of the remaining policies still need each target's subjects: a cache
    // entry is dropped after its last use.
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for r in &runs {
        for t in r.targets(|_| true) {
            *uses.entry(t).or_default() += 1;
        }
    }
    for r in &runs {
        if r.p.has_check_host {
            let host_subject = Subject {
                fact: Dynamic::UNIT,
                label: "host".into(),
                path: None,
                line: None,
                scope: None,
                props: Default::default(),
            };
            r.call("check_host", &Dynamic::from(HostObj(Arc::clone(&hv))), &host_subject);
        }
        for t in r.targets(|_| true) {
            let subs = cache.entry(t).or_insert_with(|| Arc::new(subjects_of(&hv, t))).clone();
            subs.par_iter().with_max_len(SUBJECTS_PER_TASK).for_each(|s| r.call("check", &s.fact, s));
            let left = uses.entry(t).or_default();
            *left = left.saturating_sub(1);
            if *left == 0 {
                cache.remove(t);
            }
        }
    }
    finish(runs)
}

/// The most subjects one parallel task checks (a script call is microseconds; most
/// are skipped by a policy's filter): small enough that a thread that comes late to a
/// policy's subjects finds some left to take (why: the task sizes in `collect`).
const SUBJECTS_PER_TASK: usize = 16;

/// Every subject of a target: each scope's, or the host's.
fn subjects_of(hv: &Arc<HostView>, target: &str) -> Vec<Subject> {
    if !is_scope_target(target) {
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

/// One run for each policy, all keeping their findings in one list.
fn runs_of<'a>(
    set: &'a PolicySet,
    policies: &[&'a Policy],
    hv: &Arc<HostView>,
    params: &dyn Fn(&Policy) -> serde_json::Value,
    limits: &Limits,
) -> Vec<Run<'a>> {
    let found = Arc::new(Mutex::new(Vec::new()));
    policies.iter().map(|p| Run::new(set, p, hv, &params(p), limits, &found)).collect()
}

/// The shared scopes read once, their view, and one run per policy over it.
fn shared_runs<'a>(
    set: &'a PolicySet,
    policies: &[&'a Policy],
    session: &crate::collect::Session,
    params: &dyn Fn(&Policy) -> serde_json::Value,
    limits: &Limits,
) -> (Arc<crate::model::Host>, Arc<HostView>, Vec<Run<'a>>) {
    let shared = Arc::new(session.host(Vec::new()));
    let hv = Arc::new(HostView::new(Arc::clone(&shared)));
    let runs = runs_of(set, policies, &hv, params, limits);
    (shared, hv, runs)
}

/// Checks one user scope's subjects; its paths move into the scope for the path pass.
fn check_user_scope(
    hv: &Arc<HostView>,
    runs: &[Run<'_>],
    mut out: crate::collect::ScopeOut,
) -> (Arc<view::ScopeView>, Vec<crate::model::Warning>) {
    out.scope.paths = out.paths;
    let sv = Arc::new(hv.scope_view(Arc::new(out.scope)));
    // Each target's subjects are built once for all the policies that take it.
    let mut built: Vec<(&str, Vec<Subject>)> = Vec::new();
    for r in runs {
        for t in r.targets(is_scope_target) {
            let k = match built.iter().position(|(bt, _)| *bt == t) {
                Some(k) => k,
                None => {
                    let mut subs = Vec::new();
                    targets::scope_subjects(hv, &sv, t, &mut subs);
                    built.push((t, subs));
                    built.len() - 1
                }
            };
            for s in &built[k].1 {
                r.call("check", &s.fact, s);
            }
        }
    }
    (sv, out.warnings)
}

/// What streaming leaves besides findings: the collection's warnings, the host's name.
pub struct Streamed {
    pub evaluation: Evaluation,
    pub warnings: Vec<crate::model::Warning>,
    pub scopes: usize,
    pub hostname: Option<String>,
    pub live: bool,
}

/// Like `evaluate` over `session.host(all user scopes)`, with the same result, but each
/// user scope is read, checked and dropped in turn: memory does not grow with the
/// number of users. Policies with `check_host` need the whole host; use `evaluate`.
pub fn evaluate_streaming(
    set: &PolicySet,
    policies: &[&Policy],
    session: &crate::collect::Session,
    params: &dyn Fn(&Policy) -> serde_json::Value,
    limits: &Limits,
) -> Streamed {
    // The accounts' areas (the same accounts as `shared.users`) are made on the other
    // thread while the shared view is built: with 10,000 accounts each takes
    // milliseconds, and nothing else is ready to run yet. The scope returns only once
    // its task has run, so the empty areas never outlive it.
    let mut areas = super::areas::Areas::new(&[]);
    let (shared, hv, runs) = rayon::in_place_scope(|s| {
        s.spawn(|_| areas = super::areas::Areas::new(&session.users));
        shared_runs(set, policies, session, params, limits)
    });
    // The shared scopes' subjects, and the host's (but paths: those need every scope),
    // each target's built once for every policy that takes it. Checked alongside the user
    // scopes (below), not before them: a policy's findings are sorted at the end.
    let check_shared = || {
        let mut built: HashMap<&str, Vec<Subject>> = HashMap::new();
        for r in &runs {
            for t in r.targets(|t| t != "path") {
                let subs = built.entry(t).or_insert_with(|| subjects_of(&hv, t));
                subs.par_iter().with_max_len(SUBJECTS_PER_TASK).for_each(|s| r.call("check", &s.fact, s));
            }
        }
    };
    let mut shared_chains = targets::Chains::default();
    for sv in &hv.scopes {
        shared_chains.add(&hv, sv);
    }
    let path_runs: Vec<usize> =
        (0..runs.len()).filter(|&i| runs[i].targets(|t| t == "path").next().is_some()).collect();
    // A path one user's scope alone can say anything of: checked with that scope and
    // dropped. Anything the shared scopes record or chain stays for the end.
    let alone =
        |p: &str| (!shared.paths.contains_key(p) && !shared_chains.contains(p)).then(|| areas.sole_owner(p)).flatten();
    // Each user scope: read, checked, and only its paths and warnings kept.
    let check_users = || {
        session.for_each_user(|out| {
            let (sv, warnings) = check_user_scope(&hv, &runs, out);
            let mut mine_found: Vec<(String, usize, Vec<Finding>)> = Vec::new();
            if path_runs.is_empty() {
                // No policy looks at paths: nothing of them needs keeping.
                return (BTreeMap::new(), targets::Chains::default(), warnings, mine_found);
            }
            let mut contributions = targets::Chains::of(&hv, &sv);
            let mut paths = sv.scope.paths.clone();
            if let Some(me) = sv.owner {
                let mine_chains = contributions.split_off(|p| alone(p) == Some(me));
                let (mine, rest): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    std::mem::take(&mut paths).into_iter().partition(|(p, _)| alone(p) == Some(me));
                paths = rest;
                for s in &targets::path_subjects(&mine, &mine_chains) {
                    for &i in &path_runs {
                        let mut f = Vec::new();
                        runs[i].call_to("check", &s.fact, s, Some(&mut f));
                        if !f.is_empty() {
                            mine_found.push((s.label.clone(), i, f));
                        }
                    }
                }
            }
            (paths, contributions, warnings, mine_found)
        })
    };
    let check_shared = || {
        check_shared();
        crate::profile::phase("shared scopes checked");
    };
    let ((), per_user) = rayon::join(check_shared, check_users);
    let mut all_paths = shared.paths.clone();
    let mut chains = shared_chains.clone();
    let mut warnings = Vec::new();
    let mut scopes = hv.scopes.len();
    let mut mine_found = Vec::new();
    for (paths, contributions, mut w, mut found) in per_user {
        all_paths.extend(paths);
        chains.merge(contributions);
        warnings.append(&mut w);
        mine_found.append(&mut found);
        scopes += 1;
    }
    if !path_runs.is_empty() {
        // Another scope named a path its owner's scope took for its own (a user unit
        // running a file in someone else's home): that path is checked here, with what
        // every scope says of it, and its owner's early answer is dropped.
        let mut taken: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for p in all_paths.keys().map(String::as_str).chain(chains.keys()) {
            if let Some(o) = alone(p) {
                taken.entry(o).or_default().push(p.to_string());
            }
        }
        let mut redo = std::collections::HashSet::new();
        for (o, ps) in taken {
            let Some(out) = session.user_scope(&shared.users[o]) else { continue };
            let mut scope = out.scope;
            scope.paths = out.paths;
            let sv = hv.scope_view(Arc::new(scope));
            let mut c = targets::Chains::of(&hv, &sv);
            let ps: std::collections::HashSet<String> = ps.into_iter().collect();
            for p in &ps {
                if let Some(m) = sv.scope.paths.get(p) {
                    all_paths.entry(p.clone()).or_insert_with(|| m.clone());
                }
            }
            chains.merge(c.split_off(|p| ps.contains(p)));
            redo.extend(ps);
        }
        for (p, i, f) in mine_found {
            if !redo.contains(&p) {
                runs[i].found.lock().unwrap_or_else(PoisonError::into_inner).extend(f);
            }
        }
        let subs = targets::path_subjects(&all_paths, &chains);
        crate::profile::phase(&format!("paths left for the end: {} ({} redone)", subs.len(), redo.len()));
        for &i in &path_runs {
            subs.par_iter().with_max_len(SUBJECTS_PER_TASK).for_each(|s| runs[i].call("check", &s.fact, s));
        }
    }
    Streamed {
        evaluation: finish(runs),
        warnings: session.warnings_with(warnings),
        scopes,
        hostname: shared.hostname.clone(),
        live: shared.live,
    }
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
            let type_name = x.type_name(); // a static name: nothing allocated unless it is needed
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

/// One user's findings, as `evaluate_streaming` finds them: the user scope's subjects
/// and the paths in the user's home and runtime directory (`watch` re-checks a user with it).
pub fn evaluate_user(
    set: &PolicySet,
    policies: &[&Policy],
    session: &crate::collect::Session,
    user: &crate::model::User,
    params: &dyn Fn(&Policy) -> serde_json::Value,
    limits: &Limits,
) -> Evaluation {
    let (_, hv, runs) = shared_runs(set, policies, session, params, limits);
    let Some(out) = session.user_scope(user) else { return finish(runs) };
    let (sv, _) = check_user_scope(&hv, &runs, out);
    let home = crate::collect::root::normalize(&user.home);
    let run = format!("/run/user/{}", user.uid);
    let mine: std::collections::BTreeMap<String, crate::model::FileMeta> = sv
        .scope
        .paths
        .iter()
        .filter(|(p, _)| (home != "/" && (**p == home || p.starts_with(&format!("{home}/")))) || p.starts_with(&run))
        .map(|(p, m)| (p.clone(), m.clone()))
        .collect();
    let chains = targets::Chains::of(&hv, &sv);
    let subs = targets::path_subjects(&mine, &chains);
    for r in &runs {
        if r.targets(|t| t == "path").next().is_some() {
            for s in &subs {
                r.call("check", &s.fact, s);
            }
        }
    }
    finish(runs)
}
