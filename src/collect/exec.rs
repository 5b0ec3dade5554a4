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

/// An `Exec*=` value as systemd 252's `config_parse_exec` takes it: command by command
/// (`;`-separated), each appended as it is read. At the first command it cannot take the
/// rest of the line is dropped; with that command's `-` prefix nothing more happens,
/// without it the setting is fatal (`fatal`: the unit file stops there, `service_check`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecLine {
    /// The commands kept, in order.
    pub commands: Vec<Command>,
    /// Why the setting fails the unit, when it does.
    pub fatal: Option<String>,
    /// The value's leading bytes that hold the kept commands (for a line cut short).
    pub kept_len: usize,
}

/// Splits a value into commands; see `ExecLine`. What systemd refuses: an unclosed quote
/// (in an executable's own word only the rest of the line is dropped), an empty
/// executable, one with a backslash, quote or control character, one naming a directory,
/// one neither absolute nor a bare name.
pub fn exec_line(value: &str) -> ExecLine {
    let (words, unclosed) = split_words_raw(value);
    let mut out = ExecLine { kept_len: value.len(), ..ExecLine::default() };
    // Each command's words, with where the `;` before it starts.
    let mut groups: Vec<(usize, Vec<Word>)> = vec![(0, Vec::new())];
    for w in words {
        if w.text == ";" && !w.quoted {
            groups.push((w.start, Vec::new()));
        } else if let Some(g) = groups.last_mut() {
            g.1.push(w);
        }
    }
    let n = groups.len();
    for (i, (sep, group)) in groups.into_iter().enumerate() {
        let last = i + 1 == n;
        // Where the line stops: `Some(why)` when that is fatal.
        let stop: Option<Option<String>> = match group.first() {
            // The executable's own word is unclosed: the line is dropped.
            None if last && unclosed.is_some() => Some(None),
            None => continue, // nothing between two `;`
            Some(first) => {
                let n_pre = first.text.len() - first.text.trim_start_matches(PREFIX_CHARS).len();
                let prefixes = first.text[..n_pre].to_string();
                let ignore = prefixes.contains('-');
                if last && unclosed.is_some() {
                    Some((!ignore).then(|| "unbalanced quotes".to_string()))
                } else {
                    // An argument written `\;` is `;` (systemd keeps the unknown escape,
                    // then makes this one exception for arguments); the executable's own
                    // word keeps its backslash, and is refused for it.
                    let mut argv: Vec<String> = Vec::with_capacity(group.len());
                    for (k, w) in group.into_iter().enumerate() {
                        let escaped_semicolon = k > 0 && value.get(w.start..w.end) == Some("\\;");
                        argv.push(if escaped_semicolon { ";".into() } else { w.text });
                    }
                    argv[0].drain(..n_pre);
                    if prefixes.contains('@') && argv.len() > 1 {
                        argv.remove(1); // the second token is only argv[0]'s display name
                    }
                    match exe_problem(&argv[0]).or_else(|| bad_argument(&argv[1..])) {
                        Some(why) => Some((!ignore).then_some(why)),
                        None => {
                            out.commands.push(Command { prefixes, argv });
                            None
                        }
                    }
                }
            }
        };
        if let Some(fatal) = stop {
            out.kept_len = sep;
            out.fatal = fatal;
            break;
        }
    }
    out
}

/// `exec_line`'s count of commands and whether the value is fatal, without building
/// them when the value is plain (no quote, backslash or `;`: one command, its first
/// word the executable) — every service file's `Exec*=` lines are checked (`service_check`).
pub fn summary(value: &str) -> (usize, bool) {
    let full = || {
        let l = exec_line(value);
        (l.commands.len(), l.fatal.is_some())
    };
    if value.bytes().any(|b| NOT_PLAIN[usize::from(b)]) {
        return full();
    }
    let mut words = value.split([' ', '\t', '\n', '\r']).filter(|w| !w.is_empty());
    let Some(first) = words.next() else {
        return (0, false);
    };
    // An argument with an unknown specifier is refused (`%h` in `ExecStart=sh %h/x` is
    // common and fine): the rare value with one takes the full reading.
    if value.contains('%') && words.any(|w| w.contains('%') && super::specifier::stand_in(w).is_none()) {
        return full();
    }
    let exe = first.trim_start_matches(PREFIX_CHARS);
    let prefixes = &first[..first.len() - exe.len()];
    // With `@` too the executable is the first word (the second is only argv[0]'s name).
    match exe_problem(exe) {
        None => (1, false),
        Some(_) => (0, !prefixes.contains('-')),
    }
}

