//! `--format json`: the `Report` as `timerguard.check/v1` JSON.

use std::io::{self, Write};

use rayon::prelude::*;

use super::Report;

/// Items rendered per parallel batch: a batch's text is held at once (about 0.5 MB of findings).
const BATCH: usize = 1024;

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    if r.findings.len() <= BATCH {
        serde_json::to_writer_pretty(&mut *out, r).map_err(io::Error::from)?;
        return writeln!(out);
    }
    // 30,000 findings are most of a 17 MB report, rendered on one thread after the check.
    let shell = Report {
        schema: r.schema.clone(),
        version: r.version.clone(),
        summary: r.summary.clone(),
        hosts: r.hosts.clone(),
        baseline: r.baseline.clone(),
        fleet: r.fleet,
        findings: Vec::new(),
        errors: r.errors.clone(),
        policies: r.policies.clone(),
    };
    write_around(&shell, "findings", &r.findings, out, &|out| serde_json::to_writer_pretty(out, r))
}

/// Writes a document as `serde_json::to_writer_pretty` does (and a newline), byte for
/// byte, with a long list rendered in parallel: `shell` is the document with the list
/// (the top-level field `field`) empty, and `items` go in its place. `whole` writes the
/// document in one piece, for when the empty list is not found where it should be.
pub fn write_around<S: serde::Serialize, T: serde::Serialize + Sync>(
    shell: &S,
    field: &str,
    items: &[T],
    out: &mut dyn Write,
    whole: &dyn Fn(&mut dyn Write) -> serde_json::Result<()>,
) -> io::Result<()> {
    let text = serde_json::to_string_pretty(shell).map_err(io::Error::from)?;
    let empty = format!("\n  {}: []", serde_json::to_string(field).map_err(io::Error::from)?);
    match text.find(&empty) {
        Some(at) if !items.is_empty() => {
            out.write_all(&text.as_bytes()[..at + empty.len() - 1])?;
            write_items(items, out)?;
            out.write_all(b"\n  ")?;
            out.write_all(&text.as_bytes()[at + empty.len() - 1..])?;
        }
        _ => whole(&mut *out).map_err(io::Error::from)?,
    }
    writeln!(out)
}

/// Writes the items of a list two levels deep in a pretty-printed document (a field of
/// the top-level object), each on its own lines after a newline, comma-separated, as
/// `serde_json`'s pretty printer writes them: rendered in parallel batches (a batch's
/// text is held at once). An item rendered alone and indented by two levels is exactly
/// what the pretty printer writes for it in place: JSON strings never hold a raw newline.
fn write_items<T: serde::Serialize + Sync>(items: &[T], out: &mut dyn Write) -> io::Result<()> {
    /// Items rendered into one buffer by one task: a string per item made a 10,000-user
    /// `list` 19 ms slower (948 against 930 ms, means of 21).
    const PART: usize = 128;
    for (n, batch) in items.chunks(BATCH).enumerate() {
        let parts: Vec<Vec<u8>> = batch
            .par_chunks(PART)
            .enumerate()
            .map(|(k, part)| {
                let mut buf = Vec::new();
                let mut one = Vec::new();
                for (i, item) in part.iter().enumerate() {
                    one.clear();
                    serde_json::to_writer_pretty(&mut one, item)?;
                    buf.extend_from_slice(if n == 0 && k == 0 && i == 0 { b"\n    " } else { b",\n    " });
                    for (j, line) in one.split(|&b| b == b'\n').enumerate() {
                        if j > 0 {
                            buf.extend_from_slice(b"\n    ");
                        }
                        buf.extend_from_slice(line);
                    }
                }
                Ok(buf)
            })
            .collect::<Result<_, serde_json::Error>>()
            .map_err(io::Error::from)?;
        for p in &parts {
            out.write_all(p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::finding::{Finding, Fix, Severity};

    /// A shell without the named list (a caller's mistake) is not spliced into: the
    /// document is written whole, and so is one whose list is empty.
    #[test]
    fn a_list_not_in_the_shell_or_empty_is_written_whole() {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            name: &'a str,
            items: &'a [u32],
        }
        let items = [1, 2, 3];
        let whole = |out: &mut dyn std::io::Write| serde_json::to_writer_pretty(out, &Doc { name: "w", items: &items });
        for (field, items) in [("other", &items[..]), ("items", &[][..])] {
            let mut got = Vec::new();
            super::write_around(&Doc { name: "s", items: &[] }, field, items, &mut got, &whole).unwrap();
            let mut want = serde_json::to_vec_pretty(&Doc { name: "w", items: &[1, 2, 3] }).unwrap();
            want.push(b'\n');
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap(), "{field}");
        }
    }

    /// The batched rendering writes the same bytes as the pretty printer on the whole:
    /// several batches, a partial last one, nested objects, escapes and empty lists.
    #[test]
    fn batched_rendering_is_the_pretty_printers_bytes() {
        let findings: Vec<Finding> = (0..super::BATCH * 2 + 7)
            .map(|i| Finding {
                policy: "TG202".into(),
                name: "user-timer-not-allowed".into(),
                rule: "not-allowed".into(),
                severity: Severity::Medium,
                message: format!("u{i} has \"quoted\"\nlines and a tab\t"),
                mitigations: if i % 2 == 0 { vec!["M1018".into()] } else { Vec::new() },
                scope: Some(format!("user:u{i}")),
                subject: format!("t{i}.timer"),
                path: (i % 3 == 0).then(|| format!("/home/u{i}/.config/systemd/user/t.timer")),
                line: (i % 3 == 0).then_some(4),
                fix: Some(Fix::All {
                    fixes: vec![Fix::DisableTimer { scope: format!("user:u{i}"), unit: "t.timer".into() }],
                }),
                fix_note: None,
                waiver: None,
                baselined: i % 5 == 0,
                host: None,
            })
            .collect();
        let label = super::super::HostLabel { name: "h".into(), root: Some("/r".into()), warnings: 2 };
        let r = super::Report::new(findings, Vec::new(), Vec::new(), Severity::High, label);
        let mut batched = Vec::new();
        super::render(&r, &mut batched).unwrap();
        let mut whole = serde_json::to_vec_pretty(&r).unwrap();
        whole.push(b'\n');
        assert!(r.findings.len() > super::BATCH, "the batched path is the one tested");
        assert_eq!(String::from_utf8(batched).unwrap(), String::from_utf8(whole).unwrap());
    }
}
