//! Several nodes through Redis: engine work travels as Redis Streams jobs with a consumer group
//! per engine kind (`wire`, `remote` on the asking side, `worker` on the engine side), and every
//! node announces itself under an expiring key, so each knows which engine workers are alive
//! and `/admin/tree` can show the cluster. With no `redis.url` none of this runs and a node
//! does everything in-process; while Redis is down a node says so (`/readyz` degraded) and an
//! `all` node keeps serving with its own engines.

pub mod events;
pub mod limits;
pub mod node;
pub mod remote;
pub mod wire;
pub mod worker;

use crate::settings::{ClusterSettings, Role, Settings};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a node renews its key, and how long the key lives without renewal.
const HEARTBEAT: Duration = Duration::from_secs(2);
const NODE_TTL_SECS: u64 = 10;
/// The longest a plain command may take; blocking reads get their block time on top.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis.url is not a valid Redis url: {0}")]
    BadUrl(String),
    #[error("Redis cannot be reached: {0}")]
    Down(String),
    #[error("the engine job timed out after {0:?} without an answer")]
    Timeout(Duration),
    #[error("a job could not be made or read: {0}")]
    Codec(String),
}

impl From<redis::RedisError> for ClusterError {
    fn from(e: redis::RedisError) -> Self {
        Self::Down(e.to_string())
    }
}

/// What a node says about itself in `kyc:node:{name}` (and `/admin/tree` shows).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub node: String,
    pub role: String,
    pub started_ms: u64,
    /// Engine workers loaded on this node (0 on an api node).
    pub engine_workers: usize,
    /// The engine's device (`cpu`, `cuda:0`), when it runs engines.
    pub device: Option<String>,
    /// Jobs running on this node's engines now.
    pub in_flight: usize,
    /// Jobs this node's engines have finished since it started.
    pub completed: u64,
}

/// This node's link to Redis.
pub struct Cluster {
    pub node: String,
    pub role: Role,
    pub settings: ClusterSettings,
    client: redis::Client,
    conn: tokio::sync::RwLock<Option<ConnectionManager>>,
    up: AtomicBool,
    engine_workers: AtomicUsize,
    nodes: Mutex<Vec<NodeInfo>>,
    started_ms: u64,
}

impl Cluster {
    /// The cluster link `settings` describe (`None` without `redis.url`). Redis need not be up:
    /// the link connects when it can and says whether it is up.
    pub async fn connect(settings: &Settings) -> Result<Option<Arc<Self>>, ClusterError> {
        let Some(url) = &settings.redis.url else {
            return Ok(None);
        };
        let client = redis::Client::open(url.expose_secret())
            .map_err(|e| ClusterError::BadUrl(e.to_string()))?;
        let c = &settings.cluster;
        let node = if c.node_name.is_empty() {
            default_node_name()
        } else {
            c.node_name.clone()
        };
        let cluster = Arc::new(Self {
            node,
            role: c.role,
            settings: c.clone(),
            client,
            conn: tokio::sync::RwLock::new(None),
            up: AtomicBool::new(false),
            engine_workers: AtomicUsize::new(0),
            nodes: Mutex::new(Vec::new()),
            started_ms: wire::now_ms(),
        });
        if let Err(e) = cluster.conn().await {
            tracing::warn!(error = %e, "Redis is not reachable yet; running degraded until it is");
        }
        Ok(Some(cluster))
    }

    /// Whether Redis answered the last time it was asked.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Engine workers alive in the cluster (this node's included), as last counted.
    pub fn engine_workers(&self) -> usize {
        self.engine_workers.load(Ordering::Relaxed)
    }

    /// The nodes alive, as last read.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// A connection for plain commands (one, multiplexed, reconnecting by itself).
    pub async fn conn(&self) -> Result<ConnectionManager, ClusterError> {
        if let Some(c) = self.conn.read().await.as_ref() {
            return Ok(c.clone());
        }
        let mut slot = self.conn.write().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        match ConnectionManager::new_with_config(self.client.clone(), cfg).await {
            Ok(c) => {
                self.up.store(true, Ordering::Relaxed);
                *slot = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                self.up.store(false, Ordering::Relaxed);
                Err(e.into())
            }
        }
    }

