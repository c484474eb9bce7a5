//! The three kyc calls a session makes (create, watch, live frame) and what its socket says,
//! each failure named by a stable key for the report's "errors by kind".
//!
//! Nothing here follows an address the server hands out: the WebSocket URL keeps only the path
//! and query of the server's `wsUrl` and is always rebuilt on the configured loopback host.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, protocol::WebSocketConfig};
use url::Host;

use super::config::SessionsConfig;
use super::host::is_out_of_descriptors;
use crate::config::loopback_addrs;
use crate::report::ErrorKind;

/// A session's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// One failure, by kind. Keys: `create_*`, `ws_*`, `frame_*` (`*_status_NNN`, `*_connect`,
/// `*_timeout`, `*_body`, `*_other`, `*_bad_answer`), `missing_event`, `close_timeout`,
/// `too_many_open_files`, `server_memory`; see the README for each.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fault(pub String);

impl Fault {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// An HTTP call of `step` that reqwest gave up on.
    pub fn http(step: &str, err: &reqwest::Error) -> Self {
        if is_out_of_descriptors(err) {
            Self::new("too_many_open_files")
        } else {
            Self(format!("{step}_{}", ErrorKind::of(err).key()))
        }
    }

    /// An HTTP call of `step` answered with an unexpected `status`.
    pub fn status(step: &str, status: StatusCode) -> Self {
        Self(format!("{step}_status_{}", status.as_u16()))
    }

    /// The socket's failure, while connecting or later.
    pub fn ws(err: &tungstenite::Error) -> Self {
        use tungstenite::Error as E;
        match err {
            E::Io(io) if is_out_of_descriptors(io) => Self::new("too_many_open_files"),
            E::Http(response) => Self::status("ws", response.status()),
            E::Io(_) | E::ConnectionClosed | E::AlreadyClosed => Self::new("ws_dropped"),
            _ => Self::new("ws_protocol"),
        }
    }
}

/// What `POST /api/v1/sessions` handed out.
#[derive(Debug, Clone)]
pub struct Created {
    pub session_id: String,
    pub token: String,
    /// Where to watch it: the configured host, the server's path and token, `since=0`.
    pub ws_url: Url,
}

#[derive(Deserialize)]
struct Envelope<T> {
    success: bool,
    data: Option<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedData {
    session_id: String,
    token: String,
    ws_url: String,
}

/// `POST /api/v1/sessions`; anything but 201 with the session's id, token and wsUrl fails.
pub async fn create_session(cfg: &SessionsConfig) -> Result<Created, Fault> {
    const STEP: &str = "create";
    let response = cfg
        .client()
        .post(cfg.endpoint("/api/v1/sessions"))
        .header("x-api-key", cfg.api_key())
        .json(&consent_body("loadtest"))
        .send()
        .await
        .map_err(|e| Fault::http(STEP, &e))?;
    let status = response.status();
    if status != StatusCode::CREATED {
        // Read to the end so the connection can be reused; its content is not needed.
        let _ = response.bytes().await;
        return Err(Fault::status(STEP, status));
    }
    let body = response.bytes().await.map_err(|e| Fault::http(STEP, &e))?;
    parse_created(cfg.base(), &body)
}

/// The body of `POST /api/v1/sessions`: consent `version` to both purposes a verification needs.
pub fn consent_body(version: &str) -> serde_json::Value {
    serde_json::json!({
        "consent": {
            "version": version,
            "purposes": ["identity_verification", "biometric_processing"],
        }
    })
}

/// The session in a 201 answer's `body`, watched on `base`'s host; `create_bad_answer` unless
/// it is an envelope with the id, token and a `wsUrl` of `/ws/kyc/{id}?token=…`.
pub fn parse_created(base: &Url, body: &[u8]) -> Result<Created, Fault> {
    let bad = || Fault::new("create_bad_answer");
    let envelope: Envelope<CreatedData> = serde_json::from_slice(body).map_err(|_| bad())?;
    let data = envelope.data.filter(|_| envelope.success).ok_or_else(bad)?;
    let ws_url = watch_url(base, &data.ws_url, &data.session_id).ok_or_else(bad)?;
    Ok(Created {
        session_id: data.session_id,
        token: data.token,
        ws_url,
    })
}

/// The URL to watch session `id` on: `server_ws_url`'s path and query (it may be absolute or
/// a bare path) on `base`'s host and port, scheme `ws`, with `since=0`. `None` when the server's
/// URL is not `/ws/kyc/{id}?token=…`.
pub fn watch_url(base: &Url, server_ws_url: &str, id: &str) -> Option<Url> {
    let given = base.join(server_ws_url).ok()?;
    if given.path() != format!("/ws/kyc/{id}") || !given.query_pairs().any(|(k, _)| k == "token") {
        return None;
    }
    let mut url = base.clone();
    url.set_scheme("ws").ok()?;
    url.set_path(given.path());
    url.set_query(given.query());
    if !url.query_pairs().any(|(k, _)| k == "since") {
        url.query_pairs_mut().append_pair("since", "0");
    }
    Some(url)
}

/// Small buffers, as the server's: ten thousand idle sockets stay cheap on this side too.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(1024 * 1024))
}

