//! Which sections and keys systemd 252 accepts per unit type, and which keys are lists.
//! The parser warns about unknown names (S26) from these tables; merging (S28) uses the
//! list table. `[Service]` and the other large sections are not enumerated in full (a
//! stale table would warn wrongly); there we warn only about case variants of the keys
//! that matter to us (`execstart=` silently does nothing, which hides intent).

use super::unit_file::Schema;

const UNIT_KEYS: &[&str] = &[
    "Description",
    "Documentation",
    "Requires",
    "Requisite",
    "Wants",
    "BindsTo",
    "PartOf",
    "Upholds",
    "Conflicts",
    "Before",
    "After",
    "OnFailure",
    "OnSuccess",
    "PropagatesReloadTo",
    "ReloadPropagatedFrom",
    "PropagatesStopTo",
    "StopPropagatedFrom",
    "JoinsNamespaceOf",
    "RequiresMountsFor",
    "OnFailureJobMode",
    "OnSuccessJobMode",
    "IgnoreOnIsolate",
    "StopWhenUnneeded",
    "RefuseManualStart",
    "RefuseManualStop",
    "AllowIsolate",
    "DefaultDependencies",
    "CollectMode",
    "FailureAction",
    "SuccessAction",
    "FailureActionExitStatus",
    "SuccessActionExitStatus",
    "JobTimeoutSec",
    "JobRunningTimeoutSec",
    "JobTimeoutAction",
    "JobTimeoutRebootArgument",
    "StartLimitIntervalSec",
    "StartLimitBurst",
    "StartLimitAction",
    "RebootArgument",
    "SourcePath",
    "OnFailureIsolate",
    "BindTo",
    "PropagateReloadTo",
    "PropagateReloadFrom",
    "StartLimitInterval",
    "IgnoreOnSnapshot",
];

/// `[Timer]` (systemd.timer(5), S32).
pub const TIMER_KEYS: &[&str] = &[
    "OnActiveSec",
    "OnBootSec",
    "OnStartupSec",
    "OnUnitActiveSec",
    "OnUnitInactiveSec",
    "OnCalendar",
    "AccuracySec",
    "RandomizedDelaySec",
    "FixedRandomDelay",
    "OnClockChange",
    "OnTimezoneChange",
    "Unit",
    "Persistent",
    "WakeSystem",
    "RemainAfterElapse",
];

const INSTALL_KEYS: &[&str] = &["Alias", "WantedBy", "RequiredBy", "UpheldBy", "DefaultInstance", "Also"];

/// The triggers of a timer: all lists, and an empty assignment of *any* of them resets
/// all of them (S28).
pub const TRIGGER_KEYS: &[&str] =
    &["OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec", "OnCalendar"];

/// `OnClockChange=`, `OnTimezoneChange=`: booleans that make a timer fire when the
/// clock or the time zone changes; either alone is a timer's trigger (`timer_verify`).
pub const CHANGE_KEYS: &[&str] = &["OnClockChange", "OnTimezoneChange"];

/// Whether systemd ignores this value ("…, ignoring"), so the one before it stays: an
/// invalid boolean timerguard reads (`config_parse_bool`, S29) or time span
/// (`config_parse_sec`).
pub fn value_ignored(section: &str, key: &str, value: &str) -> bool {
    match (section, key) {
        ("Timer", "AccuracySec" | "RandomizedDelaySec") => crate::schedule::parse_timespan(value).is_err(),
        _ => is_bool(section, key) && super::parse_bool(value).is_none(),
    }
}

/// Keys whose case variants we flag in sections we do not enumerate.
const WATCHED_KEYS: &[&str] = &[
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecStop",
    "ExecStopPost",
    "ExecReload",
    "ExecCondition",
    "User",
    "Group",
    "DynamicUser",
    "EnvironmentFile",
    "Environment",
    "Type",
    "AmbientCapabilities",
    "CapabilityBoundingSet",
    "SupplementaryGroups",
    "NoNewPrivileges",
    "RootDirectory",
    "WorkingDirectory",
];

/// Booleans timerguard reads (`config_parse_bool`).
fn is_bool(section: &str, key: &str) -> bool {
    matches!(
        (section, key),
        (
            "Timer",
            "Persistent"
                | "WakeSystem"
                | "RemainAfterElapse"
                | "FixedRandomDelay"
                | "OnClockChange"
                | "OnTimezoneChange"
        ) | ("Service", "DynamicUser" | "RemainAfterExit")
    )
}

/// How assignments of a key combine (S28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Single-valued: the last assignment wins.
    Last,
    /// A list: assignments accumulate, an empty one resets it (for a timer's triggers:
    /// all of them).
    List,
    /// Every line is kept, an empty one too: the reader picks (a timer's `Unit=`, whose
    /// first usable line wins, `timer::trigger_unit`).
    Every,
}

