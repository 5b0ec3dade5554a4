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
//!   `XDG_RUNTIME_DIR`, then the `DefaultEnvironment=` of `user.conf`, then what its
//!   environment generator reads from `environment.d` (when the image has it);
//! - the service's: `USER` and `LOGNAME` when it runs as a named account (`User=`,
//!   `DynamicUser=`, every service of a user manager), `HOME` unless the account's home
//!   is empty or `/`, `SHELL` unless it is empty or a `nologin`/`false`/`true`; and
//!   `STATE_DIRECTORY`, `RUNTIME_DIRECTORY`, … for the directories it asks for.
//!
//! Not known offline, so left out: what other environment generators add,
//! `PassEnvironment=` (the manager's own environment), what PAM sets for a session, the
//! locale (`LANG`), and what the manager sets as it starts a command (`SET_AT_EXEC`).
//! Where none of these can be in play (`unset_is_known`), a name set nowhere is unset
//! when the commands start.

use std::collections::BTreeMap;

use super::environ::{Forms, Var, replace_env};
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

/// Where a user manager looks for environment generators, and the one systemd ships.
const GENERATOR_DIRS: [&str; 4] = [
    "/run/systemd/user-environment-generators",
    "/etc/systemd/user-environment-generators",
    "/usr/local/lib/systemd/user-environment-generators",
    "/usr/lib/systemd/user-environment-generators",
];
const ENV_D_GENERATOR: &str = "30-systemd-environment-d-generator";

/// `environment.d` below the user's own (`CONF_PATHS_USR`: no /lib).
const ENV_D_DIRS: [&str; 4] =
    ["/etc/environment.d", "/run/environment.d", "/usr/local/lib/environment.d", "/usr/lib/environment.d"];

/// An `environment.d` file: its path and `(line, name, value as written)`.
type EnvFile = (String, Vec<(u32, String, String)>);

/// The `DefaultEnvironment=` of each manager, and the shared `environment.d`, read once
/// per run.
#[derive(Debug, Default)]
pub struct ManagerEnv {
    system: Vec<(String, Var)>,
    user: Vec<(String, Var)>,
    /// The shared `environment.d` files by name, when the image has the generator that
    /// reads them (`None`: no such generator, or it is masked).
    env_d: Option<std::collections::BTreeMap<String, EnvFile>>,
    /// The accounts the manager knows without their passwd lines (`Fixed`).
    fixed: Fixed,
    /// Whether every file of the system manager's configuration was read: else a name
    /// its `DefaultEnvironment=` may set is not known to be unset.
    system_read: bool,
}

/// `get_user_creds` (252, as a command is started) answers for `root` and `nobody` (by
/// name or number) without reading passwd: root's home is `/root` and its shell
/// `/bin/bash` (Debian's default user shell) when the image has it, else `/bin/sh`;
/// nobody has no home or shell, unless `/etc/systemd/dont-synthesize-nobody` exists.
#[derive(Debug, Default)]
struct Fixed {
    root_shell: &'static str,
    nobody: bool,
}

impl Fixed {
    fn read(root: &Root) -> Fixed {
        let exists = |p: &str| root.chase(p, true).is_ok_and(|c| c.exists);
        Fixed {
            root_shell: if exists("/bin/bash") { "/bin/bash" } else { "/bin/sh" },
            nobody: !exists("/etc/systemd/dont-synthesize-nobody"),
        }
    }
}

impl ManagerEnv {
    pub fn read(root: &Root, warnings: &mut Vec<Warning>) -> ManagerEnv {
        let generators = super::paths::conf_files_in(root, GENERATOR_DIRS.map(String::from), "");
        let env_d = generators.get(ENV_D_GENERATOR).filter(|p| regular(root, p)).map(|_| {
            let files = super::paths::conf_files_in(root, ENV_D_DIRS.map(String::from), ".conf");
            // Its XDG variables reach her services, not her manager's search path: the
            // generator runs after that is built (measured, `user_manager`).
            files.into_iter().filter_map(|(name, path)| Some((name, env_d_file(root, path, warnings)?))).collect()
        });
        let before = warnings.len();
        let system = default_environment(root, "system", warnings);
        let system_read = warnings.len() == before;
        ManagerEnv {
            system,
            user: default_environment(root, "user", warnings),
            env_d,
            fixed: Fixed::read(root),
            system_read,
        }
    }

