//! The KYC sessions of this node, and the one door to them: the journal (under the data
//! folder) is private here; the HTTP layer creates sessions, checks tokens, asks typed
//! questions (status, ID capture, comparison report, events since a number), hands over
//! uploads and live frames, and never reads sled itself.

use crate::consent::Consent;
use crate::engines::Engines;
use crate::flow::live::{LiveError, LiveLane, LiveStats};
use crate::flow::{ComparisonReport, IdCaptureStatus, JobQueue, KycPipeline, QueueStats};
use crate::media::MediaStore;
use crate::metrics::Metrics;
use crate::records::{AuditLog, Outbox, OutboxRecords, Record};
use crate::settings::Settings;
use actors::session::supervisor::SupervisorArgs;
use actors::session::{
    Intake, Job, Journal, JournalError, Message, Owner, SessionError, SessionEvent, SessionId,
    SessionMsg, SessionRecord, SessionState, SessionSupervisor, Stage, Step, SupervisorMsg,
    SupervisorStats,
};
use anyhow::Context;
use ractor::{Actor, ActorRef};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

mod erase;
mod export;
mod open;
pub use erase::{ErasureReport, Purged};
pub use export::SessionExport;

/// The sessions service.
pub struct Sessions {
    journal: Journal,
    supervisor: ActorRef<SupervisorMsg>,
    media: Arc<MediaStore>,
    /// Admission of jobs to the engines.
    queue: Arc<JobQueue>,
    metrics: Arc<Metrics>,
    live: LiveLane,
    /// The records the sessions' steps leave, waiting in the journal's database.
    outbox: Outbox,
    /// The audit chain (its head beside the outbox).
    audit: AuditLog,
    /// Each tenant's open sessions (`sessions.max_open_per_tenant`).
    open: open::OpenSessions,
    /// `sessions.max_lifetime_secs`, in ms: a session older than this is no longer open.
    lifetime_ms: u64,
    /// The tenants, once open (the jobs read each one's liveness mode).
    tenants: Arc<crate::flow::TenantsCell>,
}

