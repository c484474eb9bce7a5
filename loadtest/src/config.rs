//! Command-line arguments and the validated [`Config`] a run is made from.
//!
//! A [`Config`] can only be built through [`Cli::into_config`], which refuses any target whose
//! host is not a loopback address: load tests here must only ever talk to this machine, so a
//! refused URL never reaches the runner and nothing is sent anywhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use reqwest::Url;
use reqwest::redirect;
use url::Host;

/// Path requested when neither `--path` nor the URL names one.
pub const DEFAULT_PATH: &str = "/healthz";

/// `loadtest` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadtest",
    about = "Sends GET requests to a kyc server on this machine and reports latencies",
    long_about = "Sends GET requests to a kyc server on this machine and reports latencies.\n\n\
                  Stops by itself after --requests requests or --max-secs seconds, whichever \
                  comes first. Only loopback targets (127.0.0.0/8, localhost, ::1) are accepted.\n\n\
                  Exit status: 0 when every request got a 2xx answer, 1 when any failed, \
                  2 on bad arguments.\n\n\
                  `loadtest sessions --help` and `loadtest flow --help` describe the other \
                  scenarios: thousands of KYC sessions, each with an open WebSocket; whole \
                  verifications (ID card, selfie video, comparison) by a few virtual users."
)]
pub struct Cli {
    /// Server to load, e.g. http://127.0.0.1:8080 (loopback hosts only, plain http).
    #[arg(long)]
    pub url: String,

    /// Path (and optional query) to GET; replaces the URL's own. Default: the URL's path, or
    /// /healthz when the URL has none.
    #[arg(long)]
    pub path: Option<String>,

    /// Total number of requests to send.
    #[arg(long, default_value_t = 2000)]
    pub requests: u64,

    /// Requests kept in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,

    /// Hard limit on the whole run, in seconds; requests still in flight then are abandoned.
    #[arg(long, default_value_t = 30)]
    pub max_secs: u64,

    /// Per-request limit, in seconds; a slower request counts as a timeout error.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Largest `--concurrency` accepted: beyond this the client runs out of sockets, not the server.
pub const MAX_CONCURRENCY: usize = 100_000;

/// Why a command line cannot become a [`Config`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--url {url:?} is not a valid URL: {source}")]
    BadUrl {
        url: String,
        source: url::ParseError,
    },
    #[error("--path {0:?} must start with a single '/'")]
    BadPath(String),
    #[error("{0}: only plain http:// targets are supported")]
    NotHttp(String),
    #[error(
        "{url}: host {host} is not a loopback address; load tests may only target this machine \
         (127.0.0.0/8, localhost, ::1)"
    )]
    NotLoopback { url: String, host: String },
    #[error("{url}: no host")]
    NoHost { url: String },
    #[error("--{name} must be between 1 and {max}, got {value}")]
    OutOfRange {
        name: &'static str,
        value: u64,
        max: u64,
    },
    #[error("--hold-secs ({hold}) must be shorter than --max-secs ({max})")]
    HoldTooLong { hold: u64, max: u64 },
    #[error("could not build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A validated run: loopback target, limits, and the HTTP client that will send the requests.
#[derive(Debug, Clone)]
pub struct Config {
    target: Url,
    requests: u64,
    concurrency: usize,
    max_duration: Duration,
    request_timeout: Duration,
    client: reqwest::Client,
}

impl Cli {
    /// Checks every argument and builds the [`Config`]; nothing is sent here.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let target = target_url(&self.url, self.path.as_deref())?;
        check_loopback(&target)?;
        in_range("requests", self.requests, u64::MAX)?;
        in_range(
            "concurrency",
            self.concurrency as u64,
            MAX_CONCURRENCY as u64,
        )?;
        in_range("max-secs", self.max_secs, 7 * 24 * 3600)?;
        in_range("timeout-secs", self.timeout_secs, 3600)?;
        let request_timeout = Duration::from_secs(self.timeout_secs);
        let client = loopback_client(&target, request_timeout, self.concurrency)?;

