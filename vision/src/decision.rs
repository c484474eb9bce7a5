//! The verification decision: from the ID face's similarity to every usable video frame and the
//! frames' similarity to each other, `verified`, `rejected` or `review` (or `failed` when too few
//! frames were usable), always with the reasons. Robust by construction: the score is the median
//! of the best frames' similarities, so one odd frame neither makes nor breaks a decision, and a
//! video whose person changes is never verified however well one part of it matches.

use crate::face::Embedding;
use crate::face::compare::compare;
use crate::liveness::verdict::{Finding, LivenessVerdict, Mode};
use crate::video::quality::{FrameIssue, FrameQuality};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How the decision is taken. Calibrated on the real labelled pairs (BENCHMARKS.md): genuine
/// pairs score 0.46 … 0.85, impostors at most 0.23, the match threshold is 0.35.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionPolicy {
    /// Similarity at which two faces are the same person.
    pub match_threshold: f32,
    /// Scores within this distance of the threshold go to a person (`review`).
    pub review_margin: f32,
    /// The score is the median of this many best frame similarities.
    pub top_k: usize,
    /// Fewer usable frames than this and nothing is decided (`failed`).
    pub min_frames: usize,
    /// A frame whose median similarity to the other usable frames is below this shows
    /// someone else (the person in the video changed).
    pub consistency_threshold: f32,
    /// Another person in at least this share of the sampled frames is a reason: the video
    /// is not verified on the few frames where the holder is alone.
    pub other_person_share: f32,
    /// Fewer usable frames than this share of the sampled ones is a reason too.
    pub min_usable_share: f32,
    /// What either reason makes of a match: `Review` or `Rejected`.
    pub crowd_outcome: Outcome,
}

impl Default for DecisionPolicy {
    fn default() -> Self {
        Self {
            match_threshold: 0.35,
            review_margin: 0.05,
            top_k: 5,
            min_frames: 3,
            consistency_threshold: 0.35,
            other_person_share: 0.25,
            min_usable_share: 0.5,
            crowd_outcome: Outcome::Review,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Verified,
    Rejected,
    Review,
    /// Too few usable frames: nothing could be decided; the reasons say what to fix.
    Failed,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Verified => "verified",
            Self::Rejected => "rejected",
            Self::Review => "review",
            Self::Failed => "failed",
        })
    }
}

/// One sampled frame as the decision sees it.
#[derive(Debug, Clone)]
pub struct FrameEvidence {
    pub index: u64,
    pub quality: FrameQuality,
    /// Passed the quality gate.
    pub kept: bool,
    /// Similarity of the ID face to this frame's face (None: no face, or not compared).
    pub similarity: Option<f32>,
    /// Median similarity of this frame's face to the other kept frames' (kept frames only).
    pub consistency: Option<f32>,
}

/// The decision with its grounds: the same fields, with the same names, in the API's
/// comparison report and in `kyc verify --json` (both flatten it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `verified`, `rejected`, `review` or `failed`.
    #[schema(value_type = String)]
    pub decision: Outcome,
    /// Median of the top-k kept frames' similarities (None when failed).
    pub score: Option<f32>,
    /// Lowest per-frame consistency among kept frames (None with fewer than two).
    pub consistency: Option<f32>,
    /// The match threshold the score was held against.
    pub threshold: f32,
    pub reasons: Vec<String>,
    pub frames_sampled: usize,
    pub frames_kept: usize,
    /// Whether the person was present and alive: each check's finding and reason (absent when
    /// liveness was not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub liveness: Option<LivenessVerdict>,
}

