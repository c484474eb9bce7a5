//! Crash safety in the manner of sled's crash tests: this test binary runs itself again as a
//! child that creates 50 sessions and drives them through the state machine, printing every
//! step the session actor acknowledged; the parent kills the child with SIGKILL at random
//! moments, again and again, then lets a last child run the interrupted sessions on to their
//! decisions. Afterwards every acknowledged session and event is in the journal, each session's
//! events are numbered 1..n without a gap or a duplicate, every transition is one the state
//! machine allows, and all 50 sessions are decided.

use actors::session::actor::{SessionMsg, Step};
use actors::session::supervisor::{SupervisorArgs, SupervisorMsg, create};
use actors::session::{
    Decision, Journal, Message, SessionId, SessionState, SessionSupervisor, Stage,
};
use ractor::{Actor, call};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_support::Rng;

const SESSIONS: usize = 50;
const CHILD_ENV: &str = "KYC_CRASH_TEST_JOURNAL";

/// The next step on the happy path.
fn next_step(id: SessionId, state: SessionState) -> Option<Step> {
    use SessionState::*;
    let (to, stage, decision) = match state {
        Created => (IdCapture, Stage::IdCapture, None),
        IdCapture => (IdAccepted, Stage::IdCapture, None),
        IdAccepted => (Video, Stage::Video, None),
        Video => (VideoAccepted, Stage::Video, None),
        VideoAccepted => (Comparing, Stage::Comparing, None),
        Comparing => {
            let d = if id.as_bytes()[0].is_multiple_of(2) {
                Decision::Verified
            } else {
                Decision::Rejected
            };
            (Decided, Stage::Comparing, Some(d))
        }
        _ => return None,
    };
    Some(Step::reached(to, stage, Message::new("step", "단계")).with_decision(decision))
}

/// The child: recover, create sessions up to 50, advance live ones a few at a time, print
/// `CREATED id` / `ACK id seq` once the reply (after the flush) arrived.
async fn child(dir: &str) {
    let journal = Journal::open(std::path::Path::new(dir)).expect("journal");
    let args = SupervisorArgs {
        journal: journal.clone(),
        idle_timeout: Duration::from_secs(600),
        pipeline: None,
    };
    let (sup, _) = Actor::spawn(None, SessionSupervisor, args)
        .await
        .expect("supervisor");
    let mut dice = Rng::from_clock("crash child");
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    loop {
        if journal.session_count() < SESSIONS {
            let rec = create(&sup, String::new()).await.expect("create");
            let mut o = out.lock().expect("stdout");
            let _ = writeln!(o, "CREATED {}", rec.id);
            let _ = o.flush();
            continue;
        }
        let live = journal.live().expect("live");
        if live.is_empty() {
            break;
        }
        let mut tasks = Vec::new();
        for r in live
            .iter()
            .skip(dice.below(live.len() as u64) as usize)
            .take(8)
        {
            let Some(step) = next_step(r.id, r.state) else {
                continue;
            };
            let sup = sup.clone();
            let out = out.clone();
            let id = r.id;
            tasks.push(tokio::spawn(async move {
                let actor = call!(sup, |reply| SupervisorMsg::Get { id, reply })
                    .expect("call")
                    .expect("session");
                let e = call!(actor, |reply| SessionMsg::Record { step, reply })
                    .expect("call")
                    .expect("step");
                let mut o = out.lock().expect("stdout");
                let _ = writeln!(o, "ACK {} {}", e.session_id, e.seq);
                let _ = o.flush();
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        // Spread the work out a little so that kills land in every phase.
        tokio::time::sleep(Duration::from_millis(dice.below(3))).await;
    }
    sup.stop_and_wait(None, None).await.expect("stop");
}

/// The child: run only by the crash test below, as a process of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of killed_at_random_points_nothing_acknowledged_is_lost_and_all_sessions_finish"]
async fn crash_child_process() {
    let dir = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("{CHILD_ENV} is not set: this is the crash test's child, not a test of its own")
    });
    child(&dir).await;
}

/// When to kill a child: after it printed this many acknowledgements, or after this long
/// (possibly before it printed anything: a crash during recovery).
enum Kill {
    AfterLines(usize),
    After(Duration),
    Never,
}

/// Runs a child until it ends or `kill` says; returns its output lines and whether it ended
/// by itself, successfully.
fn run_child(dir: &std::path::Path, kill: Kill) -> (Vec<String>, bool) {
    let mut c = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "crash_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = c.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut lines = Vec::new();
    // A child that stops making progress is a hang: killed after 60 s, and the test fails.
    let kill_now = |lines: &Vec<String>| {
        started.elapsed() >= Duration::from_secs(60)
            || match kill {
                Kill::AfterLines(n) => lines.len() >= n,
                Kill::After(d) => started.elapsed() >= d,
                Kill::Never => false,
            }
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(2)) {
            Ok(line) => lines.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let ok = c.wait().map(|s| s.success()).unwrap_or(false);
                return (lines, ok);
            }
        }
        if kill_now(&lines) {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
            // Whatever the child printed before it died is acknowledged too.
            lines.extend(rx.try_iter());
            return (lines, false);
        }
    }
}

