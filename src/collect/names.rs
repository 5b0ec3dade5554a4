//! Unit names (S6): validity, templates and instances, dash prefixes for drop-in lookup
//! (S10), and systemd's hidden/backup file names (S8). Pure functions over strings.

use super::root::last_byte;

/// The unit types, written once: the list, and the match `classify` asks (one compare
/// of length and bytes, where the list is eleven string compares).
macro_rules! unit_types {
    ($($t:literal),+) => {
        /// The 11 unit types systemd 252 knows.
        pub const UNIT_TYPES: [&str; 11] = [$($t),+];

        fn is_unit_type(s: &str) -> bool {
            matches!(s, $($t)|+)
        }
    };
}
unit_types!("service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope");

/// `UNIT_NAME_MAX`.
const NAME_MAX: usize = 255;

/// What a valid unit name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `foo.timer`
    Plain,
    /// `foo@.timer`
    Template,
    /// `foo@bar.timer`
    Instance,
}

/// Classifies a unit name, or `None` when systemd would reject it (S6). One pass over
/// the bytes: it is asked of every name a search directory holds, every alias and every
/// drop-in stem, for every user (string searches here were 3% of a 10,000-user `list`).
pub fn classify(name: &str) -> Option<NameKind> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > NAME_MAX {
        return None;
    }
    let dot = b.iter().rposition(|&c| c == b'.')?;
    let stem = &b[..dot];
    if stem.is_empty() || !is_unit_type(&name[dot + 1..]) {
        return None;
    }
    // The first `@` splits prefix and instance; any other byte not valid (a second `@`,
    // anything not ASCII) makes the name invalid.
    let mut at = None;
    for (i, &c) in stem.iter().enumerate() {
        if c == b'@' && at.is_none() {
            at = Some(i);
        } else if !valid_byte(c) {
            return None;
        }
    }
    match at {
        None => Some(NameKind::Plain),
        Some(0) => None,
        Some(i) if i + 1 == stem.len() => Some(NameKind::Template),
        Some(_) => Some(NameKind::Instance),
    }
}

fn valid_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'-' | b'_' | b'.' | b'\\')
}

/// The type suffix of a name (`timer` for `a.timer`).
pub fn unit_type(name: &str) -> &str {
    last_byte(name, b'.').map_or("", |i| &name[i + 1..])
}

/// The name without its type suffix (`a` for `a.timer`; the name when it has none).
fn without_type(name: &str) -> &str {
    last_byte(name, b'.').map_or(name, |i| &name[..i])
}

/// The prefix: the part before `@` or the suffix (`foo` for `foo@bar.timer`).
pub fn prefix(name: &str) -> &str {
    let stem = without_type(name);
    stem.split_once('@').map_or(stem, |(p, _)| p)
}

/// The instance of an instance name.
pub fn instance(name: &str) -> Option<&str> {
    let stem = without_type(name);
    stem.split_once('@').map(|(_, i)| i).filter(|i| !i.is_empty())
}

/// `foo@bar.timer` → `foo@.timer`.
pub fn template_of(name: &str) -> Option<String> {
    instance(name)?;
    Some(format!("{}@.{}", prefix(name), unit_type(name)))
}

/// `foo@.timer` + `bar` → `foo@bar.timer`.
pub fn with_instance(template: &str, inst: &str) -> String {
    format!("{}@{}.{}", prefix(template), inst, unit_type(template))
}

/// The next shorter dash prefix name systemd searches drop-ins for (S10): `a-b-c.timer`
/// → `a-b-.timer` → `a-.timer`; instances keep their instance (`a-b@i.timer` →
/// `a-@i.timer`). Mirrors `unit_file_find_dirs` including its "chop one trailing dash"
/// rule.
pub fn dash_parent(name: &str) -> Option<String> {
    let mut p = prefix(name).to_string();
    let mut chopped = false;
    loop {
        let dash = last_byte(&p, b'-')?;
        if dash == 0 {
            return None;
        }
        if dash + 1 < p.len() || chopped {
            p.truncate(dash + 1);
            break;
        }
        p.truncate(dash);
        chopped = true;
    }
    let t = unit_type(name);
    Some(match instance(name) {
        Some(i) => format!("{p}@{i}.{t}"),
        None => format!("{p}.{t}"),
    })
}

