//! `kyc bench verify --id IMG VIDEO`: end-to-end verification time (open → decision) with the
//! split per stage, the engines loaded and warmed up once as in the server.

use super::bench::percentile;
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::engines;
use crate::verify::{VerifyOptions, verify};
use actors::FacePool;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct VerifyBenchArgs {
    /// Reference photo (ID card photo or portrait).
    #[arg(long)]
    pub id: PathBuf,
    /// Selfie video.
    pub video: PathBuf,
    /// Timed runs (after one untimed warm-up run).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Face workers (default: engine.workers, i.e. the number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub live: super::verify::LivenessArgs,
}

pub fn run(args: VerifyBenchArgs) -> ExitCode {
    let settings = match super::load_settings("bench") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let id: Arc<[u8]> = match std::fs::read(&args.id) {
        Ok(b) => Arc::from(b),
        Err(e) => {
            eprintln!("kyc bench: cannot read {}: {e}", args.id.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let (mode, asked) = match args.live.resolve(&settings) {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("kyc bench: {msg}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let mut opts = VerifyOptions::from_settings(&settings);
    opts.liveness.policy.mode = mode;
    let rt = match super::runtime("bench") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let mut cfg = engines::face_pool_config(&settings, None, args.workers, true);
        cfg.tracker = engines::tracker_config(&settings, mode);
        let pool = match FacePool::start(cfg).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("kyc bench: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let workers = pool.status().workers_loaded;
        let mut cols: [Vec<f64>; 6] = Default::default();
        let mut last = None;
        for run in 0..=args.runs.max(1) {
            let video = args.video.clone();
            let r = match verify(&pool, id.clone(), video, &opts, asked.as_deref(), &|_| {}).await
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("kyc bench: {e}");
                    pool.stop().await;
                    return ExitCode::from(if e.is_bad_input() {
                        EXIT_BAD_INPUT
                    } else {
                        EXIT_FAILURE
                    });
                }
            };
            if run > 0 {
                let t = &r.timings_ms;
                for (c, v) in cols
                    .iter_mut()
                    .zip([t.total, t.probe, t.decode, t.detect, t.embed, t.compare])
                {
                    c.push(v);
                }
            }
            last = Some(r);
        }
        pool.stop().await;
        if let Some(r) = last {
            println!(
                "{}: {} frames, {}×{}; decision {} (score {:.3}), {} of {} frames used; {workers} face workers",
                args.video.display(),
                r.frame_count,
                r.video.width,
                r.video.height,
                r.verdict.decision,
                r.verdict.score.unwrap_or(f32::NAN),
                r.verdict.frames_kept,
                r.verdict.frames_sampled,
            );
            if let Some(live) = r.verdict.liveness.as_ref().filter(|l| l.mode != vision::liveness::verdict::Mode::Off) {
                println!(
                    "liveness {:?}: {:?}, {} of {} dense frames tracked",
                    live.mode, live.finding, live.frames_tracked, live.frames
                );
            }
        }
        let [total, probe, decode, detect, embed, compare] = &mut cols;
        println!(
            "end to end (open → decision) median {:.0} ms, p90 {:.0} ms over {} runs; medians: probe {:.0}, decode {:.0}, detect {:.0}, embed {:.0}, compare {:.1} ms (detect/embed summed over 13 faces; decode overlaps them)",
            percentile(&mut total.clone(), 0.5),
            percentile(total, 0.9),
            args.runs.max(1),
            percentile(probe, 0.5),
            percentile(decode, 0.5),
            percentile(detect, 0.5),
            percentile(embed, 0.5),
            percentile(compare, 0.5),
        );
        ExitCode::SUCCESS
    })
}
