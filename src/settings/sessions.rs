//! `[sessions]`: how KYC sessions live on this node — expiry, upload sizes, WebSocket
//! heartbeats and rate limits.

use super::SettingsError;
use serde::Deserialize;
use std::time::Duration;

/// `[sessions]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_timeout_secs: u64,
    pub max_image_bytes: u64,
    pub ws_ping_secs: u64,
    pub ws_dead_secs: u64,
    pub rate_per_ip_per_minute: u32,
    pub rate_per_session_per_minute: u32,
    pub max_running_jobs: usize,
    pub max_waiting_jobs: usize,
    /// Live camera frames checked at once (0 = one per CPU core); more get 503 at once.
    pub live_frames_at_once: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 1800,
            max_image_bytes: 10 * 1024 * 1024,
            ws_ping_secs: 20,
            ws_dead_secs: 60,
            rate_per_ip_per_minute: 600,
            rate_per_session_per_minute: 120,
            max_running_jobs: 0,
            max_waiting_jobs: 1000,
            live_frames_at_once: 0,
        }
    }
}

impl SessionSettings {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// How many live frames are checked at once: the setting, or one per CPU core.
    pub fn live_lane(&self) -> usize {
        match self.live_frames_at_once {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    pub fn ws_ping(&self) -> Duration {
        Duration::from_secs(self.ws_ping_secs)
    }

    pub fn ws_dead(&self) -> Duration {
        Duration::from_secs(self.ws_dead_secs)
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if self.idle_timeout_secs == 0 {
            return Err(SettingsError::invalid(
                "sessions.idle_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.max_image_bytes < 1024 {
            return Err(SettingsError::invalid(
                "sessions.max_image_bytes",
                format!("{} is under the minimum of 1024", self.max_image_bytes),
            ));
        }
        if self.ws_ping_secs == 0 || self.ws_dead_secs <= self.ws_ping_secs {
            return Err(SettingsError::invalid(
                "sessions.ws_dead_secs",
                format!(
                    "{} must be longer than sessions.ws_ping_secs ({}, at least 1)",
                    self.ws_dead_secs, self.ws_ping_secs
                ),
            ));
        }
        for (key, v) in [
            (
                "sessions.rate_per_ip_per_minute",
                self.rate_per_ip_per_minute,
            ),
            (
                "sessions.rate_per_session_per_minute",
                self.rate_per_session_per_minute,
            ),
        ] {
            if v == 0 {
                return Err(SettingsError::invalid(key, "must be at least 1"));
            }
        }
        if self.max_running_jobs > 4096 {
            return Err(SettingsError::invalid(
                "sessions.max_running_jobs",
                format!("{} is over the limit of 4096", self.max_running_jobs),
            ));
        }
        Ok(())
    }
}