/// Opens the session's WebSocket; the TCP connection goes to 127.0.0.1 / ::1 only.
pub async fn connect_ws(created: &Created) -> Result<Ws, Fault> {
    let url = &created.ws_url;
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs = match url.host() {
        Some(Host::Ipv4(ip)) => vec![(ip, port).into()],
        Some(Host::Ipv6(ip)) => vec![(ip, port).into()],
        // The config only lets `localhost` through as a name.
        _ => loopback_addrs(port).to_vec(),
    };
    let tcp = TcpStream::connect(&addrs[..]).await.map_err(|e| {
        if is_out_of_descriptors(&e) {
            Fault::new("too_many_open_files")
        } else {
            Fault::new("ws_connect")
        }
    })?;
    let _ = tcp.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(ws_config()))
        .await
        .map_err(|e| Fault::ws(&e))?;
    Ok(ws)
}

/// `POST /api/v1/id-capture` with `mode=live` and `png` as the frame; 202 expected.
pub async fn send_live_frame(
    cfg: &SessionsConfig,
    created: &Created,
    png: Vec<u8>,
) -> Result<(), Fault> {
    const STEP: &str = "frame";
    let file = reqwest::multipart::Part::bytes(png)
        .file_name("frame.png")
        .mime_str("image/png")
        .map_err(|e| Fault::http(STEP, &e))?;
    let form = reqwest::multipart::Form::new()
        .text("sessionId", created.session_id.clone())
        .text("mode", "live")
        .part("file", file);
    let response = cfg
        .client()
        .post(cfg.endpoint("/api/v1/id-capture"))
        .bearer_auth(&created.token)
        .multipart(form)
        .send()
        .await
        .map_err(|e| Fault::http(STEP, &e))?;
    let status = response.status();
    response.bytes().await.map_err(|e| Fault::http(STEP, &e))?;
    if status == StatusCode::ACCEPTED {
        Ok(())
    } else {
        Err(Fault::status(STEP, status))
    }
}

/// A session event as the socket sends it (only the fields the scenario checks).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    session_id: String,
    seq: u64,
    at_ms: u64,
    state: String,
    #[serde(default)]
    result: Option<serde_json::Value>,
    /// Not journaled (a live frame's check): numbered with the last journaled event.
    #[serde(default)]
    transient: bool,
}

/// One event received on a session's socket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen {
    /// The answer to a live frame, `latency` after the server stamped it.
    Live { seq: u64, latency: Duration },
    /// Any other event (e.g. the session's creation, replayed with `since=0`).
    Other { seq: u64 },
}

