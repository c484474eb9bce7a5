//! The engine side of jobs over Redis: per job kind, a loop that takes up to `cluster.batch`
//! jobs at once from the kind's stream as a member of the `engines` consumer group — first the
//! jobs a silent worker has held past the visibility timeout (`XAUTOCLAIM`), then new ones
//! (`XREADGROUP`) — runs each on this node's pool, answers on the asker's reply stream, then
//! acknowledges and deletes it. While a job runs its worker renews its claim, so only a dead
//! worker's jobs are taken over; a job handed out more than `max_deliveries` times is answered
//! as failed (the poison rule) instead of killing one more worker.

use super::wire::{
    self, BODY, FaceResult, Failure, GROUP, HEADER, JobHeader, JobKind, JobParams, JobProgress,
    ReplyHeader,
};
use super::{Cluster, ClusterError};
use crate::crypto::{DataKey, MasterKey};
use crate::engines::{Engines, face_here, video_here};
use crate::settings::Settings;
use crate::verify::VerifyOptions;
use base64::Engine as _;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long one blocking read for new jobs waits.
const BLOCK: Duration = Duration::from_secs(1);
/// Reply streams are trimmed to about this many entries and expire a day after their last.
const REPLY_MAX_LEN: usize = 10_000;
const REPLY_TTL_SECS: u64 = 86_400;

/// Takes jobs from Redis and runs them on this node's engines.
pub struct Worker {
    cluster: Arc<Cluster>,
    engines: Arc<Engines>,
    master: Arc<MasterKey>,
    settings: Arc<Settings>,
    /// Where a video job's file lives while it runs (removed when the job ends).
    work_dir: std::path::PathBuf,
}

impl Worker {
    pub fn new(
        cluster: Arc<Cluster>,
        engines: Arc<Engines>,
        master: Arc<MasterKey>,
        settings: Arc<Settings>,
    ) -> Result<Arc<Self>, crate::media::MediaError> {
        let work_dir = settings.server.data_dir.join("work");
        crate::media::private_dir(&work_dir)?;
        Ok(Arc::new(Self {
            cluster,
            engines,
            master,
            settings,
            work_dir,
        }))
    }

