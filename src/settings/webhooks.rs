//! `[webhooks]`: how the tenants' notifications are delivered — the time one attempt may
//! take, the waits between attempts, and when one is given up.

use super::SettingsError;
use serde::Deserialize;

/// `[webhooks]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Seconds one delivery may take (connect, send, answer).
    pub timeout_secs: f64,
    /// The wait before the first retry, in ms; each next wait doubles (with ±25 % jitter).
    pub retry_first_ms: u64,
    /// The longest wait between two attempts, in seconds.
    pub retry_max_secs: u64,
    /// Seconds after which a notification no attempt delivered is given up (status `failed`).
    pub give_up_after_secs: f64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout_secs: 10.0,
            retry_first_ms: 1000,
            retry_max_secs: 3600,
            give_up_after_secs: 86_400.0,
        }
    }
}

impl WebhookSettings {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout_secs)
    }

    pub fn give_up_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.give_up_after_secs)
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        for (key, v) in [
            ("webhooks.timeout_secs", self.timeout_secs),
            ("webhooks.give_up_after_secs", self.give_up_after_secs),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 1e9) {
                return Err(SettingsError::invalid(
                    key,
                    "must be a positive number of seconds",
                ));
            }
        }
        if self.retry_first_ms == 0 || self.retry_max_secs == 0 {
            return Err(SettingsError::invalid(
                "webhooks.retry_first_ms",
                "retry waits must be positive",
            ));
        }
        Ok(())
    }
}
