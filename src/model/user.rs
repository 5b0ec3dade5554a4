//! Accounts from the root's `/etc/passwd` and `/etc/group`, and linger state (S42, S43).

use serde::{Deserialize, Serialize};

use super::FileMeta;

/// One `/etc/passwd` entry, with the groups it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    /// Names of the primary group and every group listing the user as a member.
    pub groups: Vec<String>,
    /// A login shell: not `nologin`, `false`, `sync` or empty.
    pub login_shell: bool,
    /// uid below 1000 (Debian's `FIRST_UID`), the conventional system-account range.
    pub system: bool,
    /// A `/var/lib/systemd/linger/NAME` entry exists (any type; S43 existence test).
    pub linger: bool,
    /// The home directory resolves to an existing directory inside the root.
    pub home_exists: bool,
    /// The line of its entry in `/etc/passwd` (where a report points).
    #[serde(default)]
    pub line: u32,
}

#[cfg(test)]
impl User {
    /// An ordinary login account (uid as gid) with `home`, for unit tests.
    pub fn for_tests(name: &str, uid: u32, home: &str) -> User {
        User {
            name: name.into(),
            uid,
            gid: uid,
            home: home.into(),
            shell: "/bin/sh".into(),
            groups: Vec::new(),
            login_shell: true,
            system: false,
            linger: false,
            home_exists: true,
            line: 0,
        }
    }
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The linger directory and its entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LingerFacts {
    /// `/var/lib/systemd/linger`.
    pub dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir_meta: Option<FileMeta>,
    pub entries: Vec<LingerEntry>,
}

/// One entry of the linger directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LingerEntry {
    pub name: String,
    pub path: String,
    pub meta: FileMeta,
    /// The account it names, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Hidden or backup name (S8): logind skips it at start (S43).
    pub hidden: bool,
    /// logind starts a manager for it at boot: a file-like entry with a visible name
    /// that resolves to an account (S43).
    pub effective: bool,
}
