//! `[retention]`: how long a finished session's raw media and the session itself are kept
//! before the purge job deletes them, and how often that job runs.

use super::SettingsError;
use serde::Deserialize;
use std::time::Duration;

/// `[retention]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days after a session ended (decided, failed, expired or erased) that its uploads are
    /// deleted. Fractions are allowed (tests use seconds: 0.0000116 days ≈ 1 s).
    pub media_days: f64,
    /// Days after a session ended that it is purged whole (records but the audit trail, the
    /// journal, the key).
    pub session_days: f64,
    /// Seconds between two runs of the purge job (it also runs once at start-up).
    pub purge_interval_secs: f64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            media_days: 30.0,
            session_days: 90.0,
            purge_interval_secs: 3600.0,
        }
    }
}

const DAY_SECS: f64 = 86_400.0;

impl RetentionSettings {
    pub fn media_after(&self) -> Duration {
        Duration::from_secs_f64(self.media_days * DAY_SECS)
    }

    pub fn session_after(&self) -> Duration {
        Duration::from_secs_f64(self.session_days * DAY_SECS)
    }

    pub fn purge_interval(&self) -> Duration {
        Duration::from_secs_f64(self.purge_interval_secs)
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        for (key, days) in [
            ("retention.media_days", self.media_days),
            ("retention.session_days", self.session_days),
        ] {
            if !(days.is_finite() && days > 0.0 && days <= 36_500.0) {
                return Err(SettingsError::invalid(
                    key,
                    "must be more than 0 and at most 36500 days",
                ));
            }
        }
        if self.session_days < self.media_days {
            return Err(SettingsError::invalid(
                "retention.session_days",
                "must be at least retention.media_days (a session outlives its media)",
            ));
        }
        if !(self.purge_interval_secs.is_finite()
            && (0.1..=86_400.0).contains(&self.purge_interval_secs))
        {
            return Err(SettingsError::invalid(
                "retention.purge_interval_secs",
                "must be between 0.1 and 86400 seconds",
            ));
        }
        Ok(())
    }
}
