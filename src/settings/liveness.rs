//! `[liveness]`: whether the person in the video must show they are present (a challenge, the
//! passive model, the replay cues), how densely the clip is tracked, and the verdict's
//! thresholds — mapped onto the vision layer's liveness policy.

use super::SettingsError;
use serde::Deserialize;
use vision::liveness::verdict::{LivenessPolicy, Mode};

/// `[liveness]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessSettings {
    /// `off`, `passive` or `challenge` (`KYC__LIVENESS__MODE`).
    pub mode: Mode,
    /// Frames a second the dense pass tracks.
    pub dense_fps: f64,
    /// SCRFD's input side in the dense pass.
    pub det_size: u32,
    /// The passive model runs on about this many tracked frames, spread over the clip.
    pub passive_frames: usize,
    pub passive_threshold: f32,
    pub passive_margin: f32,
    pub still_spread: f32,
    pub min_tracked_share: f32,
    /// How long after it is drawn a challenge's video may be uploaded, seconds.
    pub challenge_secs: u64,
}

impl Default for LivenessSettings {
    fn default() -> Self {
        let p = LivenessPolicy::default();
        Self {
            mode: p.mode,
            dense_fps: 8.0,
            det_size: 320,
            passive_frames: 16,
            passive_threshold: p.passive_threshold,
            passive_margin: p.passive_margin,
            still_spread: p.still_spread,
            min_tracked_share: p.min_tracked_share,
            challenge_secs: 600,
        }
    }
}

impl LivenessSettings {
    /// The verdict's policy (a session or a command may then change its mode).
    pub fn policy(&self) -> LivenessPolicy {
        LivenessPolicy {
            mode: self.mode,
            passive_threshold: self.passive_threshold,
            passive_margin: self.passive_margin,
            still_spread: self.still_spread,
            min_tracked_share: self.min_tracked_share,
        }
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(self.dense_fps.is_finite() && (1.0..=30.0).contains(&self.dense_fps)) {
            return Err(SettingsError::invalid(
                "liveness.dense_fps",
                format!("{} is not in 1..=30", self.dense_fps),
            ));
        }
        if !(96..=1280).contains(&self.det_size) || !self.det_size.is_multiple_of(32) {
            return Err(SettingsError::invalid(
                "liveness.det_size",
                format!("{} is not a multiple of 32 in 96..=1280", self.det_size),
            ));
        }
        if self.passive_frames == 0 {
            return Err(SettingsError::invalid(
                "liveness.passive_frames",
                "must be at least 1",
            ));
        }
        if self.challenge_secs < 10 {
            return Err(SettingsError::invalid(
                "liveness.challenge_secs",
                "must be at least 10 seconds",
            ));
        }
        for (key, value) in [
            ("liveness.passive_threshold", self.passive_threshold),
            ("liveness.passive_margin", self.passive_margin),
            ("liveness.still_spread", self.still_spread),
            ("liveness.min_tracked_share", self.min_tracked_share),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SettingsError::invalid(
                    key,
                    format!("{value} is not in 0..1"),
                ));
            }
        }
        Ok(())
    }
}
