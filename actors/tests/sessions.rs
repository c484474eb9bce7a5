//! Session actors under their supervisor, as the WebSocket layer will use them: a watcher that
//! drops mid-processing and comes back with the last sequence number it saw gets exactly the
//! events it missed; a hundred sessions driven at once each keep their own events and decision.

use actors::session::actor::{SessionMsg, Step};
use actors::session::supervisor::{SupervisorArgs, SupervisorMsg, create};
use actors::session::{
    Decision, Journal, Message, SessionEvent, SessionId, SessionState, SessionSupervisor, Stage,
};
use ractor::{Actor, ActorRef, call};
use std::time::Duration;
use tokio::sync::mpsc;

fn step(to: SessionState, stage: Stage, decision: Option<Decision>) -> Step {
    Step::reached(to, stage, Message::new("step", "단계")).with_decision(decision)
}

const PATH: [(SessionState, Stage); 6] = [
    (SessionState::IdCapture, Stage::IdCapture),
    (SessionState::IdAccepted, Stage::IdCapture),
    (SessionState::Video, Stage::Video),
    (SessionState::VideoAccepted, Stage::Video),
    (SessionState::Comparing, Stage::Comparing),
    (SessionState::Comparing, Stage::Comparing),
];

async fn supervisor() -> ActorRef<SupervisorMsg> {
    let args = SupervisorArgs {
        journal: Journal::temporary().expect("journal"),
        idle_timeout: Duration::from_secs(600),
        pipeline: None,
    };
    Actor::spawn(None, SessionSupervisor, args)
        .await
        .expect("supervisor")
        .0
}

async fn session(sup: &ActorRef<SupervisorMsg>, id: SessionId) -> ActorRef<SessionMsg> {
    call!(sup, |reply| SupervisorMsg::Get { id, reply })
        .expect("call")
        .expect("session")
}

async fn record(actor: &ActorRef<SessionMsg>, s: Step) -> SessionEvent {
    call!(actor, |reply| SessionMsg::Record { step: s, reply })
        .expect("call")
        .expect("step")
}

async fn watch(actor: &ActorRef<SessionMsg>, since: u64) -> mpsc::Receiver<SessionEvent> {
    let (tx, rx) = mpsc::channel(64);
    call!(actor, |reply| SessionMsg::Watch { since, tx, reply })
        .expect("call")
        .expect("watch");
    rx
}

fn drain(rx: &mut mpsc::Receiver<SessionEvent>) -> Vec<u64> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e.seq);
    }
    out
}

#[tokio::test]
async fn a_watcher_that_reconnects_with_since_gets_exactly_what_it_missed() {
    let sup = supervisor().await;
    let rec = create(&sup, String::new()).await.expect("create");
    let actor = session(&sup, rec.id).await;
    let mut first = watch(&actor, 0).await;
    for (to, stage) in &PATH[..2] {
        record(&actor, step(*to, *stage, None)).await;
    }
    let seen = drain(&mut first);
    assert_eq!(seen, vec![1, 2]);
    // The socket drops mid-processing; work goes on without it.
    drop(first);
    for (to, stage) in &PATH[2..] {
        record(&actor, step(*to, *stage, None)).await;
    }
    // Back with the last sequence number it saw: the missed events, then the live ones.
    let mut again = watch(&actor, *seen.last().expect("seen")).await;
    record(
        &actor,
        step(
            SessionState::Decided,
            Stage::Comparing,
            Some(Decision::Review),
        ),
    )
    .await;
    assert_eq!(drain(&mut again), vec![3, 4, 5, 6, 7]);
    let snapshot = call!(actor, SessionMsg::Snapshot).expect("snapshot");
    assert_eq!(snapshot.watchers, 1, "the dropped watcher was not kept");
    assert_eq!(snapshot.record.decision, Some(Decision::Review));
    sup.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_sessions_keep_their_own_events_and_decisions() {
    let sup = supervisor().await;
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let sup = sup.clone();
        tasks.push(tokio::spawn(async move {
            let rec = create(&sup, String::new()).await.expect("create");
            let actor = session(&sup, rec.id).await;
            let mut rx = watch(&actor, 0).await;
            let decision =
                [Decision::Verified, Decision::Rejected, Decision::Review][i as usize % 3];
            for (to, stage) in PATH {
                record(&actor, step(to, stage, None)).await;
                tokio::task::yield_now().await;
            }
            record(
                &actor,
                step(SessionState::Decided, Stage::Comparing, Some(decision)),
            )
            .await;
            let mut events = Vec::new();
            while let Ok(e) = rx.try_recv() {
                events.push(e);
            }
            (rec.id, decision, events)
        }));
    }
    for t in tasks {
        let (id, decision, events) = t.await.expect("session task");
        assert_eq!(events.len(), 7, "{id}");
        for (n, e) in events.iter().enumerate() {
            assert_eq!(e.session_id, id, "an event of another session");
            assert_eq!(e.seq, n as u64 + 1);
        }
        assert_eq!(events.last().and_then(|e| e.decision), Some(decision));
    }
    sup.stop(None);
}

#[tokio::test]
async fn a_notice_reaches_the_watchers_without_being_journaled() {
    let sup = supervisor().await;
    let rec = create(&sup, String::new()).await.expect("create");
    let actor = session(&sup, rec.id).await;
    record(
        &actor,
        step(SessionState::IdCapture, Stage::IdCapture, None),
    )
    .await;
    let mut rx = watch(&actor, 1).await;
    let notice = Step::progress(
        SessionState::IdCapture,
        Stage::IdCapture,
        0,
        Message::new("hold still", "움직이지 마세요"),
    )
    .with_result(serde_json::json!({ "live": true }));
    actor
        .cast(SessionMsg::Notify { step: notice })
        .expect("cast");
    let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the notice arrives")
        .expect("open");
    assert!(e.transient);
    assert_eq!((e.seq, e.state), (1, SessionState::IdCapture));
    // Nothing was journaled: the next event is 2, and a replay holds only event 1.
    let next = record(
        &actor,
        step(SessionState::IdAccepted, Stage::IdCapture, None),
    )
    .await;
    assert_eq!(next.seq, 2);
    let replay = drain(&mut watch(&actor, 0).await);
    assert_eq!(replay, vec![1, 2]);
}
