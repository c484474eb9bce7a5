//! `loadtest flow` arguments and the validated [`FlowConfig`] the scenario runs from.
//!
//! As for the other scenarios, a config only exists for a loopback `http://` target
//! ([`check_loopback`]) and every count and duration is bounded, so a run always ends by itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use reqwest::Url;

use crate::config::{ConfigError, check_loopback, http_url, in_range, loopback_client};

/// `loadtest flow` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadtest flow",
    bin_name = "loadtest flow",
    about = "Runs whole KYC verifications (ID card, selfie video, comparison) against a kyc \
             server on this machine",
    long_about = "Runs whole KYC verifications against a kyc server on this machine and reports \
                  verifications per minute, decisions, failures by kind and each stage's \
                  latency.\n\n\
                  Each of --users virtual users repeats one verification: POST /api/v1/sessions, \
                  WS /ws/kyc/{id}?since=0, POST /api/v1/id-capture (--card) and wait for \
                  id_accepted, POST /api/v1/face-video (--video) and wait for video_accepted, \
                  POST /api/v1/face-similarity and wait for decided. No verification starts \
                  after --duration-secs or once --verifications have started; --rate paces the \
                  starts over all users. 503 and 429 answers are retried after their \
                  Retry-After. The run stops by itself after --max-secs at the latest. Only \
                  loopback targets are accepted.\n\n\
                  --card must pass the server's ID capture and --video show the card holder's \
                  face; start the server with liveness off unless the video performs the drawn \
                  challenge, e.g.\n  \
                  KEY=$(kyc tenants create load --json | jq -r .apiKey)\n  \
                  KYC__LIVENESS__MODE=off kyc serve --port 18090 &\n  \
                  loadtest flow --url http://127.0.0.1:18090 --api-key $KEY --card card.png \
                  --video selfie.mp4 --users 4 --duration-secs 300 --wait-secs 120 \
                  --server-pid $!\n\n\
                  Exit status: 0 when every verification reached a decision, 1 otherwise, \
                  2 on bad arguments, unreadable files or a server that is not ready."
)]
pub struct FlowCli {
    /// Server to load, e.g. http://127.0.0.1:8080 (loopback hosts only, plain http).
    #[arg(long)]
    pub url: String,

    /// The tenant API key sessions are created with (`kyc tenants create NAME`).
    #[arg(long)]
    pub api_key: String,

    /// PNG of an ID card, uploaded as every verification's ID photo.
    #[arg(long)]
    pub card: PathBuf,

    /// Selfie video (e.g. MP4), uploaded as every verification's face video.
    #[arg(long)]
    pub video: PathBuf,

    /// Virtual users, each running one verification after another.
    #[arg(long, default_value_t = 4)]
    pub users: u64,

    /// Seconds during which verifications are started; those running then are finished.
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,

    /// Stop starting verifications once this many have started (default: no limit).
    #[arg(long)]
    pub verifications: Option<u64>,

    /// Start at most this many verifications per minute, over all users (default: as fast as
    /// the users go).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Hard limit on the whole run, in seconds; verifications still running then are
    /// abandoned (counted as `unfinished`). Must be above --duration-secs.
    #[arg(long, default_value_t = 3600)]
    pub max_secs: u64,

    /// Limit on each step, in seconds: every request (with its retries) and every wait for an
    /// event on the socket.
    #[arg(long, default_value_t = 120)]
    pub step_timeout_secs: u64,

    /// Before anything else, wait up to this many seconds for GET /readyz to answer 200 (for a
    /// server started a moment ago); 0: do not wait. Not part of --max-secs.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub wait_secs: u64,

    /// PID of the kyc server process (on this machine): its VmRSS and open file descriptors
    /// are sampled every --sample-secs.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Seconds between two samples of the server's memory (with --server-pid).
    #[arg(long, default_value_t = 60)]
    pub sample_secs: u64,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Largest `--users` accepted.
pub const MAX_USERS: u64 = 10_000;
/// Largest `--rate` accepted (verifications per minute).
pub const MAX_RATE: f64 = 1_000_000.0;

/// Why a `flow` command line cannot become a [`FlowConfig`].
#[derive(Debug, thiserror::Error)]
pub enum FlowConfigError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--duration-secs ({duration}) must be shorter than --max-secs ({max})")]
    DurationTooLong { duration: u64, max: u64 },
    #[error("--rate must be a number of verifications per minute above 0 and at most {max}")]
    BadRate { max: f64 },
}

