//! One KYC session as an actor: it owns the session's state and the channels of everyone
//! watching it (WebSockets), turns each step into the next numbered event, journals and flushes
//! it before replying or broadcasting, replays what a reconnecting watcher missed, and expires
//! when left idle. Nothing of a session is shared with another.

use super::beside::StepRecords;
use super::event::{Message, Progress, SessionEvent, Stage, now_ms};
use super::journal::{Journal, JournalError, SessionRecord};
use super::state::{Decision, SessionState, TransitionError};
use super::work::{Artifacts, Job, JobContext, JobEnd, Pipeline, StepSink};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the session is no longer running")]
    Gone,
    #[error("the session is still working on an earlier upload; wait for its result")]
    Busy,
    #[error("this node runs no pipeline for session work")]
    NoPipeline,
    #[error("the step's records cannot be encoded: {0}")]
    Records(String),
}

/// One step of a session, as a stage reports it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The state after the step (the same state: progress within it).
    pub to: SessionState,
    pub stage: Stage,
    /// Progress within the stage, 0–100.
    pub percent: u8,
    pub message: Message,
    pub result: Option<serde_json::Value>,
    pub decision: Option<Decision>,
    /// This step finishes the session's pending job.
    pub ends_job: bool,
    /// Records to write in the same transaction as the step's event.
    pub records: Option<StepRecords>,
}

impl Step {
    /// Progress within the state `to`: `percent` of `stage`.
    pub fn progress(to: SessionState, stage: Stage, percent: u8, message: Message) -> Self {
        Self {
            to,
            stage,
            percent,
            message,
            result: None,
            decision: None,
            ends_job: false,
            records: None,
        }
    }

    /// A finished step (100 % of its stage) that reaches `to`, with no results.
    pub fn reached(to: SessionState, stage: Stage, message: Message) -> Self {
        Self {
            to,
            stage,
            percent: 100,
            message,
            result: None,
            decision: None,
            ends_job: false,
            records: None,
        }
    }

    /// The same step, carrying `result`.
    pub fn with_result(mut self, result: serde_json::Value) -> Self {
        self.result = Some(result);
        self
    }

    /// The same step, finishing the pending job.
    pub fn ending_job(mut self) -> Self {
        self.ends_job = true;
        self
    }

    /// The same step, writing `records` with its event.
    pub fn with_records(mut self, records: StepRecords) -> Self {
        self.records = Some(records);
        self
    }

    /// The same step, carrying the session's decision.
    pub fn with_decision(mut self, decision: Option<Decision>) -> Self {
        self.decision = decision;
        self
    }
}

/// A session's messages.
pub enum SessionMsg {
    /// Journal a step and tell every watcher; the reply comes once it is durable.
    Record {
        step: Step,
        reply: RpcReplyPort<Result<SessionEvent, SessionError>>,
    },
    /// Tell every watcher `step` without journaling it (a live frame's quality check); the
    /// session's state and numbering do not change.
    Notify {
        step: Step,
    },
    /// Send the events after `since` to `tx`, then every new one (a WebSocket attaching or
    /// reconnecting).
    Watch {
        since: u64,
        tx: mpsc::Sender<SessionEvent>,
        reply: RpcReplyPort<Result<(), SessionError>>,
    },
    /// Journal `step` together with `job` as the session's pending work, then start the job.
    /// Refused while another job is pending.
    Submit {
        job: Job,
        step: Step,
        reply: RpcReplyPort<Result<SessionEvent, SessionError>>,
    },
    /// A job's task has ended (sent by the task's watcher, also after a panic).
    JobEnded {
        job_id: uuid::Uuid,
        end: JobEnd,
    },
    Snapshot(RpcReplyPort<SessionSnapshot>),
    /// Periodic: expire or passivate an idle session.
    Tick,
    /// Make the actor fail (supervision tests).
    #[cfg(test)]
    Crash,
}

