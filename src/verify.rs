//! Verifying a person against a selfie video through the face pool: the one code path behind
//! `kyc verify` and the sessions' video and comparison jobs (`analyse_video`,
//! `compare_frames`). The ID face is analysed while the
//! video is probed and sampled; every sampled frame goes to a face worker the moment it is
//! decoded, so decoding overlaps inference; then each frame is scored for quality, compared
//! with the ID face and with the other frames, and the decision is taken.

use crate::settings::Settings;
use actors::{FacePool, PoolError};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use vision::decision::{self, DecisionPolicy, FrameEvidence, Verdict};
use vision::liveness::actions::Action;
use vision::liveness::track::TrackedFrame;
use vision::liveness::verdict::{LivenessPolicy, LivenessVerdict, Mode, judge};
use vision::video::quality::{FrameMeasures, FrameQuality, FrameQualityPolicy, assess};
use vision::video::{SampledFrame, SamplingStats, VideoError, VideoInfo, VideoLimits};
use vision::{Embedding, FaceAnalysis, SharedFrame, VisionError};

/// How a verification runs.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    pub samples: usize,
    pub limits: VideoLimits,
    pub quality: FrameQualityPolicy,
    pub decision: DecisionPolicy,
    pub liveness: LivenessOptions,
}

/// How the liveness dense pass runs and is judged.
#[derive(Debug, Clone, Copy)]
pub struct LivenessOptions {
    pub policy: LivenessPolicy,
    /// Frames a second tracked.
    pub dense_fps: f64,
    /// The passive model on this many tracked frames, spread over the clip.
    pub passive_frames: usize,
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
            liveness: LivenessOptions {
                policy: settings.liveness.policy(),
                dense_fps: settings.liveness.dense_fps,
                passive_frames: settings.liveness.passive_frames,
            },
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FrameRow {
    pub index: u64,
    pub timestamp_ms: f64,
    /// Quality score 0..1 and the frame's main problem, if any.
    pub quality: f32,
    pub issue: Option<String>,
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
    #[schema(value_type = Object)]
    pub measures: FrameMeasures,
}

/// The ID face.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdFace {
    pub engine: String,
    pub model: String,
    pub detector: String,
    pub detection_score: f32,
    pub faces_found: usize,
}

impl IdFace {
    pub fn of(a: &FaceAnalysis) -> Self {
        Self {
            engine: a.embedding.engine.clone(),
            model: a.embedding.model.clone(),
            detector: a.detector.clone(),
            detection_score: a.face.score,
            faces_found: a.faces_found,
        }
    }
}

/// Milliseconds per stage. Decoding overlaps face inference, so the stages add up to more
/// than `total`; `detect` and `embed` are summed over the frames (and the ID photo).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyTimings {
    pub probe: f64,
    pub decode: f64,
    pub detect: f64,
    pub embed: f64,
    pub compare: f64,
    pub total: f64,
}

/// The answer of a verification. Named like the API's comparison report (camelCase, the same
/// verdict fields, the same frame rows), so a script reads either.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    #[serde(flatten)]
    pub verdict: Verdict,
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

/// A face found in a frame, as the comparison needs it. Kept by a session between its video
/// and comparing stages; the vector is personal data and never printed.
#[derive(Clone, Serialize, Deserialize)]
pub struct FaceSample {
    pub engine: String,
    pub model: String,
    pub vector: Vec<f32>,
}

impl std::fmt::Debug for FaceSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceSample")
            .field("engine", &self.engine)
            .field("model", &self.model)
            .field("dims", &self.vector.len())
            .finish()
    }
}

impl FaceSample {
    pub fn of(a: &FaceAnalysis) -> Self {
        Self {
            engine: a.embedding.engine.clone(),
            model: a.embedding.model.clone(),
            vector: a.embedding.vector.clone(),
        }
    }

    pub fn embedding(&self) -> Embedding {
        Embedding {
            vector: self.vector.clone(),
            model: self.model.clone(),
            engine: self.engine.clone(),
        }
    }
}

