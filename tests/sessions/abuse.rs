//! The abuse suite: what the server does when clients do not play fair. Connections that
//! trickle their headers are dropped at the header timeout while sessions keep working; a
//! trickled body is cut with 408; one address gets only its share of connections and
//! WebSockets; a page of a foreign origin cannot open a session's socket; a tenant's open
//! sessions, a session's uploads and one address's admin calls are capped; a job past its time limit fails its session;
//! a video whose processing kills the server fails its session after two attempts, and the
//! server comes back cleanly. (The 2 GB uploads with a wrong or no token are in
//! `bad_input`, the 1,000 creations over a tenant's rate in `tenants`.)

use super::helpers::{Client, Watcher, answer, card_image, consent, spawn, video};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "admin-token-for-abuse-tests-01234";

fn host(server: &super::helpers::Server) -> String {
    server.address.trim_start_matches("http://").to_owned()
}

/// Sends `bytes` one byte per second until the server closes the connection; how long it
/// held, or `None` if every byte went out and the server still had not closed it.
async fn trickle(addr: String, bytes: &'static [u8]) -> Option<Duration> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.ok()?;
    let mut buf = [0u8; 512];
    for b in bytes {
        if s.write_all(&[*b]).await.is_err() {
            return Some(started.elapsed());
        }
        let t = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await;
        match t {
            // Closed (or answered and then closed: read on until the end).
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await
                {
                    if n == 0 {
                        break;
                    }
                }
                return Some(started.elapsed());
            }
            Err(_) => {}
        }
    }
    None
}

