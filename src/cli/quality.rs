//! `kyc quality IMG`: runs the ID capture quality gate (the one the server runs on every live
//! camera frame) on one photo and says what passes, what fails and what to do about it.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::engines;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vision::quality::{CheckResult, QualityReport, assess};

#[derive(Debug, Args)]
pub struct QualityArgs {
    /// Camera frame or photo of an ID card (JPEG, PNG, BMP or WebP).
    pub image: PathBuf,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: QualityArgs) -> ExitCode {
    super::init_cli_tracing();
    let settings = match super::load_settings("quality") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let bytes = match std::fs::read(&args.image) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kyc quality: cannot read {}: {e}", args.image.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let image = match vision::decode_image(&bytes, engines::image_limits(&settings)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("kyc quality: {}: {e}", args.image.display());
            return ExitCode::from(if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILURE
            });
        }
    };
    let report = match assess(&image.mat) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyc quality: {e}");
            return ExitCode::from(if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILURE
            });
        }
    };
    if args.json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("kyc quality: cannot encode the result: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        print_human(&args, &report);
    }
    ExitCode::SUCCESS
}

fn line(name: &str, c: &CheckResult) -> String {
    format!(
        "  {name:<13} {:.2}  {}  {} / {}",
        c.score,
        if c.passed { "pass" } else { "FAIL" },
        c.message.en,
        c.message.ko
    )
}

fn print_human(args: &QualityArgs, r: &QualityReport) {
    println!(
        "{}  {}",
        if r.passed {
            "PASSED — the card can be captured"
        } else {
            "NOT PASSED"
        },
        args.image.display()
    );
    match &r.quad {
        Some(q) => println!(
            "card: corners {} ({} of 4 inside the frame), {:.0} % of the frame",
            q.corners
                .iter()
                .map(|p| format!("({:.0}, {:.0})", p[0], p[1]))
                .collect::<Vec<_>>()
                .join(" "),
            r.corners_inside,
            r.metrics.area_fraction * 100.0
        ),
        None => println!("card: not found"),
    }
    let c = &r.checks;
    println!("{}", line("sharpness", &c.sharpness));
    println!("{}", line("lighting", &c.lighting));
    println!("{}", line("angle", &c.angle));
    println!("{}", line("completeness", &c.completeness));
    println!(
        "time: detect {:.1} ms, checks {:.1} ms, total {:.1} ms",
        r.timings.detect_ms, r.timings.measure_ms, r.timings.total_ms
    );
}
