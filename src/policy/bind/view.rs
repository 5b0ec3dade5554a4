//! Indexes over the facts that subjects read through: accounts by name and uid, units of
//! a scope by each of their names, the global scope for services a user scope inherits,
//! and the safe-fix classifier. Built once per evaluation (per scope for user scopes).

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{FileKind, FileMeta, Group, Host, PathFact, Scope, ScopeKind, Unit, User};
use crate::safety::Safety;

thread_local! {
    /// The host view facts read on this thread belong to. Subjects do not hold it: a
    /// reference count shared by every subject on two cores costs more than the policies
    /// (cache-line ping-pong on every handle copied), so the evaluator sets it here.
    static CURRENT: std::cell::RefCell<Option<Arc<HostView>>> = const { std::cell::RefCell::new(None) };
}

/// Makes `hv` this thread's host view (no reference-count traffic when it already is).
pub fn enter(hv: &Arc<HostView>) {
    CURRENT.with(|c| {
        let same = c.borrow().as_ref().is_some_and(|x| Arc::ptr_eq(x, hv));
        if !same {
            *c.borrow_mut() = Some(Arc::clone(hv));
        }
    });
}

/// Runs `f` with this thread's host view (an empty one if none was entered).
pub fn with<R>(f: impl FnOnce(&HostView) -> R) -> R {
    static EMPTY: std::sync::LazyLock<HostView> = std::sync::LazyLock::new(|| HostView::new(Arc::new(Host::empty())));
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(hv) => f(hv),
        None => f(&EMPTY),
    })
}

/// The host side of every subject.
pub struct HostView {
    pub host: Arc<Host>,
    users: HashMap<String, usize>,
    uids: HashMap<u32, usize>,
    gids: HashMap<u32, usize>,
    pub scopes: Vec<Arc<ScopeView>>,
    pub global: Option<Arc<ScopeView>>,
    /// What a safe fix may touch (the same rules `fix` enforces).
    pub safety: Safety,
}

/// One scope with its units indexed by name.
pub struct ScopeView {
    pub scope: Arc<Scope>,
    pub label: Arc<str>,
    units: HashMap<String, usize>,
    /// The account of a user scope.
    pub owner: Option<usize>,
}

impl ScopeView {
    pub fn new(scope: Arc<Scope>, users: &HashMap<String, usize>) -> ScopeView {
        let mut units = HashMap::new();
        for (k, u) in scope.units.iter().enumerate() {
            // First unit wins for a name, as `Scope::unit`.
            for n in std::iter::once(&u.name).chain(&u.names) {
                units.entry(n.clone()).or_insert(k);
            }
        }
        let owner = scope.user.as_ref().and_then(|u| users.get(u).copied());
        ScopeView { label: Arc::from(scope.label()), scope, units, owner }
    }

    pub fn unit(&self, name: &str) -> Option<&Arc<Unit>> {
        self.units.get(name).map(|&k| &self.scope.units[k])
    }
}

impl HostView {
    pub fn new(host: Arc<Host>) -> HostView {
        let users: HashMap<String, usize> = host.users.iter().enumerate().map(|(i, u)| (u.name.clone(), i)).collect();
        let mut uids = HashMap::new();
        for (i, u) in host.users.iter().enumerate() {
            uids.entry(u.uid).or_insert(i); // the first account of a uid names it
        }
        let mut gids = HashMap::new();
        for (i, g) in host.groups.iter().enumerate() {
            gids.entry(g.gid).or_insert(i);
        }
        let scopes: Vec<Arc<ScopeView>> =
            host.scopes.iter().map(|s| Arc::new(ScopeView::new(Arc::clone(s), &users))).collect();
        let global = scopes.iter().find(|s| s.scope.kind == ScopeKind::Global).cloned();
        let safety = Safety::new(&host);
        HostView { host, users, uids, gids, scopes, global, safety }
    }

    /// A view of a scope that is not (or not yet) in the host: a streamed user scope.
    pub fn scope_view(&self, scope: Arc<Scope>) -> ScopeView {
        ScopeView::new(scope, &self.users)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name).map(|&i| &self.host.users[i])
    }

    pub fn user_at(&self, i: usize) -> &User {
        &self.host.users[i]
    }

    pub fn user_by_uid(&self, uid: u32) -> Option<&User> {
        self.uids.get(&uid).map(|&i| &self.host.users[i])
    }

    pub fn group_by_gid(&self, gid: u32) -> Option<&Group> {
        self.gids.get(&gid).map(|&i| &self.host.groups[i])
    }

    pub fn meta(&self, path: &str) -> Option<&FileMeta> {
        self.host.paths.get(path)
    }

    /// Who other than root can change the file `f` resolves to, nearest first: its owner
    /// or a group/other write bit on the file, then on each parent directory (whoever
    /// can write a parent can replace the file).
    pub fn controls(&self, f: &PathFact, sv: &ScopeView) -> Vec<Control> {
        let Some(file) = f.resolved.as_ref() else { return Vec::new() };
        let mut at: Vec<(&str, &FileMeta, bool)> = Vec::new();
        if let Some(m) = &f.meta {
            at.push((file, m, true));
        }
        for p in &f.parents {
            if let Some(m) = sv.scope.paths.get(p).or_else(|| self.meta(p)) {
                at.push((p, m, false));
            }
        }
        at.into_iter().filter_map(|(p, m, is_file)| self.control_of(p, m, is_file)).collect()
    }

    fn control_of(&self, p: &str, m: &FileMeta, is_file: bool) -> Option<Control> {
        if m.kind == FileKind::Symlink {
            return None; // a link's own mode means nothing; its target is checked
        }
        let what = if is_file { "it" } else { "its directory" };
        let name = |uid: u32| self.user_by_uid(uid).map_or_else(|| format!("uid {uid}"), |u| u.name.clone());
        let group = |gid: u32| self.group_by_gid(gid).map_or_else(|| format!("gid {gid}"), |g| g.name.clone());
        let mut c = Control { path: p.to_string(), on_file: is_file, ..Control::default() };
        if m.uid != 0 {
            c.uid = Some(m.uid);
            c.user = Some(name(m.uid));
            c.who = format!("{} (uid {})", name(m.uid), m.uid);
            c.why = format!("{what} {p} is owned by {}", c.who);
        } else if m.mode.0 & 0o002 != 0 {
            c.everyone = true;
            c.who = "every user".into();
            let sticky = if m.mode.0 & 0o1000 != 0 { ", sticky: anyone can create what is missing" } else { "" };
            c.why = format!("{what} {p} is world-writable ({:04o}{sticky})", m.mode.0);
        } else if m.mode.0 & 0o020 != 0 && m.gid != 0 {
            c.gid = Some(m.gid);
            c.group = Some(group(m.gid));
            c.who = format!("group {}", group(m.gid));
            c.why = format!("{what} {p} is writable by group {} ({:04o})", group(m.gid), m.mode.0);
        } else {
            return None;
        }
        Some(c)
    }
}

/// Who controls a file and through which path.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// The path that gives the power: the file itself or a parent directory.
    pub path: String,
    pub on_file: bool,
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub gid: Option<u32>,
    pub group: Option<String>,
    pub everyone: bool,
    /// `bob (uid 1001)`, `group adm`, `every user`.
    pub who: String,
    /// One sentence: what gives the power.
    pub why: String,
}
