//! The asking side of engine jobs over Redis: an api (or all) node adds a job to its kind's
//! stream and waits for the answers in its own reply stream, read by one task that hands each
//! answer to the job waiting for it. A job taken over by another worker (its first one died)
//! may report progress twice: only progress beyond what was seen goes on, and only the first
//! result counts. What the transport costs (bytes, time beyond the worker's own) is counted.

use super::wire::{
    self, BODY, Failure, HEADER, JobHeader, JobKind, JobParams, JobProgress, ReplyHeader,
};
use super::{Cluster, ClusterError};
use crate::engines::JobKey;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

/// How long one blocking read of the reply stream waits.
const BLOCK: Duration = Duration::from_secs(1);

/// An answer, as the job's waiter gets it.
enum Reply {
    Progress {
        probed: Option<usize>,
        done: usize,
        total: usize,
    },
    Done {
        body: Vec<u8>,
        compute_ms: u64,
    },
    Failed(Failure),
}

/// The transport's counters (`/metrics`, the benchmark).
#[derive(Debug, Default)]
pub struct TransportStats {
    pub jobs: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Time of the answered jobs beyond what their workers spent computing, summed.
    pub overhead_ms: AtomicU64,
    pub failed: AtomicU64,
}

/// [`TransportStats`] read at one moment (`/admin/tree`, `/metrics`).
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportSnapshot {
    pub jobs: u64,
    pub failed: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub overhead_ms: u64,
}

impl TransportStats {
    pub fn snapshot(&self) -> TransportSnapshot {
        TransportSnapshot {
            jobs: self.jobs.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            overhead_ms: self.overhead_ms.load(Ordering::Relaxed),
        }
    }
}

/// Sends jobs and routes their answers.
pub struct Remote {
    cluster: Arc<Cluster>,
    /// The sessions' events to and from the other nodes.
    pub events: Arc<super::events::EventBus>,
    reply_stream: String,
    waiting: Mutex<HashMap<Uuid, mpsc::UnboundedSender<Reply>>>,
    pub stats: TransportStats,
}

impl Remote {
    /// Starts reading this node's reply stream; the task ends when the returned value is
    /// dropped (it holds a weak reference).
    pub fn start(cluster: Arc<Cluster>) -> Arc<Self> {
        let me = Arc::new(Self {
            reply_stream: wire::reply_stream(&cluster.node),
            events: super::events::EventBus::start(Arc::clone(&cluster)),
            cluster,
            waiting: Mutex::new(HashMap::new()),
            stats: TransportStats::default(),
        });
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move { read_replies(weak).await });
        me
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Whether a job sent now would find Redis and a worker.
    pub fn available(&self) -> bool {
        self.cluster.is_up() && self.cluster.engine_workers() > 0
    }

