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

use super::environ::{Var, env_file};
use super::exec::split_words;
use super::root::Root;
use crate::model::{Scope, Unit, Warning};

/// Names that move the shared part of every user manager's search path.
const SHARED_MOVERS: [&str; 4] = ["XDG_CONFIG_DIRS", "XDG_DATA_DIRS", "XDG_RUNTIME_DIR", "SYSTEMD_UNIT_PATH"];

/// Largest environment file read.
const ENV_FILE_MAX: u64 = 1 << 20;

/// `user@.service` and the instances with drop-ins of their own, as the system scope
/// resolved them.
#[derive(Debug, Default)]
pub struct UserManagers {
    template: Option<Arc<Unit>>,
    instances: BTreeMap<u32, Arc<Unit>>,
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
    pub fn of(system: Option<&Scope>, warnings: &mut Vec<Warning>) -> UserManagers {
        let Some(s) = system else { return UserManagers::default() };
        let mut m = UserManagers::default();
        for u in &s.units {
            if u.name == "user@.service" {
                m.template = Some(Arc::clone(u));
            } else if let Some(uid) = u.name.strip_prefix("user@").and_then(|r| r.strip_suffix(".service"))
                && let Ok(uid) = uid.parse::<u32>()
            {
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
        m
    }

    /// Whether nothing of a user manager's unit is read for any user (the common case:
    /// no `Environment=` or environment file on `user@.service`).
    pub fn is_plain(&self) -> bool {
        let plain =
            |u: &Unit| u.get("Service", "Environment").is_empty() && u.get("Service", "EnvironmentFile").is_empty();
        self.instances.is_empty() && self.template.as_deref().is_none_or(plain)
    }

    /// The environment `user@UID.service` sets, in order (`Environment=`, then its
    /// environment files, less `UnsetEnvironment=`), `%i`/`%I` as the uid. A word or
    /// file with another specifier is left out.
    pub fn env(&self, root: &Root, uid: u32, warnings: &mut Vec<Warning>) -> Vec<(String, Var)> {
        let Some(u) = self.instances.get(&uid).or(self.template.as_ref()) else { return Vec::new() };
        let mut env: BTreeMap<String, Var> = BTreeMap::new();
        let fill = |s: &str| fill_uid(s, uid);
        for s in u.get("Service", "Environment") {
            for (w, _) in split_words(&s.value).unwrap_or_default() {
                let Some((k, v)) =
                    fill(&w).as_deref().and_then(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string()))
                else {
                    continue;
                };
                env.insert(k, Var { value: v, file: s.file.clone(), line: s.line, key: "Environment".into() });
            }
        }
        for s in u.get("Service", "EnvironmentFile") {
            if s.value.is_empty() {
                continue;
            }
            let Some(path) = fill(s.value.trim_start_matches('-')).filter(|p| p.starts_with('/')) else { continue };
            match root.read_capped(&path, ENV_FILE_MAX) {
                Ok(bytes) => {
                    for (line, k, value) in env_file(&String::from_utf8_lossy(&bytes)) {
                        env.insert(k.clone(), Var { value, file: path.clone(), line, key: k });
                    }
                }
                Err(e) if !s.value.starts_with('-') => warnings.push(Warning {
                    path: path.clone(),
                    line: None,
                    message: format!("environment file of {} not read: {e}", u.name),
                }),
                Err(_) => {}
            }
        }
        for s in u.get("Service", "UnsetEnvironment") {
            for (w, _) in split_words(&s.value).unwrap_or_default() {
                env.remove(w.as_str());
            }
        }
        env.into_iter().collect()
    }
}

/// Her directories as her manager's environment places them: an absolute
/// `XDG_CONFIG_HOME`/`XDG_DATA_HOME`/`XDG_CACHE_HOME` replaces `~/.config`,
/// `~/.local/share`, `~/.cache`.
pub fn homes(env: &[(String, Var)]) -> Homes {
    let get =
        |k: &str| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.value.clone()).filter(|v| v.starts_with('/'));
    Homes { config: get("XDG_CONFIG_HOME"), data: get("XDG_DATA_HOME"), cache: get("XDG_CACHE_HOME") }
}

/// `%i`/`%I` as the uid, `%%` as `%`; `None` for any other specifier (a user manager's
/// unit is rarely written with one; offline its value would be a guess).
fn fill_uid(s: &str, uid: u32) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('i' | 'I') => out.push_str(&uid.to_string()),
            Some('%') => out.push('%'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn uid_specifiers() {
        assert_eq!(super::fill_uid("/srv/%i/cfg%%", 1000).as_deref(), Some("/srv/1000/cfg%"));
        assert_eq!(super::fill_uid("%h/cfg", 1000), None);
    }
}
