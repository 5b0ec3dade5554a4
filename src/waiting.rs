//! A writer that waits out a full non-blocking output instead of failing. A hook's
//! runner may hand timerguard a stdout that is a non-blocking pipe or socket (the flag
//! belongs to the open file, shared with whoever set it); a report larger than the pipe
//! then meets `EAGAIN`, which would end the run with "Resource temporarily unavailable"
//! and a truncated report.

use std::io::{self, Write};
use std::os::fd::AsFd;

/// `W`, with each write that would block retried once `W`'s fd can take more.
pub struct Waiting<W>(pub W);

impl<W: Write + AsFd> Waiting<W> {
    /// Runs `op` on `W` until it does not report that it would block.
    fn retry<T>(&mut self, mut op: impl FnMut(&mut W) -> io::Result<T>) -> io::Result<T> {
        loop {
            match op(&mut self.0) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(&self.0)?,
                other => return other,
            }
        }
    }
}

impl<W: Write + AsFd> Write for Waiting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.retry(|w| w.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.retry(Write::flush)
    }
}

/// Blocks until `fd` can be written to (or is closed: the next write then says why).
pub fn wait_writable(fd: &impl AsFd) -> io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    match poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)], PollTimeout::NONE) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
