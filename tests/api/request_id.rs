//! Request ids: generated per request, or the client's own echoed back.

use crate::helpers::{envelope, spawn_app};

#[tokio::test]
async fn a_client_request_id_is_echoed() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "client-trace-42")
        .send()
        .await
        .expect("sent");
    let (_, id, body) = envelope(res).await;
    assert_eq!(id, "client-trace-42");
    assert_eq!(body["requestId"], "client-trace-42");

    // Also on errors.
    let res = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "client-trace-43")
        .send()
        .await
        .expect("sent");
    let (_, id, _) = envelope(res).await;
    assert_eq!(id, "client-trace-43");
}

#[tokio::test]
async fn an_unusable_client_request_id_is_replaced() {
    let app = spawn_app().await;
    let long = "x".repeat(500);
    for bad in ["has spaces", long.as_str()] {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", bad)
            .send()
            .await
            .expect("sent");
        let (_, id, _) = envelope(res).await;
        assert_ne!(id, bad);
        uuid::Uuid::parse_str(&id).expect("a fresh UUID");
    }
}

#[tokio::test]
async fn every_request_gets_its_own_id() {
    let app = spawn_app().await;
    let (_, a, _) = envelope(app.get("/healthz").await).await;
    let (_, b, _) = envelope(app.get("/healthz").await).await;
    assert_ne!(a, b);
}
