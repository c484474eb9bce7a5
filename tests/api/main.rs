//! API tests: each starts the real server (in-process on port 0, or the `kyc` binary) and talks
//! to it over HTTP, as a client would.

mod binary;
mod errors;
mod health;
mod helpers;
mod openapi;
mod request_id;
