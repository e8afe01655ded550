//! Parity with an independent PyTorch implementation of the talk's network.
//!
//! `tests/fixtures/parity/` (copied from the team's shared fixtures; see its README.md) holds
//! weights written by PyTorch 2.15 (`weights.safetensors`) and, in `io.safetensors`, an input,
//! labels, and what PyTorch computed from them: eval and train-mode logits, the loss
//! `CE(fused) + 0.5 CE(date)`, four gradients of that loss, and one batch norm's running
//! statistics after the training forward. Every expected number below comes from that file;
//! nothing is computed by chronomap on both sides.
//!
//! Also here: loading broken variants of the same weight file gives the typed error naming the
//! file and the offending key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::log_softmax;
use chronomap_model::{Error, SpatioTemporalNet, SpatioTemporalNetConfig};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

const WEIGHTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/parity/weights.safetensors"
);
const IO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/parity/io.safetensors"
);

/// The fixture's tensors, read with the `safetensors` crate (not with chronomap's loader).
struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn open(path: &str) -> Self {
        Self {
            bytes: std::fs::read(path).expect("parity fixture present"),
        }
    }

    fn file(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("valid safetensors")
    }

    fn data(&self, key: &str) -> TensorData {
        let file = self.file();
        let view = file.tensor(key).expect("fixture key");
        let shape = view.shape().to_vec();
        match view.dtype() {
            Dtype::F32 => TensorData::new(
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect::<Vec<f32>>(),
                shape,
            ),
            Dtype::I64 => TensorData::new(
                view.data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                    .collect::<Vec<i64>>(),
                shape,
            ),
            other => panic!("unexpected fixture dtype {other}"),
        }
    }

    fn config(&self) -> SpatioTemporalNetConfig {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes).unwrap();
        let json = &meta.metadata().as_ref().unwrap()["config"];
        // The fixture's config JSON also has batch/time/height/width, which serde ignores.
        SpatioTemporalNetConfig::load_binary(json.as_bytes()).unwrap()
    }
}

/// Max |got - want| over max |want|, and asserts it against `abs` and `rel` (either suffices),
/// printing the observed errors (`cargo test -- --nocapture`).
fn assert_close(name: &str, got: TensorData, want: TensorData, abs: f32, rel: f32) {
    assert_eq!(got.shape(), want.shape(), "{name}: shape");
    let got: Vec<f32> = got.iter::<f32>().collect();
    let want: Vec<f32> = want.iter::<f32>().collect();
    let max_diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = want.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    let relative = max_diff / scale.max(f32::MIN_POSITIVE);
    eprintln!("{name}: max abs error {max_diff:.3e}, relative to max |value| {relative:.3e}");
    assert!(
        max_diff <= abs || relative <= rel,
        "{name}: max abs error {max_diff:e} (relative {relative:e}) exceeds abs {abs:e} / rel {rel:e}"
    );
}

fn net(device: &Device) -> SpatioTemporalNet {
    let io = Fixture::open(IO);
    let config = io.config();
    assert_eq!(config, SpatioTemporalNetConfig::tiny(4, 3));
    config
        .init(device)
        .load_safetensors(WEIGHTS)
        .expect("fixture weights load")
}

/// Mean cross-entropy over every date and pixel; `logits` `[B,T,K,H,W]`, `labels` `[B,T,H,W]`.
fn cross_entropy(logits: Tensor<5>, labels: Tensor<4, Int>) -> Tensor<1> {
    let [_, _, k, _, _] = logits.dims();
    let one_hot = labels.one_hot_fill::<5>(k, 1.0, 0.0, 2).float();
    (log_softmax(logits, 2) * one_hot).sum_dim(2).mean().neg()
}

/// Finds a float tensor by its Burn module path and returns its value, or its gradient.
struct ByPath<'a> {
    target: &'a str,
    grads: Option<&'a Gradients>,
    path: Vec<String>,
    found: Option<TensorData>,
}

impl ModuleVisitor for ByPath<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.path.join(".") == self.target {
            self.found = Some(match self.grads {
                Some(grads) => param.val().grad(grads).expect("gradient").into_data(),
                None => param.val().into_data(),
            });
        }
    }
}

fn find<M: Module>(module: &M, burn_path: &str, grads: Option<&Gradients>) -> TensorData {
    let mut v = ByPath {
        target: burn_path,
        grads,
        path: Vec::new(),
        found: None,
    };
    module.visit(&mut v);
    v.found
        .unwrap_or_else(|| panic!("no tensor at {burn_path}"))
}

