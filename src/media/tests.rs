//! The media store on a real folder: permissions, one data key per session bound to it, uploads
//! kept encrypted, job plaintext without a name.

use super::*;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").mode() & 0o777
}

fn store(dir: &Path) -> MediaStore {
    MediaStore::open(dir, MasterKey::generate().expect("key")).expect("opens")
}

/// Encrypts `plain` into the incoming folder as an upload would be.
fn incoming(store: &MediaStore, key: &IncomingKey, upload: &uuid::Uuid, plain: &[u8]) -> PathBuf {
    let path = store
        .incoming_dir()
        .join(format!("{}.part", upload.simple()));
    let mut enc = key.encryptor(upload).expect("encryptor");
    let mut out = Vec::new();
    enc.update(plain, &mut out).expect("update");
    enc.finish(&mut out).expect("finish");
    let mut f = private_file(&path).expect("create");
    f.write_all(&out).expect("write");
    path
}

fn plain(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7919 % 251) as u8).collect()
}

#[test]
fn folders_are_private_and_leftovers_are_wiped() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("work")).expect("mkdir");
    std::fs::create_dir_all(data.join("media/incoming")).expect("mkdir");
    std::fs::write(data.join("work/old.plain"), b"plaintext from a crash").expect("write");
    std::fs::write(data.join("media/incoming/x.part"), b"half an upload").expect("write");
    let s = store(&data);
    for d in [
        &data,
        &data.join("media"),
        &s.incoming_dir(),
        &data.join("work"),
    ] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    assert_eq!(std::fs::read_dir(data.join("work")).expect("ls").count(), 0);
    assert_eq!(std::fs::read_dir(s.incoming_dir()).expect("ls").count(), 0);
}

#[test]
fn a_session_has_one_data_key_bound_to_it() {
    let dir = tempfile::tempdir().expect("dir");
    let s = store(dir.path());
    let (a, b) = (SessionId::new_v4(), SessionId::new_v4());
    assert!(s.data_key(&a).expect("reads").is_none());
    let k1 = s.data_key_or_create(&a).expect("creates");
    let k2 = s.data_key_or_create(&a).expect("reads");
    let blob = k1.seal(b"t", b"same key").expect("seal");
    assert_eq!(
        k2.open(b"t", &blob).expect("same key").as_slice(),
        b"same key"
    );
    let file = s.session_dir(&a).join(KEY_FILE);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&s.session_dir(&a)), 0o700);
    let stored = std::fs::read(&file).expect("read");
    assert_eq!(stored.len(), WrappedKey::LEN);
    // The key file copied into another session's folder does not open there.
    private_dir(&s.session_dir(&b)).expect("mkdir");
    std::fs::copy(&file, s.session_dir(&b).join(KEY_FILE)).expect("copy");
    assert!(matches!(
        s.data_key(&b),
        Err(MediaError::Key {
            source: CryptoError::Unwrap,
            ..
        })
    ));
    // Another master key cannot open it at all.
    let other = MediaStore::open(dir.path(), MasterKey::generate().expect("key")).expect("opens");
    assert!(matches!(
        other.data_key(&a),
        Err(MediaError::Key {
            source: CryptoError::OtherMasterKey { .. },
            ..
        })
    ));
}

#[test]
fn uploads_are_kept_encrypted_under_the_session_key() {
    let dir = tempfile::tempdir().expect("dir");
    let s = store(dir.path());
    let session = SessionId::new_v4();
    let data = plain(300_000);
    for transient in [false, true] {
        let upload = uuid::Uuid::new_v4();
        let key = if transient {
            IncomingKey::Transient(DataKey::generate().expect("key"))
        } else {
            s.upload_key(&session).expect("key")
        };
        let from = incoming(&s, &key, &upload, &data);
        let kept = s
            .keep_upload(
                &session,
                &upload,
                &from,
                &key,
                &format!("video-{upload}.mp4"),
            )
            .expect("kept");
        assert!(!from.exists(), "the incoming file is gone");
        assert_eq!(mode(&kept), 0o600);
        let stored = std::fs::read(&kept).expect("read");
        assert!(!stored.windows(64).any(|w| w == &data[1000..1064]));
        let back = s
            .read_stored(&session, &upload, &kept, 1 << 20)
            .expect("reads");
        assert_eq!(back.as_slice(), &data[..], "transient: {transient}");
        // Read as another upload of the session, it does not decrypt.
        assert!(
            s.read_stored(&session, &uuid::Uuid::new_v4(), &kept, 1 << 20)
                .is_err()
        );
    }
}

