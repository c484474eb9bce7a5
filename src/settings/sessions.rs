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
    /// Sessions one tenant may create per minute (a tenant's `sessionsPerMinute` overrides).
    #[serde(default = "default_tenant_rate")]
    pub rate_per_tenant_per_minute: u32,
    /// Seconds after its creation that a session's token stops working, whatever it is doing
    /// (its open sockets are closed); the tenant's key still reads it.
    #[serde(default = "default_lifetime")]
    pub max_lifetime_secs: u64,
    /// Sessions one tenant may have open (not yet decided, failed or expired, and younger
    /// than `max_lifetime_secs`) at once; a tenant's `maxOpenSessions` overrides.
    #[serde(default = "default_open")]
    pub max_open_per_tenant: u32,
    /// The share of `max_waiting_jobs` one tenant's jobs may fill; over it that tenant's
    /// uploads get 503 while others' are still taken.
    #[serde(default = "default_share")]
    pub tenant_job_share: f64,
    /// ID photos and videos one session may upload (retakes included).
    #[serde(default = "default_uploads")]
    pub max_uploads_per_session: u32,
    /// Bytes one session may upload in all.
    #[serde(default = "default_session_bytes")]
    pub max_bytes_per_session: u64,
    /// Wall-clock seconds one job (an ID photo read, a video analysed) may run; one still
    /// running then is stopped and its session fails.
    #[serde(default = "default_job_timeout")]
    pub job_timeout_secs: f64,
    /// Starts one job gets: a job that stopped the server or its task this often without
    /// finishing fails its session instead of running again at every start.
    #[serde(default = "default_attempts")]
    pub job_max_attempts: u32,
}

fn default_open() -> u32 {
    1000
}

fn default_share() -> f64 {
    0.5
}

fn default_uploads() -> u32 {
    20
}

fn default_session_bytes() -> u64 {
    1024 * 1024 * 1024
}

fn default_job_timeout() -> f64 {
    600.0
}

fn default_attempts() -> u32 {
    2
}

fn default_tenant_rate() -> u32 {
    600
}

fn default_lifetime() -> u64 {
    7200
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
            rate_per_tenant_per_minute: default_tenant_rate(),
            max_lifetime_secs: default_lifetime(),
            max_open_per_tenant: default_open(),
            tenant_job_share: default_share(),
            max_uploads_per_session: default_uploads(),
            max_bytes_per_session: default_session_bytes(),
            job_timeout_secs: default_job_timeout(),
            job_max_attempts: default_attempts(),
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

    /// How long a session's token works after the session was created.
    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime_secs)
    }

    pub fn ws_ping(&self) -> Duration {
        Duration::from_secs(self.ws_ping_secs)
    }

    pub fn ws_dead(&self) -> Duration {
        Duration::from_secs(self.ws_dead_secs)
    }

    /// What a job may cost (the session actors' [`actors::session::JobLimits`]).
    pub fn job_limits(&self) -> actors::session::JobLimits {
        actors::session::JobLimits {
            timeout: Duration::from_secs_f64(self.job_timeout_secs),
            max_attempts: self.job_max_attempts,
        }
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(self.job_timeout_secs.is_finite()
            && self.job_timeout_secs > 0.0
            && self.job_timeout_secs < 1e7)
        {
            return Err(SettingsError::invalid(
                "sessions.job_timeout_secs",
                "must be a positive number of seconds",
            ));
        }
        if !(self.tenant_job_share > 0.0 && self.tenant_job_share <= 1.0) {
            return Err(SettingsError::invalid(
                "sessions.tenant_job_share",
                "must be more than 0 and at most 1",
            ));
        }
        for (key, v) in [
            (
                "sessions.max_open_per_tenant",
                u64::from(self.max_open_per_tenant),
            ),
            (
                "sessions.max_uploads_per_session",
                u64::from(self.max_uploads_per_session),
            ),
            ("sessions.max_bytes_per_session", self.max_bytes_per_session),
            (
                "sessions.job_max_attempts",
                u64::from(self.job_max_attempts),
            ),
        ] {
            if v == 0 {
                return Err(SettingsError::invalid(key, "must be at least 1"));
            }
        }
        if self.max_lifetime_secs == 0 {
            return Err(SettingsError::invalid(
                "sessions.max_lifetime_secs",
                "must be at least 1",
            ));
        }
        if self.rate_per_tenant_per_minute == 0 {
            return Err(SettingsError::invalid(
                "sessions.rate_per_tenant_per_minute",
                "must be at least 1",
            ));
        }
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
