//! `loadtest` binary: parse, validate, run, print; exit 0 (all ok), 1 (a request failed),
//! 2 (bad arguments).

use std::process::ExitCode;

use clap::Parser;
use loadtest::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
