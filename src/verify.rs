//! Verifying a person against a selfie video through the face pool: the one code path behind
//! `kyc verify` and (next) the session's comparing stage. The ID face is analysed while the
//! video is probed and sampled; every sampled frame goes to a face worker the moment it is
//! decoded, so decoding overlaps inference; then each frame is scored for quality, compared
//! with the ID face and with the other frames, and the decision is taken.

use crate::settings::Settings;
use actors::{FacePool, PoolError};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use vision::decision::{self, DecisionPolicy, FrameEvidence, Outcome};
use vision::video::quality::{FrameMeasures, FrameQualityPolicy, assess};
use vision::video::{SampledFrame, SamplingStats, VideoError, VideoInfo, VideoLimits};
use vision::{FaceAnalysis, SharedFrame, VisionError};

/// How a verification runs.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    pub samples: usize,
    pub limits: VideoLimits,
    pub quality: FrameQualityPolicy,
    pub decision: DecisionPolicy,
}

impl VerifyOptions {
    /// The `[video]` settings, with the engine's match threshold.
    pub fn from_settings(settings: &Settings) -> Self {
        let v = &settings.video;
        Self {
            samples: v.samples,
            limits: v.limits(),
            quality: v.frame_quality(),
            decision: v.decision(settings.engine.match_threshold),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("ID photo: {0}")]
    Id(#[source] PoolError),
    #[error("video: {0}")]
    Video(#[from] VideoError),
    #[error("video frame: {0}")]
    Frame(#[source] PoolError),
    #[error("{0}")]
    Vision(#[from] VisionError),
    #[error("a verification task stopped unexpectedly: {0}")]
    Task(String),
}

impl VerifyError {
    /// True when the input is at fault (exit code 2, HTTP 4xx).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Id(e) => e.is_bad_input(),
            Self::Video(e) => e.is_bad_input(),
            Self::Frame(_) | Self::Task(_) => false,
            Self::Vision(e) => e.is_bad_input(),
        }
    }

    /// A stable code for JSON output and API envelopes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Id(e) | Self::Frame(e) => e.code(),
            Self::Video(e) => e.code(),
            Self::Vision(e) => e.code(),
            Self::Task(_) => "VIDEO_BACKEND_ERROR",
        }
    }
}

/// Where a verification is, for progress bars and live events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The video was probed; `frames` will be sampled.
    Probed { frames: usize },
    /// A frame was decoded.
    Decoded { done: usize, total: usize },
    /// A frame's face was analysed.
    Analysed { done: usize, total: usize },
    /// Similarities and the decision are done.
    Compared,
}

/// One row of the ID × frame table.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRow {
    pub index: u64,
    pub timestamp_ms: f64,
    /// Quality score 0..1 and the frame's main problem, if any.
    pub quality: f32,
    pub issue: Option<&'static str>,
    /// Passed the quality gate and counts for the decision.
    pub kept: bool,
    /// ID face vs this frame's face (None when no face was found).
    pub similarity: Option<f32>,
    /// Median similarity of this frame's face to the other kept frames'.
    pub consistency: Option<f32>,
    pub engine: Option<String>,
    pub model: Option<String>,
    /// Faces found, face size, sharpness, brightness, yaw and pitch.
    #[serde(flatten)]
    pub measures: FrameMeasures,
}

/// The ID face.
#[derive(Debug, Clone, Serialize)]
pub struct IdFace {
    pub engine: String,
    pub model: String,
    pub detector: String,
    pub detection_score: f32,
    pub faces_found: usize,
}

/// Milliseconds per stage. Decoding overlaps face inference, so the stages add up to more
/// than `total`; `detect` and `embed` are summed over the frames (and the ID photo).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyTimings {
    pub probe: f64,
    pub decode: f64,
    pub detect: f64,
    pub embed: f64,
    pub compare: f64,
    pub total: f64,
}

/// The answer of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub decision: Outcome,
    pub score: Option<f32>,
    pub consistency: Option<f32>,
    pub threshold: f32,
    pub reasons: Vec<String>,
    pub frames_sampled: usize,
    pub frames_kept: usize,
    /// Frames in the video (counted from its packets, not taken from the header).
    pub frame_count: u64,
    /// What sampling cost: frames decoded, non-reference frames skipped, seeks.
    pub sampling: SamplingStats,
    pub id: IdFace,
    pub video: VideoInfo,
    pub frames: Vec<FrameRow>,
    pub timings_ms: VerifyTimings,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// What the video side hands back: the probe, the frames with their analyses, timings.
struct VideoSide {
    info: VideoInfo,
    sampling: SamplingStats,
    frames: Vec<(SampledFrame, Result<FaceAnalysis, PoolError>)>,
    probe_ms: f64,
    decode_ms: f64,
}

