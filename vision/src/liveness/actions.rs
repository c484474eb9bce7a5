//! The actions a person performs in a clip, found in the series of [`FaceMotion`]s: a turn to
//! either side, a look up, a blink, each with its start and end; and whether they match a
//! challenge, in order. Pure; the thresholds were set on the real clips of
//! `../shared/testdata/liveness` (BENCHMARKS.md says how).

use super::motion::FaceMotion;
use serde::{Deserialize, Serialize};

/// Something the person is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Turn the head to the person's left.
    TurnLeft,
    /// Turn the head to the person's right.
    TurnRight,
    LookUp,
    Blink,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::TurnLeft,
        Action::TurnRight,
        Action::LookUp,
        Action::Blink,
    ];

    /// The name used on the command line and in the API (`left`, `right`, `up`, `blink`).
    pub fn short(self) -> &'static str {
        match self {
            Self::TurnLeft => "left",
            Self::TurnRight => "right",
            Self::LookUp => "up",
            Self::Blink => "blink",
        }
    }

    /// The action named `s` (short or long name).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "left" | "turn_left" => Some(Self::TurnLeft),
            "right" | "turn_right" => Some(Self::TurnRight),
            "up" | "look_up" => Some(Self::LookUp),
            "blink" => Some(Self::Blink),
            _ => None,
        }
    }
}

/// A yaw this far from the clip's median, in interocular distances, is a turn (real clips: a
/// still head stays within 0.06, a turn reaches 0.20–0.25).
pub const TURN_YAW: f32 = 0.12;
/// A pitch this far below the clip's median is a look up (real clips: a head that settles
/// drifts by up to 0.07; none of them shows a deliberate look up, so this is not yet measured).
pub const LOOK_UP_PITCH: f32 = 0.09;
/// Eyes open less than this share of the most they were within [`BLINK_WINDOW_MS`] are closed
/// (real clips: a blink 0.22–0.44 of it, a head turn at most 0.73).
pub const CLOSED_SHARE: f32 = 0.55;
pub const BLINK_WINDOW_MS: f64 = 600.0;
/// A blink is shorter than this; eyes closed longer are not a blink.
pub const BLINK_MAX_MS: f64 = 700.0;
/// A turn or look up holds at least this many sampled frames in a row.
pub const MIN_FRAMES: usize = 2;

/// One frame of the dense pass: its time and the face's motion (None: no face seen).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t_ms: f64,
    pub motion: Option<FaceMotion>,
}

/// An action found in the clip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub action: Action,
    pub start_ms: f64,
    pub end_ms: f64,
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Runs of consecutive samples (with a face) where `hit` holds, as (first, last) indices.
fn runs(samples: &[Sample], hit: impl Fn(&FaceMotion, usize) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, s) in samples.iter().enumerate() {
        let on = s.motion.as_ref().is_some_and(|m| hit(m, i));
        match (on, start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                out.push((b, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b, samples.len() - 1));
    }
    out
}

/// Every action in `samples` (in time order), ordered by start.
pub fn find_actions(samples: &[Sample]) -> Vec<Found> {
    let seen: Vec<&FaceMotion> = samples.iter().filter_map(|s| s.motion.as_ref()).collect();
    let (Some(yaw), Some(pitch)) = (
        median(seen.iter().map(|m| m.yaw).collect()),
        median(seen.iter().map(|m| m.pitch).collect()),
    ) else {
        return Vec::new();
    };
    let found = |action, (a, b): (usize, usize)| Found {
        action,
        start_ms: samples[a].t_ms,
        end_ms: samples[b].t_ms,
    };
    let long = |r: &(usize, usize)| r.1 + 1 - r.0 >= MIN_FRAMES;
    let mut out: Vec<Found> = Vec::new();
    for (action, hit) in [
        (
            Action::TurnLeft,
            Box::new(|m: &FaceMotion, _| m.yaw > yaw + TURN_YAW)
                as Box<dyn Fn(&FaceMotion, usize) -> bool>,
        ),
        (
            Action::TurnRight,
            Box::new(|m: &FaceMotion, _| m.yaw < yaw - TURN_YAW),
        ),
        (
            Action::LookUp,
            Box::new(|m: &FaceMotion, _| m.pitch < pitch - LOOK_UP_PITCH),
        ),
    ] {
        out.extend(
            runs(samples, hit)
                .into_iter()
                .filter(long)
                .map(|r| found(action, r)),
        );
    }
    let opening = |m: &FaceMotion| (m.eye_opening[0] + m.eye_opening[1]) / 2.0;
    let closed = |m: &FaceMotion, i: usize| {
        let t = samples[i].t_ms;
        let open = samples
            .iter()
            .filter(|s| (s.t_ms - t).abs() <= BLINK_WINDOW_MS)
            .filter_map(|s| s.motion.as_ref().map(opening))
            .fold(0f32, f32::max);
        opening(m) < CLOSED_SHARE * open
    };
    out.extend(
        runs(samples, closed)
            .into_iter()
            .filter(|&(a, b)| samples[b].t_ms - samples[a].t_ms <= BLINK_MAX_MS)
            .map(|r| found(Action::Blink, r)),
    );
    out.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    out
}

