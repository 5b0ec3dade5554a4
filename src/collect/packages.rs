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
/// dpkg's administrative directory (resolved inside the root: it, or `/var`, may be a
/// link).
const DPKG_DIR: &str = "/var/lib/dpkg";
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

/// The base names of the wanted paths, to match the lines of a package database against:
/// a 3,000-package host lists a few hundred thousand paths, and a line's base name was
/// found and hashed for every one. Most lines are turned away first by their last four
/// bytes alone, looked up in a bit set of the names' last four bytes.
pub struct Names<'a> {
    set: super::FastSet<&'a str>,
    tails: Box<[u64; TAIL_WORDS]>,
}

const TAIL_WORDS: usize = 1024; // 65,536 bits

fn tail_bit(tail: [u8; 4]) -> usize {
    // Fibonacci hashing of the four bytes down to 16 bits.
    (u32::from_le_bytes(tail).wrapping_mul(0x9E37_79B1) >> 16) as usize
}

fn tail(s: &str) -> Option<[u8; 4]> {
    s.as_bytes().last_chunk::<4>().copied()
}

impl<'a> Names<'a> {
    pub fn new(wanted: impl Iterator<Item = &'a str>) -> Self {
        let mut n = Names { set: super::FastSet::default(), tails: Box::new([0; TAIL_WORDS]) };
        for name in wanted {
            if let Some(t) = tail(name) {
                let b = tail_bit(t);
                n.tails[b / 64] |= 1 << (b % 64);
            }
            n.set.insert(name);
        }
        n
    }

    /// Whether `name` is one of the base names.
    pub fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    /// Whether the base name of `path` is one of them.
    pub fn has(&self, path: &str) -> bool {
        // A path whose last four bytes hold no `/` has a base name of four bytes or more
        // ending in them: unless some name of four bytes or more ends so, it is none.
        if let Some(t) = tail(path)
            && !t.contains(&b'/')
        {
            let b = tail_bit(t);
            if self.tails[b / 64] & (1 << (b % 64)) == 0 {
                return false;
            }
        }
        self.set.contains(root::basename(path))
    }
}

