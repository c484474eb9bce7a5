//! A session's events for WebSockets on other nodes: the node that owns a session publishes
//! each event on `kyc:events:{id}` (Redis pub/sub) and writes where the session lives in the
//! session directory (`kyc:session:{id}`: owner, its URL, the token's hash, the tenant; it
//! expires with the session's lifetime). A node asked for a socket of a session it does not
//! hold finds it there, checks the token against the hash, replays the missed events from the
//! owner (`GET /api/v1/sessions/{id}/events?since=`) and forwards the live ones it hears.
//! Every node hears every event through one pattern subscription and keeps only those of the
//! sessions its sockets watch.

use super::{Cluster, ClusterError};
use actors::session::{SessionEvent, SessionId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Events a remote socket may fall behind before it is told to reconnect with `since`.
const LAG: usize = 256;

/// Where a session lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryEntry {
    pub owner: String,
    /// The owner's base URL, for the replay of missed events.
    pub url: String,
    /// SHA-256 (hex) of the session's token.
    pub token_hash: String,
    pub tenant: Option<String>,
    pub token_expires_ms: u64,
}

/// Publishes this node's sessions' events and hands other nodes' to local sockets.
pub struct EventBus {
    cluster: Arc<Cluster>,
    out: mpsc::UnboundedSender<(SessionId, String)>,
    watched: Mutex<HashMap<SessionId, broadcast::Sender<SessionEvent>>>,
}

impl EventBus {
    /// Starts the publisher and the subscriber; they end when the bus is dropped.
    pub fn start(cluster: Arc<Cluster>) -> Arc<Self> {
        let (out, rx) = mpsc::unbounded_channel();
        let bus = Arc::new(Self {
            cluster,
            out,
            watched: Mutex::new(HashMap::new()),
        });
        tokio::spawn(publish(Arc::clone(&bus.cluster), rx));
        let weak = Arc::downgrade(&bus);
        tokio::spawn(async move { subscribe(weak).await });
        bus
    }

    /// Sends `event` to the other nodes (never blocks; dropped while Redis is away — a socket
    /// there reconnects with `since`).
    pub fn publish(&self, event: &SessionEvent) {
        if let Ok(json) = serde_json::to_string(event) {
            let _ = self.out.send((event.session_id, json));
        }
    }

    /// The live events of session `id` from now on.
    pub fn watch(&self, id: SessionId) -> broadcast::Receiver<SessionEvent> {
        let mut w = self.lock();
        w.retain(|_, tx| tx.receiver_count() > 0);
        w.entry(id)
            .or_insert_with(|| broadcast::channel(LAG).0)
            .subscribe()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SessionId, broadcast::Sender<SessionEvent>>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records where session `id` lives, for as long as its token lives.
    pub async fn register(
        &self,
        id: SessionId,
        entry: &DirectoryEntry,
    ) -> Result<(), ClusterError> {
        let ttl = entry
            .token_expires_ms
            .saturating_sub(super::wire::now_ms())
            .div_ceil(1000)
            .max(1);
        let json = serde_json::to_string(entry).map_err(|e| ClusterError::Codec(e.to_string()))?;
        let mut c = self.cluster.conn().await?;
        let r: Result<(), redis::RedisError> = redis::cmd("SET")
            .arg(key(&id))
            .arg(json)
            .arg("EX")
            .arg(ttl)
            .query_async(&mut c)
            .await;
        r.map_err(|e| self.cluster.failed(e))
    }

    /// Where session `id` lives, if the directory knows it.
    pub async fn lookup(&self, id: SessionId) -> Result<Option<DirectoryEntry>, ClusterError> {
        let mut c = self.cluster.conn().await?;
        let v: Option<String> = redis::cmd("GET")
            .arg(key(&id))
            .query_async(&mut c)
            .await
            .map_err(|e| self.cluster.failed(e))?;
        Ok(v.and_then(|v| serde_json::from_str(&v).ok()))
    }

    fn deliver(&self, event: SessionEvent) {
        if let Some(tx) = self.lock().get(&event.session_id) {
            let _ = tx.send(event);
        }
    }
}

fn key(id: &SessionId) -> String {
    format!("kyc:session:{}", id.simple())
}

fn channel(id: &SessionId) -> String {
    format!("kyc:events:{}", id.simple())
}

/// Publishes in order, one event at a time.
async fn publish(cluster: Arc<Cluster>, mut rx: mpsc::UnboundedReceiver<(SessionId, String)>) {
    while let Some((id, json)) = rx.recv().await {
        let Ok(mut c) = cluster.conn().await else {
            continue;
        };
        let r: Result<u64, redis::RedisError> = redis::cmd("PUBLISH")
            .arg(channel(&id))
            .arg(json)
            .query_async(&mut c)
            .await;
        if let Err(e) = r {
            cluster.failed(e);
        }
    }
}

/// Hears every node's events; reconnects after Redis went away.
async fn subscribe(bus: std::sync::Weak<EventBus>) {
    loop {
        let Some(me) = bus.upgrade() else { return };
        let pubsub = me.cluster.client.get_async_pubsub().await;
        let cluster = Arc::clone(&me.cluster);
        drop(me);
        let mut pubsub = match pubsub {
            Ok(p) => p,
            Err(e) => {
                cluster.failed(e);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Err(e) = pubsub.psubscribe("kyc:events:*").await {
            cluster.failed(e);
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            let Some(me) = bus.upgrade() else { return };
            if let Ok(event) = msg
                .get_payload::<String>()
                .map_err(|e| e.to_string())
                .and_then(|p| serde_json::from_str::<SessionEvent>(&p).map_err(|e| e.to_string()))
            {
                me.deliver(event);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
