//! Libraries a service preloads: `LD_PRELOAD` set by `Environment=` or in an
//! `EnvironmentFile=` (systemd.exec(5)). The dynamic loader maps them into every command
//! of the service before its own code runs, so they are code the service runs — as root
//! for a root service — although no `Exec*=` line names them.

use std::collections::BTreeMap;

use super::exec::split_words;
use super::resolve::{Notes, Resolver};
use super::specifier::{SpecCtx, expand};
use super::stat::path_fact;
use crate::model::{FileKind, FileRole, PathFact, Unit, UsedFile, Warning};

/// Largest environment file read (systemd reads them whole; these are small).
const ENV_FILE_MAX: u64 = 1 << 20;

/// A variable a unit sets, and where.
#[derive(Debug, Clone)]
pub struct Var {
    pub value: String,
    pub file: String,
    pub line: u32,
    /// `Environment` for the setting, `LD_PRELOAD` etc. for an environment file's line.
    pub key: String,
}

/// A service's `EnvironmentFile=` settings with the files they name, resolved in the
/// root (`paths` receives their parents' metadata): each value's specifiers resolved
/// (`ctx`; a failing one drops the setting, as systemd ignores it), its `-` (missing is
/// fine) kept on the setting; a relative path is ignored.
pub fn env_files<'u>(
    root: &super::root::Root,
    svc: &'u Unit,
    ctx: &SpecCtx<'_>,
    paths: &mut BTreeMap<String, crate::model::FileMeta>,
) -> Vec<(&'u crate::model::Setting, PathFact)> {
    let mut out = Vec::new();
    for s in svc.get("Service", "EnvironmentFile") {
        let Ok(v) = expand(&s.value, ctx) else { continue };
        let p = v.trim_start_matches('-');
        if p.starts_with('/') {
            out.push((s, path_fact(root, p, paths)));
        }
    }
    out
}

/// What the unit's commands run with: `base` (what the manager puts in,
/// `manager_env`), then `Environment=` (the service's
/// specifiers, `ctx`, resolved word by word after the split, `config_parse_environ`),
/// then its environment files in order (as `env_files` resolved them; no specifiers
/// there), which override `Environment=` (systemd.exec(5)); the last assignment of a name
/// wins, and `UnsetEnvironment=` removes a name (or a name with that exact value) last.
/// The flag says whether every environment file was read (a missing optional one has
/// nothing to read): else what is not in the map may still be set.
pub fn environment(
    root: &super::root::Root,
    svc: &Unit,
    ctx: &SpecCtx<'_>,
    env_files: &[(&crate::model::Setting, PathFact)],
    base: BTreeMap<String, Var>,
    warnings: &mut Vec<Warning>,
) -> (BTreeMap<String, Var>, bool) {
    let mut env = base;
    let mut all_read = true;
    let words = |s: &crate::model::Setting| {
        // A word whose specifiers fail is ignored.
        split_words(&s.value).unwrap_or_default().into_iter().filter_map(|(w, _)| expand(&w, ctx).ok())
    };
    for s in svc.get("Service", "Environment") {
        for word in words(s) {
            if let Some((k, v)) = word.split_once('=') {
                let var = Var { value: v.to_string(), file: s.file.clone(), line: s.line, key: "Environment".into() };
                env.insert(k.to_string(), var);
            }
        }
    }
    for (setting, f) in env_files {
        let missing = f.resolved.is_some() && f.meta.is_none() && f.error.as_deref() == Some(super::stat::MISSING);
        let (Some(res), Some(meta)) = (&f.resolved, &f.meta) else {
            all_read &= setting.value.starts_with('-') && missing;
            continue;
        };
        if meta.kind != FileKind::File {
            all_read = false;
            continue;
        }
        match root.read_capped(res, ENV_FILE_MAX) {
            Ok(bytes) => {
                for (line, k, value) in env_file(&String::from_utf8_lossy(&bytes)) {
                    env.insert(k.clone(), Var { value, file: res.clone(), line, key: k });
                }
            }
            Err(e) => {
                all_read = false;
                warnings.push(Warning {
                    path: res.clone(),
                    line: None,
                    message: format!("environment file not read: {e}"),
                })
            }
        }
    }
    for word in svc.get("Service", "UnsetEnvironment").iter().flat_map(words) {
        match word.split_once('=') {
            Some((k, v)) if env.get(k).is_some_and(|x: &Var| x.value == v) => {
                env.remove(k);
            }
            Some(_) => {}
            None => {
                env.remove(&word);
            }
        }
    }
    (env, all_read)
}

