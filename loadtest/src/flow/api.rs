//! The REST calls of one verification (retried on 503 / 429 after their `Retry-After`) and what
//! each step waits for on the session's socket.
//!
//! Session creation's answer, the socket and the failure keys are the `sessions` scenario's
//! ([`crate::sessions::api`]); only what a whole verification adds is here.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use tokio::time::{Instant, sleep, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use super::config::FlowConfig;
use crate::sessions::api::{self as session_api, Created, Fault, Ws};

/// Longest pause before a retry, whatever `Retry-After` says.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// Most attempts of one request (the step's limit usually ends them first).
pub const MAX_ATTEMPTS: u32 = 50;

/// A step of the verification after the session is open: an upload or request, then one
/// event awaited on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Card,
    Video,
    Compare,
}

impl Step {
    /// The name in failure keys and the report (`card`, `video`, `compare`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Video => "video",
            Self::Compare => "compare",
        }
    }

    /// The session state that ends the step.
    pub fn awaited(self) -> &'static str {
        match self {
            Self::Card => "id_accepted",
            Self::Video => "video_accepted",
            Self::Compare => "decided",
        }
    }
}

/// How long to wait before sending again a request answered `status`: `Retry-After` seconds
/// (1 to [`MAX_RETRY_DELAY`]) for a 503 that has one (`BUSY`, `AT_CAPACITY`) and for any 429
/// (1 s when it has none); `None` when the answer is not worth retrying.
pub fn retry_delay(status: StatusCode, retry_after: Option<&str>) -> Option<Duration> {
    let secs = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    let secs = match status {
        StatusCode::SERVICE_UNAVAILABLE => secs?,
        StatusCode::TOO_MANY_REQUESTS => secs.unwrap_or(1),
        _ => return None,
    };
    Some(Duration::from_secs(secs).clamp(Duration::from_secs(1), MAX_RETRY_DELAY))
}

/// Sends what `make` builds until it is answered `expected`, retrying as [`retry_delay`] says
/// (each retry counted in `retries` as `{call}_{status}`) while `until` leaves time. Returns
/// the answer's body and when the answered attempt was sent.
pub async fn send(
    call: &str,
    expected: StatusCode,
    until: Instant,
    retries: &mut BTreeMap<String, u64>,
    mut make: impl FnMut() -> RequestBuilder,
) -> Result<(Vec<u8>, Instant), Fault> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent = Instant::now();
        let response = timeout_at(until, make().send())
            .await
            .map_err(|_| Fault(format!("{call}_timeout")))?
            .map_err(|e| Fault::http(call, &e))?;
        let status = response.status();
        let delay = retry_delay(
            status,
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        // Read to the end, so the connection can be reused.
        let body = timeout_at(until, response.bytes())
            .await
            .map_err(|_| Fault(format!("{call}_timeout")))?
            .map_err(|e| Fault::http(call, &e))?;
        if status == expected {
            return Ok((body.to_vec(), sent));
        }
        match delay {
            Some(d) if attempts < MAX_ATTEMPTS && Instant::now() + d < until => {
                *retries
                    .entry(format!("{call}_{}", status.as_u16()))
                    .or_default() += 1;
                sleep(d).await;
            }
            _ => return Err(Fault::status(call, status)),
        }
    }
}

/// `POST /api/v1/sessions` with consent to both purposes (201).
pub async fn create(
    cfg: &FlowConfig,
    until: Instant,
    retries: &mut BTreeMap<String, u64>,
) -> Result<Created, Fault> {
    let body = session_api::consent_body("load-1");
    let (answer, _) = send("create", StatusCode::CREATED, until, retries, || {
        cfg.post("/api/v1/sessions")
            .header("x-api-key", cfg.api_key())
            .json(&body)
    })
    .await?;
    session_api::parse_created(cfg.base(), &answer)
}

/// The files every verification uploads (`--card`, `--video`).
#[derive(Debug, Clone, Default)]
pub struct Media {
    pub card: Vec<u8>,
    pub video: Vec<u8>,
}

