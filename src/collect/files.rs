//! Reads and parses unit files and drop-ins once per collection, shared by every scope
//! and thread (10,000 user managers read the same `/usr/lib/systemd/user` files).

use std::sync::{Arc, Mutex, PoisonError};

use super::root::Root;
use super::schema::schema_for;
use super::unit_file::{self, Assignment, Parsed};

/// Larger files are refused unread: no real unit file comes near this, and a hostile one
/// must not exhaust memory. systemd itself refuses any line over 1 MiB.
pub const MAX_UNIT_FILE: u64 = 16 * 1024 * 1024;

/// A read and parsed file, or why it could not be read.
#[derive(Debug)]
pub struct Loaded(Result<Parsed, String>, Option<String>);

impl Loaded {
    /// SHA-256 of the content, when it was read (what trusted snapshots compare).
    pub fn sha256(&self) -> Option<&String> {
        self.1.as_ref()
    }

    /// This file as systemd applies it when the assignment at `index` fails the parse
    /// (`service_check`): the assignments before it, that one's `kept` part if any, and
    /// the error at its line.
    pub fn cut(&self, index: usize, kept: Option<String>, why: String) -> Loaded {
        let parsed = self.0.as_ref().map(|p| {
            let line = p.assignments.get(index).map_or(u32::MAX, |a| a.line);
            let mut assignments = p.assignments[..index.min(p.assignments.len())].to_vec();
            if let (Some(value), Some(a)) = (kept, p.assignments.get(index)) {
                assignments.push(Assignment { value, ..a.clone() });
            }
            Parsed {
                assignments,
                warnings: p.warnings.iter().filter(|(l, _)| *l < line).cloned().collect(),
                error: Some(unit_file::ParseError::FatalSetting { line, why }),
            }
        });
        Loaded(parsed.map_err(Clone::clone), self.1.clone())
    }

    /// Whether the file stopped at a setting systemd cannot take (a unit file is then
    /// `bad-setting`, not `error`).
    pub fn stopped_at_setting(&self) -> bool {
        matches!(&self.0, Ok(Parsed { error: Some(unit_file::ParseError::FatalSetting { .. }), .. }))
    }

    /// Why systemd would refuse this file as a fragment (unreadable or a fatal parse error).
    pub fn fatal(&self) -> Option<String> {
        match &self.0 {
            Err(e) => Some(e.clone()),
            Ok(p) => p.error.as_ref().map(ToString::to_string),
        }
    }

    /// Every warning, the fatal error included (for a drop-in it only stops that file).
    pub fn warnings(&self) -> Vec<(u32, String)> {
        match &self.0 {
            Err(_) => Vec::new(),
            Ok(p) => {
                let mut w = p.warnings.clone();
                if let Some(e) = &p.error {
                    w.push((e.line(), e.to_string()));
                }
                w
            }
        }
    }

    pub fn assignments(&self) -> impl Iterator<Item = &Assignment> {
        self.0.as_ref().ok().into_iter().flat_map(|p| p.assignments.iter())
    }
}

/// Parsed files by in-image path, then unit type (the type decides the known sections;
/// a path is nearly always read as one type). Keyed so that a lookup copies nothing.
#[derive(Default)]
pub struct FileCache {
    map: Mutex<super::FastMap<String, ByType>>,
}

/// What one path was read as, by unit type.
type ByType = Vec<(Box<str>, Arc<Loaded>)>;

impl FileCache {
    /// What `load` has read for this path and type already, if anything.
    pub fn peek(&self, path: &str, unit_type: &str) -> Option<Arc<Loaded>> {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(path)?.iter().find(|(t, _)| &**t == unit_type).map(|(_, l)| Arc::clone(l))
    }

    pub fn load(&self, root: &Root, path: &str, unit_type: &str) -> Arc<Loaded> {
        if let Some(l) = self.peek(path, unit_type) {
            return l;
        }
        let loaded = Arc::new(match root.read_capped(path, MAX_UNIT_FILE) {
            Ok(bytes) => {
                Loaded(Ok(unit_file::parse(&bytes, &schema_for(unit_type))), Some(crate::digest::sha256(&bytes)))
            }
            Err(e) => Loaded(Err(format!("cannot read {path}: {e}")), None),
        });
        let mut m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let types = m.entry(path.to_string()).or_default();
        // Another thread may have read it meanwhile: the first one read stays.
        match types.iter().find(|(t, _)| &**t == unit_type) {
            Some((_, l)) => Arc::clone(l),
            None => {
                types.push((unit_type.into(), Arc::clone(&loaded)));
                loaded
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path is parsed once per unit type (the type decides the sections, S26), and a
    /// second load of the same path and type is the first one, not a new read.
    #[test]
    fn s26_one_path_read_as_two_types_keeps_both_parses() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x.conf"), "[Timer]\nOnCalendar=daily\n[Service]\nNice=5\n").unwrap();
        let root = Root::open(d.path()).unwrap();
        let cache = FileCache::default();
        assert!(cache.peek("/x.conf", "timer").is_none());
        let as_timer = cache.load(&root, "/x.conf", "timer");
        let as_service = cache.load(&root, "/x.conf", "service");
        let sections = |l: &Loaded| l.assignments().map(|a| a.section).collect::<Vec<_>>();
        assert_eq!(sections(&as_timer), ["Timer"]);
        assert_eq!(sections(&as_service), ["Service"]);
        assert!(as_timer.warnings().iter().any(|(line, w)| *line == 3 && w.contains("unknown section 'Service'")));
        assert!(as_service.warnings().iter().any(|(line, w)| *line == 1 && w.contains("unknown section 'Timer'")));
        // Changed on disk: the run's parse stays (one snapshot per run).
        std::fs::write(d.path().join("x.conf"), "[Timer]\nOnCalendar=weekly\n").unwrap();
        for (ty, first) in [("timer", &as_timer), ("service", &as_service)] {
            assert!(Arc::ptr_eq(&cache.peek("/x.conf", ty).unwrap(), first));
            assert!(Arc::ptr_eq(&cache.load(&root, "/x.conf", ty), first));
        }
        assert!(cache.peek("/x.conf", "socket").is_none());
    }
}
