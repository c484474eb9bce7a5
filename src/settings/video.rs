//! `[video]`: how selfie videos are taken in, sampled, filtered and decided on — kept apart from
//! the other sections because it maps onto three vision policies.

use super::SettingsError;
use serde::Deserialize;
use vision::decision::DecisionPolicy;
use vision::video::VideoLimits;
use vision::video::quality::FrameQualityPolicy;

/// `[video]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSettings {
    pub max_duration_s: f64,
    pub max_bytes: u64,
    pub max_side: u32,
    pub min_side: u32,
    pub samples: usize,
    pub min_frame_quality: f32,
    pub min_frames: usize,
    pub top_k: usize,
    pub review_margin: f32,
    pub consistency_threshold: f32,
    pub other_person_share: f32,
    pub min_usable_share: f32,
    /// `review` or `rejected`: what another person in the picture, or too few usable
    /// frames, makes of a match.
    pub crowd_outcome: CrowdOutcome,
}

/// What `video.crowd_outcome` may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrowdOutcome {
    Review,
    Rejected,
}

impl Default for VideoSettings {
    fn default() -> Self {
        let l = VideoLimits::default();
        let d = DecisionPolicy::default();
        Self {
            max_duration_s: l.max_duration_s,
            max_bytes: l.max_bytes,
            max_side: l.max_side,
            min_side: l.min_side,
            samples: 12,
            min_frame_quality: FrameQualityPolicy::default().min_score,
            min_frames: d.min_frames,
            top_k: d.top_k,
            review_margin: d.review_margin,
            consistency_threshold: d.consistency_threshold,
            other_person_share: d.other_person_share,
            min_usable_share: d.min_usable_share,
            crowd_outcome: CrowdOutcome::Review,
        }
    }
}

impl VideoSettings {
    pub fn limits(&self) -> VideoLimits {
        VideoLimits {
            max_duration_s: self.max_duration_s,
            max_bytes: self.max_bytes,
            max_side: self.max_side,
            min_side: self.min_side,
            deadline: None,
        }
    }

    pub fn frame_quality(&self) -> FrameQualityPolicy {
        FrameQualityPolicy {
            min_score: self.min_frame_quality,
            ..FrameQualityPolicy::default()
        }
    }

    /// The decision policy, with the engine's match threshold.
    pub fn decision(&self, match_threshold: f32) -> DecisionPolicy {
        DecisionPolicy {
            match_threshold,
            review_margin: self.review_margin,
            top_k: self.top_k,
            min_frames: self.min_frames,
            consistency_threshold: self.consistency_threshold,
            other_person_share: self.other_person_share,
            min_usable_share: self.min_usable_share,
            crowd_outcome: match self.crowd_outcome {
                CrowdOutcome::Review => vision::decision::Outcome::Review,
                CrowdOutcome::Rejected => vision::decision::Outcome::Rejected,
            },
        }
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(self.max_duration_s.is_finite() && self.max_duration_s > 0.0) {
            return Err(SettingsError::invalid(
                "video.max_duration_s",
                "must be a positive number of seconds",
            ));
        }
        if self.max_bytes == 0 {
            return Err(SettingsError::invalid(
                "video.max_bytes",
                "must be at least 1",
            ));
        }
        if self.min_side == 0 || self.min_side > self.max_side {
            return Err(SettingsError::invalid(
                "video.min_side",
                format!(
                    "{} is not in 1..=video.max_side ({})",
                    self.min_side, self.max_side
                ),
            ));
        }
        if !(1..=120).contains(&self.samples) {
            return Err(SettingsError::invalid(
                "video.samples",
                format!("{} is not in 1..=120", self.samples),
            ));
        }
        if self.min_frames == 0 || self.min_frames > self.samples {
            return Err(SettingsError::invalid(
                "video.min_frames",
                format!(
                    "{} is not in 1..=video.samples ({})",
                    self.min_frames, self.samples
                ),
            ));
        }
        if self.top_k == 0 {
            return Err(SettingsError::invalid("video.top_k", "must be at least 1"));
        }
        for (key, value) in [
            ("video.min_frame_quality", self.min_frame_quality),
            ("video.review_margin", self.review_margin),
            ("video.consistency_threshold", self.consistency_threshold),
            ("video.other_person_share", self.other_person_share),
            ("video.min_usable_share", self.min_usable_share),
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
