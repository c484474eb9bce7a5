//! `loadtest sessions` arguments and the validated [`SessionsConfig`] the scenario runs from.
//!
//! As for the GET scenario, a config only exists for a loopback `http://` target
//! ([`check_loopback`]), and every count and duration is bounded, so a run always ends by itself.

use std::time::Duration;

use clap::Parser;
use reqwest::Url;

use crate::config::{ConfigError, check_loopback, http_url, in_range, loopback_client};

/// `loadtest sessions` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadtest sessions",
    bin_name = "loadtest sessions",
    about = "Opens many KYC sessions, each with a WebSocket, on a kyc server on this machine",
    long_about = "Opens many KYC sessions, each with a WebSocket, on a kyc server on this machine, \
                  and reports errors, event delivery latency, heartbeat pings and the server's \
                  memory per session.\n\n\
                  Each session: POST /api/v1/sessions, WS /ws/kyc/{id}?since=0, then --events live \
                  frames (POST /api/v1/id-capture, mode=live) spread over the hold, each answered \
                  by one event on the socket. Sessions are opened --open-concurrency at a time; \
                  once all are open, every socket is held open together for --hold-secs, then all \
                  are closed. The run stops by itself after --max-secs at the latest. Only \
                  loopback targets are accepted.\n\n\
                  Make a tenant, then start the server with high per-address and per-tenant \
                  limits and frequent pings, e.g.\n  \
                  KEY=$(kyc tenants create load --json | jq -r .apiKey)\n  \
                  KYC__SESSIONS__RATE_PER_IP_PER_MINUTE=1000000 \
                  KYC__SESSIONS__RATE_PER_TENANT_PER_MINUTE=1000000 \
                  KYC__SESSIONS__MAX_OPEN_PER_TENANT=1000000 \
                  KYC__EDGE__MAX_CONNECTIONS_PER_ADDRESS=1000000 \
                  KYC__EDGE__MAX_WEBSOCKETS_PER_ADDRESS=1000000 KYC__SESSIONS__WS_PING_SECS=2 \
                  KYC__SESSIONS__WS_DEAD_SECS=10 kyc serve --port 18090 &\n  \
                  loadtest sessions --url http://127.0.0.1:18090 --api-key $KEY --sessions 10000 \
                  --wait-secs 120 --server-pid $!\n\
                  Otherwise session creation is refused with 429 (counted as create_status_429).\n\n\
                  Exit status: 0 when every session opened and nothing failed, 1 otherwise, \
                  2 on bad arguments or when the sockets cannot fit in the file descriptor limit."
)]
pub struct SessionsCli {
    /// Server to load, e.g. http://127.0.0.1:8080 (loopback hosts only, plain http).
    #[arg(long)]
    pub url: String,

    /// The tenant API key sessions are created with (`kyc tenants create NAME`).
    #[arg(long)]
    pub api_key: String,

    /// Number of KYC sessions, all open at the same time.
    #[arg(long, default_value_t = 100)]
    pub sessions: u64,

    /// Live frames sent per session (each answered by one event on its socket).
    #[arg(long, default_value_t = 3)]
    pub events: u64,

    /// Sessions being created and connected at once.
    #[arg(long, default_value_t = 200)]
    pub open_concurrency: usize,

    /// Live-frame uploads in flight at once, over all sessions.
    #[arg(long, default_value_t = 200)]
    pub upload_concurrency: usize,

    /// Seconds every socket is held open together once all are open; the live frames are sent
    /// during its first 80 %.
    #[arg(long, default_value_t = 20)]
    pub hold_secs: u64,

    /// Hard limit on the whole run, in seconds; whatever is still going on then is abandoned
    /// (counted as `unfinished`).
    #[arg(long, default_value_t = 600)]
    pub max_secs: u64,

    /// Per-request limit in seconds (session creation, WebSocket handshake, frame upload, close);
    /// also how long after the hold the last events may take to arrive.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,

    /// Before anything else, wait up to this many seconds for GET /readyz to answer 200 (for a
    /// server started a moment ago); 0: do not wait. Not part of --max-secs.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub wait_secs: u64,

    /// PID of the kyc server process (on this machine): its VmRSS is read from
    /// /proc/PID/status before the sessions and with all of them open.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Largest `--sessions` accepted.
pub const MAX_SESSIONS: u64 = 100_000;
/// Largest `--events` accepted (the server allows 120 requests per session per minute).
pub const MAX_EVENTS: u64 = 100;

/// A validated `sessions` run.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    base: Url,
    sessions: u64,
    events: u64,
    open_concurrency: usize,
    upload_concurrency: usize,
    hold: Duration,
    max_duration: Duration,
    timeout: Duration,
    wait: Duration,
    server_pid: Option<u32>,
    api_key: String,
    client: reqwest::Client,
}

impl SessionsCli {
    /// Checks every argument and builds the [`SessionsConfig`]; nothing is sent here.
    pub fn into_config(self) -> Result<SessionsConfig, ConfigError> {
        let mut base = http_url(&self.url)?;
        check_loopback(&base)?;
        // Only scheme, host and port are used: the API paths are absolute.
        base.set_path("/");
        base.set_query(None);
        base.set_fragment(None);
        in_range("sessions", self.sessions, MAX_SESSIONS)?;
        in_range("events", self.events, MAX_EVENTS)?;
        in_range("open-concurrency", self.open_concurrency as u64, 10_000)?;
        in_range("upload-concurrency", self.upload_concurrency as u64, 10_000)?;
        in_range("hold-secs", self.hold_secs, 24 * 3600)?;
        in_range("max-secs", self.max_secs, 7 * 24 * 3600)?;
        in_range("timeout-secs", self.timeout_secs, 3600)?;
        in_range("server-pid", self.server_pid.map_or(1, u64::from), u64::MAX)?;
        if self.hold_secs >= self.max_secs {
            return Err(ConfigError::HoldTooLong {
                hold: self.hold_secs,
                max: self.max_secs,
            });
        }
        let timeout = Duration::from_secs(self.timeout_secs);
        let pool = self.open_concurrency.max(self.upload_concurrency);
        Ok(SessionsConfig {
            client: loopback_client(&base, timeout, pool)?,
            base,
            sessions: self.sessions,
            events: self.events,
            open_concurrency: self.open_concurrency,
            upload_concurrency: self.upload_concurrency,
            hold: Duration::from_secs(self.hold_secs),
            max_duration: Duration::from_secs(self.max_secs),
            timeout,
            wait: Duration::from_secs(self.wait_secs),
            server_pid: self.server_pid,
            api_key: self.api_key,
        })
    }
}

