//! kyc: a self-hosted identity-verification server. This library holds the server package:
//! settings, the HTTP layer, model management and the command-line interface.

pub mod app;
pub mod cli;
pub mod cluster;
pub mod consent;
pub mod crypto;
pub mod engines;
pub mod flow;
pub mod http;
pub mod media;
pub mod metrics;
pub mod models;
pub mod photo_pair;
pub mod records;
pub mod retention;
pub mod sessions;
pub mod settings;
pub mod tenants;
pub mod verify;
pub mod webhooks;
