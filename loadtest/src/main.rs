//! `loadtest` binary: parse, validate, run, print; exit 0 (all ok), 1 (something failed),
//! 2 (bad arguments, or the run cannot start). `loadtest sessions …` runs the KYC sessions
//! scenario; any other command line is the GET scenario.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use loadtest::sessions::{SessionsCli, run_sessions};
use loadtest::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "sessions") {
        let argv =
            std::iter::once(OsString::from("loadtest sessions")).chain(args.into_iter().skip(2));
        return sessions(argv).await;
    }

    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // Usage errors exit 2; --help and --version exit 0.
        Err(e) => e.exit(),
    };
    let json = cli.json;
    let cfg = match cli.into_config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(2);
        }
    };

    let report = run(&cfg).await;
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn sessions(argv: impl Iterator<Item = OsString>) -> ExitCode {
    let cli = match SessionsCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let json = cli.json;
    let cfg = match cli.into_config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("loadtest sessions: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match run_sessions(&cfg).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("loadtest sessions: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
