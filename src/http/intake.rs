//! The uploads of the KYC API: the ID card photo (or a live camera frame for the quality gate)
//! and the selfie video, received as multipart, checked (size, token, session state and job
//! line from the headers, before the body; content from its first bytes) before anything is
//! kept, encrypted as they arrive (with the session's data key), then handed
//! to the session as a job whose progress arrives as events.

use super::auth::{bearer, parse_session_id};
use super::kyc::{Accepted, ClientIp};
use super::openapi::{TokenRefusals, UploadRefusals};
use super::sniff::Sniffed;
use super::upload::{self, IncomingFile, KeyChoice};
use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope};
use crate::sessions::{AuthorizedSession, Sessions};
use actors::session::{Intake, Job, Message, SessionState, Stage, Step};
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{HeaderMap, header};

/// The multipart form of the uploads.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documents the form; the handler streams it field by field
pub struct UploadForm {
    /// The session the file belongs to. Optional: the token names its session; naming
    /// another session is refused (403).
    #[schema(rename = "sessionId")]
    session_id: Option<String>,
    /// The file: checked by its content (magic bytes), never by its name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `live` for a live camera frame (ID capture only): only the quality gate runs, its
    /// checks arrive as an event.
    mode: Option<String>,
}

/// Receives an upload for a session. Everything that can refuse it is decided from the headers
/// before a byte of the body is read: the size (`Content-Length`), the rate limits, the token
/// (it names its session), the session's state and the job line. Only then is the body
/// streamed, encrypted with the session's key as it arrives.
#[allow(clippy::too_many_arguments)]
async fn receive_for_session(
    app: &AppState,
    ip: &str,
    headers: &HeaderMap,
    req: axum::extract::Request,
    max_bytes: u64,
    what: &str,
    intake: Intake,
    accept: impl Fn(&Sniffed) -> bool,
) -> Result<(AuthorizedSession, upload::Upload, IncomingFile), ApiError> {
    let sessions = &app.sessions;
    // Refuse a body that says it is too big before reading any of it.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes.saturating_add(64 * 1024)) {
        return Err(ApiError::PayloadTooLarge(format!(
            "{what} is larger than the limit of {max_bytes} bytes"
        )));
    }
    // The token names its session: no token, or one of no session, is refused here, before
    // the body is looked at — so are a session that does not take this upload now, a full job
    // line and the rate limits. Nothing of a refused body is written anywhere; at most
    // `REFUSED_READ_BYTES` of it is read and dropped so a small one still gets the answer.
    let admitted = (|| {
        app.limit_ip(ip)?;
        let session = sessions.authorize_token(bearer(headers))?;
        app.token_allows(&session)?;
        session.check(intake)?;
        let left = session_quota(app, &session, declared)?;
        if sessions.busy(session.record().tenant.as_deref()) {
            return Err(ApiError::Busy {
                what: "too many uploads are waiting",
                retry_after_secs: 5,
            });
        }
        app.limit_session(&session.id())?;
        Ok((session, left))
    })();
    let multipart_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let admitted = admitted.and_then(|a| match multipart_body {
        true => Ok(a),
        false => Err(ApiError::UnsupportedMediaType(
            "send multipart/form-data with the fields `sessionId` and `file`".into(),
        )),
    });
    let (session, left) = match admitted {
        Ok(a) => a,
        Err(e) => {
            upload::discard(
                req.into_body(),
                upload::REFUSED_READ_BYTES,
                upload::REFUSED_READ_TIME,
            )
            .await;
            return Err(e);
        }
    };
    let (req, consumed) = upload::counted(req);
    let multipart = Multipart::from_request(req, app).await.map_err(|_| {
        ApiError::UnsupportedMediaType(
            "send multipart/form-data with a boundary and the fields `sessionId` and `file`".into(),
        )
    })?;
    // The session's own key when the form names it before the file (the usual order).
    let id = session.id();
    let authorize = |sid: &str| parse_session_id(sid).ok().filter(|s| *s == id);
    let keys = KeyChoice {
        media: sessions.media(),
        authorize: &authorize,
    };
    let mut upload = upload::receive(
        multipart,
        &sessions.media().incoming_dir(),
        keys,
        max_bytes.min(left),
        what,
        &consumed,
        accept,
    )
    .await?;
    // `sessionId` may be left out (the token names the session); naming another is refused.
    if let Some(named) = upload.session_id.as_deref()
        && parse_session_id(named)? != id
    {
        return Err(ApiError::Forbidden);
    }
    let file = upload
        .file
        .take()
        .ok_or_else(|| ApiError::validation("the field `file` is missing"))?;
    Ok((session, upload, file))
}

