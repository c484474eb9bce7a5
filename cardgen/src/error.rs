//! The generator's error type: a missing font says which Debian package to install; everything
//! else is a vision or OpenCV failure passed through, or a caller asking for what cannot be drawn.

use thiserror::Error;
use vision::VisionError;

pub type Result<T, E = CardgenError> = std::result::Result<T, E>;

/// Errors of the synthetic card generator.
#[derive(Error)]
pub enum CardgenError {
    #[error(
        "font {path} cannot be read ({source}): the card generator prints with the fonts of \
         Debian's `{package}` (apt-get install {package}){hint}"
    )]
    FontMissing {
        path: String,
        /// The Debian package that installs the file.
        package: &'static str,
        /// Another way to provide it ("" when there is none).
        hint: &'static str,
        source: std::io::Error,
    },
    #[error("font {path} is not a usable TrueType font: {reason}")]
    BadFont { path: String, reason: String },
    /// The caller asked for something the generator cannot draw (an unknown layout, an image
    /// that is not 8-bit BGR).
    #[error("card generator: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Vision(#[from] VisionError),
    #[error(transparent)]
    OpenCv(#[from] opencv::Error),
}

/// The message, not the fields: tests `expect` these errors, and the message says what to install.
impl std::fmt::Debug for CardgenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
