//! `kyc verify` as a user runs it, on selfie videos made here with FFmpeg from the real labelled
//! photos of `../shared/testdata/faces` (720p H.264, a few seconds, pan/zoom and a slow
//! brightness swing): the same person as the ID photo is verified, another person rejected, a
//! video that cuts from one person to another is not verified and says why, a dark video fails
//! with "too dark"; bad files exit 2 with a message.

use super::{Run, run};
use std::path::Path;
use std::process::Command;
use test_support::faces_dir;
use test_support::video::{audio_only, clip, cut, ten_minutes_of_4k};

/// img1, img2, img4… are one person; img16/img17 another (pairs.csv).
const ID_PHOTO: &str = "img1.jpg";
const SAME_PERSON: &str = "img2.jpg";
const OTHER_PERSON: &str = "img16.jpg";

fn verify(id: &Path, video: &Path, json: bool) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc"));
    // Photo-made videos test matching here; liveness has its own tests.
    cmd.arg("verify")
        .arg("--id")
        .arg(id)
        .arg("--video")
        .arg(video)
        .args(["--liveness", "off"]);
    if json {
        cmd.arg("--json");
    }
    run(cmd)
}

fn one_object(run: &Run) -> serde_json::Value {
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "one JSON object: {}",
        run.stdout
    );
    serde_json::from_str(&run.stdout).expect("JSON")
}

fn reasons(v: &serde_json::Value) -> String {
    v["reasons"].to_string()
}

#[test]
fn verify_decides_on_videos_made_from_real_photos() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = faces_dir().join(ID_PHOTO);
    let same = clip(dir.path(), SAME_PERSON, 3, "", "same.mp4");
    let other = clip(dir.path(), OTHER_PERSON, 3, "", "other.mp4");

    let run = verify(&id, &same, true);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = one_object(&run);
    eprintln!("same person: {v}");
    assert_eq!(v["decision"], "verified", "{}", reasons(&v));
    let frames = v["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 12);
    for f in frames {
        for key in ["index", "timestamp_ms", "quality", "similarity"] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
        assert_eq!(f["engine"].as_str().is_some(), f["similarity"].is_number());
    }
    assert!(v["score"].as_f64().expect("score") >= 0.40);
    for stage in [
        "probe", "decode", "detect", "embed", "compare", "total", "load",
    ] {
        assert!(v["timingsMs"][stage].is_number(), "{stage}");
    }
    // The verdict has the API comparison report's names.
    for key in [
        "threshold",
        "reasons",
        "framesSampled",
        "framesKept",
        "frameCount",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }

    let run = verify(&id, &other, true);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = one_object(&run);
    eprintln!("other person: {v}");
    assert_eq!(v["decision"], "rejected", "{}", reasons(&v));
    assert!(v["score"].as_f64().expect("score") < 0.30);

    // Half the video is the ID's person, half someone else: never verified, and it says why.
    let first = clip(dir.path(), SAME_PERSON, 2, "", "a.mp4");
    let second = clip(dir.path(), OTHER_PERSON, 2, "", "b.mp4");
    let run = verify(&id, &cut(dir.path(), &first, &second), true);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = one_object(&run);
    eprintln!("cut: {v}");
    assert_ne!(v["decision"], "verified", "{}", reasons(&v));
    assert!(
        reasons(&v).contains("person in the video changes"),
        "{}",
        reasons(&v)
    );

    // Human-readable output: the decision, the reasons, the table, the stage times.
    let run = verify(&id, &same, false);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("VERIFIED"), "{}", run.stdout);
    for needle in ["frame", "similarity", "decode", "detect", "embed"] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
}

#[test]
fn a_dark_video_fails_with_the_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = faces_dir().join(ID_PHOTO);
    let dark = clip(dir.path(), SAME_PERSON, 3, ",lutyuv=y=val*0.15", "dark.mp4");
    let run = verify(&id, &dark, true);
    let v = one_object(&run);
    eprintln!("dark: {v}");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(v["decision"], "failed");
    assert!(reasons(&v).contains("too dark"), "{}", reasons(&v));
}

#[test]
fn bad_videos_and_photos_exit_2_with_a_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = faces_dir().join(ID_PHOTO);
    let good = clip(dir.path(), SAME_PERSON, 2, "", "good.mp4");
    let bytes = std::fs::read(&good).expect("read");
    let write = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        p
    };
    let truncated = write("truncated.mp4", &bytes[..bytes.len() / 3]);
    let empty = write("empty.mp4", b"");
    let text = write("notes.mp4", b"this is a text file, renamed .mp4\n");
    let audio = audio_only(dir.path(), "audio.mp4");
    let long = ten_minutes_of_4k(dir.path(), "long4k.mp4");
    for (video, code, words) in [
        (&truncated, "CORRUPT_VIDEO", "cut short"),
        (&empty, "EMPTY_INPUT", "empty"),
        (&text, "UNSUPPORTED_VIDEO", "text"),
        (&audio, "NO_VIDEO_STREAM", "no video stream"),
        (&long, "VIDEO_TOO_LONG", "600.0 s long"),
        (
            &dir.path().join("missing.mp4"),
            "UNREADABLE_FILE",
            "No such file",
        ),
    ] {
        let run = verify(&id, video, true);
        assert_eq!(run.code, 2, "{}: {}", video.display(), run.stderr);
        let v = one_object(&run);
        assert_eq!(v["error"]["code"], code, "{}: {v}", video.display());
        assert!(
            run.stderr.contains(words),
            "{}: {}",
            video.display(),
            run.stderr
        );
    }
    // An ID "photo" that is text, and one without a face.
    let not_photo = write("id.jpg", b"not a photo");
    let run = verify(&not_photo, &good, true);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("ID photo"), "{}", run.stderr);
    let run = verify(&faces_dir().join("missing.jpg"), &good, false);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
}
