//! The `timerguard` binary: parse arguments, run, map errors to exit codes.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use clap::Parser;
use timerguard::app;
use timerguard::cli::{Cli, Command};

fn main() -> ExitCode {
    // No transparent huge pages: mimalloc asks for them (MADV_HUGEPAGE), and each 2 MiB
    // page is zeroed whole on first touch and counted whole in RSS (a 10,000-user check:
    // 150-156 to 117-125 MiB, a little less system time, the same wall time). The prctl
    // covers THP set to `always` too; an old kernel without it keeps going as is.
    let _ = nix::sys::prctl::set_thp_disable(true);
    timerguard::profile::start();
    let cli = Cli::parse();
    // This thread is one of the pool's (rayon's own default keeps it out and starts one
    // per core besides): each pool thread compiles every policy for itself on first use,
    // and the main thread, which waits on the others, is where the policies were
    // compiled first (a 10-user check 63 -> 58 ms). Not for `check --cache`: the warm
    // re-check, a stat walk and no policy, was 0.8 ms slower at 1,000 users with one
    // thread fewer (22.6 -> 23.4 ms). A pool that cannot be built leaves rayon's default.
    if !matches!(&cli.command, Command::Check { cache: Some(_), .. }) {
        let _ = rayon::ThreadPoolBuilder::new().use_current_thread().build_global();
    }
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    // A non-blocking stdout that fills is waited on, not an error (`waiting.rs`).
    let mut out = std::io::BufWriter::new(timerguard::waiting::Waiting(stdout.lock()));
    // Not locked: the progress thread writes to stderr too.
    let mut err = stderr;
    match app::run(&cli, app::Terminal::detect(cli.color), &mut out, &mut err) {
        Ok(code) => code,
        // A closed pipe (`timerguard facts | head`) is not a failure: stop quietly.
        Err(app::AppError::Output(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(app::AppError::Json(e)) if e.io_error_kind() == Some(ErrorKind::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            e.exit_code()
        }
    }
}

/// mimalloc: collecting a 10,000-user host makes millions of small allocations, which
/// glibc's allocator spends a third of the run on (measured with perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
