//! The unit-file parser (S23–S30): bytes in, ordered assignments with line numbers out.
//! Pure; no I/O. It follows systemd 252's `config_parse()`/`parse_line()` closely,
//! because an attacker hides settings exactly where a naive parser differs:
//! - `#`/`;` comment lines, also inside a continuation (S23, S24);
//! - a trailing `\` joins the next line, the backslash becoming a space (S24);
//! - whitespace around `=` and the line is stripped; headers may be indented (S25);
//! - names are case-sensitive; unknown sections/keys are warnings, `X-` is silent (S26);
//! - lines without `=` and assignments outside a section are ignored (S27);
//! - a line over 1 MiB, a malformed `[header` or a line that is not UTF-8 as systemd
//!   defines it (`utf8_is_valid()`: noncharacters such as U+FFFE refused too) stops the
//!   file there, as in systemd (`LONG_LINE_MAX`, `-EBADMSG`, `-EINVAL`): a unit file
//!   fails to load, a drop-in applies only the lines before;
//! - the first byte-order mark at the start of a line that is not a comment is dropped,
//!   once per file: on line 1 or on any later line (`CONFIG_PARSE_REFUSE_BOM`).

use super::schema;

/// systemd's `LONG_LINE_MAX`.
pub const LONG_LINE_MAX: usize = 1024 * 1024;

/// One `Key=value` line as written (value stripped, not unquoted, not expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// One of the schema's sections (a static name: no copy per line).
    pub section: &'static str,
    pub key: String,
    pub value: String,
    /// 1-based line of the last physical line of the assignment (systemd's convention).
    pub line: u32,
}

/// The outcome of a parse: the assignments read (up to the error, if any — systemd
/// applies a drop-in's lines as it reads them), warnings, and a fatal error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub assignments: Vec<Assignment>,
    pub warnings: Vec<(u32, String)>,
    pub error: Option<ParseError>,
}

/// Why systemd would refuse to load the file at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {0}: line too long (over {LONG_LINE_MAX} bytes); systemd refuses the file")]
    LineTooLong(u32),
    #[error("line {line}: invalid section header {text:?}; systemd refuses the file")]
    BadSection { line: u32, text: String },
    #[error(
        "line {0}: not valid UTF-8 (systemd also refuses U+FFFE, U+FFFF, U+FDD0-U+FDEF); systemd stops reading the file here"
    )]
    InvalidUtf8(u32),
    /// A setting whose parse error is fatal (`-ENOEXEC`, see `service_check`): a unit
    /// file fails to load as `bad-setting`, a drop-in is read no further.
    #[error("line {line}: {why}; systemd stops reading the file here (a unit file: bad-setting)")]
    FatalSetting { line: u32, why: String },
}

impl ParseError {
    /// The line the file stopped at.
    pub fn line(&self) -> u32 {
        match self {
            ParseError::LineTooLong(l) | ParseError::InvalidUtf8(l) => *l,
            ParseError::BadSection { line, .. } | ParseError::FatalSetting { line, .. } => *line,
        }
    }
}

/// What the parser accepts: the sections of this unit type and, per section, the known
/// keys (`None` = do not warn about unknown keys in that section).
pub struct Schema {
    pub sections: &'static [(&'static str, Option<&'static [&'static str]>)],
}

const WS: &[char] = &[' ', '\t', '\n', '\r'];

/// Parses a unit file or drop-in. Never fails: a fatal problem is `Parsed::error`.
pub fn parse(bytes: &[u8], schema: &Schema) -> Parsed {
    let mut out = Parsed::default();
    if let Err(e) = parse_into(bytes, schema, &mut out) {
        out.error = Some(e);
    }
    out
}

