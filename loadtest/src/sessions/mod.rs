//! `loadtest sessions`: N concurrent KYC sessions, each with an open WebSocket, against a kyc
//! server on this machine; reports errors by kind, event delivery latency, heartbeat pings and
//! the server's memory per open session.
//!
//! Pure parts (arguments, the live frame, `/proc` parsing, event checks, the report) are
//! unit-tested here; the end-to-end run needs a real server (see loadtest/README.md).

pub mod api;
pub mod config;
pub mod frame;
pub mod host;
pub mod report;
pub mod scenario;

pub use config::{SessionsCli, SessionsConfig};
pub use report::{Memory, SessionsReport, Stop};
pub use scenario::{SetupError, run_sessions};