    /// Sends a job of `kind` for `session` (sealed with its data key `key`)
    /// and waits for its result; `progress` hears how far it is.
    pub async fn run<T: DeserializeOwned>(
        &self,
        kind: JobKind,
        session: Uuid,
        key: &JobKey,
        params: JobParams,
        body: &[u8],
        progress: &(dyn Fn(JobProgress) + Sync),
    ) -> Result<Result<T, Failure>, ClusterError> {
        let id = Uuid::new_v4();
        let header = JobHeader {
            id,
            session,
            reply_to: self.reply_stream.clone(),
            wrapped_key: base64::engine::general_purpose::STANDARD.encode(&key.wrapped),
            params,
            sent_ms: wire::now_ms(),
        };
        let header =
            serde_json::to_string(&header).map_err(|e| ClusterError::Codec(e.to_string()))?;
        let sealed = key
            .key
            .seal(&wire::aad(&id, "body"), body)
            .map_err(|e| ClusterError::Codec(e.to_string()))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.lock().insert(id, tx);
        let _forget = Forget { remote: self, id };
        let started = Instant::now();
        let mut conn = self.cluster.conn().await?;
        let backlog: u64 = redis::cmd("XLEN")
            .arg(kind.stream())
            .query_async(&mut conn)
            .await
            .map_err(|e| self.cluster.failed(e))?;
        if backlog as usize >= self.cluster.settings.stream_max_len {
            return Err(ClusterError::Down(format!(
                "the {} stream is full ({backlog} jobs waiting)",
                kind.as_str()
            )));
        }
        let _: String = redis::cmd("XADD")
            .arg(kind.stream())
            .arg("*")
            .arg(HEADER)
            .arg(&header)
            .arg(BODY)
            .arg(&sealed)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.cluster.failed(e))?;
        self.cluster.answered();
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_sent
            .fetch_add((header.len() + sealed.len()) as u64, Ordering::Relaxed);
        let timeout = self.cluster.settings.job_timeout();
        let (mut probed, mut done_seen) = (false, 0usize);
        let waited = tokio::time::timeout(timeout, async {
            while let Some(reply) = rx.recv().await {
                match reply {
                    Reply::Progress {
                        probed: Some(frames),
                        ..
                    } if !probed => {
                        probed = true;
                        progress(JobProgress::Probed { frames });
                    }
                    Reply::Progress { done, total, .. } if done > done_seen => {
                        done_seen = done;
                        progress(JobProgress::Analysed { done, total });
                    }
                    Reply::Progress { .. } => {}
                    Reply::Done { body, compute_ms } => return Some(Ok((body, compute_ms))),
                    Reply::Failed(f) => return Some(Err(f)),
                }
            }
            None
        })
        .await;
        let outcome = match waited {
            Ok(Some(o)) => o,
            Ok(None) => return Err(ClusterError::Down("the reply reader stopped".into())),
            Err(_) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                return Err(ClusterError::Timeout(timeout));
            }
        };
        match outcome {
            Ok((body, compute_ms)) => {
                let elapsed = started.elapsed().as_millis() as u64;
                self.stats
                    .overhead_ms
                    .fetch_add(elapsed.saturating_sub(compute_ms), Ordering::Relaxed);
                self.stats
                    .bytes_received
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                let plain = key
                    .key
                    .open(&wire::aad(&id, "result"), &body)
                    .map_err(|e| {
                        ClusterError::Codec(format!("the result cannot be opened: {e}"))
                    })?;
                let value = serde_json::from_slice(&plain)
                    .map_err(|e| ClusterError::Codec(format!("the result cannot be read: {e}")))?;
                Ok(Ok(value))
            }
            Err(f) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                Ok(Err(f))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, mpsc::UnboundedSender<Reply>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands one reply entry to its waiter (none: a job already answered, or from before a
    /// restart: dropped).
    fn dispatch(&self, entry: &redis::streams::StreamId) {
        let Some(header) = entry
            .map
            .get(HEADER)
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .and_then(|h| serde_json::from_str::<ReplyHeader>(&h).ok())
        else {
            tracing::warn!(entry = %entry.id, "a reply that cannot be read; dropped");
            return;
        };
        let reply = match header.clone() {
            ReplyHeader::Progress {
                probed,
                done,
                total,
                ..
            } => Reply::Progress {
                probed,
                done,
                total,
            },
            ReplyHeader::Done { compute_ms, .. } => Reply::Done {
                body: entry
                    .map
                    .get(BODY)
                    .and_then(|v| redis::from_redis_value_ref::<Vec<u8>>(v).ok())
                    .unwrap_or_default(),
                compute_ms,
            },
            ReplyHeader::Failed {
                code,
                message,
                bad_input,
                ..
            } => Reply::Failed(Failure {
                code,
                message,
                bad_input,
            }),
        };
        if let Some(tx) = self.lock().get(&header.job()) {
            let _ = tx.send(reply);
        }
    }
}

/// Takes a job's waiter away however its wait ends.
struct Forget<'a> {
    remote: &'a Remote,
    id: Uuid,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.remote.lock().remove(&self.id);
    }
}

/// Reads the reply stream from its end (as it was at start) for as long as the [`Remote`]
/// lives; each entry read is deleted. Reconnects after a failure.
async fn read_replies(remote: std::sync::Weak<Remote>) {
    let mut last: Option<String> = None;
    let mut conn = None;
    loop {
        let Some(me) = remote.upgrade() else { return };
        let c = match conn.take() {
            Some(c) => c,
            None => match me.cluster.blocking_conn(BLOCK).await {
                Ok(c) => c,
                Err(_) => {
                    drop(me);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        let mut c: redis::aio::MultiplexedConnection = c;
        if last.is_none() {
            // Only what comes after this start: older entries answer jobs nobody waits for.
            let r: Result<redis::streams::StreamRangeReply, _> = redis::cmd("XREVRANGE")
                .arg(&me.reply_stream)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut c)
                .await;
            match r {
                Ok(r) => last = Some(r.ids.first().map_or_else(|| "0-0".into(), |e| e.id.clone())),
                Err(e) => {
                    me.cluster.failed(e);
                    drop(me);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let from = last.clone().unwrap_or_else(|| "0-0".into());
        let key = me.reply_stream.clone();
        drop(me);
        let read: Result<Option<redis::streams::StreamReadReply>, _> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(64)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(&from)
            .query_async(&mut c)
            .await;
        let Some(me) = remote.upgrade() else { return };
        match read {
            Ok(reply) => {
                me.cluster.answered();
                let ids: Vec<redis::streams::StreamId> = reply
                    .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                    .unwrap_or_default();
                for entry in &ids {
                    me.dispatch(entry);
                }
                if let Some(end) = ids.last() {
                    last = Some(end.id.clone());
                    let mut del = redis::cmd("XDEL");
                    del.arg(&key);
                    for e in &ids {
                        del.arg(&e.id);
                    }
                    let _: Result<u64, _> = del.query_async(&mut c).await;
                }
                conn = Some(c);
            }
            Err(e) => {
                me.cluster.failed(e);
                drop(me);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
