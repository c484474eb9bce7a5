//! The ID photo job: the capture quality gate, the card found and rectified, the fields read
//! (kept only masked), the holder's photo cut out and embedded. A photo that fails a check
//! leaves the session in `id_capture` with what to fix; a good one moves it to `id_accepted`.
//! The job's last step records the stored photo, the fields read (sealed) and, when accepted,
//! the card's face (its embedding sealed).

use super::mask::mask_field;
use super::records::{document_read, id_face_samples};
use super::{CHALLENGE, ID_CAPTURE, ID_FACE, IdFaceArtifact, Inner, progress};
use crate::cluster::wire::FaceResult;
use crate::engines::EngineError;
use crate::records::Record;
use crate::verify::IdFace;
use actors::session::{Artifacts, Message, SessionState, Stage, Step, StepSink};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use vision::card::read::CardReader;
use vision::card::rectify::{photo_region, rectify};
use vision::card::{DocumentType, ID1_ASPECT};
use vision::decode_image;
use vision::liveness::challenge::Challenge;
use vision::liveness::verdict::Mode;
use vision::quality::QualityReport;

/// What `GET /api/v1/id-capture/{sessionId}` shows of the last ID photo (no personal data in
/// clear).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdCaptureStatus {
    pub capture_id: uuid::Uuid,
    /// `processing`, `accepted` or `retake`.
    pub status: String,
    /// What to fix, in both languages (empty when accepted).
    pub guidance: Vec<Message>,
    /// The quality gate's checks (sharpness, lighting, angle, completeness) with scores.
    #[schema(value_type = Option<Object>)]
    pub quality: Option<serde_json::Value>,
    /// `resident_registration_card`, `driver_licence`, `id_card_td1`, `passport_td3`, `unknown`.
    #[schema(value_type = Option<String>)]
    pub document_type: Option<DocumentType>,
    /// The fields read, masked, with Tesseract's confidence.
    pub fields: BTreeMap<String, MaskedField>,
    pub warnings: Vec<String>,
    pub face: Option<IdFace>,
    /// The liveness challenge for the selfie video, drawn when the card is accepted
    /// (liveness mode `challenge`): the actions to perform, in order, with its nonce and the
    /// time its video must be uploaded by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Challenge>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaskedField {
    pub value: String,
    pub confidence: f32,
    /// Where on the rectified card it was read: `[x, y, w, h]`, fractions of the card's width
    /// and height (absent for MRZ fields).
    #[serde(rename = "box", default, skip_serializing_if = "Option::is_none")]
    pub region: Option<[f32; 4]>,
}

impl IdCaptureStatus {
    pub fn processing(capture_id: uuid::Uuid) -> Self {
        Self {
            capture_id,
            status: "processing".into(),
            guidance: Vec::new(),
            quality: None,
            document_type: None,
            fields: BTreeMap::new(),
            warnings: Vec::new(),
            face: None,
            challenge: None,
        }
    }
}

/// The card as read from one photo.
struct Reading {
    quality: QualityReport,
    card: Option<vision::opencv::core::Mat>,
}

/// Decodes the photo and runs the quality gate; rectifies the card when it passes.
fn inspect(bytes: &[u8], limits: vision::ImageLimits) -> Result<Reading, RetakeReason> {
    let image = decode_image(bytes, limits).map_err(|e| {
        RetakeReason::message(
            &format!("The photo cannot be read ({e}). Send a JPEG or PNG photo of the card."),
            "사진을 읽을 수 없습니다. 신분증을 JPEG 또는 PNG 사진으로 보내 주세요.",
        )
    })?;
    let quality = vision::quality::assess(&image.mat).map_err(RetakeReason::internal)?;
    if !quality.passed {
        return Ok(Reading {
            quality,
            card: None,
        });
    }
    let card = match &quality.quad {
        Some(quad) => rectify(&image.mat, quad).map_err(RetakeReason::internal)?,
        None => {
            // A photo that is itself a cropped card (ID-1 proportions) is read as it is.
            let aspect = image.width() as f32 / image.height().max(1) as f32;
            if (aspect - ID1_ASPECT).abs() >= 0.12 {
                return Err(RetakeReason::message(
                    "No ID card found: place the whole card in the frame, on a plain background.",
                    "신분증을 찾지 못했습니다. 단색 배경 위에 신분증 전체가 보이게 찍어 주세요.",
                ));
            }
            image.mat.clone()
        }
    };
    Ok(Reading {
        quality,
        card: Some(card),
    })
}

