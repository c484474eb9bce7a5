//! Multipart uploads (`sessionId` + `file`), streamed to disk chunk by chunk — never whole in
//! memory, and encrypted before any byte reaches the disk — with the size limit enforced while
//! they arrive (and from `Content-Length` before they do) and the format decided from the first
//! bytes.

use super::ApiError;
use super::sniff::{SNIFF_LEN, Sniffed, sniff};
use crate::crypto::DataKey;
use crate::media::{IncomingKey, MediaStore};
use actors::session::SessionId;
use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// An upload written to disk (removed when dropped, unless kept).
pub struct Upload {
    pub session_id: Option<String>,
    /// Other small text fields (e.g. `mode`).
    pub fields: Vec<(String, String)>,
    pub file: Option<IncomingFile>,
}

/// The file part, in the incoming folder, encrypted.
pub struct IncomingFile {
    file: TempFile,
    /// The upload's id (it names the stored file and is part of its associated data).
    pub id: uuid::Uuid,
    /// The key it was encrypted with.
    pub key: IncomingKey,
    /// Plaintext length.
    pub bytes: u64,
    pub kind: Sniffed,
}

impl IncomingFile {
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The file was moved away: do not remove it on drop.
    pub fn kept(mut self) {
        self.file.kept = true;
    }
}

/// A file in the incoming folder, removed when dropped (a refused or half-written upload)
/// unless it was kept.
struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

const TEXT_LIMIT: usize = 256;

/// Fields a form may have: `sessionId`, `file`, `mode` and a few to spare.
pub const MAX_FIELDS: usize = 8;

/// Bytes of a form read but not yet handed out as a field's content: part headers and
/// boundaries, and what the multipart parser reads ahead (one chunk of the connection at
/// most). A part header that never ends would otherwise be buffered up to the whole upload
/// limit.
pub const MAX_UNCONSUMED: u64 = 1 << 20;

/// The body of a form with a count of what was read from it, against the count of bytes the
/// form's fields handed out (`consumed`): when the parser holds more than [`MAX_UNCONSUMED`]
/// of it, the body fails ([`HeadersTooLarge`]).
pub struct Unconsumed<B> {
    inner: B,
    read: u64,
    consumed: Arc<std::sync::atomic::AtomicU64>,
}

/// The error an [`Unconsumed`] body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the form's part headers are longer than {MAX_UNCONSUMED} bytes")]
pub struct HeadersTooLarge;

impl<B> http_body::Body for Unconsumed<B>
where
    B: http_body::Body<Data = axum::body::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::sync::atomic::Ordering;
        use std::task::Poll;
        let this = &mut *self;
        let consumed = this.consumed.load(Ordering::Relaxed);
        if this.read.saturating_sub(consumed) > MAX_UNCONSUMED {
            return Poll::Ready(Some(Err(Box::new(HeadersTooLarge))));
        }
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.read += d.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other.map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `req` with its body counted ([`Unconsumed`]) and the counter [`receive`] adds the fields'
/// bytes to.
pub fn counted(
    req: axum::extract::Request,
) -> (axum::extract::Request, Arc<std::sync::atomic::AtomicU64>) {
    let consumed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = Arc::clone(&consumed);
    let req = req.map(|b| {
        axum::body::Body::new(Unconsumed {
            inner: b,
            read: 0,
            consumed: counter,
        })
    });
    (req, consumed)
}

fn multipart_error(e: MultipartError, what: &str) -> ApiError {
    if let Some(slow) = super::body_rate::is_too_slow(&e) {
        return ApiError::RequestTimeout(format!("{what}: {slow}"));
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if c.is::<HeadersTooLarge>() {
            return ApiError::PayloadTooLarge(c.to_string());
        }
        cause = c.source();
    }
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!("{what} is over the upload limit"))
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Which key an upload is encrypted with as it arrives: the session's own when the form named
/// the session before the file and `authorize` accepts it (the usual case: kept by a rename),
/// else a key of the upload alone (re-encrypted when it is kept).
pub struct KeyChoice<'a> {
    pub media: &'a Arc<MediaStore>,
    /// The session a `sessionId` field names, when the request may write to it.
    pub authorize: &'a (dyn Fn(&str) -> Option<SessionId> + Sync),
}

impl KeyChoice<'_> {
    async fn key(&self, session_id: Option<&str>) -> Result<IncomingKey, ApiError> {
        let internal = |e: String| ApiError::Internal(anyhow::anyhow!("upload key: {e}"));
        if let Some(session) = session_id.and_then(self.authorize) {
            let media = Arc::clone(self.media);
            return tokio::task::spawn_blocking(move || media.upload_key(&session))
                .await
                .map_err(|e| internal(e.to_string()))?
                .map_err(|e| internal(e.to_string()));
        }
        Ok(IncomingKey::Transient(
            DataKey::generate().map_err(|e| internal(e.to_string()))?,
        ))
    }
}

