//! Where kyc keeps its files, so that every command works from any folder: the home folder
//! (`KYC_HOME`, else `$XDG_DATA_HOME/kyc`, else `~/.local/share/kyc`) with its `models/`,
//! `config/` and `data/`, or the checkout the command runs in (development).
//!
//! A checkout is a current directory holding `models/manifest.toml`. There, with no `KYC_HOME`
//! set, the models are the checkout's `models/files`, the data folder is `./data` and the config
//! is `./config`, as they always were. Anywhere else, or wherever `KYC_HOME` is set, they are
//! the home's.

use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The variable naming the home folder.
pub const HOME_VAR: &str = "KYC_HOME";
/// The home when neither `KYC_HOME`, `XDG_DATA_HOME` nor `HOME` is set (a system service).
pub const SYSTEM_HOME: &str = "/var/lib/kyc";
/// The file that makes the current directory a checkout.
pub const CHECKOUT_MARKER: &str = "models/manifest.toml";
/// The checkout's models folder (`kyc models fetch` in a checkout puts the files there).
pub const CHECKOUT_MODELS_DIR: &str = "models/files";
/// The checkout's data folder.
pub const CHECKOUT_DATA_DIR: &str = "data";
/// Folder of the files no registry ships (YuNet), beside the checkout (development, CI).
pub const SHARED_MODELS_DIR: &str = "../shared/models";

/// How the home folder was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HomeSource {
    /// `KYC_HOME`.
    KycHome,
    /// `$XDG_DATA_HOME/kyc`.
    XdgDataHome,
    /// `$HOME/.local/share/kyc`.
    UserHome,
    /// [`SYSTEM_HOME`]: nothing else was set.
    System,
}

impl fmt::Display for HomeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KycHome => "from KYC_HOME",
            Self::XdgDataHome => "$XDG_DATA_HOME/kyc",
            Self::UserHome => "$HOME/.local/share/kyc",
            Self::System => "no KYC_HOME, XDG_DATA_HOME or HOME set",
        })
    }
}

/// Which folders a command uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Home {
    /// The home folder (it may not exist yet).
    pub dir: PathBuf,
    pub source: HomeSource,
    /// The command runs in a checkout and `KYC_HOME` is not set: the checkout's folders are used.
    pub checkout: bool,
}

impl Default for Home {
    /// The home of the process environment and current directory.
    fn default() -> Self {
        Self::from_process_env()
    }
}

impl Home {
    /// From the process environment and the current directory.
    pub fn from_process_env() -> Self {
        let vars: HashMap<String, String> = [HOME_VAR, "XDG_DATA_HOME", "HOME"]
            .into_iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect();
        Self::resolve(&vars, Path::new(CHECKOUT_MARKER).is_file())
    }

    /// From `vars` (`KYC_HOME`, `XDG_DATA_HOME`, `HOME`) and whether the current directory is a
    /// checkout. Empty values count as unset; `XDG_DATA_HOME` counts only when absolute (the
    /// XDG rule). A relative `KYC_HOME` is made absolute against the current directory.
    pub fn resolve(vars: &HashMap<String, String>, in_checkout: bool) -> Self {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let (dir, source) = if let Some(h) = get(HOME_VAR) {
            let p = PathBuf::from(h);
            (std::path::absolute(&p).unwrap_or(p), HomeSource::KycHome)
        } else if let Some(x) = get("XDG_DATA_HOME").filter(|x| Path::new(x).is_absolute()) {
            (Path::new(x).join("kyc"), HomeSource::XdgDataHome)
        } else if let Some(h) = get("HOME") {
            (Path::new(h).join(".local/share/kyc"), HomeSource::UserHome)
        } else {
            (PathBuf::from(SYSTEM_HOME), HomeSource::System)
        };
        let checkout = in_checkout && source != HomeSource::KycHome;
        Self {
            dir,
            source,
            checkout,
        }
    }

    /// Where the model files are: the checkout's `models/files`, else `{home}/models`.
    pub fn models_dir(&self) -> PathBuf {
        if self.checkout {
            PathBuf::from(CHECKOUT_MODELS_DIR)
        } else {
            self.dir.join("models")
        }
    }

