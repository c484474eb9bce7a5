//! Encryption at rest over the real API: after a whole session (ID card photo, selfie video,
//! decision) no 64-byte run of either upload is anywhere in the data folder, the folder is
//! private, the stored media are 0600, and the session still reaches its decision — also when
//! the form sends the file before the session id (the upload is then re-encrypted under the
//! session's key as it is kept).

use super::helpers::{Client, card_image, spawn, video};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);
pub(super) const RUN: usize = 64;

/// 64-byte runs of `data` at many offsets, keyed by their first 8 bytes.
pub(super) fn runs(data: &[u8], every: usize) -> HashMap<[u8; 8], Vec<[u8; RUN]>> {
    let mut out: HashMap<[u8; 8], Vec<[u8; RUN]>> = HashMap::new();
    let mut at = 0;
    while at + RUN <= data.len() {
        let mut run = [0u8; RUN];
        run.copy_from_slice(&data[at..at + RUN]);
        let mut head = [0u8; 8];
        head.copy_from_slice(&run[..8]);
        out.entry(head).or_default().push(run);
        at += every;
    }
    out
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("ls").flatten() {
        let p = e.path();
        if e.file_type().expect("type").is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file under `dir` holding one of `runs`, with the offset.
pub(super) fn found_in(
    dir: &Path,
    runs: &HashMap<[u8; 8], Vec<[u8; RUN]>>,
) -> Vec<(PathBuf, usize)> {
    let mut all = Vec::new();
    files(dir, &mut all);
    let mut hits = Vec::new();
    for f in all {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for i in 0..bytes.len().saturating_sub(RUN - 1) {
            let mut head = [0u8; 8];
            head.copy_from_slice(&bytes[i..i + 8]);
            if let Some(cands) = runs.get(&head)
                && cands.iter().any(|r| r[..] == bytes[i..i + RUN])
            {
                hits.push((f.clone(), i));
                break;
            }
        }
    }
    hits
}

/// Uploads with `file` before `sessionId` in the form.
async fn upload_file_first(client: &Client<'_>, path: &str, file: Vec<u8>, name: &str) -> u16 {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(file).file_name(name.to_owned()),
        )
        .text("sessionId", client.id.clone());
    let res = client
        .server
        .client
        .post(client.server.url(path))
        .bearer_auth(&client.token)
        .multipart(form)
        .send()
        .await
        .expect("send");
    res.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_upload_is_readable_in_the_data_folder_and_the_session_is_decided() {
    let server = spawn(&[]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let card = card_image("img1.jpg", 11);
    let clip = std::fs::read(video(tmp.path(), "img2.jpg", 4)).expect("clip");
    let mut needles = runs(&card, 61);
    for (k, v) in runs(&clip, 61) {
        needles.entry(k).or_default().extend(v);
    }
    // The needles do find a plaintext copy (the search itself works).
    let control = tmp.path().join("control");
    std::fs::create_dir_all(&control).expect("mkdir");
    std::fs::write(control.join("clip"), &clip[1000..]).expect("write");
    assert_eq!(found_in(&control, &needles).len(), 1);

    for file_first in [false, true] {
        let client = Client::create(&server).await;
        let mut w = client.watch(0).await;
        if file_first {
            let s = upload_file_first(&client, "/api/v1/id-capture", card.clone(), "card.png");
            assert_eq!(s.await, 202);
        } else {
            let (s, body) = client
                .upload("/api/v1/id-capture", card.clone(), "card.png")
                .await;
            assert_eq!(s, 202, "{body}");
        }
        let e = w.state(STEP, "id_accepted").await;
        assert_eq!(e["state"], "id_accepted", "{e}");
        if file_first {
            let s = upload_file_first(&client, "/api/v1/face-video", clip.clone(), "selfie.mp4");
            assert_eq!(s.await, 202);
        } else {
            let (s, body) = client
                .upload("/api/v1/face-video", clip.clone(), "selfie.mp4")
                .await;
            assert_eq!(s, 202, "{body}");
        }
        let e = w.state(STEP, "video_accepted").await;
        assert_eq!(e["state"], "video_accepted", "{e}");
        let (s, body) = client.compare().await;
        assert_eq!(s, 202, "{body}");
        let last = w
            .until(STEP, |e| e["state"] == "decided" || e["state"] == "failed")
            .await;
        assert_eq!(last["decision"], "verified", "{last}");

        let session_dir = server
            .data_dir
            .path()
            .join("media")
            .join(client.id.replace('-', ""));
        let mut stored = Vec::new();
        files(&session_dir, &mut stored);
        // The wrapped key, the photo and the video.
        assert_eq!(stored.len(), 3, "{stored:?}");
        for f in &stored {
            let mode = std::fs::metadata(f).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
        }
    }
    let data = server.data_dir.path();
    let mode = std::fs::metadata(data)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // Nothing of a job's plaintext is left in the work folder.
    assert_eq!(std::fs::read_dir(data.join("work")).expect("ls").count(), 0);
    let hits = found_in(data, &needles);
    assert!(hits.is_empty(), "plaintext of an upload found: {hits:?}");
    server.stop().await;
}