/// Milliseconds since the Unix epoch, now, with sub-millisecond precision.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Reads one text message of session `id`'s socket, received at `received_ms`; `last_seq` is
/// the previous event's number (0 before the first). An event of another session, one whose
/// number does not grow, or a live answer not in state `id_capture` is a fault.
pub fn classify(text: &str, id: &str, last_seq: u64, received_ms: f64) -> Result<Seen, Fault> {
    let event: Event = serde_json::from_str(text).map_err(|_| Fault::new("ws_bad_event"))?;
    if event.session_id != id {
        return Err(Fault::new("ws_wrong_session"));
    }
    // Journaled events count up without gaps; a transient notice carries the last number.
    if event.transient {
        if event.seq != last_seq {
            return Err(Fault::new("ws_seq_order"));
        }
    } else if event.seq <= last_seq {
        return Err(Fault::new("ws_seq_order"));
    }
    let live = event
        .result
        .as_ref()
        .and_then(|r| r.get("live"))
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    if !live {
        return Ok(Seen::Other { seq: event.seq });
    }
    // A live frame is checked while the ID is captured and is never journaled.
    if !event.transient || !matches!(event.state.as_str(), "created" | "id_capture") {
        return Err(Fault::new("ws_live_event_state"));
    }
    // `atMs` is truncated to the millisecond, so this is never below the true latency; a
    // negative value can only come from the clock stepping back, and counts as zero.
    let ms = (received_ms - event.at_ms as f64).max(0.0);
    Ok(Seen::Live {
        seq: event.seq,
        latency: Duration::from_secs_f64(ms / 1e3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b6f3c1e-8a52-4f0e-9d43-3c2b1a0f9e87";

    #[test]
    fn watch_url_is_rebuilt_on_the_configured_host() {
        let base = Url::parse("http://127.0.0.1:18090/").unwrap();
        let path = format!("/ws/kyc/{ID}?token=abc");
        let expected = format!("ws://127.0.0.1:18090/ws/kyc/{ID}?token=abc&since=0");
        for given in [
            format!("ws://127.0.0.1:18090{path}"),
            format!("ws://10.9.8.7:1{path}"),
            format!("wss://example.com{path}"),
            path.clone(),
        ] {
            let url = watch_url(&base, &given, ID).unwrap();
            assert_eq!(url.as_str(), expected, "{given}");
        }
        let kept = watch_url(&base, &format!("{path}&since=4"), ID).unwrap();
        assert_eq!(kept.query(), Some("token=abc&since=4"));
        let base = Url::parse("http://localhost:5/").unwrap();
        let url = watch_url(&base, &path, ID).unwrap();
        assert_eq!(url.host_str(), Some("localhost"));
    }

    #[test]
    fn unexpected_watch_urls_are_refused() {
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        for given in [
            format!("/ws/kyc/{ID}"),
            String::from("/ws/kyc/other?token=a"),
            format!("/api/v1/sessions/{ID}?token=a"),
            String::from("http://[::1"),
        ] {
            assert_eq!(watch_url(&base, &given, ID), None, "{given}");
        }
    }

    fn event(seq: u64, at_ms: u64, state: &str, result: &str) -> String {
        format!(
            r#"{{"sessionId":"{ID}","seq":{seq},"atMs":{at_ms},"stage":"id_capture",
                "state":"{state}","progress":{{"stage":0,"overall":0}},
                "message":{{"en":"Place the card","ko":"신분증"}}{result}}}"#
        )
    }

    #[test]
    fn live_events_carry_their_latency() {
        let text = event(
            2,
            1_000,
            "created",
            r#","result":{"live":true,"passed":false},"transient":true"#,
        );
        assert_eq!(
            classify(&text, ID, 2, 1_012.5),
            Ok(Seen::Live {
                seq: 2,
                latency: Duration::from_micros(12_500)
            })
        );
        // A clock that stepped back gives zero, not a panic.
        assert!(matches!(
            classify(&text, ID, 2, 900.0),
            Ok(Seen::Live {
                latency: Duration::ZERO,
                ..
            })
        ));
    }

    #[test]
    fn other_events_are_counted_not_timed() {
        let created = event(1, 5, "created", "");
        assert_eq!(classify(&created, ID, 0, 10.0), Ok(Seen::Other { seq: 1 }));
        let upload = event(
            2,
            5,
            "id_capture",
            r#","result":{"captureId":"x","bytes":9}"#,
        );
        assert_eq!(classify(&upload, ID, 1, 10.0), Ok(Seen::Other { seq: 2 }));
    }

    #[test]
    fn wrong_events_are_faults() {
        let key = |r: Result<Seen, Fault>| r.unwrap_err().0;
        let live = event(
            3,
            1,
            "id_capture",
            r#","result":{"live":true},"transient":true"#,
        );
        assert_eq!(key(classify("not json", ID, 0, 0.0)), "ws_bad_event");
        assert_eq!(key(classify(r#"{"seq":1}"#, ID, 0, 0.0)), "ws_bad_event");
        assert_eq!(
            key(classify(&live, "someone-else", 0, 0.0)),
            "ws_wrong_session"
        );
        assert_eq!(key(classify(&live, ID, 2, 0.0)), "ws_seq_order");
        assert_eq!(key(classify(&live, ID, 4, 0.0)), "ws_seq_order");
        let odd = event(3, 1, "video", r#","result":{"live":true},"transient":true"#);
        assert_eq!(key(classify(&odd, ID, 3, 0.0)), "ws_live_event_state");
        let journaled = event(4, 1, "id_capture", r#","result":{"live":true}"#);
        assert_eq!(key(classify(&journaled, ID, 3, 0.0)), "ws_live_event_state");
    }

    #[test]
    fn ws_fault_keys() {
        use tungstenite::Error as E;
        assert_eq!(Fault::ws(&E::ConnectionClosed).0, "ws_dropped");
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(Fault::ws(&E::Io(emfile)).0, "too_many_open_files");
        let response = tungstenite::http::Response::builder()
            .status(403)
            .body(None)
            .unwrap();
        assert_eq!(Fault::ws(&E::Http(Box::new(response))).0, "ws_status_403");
        assert_eq!(Fault::ws(&E::AttackAttempt).0, "ws_protocol");
    }
}
