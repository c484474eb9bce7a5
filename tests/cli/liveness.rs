//! `kyc verify` with liveness on, on the real clips of `../shared/testdata/liveness` (their
//! person, their actions, annotated in `vision/tests/liveness_clips.rs`) and on attacks made
//! from them: the clip verified for the challenge it performs and rejected, with the reason a
//! person understands, for one it does not; a photo video rejected; another person's frames
//! spliced in and a second person beside the holder never verified. The ID photo of a clip's
//! person is a frame of the clip itself (no other picture of them is available).

use super::{Run, run};
use std::path::{Path, PathBuf};
use std::process::Command;
use test_support::video::{clip, ffmpeg, media_recorder_webm};
use test_support::{faces_dir, require, shared_dir};

fn real_clip(name: &str) -> PathBuf {
    require(
        shared_dir().join("testdata/liveness").join(name),
        "a real liveness clip",
    )
}

/// The frame at `at_s` seconds of `video`, as a JPEG in `dir`: the ID photo of its person.
fn still(dir: &Path, video: &Path, at_s: f32, name: &str) -> PathBuf {
    let out = dir.join(name);
    let at = at_s.to_string();
    ffmpeg(&[
        "-ss",
        &at,
        "-i",
        video.to_str().expect("utf-8"),
        "-frames:v",
        "1",
        out.to_str().expect("utf-8"),
    ]);
    out
}

fn verify(id: &Path, video: &Path, extra: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc"));
    cmd.args(["verify", "--json", "--id"])
        .arg(id)
        .arg("--video")
        .arg(video)
        .args(["--liveness", "challenge"])
        .args(extra);
    run(cmd)
}

fn decided(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("one JSON object")
}

fn reasons(v: &serde_json::Value) -> String {
    v["reasons"].to_string()
}

#[test]
fn a_real_clip_passes_its_challenge_and_is_rejected_for_another() {
    let dir = tempfile::tempdir().expect("tmp");
    let blink = real_clip("single_face_blink.mp4");
    let id = still(dir.path(), &blink, 2.0, "id.jpg");

    let v = decided(&verify(&id, &blink, &["--challenge", "blink"]));
    assert_eq!(v["decision"], "verified", "{}", reasons(&v));
    let live = &v["liveness"];
    assert_eq!(live["finding"], "passed", "{live}");
    assert_eq!(live["actions"][0]["action"], "blink");
    let at = live["actions"][0]["startMs"].as_f64().expect("when");
    assert!(
        (750.0..=1050.0).contains(&at),
        "the blink is at 0.83–0.97 s: {at}"
    );
    assert_eq!(live["passive"]["finding"], "passed", "{live}");
    assert_eq!(live["planar"]["finding"], "passed", "{live}");

    // Replayed for a challenge it does not perform: rejected, first for that reason.
    let v = decided(&verify(&id, &blink, &["--challenge", "left,blink"]));
    assert_eq!(v["decision"], "rejected", "{}", reasons(&v));
    assert_eq!(
        v["reasons"][0],
        "liveness: We asked you to turn your head to the left, but the head did not turn left"
    );
    assert_eq!(v["liveness"]["actions"][0]["found"], false);

    // Human-readable: the liveness block with each check.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc"));
    cmd.args(["verify", "--id"])
        .arg(&id)
        .arg("--video")
        .arg(&blink)
        .args(["--liveness", "challenge", "--challenge", "blink"]);
    let out = run(cmd);
    assert!(out.stdout.starts_with("VERIFIED"), "{}", out.stdout);
    for needle in [
        "liveness (Challenge): passed",
        "blink  performed at",
        "passive",
        "planar",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }

    // Challenge mode without a challenge is a usage error, not a rejection.
    let out = verify(&id, &blink, &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("--challenge"), "{}", out.stderr);
    let out = verify(&id, &blink, &["--challenge", "left,jump"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("jump"), "{}", out.stderr);
}

#[test]
fn attacks_built_on_real_clips_are_never_verified() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();

    // A still photo of the ID's person, panned: every photo-made test video.
    let photo_video = clip(d, "img2.jpg", 3, "", "photo.mp4");
    let v = decided(&verify(
        &faces_dir().join("img1.jpg"),
        &photo_video,
        &["--challenge", "left,blink"],
    ));
    assert_eq!(v["decision"], "rejected", "{}", reasons(&v));
    assert!(
        reasons(&v).contains("We asked you to turn"),
        "{}",
        reasons(&v)
    );

    // Another person's frames spliced into the real clip: the person changes.
    let blink = real_clip("single_face_blink.mp4");
    let id = still(d, &blink, 2.0, "id.jpg");
    let other = clip(d, "img16.jpg", 3, "", "other.mp4");
    let spliced = test_support::attacks::spliced(d, &blink, &other, (1.2, 2.4), "spliced.mp4");
    let v = decided(&verify(&id, &spliced, &["--challenge", "blink"]));
    assert_ne!(v["decision"], "verified", "{}", reasons(&v));
    assert!(
        reasons(&v).contains("person in the video changes"),
        "{}",
        reasons(&v)
    );

    // A second person beside the holder for half the clip.
    let turns = real_clip("head_turns_10s.mp4");
    let id = still(d, &turns, 3.0, "id-turns.jpg");
    let crowd = test_support::attacks::second_person(
        d,
        &turns,
        &faces_dir().join("img16.jpg"),
        5.0,
        "crowd.mp4",
    );
    let v = decided(&verify(&id, &crowd, &["--challenge", "blink,blink"]));
    assert_ne!(v["decision"], "verified", "{}", reasons(&v));
    assert!(
        reasons(&v).contains("another person appears beside the holder"),
        "{}",
        reasons(&v)
    );
}

/// What a browser uploads: WebM from MediaRecorder has no duration, no index and no frame rate
/// in its header (FFmpeg sees only its 1 kHz time base), and uneven frame times. The dense
/// pass follows the timestamps, so the real clips recorded that way still pass their
/// challenges with as many frames tracked as the MP4s, and the duration is measured.
#[test]
fn a_browser_recording_without_a_frame_rate_passes_its_challenge() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, asked, seconds) in [
        ("single_face_blink.mp4", "blink", 2.4),
        ("head_turns_10s.mp4", "blink,blink", 10.0),
    ] {
        let mp4 = real_clip(name);
        let id = still(dir.path(), &mp4, 2.0, &format!("{name}.jpg"));
        let webm = media_recorder_webm(dir.path(), &mp4, &format!("{name}.webm"));
        let v = decided(&verify(&id, &webm, &["--challenge", asked]));
        assert_eq!(v["decision"], "verified", "{name}: {}", reasons(&v));
        let video = &v["video"];
        assert_eq!(
            video["frame_count_header"], 0,
            "no count in the header: {video}"
        );
        let duration = video["duration_s"].as_f64().unwrap_or_default();
        assert!(
            (duration - seconds).abs() < 0.5,
            "{name}: the duration from the timestamps: {video}"
        );
        let tracked = v["liveness"]["framesTracked"].as_f64().unwrap_or_default();
        assert!(
            (tracked - 8.0 * duration).abs() <= 2.0,
            "{name}: 8 frames a second tracked: {tracked} in {duration} s"
        );
    }
}
