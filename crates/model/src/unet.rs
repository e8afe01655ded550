//! The per-date segmentation network: a U-Net with batch normalization.
//!
//! Ronneberger, Fischer & Brox 2015, "U-Net: Convolutional Networks for Biomedical Image
//! Segmentation", <https://arxiv.org/abs/1505.04597>. The layout (blocks, up-sampling, skip order,
//! key names) follows `tests/fixtures/parity/README.md`, written from an independent PyTorch
//! implementation of the talk's network.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use crate::conv_block::{ConvBlock, ConvBlockConfig};

/// Configuration of a [`UNet`]; build it with [`UNetConfig::init`].
///
/// Widths: encoder level `l` (0-based) has `base_filters * 2^l` channels, the bottleneck
/// `base_filters * 2^depth`. The default (`base_filters` 32, `depth` 4) gives 32-64-128-256
/// and a 512-channel bottleneck.
#[derive(Config, Debug)]
pub struct UNetConfig {
    /// Channels (spectral bands) of each input image.
    pub in_channels: usize,
    /// Number of land-cover classes (channels of the output logits).
    pub num_classes: usize,
    /// Channels of the first encoder level; doubled at every level down.
    #[config(default = 32)]
    pub base_filters: usize,
    /// Number of 2x down-samplings. Input height and width must be multiples of `2^depth`.
    #[config(default = 4)]
    pub depth: usize,
}

impl UNetConfig {
    /// A small U-Net for tests and quick experiments: `base_filters` 8, `depth` 2 (the parity
    /// fixture's size; inputs must be multiples of 4 pixels).
    pub fn tiny(in_channels: usize, num_classes: usize) -> Self {
        Self::new(in_channels, num_classes)
            .with_base_filters(8)
            .with_depth(2)
    }

    /// The value input height and width must be multiples of: `2^depth`.
    pub fn size_multiple(&self) -> usize {
        1 << self.depth
    }

