//! Settings: one typed tree read at start-up from layered sources, so every knob has a default,
//! a place in a file and an environment variable, and a wrong value stops the server with the
//! name of the key instead of failing later.
//!
//! Layers, later wins:
//! 1. `config/base.toml` as compiled into the binary, then `{config dir}/base.toml` if present;
//! 2. `{config dir}/{env}.toml` (`env` from `KYC_ENV`: development | production | test), or the
//!    copy compiled into the binary when the folder has none;
//! 3. environment variables `KYC__SECTION__KEY` (e.g. `KYC__SERVER__PORT=0`).
//!
//! The config dir is `KYC_CONFIG_DIR`, else `./config` when it exists, else `{home}/config` when
//! it exists ([`Home`]: `KYC_HOME` or `$XDG_DATA_HOME/kyc`). Empty folder settings
//! (`server.data_dir`, `models.dir`, `models.yunet_dirs`) are the home's or, in a checkout, the
//! checkout's. Secrets are [`SecretString`]s. [`Settings::validate`] checks ranges after loading.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod cluster;
mod database;
mod edge;
pub mod home;
mod liveness;
pub mod public;
mod retention;
pub mod security;
mod sessions;
mod video;
mod webhooks;
pub use cluster::{ClusterSettings, Role};
pub use database::DatabaseSettings;
pub use edge::EdgeSettings;
pub use home::Home;
pub use liveness::LivenessSettings;
pub use retention::RetentionSettings;
pub use security::{MASTER_KEY_VAR, SecuritySettings};
pub use sessions::SessionSettings;
pub use video::VideoSettings;
pub use webhooks::WebhookSettings;

/// The built-in copies of the config files, so the binary works from any folder.
const BASE_TOML: &str = include_str!("../../config/base.toml");
const DEVELOPMENT_TOML: &str = include_str!("../../config/development.toml");
const PRODUCTION_TOML: &str = include_str!("../../config/production.toml");
const TEST_TOML: &str = include_str!("../../config/test.toml");

/// File name of the ONNX Runtime library inside `models.dir` when `models.ort_dylib` is empty.
pub use vision::runtime::ORT_DYLIB_FILE as ORT_LIB_FILE;

/// Environment variable prefix; `KYC__SERVER__PORT` sets `server.port`.
pub const ENV_PREFIX: &str = "KYC";
/// Separator between prefix, section and key in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: [&str; 3] = [
    "engine.cuda_lib_dirs",
    "models.yunet_dirs",
    "server.trusted_proxies",
];

/// Why the settings could not be loaded. Every message names the key or the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file could not be parsed, a key is missing or a value has the wrong type.
    /// The `config` crate's message names the key (e.g. "… for key `server.port` in the
    /// environment").
    #[error("configuration error: {0}")]
    Config(#[from] config::ConfigError),
    /// A value parsed but is out of range or inconsistent.
    #[error("configuration error: invalid `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// `KYC_ENV` holds an unknown environment.
    #[error(
        "configuration error: invalid `KYC_ENV`: unknown environment {0:?} (use development, production or test)"
    )]
    UnknownEnvironment(String),
    /// `KYC_CONFIG_DIR` names a folder that does not exist.
    #[error("configuration error: invalid `KYC_CONFIG_DIR`: {} is not a folder", .0.display())]
    ConfigDir(PathBuf),
}

