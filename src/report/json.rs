//! `--format json`: the `Report` as `timerguard.check/v1` JSON.

use std::io::{self, Write};

use super::Report;

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r).map_err(io::Error::from)?;
    writeln!(out)
}
