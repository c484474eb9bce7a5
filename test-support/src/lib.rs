//! What the workspace's tests share (a dev-dependency only): where the test data lives and a
//! clear failure where it is missing, selfie-like and synthetic videos made with FFmpeg, bad
//! media, and a small seeded random generator that prints its seed.

pub mod attacks;
pub mod data;
pub mod media;
pub mod rng;
pub mod video;

pub use data::{
    faces_dir, models_dir, require, shared_dir, shared_model, shared_yunet, test_image,
    test_image_path,
};
pub use rng::Rng;