/// A validated `flow` run.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    base: Url,
    api_key: String,
    card: PathBuf,
    video: PathBuf,
    users: u64,
    duration: Duration,
    verifications: Option<u64>,
    rate: Option<f64>,
    max_duration: Duration,
    step_timeout: Duration,
    wait: Duration,
    server_pid: Option<u32>,
    sample_every: Duration,
    client: reqwest::Client,
}

impl FlowCli {
    /// Checks every argument and builds the [`FlowConfig`]; nothing is sent or read here.
    pub fn into_config(self) -> Result<FlowConfig, FlowConfigError> {
        let url = http_url(&self.url)?;
        check_loopback(&url)?;
        // Only scheme, host and port are kept: the API paths are absolute.
        let base = url.join("/").map_err(|source| ConfigError::BadUrl {
            url: self.url.clone(),
            source,
        })?;
        in_range("users", self.users, MAX_USERS)?;
        in_range("duration-secs", self.duration_secs, 7 * 24 * 3600)?;
        in_range("verifications", self.verifications.unwrap_or(1), u64::MAX)?;
        in_range("max-secs", self.max_secs, 7 * 24 * 3600)?;
        in_range("step-timeout-secs", self.step_timeout_secs, 3600)?;
        in_range("sample-secs", self.sample_secs, 24 * 3600)?;
        in_range("server-pid", self.server_pid.map_or(1, u64::from), u64::MAX)?;
        if let Some(rate) = self.rate
            && !(rate > 0.0 && rate <= MAX_RATE)
        {
            return Err(FlowConfigError::BadRate { max: MAX_RATE });
        }
        if self.duration_secs >= self.max_secs {
            return Err(FlowConfigError::DurationTooLong {
                duration: self.duration_secs,
                max: self.max_secs,
            });
        }
        let step_timeout = Duration::from_secs(self.step_timeout_secs);
        let pool = usize::try_from(self.users).unwrap_or(usize::MAX);
        Ok(FlowConfig {
            client: loopback_client(&base, step_timeout, pool)?,
            base,
            api_key: self.api_key,
            card: self.card,
            video: self.video,
            users: self.users,
            duration: Duration::from_secs(self.duration_secs),
            verifications: self.verifications,
            rate: self.rate,
            max_duration: Duration::from_secs(self.max_secs),
            step_timeout,
            wait: Duration::from_secs(self.wait_secs),
            server_pid: self.server_pid,
            sample_every: Duration::from_secs(self.sample_secs),
        })
    }
}

impl FlowConfig {
    /// The tenant API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The server's root URL (`http://host:port/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The ID card PNG's path.
    pub fn card(&self) -> &PathBuf {
        &self.card
    }

    /// The selfie video's path.
    pub fn video(&self) -> &PathBuf {
        &self.video
    }

    /// Virtual users.
    pub fn users(&self) -> u64 {
        self.users
    }

    /// How long verifications are started for.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How many verifications are started at most.
    pub fn verifications(&self) -> Option<u64> {
        self.verifications
    }

    /// Verifications started per minute at most, over all users.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// The whole run's limit.
    pub fn max_duration(&self) -> Duration {
        self.max_duration
    }

    /// Each request's (with retries) and each event wait's limit.
    pub fn step_timeout(&self) -> Duration {
        self.step_timeout
    }

    /// How long to wait for the server to be ready before starting (zero: not at all).
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The server process whose memory is sampled.
    pub fn server_pid(&self) -> Option<u32> {
        self.server_pid
    }

    /// Time between two memory samples.
    pub fn sample_every(&self) -> Duration {
        self.sample_every
    }