    /// Whether a manager's environment can hold an `LD_PRELOAD` at all: its
    /// `DefaultEnvironment=` sets one, or (a user manager) `user@.service` does
    /// (`launch`), or `environment.d` is read, whose files are hers to write. Otherwise a
    /// service without a `$` needs none of it.
    pub fn can_preload(&self, system: bool, launch: &[(String, Var)]) -> bool {
        let sets = |v: &[(String, Var)]| v.iter().any(|(k, _)| k == "LD_PRELOAD");
        sets(&self.system) || (!system && (sets(launch) || sets(&self.user) || self.env_d.is_some()))
    }

    /// What every service of a manager starts with: the system manager's (`user` None),
    /// or the user manager of `user`. The shared user directories (no account yet) get
    /// the managers' own settings without an account's.
    pub fn base(
        &self,
        root: &Root,
        system: bool,
        user: Option<&User>,
        launch: &[(String, Var)],
        warnings: &mut Vec<Warning>,
    ) -> BTreeMap<String, Var> {
        let mut env = BTreeMap::new();
        set(&mut env, "PATH", DEFAULT_PATH);
        env.extend(self.system.iter().cloned());
        if !system {
            if let Some(u) = user {
                self.login(&mut env, &u.name, Some(u));
                set(&mut env, "XDG_RUNTIME_DIR", &format!("/run/user/{}", u.uid));
            }
            // What `user@UID.service` sets (`user_manager`); the manager puts its own
            // `PATH` back.
            env.extend(launch.iter().filter(|(k, _)| k != "PATH").cloned());
            env.extend(self.user.iter().cloned());
            if let (Some(shared), Some(u)) = (&self.env_d, user) {
                environment_d(root, shared, u, &mut env, warnings);
            }
        }
        env
    }
}

/// The user's own `environment.d`: `$XDG_CONFIG_HOME/environment.d` when the manager's
/// environment has an absolute one, else under `~/.config`.
fn own_env_d(u: &User, env: &BTreeMap<String, Var>) -> String {
    match env.get("XDG_CONFIG_HOME").filter(|v| v.value.starts_with('/')) {
        Some(v) => format!("{}/environment.d", v.value.trim_end_matches('/')),
        None => format!("{}/.config/environment.d", u.home.trim_end_matches('/')),
    }
}

/// Whether `path` resolves to a regular file (not masked by a link to /dev/null).
fn regular(root: &Root, path: &str) -> bool {
    root.chase(path, true).is_ok_and(|c| c.exists && root.lstat(&c.path).is_ok_and(|m| m.is_file()))
}

/// Reads an `environment.d` file (`None`: masked, missing or unreadable, warned).
fn env_d_file(root: &Root, path: String, warnings: &mut Vec<Warning>) -> Option<EnvFile> {
    let text = super::paths::read_conf(root, &path, CONF_MAX, "environment.d file", warnings)?;
    Some((path, super::environ::env_file(&text)))
}

/// What the `environment.d` generator adds for user `u`: the files of her own directory
/// and the shared ones by name (hers hide the same name), applied in order (`apply`).
fn environment_d(
    root: &Root,
    shared: &BTreeMap<String, EnvFile>,
    u: &User,
    env: &mut BTreeMap<String, Var>,
    warnings: &mut Vec<Warning>,
) {
    let own = super::paths::conf_files_in(root, [own_env_d(u, env)], ".conf");
    let names: std::collections::BTreeSet<&String> = shared.keys().chain(own.keys()).collect();
    for name in names {
        match own.get(name) {
            Some(p) => {
                // Masked or unreadable: the shared file of that name is hidden too.
                if let Some((path, lines)) = env_d_file(root, p.clone(), warnings) {
                    apply(env, &path, &lines);
                }
            }
            None => apply(env, &shared[name].0, &shared[name].1),
        }
    }
}

