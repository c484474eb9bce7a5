//! `kyc keys generate`: a fresh master key for `security.master_key`, so operators never make
//! one by hand. It prints the key (base64 of 32 random bytes) and nothing else.

use super::EXIT_FAILURE;
use crate::crypto::MasterKey;
use clap::{Args, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub what: KeysWhat,
}

#[derive(Debug, Subcommand)]
pub enum KeysWhat {
    /// Print a new random master key (base64 of 32 bytes) for KYC__SECURITY__MASTER_KEY.
    Generate,
}

pub fn run(args: KeysArgs) -> ExitCode {
    match args.what {
        KeysWhat::Generate => generate(),
    }
}

fn generate() -> ExitCode {
    let key = match MasterKey::generate() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("kyc keys generate: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut out = std::io::stdout().lock();
    let text = key.to_base64();
    match writeln!(out, "{}", text.as_str()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kyc keys generate: cannot write the key: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
