//! The head and eyes measured over the real clips of `../shared/testdata/liveness`, against
//! what a person sees in them. Annotated by hand once (frames viewed at 1 fps and around each
//! event; yaw positive = the person turns to their left, the nose to the image's right):
//! - `single_face_blink.mp4`: one blink, frames 25–29 (0.83–0.97 s); the head still.
//! - `head_turns_10s.mp4`: the head nearly frontal all along (no turn); blinks near 0.3 s and
//!   1.8–2.2 s.
//! - `head_turns_lowres.mp4`: turns to the person's right at 1.8–2.9 s and to their left at
//!   3.2–4.4 s, again right 4.8–5.9 s and left 6.1–7.3 s, later smaller ones.
//!
//! And the attack every photo-made test video is: a still photo panned and zoomed.

mod common;

use common::tracked;
use test_support::{require, shared_dir};
use vision::liveness::actions::{Action, Found, Sample, find_actions, match_challenge};
use vision::liveness::track::TrackedFrame;

/// The clip's frames at about 15 a second, each with its time and the largest face's motion.
fn series(clip: &str) -> Vec<Sample> {
    series_of(&require(
        shared_dir().join("testdata/liveness").join(clip),
        "a real liveness clip",
    ))
}

/// As [`series`], for the video at `path`.
fn series_of(path: &std::path::Path) -> Vec<Sample> {
    tracked(path, 15.0, false)
        .iter()
        .map(TrackedFrame::sample)
        .collect()
}

fn kinds(found: &[Found]) -> Vec<Action> {
    found.iter().map(|f| f.action).collect()
}

#[test]
fn the_blink_clip_shows_one_blink_and_a_still_head() {
    let s = series("single_face_blink.mp4");
    assert!(
        s.iter().all(|x| x.motion.is_some()),
        "a frame without a face"
    );
    let found = find_actions(&s);
    assert_eq!(kinds(&found), [Action::Blink], "{found:?}");
    assert!(
        (800.0..=1000.0).contains(&found[0].start_ms),
        "the blink seen at {found:?}; it is at 830–970 ms"
    );
    assert!(match_challenge(&[Action::Blink], &found)[0].1.is_some());
    // A challenge the person did not perform fails.
    let turn = match_challenge(&[Action::TurnLeft, Action::Blink], &found);
    assert!(turn[0].1.is_none(), "{turn:?}");
}

#[test]
fn the_frontal_clip_has_no_turn_and_the_low_resolution_one_turns_both_ways() {
    let frontal = series("head_turns_10s.mp4");
    let seen = frontal.iter().filter(|x| x.motion.is_some()).count();
    assert!(seen * 10 >= frontal.len() * 9, "faces in too few frames");
    let found = find_actions(&frontal);
    assert!(
        found.iter().all(|f| f.action == Action::Blink),
        "only blinks in the frontal clip: {found:?}"
    );
    assert!(!found.is_empty(), "its blinks were not seen");

    let turns = series("head_turns_lowres.mp4");
    let found = find_actions(&turns);
    let asked = match_challenge(&[Action::TurnRight, Action::TurnLeft], &found);
    let (Some(right), Some(left)) = (asked[0].1, asked[1].1) else {
        panic!("the turns were not found: {found:?}");
    };
    assert!(
        (1800.0..=2900.0).contains(&right.start_ms),
        "the first turn right at {right:?}; it is at 1.8–2.9 s"
    );
    assert!(
        (3200.0..=4400.0).contains(&left.start_ms),
        "the turn left after it at {left:?}; it is at 3.2–4.4 s"
    );
}

/// The attack every photo-made test video is: a still photo panned and zoomed. Nothing moves
/// in the face, so no challenge is met.
#[test]
fn a_panned_still_photo_performs_no_action() {
    let dir = tempfile::tempdir().expect("temp dir");
    for photo in ["img1.jpg", "img6.jpg", "img12.jpg"] {
        let video = test_support::video::clip(dir.path(), photo, 4, "", "still.mp4");
        let s = series_of(&video);
        assert!(s.iter().filter(|x| x.motion.is_some()).count() * 10 >= s.len() * 9);
        let found = find_actions(&s);
        assert!(found.is_empty(), "{photo}: {found:?}");
        for a in Action::ALL {
            assert!(match_challenge(&[a], &found)[0].1.is_none());
        }
    }
}
