//! The spatio-temporal network of the talk: a per-date U-Net whose class probabilities (Pmap)
//! are fused over time by a ConvLSTM.
//!
//! U-Net: Ronneberger et al. 2015, <https://arxiv.org/abs/1505.04597>; ConvLSTM: Shi et al.
//! 2015, <https://arxiv.org/abs/1506.04214>. The exact layout is that of
//! `tests/fixtures/parity/README.md` (an independent PyTorch implementation), which
//! `tests/parity.rs` checks output for output and gradient for gradient.

use burn::module::{ModuleVisitor, Param, RunningState};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::conv_lstm::{ConvLstmCell, ConvLstmCellConfig, ConvLstmState};
use crate::unet::{UNet, UNetConfig};

/// Configuration of a [`SpatioTemporalNet`]; build it with [`SpatioTemporalNetConfig::init`].
///
/// Saved as JSON next to every chronomap checkpoint (see [`SpatioTemporalNet::save`]).
#[derive(Config, Debug, PartialEq, Eq)]
pub struct SpatioTemporalNetConfig {
    /// Channels (spectral bands) of each image.
    pub in_channels: usize,
    /// Number of land-cover classes.
    pub num_classes: usize,
    /// Channels of the U-Net's first level (doubled at every level down).
    #[config(default = 32)]
    pub base_filters: usize,
    /// Number of U-Net down-samplings; image height and width must be multiples of `2^depth`.
    #[config(default = 4)]
    pub depth: usize,
    /// Channels of the ConvLSTM's hidden and cell states.
    #[config(default = 16)]
    pub hidden_channels: usize,
    /// Residual fusion: `fused_logits[:, t] = out(h_t) + date_logits[:, t]`, so the
    /// ConvLSTM learns a correction of each date's own logits instead of replacing them. At a
    /// series' first date (no history) the fused map then starts from the per-date map
    /// instead of being rebuilt from the Pmap alone. No extra weights (checkpoints keep their
    /// keys); off when `None` (the default, and what configurations saved before the option
    /// existed read as), which is the talk's (and the PyTorch parity fixture's) network.
    pub residual: Option<bool>,
    /// At a series' first date (fusing with no ConvLSTM state given), the fused logits are the
    /// date's own U-Net logits: with no history there is nothing to fuse, so the fused map
    /// equals the per-date map there instead of a learned rewrite of it (which, measured on
    /// held-out cities, can be slightly worse). Later dates are unchanged; the ConvLSTM state
    /// still starts from the first date. No extra weights; off when `None` (the default and
    /// the parity network).
    pub first_date_from_unet: Option<bool>,
}

impl SpatioTemporalNetConfig {
    /// Whether [`residual`](Self::residual) fusion is on.
    pub fn residual_fusion(&self) -> bool {
        self.residual == Some(true)
    }

    /// Whether [`first_date_from_unet`](Self::first_date_from_unet) is on.
    pub fn first_date_passthrough(&self) -> bool {
        self.first_date_from_unet == Some(true)
    }

    /// A small network for tests and quick experiments: `base_filters` 8, `depth` 2,
    /// `hidden_channels` 4 (the size of the parity fixture; images must be multiples of 4 px).
    pub fn tiny(in_channels: usize, num_classes: usize) -> Self {
        Self::new(in_channels, num_classes)
            .with_base_filters(8)
            .with_depth(2)
            .with_hidden_channels(4)
    }

    /// The configuration of the per-date U-Net.
    pub fn unet(&self) -> UNetConfig {
        UNetConfig::new(self.in_channels, self.num_classes)
            .with_base_filters(self.base_filters)
            .with_depth(self.depth)
    }

    /// The configuration of the ConvLSTM cell (input: the `num_classes` Pmap channels).
    pub fn conv_lstm(&self) -> ConvLstmCellConfig {
        ConvLstmCellConfig::new(self.num_classes, self.hidden_channels)
    }

    /// The value image height and width must be multiples of: `2^depth`.
    pub fn size_multiple(&self) -> usize {
        1 << self.depth
    }

