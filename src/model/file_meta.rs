//! File metadata as seen by `lstat` (never following the last link), and a path fact that
//! bundles a path as written, where it resolves inside the root, and its parents.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What kind of object sits at a path (from `lstat`, so a symlink is a `Symlink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// A device, socket or FIFO: never a valid unit file.
    Other,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Symlink => "symlink",
            FileKind::Other => "other",
        }
    }
}

/// Permission bits (`st_mode & 0o7777`). Serialised as an octal string ("0644") because
/// that is how people read modes; policies see it as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Mode(pub u32);

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .map(|m| Mode(m & 0o7777))
            .map_err(|_| serde::de::Error::custom(format!("invalid octal mode {s:?}")))
    }
}

/// `lstat` metadata of one path inside the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub kind: FileKind,
    pub mode: Mode,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// The raw link text of a symlink, exactly as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A path named by configuration (an executable, an `EnvironmentFile=`, a linked unit's
/// real file): as written, where it resolves chroot-style inside the root, the metadata
/// of what it resolves to, and the in-image paths of every parent directory (whose
/// metadata is in `Host::paths`). An attacker who can write any parent can swap the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathFact {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<FileMeta>,
    /// Metadata of the path itself before following a final symlink, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_meta: Option<FileMeta>,
    #[serde(default)]
    pub parents: Vec<String>,
    /// Why it could not be resolved (missing, loop, not a directory, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The sandboxing setting that hides it from the command that names it
    /// (`PrivateTmp=yes`, `InaccessiblePaths=/opt`): the command cannot run or read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_by: Option<String>,
}

impl PathFact {
    /// `path`, with nothing known of it yet.
    pub fn named(path: String) -> Self {
        PathFact {
            path,
            resolved: None,
            meta: None,
            link_meta: None,
            parents: Vec::new(),
            error: None,
            hidden_by: None,
        }
    }
}
