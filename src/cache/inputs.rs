//! Every input of a check that is not a file of the root, summed into the cache's key.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::cli::{Cli, Selection};
use crate::finding::Severity;
use crate::policy::Policy;

/// What a selected policy must not name for its report to be kept: Rhai's `timestamp()`,
/// the live next/last elapse and a live timer's sub-state (`waiting`, `running` while its
/// service runs, `elapsed`) change with the clock, no file changing.
const CLOCK: [&str; 4] = ["timestamp", "next_usec", "last_usec", "sub_state"];

/// Why no cache can stand for a check with these policies selected: one of them reads
/// the clock.
pub fn clock_in(selected: &[&Policy]) -> Option<String> {
    selected
        .iter()
        .find_map(|p| reads_clock(&p.source).map(|w| (&p.meta.id, w)))
        .map(|(id, w)| format!("policy {id} reads `{w}`, which changes with the clock"))
}

/// The clock word `text` names, if any.
pub fn reads_clock(text: &str) -> Option<&'static str> {
    CLOCK.iter().find(|w| text.contains(**w)).copied()
}

/// The key of a `check` over `cli.root` with these options, from the inputs as given —
/// the built-in sources, every file of each policy directory, the config file — so that
/// a fresh cache is found before any policy is compiled (the same sources and options
/// compile and select the same way); or why no cache can stand for them: a file in a
/// policy directory (a policy or a module it imports) reads the clock.
pub fn key(cli: &Cli, selection: &Selection, fail_on: Severity, host_name: Option<&str>) -> Result<String, String> {
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| format!("{} {} {} {} {}", m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
        .unwrap_or_default();
    let config = cli.config.as_deref().map(file_sum).unwrap_or_default();
    let policies: String = match cli.no_builtin {
        true => String::new(),
        false => crate::policy::builtin::POLICIES
            .iter()
            .map(|(name, src)| format!("{name} {}\n", crate::digest::sha256(src.as_bytes())))
            .collect(),
    };
    // Modules a policy imports are read from its directory at run time: every file counts.
    let mut dirs = String::new();
    for d in &cli.policies {
        dirs.push_str(&format!("{} {}\n", d.display(), dir_sum(d)?));
    }
    let root = cli.root.canonicalize().unwrap_or_else(|_| cli.root.clone());
    let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(super::sum(&[
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("exe", exe),
        ("root", root.display().to_string()),
        // Reports name the root as it was given (`/srv/img/` is not `/srv/img`).
        ("root_as_given", cli.root.display().to_string()),
        ("config", config),
        ("policies", policies),
        ("dirs", dirs),
        ("no_builtin", cli.no_builtin.to_string()),
        ("allow_minimal_root", cli.allow_minimal_root.to_string()),
        ("selection", format!("{:?} {:?}", selection.select, selection.ignore)),
        ("fail_on", format!("{fail_on:?}")),
        ("host_name", host_name.unwrap_or_default().to_string()),
        // Waivers expire by the day (`config.apply`).
        ("today", format!("{:?}", crate::config::today())),
        ("TZ", env("TZ")),
        ("no_live", env("TIMERGUARD_NO_LIVE")),
        // `%b` and `%v` of the running host: a reboot changes them, no file changing.
        ("host", crate::collect::host_ids::HostIds::volatile(root == Path::new("/"))),
    ]))
}

fn file_sum(p: &Path) -> String {
    std::fs::read(p).map(|b| crate::digest::sha256(&b)).unwrap_or_else(|e| format!("unreadable: {e}"))
}

/// Names and contents of every file under a policy directory (links not followed), each
/// read once; `Err` when one names the clock.
fn dir_sum(d: &Path) -> Result<String, String> {
    let mut text = String::new();
    for e in walkdir::WalkDir::new(d).max_depth(8).sort_by_file_name() {
        match e {
            Ok(e) if e.file_type().is_file() => {
                let sum = match std::fs::read(e.path()) {
                    Ok(b) => {
                        if let Some(w) = reads_clock(&String::from_utf8_lossy(&b)) {
                            return Err(format!("{} reads `{w}`, which changes with the clock", e.path().display()));
                        }
                        crate::digest::sha256(&b)
                    }
                    Err(err) => format!("unreadable: {err}"),
                };
                text.push_str(&format!("{} {sum}\n", e.path().display()));
            }
            Ok(e) => text.push_str(&format!("{} {:?}\n", e.path().display(), e.file_type())),
            Err(err) => text.push_str(&format!("error {err}\n")),
        }
    }
    Ok(crate::digest::sha256(text.as_bytes()))
}
