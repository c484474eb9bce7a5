//! The OpenAPI document: served, generated from the code, covering every route, and
//! consistent (every `$ref` names a schema it defines); the page that renders it.

use crate::helpers::spawn_app;
use serde_json::Value;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_covers_every_route_and_every_reference_resolves() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let doc: Value = res.json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for (method, path) in [
        ("post", "/api/v1/sessions"),
        ("get", "/api/v1/sessions/{id}"),
        ("post", "/api/v1/id-capture"),
        ("get", "/api/v1/id-capture/{sessionId}"),
        ("post", "/api/v1/face-video"),
        ("post", "/api/v1/face-similarity"),
        ("get", "/api/v1/face-similarity/{comparisonId}"),
        ("get", "/ws/kyc/{sessionId}"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/admin/tree"),
        ("get", "/admin/sessions/{id}"),
        ("get", "/admin/decisions"),
        ("post", "/admin/sessions/{id}/expire"),
        ("get", "/api/v1/sessions"),
        ("delete", "/api/v1/sessions/{id}"),
        ("get", "/api/v1/sessions/{id}/export"),
        ("post", "/admin/tenants"),
        ("get", "/admin/tenants"),
        ("patch", "/admin/tenants/{id}"),
        ("post", "/admin/tenants/{id}/rotate-key"),
        ("post", "/admin/tenants/{id}/disable"),
        ("post", "/admin/tenants/{id}/enable"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    let upload = &doc["paths"]["/api/v1/face-video"]["post"];
    assert!(upload["requestBody"]["content"]["multipart/form-data"].is_object());
    for code in ["202", "413", "415", "429", "503"] {
        assert!(
            upload["responses"][code].is_object(),
            "face-video lacks {code}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for s in [
        "SessionEvent",
        "CreatedSession",
        "Accepted",
        "IdCaptureStatus",
        "ComparisonView",
        "ComparisonPair",
        "SessionList",
        "SessionResult",
        "TenantKeyView",
        "TenantView",
        "Ready",
        "RecordsHealth",
        "Backlog",
        "ErrorEnvelope",
        "UploadForm",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(schemas.contains_key(name), "dangling reference {r}");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security");
    assert!(
        schemes.contains_key("session")
            && schemes.contains_key("admin")
            && schemes.contains_key("apiKey")
    );

    let page = app.get("/api/v1/docs").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("openapi.json") && !html.contains("https://"),
        "self-contained page"
    );
}
