//! Time-zone data for calendar expressions: the root's own zoneinfo first, read through
//! the confined root (a zone file that links outside resolves inside the image; a FIFO
//! or device planted as `/etc/localtime` or a zone is refused unopened, never read), then
//! the host's tzdata for names the image lacks (fixture roots ship none). The host tree is
//! trusted system data and only ever looked up by a validated IANA name.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

use super::root::Root;
use crate::schedule::{Zone, ZoneSource, load_zone, zone_name_ok};

/// No real TZif file comes near this.
const MAX_TZIF: u64 = 1 << 20;
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Zones of a root (and of the host, second).
pub struct RootZones {
    root: Option<Root>,
    /// The root's `/etc/localtime`, read once (it decides the manager's local time).
    localtime: Option<Vec<u8>>,
}

impl RootZones {
    pub fn new(root: &Root) -> RootZones {
        let localtime = root.read_resolved("/etc/localtime", MAX_TZIF).ok();
        RootZones { root: Some(root.clone()), localtime }
    }

    /// The host's zones only (for `calendar` without a root).
    pub fn host() -> RootZones {
        RootZones { root: None, localtime: read_host("/etc/localtime") }
    }
}

/// A host file: regular, opened without blocking, capped.
fn read_host(path: &str) -> Option<Vec<u8>> {
    let f =
        std::fs::OpenOptions::new().read(true).custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits()).open(path).ok()?;
    let md = f.metadata().ok()?;
    if !md.is_file() || md.len() > MAX_TZIF {
        return None;
    }
    let mut v = Vec::new();
    f.take(MAX_TZIF).read_to_end(&mut v).ok()?;
    Some(v)
}

impl ZoneSource for RootZones {
    fn tzif(&self, name: &str) -> Option<Vec<u8>> {
        if !zone_name_ok(name) {
            return None;
        }
        let p = format!("{ZONEINFO}/{name}");
        if let Some(b) = self.root.as_ref().and_then(|r| r.read_resolved(&p, MAX_TZIF).ok()) {
            return Some(b);
        }
        if let Some(r) = &self.root {
            r.saw_host(&p);
        }
        read_host(&p)
    }

    fn local(&self) -> Zone {
        if let Ok(tz) = std::env::var("TZ") {
            let name = tz.trim_start_matches(':');
            if name == "UTC" || name.is_empty() {
                return Zone::Utc;
            }
            if let Some(z) = load_zone(self, name) {
                return z;
            }
        }
        self.localtime.as_deref().and_then(|b| Zone::from_tzif("localtime", b)).unwrap_or(Zone::Utc)
    }
}
