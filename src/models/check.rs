//! Checking model files: sha256 of what is on disk, the status of every manifest entry, and
//! the lookup of files no registry ships (YuNet).

use super::*;

/// The sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// What is at a file's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FileState {
    /// There, with the expected sha256.
    Ok,
    Missing,
    /// There, with another sha256.
    WrongSha256 {
        actual: String,
    },
    /// There but unreadable.
    Unreadable {
        error: String,
    },
}

impl FileState {
    pub fn is_ok(&self) -> bool {
        matches!(self, FileState::Ok)
    }
}

impl fmt::Display for FileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileState::Ok => f.write_str("ok"),
            FileState::Missing => f.write_str("missing"),
            FileState::WrongSha256 { .. } => f.write_str("WRONG SHA256"),
            FileState::Unreadable { .. } => f.write_str("unreadable"),
        }
    }
}

/// Checks the file at `path` against `expected` (lower-case hex).
pub fn check_file(path: &Path, expected: &str) -> FileState {
    if !path.is_file() {
        return FileState::Missing;
    }
    match sha256_file(path) {
        Ok(actual) if actual.eq_ignore_ascii_case(expected) => FileState::Ok,
        Ok(actual) => FileState::WrongSha256 { actual },
        Err(e) => FileState::Unreadable {
            error: e.to_string(),
        },
    }
}

/// Which section of the manifest an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Model file or runtime library (`[[file]]`).
    File,
    /// Test photo (`[[testdata]]`).
    TestData,
    /// Looked up, never fetched (`[[external]]`).
    External,
}

/// One line of `kyc models list`.
#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    pub name: String,
    pub kind: EntryKind,
    /// Where it is (or, when missing, where it would be: the first place searched).
    pub path: PathBuf,
    #[serde(flatten)]
    pub state: FileState,
    pub sha256: String,
    pub license: String,
    pub non_commercial: bool,
    pub origin: String,
}

/// The state of every file of the manifest: fetched entries under `dir`, external files in
/// `external_dirs` (the first one holding each with its sha256).
pub fn status(manifest: &Manifest, dir: &Path, external_dirs: &[PathBuf]) -> Vec<FileStatus> {
    let mut out: Vec<FileStatus> = manifest
        .entries()
        .map(|e| {
            let path = dir.join(e.dest());
            FileStatus {
                name: e.name.clone(),
                kind: if manifest.testdata.iter().any(|t| t.name == e.name) {
                    EntryKind::TestData
                } else {
                    EntryKind::File
                },
                state: check_file(&path, &e.sha256),
                path,
                sha256: e.sha256.clone(),
                license: e.license.clone(),
                non_commercial: e.non_commercial,
                origin: manifest.origin_of(e),
            }
        })
        .collect();
    let dirs = external_dirs;
    for x in &manifest.external {
        let (path, state) = locate_external(x, dirs);
        out.push(FileStatus {
            name: x.name.clone(),
            kind: EntryKind::External,
            path,
            state,
            sha256: x.sha256.clone(),
            license: x.license.clone(),
            non_commercial: false,
            origin: format!(
                "no registry; looked up in {}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    out
}

/// The first folder of `dirs` holding `x` with the right sha256; otherwise the first place it
/// was seen with another sha256, or the first place searched.
pub(super) fn locate_external(x: &ExternalFile, dirs: &[PathBuf]) -> (PathBuf, FileState) {
    let mut first_bad = None;
    for d in dirs {
        let p = d.join(&x.name);
        match check_file(&p, &x.sha256) {
            FileState::Ok => return (p, FileState::Ok),
            FileState::Missing => {}
            bad => {
                first_bad.get_or_insert((p, bad));
            }
        }
    }
    first_bad.unwrap_or_else(|| {
        (
            dirs.first()
                .map(|d| d.join(&x.name))
                .unwrap_or_else(|| PathBuf::from(&x.name)),
            FileState::Missing,
        )
    })
}

/// The first `face_detection_yunet.onnx` in `dirs` whose sha256 is the manifest's; files with
/// another sha256 are skipped. `None` means the opencv engine falls back to [`HAAR_CASCADE`].
pub fn find_yunet<P: AsRef<Path>>(dirs: &[P]) -> Option<PathBuf> {
    Manifest::builtin().find_external(YUNET, dirs)
}

/// MiniFASNetV2 and V1SE, the first of each in `dirs` whose sha256 is the manifest's, when both
/// are found. `None` means the passive liveness check is unavailable.
pub fn find_passive<P: AsRef<Path>>(dirs: &[P]) -> Option<(PathBuf, PathBuf)> {
    let m = Manifest::builtin();
    Some((
        m.find_external(vision::liveness::passive::V2_FILE, dirs)?,
        m.find_external(vision::liveness::passive::V1SE_FILE, dirs)?,
    ))
}
