//! The KYC sessions of this node as the HTTP layer sees them: the journal (under the data
//! folder), the supervisor of the session actors, where uploads are kept, and the check of a
//! session's bearer token.

use crate::engines::Engines;
use crate::flow::{JobQueue, KycPipeline, QueueStats};
use crate::metrics::Metrics;
use crate::settings::Settings;
use actors::session::supervisor::SupervisorArgs;
use actors::session::{
    Job, Journal, JournalError, Pipeline, SessionError, SessionEvent, SessionId, SessionMsg,
    SessionRecord, SessionSupervisor, Step, SupervisorMsg, SupervisorStats,
};
use anyhow::Context;
use ractor::{Actor, ActorRef};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The sessions service.
pub struct Sessions {
    pub journal: Journal,
    supervisor: ActorRef<SupervisorMsg>,
    media_dir: PathBuf,
    /// Admission of jobs to the engines (`None` without a pipeline).
    queue: Option<Arc<JobQueue>>,
    metrics: Option<Arc<Metrics>>,
}

/// What can go wrong between the HTTP layer and the sessions.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("session {0} not found")]
    Unknown(SessionId),
    #[error("the session token is missing or does not belong to this session")]
    Token,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the session supervisor is not running")]
    Down,
}

/// SHA-256 of a token, hex: what the journal keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh bearer token: 256 random bits (two v4 UUIDs' worth of the OS's randomness), hex.
fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Compares secrets without an early exit, so the time taken does not tell how much matched.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// Opens the journal in `{data_dir}/journal`, starts the supervisor (which brings back
    /// every live session and reruns its pending job) with the KYC pipeline over `engines`.
    pub async fn start(settings: Arc<Settings>, engines: Arc<Engines>) -> anyhow::Result<Self> {
        let data = settings.server.data_dir.clone();
        let journal = Journal::open(&data.join("journal"))
            .with_context(|| format!("cannot open the session journal in {}", data.display()))?;
        let s = &settings.sessions;
        let running = match s.max_running_jobs {
            0 => 2 * engines.face.status().workers,
            n => n,
        };
        let queue = Arc::new(JobQueue::new(running, s.max_waiting_jobs));
        let metrics = Arc::new(Metrics::default());
        let pipeline = KycPipeline::new(
            Arc::clone(&settings),
            engines,
            journal.clone(),
            Arc::clone(&queue),
            Arc::clone(&metrics),
        );
        let mut sessions = Self::start_with(&settings, journal, Some(Arc::new(pipeline))).await?;
        sessions.queue = Some(queue);
        sessions.metrics = Some(metrics);
        Ok(sessions)
    }

    /// As [`Sessions::start`], with the given journal and pipeline.
    pub async fn start_with(
        settings: &Settings,
        journal: Journal,
        pipeline: Option<Arc<dyn Pipeline>>,
    ) -> anyhow::Result<Self> {
        let media_dir = settings.server.data_dir.join("media");
        let incoming = media_dir.join("incoming");
        std::fs::create_dir_all(&incoming)
            .with_context(|| format!("cannot create {}", media_dir.display()))?;
        // Uploads cut off by a crash were never acknowledged: drop them.
        for e in std::fs::read_dir(&incoming)?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let args = SupervisorArgs {
            journal: journal.clone(),
            idle_timeout: settings.sessions.idle_timeout(),
            pipeline,
        };
        let (supervisor, _) = Actor::spawn(None, SessionSupervisor, args)
            .await
            .context("cannot start the session supervisor")?;
        Ok(Self {
            journal,
            supervisor,
            media_dir,
            queue: None,
            metrics: None,
        })
    }

    /// A new session and its token (shown once; only its hash is kept).
    pub async fn create(&self) -> Result<(SessionRecord, String), SessionsError> {
        let token = new_token();
        let record =
            actors::session::supervisor::create(&self.supervisor, token_hash(&token)).await?;
        Ok((record, token))
    }

    /// The session `id` when `token` is its token.
    pub fn authorize(
        &self,
        id: &SessionId,
        token: Option<&str>,
    ) -> Result<SessionRecord, SessionsError> {
        let record = self
            .journal
            .record(id)?
            .ok_or(SessionsError::Unknown(*id))?;
        let Some(token) = token else {
            return Err(SessionsError::Token);
        };
        if record.token_sha256.is_empty() || !same_secret(&record.token_sha256, &token_hash(token))
        {
            return Err(SessionsError::Token);
        }
        Ok(record)
    }

    /// The actor of session `id` (reloaded from the journal when it was passivated).
    pub async fn actor(&self, id: SessionId) -> Result<ActorRef<SessionMsg>, SessionsError> {
        ractor::call!(self.supervisor, |reply| SupervisorMsg::Get { id, reply })
            .map_err(|_| SessionsError::Down)?
            .map_err(|e| match e {
                SessionError::Journal(JournalError::UnknownSession(id)) => {
                    SessionsError::Unknown(id)
                }
                e => e.into(),
            })
    }

    /// Journals `step` in session `id` (progress, or a transition such as an expiry).
    pub async fn record(&self, id: SessionId, step: Step) -> Result<SessionEvent, SessionsError> {
        let actor = self.actor(id).await?;
        Ok(
            ractor::call!(actor, |reply| SessionMsg::Record { step, reply })
                .map_err(|_| SessionsError::Down)??,
        )
    }

    /// Journals `step` with `job` as session `id`'s work, which then starts; refused while
    /// another job is pending or when the state does not allow the step.
    pub async fn submit(
        &self,
        id: SessionId,
        job: Job,
        step: Step,
    ) -> Result<SessionEvent, SessionsError> {
        let actor = self.actor(id).await?;
        Ok(
            ractor::call!(actor, |reply| SessionMsg::Submit { job, step, reply })
                .map_err(|_| SessionsError::Down)??,
        )
    }

    /// True when so many jobs wait for the engines that new work must be refused.
    pub fn busy(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| q.is_full())
    }

    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// The actor of session `id` when it is in memory (a passivated one is not reloaded).
    pub async fn running_actor(&self, id: SessionId) -> Option<ActorRef<SessionMsg>> {
        ractor::call!(self.supervisor, |reply| SupervisorMsg::Find { id, reply })
            .ok()
            .flatten()
    }

    pub fn queue_stats(&self) -> Option<QueueStats> {
        self.queue.as_ref().map(|q| q.stats())
    }

    /// Every session in the journal counted by state (each record is read: on the blocking
    /// pool).
    pub async fn count_by_state(&self) -> Result<BTreeMap<String, usize>, SessionsError> {
        let journal = self.journal.clone();
        let records = tokio::task::spawn_blocking(move || journal.all())
            .await
            .map_err(|_| SessionsError::Down)??;
        let mut out = BTreeMap::new();
        for r in records {
            *out.entry(r.state.as_str().to_owned()).or_default() += 1;
        }
        Ok(out)
    }

    pub async fn stats(&self) -> Result<SupervisorStats, SessionsError> {
        ractor::call!(self.supervisor, SupervisorMsg::Stats).map_err(|_| SessionsError::Down)
    }

    /// Where uploads are written while they arrive.
    pub fn incoming_dir(&self) -> PathBuf {
        self.media_dir.join("incoming")
    }

    /// The folder of session `id`'s media.
    pub fn session_dir(&self, id: &SessionId) -> PathBuf {
        self.media_dir.join(id.simple().to_string())
    }

    /// Moves a finished upload into the session's folder, durably, and returns its new path.
    pub async fn keep_upload(
        &self,
        id: &SessionId,
        from: &Path,
        name: &str,
    ) -> std::io::Result<PathBuf> {
        let dir = self.session_dir(id);
        tokio::fs::create_dir_all(&dir).await?;
        let to = dir.join(name);
        tokio::fs::rename(from, &to).await?;
        let d = dir.clone();
        // The rename is durable once the folder is synced.
        tokio::task::spawn_blocking(move || std::fs::File::open(&d).and_then(|f| f.sync_all()))
            .await
            .map_err(std::io::Error::other)??;
        Ok(to)
    }

    /// Stops the supervisor and every session actor (the journal keeps them).
    pub async fn stop(&self) {
        let _ = self.supervisor.stop_and_wait(None, None).await;
        if let Err(e) = self.journal.flush().await {
            tracing::warn!(error = %e, "final journal flush failed");
        }
    }
}
