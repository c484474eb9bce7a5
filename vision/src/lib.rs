//! Pure vision pipelines: no actors, no network, no storage. Everything the server and the CLI
//! compute about images lives here, so both call exactly the same code.

pub mod card;
pub mod codecs;
pub mod decision;
pub mod error;
pub mod face;
pub mod image;
pub mod liveness;
pub mod ocr;
pub mod prelu;
pub mod quality;
pub mod runtime;
pub mod video;

pub use error::VisionError;
pub use face::compare::{Comparison, compare};
pub use face::engine::{EngineConfig, EngineKind, FaceEngine, build_engine};
pub use face::{Embedding, FaceAnalysis, FaceBox};
pub use image::{DecodedImage, ImageLimits, SharedFrame, decode_image};
/// The OpenCV binding whose `Mat` the pipelines take and return.
pub use opencv;
pub use runtime::{Device, RuntimeConfig};
