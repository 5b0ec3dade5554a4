//! Package provenance, read offline from the root: which package owns a file, the
//! digest the package shipped for it, whether it is a configuration file. Debian's dpkg
//! database (`var/lib/dpkg/status`, `info/*.list`, `info/*.md5sums`, `info/*.conffiles`)
//! and RPM's (`var/lib/rpm/rpmdb.sqlite`, header blobs: see `rpmdb.rs`).
//!
//! Only the files asked about are kept (unit files, drop-ins, generators, what root units
//! run): a 3,000-package root lists a few hundred thousand paths, and every one is
//! matched by name first and resolved inside the root only when its name is wanted.
//! Package paths are as the package installed them (`/lib/systemd/system/x.timer`);
//! their directory is resolved inside the root to compare with the facts' canonical
//! paths (`/usr/lib/systemd/system/x.timer`).

use std::collections::{HashMap, HashSet};

use super::root::{self, Root};
use crate::model::Warning;

/// The most a database file is read (an rpmdb of 3,000 packages is ~100 MiB).
pub const MAX_DB: u64 = 512 * 1024 * 1024;
/// dpkg's directory of per-package lists and digests.
const DPKG_INFO: &str = "/var/lib/dpkg/info";
/// The most a dpkg list, md5sums or status file is read.
const MAX_LIST: u64 = 64 * 1024 * 1024;

/// What a package says of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub package: String,
    /// (algorithm, lowercase hex digest) the package shipped, when it lists one.
    pub digest: Option<(Algo, String)>,
    pub conffile: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

/// A package database and the wanted files it owns, by canonical in-image path.
#[derive(Debug, Default)]
pub struct Db {
    pub manager: String,
    pub database: String,
    pub packages: usize,
    pub owned: HashMap<String, Owned>,
}

/// Resolves the directory of a package path inside the root, once per directory.
struct Canon<'a> {
    root: &'a Root,
    dirs: HashMap<String, String>,
}

impl Canon<'_> {
    fn path(&mut self, p: &str) -> String {
        let p = root::normalize(p);
        let (dir, name) = (root::parent(&p).to_string(), root::basename(&p).to_string());
        let d = self.dirs.entry(dir.clone()).or_insert_with(|| match self.root.chase(&dir, true) {
            Ok(c) => c.path,
            Err(_) => dir,
        });
        root::join(d, &name)
    }
}

/// Reads the root's package database (dpkg, else RPM) for the `wanted` canonical paths.
/// `None` when the root has neither; problems are warnings.
pub fn load(root: &Root, wanted: &HashSet<String>, warnings: &mut Vec<Warning>) -> Option<Db> {
    let names: HashSet<&str> = wanted.iter().map(|p| root::basename(p)).collect();
    let mut canon = Canon { root, dirs: HashMap::new() };
    if root.lstat("/var/lib/dpkg/status").is_ok() {
        return Some(dpkg(root, wanted, &names, &mut canon, warnings));
    }
    for db in ["/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"] {
        if let Ok(c) = root.chase(db, true)
            && c.exists
        {
            return Some(super::rpmdb::read(root, &c.path, wanted, &names, &mut |p| canon.path(p), warnings));
        }
    }
    None
}

fn read_text(root: &Root, p: &str, warnings: &mut Vec<Warning>) -> Option<String> {
    read_text_as(root, p, false, warnings)
}

/// Like `read_text`, but a file that is not there is no warning.
fn read_text_if_there(root: &Root, p: &str, warnings: &mut Vec<Warning>) -> Option<String> {
    read_text_as(root, p, true, warnings)
}

fn read_text_as(root: &Root, p: &str, optional: bool, warnings: &mut Vec<Warning>) -> Option<String> {
    match root.read_capped(p, MAX_LIST) {
        // Valid UTF-8 (every dpkg file in practice) is taken as it is: the lossy copy and
        // scan were a quarter of reading 2,800 of them.
        Ok(b) => Some(String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(Warning { path: p.into(), line: None, message: format!("package database: {e}") });
            None
        }
    }
}

