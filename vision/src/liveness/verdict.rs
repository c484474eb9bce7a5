//! The liveness verdict: from the dense pass over a clip (actions, landmarks, passive scores)
//! and the challenge the person was given, whether they were present and alive, with each
//! check's finding and a reason a person understands. Pure; the policy's numbers are measured
//! in BENCHMARKS.md ("Liveness").

use super::actions::{Action, Found, find_actions, match_challenge};
use super::planar::planarity;
use super::track::TrackedFrame;
use serde::{Deserialize, Serialize};

/// How much liveness counts (`liveness.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Not checked (the verdict says so; the face match decides alone).
    Off,
    /// The passive anti-spoofing model and the still/flat cues; no challenge.
    Passive,
    /// A challenge the person performs, and every check of `Passive`.
    #[default]
    Challenge,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "passive" => Some(Self::Passive),
            "challenge" => Some(Self::Challenge),
            _ => None,
        }
    }
}

/// The verdict's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivenessPolicy {
    pub mode: Mode,
    /// The median passive score (probability of a real face) at or above which the passive
    /// check passes; below `passive_threshold - passive_margin` it fails, in between it is
    /// uncertain.
    pub passive_threshold: f32,
    pub passive_margin: f32,
    /// A head whose yaw and pitch spread (10th to 90th percentile) stay under this, with no
    /// action at all, is a still picture.
    pub still_spread: f32,
    /// Fewer tracked faces than this share of the dense frames and nothing can be judged.
    pub min_tracked_share: f32,
}

impl Default for LivenessPolicy {
    fn default() -> Self {
        Self {
            mode: Mode::Challenge,
            passive_threshold: 0.5,
            passive_margin: 0.1,
            still_spread: 0.02,
            min_tracked_share: 0.5,
        }
    }
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Passed,
    Failed,
    /// Near the threshold: a person should look.
    Uncertain,
    /// The check could not run (its models are missing, or it does not apply in this mode).
    Unavailable,
}

/// One check's finding and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub finding: Finding,
    /// 0..1, higher is more alive (None when unavailable).
    pub score: Option<f32>,
    pub reason: String,
}

impl Check {
    fn new(finding: Finding, score: Option<f32>, reason: impl Into<String>) -> Self {
        Self {
            finding,
            score,
            reason: reason.into(),
        }
    }
}

/// An asked action and where it was performed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AskedAction {
    pub action: Action,
    pub found: bool,
    pub start_ms: Option<f64>,
    pub end_ms: Option<f64>,
}

/// The liveness verdict of a clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LivenessVerdict {
    pub mode: Mode,
    /// `passed`, `failed`, `uncertain`, or `unavailable` (mode off).
    pub finding: Finding,
    pub passed: bool,
    /// The lowest score among the checks that ran (None when none ran).
    pub score: Option<f32>,
    /// Each asked action, in order, with its time when performed.
    pub actions: Vec<AskedAction>,
    pub challenge: Check,
    pub blink: Check,
    pub still: Check,
    pub passive: Check,
    pub planar: Check,
    /// Why, for a person: the failed checks' reasons first, then the uncertain ones'.
    pub reasons: Vec<String>,
    pub frames_tracked: usize,
    pub frames: usize,
}

fn describe(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::TurnLeft => ("turn your head to the left", "the head did not turn left"),
        Action::TurnRight => ("turn your head to the right", "the head did not turn right"),
        Action::LookUp => ("look up", "the head did not tilt up"),
        Action::Blink => ("blink", "no blink was seen"),
    }
}