/// What can go wrong between the HTTP layer and the sessions.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("session {0} not found")]
    Unknown(SessionId),
    #[error("no session token was given")]
    NoToken,
    #[error("the session token is missing or does not belong to this session")]
    Token,
    #[error("{} is not accepted in state {}", .intake.what(), .state.as_str())]
    NotNow { intake: Intake, state: SessionState },
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the session supervisor is not running")]
    Down,
    #[error(
        "no consent is recorded for this session: send it with POST /api/v1/sessions or \
         POST /api/v1/sessions/{{id}}/consent before any upload"
    )]
    ConsentRequired,
    #[error("consent is already recorded for this session")]
    ConsentGiven,
    #[error("the session has ended (state {}): it takes nothing more", .0.as_str())]
    Ended(SessionState),
    #[error("session {0} was erased: its personal data is gone")]
    Erased(SessionId),
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    #[error(transparent)]
    Outbox(#[from] crate::records::OutboxError),
    #[error(transparent)]
    Records(#[from] crate::records::RecordsError),
}

/// The journal artifact holding a session's [`Consent`].
const CONSENT: &str = "consent";

/// A session whose token the request showed: only [`Sessions::authorize`] makes one, so a
/// handler holding it has checked the token.
#[derive(Debug, Clone)]
pub struct AuthorizedSession {
    record: SessionRecord,
    consent: Option<Consent>,
}

impl AuthorizedSession {
    pub fn id(&self) -> SessionId {
        self.record.id
    }

    /// The session as it was when the token was checked.
    pub fn record(&self) -> &SessionRecord {
        &self.record
    }

    /// What the person agreed to, if recorded.
    pub fn consent(&self) -> Option<&Consent> {
        self.consent.as_ref()
    }

    /// Whether the session takes `intake` now: consent recorded, no job pending and a state
    /// the machine allows it in.
    pub fn check(&self, intake: Intake) -> Result<(), SessionsError> {
        if self.record.state == SessionState::Erased {
            return Err(SessionsError::Erased(self.record.id));
        }
        if self.consent.is_none() {
            return Err(SessionsError::ConsentRequired);
        }
        if self.record.pending.is_some() {
            return Err(SessionError::Busy.into());
        }
        if self.record.state.accepts(intake) {
            Ok(())
        } else {
            Err(SessionsError::NotNow {
                intake,
                state: self.record.state,
            })
        }
    }
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
    /// Opens the journal in `{data_dir}/journal` (artifacts sealed with each session's data
    /// key, the records' outbox beside the events), starts the supervisor (which brings back
    /// every live session and reruns its pending job) with the KYC pipeline over `engines`.
    pub async fn start(settings: Arc<Settings>, engines: Arc<Engines>) -> anyhow::Result<Self> {
        let data = settings.server.data_dir.clone();
        let s = &settings.sessions;
        let running = match s.max_running_jobs {
            0 => 2 * engines.workers().max(1),
            n => n,
        };
        let queue = Arc::new(JobQueue::new(
            running,
            s.max_waiting_jobs,
            s.tenant_job_share,
        ));
        let metrics = Arc::new(Metrics::default());
        let live = LiveLane::new(s.live_lane(), crate::engines::image_limits(&settings));
        // Folders made private, unacknowledged uploads and job plaintext a stopped process left
        // removed, the master key read (or, in development, the data folder's own).
        let master = crate::media::master::resolve(&settings)?;
        let media = Arc::new(MediaStore::open(&data, master)?);
        let journal = Journal::open(&data.join("journal"))
            .with_context(|| format!("cannot open the session journal in {}", data.display()))?
            .sealed_with(Arc::new(crate::media::SessionSeal::new(Arc::clone(&media))));
        let outbox = Outbox::open(journal.db()).context("cannot open the records outbox")?;
        let audit = AuditLog::open(&outbox).context("cannot open the audit chain")?;
        let tenants = Arc::new(crate::flow::TenantsCell::new());
        let pipeline = KycPipeline::new(
            Arc::clone(&settings),
            engines,
            Arc::clone(&queue),
            Arc::clone(&metrics),
            Arc::clone(&media),
            outbox.clone(),
            Arc::clone(&tenants),
        );
        let args = SupervisorArgs {
            journal: journal.clone(),
            idle_timeout: settings.sessions.idle_timeout(),
            pipeline: Some(Arc::new(pipeline)),
        };
        let (supervisor, _) = Actor::spawn(None, SessionSupervisor, args)
            .await
            .context("cannot start the session supervisor")?;
        let sessions = Self {
            journal,
            supervisor,
            media,
            queue,
            metrics,
            live,
            outbox,
            audit,
            open: open::OpenSessions::default(),
            tenants,
            lifetime_ms: settings.sessions.max_lifetime_secs.saturating_mul(1000),
        };
        sessions
            .finish_erasures()
            .context("cannot finish the erasures a stopped process left")?;
        let indexed = sessions
            .journal
            .index_tokens()
            .context("cannot index the session tokens")?;
        if indexed > 0 {
            tracing::info!(sessions = indexed, "indexed the tokens of earlier sessions");
        }
        Ok(sessions)
    }

    /// The tenants, once open (read from the records store, which opens after the sessions):
    /// a session's jobs follow its tenant's options (its liveness mode).
    pub fn attach_tenants(&self, tenants: &Arc<crate::tenants::Tenants>) {
        if self.tenants.set(Arc::downgrade(tenants)).is_err() {
            tracing::warn!("the sessions already have their tenants");
        }
    }

    /// The outbox of the sessions' records (drained into the records store).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The webhook notifications queued beside the journal.
    pub fn webhook_queue(&self) -> Result<crate::webhooks::WebhookQueue, SessionsError> {
        crate::webhooks::WebhookQueue::open(self.journal.db())
            .map_err(|e| SessionsError::Journal(e.into()))
    }

    /// A new session for `owner` and its token (shown once; only its hash is kept), recorded
    /// as created.
    pub async fn create(&self, owner: Owner) -> Result<(SessionRecord, String), SessionsError> {
        let token = new_token();
        let created = OutboxRecords::step(&self.outbox, vec![Record::SessionCreated]);
        let record = actors::session::supervisor::create_with(
            &self.supervisor,
            token_hash(&token),
            owner,
            Some(created),
        )
        .await?;
        Ok((record, token))
    }

    /// Session `id` for its tenant `tenant`: [`SessionsError::Unknown`] also when it is another
    /// tenant's, so a tenant learns nothing of others' sessions.
    pub fn of_tenant(
        &self,
        id: &SessionId,
        tenant: &str,
    ) -> Result<AuthorizedSession, SessionsError> {
        let record = self
            .journal
            .record(id)?
            .filter(|r| r.tenant.as_deref() == Some(tenant))
            .ok_or(SessionsError::Unknown(*id))?;
        self.authorized(record)
    }

    /// Up to `limit` sessions of `tenant` after `before` (the last of the previous page),
    /// newest first (read on the blocking pool).
    pub async fn list_of_tenant(
        &self,
        tenant: &str,
        before: Option<(u64, SessionId)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, SessionsError> {
        let (journal, tenant) = (self.journal.clone(), tenant.to_owned());
        tokio::task::spawn_blocking(move || journal.sessions_of_tenant(&tenant, before, limit))
            .await
            .map_err(|_| SessionsError::Down)?
            .map_err(Into::into)
    }

    /// The session `id` when `token` is its token: `NoToken` without one (before anything is
    /// said about the session), [`SessionsError::Unknown`] for no such session, `Token` for
    /// another session's.
    pub fn authorize(
        &self,
        id: &SessionId,
        token: Option<&str>,
    ) -> Result<AuthorizedSession, SessionsError> {
        // No token: 401 before anything is said about the session.
        let Some(token) = token else {
            return Err(SessionsError::NoToken);
        };
        let record = self
            .journal
            .record(id)?
            .ok_or(SessionsError::Unknown(*id))?;
        if record.token_sha256.is_empty() || !same_secret(&record.token_sha256, &token_hash(token))
        {
            return Err(SessionsError::Token);
        }
        self.authorized(record)
    }

    /// `record` as an authorized session, with its consent.
    pub(crate) fn authorized(
        &self,
        record: SessionRecord,
    ) -> Result<AuthorizedSession, SessionsError> {
        // An erased session's consent is sealed with a key that no longer exists.
        let consent = match record.state {
            SessionState::Erased => None,
            _ => self.journal.artifact(&record.id, CONSENT)?,
        };
        Ok(AuthorizedSession { record, consent })
    }

    /// The session `token` belongs to (the token names its session): what an upload is
    /// authorized by before its body is read. `NoToken` without one, `Token` for a token of
    /// no session.
    pub fn authorize_token(&self, token: Option<&str>) -> Result<AuthorizedSession, SessionsError> {
        let token = token.ok_or(SessionsError::NoToken)?;
        let id = self
            .journal
            .session_of_token(&token_hash(token))?
            .ok_or(SessionsError::Token)?;
        self.authorize(&id, Some(token))
    }

    /// Records what the person agreed to (once per session; checked by
    /// [`ConsentRequest::accept`]) and tells the session's sockets.
    pub async fn record_consent(
        &self,
        id: SessionId,
        consent: &Consent,
    ) -> Result<(), SessionsError> {
        if self.journal.artifact::<Consent>(&id, CONSENT)?.is_some() {
            return Err(SessionsError::ConsentGiven);
        }
        let record = self
            .journal
            .record(&id)?
            .ok_or(SessionsError::Unknown(id))?;
        if record.state.is_terminal() {
            return Err(SessionsError::Ended(record.state));
        }
        self.journal.put_artifact(&id, CONSENT, consent)?;
        let mut step = Step::progress(
            record.state,
            Stage::Session,
            0,
            Message::new("Consent recorded", "동의가 기록되었습니다"),
        );
        step.result = Some(serde_json::json!({
            "consent": { "version": consent.version, "purposes": consent.purposes },
        }));
        let recorded = Record::Consent(crate::records::Consent {
            version: consent.version.clone(),
            purposes: consent.purposes.clone(),
        });
        let step = step.with_records(OutboxRecords::step(&self.outbox, vec![recorded]));
        self.record(id, step).await?;
        Ok(())
    }

    /// The session `id` as the journal has it (for the admin API; no token checked).
    pub fn find(&self, id: &SessionId) -> Result<SessionRecord, SessionsError> {
        self.journal.record(id)?.ok_or(SessionsError::Unknown(*id))
    }

    /// The session's events after `since`, from the journal.
    pub fn events_since(
        &self,
        id: &SessionId,
        since: u64,
    ) -> Result<Vec<SessionEvent>, SessionsError> {
        Ok(self.journal.events(id, since)?)
    }

    /// The last ID photo's status (`None` before any was read).
    pub fn id_capture(
        &self,
        session: &AuthorizedSession,
    ) -> Result<Option<IdCaptureStatus>, SessionsError> {
        self.sealed_artifact(&session.id(), crate::flow::ID_CAPTURE)
    }

    /// A sealed artifact of session `id`. One that cannot be opened because the session's key
    /// is already gone (a purge or erasure between its steps: the key goes before the journal's
    /// record) means the session is no longer there.
    fn sealed_artifact<T: serde::de::DeserializeOwned>(
        &self,
        id: &SessionId,
        name: &str,
    ) -> Result<Option<T>, SessionsError> {
        match self.journal.artifact(id, name) {
            Err(JournalError::Seal { .. }) if matches!(self.media.data_key(id), Ok(None)) => {
                Err(SessionsError::Unknown(*id))
            }
            other => Ok(other?),
        }
    }

    /// The session a comparison (or upload) id belongs to.
    pub fn owner_of(&self, id: &uuid::Uuid) -> Result<Option<SessionId>, SessionsError> {
        Ok(self.journal.linked(id)?)
    }

    /// The session's latest comparison report as its job left it in the journal (what the
    /// readers show while its records are on their way to the records store).
    pub fn comparison_report(
        &self,
        id: &SessionId,
    ) -> Result<Option<ComparisonReport>, SessionsError> {
        self.sealed_artifact(id, crate::flow::COMPARISON)
    }

    /// Runs the capture quality gate on a live camera frame in its own bounded lane and tells
    /// the session's sockets the result, without journaling it.
    pub async fn live_frame(
        &self,
        session: &AuthorizedSession,
        bytes: Vec<u8>,
        capture_id: uuid::Uuid,
    ) -> Result<bool, SessionsError> {
        session.check(Intake::LiveFrame)?;
        let check = self.live.check(bytes, capture_id).await?;
        let actor = self.actor(session.id()).await?;
        actor
            .cast(SessionMsg::Notify { step: check.step })
            .map_err(|_| SessionsError::Down)?;
        Ok(check.passed)
    }

    pub fn live_stats(&self) -> LiveStats {
        self.live.stats()
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
    pub async fn record(
        &self,
        id: SessionId,
        mut step: Step,
    ) -> Result<SessionEvent, SessionsError> {
        // A step that ends the session carries at least the tenant's webhook notice.
        if step.records.is_none() && step.to.is_terminal() {
            step = step.with_records(OutboxRecords::step(&self.outbox, Vec::new()));
        }
        let actor = self.actor(id).await?;
        Ok(
            ractor::call!(actor, |reply| SessionMsg::Record { step, reply })
                .map_err(|_| SessionsError::Down)??,
        )
    }

    /// Journals `step` with `job` as the session's work, which then starts (a comparison's id
    /// is linked to the session first: `GET /face-similarity/{id}` finds it by that id);
    /// refused while another job is pending or when the state does not take `intake`.
    pub async fn submit(
        &self,
        session: &AuthorizedSession,
        intake: Intake,
        job: Job,
        step: Step,
    ) -> Result<SessionEvent, SessionsError> {
        session.check(intake)?;
        let id = session.id();
        if let Job::Compare { comparison_id } = &job {
            self.journal.link(comparison_id, &id)?;
        }
        let actor = self.actor(id).await?;
        Ok(
            ractor::call!(actor, |reply| SessionMsg::Submit { job, step, reply })
                .map_err(|_| SessionsError::Down)??,
        )
    }

    /// True when so many jobs wait for the engines that new work of `tenant` must be
    /// refused (the line is full, or the tenant's jobs fill their share of it).
    pub fn busy(&self, tenant: Option<&str>) -> bool {
        self.queue.is_full_for(tenant)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The actor of session `id` when it is in memory (a passivated one is not reloaded).
    pub async fn running_actor(&self, id: SessionId) -> Option<ActorRef<SessionMsg>> {
        ractor::call!(self.supervisor, |reply| SupervisorMsg::Find { id, reply })
            .ok()
            .flatten()
    }

    pub fn queue_stats(&self) -> QueueStats {
        self.queue.stats()
    }

    /// Every session in the journal counted by state (from the journal's counters: no
    /// session is read).
    pub async fn count_by_state(&self) -> Result<BTreeMap<String, usize>, SessionsError> {
        Ok(self.journal.count_by_state())
    }

    pub async fn stats(&self) -> Result<SupervisorStats, SessionsError> {
        ractor::call!(self.supervisor, SupervisorMsg::Stats).map_err(|_| SessionsError::Down)
    }

    /// The encrypted media of the sessions and their keys.
    pub fn media(&self) -> &Arc<MediaStore> {
        &self.media
    }

    /// Stops the supervisor and every session actor (the journal keeps them).
    pub async fn stop(&self) {
        let _ = self.supervisor.stop_and_wait(None, None).await;
        if let Err(e) = self.journal.flush().await {
            tracing::warn!(error = %e, "final journal flush failed");
        }
    }
}