/// A sampled frame after its face analysis and quality check: all the comparison needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssessedFrame {
    pub index: u64,
    pub timestamp_ms: f64,
    pub quality: FrameQuality,
    /// Passed the quality gate (with a face) and counts for the decision.
    pub kept: bool,
    pub face: Option<FaceSample>,
}

impl AssessedFrame {
    /// What the decision needs of this frame, with its similarity to the ID face if known.
    pub fn evidence(&self, similarity: Option<f32>) -> FrameEvidence {
        FrameEvidence {
            index: self.index,
            quality: self.quality.clone(),
            kept: self.kept,
            similarity,
            consistency: None,
        }
    }
}

/// A selfie video, probed, sampled and every sampled frame assessed; with liveness on, the
/// dense pass's frames too.
#[derive(Debug, Clone)]
pub struct VideoAnalysis {
    pub info: VideoInfo,
    pub sampling: SamplingStats,
    pub frames: Vec<AssessedFrame>,
    /// The dense pass, in time order (empty when liveness is off).
    pub track: Vec<TrackedFrame>,
    pub timings_ms: VerifyTimings,
}

impl VideoAnalysis {
    /// The liveness verdict of this video for the challenge `asked`.
    pub fn liveness(&self, asked: Option<&[Action]>, opts: &VerifyOptions) -> LivenessVerdict {
        judge(&self.track, asked, &opts.liveness.policy)
    }
}

/// A decoded frame on its way to the workers: a comparison sample, a dense-pass frame, or both.
struct Decoded {
    frame: SampledFrame,
    shared: SharedFrame,
    compare: bool,
    dense: bool,
    /// How many frames the dense pass has in all.
    dense_total: usize,
}

/// What a worker answered for one frame.
enum Done {
    Face(Box<(SampledFrame, Result<FaceAnalysis, PoolError>)>),
    Track(Result<TrackedFrame, PoolError>),
}

