//! Liveness against the real clips (bona fide, with the challenges derived by hand from what
//! the person does in them; see `liveness_clips.rs` for the annotation) and against the
//! presentation attacks the test makes itself: a still photo panned and zoomed, the same with
//! the eyes covered now and then (a fake blink), a photo and a generated ID card's printed face
//! turned and tilted before the camera, and real clips replayed for a challenge they do not
//! perform. None may pass in challenge mode; each bona fide clip must. Prints the findings per
//! check (the APCER/BPCER table of BENCHMARKS.md, "Liveness").

mod common;

use common::tracked;
use opencv::core::{Mat, Point, Rect, Scalar, Vector};
use opencv::{imgcodecs, imgproc};
use std::path::{Path, PathBuf};
use test_support::{faces_dir, require, shared_dir};
use vision::liveness::actions::Action::{self, Blink, LookUp, TurnLeft, TurnRight};
use vision::liveness::landmarks::{LEFT_EYE, RIGHT_EYE};
use vision::liveness::track::{TrackedFrame, Tracker, TrackerConfig};
use vision::liveness::verdict::{Finding, LivenessPolicy, LivenessVerdict, judge};

/// Frames a second of the dense pass, as the server's default.
const FPS: f64 = 8.0;

fn real_clip(name: &str) -> PathBuf {
    require(
        shared_dir().join("testdata/liveness").join(name),
        "a real liveness clip",
    )
}

fn row(name: &str, asked: &[Action], v: &LivenessVerdict) -> String {
    let f = |x: Finding| match x {
        Finding::Passed => "pass",
        Finding::Failed => "FAIL",
        Finding::Uncertain => "unsure",
        Finding::Unavailable => "-",
    };
    let asked: Vec<&str> = asked.iter().map(|a| a.short()).collect();
    format!(
        "{name:<34} {:<16} challenge {:<6} still {:<6} passive {:<6} ({}) planar {:<6} → {}",
        asked.join(","),
        f(v.challenge.finding),
        f(v.still.finding),
        f(v.passive.finding),
        v.passive
            .score
            .map(|s| format!("{s:.2}"))
            .unwrap_or("-".into()),
        f(v.planar.finding),
        f(v.finding),
    )
}

fn judged(frames: &[TrackedFrame], asked: &[Action]) -> LivenessVerdict {
    judge(frames, Some(asked), &LivenessPolicy::default())
}