#[test]
fn eval_logits_match_pytorch() {
    let io = Fixture::open(IO);
    let device = Device::flex();
    let net = net(&device).valid();
    let out = net.forward(Tensor::from_data(io.data("input"), &device));
    assert_close(
        "eval.date_logits",
        out.date_logits.into_data(),
        io.data("eval.date_logits"),
        1e-4,
        0.0,
    );
    assert_close(
        "eval.fused_logits",
        out.fused_logits.into_data(),
        io.data("eval.fused_logits"),
        1e-4,
        0.0,
    );
}

#[test]
fn streaming_steps_match_pytorch_eval_logits() {
    let io = Fixture::open(IO);
    let device = Device::flex();
    let net = net(&device).valid();
    let x: Tensor<5> = Tensor::from_data(io.data("input"), &device);
    let want: Tensor<5> = Tensor::from_data(io.data("eval.fused_logits"), &device);
    let mut state = None;
    for t in 0..3 {
        let (fused, next) = net.step(x.clone().narrow(1, t, 1).squeeze_dim::<4>(1), state);
        assert_close(
            &format!("eval.fused_logits[:, {t}] by step"),
            fused.into_data(),
            want.clone().narrow(1, t, 1).squeeze_dim::<4>(1).into_data(),
            1e-4,
            0.0,
        );
        state = Some(next);
    }
}

#[test]
fn training_forward_loss_gradients_and_running_stats_match_pytorch() {
    let io = Fixture::open(IO);
    let ad = Device::flex().autodiff();
    let net = net(&ad);
    let out = net.forward(Tensor::from_data(io.data("input"), &ad));
    assert_close(
        "train.date_logits",
        out.date_logits.clone().into_data(),
        io.data("train.date_logits"),
        1e-4,
        0.0,
    );
    assert_close(
        "train.fused_logits",
        out.fused_logits.clone().into_data(),
        io.data("train.fused_logits"),
        1e-4,
        0.0,
    );

    let labels: Tensor<4, Int> = Tensor::from_data(io.data("labels"), &ad);
    let loss = cross_entropy(out.fused_logits, labels.clone())
        + cross_entropy(out.date_logits, labels).mul_scalar(0.5);
    assert_close(
        "train.loss",
        loss.clone().into_data(),
        io.data("train.loss"),
        1e-5,
        1e-5,
    );

    let grads = loss.backward();
    // PyTorch key -> Burn module path (see SpatioTemporalNet's docs).
    for (torch, burn_path) in [
        ("gates.weight", "lstm.gates.weight"),
        ("fcn.enc.0.conv1.weight", "fcn.enc.0.conv1.weight"),
        ("fcn.up.0.weight", "fcn.up.0.weight"),
        ("out.bias", "out.bias"),
    ] {
        assert_close(
            &format!("grad.{torch}"),
            find(&net, burn_path, Some(&grads)),
            io.data(&format!("grad.{torch}")),
            0.0,
            1e-3,
        );
    }

    let bn = &net.unet().encoder()[0].batch_norms()[0];
    assert_close(
        "after_train.fcn.enc.0.bn1.running_mean",
        bn.running_mean().into_data(),
        io.data("after_train.fcn.enc.0.bn1.running_mean"),
        1e-6,
        0.0,
    );
    assert_close(
        "after_train.fcn.enc.0.bn1.running_var",
        bn.running_var().into_data(),
        io.data("after_train.fcn.enc.0.bn1.running_var"),
        // Tight on purpose: the biased variance (Burn's own BatchNorm) would be off by
        // 0.1 * var / 1535 here, about 7e-5 x var.
        1e-6,
        0.0,
    );
}

#[test]
fn loaded_weights_are_the_files_values() {
    // Batch-norm gamma (Burn) = weight (PyTorch); conv-transpose layout [in, out, kh, kw].
    let weights = Fixture::open(WEIGHTS);
    let net = net(&Device::flex());
    for (torch, burn_path) in [
        ("fcn.enc.1.bn2.weight", "fcn.enc.1.bn2.gamma"),
        ("fcn.dec.0.bn1.running_var", "fcn.dec.0.bn1.running_var"),
        ("fcn.up.1.weight", "fcn.up.1.weight"),
        ("gates.bias", "lstm.gates.bias"),
    ] {
        assert_close(
            torch,
            find(&net, burn_path, None),
            weights.data(torch),
            0.0,
            0.0,
        );
    }
}

// ----- broken weight files -----

