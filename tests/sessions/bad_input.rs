//! Bad requests get a clear envelope error and change nothing: missing or foreign tokens,
//! unknown sessions, malformed JSON, wrong content, oversized uploads (a 2 GB one is cut off at
//! the limit), uploads out of turn, floods.

use super::helpers::{Client, answer, card_image, spawn};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_unknown_sessions_json_and_content_are_checked() {
    let server = spawn(&[]).await;
    let a = Client::create(&server).await;
    let b = Client::create(&server).await;
    let card = card_image("img1.jpg", 3);

    // No token; another session's token; an unknown session; a malformed id.
    let res = server
        .client
        .get(server.url(&format!("/api/v1/sessions/{}", a.id)))
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"), "{body}");
    let res = server
        .client
        .get(server.url(&format!("/api/v1/sessions/{}", b.id)))
        .bearer_auth(&a.token)
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    for path in ["/api/v1/id-capture/", "/api/v1/sessions/"] {
        let (status, body) = a.get(&format!("{path}{}", b.id)).await;
        assert_eq!(status, 403, "a token reads only its own session: {body}");
    }
    let (status, body) = a
        .upload_as(
            "/api/v1/id-capture",
            card.clone(),
            "c.png",
            &b.id,
            Some(&a.token),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (403, "FORBIDDEN"),
        "a token writes only its own session: {body}"
    );
    let ws = tokio_tungstenite::connect_async(format!(
        "{}/ws/kyc/{}?token={}",
        server.address.replace("http", "ws"),
        b.id,
        a.token
    ))
    .await;
    assert!(
        matches!(&ws, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 403),
        "a token watches only its own session: {:?}",
        ws.as_ref().err()
    );
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = a.get(&format!("/api/v1/sessions/{unknown}")).await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"), "{body}");
    let (status, body) = a.get("/api/v1/sessions/not-a-uuid").await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    let (status, body) = a.get(&format!("/api/v1/face-similarity/{unknown}")).await;
    assert_eq!(status, 404, "{body}");

    // Malformed JSON; a comparison out of turn.
    let res = server
        .client
        .post(server.url("/api/v1/face-similarity"))
        .bearer_auth(&a.token)
        .header("content-type", "application/json")
        .body("{\"sessionId\": ")
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!((status, code(&body)), (400, "INVALID_JSON"), "{body}");
    let (status, body) = a.compare().await;
    assert_eq!((status, code(&body)), (409, "CONFLICT"), "{body}");

    // Wrong content: text named .jpg, a video sent as the photo, a non-multipart body, no file.
    let (status, body) = a
        .upload(
            "/api/v1/id-capture",
            b"hello, I am text".repeat(4),
            "card.png",
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        "{body}"
    );
    // A video sent as the ID photo (a photo sent as the video is refused from its headers in
    // this state: see below).
    let mp4 = [b"\0\0\0\x20ftypisom".as_slice(), &[0u8; 64]].concat();
    let (status, body) = a
        .upload("/api/v1/id-capture", mp4.clone(), "card.jpg")
        .await;
    assert_eq!(status, 415, "{body}");
    let res = server
        .client
        .post(server.url("/api/v1/id-capture"))
        .bearer_auth(&a.token)
        .header("content-type", "image/jpeg")
        .body(card.clone())
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!(status, 415, "{body}");
    let form = reqwest::multipart::Form::new().text("sessionId", a.id.clone());
    let res = server
        .client
        .post(server.url("/api/v1/id-capture"))
        .bearer_auth(&a.token)
        .multipart(form)
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    // A video before the ID is accepted: refused from the headers.
    let (status, body) = a.upload("/api/v1/face-video", mp4, "v.mp4").await;
    assert_eq!((status, code(&body)), (409, "CONFLICT"), "{body}");

    // None of it changed either session, and nothing was kept.
    for c in [&a, &b] {
        let (_, s) = c.get(&format!("/api/v1/sessions/{}", c.id)).await;
        assert_eq!(s["data"]["state"], "created", "{s}");
        assert_eq!(
            s["data"]["seq"], 1,
            "only the consent sent at creation: {s}"
        );
    }
    let media = server.data_dir.path().join("media");
    assert_eq!(
        std::fs::read_dir(media.join("incoming"))
            .expect("incoming")
            .count(),
        0
    );
    server.stop().await;
}