/// One `environment.d` file's lines over `env`, as the generator applies them: each value
/// resolved against what is set so far (`replace_env`'s extended forms, an unset name
/// empty); a name that is no variable name is skipped.
fn apply(env: &mut BTreeMap<String, Var>, path: &str, lines: &[(u32, String, String)]) {
    const GENERATOR_FORMS: Forms = Forms { extended: true, unset_kept: false };
    // An environment no command could be started with (`ARG_MAX`) grows no more: a
    // hostile file's values may double line by line.
    let mut size: usize = env.values().map(|v| v.value.len()).sum();
    for (line, k, raw) in lines.iter().filter(|(_, k, _)| var_name(k)) {
        if size > super::environ::ARG_MAX {
            break;
        }
        let value = replace_env(raw, &|n| env.get(n).map(|v| v.value.as_str()), GENERATOR_FORMS, 0);
        size += value.len();
        env.insert(k.clone(), Var { value, file: path.to_string(), line: *line, key: "environment.d".into() });
    }
}

/// An `environment.d` file's text applied over `env` (names and values) as the
/// generator applies it (`apply`): each name it sets, in order, with its value. For the
/// fuzzer.
pub fn apply_env_d_text(text: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = BTreeMap::new();
    for (k, v) in env {
        set(&mut vars, k, v);
    }
    let lines = super::environ::env_file(text);
    let mut out = Vec::new();
    for l in lines.iter().filter(|(_, k, _)| var_name(k)) {
        apply(&mut vars, "", std::slice::from_ref(l));
        out.push((l.1.clone(), vars[&l.1].value.clone()));
    }
    out
}

fn var_name(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty() && !b[0].is_ascii_digit() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

impl ManagerEnv {
    /// Puts in what the manager sets for this service: its account's variables
    /// (`account`: the name it runs as and that account's entry, when it runs as a named
    /// one) and its directories' (`ctx`: the service's specifiers, whose `%S`, `%t`, …
    /// are the prefixes).
    pub fn service(
        &self,
        env: &mut BTreeMap<String, Var>,
        svc: &Unit,
        ctx: &SpecCtx<'_>,
        account: Option<(&str, Option<&User>)>,
    ) {
        if let Some((name, entry)) = account {
            self.login(env, name, entry);
        }
        directory_vars(env, svc, ctx);
    }

    /// `USER`, `LOGNAME`, `HOME`, `SHELL` of an account, as `get_user_creds` cleans
    /// them: no `HOME` for an empty or `/` home, no `SHELL` for a placeholder one; root
    /// and nobody as the manager fixes them (`Fixed`); a dynamic user has no entry, so no
    /// home or shell.
    fn login(&self, env: &mut BTreeMap<String, Var>, name: &str, entry: Option<&User>) {
        let (name, home, shell) = match name {
            "root" | "0" => ("root", Some("/root"), Some(self.fixed.root_shell)),
            "nobody" | "65534" if self.fixed.nobody => ("nobody", None, None),
            _ => (name, entry.map(|u| u.home.as_str()), entry.map(|u| u.shell.as_str())),
        };
        set(env, "USER", name);
        set(env, "LOGNAME", name);
        if let Some(h) = home.filter(|h| h.starts_with('/') && !h.trim_end_matches('/').is_empty()) {
            set(env, "HOME", h);
        }
        if let Some(s) = shell.filter(|s| s.starts_with('/') && !placeholder_shell(s)) {
            set(env, "SHELL", s);
        }
    }
}

/// `STATE_DIRECTORY`, … for the directories a service asks for.
fn directory_vars(env: &mut BTreeMap<String, Var>, svc: &Unit, ctx: &SpecCtx<'_>) {
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
            let relative = super::root::simplified(&p)
                .filter(|c| !p.starts_with('/') && c.first().is_some_and(|c| *c != "private"));
            if let Some(parts) = relative {
                dirs.push(parts.join("/"));
            }
        }
    }
    dirs
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

