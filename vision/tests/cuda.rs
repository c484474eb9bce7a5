//! The CUDA path (`cargo test --release -p vision --features cuda --test cuda`): on a machine
//! without a usable CUDA provider the engine falls back to CPU and still works; where
//! `KYC_EXPECT_CUDA=1` is set (the GPU machine), it must really run on CUDA.
#![cfg(feature = "cuda")]

use vision::face::engine::{EngineConfig, EngineKind, ModelPaths, build_engine};
use vision::runtime::{ActiveDevice, ORT_DYLIB_FILE};
use vision::{Device, ImageLimits, RuntimeConfig};

#[test]
fn auto_runs_on_cuda_where_it_loads_and_on_cpu_elsewhere() {
    let dir = test_support::models_dir();
    let ort = std::env::var_os("ORT_DYLIB_PATH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.join(ORT_DYLIB_FILE));
    let mut runtime = RuntimeConfig::cpu(ort, 1);
    runtime.device = Device::Auto;
    runtime.cuda_lib_dirs = std::env::var("CUDA_LIB_DIRS")
        .unwrap_or_default()
        .split(':')
        .filter(|s| !s.is_empty())
        .map(Into::into)
        .collect();
    let cfg = EngineConfig::new(
        EngineKind::Insightface,
        runtime,
        ModelPaths::in_dir(&dir, None),
    );
    let mut engine = build_engine(&cfg).expect("engine builds on some device");
    let expect_cuda = std::env::var("KYC_EXPECT_CUDA").is_ok_and(|v| v == "1");
    let device = engine.info().device;
    if expect_cuda {
        assert_eq!(device, ActiveDevice::Cuda);
    }
    let photo = test_support::test_image("obama.jpg");
    let a = engine
        .analyze_bytes(&photo, ImageLimits::default())
        .expect("analysis runs");
    assert_eq!(a.faces_found, 1, "on {device}");
}
