//! Which `NAME.d/` (and `NAME.wants/`, `NAME.requires/`) directories apply to a unit, in
//! the order systemd 252 collects them (`unit_file_find_dropin_paths`), and the merge of
//! their entries (`conf_files_list_strv`): S10–S13.
//!
//! Order: for the unit's main name, then each alias, then the type (`timer.d`), and for
//! each of those in every search directory (highest first): `NAME.d`, then (instances)
//! the template's dirs, then the dash-prefix dirs, longest first. The first file of a
//! given *file name* in that order wins; winners are applied sorted by file name,
//! whatever directory they came from. That yields exactly S12 (a)–(c): directory
//! precedence first, then specific over prefix within a directory, and any name over the
//! type-level directory.

use super::names;
use super::scan::{DirScan, Entry, SubDir};

/// The names whose `.d` directories apply to one name within one search directory:
/// itself, its template (recursively), then its dash parents (recursively).
pub fn dir_stems(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    push_stems(name, &mut out);
    out
}

fn push_stems(name: &str, out: &mut Vec<String>) {
    out.push(name.to_string());
    if names::classify(name) == Some(names::NameKind::Instance)
        && let Some(t) = names::template_of(name)
    {
        push_stems(&t, out);
    }
    if let Some(p) = names::dash_parent(name) {
        push_stems(&p, out);
    }
}

/// One directory that applies, with its search-directory index (for precedence).
pub struct Applied<'a> {
    pub layer: usize,
    pub dir: &'a SubDir,
}

/// Which sub-directories `applicable` collects.
#[derive(Clone, Copy)]
pub enum Pick<'k> {
    /// `NAME.d/`.
    DropIns,
    /// `NAME.KIND/` (`wants`, `requires`, `upholds`).
    Deps(&'k str),
}

impl Pick<'_> {
    fn get<'a>(self, s: &'a DirScan, stem: &str) -> Option<&'a SubDir> {
        match self {
            Pick::DropIns => s.dropins.get(stem),
            Pick::Deps(kind) => s.dep_dir(stem, kind),
        }
    }

    /// Whether `s` has a directory of this sort whose `X` passes `f`.
    fn any_stem(self, s: &DirScan, f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Pick::DropIns => s.dropins.keys().map(String::as_str).any(f),
            Pick::Deps(_) => s.dep_stem_names().any(f),
        }
    }

    /// True when `s` has no directory of this sort at all.
    fn none_in(self, s: &DirScan) -> bool {
        match self {
            Pick::DropIns => s.dropins.is_empty(),
            Pick::Deps(_) => s.deps.is_empty(),
        }
    }
}

/// Collects the applicable sub-directories for a unit, in the order above.
pub fn applicable<'a>(
    layers: &'a [&'a DirScan],
    main: &str,
    aliases: &[String],
    unit_type: &str,
    pick: Pick<'_>,
) -> Vec<Applied<'a>> {
    applicable_to(layers, &stems_for(layers, pick, main, aliases), unit_type, pick)
}

/// `stems`, when a directory of this sort in `layers` could be one of them; none
/// otherwise (`applicable_to` then looks for the type's directory alone). Every stem of
/// a name begins with the name's first word (up to its first `-`, `@` or `.`) and ends
/// with its type: a user's `timers.target.wants` cannot be one of `git-pull.timer`'s, and
/// working them out was a third of the dependency walk.
pub fn stems_for(layers: &[&DirScan], pick: Pick<'_>, main: &str, aliases: &[String]) -> Vec<Vec<String>> {
    let could = |name: &str| {
        let head = &name[..name.find(['-', '@', '.']).unwrap_or(name.len())];
        let ty = names::unit_type(name);
        // A name without a type is no unit name: any directory of the sort may be one.
        let of_name =
            |x: &str| ty.is_empty() || (x.starts_with(head) && x.strip_suffix(ty).is_some_and(|r| r.ends_with('.')));
        layers.iter().any(|l| pick.any_stem(l, of_name))
    };
    let names = || std::iter::once(main).chain(aliases.iter().map(String::as_str));
    if names().any(could) { names().map(dir_stems).collect() } else { Vec::new() }
}

/// `applicable`, with the stems given.
pub fn applicable_to<'a>(
    layers: &'a [&'a DirScan],
    stems: &[Vec<String>],
    unit_type: &str,
    pick: Pick<'_>,
) -> Vec<Applied<'a>> {
    let mut out = Vec::new();
    let some: Vec<(usize, &DirScan)> =
        layers.iter().map(|l| &**l).enumerate().filter(|(_, l)| !pick.none_in(l)).collect();
    if some.is_empty() {
        return out;
    }
    for stems in stems {
        for (i, l) in &some {
            for s in stems {
                if let Some(d) = pick.get(l, s) {
                    out.push(Applied { layer: *i, dir: d });
                }
            }
        }
    }
    for (i, l) in &some {
        if let Some(d) = pick.get(l, unit_type) {
            out.push(Applied { layer: *i, dir: d });
        }
    }
    out
}

/// `conf_files_list_strv`: first file of each name wins, result sorted by file name.
pub fn merge<'a>(dirs: &[Applied<'a>]) -> Vec<(usize, &'a Entry)> {
    let mut seen: std::collections::BTreeMap<&str, (usize, &Entry)> = Default::default();
    for a in dirs {
        for e in &a.dir.entries {
            seen.entry(e.name.as_str()).or_insert((a.layer, e));
        }
    }
    seen.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `stems_for` relies on: every stem of a name begins with the name's first
    /// word and ends with `.TYPE`.
    #[test]
    fn s10_every_stem_keeps_the_first_word_and_the_type() {
        let words = ["a", "b-c", "x", "-", "", "d-e-f"];
        let mut names = Vec::new();
        for w1 in words {
            for w2 in words {
                for sep in ["-", "@", "-@", "@-", "--"] {
                    for ty in ["timer", "service", "target"] {
                        names.push(format!("{w1}{sep}{w2}.{ty}"));
                    }
                }
            }
        }
        names.extend(["-.mount", "a.timer", "x@.service", "@a.service"].map(String::from));
        for n in &names {
            let head = &n[..n.find(['-', '@', '.']).unwrap_or(n.len())];
            let ty = format!(".{}", names::unit_type(n));
            for s in dir_stems(n) {
                assert!(s.starts_with(head) && s.ends_with(&ty), "{n}: {s}");
            }
        }
    }

    #[test]
    fn s10_stems_in_systemd_order() {
        assert_eq!(dir_stems("backup-daily.timer"), ["backup-daily.timer", "backup-.timer"]);
        assert_eq!(dir_stems("job@beta.timer"), ["job@beta.timer", "job@.timer"]);
        assert_eq!(dir_stems("a-b@i.timer"), ["a-b@i.timer", "a-b@.timer", "a-.timer", "a-@i.timer", "a-@.timer"]);
    }
}
