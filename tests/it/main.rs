//! Integration tests: fixture roots in temp dirs, run through the real collector and CLI.
//! Each test names the systemd behaviour (S-number, ../shared/systemd-semantics.md) it covers.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod accounts;
mod bad_input;
mod boot_oracle;
mod cache;
mod cli;
mod common;
mod detect;
mod dropins;
mod enablement;
mod examples;
mod exec_oracle;
mod formats;
mod gates;
mod hostile_fs;
mod install_oracle;
mod journal_trust;
mod live;
mod names_masks;
mod no_openat2;
mod no_silent_pass;
mod policies;
mod provenance;
mod remedy;
mod safe_fixes;
mod sarif;
mod schedule;
mod search_paths;
mod server_root;
mod service_oracle;
mod streaming;
mod syntax_timers;
mod timer_oracle;
mod user_oracle;