/// Which of `replace_env`'s forms a caller takes (systemd's `REPLACE_ENV_*` flags) and
/// what an unset name becomes.
#[derive(Debug, Clone, Copy)]
pub struct Forms {
    /// `$NAME` within a word, `${NAME:-default}`, `${NAME:+alternate}` (the
    /// `environment.d` generator's); without, only `${NAME}` (a command's arguments).
    pub extended: bool,
    /// An unset name stays as written (a command's arguments: the manager may set names
    /// not known offline), else it is empty (as systemd makes it).
    pub unset_kept: bool,
}

/// systemd's `replace_env`: `${NAME}` replaced by its value and `$$` by `$`; with
/// `forms.extended` also `$NAME`, `${NAME:-default}` (the default when unset or empty)
/// and `${NAME:+alternate}` (when set and not empty), a default or alternate resolved in
/// turn. An unterminated `${` is kept as written.
pub fn replace_env<'v>(s: &str, get: &dyn Fn(&str) -> Option<&'v str>, forms: Forms, depth: u8) -> String {
    let mut out = expand_env(s, get, forms, depth);
    // A hostile value can double with each reference (`B=$A$A`, `C=$B$B`, …): what no
    // command could be given (`MAX_ARG_STRLEN`) is cut there, not built.
    if out.len() > MAX_ARG_STRLEN {
        out.truncate(out.floor_char_boundary(MAX_ARG_STRLEN));
    }
    out
}

/// The longest single argument or environment string `execve` takes (Linux).
pub const MAX_ARG_STRLEN: usize = 128 * 1024;
/// What `execve` takes of arguments and environment together (Linux, the default stack).
pub const ARG_MAX: usize = 2 << 20;

/// `replace_env`'s work, stopping once the output passes `MAX_ARG_STRLEN`.
fn expand_env<'v>(s: &str, get: &dyn Fn(&str) -> Option<&'v str>, forms: Forms, depth: u8) -> String {
    let set = |n: &str| get(n).filter(|v| !v.is_empty());
    let unset = |out: &mut String, written: &str| {
        if forms.unset_kept {
            out.push_str(written);
        }
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        if out.len() > MAX_ARG_STRLEN {
            return out;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = closing_brace(inner, forms.extended) else {
                out.push_str(&rest[i..]);
                return out;
            };
            let body = &inner[..end];
            match body.split_once(':') {
                Some((n, alt)) if forms.extended && depth < 8 && alt.starts_with('-') => match set(n) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&replace_env(&alt[1..], get, forms, depth + 1)),
                },
                Some((n, alt)) if forms.extended && depth < 8 && alt.starts_with('+') => {
                    if set(n).is_some() {
                        out.push_str(&replace_env(&alt[1..], get, forms, depth + 1));
                    }
                }
                // A name with a `:` is no name: `${A:-b}` in an argument stays as written.
                _ => match get(body).filter(|_| !body.contains(':')) {
                    Some(v) => out.push_str(v),
                    None => unset(&mut out, &rest[i..i + 3 + end]),
                },
            }
            rest = &inner[end + 1..];
        } else {
            let n = after.bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
            match get(&after[..n]) {
                Some(v) if forms.extended && n > 0 => out.push_str(v),
                None if forms.extended && n > 0 => unset(&mut out, &rest[i..=i + n]),
                _ => {
                    out.push('$');
                    rest = after;
                    continue;
                }
            }
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    out
}

/// Where the `${` just before `inner` closes: its first `}`, or with nested braces
/// counted (the extended forms' defaults may hold `${…}` themselves).
fn closing_brace(inner: &str, nested: bool) -> Option<usize> {
    if !nested {
        return inner.find('}');
    }
    let mut level = 1;
    inner.char_indices().find_map(|(k, c)| {
        level += i32::from(c == '{') - i32::from(c == '}');
        (level == 0).then_some(k)
    })
}