#[test]
fn killed_at_random_points_nothing_acknowledged_is_lost_and_all_sessions_finish() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut dice = Rng::from_clock("crash test");
    let mut created = BTreeSet::new();
    let mut acked: BTreeSet<(SessionId, u64)> = BTreeSet::new();
    let mut collect = |lines: Vec<String>| {
        for l in lines {
            let parts: Vec<&str> = l.split_whitespace().collect();
            match parts.as_slice() {
                ["CREATED", id] => {
                    if let Ok(id) = id.parse() {
                        created.insert(id);
                    }
                }
                ["ACK", id, seq] => {
                    if let (Ok(id), Ok(seq)) = (id.parse(), seq.parse()) {
                        acked.insert((id, seq));
                    }
                }
                _ => {}
            }
        }
    };
    let mut kills = 0;
    // Eight kills mid-work (after 5–40 acknowledgements each, well short of the 350 the whole
    // run prints), every third one instead at a random moment in the first 40 ms.
    for round in 0..8 {
        let kill = if round % 3 == 2 {
            Kill::After(Duration::from_millis(dice.below(40)))
        } else {
            Kill::AfterLines(5 + dice.below(36) as usize)
        };
        let (lines, finished) = run_child(dir.path(), kill);
        collect(lines);
        assert!(
            !finished,
            "round {round}: the child finished before it was killed"
        );
        kills += 1;
    }
    let (lines, finished) = run_child(dir.path(), Kill::Never);
    collect(lines);
    assert!(finished, "the last child did not finish");

    let journal = Journal::open(dir.path()).expect("journal");
    assert_eq!(journal.session_count(), SESSIONS);
    let mut events_total = 0;
    let mut per_session: BTreeMap<SessionId, u64> = BTreeMap::new();
    for id in &created {
        assert!(
            journal.record(id).expect("record").is_some(),
            "acknowledged session {id} is missing"
        );
    }
    for record in journal.all().expect("all") {
        let id = &record.id;
        assert_eq!(record.state, SessionState::Decided, "{id} not decided");
        let events = journal.events(id, 0).expect("events");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{id}");
        let mut state = SessionState::Created;
        for e in &events {
            assert!(state.can_go_to(e.state), "{id}: {state:?} → {:?}", e.state);
            state = e.state;
        }
        assert_eq!(record.seq, events.len() as u64);
        per_session.insert(*id, events.len() as u64);
        events_total += events.len();
    }
    for (id, seq) in &acked {
        let n = per_session.get(id).copied().unwrap_or(0);
        assert!(*seq <= n, "acknowledged event {seq} of {id} is missing");
    }
    eprintln!(
        "{kills} kills; {} sessions acknowledged, {} events acknowledged, {events_total} events in the journal, all decided",
        created.len(),
        acked.len()
    );
}