/// systemd's `hidden_or_backup_file()` (S8): dot-files, `~` backups, package-manager
/// leftovers. Such entries are skipped by directory listings but may still load by name.
pub fn hidden_or_backup(name: &str) -> bool {
    const SUFFIXES: [&str; 17] = [
        "rpmnew",
        "rpmsave",
        "rpmorig",
        "dpkg-old",
        "dpkg-new",
        "dpkg-tmp",
        "dpkg-dist",
        "dpkg-bak",
        "dpkg-backup",
        "dpkg-remove",
        "ucf-new",
        "ucf-old",
        "ucf-dist",
        "swp",
        "bak",
        "old",
        "new",
    ];
    if name.starts_with('.') || name.ends_with('~') || matches!(name, "lost+found" | "aquota.user" | "aquota.group") {
        return true;
    }
    name.rsplit_once('.').is_some_and(|(_, ext)| SUFFIXES.contains(&ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\')
    }

    /// `classify` as string searches over chars, as it was written first.
    fn classify_by_chars(name: &str) -> Option<NameKind> {
        if name.is_empty() || name.len() > NAME_MAX {
            return None;
        }
        let dot = name.rfind('.')?;
        let (stem, suffix) = (&name[..dot], &name[dot + 1..]);
        if !UNIT_TYPES.contains(&suffix) || stem.is_empty() {
            return None;
        }
        match stem.find('@') {
            None => stem.chars().all(valid_char).then_some(NameKind::Plain),
            Some(at) => {
                let (prefix, inst) = (&stem[..at], &stem[at + 1..]);
                if prefix.is_empty() || !prefix.chars().all(valid_char) {
                    return None;
                }
                if inst.is_empty() {
                    Some(NameKind::Template)
                } else if inst.chars().all(valid_char) {
                    Some(NameKind::Instance)
                } else {
                    None
                }
            }
        }
    }

    /// S6: every name of up to four characters from an alphabet of the characters that
    /// matter, before each unit type and some that are not one, classified as the char
    /// searches classify it.
    #[test]
    fn s6_classify_agrees_with_the_char_searches() {
        let alphabet = ["a", "Z", "0", "@", ".", "-", "_", ":", "\\", " ", "ü", "/", "~"];
        let mut stems = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..4 {
            stems = stems.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            all.extend(stems.iter().cloned());
        }
        let mut n = 0;
        for stem in &all {
            for t in UNIT_TYPES.iter().chain(&["timers", "", "Timer", "t"]) {
                let name = format!("{stem}.{t}");
                assert_eq!(classify(&name), classify_by_chars(&name), "{name:?}");
                n += 1;
            }
            assert_eq!(classify(stem), classify_by_chars(stem), "{stem:?}");
        }
        let long = format!("{}.timer", "a".repeat(NAME_MAX - 6));
        assert_eq!(classify(&long), Some(NameKind::Plain));
        assert_eq!(classify(&format!("a{long}")), None);
        assert!(n > 400_000, "{n} names");
    }

    #[test]
    fn s6_names_are_classified() {
        let cases = [
            ("backup.timer", Some(NameKind::Plain)),
            ("job@.timer", Some(NameKind::Template)),
            ("job@beta.timer", Some(NameKind::Instance)),
            ("a:b_c\\x2d.service", Some(NameKind::Plain)),
            ("Backup.Timer", None),
            ("x.timers", None),
            (".timer", None),
            ("a@b@c.timer", None),
            ("@x.timer", None),
            ("sp ace.timer", None),
            ("ünï.timer", None),
            (".hidden.timer", Some(NameKind::Plain)),
        ];
        for (name, want) in cases {
            assert_eq!(classify(name), want, "{name}");
        }
        assert_eq!(classify(&format!("{}.timer", "a".repeat(250))), None);
    }

    #[test]
    fn s6_templates_and_instances() {
        assert_eq!(template_of("job@beta.timer").as_deref(), Some("job@.timer"));
        assert_eq!(instance("job@beta.timer"), Some("beta"));
        assert_eq!(with_instance("job@.timer", "alpha"), "job@alpha.timer");
        assert_eq!(prefix("job@beta.timer"), "job");
        assert_eq!(template_of("plain.timer"), None);
    }

    #[test]
    fn s10_dash_prefixes() {
        assert_eq!(dash_parent("a-b-c.timer").as_deref(), Some("a-b-.timer"));
        assert_eq!(dash_parent("a-b-.timer").as_deref(), Some("a-.timer"));
        assert_eq!(dash_parent("a-.timer"), None);
        assert_eq!(dash_parent("backup-daily.timer").as_deref(), Some("backup-.timer"));
        assert_eq!(dash_parent("-x.timer"), None);
        assert_eq!(dash_parent("plain.timer"), None);
        assert_eq!(dash_parent("a-b@i.timer").as_deref(), Some("a-@i.timer"));
    }

    #[test]
    fn s8_hidden_and_backup_names() {
        for n in [".hidden.timer", "x.timer~", "x.timer.dpkg-old", "x.conf.rpmnew", "a.swp"] {
            assert!(hidden_or_backup(n), "{n}");
        }
        for n in ["x.timer", "10-override.conf", "timers.target.wants"] {
            assert!(!hidden_or_backup(n), "{n}");
        }
    }
}
