//! Comparing the faces of two photos through the face pool: the one code path behind
//! `kyc compare`, the accuracy test and (later) the API's plain-photo comparison.

use actors::{FacePool, PoolError};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use vision::face::StageTimings;
use vision::{FaceAnalysis, VisionError};

/// Which photo an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Side {
    A,
    B,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::A => "first photo",
            Self::B => "second photo",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{side}: {source}")]
    Face {
        side: Side,
        #[source]
        source: PoolError,
    },
    #[error(transparent)]
    Vision(#[from] VisionError),
}

impl CompareError {
    /// True when the input is at fault (exit code 2, HTTP 4xx).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Face { source, .. } => source.is_bad_input(),
            Self::Vision(e) => e.is_bad_input(),
        }
    }

    /// A stable code for JSON output and API envelopes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Face { source, .. } => source.code(),
            Self::Vision(e) => e.code(),
        }
    }
}

/// What was found on one side.
#[derive(Debug, Clone, Serialize)]
pub struct SideReport {
    pub engine: String,
    pub detector: String,
    pub detection_score: f32,
    pub faces_found: usize,
    pub enhanced: bool,
    pub fallback_reason: Option<String>,
    pub notes: Vec<String>,
    pub face_box: [f32; 4],
    pub timings_ms: StageTimings,
}

impl From<&FaceAnalysis> for SideReport {
    fn from(a: &FaceAnalysis) -> Self {
        Self {
            engine: a.embedding.engine.clone(),
            detector: a.detector.clone(),
            detection_score: a.face.score,
            faces_found: a.faces_found,
            enhanced: a.enhanced,
            fallback_reason: a.fallback_reason.clone(),
            notes: a.notes.clone(),
            face_box: [a.face.x, a.face.y, a.face.width, a.face.height],
            timings_ms: a.timings.clone(),
        }
    }
}

/// The answer of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub similarity: f32,
    #[serde(rename = "match")]
    pub is_match: bool,
    pub threshold: f32,
    /// The engine that embedded both faces, or `A+B` when the hybrid used different ones.
    pub engine: String,
    /// The recognizer model both embeddings come from.
    pub model: String,
    pub a: SideReport,
    pub b: SideReport,
    /// Wall time of the comparison (both sides run in parallel), in milliseconds.
    pub compare_ms: f64,
}

/// Compares two encoded photos: both are analysed in parallel by the pool's workers.
pub async fn compare_photos(
    pool: &FacePool,
    a: Arc<[u8]>,
    b: Arc<[u8]>,
    threshold: f32,
) -> Result<CompareReport, CompareError> {
    let t = Instant::now();
    let (ra, rb) = tokio::join!(pool.analyze(a), pool.analyze(b));
    let fa = ra.map_err(|source| CompareError::Face {
        side: Side::A,
        source,
    })?;
    let fb = rb.map_err(|source| CompareError::Face {
        side: Side::B,
        source,
    })?;
    let c = vision::compare(&fa.embedding, &fb.embedding, threshold)?;
    let engine = if fa.embedding.engine == fb.embedding.engine {
        fa.embedding.engine.clone()
    } else {
        format!("{}+{}", fa.embedding.engine, fb.embedding.engine)
    };
    Ok(CompareReport {
        similarity: c.similarity,
        is_match: c.is_match,
        threshold: c.threshold,
        engine,
        model: fa.embedding.model.clone(),
        a: SideReport::from(&fa),
        b: SideReport::from(&fb),
        compare_ms: t.elapsed().as_secs_f64() * 1000.0,
    })
}
