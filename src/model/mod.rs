//! The fact types: what a root filesystem looks like to systemd, as plain serialisable
//! data. Everything here is built by `collect/` and read by `list`, `facts` and policies;
//! nothing here touches the filesystem. Paths are always *in-image* paths ("/etc/…"),
//! never host paths, so facts collected from `--root DIR` read the same as a live scan.

mod file_meta;
mod host;
mod provenance;
mod timer;
mod unit;
mod user;

pub use file_meta::{FileKind, FileMeta, Mode, PathFact};
pub use host::{DirRole, EntryFact, EntryKind, FACTS_SCHEMA, Host, LoadedTimer, Scope, ScopeKind, UnitDir, Warning};
pub use provenance::{Change, DigestState, Drift, FileProvenance, PackageDbFacts, SettingDiff, ShadowDiff};
pub use timer::{Activation, ActivationReason, ExecCommand, FileRole, Preset, RunsAs, Timer, Trigger, UsedFile};
pub use unit::{FileRef, LoadState, Setting, SettingMap, Unit, UnitFileState};
pub use user::{Group, LingerEntry, LingerFacts, User};
