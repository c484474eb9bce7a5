//! `kyc keys generate`: a fresh master key for `security.master_key`, so operators never make
//! one by hand. It prints the key (base64 of 32 random bytes) and nothing else.
//! `kyc keys rotate`: every session's data key re-wrapped from the master key in use to the one
//! in `KYC_NEW_MASTER_KEY`, the media and sealed data untouched; run with the server stopped.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::crypto::MasterKey;
use crate::media::master::DEV_KEY_FILE;
use crate::settings::MASTER_KEY_VAR;
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
    /// Re-wrap every session's data key from the master key in use (security.master_key, or
    /// the development key) to the one in KYC_NEW_MASTER_KEY. Stop the server first; afterwards
    /// start it with KYC__SECURITY__MASTER_KEY set to the new key. Safe to run again.
    Rotate,
}

/// The variable `kyc keys rotate` reads the new master key from.
pub const NEW_KEY_VAR: &str = "KYC_NEW_MASTER_KEY";

pub fn run(args: KeysArgs) -> ExitCode {
    match args.what {
        KeysWhat::Generate => generate(),
        KeysWhat::Rotate => rotate(),
    }
}

fn rotate() -> ExitCode {
    super::init_cli_tracing();
    let fail = |code: u8, message: String| {
        eprintln!("kyc keys rotate: {message}");
        ExitCode::from(code)
    };
    let new = match std::env::var(NEW_KEY_VAR) {
        Ok(text) => match MasterKey::from_base64(&zeroize::Zeroizing::new(text)) {
            Ok(k) => k,
            Err(e) => {
                return fail(
                    EXIT_BAD_INPUT,
                    format!("{NEW_KEY_VAR} is not a master key: {e}"),
                );
            }
        },
        Err(_) => {
            return fail(
                EXIT_BAD_INPUT,
                format!("set {NEW_KEY_VAR} to the new master key (`kyc keys generate` prints one)"),
            );
        }
    };
    let settings = match super::load_settings("keys rotate") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let data = &settings.server.data_dir;
    // The journal's lock: held by a running server, which would keep using the old key.
    let _lock = match sled::Config::new().path(data.join("journal")).open() {
        Ok(db) => db,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format!(
                    "the data folder {} is in use ({e}): stop `kyc serve` first",
                    data.display()
                ),
            );
        }
    };
    let old = match crate::media::master::resolve(&settings) {
        Ok(k) => k,
        Err(e) => return fail(EXIT_BAD_INPUT, format!("the master key in use: {e}")),
    };
    if old.id() == new.id() {
        return fail(
            EXIT_BAD_INPUT,
            format!("{NEW_KEY_VAR} is the master key already in use"),
        );
    }
    let done = match crate::media::rotate(data, &old, &new) {
        Ok(d) => d,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format!(
                    "{e}; the keys re-wrapped so far open with the new key, the others still with the old one: fix the cause and run it again"
                ),
            );
        }
    };
    println!(
        "kyc keys rotate: {} data keys re-wrapped from master key {} to {} ({} already were)",
        done.rewrapped,
        old.id(),
        new.id(),
        done.already
    );
    if settings.security.master_key.is_none() {
        // Development: the key in use is the data folder's own; it becomes the new one.
        let path = data.join(DEV_KEY_FILE);
        let tmp = data.join(format!("{DEV_KEY_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let written = crate::media::private_file(&tmp)
            .map_err(|e| e.to_string())
            .and_then(|mut f| {
                f.write_all(new.to_base64().as_bytes())
                    .and_then(|()| f.write_all(b"\n"))
                    .and_then(|()| f.sync_all())
                    .map_err(|e| e.to_string())
            })
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| e.to_string()));
        if let Err(e) = written {
            return fail(
                EXIT_FAILURE,
                format!("cannot replace {}: {e}", path.display()),
            );
        }
        println!(
            "kyc keys rotate: the development key {} is the new key now",
            path.display()
        );
    } else {
        println!("kyc keys rotate: now start the server with {MASTER_KEY_VAR} set to the new key");
    }
    ExitCode::SUCCESS
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
