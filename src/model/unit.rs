//! A resolved unit: the fragment that won (S4), its aliases (S9), the drop-ins applied in
//! order (S10–S14), and the effective settings, each with the file and line it came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DirRole, FileMeta, PathFact};

/// One effective assignment: its value (specifiers not expanded), file and line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub value: String,
    pub file: String,
    pub line: u32,
}

/// Section → key → effective assignments. Single-valued keys hold the one that won (the
/// last, S28); list keys hold every assignment after the last empty reset.
pub type SettingMap = BTreeMap<String, BTreeMap<String, Vec<Setting>>>;

/// What `systemctl load` would say about the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadState {
    Loaded,
    /// Fragment is a link to `/dev/null` or an empty file (S7).
    Masked,
    /// No fragment anywhere on the search path (or an alias that dangles).
    NotFound,
    /// Parsed but refused (a timer without triggers, S34).
    BadSetting,
    /// The fragment could not be read or parsed (line too long, bad section header, …).
    Error,
}

impl LoadState {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadState::Loaded => "loaded",
            LoadState::Masked => "masked",
            LoadState::NotFound => "not-found",
            LoadState::BadSetting => "bad-setting",
            LoadState::Error => "error",
        }
    }
}

/// `systemctl is-enabled` vocabulary (S18), computed offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitFileState {
    Enabled,
    EnabledRuntime,
    Linked,
    LinkedRuntime,
    Alias,
    Masked,
    MaskedRuntime,
    Static,
    Indirect,
    Disabled,
    Generated,
    Transient,
    Bad,
}

impl UnitFileState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::EnabledRuntime => "enabled-runtime",
            Self::Linked => "linked",
            Self::LinkedRuntime => "linked-runtime",
            Self::Alias => "alias",
            Self::Masked => "masked",
            Self::MaskedRuntime => "masked-runtime",
            Self::Static => "static",
            Self::Indirect => "indirect",
            Self::Disabled => "disabled",
            Self::Generated => "generated",
            Self::Transient => "transient",
            Self::Bad => "bad",
        }
    }
}

/// A file that contributed to a unit (fragment or drop-in), with where it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// In-image path of the directory entry (a link stays the link's path).
    pub path: String,
    /// The search directory it was found in, and that directory's role.
    pub dir: String,
    pub role: DirRole,
    pub meta: FileMeta,
    /// For a symlink: what it resolves to inside the root, with metadata and parents
    /// (a linked unit's real file, S5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PathFact>,
    /// A hidden or backup name (S8).
    #[serde(default)]
    pub hidden: bool,
    /// A link to `/dev/null` or an empty file: masks (fragment) or suppresses (drop-in).
    #[serde(default)]
    pub null: bool,
    /// SHA-256 of the content read (trusted snapshots compare it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// One unit as the manager of its scope would load it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unit {
    /// The name it was looked up by (its id).
    pub name: String,
    /// Every name of the unit, the id included (aliases by symlink, S9).
    pub names: Vec<String>,
    /// `timer`, `service`, `target`, …
    #[serde(rename = "type")]
    pub unit_type: String,
    pub load_state: LoadState,
    /// Why it failed to load, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<FileRef>,
    /// Every drop-in in application order (S11); suppressed ones carry `null: true`.
    pub dropins: Vec<FileRef>,
    /// Shared: a unit is copied per scope to set its `file_state`, and its settings are
    /// the largest part of it.
    pub settings: std::sync::Arc<SettingMap>,
    /// `is-enabled` answer (S18). `None` for instances (systemctl asks the template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_state: Option<UnitFileState>,
    /// A hidden name (S8): loadable, but not listed and its `.wants` links are ignored.
    #[serde(default)]
    pub hidden: bool,
}

impl Unit {
    /// The effective assignments of `section.key` (empty when unset).
    pub fn get(&self, section: &str, key: &str) -> &[Setting] {
        self.settings.get(section).and_then(|s| s.get(key)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The winning value of a single-valued setting.
    pub fn last(&self, section: &str, key: &str) -> Option<&Setting> {
        self.get(section, key).last()
    }
}