/// Why a photo must be taken again, or an internal failure.
enum RetakeReason {
    Retake(Message),
    Internal(anyhow::Error),
}

impl RetakeReason {
    fn message(en: &str, ko: &str) -> Self {
        Self::Retake(Message::new(en, ko))
    }

    fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }
}

/// Card readers kept loaded between jobs (Tesseract takes ≈ 0.2 s to load its data): a job
/// takes a free one, or loads one when none is free, and gives it back. There are never more
/// than the jobs that ran at once.
pub(crate) struct Readers {
    tessdata: PathBuf,
    free: std::sync::Mutex<Vec<CardReader>>,
}

impl Readers {
    pub(crate) fn new(tessdata: PathBuf) -> Self {
        Self {
            tessdata,
            free: std::sync::Mutex::default(),
        }
    }

    fn take(&self) -> anyhow::Result<CardReader> {
        let free = self.free.lock().ok().and_then(|mut f| f.pop());
        match free {
            Some(r) => Ok(r),
            None => CardReader::with_mrz_model(None, Some(&self.tessdata))
                .context("loading the OCR models"),
        }
    }

    fn give_back(&self, reader: CardReader) {
        if let Ok(mut f) = self.free.lock() {
            f.push(reader);
        }
    }
}

/// One ID photo job: where its steps and results go.
struct IdJob<'a> {
    inner: &'a Inner,
    session: actors::session::SessionId,
    capture_id: uuid::Uuid,
    /// The stored photo.
    file: PathBuf,
    mode: Mode,
    steps: &'a StepSink,
    artifacts: &'a Artifacts,
    /// Records for the job's last step, gathered as the job learns them (the fields read).
    found: std::sync::Mutex<Vec<Record>>,
}

/// What the next step of the job works on, or that the photo must be taken again.
enum Next<T> {
    Go(T),
    Retake(Box<IdCaptureStatus>, Message),
}

/// An ID photo job: the stored upload, and the session's liveness mode (whether a challenge
/// is drawn when the card is accepted).
pub(super) struct Upload {
    pub capture_id: uuid::Uuid,
    pub file: PathBuf,
    pub mode: Mode,
}

pub(super) async fn run(
    inner: &Inner,
    session: actors::session::SessionId,
    upload: Upload,
    steps: &StepSink,
    artifacts: &Artifacts,
) -> anyhow::Result<()> {
    let Upload {
        capture_id,
        file,
        mode,
    } = upload;
    let job = IdJob {
        inner,
        session,
        capture_id,
        file: file.clone(),
        mode,
        steps,
        artifacts,
        found: std::sync::Mutex::default(),
    };
    artifacts.put(ID_CAPTURE, &IdCaptureStatus::processing(capture_id))?;
    let (card, checks) = match job.check_quality(&file).await? {
        Next::Go(found) => found,
        Next::Retake(status, message) => return job.retake(*status, message).await,
    };
    let (status, crop) = job.read_card(card, checks).await?;
    match job.card_face(status, crop).await? {
        Next::Go((status, face)) => job.accept(status, face).await,
        Next::Retake(status, message) => job.retake(*status, message).await,
    }
}

