//! `loadtest`: a load generator for a kyc server running on this machine.
//!
//! Two scenarios: plain GET requests (by default to `/healthz`) with counts, errors by kind,
//! throughput and exact latency percentiles ([`run`]); and `sessions` ([`sessions`]), thousands
//! of concurrent KYC sessions over HTTP + WebSocket with event latency, heartbeats and the
//! server's memory per session. Every run is bounded in count and time, and only loopback
//! targets are accepted ([`config::check_loopback`]).
//!
//! `main.rs` only parses the command line, calls [`run`] or [`sessions::run_sessions`] and
//! prints the report.

pub mod config;
pub mod report;
pub mod runner;
pub mod sessions;
pub mod stats;

pub use config::{Cli, Config, ConfigError};
pub use report::{ErrorKind, Report, StopReason};
pub use runner::run;
pub use stats::{LatencySummary, percentile};
