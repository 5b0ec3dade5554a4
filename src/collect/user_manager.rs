//! What the system manager starts a user's manager with: `user@UID.service`, the
//! template's file and drop-ins and the instance's own (`user@1000.service.d/`). Its
//! `Environment=` and environment files become the manager's own environment
//! (measured in the booted image, `tests/it/user_oracle.rs`), which does two things:
//! - `XDG_CONFIG_HOME` and `XDG_DATA_HOME` move her unit directories
//!   (`~/.config/systemd/user` becomes `$XDG_CONFIG_HOME/systemd/user`, and so on), where
//!   the same names set by `environment.d` do not (its generator runs after the search
//!   path is built, and a reload keeps it);
//! - every name is passed on to each of her services (`manager_env`).
//!
//! What moves the search path of every user manager — `XDG_CONFIG_DIRS`,
//! `XDG_DATA_DIRS`, `XDG_RUNTIME_DIR`, `SYSTEMD_UNIT_PATH` — is said in a warning, with
//! its file and line; the shared directories are still read at their defaults (S2).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::environ::{Var, env_files, environment};
use super::exec::split_words;
use super::host_ids::HostIds;
use super::root::Root;
use super::specifier::SpecCtx;
use crate::model::{Scope, Unit, Warning};

/// Names that move the shared part of every user manager's search path.
const SHARED_MOVERS: [&str; 4] = ["XDG_CONFIG_DIRS", "XDG_DATA_DIRS", "XDG_RUNTIME_DIR", "SYSTEMD_UNIT_PATH"];

/// The settings of `user@.service` that make its environment.
const ENV_KEYS: [&str; 3] = ["Environment", "EnvironmentFile", "UnsetEnvironment"];

/// `user@.service` and the instances with drop-ins of their own, as the system scope
/// resolved them.
#[derive(Debug, Default)]
pub struct UserManagers {
    template: Option<Arc<Unit>>,
    instances: BTreeMap<u32, Arc<Unit>>,
    /// The template's environment when no specifier makes it differ from user to user:
    /// made (and its files read, its warnings given) once per run, not once per user.
    same_for_all: Option<Vec<(String, Var)>>,
}

/// Where a user manager's own unit directories are: `None` for the default.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Homes {
    pub config: Option<String>,
    pub data: Option<String>,
    pub cache: Option<String>,
}

impl UserManagers {
    /// From the system scope (`None`: the root has none). Warns once per unit about what
    /// moves every user manager's shared directories.
    pub fn of(system: Option<&Scope>, root: &Root, ids: &HostIds, warnings: &mut Vec<Warning>) -> UserManagers {
        let Some(s) = system else { return UserManagers::default() };
        let mut m = UserManagers::default();
        for u in &s.units {
            if u.name == "user@.service" {
                m.template = Some(Arc::clone(u));
            } else if let Some(uid) = instance_uid(&u.name) {
                m.instances.insert(uid, Arc::clone(u));
            }
        }
        // An instance holds the template's lines too: each line is said once.
        let mut said = std::collections::BTreeSet::new();
        for u in m.template.iter().chain(m.instances.values()) {
            for s in u.get("Service", "Environment") {
                for (w, _) in split_words(&s.value).unwrap_or_default() {
                    let Some((k, _)) = w.split_once('=') else { continue };
                    if SHARED_MOVERS.contains(&k) && said.insert((s.file.clone(), s.line, k.to_string())) {
                        warnings.push(Warning {
                            path: s.file.clone(),
                            line: Some(s.line),
                            message: format!(
                                "{k} set for user managers ({}): their shared unit directories move; \
                                 they are read at their defaults (S2)",
                                u.name
                            ),
                        });
                    }
                }
            }
        }
        let per_user = |u: &Unit| ENV_KEYS.iter().any(|k| u.get("Service", k).iter().any(|s| s.value.contains('%')));
        m.same_for_all = m.template.as_deref().filter(|t| !per_user(t)).map(|t| launch_env(root, ids, t, 0, warnings));
        m
    }

    /// Whether `user@.service` sets nothing for any user (the common case: Debian's has
    /// no `Environment=` or environment file).
    pub fn is_plain(&self) -> bool {
        self.instances.is_empty() && (self.template.is_none() || self.same_for_all.as_ref().is_some_and(Vec::is_empty))
    }