/// What the session looks like now (no personal data).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    pub record: SessionRecord,
    pub watchers: usize,
    pub idle_ms: u64,
}

pub struct SessionArgs {
    pub journal: Journal,
    /// The session as the journal has it (new or recovered).
    pub record: SessionRecord,
    /// A live session idle this long expires; a finished one is passivated (stops; the
    /// journal keeps it).
    pub idle_timeout: Duration,
    /// Runs the session's jobs (`None`: jobs are refused).
    pub pipeline: Option<Arc<dyn Pipeline>>,
}

pub struct SessionActor;

pub struct SessionActorState {
    journal: Journal,
    record: SessionRecord,
    watchers: Vec<mpsc::Sender<SessionEvent>>,
    idle_timeout: Duration,
    last_active: tokio::time::Instant,
    ticker: Option<ractor::concurrency::JoinHandle<()>>,
    pipeline: Option<Arc<dyn Pipeline>>,
}

impl SessionActorState {
    /// Journals `step` as the next event, flushes, broadcasts. Watchers whose channel is closed
    /// or full are dropped (a slow socket reconnects with `since` and misses nothing).
    async fn record(&mut self, step: Step) -> Result<SessionEvent, SessionError> {
        self.record_with(step, None).await
    }

    /// Journals `step`; with `job`, that job becomes the pending one in the same transaction.
    async fn record_with(
        &mut self,
        step: Step,
        job: Option<Job>,
    ) -> Result<SessionEvent, SessionError> {
        let from = self.record.state;
        let progress_only = step.to == from && !from.is_terminal() && step.decision.is_none();
        if !progress_only {
            from.check(step.to, step.decision)?;
        }
        let at_ms = now_ms();
        let records = step.records.clone();
        let event = SessionEvent {
            session_id: self.record.id,
            seq: self.record.seq + 1,
            at_ms,
            stage: step.stage,
            state: step.to,
            progress: Progress::of(step.stage, step.percent),
            message: step.message,
            result: step.result,
            decision: step.decision.or(self.record.decision),
            transient: false,
        };
        let mut next = self.record.clone();
        next.seq = event.seq;
        next.state = step.to;
        next.decision = event.decision;
        next.updated_ms = at_ms;
        if step.ends_job {
            next.pending = None;
        }
        if let Some(j) = job {
            next.job_attempts = 0;
            if let Some(file) = j.file() {
                next.uploads += 1;
                let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
                next.upload_bytes = next.upload_bytes.saturating_add(bytes);
            }
            next.pending = Some(j);
        }
        let writes = match &records {
            Some(r) => r
                .encode(&next, event.seq, at_ms)
                .map_err(SessionError::Records)?,
            None => Vec::new(),
        };
        self.journal.append_with(&event, &next, &writes)?;
        self.journal.flush().await?;
        if let Some(r) = records {
            r.durable();
        }
        self.record = next;
        self.watchers.retain(|w| w.try_send(event.clone()).is_ok());
        if let Some(p) = &self.pipeline {
            p.published(&event);
        }
        Ok(event)
    }

    /// Tells every watcher `step` without journaling it: a transient notice numbered with the
    /// last journaled event, which neither changes the state nor is replayed.
    fn notify(&mut self, step: Step) {
        let event = SessionEvent {
            session_id: self.record.id,
            seq: self.record.seq,
            at_ms: now_ms(),
            stage: step.stage,
            state: self.record.state,
            progress: Progress::of(step.stage, step.percent),
            message: step.message,
            result: step.result,
            decision: self.record.decision,
            transient: true,
        };
        self.watchers.retain(|w| w.try_send(event.clone()).is_ok());
        if let Some(p) = &self.pipeline {
            p.published(&event);
        }
    }

    /// Starts the pending job, if any, on its own task; the actor hears when it ends.
    /// `step` (one the session makes by itself) with what the pipeline has such steps carry.
    fn with_own_records(&self, step: Step) -> Step {
        match self.pipeline.as_ref().and_then(|p| p.own_step_records()) {
            Some(r) => step.with_records(r),
            None => step,
        }
    }