/// Bytes that make a value not plain for `summary`: quotes, backslash, `;`, and control
/// characters but tab and line breaks (refused in an executable).
const NOT_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 32 {
        t[i] = !matches!(i, 9 | 10 | 13);
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[b'\\' as usize] = true;
    t[b';' as usize] = true;
    t[0x7f] = true;
    t
};

/// The special prefixes of an executable (systemd.service(5), "Command lines").
const PREFIX_CHARS: [char; 5] = ['@', '-', ':', '+', '!'];

/// An argument `config_parse_exec` refuses: one with a specifier it does not know.
fn bad_argument(args: &[String]) -> Option<String> {
    let bad = args.iter().find(|a| a.contains('%') && super::specifier::stand_in(a).is_none())?;
    Some(format!("failed to resolve unit specifiers in {bad}"))
}

/// What `config_parse_exec` refuses in an executable path, its specifiers resolved
/// first (`%h/bin/x` is absolute; an unknown specifier is refused).
fn exe_problem(raw: &str) -> Option<String> {
    let exe: std::borrow::Cow<'_, str> = match raw.contains('%') {
        false => raw.into(),
        true => match super::specifier::stand_in(raw) {
            Some(x) => x.into(),
            None => return Some(format!("failed to resolve unit specifiers in {raw}")),
        },
    };
    if exe.is_empty() {
        return Some("empty executable path".into());
    }
    if exe.contains(['\\', '"', '\'']) || exe.chars().any(char::is_control) {
        return Some(format!("executable name contains special characters: {exe}"));
    }
    if exe.ends_with('/') {
        return Some(format!("executable path specifies a directory: {exe}"));
    }
    if !exe.starts_with('/') && exe.contains('/') {
        return Some(format!("neither a valid executable name nor an absolute path: {exe}"));
    }
    None
}

/// The commands systemd keeps of a value (see `exec_line`), or why it fails the unit.
pub fn parse_commands(value: &str) -> Result<Vec<Command>, String> {
    let l = exec_line(value);
    match l.fatal {
        Some(why) => Err(why),
        None => Ok(l.commands),
    }
}

/// Whether a command's prefixes make it run as root whatever `User=` says
/// (systemd.service(5), "Command lines"): `+` runs it with full privileges, `!` skips
/// the credential change. `!!` only acts on systems without ambient capabilities —
/// every kernel systemd 252 supports has them — so alone it elevates nothing.
pub fn elevates(prefixes: &str) -> bool {
    prefixes.contains('+') || prefixes.replace("!!", "").contains('!')
}

/// One word of a value: its text (unquoted, unescaped), whether any of it was quoted or
/// escaped (so `";"` is an argument, not a separator), and where it starts and ends in
/// the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub quoted: bool,
    pub start: usize,
    pub end: usize,
}

