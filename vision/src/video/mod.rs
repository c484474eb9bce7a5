//! Selfie videos: what is in a file before anything is decoded (container, stream, duration,
//! size, rotation), a refusal, early and worded for the person who sent it, of what the
//! verification cannot use, frames sampled at exactly the indices asked for, and each frame's
//! fitness for comparing a face.

mod nal;
mod probe;
pub mod quality;
mod sample;

pub use probe::{Container, VideoError, VideoInfo, VideoLimits, probe};
pub use sample::{
    ANALYSIS_MAX_SIDE, DENSE_MAX_SIDE, FrameTable, SampledFrame, SamplingStats, every_interval,
    plan, plan_near_keys, sample_frames, sample_frames_each, sample_plan_each,
};