impl Verdict {
    /// Takes the liveness verdict into the decision: a failed check rejects a match (the reason
    /// first: it is why), an uncertain one sends it to review. A face that does not match, or
    /// nothing decided, stays as it is; the liveness verdict is attached either way.
    pub fn with_liveness(mut self, live: LivenessVerdict) -> Self {
        if self.decision != Outcome::Failed && live.mode != Mode::Off {
            let before = self.decision;
            match live.finding {
                Finding::Failed => self.decision = Outcome::Rejected,
                Finding::Uncertain if before == Outcome::Verified => {
                    self.decision = Outcome::Review
                }
                _ => {}
            }
            let mut reasons: Vec<String> = live
                .reasons
                .iter()
                .map(|r| format!("liveness: {r}"))
                .collect();
            if before != self.decision || live.finding != Finding::Passed {
                reasons.append(&mut self.reasons);
                self.reasons = reasons;
            } else {
                self.reasons.push(format!(
                    "liveness passed ({})",
                    match live.mode {
                        Mode::Challenge => "the challenge was performed",
                        _ => "passive checks",
                    }
                ));
            }
        }
        self.liveness = Some(live);
        self
    }
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Per kept frame, the median cosine similarity of its embedding to the other kept frames'
/// (`None` for a frame alone). Embeddings are L2-normalised.
pub fn consistency(faces: &[&Embedding]) -> Vec<Option<f32>> {
    (0..faces.len())
        .map(|i| {
            let sims: Vec<f32> = (0..faces.len())
                .filter(|&j| j != i)
                .filter_map(|j| compare(faces[i], faces[j], 0.0).ok())
                .map(|c| c.similarity)
                .collect();
            median(sims)
        })
        .collect()
}

/// The main reason frames were dropped, with its count: "too dark (9 of 12 frames)".
fn main_issue(frames: &[FrameEvidence]) -> Option<String> {
    let mut counts: HashMap<FrameIssue, usize> = HashMap::new();
    for f in frames.iter().filter(|f| !f.kept) {
        if let Some(i) = f.quality.issue {
            *counts.entry(i).or_default() += 1;
        }
    }
    let (issue, n) = counts
        .into_iter()
        .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i as u8)))?;
    Some(format!(
        "{} ({n} of {} frames)",
        issue.describe(),
        frames.len()
    ))
}

/// Why nothing can be decided from `frames` when only `usable` of them count: fewer than
/// `policy.min_frames`, with the main reason the others were dropped. `None` when enough are.
pub fn too_few_frames(
    frames: &[FrameEvidence],
    usable: usize,
    policy: &DecisionPolicy,
) -> Option<String> {
    if usable >= policy.min_frames.max(1) {
        return None;
    }
    let main = main_issue(frames).unwrap_or_else(|| "no usable frame".into());
    Some(format!(
        "only {usable} of {} frames are usable (at least {} needed): {main}",
        frames.len(),
        policy.min_frames
    ))
}