/// Word splitting with double/single quotes and C escapes, as 252's `config_parse_exec`
/// reads a value (`extract_first_word(EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE)`, retried with
/// `EXTRACT_CUNESCAPE_RELAX`): an escape systemd does not know stays as written (`\q` is
/// `\q`), a trailing backslash outside quotes is kept, `\x2f` is `/`, and only space, tab
/// and line breaks separate words. Returns the words read and, when a quote is left open
/// (or a backslash ends inside one), where that last, unfinished word starts.
pub fn split_words_raw(s: &str) -> (Vec<Word>, Option<usize>) {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut rest = s;
    let mut start = 0;
    let at = |rest: &str| s.len() - rest.len();
    while let Some(c) = rest.chars().next() {
        if !in_word {
            start = at(rest);
        }
        rest = &rest[c.len_utf8()..];
        match (quote, c) {
            (_, '\\') => {
                in_word = true;
                quoted = true;
                if rest.is_empty() {
                    if quote.is_some() {
                        return (out, Some(start));
                    }
                    cur.push('\\');
                    break;
                }
                match cunescape_one(rest) {
                    Some((ch, used)) => {
                        cur.push(ch);
                        rest = &rest[used..];
                    }
                    None => cur.push('\\'), // kept; the next character is read as usual
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
                quoted = true;
            }
            // systemd's WHITESPACE: a no-break space is part of a word.
            (None, ' ' | '\t' | '\n' | '\r') => {
                if in_word {
                    out.push(Word { text: std::mem::take(&mut cur), quoted, start, end: at(rest) - 1 });
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
        return (out, Some(start));
    }
    if in_word {
        out.push(Word { text: cur, quoted, start, end: s.len() });
    }
    (out, None)
}

/// `split_words_raw` for a setting read as a whole: an open quote is an error.
pub fn split_words(s: &str) -> Result<Vec<(String, bool)>, String> {
    match split_words_raw(s) {
        (words, None) => Ok(words.into_iter().map(|w| (w.text, w.quoted)).collect()),
        (_, Some(_)) => Err("unbalanced quotes".into()),
    }
}

/// systemd's `cunescape_one()` for what follows a backslash: the character and the bytes
/// it took, or `None` for a sequence it refuses (then the backslash stays). NUL and code
/// points `unichar_is_valid()` refuses are refused; a `\xNN` above 0x7f is taken as that
/// code point (timerguard's strings are UTF-8; systemd would put the raw byte).
fn cunescape_one(p: &str) -> Option<(char, usize)> {
    let b = p.as_bytes();
    let hex = |n: usize| -> Option<u32> {
        let digits = p.get(1..1 + n)?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    };
    let simple = match b.first()? {
        b'a' => Some('\u{7}'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        b't' => Some('\t'),
        b'v' => Some('\u{b}'),
        b'\\' => Some('\\'),
        b'"' => Some('"'),
        b'\'' => Some('\''),
        b's' => Some(' '),
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, 1));
    }
    let (v, used) = match b[0] {
        b'x' => (hex(2)?, 3),
        b'u' => (hex(4)?, 5),
        b'U' => (hex(8)?, 9),
        b'0'..=b'7' => {
            let digits = p.get(0..3)?;
            if !digits.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                return None;
            }
            let v = u32::from_str_radix(digits, 8).ok()?;
            if v > 255 {
                return None;
            }
            (v, 3)
        }
        _ => return None,
    };
    let c = char::from_u32(v).filter(|c| *c != '\0')?;
    super::unit_file::systemd_valid(c.encode_utf8(&mut [0; 4])).then_some((c, used))
}

/// Where a command's files are found: a service's `ExecSearchPath=` (`search_path`) and
/// the file system its command sees (`namespace.rs`): its `RootDirectory=`, inside
/// which every command runs — a `+` one too (measured with systemd 252:
/// `tests/it/exec_oracle.rs`) — and its bind mounts and hidden paths, so that its
/// executable, a bare name's lookup, its scripts and its preloaded libraries are the
/// files the command gets.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    pub search: Option<&'a [String]>,
    /// `None`: the image as it lies.
    pub ns: Option<&'a super::namespace::Namespace>,
    /// The directory its commands start in (in the jail, if any): `WorkingDirectory=`,
    /// else the manager's default; a relative argument naming a file there is a script
    /// too (`python3 job.py`).
    pub wd: Option<&'a str>,
}

impl Lookup<'_> {
    /// The fact of `p` (absolute, as the command names it): a full `path_fact` with
    /// `paths` (its parents' metadata go there), else only where it resolves.
    pub fn fact(&self, root: &Root, p: &str, paths: Option<&mut BTreeMap<String, FileMeta>>) -> PathFact {
        match (self.ns, paths) {
            (Some(ns), paths) => ns.path_fact(root, p, paths),
            (None, Some(paths)) => path_fact(root, p, paths),
            (None, None) => locate(root, p),
        }
    }

    /// Whether `p` is a regular file with an execute bit where the command looks; `Err`
    /// with why, when it is in a disk image that is not read.
    fn runnable(&self, root: &Root, p: &str) -> Result<bool, String> {
        match self.ns {
            Some(ns) => ns.runnable(root, p),
            None => Ok(root
                .chase(p, true)
                .is_ok_and(|c| c.exists && root.lstat(&c.path).is_ok_and(|m| m.is_file() && m.mode & 0o111 != 0))),
        }
    }
}

