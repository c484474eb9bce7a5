//! The supervisor of all sessions on this node: creates them, finds them (reloading a
//! passivated one from the journal), restarts a failed one from its journal, and on start-up
//! brings back every session that still has work to do.

use super::SessionId;
use super::actor::{SessionActor, SessionArgs, SessionError, SessionMsg};
use super::beside::StepRecords;
use super::journal::{Journal, JournalError, Owner, SessionRecord};
use super::work::Pipeline;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The supervisor's messages.
pub enum SupervisorMsg {
    /// A new session in state `created` whose bearer token hashes to `token_sha256`
    /// (journaled and flushed before the reply).
    Create {
        token_sha256: String,
        /// Who the session is for.
        owner: Owner,
        /// The session's first records (written with it).
        records: Option<StepRecords>,
        reply: RpcReplyPort<Result<SessionRecord, SessionError>>,
    },
    /// The actor of session `id`, started again from the journal when it was passivated.
    Get {
        id: SessionId,
        reply: RpcReplyPort<Result<ActorRef<SessionMsg>, SessionError>>,
    },
    /// The actor of session `id` if it is in memory (never reloads one).
    Find {
        id: SessionId,
        reply: RpcReplyPort<Option<ActorRef<SessionMsg>>>,
    },
    Stats(RpcReplyPort<SupervisorStats>),
}

/// Counters for /admin and /metrics.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorStats {
    /// Session actors in memory (counted when asked).
    pub running: usize,
    /// Failed session actors restarted from their journal.
    pub restarts: u64,
    /// Sessions brought back from the journal at start-up.
    pub recovered: usize,
}

/// Asks `supervisor` for a new session whose token hashes to `token_sha256`.
pub async fn create(
    supervisor: &ActorRef<SupervisorMsg>,
    token_sha256: String,
) -> Result<SessionRecord, SessionError> {
    create_with(supervisor, token_sha256, Owner::default(), None).await
}

/// [`create`], journaling `records` (encoded with sequence number 0) in the same transaction.
pub async fn create_with(
    supervisor: &ActorRef<SupervisorMsg>,
    token_sha256: String,
    owner: Owner,
    records: Option<StepRecords>,
) -> Result<SessionRecord, SessionError> {
    ractor::call!(supervisor, |reply| SupervisorMsg::Create {
        token_sha256,
        owner,
        records,
        reply
    })
    .map_err(|_| SessionError::Gone)?
}

pub struct SupervisorArgs {
    pub journal: Journal,
    pub idle_timeout: Duration,
    /// Runs the sessions' jobs (`None`: sessions only record steps given to them).
    pub pipeline: Option<Arc<dyn Pipeline>>,
}

pub struct SessionSupervisor;

pub struct SupervisorState {
    journal: Journal,
    idle_timeout: Duration,
    pipeline: Option<Arc<dyn Pipeline>>,
    by_session: HashMap<SessionId, ActorRef<SessionMsg>>,
    by_actor: HashMap<ActorId, SessionId>,
    stats: SupervisorStats,
}

impl SupervisorState {
    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        record: SessionRecord,
    ) -> Result<ActorRef<SessionMsg>, ActorProcessingErr> {
        let id = record.id;
        let args = SessionArgs {
            journal: self.journal.clone(),
            record,
            idle_timeout: self.idle_timeout,
            pipeline: self.pipeline.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, SessionActor, args, myself.get_cell()).await?;
        self.by_actor.insert(actor.get_id(), id);
        self.by_session.insert(id, actor.clone());
        Ok(actor)
    }

    async fn get(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        id: SessionId,
    ) -> Result<ActorRef<SessionMsg>, SessionError> {
        if let Some(a) = self.by_session.get(&id) {
            return Ok(a.clone());
        }
        let record = self
            .journal
            .record(&id)?
            .ok_or(JournalError::UnknownSession(id))?;
        self.spawn(myself, record)
            .await
            .map_err(|_| SessionError::Gone)
    }

    fn forget(&mut self, actor: &ActorId) -> Option<SessionId> {
        let id = self.by_actor.remove(actor)?;
        self.by_session.remove(&id);
        Some(id)
    }
}

