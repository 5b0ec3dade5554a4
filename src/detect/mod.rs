//! Detection beyond a snapshot: `watch` (inotify on every directory a manager reads,
//! re-checking what changed) and `audit-rules` (auditd and Sigma rules for the same
//! directories and the tools that make timers).

pub mod audit;
pub mod watch;