    /// Why this configuration cannot build a network (a zero channel count, `depth` outside
    /// `1..=10`), or `None` if it can. [`SpatioTemporalNetConfig::init`] panics on such a
    /// configuration; check configurations read from files with this first.
    pub fn invalid_reason(&self) -> Option<String> {
        let zero = [
            ("in_channels", self.in_channels),
            ("num_classes", self.num_classes),
            ("base_filters", self.base_filters),
            ("hidden_channels", self.hidden_channels),
        ]
        .into_iter()
        .find(|(_, v)| *v == 0);
        if let Some((name, _)) = zero {
            return Some(format!("{name} must be positive, got 0"));
        }
        if !(1..=10).contains(&self.depth) {
            return Some(format!("depth must be within 1..=10, got {}", self.depth));
        }
        None
    }

    /// Builds the network on `device` with PyTorch's default initialization. Use an autodiff
    /// device (`device.autodiff()`) to train it.
    ///
    /// # Panics
    /// If a channel count or `base_filters` is zero, or `depth` is not within `1..=10`.
    pub fn init(&self, device: &Device) -> SpatioTemporalNet {
        if let Some(reason) = self.invalid_reason() {
            panic!("invalid SpatioTemporalNetConfig: {reason}");
        }
        SpatioTemporalNet {
            fcn: self.unet().init(device),
            lstm: self.conv_lstm().init(device),
            out: Conv2dConfig::new([self.hidden_channels, self.num_classes], [1, 1])
                .with_padding(PaddingConfig2d::Valid)
                .init(device),
            config: self.clone(),
        }
    }
}

/// The state the network carries from one date to the next: the ConvLSTM's hidden and cell
/// tensors, both `[batch, hidden_channels, height, width]`.
///
/// To store it, write `state.hidden` and `state.cell` (e.g. `into_data()`); to resume, rebuild
/// it with [`ConvLstmState::new`] or [`ConvLstmState::from_data`].
pub type TemporalState = ConvLstmState;

/// Outputs of [`SpatioTemporalNet::forward`], both `[batch, time, num_classes, height, width]`.
#[derive(Clone, Debug)]
pub struct SpatioTemporalOutput {
    /// Per-date logits of the U-Net alone (softmax over axis 2 = that date's Pmap).
    pub date_logits: Tensor<5>,
    /// Logits after temporal fusion: at date `t` they depend on dates `0..=t`.
    pub fused_logits: Tensor<5>,
}

/// Outputs of [`SpatioTemporalNet::step_with_date_logits`] for one new date.
#[derive(Clone, Debug)]
pub struct StepOutput {
    /// The U-Net logits of this date alone, `[batch, num_classes, height, width]`.
    pub date_logits: Tensor<4>,
    /// The fused logits after this date, `[batch, num_classes, height, width]`.
    pub fused_logits: Tensor<4>,
    /// The state to pass to the next step.
    pub state: TemporalState,
}

/// The talk's network: U-Net per date -> Pmap -> ConvLSTM over dates -> 1x1 conv -> fused
/// class logits.
///
/// For an input `x` of shape `[batch, time, channels, height, width]`:
/// 1. the [`UNet`] runs on every date with the same weights (dates folded into the batch):
///    `date_logits[:, t]`;
/// 2. `Pmap_t = softmax(date_logits[:, t])` over classes;
/// 3. the [`ConvLstmCell`] consumes `Pmap_t` with the state of date `t - 1` (zeros at `t = 0`);
/// 4. `out`, a 1x1 convolution with bias, maps the hidden state `h_t` to `fused_logits[:, t]`
///    (plus `date_logits[:, t]` with [`SpatioTemporalNetConfig::residual`]).
///
/// Train/eval: batch normalization uses batch statistics when the input is on an autodiff
/// device and the network is not [`valid`](Module::valid)ated or frozen; use `net.valid()` for
/// inference.
///
/// Checkpoint keys (Burn names): `fcn.*` (the [`UNet`]), `lstm.gates.{weight,bias}`,
/// `out.{weight,bias}`. [`SpatioTemporalNet::load_safetensors`] maps PyTorch names onto them.
#[derive(Module, Debug)]
pub struct SpatioTemporalNet {
    /// The per-date U-Net ("fully convolutional network").
    pub(crate) fcn: UNet,
    /// The temporal fusion cell.
    pub(crate) lstm: ConvLstmCell,
    /// conv1x1 (with bias) from the hidden state to class logits.
    pub(crate) out: Conv2d,
    #[module(skip)]
    pub(crate) config: SpatioTemporalNetConfig,
}