/// A session's own allowance: at most `sessions.max_uploads_per_session` uploads and
/// `sessions.max_bytes_per_session` bytes in all (a declared length over what is left is
/// refused now; a chunked body is cut there). The bytes it may still upload.
fn session_quota(
    app: &AppState,
    session: &AuthorizedSession,
    declared: Option<u64>,
) -> Result<u64, ApiError> {
    let s = &app.settings.sessions;
    let r = session.record();
    if r.uploads >= s.max_uploads_per_session {
        return Err(ApiError::Quota(format!(
            "this session has made its {} uploads; start a new session",
            s.max_uploads_per_session
        )));
    }
    let left = s.max_bytes_per_session.saturating_sub(r.upload_bytes);
    if declared.is_some_and(|n| n > left.saturating_add(64 * 1024)) {
        return Err(ApiError::Quota(format!(
            "this session may upload {left} more bytes of its {} in all",
            s.max_bytes_per_session
        )));
    }
    Ok(left)
}

/// `POST /api/v1/id-capture` (multipart `sessionId`, `file`, optional `mode=live`)
#[utoipa::path(post, path = "/api/v1/id-capture", tag = "sessions", security(("session" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data", description = "The ID card photo (JPEG, PNG or WebP)"),
    responses(
        (status = 202, description = "Accepted: progress and results arrive as events", body = Envelope<Accepted>),
        TokenRefusals,
        UploadRefusals,
    ))]
pub async fn id_capture(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> ApiResult<Accepted> {
    let max = app.settings.sessions.max_image_bytes;
    let (session, upload, file) = receive_for_session(
        &app,
        &ip,
        &headers,
        req,
        max,
        "the ID photo",
        Intake::IdPhoto,
        |k| !k.video,
    )
    .await?;
    let live = upload
        .fields
        .iter()
        .any(|(k, v)| k == "mode" && v.trim() == "live");
    if live {
        let capture_id = file.id;
        let media = std::sync::Arc::clone(app.sessions.media());
        // Decrypted into memory only (a frame is at most `max_image_bytes`); the file goes.
        let bytes = tokio::task::spawn_blocking(move || {
            media
                .read_incoming(file.path(), &file.id, &file.key, max)
                .map(|b| b.to_vec())
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot read the frame: {e}")))?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot read the frame: {e}")))?;
        app.sessions.live_frame(&session, bytes, capture_id).await?;
        return Ok(ApiResponse::accepted(Accepted {
            session_id: session.id(),
            capture_id: Some(capture_id),
            video_id: None,
            comparison_id: None,
            status: "checked",
            seq: session.record().seq,
        }));
    }
    engines_can_work(&app)?;
    let accepted = accept(&app.sessions, &session, file, UploadKind::IdPhoto).await?;
    Ok(ApiResponse::accepted(accepted))
}

/// New engine work is refused (503 `BUSY`, Retry-After) while no engine can take it: an api
/// node whose workers are all away, or whose Redis is down. Never queued to hang.
fn engines_can_work(app: &AppState) -> Result<(), ApiError> {
    app.engines.can_take_work().map_err(|why| {
        tracing::warn!(reason = %why, "new engine work refused");
        ApiError::Busy {
            what: "no engine worker can take work now",
            retry_after_secs: 5,
        }
    })
}

