//! What systemd 252 refuses in a service that parsed (S34's counterpart for services):
//! `service_verify()` after `service_add_extras()`, and the settings whose parse error is
//! fatal to the unit ("Unit configuration has fatal error, unit will not be started").
//! A refused service loads as `bad-setting`: a timer that triggers it starts nothing.
//!
//! Each rule was measured with `systemd-analyze verify` (tests/it/service_oracle.rs).
//! Single-valued settings are read from the assignments in order, as systemd applies
//! them: a value it cannot parse is ignored and the one before it stays.

use std::sync::Arc;

use super::exec;
use super::files::Loaded;
use crate::model::SettingMap;

/// The `Exec*=` keys of a service (`service_exec_command_table`).
const EXEC_KEYS: [&str; 7] =
    ["ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost"];

/// `service_type_table` of 252 (`notify-reload` came in 253).
const TYPES: [&str; 7] = ["simple", "exec", "forking", "oneshot", "dbus", "notify", "idle"];

/// `service_restart_table`; a oneshot service may only use the first five.
const RESTARTS: [&str; 7] = ["no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"];
const ONESHOT_RESTARTS: [&str; 5] = ["no", "on-failure", "on-abnormal", "on-watchdog", "on-abort"];

/// `emergency_action_table` of 252; a user manager accepts only `exit` and `exit-force`.
const ACTIONS: [&str; 14] = [
    "none",
    "reboot",
    "reboot-force",
    "reboot-immediate",
    "poweroff",
    "poweroff-force",
    "poweroff-immediate",
    "exit",
    "exit-force",
    "kexec",
    "kexec-force",
    "halt",
    "halt-force",
    "halt-immediate",
];

const KILL_MODES: [&str; 4] = ["control-group", "process", "mixed", "none"];

/// Why systemd refuses this service, in its words, or `None` when it loads.
/// `content` is the fragment then the drop-ins, in the order they apply; `settings` their
/// merge (for the `Exec*=` lists after their resets).
pub fn refusal(content: &[(String, Arc<Loaded>)], settings: &SettingMap, user_manager: bool) -> Option<String> {
    let service = settings.get("Service");
    let count = |key: &str| -> usize {
        let lines = service.and_then(|m| m.get(key)).map(Vec::as_slice).unwrap_or_default();
        lines.iter().map(|s| commands(&s.value)).sum()
    };
    let (start, stop) = (count("ExecStart"), count("ExecStop"));
    // The settings read, each its last valid value (an empty one resets it), in one pass.
    let mut last: [Option<&str>; 7] = [None; 7];
    const KEYS: [(&str, &str); 7] = [
        ("Service", "BusName"),
        ("Service", "Type"),
        ("Unit", "SuccessAction"),
        ("Service", "RemainAfterExit"),
        ("Service", "Restart"),
        ("Service", "PAMName"),
        ("Service", "KillMode"),
    ];
    for a in content.iter().flat_map(|(_, l)| l.assignments()) {
        let Some(k) = KEYS.iter().position(|(s, k)| *s == a.section && *k == a.key) else { continue };
        let v = a.value.as_str();
        let valid = match k {
            0 => bus_name_valid(v),
            1 => TYPES.contains(&v),
            2 => ACTIONS.contains(&v) && (!user_manager || matches!(v, "none" | "exit" | "exit-force")),
            3 => super::parse_bool(v).is_some(),
            4 => RESTARTS.contains(&v),
            6 => KILL_MODES.contains(&v),
            _ => true,
        };
        if v.is_empty() {
            last[k] = None; // back to the default
        } else if valid {
            last[k] = Some(v);
        }
    }
    let [bus_name, ty, action, remain, restart, pam, kill] = last;
    let ty = ty.unwrap_or(match (bus_name, start) {
        (Some(_), _) => "dbus",
        (None, 0) => "oneshot",
        (None, _) => "simple",
    });
    let oneshot = ty == "oneshot";
    let success_action = action.is_some_and(|a| a != "none");
    let remain = remain.and_then(super::parse_bool).unwrap_or(false);
    let restart = restart.unwrap_or("no");
    if start == 0 && stop == 0 && !success_action {
        return Some("Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.".into());
    }
    if !oneshot && start == 0 {
        return Some(
            "Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.".into(),
        );
    }
    if !remain && start == 0 && !success_action {
        return Some(
            "Service has no ExecStart= and no SuccessAction= settings and does not have RemainAfterExit=yes set. Refusing."
                .into(),
        );
    }
    if !oneshot && start > 1 {
        return Some(
            "Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing."
                .into(),
        );
    }
    if oneshot && !ONESHOT_RESTARTS.contains(&restart) {
        return Some(
            "Service has Restart= set to either always or on-success, which isn't allowed for Type=oneshot services. Refusing."
                .into(),
        );
    }
    if ty == "dbus" && bus_name.is_none() {
        return Some("Service is of type D-Bus but no D-Bus service name has been specified. Refusing.".into());
    }
    let kill = kill.unwrap_or("control-group");
    if pam.is_some() && !matches!(kill, "control-group" | "mixed") {
        return Some("Service has PAM enabled. Kill mode must be set to 'control-group' or 'mixed'. Refusing.".into());
    }
    None
}