impl Actor for SessionSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            journal: args.journal,
            idle_timeout: args.idle_timeout,
            pipeline: args.pipeline,
            by_session: HashMap::new(),
            by_actor: HashMap::new(),
            stats: SupervisorStats::default(),
        };
        let live = state.journal.live()?;
        for record in live {
            state.spawn(&myself, record).await?;
            state.stats.recovered += 1;
        }
        if state.stats.recovered > 0 {
            tracing::info!(
                sessions = state.stats.recovered,
                "sessions recovered from the journal"
            );
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Create {
                token_sha256,
                owner,
                records,
                reply,
            } => {
                let mut record = SessionRecord::new(SessionId::new_v4(), token_sha256);
                record.tenant = owner.tenant;
                record.external_id = owner.external_id;
                let writes = match &records {
                    Some(r) => r
                        .encode(&record, 0, record.created_ms)
                        .map_err(SessionError::Records),
                    None => Ok(Vec::new()),
                };
                let created = match writes {
                    Ok(w) => match state.journal.create_with(&record, &w) {
                        Ok(()) => state.journal.flush().await.map_err(SessionError::from),
                        Err(e) => Err(e.into()),
                    },
                    Err(e) => Err(e),
                };
                if let (Ok(()), Some(r)) = (&created, &records) {
                    r.durable();
                }
                let result = match created {
                    Ok(()) => state
                        .spawn(&myself, record.clone())
                        .await
                        .map(|_| record)
                        .map_err(|_| SessionError::Gone),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            SupervisorMsg::Get { id, reply } => {
                let _ = reply.send(state.get(&myself, id).await);
            }
            SupervisorMsg::Find { id, reply } => {
                let _ = reply.send(state.by_session.get(&id).cloned());
            }
            SupervisorMsg::Stats(reply) => {
                let _ = reply.send(SupervisorStats {
                    running: state.by_session.len(),
                    ..state.stats.clone()
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(id) = state.forget(&cell.get_id()) else {
                    return Ok(());
                };
                tracing::warn!(session = %id, error = %err, "session actor failed; restarting it from its journal");
                if let Some(record) = state.journal.record(&id)? {
                    state.spawn(&myself, record).await?;
                    state.stats.restarts += 1;
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.forget(&cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::actor::Step;
    use crate::session::event::{Message, SessionEvent, Stage};
    use crate::session::state::{Decision, SessionState};
    use ractor::call;
    use tokio::sync::mpsc;

    fn step(to: SessionState, stage: Stage, decision: Option<Decision>) -> Step {
        Step::reached(to, stage, Message::new("step", "단계")).with_decision(decision)
    }

    async fn start(journal: &Journal, idle: Duration) -> ActorRef<SupervisorMsg> {
        let args = SupervisorArgs {
            journal: journal.clone(),
            idle_timeout: idle,
            pipeline: None,
        };
        Actor::spawn(None, SessionSupervisor, args)
            .await
            .expect("supervisor")
            .0
    }

    async fn record(
        sup: &ActorRef<SupervisorMsg>,
        id: SessionId,
        s: Step,
    ) -> Result<SessionEvent, SessionError> {
        let actor = call!(sup, |reply| SupervisorMsg::Get { id, reply })
            .expect("call")
            .expect("session");
        call!(actor, |reply| SessionMsg::Record { step: s, reply }).expect("call")
    }

    #[tokio::test]
    async fn a_session_runs_to_its_decision_and_every_watcher_sees_every_event_once() {
        let journal = Journal::temporary().expect("journal");
        let sup = start(&journal, Duration::from_secs(60)).await;
        let rec = create(&sup, String::new()).await.expect("create");
        let actor = call!(sup, |reply| SupervisorMsg::Get { id: rec.id, reply })
            .expect("call")
            .expect("get");
        let (tx1, mut rx1) = mpsc::channel(64);
        call!(actor, |reply| SessionMsg::Watch {
            since: 0,
            tx: tx1,
            reply
        })
        .expect("call")
        .expect("watch");
        use SessionState::*;
        let steps = [
            (IdCapture, Stage::IdCapture),
            (IdCapture, Stage::IdCapture),
            (IdAccepted, Stage::IdCapture),
            (Video, Stage::Video),
            (VideoAccepted, Stage::Video),
            (Comparing, Stage::Comparing),
        ];
        for (to, stage) in steps {
            record(&sup, rec.id, step(to, stage, None))
                .await
                .expect("step");
        }
        // A second watcher joins late and gets the story so far, then the rest.
        let (tx2, mut rx2) = mpsc::channel(64);
        call!(actor, |reply| SessionMsg::Watch {
            since: 0,
            tx: tx2,
            reply
        })
        .expect("call")
        .expect("watch");
        // Not allowed: skipping back; a decision without its state.
        let bad = record(&sup, rec.id, step(IdCapture, Stage::IdCapture, None)).await;
        assert!(matches!(bad, Err(SessionError::Transition(_))));
        let last = record(
            &sup,
            rec.id,
            step(Decided, Stage::Comparing, Some(Decision::Verified)),
        )
        .await
        .expect("decided");
        assert_eq!(last.seq, 7);
        assert_eq!(last.decision, Some(Decision::Verified));
        for rx in [&mut rx1, &mut rx2] {
            let mut seqs = Vec::new();
            while let Ok(e) = rx.try_recv() {
                seqs.push(e.seq);
            }
            assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
        }
        assert_eq!(journal.events(&rec.id, 0).expect("events").len(), 7);
        sup.stop(None);
    }

    #[tokio::test]
    async fn a_failed_session_is_restarted_from_its_journal_and_numbering_goes_on() {
        let journal = Journal::temporary().expect("journal");
        let sup = start(&journal, Duration::from_secs(60)).await;
        let rec = create(&sup, String::new()).await.expect("create");
        record(
            &sup,
            rec.id,
            step(SessionState::IdCapture, Stage::IdCapture, None),
        )
        .await
        .expect("step");
        let actor = call!(sup, |reply| SupervisorMsg::Get { id: rec.id, reply })
            .expect("call")
            .expect("get");
        actor.cast(SessionMsg::Crash).expect("cast");
        // Wait for the supervisor to notice and restart it.
        let mut restarted = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let stats = call!(sup, SupervisorMsg::Stats).expect("stats");
            if stats.restarts == 1 && stats.running == 1 {
                restarted = true;
                break;
            }
        }
        assert!(restarted, "not restarted");
        let e = record(
            &sup,
            rec.id,
            step(SessionState::IdAccepted, Stage::IdCapture, None),
        )
        .await
        .expect("step after restart");
        assert_eq!(e.seq, 2);
        sup.stop(None);
    }

    #[tokio::test]
    async fn a_new_supervisor_recovers_live_sessions_and_idle_ones_expire() {
        let dir = tempfile::tempdir().expect("tmp");
        let (live, done) = {
            let journal = Journal::open(dir.path()).expect("journal");
            let sup = start(&journal, Duration::from_secs(60)).await;
            let live = create(&sup, String::new()).await.expect("a");
            let done = create(&sup, String::new()).await.expect("b");
            record(
                &sup,
                live.id,
                step(SessionState::IdCapture, Stage::IdCapture, None),
            )
            .await
            .expect("step");
            record(
                &sup,
                done.id,
                step(SessionState::Failed, Stage::Session, None),
            )
            .await
            .expect("fail");
            sup.stop_and_wait(None, None).await.expect("stop");
            (live.id, done.id)
        };
        let journal = Journal::open(dir.path()).expect("reopen");
        let sup = start(&journal, Duration::from_millis(80)).await;
        let stats = call!(sup, SupervisorMsg::Stats).expect("stats");
        assert_eq!(stats.recovered, 1, "only the live session comes back");
        // Left idle, it expires (journaled) and leaves memory.
        let mut expired = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let r = journal.record(&live).expect("record").expect("exists");
            let running = call!(sup, SupervisorMsg::Stats).expect("stats").running;
            if r.state == SessionState::Expired && running == 0 {
                expired = true;
                break;
            }
        }
        assert!(expired, "idle session did not expire");
        let events = journal.events(&live, 0).expect("events");
        assert_eq!(
            events.last().map(|e| (e.seq, e.state)),
            Some((2, SessionState::Expired))
        );
        // A passivated session is reloaded on demand and refuses further work.
        let after = record(
            &sup,
            live,
            step(SessionState::IdAccepted, Stage::IdCapture, None),
        )
        .await;
        assert!(matches!(after, Err(SessionError::Transition(_))));
        assert!(journal.record(&done).expect("r").is_some());
        sup.stop(None);
    }
}
