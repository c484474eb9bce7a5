//! Live camera frames: the capture quality gate run on a frame the page sends while the person
//! lines up their card. A small lane of its own bounds how many are decoded at once (a full
//! lane refuses at once, the client retries), so a burst of frames can neither queue up work
//! nor take the blocking pool from the uploads. Nothing of a frame is kept: its result goes to
//! the session's sockets as a transient notice, never to the journal.

use actors::session::{Message, SessionState, Stage, Step};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::Semaphore;
use vision::ImageLimits;

/// Why a live frame got no check.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0} live frames are being checked already")]
    Busy(usize),
    #[error("the frame cannot be read: {0}")]
    BadFrame(String),
    #[error("the quality gate failed: {0}")]
    Failed(String),
}

/// The lane: at most `bound` frames decoded and checked at once.
pub struct LiveLane {
    slots: Arc<Semaphore>,
    bound: usize,
    limits: ImageLimits,
    stats: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    peak: AtomicUsize,
    checked: AtomicU64,
    refused: AtomicU64,
}

/// Counters for /metrics.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveStats {
    pub bound: usize,
    pub running: usize,
    /// The most frames ever checked at once since the start.
    pub peak: usize,
    pub checked: u64,
    pub refused: u64,
}

/// One frame's verdict, ready to be told to the session's sockets.
pub struct LiveCheck {
    pub passed: bool,
    /// The notice for the sockets (stage `id_capture`, not journaled).
    pub step: Step,
}

/// Counts a frame as running while it lives.
struct Running(Arc<Counters>);

impl Running {
    fn start(c: &Arc<Counters>) -> Self {
        let now = c.running.fetch_add(1, Ordering::SeqCst) + 1;
        c.peak.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(c))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LiveLane {
    pub fn new(bound: usize, limits: ImageLimits) -> Self {
        let bound = bound.max(1);
        Self {
            slots: Arc::new(Semaphore::new(bound)),
            bound,
            limits,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> LiveStats {
        let c = &self.stats;
        LiveStats {
            bound: self.bound,
            running: c.running.load(Ordering::SeqCst),
            peak: c.peak.load(Ordering::SeqCst),
            checked: c.checked.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }

    /// Decodes `bytes` and runs the capture quality gate on them, in the lane; refused at once
    /// when the lane is full. `capture_id` names the frame in the notice.
    pub async fn check(
        &self,
        bytes: Vec<u8>,
        capture_id: uuid::Uuid,
    ) -> Result<LiveCheck, LiveError> {
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(LiveError::Busy(self.bound));
        };
        let limits = self.limits;
        let counters = Arc::clone(&self.stats);
        let report = tokio::task::spawn_blocking(move || {
            let _running = Running::start(&counters);
            let _permit = permit;
            let image = vision::decode_image(&bytes, limits)?;
            vision::quality::assess(&image.mat)
        })
        .await
        .map_err(|e| LiveError::Failed(format!("the check stopped: {e}")))?
        .map_err(|e| {
            if e.is_bad_input() {
                LiveError::BadFrame(e.to_string())
            } else {
                LiveError::Failed(e.to_string())
            }
        })?;
        self.stats.checked.fetch_add(1, Ordering::Relaxed);
        let message = match report.checks.guidance().first() {
            Some(m) => Message::new(m.en.clone(), m.ko.clone()),
            None => Message::new(
                "Good: hold still and take the photo",
                "좋습니다. 움직이지 말고 촬영해 주세요",
            ),
        };
        let step = Step::progress(SessionState::IdCapture, Stage::IdCapture, 0, message)
            .with_result(serde_json::json!({
                "captureId": capture_id,
                "live": true,
                "passed": report.passed,
                "quality": report.checks,
            }));
        Ok(LiveCheck {
            passed: report.passed,
            step,
        })
    }
}
