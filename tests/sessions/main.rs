//! KYC sessions over the real API: the server with its real engines and sessions on port 0,
//! driven over REST and WebSocket with real media (a generated ID card carrying a real photo,
//! selfie videos made from real photos), and the durable records they leave.

mod abuse;
mod admin;
mod bad_input;
mod browser;
mod cluster;
mod consent;
mod crash;
mod edge;
mod encryption;
mod erasure;
mod flow;
mod heartbeat;
mod helpers;
mod isolation;
mod live;
mod liveness;
mod outage;
mod records;
/// A fresh MariaDB database per test (the records tests' own helper).
#[allow(dead_code)]
#[path = "../records/db.rs"]
mod records_db;
/// The TCP proxy the records' outage test cuts.
#[path = "../records/proxy.rs"]
mod records_proxy;
mod retention;
mod tenants;
mod webhooks;