impl SettingsError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Which layer of files is read after `base.toml` (`KYC_ENV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    #[default]
    Development,
    Production,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
            Self::Test => "test",
        }
    }

    fn embedded_toml(self) -> &'static str {
        match self {
            Self::Development => DEVELOPMENT_TOML,
            Self::Production => PRODUCTION_TOML,
            Self::Test => TEST_TOML,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "production" | "prod" => Ok(Self::Production),
            "test" => Ok(Self::Test),
            _ => Err(SettingsError::UnknownEnvironment(s.to_owned())),
        }
    }
}

/// Everything the server and the CLI can be configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub engine: EngineSettings,
    pub models: ModelSettings,
    pub images: ImageSettings,
    #[serde(default)]
    pub video: VideoSettings,
    #[serde(default)]
    pub liveness: LivenessSettings,
    #[serde(default)]
    pub sessions: SessionSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub cluster: ClusterSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub tenants: TenantSettings,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    #[serde(default)]
    pub edge: EdgeSettings,
    /// The environment the settings were loaded for (from `KYC_ENV`, not from a file).
    #[serde(skip)]
    pub environment: Environment,
    /// The folder the files were read from; `None` when only the built-in copies were used.
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
    /// The home (or checkout) the empty folder settings were resolved against.
    #[serde(skip)]
    pub home: Home,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind (an IP address or a host name).
    pub host: String,
    /// Port to bind; 0 = any free port.
    pub port: u16,
    /// The data folder: journal, outbox, encrypted media. Empty in the files = `{home}/data`, or
    /// `data` in a checkout; never empty after loading.
    pub data_dir: PathBuf,
    /// Seconds in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// The base URL browsers reach the server at (see [`public`]); empty outside production =
    /// the address it listens on.
    #[serde(default)]
    pub public_url: String,
    /// The proxies in front of the server (addresses or networks): only their
    /// `X-Forwarded-For` names the client a request is limited under.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

impl ServerSettings {
    /// `host:port`, ready for `TcpListener::bind`.
    pub fn bind_address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            // A bare IPv6 address.
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing_subscriber::EnvFilter` directive; `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[engine]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// `hybrid` (alias `auto`), `insightface` or `opencv`.
    pub kind: vision::EngineKind,
    /// The engine the hybrid tries first: `insightface` or `opencv`.
    pub primary: vision::EngineKind,
    pub device: vision::Device,
    /// Workers per pool; 0 = the number of CPU cores (see [`EngineSettings::worker_count`]).
    pub workers: usize,
    pub threads_per_worker: usize,
    pub queue_capacity: usize,
    /// Detector input size (square, letterboxed).
    pub det_size: u32,
    pub det_threshold: f32,
    pub low_score: f32,
    pub match_threshold: f32,
    pub gpu_mem_limit_mb: u64,
    pub cuda_lib_dirs: Vec<PathBuf>,
}

impl EngineSettings {
    /// `workers`, with 0 resolved to the number of CPU cores.
    pub fn worker_count(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        } else {
            self.workers
        }
    }

    /// `gpu_mem_limit_mb` in bytes.
    pub fn gpu_mem_limit_bytes(&self) -> usize {
        usize::try_from(self.gpu_mem_limit_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

/// `[models]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Empty in the files = `{home}/models`, or `models/files` in a checkout; never empty after
    /// loading.
    pub dir: PathBuf,
    pub manifest: PathBuf,
    /// Empty in the files = `../shared/models` (in a checkout), then `dir`.
    pub yunet_dirs: Vec<PathBuf>,
    pub haar_cascade: PathBuf,
    /// The ONNX Runtime library. Resolved at load time: `ORT_DYLIB_PATH` when set, else the
    /// configured value, else `{dir}/libonnxruntime.so.1.31.1`; never empty after loading.
    pub ort_dylib: PathBuf,
}

/// `[images]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSettings {
    pub max_pixels: u64,
    pub min_side: u64,
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token of the admin API; required in production.
    pub token: Option<SecretString>,
    /// Bearer token `/metrics` asks for; unset, `/metrics` is open (bind it where only the
    /// scraper reaches, or set one).
    pub metrics_token: Option<SecretString>,
    /// Admin API calls per minute from one client address (a token guesser is slowed down as
    /// much as a runaway script); over it, 429 with Retry-After.
    #[serde(default = "default_admin_rate")]
    pub rate_per_minute: u32,
}

fn default_admin_rate() -> u32 {
    120
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            token: None,
            metrics_token: None,
            rate_per_minute: default_admin_rate(),
        }
    }
}

/// `[tenants]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// At a start with no tenant at all, create one named `development` and print its key and
    /// a ready `curl` line (development only; never in production).
    pub development_tenant: bool,
}

/// `[redis]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Redis url (may hold a password); needed only for several nodes.
    pub url: Option<SecretString>,
}

impl Settings {
    /// Loads the settings from the files and the process environment, then validates them.
    pub fn load() -> Result<Self, SettingsError> {
        SettingsBuilder::from_process_env().build()
    }

    /// A builder reading from an explicit set of variables instead of the process environment
    /// (tests use it so they never touch `std::env`).
    pub fn builder() -> SettingsBuilder {
        SettingsBuilder::default()
    }

