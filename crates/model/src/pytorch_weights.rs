//! PyTorch-layout safetensors weights: load them into a [`SpatioTemporalNet`] and export it.
//!
//! Key names are those of `tests/fixtures/parity/README.md`:
//! `fcn.enc.{l}.conv{1,2}.weight`, `fcn.enc.{l}.bn{1,2}.{weight,bias,running_mean,running_var}`,
//! `fcn.bottleneck.*`, `fcn.up.{i}.{weight,bias}` and `fcn.dec.{i}.*` (`i = 0` the deepest
//! level), `fcn.head.{weight,bias}`, `gates.{weight,bias}`, `out.{weight,bias}`. Tensors are
//! PyTorch's layouts, which are also Burn's: conv `[out, in, kh, kw]`, conv-transpose
//! `[in, out, kh, kw]`. Burn names differ in two places only: batch norm `gamma`/`beta` are
//! PyTorch `weight`/`bias`, and the ConvLSTM gates live under `lstm.`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::network::SpatioTemporalNet;

/// PyTorch's `BatchNorm` counter, which has no counterpart here; accepted and ignored on load.
const IGNORED_SUFFIX: &str = ".num_batches_tracked";

impl SpatioTemporalNet {
    /// Loads PyTorch-layout weights from a safetensors file (a `state_dict` saved with
    /// `safetensors.torch.save_file`), replacing every parameter and batch-norm running
    /// statistic. See the module docs of this file for the key names.
    ///
    /// Every tensor the network needs must be present as `F32` with the exact shape; a tensor
    /// the network has no place for is refused too (PyTorch's `num_batches_tracked` counters
    /// are ignored). Nothing is changed on error.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::Safetensors`] if it is not
    /// safetensors, and [`Error::MissingKey`], [`Error::DTypeMismatch`],
    /// [`Error::ShapeMismatch`] or [`Error::UnexpectedKey`] naming the file and the first key
    /// (in network order, then alphabetical for unexpected keys) that did not fit.
    pub fn load_safetensors(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = SafeTensors::deserialize(&bytes).map_err(|source| Error::Safetensors {
            path: path.to_path_buf(),
            source,
        })?;

        // Check everything first, so that an error leaves `self` untouched.
        let mut checker = Checker {
            file: &file,
            path,
            module_path: Vec::new(),
            used: HashSet::new(),
            error: None,
        };
        self.visit(&mut checker);
        if let Some(error) = checker.error {
            return Err(error);
        }
        let mut names = file.names();
        names.sort_unstable();
        if let Some(key) = names
            .into_iter()
            .find(|k| !checker.used.contains(*k) && !k.ends_with(IGNORED_SUFFIX))
        {
            return Err(Error::UnexpectedKey {
                path: path.to_path_buf(),
                key: key.to_string(),
            });
        }

        let mut loader = Loader {
            file: &file,
            module_path: Vec::new(),
        };
        Ok(self.map(&mut loader))
    }

    /// Exports the weights and batch-norm running statistics as PyTorch-layout safetensors
    /// (`F32`, the keys of [`SpatioTemporalNet::load_safetensors`]), loadable in PyTorch with
    /// `model.load_state_dict(safetensors.torch.load_file(path), strict=False)` (the file has no
    /// `num_batches_tracked` counters). The file is written to a temporary file in the same
    /// directory, then renamed.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        // `valid()` folds pending running-statistics updates into the values read below.
        let mut collector = Collector::default();
        self.valid().visit(&mut collector);
        let views = collector
            .tensors
            .iter()
            .map(|(key, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .expect("byte length matches shape by construction");
                (key.clone(), view)
            })
            .collect::<Vec<_>>();
        let metadata = [("config".to_string(), self.config().to_string())].into();
        let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        crate::checkpoint::write_atomically(path, &bytes)
    }
}

/// The PyTorch key of a parameter from its Burn module path.
pub(crate) fn pytorch_key(module_path: &[String]) -> String {
    let mut parts: Vec<&str> = module_path.iter().map(String::as_str).collect();
    if parts.first() == Some(&"lstm") {
        parts.remove(0);
    }
    if let Some(last) = parts.last_mut() {
        *last = match *last {
            "gamma" => "weight",
            "beta" => "bias",
            other => other,
        };
    }
    parts.join(".")
}

/// Validates every parameter against the file, recording the first error.
struct Checker<'a> {
    file: &'a SafeTensors<'a>,
    path: &'a Path,
    module_path: Vec<String>,
    used: HashSet<String>,
    error: Option<Error>,
}

