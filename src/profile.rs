//! `TIMERGUARD_PROFILE=1`: where a run's wall time goes, phase by phase, on stderr (each
//! policy's calls and time follow at the end, from `policy::eval`). For the benchmark's
//! doc and for finding a fixed cost; never part of a report.

use std::sync::OnceLock;
use std::time::Instant;

/// When the run started, if profiling is on (the first call decides and starts the clock).
fn clock() -> Option<Instant> {
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    *START.get_or_init(|| std::env::var_os("TIMERGUARD_PROFILE").is_some().then(Instant::now))
}

/// Whether `TIMERGUARD_PROFILE` is set (the per-policy lines ask too).
pub fn on() -> bool {
    clock().is_some()
}

/// Starts the clock (called first thing in `main`).
pub fn start() {
    let _ = clock();
}

/// Notes that the run has reached `what`: its time since the start, in milliseconds.
pub fn phase(what: &str) {
    if let Some(t0) = clock() {
        use std::io::Write as _;
        // The time is taken with stderr held: phases reached on two threads at once are
        // printed in the order of their times.
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "profile phase {:>9.1} ms  {what}", t0.elapsed().as_secs_f64() * 1e3);
    }
}
