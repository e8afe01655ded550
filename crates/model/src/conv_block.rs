//! The U-Net's convolution block: `(conv3x3 -> BatchNorm -> ReLU) x 2`.
//!
//! Ronneberger et al. 2015, <https://arxiv.org/abs/1505.04597> (with batch normalization after
//! every convolution, as in the talk's network and the parity fixture).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::batch_norm::{BatchNorm, BatchNormConfig};

/// Configuration of a [`ConvBlock`]; build it with [`ConvBlockConfig::init`].
#[derive(Config, Debug)]
pub struct ConvBlockConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of both convolutions' outputs.
    pub out_channels: usize,
}

impl ConvBlockConfig {
    /// Builds the block on `device` (PyTorch's default initialization: weights uniform in
    /// `±1/sqrt(fan_in)`, batch norm `gamma = 1`, `beta = 0`).
    ///
    /// # Panics
    /// If a channel count is zero.
    pub fn init(&self, device: &Device) -> ConvBlock {
        assert!(
            self.in_channels > 0 && self.out_channels > 0,
            "ConvBlock channel counts must be positive, got in {} out {}",
            self.in_channels,
            self.out_channels
        );
        let conv = |i: usize, o: usize| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device)
        };
        ConvBlock {
            conv1: conv(self.in_channels, self.out_channels),
            bn1: BatchNormConfig::new(self.out_channels).init(device),
            conv2: conv(self.out_channels, self.out_channels),
            bn2: BatchNormConfig::new(self.out_channels).init(device),
        }
    }
}

/// Two rounds of conv3x3 (padding 1, no bias) -> [`BatchNorm`] (eps 1e-5, momentum 0.1) -> ReLU.
///
/// Checkpoint keys: `conv1.weight`, `bn1.{gamma,beta,running_mean,running_var}`, `conv2.weight`,
/// `bn2.*`.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub(crate) conv1: Conv2d,
    pub(crate) bn1: BatchNorm,
    pub(crate) conv2: Conv2d,
    pub(crate) bn2: BatchNorm,
}

impl ConvBlock {
    /// Applies the block.
    ///
    /// # Shapes
    /// - `x`: `[batch, in_channels, height, width]`
    /// - output: `[batch, out_channels, height, width]`
    ///
    /// # Panics
    /// If `x` does not have `in_channels` channels.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = x.dims();
        assert!(
            c == self.in_channels(),
            "ConvBlock expects {} input channels, got input shape {:?}",
            self.in_channels(),
            x.dims()
        );
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        relu(self.bn2.forward(self.conv2.forward(x)))
    }

    /// Channels of the input.
    pub fn in_channels(&self) -> usize {
        self.conv1.weight.lazy_shape().dims::<4>()[1]
    }

    /// Channels of the output.
    pub fn out_channels(&self) -> usize {
        self.conv1.weight.lazy_shape().dims::<4>()[0]
    }

    /// The two batch-norm layers, in order.
    pub fn batch_norms(&self) -> [&BatchNorm; 2] {
        [&self.bn1, &self.bn2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_size_changes_channels_and_has_no_conv_bias() {
        let device = Device::flex();
        let block = ConvBlockConfig::new(3, 5).init(&device);
        assert!(block.conv1.bias.is_none() && block.conv2.bias.is_none());
        let y = block.forward(Tensor::ones([2, 3, 8, 6], &device));
        assert_eq!(y.dims(), [2, 5, 8, 6]);
        // ReLU output.
        assert!(y.min().into_scalar::<f32>() >= 0.0);
        // 3*5*9 + 5*5*9 weights + 2 x (gamma, beta, running mean, running var) of 5.
        assert_eq!(block.num_params(), 135 + 225 + 2 * 4 * 5);
    }

    #[test]
    #[should_panic(expected = "ConvBlock expects 3 input channels, got input shape [1, 4, 8, 8]")]
    fn wrong_channels_panic() {
        let device = Device::flex();
        ConvBlockConfig::new(3, 5)
            .init(&device)
            .forward(Tensor::zeros([1, 4, 8, 8], &device));
    }
}