/// Decides from the sampled frames.
pub fn decide(frames: &[FrameEvidence], policy: &DecisionPolicy) -> Verdict {
    let kept: Vec<&FrameEvidence> = frames
        .iter()
        .filter(|f| f.kept && f.similarity.is_some())
        .collect();
    let consistency = kept
        .iter()
        .filter_map(|f| f.consistency)
        .min_by(|a, b| a.total_cmp(b));
    let mut verdict = Verdict {
        decision: Outcome::Failed,
        score: None,
        consistency,
        threshold: policy.match_threshold,
        reasons: Vec::new(),
        frames_sampled: frames.len(),
        frames_kept: kept.len(),
        liveness: None,
    };
    if let Some(reason) = too_few_frames(frames, kept.len(), policy) {
        verdict.reasons.push(reason);
        return verdict;
    }
    let mut sims: Vec<f32> = kept.iter().filter_map(|f| f.similarity).collect();
    sims.sort_by(|a, b| b.total_cmp(a));
    sims.truncate(policy.top_k.max(1));
    let score = median(sims).unwrap_or(0.0);
    verdict.score = Some(score);
    let t = policy.match_threshold;
    let (low, high) = (t - policy.review_margin, t + policy.review_margin);
    let strangers: Vec<u64> = kept
        .iter()
        .filter(|f| {
            f.consistency
                .is_some_and(|c| c < policy.consistency_threshold)
        })
        .map(|f| f.index)
        .collect();
    let matching = kept
        .iter()
        .filter(|f| f.similarity.is_some_and(|s| s >= t))
        .count();
    if !strangers.is_empty() {
        verdict.reasons.push(format!(
            "the person in the video changes: frames {strangers:?} do not show the same person as the others"
        ));
        verdict.decision = if score >= low {
            Outcome::Review
        } else {
            Outcome::Rejected
        };
    } else if score >= high && 2 * matching >= kept.len() {
        verdict.decision = Outcome::Verified;
        verdict.reasons.push(format!(
            "the ID face matches the video: score {score:.3} ≥ {high:.3} ({matching} of {} frames match)",
            kept.len()
        ));
    } else if score < low {
        verdict.decision = Outcome::Rejected;
        verdict.reasons.push(format!(
            "the ID face does not match the video: score {score:.3} < {low:.3}"
        ));
    } else {
        verdict.decision = Outcome::Review;
        verdict.reasons.push(if score >= high {
            format!(
                "only {matching} of {} usable frames match the ID face",
                kept.len()
            )
        } else {
            format!(
                "score {score:.3} is within the review band {low:.3} … {high:.3} around the threshold"
            )
        });
    }
    crowd_rules(frames, kept.len(), policy, &mut verdict);
    let dropped = frames.len() - kept.len();
    if dropped > 0
        && let Some(main) = main_issue(frames)
    {
        verdict
            .reasons
            .push(format!("{dropped} frames not used, mostly: {main}"));
    }
    verdict
}

