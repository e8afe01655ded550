//! The one error type of `chronomap-model`: reading and writing weight files.
//!
//! Everything else in this crate is infallible or panics on a broken shape contract (the Burn
//! convention); only file I/O returns a [`Result`].

use std::path::PathBuf;

use crate::SpatioTemporalNetConfig;

/// Why a weight file or a checkpoint could not be read or written.
///
/// Every variant names the file (`path`); those about a single tensor also name its key, the
/// first one that did not fit, in the file's own naming (PyTorch keys for safetensors files).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not a valid safetensors file (bad header, truncated data, ...).
    #[error("{path:?} is not a valid safetensors file")]
    Safetensors {
        /// The weight file.
        path: PathBuf,
        /// What the safetensors parser reported.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// The file lacks a tensor the network needs.
    #[error("{path:?} has no tensor {key:?}, which the network needs")]
    MissingKey {
        /// The weight file.
        path: PathBuf,
        /// The missing key (PyTorch naming, e.g. `fcn.enc.0.conv1.weight`).
        key: String,
    },
    /// A tensor of the file has a shape the network does not expect (usually: weights of a
    /// network built with another configuration).
    #[error("{path:?}: tensor {key:?} has shape {found:?}, the network expects {expected:?}")]
    ShapeMismatch {
        /// The weight file.
        path: PathBuf,
        /// The key of the tensor.
        key: String,
        /// The shape the network expects.
        expected: Vec<usize>,
        /// The shape stored in the file.
        found: Vec<usize>,
    },
    /// A tensor of the file is not stored as 32-bit floats.
    #[error("{path:?}: tensor {key:?} is stored as {found}, the network expects F32")]
    DTypeMismatch {
        /// The weight file.
        path: PathBuf,
        /// The key of the tensor.
        key: String,
        /// The element type stored in the file.
        found: safetensors::Dtype,
    },
    /// The file holds a tensor that is no part of the network (usually: weights of another
    /// architecture or of a deeper network).
    #[error("{path:?}: tensor {key:?} is not part of the network")]
    UnexpectedKey {
        /// The weight file.
        path: PathBuf,
        /// The key the network has no parameter for.
        key: String,
    },
    /// A chronomap checkpoint (burnpack) could not be read, written or applied, e.g. one saved
    /// from a network of another configuration (the message lists the offending tensors).
    #[error("cannot use checkpoint {path:?}")]
    Checkpoint {
        /// The checkpoint file (`.bpk`).
        path: PathBuf,
        /// What Burn reported.
        #[source]
        source: burn::store::RecordError,
    },
    /// A network configuration file (JSON) could not be parsed.
    #[error("cannot parse network config {path:?}")]
    Config {
        /// The configuration file (`.json`).
        path: PathBuf,
        /// What the parser reported.
        #[source]
        source: burn::config::ConfigError,
    },
    /// The configuration stored next to a checkpoint differs from the network it is loaded into.
    #[error(
        "checkpoint config {path:?} describes another network: it has {found:?}, this network has {expected:?}"
    )]
    ConfigMismatch {
        /// The configuration file (`.json`).
        path: PathBuf,
        /// The configuration of the network being loaded.
        expected: Box<SpatioTemporalNetConfig>,
        /// The configuration stored in the file.
        found: Box<SpatioTemporalNetConfig>,
    },
    /// Reading or writing a file failed (missing file, permissions, full disk, ...).
    #[error("i/o error on {path:?}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
