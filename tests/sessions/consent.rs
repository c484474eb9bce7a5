//! Consent before anything is processed: a session created without it takes no upload and no
//! live frame (409 `CONSENT_REQUIRED`) until the person's page records it; a consent missing a
//! required purpose or naming an unknown one is refused with the reason; it is recorded once,
//! shown in the session's status and announced on its socket.

use super::helpers::{Client, answer, card_image, spawn};
use serde_json::{Value, json};
use std::time::Duration;

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn post_consent(c: &Client<'_>, token: &str, body: Value) -> (u16, Value) {
    let res = c
        .server
        .client
        .post(c.server.url(&format!("/api/v1/sessions/{}/consent", c.id)))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("send");
    answer(res).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_taken_before_consent_and_it_is_recorded_once() {
    let server = spawn(&[]).await;
    let c = Client::create_with(&server, None).await;
    let other = Client::create(&server).await;
    let mut w = c.watch(0).await;
    let card = card_image("img1.jpg", 2);

    // No consent yet: the status says so, uploads and live frames are refused.
    let (status, body) = c.get(&format!("/api/v1/sessions/{}", c.id)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["consent"].is_null(), "{body}");
    let (status, body) = c.upload("/api/v1/id-capture", card.clone(), "c.png").await;
    assert_eq!((status, code(&body)), (409, "CONSENT_REQUIRED"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/consent")),
        "the message says how to give it: {body}"
    );
    let form = reqwest::multipart::Form::new()
        .text("sessionId", c.id.clone())
        .text("mode", "live")
        .part(
            "file",
            reqwest::multipart::Part::bytes(card.clone()).file_name("f.png"),
        );
    let res = server
        .client
        .post(server.url("/api/v1/id-capture"))
        .bearer_auth(&c.token)
        .multipart(form)
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!((status, code(&body)), (409, "CONSENT_REQUIRED"), "{body}");

    // Incomplete, unknown, malformed, foreign: refused with the reason, nothing recorded.
    let (status, body) = post_consent(
        &c,
        &c.token,
        json!({"version": "v1", "purposes": ["identity_verification"]}),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("biometric_processing"))
    );
    let (status, body) = post_consent(
        &c,
        &c.token,
        json!({"version": "v1", "purposes": ["identity_verification", "biometric_processing", "ads"]}),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    let (status, body) = post_consent(&c, &c.token, json!({"version": "v1"})).await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    let full = json!({
        "version": "v2",
        "purposes": ["biometric_processing", "identity_verification", "record_keeping"],
    });
    let (status, body) = post_consent(&c, &other.token, full.clone()).await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    let (status, body) = c.get(&format!("/api/v1/sessions/{}", c.id)).await;
    assert!(body["data"]["consent"].is_null(), "{status} {body}");

    // The person's page records it: shown in the status, announced on the socket.
    let (status, body) = post_consent(&c, &c.token, full.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["via"], "person", "{body}");
    assert_eq!(body["data"]["version"], "v2");
    let e = w
        .until(Duration::from_secs(10), |e| {
            e["result"]["consent"].is_object()
        })
        .await;
    assert_eq!(e["result"]["consent"]["version"], "v2", "{e}");
    let (_, body) = c.get(&format!("/api/v1/sessions/{}", c.id)).await;
    assert_eq!(
        body["data"]["consent"]["purposes"],
        json!([
            "biometric_processing",
            "identity_verification",
            "record_keeping"
        ]),
        "{body}"
    );
    // Once only.
    let (status, body) = post_consent(&c, &c.token, full).await;
    assert_eq!((status, code(&body)), (409, "CONFLICT"), "{body}");

    // Now the upload is taken.
    let (status, body) = c.upload("/api/v1/id-capture", card, "c.png").await;
    assert_eq!(status, 202, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consent_sent_at_creation_is_checked_before_the_session_exists() {
    let server = spawn(&[]).await;
    let create = |body: Option<(&'static str, String)>| {
        let mut req = server
            .client
            .post(server.url("/api/v1/sessions"))
            .header("x-api-key", &server.api_key);
        if let Some((kind, text)) = body {
            req = req.header("content-type", kind).body(text);
        }
        async move { answer(req.send().await.expect("send")).await }
    };
    let json = "application/json";
    let (status, body) = create(Some((
        json,
        r#"{"consent":{"version":"v1","purposes":["identity_verification"]}}"#.into(),
    )))
    .await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    let (status, body) = create(Some((json, r#"{"consent":"#.into()))).await;
    assert_eq!((status, code(&body)), (400, "INVALID_JSON"), "{body}");
    let (status, body) = create(Some((json, r#"{"consnet":{}}"#.into()))).await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    let (status, body) = create(Some(("text/plain", "consent".into()))).await;
    assert_eq!(
        (status, code(&body)),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        "{body}"
    );
    // No session was created by a refused request.
    let metrics = server.metrics().await;
    let created: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("kyc_sessions{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(created, 0, "{metrics}");

    // A good one: the session takes uploads at once.
    let c = Client::create(&server).await;
    let (_, body) = c.get(&format!("/api/v1/sessions/{}", c.id)).await;
    assert_eq!(body["data"]["consent"]["via"], "creation", "{body}");
    let (status, body) = c
        .upload("/api/v1/id-capture", card_image("img3.jpg", 5), "c.png")
        .await;
    assert_eq!(status, 202, "{body}");
    server.stop().await;
}
