//! The selfie video job: probe, sample, a face analysis and quality score per frame, with a
//! progress event per analysed frame. Enough usable frames move the session to
//! `video_accepted` (the frames are kept for the comparison); too few leave it in `video`
//! with the main reason ("too dark (12 of 12 frames)"). The job's last step records the stored
//! video and, when accepted, the faces of its frames (embeddings sealed).

use super::records::video_face_samples;
use super::{CHALLENGE, Inner, VIDEO, progress};
use crate::cluster::wire::JobProgress;
use crate::engines::{EngineError, VideoWork};
use crate::verify::{AssessedFrame, VerifyOptions};
use actors::session::{Artifacts, Message, SessionState, Stage, Step, StepSink};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use vision::decision;
use vision::liveness::challenge::Challenge;
use vision::liveness::verdict::{LivenessVerdict, Mode};

/// The analysed video, kept for the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VideoArtifact {
    pub video_id: uuid::Uuid,
    pub frame_count: u64,
    pub duration_s: f64,
    pub frames: Vec<AssessedFrame>,
    /// Whether the person was present and performed the challenge (absent in journals from
    /// before liveness).
    #[serde(default)]
    pub liveness: Option<LivenessVerdict>,
}

/// A video job: the stored upload and when its reading must have ended.
pub(super) struct VideoJob {
    pub video_id: uuid::Uuid,
    pub file: PathBuf,
    pub deadline: std::time::Instant,
    /// The session's liveness mode.
    pub mode: Mode,
}

