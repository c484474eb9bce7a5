//! `kyc webhooks verify`: checks a notification as a receiver must — the body (stdin) against
//! `X-Kyc-Signature` under the webhook secret, and `X-Kyc-Timestamp` not further from now than
//! the tolerance (a replay). Exit 0 when it holds, 1 when it does not, 2 on bad arguments.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::webhooks::sign::verify;
use clap::{Args, Subcommand};
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Check a received notification: its body on stdin, the headers as options.
    Verify {
        /// The webhook's secret (`whsec_…`, from `PUT /api/v1/webhook`); or KYC_WEBHOOK_SECRET.
        #[arg(long, env = "KYC_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// `X-Kyc-Timestamp` (Unix seconds).
        #[arg(long)]
        timestamp: u64,
        /// `X-Kyc-Signature` (`v1=…`).
        #[arg(long)]
        signature: String,
        /// Largest accepted distance between the timestamp and now, in seconds.
        #[arg(long, default_value_t = 300)]
        tolerance_secs: u64,
    },
}

pub fn run(args: WebhooksArgs) -> ExitCode {
    let WebhooksCommand::Verify {
        secret,
        timestamp,
        signature,
        tolerance_secs,
    } = args.command;
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("kyc webhooks verify: cannot read the body from stdin: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match verify(&secret, timestamp, &body, &signature, now, tolerance_secs) {
        Ok(()) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("invalid: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
