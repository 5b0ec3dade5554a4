//! Presets (S20): on first boot (machine-id missing, empty or `uninitialized`) PID 1
//! runs `preset-all` in enable-only mode, so a timer that was disabled but whose preset
//! says `enable` (the default when no line matches) comes back. A mask survives it.
//! Files: `*.preset` in /etc, /run, /usr/local/lib, /lib, /usr/lib `systemd/system-preset`,
//! ordered by file name across directories (a same-named file in a higher directory
//! wins); the first matching line wins.

use super::root::Root;
use crate::model::Warning;

/// One preset line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub enable: bool,
    pub pattern: String,
    /// `pattern` compiled (it is matched against every unit name).
    pub glob: crate::glob::Glob,
    pub file: String,
    pub line: u32,
}

/// The preset rules of a manager kind (`system-preset` or `user-preset`), in order.
pub fn load(root: &Root, kind: &str, warnings: &mut Vec<Warning>) -> Vec<Rule> {
    let files = super::paths::conf_files(root, kind, ".preset");
    let mut rules = Vec::new();
    for path in &files {
        let Some(text) = super::paths::read_conf(root, path, 1 << 20, "preset file", warnings) else { continue };
        for (i, l) in text.lines().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            let mut w = t.split_whitespace();
            match (w.next(), w.next()) {
                (Some(a @ ("enable" | "disable")), Some(p)) => {
                    rules.push(Rule {
                        enable: a == "enable",
                        pattern: p.to_string(),
                        glob: crate::glob::Glob::new(p),
                        file: path.clone(),
                        line,
                    });
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
    rules.iter().find(|r| r.glob.matches(name))
}