/// Starts `step`'s work: the card or video upload (multipart `sessionId` + `file`) or the
/// comparison request, 202 expected. Returns when the accepted attempt was sent.
pub async fn start(
    cfg: &FlowConfig,
    step: Step,
    created: &Created,
    media: &Media,
    until: Instant,
    retries: &mut BTreeMap<String, u64>,
) -> Result<Instant, Fault> {
    let (path, file_name, file) = match step {
        Step::Card => ("/api/v1/id-capture", "card.png", media.card.as_slice()),
        Step::Video => ("/api/v1/face-video", "selfie.mp4", media.video.as_slice()),
        Step::Compare => ("/api/v1/face-similarity", "", &[][..]),
    };
    let make = || {
        let request = cfg.post(path).bearer_auth(&created.token);
        if step == Step::Compare {
            return request.json(&serde_json::json!({ "sessionId": created.session_id }));
        }
        // A copy per attempt (a multipart body is consumed by sending it). The server
        // recognises the file by its content, not by a declared type.
        let part = reqwest::multipart::Part::bytes(file.to_vec()).file_name(file_name);
        let form = reqwest::multipart::Form::new()
            .text("sessionId", created.session_id.clone())
            .part("file", part);
        request.multipart(form)
    };
    let (_, sent) = send(step.name(), StatusCode::ACCEPTED, until, retries, make).await?;
    Ok(sent)
}

/// A session event, as far as a step looks at it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    session_id: String,
    state: String,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    transient: bool,
}

/// What one event means to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Not the step's end (an earlier event replayed, progress, a live notice).
    Pending,
    /// The awaited state; `decision` is the comparison's (`verified`, `rejected`, `review`).
    Reached { decision: Option<String> },
}

/// Reads one text message of session `id`'s socket while `step` waits. A failed, expired or
/// erased session, a decision before the comparison, a photo to retake (`result.status ==
/// "retake"`) or an upload refused (`result.accepted == false`) ends the step as a fault
/// `{step}_{why}`; so does a decided session without a decision.
pub fn judge(step: Step, text: &str, id: &str) -> Result<Heard, Fault> {
    let event: Event = serde_json::from_str(text).map_err(|_| Fault::new("ws_bad_event"))?;
    if event.session_id != id {
        return Err(Fault::new("ws_wrong_session"));
    }
    if event.transient {
        return Ok(Heard::Pending);
    }
    let fault = |why: &str| Err(Fault(format!("{}_{why}", step.name())));
    let state = event.state.as_str();
    match state {
        "failed" | "expired" | "erased" => return fault(state),
        "decided" if step != Step::Compare => return fault("decided"),
        _ => {}
    }
    if state == step.awaited() {
        if step == Step::Compare && event.decision.is_none() {
            return fault("no_decision");
        }
        return Ok(Heard::Reached {
            decision: event.decision,
        });
    }
    let result = event.result.as_ref();
    if result
        .and_then(|r| r.get("status"))
        .and_then(|s| s.as_str())
        == Some("retake")
    {
        return fault("retake");
    }
    if result
        .and_then(|r| r.get("accepted"))
        .and_then(serde_json::Value::as_bool)
        == Some(false)
    {
        return fault("refused");
    }
    Ok(Heard::Pending)
}

