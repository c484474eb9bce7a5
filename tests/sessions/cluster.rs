//! Several nodes through Redis, as separate processes on 127.0.0.1: each test starts its own
//! `redis-server` on a spare port (so it can stop it), engine workers as `kyc serve --role
//! engine` child processes, and the api (or all) node in-process. A session's card and video
//! go to the engine workers as Redis Streams jobs; one worker is killed with SIGKILL while it
//! analyses a video and the other finishes the job after the visibility timeout; Redis is
//! stopped under an `all` node, which goes on deciding sessions with its own engines.

use super::helpers::{Client, Server, Watcher, card_image, spawn, video};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-token-for-cluster-tests-0123";
const STEP: Duration = Duration::from_secs(120);
/// A silent worker's job goes to another after this (seconds).
const VISIBILITY: &str = "4";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `redis-server` of the test's own, on a spare port.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Self {
        let mut r = Self {
            port: free_port(),
            child: None,
        };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again (on the same port) and waits until it answers.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: everything in it is gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `redis-cli` against it: the reply's lines.
    fn cli(&self, args: &[&str]) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A master key every node of the test's cluster shares.
fn master_key() -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An engine node: `kyc serve --role engine` as a child process, its log in `{dir}/log`.
struct Engine {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Engine {
    fn start(dir: &Path, name: &str, redis: &Redis) -> Self {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).expect("engine data dir");
        let log = data.join("log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_kyc"))
            .args(["serve", "--role", "engine"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("KYC_ENV", "test")
            .env(
                "KYC_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env("KYC__SERVER__HOST", "127.0.0.1")
            .env("KYC__SERVER__PORT", "0")
            .env("KYC__SERVER__DATA_DIR", &data)
            .env("KYC__REDIS__URL", redis.url())
            .env("KYC__SECURITY__MASTER_KEY", master_key())
            .env("KYC__CLUSTER__NODE_NAME", name)
            .env("KYC__CLUSTER__VISIBILITY_TIMEOUT_SECS", VISIBILITY)
            .env("KYC__LIVENESS__MODE", "off")
            // One worker and many samples: a video job lasts long enough to be killed in.
            .env("KYC__ENGINE__WORKERS", "1")
            .env("KYC__VIDEO__SAMPLES", "40")
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("kyc serve --role engine starts");
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// SIGKILL, and waits for it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The node's `/admin/tree` cluster view.
async fn cluster(server: &Server) -> Value {
    let (status, tree) = server
        .with_bearer(reqwest::Method::GET, "/admin/tree", ADMIN, None)
        .await;
    assert_eq!(status, 200, "{tree}");
    tree["data"]["cluster"].clone()
}

/// Waits until the node sees `n` engine workers' nodes, each with its workers loaded.
async fn wait_for_engines(server: &Server, n: usize, engines: &[&Engine]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let c = cluster(server).await;
        let loaded = c["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["role"] == "engine" && n["engineWorkers"].as_u64().unwrap_or(0) > 0)
            .count();
        if loaded >= n {
            return c;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = engines.iter().map(|e| e.log()).collect();
            panic!("{n} engine nodes did not come up: {c:#}\nlogs: {logs:#?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The node (in-process) of a cluster on `redis`.
async fn node(role: &str, redis: &Redis) -> Server {
    let key = master_key();
    let url = redis.url();
    spawn(&[
        ("KYC__CLUSTER__ROLE", role),
        ("KYC__REDIS__URL", url.as_str()),
        ("KYC__SECURITY__MASTER_KEY", key.as_str()),
        ("KYC__CLUSTER__VISIBILITY_TIMEOUT_SECS", VISIBILITY),
        (
            "KYC__CLUSTER__NODE_NAME",
            if role == "api" { "api-a" } else { "all-a" },
        ),
        ("KYC__ADMIN__TOKEN", ADMIN),
    ])
    .await
}

/// Every event numbered once, in order, none missing.
fn assert_no_gap(w: &Watcher) {
    let seqs: Vec<u64> = w.events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    for pair in seqs.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "events out of order or missing: {seqs:?}"
        );
    }
}

/// A whole session: card, video, comparison, to its decision; its events.
async fn decide<'a>(server: &'a Server, clip: &Path, seed: u64) -> (Client<'a>, Watcher, Value) {
    let c = Client::create(server).await;
    let mut w = c.watch(0).await;
    let (s, b) = c
        .upload(
            "/api/v1/id-capture",
            card_image("img1.jpg", seed),
            "card.png",
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let e = w.state(STEP, "id_accepted").await;
    assert_eq!(e["state"], "id_accepted", "{e}");
    let clip = std::fs::read(clip).expect("clip");
    let (s, b) = c.upload("/api/v1/face-video", clip, "selfie.mp4").await;
    assert_eq!(s, 202, "{b}");
    let e = w.state(STEP, "video_accepted").await;
    assert_eq!(e["state"], "video_accepted", "{e}");
    let (s, b) = c.compare().await;
    assert_eq!(s, 202, "{b}");
    let last = w
        .until(STEP, |e| e["state"] == "decided" || e["state"] == "failed")
        .await;
    (c, w, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engine_workers_in_other_processes_decide_sessions_and_take_over_a_killed_workers_job() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut e1 = Engine::start(dir.path(), "engine-1", &redis);
    let mut e2 = Engine::start(dir.path(), "engine-2", &redis);
    let api = node("api", &redis).await;
    let c = wait_for_engines(&api, 2, &[&e1, &e2]).await;
    assert_eq!(c["role"], "api", "{c:#}");
    assert!(
        api.settings.cluster.role == kyc::settings::Role::Api,
        "the node runs no engine of its own"
    );
    let clip = video(dir.path(), "img1.jpg", 4);

    // A whole session through the workers: the api node has no engine pool at all.
    let (_, w, last) = decide(&api, &clip, 1701).await;
    assert_eq!(last["decision"], "verified", "{last}");
    assert_no_gap(&w);
    let c = cluster(&api).await;
    assert!(
        c["transport"]["jobs"].as_u64().unwrap_or(0) >= 2,
        "the card's face and the video went through Redis: {c:#}"
    );
    let (status, tree) = api
        .with_bearer(reqwest::Method::GET, "/admin/tree", ADMIN, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(tree["data"]["enginePools"], serde_json::json!([]), "{tree}");

    // A worker killed in the middle of a video job: the other takes the job over after the
    // visibility timeout and the session is decided once, every event once.
    let s = Client::create(&api).await;
    let mut w = s.watch(0).await;
    let (st, b) = s
        .upload(
            "/api/v1/id-capture",
            card_image("img1.jpg", 1702),
            "card.png",
        )
        .await;
    assert_eq!(st, 202, "{b}");
    w.state(STEP, "id_accepted").await;
    let clip_bytes = std::fs::read(&clip).expect("clip");
    let (st, b) = s
        .upload("/api/v1/face-video", clip_bytes, "selfie.mp4")
        .await;
    assert_eq!(st, 202, "{b}");
    // The first analysed frame: some worker has the job.
    w.until(STEP, |e| {
        e["result"]["framesAnalysed"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    let pending = redis.cli(&["XPENDING", "kyc:jobs:video", "engines", "-", "+", "10"]);
    let holder = pending
        .iter()
        .find(|l| l.starts_with("engine-"))
        .cloned()
        .unwrap_or_else(|| panic!("no worker holds the video job: {pending:?}"));
    let killed_at = Instant::now();
    if holder == e1.name {
        e1.kill();
    } else {
        e2.kill();
    }
    let e = w.state(STEP, "video_accepted").await;
    assert_eq!(
        e["state"], "video_accepted",
        "the job was not finished: {e}"
    );
    let took = killed_at.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "taken over before the visibility timeout ({took:?}): the job ran twice at once?"
    );
    let (st, b) = s.compare().await;
    assert_eq!(st, 202, "{b}");
    let last = w
        .until(STEP, |e| e["state"] == "decided" || e["state"] == "failed")
        .await;
    assert_eq!(last["decision"], "verified", "{last}");
    assert_no_gap(&w);
    let accepted = w
        .events
        .iter()
        .filter(|e| e["state"] == "video_accepted")
        .count();
    assert_eq!(accepted, 1, "the video was accepted twice: {:#?}", w.events);
    // The frames' progress never went back (the second worker's repeats were dropped).
    let frames: Vec<u64> = w
        .events
        .iter()
        .filter_map(|e| e["result"]["framesAnalysed"].as_u64())
        .collect();
    assert!(
        frames.windows(2).all(|p| p[1] > p[0]),
        "progress repeated after the take-over: {frames:?}"
    );
    let c = cluster(&api).await;
    for s in c["streams"].as_array().into_iter().flatten() {
        assert_eq!(s["pending"], 0, "a job left pending: {c:#}");
    }
    drop(e1);
    drop(e2);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_all_node_keeps_deciding_while_redis_is_down_and_uses_it_again_when_it_returns() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let all = node("all", &redis).await;
    wait_for_all(&all, true).await;
    let clip = video(dir.path(), "img1.jpg", 4);

    // Through Redis (its own engines take the jobs from the stream).
    let (_, w, last) = decide(&all, &clip, 1711).await;
    assert_eq!(last["decision"], "verified", "{last}");
    assert_no_gap(&w);
    let before = cluster(&all).await["transport"]["jobs"]
        .as_u64()
        .unwrap_or(0);
    assert!(before >= 2, "the jobs did not go through Redis");

    // Redis gone: degraded, still deciding, in-process.
    redis.kill();
    wait_for_all(&all, false).await;
    let (status, ready) = answer_get(&all, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["data"]["status"], "degraded", "{ready}");
    let (_, w, last) = decide(&all, &clip, 1712).await;
    assert_eq!(last["decision"], "verified", "{last}");
    assert_no_gap(&w);
    assert_eq!(
        cluster(&all).await["transport"]["jobs"]
            .as_u64()
            .unwrap_or(0),
        before,
        "no job went to Redis while it was down"
    );

    // Back: the node uses Redis again.
    redis.restart();
    wait_for_all(&all, true).await;
    let (_, ready) = answer_get(&all, "/readyz").await;
    assert_eq!(ready["data"]["status"], "ready", "{ready}");
    let (_, w, last) = decide(&all, &clip, 1713).await;
    assert_eq!(last["decision"], "verified", "{last}");
    assert_no_gap(&w);
    assert!(
        cluster(&all).await["transport"]["jobs"]
            .as_u64()
            .unwrap_or(0)
            > before,
        "the jobs did not go through Redis again"
    );
    all.stop().await;
}

async fn answer_get(server: &Server, path: &str) -> (u16, Value) {
    super::helpers::answer(
        server
            .client
            .get(server.url(path))
            .send()
            .await
            .expect("send"),
    )
    .await
}

/// Waits until the node sees Redis `up` (with its own engine worker announced) or down.
async fn wait_for_all(server: &Server, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = cluster(server).await;
        let seen = c["redis"] == "up" && c["engineWorkers"].as_u64().unwrap_or(0) > 0;
        if seen == up && (up || c["redis"] == "down") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Redis not seen {}: {c:#}",
            if up { "up" } else { "down" }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
