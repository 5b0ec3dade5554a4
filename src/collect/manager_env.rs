//! What a service manager puts in a service's environment besides the unit's own
//! `Environment=` and environment files (systemd 252, each rule measured against the
//! booted manager in `tests/it/exec_oracle.rs`). A command's arguments may name a script
//! through it (`ExecStart=/bin/sh $HOME/.cache/job.sh` in a user unit), and an
//! `LD_PRELOAD` in `DefaultEnvironment=` is preloaded into every service.
//!
//! In force order, a later value replacing an earlier one:
//! - the manager's: `PATH` (its fixed default), then the `DefaultEnvironment=` of
//!   `system.conf` and its drop-ins. A user manager is started by the system manager, so
//!   it has those too, then its account's `HOME`, `USER`, `LOGNAME`, `SHELL` and
//!   `XDG_RUNTIME_DIR`, then the `DefaultEnvironment=` of `user.conf`;
//! - the service's: `USER` and `LOGNAME` when it runs as a named account (`User=`,
//!   `DynamicUser=`, every service of a user manager), `HOME` unless the account's home
//!   is empty or `/`, `SHELL` unless it is empty or a `nologin`/`false`/`true`; and
//!   `STATE_DIRECTORY`, `RUNTIME_DIRECTORY`, … for the directories it asks for.
//!
//! Not known offline, so left out: what environment generators add (`environment.d`),
//! `PassEnvironment=` (the manager's own environment), the locale (`LANG`).

use std::collections::BTreeMap;

use super::environ::Var;
use super::exec::split_words;
use super::root::Root;
use super::specifier::{SpecCtx, expand};
use super::unit_file::{self, Schema};
use crate::model::{Unit, User, Warning};

/// The system manager's `PATH` (252 built for a split /usr), which a user manager
/// inherits.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Largest manager configuration file read.
const CONF_MAX: u64 = 1 << 20;

/// The `*_DIRECTORY` variables and the specifier of the prefix each directory setting
/// is under (`%S` is `/var/lib` for the system manager, `~/.config` for a user's).
const DIRECTORIES: [(&str, &str, &str); 5] = [
    ("RuntimeDirectory", "RUNTIME_DIRECTORY", "%t"),
    ("StateDirectory", "STATE_DIRECTORY", "%S"),
    ("CacheDirectory", "CACHE_DIRECTORY", "%C"),
    ("LogsDirectory", "LOGS_DIRECTORY", "%L"),
    ("ConfigurationDirectory", "CONFIGURATION_DIRECTORY", "%E"),
];

/// The `DefaultEnvironment=` of each manager, read once per run.
#[derive(Debug, Default)]
pub struct ManagerEnv {
    system: Vec<(String, Var)>,
    user: Vec<(String, Var)>,
}

impl ManagerEnv {
    pub fn read(root: &Root, warnings: &mut Vec<Warning>) -> ManagerEnv {
        ManagerEnv {
            system: default_environment(root, "system", warnings),
            user: default_environment(root, "user", warnings),
        }
    }

    /// Whether a manager's `DefaultEnvironment=` sets `LD_PRELOAD` (the system
    /// manager's, or with it a user manager's).
    pub fn preloads(&self, system: bool) -> bool {
        let sets = |v: &[(String, Var)]| v.iter().any(|(k, _)| k == "LD_PRELOAD");
        sets(&self.system) || (!system && sets(&self.user))
    }

    /// What every service of a manager starts with: the system manager's (`user` None),
    /// or the user manager of `user`. The shared user directories (no account yet) get
    /// the managers' own settings without an account's.
    pub fn base(&self, system: bool, user: Option<&User>) -> BTreeMap<String, Var> {
        let mut env = BTreeMap::new();
        set(&mut env, "PATH", DEFAULT_PATH);
        env.extend(self.system.iter().cloned());
        if !system {
            if let Some(u) = user {
                login(&mut env, &u.name, Some(u));
                set(&mut env, "XDG_RUNTIME_DIR", &format!("/run/user/{}", u.uid));
            }
            env.extend(self.user.iter().cloned());
        }
        env
    }
}

