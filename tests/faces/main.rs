//! Face comparison through `kyc compare`'s code path (`kyc::photo_pair::compare_photos` on a face
//! pool built from the `test` settings) with the real models and real photos.

mod accuracy;
mod bad_input;
mod video_decisions;

use actors::FacePool;
use kyc::settings::Settings;
use std::sync::Arc;
use vision::EngineKind;

pub fn settings() -> Settings {
    Settings::builder()
        .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .var("KYC_ENV", "test")
        // The videos here are photos panned: they measure matching, not liveness.
        .var("KYC__LIVENESS__MODE", "off")
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
    Arc::from(test_support::test_image(name))
}
