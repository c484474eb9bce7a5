//! The `loadtest flow` binary against a stand-in kyc server (plain HTTP/1.1 and WebSocket on
//! loopback, in this test process) that walks each session through the real API's states, so
//! the whole verification loop, the retries and the report are checked without the engines;
//! plus its refusals (missing files, a server that never gets ready). The run against the real
//! server is in loadtest/README.md.

use std::collections::HashMap;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// One session of the stand-in: its events so far and, once watched, its socket's queue.
#[derive(Default)]
struct Session {
    events: Vec<String>,
    socket: Option<mpsc::UnboundedSender<String>>,
}

/// The stand-in server's state.
#[derive(Default)]
struct Mock {
    sessions: Mutex<HashMap<String, Session>>,
    created: AtomicU64,
    card_uploads: AtomicU64,
}

impl Mock {
    /// Journals an event of session `id` and sends it on its socket, if open.
    fn event(&self, id: &str, state: &str, extra: Value) {
        let mut sessions = self.sessions.lock().unwrap();
        let Some(s) = sessions.get_mut(id) else {
            return;
        };
        let mut e = json!({"sessionId": id, "seq": s.events.len() + 1, "atMs": 1,
            "stage": "id_capture", "state": state, "progress": {"stage": 0, "overall": 0},
            "message": {"en": "", "ko": ""}});
        if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
            e.extend(extra.clone());
        }
        let text = e.to_string();
        if let Some(tx) = &s.socket {
            let _ = tx.send(text.clone());
        }
        s.events.push(text);
    }

    /// The session named in `body` whose token is `auth`'s.
    fn session_of(&self, body: &str, auth: &str) -> Option<String> {
        let sessions = self.sessions.lock().unwrap();
        let id = sessions
            .keys()
            .find(|id| body.contains(id.as_str()))?
            .clone();
        (auth == format!("Bearer tok-{id}")).then_some(id)
    }

    /// Answers one request: status, extra headers, body.
    fn answer(&self, method: &str, path: &str, auth: &str, body: &str) -> (u16, String, Value) {
        let accepted = json!({"success": true, "data": {"status": "processing"}});
        match (method, path) {
            ("GET", "/readyz") => (200, String::new(), json!({"success": true})),
            ("POST", "/api/v1/sessions") => {
                let n = self.created.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    // The first creation is rate limited once.
                    return (429, "retry-after: 1\r\n".into(), json!({"success": false}));
                }
                let id = format!("00000000-0000-4000-8000-{n:012}");
                self.sessions
                    .lock()
                    .unwrap()
                    .insert(id.clone(), Session::default());
                self.event(&id, "created", json!({}));
                let data = json!({"sessionId": id, "token": format!("tok-{id}"),
                    "wsUrl": format!("ws://10.0.0.9:1/ws/kyc/{id}?token=tok-{id}")});
                (201, String::new(), json!({"success": true, "data": data}))
            }
            ("POST", "/api/v1/id-capture") => {
                let Some(id) = self.session_of(body, auth) else {
                    return (401, String::new(), json!({"success": false}));
                };
                if self.card_uploads.fetch_add(1, Ordering::SeqCst) == 0 {
                    return (503, "retry-after: 1\r\n".into(), json!({"success": false}));
                }
                assert!(body.contains("filename=\"card.png\"") && body.contains("CARD-BYTES"));
                self.event(&id, "id_capture", json!({"result": {"captureId": "c"}}));
                self.event(
                    &id,
                    "id_accepted",
                    json!({"result": {"status": "accepted"}}),
                );
                (202, String::new(), accepted)
            }
            ("POST", "/api/v1/face-video") => {
                let Some(id) = self.session_of(body, auth) else {
                    return (401, String::new(), json!({"success": false}));
                };
                assert!(body.contains("filename=\"selfie.mp4\""));
                self.event(&id, "video", json!({"result": {"videoId": "v"}}));
                let ok = !body.contains("BAD-VIDEO");
                let state = if ok { "video_accepted" } else { "video" };
                self.event(&id, state, json!({"result": {"accepted": ok}}));
                (202, String::new(), accepted)
            }
            ("POST", "/api/v1/face-similarity") => {
                let Some(id) = self.session_of(body, auth) else {
                    return (401, String::new(), json!({"success": false}));
                };
                self.event(&id, "comparing", json!({"result": {"comparisonId": "x"}}));
                let decision = if id.ends_with('2') {
                    "review"
                } else {
                    "verified"
                };
                self.event(&id, "decided", json!({"decision": decision}));
                (202, String::new(), accepted)
            }
            _ => (404, String::new(), json!({"success": false})),
        }
    }
}

