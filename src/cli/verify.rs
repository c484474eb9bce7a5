//! `kyc verify --id IMG --video VIDEO`: is the person in the selfie video the person on the ID
//! photo? Runs the server's verification code path (probe, frame-accurate sampling, faces on
//! the face pool, per-frame quality, the ID × frame table, the decision) and prints the decision,
//! its reasons, the table and the time per stage. Exit 0 when it decided (whatever the
//! decision), 2 when the input is unusable (bad files, too few usable frames), 1 on a failure of
//! the system.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, EngineChoice};
use crate::engines;
use crate::verify::{Progress, VerifyOptions, VerifyReport, verify};
use actors::FacePool;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use vision::decision::Outcome;
use vision::liveness::actions::Action;
use vision::liveness::challenge::Challenge;
use vision::liveness::verdict::{Finding, Mode};

/// The challenge given on the command line.
#[derive(Debug, Clone)]
pub struct ChallengeArg(pub Vec<Action>);

fn parse_challenge(s: &str) -> Result<ChallengeArg, String> {
    Challenge::parse_actions(s).map(ChallengeArg)
}

pub(super) fn parse_mode(s: &str) -> Result<Mode, String> {
    Mode::parse(s).ok_or_else(|| format!("{s:?} is not off, passive or challenge"))
}

/// `--liveness` and `--challenge`, shared by `kyc verify` and `kyc bench verify`.
#[derive(Debug, Args)]
pub struct LivenessArgs {
    /// Liveness: off, passive or challenge (default: liveness.mode).
    #[arg(long, value_parser = parse_mode)]
    pub liveness: Option<Mode>,
    /// The actions the person performs in the video, in order (challenge mode): e.g.
    /// `left,blink`; each of left, right, up, blink.
    #[arg(long, value_parser = parse_challenge)]
    pub challenge: Option<ChallengeArg>,
}

