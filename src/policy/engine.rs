//! The one hardened Rhai engine. Limits bound operations, call depth, expression depth
//! and string/array/map sizes; a wall-clock deadline in `on_progress` stops what the
//! counters miss; `eval` is disabled; `print`/`debug` go to the run's log; `import` can
//! only load `.rhai` files from the importing policy's own directory.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};

/// Resource limits of policy evaluation.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Operations per call (0 = unlimited).
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Wall-clock budget of one policy over all its subjects.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 2_000_000,
            max_call_levels: 48,
            max_expr_depth: 64,
            max_function_expr_depth: 48,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            deadline: Duration::from_secs(10),
        }
    }
}

thread_local! {
    /// When the policy running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The policy running on this thread (for log lines).
    static CURRENT: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Sets the deadline and policy name for calls made on this thread.
pub fn arm(deadline: Instant, policy: &Arc<str>) {
    DEADLINE.with(|d| d.set(Some(deadline)));
    CURRENT.with(|c| {
        if c.borrow().as_ref() != Some(policy) {
            *c.borrow_mut() = Some(Arc::clone(policy));
        }
    });
}

/// The log of `print`/`debug` calls, one line per call, prefixed with the policy id.
pub type Log = Arc<Mutex<Vec<String>>>;

fn log_line(log: &Log, kind: &str, s: &str) {
    let who = CURRENT.with(|c| c.borrow().as_deref().unwrap_or("policy").to_string());
    log.lock().unwrap_or_else(PoisonError::into_inner).push(format!("{kind} [{who}] {s}"));
}

/// Builds the engine. `dir` is where `import` may load modules from (`None`: nowhere).
pub fn build(limits: &Limits, dir: Option<PathBuf>, log: &Log) -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(limits.max_operations);
    e.set_max_call_levels(limits.max_call_levels);
    e.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    e.set_max_string_size(limits.max_string_size);
    e.set_max_array_size(limits.max_array_size);
    e.set_max_map_size(limits.max_map_size);
    e.set_max_modules(32);
    e.disable_symbol("eval");
    e.on_progress(|ops| {
        // Checked every 256 operations; closures run by built-ins (`map`, `filter`, …)
        // and anything else the counter misses still meet the clock here.
        if ops % 256 != 0 {
            return None;
        }
        let late = DEADLINE.with(Cell::get).is_some_and(|d| Instant::now() > d);
        late.then(|| Dynamic::from("policy deadline exceeded"))
    });
    let l = Arc::clone(log);
    e.on_print(move |s| log_line(&l, "print", s));
    let l = Arc::clone(log);
    e.on_debug(move |s, _, pos| log_line(&l, "debug", &format!("{s} ({pos})")));
    e.set_module_resolver(DirResolver { dir });
    e
}

/// Resolves `import "x"` to `DIR/x.rhai` only: no absolute paths, no `..`.
struct DirResolver {
    dir: Option<PathBuf>,
}

impl ModuleResolver for DirResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let refuse = |why: &str| -> Box<EvalAltResult> {
            EvalAltResult::ErrorModuleNotFound(format!("{path} ({why})"), pos).into()
        };
        let Some(dir) = &self.dir else { return Err(refuse("built-in policies cannot import")) };
        let p = std::path::Path::new(path);
        if p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(refuse("imports must stay inside the policy directory"));
        }
        let file = format!("{path}.rhai");
        // Not ErrorModuleNotFound: rhai replaces that one's text with the bare path.
        let text = read_beneath(dir, &file).map_err(|e| -> Box<EvalAltResult> {
            EvalAltResult::ErrorRuntime(format!("import {path} ({}): {e}", dir.join(&file).display()).into(), pos)
                .into()
        })?;
        let in_module = |e: Box<EvalAltResult>| -> Box<EvalAltResult> {
            EvalAltResult::ErrorInModule(path.to_string(), e, pos).into()
        };
        let mut ast = engine.compile(&text).map_err(|e| in_module(e.into()))?;
        ast.set_source(dir.join(&file).display().to_string());
        let m = Module::eval_ast_as_new(rhai::Scope::new(), &ast, engine).map_err(in_module)?;
        Ok(m.into())
    }
}

/// Largest module file read.
const MODULE_MAX: u64 = 1 << 20;

/// Reads `dir/name` without following any symlink and without leaving `dir`
/// (confined, no symlink followed: `rootfd::open_confined`): a module linked out of the policy
/// directory is refused, not read. Regular files only, capped.
fn read_beneath(dir: &std::path::Path, name: &str) -> std::io::Result<String> {
    use nix::fcntl::OFlag;
    use std::io::Read as _;
    let d = std::fs::File::open(dir)?;
    // Beneath the directory: an absolute name or `..` is refused, not clamped.
    if name.starts_with('/') || name.split('/').any(|c| c == "..") {
        return Err(std::io::Error::other("outside the policy directory"));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let fd =
        crate::collect::rootfd::open_confined(std::os::fd::AsFd::as_fd(&d), name, flags, nix::sys::stat::Mode::empty())
            .map_err(|e| match e {
                nix::Error::ELOOP | nix::Error::EXDEV => {
                    std::io::Error::other("a symlink: modules are read only from files inside the policy directory")
                }
                e => std::io::Error::from_raw_os_error(e as i32),
            })?;
    let f = std::fs::File::from(fd);
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut s = String::new();
    f.take(MODULE_MAX + 1).read_to_string(&mut s)?;
    if s.len() as u64 > MODULE_MAX {
        return Err(std::io::Error::other(format!("larger than {MODULE_MAX} bytes")));
    }
    Ok(s)
}