impl Checker<'_> {
    fn check(&self, key: &str, expected: Vec<usize>) -> Result<()> {
        let path = || PathBuf::from(self.path);
        let tensor = self.file.tensor(key).map_err(|_| Error::MissingKey {
            path: path(),
            key: key.to_string(),
        })?;
        if tensor.dtype() != Dtype::F32 {
            return Err(Error::DTypeMismatch {
                path: path(),
                key: key.to_string(),
                found: tensor.dtype(),
            });
        }
        if tensor.shape() != expected.as_slice() {
            return Err(Error::ShapeMismatch {
                path: path(),
                key: key.to_string(),
                expected,
                found: tensor.shape().to_vec(),
            });
        }
        Ok(())
    }
}

impl ModuleVisitor for Checker<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.module_path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.module_path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() {
            return;
        }
        let key = pytorch_key(&self.module_path);
        match self.check(&key, param.lazy_shape().dims::<D>().to_vec()) {
            Ok(()) => {
                self.used.insert(key);
            }
            Err(e) => self.error = Some(e),
        }
    }
}

/// Replaces every parameter by the file's tensor (already validated by [`Checker`]).
struct Loader<'a> {
    file: &'a SafeTensors<'a>,
    module_path: Vec<String>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.module_path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.module_path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let key = pytorch_key(&self.module_path);
        let view = self
            .file
            .tensor(&key)
            .expect("key validated before loading");
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let device = param.lazy_device();
        let tensor =
            Tensor::<D>::from_data(TensorData::new(values, view.shape().to_vec()), &device);
        let id = param.id;
        param.transform_for_load(tensor, id)
    }
}

/// Collects `(PyTorch key, shape, little-endian f32 bytes)` of every float tensor.
#[derive(Default)]
struct Collector {
    module_path: Vec<String>,
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.module_path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.module_path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data();
        let bytes = data.iter::<f32>().flat_map(f32::to_le_bytes).collect();
        self.tensors
            .push((pytorch_key(&self.module_path), data.shape().to_vec(), bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpatioTemporalNetConfig;
    use burn::tensor::{Distribution, Tolerance};

    fn key(path: &str) -> String {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        pytorch_key(&parts)
    }

    #[test]
    fn burn_paths_map_to_parity_readme_keys() {
        assert_eq!(key("fcn.enc.0.bn1.gamma"), "fcn.enc.0.bn1.weight");
        assert_eq!(key("fcn.dec.1.bn2.beta"), "fcn.dec.1.bn2.bias");
        assert_eq!(key("fcn.up.0.weight"), "fcn.up.0.weight");
        assert_eq!(key("lstm.gates.bias"), "gates.bias");
        assert_eq!(key("out.weight"), "out.weight");
    }

    #[test]
    fn export_then_load_gives_identical_outputs() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("net.safetensors");
        let a = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        a.save_safetensors(&file).unwrap();
        let b = SpatioTemporalNetConfig::tiny(4, 3)
            .init(&device)
            .load_safetensors(&file)
            .unwrap();
        let x = Tensor::random([1, 2, 4, 16, 16], Distribution::Default, &device);
        b.forward(x.clone())
            .fused_logits
            .into_data()
            .assert_approx_eq::<f32>(
                &a.forward(x).fused_logits.into_data(),
                Tolerance::absolute(0.0),
            );
    }

    #[test]
    fn weights_of_a_deeper_network_are_refused_with_the_first_bad_key() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deep.safetensors");
        SpatioTemporalNetConfig::tiny(4, 3)
            .with_depth(3)
            .init(&device)
            .save_safetensors(&file)
            .unwrap();
        let err = SpatioTemporalNetConfig::tiny(4, 3)
            .init(&device)
            .load_safetensors(&file)
            .unwrap_err();
        // Level 2 exists only in the file; the first mismatch in network order is the
        // bottleneck (its input is 16 channels here, 32 in the file).
        match err {
            Error::ShapeMismatch {
                key,
                expected,
                found,
                path,
            } => {
                assert_eq!(key, "fcn.bottleneck.conv1.weight");
                assert_eq!(expected, [32, 16, 3, 3]);
                assert_eq!(found, [64, 32, 3, 3]);
                assert_eq!(path, file);
            }
            other => panic!("unexpected error {other}"),
        }
    }
}