/// Resolves argv[0] inside the root as `how` says: absolute as is, a bare name through
/// `ExecSearchPath=` or `EXEC_PATH`, both in the command's view of the file system.
/// With `paths`, a full `path_fact` (its parents' metadata go there); without, only where
/// it resolves (`stat::locate`).
pub fn resolve_executable(
    root: &Root,
    exe: &str,
    how: &Lookup<'_>,
    paths: Option<&mut BTreeMap<String, FileMeta>>,
) -> PathFact {
    if exe.starts_with('/') {
        return how.fact(root, exe, paths);
    }
    // `find_executable_full` at exec time: `ExecSearchPath=` alone when set, else the
    // fixed path; a directory entry that is not a regular file with an execute bit is
    // passed over (`check_x_access`), as one without access is.
    let dirs: Vec<&str> = match how.search {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => EXEC_PATH.to_vec(),
    };
    for dir in dirs {
        let cand = format!("{}/{exe}", dir.trim_end_matches('/'));
        match how.runnable(root, &cand) {
            Ok(true) => return how.fact(root, &cand, paths),
            Ok(false) => {}
            // In a disk image that is not read the lookup may end here: what it finds is
            // not known (the directories after it do not count).
            Err(why) => return PathFact { error: Some(why), ..PathFact::named(exe.to_string()) },
        }
    }
    let error = match how.search {
        Some(_) => "not found in ExecSearchPath=",
        None => "not found in the executable search path",
    };
    PathFact { error: Some(error.into()), ..PathFact::named(exe.to_string()) }
}

/// A service's `ExecSearchPath=` (`config_parse_colon_separated_paths`, systemd 252):
/// each value's `:`-separated entries in order, specifiers resolved (`expand`), kept
/// while each is an absolute, normalized path once simplified; the first that is not
/// (a `..`, an empty entry, a failed specifier) drops itself and the rest of its value.
/// `None` when nothing is kept: the fixed path is searched.
pub fn search_path(values: &[crate::model::Setting], expand: impl Fn(&str) -> Option<String>) -> Option<Vec<String>> {
    let mut dirs: Vec<String> = Vec::new();
    for v in values {
        for entry in v.value.split(':') {
            let Some(d) = expand(entry).filter(|d| d.starts_with('/')) else { break };
            let Some(parts) = super::root::simplified(&d) else { break };
            dirs.push(format!("/{}", parts.join("/")));
        }
    }
    (!dirs.is_empty()).then_some(dirs)
}

/// The arguments a command is started with, its unit's environment put in as systemd
/// does at exec time (`replace_env_argv`; not for a `:` command): a word that is `$NAME`
/// becomes the value split into words (unquoted), `${NAME}` within a word the value as
/// is, `$$` a `$`. `env` holds what the manager sets too (`manager_env`), and `""` for a
/// name certainly unset (`manager_env::unset_is_known`); a name it does not know (one
/// that `PassEnvironment=` or PAM may set, not known offline) is left as written, never
/// emptied: a path made up from a guess would not be what runs.
pub fn substitute<'v>(argv: &[String], env: impl Fn(&str) -> Option<&'v str>) -> Vec<String> {
    const ARGUMENT_FORMS: super::environ::Forms = super::environ::Forms { extended: false, unset_kept: true };
    const MAX_WORDS: usize = 1 << 16;
    let mut out: Vec<String> = Vec::with_capacity(argv.len());
    let mut built = 0;
    for a in argv {
        // What passes `ARG_MAX` (2 MiB on Linux) cannot be started: no more is built.
        if built > super::environ::ARG_MAX {
            break;
        }
        let before = out.len();
        match a.strip_prefix('$') {
            Some(name) if !name.starts_with(['{', '$']) => match env(name) {
                Some(v) => out.extend(split_words(v).unwrap_or_default().into_iter().map(|(w, _)| w).take(MAX_WORDS)),
                None => out.push(a.clone()),
            },
            _ => out.push(super::environ::replace_env(a, &env, ARGUMENT_FORMS, 0)),
        }
        built += out[before..].iter().map(String::len).sum::<usize>();
    }
    out
}

