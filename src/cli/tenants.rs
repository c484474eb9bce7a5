//! `kyc tenants create NAME | list | rotate-key ID | disable ID | enable ID`: the businesses
//! that run verifications and their API keys. On a running server the commands go through its
//! admin API (`--url`, else the configured address; bearer `admin.token`), so the change is
//! audited and takes effect at once; with no server they work on the records store directly
//! (the embedded store under the data folder, which a running server holds locked, or MariaDB)
//! and write their audit entry into the data folder's journal.
//! A key is printed once: only its SHA-256 is kept.

use super::verify::parse_mode;
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::http::admin_tenants::{TenantKeyView, TenantView};
use crate::records::{AuditEvent, AuditLog, Outbox, Store, TenantOptions};
use crate::settings::Settings;
use crate::tenants::{Tenants, TenantsError};
use clap::{Args, Subcommand};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vision::liveness::verdict::Mode;

#[derive(Debug, Args)]
pub struct TenantsArgs {
    #[command(subcommand)]
    pub command: TenantsCommand,
    /// Print JSON (the admin API's `data`) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// A running server's base URL (its admin API is used, with `admin.token`).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Data folder; overrides `server.data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Make a tenant and print its API key (shown this once).
    Create {
        /// 1 to 200 printable characters, unique.
        name: String,
        /// Let the person's page (the session token) see scores, thresholds and reasons.
        #[arg(long)]
        show_scores: bool,
        /// Sessions it may create per minute (default: sessions.rate_per_tenant_per_minute).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        sessions_per_minute: Option<u32>,
        /// Sessions it may have open at once (default: sessions.max_open_per_tenant).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_open_sessions: Option<u32>,
        /// An origin (https://shop.example) whose pages may open its sessions' WebSockets;
        /// repeat for more.
        #[arg(long = "allowed-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        /// Liveness in its sessions: off, passive or challenge (default: liveness.mode).
        #[arg(long, value_name = "MODE", value_parser = parse_mode)]
        liveness_mode: Option<Mode>,
    },
    /// Every tenant (a hint of each key, never the key).
    List,
    /// A new API key for tenant ID; the old one is refused from now on.
    RotateKey { id: String },
    /// Refuse tenant ID's key and its sessions' tokens.
    Disable { id: String },
    /// Accept tenant ID again.
    Enable { id: String },
}

/// What a command printed, or why it failed (with its exit code).
type Outcome = Result<Answer, (u8, String)>;

enum Answer {
    Key(TenantKeyView),
    One(TenantView),
    All(Vec<TenantView>),
}

