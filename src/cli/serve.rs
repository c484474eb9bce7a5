//! `kyc serve`: loads the settings, starts the engine pools and the HTTP server, and runs until
//! SIGTERM or ctrl-c, then shuts down gracefully.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::app::Application;
use crate::http;
use crate::settings::{LogFormat, LogSettings, Settings};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0 = any free port); overrides `server.port`.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Address to bind; overrides `server.host`.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Data folder (journal, media); overrides `server.data_dir`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What this process runs: `all` (one node), `api` (sessions and API; engine work through
    /// Redis) or `engine` (engine pools taking work from Redis); overrides `cluster.role`.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<crate::settings::Role>,
}

impl ServeArgs {
    /// Applies the command-line overrides to `settings`.
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(port) = self.port {
            settings.server.port = port;
        }
        if let Some(host) = &self.host {
            settings.server.host.clone_from(host);
        }
        if let Some(dir) = &self.data_dir {
            settings.server.data_dir.clone_from(dir);
        }
        if let Some(role) = self.role {
            settings.cluster.role = role;
        }
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    // Everything the server creates (journal, outbox, media, logs it writes) is for its own
    // user only: folders 0700, files 0600.
    // SAFETY: umask only changes this process's file-creation mask; called before any thread.
    unsafe {
        libc::umask(0o077);
    }
    let mut settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kyc serve: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    args.apply(&mut settings);
    if let Err(e) = settings.validate() {
        eprintln!("kyc serve: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Err(e) = init_tracing(&settings.log) {
        eprintln!("kyc serve: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    // Every WebSocket is a file descriptor: take what the hard limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(open_files = n, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kyc-http")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(serve(settings));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let error = format!("{e:#}");
            tracing::error!(%error, "kyc serve failed");
            eprintln!("kyc serve: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Install the signal handlers first: a SIGTERM during start-up then stops us cleanly.
    let shutdown = http::shutdown::signal();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        environment = %settings.environment,
        config_dir = %settings
            .config_dir
            .as_deref()
            .map_or_else(|| "(built-in)".into(), |p| p.display().to_string()),
        data_dir = %settings.server.data_dir.display(),
        home = %settings.home.describe(),
        "starting kyc"
    );
    if settings.cluster.role == crate::settings::Role::Engine {
        return crate::cluster::node::EngineNode::build(settings)
            .await?
            .run_until_stopped(shutdown)
            .await;
    }
    Application::build(settings)
        .await?
        .run_until_stopped(shutdown)
        .await
}

/// Logs to stdout, as `log.format` says, filtered by `RUST_LOG` when set, else `log.level`.
fn init_tracing(log: &LogSettings) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("invalid RUST_LOG {v:?}: {e}"))?
        }
        _ => EnvFilter::try_new(&log.level)
            .map_err(|e| format!("invalid `log.level` {:?}: {e}", log.level))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let result = match log.format {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // Already initialised (e.g. by an embedding test harness): keep that one.
    if let Err(e) = result {
        eprintln!("kyc serve: logging already set up ({e}); keeping it");
    }
    Ok(())
}
