//! `loadtest` binary: parse, validate, run, print; exit 0 (all ok), 1 (something failed),
//! 2 (bad arguments, or the run cannot start). `loadtest sessions …` runs the KYC sessions
//! scenario, `loadtest flow …` whole verifications; any other command line is the GET scenario.

use std::ffi::OsString;
use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;
use loadtest::flow::{FlowCli, FlowReport, run_flow};
use loadtest::sessions::{SessionsCli, SessionsReport, run_sessions};
use loadtest::{Cli, Report, run};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let scenario = args.get(1).and_then(|a| a.to_str()).unwrap_or_default();
    if matches!(scenario, "sessions" | "flow") {
        let name = format!("loadtest {scenario}");
        let argv: Vec<OsString> = std::iter::once(OsString::from(&name))
            .chain(args.iter().skip(2).cloned())
            .collect();
        return if scenario == "sessions" {
            sessions(&name, argv).await
        } else {
            flow(&name, argv).await
        };
    }

    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // Usage errors exit 2; --help and --version exit 0.
        Err(e) => e.exit(),
    };
    let json = cli.json;
    let cfg = match cli.into_config() {
        Ok(cfg) => cfg,
        Err(e) => return cannot_start("loadtest", e),
    };
    finish(&run(&cfg).await, json)
}

async fn sessions(name: &str, argv: Vec<OsString>) -> ExitCode {
    let cli = SessionsCli::try_parse_from(argv).unwrap_or_else(|e| e.exit());
    let json = cli.json;
    let cfg = match cli.into_config() {
        Ok(cfg) => cfg,
        Err(e) => return cannot_start(name, e),
    };
    match run_sessions(&cfg).await {
        Ok(report) => finish(&report, json),
        Err(e) => cannot_start(name, e),
    }
}

async fn flow(name: &str, argv: Vec<OsString>) -> ExitCode {
    let cli = FlowCli::try_parse_from(argv).unwrap_or_else(|e| e.exit());
    let json = cli.json;
    let cfg = match cli.into_config() {
        Ok(cfg) => cfg,
        Err(e) => return cannot_start(name, e),
    };
    match run_flow(&cfg).await {
        Ok(report) => finish(&report, json),
        Err(e) => cannot_start(name, e),
    }
}

/// Exit status 2, saying why on stderr.
fn cannot_start(name: &str, why: impl Display) -> ExitCode {
    eprintln!("{name}: {why}");
    ExitCode::from(2)
}

/// A scenario's report, as the binary prints it.
trait Finished: Display {
    fn json(&self) -> String;
    fn ok(&self) -> bool;
}

macro_rules! finished {
    ($($report:ty),*) => {$(
        impl Finished for $report {
            fn json(&self) -> String {
                self.to_json()
            }
            fn ok(&self) -> bool {
                self.all_ok()
            }
        }
    )*};
}

finished!(Report, SessionsReport, FlowReport);

/// Prints `report` (one JSON object with `json`, text otherwise); exit 0 when all went well,
/// 1 otherwise.
fn finish(report: &impl Finished, json: bool) -> ExitCode {
    if json {
        println!("{}", report.json());
    } else {
        println!("{report}");
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