fn dpkg(
    root: &Root,
    wanted: &HashSet<String>,
    names: &HashSet<&str>,
    canon: &mut Canon<'_>,
    warnings: &mut Vec<Warning>,
) -> Db {
    let mut db = Db { manager: "dpkg".into(), database: "/var/lib/dpkg".into(), ..Db::default() };
    // status: installed packages, and the conffiles' digests (they are not in md5sums).
    let mut conf_digests: HashMap<String, String> = HashMap::new();
    let mut installed: HashSet<String> = HashSet::new();
    if let Some(status) = read_text(root, "/var/lib/dpkg/status", warnings) {
        for stanza in status.split("\n\n") {
            let field = |k: &str| stanza.lines().find_map(|l| l.strip_prefix(k)).map(str::trim);
            let (Some(name), Some(st)) = (field("Package:"), field("Status:")) else { continue };
            if !st.ends_with(" installed") {
                continue;
            }
            let arch = field("Architecture:").unwrap_or("all");
            installed.insert(name.to_string());
            installed.insert(format!("{name}:{arch}"));
            let mut in_conf = false;
            for l in stanza.lines() {
                if l.starts_with("Conffiles:") {
                    in_conf = true;
                } else if in_conf && l.starts_with(' ') {
                    let mut it = l.split_whitespace();
                    if let (Some(p), Some(sum)) = (it.next(), it.next())
                        && names.contains(root::basename(p))
                    {
                        conf_digests.insert(canon.path(p), sum.to_string());
                    }
                } else {
                    in_conf = false;
                }
            }
        }
    }
    let info = DPKG_INFO;
    let Ok((entries, _)) = root.list(info) else {
        warnings.push(Warning { path: info.into(), line: None, message: "package database: cannot list".into() });
        return db;
    };
    // Every installed package's list is read and matched on every thread (3,000 lists
    // are most of what `check` reads of a Debian host); what each owns is taken in, in
    // the directory's order, as one pass would (the first package listing a path owns it).
    let mut packages = HashSet::new();
    let mut todo: Vec<(String, String)> = Vec::new();
    for e in entries {
        let file = String::from_utf8_lossy(&e.name).into_owned();
        let Some(pkg) = file.strip_suffix(".list") else { continue };
        let base = pkg.split(':').next().unwrap_or(pkg).to_string();
        if !installed.is_empty() && !installed.contains(pkg) && !installed.contains(&base) {
            continue; // a leftover list of a removed package
        }
        packages.insert(base.clone());
        todo.push((pkg.to_string(), base));
    }
    let owned: Vec<Listed> = {
        use rayon::prelude::*;
        todo.par_iter().map(|(pkg, _)| owned_by(root, wanted, names, pkg)).collect()
    };
    for ((_, base), (mine, mut w)) in todo.into_iter().zip(owned) {
        warnings.append(&mut w);
        for (p, sum) in mine {
            let conf = conf_digests.get(&p);
            let digest = sum.as_ref().or(conf).map(|s| (Algo::Md5, s.to_ascii_lowercase()));
            db.owned.entry(p).or_insert(Owned { package: base.clone(), digest, conffile: conf.is_some() });
        }
    }
    db.packages = packages.len();
    db
}

/// What one package's list gives: the wanted paths it names, each with its md5sums
/// digest, and the warnings of reading it.
type Listed = (Vec<(String, Option<String>)>, Vec<Warning>);

/// The wanted paths package `pkg`'s list names, each with the digest its md5sums gives
/// (canonical in-image paths), and the warnings of reading its list and md5sums.
fn owned_by(root: &Root, wanted: &HashSet<String>, names: &HashSet<&str>, pkg: &str) -> Listed {
    let info = DPKG_INFO;
    let mut warnings = Vec::new();
    let Some(list) = read_text(root, &root::join(info, &format!("{pkg}.list")), &mut warnings) else {
        return (Vec::new(), warnings);
    };
    let mut canon = Canon { root, dirs: HashMap::new() };
    let mut mine: Vec<String> = Vec::new();
    for l in list.lines().filter(|l| names.contains(root::basename(l))) {
        let p = canon.path(l);
        if wanted.contains(&p) {
            mine.push(p);
        }
    }
    if mine.is_empty() {
        return (Vec::new(), warnings);
    }
    let mut sums: HashMap<String, String> = HashMap::new();
    // Many packages ship no md5sums: only one that is there and cannot be read is said
    // (its units' digests are then unknown, as if it were missing).
    if let Some(md5) = read_text_if_there(root, &root::join(info, &format!("{pkg}.md5sums")), &mut warnings) {
        for l in md5.lines() {
            if let Some((sum, p)) = l.split_once("  ")
                && names.contains(root::basename(p))
            {
                sums.insert(canon.path(&format!("/{p}")), sum.trim().to_string());
            }
        }
    }
    let mine = mine.into_iter().map(|p| {
        let sum = sums.get(&p).cloned();
        (p, sum)
    });
    (mine.collect(), warnings)
}