    /// Builds the network on `device` (PyTorch's default initialization).
    ///
    /// # Panics
    /// If a channel count or `base_filters` is zero, or `depth` is not within `1..=10`.
    pub fn init(&self, device: &Device) -> UNet {
        assert!(
            self.in_channels > 0 && self.num_classes > 0 && self.base_filters > 0,
            "UNetConfig needs positive in_channels, num_classes and base_filters, got {}, {}, {}",
            self.in_channels,
            self.num_classes,
            self.base_filters
        );
        assert!(
            (1..=10).contains(&self.depth),
            "UNetConfig depth must be within 1..=10, got {}",
            self.depth
        );
        let width = |level: usize| self.base_filters << level;
        let enc = (0..self.depth)
            .map(|l| {
                let input = if l == 0 {
                    self.in_channels
                } else {
                    width(l - 1)
                };
                ConvBlockConfig::new(input, width(l)).init(device)
            })
            .collect();
        let bottleneck =
            ConvBlockConfig::new(width(self.depth - 1), width(self.depth)).init(device);
        // up.{i} and dec.{i}: i = 0 is the deepest level, l = depth - 1 - i.
        let levels_up = (0..self.depth).rev();
        let up = levels_up
            .clone()
            .map(|l| {
                ConvTranspose2dConfig::new([width(l + 1), width(l)], [2, 2])
                    .with_stride([2, 2])
                    .init(device)
            })
            .collect();
        let dec = levels_up
            .map(|l| ConvBlockConfig::new(2 * width(l), width(l)).init(device))
            .collect();
        let head = Conv2dConfig::new([width(0), self.num_classes], [1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .init(device);
        UNet {
            enc,
            bottleneck,
            up,
            dec,
            head,
        }
    }
}

/// U-Net: encoder blocks with 2x2 max-pooling, a bottleneck block, transposed-convolution
/// up-sampling with skip concatenation (`cat[up(x), skip]` on channels), and a 1x1 head.
///
/// Every block is a [`ConvBlock`] (conv3x3 -> batch norm -> ReLU, twice).
///
/// Checkpoint keys (Burn names; PyTorch names differ only in batch norm `gamma`/`beta` =
/// `weight`/`bias`): `enc.{l}.*`, `bottleneck.*`, `up.{i}.{weight,bias}` and `dec.{i}.*` with
/// `i = 0` the deepest level, `head.{weight,bias}`.
#[derive(Module, Debug)]
pub struct UNet {
    /// Encoder blocks, level 0 (full resolution) first.
    pub(crate) enc: Vec<ConvBlock>,
    /// Block at the lowest resolution.
    pub(crate) bottleneck: ConvBlock,
    /// Up-sampling `ConvTranspose2d(kernel 2, stride 2)`, deepest level first.
    pub(crate) up: Vec<ConvTranspose2d>,
    /// Decoder blocks, deepest level first.
    pub(crate) dec: Vec<ConvBlock>,
    /// Conv1x1 (with bias) from `base_filters` channels to class logits.
    pub(crate) head: Conv2d,
}

impl UNet {
    /// Per-pixel class logits of a batch of images.
    ///
    /// # Shapes
    /// - `x`: `[batch, in_channels, height, width]`, `height` and `width` multiples of
    ///   `2^depth` (16 for the default depth 4)
    /// - output: `[batch, num_classes, height, width]`
    ///
    /// # Panics
    /// If `x` does not have `in_channels` channels, or if its height or width is zero or not a
    /// multiple of `2^depth`. The message names the expected and actual values.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.check_input(&x.dims());
        // Flex devices: channels-last kernels with the same parameters and semantics.
        if crate::cpu::is_fast(&x) && crate::cpu::unet::supports(self) {
            return crate::cpu::unet::forward(self, x);
        }
        let mut skips = Vec::with_capacity(self.enc.len());
        let mut x = x;
        for block in &self.enc {
            x = block.forward(x);
            skips.push(x.clone());
            x = max_pool2d(x, MaxPoolOptions::new([2, 2]));
        }
        x = self.bottleneck.forward(x);
        for (up, dec) in self.up.iter().zip(&self.dec) {
            let skip = skips.pop().expect("one skip per level");
            x = dec.forward(Tensor::cat(vec![up.forward(x), skip], 1));
        }
        self.head.forward(x)
    }

    /// The encoder blocks, level 0 (full resolution) first.
    pub fn encoder(&self) -> &[ConvBlock] {
        &self.enc
    }

    /// The block at the lowest resolution.
    pub fn bottleneck(&self) -> &ConvBlock {
        &self.bottleneck
    }

    /// The decoder blocks, deepest level first (`dec.0` follows the bottleneck).
    pub fn decoder(&self) -> &[ConvBlock] {
        &self.dec
    }

    /// Channels of each input image.
    pub fn in_channels(&self) -> usize {
        self.enc[0].in_channels()
    }

    /// Number of classes (channels of the output).
    pub fn num_classes(&self) -> usize {
        self.head.weight.lazy_shape().dims::<4>()[0]
    }

    /// Number of 2x down-samplings.
    pub fn depth(&self) -> usize {
        self.enc.len()
    }

    /// The value input height and width must be multiples of: `2^depth`.
    pub fn size_multiple(&self) -> usize {
        1 << self.depth()
    }

    /// Panics with a message naming expected vs actual if `dims` (`[batch, channels, height,
    /// width]`) cannot go through the network.
    pub(crate) fn check_input(&self, dims: &[usize; 4]) {
        let [_, c, h, w] = *dims;
        let expected = self.in_channels();
        assert!(
            c == expected,
            "UNet expects {expected} input channels, got {c} (input shape {dims:?})"
        );
        let m = self.size_multiple();
        assert!(
            h > 0 && w > 0 && h % m == 0 && w % m == 0,
            "UNet input height and width must be positive multiples of 2^depth = {m}, got {h}x{w} \
             (input shape {dims:?}); pad or crop the image"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_has_class_channels_and_input_size() {
        let device = Device::flex();
        let unet = UNetConfig::tiny(4, 3).init(&device);
        let y = unet.forward(Tensor::ones([2, 4, 16, 12], &device));
        assert_eq!(y.dims(), [2, 3, 16, 12]);
    }

    #[test]
    fn default_widths_follow_the_talk() {
        // Widths 32-64-128-256, bottleneck 512: checked through the weight shapes.
        let unet = UNetConfig::new(4, 5).init(&Device::flex());
        let widths: Vec<usize> = unet.enc.iter().map(ConvBlock::out_channels).collect();
        assert_eq!(widths, [32, 64, 128, 256]);
        assert_eq!(unet.bottleneck.out_channels(), 512);
        assert_eq!(unet.up[0].weight.lazy_shape().dims::<4>(), [512, 256, 2, 2]);
        assert_eq!(unet.dec[0].in_channels(), 512);
        assert_eq!(unet.dec[3].out_channels(), 32);
    }

    #[test]
    #[should_panic(expected = "UNet expects 4 input channels, got 3 (input shape [1, 3, 16, 16])")]
    fn wrong_channels_panic() {
        let device = Device::flex();
        UNetConfig::tiny(4, 3)
            .init(&device)
            .forward(Tensor::zeros([1, 3, 16, 16], &device));
    }

    #[test]
    #[should_panic(expected = "multiples of 2^depth = 4, got 16x18")]
    fn size_not_multiple_panics() {
        let device = Device::flex();
        UNetConfig::tiny(4, 3)
            .init(&device)
            .forward(Tensor::zeros([1, 4, 16, 18], &device));
    }
}
