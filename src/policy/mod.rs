//! Policies: loading and validating Rhai policy files (the built-in pack compiled into
//! the binary, plus `--policies DIR`), and evaluating them over the facts.

mod api;
mod areas;
pub mod bind;
pub(crate) mod builtin;
pub mod engine;
pub mod eval;
pub mod meta;
pub mod testcase;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Engine};

pub use eval::{Evaluation, PolicyRunError, Streamed, evaluate, evaluate_streaming, evaluate_user};
pub use meta::PolicyMeta;

/// The ids of the built-in pack, in order.
pub fn builtin_ids() -> Vec<&'static str> {
    builtin::POLICIES.iter().map(|(n, _)| *n).collect()
}

/// Where a policy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `policies/NAME` compiled into the binary.
    Builtin(&'static str),
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Builtin(n) => write!(f, "policies/{n} (built in)"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A compiled policy.
pub struct Policy {
    pub meta: PolicyMeta,
    pub doc: String,
    pub origin: Origin,
    pub ast: AST,
    /// What `check` runs against: the functions alone, so the top level (the `POLICY`
    /// map) is not rebuilt on each of a million calls — unless the policy imports
    /// modules, which only the top level loads.
    pub call_ast: AST,
    /// The policy imports modules: its top level runs before each call (imports live there).
    pub imports: bool,
    /// The source, compiled again per evaluating thread (`eval.rs`: no shared literals).
    pub source: Arc<str>,
    pub has_check: bool,
    pub has_check_host: bool,
    /// The id, shared with the thread-local log tag of the policy running there.
    pub id_arc: Arc<str>,
    /// Where `fn check` / `fn check_host` are defined (line, column): Rhai reports limit
    /// errors (operations, stack depth, sizes) without a position, so those point here.
    pub entry_pos: Vec<(&'static str, usize, usize)>,
}

/// Line and column (1-based) of `fn NAME(` in the source.
fn fn_position(source: &str, name: &str) -> Option<(usize, usize)> {
    source.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        (t.starts_with(&format!("fn {name}(")) || t.starts_with(&format!("fn {name} (")))
            .then(|| (i + 1, l.len() - t.len() + 1))
    })
}

/// Why the policy set cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{origin}:{line}:{col}: syntax error: {message}")]
    Compile { origin: Origin, line: usize, col: usize, message: String },
    #[error("{origin}: {message}")]
    Invalid { origin: Origin, message: String },
    #[error("cannot read policy directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
}

/// All policies of a run, with one engine per directory (imports resolve there).
pub struct PolicySet {
    pub policies: Vec<Policy>,
    /// Each directory's engine (`None`: the built-in pack's), and the getters registered
    /// on it for its policies (an engine built for another thread registers them too).
    pub engines: Vec<(Option<PathBuf>, Arc<Engine>, bind::Getters)>,
    /// What the engines were built with (evaluating threads build their own).
    pub limits: engine::Limits,
    pub log: engine::Log,
    /// Unique per load: evaluating threads key their own engines by it.
    pub id: usize,
    /// The thread that compiled the set: it evaluates with `engines` and each policy's
    /// `call_ast` (other threads compile their own; see `eval.rs`).
    pub home: std::thread::ThreadId,
}

static SET_IDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Compiles one policy source.
fn compile(engine: &Engine, origin: Origin, source: &str) -> Result<Policy, PolicyError> {
    let ast = engine.compile(source).map_err(|e| {
        let p = e.position();
        PolicyError::Compile {
            origin: origin.clone(),
            line: p.line().unwrap_or(0),
            col: p.position().unwrap_or(0),
            message: e.0.to_string(),
        }
    })?;
    let invalid = |message: String| PolicyError::Invalid { origin: origin.clone(), message };
    let header = ast
        .iter_literal_variables(true, false)
        .find(|(n, ..)| *n == "POLICY")
        .map(|(_, _, v)| v)
        .ok_or_else(|| invalid("no literal `const POLICY = #{ … }` header".into()))?;
    let meta: PolicyMeta = rhai::serde::from_dynamic(&header).map_err(|e| invalid(format!("POLICY header: {e}")))?;
    meta::validate(&meta).map_err(|m| invalid(format!("POLICY header: {m}")))?;
    let has = |name: &str, arity: usize| ast.iter_functions().any(|f| f.name == name && f.params.len() == arity);
    let (has_check, has_check_host) = (has("check", 2), has("check_host", 2));
    if !meta.targets.is_empty() && !has_check {
        return Err(invalid("declares targets but has no `fn check(subject, ctx)`".into()));
    }
    if meta.targets.is_empty() && !has_check_host {
        return Err(invalid("has neither targets with `check` nor `fn check_host(host, ctx)`".into()));
    }
    let id_arc: Arc<str> = Arc::from(meta.id.as_str());
    let imports = source.lines().any(|l| l.trim_start().starts_with("import "));
    let call_ast = if imports { ast.clone() } else { ast.clone_functions_only() };
    let entry_pos =
        ["check", "check_host"].iter().filter_map(|n| fn_position(source, n).map(|(l, c)| (*n, l, c))).collect();
    Ok(Policy {
        doc: meta::doc_comment(source),
        meta,
        origin,
        ast,
        call_ast,
        imports,
        source: Arc::from(source),
        has_check,
        has_check_host,
        id_arc,
        entry_pos,
    })
}