/// Each asked action matched, in order, to the first found one of its kind that starts after
/// the previous match started (None: not performed, or not after the one before).
pub fn match_challenge(asked: &[Action], found: &[Found]) -> Vec<(Action, Option<Found>)> {
    let mut after = f64::MIN;
    asked
        .iter()
        .map(|&a| {
            let m = found
                .iter()
                .find(|f| f.action == a && f.start_ms > after)
                .copied();
            if let Some(f) = m {
                after = f.start_ms;
            }
            (a, m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn still(t_ms: f64) -> Sample {
        Sample {
            t_ms,
            motion: Some(FaceMotion {
                yaw: 0.02,
                pitch: 0.33,
                roll_deg: 0.0,
                eye_opening: [0.3, 0.3],
            }),
        }
    }

    /// 3 s at 15 fps: a turn left at 0.6–1.0 s, a blink at 1.6 s, a look up at 2.2–2.5 s.
    fn clip() -> Vec<Sample> {
        (0..45)
            .map(|i| {
                let t = f64::from(i) * 66.7;
                let mut s = still(t);
                let m = s.motion.as_mut().unwrap();
                if (600.0..=1000.0).contains(&t) {
                    m.yaw = 0.25;
                }
                if (1580.0..=1680.0).contains(&t) {
                    m.eye_opening = [0.08, 0.09];
                }
                if (2200.0..=2500.0).contains(&t) {
                    m.pitch = 0.20;
                }
                s
            })
            .collect()
    }

    #[test]
    fn actions_are_found_in_order_with_their_times() {
        let found = find_actions(&clip());
        let kinds: Vec<Action> = found.iter().map(|f| f.action).collect();
        assert_eq!(kinds, [Action::TurnLeft, Action::Blink, Action::LookUp]);
        assert!(
            (found[0].start_ms - 600.0).abs() < 70.0 && (found[0].end_ms - 1000.0).abs() < 70.0
        );
    }

    #[test]
    fn a_challenge_matches_only_in_its_order() {
        let found = find_actions(&clip());
        let ok = match_challenge(&[Action::TurnLeft, Action::Blink], &found);
        assert!(ok.iter().all(|(_, f)| f.is_some()));
        let wrong_order = match_challenge(&[Action::Blink, Action::TurnLeft], &found);
        assert!(wrong_order[0].1.is_some() && wrong_order[1].1.is_none());
        let not_done = match_challenge(&[Action::TurnRight], &found);
        assert!(not_done[0].1.is_none());
    }

    #[test]
    fn a_still_face_or_no_face_does_nothing() {
        let s: Vec<Sample> = (0..30).map(|i| still(f64::from(i) * 66.7)).collect();
        assert!(find_actions(&s).is_empty());
        let none: Vec<Sample> = (0..30)
            .map(|i| Sample {
                t_ms: f64::from(i) * 66.7,
                motion: None,
            })
            .collect();
        assert!(find_actions(&none).is_empty());
    }

    #[test]
    fn long_closed_eyes_are_no_blink() {
        let s: Vec<Sample> = (0..45)
            .map(|i| {
                let mut s = still(f64::from(i) * 66.7);
                if (1000.0..=2000.0).contains(&s.t_ms) {
                    s.motion.as_mut().unwrap().eye_opening = [0.05, 0.05];
                }
                s
            })
            .collect();
        assert!(find_actions(&s).iter().all(|f| f.action != Action::Blink));
    }

    #[test]
    fn actions_parse_by_short_and_long_names() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.short()), Some(a));
        }
        assert_eq!(Action::parse("Turn-Left"), Some(Action::TurnLeft));
        assert_eq!(Action::parse("wink"), None);
    }
}