impl SessionsConfig {
    /// The tenant API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The server's root URL (`http://host:port/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sessions opened and held together.
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    /// Live frames (so events) per session.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Sessions being opened at once.
    pub fn open_concurrency(&self) -> usize {
        self.open_concurrency
    }

    /// Frame uploads in flight at once.
    pub fn upload_concurrency(&self) -> usize {
        self.upload_concurrency
    }

    /// How long all sockets are held open together.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// The whole run's limit.
    pub fn max_duration(&self) -> Duration {
        self.max_duration
    }

    /// Per-request limit, and the grace for late events after the hold.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long to wait for the server to be ready before starting (zero: not at all).
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The server process whose memory is reported.
    pub fn server_pid(&self) -> Option<u32> {
        self.server_pid
    }

    /// File descriptors this run needs at most: one socket per session, the HTTP connections
    /// in flight, and a margin for the runtime and standard streams.
    pub fn descriptors_needed(&self) -> u64 {
        self.sessions + self.open_concurrency as u64 + self.upload_concurrency as u64 + 64
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `path` (absolute, e.g. `/api/v1/sessions`) on the server.
    pub(crate) fn endpoint(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<SessionsConfig, ConfigError> {
        let argv = ["loadtest sessions", "--api-key", "kyc_test"]
            .into_iter()
            .chain(args.iter().copied());
        SessionsCli::try_parse_from(argv)
            .expect("clap parses")
            .into_config()
    }

    #[test]
    fn defaults() {
        let cfg = config(&["--url", "http://127.0.0.1:18090/some/path?x=1"]).unwrap();
        assert_eq!(cfg.base().as_str(), "http://127.0.0.1:18090/");
        assert_eq!(
            cfg.endpoint("/api/v1/sessions").as_str(),
            "http://127.0.0.1:18090/api/v1/sessions"
        );
        assert_eq!(cfg.sessions(), 100);
        assert_eq!(cfg.events(), 3);
        assert_eq!(cfg.open_concurrency(), 200);
        assert_eq!(cfg.upload_concurrency(), 200);
        assert_eq!(cfg.hold(), Duration::from_secs(20));
        assert_eq!(cfg.max_duration(), Duration::from_secs(600));
        assert_eq!(cfg.timeout(), Duration::from_secs(30));
        assert_eq!(cfg.server_pid(), None);
        assert_eq!(cfg.wait(), Duration::ZERO);
        assert_eq!(cfg.descriptors_needed(), 100 + 200 + 200 + 64);
    }

    #[test]
    fn only_loopback_http() {
        for url in [
            "http://10.0.0.1:1",
            "http://example.com",
            "http://[::ffff:127.0.0.1]/",
        ] {
            let err = config(&["--url", url]).unwrap_err();
            assert!(
                matches!(err, ConfigError::NotLoopback { .. }),
                "{url}: {err}"
            );
        }
        for url in ["https://127.0.0.1/", "ws://127.0.0.1/"] {
            let err = config(&["--url", url]).unwrap_err();
            assert!(matches!(err, ConfigError::NotHttp(_)), "{url}: {err}");
        }
        assert!(config(&["--url", "http://localhost:1"]).is_ok());
        assert!(config(&["--url", "http://[::1]:1"]).is_ok());
    }

    #[test]
    fn limits() {
        let url = ["--url", "http://127.0.0.1:1"];
        for (flag, value) in [
            ("--sessions", "0"),
            ("--sessions", "100001"),
            ("--events", "0"),
            ("--events", "101"),
            ("--open-concurrency", "0"),
            ("--upload-concurrency", "0"),
            ("--hold-secs", "0"),
            ("--max-secs", "0"),
            ("--timeout-secs", "0"),
            ("--server-pid", "0"),
        ] {
            let err = config(&[url[0], url[1], flag, value]).unwrap_err();
            assert!(
                matches!(err, ConfigError::OutOfRange { .. }),
                "{flag} {value}: {err}"
            );
        }
        let err = config(&[url[0], url[1], "--hold-secs", "60", "--max-secs", "60"]).unwrap_err();
        assert!(matches!(err, ConfigError::HoldTooLong { .. }), "{err}");
        let err = SessionsCli::try_parse_from([
            "s",
            url[0],
            url[1],
            "--api-key",
            "k",
            "--wait-secs",
            "3601",
        ]);
        assert_eq!(err.unwrap_err().exit_code(), 2);
        let cfg = config(&[
            url[0],
            url[1],
            "--sessions",
            "10000",
            "--events",
            "1",
            "--hold-secs",
            "5",
            "--server-pid",
            "42",
            "--wait-secs",
            "60",
        ])
        .unwrap();
        assert_eq!(cfg.wait(), Duration::from_secs(60));
        assert_eq!(cfg.sessions(), 10_000);
        assert_eq!(cfg.server_pid(), Some(42));
        assert_eq!(cfg.descriptors_needed(), 10_000 + 464);
    }
}
