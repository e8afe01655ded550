//! Checkpoints and trained-model folders, written atomically.
//!
//! Layout of a training run folder (`run/`):
//!
//! ```text
//! run/config.json                      the TrainConfig (a resumed run must use the same one)
//! run/checkpoints/iter-00000420/       one consistent checkpoint (the last two are kept):
//!     model.bpk  optim.bpk  state.json   weights, optimizer state, loop position + history
//!     model.json  config.json            model card (normalization stats) and training config
//! run/best/  model.bpk  model.json     the best model so far (a "model folder", see below)
//! run/last/  model.bpk  model.json     the model after the last finished epoch
//! run/metrics.csv  metrics.json  curves.png
//! ```
//!
//! A checkpoint folder is written under a temporary name and renamed into place only when
//! complete, so an interrupted write never leaves a corrupt checkpoint: [`latest_checkpoint`]
//! only sees complete ones. A *model folder* (`model.bpk` + `model.json`, a [`ModelCard`])
//! is everything `predict`/`update` need: network configuration, band and class names,
//! normalization statistics and a hash of the weights.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use chronomap_model::{SpatioTemporalNet, SpatioTemporalNetConfig};
use serde::{Deserialize, Serialize};

use crate::atomic::{
    read_json, remove_stale_temps, replace_dir, resolve_dir, sibling, write_atomic,
    write_json_atomic,
};
use crate::error::{Error, Result};

/// File name of the weights in a checkpoint or model folder.
pub const MODEL_FILE: &str = "model.bpk";
/// File name of the model description in a model folder.
pub const CARD_FILE: &str = "model.json";
const OPTIM_FILE: &str = "optim.bpk";
const STATE_FILE: &str = "state.json";
const CARD_FORMAT: u32 = 1;

/// Normalization statistics stored with a model.
pub type StoredNormalization = chronomap_data::NormStats;

/// Everything needed to use a trained model on new images, stored as `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Format version of this file.
    pub format: u32,
    /// The network configuration the weights belong to.
    pub model: SpatioTemporalNetConfig,
    /// Band names, in input-channel order.
    pub bands: Vec<String>,
    /// Class names, in class-id order.
    pub classes: Vec<String>,
    /// Per-band normalization applied to the images before the network.
    pub normalization: StoredNormalization,
    /// Patch size used for training (a good default window size for inference).
    pub patch_size: usize,
    /// FNV-1a 64 hash (hex) of `model.bpk`, to tie stored ConvLSTM states to these weights.
    pub weights_hash: String,
    /// Free-form provenance: epoch, validation scores, dates trained on.
    #[serde(default)]
    pub notes: serde_json::Value,
}

/// FNV-1a 64-bit hash, hex encoded (16 digits): what [`ModelCard::weights_hash`] holds,
/// and how `chronomap predict` fingerprints a scene's inputs.
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Serializes a module's weights (burnpack bytes).
fn model_bytes<M: Module>(model: &M, path: &Path) -> Result<Vec<u8>> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::checkpoint(path, e))?;
    Ok(bytes.to_vec())
}

/// Writes a model folder (`model.bpk` + `model.json`) at `dir`, replacing it atomically.
/// `card.weights_hash` is filled in here.
///
/// # Errors
/// [`Error::Io`] / [`Error::Checkpoint`] naming the file that could not be written.
pub fn save_model_dir(
    dir: &Path,
    model: &SpatioTemporalNet,
    card: &ModelCard,
) -> Result<ModelCard> {
    let tmp = sibling(dir, &format!(".tmp-{}", std::process::id()));
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        remove_stale_temps(parent);
    }
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let weights = model_bytes(&model.valid(), &dir.join(MODEL_FILE))?;
    let mut card = card.clone();
    card.format = CARD_FORMAT;
    card.model = model.config().clone();
    card.weights_hash = fnv1a_hex(&weights);
    write_atomic(&tmp.join(MODEL_FILE), &weights)?;
    write_json_atomic(&tmp.join(CARD_FILE), &card)?;
    replace_dir(&tmp, dir)?;
    Ok(card)
}

