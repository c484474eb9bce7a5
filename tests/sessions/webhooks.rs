//! A tenant's webhook through the running server: a receiver started here answers 500 twice,
//! then 200, and gets each notice (a session decided through the whole flow, one erased, one
//! expired) exactly once more after the failures, every request signed so that
//! `kyc webhooks verify` and the HMAC check hold; a receiver that never answers is given up on
//! and the failure shows to the tenant and the admin; bad webhook URLs are refused.

use super::flow::run;
use super::helpers::{Client, Server, card_image, spawn, video};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ADMIN: &str = "admin-token-for-webhook-tests-0123";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    answered: u16,
    delivery: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Receiver {
    hits: Mutex<Vec<Hit>>,
    /// Requests still to answer with 500.
    fail: AtomicUsize,
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Starts the receiver on 127.0.0.1:0; returns its URL.
async fn receiver(r: Arc<Receiver>) -> String {
    async fn hook(
        axum::extract::State(r): axum::extract::State<Arc<Receiver>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let failing = r
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let status = if failing {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        if let Ok(mut hits) = r.hits.lock() {
            hits.push(Hit {
                answered: status.as_u16(),
                delivery: header(&headers, "x-kyc-delivery"),
                timestamp: header(&headers, "x-kyc-timestamp"),
                signature: header(&headers, "x-kyc-signature"),
                body: body.to_vec(),
            });
        }
        status
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(r);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn tenant(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server.client.request(method, server.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    server.as_tenant(req).await
}

/// A session created and erased with the tenant's key.
async fn erased_session(server: &Server) -> Client<'_> {
    let c = Client::create(server).await;
    let path = format!("/api/v1/sessions/{}", c.id);
    let (status, body) = tenant(server, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{body}");
    c
}

fn hits(r: &Receiver) -> Vec<Hit> {
    r.hits.lock().map(|h| h.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_failing_twice_gets_each_notice_exactly_once_more_and_signed() {
    let server = spawn(&[
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__WEBHOOKS__RETRY_FIRST_MS", "200"),
    ])
    .await;
    use reqwest::Method as M;
    // Bad URLs first.
    for (url, says) in [
        ("ftp://example.com/hook".to_owned(), "http"),
        ("not a url".to_owned(), "parse"),
        (server.url("/api/v1/sessions"), "this server"),
    ] {
        let (status, body) = tenant(
            &server,
            M::PUT,
            "/api/v1/webhook",
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(status, 422, "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{url}: {message}");
    }
    let r = Arc::new(Receiver::default());
    r.fail.store(2, Ordering::SeqCst);
    let url = receiver(Arc::clone(&r)).await;
    let (status, body) = tenant(
        &server,
        M::PUT,
        "/api/v1/webhook",
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secret = body["data"]["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{body}");
    let (_, shown) = tenant(&server, M::GET, "/api/v1/webhook", None).await;
    assert_eq!(shown["data"]["url"], url.as_str());
    assert!(
        !shown.to_string().contains(&secret),
        "the secret is shown once: {shown}"
    );

    // A session decided through the whole flow, one erased, one expired.
    let media = tempfile::tempdir().expect("tmp");
    let clip = std::fs::read(video(media.path(), "img2.jpg", 4)).expect("clip");
    let decided = Client::create(&server).await;
    let mut w = decided.watch(0).await;
    let report = run(&decided, card_image("img1.jpg", 10), clip, &mut w).await;
    assert_eq!(report["decision"], "verified", "{report}");
    let erased = erased_session(&server).await;
    let expired = Client::create(&server).await;
    let (status, body) = server
        .with_bearer(
            M::POST,
            &format!("/admin/sessions/{}/expire", expired.id),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Three notices delivered: wait for three distinct deliveries answered 200.
    let delivered = |h: &[Hit]| {
        h.iter()
            .filter(|x| x.answered == 200)
            .map(|x| x.delivery.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while delivered(&hits(&r)) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three notices within 60 s; got {:?}",
            hits(&r)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more comes: each exactly once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = hits(&r);
    let mut by_delivery: BTreeMap<String, Vec<&Hit>> = BTreeMap::new();
    for h in &all {
        by_delivery.entry(h.delivery.clone()).or_default().push(h);
    }
    assert_eq!(by_delivery.len(), 3, "{all:?}");
    let mut seen = BTreeMap::new();
    for (id, tries) in &by_delivery {
        let ok = tries.iter().filter(|h| h.answered == 200).count();
        assert_eq!(ok, 1, "delivery {id} answered 200 once: {tries:?}");
        assert_eq!(tries.last().map(|h| h.answered), Some(200), "{tries:?}");
        let body = &tries[0].body;
        assert!(
            tries.iter().all(|h| &h.body == body),
            "the same body on every retry"
        );
        let payload: Value = serde_json::from_slice(body).expect("JSON body");
        assert_eq!(payload["id"], id.as_str());
        seen.insert(
            payload["type"].as_str().expect("type").to_owned(),
            (payload["data"].clone(), tries.len()),
        );
    }
    assert_eq!(
        all.iter().filter(|h| h.answered == 500).count(),
        2,
        "the two failures, retried: {all:?}"
    );
    let (d, _) = &seen["session.decided"];
    assert_eq!(d["sessionId"], decided.id.as_str());
    assert_eq!(d["decision"], "verified");
    assert_eq!(d["tenantId"], server.tenant_id.as_str());
    assert_eq!(seen["session.erased"].0["sessionId"], erased.id.as_str());
    assert_eq!(seen["session.expired"].0["sessionId"], expired.id.as_str());

    // Every request is signed: the HMAC holds, and `kyc webhooks verify` says so; a changed
    // body or another secret does not.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for h in &all {
        let ts: u64 = h.timestamp.parse().expect("X-Kyc-Timestamp");
        assert!(now.abs_diff(ts) < 120, "{h:?}");
        assert_eq!(
            kyc::webhooks::sign::verify(&secret, ts, &h.body, &h.signature, now, 300),
            Ok(()),
            "{h:?}"
        );
    }
    let h = &all[0];
    let verify = |secret: &str, body: &[u8]| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kyc"))
            .args(["webhooks", "verify", "--secret", secret, "--timestamp"])
            .arg(&h.timestamp)
            .args(["--signature", &h.signature])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("kyc runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(body)
            .expect("body");
        child.wait_with_output().expect("exit")
    };
    let out = verify(&secret, &h.body);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(verify(&secret, b"{}").status.code(), Some(1));
    assert_eq!(verify("whsec_other", &h.body).status.code(), Some(1));

    // The tenant sees each delivered, the first with its failed attempts.
    let (_, shown) = tenant(&server, M::GET, "/api/v1/webhook", None).await;
    let d = &shown["data"];
    assert_eq!(d["delivered"], 3, "{d}");
    let statuses: Vec<Vec<u64>> = d["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|x| {
            x["attempts"]
                .as_array()
                .expect("attempts")
                .iter()
                .filter_map(|a| a["status"].as_u64())
                .collect()
        })
        .collect();
    assert!(
        statuses.iter().all(|s| s.last() == Some(&200)),
        "each delivered in the end: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().flatten().filter(|&&s| s == 500).count(),
        2,
        "the two failed attempts are on record: {statuses:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_is_given_up_and_the_failure_shows() {
    let server = spawn(&[
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__WEBHOOKS__TIMEOUT_SECS", "0.5"),
        ("KYC__WEBHOOKS__RETRY_FIRST_MS", "100"),
        ("KYC__WEBHOOKS__GIVE_UP_AFTER_SECS", "2"),
    ])
    .await;
    use reqwest::Method as M;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", silent.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let (status, body) = tenant(
        &server,
        M::PUT,
        "/api/v1/webhook",
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let c = erased_session(&server).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let (_, shown) = tenant(&server, M::GET, "/api/v1/webhook", None).await;
        let first = shown["data"]["deliveries"][0].clone();
        if first["status"] == "failed" {
            break first;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not given up: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed["event"], "session.erased");
    assert_eq!(failed["sessionId"], c.id.as_str());
    let attempts = failed["attempts"].as_array().expect("attempts");
    assert!(attempts.len() >= 2, "retried before giving up: {failed}");
    assert!(
        attempts
            .iter()
            .all(|a| a["status"].is_null() && a["error"] == "timed out"),
        "{failed}"
    );
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no attempt succeeded")),
        "{failed}"
    );
    // The admin sees it too.
    let path = format!("/admin/tenants/{}/webhook", server.tenant_id);
    let (status, body) = server.with_bearer(M::GET, &path, ADMIN, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["failed"], 1, "{body}");
    assert_eq!(
        body["data"]["deliveries"][0]["deliveryId"],
        failed["deliveryId"]
    );
    held.abort();
    server.stop().await;
}
