//! Presets (S20): on first boot (machine-id missing, empty or `uninitialized`) PID 1
//! runs `preset-all` in enable-only mode, so a timer that was disabled but whose preset
//! says `enable` (the default when no line matches) comes back. A mask survives it.
//! Files: `*.preset` in /etc, /run, /usr/local/lib, /lib, /usr/lib `systemd/system-preset`,
//! ordered by file name across directories (a same-named file in a higher directory
//! wins); the first matching line wins.

use super::root::{Root, join};
use crate::model::Warning;

const DIRS: [&str; 5] = ["/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/lib/systemd", "/usr/lib/systemd"];

/// One preset line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub enable: bool,
    pub pattern: String,
    pub file: String,
    pub line: u32,
}

/// The preset rules of a manager kind (`system-preset` or `user-preset`), in order.
pub fn load(root: &Root, kind: &str, warnings: &mut Vec<Warning>) -> Vec<Rule> {
    let mut files: std::collections::BTreeMap<String, String> = Default::default();
    for d in DIRS {
        let dir = format!("{d}/{kind}");
        let Ok(c) = root.chase(&dir, true) else { continue };
        let Ok(rd) = std::fs::read_dir(root.host_path(&c.path)) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".preset") && !super::names::hidden_or_backup(&name) {
                files.entry(name.clone()).or_insert_with(|| join(&c.path, &name));
            }
        }
    }
    let mut rules = Vec::new();
    for path in files.values() {
        let Ok(c) = root.chase(path, true) else { continue };
        if c.path == "/dev/null" {
            continue;
        }
        let Ok(bytes) = root.read_capped(&c.path, 1 << 20) else { continue };
        for (i, l) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            let mut w = t.split_whitespace();
            match (w.next(), w.next()) {
                (Some(a @ ("enable" | "disable")), Some(p)) => {
                    rules.push(Rule { enable: a == "enable", pattern: p.to_string(), file: path.clone(), line });
                }
                (Some("ignore"), Some(_)) => {}
                _ => warnings.push(Warning {
                    path: path.clone(),
                    line: Some(line),
                    message: "cannot parse preset line, ignoring".into(),
                }),
            }
        }
    }
    rules
}

/// The first rule matching `name`, if any (no match means `enable`).
pub fn matching<'a>(rules: &'a [Rule], name: &str) -> Option<&'a Rule> {
    rules.iter().find(|r| fnmatch(&r.pattern, name))
}

/// Shell-style glob: `*`, `?`, `[...]` (with `!` negation and ranges).
pub fn fnmatch(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let Some(c) = t.first() else { return false };
                let (neg, set) = match p[1] {
                    '!' | '^' => (true, &p[2..end]),
                    _ => (false, &p[1..end]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &t[1..])
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn globs() {
        assert!(fnmatch("*", "x.timer"));
        assert!(fnmatch("backup-*.timer", "backup-daily.timer"));
        assert!(fnmatch("getty@.service", "getty@.service"));
        assert!(fnmatch("a?c.[tx]imer", "abc.timer"));
        assert!(!fnmatch("a[!b]c.timer", "abc.timer"));
        assert!(!fnmatch("*.service", "x.timer"));
    }
}