impl SpatioTemporalNet {
    /// Per-date and fused logits of a batch of image time series.
    ///
    /// # Shapes
    /// - `x`: `[batch, time, in_channels, height, width]`, `height` and `width` multiples of
    ///   `2^depth`
    /// - outputs: `[batch, time, num_classes, height, width]`
    ///
    /// # Panics
    /// If the batch or time axis is empty, the channel count is not `in_channels`, or height or
    /// width is not a positive multiple of `2^depth`; the message names expected vs actual.
    pub fn forward(&self, x: Tensor<5>) -> SpatioTemporalOutput {
        let date_logits = self.date_logits(x);
        let fused_logits = self.fuse(date_logits.clone());
        SpatioTemporalOutput {
            date_logits,
            fused_logits,
        }
    }

    /// The U-Net alone on every date (step 1 of [`SpatioTemporalNet`]): per-date logits.
    ///
    /// Stage one of staged training optimizes a loss on these only.
    ///
    /// # Shapes
    /// - `x`: `[batch, time, in_channels, height, width]`
    /// - output: `[batch, time, num_classes, height, width]`
    ///
    /// # Panics
    /// As [`SpatioTemporalNet::forward`].
    pub fn date_logits(&self, x: Tensor<5>) -> Tensor<5> {
        let dims = x.dims();
        self.check_series(&dims);
        let [b, t, c, h, w] = dims;
        let k = self.config.num_classes;
        self.fcn
            .forward(x.reshape([b * t, c, h, w]))
            .reshape([b, t, k, h, w])
    }

    /// Temporal fusion alone (steps 2-4 of [`SpatioTemporalNet`]) on given per-date logits,
    /// from the zero state.
    ///
    /// With a frozen U-Net ([`SpatioTemporalNet::freeze_unet`]), pass
    /// `net.date_logits(x).detach()` to train only the ConvLSTM and `out` (stage two of staged
    /// training).
    ///
    /// # Shapes
    /// - `date_logits`: `[batch, time, num_classes, height, width]`
    /// - output (fused logits): same shape
    ///
    /// # Panics
    /// If axis 2 is not `num_classes` or the batch or time axis is empty.
    pub fn fuse(&self, date_logits: Tensor<5>) -> Tensor<5> {
        self.fuse_from(date_logits, None).0
    }

    /// [`SpatioTemporalNet::fuse`] starting from `state` (`None`: zeros), also returning the
    /// state after the last date, to continue the series later.
    ///
    /// # Shapes
    /// - `date_logits`: `[batch, time, num_classes, height, width]`
    /// - output: fused logits of the same shape, and the state after the last date
    ///
    /// # Panics
    /// As [`SpatioTemporalNet::fuse`], or if `state` is not
    /// `[batch, hidden_channels, height, width]`.
    pub fn fuse_from(
        &self,
        date_logits: Tensor<5>,
        state: Option<TemporalState>,
    ) -> (Tensor<5>, TemporalState) {
        let [b, t, k, _, _] = date_logits.dims();
        let expected = self.config.num_classes;
        assert!(
            k == expected && b > 0 && t > 0,
            "SpatioTemporalNet::fuse expects date logits [batch >= 1, time >= 1, num_classes = \
             {expected}, height, width], got shape {:?}",
            date_logits.dims()
        );
        let skip = self.config.residual_fusion().then(|| date_logits.clone());
        let first = (state.is_none() && self.config.first_date_passthrough())
            .then(|| date_logits.clone().narrow(1, 0, 1));
        let (fused, state) = self.fuse_raw(date_logits, state);
        let fused = match skip {
            Some(d) => fused + d,
            None => fused,
        };
        let fused = match first {
            Some(f) if t == 1 => f,
            Some(f) => Tensor::cat(vec![f, fused.narrow(1, 1, t - 1)], 1),
            None => fused,
        };
        (fused, state)
    }

