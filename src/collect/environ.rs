//! Libraries a service preloads: `LD_PRELOAD` set by `Environment=` or in an
//! `EnvironmentFile=` (systemd.exec(5)). The dynamic loader maps them into every command
//! of the service before its own code runs, so they are code the service runs — as root
//! for a root service — although no `Exec*=` line names them.

use super::exec::split_words;
use super::resolve::{Notes, Resolver};
use super::specifier::{SpecCtx, expand};
use super::stat::path_fact;
use crate::model::{FileKind, FileRole, PathFact, Unit, UsedFile, Warning};

/// Largest environment file read (systemd reads them whole; these are small).
const ENV_FILE_MAX: u64 = 1 << 20;

/// The libraries `svc` preloads: the `LD_PRELOAD` its commands get, which is the last
/// one assigned — in `Environment=` (the service's specifiers, `ctx`, resolved word by
/// word), then in its environment files in order (already resolved in `env_files`; no
/// specifiers there), which override `Environment=` (systemd.exec(5)) — unless
/// `UnsetEnvironment=` removes it.
pub fn preloads(
    r: &Resolver<'_>,
    svc: &Unit,
    ctx: &SpecCtx<'_>,
    env_files: &[PathFact],
    privileged: bool,
    notes: &mut Notes,
) -> Vec<UsedFile> {
    // The value in force, and where it was set.
    let mut last: Option<(String, String, u32, &'static str)> = None;
    let words = |s: &crate::model::Setting| {
        // `config_parse_environ`: words quoted as in command lines, each one's
        // specifiers resolved after the split; a word that fails is ignored.
        split_words(&s.value).unwrap_or_default().into_iter().filter_map(|(w, _)| expand(&w, ctx).ok())
    };
    for s in svc.get("Service", "Environment") {
        for word in words(s) {
            if let Some(v) = word.strip_prefix("LD_PRELOAD=") {
                last = Some((v.to_string(), s.file.clone(), s.line, "Environment"));
            }
        }
    }
    for f in env_files {
        let (Some(res), Some(meta)) = (&f.resolved, &f.meta) else { continue };
        if meta.kind != FileKind::File {
            continue;
        }
        match r.root.read_capped(res, ENV_FILE_MAX) {
            Ok(bytes) => {
                if let Some((line, v)) = ld_preload_lines(&String::from_utf8_lossy(&bytes)).pop() {
                    last = Some((v, res.clone(), line, "LD_PRELOAD"));
                }
            }
            Err(e) => notes.warnings.push(Warning {
                path: res.clone(),
                line: None,
                message: format!("environment file not read: {e}"),
            }),
        }
    }
    let unset = |v: &str| {
        svc.get("Service", "UnsetEnvironment")
            .iter()
            .flat_map(words)
            .any(|w| w == "LD_PRELOAD" || w.strip_prefix("LD_PRELOAD=") == Some(v))
    };
    let found: Vec<(String, String, u32, &'static str)> = match last {
        Some((v, file, line, key)) if !unset(&v) => libraries(&v).map(|l| (l, file.clone(), line, key)).collect(),
        _ => Vec::new(),
    };
    found
        .into_iter()
        .map(|(lib, file, line, key)| UsedFile {
            role: FileRole::Preload,
            target: path_fact(r.root, &lib, &mut notes.paths),
            key: key.into(),
            file,
            line,
            privileged,
        })
        .collect()
}

/// `LD_PRELOAD` takes a list separated by spaces or colons (ld.so(8)); only absolute
/// paths name a file by themselves (bare names are searched in the library path).
fn libraries(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split([' ', ':', '\t']).filter(|l| l.starts_with('/')).map(str::to_string)
}

/// `LD_PRELOAD=` assignments of an environment file, by line: `KEY=VALUE` lines,
/// `#`/`;` comments, optional quotes around the value (systemd's `load_env_file`).
fn ld_preload_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else { continue };
        if k.trim() != "LD_PRELOAD" {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        out.push((u32::try_from(i + 1).unwrap_or(u32::MAX), v.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_lines_and_lists() {
        let t = "# c\nFOO=1\nLD_PRELOAD=\"/lib/a.so /lib/b.so\"\n ; LD_PRELOAD=/x\nLD_PRELOAD = /opt/c.so:libz.so\n";
        let got = ld_preload_lines(t);
        assert_eq!(got, vec![(3, "/lib/a.so /lib/b.so".to_string()), (5, "/opt/c.so:libz.so".to_string())]);
        let libs: Vec<String> = libraries(&got[1].1).collect();
        assert_eq!(libs, vec!["/opt/c.so".to_string()], "bare names are left to the loader's search");
    }
}