    /// Checks the ranges and cross-field rules that types alone cannot express.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let s = &self.server;
        if s.host.trim().is_empty() {
            return Err(SettingsError::invalid("server.host", "must not be empty"));
        }
        if s.data_dir.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "server.data_dir",
                "must not be empty",
            ));
        }
        if s.shutdown_grace_secs > 3600 {
            return Err(SettingsError::invalid(
                "server.shutdown_grace_secs",
                format!("{} is over the limit of 3600", s.shutdown_grace_secs),
            ));
        }

        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(SettingsError::invalid(
                "log.level",
                format!("{:?} is not a log filter: {e}", self.log.level),
            ));
        }

        let e = &self.engine;
        if e.primary == vision::EngineKind::Hybrid {
            return Err(SettingsError::invalid(
                "engine.primary",
                "must be \"insightface\" or \"opencv\" (the engine the hybrid tries first)",
            ));
        }
        if e.workers > 256 {
            return Err(SettingsError::invalid(
                "engine.workers",
                format!(
                    "{} is over the limit of 256 (0 = number of cores)",
                    e.workers
                ),
            ));
        }
        if !(1..=64).contains(&e.threads_per_worker) {
            return Err(SettingsError::invalid(
                "engine.threads_per_worker",
                format!("{} is not in 1..=64", e.threads_per_worker),
            ));
        }
        if !(1..=1_000_000).contains(&e.queue_capacity) {
            return Err(SettingsError::invalid(
                "engine.queue_capacity",
                format!("{} is not in 1..=1000000", e.queue_capacity),
            ));
        }
        if !(64..=2048).contains(&e.det_size) || !e.det_size.is_multiple_of(32) {
            return Err(SettingsError::invalid(
                "engine.det_size",
                format!("{} is not a multiple of 32 in 64..=2048", e.det_size),
            ));
        }
        for (key, value) in [
            ("engine.det_threshold", e.det_threshold),
            ("engine.low_score", e.low_score),
            ("engine.match_threshold", e.match_threshold),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SettingsError::invalid(
                    key,
                    format!("{value} is not in 0..1"),
                ));
            }
        }
        if e.gpu_mem_limit_mb == 0 {
            return Err(SettingsError::invalid(
                "engine.gpu_mem_limit_mb",
                "must be at least 1",
            ));
        }

        let m = &self.models;
        if m.dir.as_os_str().is_empty() {
            return Err(SettingsError::invalid("models.dir", "must not be empty"));
        }
        if m.manifest.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "models.manifest",
                "must not be empty",
            ));
        }

        self.video.validate()?;
        self.liveness.validate()?;
        self.sessions.validate()?;

        let i = &self.images;
        if i.min_side == 0 {
            return Err(SettingsError::invalid(
                "images.min_side",
                "must be at least 1",
            ));
        }
        if i.max_pixels < i.min_side.saturating_mul(i.min_side) {
            return Err(SettingsError::invalid(
                "images.max_pixels",
                format!(
                    "{} is smaller than images.min_side squared ({})",
                    i.max_pixels,
                    i.min_side.saturating_mul(i.min_side)
                ),
            ));
        }

        match &self.admin.token {
            None if self.environment == Environment::Production => {
                return Err(SettingsError::invalid(
                    "admin.token",
                    "is required in production (set KYC__ADMIN__TOKEN)",
                ));
            }
            Some(t) if t.expose_secret().trim().is_empty() => {
                return Err(SettingsError::invalid("admin.token", "must not be empty"));
            }
            Some(t)
                if self.environment == Environment::Production
                    && t.expose_secret().chars().count() < 16 =>
            {
                return Err(SettingsError::invalid(
                    "admin.token",
                    "must be at least 16 characters in production",
                ));
            }
            _ => {}
        }
        if self.tenants.development_tenant && self.environment == Environment::Production {
            return Err(SettingsError::invalid(
                "tenants.development_tenant",
                "is for development only; make tenants with `kyc tenants create` in production",
            ));
        }
        self.security.validate(self.environment)?;
        public::validate(&self.server.public_url, self.environment)?;
        crate::http::parse_proxies(&self.server.trusted_proxies)
            .map_err(|e| SettingsError::invalid("server.trusted_proxies", e))?;
        self.database.validate()?;
        self.retention.validate()?;
        self.webhooks.validate()?;
        self.edge.validate()?;
        self.cluster.validate()?;
        if self.admin.rate_per_minute == 0 {
            return Err(SettingsError::invalid(
                "admin.rate_per_minute",
                "must be at least 1",
            ));
        }
        for (key, url) in [
            ("database.url", &self.database.url),
            ("redis.url", &self.redis.url),
        ] {
            if let Some(u) = url
                && u.expose_secret().trim().is_empty()
            {
                return Err(SettingsError::invalid(key, "must not be empty when set"));
            }
        }
        Ok(())
    }
}

/// Builds [`Settings`] from the layered files and a set of variables (the process environment,
/// or an explicit map in tests).
#[derive(Debug, Clone, Default)]
pub struct SettingsBuilder {
    vars: HashMap<String, String>,
    config_dir: Option<PathBuf>,
    home: Option<Home>,
}