    /// `out(h_t)` for every date (the fused logits without the residual skip).
    fn fuse_raw(
        &self,
        date_logits: Tensor<5>,
        state: Option<TemporalState>,
    ) -> (Tensor<5>, TemporalState) {
        let [b, t, k, h, w] = date_logits.dims();
        // Flex devices: softmax, ConvLSTM and output convolution on the channels-last kernels.
        if crate::cpu::is_fast(&date_logits) && crate::cpu::fusion::supports(&self.lstm, &self.out)
        {
            return crate::cpu::fusion::fuse_from(self, date_logits, state);
        }
        let pmap = softmax(date_logits, 2);
        let (hidden, state) = self.lstm.forward_sequence(pmap, state);
        let hid = self.config.hidden_channels;
        let fused = self
            .out
            .forward(hidden.reshape([b * t, hid, h, w]))
            .reshape([b, t, k, h, w]);
        (fused, state)
    }

    /// Streaming update: the fused logits after one new date, given the state left by the
    /// previous dates (`None` for the first date). Running `step` over the dates of a series
    /// gives the same fused logits as [`SpatioTemporalNet::forward`] on the whole series.
    ///
    /// # Shapes
    /// - `frame`: `[batch, in_channels, height, width]`
    /// - output: fused logits `[batch, num_classes, height, width]`, and the new state
    ///   `[batch, hidden_channels, height, width]`
    ///
    /// # Panics
    /// As [`SpatioTemporalNet::forward`], or if `state` does not match the frame.
    pub fn step(
        &self,
        frame: Tensor<4>,
        state: Option<TemporalState>,
    ) -> (Tensor<4>, TemporalState) {
        let out = self.step_with_date_logits(frame, state);
        (out.fused_logits, out.state)
    }

    /// [`SpatioTemporalNet::step`] that also returns the U-Net logits of the new date (what a
    /// streaming map update needs to report both the date's own map and the fused one).
    ///
    /// # Shapes
    /// See [`StepOutput`]; `frame` is `[batch, in_channels, height, width]`.
    ///
    /// # Panics
    /// As [`SpatioTemporalNet::step`].
    pub fn step_with_date_logits(
        &self,
        frame: Tensor<4>,
        state: Option<TemporalState>,
    ) -> StepOutput {
        let [b, c, h, w] = frame.dims();
        let date_logits = self
            .date_logits(frame.reshape([b, 1, c, h, w]))
            .squeeze_dim::<4>(1);
        // One date of `fuse_from`: on Flex devices the softmax, the ConvLSTM step and the 1x1
        // output run on the channels-last kernels, as for a whole series.
        let (fused, state) = self.fuse_from(date_logits.clone().unsqueeze_dim::<5>(1), state);
        let fused_logits = fused.squeeze_dim::<4>(1);
        StepOutput {
            date_logits,
            fused_logits,
            state,
        }
    }

