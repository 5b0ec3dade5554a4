//! `Exec*=` command lines (systemd.service(5) "Command lines"): special prefixes, quoting
//! and escapes, `;`-separated commands, and executable lookup inside the root.

use std::collections::BTreeMap;

use super::root::Root;
use super::stat::{locate, path_fact};
use crate::model::{FileKind, FileMeta, PathFact};

/// The fixed search path for non-absolute executables (Debian's split-usr build of 252).
const EXEC_PATH: [&str; 6] = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// One parsed command: prefixes, argv (argv[0] is the executable path as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub prefixes: String,
    pub argv: Vec<String>,
}

/// Splits a value into commands. Errors name the problem (unbalanced quote).
pub fn parse_commands(value: &str) -> Result<Vec<Command>, String> {
    let words = split_words(value)?;
    let mut out = Vec::new();
    let mut cur: Vec<(String, bool)> = Vec::new();
    for w in words.into_iter().chain(std::iter::once((";".to_string(), false))) {
        if w.0 == ";" && !w.1 {
            if let Some(cmd) = make_command(std::mem::take(&mut cur)) {
                out.push(cmd);
            }
        } else {
            cur.push(w);
        }
    }
    Ok(out)
}

fn make_command(words: Vec<(String, bool)>) -> Option<Command> {
    let mut words: Vec<String> = words.into_iter().map(|w| w.0).collect();
    let first = words.first_mut()?;
    let n = first.chars().take_while(|c| matches!(c, '@' | '-' | ':' | '+' | '!')).count();
    let prefixes: String = first.drain(..n).collect();
    if first.is_empty() {
        words.remove(0);
    }
    if prefixes.contains('@') && words.len() > 1 {
        words.remove(1); // the second token is only argv[0]'s display name
    }
    (!words.is_empty()).then_some(Command { prefixes, argv: words })
}

/// Whether a command's prefixes make it run as root whatever `User=` says
/// (systemd.service(5), "Command lines"): `+` runs it with full privileges, `!` skips
/// the credential change. `!!` only acts on systems without ambient capabilities —
/// every kernel systemd 252 supports has them — so alone it elevates nothing.
pub fn elevates(prefixes: &str) -> bool {
    prefixes.contains('+') || prefixes.replace("!!", "").contains('!')
}

/// Word splitting with double/single quotes and C escapes. The bool marks a word that
/// was quoted or escaped (so `";"` is a literal, not a separator).
pub fn split_words(s: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match (quote, c) {
            (_, '\\') => {
                let e = it.next().ok_or("trailing backslash")?;
                cur.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                in_word = true;
                quoted = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
                quoted = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push((std::mem::take(&mut cur), quoted));
                    in_word = false;
                    quoted = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unbalanced quotes".into());
    }
    if in_word {
        out.push((cur, quoted));
    }
    Ok(out)
}

/// Resolves argv[0] inside the root: absolute as is, a bare name through `EXEC_PATH`.
/// With `paths`, a full `path_fact` (its parents' metadata go there); without, only where
/// it resolves (`stat::locate`).
pub fn resolve_executable(root: &Root, exe: &str, paths: Option<&mut BTreeMap<String, FileMeta>>) -> PathFact {
    let fact = |p: &str| match paths {
        Some(paths) => path_fact(root, p, paths),
        None => locate(root, p),
    };
    if exe.starts_with('/') {
        return fact(exe);
    }
    for dir in EXEC_PATH {
        let cand = format!("{dir}/{exe}");
        if let Ok(c) = root.chase(&cand, true)
            && c.exists
            && root.lstat(&c.path).is_ok_and(|m| m.is_file())
        {
            return fact(&cand);
        }
    }
    PathFact {
        path: exe.to_string(),
        resolved: None,
        meta: None,
        link_meta: None,
        parents: Vec::new(),
        error: Some("not found in the executable search path".into()),
    }
}

/// Arguments that are absolute paths of existing regular files (scripts fed to an
/// interpreter, `sh /opt/x.sh`): they are code the service runs.
pub fn scripts(root: &Root, argv: &[String], paths: &mut BTreeMap<String, FileMeta>) -> Vec<PathFact> {
    argv.iter()
        .skip(1)
        .filter(|a| a.starts_with('/'))
        .map(|a| path_fact(root, a, paths))
        .filter(|f| f.meta.as_ref().is_some_and(|m| m.kind == FileKind::File))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_quotes_and_separators() {
        let c = parse_commands(r#"-/bin/sh -c "echo a; b" ; @/usr/bin/x fake arg \; ;"#).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].prefixes, "-");
        assert_eq!(c[0].argv, ["/bin/sh", "-c", "echo a; b"]);
        assert_eq!(c[1].prefixes, "@");
        assert_eq!(c[1].argv, ["/usr/bin/x", "arg", ";"]);
        assert!(parse_commands("\"open").is_err());
        assert_eq!(parse_commands("!!+/bin/true").unwrap()[0].prefixes, "!!+");
    }
}
