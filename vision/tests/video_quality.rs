//! Per-frame quality on the real labelled photos of `../shared/testdata/faces`, each placed in a
//! 1280×720 frame as a selfie video shows it: clean frames pass the gate, and each degradation
//! (blur, darkness, glare, a face too small, a second person beside the first) is dropped and
//! named by the right check. This is where the defaults of `FrameQualityPolicy` were set.

use opencv::core::{Mat, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use test_support::{faces_dir, models_dir, shared_yunet};
use vision::face::engine::{EngineConfig, EngineKind, ModelPaths, build_engine};
use vision::runtime::ORT_DYLIB_FILE;
use vision::video::quality::{FrameIssue, FrameQualityPolicy, assess};
use vision::{DecodedImage, FaceEngine, ImageLimits, RuntimeConfig, VisionError, decode_image};

fn engine() -> Box<dyn FaceEngine> {
    let dir = models_dir();
    build_engine(&EngineConfig::new(
        EngineKind::Hybrid,
        RuntimeConfig::cpu(dir.join(ORT_DYLIB_FILE), 1),
        ModelPaths::in_dir(&dir, shared_yunet()),
    ))
    .expect("engine (run `kyc models fetch`)")
}

fn photos() -> Vec<(String, Mat)> {
    let dir = faces_dir();
    (1..=25)
        .map(|i| {
            let name = format!("img{i}.jpg");
            let bytes = std::fs::read(dir.join(&name)).expect("photo");
            let mat = decode_image(&bytes, ImageLimits::default())
                .expect("decodes")
                .mat;
            (name, mat)
        })
        .collect()
}

/// `photo` scaled to `height` pixels and centred (or at `x`) on a gray 1280×720 frame.
fn place(frame: &mut Mat, photo: &Mat, height: i32, x: Option<i32>) {
    let width = (photo.cols() * height / photo.rows()).min(1280);
    let mut small = Mat::default();
    imgproc::resize(
        photo,
        &mut small,
        Size::new(width, height),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .expect("resize");
    let x = x.unwrap_or((1280 - width) / 2).clamp(0, 1280 - width);
    let mut roi =
        Mat::roi_mut(frame, Rect::new(x, (720 - height) / 2, width, height)).expect("roi");
    small.copy_to(&mut roi).expect("copy");
}

fn blank() -> Mat {
    Mat::new_rows_cols_with_default(720, 1280, opencv::core::CV_8UC3, Scalar::all(80.0))
        .expect("frame")
}

fn framed(photo: &Mat) -> Mat {
    let mut f = blank();
    place(&mut f, photo, 720, None);
    f
}

fn scaled(m: &Mat, alpha: f64, beta: f64) -> Mat {
    let mut out = Mat::default();
    m.convert_to(&mut out, -1, alpha, beta).expect("scale");
    out
}

fn blurred(m: &Mat) -> Mat {
    let mut out = Mat::default();
    imgproc::gaussian_blur_def(m, &mut out, Size::new(0, 0), 9.0).expect("blur");
    out
}

/// The frame's issue under the default policy: None when it passes.
fn judge(engine: &mut Box<dyn FaceEngine>, frame: Mat) -> (Option<FrameIssue>, f32) {
    let policy = FrameQualityPolicy::default();
    let image = DecodedImage { mat: frame };
    let analysis = match engine.analyze(&image) {
        Ok(a) => Some(a),
        Err(VisionError::NoFace) => None,
        Err(e) => panic!("engine: {e}"),
    };
    let q = assess(&image.mat, analysis.as_ref(), &policy).expect("assess");
    let issue = if q.passes(&policy) { None } else { q.issue };
    (issue, q.score)
}

#[test]
fn clean_frames_pass_and_each_defect_is_named() {
    let mut engine = engine();
    let photos = photos();
    let n = photos.len();
    let mut clean_pass = 0;
    let mut caught = std::collections::BTreeMap::<&str, usize>::new();
    for (i, (name, photo)) in photos.iter().enumerate() {
        let (issue, score) = judge(&mut engine, framed(photo));
        eprintln!("{name}: clean {score:.2} {issue:?}");
        clean_pass += usize::from(issue.is_none());

        let other = &photos[(i + 12) % n].1;
        let cases: [(&str, Mat, &[FrameIssue]); 5] = [
            ("blurred", blurred(&framed(photo)), &[FrameIssue::Blurred]),
            (
                "dark",
                scaled(&framed(photo), 0.12, 0.0),
                &[FrameIssue::TooDark],
            ),
            (
                "glare",
                scaled(&framed(photo), 0.5, 190.0),
                &[FrameIssue::TooBright, FrameIssue::NoFace],
            ),
            (
                "small",
                {
                    let mut f = blank();
                    place(&mut f, photo, 90, None);
                    f
                },
                &[FrameIssue::FaceTooSmall, FrameIssue::NoFace],
            ),
            (
                "two people",
                {
                    // Each in its own half of the frame.
                    let fit = |m: &Mat| (640 * m.rows() / m.cols()).min(600);
                    let mut f = blank();
                    place(&mut f, photo, fit(photo), Some(0));
                    place(&mut f, other, fit(other), Some(1280));
                    f
                },
                &[FrameIssue::MoreThanOnePerson],
            ),
        ];
        for (what, frame, expected) in cases {
            let (issue, score) = judge(&mut engine, frame);
            eprintln!("{name}: {what} {score:.2} {issue:?}");
            if issue.is_some_and(|i| expected.contains(&i)) {
                *caught.entry(what).or_default() += 1;
            }
        }
    }
    eprintln!("clean frames passing: {clean_pass}/{n}; defects caught: {caught:?}");
    assert!(clean_pass * 100 >= n * 92, "clean pass {clean_pass}/{n}");
    for what in ["blurred", "dark", "glare", "small", "two people"] {
        let c = caught.get(what).copied().unwrap_or(0);
        assert!(c * 100 >= n * 92, "{what}: caught {c}/{n}");
    }
}
