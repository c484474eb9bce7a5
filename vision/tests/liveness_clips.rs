//! The head and eyes measured over the real clips of `../shared/testdata/liveness`, against
//! what a person sees in them. Annotated by hand once (frames viewed at 1 fps and around each
//! event; yaw positive = the person turns to their left, the nose to the image's right):
//! - `single_face_blink.mp4`: one blink, frames 25–29 (0.83–0.97 s); the head still.
//! - `head_turns_10s.mp4`: the head nearly frontal all along (no turn); blinks near 0.3 s and
//!   1.8–2.2 s.
//! - `head_turns_lowres.mp4`: turns to the person's right at 1.8–2.9 s and to their left at
//!   3.2–4.4 s, again right 4.8–5.9 s and left 6.1–7.3 s, later smaller ones.

use test_support::{models_dir, require, shared_dir};
use vision::RuntimeConfig;
use vision::face::detect::Detector;
use vision::face::engine::SCRFD_FILE;
use vision::face::scrfd::Scrfd;
use vision::liveness::landmarks::{LANDMARKS_FILE, Landmarks};
use vision::liveness::motion::{FaceMotion, face_motion};
use vision::liveness::passive::FaceRect;
use vision::runtime::ORT_DYLIB_FILE;
use vision::video::{VideoLimits, probe, sample_frames};

/// The clip's frames at about 15 a second, each with its time (ms) and the largest face's
/// motion (None: no face).
fn series(clip: &str) -> Vec<(f64, Option<FaceMotion>)> {
    let cfg = RuntimeConfig::cpu(models_dir().join(ORT_DYLIB_FILE), 2);
    let mut scrfd = Scrfd::load(
        &cfg,
        &require(models_dir().join(SCRFD_FILE), "SCRFD"),
        320,
        0.5,
    )
    .expect("SCRFD loads");
    let mut marks = Landmarks::load(
        &cfg,
        &require(models_dir().join(LANDMARKS_FILE), "the 106-point model"),
    )
    .expect("the landmark model loads");
    let path = require(
        shared_dir().join("testdata/liveness").join(clip),
        "a real liveness clip",
    );
    let limits = VideoLimits {
        min_side: 100,
        ..VideoLimits::default()
    };
    let info = probe(&path, limits).expect("probed");
    let k = (info.duration_s * 15.0) as usize;
    let (frames, _) = sample_frames(&path, &info, k, limits).expect("decoded");
    frames
        .iter()
        .map(|f| {
            let faces = scrfd.detect(&f.image).expect("detected");
            let m = faces
                .iter()
                .max_by(|a, b| a.area().total_cmp(&b.area()))
                .map(|b| {
                    let rect = FaceRect {
                        x: b.x,
                        y: b.y,
                        width: b.width,
                        height: b.height,
                    };
                    face_motion(&marks.points(&f.image, rect).expect("landmarks"))
                });
            (f.timestamp_ms, m)
        })
        .collect()
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

fn opening(m: &FaceMotion) -> f32 {
    (m.eye_opening[0] + m.eye_opening[1]) / 2.0
}

/// The frames (ms) whose eyes are open less than 55 % of the most they were within 0.6 s.
fn closed(s: &[(f64, Option<FaceMotion>)]) -> Vec<f64> {
    let seen: Vec<(f64, f32)> = s
        .iter()
        .filter_map(|(t, m)| m.map(|m| (*t, opening(&m))))
        .collect();
    seen.iter()
        .filter(|(t, o)| {
            let open = seen
                .iter()
                .filter(|(u, _)| (u - t).abs() <= 600.0)
                .map(|(_, o)| *o)
                .fold(0f32, f32::max);
            *o < 0.55 * open
        })
        .map(|(t, _)| *t)
        .collect()
}

fn yaw_range(s: &[(f64, Option<FaceMotion>)], from_ms: f64, to_ms: f64) -> (f32, f32) {
    s.iter()
        .filter(|(t, _)| (from_ms..=to_ms).contains(t))
        .filter_map(|(_, m)| m.map(|m| m.yaw))
        .fold((f32::MAX, f32::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)))
}

#[test]
fn the_blink_clip_shows_one_blink_and_a_still_head() {
    let s = series("single_face_blink.mp4");
    assert!(s.iter().all(|(_, m)| m.is_some()), "a frame without a face");
    let closed = closed(&s);
    assert!(!closed.is_empty(), "the blink was not seen");
    assert!(
        closed.iter().all(|t| (800.0..=1000.0).contains(t)),
        "eyes closed at {closed:?} ms; the blink is at 830–970 ms"
    );
    let yaws: Vec<f32> = s.iter().filter_map(|(_, m)| m.map(|m| m.yaw)).collect();
    let mid = median(yaws.clone());
    assert!(
        yaws.iter().all(|y| (y - mid).abs() < 0.06),
        "the head turned: {yaws:?}"
    );
}

#[test]
fn the_frontal_clip_has_no_turn_and_the_low_resolution_one_turns_both_ways() {
    let frontal = series("head_turns_10s.mp4");
    let yaws: Vec<f32> = frontal
        .iter()
        .filter_map(|(_, m)| m.map(|m| m.yaw))
        .collect();
    assert!(
        yaws.len() * 10 >= frontal.len() * 9,
        "faces in too few frames"
    );
    let mid = median(yaws.clone());
    assert!(
        yaws.iter().all(|y| (y - mid).abs() < 0.06),
        "a turn in the frontal clip: {:?}",
        (
            yaws.iter().copied().fold(f32::MAX, f32::min),
            yaws.iter().copied().fold(f32::MIN, f32::max)
        )
    );
    assert!(!closed(&frontal).is_empty(), "its blinks were not seen");

    let turns = series("head_turns_lowres.mp4");
    let yaws: Vec<f32> = turns.iter().filter_map(|(_, m)| m.map(|m| m.yaw)).collect();
    let mid = median(yaws);
    let (right, _) = yaw_range(&turns, 1800.0, 2900.0);
    let (_, left) = yaw_range(&turns, 3200.0, 4400.0);
    assert!(
        right < mid - 0.15,
        "no turn to the right at 1.8–2.9 s: {right} vs {mid}"
    );
    assert!(
        left > mid + 0.12,
        "no turn to the left at 3.2–4.4 s: {left} vs {mid}"
    );
}