/// Reads the [`ModelCard`] of a model folder (or of the folder holding `model.json`).
///
/// # Errors
/// [`Error::Io`] if `model.json` is missing, [`Error::Json`] if it does not parse, and
/// [`Error::Checkpoint`] naming it if it is the bare network configuration that
/// `SpatioTemporalNet::save` writes under the same name (the message says what to use).
pub fn read_model_card(dir: &Path) -> Result<ModelCard> {
    let dir = resolve_dir(dir).unwrap_or_else(|| dir.to_path_buf());
    let path = dir.join(CARD_FILE);
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        if serde_json::from_slice::<SpatioTemporalNetConfig>(&bytes).is_ok() {
            Error::Checkpoint {
                path: path.clone(),
                message: "a bare network configuration (written by SpatioTemporalNet::save), \
                          not a model card: prediction also needs the bands, classes and \
                          normalization of the training data. Write model folders with \
                          `chronomap train` or chronomap_train::save_model_dir; load this one \
                          with SpatioTemporalNet::load"
                    .to_string(),
            }
        } else {
            Error::json(&path, e)
        }
    })
}

/// Loads a model folder on `device` (weights in evaluation mode: call `.valid()` is not needed
/// for a non-autodiff device).
///
/// `dir` may also be a training run folder: its `best/` model is used.
///
/// # Errors
/// [`Error::Checkpoint`] naming `dir` if it does not exist or is neither a model folder nor a
/// run folder; [`Error::Io`]/[`Error::Json`] for an unreadable or invalid `model.json`;
/// [`Error::Checkpoint`] naming `model.bpk` if the weights do not fit the configuration (first
/// mismatching tensor in the message); [`Error::ConfigMismatch`] if the weights hash differs
/// from the card's.
pub fn load_model_dir(dir: &Path, device: &Device) -> Result<(SpatioTemporalNet, ModelCard)> {
    let given = dir;
    let dir = model_dir_of(given);
    if !dir.join(CARD_FILE).is_file() {
        let message = if given.is_dir() {
            format!(
                "not a model folder ({CARD_FILE} + {MODEL_FILE}, as `chronomap train` writes in \
                 <run>/best) nor a training run folder (no best/{CARD_FILE})"
            )
        } else {
            "no such folder".to_string()
        };
        return Err(Error::Checkpoint {
            path: given.to_path_buf(),
            message,
        });
    }
    let card = read_model_card(&dir)?;
    let path = dir.join(MODEL_FILE);
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let hash = fnv1a_hex(&bytes);
    if hash != card.weights_hash {
        return Err(Error::ConfigMismatch {
            path,
            what: "weights hash (model.bpk was replaced or corrupted)",
            expected: card.weights_hash.clone(),
            found: hash,
        });
    }
    let model = load_weights_bytes(card.model.init(device), bytes, &path)?;
    Ok((model, card))
}

/// The model folder of `dir`: `dir` itself if it holds `model.json`, else `dir/best`.
pub fn model_dir_of(dir: &Path) -> PathBuf {
    let direct = resolve_dir(dir).unwrap_or_else(|| dir.to_path_buf());
    if direct.join(CARD_FILE).is_file() {
        return direct;
    }
    let best = dir.join("best");
    resolve_dir(&best).unwrap_or(best)
}

fn load_weights_bytes(
    model: SpatioTemporalNet,
    bytes: Vec<u8>,
    path: &Path,
) -> Result<SpatioTemporalNet> {
    let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| Error::checkpoint(path, e))?;
    // Loading keeps the weights' saved ids but not the running statistics' (see
    // `with_sequential_running_ids`): renumber those so that a model saved again after a
    // load (a resumed run) is the same file as one saved without the load.
    Ok(model
        .try_load_record(record)
        .map_err(|e| Error::checkpoint(path, e))?
        .with_sequential_running_ids())
}

/// Where a checkpoint stands in the training loop, saved as `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopPosition {
    /// Index of the stage in the run's stage list.
    pub stage: usize,
    /// Epochs of that stage fully done.
    pub stage_epochs_done: usize,
    /// Batches of the current (unfinished) epoch already done; 0 at an epoch boundary.
    pub batches_done: usize,
    /// Optimizer iterations done in the current stage.
    pub stage_iterations: usize,
    /// Optimizer iterations done over the whole run.
    pub iterations: usize,
    /// Sum and count of the training losses of the current unfinished epoch.
    pub partial_loss: (f64, usize),
    /// Seconds spent in the current unfinished epoch.
    pub partial_seconds: f64,
}

/// A checkpoint's `state.json`: loop position, best score and the history so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The loop position.
    pub position: LoopPosition,
    /// Best validation score so far and the epoch it was reached.
    pub best: Option<(f64, usize)>,
    /// Per-epoch metrics so far.
    pub history: crate::history::History,
    /// Hash of the run's `config.json` the checkpoint belongs to.
    pub config_hash: String,
}

