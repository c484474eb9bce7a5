//! Errors outside any handler: unknown paths and wrong methods still answer in the envelope.

use crate::helpers::{envelope, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn an_unknown_path_is_a_404_envelope() {
    let app = spawn_app().await;
    let (status, _, body) = envelope(app.get("/no/such/thing").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "NOT_FOUND");

    let res = app
        .client
        .post(app.url("/api/v1/unknown"))
        .body("x")
        .send()
        .await
        .expect("sent");
    let (status, _, body) = envelope(res).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_envelope() {
    let app = spawn_app().await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        let res = app
            .client
            .request(method.clone(), app.url("/healthz"))
            .send()
            .await
            .expect("sent");
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, _, body) = envelope(res).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
        assert!(
            allow.as_deref().is_some_and(|a| a.contains("GET")),
            "Allow header: {allow:?}"
        );
    }
}