impl IdJob<'_> {
    /// Keeps `record` for the job's last step.
    fn keep(&self, record: Record) {
        if let Ok(mut f) = self.found.lock() {
            f.push(record);
        }
    }

    /// The last step's records: the stored photo, then what the job found.
    async fn records(&self, last: Option<Record>) -> anyhow::Result<actors::session::StepRecords> {
        let mut all = vec![
            self.inner
                .media_record(self.capture_id, "id_image", &self.file)
                .await?,
        ];
        if let Ok(mut f) = self.found.lock() {
            all.append(&mut f);
        }
        all.extend(last);
        Ok(self.inner.records(all))
    }

    async fn progress(
        &self,
        percent: u8,
        message: Message,
        result: serde_json::Value,
    ) -> anyhow::Result<()> {
        progress(
            self.steps,
            SessionState::IdCapture,
            Stage::IdCapture,
            percent,
            message,
            Some(result),
        )
        .await
    }

    /// The stored photo through the capture quality gate: the rectified card and the checks,
    /// or what to fix.
    async fn check_quality(
        &self,
        file: &std::path::Path,
    ) -> anyhow::Result<Next<(vision::opencv::core::Mat, serde_json::Value)>> {
        let capture_id = self.capture_id;
        // Decrypted into memory for this job only (at most `max_image_bytes`).
        let (media, session, path) = (
            Arc::clone(&self.inner.media),
            self.session,
            file.to_path_buf(),
        );
        let max = self.inner.settings.sessions.max_image_bytes;
        let bytes = tokio::task::spawn_blocking(move || {
            media.read_stored(&session, &capture_id, &path, max)
        })
        .await
        .context("the photo reader stopped")?
        .context("reading the stored ID photo")?;
        let limits = crate::engines::image_limits(&self.inner.settings);
        let inspected = tokio::task::spawn_blocking(move || inspect(&bytes, limits))
            .await
            .context("the quality gate stopped")?;
        let reading = match inspected {
            Ok(r) => r,
            Err(RetakeReason::Retake(m)) => {
                return Ok(Next::Retake(
                    Box::new(IdCaptureStatus::processing(capture_id)),
                    m,
                ));
            }
            Err(RetakeReason::Internal(e)) => return Err(e),
        };
        let checks = serde_json::to_value(&reading.quality.checks)?;
        let Some(card) = reading.card else {
            let first = reading
                .quality
                .checks
                .guidance()
                .first()
                .map(|m| Message::new(m.en.clone(), m.ko.clone()))
                .unwrap_or_else(|| {
                    Message::new("Take the photo again.", "사진을 다시 찍어 주세요.")
                });
            let mut status = IdCaptureStatus::processing(capture_id);
            status.quality = Some(checks);
            return Ok(Next::Retake(Box::new(status), first));
        };
        self.progress(
            40,
            Message::new(
                "Photo quality is good; reading the card",
                "사진 품질이 좋습니다. 신분증을 읽고 있습니다",
            ),
            serde_json::json!({ "captureId": capture_id, "quality": checks }),
        )
        .await?;
        Ok(Next::Go((card, checks)))
    }

    /// Reads the card (fields kept masked) and cuts out its photo.
    async fn read_card(
        &self,
        card: vision::opencv::core::Mat,
        checks: serde_json::Value,
    ) -> anyhow::Result<(IdCaptureStatus, Option<vision::opencv::core::Mat>)> {
        let readers = Arc::clone(&self.inner.readers);
        let (reading, crop) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut ocr = readers.take()?;
            let read = ocr.read(&card).context("reading the card");
            readers.give_back(ocr);
            let read = read?;
            let doc = match read.document_type {
                DocumentType::Unknown => DocumentType::ResidentRegistrationCard,
                d => d,
            };
            let crop = photo_region(&card, doc).ok();
            Ok((read, crop))
        })
        .await
        .context("the card reader stopped")??;
        // The fields in full leave this job only sealed with the session's key.
        let doc_kind = serde_json::to_value(reading.document_type)?
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        let read = document_read(
            &self.inner.data_key(&self.session)?,
            &self.session,
            self.capture_id,
            &doc_kind,
            &reading.fields,
        )?;
        self.keep(read);
        let fields: BTreeMap<String, MaskedField> = reading
            .fields
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    MaskedField {
                        value: mask_field(reading.document_type, k, &v.value),
                        confidence: v.confidence,
                        region: v.region,
                    },
                )
            })
            .collect();
        self.progress(
            70,
            Message::new(
                "Card read; finding the face on it",
                "신분증을 읽었습니다. 얼굴을 찾고 있습니다",
            ),
            serde_json::json!({
                "captureId": self.capture_id,
                "documentType": reading.document_type,
                "fields": fields,
            }),
        )
        .await?;
        let status = IdCaptureStatus {
            capture_id: self.capture_id,
            status: "accepted".into(),
            guidance: Vec::new(),
            quality: Some(checks),
            document_type: Some(reading.document_type),
            fields,
            warnings: reading.warnings.clone(),
            face: None,
            challenge: None,
        };
        Ok((status, crop))
    }

    /// The face on the card's photo, embedded; no photo zone or no face in it: retake.
    async fn card_face(
        &self,
        status: IdCaptureStatus,
        crop: Option<vision::opencv::core::Mat>,
    ) -> anyhow::Result<Next<(IdCaptureStatus, FaceResult)>> {
        let face = match crop {
            Some(crop) => {
                let key = self.inner.job_key(&self.session)?;
                match self.inner.engines.face(self.session, &key, &crop).await {
                    Ok(f) => Some(f),
                    Err(EngineError::Failed(e)) if e.bad_input => None,
                    Err(e) => {
                        return Err(anyhow::Error::new(e))
                            .context("the face engine failed on the ID photo");
                    }
                }
            }
            None => None,
        };
        Ok(match face {
            Some(face) => Next::Go((status, face)),
            None => Next::Retake(
                Box::new(status),
                Message::new(
                    "No face found on the card's photo: make sure the photo is not covered or in glare.",
                    "신분증 사진에서 얼굴을 찾지 못했습니다. 사진이 가려지거나 빛이 반사되지 않게 해 주세요.",
                ),
            ),
        })
    }

    /// Keeps the card face for the comparison and moves the session to `id_accepted`.
    async fn accept(&self, mut status: IdCaptureStatus, face: FaceResult) -> anyhow::Result<()> {
        let FaceResult { sample, info } = face;
        status.face = Some(info.clone());
        let samples = id_face_samples(
            &self.inner.data_key(&self.session)?,
            &self.session,
            self.capture_id,
            &sample,
            info.detection_score,
        )?;
        self.artifacts.put(
            ID_FACE,
            &IdFaceArtifact {
                capture_id: self.capture_id,
                face: sample,
                info,
            },
        )?;
        // The challenge for the video the person records next.
        status.challenge = super::challenge::draw(&self.inner.settings, self.mode)?;
        if let Some(c) = &status.challenge {
            self.artifacts.put(CHALLENGE, c)?;
        }
        self.artifacts.put(ID_CAPTURE, &status)?;
        let mut message = Message::new(
            "ID card accepted. Now record the selfie video.",
            "신분증이 확인되었습니다. 이제 셀피 영상을 찍어 주세요.",
        );
        if let Some(c) = &status.challenge {
            let asked = super::challenge::prompts(c);
            message.en = format!("{} {}", message.en, asked.en);
            message.ko = format!("{} {}", message.ko, asked.ko);
        }
        let step = Step::reached(SessionState::IdAccepted, Stage::IdCapture, message)
            .with_result(serde_json::to_value(&status)?)
            .with_records(self.records(Some(samples)).await?)
            .ending_job();
        self.steps.step(step).await?;
        Ok(())
    }

    /// Ends the job with the session still in `id_capture`: the photo must be taken again
    /// because of `message`. `status` is what was learnt of the photo so far.
    async fn retake(&self, mut status: IdCaptureStatus, message: Message) -> anyhow::Result<()> {
        status.status = "retake".into();
        status.guidance = vec![message.clone()];
        self.artifacts.put(ID_CAPTURE, &status)?;
        let step = Step::reached(SessionState::IdCapture, Stage::IdCapture, message)
            .with_result(serde_json::to_value(&status)?)
            .with_records(self.records(None).await?)
            .ending_job();
        self.steps.step(step).await?;
        Ok(())
    }
}