/// Reads the root's package database (dpkg, else RPM) for the `wanted` canonical paths.
/// `None` when the root has neither; problems are warnings.
pub fn load(root: &Root, wanted: &HashSet<String>, warnings: &mut Vec<Warning>) -> Option<Db> {
    let names = Names::new(wanted.iter().map(|p| root::basename(p)));
    let mut canon = Canon { root, dirs: HashMap::new() };
    if let Some(dir) = root.chase(DPKG_DIR, true).ok().filter(|c| c.exists).map(|c| c.path)
        && root.lstat(&root::join(&dir, "status")).is_ok()
    {
        return Some(dpkg(root, &dir, wanted, &names, &mut canon, warnings));
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
    dir: &str,
    wanted: &HashSet<String>,
    names: &Names<'_>,
    canon: &mut Canon<'_>,
    warnings: &mut Vec<Warning>,
) -> Db {
    let mut db = Db { manager: "dpkg".into(), database: DPKG_DIR.into(), ..Db::default() };
    // status: installed packages, and the conffiles' digests (they are not in md5sums).
    let mut conf_digests: HashMap<String, String> = HashMap::new();
    let mut installed: HashSet<String> = HashSet::new();
    if let Some(status) = read_text(root, &root::join(dir, "status"), warnings) {
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
                        && names.has(p)
                    {
                        conf_digests.insert(canon.path(p), sum.to_string());
                    }
                } else {
                    in_conf = false;
                }
            }
        }
    }
    let named = root::join(dir, "info");
    let info = match root.chase(&named, true) {
        Ok(c) => c.path,
        // A loop of links, or a directory on the way that cannot be read: the listing
        // of the path as named fails too, and says why.
        Err(_) => named.clone(),
    };
    // Names only: of its ~4 files a package, one or two are read (and `lstat`ed then).
    let entries = match root.names(&info) {
        Ok(e) => e,
        Err(e) => {
            let message = format!("package database: cannot list: {e}");
            warnings.push(Warning { path: named, line: None, message });
            return db;
        }
    };
    // Every installed package's list is read and matched on every thread (3,000 lists
    // are most of what `check` reads of a Debian host); what each owns is taken in, in
    // the directory's order, as one pass would (the first package listing a path owns it).
    let mut packages = HashSet::new();
    let mut todo: Vec<(String, String)> = Vec::new();
    for e in entries {
        let file = String::from_utf8_lossy(&e).into_owned();
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
        todo.par_iter()
            .with_max_len(super::UNITS_PER_TASK)
            .map(|(pkg, _)| owned_by(root, &info, wanted, names, pkg))
            .collect()
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
fn owned_by(root: &Root, info: &str, wanted: &HashSet<String>, names: &Names<'_>, pkg: &str) -> Listed {
    let mut warnings = Vec::new();
    let Some(list) = read_text(root, &root::join(info, &format!("{pkg}.list")), &mut warnings) else {
        return (Vec::new(), warnings);
    };
    let mut canon = Canon { root, dirs: HashMap::new() };
    let mut mine: Vec<String> = Vec::new();
    for l in list.lines().filter(|l| names.has(l)) {
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
                && names.has(p)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The last-four-bytes screen turns away only paths whose base name is not wanted:
    /// on every path here `has` answers as the plain base-name lookup does, names shorter
    /// than four bytes, paths shorter than four, trailing slashes and names sharing their
    /// last four bytes included.
    #[test]
    fn names_screened_by_their_tails_answer_as_the_plain_lookup() {
        let wanted = ["cron.timer", "sh", "ls", "a", "gen", "x.service", "zz-d.conf", "anacron"];
        let names = Names::new(wanted.iter().copied());
        let mut paths: Vec<String> = [
            "/",
            "",
            "a",
            "/a",
            "sh",
            "/bin/sh",
            "/bin/bash",
            "/usr/bin/ls",
            "/usr/bin/lsof",
            "/x/gen",
            "/x/agen",
            "/x/gen/",
            "/etc/cron.timer",
            "/etc/cron.timer/",
            "/etc/cron.timerx",
            "/etc/acron.timer",
            "/etc/xcron.timer",
            "/lib/systemd/system/x.service",
            "/lib/x.service.d/zz-d.conf",
            "/usr/sbin/anacron",
            "/usr/sbin/nacron",
            "/a/b/c",
            "///",
            "/ab",
            "/abc",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every name under a few directories, and every suffix and prefix of each path.
        for w in wanted {
            for d in ["", "/", "/usr/lib/", "/a/"] {
                paths.push(format!("{d}{w}"));
            }
        }
        let more: Vec<String> = paths
            .iter()
            .flat_map(|p| (0..=p.len()).filter(|&i| p.is_char_boundary(i)).map(|i| p[i..].to_string()))
            .collect();
        paths.extend(more);
        let mut hits = 0;
        for p in &paths {
            let plain = wanted.contains(&root::basename(p));
            assert_eq!(names.has(p), plain, "{p:?}");
            hits += usize::from(plain);
        }
        assert!(hits > 30, "the wanted names are found too ({hits})");
        // A set of many names, against many unwanted paths: none turned away wrongly,
        // and most turned away by the screen (its bits are mostly clear).
        let many: Vec<String> = (0..2000).map(|i| format!("unit{i}.timer")).collect();
        let names = Names::new(many.iter().map(String::as_str));
        for i in 0..4000 {
            let p = format!("/usr/share/doc/pkg{i}/file{i}.gz");
            assert!(!names.has(&p), "{p}");
            let p = format!("/usr/lib/systemd/system/unit{i}.timer");
            assert_eq!(names.has(&p), i < 2000, "{p}");
        }
        let set: u32 = names.tails.iter().map(|w| w.count_ones()).sum();
        assert!(set < 65_536 / 4, "{set} bits set for 2,000 names");
    }
}
