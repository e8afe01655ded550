//! Speed of the spatio-temporal network (issue 2): the U-Net forward alone, the full network
//! forward in evaluation mode, and one training step (forward + loss + backward + Adam), with
//! the default configuration (base 32 filters, depth 4, hidden 16) on B=2 series of T=3 dates,
//! C=4 bands, K=5 classes, 256x256 pixels.
//!
//! ```text
//! cargo bench --bench network                                  # flex, and a real GPU if any
//! CHRONOMAP_BENCH_SIZE=64 cargo bench --bench network          # quick sanity run
//! CHRONOMAP_BENCH_GPU=vulkan cargo bench --bench network       # lavapipe as "gpu"
//! ```
//!
//! Backends: `flex` always; `gpu` = the device `chronomap::select_device(Auto)` picks when it is
//! not Flex (CUDA or a real wgpu GPU), or the one named by `CHRONOMAP_BENCH_GPU` (any
//! [`chronomap::DeviceChoice`] name, e.g. `vulkan` to measure Mesa lavapipe, which `auto` never
//! picks). Unavailable backends are skipped with a note. Each timed closure reads a scalar back
//! from the device or syncs it, so the time includes the computation, not only its dispatch.

use std::sync::OnceLock;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::log_softmax;
use chronomap::burn;
use chronomap::model::{SpatioTemporalNet, SpatioTemporalNetConfig};
use chronomap::{DeviceChoice, select_device};
use divan::Bencher;

const BATCH: usize = 2;
const TIME: usize = 3;
const BANDS: usize = 4;
const CLASSES: usize = 5;

fn main() {
    divan::main();
}

/// Image side, `CHRONOMAP_BENCH_SIZE` (default 256; must be a multiple of 16).
fn size() -> usize {
    std::env::var("CHRONOMAP_BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

const BACKENDS: &[&str] = &["flex", "gpu"];

/// The device of a bench argument (`None`: skipped, with a note). `gpu` is the device named by
/// `CHRONOMAP_BENCH_GPU` (any [`DeviceChoice`] name, e.g. `vulkan`), or else the one
/// `select_device(Auto)` picks when that is not Flex.
fn device(arg: &str) -> Option<Device> {
    static GPU: OnceLock<Option<Device>> = OnceLock::new();
    match arg {
        "flex" => Some(Device::flex()),
        _ => GPU
            .get_or_init(|| {
                let choice = match std::env::var("CHRONOMAP_BENCH_GPU") {
                    Ok(name) => match name.parse::<DeviceChoice>() {
                        Ok(c) => c,
                        Err(e) => {
                            eprintln!("note: GPU benches skipped: {e}");
                            return None;
                        }
                    },
                    Err(_) => DeviceChoice::Auto,
                };
                match select_device(choice) {
                    Ok(d) if choice != DeviceChoice::Auto || d != Device::flex() => Some(d),
                    Ok(_) => {
                        eprintln!("note: no GPU found (CUDA or wgpu): GPU benches skipped");
                        None
                    }
                    Err(e) => {
                        eprintln!("note: GPU benches skipped: {e}");
                        None
                    }
                }
            })
            .clone(),
    }
}

fn series(device: &Device) -> Tensor<5> {
    let s = size();
    device.seed(0);
    Tensor::random(
        [BATCH, TIME, BANDS, s, s],
        Distribution::Normal(0.0, 1.0),
        device,
    )
}

fn labels(device: &Device) -> Tensor<4, Int> {
    let s = size();
    Tensor::<4>::random(
        [BATCH, TIME, s, s],
        Distribution::Uniform(0.0, CLASSES as f64),
        device,
    )
    .int()
    .clamp(0, CLASSES as i64 - 1)
}

fn net(device: &Device) -> SpatioTemporalNet {
    SpatioTemporalNetConfig::new(BANDS, CLASSES).init(device)
}

fn pixels() -> usize {
    BATCH * TIME * size() * size()
}

/// U-Net forward (evaluation mode) on the B*T images.
#[divan::bench(args = BACKENDS, sample_count = 5, sample_size = 1)]
fn unet_forward(bencher: Bencher, backend: &str) {
    let Some(device) = device(backend) else {
        return;
    };
    let net = net(&device).valid();
    let x = series(&device);
    bencher
        .counter(divan::counter::ItemsCount::new(pixels()))
        .bench_local(|| net.date_logits(x.clone()).sum().into_scalar::<f32>());
}

/// Full network forward (evaluation mode): U-Net + ConvLSTM fusion.
#[divan::bench(args = BACKENDS, sample_count = 5, sample_size = 1)]
fn network_forward(bencher: Bencher, backend: &str) {
    let Some(device) = device(backend) else {
        return;
    };
    let net = net(&device).valid();
    let x = series(&device);
    bencher
        .counter(divan::counter::ItemsCount::new(pixels()))
        .bench_local(|| {
            net.forward(x.clone())
                .fused_logits
                .sum()
                .into_scalar::<f32>()
        });
}

/// One training step: forward in training mode, `CE(fused) + 0.5 CE(date)`, backward, Adam.
#[divan::bench(args = BACKENDS, sample_count = 3, sample_size = 1)]
fn training_step(bencher: Bencher, backend: &str) {
    let Some(device) = device(backend) else {
        return;
    };
    let ad = device.autodiff();
    let mut model = Some(net(&ad));
    let mut optim = AdamConfig::new().init();
    let x = series(&ad);
    let y = labels(&ad);
    bencher
        .counter(divan::counter::ItemsCount::new(pixels()))
        .bench_local(|| {
            let m = model.take().expect("model");
            let out = m.forward(x.clone());
            let loss = cross_entropy(out.fused_logits, y.clone())
                + cross_entropy(out.date_logits, y.clone()).mul_scalar(0.5);
            let value = loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            model = Some(optim.step(1e-3, m, grads));
            // Wait for the optimizer update too.
            ad.sync().expect("device sync");
            value
        });
}

/// Mean cross-entropy over dates and pixels; `logits` `[B,T,K,H,W]`, `labels` `[B,T,H,W]`.
fn cross_entropy(logits: Tensor<5>, labels: Tensor<4, Int>) -> Tensor<1> {
    let one_hot = labels.one_hot_fill::<5>(CLASSES, 1.0, 0.0, 2).float();
    (log_softmax(logits, 2) * one_hot).sum_dim(2).mean().neg()
}
