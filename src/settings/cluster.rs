//! `[cluster]`: what this process is in a group of nodes sharing Redis (`redis.url`) — its role
//! and how engine jobs travel over Redis Streams: how long a job may stay with a silent worker
//! before another takes it, how often it may be handed out, how long an api node waits.

use super::SettingsError;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// What a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sessions, their actors, journal, WebSockets and the API; the engine work goes to the
    /// engine workers through Redis.
    Api,
    /// Engine pools only, taking work from Redis; serves health and metrics.
    Engine,
    /// Both (one process: today's server). With Redis it also takes work from other nodes;
    /// without Redis, or while Redis is down, it runs its own work in-process.
    #[default]
    All,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Engine => "engine",
            Self::All => "all",
        }
    }

    /// Whether this role holds sessions and serves the API.
    pub fn serves_api(self) -> bool {
        self != Self::Engine
    }

    /// Whether this role runs engine pools.
    pub fn runs_engines(self) -> bool {
        self != Self::Api
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "api" => Ok(Self::Api),
            "engine" => Ok(Self::Engine),
            "all" => Ok(Self::All),
            other => Err(format!("unknown role {other:?} (use api, engine or all)")),
        }
    }
}

/// `[cluster]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// `api`, `engine` or `all` (`kyc serve --role` overrides it).
    pub role: Role,
    /// This node's name in Redis and `/admin/tree`; empty: host name and process id.
    pub node_name: String,
    /// The URL other nodes reach this node at (to replay a session's events for a socket they
    /// hold); empty: `server.public_url`, which is right only when it reaches this very node.
    pub advertise_url: String,
    /// A job a worker has held this long without a sign of life is taken by another worker
    /// (`XAUTOCLAIM`). A working worker renews its jobs every third of it.
    pub visibility_timeout_secs: f64,
    /// A job handed out this many times (its workers died) fails its step cleanly.
    pub max_deliveries: u32,
    /// How long an api node waits for a job's answer before the step fails.
    pub job_timeout_secs: f64,
    /// Jobs an engine worker takes at once (face jobs run as one batch where the model can).
    pub batch: usize,
    /// Each job stream is trimmed to about this many entries (`XADD MAXLEN ~`).
    pub stream_max_len: usize,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            role: Role::All,
            node_name: String::new(),
            advertise_url: String::new(),
            visibility_timeout_secs: 30.0,
            max_deliveries: 3,
            job_timeout_secs: 300.0,
            batch: 4,
            stream_max_len: 10_000,
        }
    }
}

impl ClusterSettings {
    pub fn visibility_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.visibility_timeout_secs)
    }

    pub fn job_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.job_timeout_secs)
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        for (key, v) in [
            (
                "cluster.visibility_timeout_secs",
                self.visibility_timeout_secs,
            ),
            ("cluster.job_timeout_secs", self.job_timeout_secs),
        ] {
            if !(v.is_finite() && (0.3..1e6).contains(&v)) {
                return Err(SettingsError::invalid(
                    key,
                    "must be a number of seconds from 0.3",
                ));
            }
        }
        if self.max_deliveries == 0 {
            return Err(SettingsError::invalid(
                "cluster.max_deliveries",
                "must be at least 1",
            ));
        }
        if !(1..=64).contains(&self.batch) {
            return Err(SettingsError::invalid("cluster.batch", "must be 1 to 64"));
        }
        if self.stream_max_len < 100 {
            return Err(SettingsError::invalid(
                "cluster.stream_max_len",
                "must be at least 100",
            ));
        }
        if self
            .node_name
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            || self.node_name.len() > 64
        {
            return Err(SettingsError::invalid(
                "cluster.node_name",
                "letters, digits, '-', '_' and '.' only, at most 64",
            ));
        }
        Ok(())
    }
}