fn spread(mut v: Vec<f32>) -> f32 {
    if v.len() < 2 {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f32| v[((v.len() - 1) as f32 * q).round() as usize];
    at(0.9) - at(0.1)
}

fn challenge_check(asked: Option<&[Action]>, found: &[Found]) -> (Check, Vec<AskedAction>) {
    let Some(asked) = asked.filter(|a| !a.is_empty()) else {
        return (
            Check::new(
                Finding::Failed,
                Some(0.0),
                "no challenge was set for this video, so it cannot be bound to it",
            ),
            Vec::new(),
        );
    };
    let matched = match_challenge(asked, found);
    let actions: Vec<AskedAction> = matched
        .iter()
        .map(|(a, f)| AskedAction {
            action: *a,
            found: f.is_some(),
            start_ms: f.map(|f| f.start_ms),
            end_ms: f.map(|f| f.end_ms),
        })
        .collect();
    let done = actions.iter().filter(|a| a.found).count();
    let score = done as f32 / asked.len() as f32;
    let check = match actions.iter().find(|a| !a.found) {
        None => Check::new(
            Finding::Passed,
            Some(score),
            format!("all {} asked actions were performed in order", asked.len()),
        ),
        Some(missing) => {
            let (asked_for, seen) = describe(missing.action);
            let in_order = found.iter().any(|f| f.action == missing.action);
            Check::new(
                Finding::Failed,
                Some(score),
                if in_order {
                    format!(
                        "We asked you to {asked_for} after the action before it, but {seen} in that order"
                    )
                } else {
                    format!("We asked you to {asked_for}, but {seen}")
                },
            )
        }
    };
    (check, actions)
}

/// The verdict over the dense pass `frames` for the challenge `asked` (None: none was set).
pub fn judge(
    frames: &[TrackedFrame],
    asked: Option<&[Action]>,
    policy: &LivenessPolicy,
) -> LivenessVerdict {
    let unavailable = |why: &str| Check::new(Finding::Unavailable, None, why);
    let tracked: Vec<&TrackedFrame> = frames.iter().filter(|f| f.motion.is_some()).collect();
    let mut v = LivenessVerdict {
        mode: policy.mode,
        finding: Finding::Unavailable,
        passed: false,
        score: None,
        actions: Vec::new(),
        challenge: unavailable("not judged"),
        blink: unavailable("not judged"),
        still: unavailable("not judged"),
        passive: unavailable("not judged"),
        planar: unavailable("not judged"),
        reasons: Vec::new(),
        frames_tracked: tracked.len(),
        frames: frames.len(),
    };
    if policy.mode == Mode::Off {
        v.passed = true;
        v.reasons.push("liveness is off".into());
        return v;
    }
    if frames.is_empty() || (tracked.len() as f32) < policy.min_tracked_share * frames.len() as f32
    {
        v.finding = Finding::Failed;
        v.score = Some(0.0);
        v.reasons.push(format!(
            "the face was seen in only {} of {} frames: liveness cannot be judged",
            tracked.len(),
            frames.len()
        ));
        return v;
    }
    let samples: Vec<_> = frames.iter().map(TrackedFrame::sample).collect();
    let found = find_actions(&samples);

    // The challenge (challenge mode only).
    if policy.mode == Mode::Challenge {
        let (check, actions) = challenge_check(asked, &found);
        v.challenge = check;
        v.actions = actions;
    } else {
        v.challenge = unavailable("no challenge in passive mode");
    }

    // Blinks: evidence of life, not required unless asked for.
    let blinks = found.iter().filter(|f| f.action == Action::Blink).count();
    v.blink = if blinks > 0 {
        Check::new(
            Finding::Passed,
            Some(1.0),
            format!("{blinks} blink(s) seen"),
        )
    } else {
        Check::new(Finding::Unavailable, None, "no blink was seen")
    };

    // A still: no action at all and the head does not even sway.
    let motions: Vec<_> = tracked.iter().filter_map(|f| f.motion).collect();
    let sway = spread(motions.iter().map(|m| m.yaw).collect())
        .max(spread(motions.iter().map(|m| m.pitch).collect()));
    v.still = if found.is_empty() && sway < policy.still_spread {
        Check::new(
            Finding::Failed,
            Some(sway / policy.still_spread),
            "the face did not move or blink at all: it looks like a still picture",
        )
    } else {
        Check::new(
            Finding::Passed,
            Some(1.0),
            format!(
                "the head sways (spread {sway:.3}) or acts ({} action(s))",
                found.len()
            ),
        )
    };

    // Passive anti-spoofing on the frames it ran on.
    let mut reals: Vec<f32> = frames
        .iter()
        .filter_map(|f| f.passive.map(|p| p.real))
        .collect();
    v.passive = if reals.is_empty() {
        unavailable("the anti-spoofing models are not installed")
    } else {
        reals.sort_by(f32::total_cmp);
        let median = reals[reals.len() / 2];
        let (t, low) = (
            policy.passive_threshold,
            policy.passive_threshold - policy.passive_margin,
        );
        let n = reals.len();
        if median >= t {
            Check::new(
                Finding::Passed,
                Some(median),
                format!("the face looks real (median {median:.2} over {n} frames)"),
            )
        } else if median < low {
            Check::new(
                Finding::Failed,
                Some(median),
                format!(
                    "the face looks like a photo or a screen held to the camera (median {median:.2} over {n} frames)"
                ),
            )
        } else {
            Check::new(
                Finding::Uncertain,
                Some(median),
                format!("the face may be a photo or a screen (median {median:.2} over {n} frames)"),
            )
        }
    };

    // A flat picture turned before the camera.
    let points: Vec<_> = frames
        .iter()
        .filter_map(|f| f.points.as_deref().copied())
        .collect();
    v.planar = match planarity(&points) {
        Some(p) if p.is_flat() => Check::new(
            Finding::Failed,
            Some(p.residual / super::planar::DEPTH_RESIDUAL),
            format!(
                "the face stayed flat like a picture: one plane explains its landmarks in every frame (residual {:.3})",
                p.residual
            ),
        ),
        Some(p) => Check::new(
            Finding::Passed,
            Some((p.residual / super::planar::DEPTH_RESIDUAL).min(1.0)),
            format!(
                "the face shows depth and moves as a face does (residual {:.3}, {} turned frames)",
                p.residual, p.turned
            ),
        ),
        None => unavailable("too few frames with landmarks"),
    };

    let checks = [&v.challenge, &v.still, &v.passive, &v.planar];
    v.score = checks
        .iter()
        .filter(|c| c.finding != Finding::Unavailable)
        .filter_map(|c| c.score)
        .reduce(f32::min);
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.finding == Finding::Failed)
        .map(|c| c.reason.clone())
        .collect();
    let uncertain: Vec<String> = checks
        .iter()
        .filter(|c| c.finding == Finding::Uncertain)
        .map(|c| c.reason.clone())
        .collect();
    v.finding = if !failed.is_empty() {
        Finding::Failed
    } else if !uncertain.is_empty() {
        Finding::Uncertain
    } else {
        Finding::Passed
    };
    v.passed = v.finding == Finding::Passed;
    v.reasons = failed.into_iter().chain(uncertain).collect();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::motion::FaceMotion;
    use crate::liveness::passive::PassiveScore;

    fn frame(t_ms: f64, yaw: f32, open: f32, real: Option<f32>) -> TrackedFrame {
        TrackedFrame {
            t_ms,
            faces: 1,
            region: false,
            rect: None,
            points: None,
            motion: Some(FaceMotion {
                yaw,
                pitch: 0.33 + 0.01 * ((t_ms / 300.0).sin() as f32),
                roll_deg: 0.0,
                eye_opening: [open, open],
            }),
            passive: real.map(|r| PassiveScore {
                real: r,
                is_real: r > 0.5,
                confidence: r.max(1.0 - r),
            }),
        }
    }

    /// 4 s at 10 fps: a turn to the left at 1–1.5 s, a blink at 2.5 s.
    fn performed(real: f32) -> Vec<TrackedFrame> {
        (0..40)
            .map(|i| {
                let t = i as f64 * 100.0;
                let yaw = if (1000.0..=1500.0).contains(&t) {
                    0.25
                } else {
                    0.0
                };
                let open = if (2500.0..=2600.0).contains(&t) {
                    0.1
                } else {
                    0.3
                };
                frame(t, yaw, open, Some(real))
            })
            .collect()
    }

    #[test]
    fn a_performed_challenge_passes_and_one_not_performed_says_what_is_missing() {
        let p = LivenessPolicy::default();
        let v = judge(
            &performed(0.9),
            Some(&[Action::TurnLeft, Action::Blink]),
            &p,
        );
        assert!(v.passed, "{v:?}");
        assert_eq!(v.actions.len(), 2);
        assert!(v.actions.iter().all(|a| a.found));
        let v = judge(
            &performed(0.9),
            Some(&[Action::TurnRight, Action::Blink]),
            &p,
        );
        assert_eq!(v.finding, Finding::Failed);
        assert_eq!(
            v.reasons[0],
            "We asked you to turn your head to the right, but the head did not turn right"
        );
        // In the wrong order.
        let v = judge(
            &performed(0.9),
            Some(&[Action::Blink, Action::TurnLeft]),
            &p,
        );
        assert_eq!(v.finding, Finding::Failed, "{v:?}");
        // No challenge set.
        assert_eq!(judge(&performed(0.9), None, &p).finding, Finding::Failed);
    }

    #[test]
    fn passive_and_still_findings() {
        let p = LivenessPolicy {
            mode: Mode::Passive,
            ..LivenessPolicy::default()
        };
        assert!(judge(&performed(0.9), None, &p).passed);
        let v = judge(&performed(0.2), None, &p);
        assert_eq!(v.finding, Finding::Failed);
        assert!(v.reasons[0].contains("photo or a screen"), "{v:?}");
        assert_eq!(
            judge(&performed(0.45), None, &p).finding,
            Finding::Uncertain
        );
        // A still picture: nothing moves.
        let still: Vec<_> = (0..40)
            .map(|i| {
                let mut f = frame(i as f64 * 100.0, 0.01, 0.3, Some(0.9));
                if let Some(m) = &mut f.motion {
                    m.pitch = 0.33;
                }
                f
            })
            .collect();
        let v = judge(&still, None, &p);
        assert_eq!(v.finding, Finding::Failed, "{v:?}");
        assert!(v.reasons[0].contains("still picture"));
        // Off: nothing is judged and nothing fails.
        let off = LivenessPolicy {
            mode: Mode::Off,
            ..p
        };
        let v = judge(&still, None, &off);
        assert!(v.passed && v.finding == Finding::Unavailable);
    }

    #[test]
    fn too_few_tracked_faces_fail() {
        let mut frames = performed(0.9);
        for f in frames.iter_mut().skip(10) {
            f.motion = None;
        }
        let v = judge(&frames, Some(&[Action::Blink]), &LivenessPolicy::default());
        assert_eq!(v.finding, Finding::Failed);
        assert!(v.reasons[0].contains("10 of 40"), "{v:?}");
    }
}
