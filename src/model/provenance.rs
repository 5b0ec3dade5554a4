//! Where the files systemd runs come from: the package that owns each (read from the
//! root's dpkg or RPM database), whether its content is what the package shipped, and
//! for a unit copied to `/etc`, how it differs from the packaged copy it hides.

use serde::{Deserialize, Serialize};

use super::DirRole;

/// The root's package database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDbFacts {
    /// `dpkg` or `rpm`.
    pub manager: String,
    /// Where it was read (`/var/lib/dpkg`, `/var/lib/rpm/rpmdb.sqlite`).
    pub database: String,
    pub packages: usize,
}

/// A file's content against its package's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestState {
    /// What the package shipped.
    Match,
    /// Changed since the package installed it (the mtime says nothing: it can be forged).
    Differs,
    /// No package owns it, or the package lists no digest for it.
    Unknown,
    /// It could not be read (too large, not a regular file).
    Unreadable,
}

impl DigestState {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestState::Match => "match",
            DigestState::Differs => "differs",
            DigestState::Unknown => "unknown",
            DigestState::Unreadable => "unreadable",
        }
    }
}

/// One security-relevant setting that differs between a local copy and the packaged one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingDiff {
    pub section: String,
    pub key: String,
    /// The packaged copy's values (empty: not set there).
    pub vendor: Vec<String>,
    /// The local copy's values (empty: not set there).
    pub local: Vec<String>,
}

/// The packaged unit a local full copy hides (S4), and what the copy changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowDiff {
    /// The hidden copy (in a vendor directory).
    pub vendor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Security-relevant settings that differ (user, `Exec*=`, environment, capabilities,
    /// sandboxing, a timer's `Unit=`).
    pub settings: Vec<SettingDiff>,
}

/// Provenance of one file of the shared scopes: unit files, drop-ins, generators, and
/// what root timers run or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProvenance {
    /// Canonical in-image path.
    pub path: String,
    /// `unit`, `dropin`, `generator`, `executable`, `script`, `environment-file`, `preload`.
    pub role: String,
    /// `system` or `global`.
    pub scope: String,
    /// For unit files and drop-ins: the search directory's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir_role: Option<DirRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default)]
    pub conffile: bool,
    pub digest: DigestState,
    /// SHA-256 of the content (what a trusted snapshot records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadows: Option<ShadowDiff>,
}

/// One difference from a trusted snapshot (`check --trusted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What changed: `fragment`, `content`, `drop-in PATH`, `setting Section.Key`,
    /// `activation`, `runs as`, `package`, `executable PATH`.
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A timer or service that is new, changed or gone since the trusted snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// `new`, `changed` or `gone`.
    pub kind: String,
    pub scope: String,
    pub unit: String,
    pub unit_type: String,
    /// Its fragment now (or in the snapshot, when gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
}
