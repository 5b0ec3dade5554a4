//! `--format jsonl`: one finding per line (`timerguard.finding/v1`), for log shippers.

use std::io::{self, Write};

use super::Report;

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    for f in &r.findings {
        let mut v = serde_json::to_value(f).map_err(io::Error::other)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("schema".into(), "timerguard.finding/v1".into());
            m.insert("waived".into(), f.waived().into());
            m.insert("active".into(), f.active().into());
            m.insert("fingerprint".into(), f.fingerprint().into());
        }
        serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)?;
        writeln!(out)?;
    }
    Ok(())
}
