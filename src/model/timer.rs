//! A timer with everything needed to judge it: its triggers, the service it starts, who
//! that service runs as and what it executes, and whether it will actually run (S15–S20).

use serde::{Deserialize, Serialize};

use super::{PathFact, Setting, UnitFileState};

/// One trigger line (`OnCalendar=`, a monotonic `On*Sec=`, or `OnClockChange=`/
/// `OnTimezoneChange=` when true), after the S28 reset rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The key: `OnCalendar`, `OnBootSec`, …
    pub key: String,
    /// The value after specifier expansion (S31).
    pub value: String,
    /// For monotonic triggers: the span in microseconds, when it parses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usec: Option<u64>,
    /// For calendar triggers: the normalised form, exactly as systemd prints it (S39).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
    /// The shortest time between two elapses of this trigger, when it repeats: for a
    /// calendar, over its next elapses; for `OnUnitActiveSec=`/`OnUnitInactiveSec=`, the
    /// span. One-shot triggers (`OnBootSec=`, …) have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_usec: Option<u64>,
    /// A valid calendar expression that will never elapse again (`2024-02-30`).
    #[serde(default)]
    pub never_elapses: bool,
    /// Why systemd ignores this line (for `invalid_triggers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub file: String,
    pub line: u32,
}

impl Trigger {
    /// The trigger a `key=` line sets, before its value is read.
    pub fn of(key: &str, s: &Setting) -> Trigger {
        Trigger {
            key: key.into(),
            value: s.value.clone(),
            usec: None,
            normalized: None,
            interval_usec: None,
            never_elapses: false,
            error: None,
            file: s.file.clone(),
            line: s.line,
        }
    }
}

/// Who the triggered service runs as (S41). The one answer `list`, the facts and every
/// policy use: `privileged` is true when *any* of the service's code runs as uid 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunsAs {
    /// `User=` as written (expanded), or the manager's user (`root` for the system scope).
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub dynamic_user: bool,
    /// The uid when the user resolves in `/etc/passwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The service's credentials are uid 0: the system manager without `User=`/
    /// `DynamicUser=`, or a `User=` naming a uid-0 account.
    #[serde(default)]
    pub user_is_root: bool,
    /// Commands that run as root although `User=` names someone else: the `+` and `!`
    /// prefixes of the system manager (systemd.service(5), "Command lines"), by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elevated: Vec<String>,
    /// Some code of the service runs as uid 0: `user_is_root`, or an elevated command.
    pub privileged: bool,
}

impl RunsAs {
    /// One line for people: `root`, `man`, or `man (ExecStart as root)`.
    pub fn label(&self) -> String {
        if self.user_is_root || self.elevated.is_empty() {
            return self.user.clone();
        }
        format!("{} ({} as root)", self.user, self.elevated.join(", "))
    }
}

/// What a used file is to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileRole {
    /// argv[0] of an `Exec*=` command.
    Executable,
    /// An absolute-path argument that is an existing file (`sh /opt/x.sh`).
    Script,
    /// `EnvironmentFile=`: read by the manager, applied to every command.
    EnvironmentFile,
    /// A library named by `LD_PRELOAD` in `Environment=` or an environment file: loaded
    /// into every command.
    Preload,
    /// A disk image or extension directory the commands take their files from
    /// (`RootImage=`, `MountImages=`, `ExtensionImages=`, `ExtensionDirectories=`).
    Image,
}

impl FileRole {
    pub fn as_str(self) -> &'static str {
        match self {
            FileRole::Executable => "executable",
            FileRole::Script => "script",
            FileRole::EnvironmentFile => "environment-file",
            FileRole::Preload => "preload",
            FileRole::Image => "image",
        }
    }
}

/// A file the timer's service runs or reads, resolved inside the root, with the
/// setting (key, file, line) that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedFile {
    pub role: FileRole,
    /// The file: as written, resolved, its metadata and its parents.
    pub target: PathFact,
    /// `ExecStart`, `EnvironmentFile`, `Environment`, …
    pub key: String,
    /// Where the setting is (a unit file or drop-in; for a preload found in an
    /// environment file, that environment file).
    pub file: String,
    pub line: u32,
    /// Used by code running as uid 0.
    pub privileged: bool,
}

