//! Fast CPU path: channels-last kernels for the U-Net, plugged into Burn's Flex backend with
//! hand-written backward passes.
//!
//! Burn 0.22.1's Flex convolution spends most of its time around the matrix product (layout
//! copies, scalar im2col, per-tile allocations) and its backward passes are generic
//! formulations (`conv_transpose` + col2im for the input gradient, a convolution with an
//! `h x w` kernel for the weight gradient). On a 2-core machine that made a training step
//! several times slower than PyTorch. This module replaces the U-Net's operations, when the
//! input lives on a Flex device (with or without autodiff), by:
//!
//! - one layout for every feature map: a zero-bordered channels-last grid `[n, h + 2, w + 2, c]`
//!   (`kernels::grid`), converted from `[n, c, h, w]` once at the U-Net's input; the 1x1 head
//!   writes `[n, k, h, w]` back;
//! - register-blocked microkernels (`kernels::micro`: AVX-512F or AVX2/FMA on x86-64, NEON on
//!   aarch64) for 3x3 convolutions (forward, input and weight gradients), the 2x2 transposed
//!   convolution and the 1x1 head;
//! - batch normalization fused with its ReLU, max pooling with a one-byte winner index, the
//!   decoder's skip concatenation read in place by the convolution;
//! - a recycling pool of aligned buffers (`kernels::pool`) so that steady-state training does
//!   not page-fault on fresh 50 MB activations.
//!
//! The model code calls the functions below only when `is_fast` says so; parameters stay
//! ordinary `Param` tensors (checkpoints, optimizers and other devices are unaffected).
//!
//! Environment: `CHRONOMAP_CPU_FAST=0` disables the fast path (the stock Burn operations run
//! instead); `CHRONOMAP_CPU_POOL_MB` caps the buffer pool (default 2048, 0 disables it);
//! `CHRONOMAP_CPU_PROFILE=1` times every kernel call (see [`profile_report`]).

pub(crate) mod fusion;
pub(crate) mod kernels;
mod ops;
mod profile;
mod tensor;
pub(crate) mod unet;

pub use profile::report as profile_report;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU8, Ordering};

use burn::backend::{Dispatch, DispatchDevice};
use burn::prelude::*;
use burn::tensor::DType;

use ops::CpuFastOps;

/// 0: not decided yet (read the environment), 1: on, 2: off.
static ENABLED: AtomicU8 = AtomicU8::new(0);

/// Whether the fast CPU path is enabled (default: yes, unless `CHRONOMAP_CPU_FAST=0`).
pub fn fast_path_enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = std::env::var("CHRONOMAP_CPU_FAST").map_or(true, |v| v.trim() != "0");
            ENABLED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

/// Turns the fast CPU path on or off for the whole process (e.g. to compare with Burn's stock
/// operations). Takes effect at the next forward pass.
pub fn set_fast_path(enabled: bool) {
    ENABLED.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Frees the buffers kept by the fast path's recycling pool (they are otherwise reused by the
/// next forward or backward pass).
pub fn release_cached_buffers() {
    kernels::pool::clear();
}

thread_local! {
    /// Per-thread override of [`fast_path_enabled`] (tests compare both paths concurrently).
    static LOCAL: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with the fast path forced on or off for the calling thread only.
#[cfg(test)]
pub(crate) fn with_fast_path<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    let old = LOCAL.replace(Some(enabled));
    let r = f();
    LOCAL.set(old);
    r
}

// The tensor-level operations below are `pub` (hidden) for `benches/kernels.rs` only: they
// work on grid tensors of the fast path and are not a stable API.

/// Whether `x` can take the fast path: an `f32` tensor on a Flex device (autodiff or not) while
/// the path is enabled.
pub(crate) fn is_fast<const D: usize>(x: &Tensor<D>) -> bool {
    LOCAL.get().unwrap_or_else(fast_path_enabled)
        && x.dtype() == DType::F32
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// `[n, c, h, w]` to a grid `[n, h + 2, w + 2, c]`.
#[doc(hidden)]
pub fn to_grid(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_to_grid(x.into_dispatch()))
}

/// 3x3 convolution (padding 1) of a grid, weights `[c_out, c_in, 3, 3]`, optional bias, optional
/// ReLU; returns a grid.
#[doc(hidden)]
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, relu: bool) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_conv3x3(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        relu,
    ))
}