/// What systemd 252 sets as it starts a command (`build_environment`, `service_spawn`),
/// from what it knows only then (the invocation, its file descriptors, the result of the
/// run before it, the unit that triggered it, …), and the locale PID 1 read
/// (`locale_setup`; `LC_*` too): a name here may be set, to a value not known offline.
const SET_AT_EXEC: [&str; 32] = [
    "INVOCATION_ID",
    "SYSTEMD_EXEC_PID",
    "JOURNAL_STREAM",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
    "NOTIFY_SOCKET",
    "MAINPID",
    "MANAGERPID",
    "PIDFILE",
    "FDSTORE",
    "TERM",
    "LOG_NAMESPACE",
    "CREDENTIALS_DIRECTORY",
    "SERVICE_RESULT",
    "EXIT_CODE",
    "EXIT_STATUS",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "MONITOR_SERVICE_RESULT",
    "MONITOR_EXIT_CODE",
    "MONITOR_EXIT_STATUS",
    "MONITOR_INVOCATION_ID",
    "MONITOR_UNIT",
    "TRIGGER_UNIT",
    "TRIGGER_PATH",
    "TRIGGER_TIMER_REALTIME_USEC",
    "TRIGGER_TIMER_MONOTONIC_USEC",
    "LANG",
    "LANGUAGE",
];

impl ManagerEnv {
    /// Whether a name a service's environment (as read, `environ::environment`) lacks is
    /// certainly unset when its commands start, so that `${NAME}` in an argument is empty
    /// and a `$NAME` word is dropped (`replace_env_argv`; measured). Only for the system
    /// manager, whose services start from a clean environment: a user manager passes on
    /// its own, with what PAM put in it. Not when the service takes names from the
    /// manager's own environment (`PassEnvironment=`) or a PAM session's (`PAMName=`),
    /// when one of its environment files (`files_read`) or of the manager's configuration
    /// was not read, nor for a name in `SET_AT_EXEC`.
    pub fn unset_is_known(&self, svc: &Unit, system: bool, files_read: bool, name: &str) -> bool {
        // An empty assignment resets `PassEnvironment=`'s list and `PAMName=`.
        let used = |key| svc.last("Service", key).is_some_and(|s| !s.value.trim().is_empty());
        system
            && files_read
            && self.system_read
            && !used("PassEnvironment")
            && !used("PAMName")
            && !SET_AT_EXEC.contains(&name)
            && !name.starts_with("LC_")
    }
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
        let Some(text) = super::paths::read_conf(root, &path, CONF_MAX, "manager configuration", warnings) else {
            continue;
        };
        let parsed = unit_file::parse(text.as_bytes(), &SCHEMA);
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

    /// Writes `text` at the in-image path `p` of the root at `dir`.
    fn write(dir: &std::path::Path, p: &str, text: &str) {
        let f = dir.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }

    fn values(env: &BTreeMap<String, Var>) -> Vec<String> {
        env.iter().map(|(k, v)| format!("{k}={}", v.value)).collect()
    }

