//! A progress line on stderr during long scans and evaluations — only when stderr is a
//! terminal (the caller decides), redrawn in place, erased when the work ends, so logs
//! and pipes never see it.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::collect::scan::ENTRIES_READ;

/// Draws until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn start(label: String) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let base = ENTRIES_READ.load(Ordering::Relaxed);
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let t0 = Instant::now();
                let spin = ['|', '/', '-', '\\'];
                let mut i = 0;
                // Quick runs show nothing at all. The tests set the wait to 0, which also
                // draws once however quick the run: a test of the line must not depend
                // on how fast this machine is.
                let after = std::env::var("TIMERGUARD_PROGRESS_AFTER_MS").ok().and_then(|v| v.parse().ok());
                std::thread::sleep(Duration::from_millis(after.unwrap_or(300)));
                while !flag.load(Ordering::Relaxed) || (after == Some(0) && i == 0) {
                    let n = ENTRIES_READ.load(Ordering::Relaxed) - base;
                    let files = if n > 0 { format!(", {n} entries") } else { String::new() };
                    let line = format!("\r\x1b[K{} {label}{files}, {:.1}s", spin[i % 4], t0.elapsed().as_secs_f64());
                    let _ = std::io::stderr().write_all(line.as_bytes());
                    i += 1;
                    std::thread::sleep(Duration::from_millis(120));
                }
                if i > 0 {
                    let _ = std::io::stderr().write_all(b"\r\x1b[K");
                }
            })
            .ok();
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
