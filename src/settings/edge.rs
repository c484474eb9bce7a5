//! `[edge]`: what a connection may cost the server before it has earned anything — how long it
//! may take to send its headers or sit idle, how slowly it may send a body, and how many
//! connections and WebSockets one address (and everyone together) may hold open.

use super::SettingsError;
use serde::Deserialize;
use std::time::Duration;

/// `[edge]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeSettings {
    /// Seconds a client has to send a request's whole header, counted from when the connection
    /// opens or its previous answer went out; so it is also how long an idle keep-alive
    /// connection stays open (a client should let a pooled connection go before that).
    pub header_read_timeout_secs: f64,
    /// The slowest average rate (bytes/s) a request body may arrive at once
    /// `body_rate_grace_secs` have passed; a slower one is cut with 408.
    pub min_body_rate_bytes_per_sec: u64,
    /// Seconds of a body's transfer the minimum rate does not yet count (a phone's radio
    /// waking up, a slow start).
    pub body_rate_grace_secs: f64,
    /// Open connections the server holds at most; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Open connections one client address (an IPv6 client: its /64) holds at most; a
    /// trusted proxy is not limited (its clients are, by their WebSockets and rates).
    pub max_connections_per_address: usize,
    /// Open WebSockets, all together.
    pub max_websockets: usize,
    /// Open WebSockets of one client address (behind a trusted proxy: the forwarded one).
    pub max_websockets_per_address: usize,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 30.0,
            min_body_rate_bytes_per_sec: 1024,
            body_rate_grace_secs: 10.0,
            max_connections: 20_000,
            max_connections_per_address: 512,
            max_websockets: 20_000,
            max_websockets_per_address: 256,
        }
    }
}

impl EdgeSettings {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.header_read_timeout_secs)
    }

    pub fn body_rate_grace(&self) -> Duration {
        Duration::from_secs_f64(self.body_rate_grace_secs)
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        for (key, v) in [
            (
                "edge.header_read_timeout_secs",
                self.header_read_timeout_secs,
            ),
            ("edge.body_rate_grace_secs", self.body_rate_grace_secs),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 1e6) {
                return Err(SettingsError::invalid(
                    key,
                    "must be a positive number of seconds",
                ));
            }
        }
        for (key, v) in [
            (
                "edge.min_body_rate_bytes_per_sec",
                self.min_body_rate_bytes_per_sec as usize,
            ),
            ("edge.max_connections", self.max_connections),
            (
                "edge.max_connections_per_address",
                self.max_connections_per_address,
            ),
            ("edge.max_websockets", self.max_websockets),
            (
                "edge.max_websockets_per_address",
                self.max_websockets_per_address,
            ),
        ] {
            if v == 0 {
                return Err(SettingsError::invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}