#[test]
fn the_real_clips_pass_their_challenge_and_fail_one_they_do_not_perform() {
    // (clip, what the person does, a challenge they do not perform)
    let cases: [(&str, &[Action], &[Action]); 3] = [
        ("single_face_blink.mp4", &[Blink], &[TurnLeft, Blink]),
        ("head_turns_10s.mp4", &[Blink, Blink], &[TurnRight, Blink]),
        (
            "head_turns_lowres.mp4",
            &[TurnRight, TurnLeft],
            &[Blink, TurnRight],
        ),
    ];
    let mut failures = Vec::new();
    for (clip, done, not_done) in cases {
        let frames = tracked(&real_clip(clip), FPS, true);
        let v = judged(&frames, done);
        eprintln!("{}", row(&format!("bona fide {clip}"), done, &v));
        if !v.passed {
            failures.push(format!("{clip} with {done:?}: {:?}", v.reasons));
        }
        let v = judged(&frames, not_done);
        eprintln!("{}", row(&format!("replay {clip}"), not_done, &v));
        if v.passed {
            failures.push(format!(
                "{clip} passed {not_done:?}, which it does not perform"
            ));
        } else {
            assert!(
                v.reasons[0].starts_with("We asked you to"),
                "a failed challenge says what was asked: {:?}",
                v.reasons
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `photo` with both eyes painted over in the colour of the skin below them: a closed-eye
/// version of it for a fake blink.
fn eyes_covered(photo: &Path, out: &Path) {
    let image = imgcodecs::imread(photo.to_str().expect("utf-8"), imgcodecs::IMREAD_COLOR)
        .expect("photo reads");
    let mut covered = image.clone();
    let points = {
        let models = test_support::models_dir();
        let cfg = TrackerConfig::new(
            vision::RuntimeConfig::cpu(models.join(vision::runtime::ORT_DYLIB_FILE), 2),
            &require(models.join(vision::face::engine::SCRFD_FILE), "SCRFD"),
            &models,
        );
        let mut t = Tracker::load(&cfg).expect("the tracker loads");
        let f = t.track(&image, 0.0, false, None).expect("tracked");
        *f.points.expect("the photo's landmarks")
    };
    for eye in [LEFT_EYE, RIGHT_EYE] {
        let pts: Vec<Point> = eye
            .clone()
            .map(|i| Point::new(points[i][0] as i32, points[i][1] as i32))
            .collect();
        let (minx, maxx) = (
            pts.iter().map(|p| p.x).min().unwrap_or(0),
            pts.iter().map(|p| p.x).max().unwrap_or(0),
        );
        let (miny, maxy) = (
            pts.iter().map(|p| p.y).min().unwrap_or(0),
            pts.iter().map(|p| p.y).max().unwrap_or(0),
        );
        let (w, h) = (maxx - minx, maxy - miny);
        // The skin below the eye.
        let below = Rect::new(minx, maxy + h, w.max(1), h.max(1));
        let skin = opencv::core::mean(
            &Mat::roi(&image, below).expect("roi"),
            &opencv::core::no_array(),
        )
        .expect("mean");
        let cover = Rect::new(minx - w / 6, miny - h / 2, w + w / 3, h * 2);
        imgproc::rectangle(&mut covered, cover, skin, -1, imgproc::LINE_8, 0).expect("painted");
        // A dark lid line where the closed eye's lashes would be.
        imgproc::line(
            &mut covered,
            Point::new(minx, (miny + maxy) / 2 + h / 3),
            Point::new(maxx, (miny + maxy) / 2 + h / 3),
            Scalar::new(40.0, 40.0, 50.0, 0.0),
            (h / 5).max(1),
            imgproc::LINE_AA,
            0,
        )
        .expect("lid");
    }
    imgcodecs::imwrite(out.to_str().expect("utf-8"), &covered, &Vector::new()).expect("written");
}

/// A generated 주민등록증 with `photo` printed on it, as a PNG at `out`.
fn card_with(photo: &str, out: &Path) {
    let bytes = std::fs::read(faces_dir().join(photo)).expect("photo");
    let face = vision::decode_image(&bytes, vision::ImageLimits::default()).expect("decodes");
    let s = cardgen::generate(
        7,
        vision::card::DocumentType::ResidentRegistrationCard,
        Some(&face.mat),
        cardgen::Degradation::Clean,
    )
    .expect("card");
    imgcodecs::imwrite(out.to_str().expect("utf-8"), &s.card, &Vector::new()).expect("written");
}

#[test]
fn presentation_attacks_do_not_pass_a_challenge() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut attacks: Vec<(String, PathBuf)> = Vec::new();
    for p in ["img1.jpg", "img6.jpg"] {
        attacks.push((
            format!("still photo {p}"),
            test_support::video::clip(d, p, 4, "", &format!("still-{p}.mp4")),
        ));
    }
    let photo = faces_dir().join("img1.jpg");
    let closed = d.join("closed.png");
    eyes_covered(&photo, &closed);
    attacks.push((
        "fake blink img1.jpg".into(),
        test_support::attacks::still_with(
            d,
            &photo,
            &closed,
            &[(1.0, 1.2), (2.5, 2.7)],
            4,
            "blink.mp4",
        ),
    ));
    attacks.push((
        "photo turned img6.jpg".into(),
        test_support::attacks::turned_picture(d, &faces_dir().join("img6.jpg"), 6, "turned.mp4"),
    ));
    let card = d.join("card.png");
    card_with("img1.jpg", &card);
    attacks.push((
        "ID card face turned".into(),
        test_support::attacks::turned_picture(d, &card, 6, "card.mp4"),
    ));
    let challenges: [&[Action]; 3] = [
        &[TurnLeft, Blink],
        &[Blink, TurnRight],
        &[LookUp, Blink, TurnLeft],
    ];
    let mut accepted = Vec::new();
    for (name, video) in &attacks {
        let frames = tracked(video, FPS, true);
        for asked in challenges {
            let v = judged(&frames, asked);
            eprintln!("{}", row(name, asked, &v));
            if v.passed {
                accepted.push(format!("{name} passed {asked:?}"));
            }
        }
        if name.starts_with("fake blink") {
            // The fake blink fools the blink finder: the other actions are what stop it.
            let v = judged(&frames, &[Blink]);
            eprintln!("{}", row(name, &[Blink], &v));
        }
    }
    assert!(accepted.is_empty(), "attacks accepted: {accepted:#?}");
}
