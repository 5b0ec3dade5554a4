//! The unit search paths of the system manager (S1) and of a user's manager (S2), and
//! the generator directories (S21). A user manager's own directories follow the XDG
//! variables `user@.service` gives it (`user_manager`); the rest of what could set them
//! (PAM, PID 1's environment) is not known offline, so the defaults are assumed and the
//! assumption is recorded in the facts.

use crate::model::DirRole;

/// One search-path entry before it is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSpec {
    pub path: String,
    pub role: DirRole,
    /// Belongs to one user (home or `/run/user/UID`), not shared by all users.
    pub per_user: bool,
}

fn spec(path: &str, role: DirRole, per_user: bool) -> PathSpec {
    PathSpec { path: path.to_string(), role, per_user }
}

/// `systemd-analyze unit-paths` on Debian 12, highest precedence first (S1).
pub fn system_paths() -> Vec<PathSpec> {
    use DirRole::*;
    vec![
        spec("/etc/systemd/system.control", Control, false),
        spec("/run/systemd/system.control", Control, false),
        spec("/run/systemd/transient", Transient, false),
        spec("/run/systemd/generator.early", GeneratorEarly, false),
        spec("/etc/systemd/system", Config, false),
        spec("/etc/systemd/system.attached", Attached, false),
        spec("/run/systemd/system", Runtime, false),
        spec("/run/systemd/system.attached", Attached, false),
        spec("/run/systemd/generator", Generator, false),
        spec("/usr/local/lib/systemd/system", Local, false),
        spec("/lib/systemd/system", Vendor, false),
        spec("/usr/lib/systemd/system", Vendor, false),
        spec("/run/systemd/generator.late", GeneratorLate, false),
    ]
}

/// `systemd-analyze --user unit-paths` with default XDG variables (S2). With `home` and
/// `uid` the per-user directories are included; without, only the shared ones (the
/// "global" scope every user manager reads).
pub fn user_paths(user: Option<(&str, u32)>) -> Vec<PathSpec> {
    user_paths_in(user, &super::user_manager::Homes::default())
}

/// `user_paths` where her manager's environment moves her own directories (an absolute
/// `XDG_CONFIG_HOME` or `XDG_DATA_HOME` from `user@.service`, `user_manager`).
pub fn user_paths_in(user: Option<(&str, u32)>, homes: &super::user_manager::Homes) -> Vec<PathSpec> {
    use DirRole::*;
    let mut v = Vec::new();
    let mine = |v: &mut Vec<PathSpec>, path: String, role| {
        if user.is_some() {
            v.push(PathSpec { path, role, per_user: true });
        }
    };
    let (home, run) = match user {
        Some((h, uid)) => (h.trim_end_matches('/').to_string(), format!("/run/user/{uid}")),
        None => (String::new(), String::new()),
    };
    let config = homes.config.clone().unwrap_or_else(|| format!("{home}/.config"));
    let data = homes.data.clone().unwrap_or_else(|| format!("{home}/.local/share"));
    let (config, data) = (config.trim_end_matches('/'), data.trim_end_matches('/'));
    mine(&mut v, format!("{config}/systemd/user.control"), Control);
    mine(&mut v, format!("{run}/systemd/user.control"), Control);
    mine(&mut v, format!("{run}/systemd/transient"), Transient);
    mine(&mut v, format!("{run}/systemd/generator.early"), GeneratorEarly);
    mine(&mut v, format!("{config}/systemd/user"), Config);
    v.push(spec("/etc/xdg/systemd/user", Config, false));
    v.push(spec("/etc/systemd/user", Config, false));
    mine(&mut v, format!("{run}/systemd/user"), Runtime);
    v.push(spec("/run/systemd/user", Runtime, false));
    mine(&mut v, format!("{run}/systemd/generator"), Generator);
    mine(&mut v, format!("{data}/systemd/user"), Local);
    v.push(spec("/usr/local/share/systemd/user", Local, false));
    v.push(spec("/usr/share/systemd/user", Vendor, false));
    v.push(spec("/usr/local/lib/systemd/user", Local, false));
    v.push(spec("/usr/lib/systemd/user", Vendor, false));
    mine(&mut v, format!("{run}/systemd/generator.late"), GeneratorLate);
    v
}

/// Where generator executables live (S21), for the system or user manager.
pub fn generator_dirs(user: bool) -> Vec<String> {
    let kind = if user { "user-generators" } else { "system-generators" };
    ["/run/systemd", "/etc/systemd", "/usr/local/lib/systemd", "/lib/systemd", "/usr/lib/systemd"]
        .iter()
        .map(|d| format!("{d}/{kind}"))
        .collect()
}