    /// The zero state `h_0 = c_0 = 0` for `batch` series of `height x width` pixels.
    pub fn initial_state(
        &self,
        batch: usize,
        height: usize,
        width: usize,
        device: &Device,
    ) -> TemporalState {
        ConvLstmState::zeros(batch, self.config.hidden_channels, height, width, device)
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &SpatioTemporalNetConfig {
        &self.config
    }

    /// The per-date U-Net.
    pub fn unet(&self) -> &UNet {
        &self.fcn
    }

    /// The temporal fusion cell.
    pub fn conv_lstm(&self) -> &ConvLstmCell {
        &self.lstm
    }

    /// Replaces the U-Net (e.g. by one pre-trained alone).
    ///
    /// # Panics
    /// If `unet` does not have the configured input channels, classes and depth; widths are
    /// checked when checkpoints are loaded, not here.
    pub fn with_unet(mut self, unet: UNet) -> Self {
        let c = &self.config;
        assert!(
            unet.in_channels() == c.in_channels
                && unet.num_classes() == c.num_classes
                && unet.depth() == c.depth,
            "with_unet expects a U-Net with {} input channels, {} classes and depth {}, got {}, {} \
             and {}",
            c.in_channels,
            c.num_classes,
            c.depth,
            unet.in_channels(),
            unet.num_classes(),
            unet.depth()
        );
        self.fcn = unet;
        self
    }

    /// Freezes the U-Net: no gradients for its weights, and its batch norms use (and keep)
    /// their running statistics even on an autodiff device. The temporal part still trains.
    pub fn freeze_unet(mut self) -> Self {
        self.fcn = self.fcn.freeze();
        self
    }

    /// Undoes [`SpatioTemporalNet::freeze_unet`].
    pub fn unfreeze_unet(mut self) -> Self {
        self.fcn = self.fcn.unfreeze();
        self
    }

    /// Freezes the temporal part (ConvLSTM and `out`): no gradients for their weights.
    pub fn freeze_temporal(mut self) -> Self {
        self.lstm = self.lstm.freeze();
        self.out = self.out.freeze();
        self
    }

    /// Undoes [`SpatioTemporalNet::freeze_temporal`].
    pub fn unfreeze_temporal(mut self) -> Self {
        self.lstm = self.lstm.unfreeze();
        self.out = self.out.unfreeze();
        self
    }

    /// Number of trainable parameters (weights, biases, batch-norm scales and shifts), without
    /// the batch-norm running statistics that [`Module::num_params`] also counts. The default
    /// configuration with 4 bands and 5 classes has 7,775,706.
    pub fn num_trainable_params(&self) -> usize {
        let mut counter = TrainableCounter::default();
        self.visit(&mut counter);
        counter.count
    }

    /// Panics with a message naming expected vs actual if a `[batch, time, channels, height,
    /// width]` series cannot go through the network.
    fn check_series(&self, dims: &[usize; 5]) {
        let [b, t, c, h, w] = *dims;
        let cfg = &self.config;
        assert!(
            b > 0 && t > 0,
            "SpatioTemporalNet needs at least one series and one date, got input shape {dims:?} \
             ([batch, time, channels, height, width])"
        );
        assert!(
            c == cfg.in_channels,
            "SpatioTemporalNet expects {} channels (axis 2 of [batch, time, channels, height, \
             width]), got {c} (input shape {dims:?})",
            cfg.in_channels
        );
        let m = cfg.size_multiple();
        assert!(
            h > 0 && w > 0 && h % m == 0 && w % m == 0,
            "SpatioTemporalNet input height and width must be positive multiples of 2^depth = \
             {m}, got {h}x{w} (input shape {dims:?}); pad or crop the images"
        );
    }
}

/// Counts float parameters, skipping batch-norm running statistics (found by field name).
#[derive(Default)]
struct TrainableCounter {
    path: Vec<String>,
    count: usize,
}

impl ModuleVisitor for TrainableCounter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = self.path.last().map(String::as_str).unwrap_or("");
        if name != "running_mean" && name != "running_var" {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

/// First id given by [`SpatioTemporalNet::with_sequential_ids`] ("chrono" in ASCII, then a
/// counter).
const SEQUENTIAL_IDS_BASE: u64 = 0x6368_726f_6e6f_0000;

/// Gives every float parameter the next id of a counter, in visiting order (the network has
/// no integer or boolean parameters; its flags carry no id).
struct SequentialIds(u64);

impl SequentialIds {
    fn next(&mut self) -> burn::module::ParamId {
        self.0 += 1;
        burn::module::ParamId::from(SEQUENTIAL_IDS_BASE + self.0)
    }
}

impl burn::module::ModuleMapper for SequentialIds {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.id = self.next();
        param
    }
}

impl SpatioTemporalNet {
    /// The same network with parameter ids numbered in a fixed order instead of Burn's random
    /// ones (the batch norms' running statistics included).
    ///
    /// Burn saves parameter ids with the weights (and keys optimizer state by them), so two
    /// networks with identical weights but fresh random ids give different model files.
    /// Training calls this once after initialization, so that the same seed gives
    /// byte-identical model files and weight hashes.
    pub fn with_sequential_ids(self) -> Self {
        let mut ids = SequentialIds(0);
        self.map(&mut ids).renumber_running_states(ids)
    }

    /// Renumbers only the batch norms' running statistics, exactly as
    /// [`with_sequential_ids`](Self::with_sequential_ids) does, and keeps the weights' ids
    /// (they key the optimizer state). Loading a saved record restores the weights' ids but
    /// leaves the running statistics with fresh random ones: calling this after a load makes
    /// a resumed run save the same bytes as one that never stopped.
    pub fn with_sequential_running_ids(self) -> Self {
        struct Count(u64);
        impl ModuleVisitor for Count {
            fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<D>>) {
                self.0 += 1;
            }
        }
        let mut count = Count(0);
        self.visit(&mut count);
        self.renumber_running_states(SequentialIds(count.0))
    }