/// Puts in what the manager sets for this service: its account's variables (`account`:
/// the name it runs as and that account's entry, when it runs as a named one) and its
/// directories' (`ctx`: the service's specifiers, whose `%S`, `%t`, … are the prefixes).
pub fn service(env: &mut BTreeMap<String, Var>, svc: &Unit, ctx: &SpecCtx<'_>, account: Option<(&str, Option<&User>)>) {
    if let Some((name, entry)) = account {
        login(env, name, entry);
    }
    for (key, var, prefix) in DIRECTORIES {
        let Ok(prefix) = expand(prefix, ctx) else { continue };
        let values = svc.get("Service", key).iter().map(|s| s.value.as_str());
        let dirs = directories(values, |p| expand(p, ctx).ok());
        if !dirs.is_empty() {
            let joined: Vec<String> = dirs.iter().map(|d| format!("{prefix}/{d}")).collect();
            set(env, var, &joined.join(":"));
        }
    }
}

/// The directories of a `StateDirectory=`-like setting's assignments, as
/// `config_parse_exec_directories` keeps them: each word's specifiers resolved (`expand`),
/// the part before a `:` (the rest names a symlink), simplified (`.` and empty
/// components dropped); an absolute one, one with `..` or under `private/` is refused,
/// and an empty assignment clears the list.
fn directories<'v>(values: impl Iterator<Item = &'v str>, expand: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    for value in values {
        if value.trim().is_empty() {
            dirs.clear();
            continue;
        }
        for (w, _) in split_words(value).unwrap_or_default() {
            let Some(p) = expand(w.split_once(':').map_or(w.as_str(), |(p, _)| p)) else { continue };
            let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            if p.starts_with('/') || parts.is_empty() || parts.contains(&"..") || parts[0] == "private" {
                continue;
            }
            dirs.push(parts.join("/"));
        }
    }
    dirs
}

/// `USER`, `LOGNAME`, `HOME`, `SHELL` of an account, as `get_user_creds` cleans them:
/// no `HOME` for an empty or `/` home, no `SHELL` for a placeholder one. `root` is known
/// without its entry (`/root`); a dynamic user has no entry, so no home or shell.
fn login(env: &mut BTreeMap<String, Var>, name: &str, entry: Option<&User>) {
    set(env, "USER", name);
    set(env, "LOGNAME", name);
    let home = entry.map(|u| u.home.as_str()).or((name == "root").then_some("/root"));
    if let Some(h) = home.filter(|h| h.starts_with('/') && !h.trim_end_matches('/').is_empty()) {
        set(env, "HOME", h);
    }
    let shell = entry.map(|u| u.shell.as_str()).or((name == "root").then_some("/bin/sh"));
    if let Some(s) = shell.filter(|s| s.starts_with('/') && !placeholder_shell(s)) {
        set(env, "SHELL", s);
    }
}

/// `is_nologin_shell` (252): a shell that only refuses a login (`/bin/false` too, as
/// measured).
fn placeholder_shell(s: &str) -> bool {
    const SHELLS: [&str; 8] = [
        "/bin/nologin",
        "/sbin/nologin",
        "/usr/bin/nologin",
        "/usr/sbin/nologin",
        "/bin/true",
        "/usr/bin/true",
        "/bin/false",
        "/usr/bin/false",
    ];
    SHELLS.contains(&s)
}

fn set(env: &mut BTreeMap<String, Var>, k: &str, v: &str) {
    env.insert(k.to_string(), Var { value: v.to_string(), file: String::new(), line: 0, key: k.to_string() });
}