    /// One loop per job kind; they run until aborted.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        JobKind::ALL
            .into_iter()
            .map(|kind| {
                let me = Arc::clone(self);
                tokio::spawn(async move { me.serve(kind).await })
            })
            .collect()
    }

    async fn serve(self: Arc<Self>, kind: JobKind) {
        let slots = Arc::new(Semaphore::new(self.cluster.settings.batch));
        let mut conn: Option<MultiplexedConnection> = None;
        let mut grouped = false;
        let mut reported = false;
        loop {
            // At least one free slot before taking anything.
            let Ok(first) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let c = match conn.take() {
                Some(c) => c,
                None => match self.cluster.blocking_conn(BLOCK).await {
                    Ok(c) => c,
                    Err(e) => {
                        if !reported {
                            tracing::warn!(kind = kind.as_str(), error = %e, "engine worker cannot reach Redis; retrying");
                            reported = true;
                        }
                        drop(first);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let mut c = c;
            if !grouped {
                match ensure_group(&mut c, kind).await {
                    Ok(()) => grouped = true,
                    Err(e) => {
                        self.cluster.failed(e);
                        drop(first);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            let n = 1 + slots.available_permits();
            let taken = match self.take(&mut c, kind, n).await {
                Ok(t) => t,
                Err(e) => {
                    // A lost connection (Redis restarted: the group may be gone too).
                    self.cluster.failed(e);
                    grouped = false;
                    drop(first);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            reported = false;
            self.cluster.answered();
            conn = Some(c);
            let mut first = Some(first);
            for (entry, deliveries) in taken {
                let permit = match first.take() {
                    Some(p) => p,
                    None => match Arc::clone(&slots).acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                };
                let me = Arc::clone(&self);
                tokio::spawn(async move {
                    me.handle(kind, entry, deliveries).await;
                    drop(permit);
                });
            }
        }
    }

    /// Up to `n` jobs: those a silent worker held too long, else new ones (blocking briefly).
    /// Each with how often it has been handed out.
    async fn take(
        &self,
        c: &mut MultiplexedConnection,
        kind: JobKind,
        n: usize,
    ) -> Result<Vec<(StreamId, usize)>, redis::RedisError> {
        let idle = self.cluster.settings.visibility_timeout().as_millis() as u64;
        let claimed: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(kind.stream())
            .arg(GROUP)
            .arg(&self.cluster.node)
            .arg(idle)
            .arg("0-0")
            .arg("COUNT")
            .arg(n)
            .query_async(c)
            .await?;
        if !claimed.claimed.is_empty() {
            let mut out = Vec::new();
            for entry in claimed.claimed {
                let deliveries = deliveries(c, kind, &entry.id).await?;
                tracing::warn!(kind = kind.as_str(), job = %entry.id, deliveries, "took over a job whose worker went silent");
                out.push((entry, deliveries));
            }
            return Ok(out);
        }
        let read: Option<redis::streams::StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.cluster.node)
            .arg("COUNT")
            .arg(n)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(kind.stream())
            .arg(">")
            .query_async(c)
            .await?;
        Ok(read
            .map(|r| {
                r.keys
                    .into_iter()
                    .flat_map(|k| k.ids)
                    .map(|e| (e, 1))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Runs one job and answers it; acknowledged (and deleted) once answered.
    async fn handle(&self, kind: JobKind, entry: StreamId, deliveries: usize) {
        let header = entry
            .map
            .get(HEADER)
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .and_then(|h| serde_json::from_str::<JobHeader>(&h).ok());
        let Some(header) = header else {
            tracing::warn!(kind = kind.as_str(), job = %entry.id, "a job that cannot be read; dropped");
            self.finish(kind, &entry.id).await;
            return;
        };
        let max = self.cluster.settings.max_deliveries as usize;
        if deliveries > max {
            let failure = Failure {
                code: "ENGINE_JOB_ABANDONED".into(),
                message: format!(
                    "the job was handed to engine workers {deliveries} times and none finished it"
                ),
                bad_input: false,
            };
            tracing::warn!(kind = kind.as_str(), job = %header.id, deliveries, "job given up (poison rule)");
            self.answer(&header, Err(failure)).await;
            self.finish(kind, &entry.id).await;
            return;
        }
        let renew = self.keep_claim(kind, entry.id.clone());
        let started = Instant::now();
        let outcome = self.run(kind, &header, &entry).await;
        let compute_ms = started.elapsed().as_millis() as u64;
        self.answer(&header, outcome.map(|(key, json)| (key, json, compute_ms)))
            .await;
        renew.abort();
        self.finish(kind, &entry.id).await;
    }

    /// The job's work on this node's pool: its result as JSON, with the key to seal it.
    async fn run(
        &self,
        kind: JobKind,
        header: &JobHeader,
        entry: &StreamId,
    ) -> Result<(DataKey, Vec<u8>), Failure> {
        let engine_failure = |message: String| Failure {
            code: "ENGINE_ERROR".into(),
            message,
            bad_input: false,
        };
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(&header.wrapped_key)
            .map_err(|e| engine_failure(format!("the job's key is not base64: {e}")))?;
        let key = crate::media::open_wrapped_key(&self.master, &header.session, &wrapped)
            .map_err(|e| {
                engine_failure(format!(
                    "this engine node cannot open the session's key ({e}): every node needs the same security.master_key"
                ))
            })?;
        let sealed = entry
            .map
            .get(BODY)
            .and_then(|v| redis::from_redis_value_ref::<Vec<u8>>(v).ok())
            .unwrap_or_default();
        let body = key
            .open(&wire::aad(&header.id, "body"), &sealed)
            .map_err(|e| engine_failure(format!("the job's body cannot be opened: {e}")))?;
        let pool = self
            .engines
            .face
            .as_ref()
            .ok_or_else(|| engine_failure("this node runs no engine pool".into()))?;
        let json = match (&header.params, kind) {
            (
                JobParams::Video {
                    mode,
                    asked,
                    deadline_ms,
                    ext,
                },
                JobKind::Video,
            ) => {
                let ext: String = ext
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(8)
                    .collect();
                // A few MB written: off the async threads.
                let dir = self.work_dir.clone();
                let file = tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    let mut f = tempfile::Builder::new()
                        .prefix("job-")
                        .suffix(&format!(".{ext}"))
                        .tempfile_in(dir)?;
                    f.write_all(&body)?;
                    f.flush()?;
                    Ok::<_, std::io::Error>(f)
                })
                .await
                .map_err(|e| engine_failure(format!("cannot write the video here: {e}")))?
                .map_err(|e| engine_failure(format!("cannot write the video here: {e}")))?;
                let mut opts = VerifyOptions::from_settings(&self.settings);
                opts.liveness.policy.mode = *mode;
                let left = deadline_ms.saturating_sub(wire::now_ms());
                opts.limits.deadline = Some(Instant::now() + Duration::from_millis(left));
                let sender = self.progress_sender(header);
                let report = move |p: JobProgress| {
                    let _ = sender.send(p);
                };
                let r = video_here(
                    pool,
                    file.path().to_path_buf(),
                    &opts,
                    asked.as_deref(),
                    &report,
                )
                .await?;
                serde_json::to_vec(&r)
            }
            (JobParams::Face, JobKind::Face) => {
                let r: FaceResult = face_here(pool, Arc::from(body.as_slice())).await?;
                serde_json::to_vec(&r)
            }
            _ => {
                return Err(engine_failure(
                    "the job's parameters are of another kind".into(),
                ));
            }
        }
        .map_err(|e| engine_failure(format!("the result cannot be written: {e}")))?;
        Ok((key, json))
    }

    /// Progress goes out in order from one task per job.
    fn progress_sender(
        &self,
        header: &JobHeader,
    ) -> tokio::sync::mpsc::UnboundedSender<JobProgress> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JobProgress>();
        let cluster = Arc::clone(&self.cluster);
        let (job, reply_to) = (header.id, header.reply_to.clone());
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let h = match p {
                    JobProgress::Probed { frames } => ReplyHeader::Progress {
                        job,
                        probed: Some(frames),
                        done: 0,
                        total: frames,
                    },
                    JobProgress::Analysed { done, total } => ReplyHeader::Progress {
                        job,
                        probed: None,
                        done,
                        total,
                    },
                };
                let _ = send_reply(&cluster, &reply_to, &h, None).await;
            }
        });
        tx
    }

    /// Answers a job: its result sealed with the session's key (and the worker's time on
    /// it), or its failure.
    async fn answer(&self, header: &JobHeader, outcome: Result<(DataKey, Vec<u8>, u64), Failure>) {
        let (job, worker) = (header.id, self.cluster.node.clone());
        let sealed = outcome.and_then(|(key, json, compute_ms)| {
            key.seal(&wire::aad(&job, "result"), &json)
                .map(|sealed| (sealed, compute_ms))
                .map_err(|e| Failure {
                    code: "ENGINE_ERROR".into(),
                    message: format!("the result cannot be sealed: {e}"),
                    bad_input: false,
                })
        });
        let (h, body) = match sealed {
            Ok((sealed, compute_ms)) => (
                ReplyHeader::Done {
                    job,
                    worker,
                    compute_ms,
                },
                Some(sealed),
            ),
            Err(f) => (
                ReplyHeader::Failed {
                    job,
                    worker,
                    code: f.code,
                    message: f.message,
                    bad_input: f.bad_input,
                },
                None,
            ),
        };
        if let Err(e) = send_reply(&self.cluster, &header.reply_to, &h, body.as_deref()).await {
            tracing::warn!(job = %job, error = %e, "cannot answer a job");
        }
    }

    /// Renews the claim on a running job every third of the visibility timeout, so no other
    /// worker takes it over while this one works.
    fn keep_claim(&self, kind: JobKind, id: String) -> tokio::task::JoinHandle<()> {
        let cluster = Arc::clone(&self.cluster);
        let every = cluster.settings.visibility_timeout() / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Ok(mut c) = cluster.conn().await else {
                    continue;
                };
                let _: Result<redis::Value, _> = redis::cmd("XCLAIM")
                    .arg(kind.stream())
                    .arg(GROUP)
                    .arg(&cluster.node)
                    .arg(0)
                    .arg(&id)
                    .arg("JUSTID")
                    .query_async(&mut c)
                    .await;
            }
        })
    }

    /// Acknowledges a job and removes it from its stream.
    async fn finish(&self, kind: JobKind, id: &str) {
        let Ok(mut c) = self.cluster.conn().await else {
            return;
        };
        let r: Result<((), ()), redis::RedisError> = redis::pipe()
            .cmd("XACK")
            .arg(kind.stream())
            .arg(GROUP)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(kind.stream())
            .arg(id)
            .ignore()
            .query_async(&mut c)
            .await
            .map(|()| ((), ()));
        if let Err(e) = r {
            tracing::warn!(job = %id, error = %e, "cannot acknowledge a job (another worker may run it again)");
        }
    }
}

/// Creates the consumer group of `kind`'s stream (and the stream) unless it exists.
async fn ensure_group(
    c: &mut MultiplexedConnection,
    kind: JobKind,
) -> Result<(), redis::RedisError> {
    let r: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(kind.stream())
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(c)
        .await;
    match r {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// How many times job `id` has been handed out.
async fn deliveries(
    c: &mut MultiplexedConnection,
    kind: JobKind,
    id: &str,
) -> Result<usize, redis::RedisError> {
    let v: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(kind.stream())
        .arg(GROUP)
        .arg(id)
        .arg(id)
        .arg(1)
        .query_async(c)
        .await?;
    Ok(v.first().map_or(1, |e| e.3 as usize))
}

/// Adds an answer to a reply stream (trimmed, expiring).
async fn send_reply(
    cluster: &Cluster,
    stream: &str,
    header: &ReplyHeader,
    body: Option<&[u8]>,
) -> Result<(), ClusterError> {
    let mut c = cluster.conn().await?;
    let h = serde_json::to_string(header).map_err(|e| ClusterError::Codec(e.to_string()))?;
    let mut xadd = redis::cmd("XADD");
    xadd.arg(stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(REPLY_MAX_LEN)
        .arg("*")
        .arg(HEADER)
        .arg(h);
    if let Some(b) = body {
        xadd.arg(BODY).arg(b);
    }
    let r: Result<(String, bool), redis::RedisError> = redis::pipe()
        .add_command(xadd)
        .cmd("EXPIRE")
        .arg(stream)
        .arg(REPLY_TTL_SECS)
        .query_async(&mut c)
        .await;
    r.map(|_| ()).map_err(|e| cluster.failed(e))
}