/// `POST /api/v1/face-video` (multipart `sessionId`, `file`)
#[utoipa::path(post, path = "/api/v1/face-video", tag = "sessions", security(("session" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data", description = "The selfie video (MP4, MOV or WebM/Matroska), streamed to disk"),
    responses(
        (status = 202, description = "Accepted: progress and results arrive as events", body = Envelope<Accepted>),
        TokenRefusals,
        UploadRefusals,
    ))]
pub async fn face_video(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> ApiResult<Accepted> {
    let max = app.settings.video.max_bytes;
    engines_can_work(&app)?;
    let (session, _, file) = receive_for_session(
        &app,
        &ip,
        &headers,
        req,
        max,
        "the selfie video",
        Intake::Video,
        // AVI is recognised but not decoded (the demuxers are held to MP4/MOV and Matroska).
        |k| k.video && k.ext != "avi",
    )
    .await?;
    let accepted = accept(&app.sessions, &session, file, UploadKind::Video).await?;
    Ok(ApiResponse::accepted(accepted))
}

/// What an accepted upload is for: its file name, its job and its first event follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadKind {
    IdPhoto,
    Video,
}

/// Keeps an upload in the session's folder, journals its first step together with its job
/// (which then starts), and links its id to the session.
async fn accept(
    sessions: &Sessions,
    session: &AuthorizedSession,
    file: IncomingFile,
    kind: UploadKind,
) -> Result<Accepted, ApiError> {
    let (intake, prefix, what, key) = match kind {
        UploadKind::IdPhoto => (Intake::IdPhoto, "id", "the ID photo", "captureId"),
        UploadKind::Video => (Intake::Video, "video", "the video", "videoId"),
    };
    // Nothing is kept for a session that would refuse it.
    session.check(intake)?;
    let id = session.id();
    let upload_id = file.id;
    let name = format!("{prefix}-{}.{}", upload_id.simple(), file.kind.ext);
    let bytes = file.bytes;
    let media = std::sync::Arc::clone(sessions.media());
    let kept_name = name.clone();
    let (kept, file) = tokio::task::spawn_blocking(move || {
        let kept = media.keep_upload(&id, &file.id, file.path(), &file.key, &kept_name);
        (kept, file)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot keep {what}: {e}")))?;
    let path = kept.map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot keep {what}: {e}")))?;
    file.kept();
    let (step, job) = match kind {
        UploadKind::IdPhoto => (
            Step::progress(
                SessionState::IdCapture,
                Stage::IdCapture,
                10,
                Message::new(
                    "ID photo received; checking it",
                    "신분증 사진을 받았습니다. 확인하고 있습니다",
                ),
            ),
            Job::IdCapture {
                capture_id: upload_id,
                file: path.clone(),
            },
        ),
        UploadKind::Video => (
            Step::progress(
                SessionState::Video,
                Stage::Video,
                5,
                Message::new(
                    "Video received; analysing it",
                    "영상을 받았습니다. 분석하고 있습니다",
                ),
            ),
            Job::Video {
                video_id: upload_id,
                file: path.clone(),
            },
        ),
    };
    let step = step.with_result(serde_json::json!({ key: upload_id, "bytes": bytes }));
    let seq = match sessions.submit(session, intake, job, step).await {
        Ok(e) => e.seq,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
    };
    tracing::info!(session = %id, upload = %upload_id, bytes, "{what} accepted for processing");
    // A retake supersedes the earlier uploads of its kind: they go now, not at retention.
    let media = std::sync::Arc::clone(sessions.media());
    match tokio::task::spawn_blocking(move || media.delete_superseded(&id, prefix, &name)).await {
        Ok(Ok(d)) if d.files > 0 => {
            tracing::info!(session = %id, files = d.files, "superseded uploads deleted");
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(session = %id, error = %e, "superseded uploads not deleted"),
        Err(e) => tracing::warn!(session = %id, error = %e, "superseded uploads not deleted"),
    }
    Ok(Accepted {
        session_id: id,
        capture_id: (kind == UploadKind::IdPhoto).then_some(upload_id),
        video_id: (kind == UploadKind::Video).then_some(upload_id),
        comparison_id: None,
        status: "processing",
        seq,
    })
}
