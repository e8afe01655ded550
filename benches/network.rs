//! Speed of the spatio-temporal network (issues 2 and 6): the U-Net forward alone, the full
//! network forward in evaluation mode, one training step (forward + loss + backward + Adam) and
//! sliding-window scene inference, with the default configuration (base 32 filters, depth 4,
//! hidden 16) on B=2 series of T=3 dates, C=4 bands, K=5 classes, 256x256 pixels.
//!
//! The workloads are `chronomap::bench`'s, the ones `chronomap bench` times (which adds GFLOP/s,
//! peak memory and JSON; see docs/performance.md).
//!
//! ```text
//! cargo bench --bench network                                  # flex, and a real GPU if any
//! CHRONOMAP_BENCH_SIZE=64 cargo bench --bench network          # quick sanity run
//! CHRONOMAP_BENCH_GPU=vulkan cargo bench --bench network       # lavapipe as "gpu"
//! CHRONOMAP_BENCH_SCENE=1024 cargo bench --bench network -- scene  # scene side (default 512)
//! ```
//!
//! Backends: `flex` always; `gpu` = the device `chronomap::select_device(Auto)` picks when it is
//! not Flex (CUDA or a real wgpu GPU), or the one named by `CHRONOMAP_BENCH_GPU` (any
//! [`chronomap::DeviceChoice`] name, e.g. `vulkan` to measure Mesa lavapipe, which `auto` never
//! picks). Unavailable backends are skipped with a note. Each timed closure syncs the device, so
//! the time includes the computation, not only its dispatch.

use std::sync::OnceLock;

use chronomap::bench::{EvalForward, SceneInference, TrainStep, Workload};
use chronomap::burn::prelude::*;
use chronomap::{DeviceChoice, select_device};
use divan::Bencher;
use indicatif::ProgressBar;

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

fn workload() -> Workload {
    Workload::reference().with_size(size())
}

fn pixels() -> usize {
    let w = workload();
    w.batch * w.time * w.size * w.size
}

/// U-Net forward (evaluation mode) on the B*T images.
#[divan::bench(args = BACKENDS, sample_count = 5, sample_size = 1)]
fn unet_forward(bencher: Bencher, backend: &str) {
    let Some(device) = device(backend) else {
        return;
    };
    let eval = EvalForward::new(&workload(), &device);
    bencher
        .counter(divan::counter::ItemsCount::new(pixels()))
        .bench_local(|| eval.run_unet().expect("device sync"));
}

/// Full network forward (evaluation mode): U-Net + ConvLSTM fusion.
#[divan::bench(args = BACKENDS, sample_count = 5, sample_size = 1)]
fn network_forward(bencher: Bencher, backend: &str) {
    let Some(device) = device(backend) else {
        return;
    };
    let eval = EvalForward::new(&workload(), &device);
    bencher
        .counter(divan::counter::ItemsCount::new(pixels()))
        .bench_local(|| eval.run().expect("device sync"));
}

/// One training step: forward in training mode, `CE(fused) + 0.5 CE(date)`, backward, Adam.
#[divan::bench(args = BACKENDS, sample_count = 3, sample_size = 1)]
fn training_step(bencher: Bencher, backend: &str) {
    let Some(device) = device(backend) else {
        return;
    };
    let mut step = TrainStep::new(&workload(), &device);
    bencher
        .counter(divan::counter::ItemsCount::new(pixels()))
        .bench_local(|| step.run().expect("device sync"));
}

/// Sliding-window inference of a `CHRONOMAP_BENCH_SCENE` px scene (default 512) with
/// chronomap-train's `run_scene`; the counter is megapixels of imagery (pixels x dates).
#[divan::bench(args = BACKENDS, sample_count = 2, sample_size = 1)]
fn scene_inference(bencher: Bencher, backend: &str) {
    let Some(device) = device(backend) else {
        return;
    };
    let side = std::env::var("CHRONOMAP_BENCH_SCENE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let mut w = workload();
    w.scene = Some([side, side]);
    let scene = SceneInference::new(&w, &device);
    let progress = ProgressBar::hidden();
    bencher
        .counter(divan::counter::ItemsCount::new(side * side * w.time))
        .bench_local(|| scene.run(&progress).expect("scene inference"));
}