/// Reads the multipart body: text fields into memory (256 bytes each at most), the `file`
/// field onto disk in `incoming`, encrypted (at most `max_bytes`, of a format `accept` allows).
pub async fn receive(
    mut multipart: Multipart,
    incoming: &Path,
    keys: KeyChoice<'_>,
    max_bytes: u64,
    what: &str,
    consumed: &std::sync::atomic::AtomicU64,
    accept: impl Fn(&Sniffed) -> bool,
) -> Result<Upload, ApiError> {
    use std::sync::atomic::Ordering;
    let mut upload = Upload {
        session_id: None,
        fields: Vec::new(),
        file: None,
    };
    let mut fields = 0usize;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, what))?
    {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(ApiError::validation(format!(
                "the form has more than {MAX_FIELDS} fields"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            let mut text = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, what))? {
                consumed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                text.extend_from_slice(&chunk);
                if text.len() > TEXT_LIMIT {
                    return Err(ApiError::validation(format!(
                        "field `{}` is longer than {TEXT_LIMIT} bytes",
                        name.chars().take(40).collect::<String>()
                    )));
                }
            }
            let text = String::from_utf8(text)
                .map_err(|_| ApiError::validation("text fields must be UTF-8"))?;
            if name == "sessionId" {
                upload.session_id = Some(text.trim().to_owned());
            } else {
                upload.fields.push((name, text));
            }
            continue;
        }
        if upload.file.is_some() {
            return Err(ApiError::validation("send one `file` field only"));
        }
        let id = uuid::Uuid::new_v4();
        let key = keys.key(upload.session_id.as_deref()).await?;
        let mut encryptor = key
            .encryptor(&id)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot encrypt an upload: {e}")))?;
        let mut sealed = Vec::with_capacity(crate::crypto::stream::DEFAULT_CHUNK * 2);
        let path = incoming.join(format!("{}.part", id.simple()));
        let temp = TempFile {
            path: path.clone(),
            kept: false,
        };
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await
            .map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("cannot create an upload file: {e}"))
            })?;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
        let mut kind: Option<Sniffed> = None;
        let mut bytes = 0u64;
        // A file of the wrong kind is read to its end (up to the limit) but not kept, so the
        // client gets the 415 instead of a broken connection.
        let mut refused: Option<ApiError> = None;
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, what))? {
            consumed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            bytes += chunk.len() as u64;
            if bytes > max_bytes {
                return Err(refused.unwrap_or_else(|| {
                    ApiError::PayloadTooLarge(format!(
                        "{what} is larger than the limit of {max_bytes} bytes"
                    ))
                }));
            }
            if refused.is_some() {
                continue;
            }
            if kind.is_none() {
                let need = SNIFF_LEN - head.len();
                head.extend_from_slice(&chunk[..need.min(chunk.len())]);
                if head.len() >= SNIFF_LEN {
                    match check_kind(&head, what, &accept) {
                        Ok(k) => kind = Some(k),
                        Err(e) => {
                            refused = Some(e);
                            continue;
                        }
                    }
                }
            }
            sealed.clear();
            encryptor.update(&chunk, &mut sealed).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("cannot encrypt an upload: {e}"))
            })?;
            out.write_all(&sealed)
                .await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot write an upload: {e}")))?;
        }
        if let Some(e) = refused {
            return Err(e);
        }
        let kind = match kind {
            Some(k) => k,
            None if bytes == 0 => {
                return Err(ApiError::validation(format!("{what} is empty")));
            }
            None => check_kind(&head, what, &accept)?,
        };
        sealed.clear();
        encryptor
            .finish(&mut sealed)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot encrypt an upload: {e}")))?;
        out.write_all(&sealed)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot write an upload: {e}")))?;
        out.sync_all()
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot sync an upload: {e}")))?;
        upload.file = Some(IncomingFile {
            file: temp,
            id,
            key,
            bytes,
            kind,
        });
    }
    Ok(upload)
}

/// What a refused upload's body is read (and dropped, never written anywhere) before the
/// answer, so a client still sending a small body gets the answer rather than a connection
/// closed under it; a larger or stalled body is cut and the connection closes.
pub const REFUSED_READ_BYTES: u64 = 1 << 20;
pub const REFUSED_READ_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads a refused body without keeping it, at most `max_bytes` and `max_time`.
pub async fn discard(body: axum::body::Body, max_bytes: u64, max_time: std::time::Duration) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > max_bytes {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(max_time, read).await;
}

fn check_kind(
    head: &[u8],
    what: &str,
    accept: &impl Fn(&Sniffed) -> bool,
) -> Result<Sniffed, ApiError> {
    match sniff(head) {
        Some(k) if accept(&k) => Ok(k),
        Some(k) => Err(ApiError::UnsupportedMediaType(format!(
            "{what}: a {} file is not accepted here",
            k.mime
        ))),
        None => Err(ApiError::UnsupportedMediaType(format!(
            "{what}: the file's content is not a format kyc reads (JPEG, PNG or WebP photos; \
             MP4, MOV or WebM/Matroska videos)"
        ))),
    }
}
