//! The vision layer's error type: every way an image or a model can fail, worded for the caller.

use thiserror::Error;

/// Errors of the vision pipelines. `BadInput`-class variants are the caller's fault and map
/// to 4xx / exit code 2; the others are the system's.
#[derive(Debug, Error)]
pub enum VisionError {
    #[error("the file is empty")]
    EmptyInput,
    #[error("not a supported image (expected JPEG, PNG, BMP or WebP): {0}")]
    UnsupportedImage(String),
    #[error("the image could not be decoded: {0}")]
    CorruptImage(String),
    #[error("the image is {width}×{height} pixels; at most {max_pixels} pixels are accepted")]
    ImageTooLarge {
        width: u64,
        height: u64,
        max_pixels: u64,
    },
    #[error("the image is {width}×{height} pixels; at least {min_side} pixels per side are needed")]
    ImageTooSmall {
        width: u64,
        height: u64,
        min_side: u64,
    },
    #[error("no face was found in the image")]
    NoFace,
    #[error("embeddings from different recognizers cannot be compared ({0} vs {1})")]
    IncompatibleEmbeddings(String, String),
    #[error("model file {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("inference runtime: {0}")]
    Runtime(String),
    #[error(transparent)]
    Video(#[from] crate::video::VideoError),
}

impl VisionError {
    /// True when the error is about the input (the caller can fix it), not about the system.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::EmptyInput
                | Self::UnsupportedImage(_)
                | Self::CorruptImage(_)
                | Self::ImageTooLarge { .. }
                | Self::ImageTooSmall { .. }
                | Self::NoFace
                | Self::IncompatibleEmbeddings(..)
        ) || matches!(self, Self::Video(v) if v.is_bad_input())
    }

    /// A stable machine-readable code for API envelopes and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyInput => "EMPTY_INPUT",
            Self::UnsupportedImage(_) => "UNSUPPORTED_IMAGE",
            Self::CorruptImage(_) => "CORRUPT_IMAGE",
            Self::ImageTooLarge { .. } => "IMAGE_TOO_LARGE",
            Self::ImageTooSmall { .. } => "IMAGE_TOO_SMALL",
            Self::NoFace => "NO_FACE",
            Self::IncompatibleEmbeddings(..) => "INCOMPATIBLE_EMBEDDINGS",
            Self::Model { .. } => "MODEL_ERROR",
            Self::Runtime(_) => "ENGINE_ERROR",
            Self::Video(v) => v.code(),
        }
    }
}

impl From<opencv::Error> for VisionError {
    fn from(e: opencv::Error) -> Self {
        Self::Runtime(format!("opencv: {}", e.message))
    }
}

impl From<ort::Error> for VisionError {
    fn from(e: ort::Error) -> Self {
        Self::Runtime(format!("onnxruntime: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, VisionError>;
