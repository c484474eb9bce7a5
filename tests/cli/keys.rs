//! `kyc keys generate` and the master key at start-up: a printed key is a valid key, and
//! production refuses to start without one or with a bad one, naming the variable.

use std::process::Command;

fn kyc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("KYC__SECURITY__MASTER_KEY")
        .env(
            "KYC_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        );
    cmd
}

#[test]
fn keys_generate_prints_one_fresh_valid_key_and_nothing_else() {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let out = kyc().args(["keys", "generate"]).output().expect("runs");
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        assert_eq!(text.lines().count(), 1, "{text:?}");
        let key = text.trim_end();
        assert_eq!(key.len(), 44);
        kyc::crypto::MasterKey::from_base64(key).expect("a valid key");
        seen.push(key.to_owned());
    }
    assert_ne!(seen[0], seen[1], "each key is fresh");
}

#[test]
fn production_does_not_start_without_a_good_master_key() {
    let data = tempfile::tempdir().expect("dir");
    let short = "AAECAwQFBgcICQoLDA0ODw=="; // 16 bytes
    for key in [None, Some(short), Some("not-base64!")] {
        let mut cmd = kyc();
        cmd.args(["serve", "--port", "0"])
            .arg("--data-dir")
            .arg(data.path())
            .env("KYC_ENV", "production")
            .env("KYC__ADMIN__TOKEN", "0123456789abcdef-long-enough");
        if let Some(k) = key {
            cmd.env("KYC__SECURITY__MASTER_KEY", k);
        }
        let out = cmd.output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key:?}: {err}");
        assert!(err.contains("KYC__SECURITY__MASTER_KEY"), "{key:?}: {err}");
        assert!(!err.contains(short), "the bad key is not echoed: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Nothing was written: no development key in production.
    assert!(!data.path().join("dev-master.key").exists());
}
