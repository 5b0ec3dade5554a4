//! RPM's package database, read offline: `rpmdb.sqlite` (Fedora, RHEL 9+, SUSE), one
//! header blob per package in table `Packages`. A blob is an RPM header without its
//! magic: index count and data length (big-endian u32), 16-byte index entries (tag,
//! type, offset, count) and the data store. The tags read: NAME, BASENAMES, DIRNAMES,
//! DIRINDEXES, FILEDIGESTS, FILEFLAGS (bit 0: config) and FILEDIGESTALGO.
//!
//! The database is read through the root like every file (confined, capped) and copied
//! into a private temporary directory for SQLite: it never opens a path in the image and
//! never writes there. Every offset and count of a (possibly hostile) blob is checked.

use std::collections::{HashMap, HashSet};

use super::packages::{Algo, Db, Owned};
use super::root::{self, Root};
use crate::model::Warning;

const TAG_NAME: u32 = 1000;
const TAG_FILEDIGESTS: u32 = 1035;
const TAG_FILEFLAGS: u32 = 1037;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;
const TAG_FILEDIGESTALGO: u32 = 5011;
const RPMFILE_CONFIG: u32 = 1;

/// A parsed header: tag → raw (type, count, data from the offset on).
struct Header<'a> {
    tags: HashMap<u32, (u32, usize, &'a [u8])>,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> Header<'a> {
    fn parse(blob: &'a [u8]) -> Option<Header<'a>> {
        let il = usize::try_from(be32(blob, 0)?).ok()?;
        let dl = usize::try_from(be32(blob, 4)?).ok()?;
        let start = il.checked_mul(16)?.checked_add(8)?;
        let data = blob.get(start..start.checked_add(dl)?)?;
        let mut tags = HashMap::new();
        for i in 0..il {
            let at = 8 + i * 16;
            let (tag, ty) = (be32(blob, at)?, be32(blob, at + 4)?);
            let (off, count) =
                (usize::try_from(be32(blob, at + 8)?).ok()?, usize::try_from(be32(blob, at + 12)?).ok()?);
            if let Some(d) = data.get(off..) {
                tags.insert(tag, (ty, count, d));
            }
        }
        Some(Header { tags })
    }

    fn strings(&self, tag: u32) -> Vec<String> {
        let Some(&(ty, count, d)) = self.tags.get(&tag) else { return Vec::new() };
        let n = if ty == 6 { 1 } else { count };
        d.split(|&b| b == 0).take(n.min(d.len() + 1)).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }

    fn ints(&self, tag: u32) -> Vec<u32> {
        let Some(&(ty, count, d)) = self.tags.get(&tag) else { return Vec::new() };
        if ty != 4 {
            return Vec::new();
        }
        (0..count.min(d.len() / 4)).filter_map(|i| be32(d, i * 4)).collect()
    }
}

/// Reads the wanted files' owners from an rpmdb.sqlite at `path` (canonical, in-image).
pub fn read(
    root: &Root,
    path: &str,
    wanted: &HashSet<String>,
    names: &super::packages::Names<'_>,
    canon: &mut dyn FnMut(&str) -> String,
    warnings: &mut Vec<Warning>,
) -> Db {
    let mut db = Db { manager: "rpm".into(), database: path.into(), ..Db::default() };
    let mut warn = |m: String| warnings.push(Warning { path: path.into(), line: None, message: m });
    let blobs = match blobs(root, path) {
        Ok(b) => b,
        Err(e) => {
            warn(format!("package database not read: {e}"));
            return db;
        }
    };
    for blob in &blobs {
        let Some(h) = Header::parse(blob) else {
            warn("a package header is malformed; skipped".into());
            continue;
        };
        let Some(name) = h.strings(TAG_NAME).into_iter().next() else { continue };
        db.packages += 1;
        let (bases, dirs, idx) = (h.strings(TAG_BASENAMES), h.strings(TAG_DIRNAMES), h.ints(TAG_DIRINDEXES));
        let digests = h.strings(TAG_FILEDIGESTS);
        let flags = h.ints(TAG_FILEFLAGS);
        let algo = match h.ints(TAG_FILEDIGESTALGO).first() {
            Some(2) => Algo::Sha1,
            Some(8) => Algo::Sha256,
            Some(10) => Algo::Sha512,
            _ => Algo::Md5,
        };
        for (i, base) in bases.iter().enumerate() {
            if !names.contains(base.as_str()) {
                continue;
            }
            let Some(dir) = idx.get(i).and_then(|&d| dirs.get(usize::try_from(d).ok()?)) else { continue };
            let p = canon(&root::join(dir.trim_end_matches('/'), base));
            if !wanted.contains(&p) {
                continue;
            }
            let digest = digests.get(i).filter(|d| !d.is_empty()).map(|d| (algo, d.to_ascii_lowercase()));
            let conffile = flags.get(i).is_some_and(|f| f & RPMFILE_CONFIG != 0);
            db.owned.entry(p).or_insert(Owned { package: name.clone(), digest, conffile });
        }
    }
    db
}

/// Every header blob of the database, read from a private copy of it.
fn blobs(root: &Root, path: &str) -> Result<Vec<Vec<u8>>, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let copy = tmp.path().join("rpmdb.sqlite");
    std::fs::write(&copy, root.read_capped(path, super::packages::MAX_DB).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    // Changes not yet checkpointed live in the write-ahead log.
    if let Ok(wal) = root.read_capped(&format!("{path}-wal"), super::packages::MAX_DB) {
        std::fs::write(tmp.path().join("rpmdb.sqlite-wal"), wal).map_err(|e| e.to_string())?;
    }
    let conn = rusqlite::Connection::open(&copy).map_err(|e| e.to_string())?;
    let mut st = conn.prepare("SELECT blob FROM Packages").map_err(|e| e.to_string())?;
    let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_headers_are_refused_not_read_past() {
        assert!(Header::parse(&[]).is_none());
        assert!(Header::parse(&[0, 0, 0, 1, 0, 0, 0, 0]).is_none(), "one entry but no room for it");
        let mut b = vec![0, 0, 0, 1, 0, 0, 0, 4];
        b.extend([0, 0, 3, 232, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        b.extend(b"x\0y\0");
        let h = Header::parse(&b).unwrap();
        assert!(h.strings(TAG_NAME).is_empty(), "an offset past the data is dropped");
        let mut b = vec![0, 0, 0, 1, 0, 0, 0, 4];
        b.extend([0, 0, 3, 232, 0, 0, 0, 8, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        b.extend(b"x\0y\0");
        let h = Header::parse(&b).unwrap();
        assert_eq!(h.strings(TAG_NAME), ["x", "y", ""], "a huge count stops at the data's end");
    }
}
