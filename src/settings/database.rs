//! `[database]`: where the durable records go (MariaDB, or the embedded store when no url is
//! set) and how the connection pool behaves.

use super::SettingsError;
use secrecy::SecretString;
use serde::Deserialize;

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// MariaDB url; without it records go to the embedded store.
    pub url: Option<SecretString>,
    /// Connections in the pool at most.
    pub max_connections: u32,
    /// Seconds to open a connection (and run the migrations' first query) before giving up.
    pub connect_timeout_secs: u64,
    /// Seconds a query waits for a free (or new) connection from the pool.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 8,
            connect_timeout_secs: 5,
            acquire_timeout_secs: 5,
        }
    }
}

impl DatabaseSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=1000).contains(&self.max_connections) {
            return Err(SettingsError::invalid(
                "database.max_connections",
                "must be between 1 and 1000",
            ));
        }
        for (key, secs) in [
            ("database.connect_timeout_secs", self.connect_timeout_secs),
            ("database.acquire_timeout_secs", self.acquire_timeout_secs),
        ] {
            if !(1..=600).contains(&secs) {
                return Err(SettingsError::invalid(
                    key,
                    "must be between 1 and 600 seconds",
                ));
            }
        }
        Ok(())
    }
}