/// The libraries the commands preload: those the `LD_PRELOAD` in force names.
/// The dynamic loader reads them where the command runs (`how`: inside its
/// `RootDirectory=`); the manager reads the environment files outside it.
pub fn preloads(
    r: &Resolver<'_>,
    env: &BTreeMap<String, Var>,
    how: &super::exec::Lookup<'_>,
    privileged: bool,
    notes: &mut Notes,
) -> Vec<UsedFile> {
    let Some(v) = env.get("LD_PRELOAD") else { return Vec::new() };
    libraries(&v.value)
        .map(|lib| UsedFile {
            role: FileRole::Preload,
            target: how.fact(r.root, &lib, Some(&mut notes.paths)),
            key: v.key.clone(),
            file: v.file.clone(),
            line: v.line,
            privileged,
        })
        .collect()
}

/// `LD_PRELOAD` takes a list separated by spaces or colons (ld.so(8)); only absolute
/// paths name a file by themselves (bare names are searched in the library path).
fn libraries(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split([' ', ':', '\t']).filter(|l| l.starts_with('/')).map(str::to_string)
}

/// The assignments of an environment file (`EnvironmentFile=`, os-release(5),
/// machine-info(5)) by line, as systemd's env-file parser reads them: `KEY=VALUE`, the
/// value unquoted or in single or double quotes (a backslash escapes the next character
/// outside single quotes); `#`/`;` comments and lines without `=` skipped.
pub(super) fn env_file(text: &str) -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let (mut value, mut quote, mut chars) = (String::new(), None, v.trim().chars());
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some('\''), c) => value.push(c),
                (_, '\\') => value.extend(chars.next()),
                (_, c) => value.push(c),
            }
        }
        out.push((u32::try_from(i + 1).unwrap_or(u32::MAX), k.trim().to_string(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `replace_env` with the `environment.d` generator's forms (an unset name empty) and
    /// a command's (only `${NAME}`, an unset name kept): `$$` is `$` in both.
    #[test]
    fn replace_env_forms() {
        let get = |n: &str| match n {
            "X" => Some("1"),
            "E" => Some(""),
            _ => None,
        };
        let generator = Forms { extended: true, unset_kept: false };
        let r = |s: &str| replace_env(s, &get, generator, 0);
        assert_eq!(r("$X-${X}-$Y-${E:-d}-${X:-d}-${E:+a}-${X:+a}-$-${"), "1-1--d-1--a-$-${");
        assert_eq!(r("${Y:-${X:+n${X}}}"), "n1");
        assert_eq!(r("é$Xé"), "é1é");
        assert_eq!(r("$$X"), "$X");
        let argument = Forms { extended: false, unset_kept: true };
        let a = |s: &str| replace_env(s, &get, argument, 0);
        assert_eq!(a("$X-${X}-${Y}-${X:-d}-$$X-${"), "$X-1-${Y}-${X:-d}-$X-${");
    }

    /// A value that doubles with each reference is cut at what `execve` takes, not built.
    #[test]
    fn replace_env_output_is_bounded() {
        let big = "x".repeat(100_000);
        let get = |n: &str| (n == "A").then_some(big.as_str());
        let forms = Forms { extended: true, unset_kept: false };
        let out = replace_env(&"$A".repeat(1000), &get, forms, 0);
        assert!(out.len() <= MAX_ARG_STRLEN && out.len() >= 100_000, "{}", out.len());
    }

    #[test]
    fn preload_lines_and_lists() {
        let t = "# c\nFOO=1\nLD_PRELOAD=\"/lib/a.so /lib/b.so\"\n ; LD_PRELOAD=/x\nLD_PRELOAD = /opt/c.so:libz.so\n";
        let got: Vec<(u32, String)> =
            env_file(t).into_iter().filter(|(_, k, _)| k == "LD_PRELOAD").map(|(l, _, v)| (l, v)).collect();
        assert_eq!(got, vec![(3, "/lib/a.so /lib/b.so".to_string()), (5, "/opt/c.so:libz.so".to_string())]);
        let libs: Vec<String> = libraries(&got[1].1).collect();
        assert_eq!(libs, vec!["/opt/c.so".to_string()], "bare names are left to the loader's search");
    }
}