/// Writes a checkpoint folder `run/checkpoints/iter-NNNNNNNN` atomically, then removes all but
/// the `keep` newest checkpoints. Besides the weights, optimizer state and loop position it
/// holds the training configuration (`config.json`) and the model card (`model.json`, with the
/// normalization statistics), so a checkpoint is also a model folder for `predict`.
///
/// # Errors
/// [`Error::Io`] / [`Error::Checkpoint`] naming the file that could not be written.
pub fn save_checkpoint(
    run_dir: &Path,
    model: &SpatioTemporalNet,
    optim: &burn::optim::ModuleOptimizer,
    state: &CheckpointState,
    card: &ModelCard,
    config: &crate::config::TrainConfig,
    keep: usize,
) -> Result<PathBuf> {
    let root = run_dir.join("checkpoints");
    let final_dir = root.join(format!("iter-{:08}", state.position.iterations));
    let tmp = root.join(format!(
        ".tmp-iter-{:08}-{}",
        state.position.iterations,
        std::process::id()
    ));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    // Burn's batch norms hold their last running-statistics update apart (per thread) until
    // the next forward or a `valid()`, and a record reads the value without it: without this
    // sync a checkpoint lacked the last batch's update, so a resumed run's running statistics
    // (not its weights) drifted from an uninterrupted run's. `valid()` folds it in, in place.
    drop(model.valid());
    let weights = model_bytes(model, &final_dir.join(MODEL_FILE))?;
    let mut card = card.clone();
    card.format = CARD_FORMAT;
    card.model = model.config().clone();
    card.weights_hash = fnv1a_hex(&weights);
    write_atomic(&tmp.join(MODEL_FILE), &weights)?;
    write_json_atomic(&tmp.join(CARD_FILE), &card)?;
    write_json_atomic(&tmp.join("config.json"), config)?;
    let optim_bytes = optim
        .into_bytes()
        .map_err(|e| Error::checkpoint(final_dir.join(OPTIM_FILE), e))?;
    write_atomic(&tmp.join(OPTIM_FILE), &optim_bytes)?;
    write_json_atomic(&tmp.join(STATE_FILE), state)?;
    replace_dir(&tmp, &final_dir)?;
    // Prune: keep the newest `keep` complete checkpoints, remove stale temporaries.
    let mut all = list_checkpoints(run_dir)?;
    all.sort();
    let n = all.len();
    for old in all.into_iter().take(n.saturating_sub(keep.max(1))) {
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    if let Ok(entries) = fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") && e.path() != tmp {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(final_dir)
}

fn list_checkpoints(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let root = run_dir.join("checkpoints");
    let Ok(entries) = fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|err| Error::io(&root, err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let complete = e.path().join(STATE_FILE).is_file();
        if name.starts_with("iter-") && !name.ends_with(".old") && complete {
            out.push(e.path());
        }
    }
    Ok(out)
}

/// The newest complete checkpoint of a run folder, if any.
///
/// # Errors
/// [`Error::Io`] if the checkpoints folder cannot be listed.
pub fn latest_checkpoint(run_dir: &Path) -> Result<Option<PathBuf>> {
    let mut all = list_checkpoints(run_dir)?;
    all.sort();
    Ok(all.pop())
}

/// A loaded checkpoint.
pub struct LoadedCheckpoint {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// The network (on the device passed to [`load_checkpoint`]).
    pub model: SpatioTemporalNet,
    /// The optimizer state, loaded into the optimizer passed in.
    pub optim: burn::optim::ModuleOptimizer,
    /// The loop state.
    pub state: CheckpointState,
}

/// Loads checkpoint folder `dir` into a fresh `config` network on `device` and into `optim`.
///
/// # Errors
/// [`Error::Json`]/[`Error::Io`] for `state.json`; [`Error::Checkpoint`] naming `model.bpk` or
/// `optim.bpk` when they cannot be read or do not fit `config`.
pub fn load_checkpoint(
    dir: &Path,
    config: &SpatioTemporalNetConfig,
    optim: burn::optim::ModuleOptimizer,
    device: &Device,
) -> Result<LoadedCheckpoint> {
    let state: CheckpointState = read_json(&dir.join(STATE_FILE))?;
    let mpath = dir.join(MODEL_FILE);
    let bytes = fs::read(&mpath).map_err(|e| Error::io(&mpath, e))?;
    let model = load_weights_bytes(config.init(device), bytes, &mpath)?;
    let opath = dir.join(OPTIM_FILE);
    let obytes = fs::read(&opath).map_err(|e| Error::io(&opath, e))?;
    let optim = optim
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(obytes))
        .map_err(|e| Error::checkpoint(&opath, e))?;
    Ok(LoadedCheckpoint {
        dir: dir.to_path_buf(),
        model,
        optim,
        state,
    })
}
