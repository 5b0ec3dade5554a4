//! timerguard: a policy-as-code hardening enforcer for systemd timers (MITRE ATT&CK
//! T1053.006). The library is the pipeline — `collect` reads a root into `model` facts;
//! `inventory` renders them — and `main.rs` is a thin CLI over it.

pub mod app;
pub mod baseline;
pub mod cache;
pub mod cli;
pub mod collect;
pub mod config;
pub mod detect;
pub mod digest;
pub mod finding;
pub mod glob;
pub mod inventory;
pub mod jsonfile;
pub mod live;
pub mod model;
pub mod policy;
pub mod profile;
pub mod progress;
pub mod remedy;
pub mod report;
pub mod safety;
pub mod schedule;
pub mod timecmd;
pub mod trusted;
pub mod waiting;