    /// Where `kyc serve` keeps its journal and media: the checkout's `data`, else `{home}/data`.
    pub fn data_dir(&self) -> PathBuf {
        if self.checkout {
            PathBuf::from(CHECKOUT_DATA_DIR)
        } else {
            self.dir.join("data")
        }
    }

    /// The home's config folder, read when neither `KYC_CONFIG_DIR` nor `./config` is there.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// The folders searched for files no registry ships (YuNet): `../shared/models` beside a
    /// checkout, then the models folder `models_dir`.
    pub fn external_dirs(&self, models_dir: &Path) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if self.checkout {
            v.push(PathBuf::from(SHARED_MODELS_DIR));
        }
        if !v.iter().any(|d| d == models_dir) {
            v.push(models_dir.to_path_buf());
        }
        v
    }

    /// One line saying which folders are used, for `kyc models` and the server's log.
    pub fn describe(&self) -> String {
        if self.checkout {
            format!(
                "checkout in the current directory (models in {CHECKOUT_MODELS_DIR}, data in \
                 {CHECKOUT_DATA_DIR}); kyc home {} ({}) is not used here",
                self.dir.display(),
                self.source
            )
        } else {
            format!("kyc home {} ({})", self.dir.display(), self.source)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> HashMap<String, String> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kyc_home_wins_even_in_a_checkout() {
        let h = Home::resolve(
            &vars(&[
                ("KYC_HOME", "/srv/kyc"),
                ("XDG_DATA_HOME", "/x"),
                ("HOME", "/h"),
            ]),
            true,
        );
        assert_eq!(h.dir, PathBuf::from("/srv/kyc"));
        assert_eq!(h.source, HomeSource::KycHome);
        assert!(!h.checkout);
        assert_eq!(h.models_dir(), PathBuf::from("/srv/kyc/models"));
        assert_eq!(h.data_dir(), PathBuf::from("/srv/kyc/data"));
        assert_eq!(h.config_dir(), PathBuf::from("/srv/kyc/config"));
        assert_eq!(
            h.external_dirs(&h.models_dir()),
            vec![PathBuf::from("/srv/kyc/models")]
        );
    }

    #[test]
    fn a_checkout_keeps_its_own_folders() {
        let h = Home::resolve(&vars(&[("HOME", "/h")]), true);
        assert!(h.checkout);
        assert_eq!(h.dir, PathBuf::from("/h/.local/share/kyc"));
        assert_eq!(h.models_dir(), PathBuf::from("models/files"));
        assert_eq!(h.data_dir(), PathBuf::from("data"));
        assert_eq!(
            h.external_dirs(&h.models_dir()),
            vec![
                PathBuf::from("../shared/models"),
                PathBuf::from("models/files")
            ]
        );
    }

    #[test]
    fn xdg_data_home_then_home_then_the_system_folder() {
        let h = Home::resolve(&vars(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")]), false);
        assert_eq!(
            (h.dir.as_path(), h.source),
            (Path::new("/x/kyc"), HomeSource::XdgDataHome)
        );
        assert_eq!(h.models_dir(), PathBuf::from("/x/kyc/models"));
        // A relative XDG_DATA_HOME is ignored (XDG base directory rule), empty values too.
        let h = Home::resolve(
            &vars(&[("XDG_DATA_HOME", "rel"), ("KYC_HOME", " "), ("HOME", "/h")]),
            false,
        );
        assert_eq!(
            (h.dir.as_path(), h.source),
            (Path::new("/h/.local/share/kyc"), HomeSource::UserHome)
        );
        let h = Home::resolve(&vars(&[]), false);
        assert_eq!(
            (h.dir.as_path(), h.source),
            (Path::new(SYSTEM_HOME), HomeSource::System)
        );
        assert!(!h.checkout);
    }

    #[test]
    fn a_relative_kyc_home_is_made_absolute() {
        let h = Home::resolve(&vars(&[("KYC_HOME", "some/where")]), false);
        assert!(h.dir.is_absolute(), "{}", h.dir.display());
        assert!(h.dir.ends_with("some/where"));
    }
}