#[test]
fn job_plaintext_has_no_name_and_goes_with_the_job() {
    let dir = tempfile::tempdir().expect("dir");
    let s = store(dir.path());
    let session = SessionId::new_v4();
    let upload = uuid::Uuid::new_v4();
    let key = s.upload_key(&session).expect("key");
    let data = plain(200_000);
    let from = incoming(&s, &key, &upload, &data);
    let kept = s
        .keep_upload(&session, &upload, &from, &key, "video.webm")
        .expect("kept");
    let job = s.plain_file(&session, &upload, &kept).expect("decrypts");
    assert_eq!(job.len(), data.len() as u64);
    // Readable through its path, by this process, while the job holds it ...
    let mut back = Vec::new();
    std::fs::File::open(job.path())
        .expect("opens by path")
        .read_to_end(&mut back)
        .expect("reads");
    assert_eq!(back, data);
    assert_eq!(
        std::fs::metadata(job.path()).expect("metadata").len(),
        data.len() as u64
    );
    // ... without a name in the work folder ...
    assert_eq!(
        std::fs::read_dir(dir.path().join("work"))
            .expect("ls")
            .count(),
        0
    );
    assert_eq!(job.file().metadata().expect("metadata").nlink(), 0);
    // ... and gone with it.
    let path = job.path().to_path_buf();
    let fd_target = std::fs::read_link(&path).expect("link");
    drop(job);
    assert!(
        std::fs::read_link(&path).map_or(true, |t| t != fd_target),
        "the descriptor is closed"
    );
}

#[test]
fn the_development_key_is_kept_private_and_reused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join(master::DEV_KEY_FILE);
    let k1 = master::development_key_at(&path).expect("made");
    assert_eq!(mode(&path), 0o600);
    let k2 = master::development_key_at(&path).expect("read");
    assert_eq!(k1.id(), k2.id());
    std::fs::write(&path, b"damaged").expect("write");
    assert!(master::development_key_at(&path).is_err());
}

#[test]
fn a_new_session_key_is_stored_only_when_an_upload_is_kept() {
    let dir = tempfile::tempdir().expect("dir");
    let s = store(dir.path());
    let session = SessionId::new_v4();
    let data = plain(70_000);
    // Two uploads start before the session has a key: each gets a new one, nothing is stored.
    let (u1, u2) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let (k1, k2) = (
        s.upload_key(&session).expect("key"),
        s.upload_key(&session).expect("key"),
    );
    let (f1, f2) = (incoming(&s, &k1, &u1, &data), incoming(&s, &k2, &u2, &data));
    assert!(s.data_key(&session).expect("reads").is_none());
    assert!(!s.session_dir(&session).join(KEY_FILE).exists());
    // The first kept stores its key; the second is re-encrypted under that one.
    let p1 = s
        .keep_upload(&session, &u1, &f1, &k1, "id-1.png")
        .expect("kept");
    let p2 = s
        .keep_upload(&session, &u2, &f2, &k2, "id-2.png")
        .expect("kept");
    for (u, p) in [(u1, p1), (u2, p2)] {
        let back = s.read_stored(&session, &u, &p, 1 << 20).expect("reads");
        assert_eq!(back.as_slice(), &data[..]);
    }
}

#[test]
fn retakes_are_superseded_and_erasure_destroys_the_key_for_good() {
    let dir = tempfile::tempdir().expect("dir");
    let s = store(dir.path());
    let session = SessionId::new_v4();
    let data = plain(5_000);
    let keep = |name: &str| {
        let u = uuid::Uuid::new_v4();
        let k = s.upload_key(&session).expect("key");
        let f = incoming(&s, &k, &u, &data);
        s.keep_upload(&session, &u, &f, &k, name).expect("kept")
    };
    let (_, id2, video) = (keep("id-1.png"), keep("id-2.png"), keep("video-3.webm"));
    let gone = s
        .delete_superseded(&session, "id", "id-2.png")
        .expect("supersede");
    assert_eq!(gone.files, 1);
    assert!(id2.exists() && video.exists());
    assert!(s.has_uploads(&session).expect("ls"));

    // Retention: the uploads go, the key stays.
    assert_eq!(s.delete_uploads(&session).expect("purge").files, 2);
    assert!(!s.has_uploads(&session).expect("ls"));
    assert!(s.data_key(&session).expect("key").is_some());

    let erased = s.erase(&session).expect("erase");
    assert!(erased.key && erased.files == 0);
    assert!(s.is_erased(&session));
    assert!(s.data_key(&session).expect("reads").is_none());
    assert!(!s.session_dir(&session).exists());
    // Nothing can make the session a key again (a job still running after the erasure).
    assert!(matches!(
        s.data_key_or_create(&session),
        Err(MediaError::Erased(_))
    ));
    assert_eq!(s.erase(&session).expect("again"), Deleted::default());
}