/// The list keys an empty assignment of `section`'s `key` resets together, when more
/// than the key itself: any trigger of a timer resets them all, and an empty
/// `BindPaths=` or `BindReadOnlyPaths=` both lists of binds (systemd.exec(5)).
pub fn reset_together(section: &str, key: &str) -> Option<&'static [&'static str]> {
    match (section, key) {
        ("Timer", _) => Some(TRIGGER_KEYS),
        (_, "BindPaths" | "BindReadOnlyPaths") => Some(&["BindPaths", "BindReadOnlyPaths"]),
        _ => None,
    }
}

/// How assignments of `section`'s `key` combine.
pub fn merge_of(section: &str, key: &str) -> Merge {
    match (section, key) {
        ("Timer", "Unit") => Merge::Every,
        _ if is_list(section, key) => Merge::List,
        _ => Merge::Last,
    }
}

/// Keys that accumulate (an empty assignment resets), per section; all others are
/// single-valued and the last assignment wins (S28).
fn is_list(section: &str, key: &str) -> bool {
    match section {
        "Unit" => {
            matches!(
                key,
                "Documentation"
                    | "Requires"
                    | "Requisite"
                    | "Wants"
                    | "BindsTo"
                    | "PartOf"
                    | "Upholds"
                    | "Conflicts"
                    | "Before"
                    | "After"
                    | "OnFailure"
                    | "OnSuccess"
                    | "PropagatesReloadTo"
                    | "ReloadPropagatedFrom"
                    | "PropagatesStopTo"
                    | "StopPropagatedFrom"
                    | "JoinsNamespaceOf"
                    | "RequiresMountsFor"
            ) || key.starts_with("Condition")
                || key.starts_with("Assert")
        }
        "Timer" => TRIGGER_KEYS.contains(&key),
        "Install" => matches!(key, "Alias" | "WantedBy" | "RequiredBy" | "UpheldBy" | "Also"),
        _ => {
            key.starts_with("Exec")
                || matches!(
                    key,
                    "EnvironmentFile"
                        | "Environment"
                        | "UnsetEnvironment"
                        | "SupplementaryGroups"
                        | "AmbientCapabilities"
                        | "CapabilityBoundingSet"
                        | "ReadWritePaths"
                        | "ReadOnlyPaths"
                        | "InaccessiblePaths"
                        | "BindPaths"
                        | "BindReadOnlyPaths"
                        | "TemporaryFileSystem"
                        | "MountImages"
                        | "ExtensionImages"
                        | "ExtensionDirectories"
                        | "PassEnvironment"
                        | "RuntimeDirectory"
                        | "StateDirectory"
                        | "CacheDirectory"
                        | "LogsDirectory"
                        | "ConfigurationDirectory"
                        | "SystemCallFilter"
                        | "DeviceAllow"
                        | "ListenStream"
                        | "ListenDatagram"
                        | "PathExists"
                        | "PathChanged"
                        | "PathModified"
                        | "DirectoryNotEmpty"
                        | "PathExistsGlob"
                )
        }
    }
}

/// The section names of a unit type (the type's own section is `Service`, `Timer`, …).
fn own_section(unit_type: &str) -> Option<&'static str> {
    Some(match unit_type {
        "service" => "Service",
        "timer" => "Timer",
        "socket" => "Socket",
        "path" => "Path",
        "mount" => "Mount",
        "automount" => "Automount",
        "swap" => "Swap",
        "slice" => "Slice",
        "scope" => "Scope",
        _ => return None,
    })
}

static TIMER_SCHEMA: [(&str, Option<&[&str]>); 3] =
    [("Unit", Some(UNIT_KEYS)), ("Install", Some(INSTALL_KEYS)), ("Timer", Some(TIMER_KEYS))];

/// The parser schema for a unit type.
pub fn schema_for(unit_type: &str) -> Schema {
    if unit_type == "timer" {
        return Schema { sections: &TIMER_SCHEMA };
    }
    // Leaked once per type: a handful of tiny static tables for the life of the process.
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Table = &'static [(&'static str, Option<&'static [&'static str]>)];
    static CACHE: OnceLock<Mutex<HashMap<String, Table>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let table = *map.entry(unit_type.to_string()).or_insert_with(|| {
        let mut v: Vec<(&'static str, Option<&'static [&'static str]>)> =
            vec![("Unit", Some(UNIT_KEYS)), ("Install", Some(INSTALL_KEYS))];
        if let Some(s) = own_section(unit_type) {
            v.push((s, None));
        }
        Box::leak(v.into_boxed_slice())
    });
    Schema { sections: table }
}

/// True when `key` differs from a watched key only by case: systemd ignores it, so the
/// author's intent silently does nothing.
pub fn case_variant_of_known(_section: &str, key: &str) -> bool {
    WATCHED_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key) && *k != key)
}

/// Whether a `[Unit]` key is accepted: the enumerated ones plus every `Condition*`/`Assert*`.
pub fn unit_key_known(key: &str) -> bool {
    UNIT_KEYS.contains(&key) || key.starts_with("Condition") || key.starts_with("Assert")
}