    /// `path` (absolute, e.g. `/readyz`) on the server.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    /// A POST of `path` on the server, with the client that only reaches this machine.
    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path))
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The config of `loadtest flow --url http://127.0.0.1:18090 --api-key k --card c.png
    /// --video v.mp4` and `extra`, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests(extra: &[&str]) -> Result<Self, FlowConfigError> {
        let args = [
            "loadtest flow",
            "--url",
            "http://127.0.0.1:18090",
            "--api-key",
            "k",
            "--card",
            "c.png",
            "--video",
            "v.mp4",
        ];
        FlowCli::try_parse_from(args.iter().chain(extra))
            .expect("clap parses")
            .into_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<FlowConfig, FlowConfigError> {
        let argv = ["loadtest flow", "--api-key", "kyc_test"]
            .iter()
            .chain(&["--card", "card.png", "--video", "selfie.mp4"])
            .chain(args);
        FlowCli::try_parse_from(argv)
            .expect("clap parses")
            .into_config()
    }

    #[test]
    fn defaults() {
        let cfg = config(&["--url", "http://127.0.0.1:18091/x?y=1#z"]).unwrap();
        assert_eq!(cfg.base().as_str(), "http://127.0.0.1:18091/");
        assert_eq!(
            cfg.url("/api/v1/face-video").as_str(),
            "http://127.0.0.1:18091/api/v1/face-video"
        );
        assert_eq!(cfg.users(), 4);
        assert_eq!(cfg.duration(), Duration::from_secs(60));
        assert_eq!(cfg.verifications(), None);
        assert_eq!(cfg.rate(), None);
        assert_eq!(cfg.max_duration(), Duration::from_secs(3600));
        assert_eq!(cfg.step_timeout(), Duration::from_secs(120));
        assert_eq!(cfg.wait(), Duration::ZERO);
        assert_eq!(cfg.server_pid(), None);
        assert_eq!(cfg.sample_every(), Duration::from_secs(60));
        assert_eq!(cfg.card(), &PathBuf::from("card.png"));
        assert_eq!(cfg.video(), &PathBuf::from("selfie.mp4"));
    }

    #[test]
    fn only_loopback_http() {
        use ConfigError::{NotHttp, NotLoopback};
        let err = |url| config(&["--url", url]).unwrap_err();
        assert!(matches!(
            err("http://10.0.0.1:1"),
            FlowConfigError::Config(NotLoopback { .. })
        ));
        assert!(matches!(
            err("https://127.0.0.1/"),
            FlowConfigError::Config(NotHttp(_))
        ));
        assert!(config(&["--url", "http://[::1]:1"]).is_ok());
    }

    #[test]
    fn limits() {
        let url = ["--url", "http://127.0.0.1:1"];
        for (flag, value) in [
            ("--users", "0"),
            ("--users", "10001"),
            ("--duration-secs", "0"),
            ("--verifications", "0"),
            ("--max-secs", "0"),
            ("--step-timeout-secs", "0"),
            ("--step-timeout-secs", "3601"),
            ("--sample-secs", "0"),
            ("--server-pid", "0"),
        ] {
            let err = config(&[url[0], url[1], flag, value]).unwrap_err();
            assert!(
                matches!(err, FlowConfigError::Config(ConfigError::OutOfRange { .. })),
                "{flag} {value}: {err}"
            );
        }
        for rate in ["0", "NaN", "inf", "2000000"] {
            let err = config(&[url[0], url[1], "--rate", rate]).unwrap_err();
            assert!(matches!(err, FlowConfigError::BadRate { .. }), "{rate}");
        }
        let err = config(&[
            url[0],
            url[1],
            "--duration-secs",
            "600",
            "--max-secs",
            "600",
        ]);
        assert!(matches!(
            err.unwrap_err(),
            FlowConfigError::DurationTooLong {
                duration: 600,
                max: 600
            }
        ));
        let cfg = config(&[
            url[0],
            url[1],
            "--users",
            "8",
            "--verifications",
            "100",
            "--rate",
            "30.5",
            "--duration-secs",
            "1200",
            "--server-pid",
            "42",
            "--sample-secs",
            "10",
        ])
        .unwrap();
        assert_eq!(cfg.users(), 8);
        assert_eq!(cfg.verifications(), Some(100));
        assert_eq!(cfg.rate(), Some(30.5));
        assert_eq!(cfg.duration(), Duration::from_secs(1200));
        assert_eq!(cfg.server_pid(), Some(42));
        assert_eq!(cfg.sample_every(), Duration::from_secs(10));
    }
}