/// `loaded` as systemd applies it to a service: cut at its first setting whose parse
/// error is fatal (`-ENOEXEC`: an `Exec*=` line `commands` refuses, a `User=`/`Group=`
/// that is no name, `DynamicUser=` that is no boolean, a relative `WorkingDirectory=`, …;
/// `fatal_value`). systemd stops reading the file there: a unit file fails to load
/// (`bad-setting`), a drop-in applies only the lines before (a line reset later in the
/// same file still stopped it). `None` when nothing stops it.
pub fn cut_at_fatal(loaded: &Loaded) -> Option<Loaded> {
    for (i, a) in loaded.assignments().enumerate().filter(|(_, a)| a.section == "Service") {
        if EXEC_KEYS.contains(&a.key.as_str()) && exec::summary(&a.value).1 {
            let l = exec::exec_line(&a.value);
            if let Some(why) = l.fatal {
                // The commands before the bad one were taken as they were read.
                let kept = (!l.commands.is_empty())
                    .then(|| a.value[..l.kept_len].trim_end_matches([' ', '\t', '\n', '\r']).to_string());
                return Some(loaded.cut(i, kept, format!("{}={}: {why}", a.key, a.value)));
            }
        } else if let Some(why) = fatal_value(&a.key, &a.value) {
            return Some(loaded.cut(i, None, format!("{}={}: {why}", a.key, a.value)));
        }
    }
    None
}

/// Why systemd 252 refuses a value of a `[Service]` setting whose parse error is fatal
/// (besides `Exec*=`), each measured with `systemd-analyze verify`. Where a value holds
/// specifiers, those that give a path (`%h`, `%t`, …) stand for an absolute path and
/// an unknown one is refused, as `unit_full_printf` does.
fn fatal_value(key: &str, v: &str) -> Option<&'static str> {
    match key {
        "User" | "Group" if !v.is_empty() && !name_ok(v) => Some("no valid user or group name"),
        "SupplementaryGroups" if v.split_ascii_whitespace().any(|w| !name_ok(w)) => Some("no valid group name"),
        "DynamicUser" if super::parse_bool(v).is_none() => Some("not a boolean"),
        // `-` makes every error of the path non-fatal; `~` is the user's home.
        "WorkingDirectory" if !v.is_empty() && !v.starts_with('-') && v != "~" && !path_ok(v) => {
            Some("not an absolute, normalized path")
        }
        "RootDirectory" | "RootImage" if !v.is_empty() && !path_ok(v) => Some("not an absolute, normalized path"),
        _ => None,
    }
}

