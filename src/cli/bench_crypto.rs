//! `kyc bench crypto`: what encryption at rest costs an upload — the streaming encryption of a
//! large file (the upload path) and its decryption (the job path), in MiB/s, file to file in a
//! temporary folder, never the whole input in memory.

use super::EXIT_FAILURE;
use crate::crypto::DataKey;
use crate::crypto::stream::{DEFAULT_CHUNK, DecryptingReader, Encryptor, decrypt_to};
use clap::Args;
use serde::Serialize;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct CryptoBenchArgs {
    /// Size of the input in MiB.
    #[arg(long, default_value_t = 200)]
    pub mib: u64,
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Folder for the temporary files (default: the system's temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    input_mib: u64,
    chunk_bytes: usize,
    runs: usize,
    /// Write of the plaintext file alone, for scale (no encryption).
    plain_write_mib_s: f64,
    encrypt_mib_s: f64,
    decrypt_mib_s: f64,
    encrypt_runs_mib_s: Vec<f64>,
    decrypt_runs_mib_s: Vec<f64>,
}

/// The median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Pseudo-random bytes (xorshift), so nothing compresses or repeats.
fn fill(buf: &mut [u8], state: &mut u64) {
    for b in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let w = state.to_le_bytes();
        b.copy_from_slice(&w[..b.len()]);
    }
}

pub fn run(args: CryptoBenchArgs) -> ExitCode {
    match bench(&args) {
        Ok(r) => match serde_json::to_string_pretty(&r) {
            Ok(j) => {
                println!("{j}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kyc bench crypto: {e}");
                ExitCode::from(EXIT_FAILURE)
            }
        },
        Err(e) => {
            eprintln!("kyc bench crypto: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn bench(args: &CryptoBenchArgs) -> anyhow::Result<Report> {
    let dir = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let total = args.mib * 1024 * 1024;
    let mib = args.mib as f64;
    let key = DataKey::generate()?;
    let aad = b"kyc bench crypto";
    let mut block = vec![0u8; 1024 * 1024];
    let (mut enc_runs, mut dec_runs, mut plain_runs) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..args.runs.max(1) {
        // The plaintext written as is, for scale.
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ run as u64;
        let plain_path = dir.path().join("plain");
        let t = Instant::now();
        let mut f = BufWriter::new(std::fs::File::create(&plain_path)?);
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            fill(&mut block[..n], &mut state);
            f.write_all(&block[..n])?;
            left -= n as u64;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        plain_runs.push(mib / t.elapsed().as_secs_f64());

        // The upload path: plaintext arrives in pieces, is sealed and written.
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ run as u64;
        let sealed_path = dir.path().join("sealed");
        let t = Instant::now();
        let mut out = BufWriter::new(std::fs::File::create(&sealed_path)?);
        let mut enc = Encryptor::new(&key, aad, DEFAULT_CHUNK)?;
        let mut sealed = Vec::with_capacity(block.len() + DEFAULT_CHUNK);
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            fill(&mut block[..n], &mut state);
            sealed.clear();
            enc.update(&block[..n], &mut sealed)?;
            out.write_all(&sealed)?;
            left -= n as u64;
        }
        sealed.clear();
        enc.finish(&mut sealed)?;
        out.write_all(&sealed)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        enc_runs.push(mib / t.elapsed().as_secs_f64());

        // The job path: the sealed file decrypted into a file.
        let t = Instant::now();
        let reader = DecryptingReader::new(
            BufReader::with_capacity(256 * 1024, std::fs::File::open(&sealed_path)?),
            &key,
            aad,
        )?;
        let mut out = BufWriter::with_capacity(256 * 1024, std::fs::File::create(&plain_path)?);
        let n = decrypt_to(reader, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        dec_runs.push(mib / t.elapsed().as_secs_f64());
        anyhow::ensure!(n == total, "decrypted {n} bytes of {total}");
        // Check the round trip on the first run.
        if run == 0 {
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            let mut f = BufReader::new(std::fs::File::open(&plain_path)?);
            let mut got = vec![0u8; block.len()];
            let mut left = total;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                fill(&mut block[..n], &mut state);
                f.read_exact(&mut got[..n])?;
                anyhow::ensure!(got[..n] == block[..n], "the round trip changed the data");
                left -= n as u64;
            }
        }
    }
    let round = |v: f64| (v * 10.0).round() / 10.0;
    Ok(Report {
        input_mib: args.mib,
        chunk_bytes: DEFAULT_CHUNK,
        runs: args.runs.max(1),
        plain_write_mib_s: round(median(&mut plain_runs)),
        encrypt_mib_s: round(median(&mut enc_runs.clone())),
        decrypt_mib_s: round(median(&mut dec_runs.clone())),
        encrypt_runs_mib_s: enc_runs.into_iter().map(round).collect(),
        decrypt_runs_mib_s: dec_runs.into_iter().map(round).collect(),
    })
}
