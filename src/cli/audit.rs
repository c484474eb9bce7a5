//! `kyc audit verify`: walks the audit chain in the records store (MariaDB when
//! `database.url` is set, else the embedded store, which the server holds locked while it
//! runs) from its first entry, checks every link, and names the first one that does not hold.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::records::{AUDIT_SEQ_BASE, Records, Store, Verifier};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every link of the chain; exit 0 when it holds, 1 naming the first broken link.
    Verify,
}

/// Entries read per query.
const PAGE: usize = 1000;

pub fn run(args: AuditArgs) -> ExitCode {
    super::init_cli_tracing();
    let AuditCommand::Verify = args.command;
    let settings = match super::load_settings("audit") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rt = match super::runtime("audit") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // The MariaDB pool is made inside the runtime.
    let opened = {
        let _entered = rt.enter();
        Store::open(&settings)
    };
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            let hint = match settings.database.url {
                None => {
                    " (the embedded store cannot be read while `kyc serve` holds it: stop the server first)"
                }
                Some(_) => "",
            };
            eprintln!("kyc audit verify: cannot open the records store: {e}{hint}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let mut verifier = Verifier::default();
    let mut after = AUDIT_SEQ_BASE;
    loop {
        let page = match rt.block_on(store.audit_after(after, PAGE)) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("kyc audit verify: cannot read the audit entries: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        for entry in &page {
            if let Err(broken) = verifier.check(entry) {
                eprintln!(
                    "kyc audit verify: BROKEN at {broken}; {} links before it hold",
                    verifier.verified()
                );
                return ExitCode::from(EXIT_FAILURE);
            }
            after = entry.seq;
        }
        if page.len() < PAGE {
            break;
        }
    }
    println!(
        "kyc audit verify: the chain holds: {} entries in the {} store, last hash {}",
        verifier.verified(),
        store.name(),
        hex::encode(verifier.last_hash())
    );
    ExitCode::SUCCESS
}
