//! `kyc bench`: measurements for BENCHMARKS.md, run on a quiet machine. `faces` times
//! detect + align + embed per already-decoded image for each engine; `compare` times whole
//! `kyc compare` processes; `cards` runs the ID card pipeline on generated cards (only in a
//! build with the `bench-cards` feature: the release binary carries no card generator).

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::engines;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use vision::face::engine::build_engine;
use vision::{EngineKind, decode_image};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Per-image detect + align + embed time of each engine (images decoded beforehand).
    Faces(FacesArgs),
    /// Wall time of whole `kyc compare A B` processes.
    Compare(CompareBenchArgs),
    /// Quality gate, card detection and card reading on generated ID cards: time per stage and
    /// fields read exactly.
    #[cfg(feature = "bench-cards")]
    Cards(super::bench_cards::CardsArgs),
    /// Generated ID cards: not in this build (the card generator is left out of the product);
    /// run `cargo run --release --features bench-cards -- bench cards`.
    #[cfg(not(feature = "bench-cards"))]
    Cards(CardsNotBuilt),
    /// Probe and frame-accurate sampling of a video file (the decode stage of verification).
    Video(VideoBenchArgs),
    /// End-to-end verification of a selfie video against an ID photo, split per stage.
    Verify(super::bench_verify::VerifyBenchArgs),
    /// Encryption at rest: streaming encryption and decryption of a large file, MiB/s.
    Crypto(super::bench_crypto::CryptoBenchArgs),
    /// The records outbox: append + flush on the request path, and time until the records
    /// are committed to MariaDB (`database.url`) or the embedded store.
    Records(super::bench_records::RecordsBenchArgs),
}