    /// Starts the pending job, if any, on its own task, its attempt journaled first; one
    /// started [`JobLimits::max_attempts`] times already fails the session instead. The task
    /// gets [`JobLimits::timeout`]; the actor hears how it ended.
    async fn start_job(&mut self, myself: &ActorRef<SessionMsg>) -> Result<(), SessionError> {
        let (Some(job), Some(pipeline)) = (self.record.pending.clone(), self.pipeline.clone())
        else {
            return Ok(());
        };
        let limits = pipeline.job_limits();
        if self.record.job_attempts >= limits.max_attempts {
            tracing::warn!(
                session = %self.record.id,
                attempts = self.record.job_attempts,
                "a job that stopped without finishing at every attempt is given up"
            );
            let n = self.record.job_attempts;
            let step = Step::reached(
                SessionState::Failed,
                Stage::Session,
                Message::new(
                    format!(
                        "This upload could not be processed: processing it stopped {n} times \
                         without finishing. Start a new session with another photo or video."
                    ),
                    format!(
                        "업로드한 파일을 처리하지 못했습니다: 처리가 {n}번 중단되었습니다. \
                         다른 사진이나 영상으로 새 세션을 시작해 주세요."
                    ),
                ),
            )
            .ending_job();
            let step = self.with_own_records(step);
            self.record(step).await?;
            return Ok(());
        }
        let mut next = self.record.clone();
        next.job_attempts += 1;
        self.journal.save(&next)?;
        self.journal.flush().await?;
        self.record = next;
        let job_id = job.id();
        let ctx = JobContext {
            session: self.record.id,
            tenant: self.record.tenant.clone(),
            job,
            steps: StepSink::new(myself.clone()),
            artifacts: Artifacts::new(self.journal.clone(), self.record.id),
        };
        let task = tokio::spawn(pipeline.run(ctx));
        let abort = task.abort_handle();
        let me = myself.clone();
        tokio::spawn(async move {
            let end = match tokio::time::timeout(limits.timeout, task).await {
                Ok(Ok(())) => JobEnd::Returned,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "a session job stopped unexpectedly");
                    JobEnd::Panicked
                }
                Err(_) => {
                    abort.abort();
                    JobEnd::TimedOut
                }
            };
            let _ = me.cast(SessionMsg::JobEnded { job_id, end });
        });
        Ok(())
    }

    /// A job's task ended without the job's last step: a panic runs it again (if attempts
    /// are left), a timeout or a pipeline that forgot its step fails the session.
    async fn job_ended(
        &mut self,
        myself: &ActorRef<SessionMsg>,
        job_id: uuid::Uuid,
        end: JobEnd,
    ) -> Result<(), SessionError> {
        let unfinished = self.record.pending.as_ref().map(Job::id) == Some(job_id);
        if !unfinished || self.record.state.is_terminal() {
            return Ok(());
        }
        let message = match end {
            JobEnd::Panicked => return self.start_job(myself).await,
            JobEnd::TimedOut => {
                let secs = self
                    .pipeline
                    .as_ref()
                    .map(|p| p.job_limits().timeout.as_secs_f64())
                    .unwrap_or_default();
                tracing::warn!(session = %self.record.id, secs, "a job ran out of time");
                Message::new(
                    format!(
                        "Processing took longer than {secs} s and was stopped. Start a new \
                         session with another photo or video."
                    ),
                    format!(
                        "처리가 {secs}초를 넘어 중단되었습니다. 다른 사진이나 영상으로 새 세션을 \
                         시작해 주세요."
                    ),
                )
            }
            JobEnd::Returned => Message::new(
                "Processing stopped because of an internal error. Start a new session.",
                "내부 오류로 처리가 중단되었습니다. 새 세션을 시작해 주세요.",
            ),
        };
        let step = Step::reached(SessionState::Failed, Stage::Session, message).ending_job();
        let step = self.with_own_records(step);
        self.record(step).await?;
        Ok(())
    }

    async fn watch(
        &mut self,
        since: u64,
        tx: mpsc::Sender<SessionEvent>,
    ) -> Result<(), SessionError> {
        // Never wait on a watcher: one that cannot take the replay is not attached (its
        // channel closes; it reconnects with `since`).
        for e in self.journal.events(&self.record.id, since)? {
            if tx.try_send(e).is_err() {
                return Ok(());
            }
        }
        self.watchers.push(tx);
        Ok(())
    }
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionActorState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let period = (args.idle_timeout / 4).max(Duration::from_millis(10));
        let ticker = myself.send_interval(period, || SessionMsg::Tick);
        Ok(SessionActorState {
            journal: args.journal,
            record: args.record,
            watchers: Vec::new(),
            idle_timeout: args.idle_timeout,
            last_active: tokio::time::Instant::now(),
            ticker: Some(ticker),
            pipeline: args.pipeline,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A job accepted before a crash or restart runs again.
        if state.record.pending.is_some() && !state.record.state.is_terminal() {
            state.start_job(&myself).await?;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        // An orderly stop (a shutdown) interrupts a job through no fault of its own: that
        // attempt does not count. A crash never gets here, and its attempt stays counted.
        if state.record.pending.is_some() && state.record.job_attempts > 0 {
            let mut next = state.record.clone();
            next.job_attempts -= 1;
            if state.journal.save(&next).is_ok() && state.journal.flush().await.is_ok() {
                state.record = next;
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Record { step, reply } => {
                state.last_active = tokio::time::Instant::now();
                let _ = reply.send(state.record(step).await);
            }
            SessionMsg::Notify { step } => {
                state.last_active = tokio::time::Instant::now();
                state.notify(step);
            }
            SessionMsg::Watch { since, tx, reply } => {
                state.last_active = tokio::time::Instant::now();
                let _ = reply.send(state.watch(since, tx).await);
            }
            SessionMsg::Submit { job, step, reply } => {
                state.last_active = tokio::time::Instant::now();
                let result = if state.record.pending.is_some() {
                    Err(SessionError::Busy)
                } else if state.pipeline.is_none() {
                    Err(SessionError::NoPipeline)
                } else {
                    state.record_with(step, Some(job)).await
                };
                let started = result.is_ok();
                let _ = reply.send(result);
                if started {
                    state.start_job(&myself).await?;
                }
            }
            SessionMsg::JobEnded { job_id, end } => {
                state.job_ended(&myself, job_id, end).await?;
            }
            SessionMsg::Snapshot(reply) => {
                let _ = reply.send(SessionSnapshot {
                    record: state.record.clone(),
                    watchers: state.watchers.iter().filter(|w| !w.is_closed()).count(),
                    idle_ms: state.last_active.elapsed().as_millis() as u64,
                });
            }
            SessionMsg::Tick => {
                state.watchers.retain(|w| !w.is_closed());
                if state.last_active.elapsed() < state.idle_timeout
                    || !state.watchers.is_empty()
                    || state.record.pending.is_some()
                {
                    return Ok(());
                }
                if !state.record.state.is_terminal() {
                    let step = Step::reached(
                        SessionState::Expired,
                        Stage::Session,
                        Message::new(
                            "The session expired: it was idle too long. Start a new one.",
                            "세션이 만료되었습니다. 새로 시작해 주세요.",
                        ),
                    );
                    let step = state.with_own_records(step);
                    state.record(step).await?;
                }
                // Passivate: the journal holds everything; the supervisor reloads on demand.
                myself.stop(Some("idle".into()));
            }
            #[cfg(test)]
            SessionMsg::Crash => return Err("crash requested".into()),
        }
        Ok(())
    }
}
