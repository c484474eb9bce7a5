//! `kyc migrate`: applies the MariaDB schema (`migrations/`, compiled in) to `database.url`
//! and says which migrations it applied, so an operator can prepare the database before the
//! first `kyc serve`.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::records::{MIGRATOR, MariaDb};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only list the migrations this binary carries.
    #[arg(long)]
    pub list: bool,
}

pub fn run(args: MigrateArgs) -> ExitCode {
    super::init_cli_tracing();
    if args.list {
        for m in MIGRATOR.iter() {
            println!("{} {}", m.version, m.description);
        }
        return ExitCode::SUCCESS;
    }
    let settings = match super::load_settings("migrate") {
        Ok(s) => s,
        Err(code) => return code,
    };
    if settings.database.url.is_none() {
        eprintln!(
            "kyc migrate: `database.url` is not set (KYC__DATABASE__URL=mysql://user:password@host:3306/db); \
             without it records go to the embedded store, which needs no migrations"
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let rt = match super::runtime("migrate") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(MariaDb::connect(&settings.database)) {
        Ok((_, report)) => {
            if report.applied.is_empty() {
                println!(
                    "kyc migrate: the schema is up to date ({} migrations applied before)",
                    report.already
                );
            } else {
                for (version, description) in &report.applied {
                    println!("applied {version} {description}");
                }
                println!(
                    "kyc migrate: applied {} migrations ({} before)",
                    report.applied.len(),
                    report.already
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kyc migrate: {e}");
            ExitCode::from(if matches!(e, crate::records::RecordsError::Url(_)) {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILURE
            })
        }
    }
}
