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
    let name = if role == "api" { "api-a" } else { "all-a" };
    named_node(role, name, redis, None).await
}

/// [`node`] named `name`, its records in MariaDB at `db` when given (shared by the nodes).
async fn named_node(role: &str, name: &str, redis: &Redis, db: Option<&str>) -> Server {
    let key = master_key();
    let url = redis.url();
    let mut vars = vec![
        ("KYC__CLUSTER__ROLE", role),
        ("KYC__REDIS__URL", url.as_str()),
        ("KYC__SECURITY__MASTER_KEY", key.as_str()),
        ("KYC__CLUSTER__VISIBILITY_TIMEOUT_SECS", VISIBILITY),
        ("KYC__CLUSTER__NODE_NAME", name),
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "100000"),
    ];
    if let Some(db) = db {
        vars.push(("KYC__DATABASE__URL", db));
    }
    spawn(&vars).await
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
    let metrics = api.metrics().await;
    for series in ["kyc_cluster_redis_up 1", "kyc_cluster_engine_workers 2"] {
        assert!(
            metrics.contains(series),
            "{series} not in /metrics:\n{metrics}"
        );
    }
    assert!(!metrics.contains("kyc_cluster_jobs_total 0\n"), "{metrics}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_nodes_share_a_sessions_events_and_one_tenant_limit() {
    let redis = Redis::start();
    let db = super::records_db::TestDb::create().await;
    let db_url = db.url_via(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let e1 = Engine::start(dir.path(), "engine-1", &redis);
    let e2 = Engine::start(dir.path(), "engine-2", &redis);
    let a = named_node("api", "api-a", &redis, Some(&db_url)).await;
    let b = named_node("api", "api-b", &redis, Some(&db_url)).await;
    wait_for_engines(&a, 2, &[&e1, &e2]).await;
    wait_for_engines(&b, 2, &[&e1, &e2]).await;
    let clip = video(dir.path(), "img1.jpg", 4);

    // Created on A, watched on B (from the start, and a second socket joining later with
    // `since`), uploads sent to A: B shows every event, in order, none missing.
    let c = Client::create(&a).await;
    let ws = |s: &Server| s.address.replace("http://", "ws://");
    let on_b = c.ws_url.replace(&ws(&a), &ws(&b));
    assert_ne!(on_b, c.ws_url, "{on_b}");
    let mut watch_b = watch_url(&format!("{on_b}&since=0")).await;
    let mut watch_a = c.watch(0).await;
    let card = card_image("img1.jpg", 1721);
    let (s, body) = c.upload("/api/v1/id-capture", card, "card.png").await;
    assert_eq!(s, 202, "{body}");
    watch_b.state(STEP, "id_accepted").await;
    let joined_at = watch_b
        .events
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(0);
    let mut late_b = watch_url(&format!("{on_b}&since={joined_at}")).await;
    let clip_bytes = std::fs::read(&clip).expect("clip");
    let (s, body) = c
        .upload("/api/v1/face-video", clip_bytes, "selfie.mp4")
        .await;
    assert_eq!(s, 202, "{body}");
    watch_b.state(STEP, "video_accepted").await;
    let (s, body) = c.compare().await;
    assert_eq!(s, 202, "{body}");
    let done = |e: &Value| e["state"] == "decided" || e["state"] == "failed";
    let last_b = watch_b.until(STEP, done).await;
    let last_a = watch_a.until(STEP, done).await;
    assert_eq!(last_b["decision"], "verified", "{last_b}");
    assert_eq!(last_b["seq"], last_a["seq"]);
    assert_no_gap(&watch_b);
    assert_eq!(
        watch_b.seqs().first(),
        Some(&1),
        "B missed the first events"
    );
    let journaled = |w: &Watcher| -> Vec<u64> {
        w.events
            .iter()
            .filter(|e| e["transient"] != true)
            .filter_map(|e| e["seq"].as_u64())
            .collect()
    };
    assert_eq!(
        journaled(&watch_b),
        journaled(&watch_a),
        "B and A saw other events"
    );
    late_b.until(STEP, done).await;
    assert_no_gap(&late_b);
    assert_eq!(
        late_b.seqs().first(),
        Some(&(joined_at + 1)),
        "the late socket's replay"
    );
    // A session neither B nor the directory knows: refused as ever.
    let unknown = format!("{}/ws/kyc/{}?token=nope", ws(&b), uuid::Uuid::new_v4());
    assert!(tokio_tungstenite::connect_async(unknown).await.is_err());

    // One tenant limit across both nodes: N sessions a minute, N + k attempts → k refused.
    let n = 3u64;
    let path = format!("/admin/tenants/{}", b.tenant_id);
    let body = serde_json::json!({ "options": { "sessionsPerMinute": n } });
    let (s, body) = b
        .with_bearer(reqwest::Method::PATCH, &path, ADMIN, Some(body))
        .await;
    assert_eq!(s, 200, "{body}");
    // The other node reads the tenants again within `tenants::RELOAD_EVERY`.
    tokio::time::sleep(kyc::tenants::RELOAD_EVERY + Duration::from_secs(1)).await;
    // Not across a minute's turn (the window is the clock minute).
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        % 60;
    if second > 50 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let mut refused = 0;
    for i in 0..(n + 2) {
        let via = if i % 2 == 0 { &a } else { &b };
        let r = via
            .client
            .post(via.url("/api/v1/sessions"))
            .header("x-api-key", &b.api_key)
            .json(&super::helpers::consent())
            .send()
            .await
            .expect("send");
        match r.status().as_u16() {
            201 => {}
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("{other}: {}", r.text().await.unwrap_or_default()),
        }
    }
    assert_eq!(refused, 2, "N + 2 attempts over two nodes: 2 refused");
    drop((e1, e2));
    a.stop().await;
    b.stop().await;
}

/// A socket on `url` (a WebSocket URL with its token and `since`).
async fn watch_url(url: &str) -> Watcher {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("websocket {url}: {e}"));
    Watcher {
        ws,
        events: Vec::new(),
    }
}