impl PolicySet {
    /// Loads the built-in pack (unless `builtin` is false) and every `*.rhai` in `dirs`.
    pub fn load(
        builtin: bool,
        dirs: &[PathBuf],
        limits: &engine::Limits,
        log: &engine::Log,
    ) -> Result<PolicySet, PolicyError> {
        let mut set = PolicySet {
            policies: Vec::new(),
            engines: Vec::new(),
            limits: limits.clone(),
            log: Arc::clone(log),
            id: SET_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            home: std::thread::current().id(),
        };
        if builtin {
            let e = uninterned(new_engine(limits, None, log), |e| {
                for (name, src) in builtin::POLICIES {
                    set.policies.push(compile(e, Origin::Builtin(name), src)?);
                }
                Ok(())
            })?;
            set.engines.push(with_getters(None, e, &set.policies));
        }
        for dir in dirs {
            let first = set.policies.len();
            let e = uninterned(new_engine(limits, Some(dir.clone()), log), |e| {
                for path in rhai_files(dir)? {
                    let src = std::fs::read_to_string(&path)
                        .map_err(|source| PolicyError::Dir { path: path.clone(), source })?;
                    set.policies.push(compile(e, Origin::File(path), &src)?);
                }
                Ok(())
            })?;
            set.engines.push(with_getters(Some(dir.clone()), e, &set.policies[first..]));
        }
        let mut seen = std::collections::BTreeMap::new();
        for p in &set.policies {
            if let Some(first) = seen.insert(p.meta.id.clone(), p.origin.clone()) {
                return Err(PolicyError::Invalid {
                    origin: p.origin.clone(),
                    message: format!("id {} is already used by {first}", p.meta.id),
                });
            }
        }
        Ok(set)
    }

    /// Compiles one policy from its source alone (no directory, no imports): what
    /// `load` does per file, for the fuzz target and for checking a policy in isolation.
    pub fn compile_source(name: &str, source: &str, limits: &engine::Limits) -> Result<Policy, PolicyError> {
        let e = new_engine(limits, None, &engine::Log::default());
        compile(&e, Origin::File(PathBuf::from(name)), source)
    }

    /// The directory a policy imports from (`None`: built in).
    pub fn dir_of(p: &Policy) -> Option<PathBuf> {
        match &p.origin {
            Origin::Builtin(_) => None,
            Origin::File(f) => f.parent().map(Path::to_path_buf),
        }
    }

    /// A new engine like the one that compiled the policies of `dir` (`None`: built in),
    /// for another thread: the same API and the same getters.
    pub fn engine_like(&self, dir: Option<PathBuf>) -> Engine {
        let mut e = new_engine(&self.limits, dir.clone(), &self.log);
        if let Some((.., g)) = self.engines.iter().find(|(d, ..)| *d == dir) {
            g.register(&mut e);
        }
        e
    }

    /// The engine that compiled a policy.
    pub fn engine_for(&self, p: &Policy) -> &Arc<Engine> {
        let dir = Self::dir_of(p);
        self.engines.iter().find(|(d, ..)| *d == dir).map_or_else(|| &self.engines[0].1, |(_, e, _)| e)
    }