    /// The environment `user@UID.service` sets (`launch_env`).
    pub fn env(&self, root: &Root, ids: &HostIds, uid: u32, warnings: &mut Vec<Warning>) -> Vec<(String, Var)> {
        match (self.instances.get(&uid), &self.same_for_all, &self.template) {
            (Some(u), _, _) => launch_env(root, ids, u, uid, warnings),
            (None, Some(env), _) => env.clone(),
            (None, None, Some(t)) => launch_env(root, ids, t, uid, warnings),
            (None, None, None) => Vec::new(),
        }
    }
}

/// The uid of a user's manager unit, `user@UID.service`.
pub fn instance_uid(name: &str) -> Option<u32> {
    name.strip_prefix("user@")?.strip_suffix(".service")?.parse().ok()
}

/// What `u` (the system manager's `user@UID.service`) sets in the environment it starts
/// her manager with, as for any service (`environ::environment`: `Environment=`, then
/// its environment files, less `UnsetEnvironment=`; `%i` is her uid).
fn launch_env(root: &Root, ids: &HostIds, u: &Unit, uid: u32, warnings: &mut Vec<Warning>) -> Vec<(String, Var)> {
    let name = format!("user@{uid}.service");
    let ctx = SpecCtx::system(&name, ids, super::timer::real_fragment(u));
    // Her manager's environment files are the system's business: their parents' metadata
    // is not wanted here.
    let files = env_files(root, u, &ctx, &mut BTreeMap::new());
    environment(root, u, &ctx, &files, BTreeMap::new(), warnings).0.into_iter().collect()
}

/// Her directories as her manager's environment places them: an absolute
/// `XDG_CONFIG_HOME`/`XDG_DATA_HOME`/`XDG_CACHE_HOME` replaces `~/.config`,
/// `~/.local/share`, `~/.cache`.
pub fn homes(env: &[(String, Var)]) -> Homes {
    let get =
        |k: &str| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.value.clone()).filter(|v| v.starts_with('/'));
    Homes { config: get("XDG_CONFIG_HOME"), data: get("XDG_DATA_HOME"), cache: get("XDG_CACHE_HOME") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `%i` is her uid, `%%` a `%`; a word whose specifier fails is left out, as systemd
    /// ignores it; an environment file named through `%i`, and `UnsetEnvironment=`. The
    /// unit as the collector resolves it.
    #[test]
    fn uid_specifiers() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        };
        w("etc/u/1000", "F=from-file\nG=gone\n");
        w(
            "usr/lib/systemd/system/user@.service",
            "[Service]\nEnvironment=A=/srv/%i/cfg%% B=%Z/x\nEnvironmentFile=/etc/u/%i\nUnsetEnvironment=G\n",
        );
        let host = crate::collect::collect(d.path()).unwrap();
        let system = host.scopes.iter().find(|s| s.kind == crate::model::ScopeKind::System);
        let root = Root::open(d.path()).unwrap();
        let ids = HostIds::fixed("h", "abc");
        let m = UserManagers::of(system.map(|s| &**s), &root, &ids, &mut Vec::new());
        assert!(m.same_for_all.is_none(), "a specifier makes it hers");
        let env = m.env(&root, &ids, 1000, &mut Vec::new());
        let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.value.as_str())).collect();
        assert_eq!(got, [("A", "/srv/1000/cfg%"), ("F", "from-file")]);
    }

    /// Without a specifier the template's environment is the same for every user: made
    /// once, its environment file that cannot be read (past the size read) warned once,
    /// not once per user.
    #[test]
    fn one_environment_for_all_is_made_once() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("usr/lib/systemd/system/user@.service");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "[Service]\nEnvironment=XDG_DATA_HOME=/srv/data\nEnvironmentFile=/etc/big\n").unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/big"), vec![b'#'; 2 << 20]).unwrap();
        let host = crate::collect::collect(d.path()).unwrap();
        let system = host.scopes.iter().find(|s| s.kind == crate::model::ScopeKind::System);
        let (root, ids) = (Root::open(d.path()).unwrap(), HostIds::fixed("h", "abc"));
        let mut warnings = Vec::new();
        let m = UserManagers::of(system.map(|s| &**s), &root, &ids, &mut warnings);
        assert!(!m.is_plain());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].path, "/etc/big");
        let mut later = Vec::new();
        let (a, b) = (m.env(&root, &ids, 1000, &mut later), m.env(&root, &ids, 1001, &mut later));
        assert!(later.is_empty(), "{later:?}");
        assert_eq!(homes(&a), homes(&b));
        assert_eq!(homes(&a).data.as_deref(), Some("/srv/data"));
    }
}
