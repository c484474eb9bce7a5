//! Actors: the engine pools that own the models (one model set per worker, inference on the
//! worker's own OS thread), the KYC sessions with their journal and supervisor, and beside each
//! actor its message enum.

pub mod face_pool;
pub mod session;

pub use face_pool::{
    Answer, EngineBuilder, FaceInput, FaceJob, FacePool, FaceWork, PoolConfig, PoolError,
    PoolStatus,
};