impl LivenessArgs {
    /// The mode and the challenge; an error when challenge mode has no challenge to hold the
    /// video against.
    pub fn resolve(
        &self,
        settings: &crate::settings::Settings,
    ) -> Result<(Mode, Option<Vec<Action>>), String> {
        let mode = self.liveness.unwrap_or(settings.liveness.mode);
        let asked = self.challenge.as_ref().map(|c| c.0.clone());
        if mode == Mode::Challenge && asked.is_none() {
            return Err(
                "liveness is in challenge mode: give the actions the person performs \
                 with --challenge (e.g. left,blink), or choose --liveness passive or off"
                    .into(),
            );
        }
        Ok((mode, asked))
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Photo with the reference face: the ID card's photo or a plain portrait (JPEG, PNG, BMP
    /// or WebP).
    #[arg(long)]
    pub id: PathBuf,
    /// Selfie video (MP4, MOV, WebM/Matroska).
    #[arg(long)]
    pub video: PathBuf,
    /// Frames to sample (default: `video.samples`).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Face engine.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    #[command(flatten)]
    pub live: LivenessArgs,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The three progress bars (decode, faces, compare), drawn on stderr when it is a terminal.
struct Bars {
    decode: ProgressBar,
    faces: ProgressBar,
    compare: ProgressBar,
}

impl Bars {
    fn new(visible: bool, frames: usize) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = |name: &str, len: u64| {
            let b = multi.add(ProgressBar::new(len));
            b.set_style(style.clone());
            b.set_prefix(name.to_string());
            b
        };
        Self {
            decode: bar("decode", frames as u64),
            faces: bar("faces", frames as u64),
            compare: bar("compare", 1),
        }
    }

    fn update(&self, p: Progress) {
        match p {
            Progress::Probed { frames } => {
                self.decode.set_length(frames as u64);
                self.faces.set_length(frames as u64);
            }
            Progress::Decoded { done, total } => {
                self.decode.set_length(total as u64);
                self.decode.set_position(done as u64);
            }
            Progress::Analysed { done, total } => {
                self.faces.set_length(total as u64);
                self.faces.set_position(done as u64);
            }
            Progress::Compared => {
                self.decode.finish();
                self.faces.finish();
                self.compare.finish();
            }
        }
    }

    fn clear(&self) {
        for b in [&self.decode, &self.faces, &self.compare] {
            b.finish_and_clear();
        }
    }
}

fn fail(json: bool, code: &str, message: &str, exit: u8) -> ExitCode {
    eprintln!("kyc verify: {message}");
    if json {
        println!(
            "{}",
            serde_json::json!({
                "decision": null,
                "error": { "code": code, "message": message },
            })
        );
    }
    ExitCode::from(exit)
}

pub fn run(args: VerifyArgs) -> ExitCode {
    let t0 = Instant::now();
    super::init_cli_tracing();
    let settings = match super::load_settings("verify") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let id: Arc<[u8]> = match std::fs::read(&args.id) {
        Ok(b) => Arc::from(b),
        Err(e) => {
            let msg = format!("cannot read {}: {e}", args.id.display());
            return fail(args.json, "UNREADABLE_FILE", &msg, EXIT_BAD_INPUT);
        }
    };
    let (mode, asked) = match args.live.resolve(&settings) {
        Ok(r) => r,
        Err(msg) => return fail(args.json, "VALIDATION_FAILED", &msg, EXIT_BAD_INPUT),
    };
    let mut opts = VerifyOptions::from_settings(&settings);
    opts.liveness.policy.mode = mode;
    if let Some(n) = args.samples {
        opts.samples = n.max(1);
    }
    let rt = match super::runtime("verify") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let bars = Bars::new(
        !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        opts.samples,
    );
    rt.block_on(async {
        // Two workers: the ID photo and the first frames are analysed in parallel.
        let mut cfg = engines::face_pool_config(&settings, args.engine.kind(), Some(2), false);
        cfg.tracker = engines::tracker_config(&settings, mode);
        let pool = match FacePool::start(cfg).await {
            Ok(p) => p,
            Err(e) => return fail(args.json, "ENGINE_ERROR", &e.to_string(), EXIT_FAILURE),
        };
        let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let video = args.video.clone();
        let result = verify(&pool, id, video, &opts, asked.as_deref(), &|p| {
            bars.update(p)
        })
        .await;
        pool.stop().await;
        bars.clear();
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                let exit = if e.is_bad_input() {
                    EXIT_BAD_INPUT
                } else {
                    EXIT_FAILURE
                };
                return fail(args.json, e.code(), &e.to_string(), exit);
            }
        };
        if args.json {
            let mut value = match serde_json::to_value(&report) {
                Ok(v) => v,
                Err(e) => {
                    let msg = format!("cannot encode the result: {e}");
                    return fail(true, "INTERNAL", &msg, EXIT_FAILURE);
                }
            };
            value["timingsMs"]["load"] = serde_json::json!(load_ms);
            println!("{value}");
        } else {
            print_human(&args, &report, load_ms);
        }
        if report.verdict.decision == Outcome::Failed {
            ExitCode::from(EXIT_BAD_INPUT)
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn opt(v: Option<f32>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

fn print_human(args: &VerifyArgs, report: &VerifyReport, load_ms: f64) {
    let r = &report.verdict;
    println!(
        "{}  score {} (threshold {:.3}), {} of {} frames used",
        r.decision.to_string().to_uppercase(),
        opt(r.score),
        r.threshold,
        r.frames_kept,
        r.frames_sampled
    );
    for reason in &r.reasons {
        println!("  - {reason}");
    }
    if let Some(live) = r.liveness.as_ref().filter(|l| l.mode != Mode::Off) {
        let finding = |f: Finding| match f {
            Finding::Passed => "passed",
            Finding::Failed => "FAILED",
            Finding::Uncertain => "uncertain",
            Finding::Unavailable => "-",
        };
        println!(
            "liveness ({:?}): {}, {} of {} frames tracked",
            live.mode,
            finding(live.finding),
            live.frames_tracked,
            live.frames
        );
        for a in &live.actions {
            match (a.start_ms, a.end_ms) {
                (Some(s), Some(e)) => {
                    println!(
                        "  {:<6} performed at {:.1}–{:.1} s",
                        a.action.short(),
                        s / 1000.0,
                        e / 1000.0
                    )
                }
                _ => println!("  {:<6} not performed", a.action.short()),
            }
        }
        for (name, c) in [
            ("challenge", &live.challenge),
            ("blink", &live.blink),
            ("still", &live.still),
            ("passive", &live.passive),
            ("planar", &live.planar),
        ] {
            println!("  {name:<9} {:<9} {}", finding(c.finding), c.reason);
        }
    }
    println!(
        "ID {}: face by {} ({}), score {:.2}, {} face(s)",
        args.id.display(),
        report.id.detector,
        report.id.engine,
        report.id.detection_score,
        report.id.faces_found
    );
    println!(
        "video {}: {}×{} {:.1} fps, {} frames ({:.1} s), rotation {}°; sampling decoded {} frames, skipped {}, {} seeks",
        args.video.display(),
        report.video.width,
        report.video.height,
        report.video.fps,
        report.frame_count,
        report.video.duration_s,
        report.video.rotation_deg,
        report.sampling.decoded,
        report.sampling.skipped,
        report.sampling.seeks
    );
    println!(
        "{:>6} {:>9} {:>7} {:>10} {:>11} {:>5} {:>6} {:>6} {:>5} {:>5}  issue",
        "frame",
        "time ms",
        "quality",
        "similarity",
        "consistency",
        "used",
        "face",
        "sharp",
        "light",
        "yaw"
    );
    for f in &report.frames {
        println!(
            "{:>6} {:>9.0} {:>7.2} {:>10} {:>11} {:>5} {:>6.0} {:>6.0} {:>5.0} {:>5.0}  {}",
            f.index,
            f.timestamp_ms,
            f.quality,
            opt(f.similarity),
            opt(f.consistency),
            if f.kept { "yes" } else { "no" },
            f.measures.face_px,
            f.measures.sharpness,
            f.measures.brightness,
            f.measures.yaw_deg,
            f.issue.as_deref().unwrap_or("")
        );
    }
    let t = &report.timings_ms;
    println!(
        "time: load {load_ms:.0} ms; probe {:.0}, decode {:.0}, detect {:.0}, embed {:.0}, compare {:.1} ms; verify total {:.0} ms",
        t.probe, t.decode, t.detect, t.embed, t.compare, t.total
    );
}
