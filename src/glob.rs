//! Shell-style globs (`fnmatch(3)` with `FNM_NOESCAPE`, as systemd matches preset lines):
//! `*`, `?`, `[...]` with `!`/`^` negation and ranges. Used for preset lines, waiver
//! subjects and the policies' `glob_match`, all of which an image author or a config
//! writer controls, so matching must stay fast on any input: a pattern is compiled once
//! and matched greedily, backtracking only to the last `*` — O(pattern × text) at worst,
//! never the exponential blow-up of naive recursion (`*a*a*a*a*a*a*b`).

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters, the empty one included.
    Star,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        neg: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let p: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::with_capacity(p.len());
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                '*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star); // `**` is `*`
                    }
                    i += 1;
                }
                '?' => {
                    toks.push(Tok::One);
                    i += 1;
                }
                '[' => match class(&p, i) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    None => {
                        toks.push(Tok::Char('[')); // an unclosed `[` is a literal
                        i += 1;
                    }
                },
                c => {
                    toks.push(Tok::Char(c));
                    i += 1;
                }
            }
        }
        Glob { toks }
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        self.match_counting(text).0
    }

    /// The match and the number of loop steps it took (bounded by tokens × characters).
    fn match_counting(&self, text: &str) -> (bool, usize) {
        let t: Vec<char> = text.chars().collect();
        let (mut pi, mut ti) = (0, 0);
        let mut steps = 0;
        // Where to resume after the last `*`: (pattern index after it, text index).
        let mut resume: Option<(usize, usize)> = None;
        while ti < t.len() {
            steps += 1;
            match self.toks.get(pi) {
                Some(Tok::Star) => {
                    resume = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                Some(tok) if one(tok, t[ti]) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
            // Mismatch: let the last `*` swallow one more character, or fail.
            match resume {
                Some((p, s)) => {
                    pi = p;
                    ti = s + 1;
                    resume = Some((p, s + 1));
                }
                None => return (false, steps),
            }
        }
        (self.toks[pi..].iter().all(|t| *t == Tok::Star), steps)
    }
}

/// Whether a single-character token matches `c`.
fn one(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Char(x) => *x == c,
        Tok::One => true,
        Tok::Class { neg, ranges } => ranges.iter().any(|(a, b)| *a <= c && c <= *b) != *neg,
        Tok::Star => false,
    }
}

/// Parses `[...]` starting at `p[i] == '['`: the token and the index after `]`.
fn class(p: &[char], i: usize) -> Option<(Tok, usize)> {
    let mut j = i + 1;
    let neg = matches!(p.get(j), Some('!' | '^'));
    if neg {
        j += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(j)?;
        if c == ']' && !first {
            return Some((Tok::Class { neg, ranges }, j + 1));
        }
        first = false;
        if p.get(j + 1) == Some(&'-') && p.get(j + 2).is_some_and(|e| *e != ']') {
            ranges.push((c, p[j + 2]));
            j += 3;
        } else {
            ranges.push((c, c));
            j += 1;
        }
    }
}

/// One-shot match (compiles the pattern each call; compile once for many texts).
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

#[cfg(test)]
mod tests {
    use super::{Glob, fnmatch};

    #[test]
    fn globs_match_like_fnmatch() {
        let cases = [
            ("*", "x.timer", true),
            ("backup-*.timer", "backup-daily.timer", true),
            ("getty@.service", "getty@.service", true),
            ("a?c.[tx]imer", "abc.timer", true),
            ("a[!b]c.timer", "abc.timer", false),
            ("a[^b]c.timer", "axc.timer", true),
            ("*.service", "x.timer", false),
            ("[]]x", "]x", true),
            ("[a-c]*", "b.timer", true),
            ("[z-a]", "m", false),
            ("a[", "a[", true),
            ("", "", true),
            ("", "a", false),
            ("*a", "", false),
            ("**x", "abx", true),
            ("*@*.timer", "job@beta.timer", true),
            ("/etc/systemd/system/legacy-*.timer", "/etc/systemd/system/legacy-a.timer", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(fnmatch(p, t), want, "{p} vs {t}");
        }
    }

    /// The pathological patterns of issue 12 take at most pattern × text steps (naive
    /// recursion takes exponentially many: hours for these).
    #[test]
    fn pathological_patterns_are_bounded() {
        let name = format!("{}.timer", "a".repeat(250));
        for (p, want) in [("*a*a*a*a*a*a*a*a*a*a*a*a*b", false), ("*a*a*a*a*a*a*a*a*a*a*a*a*r", true)] {
            let g = Glob::new(p);
            let (m, steps) = g.match_counting(&name);
            assert_eq!(m, want, "{p}");
            assert!(steps <= (g.toks.len() + 1) * (name.len() + 1), "{p}: {steps} steps");
        }
    }
}