    /// Gives the running statistics the next ids of `ids`, block by block.
    fn renumber_running_states(mut self, mut ids: SequentialIds) -> Self {
        let blocks = self
            .fcn
            .enc
            .iter_mut()
            .chain(std::iter::once(&mut self.fcn.bottleneck))
            .chain(self.fcn.dec.iter_mut());
        for block in blocks {
            for bn in [&mut block.bn1, &mut block.bn2] {
                bn.running_mean = RunningState::with_id(ids.next(), bn.running_mean.value());
                bn.running_var = RunningState::with_id(ids.next(), bn.running_var.value());
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::{Distribution, Tolerance};

    fn series(b: usize, t: usize, device: &Device) -> Tensor<5> {
        device.seed(7);
        Tensor::random([b, t, 4, 16, 16], Distribution::Normal(0.0, 1.0), device)
    }

    #[test]
    fn default_config_has_the_talks_parameter_count() {
        // 7,775,706 trainable + 5,888 running statistics: counted by the independent PyTorch
        // implementation (tests/fixtures/parity/README.md).
        let net = SpatioTemporalNetConfig::new(4, 5).init(&Device::flex());
        assert_eq!(net.num_trainable_params(), 7_775_706);
        assert_eq!(net.num_params(), 7_781_594);
    }

    #[test]
    fn shapes_for_odd_and_even_series_lengths() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        for t in [1, 2, 5] {
            let out = net.forward(series(1, t, &device));
            assert_eq!(out.date_logits.dims(), [1, t, 3, 16, 16]);
            assert_eq!(out.fused_logits.dims(), [1, t, 3, 16, 16]);
        }
    }

    #[test]
    fn forward_equals_repeated_step() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        let x = series(2, 3, &device);
        let out = net.forward(x.clone());
        let mut state = None;
        for t in 0..3 {
            let frame = x.clone().narrow(1, t, 1).squeeze_dim::<4>(1);
            let step = net.step_with_date_logits(frame, state);
            let want = |y: &Tensor<5>| y.clone().narrow(1, t, 1).squeeze_dim::<4>(1).into_data();
            step.fused_logits
                .clone()
                .into_data()
                .assert_approx_eq::<f32>(&want(&out.fused_logits), Tolerance::default());
            step.date_logits
                .into_data()
                .assert_approx_eq::<f32>(&want(&out.date_logits), Tolerance::default());
            state = Some(step.state);
        }
    }

    /// Residual fusion adds each date's logits to `out(h_t)` and nothing else: the same
    /// weights with the option off give `fused - date_logits` (on Flex's channels-last path
    /// and on the autodiff tensor-op path alike), and the checkpoint keys do not change.
    #[test]
    fn residual_fusion_adds_the_date_logits() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            let plain = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
            let mut residual = plain.clone();
            residual.config.residual = Some(true);
            let x = series(2, 3, &device);
            let a = plain.forward(x.clone());
            let b = residual.forward(x);
            (b.fused_logits - b.date_logits.clone())
                .into_data()
                .assert_approx_eq::<f32>(&a.fused_logits.into_data(), Tolerance::default());
            b.date_logits
                .into_data()
                .assert_approx_eq::<f32>(&a.date_logits.into_data(), Tolerance::default());
            assert_eq!(plain.num_params(), residual.num_params());
        }
        // a saved configuration without the field (before the option existed) reads as off
        let json =
            r#"{"in_channels":4,"num_classes":5,"base_filters":32,"depth":4,"hidden_channels":16}"#;
        let c = SpatioTemporalNetConfig::load_binary(json.as_bytes()).unwrap();
        assert!(!c.residual_fusion());
    }

    /// With `first_date_from_unet`, the fused logits of the first date equal the date's own
    /// logits, later dates equal the network's without the option (same weights), and a
    /// streaming step from a given state is not affected.
    #[test]
    fn first_date_passthrough_uses_the_unet_logits_without_history() {
        for residual in [None, Some(true)] {
            let device = Device::flex();
            let mut plain = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
            plain.config.residual = residual;
            let mut pass = plain.clone();
            pass.config.first_date_from_unet = Some(true);
            let x = series(2, 3, &device);
            let a = plain.forward(x.clone());
            let b = pass.forward(x.clone());
            b.fused_logits
                .clone()
                .narrow(1, 0, 1)
                .into_data()
                .assert_approx_eq::<f32>(
                    &b.date_logits.clone().narrow(1, 0, 1).into_data(),
                    Tolerance::default(),
                );
            b.fused_logits
                .clone()
                .narrow(1, 1, 2)
                .into_data()
                .assert_approx_eq::<f32>(
                    &a.fused_logits.clone().narrow(1, 1, 2).into_data(),
                    Tolerance::default(),
                );
            // the option changes something (the first date), so the checks above are not vacuous
            let diff: f32 = (a.fused_logits.clone().narrow(1, 0, 1)
                - b.fused_logits.narrow(1, 0, 1))
            .abs()
            .sum()
            .into_scalar();
            assert!(diff > 1e-3, "{diff}");
            // streaming: the first step (no state) passes through, a later one does not
            let f0: Tensor<4> = x.clone().narrow(1, 0, 1).squeeze_dim(1);
            let f1: Tensor<4> = x.narrow(1, 1, 1).squeeze_dim(1);
            let (s0, state) = pass.step(f0, None);
            s0.into_data().assert_approx_eq::<f32>(
                &b.date_logits
                    .narrow(1, 0, 1)
                    .squeeze_dim::<4>(1)
                    .into_data(),
                Tolerance::default(),
            );
            let (s1, _) = pass.step(f1, Some(state));
            s1.into_data().assert_approx_eq::<f32>(
                &a.fused_logits
                    .narrow(1, 1, 1)
                    .squeeze_dim::<4>(1)
                    .into_data(),
                Tolerance::default(),
            );
        }
    }

    #[test]
    fn fused_logits_at_t_ignore_later_dates() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        let x = series(1, 3, &device);
        let full = net.forward(x.clone()).fused_logits.narrow(1, 0, 2);
        let prefix = net.forward(x.narrow(1, 0, 2)).fused_logits;
        prefix
            .into_data()
            .assert_approx_eq::<f32>(&full.into_data(), Tolerance::default());
    }

    #[test]
    fn batch_norm_train_and_eval_differ() {
        let ad = Device::flex().autodiff();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&ad);
        let x = series(2, 2, &Device::flex());
        let train = net.forward(x.clone().to_device(&ad)).date_logits;
        let eval = net.valid().forward(x).date_logits;
        let diff = (train.inner() - eval).abs().max().into_scalar::<f32>();
        assert!(
            diff > 1e-3,
            "train and eval outputs should differ, max diff {diff}"
        );
        // The training forward moved the running mean of the first batch norm away from 0.
        let mean = net.fcn.enc[0]
            .bn1
            .running_mean()
            .abs()
            .sum()
            .into_scalar::<f32>();
        assert!(mean > 0.0, "running mean not updated: sum |mean| = {mean}");
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let ad = Device::flex().autodiff();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&ad);
        let out = net.forward(series(2, 2, &ad));
        let loss =
            (out.fused_logits.powi_scalar(2).mean() + out.date_logits.powi_scalar(2).mean()).sum();
        let grads = loss.backward();
        let mut checker = GradChecker {
            grads: &grads,
            path: Vec::new(),
            checked: 0,
            missing: Vec::new(),
        };
        net.visit(&mut checker);
        assert!(
            checker.missing.is_empty(),
            "no or zero gradient: {:?}",
            checker.missing
        );
        // Every trainable tensor: per block 2 convs + 2 x (gamma, beta) = 6; 5 blocks, 2 ups
        // (weight, bias), head (2), gates (2), out (2).
        assert_eq!(checker.checked, 5 * 6 + 2 * 2 + 2 + 2 + 2);
    }

    struct GradChecker<'a> {
        grads: &'a burn::tensor::Gradients,
        path: Vec<String>,
        checked: usize,
        missing: Vec<String>,
    }

    impl ModuleVisitor for GradChecker<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let path = self.path.join(".");
            if path.ends_with("running_mean") || path.ends_with("running_var") {
                return;
            }
            self.checked += 1;
            let nonzero = param
                .val()
                .grad(self.grads)
                .map(|g| g.abs().sum().into_scalar::<f32>() > 0.0)
                .unwrap_or(false);
            if !nonzero {
                self.missing.push(path);
            }
        }
    }

    #[test]
    fn frozen_unet_gets_no_gradient_and_keeps_running_stats() {
        let ad = Device::flex().autodiff();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&ad).freeze_unet();
        let date = net.date_logits(series(1, 2, &ad));
        let fused = net.fuse(date.detach());
        let grads = fused.powi_scalar(2).mean().backward();
        assert!(net.fcn.head.weight.val().grad(&grads).is_none());
        assert!(net.out.weight.val().grad(&grads).is_some());
        let mean = net.fcn.enc[0]
            .bn1
            .running_mean()
            .abs()
            .sum()
            .into_scalar::<f32>();
        assert_eq!(mean, 0.0);
    }

    #[test]
    fn one_adam_step_changes_weights_and_lowers_loss_on_the_batch() {
        // The smoke test of examples-to-follow §6: finite loss, weights move.
        let ad = Device::flex().autodiff();
        let mut net = SpatioTemporalNetConfig::tiny(4, 3).init(&ad);
        let x = series(2, 2, &ad);
        let before = net.out.weight.val().inner();
        let loss = net.forward(x).fused_logits.powi_scalar(2).mean();
        assert!(loss.clone().into_scalar::<f32>().is_finite());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        let mut optim = AdamConfig::new().init();
        net = optim.step(1e-2, net, grads);
        let moved = (net.out.weight.val().inner() - before)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(moved > 1e-4, "weights did not move: {moved}");
    }

    #[test]
    #[should_panic(
        expected = "SpatioTemporalNet expects 4 channels (axis 2 of [batch, time, channels, height, width]), got 3 (input shape [1, 2, 3, 16, 16])"
    )]
    fn wrong_channel_count_panics() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        net.forward(Tensor::zeros([1, 2, 3, 16, 16], &device));
    }

    #[test]
    #[should_panic(expected = "must be positive multiples of 2^depth = 4, got 16x10")]
    fn size_not_multiple_panics() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        net.forward(Tensor::zeros([1, 2, 4, 16, 10], &device));
    }

    #[test]
    #[should_panic(expected = "SpatioTemporalNet expects 4 channels")]
    fn step_with_wrong_channels_panics() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        net.step(Tensor::zeros([1, 5, 16, 16], &device), None);
    }

    #[test]
    #[should_panic(expected = "ConvLstmCell state must have shape [1, 4, 16, 16]")]
    fn step_with_mismatched_state_panics() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        let state = net.initial_state(1, 8, 8, &device);
        net.step(Tensor::zeros([1, 4, 16, 16], &device), Some(state));
    }

    #[test]
    #[should_panic(expected = "SpatioTemporalNet::fuse expects date logits")]
    fn fuse_with_wrong_class_count_panics() {
        let device = Device::flex();
        let net = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        net.fuse(Tensor::zeros([1, 2, 5, 16, 16], &device));
    }

    /// Every saved id (weights and running statistics) comes from the counter: two networks
    /// built separately get the same ids, all distinct. Before, Burn's random ids made two
    /// training runs with the same seed write `model.bpk` files that differed in 478 of
    /// 149,524 bytes (`cmp -l`, the quick preset), all of them parameter ids.
    #[test]
    fn sequential_ids_are_the_same_for_two_networks() {
        struct Ids(Vec<u64>);
        impl ModuleVisitor for Ids {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push(param.id.val());
            }
        }
        let device = Device::flex();
        let ids = |net: &SpatioTemporalNet| {
            let mut v = Ids(Vec::new());
            net.visit(&mut v);
            v.0
        };
        let cfg = SpatioTemporalNetConfig::tiny(4, 3);
        let a = ids(&cfg.init(&device).with_sequential_ids());
        let b = ids(&cfg.init(&device).with_sequential_ids());
        assert_eq!(a, b);
        // renumbering the running statistics alone (after a load) gives the same ids again
        let c = ids(&cfg
            .init(&device)
            .with_sequential_ids()
            .with_sequential_running_ids());
        assert_eq!(a, c);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), a.len(), "ids are distinct");
        assert!(a.iter().all(|&i| i > SEQUENTIAL_IDS_BASE));
        // one id per saved tensor: the running statistics are covered too
        assert_eq!(a.len(), cfg.init(&device).into_record().len());
    }
}
