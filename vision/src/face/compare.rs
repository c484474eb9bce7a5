//! Comparing two embeddings: cosine similarity, refused across different recognizers.

use crate::error::{Result, VisionError};
use serde::Serialize;

use super::Embedding;

/// The outcome of comparing two embeddings at a threshold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Comparison {
    /// Cosine similarity in −1..1.
    pub similarity: f32,
    pub threshold: f32,
    #[serde(rename = "match")]
    pub is_match: bool,
}

/// Cosine similarity of two L2-normalised embeddings from the same recognizer model.
pub fn compare(a: &Embedding, b: &Embedding, threshold: f32) -> Result<Comparison> {
    if a.model != b.model || a.vector.len() != b.vector.len() {
        return Err(VisionError::IncompatibleEmbeddings(
            a.model.clone(),
            b.model.clone(),
        ));
    }
    let similarity: f32 = a.vector.iter().zip(&b.vector).map(|(x, y)| x * y).sum();
    Ok(Comparison {
        similarity,
        threshold,
        is_match: similarity >= threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(v: Vec<f32>, model: &str) -> Embedding {
        Embedding {
            vector: v,
            model: model.into(),
            engine: "test".into(),
        }
    }

    #[test]
    fn cosine_of_unit_vectors() {
        let c = compare(&emb(vec![1.0, 0.0], "m"), &emb(vec![0.6, 0.8], "m"), 0.5).unwrap();
        assert!((c.similarity - 0.6).abs() < 1e-6);
        assert!(c.is_match);
    }

    #[test]
    fn different_recognizers_are_refused() {
        let r = compare(&emb(vec![1.0], "a"), &emb(vec![1.0], "b"), 0.5);
        assert!(matches!(r, Err(VisionError::IncompatibleEmbeddings(..))));
    }
}