impl SettingsBuilder {
    /// Reads `KYC_ENV`, `KYC_CONFIG_DIR`, `ORT_DYLIB_PATH` and `KYC__…` from the process
    /// environment (variables that are not Unicode are skipped).
    pub fn from_process_env() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            config_dir: None,
            home: None,
        }
    }

    /// Uses exactly these variables instead of the process environment.
    pub fn with_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            config_dir: None,
            home: None,
        }
    }

    /// Sets one variable (e.g. `("KYC__SERVER__PORT", "0")`).
    pub fn var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(key.into(), value.into());
        self
    }

    /// Reads the files from this folder (wins over `KYC_CONFIG_DIR` and `./config`).
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// Resolves the empty folder settings against this home instead of the one the variables
    /// (`KYC_HOME`, `XDG_DATA_HOME`, `HOME`) and the current directory give.
    pub fn home(mut self, home: Home) -> Self {
        self.home = Some(home);
        self
    }

    /// Loads, resolves and validates.
    pub fn build(self) -> Result<Settings, SettingsError> {
        let environment: Environment = match self.vars.get("KYC_ENV") {
            Some(v) if !v.trim().is_empty() => v.parse()?,
            _ => Environment::default(),
        };

        let home = match &self.home {
            Some(h) => h.clone(),
            None => Home::resolve(&self.vars, Path::new(home::CHECKOUT_MARKER).is_file()),
        };
        let config_dir = match (&self.config_dir, self.vars.get("KYC_CONFIG_DIR")) {
            (Some(dir), _) => Some(existing_dir(dir)?),
            (None, Some(dir)) if !dir.is_empty() => Some(existing_dir(Path::new(dir))?),
            _ => [PathBuf::from("config"), home.config_dir()]
                .into_iter()
                .find(|d| d.is_dir()),
        };

        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(BASE_TOML, config::FileFormat::Toml));
        let env_file = format!("{}.toml", environment.as_str());
        match &config_dir {
            Some(dir) => {
                builder = builder.add_source(
                    config::File::from(dir.join("base.toml"))
                        .format(config::FileFormat::Toml)
                        .required(false),
                );
                let path = dir.join(&env_file);
                builder = if path.is_file() {
                    builder.add_source(config::File::from(path).format(config::FileFormat::Toml))
                } else {
                    builder.add_source(config::File::from_str(
                        environment.embedded_toml(),
                        config::FileFormat::Toml,
                    ))
                };
            }
            None => {
                builder = builder.add_source(config::File::from_str(
                    environment.embedded_toml(),
                    config::FileFormat::Toml,
                ));
            }
        }

        // Values stay strings (no `try_parsing`), so a secret such as "0.10" is never turned into
        // a number; the typed fields parse them. List keys are split on commas here.
        let mut env_vars = config::Map::<String, String>::new();
        let mut lists = Vec::new();
        let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
        for (k, v) in &self.vars {
            if k.len() <= prefix.len() || !k.to_ascii_uppercase().starts_with(&prefix) {
                continue;
            }
            let key = k[prefix.len()..]
                .to_ascii_lowercase()
                .replace(ENV_SEPARATOR, ".");
            if LIST_KEYS.contains(&key.as_str()) {
                let items: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                lists.push((key, items));
            } else {
                env_vars.insert(k.clone(), v.clone());
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .ignore_empty(true)
                .source(Some(env_vars)),
        );
        for (key, items) in lists {
            builder = builder.set_override(key, items)?;
        }

        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.environment = environment;
        settings.config_dir = config_dir;
        if settings.server.data_dir.as_os_str().is_empty() {
            settings.server.data_dir = home.data_dir();
        }
        if settings.models.dir.as_os_str().is_empty() {
            settings.models.dir = home.models_dir();
        }
        if settings.models.yunet_dirs.is_empty() {
            settings.models.yunet_dirs = home.external_dirs(&settings.models.dir);
        }
        settings.home = home;

        // ORT_DYLIB_PATH (the `ort` crate's own variable) wins; an empty value = the default.
        match self.vars.get("ORT_DYLIB_PATH") {
            Some(p) if !p.trim().is_empty() => settings.models.ort_dylib = PathBuf::from(p),
            _ if settings.models.ort_dylib.as_os_str().is_empty() => {
                settings.models.ort_dylib = settings.models.dir.join(ORT_LIB_FILE);
            }
            _ => {}
        }

        settings.validate()?;
        Ok(settings)
    }
}

fn existing_dir(dir: &Path) -> Result<PathBuf, SettingsError> {
    if dir.is_dir() {
        Ok(dir.to_path_buf())
    } else {
        Err(SettingsError::ConfigDir(dir.to_path_buf()))
    }
}

#[cfg(test)]
mod tests;
