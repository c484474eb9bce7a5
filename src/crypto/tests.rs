//! Keys, wrapping, rotation and sealed blobs: what opens and what must not.

use super::*;

#[test]
fn master_keys_parse_from_base64_of_32_bytes_only() {
    let k = MasterKey::generate().expect("key");
    let text = k.to_base64();
    assert_eq!(text.len(), 44);
    let back = MasterKey::from_base64(&format!("  {}\n", text.as_str())).expect("parses");
    assert_eq!(back.id(), k.id());
    // Without padding too.
    let unpadded = MasterKey::from_base64(text.trim_end_matches('=')).expect("parses");
    assert_eq!(unpadded.id(), k.id());
    for bad in [
        "",
        "   ",
        "not base64 at all!",
        "AAECAwQFBgcICQoLDA0ODw==",                         // 16 bytes
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", // 34 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",     // all zeros
    ] {
        assert!(
            matches!(MasterKey::from_base64(bad), Err(CryptoError::BadKey(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn keys_never_show_in_debug_output() {
    let m = MasterKey::generate().expect("key");
    let shown = format!("{m:?}");
    assert!(!shown.contains(m.to_base64().as_str()), "{shown}");
    assert_eq!(shown, format!("MasterKey {{ id: KeyId({}) }}", m.id()));
    let d = DataKey::generate().expect("key");
    let shown = format!("{d:?}");
    assert_eq!(shown, "DataKey(..)");
    let w = m.wrap(&d, b"ctx").expect("wrap");
    assert!(!format!("{w:?}").contains(&hex::encode(w.as_bytes())));
}

#[test]
fn wrapped_keys_open_with_their_master_key_and_context_only() {
    let m = MasterKey::generate().expect("key");
    let d = DataKey::generate().expect("key");
    let w = m.wrap(&d, b"session-a").expect("wrap");
    assert_eq!(w.as_bytes().len(), WrappedKey::LEN);
    assert_eq!(w.master_key_id(), m.id());
    let parsed = WrappedKey::from_bytes(w.as_bytes()).expect("form");
    let back = m.unwrap(&parsed, b"session-a").expect("unwrap");
    assert_eq!(back.bytes(), d.bytes());

    assert!(matches!(
        m.unwrap(&w, b"session-b"),
        Err(CryptoError::Unwrap)
    ));
    let other = MasterKey::generate().expect("key");
    assert!(matches!(
        other.unwrap(&w, b"session-a"),
        Err(CryptoError::OtherMasterKey { .. })
    ));
    for at in 9..WrappedKey::LEN {
        let mut bytes = w.as_bytes().to_vec();
        bytes[at] ^= 0x80;
        let bad = WrappedKey::from_bytes(&bytes).expect("form");
        assert!(
            matches!(m.unwrap(&bad, b"session-a"), Err(CryptoError::Unwrap)),
            "byte {at}"
        );
    }
    assert!(WrappedKey::from_bytes(&w.as_bytes()[1..]).is_err());
    let mut v2 = w.as_bytes().to_vec();
    v2[0] = 2;
    assert!(matches!(
        WrappedKey::from_bytes(&v2),
        Err(CryptoError::BadWrappedKey(_))
    ));
}

#[test]
fn rotation_rewraps_without_touching_the_data() {
    let old = MasterKey::generate().expect("key");
    let new = MasterKey::generate().expect("key");
    let d = DataKey::generate().expect("key");
    let blob = d.seal(b"artifact", b"personal data").expect("seal");
    let w_old = old.wrap(&d, b"s").expect("wrap");
    let w_new = rewrap(&old, &new, &w_old, b"s").expect("rewrap");
    assert_eq!(w_new.master_key_id(), new.id());
    let d_new = new.unwrap(&w_new, b"s").expect("unwrap with the new key");
    assert_eq!(
        d_new.open(b"artifact", &blob).expect("opens").as_slice(),
        b"personal data"
    );
    // The old key does not open the new form, even with the key id patched to its own.
    assert!(matches!(
        old.unwrap(&w_new, b"s"),
        Err(CryptoError::OtherMasterKey { .. })
    ));
    let mut patched = w_new.as_bytes().to_vec();
    patched[1..9].copy_from_slice(old.id().as_bytes());
    let patched = WrappedKey::from_bytes(&patched).expect("form");
    assert!(matches!(
        old.unwrap(&patched, b"s"),
        Err(CryptoError::Unwrap)
    ));
    // Rewrapping needs the key that wrapped it.
    assert!(rewrap(&new, &old, &w_old, b"s").is_err());
}

#[test]
fn sealed_blobs_open_with_their_key_and_associated_data_only() {
    let d = DataKey::generate().expect("key");
    let blob = d
        .seal(b"session/1/id-face", b"embedding bytes")
        .expect("seal");
    assert!(!blob.windows(15).any(|w| w == b"embedding bytes"));
    assert_eq!(
        d.open(b"session/1/id-face", &blob)
            .expect("opens")
            .as_slice(),
        b"embedding bytes"
    );
    assert!(matches!(
        d.open(b"session/1/video", &blob),
        Err(CryptoError::Open)
    ));
    let other = DataKey::generate().expect("key");
    assert!(matches!(
        other.open(b"session/1/id-face", &blob),
        Err(CryptoError::Open)
    ));
    for at in 1..blob.len() {
        let mut bad = blob.clone();
        bad[at] ^= 0x01;
        assert!(
            matches!(d.open(b"session/1/id-face", &bad), Err(CryptoError::Open)),
            "byte {at}"
        );
    }
    assert!(matches!(
        d.open(b"session/1/id-face", &blob[..20]),
        Err(CryptoError::BadBlob(_))
    ));
    let empty = d.seal(b"x", b"").expect("seal");
    assert!(d.open(b"x", &empty).expect("opens").is_empty());
}