/// An ID photo that goes through, `w` watching until it is accepted.
async fn id_accepted(c: &Client<'_>, w: &mut Watcher, seed: u64) -> Duration {
    let started = Instant::now();
    let (status, body) = c
        .upload(
            "/api/v1/id-capture",
            card_image("img1.jpg", seed),
            "card.png",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let e = w.state(Duration::from_secs(120), "id_accepted").await;
    assert_eq!(e["state"], "id_accepted", "{e}");
    started.elapsed()
}

/// What a raw connection is answered before it sends anything (a refused one gets its 503
/// at once); empty when the server waits for a request.
async fn first_answer(addr: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut buf = vec![0u8; 2048];
    let n = match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        _ => 0,
    };
    (s, String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_clients_are_dropped_and_one_address_gets_its_share_while_sessions_work() {
    let server = spawn(&[
        ("KYC__EDGE__HEADER_READ_TIMEOUT_SECS", "2"),
        ("KYC__EDGE__MIN_BODY_RATE_BYTES_PER_SEC", "2000"),
        ("KYC__EDGE__BODY_RATE_GRACE_SECS", "1"),
        ("KYC__EDGE__MAX_CONNECTIONS_PER_ADDRESS", "240"),
        ("KYC__EDGE__MAX_WEBSOCKETS_PER_ADDRESS", "2"),
        ("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "100000"),
        ("KYC__ADMIN__TOKEN", ADMIN),
    ])
    .await;
    let addr = host(&server);

    // 200 connections sending their headers one byte a second (a header of 60 bytes would
    // take a minute): each is closed at the 2 s header timeout, while a session is served.
    const HEADER: &[u8] =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let slow: Vec<_> = (0..200)
        .map(|_| tokio::spawn(trickle(addr.clone(), HEADER)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = Client::create(&server).await;
    let took = id_accepted(&c, &mut c.watch(0).await, 31).await;
    let mut held = Vec::new();
    for t in slow {
        held.push(
            t.await
                .expect("task")
                .expect("the server never closed a slow connection"),
        );
    }
    let longest = held.iter().max().copied().unwrap_or_default();
    let shortest = held.iter().min().copied().unwrap_or_default();
    eprintln!(
        "200 slow connections closed after {:.1}–{:.1} s; an ID photo meanwhile accepted in {:.1} s",
        shortest.as_secs_f64(),
        longest.as_secs_f64(),
        took.as_secs_f64()
    );
    assert!(
        longest < Duration::from_secs(8),
        "a slow connection held {longest:?}"
    );
    assert!(
        shortest >= Duration::from_millis(1500),
        "closed before its timeout: {shortest:?}"
    );

    // A body trickled under the minimum rate is cut (408), and nothing of it stays.
    let c2 = Client::create(&server).await;
    let boundary = "abuse-boundary";
    let head = format!(
        "POST /api/v1/id-capture HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 200000\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n",
        c2.token
    );
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let mut answer_text = String::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(15) {
        let _ = s.write_all(&[0x89; 10]).await;
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer_text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
        if answer_text.contains("}}") || answer_text.contains("\"requestId\"") {
            break;
        }
    }
    assert!(
        answer_text.starts_with("HTTP/1.1 408") && answer_text.contains("REQUEST_TIMEOUT"),
        "a trickled body: {answer_text:?} after {:?}",
        started.elapsed()
    );
    let incoming = server
        .settings
        .server
        .data_dir
        .join("media")
        .join("incoming");
    let left = std::fs::read_dir(&incoming)
        .map(|d| d.count())
        .unwrap_or_default();
    assert_eq!(left, 0, "a cut upload left files in {}", incoming.display());

    // One address holds at most 240 connections: more are answered 503 at once. (All are
    // opened within the 2 s header timeout, which would close the idle ones.)
    let mut socks = Vec::new();
    for _ in 0..260 {
        socks.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    let firsts = futures::future::join_all(socks.into_iter().map(|mut s| async move {
        let mut buf = vec![0u8; 2048];
        let n = match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => 0,
        };
        (s, String::from_utf8_lossy(&buf[..n]).into_owned())
    }))
    .await;
    let mut open = Vec::new();
    let mut refused = 0;
    for (s, first) in firsts {
        if first.starts_with("HTTP/1.1 503") {
            assert!(first.contains("AT_CAPACITY"), "{first}");
            refused += 1;
        } else {
            assert!(first.is_empty(), "{first}");
            open.push(s);
        }
    }
    assert!(open.len() <= 240, "{} connections open", open.len());
    assert!(refused >= 20, "only {refused} of 260 connections refused");
    drop(open);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, first) = first_answer(&addr).await;
    assert!(
        first.is_empty(),
        "a connection after the others closed: {first}"
    );
    drop(s);

    // Two WebSockets per address; the third is refused before the upgrade.
    let ws1 = c.watch(0).await;
    let ws2 = c.watch(0).await;
    let third = tokio_tungstenite::connect_async(format!("{}&since=0", c.ws_url)).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 503);
        }
        other => panic!("a third WebSocket from one address: {other:?}"),
    }
    drop((ws1, ws2));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A page of another origin cannot open the session's socket; the server's own pages and
    // the tenant's allowed origins can.
    let origin_status = |origin: String| {
        let url = format!("{}&since=0", c.ws_url);
        async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut req = url.into_client_request().expect("request");
            req.headers_mut()
                .insert("origin", origin.parse().expect("origin"));
            match tokio_tungstenite::connect_async(req).await {
                Ok(_) => 101,
                Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    let set_origins = |origins: Value| {
        let path = format!("/admin/tenants/{}", server.tenant_id);
        let body = serde_json::json!({ "options": { "allowedOrigins": origins } });
        let server = &server;
        async move {
            server
                .with_bearer(reqwest::Method::PATCH, &path, ADMIN, Some(body))
                .await
        }
    };
    assert_eq!(origin_status("https://evil.example".into()).await, 403);
    assert_eq!(origin_status(server.address.clone()).await, 101);
    let (status, body) = set_origins(serde_json::json!(["https://Shop.Example/"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["options"]["allowedOrigins"][0],
        "https://shop.example"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(origin_status("https://shop.example".into()).await, 101);
    // The same origins may call the API from a browser (CORS): a preflight from the tenant's
    // page is answered, one from elsewhere refused; answers name the allowed origin.
    let preflight = |origin: &'static str| {
        let url = server.url(&format!("/api/v1/sessions/{}", c.id));
        async move {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send()
                .await
                .expect("preflight")
        }
    };
    let ok = preflight("https://shop.example").await;
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert!(
        ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap_or_default()
            .contains("authorization")
    );
    let refused = preflight("https://evil.example").await;
    assert_eq!(refused.status(), 403);
    let answer = reqwest::Client::new()
        .get(server.url(&format!("/api/v1/sessions/{}", c.id)))
        .header("origin", "https://shop.example")
        .bearer_auth(&c.token)
        .send()
        .await
        .expect("a cross-origin call");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let (status, body) = set_origins(serde_json::json!(["javascript:alert(1)"])).await;
    assert_eq!(status, 422, "{body}");
    server.stop().await;
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenants_open_sessions_and_a_sessions_uploads_are_capped() {
    let server = spawn(&[
        ("KYC__SESSIONS__MAX_UPLOADS_PER_SESSION", "2"),
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__ADMIN__RATE_PER_MINUTE", "6"),
    ])
    .await;
    // A tenant with at most 2 open sessions: the third is refused; another tenant is served.
    let (status, body) = server
        .with_bearer(
            reqwest::Method::POST,
            "/admin/tenants",
            ADMIN,
            Some(serde_json::json!({ "name": "small", "options": { "maxOpenSessions": 2 } })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let small = body["data"]["apiKey"].as_str().expect("key").to_owned();
    let create = |key: String| {
        let req = server
            .client
            .post(server.url("/api/v1/sessions"))
            .header("x-api-key", key)
            .json(&consent());
        async move { answer(req.send().await.expect("send")).await }
    };
    for _ in 0..2 {
        let (status, body) = create(small.clone()).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = create(small.clone()).await;
    assert_eq!((status, code(&body)), (429, "QUOTA_EXCEEDED"), "{body}");
    let (status, body) = create(server.api_key.clone()).await;
    assert_eq!(status, 201, "another tenant is served: {body}");

    // The admin API takes 6 calls a minute from one address, counted before the token: a
    // guesser gets 401s, then 429 with Retry-After (the tenant API is not affected).
    let mut statuses = Vec::new();
    for i in 0..8 {
        let res = server
            .client
            .get(server.url("/admin/tenants"))
            .bearer_auth(format!("guess-{i:0>32}"))
            .send()
            .await
            .expect("send");
        let retry = res.headers().contains_key("retry-after");
        let (status, body) = answer(res).await;
        if status == 429 {
            assert!(retry && code(&body) == "RATE_LIMITED", "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 3], "{statuses:?}");
    let (status, body) = create(server.api_key.clone()).await;
    assert_eq!(status, 201, "{body}");

    // A session uploads at most 2 files (retakes included): an ID photo and its retake go
    // through, the video after them is refused.
    let c = Client::create(&server).await;
    let media = tempfile::tempdir().expect("media");
    let clip = std::fs::read(video(media.path(), "img2.jpg", 3)).expect("clip");
    let mut w = c.watch(0).await;
    for seed in [41, 42] {
        id_accepted(&c, &mut w, seed).await;
    }
    let (status, body) = c.upload("/api/v1/face-video", clip, "v.mp4").await;
    assert_eq!((status, code(&body)), (429, "QUOTA_EXCEEDED"), "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_past_its_time_limit_is_stopped_and_fails_its_session() {
    // Every job gets 50 ms here: reading an ID card takes longer.
    let server = spawn(&[("KYC__SESSIONS__JOB_TIMEOUT_SECS", "0.05")]).await;
    let c = Client::create(&server).await;
    let mut w = c.watch(0).await;
    let (status, body) = c
        .upload("/api/v1/id-capture", card_image("img1.jpg", 43), "card.png")
        .await;
    assert_eq!(status, 202, "{body}");
    let failed = w.state(Duration::from_secs(60), "failed").await;
    let msg = failed["message"]["en"].as_str().unwrap_or_default();
    assert!(msg.contains("took longer than 0.05 s"), "{failed}");
    let (status, body) = c.get(&format!("/api/v1/sessions/{}", c.id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["state"], "failed", "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_video_whose_processing_kills_the_server_fails_its_session_after_two_attempts() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().expect("data dir");
    let media = tempfile::tempdir().expect("media");
    let clip = std::fs::read(video(media.path(), "img2.jpg", 20)).expect("clip");
    let (mut child, addr) = super::crash::launch(dir.path(), None, None);
    let key = std::fs::read_to_string(dir.path().join("api_key")).expect("the child's tenant");
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let create = |addr: &str| {
        let req = client
            .post(format!("http://{addr}/api/v1/sessions"))
            .header("x-api-key", key.clone())
            .json(&consent());
        async move { answer(req.send().await.expect("send")).await }
    };
    let (status, body) = create(&addr).await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["sessionId"].as_str().expect("id").to_owned();
    let token = body["data"]["token"].as_str().expect("token").to_owned();
    let upload = |addr: String, path: &'static str, file: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("sessionId", id.clone())
            .part("file", reqwest::multipart::Part::bytes(file).file_name("f"));
        let req = client
            .post(format!("http://{addr}{path}"))
            .bearer_auth(&token)
            .multipart(form);
        async move { answer(req.send().await.expect("send")).await }
    };
    // Waits on the session's socket for its next journaled event of `state` after `since`.
    let next_event = |addr: String, since: u64, state: &'static str| {
        let url = format!("ws://{addr}/ws/kyc/{id}?token={token}&since={since}");
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("socket");
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let msg = tokio::time::timeout(left, ws.next())
                    .await
                    .expect("the event came in time")
                    .expect("socket open")
                    .expect("message");
                if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                    let e: Value = serde_json::from_str(&t).expect("event");
                    if e["state"] == state {
                        return e;
                    }
                }
            }
        }
    };
    let (status, body) = upload(
        addr.clone(),
        "/api/v1/id-capture",
        card_image("img1.jpg", 51),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let accepted = next_event(addr.clone(), 0, "id_accepted").await;
    // Each time the video's job is seen running, the server dies (SIGKILL): as a decoder
    // that crashes the process on this file would make it.
    let (status, body) = upload(addr.clone(), "/api/v1/face-video", clip).await;
    assert_eq!(status, 202, "{body}");
    let mut since = accepted["seq"].as_u64().expect("seq");
    let mut addr = addr;
    for attempt in 1..=2 {
        // The job's first event (journaled after its attempt was).
        let running = loop {
            let e = next_event(addr.clone(), since, "video").await;
            since = e["seq"].as_u64().expect("seq");
            if e["result"]["framesPlanned"].is_u64() {
                break e;
            }
        };
        eprintln!(
            "attempt {attempt}: the video job runs (event {}); SIGKILL",
            running["seq"]
        );
        child.kill();
        let (c, a) = super::crash::launch(dir.path(), None, None);
        (child, addr) = (c, a);
    }
    // Third start: the job is given up, not run again; the session failed with the reason.
    let failed = next_event(addr.clone(), since, "failed").await;
    let msg = failed["message"]["en"].as_str().unwrap_or_default();
    assert!(msg.contains("stopped 2 times"), "{failed}");
    let res = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200, "the server is up and ready");
    let (status, body) = create(&addr).await;
    assert_eq!(status, 201, "and takes new sessions: {body}");
    child.kill();
}