/// One command of an `Exec*=` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecCommand {
    /// `ExecStart`, `ExecStartPre`, …
    pub key: String,
    /// The special prefixes (`@`, `-`, `:`, `+`, `!`, `!!`) as written.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefixes: String,
    pub argv: Vec<String>,
    /// Runs with uid 0: the service does, or the `+` prefix grants full privileges to
    /// this command whatever `User=` says (systemd.service(5)).
    pub privileged: bool,
    /// argv[0] resolved inside the root (the fixed search path for bare names).
    pub executable: PathFact,
    /// Absolute-path arguments that are existing files: scripts run by an interpreter.
    #[serde(default)]
    pub scripts: Vec<PathFact>,
    pub file: String,
    pub line: u32,
}

/// Why a timer will (or would) be started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ActivationReason {
    /// A symlink in `UNIT.wants/` or `UNIT.requires/` (S15). `injected`: not the
    /// unit's own `[Install]` (its `WantedBy=`/`RequiredBy=` do not name `by`) and not
    /// shipped in a vendor directory.
    Link {
        path: String,
        role: super::DirRole,
        by: String,
        boot: bool,
        #[serde(default)]
        injected: bool,
    },
    /// `Wants=`/`Requires=`/`BindsTo=`/`Upholds=`/`OnSuccess=`/`OnFailure=` in some unit's
    /// fragment or drop-in (S18). `injected`: the declaring file is not a vendor one.
    Dependency {
        unit: String,
        key: String,
        file: String,
        line: u32,
        boot: bool,
        #[serde(default)]
        injected: bool,
    },
    /// First boot (machine-id unset): `preset-all` would enable it (S20). `file` is
    /// empty when no preset line matched (the default is enable).
    Preset { file: String, line: u32 },
    /// `systemd-run` created it (S22); it is running now, until reboot.
    Transient { path: String },
    /// A generator wrote it (S21).
    Generated { path: String },
}

/// Will the timer run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// One word for the table: `masked`, `bad`, `enabled`, `enabled-runtime`, `vendor`,
    /// `wanted`, `transient`, `generated`, `inert`, `not-found`.
    pub state: String,
    /// True when something reachable at boot (or already running: transient) pulls it in
    /// and it can load.
    pub will_run: bool,
    pub reasons: Vec<ActivationReason>,
}

/// A timer unit and the service it triggers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timer {
    pub name: String,
    /// In-image path of the fragment (or of the template it comes from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `systemctl is-enabled`'s answer (S18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_state: Option<UnitFileState>,
    pub activation: Activation,
    /// `Unit=` (expanded) or the same-prefix `.service` (S33).
    pub service: String,
    /// Where `Unit=` came from, when set explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_setting: Option<Setting>,
    /// The target unit loads (exists and is not masked).
    pub service_loaded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_fragment: Option<String>,
    pub triggers: Vec<Trigger>,
    /// Trigger lines that are ignored and why (bad spans, specifier errors, …).
    #[serde(default)]
    pub invalid_triggers: Vec<Trigger>,
    pub persistent: bool,
    /// Every trigger is a calendar expression that never elapses: the timer is dead.
    #[serde(default)]
    pub never_elapses: bool,
    /// The shortest interval between elapses over all repeating triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_usec: Option<u64>,
    pub runs_as: RunsAs,
    pub exec: Vec<ExecCommand>,
    pub environment_files: Vec<PathFact>,
    /// Every file the service runs or reads: executables, scripts, environment files,
    /// preloaded libraries.
    #[serde(default)]
    pub files: Vec<UsedFile>,
    /// Why the *service* is started other than by this timer: edges into it from the
    /// boot graph (a `Wants=` or `.wants/` link naming the service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_activation: Vec<ActivationReason>,
    /// The preset verdict for this timer (S20): `enable`/`disable` and the line that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// For user scopes: the owning account lingers (its manager runs without a login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linger: Option<bool>,
}

/// What the preset files say about a unit (S20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    pub enable: bool,
    /// The deciding file and line; absent when no line matched (default: enable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}