/// Writes the fixture weights to `dir/name`, passing each tensor through `edit`
/// (`None` drops it), plus the `extra` tensors.
fn write_variant(
    dir: &Path,
    name: &str,
    edit: impl Fn(&str, TensorView<'_>) -> Option<(Dtype, Vec<usize>, Vec<u8>)>,
    extra: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
) -> PathBuf {
    let fixture = Fixture::open(WEIGHTS);
    let file = fixture.file();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = file
        .iter()
        .filter_map(|(k, v)| edit(k, v).map(|(d, s, b)| (k.to_string(), d, s, b)))
        .collect();
    owned.extend(extra);
    let views: HashMap<String, TensorView<'_>> = owned
        .iter()
        .map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let path = dir.join(name);
    safetensors::serialize_to_file(views, None, &path).unwrap();
    path
}

fn keep(_: &str, v: TensorView<'_>) -> Option<(Dtype, Vec<usize>, Vec<u8>)> {
    Some((v.dtype(), v.shape().to_vec(), v.data().to_vec()))
}

fn load_err(path: &Path) -> Error {
    SpatioTemporalNetConfig::tiny(4, 3)
        .init(&Device::flex())
        .load_safetensors(path)
        .expect_err("broken weights must be refused")
}

#[test]
fn missing_weight_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.safetensors");
    let err = load_err(&path);
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p == &path),
        "{err}"
    );
    assert!(err.to_string().contains("nope.safetensors"), "{err}");
}

#[test]
fn missing_key_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_variant(
        dir.path(),
        "missing.safetensors",
        |k, v| {
            (k != "fcn.enc.1.bn2.running_var")
                .then(|| keep(k, v))
                .flatten()
        },
        vec![],
    );
    let err = load_err(&path);
    match &err {
        Error::MissingKey { path: p, key } => {
            assert_eq!(p, &path);
            assert_eq!(key, "fcn.enc.1.bn2.running_var");
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("missing.safetensors") && msg.contains("fcn.enc.1.bn2.running_var"));
}

#[test]
fn wrong_shape_names_file_key_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    // Same bytes, flattened shape: only the shape check can catch it.
    let path = write_variant(
        dir.path(),
        "shape.safetensors",
        |k, v| {
            let (d, s, b) = keep(k, v)?;
            Some(if k == "out.weight" {
                (d, vec![3, 4], b)
            } else {
                (d, s, b)
            })
        },
        vec![],
    );
    let err = load_err(&path);
    match &err {
        Error::ShapeMismatch {
            path: p,
            key,
            expected,
            found,
        } => {
            assert_eq!(p, &path);
            assert_eq!(key, "out.weight");
            assert_eq!(expected, &[3, 4, 1, 1]);
            assert_eq!(found, &[3, 4]);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("shape.safetensors"), "{err}");
}

#[test]
fn wrong_dtype_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_variant(
        dir.path(),
        "dtype.safetensors",
        |k, v| {
            let (d, s, b) = keep(k, v)?;
            if k != "fcn.head.bias" {
                return Some((d, s, b));
            }
            let f64s = b
                .chunks_exact(4)
                .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) as f64).to_le_bytes())
                .collect();
            Some((Dtype::F64, s, f64s))
        },
        vec![],
    );
    let err = load_err(&path);
    assert!(
        matches!(&err, Error::DTypeMismatch { path: p, key, found: Dtype::F64 }
            if p == &path && key == "fcn.head.bias"),
        "{err}"
    );
}

#[test]
fn unknown_key_is_refused_and_torch_counters_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let counter = (
        "fcn.enc.0.bn1.num_batches_tracked".to_string(),
        Dtype::I64,
        vec![],
        1i64.to_le_bytes().to_vec(),
    );
    let ok = write_variant(dir.path(), "ok.safetensors", keep, vec![counter.clone()]);
    SpatioTemporalNetConfig::tiny(4, 3)
        .init(&Device::flex())
        .load_safetensors(&ok)
        .expect("num_batches_tracked is ignored");

    let extra = (
        "fcn.enc.2.conv1.weight".to_string(),
        Dtype::F32,
        vec![1],
        1f32.to_le_bytes().to_vec(),
    );
    let path = write_variant(dir.path(), "extra.safetensors", keep, vec![counter, extra]);
    let err = load_err(&path);
    assert!(
        matches!(&err, Error::UnexpectedKey { path: p, key } if p == &path && key == "fcn.enc.2.conv1.weight"),
        "{err}"
    );
}

#[test]
fn not_a_safetensors_file_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.safetensors");
    std::fs::write(&path, b"this is not a safetensors file").unwrap();
    let err = load_err(&path);
    assert!(
        matches!(&err, Error::Safetensors { path: p, .. } if p == &path),
        "{err}"
    );
}