fn parse_into(bytes: &[u8], schema: &Schema, out: &mut Parsed) -> Result<(), ParseError> {
    let mut section: Option<&'static str> = None;
    let mut section_ignored = false;
    let mut continuation: Option<Vec<u8>> = None;
    let mut bom_seen = false;
    for (idx, raw) in split_lines(bytes).enumerate() {
        let line = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        if raw.len() > LONG_LINE_MAX {
            return Err(ParseError::LineTooLong(line));
        }
        let trimmed = trim_start(raw);
        if matches!(trimmed.first(), Some(b'#' | b';')) {
            continue;
        }
        // After the comment test, as in systemd: a BOM before `#` is not a comment, and
        // `<BOM>ExecStart=` on line 9 is an `ExecStart=`.
        let mut raw = raw;
        if !bom_seen && let Some(rest) = raw.strip_prefix(BOM) {
            raw = rest;
            bom_seen = true;
        }
        // Most lines are whole: parsed where they lie, copied only to be joined.
        let joined: std::borrow::Cow<'_, [u8]> = match continuation.take() {
            Some(mut c) => {
                if c.len() + raw.len() > LONG_LINE_MAX {
                    return Err(ParseError::LineTooLong(line));
                }
                c.extend_from_slice(raw);
                c.into()
            }
            None => raw.into(),
        };
        if ends_with_escape(&joined) {
            let mut joined = joined.into_owned();
            let n = joined.len();
            joined[n - 1] = b' ';
            continuation = Some(joined);
            continue;
        }
        parse_line(logical_line(&joined, line)?, line, schema, &mut section, &mut section_ignored, out)?;
    }
    // systemd parses a dangling continuation at EOF as a final line.
    if let Some(c) = continuation {
        let line = u32::try_from(split_lines(bytes).count()).unwrap_or(u32::MAX);
        parse_line(logical_line(&c, line)?, line, schema, &mut section, &mut section_ignored, out)?;
    }
    Ok(())
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A logical line, stripped, as `parse_line()` takes it: one systemd's `utf8_is_valid()`
/// refuses ends the file (`log_syntax_invalid_utf8` returns `-EINVAL`). Lines after it
/// are never applied, so skipping it alone would apply what systemd does not.
fn logical_line(b: &[u8], line: u32) -> Result<&str, ParseError> {
    match std::str::from_utf8(b) {
        Ok(text) if systemd_valid(text) => Ok(text.trim_matches(WS)),
        _ => Err(ParseError::InvalidUtf8(line)),
    }
}

/// systemd's `unichar_is_valid()` for every character: Rust's `str` already excludes
/// surrogates and code points past U+10FFFF; systemd also refuses the noncharacters.
pub fn systemd_valid(text: &str) -> bool {
    text.is_ascii()
        || text.chars().all(|c| {
            let u = u32::from(c);
            !(0xFDD0..=0xFDEF).contains(&u) && u & 0xFFFE != 0xFFFE
        })
}

fn parse_line(
    l: &str,
    line: u32,
    schema: &Schema,
    section: &mut Option<&'static str>,
    section_ignored: &mut bool,
    out: &mut Parsed,
) -> Result<(), ParseError> {
    if l.is_empty() {
        return Ok(());
    }
    if let Some(rest) = l.strip_prefix('[') {
        let Some(name) = rest.strip_suffix(']') else {
            return Err(ParseError::BadSection { line, text: l.chars().take(80).collect() });
        };
        if let Some((s, _)) = schema.sections.iter().find(|(s, _)| *s == name) {
            *section = Some(s);
            *section_ignored = false;
        } else {
            if !name.starts_with("X-") {
                out.warnings.push((line, format!("unknown section '{name}', ignoring")));
            }
            *section = None;
            *section_ignored = true;
        }
        return Ok(());
    }
    let Some(sec) = *section else {
        if !*section_ignored {
            out.warnings.push((line, "assignment outside of section, ignoring".into()));
        }
        return Ok(());
    };
    let Some((k, v)) = l.split_once('=') else {
        out.warnings.push((line, "missing '=', ignoring line".into()));
        return Ok(());
    };
    let key = k.trim_matches(WS);
    if key.is_empty() {
        out.warnings.push((line, "missing key name before '=', ignoring line".into()));
        return Ok(());
    }
    if !key.starts_with("X-") {
        let known = if sec == "Unit" {
            Some(schema::unit_key_known(key))
        } else {
            schema.sections.iter().find(|(s, _)| *s == sec).and_then(|(_, k)| *k).map(|k| k.contains(&key))
        };
        if known == Some(false) {
            out.warnings.push((line, format!("unknown key '{key}' in section [{sec}], ignoring")));
            return Ok(());
        } else if known.is_none() && schema::case_variant_of_known(sec, key) {
            out.warnings
                .push((line, format!("unknown key '{key}' in section [{sec}] (keys are case-sensitive), ignoring")));
            return Ok(());
        }
    }
    out.assignments.push(Assignment {
        section: sec,
        key: key.to_string(),
        value: v.trim_matches(WS).to_string(),
        line,
    });
    Ok(())
}