/// Someone else in a real share of the frames, or too few usable ones, is a reason: a match
/// becomes `policy.crowd_outcome` instead of being verified on the few frames left.
fn crowd_rules(
    frames: &[FrameEvidence],
    usable: usize,
    policy: &DecisionPolicy,
    verdict: &mut Verdict,
) {
    let n = frames.len();
    let others = frames
        .iter()
        .filter(|f| f.quality.issue == Some(FrameIssue::MoreThanOnePerson))
        .count();
    let mut reasons = Vec::new();
    if n > 0 && others > 0 && others as f32 >= policy.other_person_share * n as f32 {
        reasons.push(format!(
            "another person appears beside the holder in {others} of {n} frames"
        ));
    }
    if n > 0 && (usable as f32) < policy.min_usable_share * n as f32 {
        reasons.push(format!(
            "only {usable} of {n} sampled frames are usable (at least {:.0} % needed)",
            policy.min_usable_share * 100.0
        ));
    }
    if reasons.is_empty() {
        return;
    }
    if verdict.decision == Outcome::Verified
        || (verdict.decision == Outcome::Review && policy.crowd_outcome == Outcome::Rejected)
    {
        verdict.decision = policy.crowd_outcome;
    }
    // The crowd's reasons come first: they are why the match does not count.
    reasons.append(&mut verdict.reasons);
    verdict.reasons = reasons;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::quality::FrameMeasures;

    fn q(score: f32, issue: Option<FrameIssue>) -> FrameQuality {
        FrameQuality {
            score,
            issue,
            measures: FrameMeasures::default(),
        }
    }

    fn frame(index: u64, sim: f32, cons: f32) -> FrameEvidence {
        FrameEvidence {
            index,
            quality: q(1.0, None),
            kept: true,
            similarity: Some(sim),
            consistency: Some(cons),
        }
    }

    fn dropped(index: u64, issue: FrameIssue) -> FrameEvidence {
        FrameEvidence {
            index,
            quality: q(0.1, Some(issue)),
            kept: false,
            similarity: None,
            consistency: None,
        }
    }

    #[test]
    fn a_good_match_is_verified_and_one_bad_frame_does_not_matter() {
        let mut frames: Vec<_> = (0..11).map(|i| frame(i, 0.6, 0.8)).collect();
        frames.push(frame(11, -0.1, 0.5));
        let v = decide(&frames, &DecisionPolicy::default());
        assert_eq!(v.decision, Outcome::Verified, "{v:?}");
        assert_eq!(v.score, Some(0.6));
    }

    #[test]
    fn a_stranger_is_rejected_and_the_band_goes_to_review() {
        let frames: Vec<_> = (0..12).map(|i| frame(i, 0.1, 0.8)).collect();
        assert_eq!(
            decide(&frames, &DecisionPolicy::default()).decision,
            Outcome::Rejected
        );
        let frames: Vec<_> = (0..12).map(|i| frame(i, 0.36, 0.8)).collect();
        let v = decide(&frames, &DecisionPolicy::default());
        assert_eq!(v.decision, Outcome::Review);
        assert!(v.reasons[0].contains("review band"), "{v:?}");
    }

    #[test]
    fn a_change_of_person_is_never_verified() {
        // Half the video matches well, the other half is someone else.
        let mut frames: Vec<_> = (0..6).map(|i| frame(i, 0.7, 0.1)).collect();
        frames.extend((6..12).map(|i| frame(i, 0.05, 0.1)));
        let v = decide(&frames, &DecisionPolicy::default());
        assert_eq!(v.decision, Outcome::Review, "{v:?}");
        assert!(
            v.reasons[0].contains("person in the video changes"),
            "{v:?}"
        );
    }

    #[test]
    fn too_few_usable_frames_fail_with_the_main_reason() {
        let mut frames: Vec<_> = (0..9).map(|i| dropped(i, FrameIssue::TooDark)).collect();
        frames.push(dropped(9, FrameIssue::NoFace));
        frames.push(frame(10, 0.6, 0.9));
        let v = decide(&frames, &DecisionPolicy::default());
        assert_eq!(v.decision, Outcome::Failed);
        assert_eq!(v.score, None);
        assert!(v.reasons[0].contains("too dark (9 of 11 frames)"), "{v:?}");
    }

    #[test]
    fn another_person_in_a_real_share_of_the_frames_is_not_verified() {
        // The holder alone in 8 frames matches well; 4 frames show a second person.
        let mut frames: Vec<_> = (0..8).map(|i| frame(i, 0.7, 0.8)).collect();
        frames.extend((8..12).map(|i| dropped(i, FrameIssue::MoreThanOnePerson)));
        let v = decide(&frames, &DecisionPolicy::default());
        assert_eq!(v.decision, Outcome::Review, "{v:?}");
        assert!(
            v.reasons[0].contains("another person appears beside the holder in 4 of 12"),
            "{v:?}"
        );
        let strict = DecisionPolicy {
            crowd_outcome: Outcome::Rejected,
            ..DecisionPolicy::default()
        };
        assert_eq!(decide(&frames, &strict).decision, Outcome::Rejected);
        // One such frame in twelve is not a real share.
        let mut frames: Vec<_> = (0..11).map(|i| frame(i, 0.7, 0.8)).collect();
        frames.push(dropped(11, FrameIssue::MoreThanOnePerson));
        assert_eq!(
            decide(&frames, &DecisionPolicy::default()).decision,
            Outcome::Verified
        );
    }

    #[test]
    fn fewer_than_half_the_frames_usable_is_not_verified() {
        let mut frames: Vec<_> = (0..5).map(|i| frame(i, 0.7, 0.8)).collect();
        frames.extend((5..12).map(|i| dropped(i, FrameIssue::Blurred)));
        let v = decide(&frames, &DecisionPolicy::default());
        assert_eq!(v.decision, Outcome::Review, "{v:?}");
        assert!(
            v.reasons[0].contains("only 5 of 12 sampled frames"),
            "{v:?}"
        );
        // A clear mismatch stays rejected.
        let mut frames: Vec<_> = (0..5).map(|i| frame(i, 0.05, 0.8)).collect();
        frames.extend((5..12).map(|i| dropped(i, FrameIssue::Blurred)));
        assert_eq!(
            decide(&frames, &DecisionPolicy::default()).decision,
            Outcome::Rejected
        );
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
