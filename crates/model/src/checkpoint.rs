//! chronomap's own checkpoint format: Burn's burnpack file for the tensors plus the network
//! configuration as JSON next to it (`model.bpk` + `model.json`).

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::network::{SpatioTemporalNet, SpatioTemporalNetConfig};

impl SpatioTemporalNet {
    /// Saves the network: tensors (weights and batch-norm running statistics) to the burnpack
    /// file `path` (`.bpk` is appended if `path` has no extension) and the configuration to
    /// [`checkpoint_config_path`]`(path)` (same path, extension `.json`). Both files are written
    /// to temporary files in the same directory, then renamed, so that a failure never leaves a
    /// half-written checkpoint.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] or [`Error::Io`] if a file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bpk = weights_path(path.as_ref());
        // Written under a temporary name (still ending in `.bpk`, which Burn keeps) in the same
        // directory, then renamed over `bpk`.
        let name = bpk
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        let tmp = bpk.with_file_name(format!(".{name}.tmp-{}.bpk", std::process::id()));
        // `valid()` folds pending running-statistics updates into the recorded values.
        if let Err(source) = self.valid().save_file(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Checkpoint {
                path: bpk.clone(),
                source,
            });
        }
        if let Err(e) = std::fs::rename(&tmp, &bpk) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Io {
                path: bpk.clone(),
                source: e,
            });
        }
        write_atomically(
            &checkpoint_config_path(&bpk),
            self.config().to_string().as_bytes(),
        )
    }

    /// Builds the network described by the configuration saved next to `path` and loads the
    /// weights of `path` (both written by [`SpatioTemporalNet::save`]) onto `device`.
    ///
    /// # Errors
    /// [`Error::Io`] if the configuration file cannot be read, [`Error::Config`] if it is not a
    /// valid configuration, [`Error::Checkpoint`] if the weights cannot be read or do not fit.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let bpk = weights_path(path.as_ref());
        let config = read_config(&checkpoint_config_path(&bpk))?;
        config.init(device).load_weights(&bpk)
    }

    /// Replaces this network's tensors by those of the checkpoint `path` (written by
    /// [`SpatioTemporalNet::save`]). If the configuration file is next to it, it must describe
    /// this network.
    ///
    /// # Errors
    /// [`Error::ConfigMismatch`] if the saved configuration differs from this network's,
    /// [`Error::Config`] or [`Error::Io`] if it cannot be read, and [`Error::Checkpoint`] if the
    /// weights cannot be read or do not fit (missing tensors, wrong shapes: the message lists
    /// them).
    pub fn load_weights(self, path: impl AsRef<Path>) -> Result<Self> {
        let bpk = weights_path(path.as_ref());
        let config_path = checkpoint_config_path(&bpk);
        if config_path.exists() {
            let found = read_config(&config_path)?;
            if &found != self.config() {
                return Err(Error::ConfigMismatch {
                    path: config_path,
                    expected: Box::new(self.config().clone()),
                    found: Box::new(found),
                });
            }
        }
        self.try_load_file(&bpk)
            .map_err(|source| Error::Checkpoint { path: bpk, source })
    }
}

/// Where [`SpatioTemporalNet::save`] writes the configuration for a weights file `path`: the
/// same path with extension `.json` (`<path>.config.json` if `path` itself ends in `.json`).
pub fn checkpoint_config_path(path: impl AsRef<Path>) -> PathBuf {
    let bpk = weights_path(path.as_ref());
    let json = bpk.with_extension("json");
    if json == bpk {
        let mut name = bpk.into_os_string();
        name.push(".config.json");
        PathBuf::from(name)
    } else {
        json
    }
}

/// The weights file for a user-given path: Burn appends `.bpk` to paths without extension.
fn weights_path(path: &Path) -> PathBuf {
    if path.extension().is_none() {
        path.with_extension("bpk")
    } else {
        path.to_path_buf()
    }
}

fn read_config(path: &Path) -> Result<SpatioTemporalNetConfig> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let config = SpatioTemporalNetConfig::load_binary(&bytes).map_err(|source| Error::Config {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(reason) = config.invalid_reason() {
        return Err(Error::Config {
            path: path.to_path_buf(),
            source: burn::config::ConfigError::InvalidFormat(reason),
        });
    }
    Ok(config)
}

/// Writes `bytes` to a temporary file next to `path`, then renames it to `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn save_then_load_gives_identical_outputs_including_running_stats() {
        let ad = Device::flex().autodiff();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&ad);
        // One training forward moves the batch-norm running statistics away from (0, 1).
        let x = Tensor::random([2, 2, 4, 16, 16], Distribution::Default, &ad);
        let _ = net.forward(x);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bpk");
        net.save(&path).unwrap();
        assert!(dir.path().join("model.json").exists());

        let device = Device::flex();
        let loaded = SpatioTemporalNet::load(&path, &device).unwrap();
        assert_eq!(loaded.config(), net.config());
        let x = Tensor::random([1, 3, 4, 16, 16], Distribution::Default, &device);
        let want = net.valid().forward(x.clone());
        let got = loaded.forward(x);
        got.fused_logits
            .into_data()
            .assert_approx_eq::<f32>(&want.fused_logits.into_data(), Tolerance::absolute(0.0));
        got.date_logits
            .into_data()
            .assert_approx_eq::<f32>(&want.date_logits.into_data(), Tolerance::absolute(0.0));
    }

    #[test]
    fn checkpoint_loaded_on_an_autodiff_device_keeps_training() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resume.bpk");
        SpatioTemporalNetConfig::tiny(4, 3)
            .init(&device)
            .save(&path)
            .unwrap();
        let ad = device.autodiff();
        let net = SpatioTemporalNet::load(&path, &ad).unwrap();
        let x = Tensor::random([1, 2, 4, 16, 16], Distribution::Default, &ad);
        let grads = net.forward(x).fused_logits.mean().backward();
        assert!(net.out.weight.val().grad(&grads).is_some());
        assert!(net.fcn.enc[0].conv1.weight.val().grad(&grads).is_some());
    }

    #[test]
    fn checkpoint_of_another_config_is_a_clear_error() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.bpk");
        let wide = SpatioTemporalNetConfig::tiny(4, 3).with_base_filters(16);
        wide.init(&device).save(&path).unwrap();

        let tiny = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        let err = tiny.clone().load_weights(&path).unwrap_err();
        assert!(
            matches!(&err, Error::ConfigMismatch { found, .. } if **found == wide),
            "{err}"
        );
        // Without the config file, the tensors themselves are refused.
        std::fs::remove_file(dir.path().join("wide.json")).unwrap();
        let err = tiny.load_weights(&path).unwrap_err();
        let Error::Checkpoint { path: p, source } = &err else {
            panic!("unexpected error {err}")
        };
        assert_eq!(p, &path);
        assert!(source.to_string().contains("shape mismatch"), "{source}");
    }

    #[test]
    fn missing_checkpoint_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.bpk");
        let err = SpatioTemporalNet::load(&path, &Device::flex()).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == &dir.path().join("absent.json")),
            "{err}"
        );
    }

    #[test]
    fn config_path_follows_the_weights_path() {
        assert_eq!(checkpoint_config_path("a/m.bpk"), PathBuf::from("a/m.json"));
        assert_eq!(checkpoint_config_path("a/m"), PathBuf::from("a/m.json"));
        assert_eq!(
            checkpoint_config_path("a/m.json"),
            PathBuf::from("a/m.json.config.json")
        );
    }
}