/// Splits lines as systemd's `read_line()` does: a line ends at `\n`, `\r` or NUL, and
/// the end-of-line characters that follow are part of the same ending as long as each is
/// of a kind not yet seen in it and no NUL came before (`\r\n`, `\n\r`, `\n\r\0` are one
/// ending; `\n\n` and `\0\n` are two). `X=\` then `\n\r` then `ExecStart=...` is one
/// continued line to systemd.
fn split_lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = b;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|c| matches!(c, b'\n' | b'\r' | 0)).unwrap_or(rest.len());
        let line = &rest[..end];
        let mut skip = end;
        let mut seen = 0u8;
        while let Some(&c) = rest.get(skip) {
            let kind = match c {
                b'\n' => 1,
                b'\r' => 2,
                0 => 4,
                _ => break,
            };
            if seen & (kind | 4) != 0 {
                break;
            }
            seen |= kind;
            skip += 1;
        }
        rest = &rest[skip..];
        Some(line)
    })
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
    &b[n..]
}

/// A line ends in an unescaped backslash (systemd walks the escapes left to right).
fn ends_with_escape(b: &[u8]) -> bool {
    let mut escaped = false;
    for &c in b {
        if escaped {
            escaped = false;
        } else if c == b'\\' {
            escaped = true;
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::schema::schema_for;

    fn p(s: &str) -> Parsed {
        parse(s.as_bytes(), &schema_for("timer"))
    }

    fn kv(p: &Parsed) -> Vec<(String, String, u32)> {
        p.assignments.iter().map(|a| (a.key.clone(), a.value.clone(), a.line)).collect()
    }

    #[test]
    fn s23_comments_and_no_inline_comments() {
        let r = p("[Timer]\n# c\n  ; c\nOnCalendar=daily # not a comment\n");
        assert_eq!(kv(&r), vec![("OnCalendar".into(), "daily # not a comment".into(), 4)]);
    }

    #[test]
    fn s24_continuation_across_comment_lines() {
        let r = p("[Timer]\nOnCalendar=Mon..Fri \\\n# comment\n  10:00\n");
        assert_eq!(kv(&r), vec![("OnCalendar".into(), "Mon..Fri    10:00".into(), 4)]);
    }

    #[test]
    fn s25_whitespace_and_repeated_sections() {
        let r = p("  [Timer]  \n  OnCalendar =  daily  \n[Unit]\nDescription=x\n[Timer]\nPersistent=true\n");
        assert_eq!(r.assignments.len(), 3);
        assert_eq!(r.assignments[0].value, "daily");
        assert_eq!(r.assignments[2].section, "Timer");
    }

    #[test]
    fn s26_case_sensitive_and_x_prefix() {
        let r = p("[timer]\nOnCalendar=daily\n[Timer]\noncalendar=hourly\nX-Owner=sec\n[X-Meta]\nA=b\n");
        assert_eq!(kv(&r), vec![("X-Owner".into(), "sec".into(), 5)]);
        assert!(r.warnings.iter().any(|(l, m)| *l == 1 && m.contains("unknown section 'timer'")));
        assert!(r.warnings.iter().any(|(l, m)| *l == 4 && m.contains("unknown key 'oncalendar'")));
        assert!(!r.warnings.iter().any(|(_, m)| m.contains("X-")));
    }

    #[test]
    fn s27_missing_equals_and_outside_section() {
        let r = p("OnCalendar=daily\n[Timer]\n.include /etc/x\nOnCalendar=hourly\n");
        assert_eq!(kv(&r), vec![("OnCalendar".into(), "hourly".into(), 4)]);
        assert!(r.warnings.iter().any(|(l, m)| *l == 1 && m.contains("outside of section")));
        assert!(r.warnings.iter().any(|(l, m)| *l == 3 && m.contains("missing '='")));
    }

    #[test]
    fn refusals_match_systemd() {
        let long = format!("[Timer]\nOnCalendar={}\n", "x".repeat(LONG_LINE_MAX + 1));
        assert_eq!(parse(long.as_bytes(), &schema_for("timer")).error, Some(ParseError::LineTooLong(2)));
        let bad = parse(b"[Timer]\nPersistent=yes\n[Timer\nOnCalendar=daily\n", &schema_for("timer"));
        assert!(matches!(bad.error, Some(ParseError::BadSection { line: 3, .. })));
        assert_eq!(bad.assignments.len(), 1, "lines before the error were applied");
    }

    /// systemd 252 (`systemd-analyze verify`): "String is not UTF-8 clean, ignoring
    /// assignment", then "Failed to load configuration: Invalid argument"; in a drop-in
    /// the lines after it are not applied. U+FFFE and U+FDD0 are refused the same way.
    #[test]
    fn parser_invalid_utf8_stops_the_file() {
        for bad in [&b"\xff\xfe"[..], "\u{fffe}".as_bytes(), "\u{fdd0}".as_bytes(), "\u{1ffff}".as_bytes()] {
            let mut text = b"[Timer]\nPersistent=yes\nX-A=".to_vec();
            text.extend_from_slice(bad);
            text.extend_from_slice(b"\nOnCalendar=daily\n");
            let r = parse(&text, &schema_for("timer"));
            assert_eq!(r.error, Some(ParseError::InvalidUtf8(3)), "{bad:?}");
            assert_eq!(kv(&r), vec![("Persistent".into(), "yes".into(), 2)]);
        }
        // Comment lines are dropped before the test; other characters are fine.
        let r = p("[Timer]\n# \u{fffe}\nOnCalendar=daily \u{fdcf}\u{fdf0}\u{fffd}\n");
        assert_eq!(r.error, None);
        assert_eq!(r.assignments.len(), 1);
        // A continued line is tested whole, at its last physical line.
        let r = parse(b"[Timer]\nOnCalendar=daily \\\n\xff\n", &schema_for("timer"));
        assert_eq!(r.error, Some(ParseError::InvalidUtf8(3)));
    }

    /// systemd 252: the first BOM at the start of a line that is not a comment is
    /// dropped, on any line, once per file; a BOM before `#` makes no comment.
    #[test]
    fn parser_a_bom_is_dropped_once_on_any_line() {
        let r = p("[Timer]\nPersistent=no\n\u{feff}OnCalendar=daily\n\u{feff}OnCalendar=hourly\n");
        assert_eq!(kv(&r), vec![("Persistent".into(), "no".into(), 2), ("OnCalendar".into(), "daily".into(), 3)]);
        assert!(r.warnings.iter().any(|(l, m)| *l == 4 && m.contains("unknown key")), "{:?}", r.warnings);
        let r = p("[Timer]\n\u{feff}# OnCalendar=daily\n");
        assert!(
            r.warnings.iter().any(|(l, m)| *l == 2 && m.contains("unknown key '# OnCalendar'")),
            "{:?}",
            r.warnings
        );
    }

    /// systemd 252 (`systemd-analyze verify`): `\n\r` is one line ending, so a
    /// continuation goes on to the next line; `\0\n` is two.
    #[test]
    fn line_endings_combine_as_read_line_does() {
        let r = p("[Timer]\nOnCalendar=\\\n\rdaily\n\0\nPersistent=yes\r\n\0AccuracySec=1h\n\n");
        assert_eq!(
            kv(&r),
            vec![
                ("OnCalendar".into(), " daily".trim().into(), 3),
                ("Persistent".into(), "yes".into(), 5),
                ("AccuracySec".into(), "1h".into(), 6)
            ]
        );
    }

    #[test]
    fn line_endings_and_bom() {
        let r = p("\u{feff}[Timer]\r\nOnCalendar=daily\rPersistent=true\n");
        assert_eq!(r.assignments.len(), 2);
        assert_eq!(r.assignments[1].line, 3);
    }

    #[test]
    fn escaped_backslash_is_not_continuation() {
        let r = p("[Timer]\nOnCalendar=a\\\\\nPersistent=1\n");
        assert_eq!(r.assignments.len(), 2);
        assert_eq!(r.assignments[0].value, "a\\\\");
    }
}