/// Arguments that are paths of existing regular files (scripts fed to an interpreter,
/// `sh /opt/x.sh`; a relative one in the directory the commands start in): they are code
/// the service runs.
pub fn scripts(
    root: &Root,
    argv: &[String],
    how: &Lookup<'_>,
    paths: &mut BTreeMap<String, FileMeta>,
) -> Vec<PathFact> {
    let path = |a: &String| match (a.starts_with('/'), how.wd) {
        (true, _) => Some(a.clone()),
        // Not an option or an assignment: a file name, relative to the working directory.
        (false, Some(wd)) if !a.is_empty() && !a.starts_with('-') && !a.contains('=') => {
            Some(super::root::normalize(&format!("{}/{a}", wd.trim_end_matches('/'))))
        }
        _ => None,
    };
    argv.iter()
        .skip(1)
        .filter_map(path)
        .map(|a| how.fact(root, &a, Some(&mut *paths)))
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
        // An unclosed quote in the executable's own word drops the line; in an argument
        // it fails the unit, unless the command has `-` (systemd 252, verify).
        assert_eq!(
            parse_commands("/bin/true ; \"/bin/a"),
            Ok(vec![Command { prefixes: "".into(), argv: vec!["/bin/true".into()] }])
        );
        assert!(parse_commands("/bin/true ; /bin/a \"b").is_err());
        assert_eq!(parse_commands("-/bin/a \"b").map(|c| c.len()), Ok(0));
        let l = exec_line("/tmp/evil ; \"x\\\"y\" ; /bin/z");
        assert_eq!(l.commands.len(), 1);
        assert!(l.fatal.is_some());
        assert_eq!(&"/tmp/evil ; \"x"[..l.kept_len].trim_end(), &"/tmp/evil");
        assert_eq!(parse_commands("!!+/bin/true").unwrap()[0].prefixes, "!!+");
    }

    /// S41: `ExecSearchPath=` entries up to the first one systemd refuses, per value.
    #[test]
    fn s41_exec_search_path_stops_at_a_refused_entry() {
        let set = |v: &str| crate::model::Setting { value: v.into(), file: "/x".into(), line: 1 };
        let plain = |d: &str| Some(d.to_string());
        let got = search_path(&[set("/a//b/./:/c:rel:/d"), set("/e:/f/../g:/h")], plain);
        assert_eq!(got.unwrap(), ["/a/b", "/c", "/e"]);
        assert_eq!(search_path(&[set(":/a")], plain), None, "an empty entry first drops the value");
        let no_t = |d: &str| (!d.contains("%t")).then(|| d.to_string());
        assert_eq!(search_path(&[set("/a:%t/x:/b")], no_t).unwrap(), ["/a"]);
    }

    /// S41: a unit's environment in a command's arguments, as `replace_env_argv` puts it.
    #[test]
    fn s41_environment_variables_in_arguments() {
        let env = |n: &str| match n {
            "SCRIPT" => Some("/opt/job.sh"),
            "OPTS" => Some("-v \"/a b\" /opt/x.sh"),
            "EMPTY" => Some(""),
            _ => None,
        };
        let argv: Vec<String> =
            ["/bin/sh", "$SCRIPT", "$OPTS", "--f=${SCRIPT}.d", "$$HOME", "${A:-b}", "$HOME", "x$", "$EMPTY", "${X"]
                .map(String::from)
                .to_vec();
        assert_eq!(
            substitute(&argv, env),
            [
                "/bin/sh",
                "/opt/job.sh",
                "-v",
                "/a b",
                "/opt/x.sh",
                "--f=/opt/job.sh.d",
                "$HOME",
                "${A:-b}",
                "$HOME",
                "x$",
                "${X"
            ]
        );
    }
}
