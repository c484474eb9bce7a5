//! Faces: detection (SCRFD, YuNet, Haar), 5-point alignment, ArcFace embeddings, the dual
//! engine that chooses between them, and the comparison of two embeddings.

pub mod align;
pub mod arcface;
pub mod compare;
pub mod detect;
pub mod engine;
pub mod haar;
pub mod lighting;
pub mod scrfd;
pub mod tensor;
pub mod yunet;

use serde::Serialize;

/// One detected face in image coordinates.
#[derive(Debug, Clone, Serialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Left eye, right eye, nose tip, left mouth corner, right mouth corner (as seen in the image).
    pub landmarks: [[f32; 2]; 5],
    /// False when the landmarks were estimated from the box (Haar cascade) rather than detected.
    pub landmarks_detected: bool,
}

impl FaceBox {
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }
}

/// A face embedding with the provenance needed to decide whether two can be compared.
#[derive(Clone, Serialize)]
pub struct Embedding {
    /// L2-normalised vector.
    #[serde(skip)]
    pub vector: Vec<f32>,
    /// The recognizer model that made it (e.g. `w600k_mbf`). Only equal models compare.
    pub model: String,
    /// The engine that ran it (`insightface` or `opencv`).
    pub engine: String,
}

impl std::fmt::Debug for Embedding {
    // Never print the vector: embeddings are personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedding")
            .field("dims", &self.vector.len())
            .field("model", &self.model)
            .field("engine", &self.engine)
            .finish()
    }
}

/// Time spent per stage, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimings {
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub align_ms: f64,
    pub embed_ms: f64,
}

/// The result of analysing one image: the face used, its embedding, and how it was found.
#[derive(Debug, Clone, Serialize)]
pub struct FaceAnalysis {
    /// The face that was embedded (the largest one).
    pub face: FaceBox,
    /// How many faces the detector found.
    pub faces_found: usize,
    /// The largest of the other faces, if any (is the face used clearly the dominant one?).
    #[serde(skip)]
    pub runner_up: Option<FaceBox>,
    pub embedding: Embedding,
    /// The detector that found the face (`scrfd`, `yunet`, `haar`).
    pub detector: String,
    /// True when the image was contrast-enhanced (CLAHE) before the face was found.
    pub enhanced: bool,
    /// Why the hybrid engine moved away from its primary engine, if it did.
    pub fallback_reason: Option<String>,
    /// Notes for the caller, e.g. "3 faces found; the largest was used".
    pub notes: Vec<String>,
    pub timings: StageTimings,
    /// Image size in pixels.
    pub image_width: i32,
    pub image_height: i32,
}
