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

#[test]
fn keys_rotate_rewraps_every_data_key_and_can_run_again() {
    use kyc::crypto::MasterKey;
    use kyc::media::MediaStore;
    let data = tempfile::tempdir().expect("dir");
    let (old, new) = (
        MasterKey::generate().expect("old"),
        MasterKey::generate().expect("new"),
    );
    let (old_text, new_text) = (old.to_base64(), new.to_base64());
    let sessions = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    let sealed: Vec<Vec<u8>> = {
        let store = MediaStore::open(data.path(), old).expect("store");
        sessions
            .iter()
            .map(|s| {
                let key = store.data_key_or_create(s).expect("key");
                key.seal(b"aad", b"sealed before the rotation")
                    .expect("seal")
            })
            .collect()
    };
    let rotate = |new: Option<&str>| {
        let mut cmd = kyc();
        cmd.args(["keys", "rotate"])
            .env("KYC__SECURITY__MASTER_KEY", old_text.as_str())
            .env("KYC__SERVER__DATA_DIR", data.path());
        match new {
            Some(k) => cmd.env("KYC_NEW_MASTER_KEY", k),
            None => cmd.env_remove("KYC_NEW_MASTER_KEY"),
        };
        let out = cmd.output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = rotate(None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("KYC_NEW_MASTER_KEY"), "{err}");
    let (code, _, err) = rotate(Some("not-a-key"));
    assert_eq!(code, Some(2), "{err}");

    let (code, out, err) = rotate(Some(&new_text));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 data keys re-wrapped"), "{out}");
    let (code, out, err) = rotate(Some(&new_text));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("0 data keys re-wrapped") && out.contains("2 already"),
        "{out}"
    );

    // The new key opens every data key, and what they sealed before opens as it was.
    let store = MediaStore::open(data.path(), MasterKey::from_base64(&new_text).expect("key"))
        .expect("store");
    for (s, blob) in sessions.iter().zip(&sealed) {
        let key = store.data_key(s).expect("opens").expect("a key");
        assert_eq!(
            key.open(b"aad", blob).expect("opens").as_slice(),
            b"sealed before the rotation"
        );
    }
    drop(store);
    let store = MediaStore::open(data.path(), MasterKey::from_base64(&old_text).expect("key"))
        .expect("store");
    assert!(
        store.data_key(&sessions[0]).is_err(),
        "the old key opens nothing now"
    );
}
