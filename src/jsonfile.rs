//! Our own JSON documents read back (facts, reports, baselines): parsed once straight into
//! their type — facts of a 10,000-user host run to hundreds of megabytes, too many to hold
//! twice — with the schema tag checked and every error naming the file, and the line and
//! column where the text is broken.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A document that carries its schema tag (`timerguard.facts/v1`, …).
pub trait Tagged {
    fn schema(&self) -> &str;
}

#[derive(Debug, thiserror::Error)]
pub enum JsonFileError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: String, source: std::io::Error },
    #[error("{what} {path}:{line}:{column}: {message}")]
    Parse { what: &'static str, path: String, line: usize, column: usize, message: String },
    /// `found`: `schema is "…"`, or that there is none.
    #[error("{what} {path}: {found}, expected {expected:?}")]
    Schema { what: &'static str, path: String, found: String, expected: &'static str },
}

/// Reads `path` as a `what` (for messages) tagged `schema`.
pub fn load<T: DeserializeOwned + Tagged>(
    path: &Path,
    what: &'static str,
    schema: &'static str,
) -> Result<T, JsonFileError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| JsonFileError::Io { what, path: p.clone(), source })?;
    let wrong = |found: Option<String>| JsonFileError::Schema {
        what,
        path: p.clone(),
        found: found.map_or_else(|| "no \"schema\" tag".into(), |s| format!("schema is {s:?}")),
        expected: schema,
    };
    match serde_json::from_str::<T>(&text) {
        Ok(v) if v.schema() == schema => Ok(v),
        Ok(v) => Err(wrong(Some(v.schema().to_string()))),
        Err(e) => {
            // Another document (or another version) fails on some field; say what it is
            // rather than which field. Only on this error path is the text parsed twice.
            #[derive(serde::Deserialize)]
            struct Tag {
                schema: Option<String>,
            }
            match serde_json::from_str::<Tag>(&text) {
                Ok(t) if t.schema.as_deref() != Some(schema) => Err(wrong(t.schema)),
                _ => Err(JsonFileError::Parse {
                    what,
                    path: p,
                    line: e.line(),
                    column: e.column(),
                    message: e.to_string(),
                }),
            }
        }
    }
}