/// Serves one connection: a WebSocket for `/ws/kyc/…`, HTTP/1.1 requests otherwise.
async fn serve(mock: Arc<Mock>, mut tcp: TcpStream) {
    // An upgrade's request line arrives whole, in its first segment, on loopback.
    let mut first = [0u8; 2048];
    let n = tcp.peek(&mut first).await.unwrap_or(0);
    if first[..n].starts_with(b"GET /ws/kyc/") {
        let head = String::from_utf8_lossy(&first[..n]);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        return watch(mock, tcp, path).await;
    }
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut words = head.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                })
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let length: usize = header("content-length").parse().unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 65536];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
        buf.drain(..head_end + length);
        let (status, extra, answer) = mock.answer(method, path, &header("authorization"), &body);
        let answer = answer.to_string();
        let out = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             {extra}\r\n{answer}",
            answer.len()
        );
        if tcp.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A session's socket: its events so far (`since=0`), then each new one.
async fn watch(mock: Arc<Mock>, tcp: TcpStream, path: String) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    assert!(
        path.contains("token=tok-") && path.ends_with("&since=0"),
        "{path}"
    );
    let id = path["/ws/kyc/".len()..]
        .split('?')
        .next()
        .unwrap_or("")
        .to_owned();
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut sessions = mock.sessions.lock().unwrap();
        let Some(s) = sessions.get_mut(&id) else {
            return;
        };
        for e in &s.events {
            let _ = tx.send(e.clone());
        }
        s.socket = Some(tx);
    }
    loop {
        tokio::select! {
            Some(text) = rx.recv() => {
                if ws.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Starts the stand-in server; returns its URL.
async fn mock_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mock = Arc::new(Mock::default());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(Arc::clone(&mock), tcp));
        }
    });
    url
}

/// Runs `loadtest flow` with `args`, a card and `video` written to a folder of its own (removed
/// afterwards).
async fn flow(url: &str, video: &[u8], args: &[&str]) -> Output {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let n = RUNS.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("loadtest-flow-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (card, clip) = (dir.join("card.png"), dir.join("selfie.mp4"));
    std::fs::write(&card, b"CARD-BYTES").unwrap();
    std::fs::write(&clip, video).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["flow", "--url", url, "--api-key", "kyc_test", "--json"])
        .arg("--card")
        .arg(&card)
        .arg("--video")
        .arg(&clip)
        .args(args)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

#[tokio::test]
async fn whole_verifications_with_retries_and_memory_samples() {
    let url = mock_server().await;
    let pid = std::process::id().to_string();
    let args = ["--users", "2", "--verifications", "4", "--wait-secs", "5"];
    let extra = ["--server-pid", pid.as_str(), "--sample-secs", "1"];
    let started = Instant::now();
    let out = flow(&url, b"VIDEO-BYTES", &[&args[..], &extra[..]].concat()).await;
    assert!(started.elapsed() < Duration::from_secs(20), "{out:?}");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = report(&out);
    assert_eq!(v["started"], 4, "{v}");
    assert_eq!(v["completed"], 4, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    assert_eq!(v["stopped_by"], "verifications", "{v}");
    let decided = v["decisions"]["verified"].as_u64().unwrap_or(0)
        + v["decisions"]["review"].as_u64().unwrap_or(0);
    assert_eq!(decided, 4, "{v}");
    assert_eq!(v["retries_by_kind"]["create_429"], 1, "{v}");
    assert_eq!(v["retries_by_kind"]["card_503"], 1, "{v}");
    assert_eq!(v["retries"], 2, "{v}");
    for stage in ["card_ms", "video_ms", "compare_ms", "total_ms"] {
        assert_eq!(v[stage]["count"], 4, "{stage}: {v}");
    }
    // The retried creation waited its Retry-After (1 s).
    assert!(v["total_ms"]["max"].as_f64().unwrap() >= 1000.0, "{v}");
    assert!(v["verifications_per_minute"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["memory"]["samples"].as_array().unwrap().len() >= 2, "{v}");
    assert!(v["memory"]["max_mib"].as_f64().unwrap() > 0.0, "{v}");
}

#[tokio::test]
async fn a_refused_video_fails_the_run() {
    let url = mock_server().await;
    let out = flow(
        &url,
        b"BAD-VIDEO",
        &["--users", "1", "--verifications", "2"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = report(&out);
    assert_eq!(v["failures"]["video_refused"], 2, "{v}");
    assert_eq!(
        (v["completed"].as_u64(), v["failed"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(v["card_ms"]["count"], 2, "{v}");
    assert!(v["video_ms"].is_null(), "{v}");
}

#[tokio::test]
async fn missing_files_and_an_absent_server_cannot_start() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["flow", "--url", "http://127.0.0.1:1", "--api-key", "k"])
        .args(["--card", "/nonexistent/card.png", "--video", "/dev/null"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read --card /nonexistent/card.png"),
        "{stderr}"
    );

    let out = flow("http://127.0.0.1:1", b"V", &["--wait-secs", "1"]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/readyz did not answer 200"), "{stderr}");

    let out = flow("http://10.1.2.3:1", b"V", &[]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let help = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["flow", "--help"])
        .output()
        .await
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--verifications") && help.contains("--rate"),
        "{help}"
    );
}
