//! The comparison job: the accepted ID face against every usable frame of the accepted video
//! (the ID × frame table), the frames against each other, the decision. The table is kept for
//! `GET /api/v1/face-similarity/{comparisonId}` until its records are in the store; the last
//! event carries the decision and writes the comparison (every pair) and decision records.

use super::records::comparison_records;
use super::video::VideoArtifact;
use super::{COMPARISON, ID_FACE, IdFaceArtifact, Inner};
use crate::verify::{FrameRow, IdFace, VerifyOptions, compare_frames};
use actors::session::{
    Artifacts, Decision, Message, SessionId, SessionState, Stage, Step, StepSink,
};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use vision::decision::{Outcome, Verdict};

/// A finished comparison, as the job keeps it in the journal (sealed): what its records are
/// built from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonReport {
    pub comparison_id: uuid::Uuid,
    pub session_id: SessionId,
    /// The decision, its score and its reasons.
    #[serde(flatten)]
    pub verdict: Verdict,
    pub id_capture_id: uuid::Uuid,
    pub video_id: uuid::Uuid,
    pub id_face: IdFace,
    /// The ID × frame table: one row per sampled frame.
    pub pairs: Vec<FrameRow>,
    pub decided_at_ms: u64,
}

pub(super) async fn run(
    inner: &Inner,
    session: SessionId,
    comparison_id: uuid::Uuid,
    steps: &StepSink,
    artifacts: &Artifacts,
) -> anyhow::Result<()> {
    let id: IdFaceArtifact = artifacts
        .get(ID_FACE)?
        .context("the accepted ID photo's face is missing")?;
    let video: VideoArtifact = artifacts
        .get(super::VIDEO)?
        .context("the accepted video's frames are missing")?;
    let policy = VerifyOptions::from_settings(&inner.settings).decision;
    let embedding = id.face.embedding();
    let frames = video.frames;
    let (pairs, verdict) =
        tokio::task::spawn_blocking(move || compare_frames(&embedding, &frames, &policy))
            .await
            .context("the comparison stopped")?;
    let verdict = match video.liveness {
        Some(live) => verdict.with_liveness(live),
        None => verdict,
    };
    let report = ComparisonReport {
        comparison_id,
        session_id: session,
        verdict,
        id_capture_id: id.capture_id,
        video_id: video.video_id,
        id_face: id.info,
        pairs,
        decided_at_ms: actors::session::event::now_ms(),
    };
    artifacts.put(COMPARISON, &report)?;
    let (compared, decided) = comparison_records(&report);
    let records = inner.records(vec![
        crate::records::Record::Comparison(compared),
        crate::records::Record::Decision(decided),
    ]);
    // The event carries the verdict (the table stays behind the comparison id).
    let mut result = serde_json::to_value(&report.verdict)?;
    result["comparisonId"] = serde_json::json!(comparison_id);
    let (to, decision, message) = match report.verdict.decision {
        Outcome::Verified => (
            SessionState::Decided,
            Some(Decision::Verified),
            Message::new(
                "Verified: the face in the video matches the ID card.",
                "인증되었습니다. 영상의 얼굴이 신분증과 일치합니다.",
            ),
        ),
        Outcome::Rejected => (
            SessionState::Decided,
            Some(Decision::Rejected),
            match not_alive(&report.verdict) {
                Some(reason) => Message::new(
                    format!("Rejected: {}.", reason.trim_end_matches('.')),
                    "인증되지 않았습니다. 요청한 동작이 영상에서 확인되지 않았거나 실제 사람이 아닌 것으로 보입니다.",
                ),
                None => Message::new(
                    "Rejected: the face in the video does not match the ID card.",
                    "인증되지 않았습니다. 영상의 얼굴이 신분증과 일치하지 않습니다.",
                ),
            },
        ),
        Outcome::Review => (
            SessionState::Decided,
            Some(Decision::Review),
            Message::new(
                "A person will review this verification.",
                "담당자가 인증 결과를 검토합니다.",
            ),
        ),
        Outcome::Failed => (
            SessionState::Failed,
            None,
            Message::new(
                format!(
                    "Nothing could be decided: {}",
                    report.verdict.reasons.join("; ")
                ),
                "판정할 수 없습니다. 새 세션을 시작해 주세요.",
            ),
        ),
    };
    let step = Step::reached(to, Stage::Comparing, message)
        .with_decision(decision)
        .with_result(result)
        .with_records(records)
        .ending_job();
    steps.step(step).await?;
    Ok(())
}

/// Why liveness failed, as the person may read it (no figures: with them a spoof can be tuned),
/// if it did: what the challenge missed, or that no live person was seen.
fn not_alive(v: &vision::decision::Verdict) -> Option<String> {
    use vision::liveness::verdict::Finding;
    let live = v.liveness.as_ref()?;
    if live.finding != Finding::Failed {
        return None;
    }
    Some(if live.challenge.finding == Finding::Failed {
        live.challenge.reason.clone()
    } else {
        "the video does not show a live person in front of the camera".into()
    })
}
