//! Where the tests' data lives — `../shared` beside the checkout (the team's labelled photos
//! and the models no registry ships) and `models/files` (what `kyc models fetch` downloads) —
//! and [`require`], which fails a test naming what is missing instead of letting it pass.

use std::path::{Path, PathBuf};

/// How to get `../shared`, said by every failure about it.
const GET_SHARED: &str =
    "the shared folder is not in git: put it beside the checkout, as `../shared`";

/// How to get `models/files`, said by every failure about it.
const GET_MODELS: &str = "run `kyc models fetch` in the checkout (scripts/setup.sh does)";

/// The workspace root (the checkout).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the workspace root")
        .to_path_buf()
}

/// `../shared` beside the checkout (it may be missing: see [`require`]).
pub fn shared_dir() -> PathBuf {
    workspace_root().join("../shared")
}

/// `path`, which the test cannot do without; a missing one fails the test with `what` (what it
/// is and how to get it) — a test never passes for lack of its data.
#[track_caller]
pub fn require(path: impl AsRef<Path>, what: &str) -> PathBuf {
    let path = path.as_ref();
    assert!(
        path.exists(),
        "missing test data {}: {what}",
        path.display()
    );
    path.to_path_buf()
}

/// `../shared/testdata/faces`: 25 labelled photos of 9 people and `pairs.csv`.
#[track_caller]
pub fn faces_dir() -> PathBuf {
    let dir = shared_dir().join("testdata/faces");
    require(
        dir.join("pairs.csv"),
        &format!("the labelled face photos (img1.jpg … img25.jpg, pairs.csv); {GET_SHARED}"),
    );
    dir
}

/// YuNet's file name in `../shared/models`.
const YUNET: &str = "face_detection_yunet.onnx";

/// A model of `../shared/models` (YuNet, MiniFASNet: no registry ships them), which the test
/// cannot do without.
#[track_caller]
pub fn shared_model(name: &str) -> PathBuf {
    require(
        shared_dir().join("models").join(name),
        &format!("a model no package registry ships; {GET_SHARED}"),
    )
}

/// YuNet from `../shared/models`, where it is there: it is optional for the engines (the
/// opencv engine falls back to OpenCV's Haar cascade), so tests run either way.
pub fn shared_yunet() -> Option<PathBuf> {
    let p = shared_dir().join("models").join(YUNET);
    p.is_file().then_some(p)
}

/// The fetched model files: `KYC_TEST_MODELS_DIR`, or `models/files` in the checkout.
pub fn models_dir() -> PathBuf {
    std::env::var_os("KYC_TEST_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models/files"))
}

/// Where a test photo of the face-recognition sdist (`obama.jpg`, `obama2.jpg`, `obama3.jpg`,
/// `biden.jpg`) is fetched to: `models/files/test_images`.
#[track_caller]
pub fn test_image_path(name: &str) -> PathBuf {
    require(
        models_dir().join("test_images").join(name),
        &format!("a test photo of the face-recognition 1.3.0 sdist; {GET_MODELS}"),
    )
}

/// The bytes of [`test_image_path`].
#[track_caller]
pub fn test_image(name: &str) -> Vec<u8> {
    let p = test_image_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "missing test data")]
    fn a_missing_path_fails_naming_it() {
        require(
            "/nonexistent/kyc-test-data",
            "nothing; this path never exists",
        );
    }

    #[test]
    fn a_present_path_is_returned() {
        let root = workspace_root();
        assert_eq!(require(&root, "the checkout"), root);
        assert!(root.join("Cargo.toml").is_file());
    }
}