    /// A connection of its own for blocking reads (`XREAD BLOCK`), which would hold up every
    /// other command on a shared one.
    pub async fn blocking_conn(
        &self,
        block: Duration,
    ) -> Result<MultiplexedConnection, ClusterError> {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(block + RESPONSE_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Notes a failed command: Redis counts as down until a command succeeds again.
    pub fn failed(&self, e: redis::RedisError) -> ClusterError {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || e.is_connection_refusal()
        {
            self.up.store(false, Ordering::Relaxed);
        }
        e.into()
    }

    /// Notes a command that succeeded.
    pub fn answered(&self) {
        self.up.store(true, Ordering::Relaxed);
    }

    /// Announces this node every [`HEARTBEAT`] (`info` says what it runs now) and reads which
    /// nodes are alive; runs until aborted.
    pub fn spawn_heartbeat(
        self: &Arc<Self>,
        info: impl Fn(&Self) -> NodeInfo + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let was_up = me.is_up();
                match me.beat(&info(&me)).await {
                    Ok(()) if !was_up => tracing::info!(node = %me.node, "Redis is reachable"),
                    Ok(()) => {}
                    Err(e) if was_up => {
                        tracing::warn!(node = %me.node, error = %e, "Redis is not reachable; degraded")
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// The info of this node as the heartbeat sends it.
    pub fn info(&self, engines: Option<&actors::PoolStatus>) -> NodeInfo {
        NodeInfo {
            node: self.node.clone(),
            role: self.role.as_str().into(),
            started_ms: self.started_ms,
            engine_workers: engines.map_or(0, |s| s.workers_loaded),
            device: engines.and_then(|s| s.engine.as_ref().map(|e| e.device.to_string())),
            in_flight: engines.map_or(0, |s| s.in_flight),
            completed: engines.map_or(0, |s| s.completed),
        }
    }

    async fn beat(&self, me: &NodeInfo) -> Result<(), ClusterError> {
        let mut conn = self.conn().await?;
        let body = serde_json::to_string(me).map_err(|e| ClusterError::Codec(e.to_string()))?;
        let r: Result<(), redis::RedisError> = redis::cmd("SET")
            .arg(format!("kyc:node:{}", self.node))
            .arg(body)
            .arg("EX")
            .arg(NODE_TTL_SECS)
            .query_async(&mut conn)
            .await;
        r.map_err(|e| self.failed(e))?;
        self.answered();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("kyc:node:*")
                .arg("COUNT")
                .arg(200)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            keys.extend(batch);
            if next == 0 || keys.len() > 10_000 {
                break;
            }
            cursor = next;
        }
        let mut nodes = Vec::new();
        if !keys.is_empty() {
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            nodes = values
                .into_iter()
                .flatten()
                .filter_map(|v| serde_json::from_str::<NodeInfo>(&v).ok())
                .collect();
        }
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        let workers = nodes.iter().map(|n| n.engine_workers).sum();
        self.engine_workers.store(workers, Ordering::Relaxed);
        if let Ok(mut n) = self.nodes.lock() {
            *n = nodes;
        }
        Ok(())
    }

    /// Jobs waiting in each stream and handed out but not yet answered (`/admin/tree`).
    pub async fn streams(&self) -> Result<Vec<StreamInfo>, ClusterError> {
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        for kind in wire::JobKind::ALL {
            let length: u64 = redis::cmd("XLEN")
                .arg(kind.stream())
                .query_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            let pending: redis::Value = redis::cmd("XPENDING")
                .arg(kind.stream())
                .arg(wire::GROUP)
                .query_async(&mut conn)
                .await
                .unwrap_or(redis::Value::Nil);
            let pending = match pending {
                redis::Value::Array(v) => v
                    .first()
                    .and_then(|c| redis::from_redis_value_ref::<u64>(c).ok())
                    .unwrap_or(0),
                _ => 0,
            };
            out.push(StreamInfo {
                kind: kind.as_str().into(),
                stream: kind.stream().into(),
                length,
                pending,
            });
        }
        Ok(out)
    }
}

/// One job stream in `/admin/tree`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamInfo {
    pub kind: String,
    pub stream: String,
    /// Entries in the stream (waiting or being worked on).
    pub length: u64,
    /// Handed to a worker and not yet answered.
    pub pending: u64,
}

/// `{host}-{pid}`: unique among the processes of a machine and readable.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(48)
        .collect();
    format!("{host}-{}", std::process::id())
}