/// `DefaultEnvironment=` of `/etc/systemd/KIND.conf` then its drop-ins
/// (`KIND.conf.d/*.conf`), in the order the manager reads them: each assignment's
/// `NAME=value` words replace a name's earlier value, an empty one clears the list.
fn default_environment(root: &Root, kind: &str, warnings: &mut Vec<Warning>) -> Vec<(String, Var)> {
    const SCHEMA: Schema = Schema { sections: &[("Manager", None)] };
    let mut files = vec![format!("/etc/systemd/{kind}.conf")];
    files.extend(super::paths::conf_files(root, &format!("{kind}.conf.d"), ".conf"));
    let mut out: Vec<(String, Var)> = Vec::new();
    for path in files {
        let c = match root.chase(&path, true) {
            Ok(c) if !c.exists || c.path == "/dev/null" => continue,
            Ok(c) => c,
            Err(e) => {
                warnings.push(Warning { path, line: None, message: format!("manager configuration not read: {e}") });
                continue;
            }
        };
        let bytes = match root.read_capped(&c.path, CONF_MAX) {
            Ok(b) => b,
            Err(e) => {
                warnings.push(Warning { path, line: None, message: format!("manager configuration not read: {e}") });
                continue;
            }
        };
        let parsed = unit_file::parse(&bytes, &SCHEMA);
        for a in parsed.assignments.iter().filter(|a| a.section == "Manager" && a.key == "DefaultEnvironment") {
            if a.value.trim().is_empty() {
                out.clear();
                continue;
            }
            for (w, _) in split_words(&a.value).unwrap_or_default() {
                if let Some((k, v)) = w.split_once('=').filter(|(k, _)| !k.is_empty()) {
                    out.retain(|(n, _)| n != k);
                    let var = Var {
                        value: v.to_string(),
                        file: path.clone(),
                        line: a.line,
                        key: "DefaultEnvironment".into(),
                    };
                    out.push((k.to_string(), var));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(env: &BTreeMap<String, Var>) -> Vec<String> {
        env.iter().map(|(k, v)| format!("{k}={}", v.value)).collect()
    }

    /// system.conf, then its drop-ins by name across directories (a name in /etc hides
    /// the same name in /usr/lib; one linked to /dev/null is masked); an empty
    /// assignment clears what came before; a later value of a name replaces it.
    #[test]
    fn default_environment_in_the_order_the_manager_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let f = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        };
        w(
            "/etc/systemd/system.conf",
            "[Manager]\nDefaultEnvironment=GONE=1\nDefaultEnvironment=\nDefaultEnvironment=A=main \"B=two words\"\n",
        );
        w("/usr/lib/systemd/system.conf.d/10-a.conf", "[Manager]\nDefaultEnvironment=A=hidden\n");
        w("/etc/systemd/system.conf.d/10-a.conf", "[Manager]\nDefaultEnvironment=A=etc\n");
        w("/run/systemd/system.conf.d/20-b.conf", "[Manager]\nDefaultEnvironment=C=run\n");
        w("/usr/lib/systemd/system.conf.d/30-masked.conf", "[Manager]\nDefaultEnvironment=M=1\n");
        std::os::unix::fs::symlink("/dev/null", d.path().join("etc/systemd/system.conf.d/30-masked.conf")).unwrap();
        w("/etc/systemd/user.conf.d/x.conf", "[Manager]\nDefaultEnvironment=U=1 LD_PRELOAD=/opt/x.so\n");
        let root = Root::open(d.path()).unwrap();
        let menv = ManagerEnv::read(&root, &mut Vec::new());
        let sys = menv.base(true, None);
        assert_eq!(values(&sys), ["A=etc", "B=two words", "C=run", format!("PATH={DEFAULT_PATH}").as_str()]);
        assert_eq!(sys["A"].file, "/etc/systemd/system.conf.d/10-a.conf");
        assert_eq!((sys["B"].file.as_str(), sys["B"].line), ("/etc/systemd/system.conf", 4));
        // A user manager: the system manager's, its account's, then user.conf's.
        let mut alice = User::for_tests("alice", 1000, "/home/alice");
        let user = menv.base(false, Some(&alice));
        for kv in ["A=etc", "HOME=/home/alice", "SHELL=/bin/sh", "U=1", "USER=alice", "XDG_RUNTIME_DIR=/run/user/1000"]
        {
            assert!(values(&user).iter().any(|v| v == kv), "{kv}: {:?}", values(&user));
        }
        assert_eq!(user["LD_PRELOAD"].key, "DefaultEnvironment");
        // No HOME for a `/` home, no SHELL for a nologin one.
        alice.home = "/".into();
        alice.shell = "/usr/sbin/nologin".into();
        let user = menv.base(false, Some(&alice));
        assert!(!user.contains_key("HOME") && !user.contains_key("SHELL"));
        assert_eq!(user["LOGNAME"].value, "alice");
    }

    #[test]
    fn directories_as_systemd_keeps_them() {
        let values = ["gone", "", "a b:link ./c//d/ /abs e/../f private/x %i", "g"];
        let got = directories(values.into_iter(), |p| Some(p.replace("%i", "inst")));
        assert_eq!(got, ["a", "b", "c/d", "inst", "g"]);
    }

    #[test]
    fn placeholder_shells_are_the_nologin_family() {
        for s in ["/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "/bin/true", "/usr/bin/true"] {
            assert!(placeholder_shell(s), "{s}");
        }
        for s in ["/bin/sh", "/bin/bash", "/usr/bin/zsh", "/opt/false", "/bin/falsehood", "/usr/sbin/false"] {
            assert!(!placeholder_shell(s), "{s}");
        }
    }
}