        Ok(Config {
            target,
            requests: self.requests,
            concurrency: self.concurrency,
            max_duration: Duration::from_secs(self.max_secs),
            request_timeout,
            client,
        })
    }
}

/// An HTTP client for `target` (already checked to be loopback) that can only reach this
/// machine: no proxy, no redirects, and `localhost` pinned to 127.0.0.1 / ::1.
pub(crate) fn loopback_client(
    target: &Url,
    timeout: Duration,
    pool: usize,
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        // A proxy or a redirect could carry the request off this machine.
        .no_proxy()
        .redirect(redirect::Policy::none())
        .timeout(timeout)
        // Let pooled connections go before the server's idle close (30 s by default).
        .pool_idle_timeout(std::time::Duration::from_secs(10))
        .pool_max_idle_per_host(pool);
    if let Some(Host::Domain(name)) = target.host() {
        // `localhost` is answered here, never by a resolver that might map it elsewhere.
        let port = target.port_or_known_default().unwrap_or(80);
        builder = builder.resolve_to_addrs(name, &loopback_addrs(port));
    }
    Ok(builder.build()?)
}

/// The addresses a loopback target's name stands for: 127.0.0.1 and ::1 on `port`.
pub(crate) fn loopback_addrs(port: u16) -> [SocketAddr; 2] {
    [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ]
}

impl Config {
    /// The URL every request goes to.
    pub fn target(&self) -> &Url {
        &self.target
    }

    /// How many requests the run sends at most.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// How many requests are in flight at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How long the run lasts at most.
    pub fn max_duration(&self) -> Duration {
        self.max_duration
    }

    /// How long one request may take before it counts as a timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

pub(crate) fn in_range(name: &'static str, value: u64, max: u64) -> Result<(), ConfigError> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { name, value, max })
    }
}

/// Joins `--url` and `--path` into the URL to load.
fn target_url(url: &str, path: Option<&str>) -> Result<Url, ConfigError> {
    let base = http_url(url)?;
    let path = match path {
        Some(p) if !p.starts_with('/') || p.starts_with("//") => {
            return Err(ConfigError::BadPath(p.to_owned()));
        }
        Some(p) => p,
        None if base.path() == "/" && base.query().is_none() => DEFAULT_PATH,
        None => return Ok(base),
    };
    base.join(path).map_err(|source| ConfigError::BadUrl {
        url: format!("{url} + {path}"),
        source,
    })
}

/// Parses `--url`, refusing anything but `http://` (the host is checked separately).
pub(crate) fn http_url(url: &str) -> Result<Url, ConfigError> {
    let parsed = Url::parse(url).map_err(|source| ConfigError::BadUrl {
        url: url.to_owned(),
        source,
    })?;
    if parsed.scheme() == "http" {
        Ok(parsed)
    } else {
        Err(ConfigError::NotHttp(url.to_owned()))
    }
}

/// Refuses `url` unless its host is 127.0.0.0/8, `localhost` or `::1`.
pub fn check_loopback(url: &Url) -> Result<(), ConfigError> {
    let host = url.host().ok_or_else(|| ConfigError::NoHost {
        url: url.to_string(),
    })?;
    if is_loopback_host(&host) {
        Ok(())
    } else {
        Err(ConfigError::NotLoopback {
            url: url.to_string(),
            host: host.to_string(),
        })
    }
}