/// `kyc bench cards` in a build without the `bench-cards` feature: takes whatever arguments it
/// is given and says how to get the real one.
#[cfg(not(feature = "bench-cards"))]
#[derive(Debug, Args)]
pub struct CardsNotBuilt {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VideoBenchArgs {
    pub video: PathBuf,
    /// Frames to sample.
    #[arg(long, default_value_t = 12)]
    pub samples: usize,
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

#[derive(Debug, Args)]
pub struct FacesArgs {
    /// Photos to run (default: the fetched test photos).
    pub images: Vec<PathBuf>,
    /// Passes over the photos.
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    /// Intra-op threads of the engine.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Detector input size (overrides engine.det_size).
    #[arg(long)]
    pub det_size: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareBenchArgs {
    pub a: PathBuf,
    pub b: PathBuf,
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
}

#[derive(Debug, Serialize)]
struct EngineResult {
    engine: String,
    detector: String,
    device: String,
    det_size: u32,
    threads: usize,
    samples: usize,
    median_ms: f64,
    p90_ms: f64,
    detect_median_ms: f64,
    align_median_ms: f64,
    embed_median_ms: f64,
}

pub(super) fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i.min(v.len() - 1)]
}

pub fn run(args: BenchArgs) -> ExitCode {
    super::init_cli_tracing();
    match args.what {
        BenchWhat::Faces(a) => faces(a),
        BenchWhat::Compare(a) => compare(a),
        #[cfg(feature = "bench-cards")]
        BenchWhat::Cards(a) => super::bench_cards::run(a),
        #[cfg(not(feature = "bench-cards"))]
        BenchWhat::Cards(_) => {
            eprintln!(
                "kyc bench cards: this kyc was built without the card generator (it is left out \
                 of the product); build with the `bench-cards` feature: \
                 `cargo run --release --features bench-cards -- bench cards`"
            );
            ExitCode::from(EXIT_BAD_INPUT)
        }
        BenchWhat::Video(a) => video(a),
        BenchWhat::Verify(a) => super::bench_verify::run(a),
        BenchWhat::Crypto(a) => super::bench_crypto::run(a),
        BenchWhat::Records(a) => super::bench_records::run(a),
    }
}

fn faces(args: FacesArgs) -> ExitCode {
    let mut settings = match super::load_settings("bench") {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(s) = args.det_size {
        settings.engine.det_size = s;
    }
    settings.engine.threads_per_worker = args.threads;
    vision::runtime::set_opencv_threads(args.threads);
    let paths = if args.images.is_empty() {
        ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
            .iter()
            .map(|n| settings.models.dir.join("test_images").join(n))
            .collect()
    } else {
        args.images.clone()
    };
    let limits = engines::image_limits(&settings);
    let mut images = Vec::new();
    for p in &paths {
        let decoded = std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| decode_image(&b, limits).map_err(|e| e.to_string()));
        match decoded {
            Ok(img) => images.push(img),
            Err(e) => {
                eprintln!("kyc bench: {}: {e}", p.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    let mut results = Vec::new();
    for kind in [EngineKind::Insightface, EngineKind::Opencv] {
        let cfg = engines::engine_config(&settings, Some(kind));
        let mut engine = match build_engine(&cfg) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("kyc bench: {kind}: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        // One untimed pass: first runs allocate and pick kernels.
        for img in &images {
            let _ = engine.analyze(img);
        }
        let (mut total, mut det, mut ali, mut emb) = (vec![], vec![], vec![], vec![]);
        for _ in 0..args.iterations {
            for img in &images {
                let t = Instant::now();
                let r = engine.analyze(img);
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                match r {
                    Ok(a) => {
                        total.push(ms);
                        det.push(a.timings.detect_ms);
                        ali.push(a.timings.align_ms);
                        emb.push(a.timings.embed_ms);
                    }
                    Err(e) => {
                        eprintln!("kyc bench: {kind}: {e}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                }
            }
        }
        let info = engine.info();
        results.push(EngineResult {
            engine: kind.to_string(),
            detector: info.detector,
            device: info.device.to_string(),
            det_size: cfg.det_size,
            threads: args.threads,
            samples: total.len(),
            median_ms: percentile(&mut total.clone(), 0.5),
            p90_ms: percentile(&mut total, 0.9),
            detect_median_ms: percentile(&mut det, 0.5),
            align_median_ms: percentile(&mut ali, 0.5),
            embed_median_ms: percentile(&mut emb, 0.5),
        });
    }
    if args.json {
        match serde_json::to_string_pretty(&results) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("kyc bench: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        println!(
            "{:<12} {:<8} {:>5} {:>4} {:>7} {:>9} {:>7} {:>9} {:>8} {:>8}",
            "engine",
            "detector",
            "size",
            "thr",
            "samples",
            "median",
            "p90",
            "detect",
            "align",
            "embed"
        );
        for r in &results {
            println!(
                "{:<12} {:<8} {:>5} {:>4} {:>7} {:>7.2}ms {:>5.2}ms {:>7.2}ms {:>6.2}ms {:>6.2}ms",
                r.engine,
                r.detector,
                r.det_size,
                r.threads,
                r.samples,
                r.median_ms,
                r.p90_ms,
                r.detect_median_ms,
                r.align_median_ms,
                r.embed_median_ms
            );
        }
    }
    ExitCode::SUCCESS
}

fn compare(args: CompareBenchArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kyc bench: cannot find the kyc binary: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut walls = Vec::new();
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let out = std::process::Command::new(&exe)
            .arg("compare")
            .arg(&args.a)
            .arg(&args.b)
            .arg("--json")
            .output();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match out {
            Ok(o) if o.status.success() => walls.push(ms),
            Ok(o) => {
                eprintln!(
                    "kyc bench: kyc compare failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                return ExitCode::from(EXIT_FAILURE);
            }
            Err(e) => {
                eprintln!("kyc bench: cannot run kyc compare: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    }
    let n = walls.len();
    let med = percentile(&mut walls.clone(), 0.5);
    let p90 = percentile(&mut walls, 0.9);
    println!("kyc compare wall time over {n} runs: median {med:.0} ms, p90 {p90:.0} ms");
    ExitCode::SUCCESS
}

fn video(args: VideoBenchArgs) -> ExitCode {
    use vision::video::{VideoLimits, probe, sample_frames};
    let limits = VideoLimits::default();
    let (mut probe_ms, mut sample_ms) = (vec![], vec![]);
    let (mut info, mut stats) = (None, None);
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let i = match probe(&args.video, limits) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("kyc bench: {}: {e}", args.video.display());
                return ExitCode::from(if e.is_bad_input() {
                    EXIT_BAD_INPUT
                } else {
                    EXIT_FAILURE
                });
            }
        };
        probe_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        match sample_frames(&args.video, &i, args.samples, limits) {
            Ok((_, s)) => stats = Some(s),
            Err(e) => {
                eprintln!("kyc bench: {}: {e}", args.video.display());
                return ExitCode::from(EXIT_FAILURE);
            }
        }
        sample_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        info = Some(i);
    }
    if let Some(i) = info {
        println!(
            "{}: {}×{}, {:.2} fps, {} frames, {:.1} s",
            args.video.display(),
            i.width,
            i.height,
            i.fps,
            i.frame_count_header,
            i.duration_s
        );
    }
    if let Some(s) = stats {
        println!(
            "sampling decoded {} frames, skipped {} non-reference frames, {} seeks",
            s.decoded, s.skipped, s.seeks
        );
    }
    println!(
        "probe median {:.1} ms; sample {} frames median {:.0} ms (p90 {:.0} ms) over {} runs",
        percentile(&mut probe_ms, 0.5),
        args.samples,
        percentile(&mut sample_ms.clone(), 0.5),
        percentile(&mut sample_ms, 0.9),
        args.runs
    );
    ExitCode::SUCCESS
}