async fn video_side(
    pool: &FacePool,
    path: PathBuf,
    opts: &VerifyOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<VideoSide, VerifyError> {
    let t = Instant::now();
    let limits = opts.limits;
    let p = path.clone();
    let info = tokio::task::spawn_blocking(move || vision::video::probe(&p, limits))
        .await
        .map_err(|e| VerifyError::Task(e.to_string()))??;
    let probe_ms = ms(t);
    let planned = vision::video::plan(info.frame_count_header.max(1), opts.samples).len();
    progress(Progress::Probed { frames: planned });

    // The sampler thread also makes the shareable copy of each frame, off tokio's threads.
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<Result<(SampledFrame, SharedFrame), VisionError>>();
    let k = opts.samples;
    let sampler_info = info.clone();
    let sampler = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let r = vision::video::sample_frames_each(&path, &sampler_info, k, limits, |f| {
            let shared = SharedFrame::from_mat(&f.image);
            let go_on = shared.is_ok();
            tx.send(shared.map(|s| (f, s))).is_ok() && go_on
        });
        (r, ms(t))
    });
    let mut pending = FuturesUnordered::new();
    let mut frames = Vec::with_capacity(k);
    let (mut decoded, mut analysed) = (0usize, 0usize);
    let mut open = true;
    while open || !pending.is_empty() {
        tokio::select! {
            f = rx.recv(), if open => match f {
                Some(sampled) => {
                    let (frame, shared) = sampled?;
                    decoded += 1;
                    progress(Progress::Decoded { done: decoded, total: planned.max(decoded) });
                    pending.push(async move { (frame, pool.analyze_frame(shared).await) });
                }
                None => open = false,
            },
            Some(done) = pending.next(), if !pending.is_empty() => {
                analysed += 1;
                progress(Progress::Analysed { done: analysed, total: planned.max(decoded) });
                frames.push(done);
            }
        }
    }
    let (result, decode_ms) = sampler
        .await
        .map_err(|e| VerifyError::Task(e.to_string()))?;
    let sampling = result?;
    frames.sort_by_key(|(f, _)| f.index);
    Ok(VideoSide {
        info,
        sampling,
        frames,
        probe_ms,
        decode_ms,
    })
}

/// Verifies the face on the ID photo `id` (encoded image) against the selfie video at `video`.
pub async fn verify(
    pool: &FacePool,
    id: Arc<[u8]>,
    video: PathBuf,
    opts: &VerifyOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<VerifyReport, VerifyError> {
    let t0 = Instant::now();
    let (id_result, side) = tokio::join!(pool.analyze(id), video_side(pool, video, opts, progress));
    let id_face = id_result.map_err(VerifyError::Id)?;
    let side = side?;
    // Quality, similarities and the decision are CPU work: off tokio's threads.
    let opts = *opts;
    let mut report = tokio::task::spawn_blocking(move || score(&id_face, side, &opts))
        .await
        .map_err(|e| VerifyError::Task(e.to_string()))??;
    progress(Progress::Compared);
    report.timings_ms.total = ms(t0);
    Ok(report)
}

/// Scores every sampled frame, compares it with the ID face and the other frames, decides.
fn score(
    id_face: &FaceAnalysis,
    side: VideoSide,
    opts: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let t = Instant::now();
    let mut timings = VerifyTimings {
        probe: side.probe_ms,
        decode: side.decode_ms,
        detect: id_face.timings.detect_ms,
        embed: id_face.timings.align_ms + id_face.timings.embed_ms,
        ..VerifyTimings::default()
    };
    let mut rows = Vec::with_capacity(side.frames.len());
    let mut evidence = Vec::with_capacity(side.frames.len());
    // A frame without a usable face is a quality finding; an engine failure ends it all.
    let mut frames = Vec::with_capacity(side.frames.len());
    for (frame, analysis) in side.frames {
        match analysis {
            Ok(a) => frames.push((frame, Some(a))),
            Err(e) if e.is_bad_input() => frames.push((frame, None)),
            Err(e) => return Err(VerifyError::Frame(e)),
        }
    }
    let mut kept_faces: Vec<(usize, &FaceAnalysis)> = Vec::new();
    for (frame, face) in &frames {
        let face = face.as_ref();
        if let Some(a) = face {
            timings.detect += a.timings.detect_ms;
            timings.embed += a.timings.align_ms + a.timings.embed_ms;
        }
        let quality = assess(&frame.image, face, &opts.quality)?;
        let kept = face.is_some() && quality.passes(&opts.quality);
        let similarity = face
            .and_then(|a| vision::compare(&id_face.embedding, &a.embedding, 0.0).ok())
            .map(|c| c.similarity);
        if kept && let Some(a) = face {
            kept_faces.push((rows.len(), a));
        }
        rows.push(FrameRow {
            index: frame.index,
            timestamp_ms: frame.timestamp_ms,
            quality: quality.score,
            issue: quality.issue.map(|i| i.describe()),
            kept,
            similarity,
            consistency: None,
            engine: face.map(|a| a.embedding.engine.clone()),
            model: face.map(|a| a.embedding.model.clone()),
            measures: quality.measures.clone(),
        });
        evidence.push(FrameEvidence {
            index: frame.index,
            quality,
            kept,
            similarity,
            consistency: None,
        });
    }
    let faces: Vec<&FaceAnalysis> = kept_faces.iter().map(|(_, a)| *a).collect();
    for ((row, _), c) in kept_faces.iter().zip(decision::consistency(&faces)) {
        rows[*row].consistency = c;
        evidence[*row].consistency = c;
    }
    let verdict = decision::decide(&evidence, &opts.decision);
    timings.compare = ms(t);
    Ok(VerifyReport {
        decision: verdict.decision,
        score: verdict.score,
        consistency: verdict.consistency,
        threshold: opts.decision.match_threshold,
        reasons: verdict.reasons,
        frames_sampled: verdict.frames_sampled,
        frames_kept: verdict.frames_kept,
        frame_count: side.sampling.frame_count,
        sampling: side.sampling,
        id: IdFace {
            engine: id_face.embedding.engine.clone(),
            model: id_face.embedding.model.clone(),
            detector: id_face.detector.clone(),
            detection_score: id_face.face.score,
            faces_found: id_face.faces_found,
        },
        video: side.info,
        frames: rows,
        timings_ms: timings,
    })
}