fn name_ok(v: &str) -> bool {
    super::specifier::stand_in(v).is_some_and(|n| user_name_valid(&n))
}

/// `path_simplify_and_warn(PATH_CHECK_ABSOLUTE)`: absolute, no `..` component, each
/// component at most 255 bytes, shorter than `PATH_MAX`.
fn path_ok(v: &str) -> bool {
    super::specifier::stand_in(v)
        .is_some_and(|p| p.starts_with('/') && p.len() < 4096 && p.split('/').all(|c| c != ".." && c.len() <= 255))
}

/// How many commands of an `Exec*=` value systemd keeps (`exec::exec_line`).
fn commands(value: &str) -> usize {
    exec::summary(value).0
}

/// `valid_user_group_name(VALID_USER_RELAX | VALID_USER_ALLOW_NUMERIC)` as measured on
/// 252: no `:`, `/` or control character, not `.`, `..` or `-`, no surrounding space; a
/// number must be a uid other than 65535 and 4294967295. `-x`, `a b`, `é` and `%u` pass.
fn user_name_valid(v: &str) -> bool {
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u32>().is_ok_and(|uid| uid != 65_535 && uid != u32::MAX);
    }
    !(v.contains([':', '/'])
        || v.chars().any(char::is_control)
        || matches!(v, "." | ".." | "-")
        || v.starts_with(char::is_whitespace)
        || v.ends_with(char::is_whitespace))
}

/// `sd_bus_service_name_is_valid()`: a unique name (`:1.42`) or two or more dot-separated
/// elements of `[A-Za-z0-9_-]`, none empty, the first character of none a digit (for a
/// well-known name), at most 255 characters.
fn bus_name_valid(v: &str) -> bool {
    if v.len() > 255 {
        return false;
    }
    let (unique, body) = match v.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let parts: Vec<&str> = body.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                && (unique || !p.starts_with(|c: char| c.is_ascii_digit()))
        })
}

#[cfg(test)]
mod tests {
    use super::fatal_value;

    /// Each value's answer from systemd 252 (`systemd-analyze verify` of a service with
    /// `ExecStart=/bin/true` and the one line: "Unit configuration has fatal error").
    #[test]
    fn fatal_values_are_systemds() {
        let long = format!("/{}", "a".repeat(256));
        let at_max = format!("/{}", "a".repeat(255));
        let fatal = [
            ("Group", "b:x"),
            ("Group", "65535"),
            ("User", "x%T"),
            ("User", "%Z"),
            ("SupplementaryGroups", "a %Z"),
            ("SupplementaryGroups", "ok 65535"),
            ("DynamicUser", "maybe"),
            ("DynamicUser", ""),
            ("WorkingDirectory", "rel"),
            ("WorkingDirectory", "~x"),
            ("WorkingDirectory", "/a/../b"),
            ("WorkingDirectory", "%u"),
            ("WorkingDirectory", long.as_str()),
            ("RootDirectory", "-/x"),
            ("RootDirectory", "/a/.."),
            ("RootImage", "rel"),
        ];
        let fine = [
            ("Group", "%u"),
            ("Group", ""),
            ("SupplementaryGroups", "adm %u"),
            ("SupplementaryGroups", ""),
            ("DynamicUser", "on"),
            ("WorkingDirectory", "-rel"),
            ("WorkingDirectory", "-/a/../b"),
            ("WorkingDirectory", "~"),
            ("WorkingDirectory", "/a/./b"),
            ("WorkingDirectory", "%h"),
            ("WorkingDirectory", at_max.as_str()),
            ("RootDirectory", ""),
            ("RootDirectory", "/srv/x"),
            ("Type", "bogus"),
        ];
        for (k, v) in fatal {
            assert!(fatal_value(k, v).is_some(), "{k}={v} is fatal");
        }
        for (k, v) in fine {
            assert!(fatal_value(k, v).is_none(), "{k}={v} is not");
        }
    }
}