/// The directory that `systemctl enable` writes for a scope (`persistent_config`).
pub fn is_persistent_config(spec: &PathSpec) -> bool {
    spec.role == DirRole::Config && (spec.path == "/etc/systemd/system" || spec.path.ends_with("/.config/systemd/user"))
}

/// The assumption recorded for user scopes.
pub const XDG_ASSUMPTION: &str = "user managers: XDG_CONFIG_HOME and XDG_DATA_HOME are \
read from user@.service (its Environment= and environment files), else assumed to have \
their defaults (~/.config, ~/.local/share); XDG_CONFIG_DIRS, XDG_DATA_DIRS and \
XDG_RUNTIME_DIR are assumed to have theirs (/etc/xdg, /usr/local/share:/usr/share, \
/run/user/UID); what a PAM session or PID 1's own environment gives a user manager is \
not known offline; environment.d does not move the search path (S2)";

/// Where systemd looks for a configuration's files of a kind (`system-preset`,
/// `system.conf.d`, …), highest precedence first: `CONF_PATHS` with `/lib` (Debian 12's
/// systemd is built for a split /usr).
const CONF_ROOTS: [&str; 5] =
    ["/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/lib/systemd", "/usr/lib/systemd"];

/// The files named `*ext` in `sub` under each of `CONF_ROOTS`, in the order systemd reads
/// them (`conf_files_list`): by file name, a name in a higher directory hiding the same
/// name below; hidden and backup names left out. Each path is as listed (a link to
/// `/dev/null` masks: the caller chases it).
pub fn conf_files(root: &super::root::Root, sub: &str, ext: &str) -> Vec<String> {
    conf_files_in(root, CONF_ROOTS.iter().map(|r| format!("{r}/{sub}")), ext).into_values().collect()
}

/// `conf_files` over the directories `dirs` (highest precedence first), by file name.
pub fn conf_files_in(
    root: &super::root::Root,
    dirs: impl IntoIterator<Item = String>,
    ext: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut files: std::collections::BTreeMap<String, String> = Default::default();
    for d in dirs {
        let Ok(c) = root.chase(&d, true) else { continue };
        let Ok((list, _)) = root.list(&c.path) else { continue };
        for e in list {
            let name = String::from_utf8_lossy(&e.name).into_owned();
            if name.ends_with(ext) && !super::names::hidden_or_backup(&name) {
                files.entry(name.clone()).or_insert_with(|| super::root::join(&c.path, &name));
            }
        }
    }
    files
}

/// The text of a configuration file `conf_files` listed (`None`: masked by a link to
/// /dev/null, or gone); one that cannot be resolved or read (a link loop, a FIFO) is
/// named in a warning as `what`.
pub fn read_conf(
    root: &super::root::Root,
    path: &str,
    cap: u64,
    what: &str,
    warnings: &mut Vec<crate::model::Warning>,
) -> Option<String> {
    let read =
        root.chase(path, true).map_err(|e| e.to_string()).and_then(|c| match c.exists && c.path != "/dev/null" {
            true => root.read_capped(&c.path, cap).map(Some).map_err(|e| e.to_string()),
            false => Ok(None),
        });
    match read {
        Ok(b) => b.map(|b| String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            let message = format!("{what} not read: {e}");
            warnings.push(crate::model::Warning { path: path.to_string(), line: None, message });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S1/S2: the lists equal `systemd-analyze [--user] unit-paths` when it is installed.
    #[test]
    fn s1_s2_match_systemd_analyze() {
        let Ok(out) = std::process::Command::new("systemd-analyze").arg("unit-paths").output() else {
            return; // not installed: the literal lists above are the spec
        };
        let want: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
        let got: Vec<String> = system_paths().into_iter().map(|s| s.path).collect();
        assert_eq!(got, want);
        let out = std::process::Command::new("systemd-analyze")
            .args(["--user", "unit-paths"])
            .env("HOME", "/home/alice")
            .env("XDG_RUNTIME_DIR", "/run/user/1000")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_DIRS")
            .env_remove("XDG_DATA_DIRS")
            .output()
            .expect("ran once already");
        let want: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
        let got: Vec<String> = user_paths(Some(("/home/alice", 1000))).into_iter().map(|s| s.path).collect();
        assert_eq!(got, want);
    }
}