/// Sends a chunked multipart upload of up to `total` bytes over a raw socket, as fast as the
/// server reads it, and returns the status line of the answer and the bytes that went out.
async fn flood(address: &str, path: &str, token: &str, session: &str, total: u64) -> (String, u64) {
    let mut s = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .expect("connect");
    let boundary = "XBOUNDARYX";
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    let preamble = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"sessionId\"\r\n\r\n{session}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.webp\"\r\n\
         Content-Type: image/webp\r\n\r\nRIFF\0\0\0\0WEBPVP8 "
    );
    let chunk = |data: &[u8]| {
        [
            format!("{:x}\r\n", data.len()).into_bytes(),
            data.to_vec(),
            b"\r\n".to_vec(),
        ]
        .concat()
    };
    s.write_all(&chunk(preamble.as_bytes()))
        .await
        .expect("preamble");
    let (mut rd, mut wr) = s.into_split();
    let block = chunk(&vec![0u8; 256 * 1024]);
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        while sent < total {
            if wr.write_all(&block).await.is_err() {
                break;
            }
            sent += 256 * 1024;
        }
        sent
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(60), rd.read(&mut buf))
        .await
        .expect("an answer before the upload ends")
        .expect("read");
    writer.abort();
    let sent = writer.await.unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    (text.lines().next().unwrap_or_default().to_owned(), sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_2_gb_upload_is_cut_off_at_the_limit_and_floods_get_429() {
    // 4 MiB upload limits, six sessions a minute per address.
    let server = spawn(&[
        ("KYC__VIDEO__MAX_BYTES", "4194304"),
        ("KYC__SESSIONS__MAX_IMAGE_BYTES", "4194304"),
        ("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "6"),
    ])
    .await;
    let a = Client::create(&server).await;
    // Declared 2 GB: refused before a byte of the body is read.
    let res = server
        .client
        .post(server.url("/api/v1/face-video"))
        .bearer_auth(&a.token)
        .header("content-type", "multipart/form-data; boundary=x")
        .header("content-length", (2u64 << 30).to_string())
        .body(vec![0u8; 16])
        .send()
        .await;
    if let Ok(res) = res {
        let (status, body) = answer(res).await;
        assert_eq!((status, code(&body)), (413, "PAYLOAD_TOO_LARGE"), "{body}");
    }
    // With a wrong token, or none, a 2 GB chunked upload is refused from its headers: at most
    // a megabyte of it is read (and dropped), nothing reaches the disk.
    let incoming = server.data_dir.path().join("media").join("incoming");
    for (token, want) in [("not-a-token-of-any-session", "403"), ("", "401")] {
        let started = std::time::Instant::now();
        let (status, sent) = flood(
            &server.address,
            "/api/v1/id-capture",
            token,
            &a.id,
            2u64 << 30,
        )
        .await;
        assert!(status.contains(want), "{token:?}: {status}");
        eprintln!(
            "2 GB chunked upload, token {token:?}: `{status}` after {} KiB sent, {} ms",
            sent >> 10,
            started.elapsed().as_millis()
        );
        assert!(
            sent < 64 << 20,
            "refused before the body, not after {sent} bytes"
        );
        assert!(
            walk(&incoming).is_empty(),
            "nothing written: {:?}",
            walk(&incoming)
        );
    }
    // A session that takes no video yet refuses one the same way.
    let (status, _) = flood(
        &server.address,
        "/api/v1/face-video",
        &a.token,
        &a.id,
        2u64 << 30,
    )
    .await;
    assert!(status.contains("409"), "{status}");
    // Chunked (no length given): read up to the limit, then 413 and the connection closes.
    let (status, sent) = flood(
        &server.address,
        "/api/v1/id-capture",
        &a.token,
        &a.id,
        2u64 << 30,
    )
    .await;
    assert!(status.contains("413"), "{status}");
    eprintln!(
        "2 GB chunked upload: answered `{status}` after {} MiB sent",
        sent >> 20
    );
    assert!(
        sent < 64 << 20,
        "cut off near the limit, not after {sent} bytes"
    );
    let media = server.data_dir.path().join("media");
    // Only the session's wrapped data key, made when its consent was sealed into the journal.
    let left: Vec<_> = walk(&media)
        .into_iter()
        .filter(|p| !p.ends_with("data.key"))
        .collect();
    assert!(left.is_empty(), "nothing of the upload is kept: {left:?}");

    // The address's allowance (6 a minute) is used up: 429 with Retry-After.
    let mut limited = None;
    for _ in 0..8 {
        let res = server
            .client
            .post(server.url("/api/v1/sessions"))
            .header("x-api-key", &server.api_key)
            .json(&super::helpers::consent())
            .send()
            .await
            .expect("send");
        if res.status() == 429 {
            let retry = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (_, body) = answer(res).await;
            limited = Some((retry, body));
            break;
        }
    }
    let (retry, body) = limited.expect("429 within the allowance");
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert!(
        retry
            .and_then(|r| r.parse::<u64>().ok())
            .is_some_and(|s| s >= 1)
    );
    server.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_session_expires_and_then_refuses_uploads() {
    let server = spawn(&[("KYC__SESSIONS__IDLE_TIMEOUT_SECS", "1")]).await;
    let a = Client::create(&server).await;
    let mut expired = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, s) = a.get(&format!("/api/v1/sessions/{}", a.id)).await;
        if s["data"]["state"] == "expired" {
            expired = true;
            break;
        }
    }
    assert!(expired, "the idle session expired");
    let (status, body) = a
        .upload("/api/v1/id-capture", card_image("img1.jpg", 4), "c.png")
        .await;
    assert_eq!((status, code(&body)), (409, "CONFLICT"), "{body}");
    server.stop().await;
}
