//! `loadtest`: a load generator for a kyc server running on this machine.
//!
//! Today it sends plain GET requests (by default to `/healthz`) and reports counts, errors by
//! kind, throughput and exact latency percentiles; it is meant to grow into the tool that drives
//! thousands of KYC sessions over HTTP + WebSocket. Every run is bounded by a request count and
//! a time limit, and only loopback targets are accepted ([`config::check_loopback`]).
//!
//! `main.rs` only parses the command line, calls [`run`] and prints the [`Report`].

pub mod config;
pub mod report;
pub mod runner;
pub mod stats;

pub use config::{Cli, Config, ConfigError};
pub use report::{ErrorKind, Report, StopReason};
pub use runner::run;
pub use stats::{LatencySummary, percentile};
