//! The face pool with real models: concurrent jobs never mix results, a worker whose engine
//! panics is replaced and the job retried once, a full queue answers at once, and a pool whose
//! models are missing says so.

use actors::{EngineBuilder, FacePool, PoolConfig, PoolError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vision::face::engine::{
    EngineConfig, EngineInfo, EngineKind, FaceEngine, ModelPaths, build_engine,
};
use vision::runtime::ORT_DYLIB_FILE;
use vision::{DecodedImage, FaceAnalysis, ImageLimits, RuntimeConfig};

fn engine_config(kind: EngineKind) -> EngineConfig {
    let dir = test_support::models_dir();
    EngineConfig::new(
        kind,
        RuntimeConfig::cpu(dir.join(ORT_DYLIB_FILE), 1),
        ModelPaths::in_dir(&dir, test_support::shared_yunet()),
    )
}

fn pool_config(workers: usize, queue: usize) -> PoolConfig {
    PoolConfig {
        tracker: None,
        name: "face-test".into(),
        workers,
        queue_capacity: queue,
        image_limits: ImageLimits::default(),
        warm_up: false,
        engine: engine_config(EngineKind::Hybrid),
    }
}

/// The labelled photos of ../shared (9 people).
fn shared_faces() -> Vec<(String, Arc<[u8]>)> {
    let dir = test_support::faces_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out: Vec<(String, Arc<[u8]>)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).expect("readable photo");
            (name, Arc::from(bytes))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn real_photo(name: &str) -> Arc<[u8]> {
    Arc::from(test_support::test_image(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_jobs_give_exactly_the_solo_results() {
    let photos = shared_faces();
    // ../shared/testdata/faces/README.md: 25 photos of 9 people.
    assert!(photos.len() >= 16, "expected the labelled photos");
    let pool = FacePool::start(pool_config(4, 512))
        .await
        .expect("pool starts");

    // Each photo alone, one after another.
    let mut solo: HashMap<String, Vec<f32>> = HashMap::new();
    for (name, bytes) in &photos {
        let a = pool.analyze(bytes.clone()).await.expect("solo analysis");
        solo.insert(name.clone(), a.embedding.vector);
    }

    // 240 jobs at once, photos interleaved so neighbours in the queue are different people.
    let jobs: Vec<(String, Arc<[u8]>)> = (0..240)
        .map(|i| photos[(i * 7) % photos.len()].clone())
        .collect();
    let pool = Arc::new(pool);
    let mut handles = Vec::new();
    for (name, bytes) in jobs {
        let pool = pool.clone();
        handles.push(tokio::spawn(
            async move { (name, pool.analyze(bytes).await) },
        ));
    }
    let mut checked = 0;
    for h in handles {
        let (name, r) = h.await.expect("task");
        let a = r.expect("concurrent analysis");
        let want = &solo[&name];
        let max_diff = want
            .iter()
            .zip(&a.embedding.vector)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            max_diff < 1e-5,
            "{name}: embedding differs from its solo run by {max_diff}"
        );
        // And it is not some other photo's embedding.
        for (other, v) in &solo {
            if other != &name && v != want {
                let d: f32 = v
                    .iter()
                    .zip(&a.embedding.vector)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(d > 1e-3, "{name} came back with {other}'s embedding");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 240);
    let status = pool.status();
    assert_eq!(status.restarts, 0);
    assert_eq!(status.workers_loaded, 4);
}

/// Wraps the real engine; panics on the first `n` calls (across all workers).
struct Flaky {
    inner: Box<dyn FaceEngine>,
    panics_left: Arc<AtomicUsize>,
}

impl FaceEngine for Flaky {
    fn analyze(&mut self, image: &DecodedImage) -> vision::error::Result<FaceAnalysis> {
        let left = self.panics_left.load(Ordering::SeqCst);
        if left > 0
            && self
                .panics_left
                .compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            panic!("injected fault");
        }
        self.inner.analyze(image)
    }
    fn warm_up(&mut self) -> vision::error::Result<()> {
        self.inner.warm_up()
    }
    fn info(&self) -> EngineInfo {
        self.inner.info()
    }
}

fn flaky_builder(panics: usize) -> (EngineBuilder, Arc<AtomicUsize>) {
    let left = Arc::new(AtomicUsize::new(panics));
    let l = left.clone();
    let cfg = engine_config(EngineKind::Insightface);
    let b: EngineBuilder = Arc::new(move || {
        Ok(Box::new(Flaky {
            inner: build_engine(&cfg)?,
            panics_left: l.clone(),
        }) as Box<dyn FaceEngine>)
    });
    (b, left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_worker_is_replaced_and_its_job_retried_once() {
    let (builder, _) = flaky_builder(1);
    let pool = FacePool::start_with(pool_config(2, 16), builder)
        .await
        .unwrap();
    let a = pool
        .analyze(real_photo("obama.jpg"))
        .await
        .expect("retried on a fresh worker");
    assert_eq!(a.faces_found, 1);
    // The replacement loads in the background; wait for it.
    for _ in 0..500 {
        if pool.status().workers_loaded == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let s = pool.status();
    assert_eq!(s.restarts, 1, "{s:?}");
    assert_eq!(s.workers_loaded, 2, "{s:?}");
    // The pool keeps working.
    pool.analyze(real_photo("biden.jpg"))
        .await
        .expect("after the restart");
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_twice_gets_a_clear_error() {
    let (builder, _) = flaky_builder(2);
    let pool = FacePool::start_with(pool_config(1, 16), builder)
        .await
        .unwrap();
    match pool.analyze(real_photo("obama.jpg")).await {
        Err(PoolError::EngineFailed(m)) => assert!(m.contains("injected fault"), "{m}"),
        other => panic!(
            "expected EngineFailed, got {:?}",
            other.map(|a| a.faces_found)
        ),
    }
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_at_once_instead_of_piling_up() {
    let pool = Arc::new(FacePool::start(pool_config(1, 2)).await.unwrap());
    let photo = real_photo("obama.jpg");
    let mut handles = Vec::new();
    for _ in 0..30 {
        let (p, b) = (pool.clone(), photo.clone());
        handles.push(tokio::spawn(async move { p.analyze(b).await }));
    }
    let (mut ok, mut full) = (0, 0);
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(PoolError::QueueFull(2)) => full += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(ok >= 1 && full >= 1, "ok {ok}, full {full}");
    assert_eq!(ok + full, 30);
}

#[tokio::test]
async fn missing_models_fail_the_start_clearly() {
    let mut cfg = pool_config(1, 4);
    cfg.engine.kind = EngineKind::Insightface;
    cfg.engine.models.scrfd = PathBuf::from("/nonexistent/scrfd.onnx");
    match FacePool::start(cfg).await {
        Err(PoolError::EngineUnavailable(m)) => {
            assert!(m.contains("/nonexistent/scrfd.onnx"), "{m}");
        }
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("a pool without models must not start"),
    }
}

#[tokio::test]
async fn bad_input_is_an_answer_not_a_worker_failure() {
    let pool = FacePool::start(pool_config(1, 4)).await.unwrap();
    for bytes in [
        &b""[..],
        b"just some text",
        &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16][..],
    ] {
        match pool.analyze(Arc::from(bytes)).await {
            Err(PoolError::Vision(e)) => assert!(e.is_bad_input(), "{e}"),
            other => panic!(
                "expected a bad-input error, got {:?}",
                other.map(|a| a.faces_found)
            ),
        }
    }
    assert_eq!(pool.status().restarts, 0);
    pool.stop().await;
}
