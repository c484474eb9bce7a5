//! `loadtest`: a load generator for a kyc server running on this machine.
//!
//! Three scenarios: plain GET requests (by default to `/healthz`) with counts, errors by kind,
//! throughput and exact latency percentiles ([`run`]); `sessions` ([`sessions`]), thousands
//! of concurrent KYC sessions over HTTP + WebSocket with event latency, heartbeats and the
//! server's memory per session; and `flow` ([`flow`]), whole verifications (ID card, video,
//! comparison) by a few virtual users, with verifications per minute, stage latencies and the
//! server's memory over time. Every run is bounded in count and time, and only loopback
//! targets are accepted ([`config::check_loopback`]).
//!
//! `main.rs` only parses the command line, calls [`run`], [`sessions::run_sessions`] or
//! [`flow::run_flow`] and prints the report.

pub mod config;
pub mod flow;
pub mod report;
pub mod runner;
pub mod sessions;
pub mod stats;

pub use config::{Cli, Config, ConfigError};
pub use report::{ErrorKind, Report, StopReason};
pub use runner::run;
pub use stats::{LatencySummary, percentile};
