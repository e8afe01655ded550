//! The U-Net forward pass on the fast CPU operations.
//!
//! Same parameters and semantics as [`UNet::forward`]: batch normalization with batch statistics
//! and a PyTorch-style running-statistics update when [`BatchNorm`] is in training mode on the
//! input's device, running statistics otherwise; in the latter case batch normalization is folded
//! into the preceding convolution (`w' = w * s`, `b' = beta + (b - mean) * s`,
//! `s = gamma / sqrt(var + eps)`), whose ReLU is applied in the same pass.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

use crate::batch_norm::BatchNorm;
use crate::conv_block::ConvBlock;
use crate::unet::UNet;

/// Whether every layer of `unet` has the geometry the fast operations implement (3x3 stride-1
/// padding-1 convolutions, 2x2 stride-2 transposed convolutions, a 1x1 head, no groups or
/// dilation). Always true for networks built by [`crate::UNetConfig`]; a network that differs
/// takes the reference path.
pub(crate) fn supports(unet: &UNet) -> bool {
    let conv3 = |c: &Conv2d| {
        c.kernel_size == [3, 3]
            && c.stride == [1, 1]
            && c.dilation == [1, 1]
            && c.groups == 1
            && matches!(
                c.padding,
                PaddingConfig2d::Explicit(1, 1, 1, 1) | PaddingConfig2d::Same
            )
    };
    let block = |b: &ConvBlock| conv3(&b.conv1) && conv3(&b.conv2);
    let up = |u: &ConvTranspose2d| {
        u.kernel_size == [2, 2]
            && u.stride == [2, 2]
            && u.dilation == [1, 1]
            && u.groups == 1
            && u.padding == [0, 0]
            && u.padding_out == [0, 0]
    };
    let h = &unet.head;
    unet.enc.iter().all(block)
        && block(&unet.bottleneck)
        && unet.dec.iter().all(block)
        && unet.up.iter().all(up)
        && h.kernel_size == [1, 1]
        && h.stride == [1, 1]
        && h.groups == 1
        && matches!(
            h.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
}

/// conv3x3 (over `x`, or `cat[x, skip]`) -> batch norm -> ReLU, on grids.
fn conv_bn_relu(x: Tensor<4>, skip: Option<Tensor<4>>, conv: &Conv2d, bn: &BatchNorm) -> Tensor<4> {
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val());
    // The reference batch norm sees the convolution's output, which is on an autodiff device
    // when the input or the weights are (an input moved to an autodiff device without requiring
    // gradients acts as a constant).
    let device = if weight.device().is_autodiff() {
        weight.device()
    } else {
        x.device()
    };
    if bn.is_training_on(&device) {
        let y = match skip {
            None => super::conv3x3(x, weight, bias, false),
            Some(s) => super::conv3x3_cat(x, s, weight, bias, false),
        };
        let [n, hp, wp, _] = y.dims();
        let (z, mean, var) = super::bn_relu_train(y, bn.gamma.val(), bn.beta.val(), bn.epsilon);
        bn.update_running_stats(mean, var, n * (hp - 2) * (wp - 2));
        z
    } else {
        let scale = bn.gamma.val().div(
            bn.running_var
                .value()
                .to_device(&device)
                .add_scalar(bn.epsilon)
                .sqrt(),
        );
        let mean = bn.running_mean.value().to_device(&device);
        let shift = match bias {
            Some(b) => b.sub(mean).mul(scale.clone()),
            None => mean.mul(scale.clone()).neg(),
        }
        .add(bn.beta.val());
        super::conv3x3_folded(x, skip, weight, scale, shift)
    }
}

/// A [`ConvBlock`] on grids; `skip` is concatenated after `x` (channels) before the first
/// convolution.
fn block(b: &ConvBlock, x: Tensor<4>, skip: Option<Tensor<4>>) -> Tensor<4> {
    let y = conv_bn_relu(x, skip, &b.conv1, &b.bn1);
    conv_bn_relu(y, None, &b.conv2, &b.bn2)
}

/// [`UNet::forward`] on the fast operations: `x` is `[batch, channels, height, width]`, the
/// result `[batch, classes, height, width]` (input checks are the caller's).
pub(crate) fn forward(unet: &UNet, x: Tensor<4>) -> Tensor<4> {
    let mut x = super::to_grid(x);
    let mut skips = Vec::with_capacity(unet.enc.len());
    for b in &unet.enc {
        x = block(b, x, None);
        skips.push(x.clone());
        x = super::max_pool2(x);
    }
    x = block(&unet.bottleneck, x, None);
    for (up, dec) in unet.up.iter().zip(&unet.dec) {
        let skip = skips.pop().expect("one skip per level");
        let u = super::conv_t2(x, up.weight.val(), up.bias.as_ref().map(|b| b.val()));
        x = block(dec, u, Some(skip));
    }
    super::head(
        x,
        unet.head.weight.val(),
        unet.head.bias.as_ref().map(|b| b.val()),
    )
}
