//! Accuracy on the 300 labelled pairs of ../shared/testdata/faces at the shipped threshold.

use crate::{pool, settings};
use kyc::photo_pair::compare_photos;
use std::collections::HashMap;
use std::sync::Arc;
use test_support::faces_dir;
use vision::EngineKind;

struct Pair {
    a: String,
    b: String,
    same: bool,
}

fn pairs(dir: &std::path::Path) -> Vec<Pair> {
    let mut r = csv::Reader::from_path(dir.join("pairs.csv")).expect("pairs.csv");
    r.records()
        .map(|rec| {
            let rec = rec.expect("csv row");
            Pair {
                a: rec[0].to_string(),
                b: rec[1].to_string(),
                same: &rec[2] == "Yes",
            }
        })
        .collect()
}

struct Outcome {
    accuracy: f64,
    false_accepts: usize,
    false_rejects: usize,
    genuine: (f32, f32),
    impostor: (f32, f32),
}

async fn evaluate(kind: Option<EngineKind>) -> Outcome {
    let dir = faces_dir();
    let settings = settings();
    let threshold = settings.engine.match_threshold;
    let pool = pool(&settings, kind, 2).await;
    let mut bytes: HashMap<String, Arc<[u8]>> = HashMap::new();
    let pairs = pairs(&dir);
    assert_eq!(pairs.len(), 300);
    let (mut correct, mut fa, mut fr) = (0, 0, 0);
    let (mut genuine, mut imp) = ((f32::MAX, f32::MIN), (f32::MAX, f32::MIN));
    for p in &pairs {
        for n in [&p.a, &p.b] {
            bytes
                .entry(n.clone())
                .or_insert_with(|| Arc::from(std::fs::read(dir.join(n)).expect("photo")));
        }
        let r = compare_photos(&pool, bytes[&p.a].clone(), bytes[&p.b].clone(), threshold)
            .await
            .unwrap_or_else(|e| panic!("{} vs {}: {e}", p.a, p.b));
        let s = r.similarity;
        if p.same {
            genuine = (genuine.0.min(s), genuine.1.max(s));
        } else {
            imp = (imp.0.min(s), imp.1.max(s));
        }
        match (p.same, r.is_match) {
            (true, true) | (false, false) => correct += 1,
            (false, true) => fa += 1,
            (true, false) => fr += 1,
        }
    }
    pool.stop().await;
    let o = Outcome {
        accuracy: correct as f64 / pairs.len() as f64,
        false_accepts: fa,
        false_rejects: fr,
        genuine,
        impostor: imp,
    };
    eprintln!(
        "engine {:?} at threshold {threshold}: accuracy {:.2}% ({} false accepts, {} false rejects); genuine {:.3}..{:.3}, impostor {:.3}..{:.3}",
        kind.map(|k| k.to_string()).unwrap_or("configured".into()),
        o.accuracy * 100.0,
        o.false_accepts,
        o.false_rejects,
        o.genuine.0,
        o.genuine.1,
        o.impostor.0,
        o.impostor.1
    );
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_engine_is_accurate_with_no_false_accepts() {
    let o = evaluate(Some(EngineKind::Hybrid)).await;
    assert!(o.accuracy >= 0.99, "accuracy {}", o.accuracy);
    assert_eq!(o.false_accepts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_single_engine_separates_the_pairs() {
    for kind in [EngineKind::Insightface, EngineKind::Opencv] {
        let o = evaluate(Some(kind)).await;
        assert!(o.accuracy >= 0.98, "{kind}: accuracy {}", o.accuracy);
        assert_eq!(o.false_accepts, 0, "{kind}");
    }
}