pub(super) async fn run(
    inner: &Inner,
    session: actors::session::SessionId,
    job: VideoJob,
    steps: &StepSink,
    artifacts: &Artifacts,
) -> anyhow::Result<()> {
    let VideoJob {
        video_id,
        file,
        deadline,
        mode,
    } = job;
    let (state, stage) = (SessionState::Video, Stage::Video);
    let mut opts = VerifyOptions::from_settings(&inner.settings);
    opts.limits.deadline = Some(deadline);
    opts.liveness.policy.mode = mode;
    let stored = inner.media_record(video_id, "video", &file).await?;
    let challenge: Option<Challenge> = match mode {
        Mode::Challenge => artifacts.get(CHALLENGE)?,
        Mode::Off | Mode::Passive => None,
    };
    let now = actors::session::event::now_ms();
    let refused = match &challenge {
        _ if mode != Mode::Challenge => None,
        // The tenant turned the challenge on after the card was accepted.
        None => Some((
            "CHALLENGE_MISSING",
            "No challenge was set for this video yet. Record it again.",
            "영상에 대한 요청 동작이 아직 없었습니다. 다시 찍어 주세요.",
        )),
        Some(c) if now > c.deadline_ms => Some((
            "CHALLENGE_EXPIRED",
            "The video came after its challenge expired. Record it again.",
            "영상 제출 시간이 지났습니다. 다시 찍어 주세요.",
        )),
        Some(_) => None,
    };
    if let Some((code, en, ko)) = refused {
        // A new challenge, and the video is recorded again for it.
        let fresh = super::challenge::draw(&inner.settings, mode)?;
        if let Some(f) = &fresh {
            artifacts.put(CHALLENGE, f)?;
        }
        let asked = fresh.as_ref().map(super::challenge::prompts);
        let step = Step::reached(
            state,
            stage,
            Message::new(
                format!(
                    "{en} {}",
                    asked.as_ref().map(|m| m.en.as_str()).unwrap_or_default()
                ),
                format!(
                    "{ko} {}",
                    asked.as_ref().map(|m| m.ko.as_str()).unwrap_or_default()
                ),
            ),
        )
        .with_result(serde_json::json!({
            "videoId": video_id,
            "accepted": false,
            "code": code,
            "challenge": fresh,
        }))
        .with_records(inner.records(vec![stored]))
        .ending_job();
        steps.step(step).await?;
        return Ok(());
    }
    // FFmpeg reads a path: the video decrypted into an unnamed file that lives as long as this
    // job (dropped at the end of this function, or freed by the kernel if the process dies).
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("bin")
        .to_owned();
    let media = std::sync::Arc::clone(&inner.media);
    let plain = tokio::task::spawn_blocking(move || media.plain_file(&session, &video_id, &file))
        .await
        .context("the video decryptor stopped")?
        .context("decrypting the stored video")?;
    let key = inner.job_key(&session)?;
    let work = VideoWork {
        session,
        key: &key,
        path: plain.path().to_path_buf(),
        ext,
        opts,
        mode,
        asked: challenge.as_ref().map(|c| c.actions.clone()),
        deadline_ms: now
            + deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_millis() as u64,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JobProgress>();
    let analysis = async {
        let report = move |p: JobProgress| {
            let _ = tx.send(p);
        };
        inner.engines.video(work, &report).await
    };
    // Each analysed frame is an event (journaled in order by the session's actor).
    let forward = async {
        while let Some(p) = rx.recv().await {
            let (percent, message, result) = match p {
                JobProgress::Probed { frames } => (
                    10,
                    Message::new(
                        "Video opened; sampling frames",
                        "영상을 열었습니다. 프레임을 고르고 있습니다",
                    ),
                    serde_json::json!({ "videoId": video_id, "framesPlanned": frames }),
                ),
                JobProgress::Analysed { done, total } => (
                    (10 + 85 * done / total.max(1)).min(95) as u8,
                    Message::new(
                        format!("Analysed frame {done} of {total}"),
                        format!("프레임 {total}개 중 {done}개를 분석했습니다"),
                    ),
                    serde_json::json!({ "videoId": video_id, "framesAnalysed": done, "framesPlanned": total }),
                ),
            };
            progress(steps, state, stage, percent, message, Some(result)).await?;
        }
        anyhow::Ok(())
    };
    let (analysed, forwarded) = tokio::join!(analysis, forward);
    forwarded?;
    let analysed = match analysed {
        Ok(a) => a,
        Err(EngineError::Failed(e)) if e.bad_input => {
            let step = Step::reached(
                state,
                stage,
                Message::new(
                    format!("The video cannot be used ({e}). Record it again."),
                    "영상을 사용할 수 없습니다. 다시 찍어 주세요.",
                ),
            )
            .with_result(
                serde_json::json!({ "videoId": video_id, "accepted": false, "code": e.code }),
            )
            .with_records(inner.records(vec![stored]))
            .ending_job();
            steps.step(step).await?;
            return Ok(());
        }
        Err(e) => return Err(anyhow::Error::new(e)).context("analysing the video"),
    };
    drop(plain);
    // Whether enough frames are usable is the decision's own rule; the comparison comes later.
    let kept = analysed.frames.iter().filter(|f| f.kept).count();
    let evidence: Vec<_> = analysed.frames.iter().map(|f| f.evidence(None)).collect();
    let too_few = decision::too_few_frames(&evidence, kept, &opts.decision);
    let summary = serde_json::json!({
        "videoId": video_id,
        "framesSampled": analysed.frames.len(),
        "framesKept": kept,
        "frameCount": analysed.frame_count,
        "durationS": analysed.duration_s,
    });
    if let Some(reason) = too_few {
        let mut result = summary;
        result["accepted"] = false.into();
        result["reasons"] = serde_json::json!([reason]);
        let step = Step::reached(
            state,
            stage,
            Message::new(
                format!("Too few usable frames: {reason}. Record the video again."),
                "사용할 수 있는 프레임이 부족합니다. 영상을 다시 찍어 주세요.",
            ),
        )
        .with_result(result)
        .with_records(inner.records(vec![stored]))
        .ending_job();
        steps.step(step).await?;
        return Ok(());
    }
    let liveness = analysed.liveness;
    let samples = video_face_samples(
        &inner.data_key(&session)?,
        &session,
        video_id,
        &analysed.frames,
    )?;
    artifacts.put(
        VIDEO,
        &VideoArtifact {
            video_id,
            frame_count: analysed.frame_count,
            duration_s: analysed.duration_s,
            frames: analysed.frames,
            liveness: Some(liveness.clone()),
        },
    )?;
    let mut result = summary;
    result["accepted"] = true.into();
    let step = Step::reached(
        SessionState::VideoAccepted,
        stage,
        Message::new("Video accepted", "영상이 확인되었습니다"),
    )
    .with_result(result)
    .with_records(inner.records(vec![stored, samples]))
    .ending_job();
    steps.step(step).await?;
    Ok(())
}
