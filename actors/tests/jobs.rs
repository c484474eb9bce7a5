//! Poison and stuck jobs: a job whose task panics runs again until its attempts are spent,
//! then fails its session with the reason; a job past its time limit is stopped and fails its
//! session; a job journaled as started as often as allowed (the process died under it each
//! time) is not started again when the session comes back.

use actors::session::actor::{SessionMsg, Step};
use actors::session::supervisor::{SupervisorArgs, SupervisorMsg};
use actors::session::{
    Job, JobContext, JobLimits, Journal, Message, Pipeline, SessionEvent, SessionId, SessionRecord,
    SessionState, SessionSupervisor, Stage,
};
use ractor::{Actor, ActorRef, call};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// What the test pipeline does with each job it is given.
#[derive(Clone, Copy)]
enum Behaviour {
    Panic,
    Hang,
}

struct TestPipeline {
    behaviour: Behaviour,
    runs: Arc<AtomicU32>,
    limits: JobLimits,
}

impl Pipeline for TestPipeline {
    fn run(&self, _ctx: JobContext) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let behaviour = self.behaviour;
        Box::pin(async move {
            match behaviour {
                Behaviour::Panic => panic!("the decoder fell over"),
                Behaviour::Hang => std::future::pending::<()>().await,
            }
        })
    }

    fn job_limits(&self) -> JobLimits {
        self.limits
    }
}

async fn supervisor(
    journal: Journal,
    behaviour: Behaviour,
    limits: JobLimits,
) -> (ActorRef<SupervisorMsg>, Arc<AtomicU32>) {
    let runs = Arc::new(AtomicU32::new(0));
    let pipeline = TestPipeline {
        behaviour,
        runs: Arc::clone(&runs),
        limits,
    };
    let args = SupervisorArgs {
        journal,
        idle_timeout: Duration::from_secs(600),
        pipeline: Some(Arc::new(pipeline)),
    };
    let sup = Actor::spawn(None, SessionSupervisor, args)
        .await
        .expect("supervisor")
        .0;
    (sup, runs)
}

fn job() -> Job {
    Job::Video {
        video_id: uuid::Uuid::new_v4(),
        file: "/nonexistent/video.mp4".into(),
    }
}

async fn submit(sup: &ActorRef<SupervisorMsg>, id: SessionId) {
    let actor: ActorRef<SessionMsg> = call!(sup, |reply| SupervisorMsg::Get { id, reply })
        .expect("call")
        .expect("session");
    let step = Step::reached(
        SessionState::IdCapture,
        Stage::IdCapture,
        Message::new("accepted", "접수"),
    );
    call!(actor, |reply| SessionMsg::Submit {
        job: job(),
        step,
        reply
    })
    .expect("call")
    .expect("submitted");
}

/// Waits (up to 10 s) for the session's journaled record to satisfy `done`.
async fn wait_for(
    journal: &Journal,
    id: &SessionId,
    done: impl Fn(&SessionRecord) -> bool,
) -> SessionRecord {
    for _ in 0..200 {
        if let Some(r) = journal.record(id).expect("read")
            && done(&r)
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the session never reached the expected state");
}

fn last_message(journal: &Journal, id: &SessionId) -> String {
    let events: Vec<SessionEvent> = journal.events(id, 0).expect("events");
    events.last().expect("an event").message.en.clone()
}

/// One session, one job the pipeline treats with `behaviour`, run until the session fails:
/// its record, how often the job ran, and the last event's message.
async fn until_failed(behaviour: Behaviour, limits: JobLimits) -> (SessionRecord, u32, String) {
    let journal = Journal::temporary().expect("journal");
    let (sup, runs) = supervisor(journal.clone(), behaviour, limits).await;
    let id = uuid::Uuid::new_v4();
    journal
        .create(&SessionRecord::new(id, String::new()))
        .expect("create");
    submit(&sup, id).await;
    let r = wait_for(&journal, &id, |r| r.state == SessionState::Failed).await;
    sup.stop(None);
    (r, runs.load(Ordering::SeqCst), last_message(&journal, &id))
}

#[tokio::test]
async fn a_job_that_panics_runs_again_then_fails_its_session_with_the_reason() {
    let limits = JobLimits {
        timeout: Duration::from_secs(60),
        max_attempts: 2,
    };
    let (r, runs, msg) = until_failed(Behaviour::Panic, limits).await;
    assert_eq!(runs, 2, "run once more after the panic");
    assert!(r.pending.is_none());
    assert!(msg.contains("stopped 2 times"), "{msg}");
}

#[tokio::test]
async fn a_job_past_its_time_limit_is_stopped_and_fails_its_session() {
    let limits = JobLimits {
        timeout: Duration::from_millis(300),
        max_attempts: 2,
    };
    let (r, runs, msg) = until_failed(Behaviour::Hang, limits).await;
    assert_eq!(runs, 1, "a timeout is not retried");
    assert!(r.pending.is_none());
    assert!(msg.contains("took longer than"), "{msg}");
}

#[tokio::test]
async fn a_job_the_process_died_under_at_every_attempt_is_not_started_again() {
    let journal = Journal::temporary().expect("journal");
    let limits = JobLimits {
        timeout: Duration::from_secs(60),
        max_attempts: 2,
    };
    // Two sessions as a crash left them: one job started once, one started twice.
    let once = uuid::Uuid::new_v4();
    let twice = uuid::Uuid::new_v4();
    for (id, attempts) in [(once, 1), (twice, 2)] {
        let mut r = SessionRecord::new(id, String::new());
        r.state = SessionState::Video;
        r.pending = Some(job());
        r.job_attempts = attempts;
        journal.create(&r).expect("create");
    }
    let (sup, runs) = supervisor(journal.clone(), Behaviour::Hang, limits).await;
    for id in [once, twice] {
        let _ = call!(sup, |reply| SupervisorMsg::Get { id, reply }).expect("call");
    }
    let r = wait_for(&journal, &twice, |r| r.state == SessionState::Failed).await;
    assert!(r.pending.is_none());
    assert!(last_message(&journal, &twice).contains("stopped 2 times"));
    let r = wait_for(&journal, &once, |r| r.job_attempts == 2).await;
    assert_eq!(r.state, SessionState::Video, "its last attempt runs");
    // The attempt is journaled before the job starts: wait for the start.
    for _ in 0..100 {
        if runs.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "only the job with an attempt left ran"
    );
    sup.stop(None);
}
