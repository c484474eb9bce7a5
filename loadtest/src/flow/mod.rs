//! `loadtest flow`: virtual users each running whole KYC verifications (session, WebSocket, ID
//! card, selfie video, face comparison) against a kyc server on this machine; reports
//! verifications per minute, decisions, failures by kind, each stage's latency, retries and the
//! server's memory over time (for soak runs).
//!
//! Pure parts (arguments, a step's event matching, retry delays, pacing, the report) are
//! unit-tested here; the end-to-end run needs a real server (see loadtest/README.md).

pub mod api;
pub mod config;
pub mod memory;
pub mod report;
pub mod scenario;
pub mod tally;

pub use config::{FlowCli, FlowConfig, FlowConfigError};
pub use report::{FlowReport, Stop};
pub use scenario::{FlowSetupError, run_flow};
