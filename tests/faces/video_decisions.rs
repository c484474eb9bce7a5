//! The video decision calibrated on the real labelled photos: one selfie-like clip per person
//! (made from that person's first photo), verified against every other photo of the set. Every
//! genuine ID photo must give `verified`, every other person `rejected`; nothing may land in
//! `review` or `failed` on these clean clips. The scores printed here are the ones documented
//! in BENCHMARKS.md.

use crate::{pool, settings};
use kyc::verify::{VerifyOptions, verify};
use std::collections::BTreeMap;
use std::sync::Arc;
use test_support::faces_dir;
use test_support::video::clip;
use vision::decision::Outcome;

/// Person of each photo: the groups pairs.csv's "Yes" rows join.
fn people(dir: &std::path::Path) -> BTreeMap<String, usize> {
    let mut r = csv::Reader::from_path(dir.join("pairs.csv")).expect("pairs.csv");
    let mut group: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = 0;
    for rec in r.records() {
        let rec = rec.expect("row");
        let (a, b) = (rec[0].to_string(), rec[1].to_string());
        for n in [&a, &b] {
            if !group.contains_key(n) {
                group.insert(n.clone(), next);
                next += 1;
            }
        }
        if &rec[2] == "Yes" {
            let (ga, gb) = (group[&a], group[&b]);
            for g in group.values_mut() {
                if *g == gb {
                    *g = ga;
                }
            }
        }
    }
    group
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_of_every_person_are_verified_against_their_own_photos_only() {
    let dir = faces_dir();
    let people = people(&dir);
    let settings = settings();
    let opts = VerifyOptions::from_settings(&settings);
    let pool = pool(&settings, None, 2).await;
    let tmp = tempfile::tempdir().expect("tmp");
    // One clip per person, from the photo with the lowest number.
    let mut sources: BTreeMap<usize, String> = BTreeMap::new();
    let number = |n: &str| {
        n.trim_matches(|c: char| !c.is_ascii_digit())
            .parse::<u32>()
            .ok()
    };
    for (name, &g) in &people {
        let better = sources.get(&g).is_none_or(|cur| number(name) < number(cur));
        if better {
            sources.insert(g, name.clone());
        }
    }
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    let mut wrong = Vec::new();
    for (&g, source) in &sources {
        let video = clip(tmp.path(), source, 2, "", &format!("{source}.mp4"));
        for (id, &h) in &people {
            if id == source {
                continue;
            }
            let bytes: Arc<[u8]> = Arc::from(std::fs::read(dir.join(id)).expect("photo"));
            let r = verify(&pool, bytes, video.clone(), &opts, None, &|_| {})
                .await
                .unwrap_or_else(|e| panic!("{id} vs clip of {source}: {e}"));
            let score = r.verdict.score.unwrap_or(f32::NAN);
            let expected = if g == h {
                genuine.push(score);
                Outcome::Verified
            } else {
                impostor.push(score);
                Outcome::Rejected
            };
            if r.verdict.decision != expected {
                wrong.push(format!(
                    "{id} vs clip of {source}: {} (score {score:.3}; {:?})",
                    r.verdict.decision, r.verdict.reasons
                ));
            }
        }
    }
    pool.stop().await;
    let range = |v: &[f32]| {
        (
            v.iter().copied().fold(f32::MAX, f32::min),
            v.iter().copied().fold(f32::MIN, f32::max),
        )
    };
    let (g, i) = (range(&genuine), range(&impostor));
    eprintln!(
        "{} clips × {} ID photos: {} genuine (scores {:.3}..{:.3}), {} impostor (scores {:.3}..{:.3}); wrong: {}",
        sources.len(),
        people.len() - 1,
        genuine.len(),
        g.0,
        g.1,
        impostor.len(),
        i.0,
        i.1,
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
    // 25 photos of 9 people: 16 genuine pairs (clip, other photo), 200 impostor ones.
    assert_eq!((genuine.len(), impostor.len()), (16, 200));
}
