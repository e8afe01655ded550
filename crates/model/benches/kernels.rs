//! The fast CPU path's operations against Burn's stock Flex operations, at the sizes of the
//! reference workload's first U-Net level: `B*T = 6` images, 32 channels, 256x256 pixels
//! (`CHRONOMAP_BENCH_SIZE` overrides the side, e.g. 64 for a quick run).
//!
//! Each operation is timed forward only (`*_forward`, plain Flex tensors) and forward + backward
//! (`*_train`, autodiff tensors, loss `sum(y * r)`); argument `fast` runs the channels-last
//! kernels on grid tensors, `stock` Burn's operations on `[n, c, h, w]` tensors.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo bench -p chronomap-model --bench kernels
//! RAYON_NUM_THREADS=2 cargo bench -p chronomap-model --bench kernels -- conv3x3
//! CHRONOMAP_CPU_PROFILE=1 cargo bench -p chronomap-model --bench kernels -- fast   # + per-kernel timers
//! ```

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use burn::tensor::module::{batch_norm_train, conv_transpose2d, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use chronomap_model::cpu;
use divan::Bencher;

fn main() {
    divan::main();
    let report = cpu::profile_report();
    if !report.is_empty() {
        println!("fast-path kernel timers (CHRONOMAP_CPU_PROFILE=1):\n{report}");
    }
}

const PATHS: &[&str] = &["fast", "stock"];

/// Images (dates folded into the batch: B=2 x T=3).
const N: usize = 6;

/// Image side, `CHRONOMAP_BENCH_SIZE` (default 256).
fn side() -> usize {
    std::env::var("CHRONOMAP_BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn rand<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// `[n, c, h, w]` on `device`, as a grid for the fast path.
fn input(path: &str, shape: [usize; 4], device: &Device) -> Tensor<4> {
    let x = rand(shape, device);
    if path == "fast" { cpu::to_grid(x) } else { x }
}

/// Waits for the result (Flex is eager; this also keeps the compiler from dropping work).
fn done<const D: usize>(t: Tensor<D>) {
    divan::black_box(t.into_data());
}

/// Forward + backward of `sum(f(leaves) * r)`; `r` has the output's shape.
fn train<const D: usize>(leaves: Vec<Tensor<4>>, f: impl Fn(&[Tensor<4>]) -> Tensor<D>) {
    let y = f(&leaves);
    let r = Tensor::<D>::ones(y.dims(), &y.device());
    let grads = (y * r).sum().backward();
    for l in &leaves {
        if let Some(g) = l.grad(&grads) {
            divan::black_box(g.into_data());
        }
    }
}

fn ad() -> Device {
    Device::flex().autodiff()
}

fn leaf(t: Tensor<4>) -> Tensor<4> {
    t.require_grad()
}

// 3x3 convolution, 32 -> 32 channels, padding 1, no bias.

fn conv3x3_op(path: &str, l: &[Tensor<4>]) -> Tensor<4> {
    if path == "fast" {
        cpu::conv3x3(l[0].clone(), l[1].clone(), None, false)
    } else {
        conv2d(
            l[0].clone(),
            l[1].clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
    }
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn conv3x3_forward(bencher: Bencher, path: &str) {
    let d = Device::flex();
    let s = side();
    bencher
        .with_inputs(|| vec![input(path, [N, 32, s, s], &d), rand([32, 32, 3, 3], &d)])
        .bench_values(|l| done(conv3x3_op(path, &l)));
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn conv3x3_train(bencher: Bencher, path: &str) {
    let d = ad();
    let s = side();
    bencher
        .with_inputs(|| {
            vec![
                leaf(input(path, [N, 32, s, s], &d)),
                leaf(rand([32, 32, 3, 3], &d)),
            ]
        })
        .bench_values(|l| train(l, |l| conv3x3_op(path, l)));
}

// Decoder convolution over cat[up, skip] (2 x 32 -> 32 channels).

fn conv3x3_cat_op(path: &str, l: &[Tensor<4>]) -> Tensor<4> {
    if path == "fast" {
        cpu::conv3x3_cat(l[0].clone(), l[1].clone(), l[2].clone(), None, false)
    } else {
        let x = Tensor::cat(vec![l[0].clone(), l[1].clone()], 1);
        conv2d(
            x,
            l[2].clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
    }
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn conv3x3_cat_train(bencher: Bencher, path: &str) {
    let d = ad();
    let s = side();
    bencher
        .with_inputs(|| {
            vec![
                leaf(input(path, [N, 32, s, s], &d)),
                leaf(input(path, [N, 32, s, s], &d)),
                leaf(rand([32, 64, 3, 3], &d)),
            ]
        })
        .bench_values(|l| train(l, |l| conv3x3_cat_op(path, l)));
}

// Batch normalization (training mode) + ReLU, 32 channels.

fn bn_op(path: &str, l: &[Tensor<4>]) -> Tensor<4> {
    let (g, b) = (
        Tensor::ones([32], &l[0].device()),
        Tensor::zeros([32], &l[0].device()),
    );
    if path == "fast" {
        cpu::bn_relu_train(l[0].clone(), g, b, 1e-5).0
    } else {
        relu(batch_norm_train(l[0].clone(), g, b, 1e-5).output)
    }
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn bn_relu_forward(bencher: Bencher, path: &str) {
    let d = Device::flex();
    let s = side();
    bencher
        .with_inputs(|| vec![input(path, [N, 32, s, s], &d)])
        .bench_values(|l| done(bn_op(path, &l)));
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn bn_relu_train(bencher: Bencher, path: &str) {
    let d = ad();
    let s = side();
    bencher
        .with_inputs(|| vec![leaf(input(path, [N, 32, s, s], &d))])
        .bench_values(|l| train(l, |l| bn_op(path, l)));
}

// 2x2 max pooling, 32 channels.

fn pool_op(path: &str, l: &[Tensor<4>]) -> Tensor<4> {
    if path == "fast" {
        cpu::max_pool2(l[0].clone())
    } else {
        max_pool2d(l[0].clone(), MaxPoolOptions::new([2, 2]))
    }
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn max_pool_train(bencher: Bencher, path: &str) {
    let d = ad();
    let s = side();
    bencher
        .with_inputs(|| vec![leaf(input(path, [N, 32, s, s], &d))])
        .bench_values(|l| train(l, |l| pool_op(path, l)));
}

// Up-sampling: ConvTranspose2d(64 -> 32, kernel 2, stride 2) from side/2 to side.

fn convt_op(path: &str, l: &[Tensor<4>]) -> Tensor<4> {
    let b = Tensor::zeros([32], &l[0].device());
    if path == "fast" {
        cpu::conv_t2(l[0].clone(), l[1].clone(), Some(b))
    } else {
        let opts = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
        conv_transpose2d(l[0].clone(), l[1].clone(), Some(b), opts)
    }
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn conv_transpose_forward(bencher: Bencher, path: &str) {
    let d = Device::flex();
    let s = side() / 2;
    bencher
        .with_inputs(|| vec![input(path, [N, 64, s, s], &d), rand([64, 32, 2, 2], &d)])
        .bench_values(|l| done(convt_op(path, &l)));
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn conv_transpose_train(bencher: Bencher, path: &str) {
    let d = ad();
    let s = side() / 2;
    bencher
        .with_inputs(|| {
            vec![
                leaf(input(path, [N, 64, s, s], &d)),
                leaf(rand([64, 32, 2, 2], &d)),
            ]
        })
        .bench_values(|l| train(l, |l| convt_op(path, l)));
}

// The 1x1 head, 32 channels -> 5 classes, with bias (output [n, 5, h, w] on both paths).

fn head_op(path: &str, l: &[Tensor<4>]) -> Tensor<4> {
    let b = Tensor::zeros([5], &l[0].device());
    if path == "fast" {
        cpu::head(l[0].clone(), l[1].clone(), Some(b))
    } else {
        conv2d(
            l[0].clone(),
            l[1].clone(),
            Some(b),
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
    }
}

#[divan::bench(args = PATHS, sample_count = 5, sample_size = 1)]
fn head_train(bencher: Bencher, path: &str) {
    let d = ad();
    let s = side();
    bencher
        .with_inputs(|| {
            vec![
                leaf(input(path, [N, 32, s, s], &d)),
                leaf(rand([5, 32, 1, 1], &d)),
            ]
        })
        .bench_values(|l| train(l, |l| head_op(path, l)));
}

// The whole network (default configuration), B=2, T=3, C=4, K=5, on the fast path: evaluation
// forward, and a training step (forward, a cross-entropy-like loss on both outputs, backward,
// Adam). With CHRONOMAP_CPU_PROFILE=1 the kernel timers printed at the end show how much of the
// step the fast kernels take; the rest is Burn's own operations (loss, gradient sums, Adam).

fn network(device: &Device) -> chronomap_model::SpatioTemporalNet {
    device.seed(0);
    chronomap_model::SpatioTemporalNetConfig::new(4, 5).init(device)
}

fn series(device: &Device) -> Tensor<5> {
    let s = side();
    Tensor::random([2, 3, 4, s, s], Distribution::Normal(0.0, 1.0), device)
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn network_eval_forward(bencher: Bencher) {
    let d = Device::flex();
    let net = network(&d);
    let x = series(&d);
    bencher.bench(|| done(net.forward(x.clone()).fused_logits));
}

/// Mean cross-entropy against `labels` (one-hot, `[b, t, k, h, w]`).
fn cross_entropy(logits: Tensor<5>, one_hot: Tensor<5>) -> Tensor<1> {
    let logp = burn::tensor::activation::log_softmax(logits, 2);
    let [b, t, _, h, w] = one_hot.dims();
    (logp * one_hot)
        .sum()
        .neg()
        .div_scalar((b * t * h * w) as f64)
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn network_train_step(bencher: Bencher) {
    use burn::optim::{AdamConfig, GradientsParams};
    let d = ad();
    let mut net = Some(network(&d));
    let x = series(&d);
    let s = side();
    let classes = Tensor::<5>::random([2, 3, 1, s, s], Distribution::Uniform(0.0, 5.0), &d).floor();
    let one_hot = Tensor::cat(
        (0..5)
            .map(|k| classes.clone().equal_elem(k as f32).float())
            .collect(),
        2,
    );
    let mut optim = AdamConfig::new().init();
    bencher.bench_local(|| {
        let model = net.take().expect("model");
        let out = model.forward(x.clone());
        let loss = cross_entropy(out.fused_logits, one_hot.clone())
            + cross_entropy(out.date_logits, one_hot.clone()).mul_scalar(0.5);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        net = Some(optim.step(1e-3, model, grads));
        divan::black_box(loss.into_data());
    });
}
