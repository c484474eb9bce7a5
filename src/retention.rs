//! The retention purge job: runs [`Sessions::purge`] at start-up and every
//! `retention.purge_interval_secs`, so raw media leave after `retention.media_days` and whole
//! sessions after `retention.session_days`. A failed run is logged and retried on the next tick.

use crate::sessions::Sessions;
use crate::settings::RetentionSettings;
use std::sync::Arc;

/// The running job; aborted when dropped or stopped.
pub struct RetentionJob(tokio::task::JoinHandle<()>);

impl RetentionJob {
    pub fn spawn(sessions: Arc<Sessions>, settings: &RetentionSettings) -> Self {
        let (media_after, session_after) = (settings.media_after(), settings.session_after());
        let mut tick = tokio::time::interval(settings.purge_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(tokio::spawn(async move {
            loop {
                tick.tick().await;
                let now = actors::session::event::now_ms();
                if let Err(e) = sessions.purge(now, media_after, session_after).await {
                    tracing::error!(error = %e, "retention purge failed; retrying on the next run");
                }
            }
        }))
    }

    /// Stops the job (a run in progress stops at its next await; every step is idempotent).
    pub async fn stop(self) {
        self.0.abort();
        let _ = self.0.await;
    }
}
