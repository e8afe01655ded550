//! The crate's error type, sorted by who is at fault: the files, the caller, the environment,
//! or another chronomap crate.

use std::path::{Path, PathBuf};

/// Errors of `chronomap-train`. Every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- the files are at fault -------------------------------------------------------------
    /// A JSON file (config, checkpoint state, metrics, model description) does not parse.
    #[error("invalid JSON in {path:?}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A weight or optimizer file cannot be read or does not fit the network.
    #[error("cannot load checkpoint {path:?}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Burn's description of the problem (I/O, format, or the first tensor that did not fit).
        message: String,
    },
    /// A checkpoint or model was made with another configuration than the one requested.
    #[error(
        "checkpoint {path:?} was made with another {what}: it has {found}, the run asks for \
         {expected}"
    )]
    ConfigMismatch {
        /// The checkpoint or model file.
        path: PathBuf,
        /// Which setting differs (e.g. `model configuration`, `band list`).
        what: &'static str,
        /// What the caller asked for.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// The images have another number of bands than the model was trained on.
    #[error(
        "{path:?} has {found} bands ({found_names:?}) but the model expects {expected} \
         ({expected_names:?})"
    )]
    BandMismatch {
        /// The manifest or image.
        path: PathBuf,
        /// Bands the model expects.
        expected: usize,
        /// Band names the model expects (may be empty if unknown).
        expected_names: Vec<String>,
        /// Bands found.
        found: usize,
        /// Band names found (may be empty if unknown).
        found_names: Vec<String>,
    },
    /// Two rasters that must share a pixel grid do not.
    #[error("{first:?} and {second:?} are not on the same grid: {problem}")]
    GridMismatch {
        /// The first raster.
        first: PathBuf,
        /// The second raster.
        second: PathBuf,
        /// What differs (size, geotransform, CRS), with both values.
        problem: String,
    },
    /// A stored ConvLSTM state does not belong to this model or scene.
    #[error("state {path:?} does not match: {problem}")]
    StateMismatch {
        /// The state folder or file.
        path: PathBuf,
        /// What differs.
        problem: String,
    },
    /// A raster's pixel size is not in metres (e.g. a geographic CRS), so areas in hectares
    /// cannot be computed exactly.
    #[error("{path:?} is not in a projected CRS with metre units; reproject it to compute areas")]
    NotProjected {
        /// The raster.
        path: PathBuf,
    },

    // ----- the caller is at fault ---------------------------------------------------------------
    /// No checkpoint to resume from in the run folder.
    #[error("no checkpoint to resume from in {dir:?}")]
    NoCheckpoint {
        /// The run folder.
        dir: PathBuf,
    },
    /// A new run was asked for in a folder that already holds one.
    #[error(
        "{dir:?} already holds a training run (checkpoints/): resume it (--resume) or start over \
         (--overwrite)"
    )]
    RunExists {
        /// The run folder.
        dir: PathBuf,
    },
    /// A training or prediction setting is invalid.
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// Change maps encode `from * K + to` in a byte: at most 15 classes.
    #[error("change maps support at most 15 classes, got {classes}")]
    TooManyClasses {
        /// Number of classes.
        classes: usize,
    },

    // ----- other chronomap crates -----------------------------------------------------------------
    /// Reading or writing a GeoTIFF failed (the error names the file).
    #[error(transparent)]
    Geo(#[from] chronomap_geo::Error),
    /// Opening or reading a scene series failed (the error names the file).
    #[error(transparent)]
    Data(#[from] chronomap_data::Error),

    // ----- the environment ------------------------------------------------------------------------
    /// Reading or writing a file failed.
    #[error("i/o error on {path:?}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A tensor could not be read back from the device.
    #[error("cannot read a tensor back from the device")]
    TensorRead(#[from] burn::tensor::TensorReadError),
}

impl Error {
    /// An [`Error::Io`] on `path`.
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// An [`Error::Json`] on `path`.
    pub(crate) fn json(path: impl AsRef<Path>, source: serde_json::Error) -> Self {
        Error::Json {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// An [`Error::Checkpoint`] on `path`.
    pub(crate) fn checkpoint(path: impl AsRef<Path>, err: impl std::fmt::Display) -> Self {
        Error::Checkpoint {
            path: path.as_ref().to_path_buf(),
            message: err.to_string(),
        }
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
