//! What the benchmarks share: the corpus roots of `benches/corpus/make_corpus.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `users`-user corpus root under `dir`, built once and cached.
pub fn corpus(dir: &Path, users: usize) -> PathBuf {
    let root = dir.join(format!("c{users}"));
    if !root.join("etc/passwd").exists() {
        let _ = std::fs::remove_dir_all(&root);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus/make_corpus.sh");
        let o = Command::new("bash").arg(script).arg(&root).arg(users.to_string()).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    root
}