/// Probes the video at `path` and decodes, in one pass, its comparison samples and (with
/// liveness on) the dense pass's frames; sends every frame to a face worker as soon as it is
/// decoded, and scores each sample's quality. The decoder waits while enough frames are with
/// the workers, so memory stays bounded however long the video.
pub async fn analyse_video(
    pool: &FacePool,
    path: PathBuf,
    opts: &VerifyOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<VideoAnalysis, VerifyError> {
    let t = Instant::now();
    let limits = opts.limits;
    let p = path.clone();
    let mut info = tokio::task::spawn_blocking(move || vision::video::probe(&p, limits))
        .await
        .map_err(|e| VerifyError::Task(e.to_string()))??;
    let probe_ms = ms(t);
    let planned = vision::video::plan(info.frame_count_header.max(1), opts.samples).len();
    progress(Progress::Probed { frames: planned });

    let dense = opts.liveness.policy.mode != Mode::Off && pool.tracks();
    // By the frames' timestamps: a browser's WebM has no frame rate in its header.
    let interval_s = 1.0 / opts.liveness.dense_fps.max(1.0);
    let passive_frames = opts.liveness.passive_frames.max(1);
    let in_flight = 2 * pool.status().workers.max(1) + 2;
    // The sampler thread also makes the shareable copy of each frame, off tokio's threads.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Decoded, VisionError>>(in_flight);
    let k = opts.samples;
    let sampler_info = info.clone();
    let sampler = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let samples = std::cell::RefCell::new(std::collections::HashSet::new());
        let dense_set = std::cell::RefCell::new(std::collections::HashSet::new());
        let r = vision::video::sample_plan_each(
            &path,
            &sampler_info,
            limits,
            |frames| {
                let mut plan = vision::video::plan_near_keys(frames.count, k, frames.keys);
                samples.borrow_mut().extend(plan.iter().copied());
                if dense {
                    let d = vision::video::every_interval(
                        frames.times_s,
                        frames.disposable,
                        interval_s,
                    );
                    dense_set.borrow_mut().extend(d.iter().copied());
                    plan.extend(d);
                }
                plan
            },
            |i| {
                if dense_set.borrow().contains(&i) && !samples.borrow().contains(&i) {
                    vision::video::DENSE_MAX_SIDE
                } else {
                    vision::video::ANALYSIS_MAX_SIDE
                }
            },
            |f| {
                let shared = SharedFrame::from_mat(&f.image);
                let go_on = shared.is_ok();
                let decoded = shared.map(|shared| Decoded {
                    compare: samples.borrow().contains(&f.index),
                    dense: dense_set.borrow().contains(&f.index),
                    dense_total: dense_set.borrow().len(),
                    frame: f,
                    shared,
                });
                tx.blocking_send(decoded).is_ok() && go_on
            },
        );
        (r, ms(t))
    });
    let mut pending: FuturesUnordered<std::pin::Pin<Box<dyn Future<Output = Done> + Send + '_>>> =
        FuturesUnordered::new();
    let mut frames = Vec::with_capacity(k);
    let mut track = Vec::new();
    // Where the face was last seen: the next dense frames' SCRFD searches around it.
    let mut follow = vision::liveness::track::Follow::default();
    let (mut decoded, mut analysed, mut tracked) = (0usize, 0usize, 0usize);
    let mut open = true;
    while open || !pending.is_empty() {
        tokio::select! {
            f = rx.recv(), if open && pending.len() < in_flight => match f {
                Some(d) => {
                    let Decoded { frame, shared, compare, dense: dense_frame, dense_total } = d?;
                    if dense_frame {
                        let (shared, t_ms) = (shared.clone(), frame.timestamp_ms);
                        let near = follow.hint(t_ms);
                        // The passive model on every n-th tracked frame, so that about
                        // `passive_frames` get it.
                        let passive_every = dense_total.div_ceil(passive_frames).max(1);
                        let passive = tracked % passive_every == 0;
                        tracked += 1;
                        pending.push(Box::pin(async move {
                            Done::Track(pool.track(shared, t_ms, passive, near).await)
                        }));
                    }
                    if compare {
                        decoded += 1;
                        progress(Progress::Decoded { done: decoded, total: planned.max(decoded) });
                        pending.push(Box::pin(async move {
                            let r = pool.analyze_frame(shared).await;
                            Done::Face(Box::new((frame, r)))
                        }));
                    }
                }
                None => open = false,
            },
            Some(done) = pending.next(), if !pending.is_empty() => match done {
                Done::Face(done) => {
                    analysed += 1;
                    progress(Progress::Analysed { done: analysed, total: planned.max(decoded) });
                    frames.push(*done);
                }
                Done::Track(r) => {
                    let t = r.map_err(VerifyError::Frame)?;
                    follow.observe(&t);
                    track.push(t);
                }
            }
        }
    }
    let (result, decode_ms) = sampler
        .await
        .map_err(|e| VerifyError::Task(e.to_string()))?;
    let sampling = result?;
    if info.duration_s <= 0.0 {
        // No duration in the header (WebM from MediaRecorder, whose "frame rate" is then its
        // time base's): the timestamps tell both.
        info.duration_s = sampling.duration_s;
        info.fps = sampling.fps;
    }
    frames.sort_by_key(|(f, _)| f.index);
    track.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    let quality = opts.quality;
    let (frames, mut timings_ms) =
        tokio::task::spawn_blocking(move || assess_frames(frames, &quality))
            .await
            .map_err(|e| VerifyError::Task(e.to_string()))??;
    timings_ms.probe = probe_ms;
    timings_ms.decode = decode_ms;
    timings_ms.total = ms(t);
    Ok(VideoAnalysis {
        info,
        sampling,
        frames,
        track,
        timings_ms,
    })
}

