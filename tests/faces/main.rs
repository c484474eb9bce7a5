//! Face comparison through `kyc compare`'s code path (`kyc::compare::compare_photos` on a face
//! pool built from the `test` settings) with the real models and real photos.

#[path = "../common/mod.rs"]
mod common;

mod accuracy;
mod bad_input;
mod video_decisions;

use actors::FacePool;
use kyc::settings::Settings;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vision::EngineKind;

pub fn settings() -> Settings {
    Settings::builder()
        .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .var("KYC_ENV", "test")
        .build()
        .expect("test settings load")
}

pub async fn pool(settings: &Settings, kind: Option<EngineKind>, workers: usize) -> FacePool {
    FacePool::start(kyc::engines::face_pool_config(
        settings,
        kind,
        Some(workers),
        false,
    ))
    .await
    .expect("face pool starts (run `kyc models fetch` first)")
}

/// A photo fetched by `kyc models fetch` from the face-recognition sdist.
pub fn photo(name: &str) -> Arc<[u8]> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/files/test_images")
        .join(name);
    Arc::from(
        std::fs::read(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (run `kyc models fetch`)", p.display())),
    )
}

/// `../shared/testdata/faces`, or None (with a message) where it is missing.
pub fn shared_faces() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/faces");
    if dir.join("pairs.csv").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIP: {} is missing", dir.display());
        None
    }
}