    /// A policy by exact id or name (what the config file must use).
    pub fn get(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.meta.id == id || p.meta.name == id)
    }

    /// A policy by id in any case, or by name (what people type: `explain tg106`).
    pub fn find(&self, q: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.meta.id.eq_ignore_ascii_case(q) || p.meta.name.eq_ignore_ascii_case(q))
    }
}

/// Runs `f` (compiling) on `e` with Rhai's string interner off, and gives the engine back
/// with it on. Interning every identifier and literal of the pack cost 3.9 M of the
/// 25.5 M instructions `timerguard policies` takes (callgrind); for the calls it stays on,
/// where turning it off cost more per user than it saves here (docs/perf/README.md).
fn uninterned(mut e: Engine, f: impl FnOnce(&Engine) -> Result<(), PolicyError>) -> Result<Engine, PolicyError> {
    let interned = e.max_strings_interned();
    e.set_max_strings_interned(0);
    f(&e)?;
    e.set_max_strings_interned(interned);
    Ok(e)
}

/// A directory's entry of `PolicySet::engines`: the engine that compiled `policies`, with
/// the getters for the parameters and settings they read by name (`bind::Getters`).
fn with_getters(
    dir: Option<PathBuf>,
    mut e: Engine,
    policies: &[Policy],
) -> (Option<PathBuf>, Arc<Engine>, bind::Getters) {
    let params = policies.iter().flat_map(|p| p.meta.params.keys().map(String::as_str));
    let g = bind::Getters::of(params, policies.iter().map(|p| &*p.source));
    g.register(&mut e);
    (dir, Arc::new(e), g)
}

/// The engine with the whole API registered.
pub fn new_engine(limits: &engine::Limits, dir: Option<PathBuf>, log: &engine::Log) -> Engine {
    let mut e = engine::build(limits, dir, log);
    bind::register_all(&mut e);
    api::register(&mut e);
    e
}

/// `*.rhai` files directly in `dir`, sorted (modules to import live in subdirectories
/// or are named `_*.rhai`).
fn rhai_files(dir: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let rd = std::fs::read_dir(dir).map_err(|source| PolicyError::Dir { path: dir.to_path_buf(), source })?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "rhai")
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('_'))
        })
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in pack and a directory holding one policy, `OWN001`, with these
    /// `params` and `check` body (the directory lives as long as the set is used).
    fn pack_and_own(params: &str, body: &str) -> (tempfile::TempDir, PolicySet) {
        let dir = tempfile::tempdir().unwrap();
        let header = r#"const POLICY = #{ id: "OWN001", name: "own", title: "t", severity: "low", targets: ["timer"]"#;
        std::fs::write(dir.path().join("own.rhai"), format!("{header}{params} }};\nfn check(t, ctx) {{ {body} }}\n"))
            .unwrap();
        let limits = engine::Limits::default();
        let set = PolicySet::load(true, &[dir.path().to_path_buf()], &limits, &engine::Log::default()).unwrap();
        (dir, set)
    }

    /// The pack compiles with the interner off and every engine evaluates with it on, as
    /// a new engine has it (off for the calls, it costs more a user than it saved).
    #[test]
    fn engines_evaluate_with_the_interner_they_compiled_without() {
        let (_dir, set) = pack_and_own("", "()");
        let want = Engine::new().max_strings_interned();
        assert!(want > 0);
        assert_eq!(set.engines.len(), 2);
        for (_, e, _) in &set.engines {
            assert_eq!(e.max_strings_interned(), want);
        }
        assert!(set.get("OWN001").is_some() && set.get("TG202").is_some());
    }

    /// Each directory's engine keeps the getters of its own policies, found when they
    /// load (`engine_like` registers them on another thread's engine): a parameter the
    /// pack declares (TG202's `allowed_users`) and a setting it reads (TG403's
    /// `Description`) for the pack, a custom directory's own parameter for that one.
    #[test]
    fn each_directorys_engine_has_its_policies_getters() {
        let (_dir, set) = pack_and_own(", params: #{ mine: 1 }", "if t.settings.Timer == () { return (); } ()");
        assert_eq!(set.engines.len(), 2);
        for (d, _, g) in &set.engines {
            let names: Vec<&str> = g.names().collect();
            let has = |n: &str| names.contains(&n);
            match d {
                None => assert!(has("allowed_users") && has("Description") && !has("mine"), "{names:?}"),
                Some(_) => assert_eq!(names, ["mine", "Timer"]),
            }
        }
    }
}
