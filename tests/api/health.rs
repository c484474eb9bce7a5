//! `/healthz` and `/readyz`.

use crate::helpers::{envelope, spawn_app};
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn healthz_is_200_in_the_envelope_with_a_request_id() {
    let app = spawn_app().await;
    let (status, id, body) = envelope(app.get("/healthz").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "ok");
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
    let uuid = uuid::Uuid::parse_str(&id).expect("the request id is a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert_ne!(app.port, 0);
    assert_eq!(app.settings.server.data_dir, app.data_dir.path());
}

#[tokio::test]
async fn healthz_answers_head() {
    let app = spawn_app().await;
    let res = app
        .client
        .head(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn readyz_is_200_once_the_engines_are_ready() {
    let app = spawn_app().await;
    let res = app.wait_ready(Duration::from_secs(120)).await;
    let (status, _, body) = envelope(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "ready");
}