pub fn run(args: TenantsArgs) -> ExitCode {
    super::init_cli_tracing();
    let mut settings = match super::load_settings("tenants") {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(dir) = &args.data_dir {
        settings.server.data_dir.clone_from(dir);
    }
    let rt = match super::runtime("tenants") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let json = args.json;
    match rt.block_on(dispatch(&settings, args)) {
        Ok(answer) => {
            print(&answer, json);
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("kyc tenants: {message}");
            ExitCode::from(code)
        }
    }
}

async fn dispatch(settings: &Settings, args: TenantsArgs) -> Outcome {
    if let Some(url) = &args.url {
        return Api::new(settings, url)?.run(args.command).await;
    }
    let default_url = local_url(settings);
    match &settings.database.url {
        None => match Store::open(settings) {
            Ok(store) => direct(settings, store, args.command).await,
            // Locked by a running server: through its admin API.
            Err(e) => match default_url {
                Some(url) => {
                    Api::new(settings, &url)
                        .map_err(|(c, m)| {
                            (c, format!("the records store is in use ({e}), and {m}"))
                        })?
                        .run(args.command)
                        .await
                }
                None => Err((EXIT_FAILURE, format!("cannot open the records store: {e}"))),
            },
        },
        Some(_) => {
            if let Some(url) = default_url
                && settings.admin.token.is_some()
                && answers(&url).await
            {
                return Api::new(settings, &url)?.run(args.command).await;
            }
            let store = Store::open(settings)
                .map_err(|e| (EXIT_FAILURE, format!("cannot open the records store: {e}")))?;
            direct(settings, store, args.command).await
        }
    }
}

/// The running server's address from the settings (a wildcard host as loopback); `None` for
/// port 0.
fn local_url(settings: &Settings) -> Option<String> {
    let s = &settings.server;
    if s.port == 0 {
        return None;
    }
    let host = match s.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_owned(),
        "::" | "[::]" => "[::1]".to_owned(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_owned(),
    };
    Some(format!("http://{host}:{}", s.port))
}

/// Whether a server answers `/healthz` at `url` within a second.
async fn answers(url: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
    else {
        return false;
    };
    client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The audit chain of the data folder, in the journal's database (the server is stopped: no
/// one else holds it). A change made here is audited as the admin API's are, actor `cli`; the
/// entry reaches the records store through the outbox at the server's next start.
struct DirectAudit(AuditLog);

impl DirectAudit {
    fn open(settings: &Settings) -> Result<Self, (u8, String)> {
        let path = settings.server.data_dir.join("journal");
        let fail = |e: String| {
            (
                EXIT_FAILURE,
                format!(
                    "cannot open the journal in {} for the audit entry ({e}); if a server runs \
                     on this data folder, change tenants through its admin API \
                     (KYC__ADMIN__TOKEN, --url)",
                    path.display()
                ),
            )
        };
        let db = sled::Config::new()
            .path(&path)
            .open()
            .map_err(|e| fail(e.to_string()))?;
        let outbox = Outbox::open(&db).map_err(|e| fail(e.to_string()))?;
        AuditLog::open(&outbox)
            .map(Self)
            .map_err(|e| fail(e.to_string()))
    }

    async fn record(&self, action: &str, tenant_id: &str) -> Result<(), (u8, String)> {
        let failed = |e: crate::records::OutboxError| {
            (
                EXIT_FAILURE,
                format!("the change was made, but its audit entry was not written: {e}"),
            )
        };
        self.0
            .record(&AuditEvent {
                session_id: uuid::Uuid::nil(),
                tenant_id: None,
                actor: "cli",
                action,
                target: &format!("tenant:{tenant_id}"),
            })
            .await
            .map(drop)
            .map_err(failed)
    }
}

/// The commands on the records store itself (no server holds it); changes are audited.
async fn direct(settings: &Settings, store: Store, command: TenantsCommand) -> Outcome {
    let audit = match command {
        TenantsCommand::List => None,
        _ => Some(DirectAudit::open(settings)?),
    };
    let action = match &command {
        TenantsCommand::Create { .. } => "tenant_create",
        TenantsCommand::List => "tenant_list",
        TenantsCommand::RotateKey { .. } => "tenant_rotate_key",
        TenantsCommand::Disable { .. } => "tenant_disable",
        TenantsCommand::Enable { .. } => "tenant_enable",
    };
    let answer = change(store, command).await?;
    if let Some(audit) = &audit {
        let id = match &answer {
            Answer::Key(k) => k.tenant_id.as_str(),
            Answer::One(t) => t.tenant_id.as_str(),
            Answer::All(_) => "",
        };
        audit.record(action, id).await?;
    }
    Ok(answer)
}

async fn change(store: Store, command: TenantsCommand) -> Outcome {
    let tenants = Tenants::open(Arc::new(store)).await;
    let failed = |e: TenantsError| {
        let code = match e {
            TenantsError::Records(_) => EXIT_FAILURE,
            _ => EXIT_BAD_INPUT,
        };
        (code, e.to_string())
    };
    let key = |(t, key): (crate::records::Tenant, String)| {
        Answer::Key(TenantKeyView {
            tenant_id: t.id.clone(),
            api_key: key,
            tenant: TenantView::from(&t),
        })
    };
    match command {
        TenantsCommand::Create {
            name,
            show_scores,
            sessions_per_minute,
            max_open_sessions,
            allowed_origins,
            liveness_mode,
        } => tenants
            .create(
                &name,
                TenantOptions {
                    show_scores,
                    sessions_per_minute,
                    max_open_sessions,
                    allowed_origins,
                    liveness_mode,
                },
            )
            .await
            .map(key)
            .map_err(failed),
        TenantsCommand::List => tenants
            .list()
            .await
            .map(|all| Answer::All(all.iter().map(TenantView::from).collect()))
            .map_err(failed),
        TenantsCommand::RotateKey { id } => tenants.rotate_key(&id).await.map(key).map_err(failed),
        TenantsCommand::Disable { id } => tenants
            .set_disabled(&id, true)
            .await
            .map(|t| Answer::One(TenantView::from(&t)))
            .map_err(failed),
        TenantsCommand::Enable { id } => tenants
            .set_disabled(&id, false)
            .await
            .map(|t| Answer::One(TenantView::from(&t)))
            .map_err(failed),
    }
}

/// A running server's admin API.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(settings: &Settings, url: &str) -> Result<Self, (u8, String)> {
        let token = settings
            .admin
            .token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .ok_or((
                EXIT_BAD_INPUT,
                "a running server is changed through its admin API: set KYC__ADMIN__TOKEN to \
                 its admin.token (or stop it to work on the store directly)"
                    .to_owned(),
            ))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| (EXIT_FAILURE, format!("cannot make an HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn run(&self, command: TenantsCommand) -> Outcome {
        let post = |path: String| self.client.post(format!("{}{path}", self.base));
        let req = match &command {
            TenantsCommand::Create {
                name,
                show_scores,
                sessions_per_minute,
                max_open_sessions,
                allowed_origins,
                liveness_mode,
            } => post("/admin/tenants".into()).json(&serde_json::json!({
                "name": name,
                "options": {
                    "showScores": show_scores,
                    "sessionsPerMinute": sessions_per_minute,
                    "maxOpenSessions": max_open_sessions,
                    "allowedOrigins": allowed_origins,
                    "livenessMode": liveness_mode,
                },
            })),
            TenantsCommand::List => self.client.get(format!("{}/admin/tenants", self.base)),
            TenantsCommand::RotateKey { id } => post(format!("/admin/tenants/{id}/rotate-key")),
            TenantsCommand::Disable { id } => post(format!("/admin/tenants/{id}/disable")),
            TenantsCommand::Enable { id } => post(format!("/admin/tenants/{id}/enable")),
        };
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| (EXIT_FAILURE, format!("{}: {e}", self.base)))?;
        let status = res.status();
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| (EXIT_FAILURE, format!("{}: not an envelope: {e}", self.base)))?;
        if !status.is_success() {
            let code = if status.is_client_error() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILURE
            };
            let message = body["error"]["message"].as_str().unwrap_or("refused");
            return Err((code, format!("the server answered {status}: {message}")));
        }
        let data = body["data"].clone();
        let bad = |e: serde_json::Error| (EXIT_FAILURE, format!("unexpected answer: {e}"));
        Ok(match command {
            TenantsCommand::Create { .. } | TenantsCommand::RotateKey { .. } => {
                Answer::Key(serde_json::from_value(data).map_err(bad)?)
            }
            TenantsCommand::List => Answer::All(serde_json::from_value(data).map_err(bad)?),
            TenantsCommand::Disable { .. } | TenantsCommand::Enable { .. } => {
                Answer::One(serde_json::from_value(data).map_err(bad)?)
            }
        })
    }
}

fn print(answer: &Answer, json: bool) {
    let text = match (answer, json) {
        (Answer::Key(k), true) => serde_json::to_string_pretty(k),
        (Answer::One(t), true) => serde_json::to_string_pretty(t),
        (Answer::All(a), true) => serde_json::to_string_pretty(a),
        (Answer::Key(k), false) => Ok(format!(
            "tenant {} ({})\nAPI key (shown this once; only its hash is kept):\n\n  {}\n",
            k.tenant.name, k.tenant_id, k.api_key
        )),
        (Answer::One(t), false) => Ok(line(t)),
        (Answer::All(a), false) if a.is_empty() => Ok("no tenants yet".into()),
        (Answer::All(a), false) => Ok(a.iter().map(line).collect::<Vec<_>>().join("\n")),
    };
    match text {
        Ok(t) => println!("{t}"),
        Err(e) => eprintln!("kyc tenants: cannot print the answer: {e}"),
    }
}

fn line(t: &TenantView) -> String {
    format!(
        "{}  {:<8}  key {}…  {}",
        t.tenant_id,
        if t.disabled { "disabled" } else { "active" },
        t.key_hint,
        t.name
    )
}
