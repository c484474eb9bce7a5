//! Crash safety in the manner of sled's crash tests: the test binary runs the real server as
//! a child process (`crash_child_server`), 50 sessions are driven through it over REST and
//! WebSocket, and the child is killed with SIGKILL at random moments and started again on the
//! same data folder. The first kill comes the moment a socket reports a video job started, so
//! at least one running job is interrupted; the others come at random moments (the seed is
//! printed). Afterwards every acknowledged session and upload is there, every event a socket
//! received is still in the journal unchanged, no event is numbered twice or skipped, every
//! interrupted session has run on to its decision, and the interrupted job ran again. The
//! child writes its records to a fresh MariaDB database through the outbox: after the last
//! restart every record of every session is there exactly once.

use super::helpers::{card_image, settings, start, video};
use futures::StreamExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use test_support::Rng;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const CHILD_DIR: &str = "KYC_CRASH_CHILD_DIR";
const CHILD_DB: &str = "KYC_CRASH_CHILD_DB";
const CHILD_ATTEMPTS: &str = "KYC_CRASH_CHILD_ATTEMPTS";
const SESSIONS: usize = 50;
const KILLS: usize = 5;

/// The child: the real server on the data folder the parent names, its port written to
/// `{dir}/port`, running until killed.
#[test]
#[ignore = "the child process of crash::sessions_survive_kill_9_of_the_server"]
fn crash_child_server() {
    let dir = std::env::var(CHILD_DIR).unwrap_or_else(|_| {
        panic!("only the parent test runs this, with {CHILD_DIR} naming the data folder")
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = PathBuf::from(dir);
        // The records database (none: the embedded store) and the attempts a job gets.
        let db = std::env::var(CHILD_DB).ok();
        let attempts = std::env::var(CHILD_ATTEMPTS).ok();
        let mut vars = vec![("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "1000000")];
        if let Some(db) = &db {
            vars.push(("KYC__DATABASE__URL", db.as_str()));
        }
        if let Some(n) = &attempts {
            vars.push(("KYC__SESSIONS__JOB_MAX_ATTEMPTS", n.as_str()));
        }
        let s = settings(&dir, &vars);
        let (port, _stop, _done, tenants) = start(Arc::new(s)).await;
        // The tenant, made at the first start (before any kill: the kills wait for sessions,
        // which need its key) and kept in the records database from then on.
        let key_file = dir.join("api_key");
        if !key_file.exists() {
            let (_, key) = tenants
                .create("crash", Default::default())
                .await
                .expect("the tenant");
            std::fs::write(dir.join("api_key.tmp"), key).expect("key file");
            std::fs::rename(dir.join("api_key.tmp"), &key_file).expect("key file");
        }
        std::fs::write(dir.join("port.tmp"), port.to_string()).expect("port file");
        std::fs::rename(dir.join("port.tmp"), dir.join("port")).expect("port file");
        std::future::pending::<()>().await;
    });
}

pub(super) struct Child {
    process: std::process::Child,
}

impl Child {
    /// SIGKILL, and waits for it.
    pub(super) fn kill(&mut self) {
        self.process.kill().expect("SIGKILL");
        let _ = self.process.wait();
    }
}

/// Starts the child server on `dir` (records in MariaDB database `db`, else the embedded
/// store; a job gets `attempts` starts, else the default) and returns it with its address once
/// it listens. The caller kills and waits for it.
#[allow(clippy::zombie_processes)]
pub(super) fn launch(dir: &Path, db: Option<&str>, attempts: Option<u32>) -> (Child, String) {
    let _ = std::fs::remove_file(dir.join("port"));
    let mut command = std::process::Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            "--exact",
            "crash::crash_child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env_remove(CHILD_DB)
        .env_remove(CHILD_ATTEMPTS);
    if let Some(db) = db {
        command.env(CHILD_DB, db);
    }
    if let Some(n) = attempts {
        command.env(CHILD_ATTEMPTS, n.to_string());
    }
    let mut process = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(port) = std::fs::read_to_string(dir.join("port")) {
            return (Child { process }, format!("127.0.0.1:{}", port.trim()));
        }
        if Instant::now() >= deadline {
            let _ = process.kill();
            let _ = process.wait();
            panic!("the child server did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

type Address = Arc<RwLock<String>>;

fn base(addr: &Address) -> String {
    addr.read().map(|a| a.clone()).unwrap_or_default()
}

/// What the client was told: the session, the uploads and comparisons acknowledged (202).
#[derive(Default)]
struct Acks {
    ids: Vec<String>,
}

async fn post_file(
    client: &reqwest::Client,
    addr: &Address,
    path: &str,
    id: &str,
    token: &str,
    file: &[u8],
) -> Option<(u16, Value)> {
    let form = reqwest::multipart::Form::new()
        .text("sessionId", id.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.to_vec()).file_name("f"),
        );
    let res = client
        .post(format!("http://{}{path}", base(addr)))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    Some((status, res.json().await.ok()?))
}

struct Driven {
    id: String,
    token: String,
    acks: Acks,
    /// The events as a socket received them while the server was being killed.
    live: tokio::task::JoinHandle<Vec<Value>>,
}

/// Drives one session to its decision through crashes: it looks at the session's state and
/// does the next step; a request lost in a crash is simply tried again later.
async fn drive(
    client: reqwest::Client,
    addr: Address,
    api_key: Arc<String>,
    card: Arc<Vec<u8>>,
    clip: Arc<Vec<u8>>,
    video_starts: Arc<watch::Sender<u64>>,
) -> Driven {
    let (id, token) = loop {
        let res = client
            .post(format!("http://{}/api/v1/sessions", base(&addr)))
            .header("x-api-key", api_key.as_str())
            .json(&super::helpers::consent())
            .send()
            .await;
        if let Ok(res) = res
            && res.status() == 201
            && let Ok(body) = res.json::<Value>().await
        {
            let d = &body["data"];
            break (
                d["sessionId"].as_str().expect("id").to_owned(),
                d["token"].as_str().expect("token").to_owned(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A socket on the session from the start, reconnecting after every crash.
    let live = tokio::spawn(watch_events(
        Arc::clone(&addr),
        id.clone(),
        token.clone(),
        Some(video_starts),
    ));
    let mut acks = Acks::default();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        assert!(Instant::now() < deadline, "session {id} did not finish");
        let status = client
            .get(format!("http://{}/api/v1/sessions/{id}", base(&addr)))
            .bearer_auth(&token)
            .send()
            .await;
        let Some(s) = (match status {
            Ok(r) if r.status() == 200 => r.json::<Value>().await.ok(),
            _ => None,
        }) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let d = &s["data"];
        let state = d["state"].as_str().unwrap_or_default().to_owned();
        if !d["pending"].is_null() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let answer = match state.as_str() {
            "decided" => {
                return Driven {
                    id,
                    token,
                    acks,
                    live,
                };
            }
            "failed" | "expired" | "erased" => panic!("session {id} ended {state}: {s}"),
            "created" | "id_capture" => {
                post_file(&client, &addr, "/api/v1/id-capture", &id, &token, &card).await
            }
            "id_accepted" | "video" => {
                post_file(&client, &addr, "/api/v1/face-video", &id, &token, &clip).await
            }
            "video_accepted" => match client
                .post(format!("http://{}/api/v1/face-similarity", base(&addr)))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "sessionId": id }))
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status().as_u16();
                    r.json::<Value>().await.ok().map(|b| (status, b))
                }
                Err(_) => None,
            },
            _ => None,
        };
        if let Some((202, body)) = answer {
            for k in ["captureId", "videoId", "comparisonId"] {
                if let Some(v) = body["data"][k].as_str() {
                    acks.ids.push(v.to_owned());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first event of a video job (`framesPlanned`, nothing analysed yet): the job is running.
fn video_job_started(e: &Value) -> bool {
    let r = &e["result"];
    r["framesPlanned"].is_u64() && r["framesAnalysed"].is_null()
}

/// Watches a session, reconnecting with `since` after every crash, until its decision, and
/// counts in `video_starts` each video job it sees start. Returns the events received; a
/// duplicate or a gap fails the test.
async fn watch_events(
    addr: Address,
    id: String,
    token: String,
    video_starts: Option<Arc<watch::Sender<u64>>>,
) -> Vec<Value> {
    let mut events: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        assert!(
            Instant::now() < deadline,
            "watcher of {id} did not see the decision"
        );
        let since = events.len();
        let url = format!(
            "ws://{}/ws/kyc/{id}?token={token}&since={since}",
            base(&addr)
        );
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if let WsMessage::Text(t) = msg {
                let e: Value = serde_json::from_str(&t).expect("event");
                let seq = e["seq"].as_u64().expect("seq");
                assert_eq!(
                    seq,
                    events.len() as u64 + 1,
                    "session {id}: gap or duplicate at {e}"
                );
                if let Some(starts) = &video_starts
                    && video_job_started(&e)
                {
                    starts.send_modify(|n| *n += 1);
                }
                let done = e["state"] == "decided";
                events.push(e);
                if done {
                    return events;
                }
            }
        }
    }
}

/// Jobs that started twice: the ID photo's quality event (40 %) or the video's first event
/// (`framesPlanned`) appears more than once for the same upload — the job was interrupted by
/// a kill and run again from the journal.
fn rerun_jobs(events: &[Value]) -> usize {
    let mut starts: std::collections::HashMap<String, usize> = Default::default();
    for e in events {
        let r = &e["result"];
        let key = if r["quality"].is_object()
            && r["captureId"].is_string()
            && !r["live"].is_boolean()
            && e["progress"]["stage"] == 40
        {
            r["captureId"].as_str()
        } else if video_job_started(e) {
            r["videoId"].as_str()
        } else {
            None
        };
        if let Some(k) = key {
            *starts.entry(k.to_owned()).or_default() += 1;
        }
    }
    starts.values().filter(|&&n| n > 1).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_survive_kill_9_of_the_server() {
    let dir = tempfile::tempdir().expect("data dir");
    let media = tempfile::tempdir().expect("media");
    let card = Arc::new(card_image("img1.jpg", 10));
    let clip = Arc::new(std::fs::read(video(media.path(), "img2.jpg", 3)).expect("clip"));
    let mut rng = Rng::from_clock("crash test");
    let video_starts = Arc::new(watch::Sender::new(0u64));
    let mut started = video_starts.subscribe();

    let db = super::records_db::TestDb::create().await;
    let db_url = db.url_via(None);
    // Every kill may land in the same job: it gets more starts than there are kills (a job
    // that keeps dying is given up after `sessions.job_max_attempts`, see `abuse`).
    let (mut child, address) = launch(dir.path(), Some(&db_url), Some(KILLS as u32 + 2));
    let addr: Address = Arc::new(RwLock::new(address));
    let api_key = Arc::new(
        std::fs::read_to_string(dir.path().join("api_key")).expect("the child made the tenant"),
    );
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut drivers = Vec::new();
    for _ in 0..SESSIONS {
        let (c, a) = (client.clone(), Arc::clone(&addr));
        let (card, clip) = (Arc::clone(&card), Arc::clone(&clip));
        let starts = Arc::clone(&video_starts);
        let key = Arc::clone(&api_key);
        drivers.push(tokio::spawn(drive(c, a, key, card, clip, starts)));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first kill: the moment a socket reports a video job started (a job of seconds), so
    // that job is interrupted and must run again after the restart.
    let seen = *started.borrow_and_update();
    tokio::time::timeout(Duration::from_secs(300), started.wait_for(|&n| n > seen))
        .await
        .expect("a video job started within 300 s")
        .expect("the watchers are running");
    // Then at random moments while the sessions are in all their stages.
    for k in 0..KILLS {
        let wait = if k == 0 { 0 } else { 300 + rng.below(2500) };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.process.kill().expect("SIGKILL");
        let _ = child.process.wait();
        if k == 0 {
            eprintln!("kill 1 as a video job started");
        } else {
            eprintln!("kill {} after {wait} ms", k + 1);
        }
        let (c, address) = launch(dir.path(), Some(&db_url), Some(KILLS as u32 + 2));
        child = c;
        if let Ok(mut a) = addr.write() {
            *a = address;
        }
    }
    let mut done = Vec::new();
    for d in drivers {
        done.push(d.await.expect("driver"));
    }
    // Every session, from the first event: the journal's story has no gap or duplicate and
    // ends in the decision; every acknowledged upload and comparison is in it.
    let mut uploads = 0;
    let mut reruns = 0;
    for d in done {
        let live = tokio::time::timeout(Duration::from_secs(120), d.live)
            .await
            .expect("the live socket saw the decision")
            .expect("watcher");
        let replay = tokio::time::timeout(
            Duration::from_secs(60),
            watch_events(Arc::clone(&addr), d.id.clone(), d.token.clone(), None),
        )
        .await
        .expect("replay");
        assert_eq!(
            live, replay,
            "session {}: what sockets were told is what the journal keeps",
            d.id
        );
        let last = replay.last().expect("events");
        assert_eq!(last["decision"], "verified", "{last}");
        reruns += rerun_jobs(&replay);
        let text = serde_json::to_string(&replay).expect("json");
        for a in &d.acks.ids {
            assert!(
                text.contains(a.as_str()),
                "acknowledged {a} is missing from {}'s events",
                d.id
            );
            uploads += 1;
        }
    }
    eprintln!(
        "{SESSIONS} sessions decided after {KILLS} kills; {uploads} acknowledged uploads and \
         comparisons all journaled; {reruns} jobs interrupted and run again after a restart"
    );
    assert!(
        reruns > 0,
        "the first kill came as a video job started, yet no job ran again (seed {})",
        rng.seed()
    );
    records_arrived_once(&client, &addr, &db).await;
    child.process.kill().expect("SIGKILL");
    let _ = child.process.wait();
}

/// Once the outbox has drained: every session's records in MariaDB, each exactly once.
async fn records_arrived_once(
    client: &reqwest::Client,
    addr: &Address,
    db: &super::records_db::TestDb,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body: Option<Value> = match client
            .get(format!("http://{}/readyz", base(addr)))
            .send()
            .await
        {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        if let Some(b) = &body
            && b["data"]["outbox"]["count"] == 0
        {
            assert_eq!(b["data"]["outbox"]["dead"], 0, "{b}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain: {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let n = SESSIONS as i64;
    for (sql, want) in [
        ("SELECT COUNT(*) FROM sessions", n),
        ("SELECT COUNT(*) FROM consents", n),
        ("SELECT COUNT(*) FROM comparisons", n),
        ("SELECT COUNT(*) FROM decisions", n),
        (
            "SELECT COUNT(*) FROM decisions d JOIN comparisons c ON c.id = d.comparison_id \
             WHERE d.outcome = 'verified'",
            n,
        ),
        // Every session has its card read and both uploads with their faces (more where a
        // lost answer made the client upload again: each once).
        (
            "SELECT COUNT(*) FROM (SELECT session_id FROM record_log GROUP BY session_id \
             HAVING SUM(kind = 'document_read') >= 1 AND SUM(kind = 'media_stored') >= 2 \
             AND SUM(kind = 'face_samples') >= 2) s",
            n,
        ),
    ] {
        assert_eq!(db.count(sql).await, want, "{sql}");
    }
    // No record twice anywhere: one row set per logged record.
    let logged = db.count("SELECT COUNT(*) FROM record_log").await;
    let rows = db
        .count(
            "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM consents) \
             + (SELECT COUNT(*) FROM documents) + (SELECT COUNT(*) FROM media_objects) \
             + (SELECT COUNT(DISTINCT session_id, seq) FROM face_samples) \
             + (SELECT COUNT(*) FROM comparisons) + (SELECT COUNT(*) FROM decisions)",
        )
        .await;
    assert_eq!(
        logged, rows,
        "every logged record has its rows, and only those"
    );
    eprintln!("{logged} records of {SESSIONS} sessions in MariaDB, each once");
}
