//! `kyc compare A B`: are the faces in two photos the same person? Runs both photos through a
//! face pool (the server's code path) and prints the answer. One-shot: one worker, the hybrid's
//! fallback engine loaded only if the primary needs it, no warm-up.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, EngineChoice};
use crate::engines;
use crate::photo_pair::{CompareReport, SideReport, compare_photos};
use actors::FacePool;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// First photo (JPEG, PNG, BMP or WebP).
    pub a: PathBuf,
    /// Second photo.
    pub b: PathBuf,
    /// Face engine.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    report: &'a CompareReport,
    timings_ms: Timings,
}

#[derive(Serialize)]
struct Timings {
    load: f64,
    compare: f64,
    total: f64,
}

fn read(path: &PathBuf) -> Result<Arc<[u8]>, String> {
    std::fs::read(path)
        .map(Arc::from)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub fn run(args: CompareArgs) -> ExitCode {
    let t0 = Instant::now();
    super::init_cli_tracing();
    let settings = match super::load_settings("compare") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (a, b) = match (read(&args.a), read(&args.b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("kyc compare: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    // While the worker builds its sessions, a second thread loads ONNX Runtime and, unless
    // both photos are JPEGs (decoded without it), opens OpenCV's image codecs: two `dlopen`s
    // take the loader's lock in turn, and the worker needs ONNX Runtime first. Failures show
    // again, with their reason, where the worker or the first decode meets them.
    let ort_dylib = settings.models.ort_dylib.clone();
    let codecs = [&a, &b]
        .iter()
        .any(|bytes| vision::codecs::colour_needs_library(bytes));
    std::thread::spawn(move || {
        let _ = vision::runtime::init_ort(&ort_dylib);
        if codecs {
            let _ = vision::codecs::preload();
        }
    });
    let rt = match super::runtime("compare") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = rt.block_on(async {
        // One worker: a second one would run the two analyses at once but double the CPU of
        // the model loading, which shares the cores with the codecs (BENCHMARKS.md).
        let mut cfg = engines::face_pool_config(&settings, args.engine.kind(), Some(1), false);
        // Two photos: no video, no liveness models.
        cfg.tracker = None;
        let pool = match FacePool::start(cfg).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("kyc compare: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let result = compare_photos(&pool, a, b, settings.engine.match_threshold).await;
        pool.stop().await;
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kyc compare: {e}");
                return ExitCode::from(if e.is_bad_input() {
                    EXIT_BAD_INPUT
                } else {
                    EXIT_FAILURE
                });
            }
        };
        let timings = Timings {
            load: load_ms,
            compare: report.compare_ms,
            total: t0.elapsed().as_secs_f64() * 1000.0,
        };
        if args.json {
            match serde_json::to_string(&JsonOut {
                report: &report,
                timings_ms: timings,
            }) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("kyc compare: cannot encode the result: {e}");
                    return ExitCode::from(EXIT_FAILURE);
                }
            }
        } else {
            print_human(&args, &report, &timings);
        }
        ExitCode::SUCCESS
    });
    // The answer is out and the pool has stopped: do not wait for idle runtime threads.
    rt.shutdown_background();
    code
}

fn side_line(label: &str, path: &std::path::Path, s: &SideReport) -> String {
    let mut line = format!(
        "{label} {}: face score {:.2} by {} ({}), {} face(s); decode {:.1} ms, detect {:.1} ms, align {:.1} ms, embed {:.1} ms",
        path.display(),
        s.detection_score,
        s.detector,
        s.engine,
        s.faces_found,
        s.timings_ms.decode_ms,
        s.timings_ms.detect_ms,
        s.timings_ms.align_ms,
        s.timings_ms.embed_ms,
    );
    if s.enhanced {
        line.push_str("; contrast-enhanced");
    }
    if let Some(r) = &s.fallback_reason {
        line.push_str(&format!("\n   fallback: {r}"));
    }
    for n in &s.notes {
        line.push_str(&format!("\n   note: {n}"));
    }
    line
}

fn print_human(args: &CompareArgs, r: &CompareReport, t: &Timings) {
    println!(
        "{}  similarity {:.3} {} threshold {:.3}",
        if r.is_match {
            "SAME PERSON"
        } else {
            "DIFFERENT PEOPLE"
        },
        r.similarity,
        if r.is_match { "≥" } else { "<" },
        r.threshold
    );
    println!("engine: {} (recognizer {})", r.engine, r.model);
    println!("{}", side_line("A", &args.a, &r.a));
    println!("{}", side_line("B", &args.b, &r.b));
    println!(
        "time: load {:.0} ms, compare {:.0} ms, total {:.0} ms",
        t.load, t.compare, t.total
    );
}