/// Scores the quality of every analysed frame. A frame without a usable face is a quality
/// finding; an engine failure ends it all.
fn assess_frames(
    frames: Vec<(SampledFrame, Result<FaceAnalysis, PoolError>)>,
    policy: &FrameQualityPolicy,
) -> Result<(Vec<AssessedFrame>, VerifyTimings), VerifyError> {
    let mut timings = VerifyTimings::default();
    let mut out = Vec::with_capacity(frames.len());
    for (frame, analysis) in frames {
        let face = match analysis {
            Ok(a) => Some(a),
            Err(e) if e.is_bad_input() => None,
            Err(e) => return Err(VerifyError::Frame(e)),
        };
        if let Some(a) = &face {
            timings.detect += a.timings.detect_ms;
            timings.embed += a.timings.align_ms + a.timings.embed_ms;
        }
        let quality = assess(&frame.image, face.as_ref(), policy)?;
        let kept = face.is_some() && quality.passes(policy);
        out.push(AssessedFrame {
            index: frame.index,
            timestamp_ms: frame.timestamp_ms,
            quality,
            kept,
            face: face.as_ref().map(FaceSample::of),
        });
    }
    Ok((out, timings))
}

/// The ID face against every assessed frame, the frames against each other, the decision.
pub fn compare_frames(
    id: &Embedding,
    frames: &[AssessedFrame],
    policy: &DecisionPolicy,
) -> (Vec<FrameRow>, Verdict) {
    let mut rows = Vec::with_capacity(frames.len());
    let mut evidence = Vec::with_capacity(frames.len());
    let embeddings: Vec<Option<Embedding>> = frames
        .iter()
        .map(|f| f.face.as_ref().map(FaceSample::embedding))
        .collect();
    let mut kept: Vec<(usize, &Embedding)> = Vec::new();
    for (frame, emb) in frames.iter().zip(&embeddings) {
        let similarity = emb
            .as_ref()
            .and_then(|e| vision::compare(id, e, 0.0).ok())
            .map(|c| c.similarity);
        if frame.kept
            && let Some(e) = emb
        {
            kept.push((rows.len(), e));
        }
        rows.push(FrameRow {
            index: frame.index,
            timestamp_ms: frame.timestamp_ms,
            quality: frame.quality.score,
            issue: frame.quality.issue.map(|i| i.describe().to_owned()),
            kept: frame.kept,
            similarity,
            consistency: None,
            engine: frame.face.as_ref().map(|f| f.engine.clone()),
            model: frame.face.as_ref().map(|f| f.model.clone()),
            measures: frame.quality.measures.clone(),
        });
        evidence.push(frame.evidence(similarity));
    }
    let faces: Vec<&Embedding> = kept.iter().map(|(_, e)| *e).collect();
    for ((row, _), c) in kept.iter().zip(decision::consistency(&faces)) {
        rows[*row].consistency = c;
        evidence[*row].consistency = c;
    }
    let verdict = decision::decide(&evidence, policy);
    (rows, verdict)
}

/// Verifies the face on the ID photo `id` (encoded image) against the selfie video at `video`,
/// and whether the person was present and performed the challenge `asked` (liveness on).
pub async fn verify(
    pool: &FacePool,
    id: Arc<[u8]>,
    video: PathBuf,
    opts: &VerifyOptions,
    asked: Option<&[Action]>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<VerifyReport, VerifyError> {
    let t0 = Instant::now();
    let (id_result, side) =
        tokio::join!(pool.analyze(id), analyse_video(pool, video, opts, progress));
    let id_face = id_result.map_err(VerifyError::Id)?;
    let side = side?;
    let t = Instant::now();
    let (rows, verdict) = compare_frames(&id_face.embedding, &side.frames, &opts.decision);
    let verdict = verdict.with_liveness(side.liveness(asked, opts));
    progress(Progress::Compared);
    let mut timings = side.timings_ms;
    timings.detect += id_face.timings.detect_ms;
    timings.embed += id_face.timings.align_ms + id_face.timings.embed_ms;
    timings.compare = ms(t);
    timings.total = ms(t0);
    Ok(VerifyReport {
        verdict,
        frame_count: side.sampling.frame_count,
        sampling: side.sampling,
        id: IdFace::of(&id_face),
        video: side.info,
        frames: rows,
        timings_ms: timings,
    })
}
