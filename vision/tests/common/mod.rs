//! What the liveness tests share: the dense pass over a video, as the server runs it.

use test_support::{models_dir, require, shared_dir};
use vision::RuntimeConfig;
use vision::face::engine::SCRFD_FILE;
use vision::liveness::landmarks::LANDMARKS_FILE;
use vision::liveness::passive::find_models;
use vision::liveness::track::{Follow, TrackedFrame, Tracker, TrackerConfig};
use vision::runtime::ORT_DYLIB_FILE;
use vision::video::{DENSE_MAX_SIDE, VideoLimits, every_interval, probe, sample_plan_each};

/// The dense pass over the video at `path` as the server's defaults run it: the frames
/// nearest to every 1/`fps` s by their timestamps, at 640 px, through the tracker (SCRFD at
/// 320, or at 160 around the face of the frame before), the 106 landmarks, with the passive
/// models on about 16 frames when `passive`.
pub fn tracked(path: &std::path::Path, fps: f64, passive: bool) -> Vec<TrackedFrame> {
    let mut cfg = TrackerConfig::new(
        RuntimeConfig::cpu(models_dir().join(ORT_DYLIB_FILE), 2),
        &require(models_dir().join(SCRFD_FILE), "SCRFD"),
        &models_dir(),
    );
    require(models_dir().join(LANDMARKS_FILE), "the 106-point model");
    if passive {
        cfg.passive = Some(
            find_models(&[shared_dir().join("models")])
                .expect("the MiniFASNet models in ../shared/models"),
        );
    }
    let mut tracker = Tracker::load(&cfg).expect("the tracker loads");
    let limits = VideoLimits {
        min_side: 100,
        ..VideoLimits::default()
    };
    let info = probe(path, limits).expect("probed");
    let mut frames = Vec::new();
    sample_plan_each(
        path,
        &info,
        limits,
        |f| every_interval(f.times_s, f.disposable, 1.0 / fps),
        |_| DENSE_MAX_SIDE,
        |f| {
            frames.push(f);
            true
        },
    )
    .expect("decoded");
    let every = frames.len().div_ceil(16).max(1);
    let mut follow = Follow::default();
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let passive = passive && i % every == 0;
            let t = tracker
                .track(
                    &f.image,
                    f.timestamp_ms,
                    passive,
                    follow.hint(f.timestamp_ms),
                )
                .expect("tracked");
            follow.observe(&t);
            t
        })
        .collect()
}