/// Reads session `id`'s socket until `step` ends (see [`judge`]) or `until`; returns the
/// decision when the step is the comparison. A step that does not end in time is
/// `{step}_event_timeout`.
pub async fn wait(
    ws: &mut Ws,
    step: Step,
    id: &str,
    until: Instant,
) -> Result<Option<String>, Fault> {
    loop {
        let message = timeout_at(until, ws.next())
            .await
            .map_err(|_| Fault(format!("{}_event_timeout", step.name())))?;
        match message {
            Some(Ok(Message::Text(text))) => match judge(step, text.as_str(), id)? {
                Heard::Reached { decision } => return Ok(decision),
                Heard::Pending => {}
            },
            // Pings are answered by the socket itself as it reads.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Binary(_))) => return Err(Fault::new("ws_binary")),
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                return Err(Fault(format!("ws_closed_{code}")));
            }
            Some(Err(e)) => return Err(Fault::ws(&e)),
            None => return Err(Fault::new("ws_dropped")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b6f3c1e-8a52-4f0e-9d43-3c2b1a0f9e87";

    fn event(state: &str, extra: &str) -> String {
        format!(
            r#"{{"sessionId":"{ID}","seq":3,"atMs":1,"stage":"id_capture","state":"{state}",
                "progress":{{"stage":0,"overall":0}},"message":{{"en":"x","ko":"y"}}{extra}}}"#
        )
    }

    fn key(r: Result<Heard, Fault>) -> String {
        r.unwrap_err().0
    }

    #[test]
    fn each_step_ends_on_its_state() {
        let reached = |decision: Option<&str>| Heard::Reached {
            decision: decision.map(str::to_owned),
        };
        let accepted = event("id_accepted", r#","result":{"status":"accepted"}"#);
        assert_eq!(judge(Step::Card, &accepted, ID), Ok(reached(None)));
        assert_eq!(judge(Step::Video, &accepted, ID), Ok(Heard::Pending));
        let video = event("video_accepted", r#","result":{"accepted":true}"#);
        assert_eq!(judge(Step::Video, &video, ID), Ok(reached(None)));
        let decided = event("decided", r#","decision":"review""#);
        assert_eq!(
            judge(Step::Compare, &decided, ID),
            Ok(reached(Some("review")))
        );
        // Progress, replayed and transient events do not end a step.
        for pending in [
            event("created", ""),
            event("id_capture", r#","result":{"captureId":"c","bytes":9}"#),
            event("comparing", r#","result":{"comparisonId":"c"}"#),
            event(
                "id_capture",
                r#","result":{"live":true,"accepted":false},"transient":true"#,
            ),
        ] {
            for step in [Step::Card, Step::Video, Step::Compare] {
                assert_eq!(judge(step, &pending, ID), Ok(Heard::Pending), "{pending}");
            }
        }
    }

    #[test]
    fn failures_end_a_step_with_its_name() {
        let retake = event("id_capture", r#","result":{"status":"retake"}"#);
        assert_eq!(key(judge(Step::Card, &retake, ID)), "card_retake");
        let refused = event("video", r#","result":{"videoId":"v","accepted":false}"#);
        assert_eq!(key(judge(Step::Video, &refused, ID)), "video_refused");
        for state in ["failed", "expired", "erased"] {
            let e = event(state, "");
            assert_eq!(
                key(judge(Step::Compare, &e, ID)),
                format!("compare_{state}")
            );
        }
        let decided = event("decided", r#","decision":"rejected""#);
        assert_eq!(key(judge(Step::Card, &decided, ID)), "card_decided");
        assert_eq!(
            key(judge(Step::Compare, &event("decided", ""), ID)),
            "compare_no_decision"
        );
        assert_eq!(key(judge(Step::Card, "not json", ID)), "ws_bad_event");
        assert_eq!(key(judge(Step::Card, &retake, "other")), "ws_wrong_session");
    }

    #[test]
    fn only_busy_and_rate_limited_answers_are_retried() {
        let s = Duration::from_secs;
        let busy = StatusCode::SERVICE_UNAVAILABLE;
        let limited = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(retry_delay(busy, Some("5")), Some(s(5)));
        assert_eq!(retry_delay(busy, Some(" 2 ")), Some(s(2)));
        assert_eq!(retry_delay(busy, Some("0")), Some(s(1)));
        assert_eq!(retry_delay(busy, Some("3600")), Some(MAX_RETRY_DELAY));
        // A 503 without Retry-After (not ready, unavailable) is a failure.
        assert_eq!(retry_delay(busy, None), None);
        assert_eq!(
            retry_delay(busy, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_delay(limited, Some("7")), Some(s(7)));
        assert_eq!(retry_delay(limited, None), Some(s(1)));
        for status in [
            StatusCode::OK,
            StatusCode::CONFLICT,
            StatusCode::BAD_GATEWAY,
        ] {
            assert_eq!(retry_delay(status, Some("1")), None, "{status}");
        }
    }

    #[test]
    fn steps_in_order() {
        let names: Vec<_> = [Step::Card, Step::Video, Step::Compare]
            .iter()
            .map(|s| (s.name(), s.awaited()))
            .collect();
        assert_eq!(
            names,
            [
                ("card", "id_accepted"),
                ("video", "video_accepted"),
                ("compare", "decided")
            ]
        );
    }
}