    /// system.conf, then its drop-ins by name across directories (a name in /etc hides
    /// the same name in /usr/lib; one linked to /dev/null is masked); an empty
    /// assignment clears what came before; a later value of a name replaces it.
    #[test]
    fn default_environment_in_the_order_the_manager_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| write(d.path(), p, t);
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
        let sys = menv.base(&root, true, None, &[], &mut Vec::new());
        assert_eq!(values(&sys), ["A=etc", "B=two words", "C=run", format!("PATH={DEFAULT_PATH}").as_str()]);
        assert_eq!(sys["A"].file, "/etc/systemd/system.conf.d/10-a.conf");
        assert_eq!((sys["B"].file.as_str(), sys["B"].line), ("/etc/systemd/system.conf", 4));
        // A user manager: the system manager's, its account's, then user.conf's.
        let mut alice = User::for_tests("alice", 1000, "/home/alice");
        let user = menv.base(&root, false, Some(&alice), &[], &mut Vec::new());
        for kv in ["A=etc", "HOME=/home/alice", "SHELL=/bin/sh", "U=1", "USER=alice", "XDG_RUNTIME_DIR=/run/user/1000"]
        {
            assert!(values(&user).iter().any(|v| v == kv), "{kv}: {:?}", values(&user));
        }
        assert_eq!(user["LD_PRELOAD"].key, "DefaultEnvironment");
        // No HOME for a `/` home, no SHELL for a nologin one.
        alice.home = "/".into();
        alice.shell = "/usr/sbin/nologin".into();
        let user = menv.base(&root, false, Some(&alice), &[], &mut Vec::new());
        assert!(!user.contains_key("HOME") && !user.contains_key("SHELL"));
        assert_eq!(user["LOGNAME"].value, "alice");
    }

    /// root and nobody as the manager fixes them, whatever passwd says: root's shell is
    /// bash where the image has it; nobody's passwd line counts only when the image asks
    /// the manager not to make nobody up.
    #[test]
    fn root_and_nobody_are_fixed() {
        let d = tempfile::tempdir().unwrap();
        let login = |name: &str, shell: &str| {
            let root = Root::open(d.path()).unwrap();
            let mut u = User::for_tests(name, 0, "/srv/elsewhere");
            u.shell = shell.into();
            let mut env = BTreeMap::new();
            ManagerEnv::read(&root, &mut Vec::new()).login(&mut env, name, Some(&u));
            let v = |k: &str| env.get(k).map(|v: &Var| v.value.clone()).unwrap_or_default();
            [v("USER"), v("HOME"), v("SHELL")]
        };
        assert_eq!(login("root", "/bin/zsh"), ["root", "/root", "/bin/sh"]);
        write(d.path(), "/bin/bash", "");
        assert_eq!(login("0", "/bin/zsh"), ["root", "/root", "/bin/bash"]);
        assert_eq!(login("nobody", "/bin/zsh"), ["nobody", "", ""]);
        write(d.path(), "/etc/systemd/dont-synthesize-nobody", "");
        assert_eq!(login("nobody", "/bin/zsh"), ["nobody", "/srv/elsewhere", "/bin/zsh"]);
    }

    /// The `environment.d` generator's files (S2): only when the image has the generator;
    /// hers hide a shared file of the same name (and mask it with /dev/null); each value
    /// resolved against what is set so far.
    #[test]
    fn environment_d_as_the_generator_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| write(d.path(), p, t);
        w("/usr/lib/environment.d/10-a.conf", "A=${HOME}/a\nB=shared\n");
        w("/etc/environment.d/20-b.conf", "C=$A:${UNSET:-dflt}:${A:+alt}\n9BAD=x\n");
        w("/usr/lib/environment.d/30-c.conf", "D=masked\n");
        w("/usr/lib/environment.d/40-xdg.conf", "# moves the search path\nXDG_DATA_HOME=/srv/data\n");
        w("/home/alice/.config/environment.d/10-a.conf", "A=${XDG_RUNTIME_DIR}/mine\n");
        w("/home/alice/.config/environment.d/50-pre.conf", "LD_PRELOAD=${HOME}/hook.so\n");
        std::os::unix::fs::symlink("/dev/null", d.path().join("home/alice/.config/environment.d/30-c.conf")).unwrap();
        let alice = User::for_tests("alice", 1000, "/home/alice");
        let root = Root::open(d.path()).unwrap();
        // Without the generator, nothing of it.
        let env = ManagerEnv::read(&root, &mut Vec::new()).base(&root, false, Some(&alice), &[], &mut Vec::new());
        assert!(!env.contains_key("A") && !env.contains_key("C"));
        w("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator", "#!/bin/sh\n");
        let root = Root::open(d.path()).unwrap(); // a run reads one snapshot
        let mut warnings = Vec::new();
        let menv = ManagerEnv::read(&root, &mut warnings);
        assert!(warnings.is_empty(), "an XDG variable there moves no search path: {warnings:?}");
        let env = menv.base(&root, false, Some(&alice), &[], &mut Vec::new());
        assert_eq!(env["A"].value, "/run/user/1000/mine");
        assert_eq!(env["A"].file, "/home/alice/.config/environment.d/10-a.conf");
        assert!(!env.contains_key("B"), "her 10-a.conf hides the shared one");
        assert_eq!(env["C"].value, "/run/user/1000/mine:dflt:alt");
        assert!(!env.contains_key("D") && !env.contains_key("9BAD"));
        // A preload from her own files is hers alone.
        assert_eq!(env["LD_PRELOAD"].value, "/home/alice/hook.so");
        assert!(!menv.base(&root, true, None, &[], &mut Vec::new()).contains_key("LD_PRELOAD"));
        assert!(menv.can_preload(false, &[]) && !menv.can_preload(true, &[]));
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