/// True only for 127.0.0.0/8, `::1` and the name `localhost` (any case).
///
/// Deliberately strict: `*.localhost`, `0.0.0.0` and IPv4-mapped IPv6 addresses are refused, so
/// the answer never depends on a resolver or on the kernel's routing.
pub fn is_loopback_host<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Domain(name) => name.as_ref().eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        let argv = std::iter::once("loadtest").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .expect("clap parses")
            .into_config()
    }

    fn accepted(url: &str) -> bool {
        match config(&["--url", url]) {
            Ok(_) => true,
            Err(ConfigError::NotLoopback { .. }) => false,
            Err(e) => panic!("{url}: unexpected error {e}"),
        }
    }

    #[test]
    fn loopback_hosts_are_accepted() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1",
            "http://127.255.255.254:1/",
            "http://127.1.2.3:9000/x",
            "http://localhost:3000",
            "http://LocalHost:3000",
            "http://[::1]:3000",
            "http://[0:0:0:0:0:0:0:1]/",
        ] {
            assert!(accepted(url), "{url} should be accepted");
        }
    }

    #[test]
    fn other_hosts_are_refused() {
        for url in [
            "http://10.1.2.3/",
            "http://128.0.0.1/",
            "http://126.255.255.255/",
            "http://0.0.0.0:8080/",
            "http://192.168.1.1/",
            "http://[::]:80/",
            "http://[::2]/",
            "http://[::ffff:127.0.0.1]/",
            "http://example.com/",
            "http://localhost.example.com/",
            "http://127.0.0.1.nip.io/",
            "http://foo.localhost/",
            "http://localhost@10.0.0.1/",
            "http://127.0.0.1@example.com/",
        ] {
            assert!(!accepted(url), "{url} should be refused");
        }
    }

    #[test]
    fn refusal_names_the_host() {
        let err = config(&["--url", "http://10.1.2.3/"]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("10.1.2.3") && msg.contains("loopback"),
            "{msg}"
        );
    }

    #[test]
    fn path_cannot_leave_the_machine() {
        // A scheme-relative or absolute --path would replace the host; both are refused.
        for path in ["//10.1.2.3/x", "http://10.1.2.3/x", "healthz"] {
            let err = config(&["--url", "http://127.0.0.1:1", "--path", path]).unwrap_err();
            assert!(matches!(err, ConfigError::BadPath(_)), "{path}: {err}");
        }
    }

    #[test]
    fn only_plain_http() {
        for url in [
            "https://127.0.0.1/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
        ] {
            let err = config(&["--url", url]).unwrap_err();
            assert!(matches!(err, ConfigError::NotHttp(_)), "{url}: {err}");
        }
        let err = config(&["--url", "127.0.0.1:8080"]).unwrap_err();
        assert!(!matches!(err, ConfigError::NotLoopback { .. }), "{err}");
    }

    #[test]
    fn target_path() {
        let target = |args: &[&str]| config(args).unwrap().target().to_string();
        assert_eq!(
            target(&["--url", "http://127.0.0.1:8080"]),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            target(&["--url", "http://127.0.0.1:8080/metrics"]),
            "http://127.0.0.1:8080/metrics"
        );
        assert_eq!(
            target(&["--url", "http://127.0.0.1:8080/a", "--path", "/b?c=1"]),
            "http://127.0.0.1:8080/b?c=1"
        );
        assert_eq!(
            target(&["--url", "http://localhost:8080", "--path", "/"]),
            "http://localhost:8080/"
        );
    }

    #[test]
    fn defaults_and_limits() {
        let cfg = config(&["--url", "http://127.0.0.1:1"]).unwrap();
        assert_eq!(cfg.requests(), 2000);
        assert_eq!(cfg.concurrency(), 32);
        assert_eq!(cfg.max_duration(), Duration::from_secs(30));
        for (flag, value) in [
            ("--requests", "0"),
            ("--concurrency", "0"),
            ("--concurrency", "100001"),
            ("--max-secs", "0"),
            ("--timeout-secs", "0"),
        ] {
            let err = config(&["--url", "http://127.0.0.1:1", flag, value]).unwrap_err();
            assert!(
                matches!(err, ConfigError::OutOfRange { .. }),
                "{flag}: {err}"
            );
        }
    }

    #[test]
    fn bad_numbers_are_clap_errors() {
        let err =
            Cli::try_parse_from(["loadtest", "--url", "http://127.0.0.1", "--requests", "-1"])
                .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["loadtest"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