/// [`conv3x3`] of `cat[a, b]` along channels (not materialized).
#[doc(hidden)]
pub fn conv3x3_cat(
    a: Tensor<4>,
    b: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    relu: bool,
) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_conv3x3_cat(
        a.into_dispatch(),
        b.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        relu,
    ))
}

/// Inference convolution with batch normalization folded in: 3x3 convolution of `x` (or
/// `cat[x, skip]`) with the weights of output channel `o` multiplied by `scale[o]`, bias `shift`,
/// then ReLU; returns a grid.
#[doc(hidden)]
pub fn conv3x3_folded(
    x: Tensor<4>,
    skip: Option<Tensor<4>>,
    weight: Tensor<4>,
    scale: Tensor<1>,
    shift: Tensor<1>,
) -> Tensor<4> {
    let out = match skip {
        None => <Dispatch as CpuFastOps>::fast_conv3x3_scaled(
            x.into_dispatch(),
            weight.into_dispatch(),
            scale.into_dispatch(),
            shift.into_dispatch(),
            true,
        ),
        Some(s) => <Dispatch as CpuFastOps>::fast_conv3x3_cat_scaled(
            x.into_dispatch(),
            s.into_dispatch(),
            weight.into_dispatch(),
            scale.into_dispatch(),
            shift.into_dispatch(),
            true,
        ),
    };
    Tensor::from_dispatch(out)
}

/// `relu(batch_norm(y))` with batch statistics on a grid; returns the output grid, the batch
/// mean and the biased batch variance (both `[c]`, without gradient).
#[doc(hidden)]
pub fn bn_relu_train(
    y: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let (z, stats) = <Dispatch as CpuFastOps>::fast_bn_relu_train(
        y.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    let stats: Tensor<2> = Tensor::from_dispatch(stats);
    let [_, c] = stats.dims();
    let mean = stats.clone().narrow(0, 0, 1).reshape([c]);
    let var = stats.narrow(0, 1, 1).reshape([c]);
    (Tensor::from_dispatch(z), mean, var)
}

/// 2x2 max pooling (stride 2) of a grid.
#[doc(hidden)]
pub fn max_pool2(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_max_pool2(x.into_dispatch()))
}

/// 2x2 transposed convolution (stride 2) of a grid, weights `[c_in, c_out, 2, 2]`, bias.
#[doc(hidden)]
pub fn conv_t2(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[1]], &weight.device()));
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_conv_t2(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// 1x1 convolution of a grid with weights `[k, c, 1, 1]` and optional bias; returns
/// `[n, k, h, w]`.
#[doc(hidden)]
pub fn head(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_head(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// A grid `[n, h + 2, w + 2, c]` back to `[n, c, h, w]`.
#[doc(hidden)]
pub fn from_grid(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_from_grid(x.into_dispatch()))
}

/// Softmax over axis 1 of `[n, k, h, w]`, as a grid `[n, h + 2, w + 2, k]`.
#[doc(hidden)]
pub fn softmax_to_grid(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuFastOps>::fast_softmax_to_grid(
        x.into_dispatch(),
    ))
}

/// One ConvLSTM step on grids: `(x, h, c) -> (h', c')` with gates
/// `conv3x3(cat[x, h], weight) + bias` in the order i, f, o, g (fused into one pass without
/// autodiff).
#[doc(hidden)]
pub fn convlstm_step(
    x: Tensor<4>,
    hidden: Tensor<4>,
    cell: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
) -> (Tensor<4>, Tensor<4>) {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    let (h, c) = <Dispatch as CpuFastOps>::fast_convlstm_step(
        x.into_dispatch(),
        hidden.into_dispatch(),
        cell.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    );
    (Tensor::from_dispatch(h), Tensor::from_dispatch(c))
}
