//! Benchmark workloads of the spatio-temporal network, shared by `chronomap bench` and
//! `cargo bench --bench network`, so that both time exactly the same work.
//!
//! A [`Workload`] describes the network and the data sizes (the reference is the default
//! network on B=2 series of T=3 dates, 4 bands, 5 classes, 256x256 pixels, and a 1024x1024
//! scene); three runners time its parts:
//!
//! | runner             | what one [`run`](EvalForward::run) does                                     |
//! |--------------------|-----------------------------------------------------------------------------|
//! | [`EvalForward`]    | network forward in evaluation mode (`net.valid()`, input without autodiff)  |
//! | [`TrainStep`]      | forward on `device.autodiff()`, `CE(fused) + 0.5 CE(date)`, backward, Adam   |
//! | [`SceneInference`] | chronomap-train's [`run_scene`]: overlapping windows, blending, class maps  |
//!
//! Every run ends with `device.sync()`, so on asynchronous devices (wgpu, CUDA) the time
//! includes the computation and not only its dispatch. [`measure`] times warm-up and timed
//! iterations; [`Workload::forward_gflop`] and friends give the analytic work (multiply-add =
//! 2 FLOPs, the formula of `benches/pytorch/chronomap_torch.py`, which equals PyTorch's
//! `FlopCounterMode`); [`peak_rss_bytes`] / [`reset_peak_rss`] report process memory.
//!
//! The PyTorch twin `benches/pytorch/chronomap_torch.py` defines the same workloads, and
//! `python3 benches/pytorch/compare.py` runs both and prints the ratios (docs/performance.md).
//!
//! # Example
//! ```
//! use chronomap::bench::{EvalForward, Workload, measure};
//! use chronomap::burn::prelude::*;
//!
//! // A tiny network and a 32x32 input, so that the doctest is quick.
//! let workload = Workload::tiny().with_size(32);
//! let eval = EvalForward::new(&workload, &Device::flex());
//! let timing = measure(1, 3, None, || eval.run())?;
//! assert_eq!(timing.samples.len(), 3);
//! println!("median {:.3} s, {:.1} GFLOP/s", timing.median(), workload.forward_gflop() / timing.median());
//! # Ok::<(), chronomap::burn::tensor::ExecutionError>(())
//! ```

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{Distribution, ExecutionError, TensorReadError};
use chronomap_geo::Window as PixelWindow;
use chronomap_model::{SpatioTemporalNet, SpatioTemporalNetConfig};
use chronomap_train::{
    Products, RowBlock, SceneReader, WindowPlan, init_model, masked_cross_entropy, quality,
    run_scene,
};
use indicatif::ProgressBar;

/// Weight of the per-date (U-Net) cross-entropy in the benchmark's training loss
/// `CE(fused) + 0.5 CE(date)` (the PyTorch twin uses the same).
pub const AUX_WEIGHT: f32 = 0.5;

/// Why a [`Workload`] cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid benchmark workload: {reason}")]
pub struct InvalidWorkload {
    /// What is wrong, naming the values.
    pub reason: String,
}

/// What to benchmark: the network configuration and the data sizes.
///
/// Series tensors are `[batch, time, channels, size, size]`; the scene is
/// `scene[0] x scene[1]` pixels (height x width) with `time` dates, cut into `size x size`
/// windows that overlap by at least `overlap` pixels and are processed `batch` at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The network (default: 4 bands, 5 classes, base 32, depth 4, hidden 16).
    pub network: SpatioTemporalNetConfig,
    /// Series per batch (B), also the windows per batch of scene inference.
    pub batch: usize,
    /// Dates per series (T), also the dates of the scene.
    pub time: usize,
    /// Image (and scene window) side in pixels; a multiple of `2^depth`.
    pub size: usize,
    /// Scene `[height, width]` in pixels, `None` to skip scene inference.
    pub scene: Option<[usize; 2]>,
    /// Minimum overlap of neighbouring scene windows, in pixels (less than `size`).
    pub overlap: usize,
    /// Seed of the weights and of the random inputs.
    pub seed: u64,
}

impl Default for Workload {
    /// The reference workload (issue 6): the default network, B=2, T=3, 256x256, and a
    /// 1024x1024 scene with 32 px of overlap.
    fn default() -> Self {
        Self {
            network: SpatioTemporalNetConfig::new(4, 5),
            batch: 2,
            time: 3,
            size: 256,
            scene: Some([1024, 1024]),
            overlap: 32,
            seed: 0,
        }
    }
}

impl Workload {
    /// The reference workload, as [`Workload::default`].
    pub fn reference() -> Self {
        Self::default()
    }

    /// A quick workload for tests: [`SpatioTemporalNetConfig::tiny`] (base 8, depth 2,
    /// hidden 4) with 4 bands and 5 classes, B=1, T=2, 32x32, a 64x64 scene, overlap 8.
    pub fn tiny() -> Self {
        Self {
            network: SpatioTemporalNetConfig::tiny(4, 5),
            batch: 1,
            time: 2,
            size: 32,
            scene: Some([64, 64]),
            overlap: 8,
            seed: 0,
        }
    }

    /// This workload with images (and scene windows) of `size x size` pixels.
    pub fn with_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Checks that the workload can run: positive sizes, `size` a multiple of `2^depth`,
    /// `overlap < size`, a valid network configuration.
    ///
    /// # Errors
    /// [`InvalidWorkload`] naming the offending values.
    pub fn check(&self) -> Result<(), InvalidWorkload> {
        let bad = |reason: String| Err(InvalidWorkload { reason });
        if let Some(reason) = self.network.invalid_reason() {
            return bad(reason);
        }
        if self.batch == 0 || self.time == 0 || self.size == 0 {
            return bad(format!(
                "batch ({}), time ({}) and size ({}) must be positive",
                self.batch, self.time, self.size
            ));
        }
        let m = self.network.size_multiple();
        if !self.size.is_multiple_of(m) {
            return bad(format!(
                "size {} is not a multiple of 2^depth = {m} (depth {})",
                self.size, self.network.depth
            ));
        }
        if let Some([h, w]) = self.scene {
            if h == 0 || w == 0 {
                return bad(format!("scene {h}x{w} has a zero side"));
            }
            if self.overlap >= self.size {
                return bad(format!(
                    "overlap {} must be smaller than the window size {}",
                    self.overlap, self.size
                ));
            }
        }
        Ok(())
    }

    /// Analytic GFLOP of one network forward on the `[batch, time, ..., size, size]` input:
    /// `batch * time * (U-Net + ConvLSTM)` (see [`unet_gflop`], [`fusion_gflop`]).
    pub fn forward_gflop(&self) -> f64 {
        (self.batch * self.time) as f64 * image_gflop(&self.network, self.size, self.size)
    }

    /// Analytic GFLOP of one training step, counted as 3 forwards (forward, input gradients,
    /// weight gradients), as the PyTorch twin counts it.
    pub fn train_gflop(&self) -> f64 {
        3.0 * self.forward_gflop()
    }

    /// The window plan of the scene (windows of `size`, at least `overlap` apart, multiples
    /// of `2^depth`), or `None` without a scene.
    ///
    /// # Panics
    /// If the workload does not pass [`Workload::check`].
    pub fn scene_plan(&self) -> Option<WindowPlan> {
        self.scene
            .map(|s| WindowPlan::new(s, self.size, self.overlap, self.network.size_multiple()))
    }

    /// Analytic GFLOP of scene inference: every window runs every date through the U-Net and
    /// the ConvLSTM at its processed size (0 without a scene).
    ///
    /// # Panics
    /// If the workload does not pass [`Workload::check`].
    pub fn scene_gflop(&self) -> f64 {
        self.scene_plan().map_or(0.0, |plan| {
            let w = plan.window(0, 0);
            (plan.len() * self.time) as f64
                * image_gflop(&self.network, w.proc_height, w.proc_width)
        })
    }

    /// Megapixels of imagery in the scene: `height * width * time / 1e6` (what the scene
    /// throughput in Mpx/s divides; the PyTorch twin uses the same definition).
    pub fn scene_megapixels(&self) -> f64 {
        self.scene
            .map_or(0.0, |[h, w]| (h * w * self.time) as f64 / 1e6)
    }

    fn series(&self, device: &Device) -> Tensor<5> {
        device.seed(self.seed.wrapping_add(1));
        Tensor::random(
            [
                self.batch,
                self.time,
                self.network.in_channels,
                self.size,
                self.size,
            ],
            Distribution::Normal(0.0, 1.0),
            device,
        )
    }

    fn labels(&self, device: &Device) -> Tensor<4, Int> {
        let k = self.network.num_classes;
        Tensor::<4>::random(
            [self.batch, self.time, self.size, self.size],
            Distribution::Uniform(0.0, k as f64),
            device,
        )
        .int()
        .clamp(0, k as i64 - 1)
    }
}

/// Analytic GFLOP (multiply-add = 2 FLOPs) of one U-Net forward on one `height x width`
/// image: the 3x3 convolutions of every block, the 2x2 stride-2 transposed convolutions and
/// the 1x1 head. Batch norm, ReLU, pooling and biases are not counted (as in PyTorch's
/// `FlopCounterMode`). 24.197 GFLOP for the default network on 256x256.
pub fn unet_gflop(config: &SpatioTemporalNetConfig, height: usize, width: usize) -> f64 {
    let (mut h, mut w) = (height as f64, width as f64);
    let mut c = config.in_channels as f64;
    let widths: Vec<f64> = (0..config.depth)
        .map(|l| (config.base_filters << l) as f64)
        .collect();
    let mut flop = 0.0;
    for &wd in &widths {
        flop += 2.0 * h * w * 9.0 * (c * wd + wd * wd);
        c = wd;
        h /= 2.0;
        w /= 2.0;
    }
    flop += 2.0 * h * w * 9.0 * (c * 2.0 * c + 4.0 * c * c); // bottleneck c -> 2c -> 2c
    for &wd in widths.iter().rev() {
        h *= 2.0;
        w *= 2.0;
        flop += 2.0 * h * w * (2.0 * wd) * wd; // convT 2x2 s2: one tap per output pixel
        flop += 2.0 * h * w * 9.0 * (2.0 * wd * wd + wd * wd); // block on [up | skip]
    }
    flop += 2.0 * (height * width * config.base_filters * config.num_classes) as f64;
    flop / 1e9
}

/// Analytic GFLOP of one ConvLSTM date on one `height x width` image: the 3x3 gate
/// convolution over `[Pmap | hidden]` and the 1x1 output convolution.
pub fn fusion_gflop(config: &SpatioTemporalNetConfig, height: usize, width: usize) -> f64 {
    let (k, hid) = (config.num_classes, config.hidden_channels);
    2.0 * (height * width * (9 * (k + hid) * 4 * hid + hid * k)) as f64 / 1e9
}

fn image_gflop(config: &SpatioTemporalNetConfig, height: usize, width: usize) -> f64 {
    unet_gflop(config, height, width) + fusion_gflop(config, height, width)
}

/// The network forward in evaluation mode (batch norm with running statistics) on a random
/// input `[batch, time, in_channels, size, size]` that does not track gradients.
#[derive(Debug)]
pub struct EvalForward {
    net: SpatioTemporalNet,
    x: Tensor<5>,
    device: Device,
}

impl EvalForward {
    /// Builds the network (seeded) and the input on `device` (its autodiff flag is dropped).
    ///
    /// # Panics
    /// If the workload does not pass [`Workload::check`].
    pub fn new(workload: &Workload, device: &Device) -> Self {
        assert_workload(workload);
        let device = device.clone().without_autodiff();
        let net = init_model(&workload.network, &device, workload.seed).valid();
        let x = workload.series(&device);
        Self { net, x, device }
    }

    /// One forward of the whole network (U-Net on every date + ConvLSTM fusion), then a
    /// device sync.
    ///
    /// # Errors
    /// The device's execution error, if any.
    pub fn run(&self) -> Result<(), ExecutionError> {
        let out = self.net.forward(self.x.clone());
        self.device.sync()?;
        drop(out);
        Ok(())
    }

    /// One forward of the U-Net alone on every date (no fusion), then a device sync.
    ///
    /// # Errors
    /// The device's execution error, if any.
    pub fn run_unet(&self) -> Result<(), ExecutionError> {
        let out = self.net.date_logits(self.x.clone());
        self.device.sync()?;
        drop(out);
        Ok(())
    }
}

/// One training step: forward in training mode on the autodiff device, loss
/// `CE(fused) + 0.5 CE(date)` ([`masked_cross_entropy`], ignore label 255), backward, Adam
/// (`AdamConfig::new()`, learning rate 1e-3). Labels are uniform random classes.
pub struct TrainStep {
    model: Option<SpatioTemporalNet>,
    optim: ModuleOptimizer,
    x: Tensor<5>,
    y: Tensor<4, Int>,
    device: Device,
    lr: f64,
}

impl std::fmt::Debug for TrainStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainStep")
            .field("input", &self.x.dims())
            .field("device", &self.device)
            .field("lr", &self.lr)
            .finish_non_exhaustive()
    }
}

impl TrainStep {
    /// Builds the network (seeded), Adam and a random batch on `device.autodiff()`.
    ///
    /// # Panics
    /// If the workload does not pass [`Workload::check`].
    pub fn new(workload: &Workload, device: &Device) -> Self {
        assert_workload(workload);
        let device = device.clone().autodiff();
        let model = init_model(&workload.network, &device, workload.seed);
        let x = workload.series(&device);
        let y = workload.labels(&device);
        Self {
            model: Some(model),
            optim: AdamConfig::new().init(),
            x,
            y,
            device,
            lr: 1e-3,
        }
    }

    /// One step (forward, loss, backward, Adam update), then a device sync.
    ///
    /// # Errors
    /// The device's execution error, if any.
    pub fn run(&mut self) -> Result<(), ExecutionError> {
        self.step().map(drop)
    }

    /// [`TrainStep::run`] that also returns the loss of the step (reading it back costs a
    /// device round trip, which [`TrainStep::run`] avoids).
    ///
    /// # Errors
    /// The device's execution error, if any.
    pub fn run_with_loss(&mut self) -> Result<f32, TensorReadError> {
        let loss = self.step()?;
        loss.try_into_scalar::<f32>()
    }

    fn step(&mut self) -> Result<Tensor<1>, ExecutionError> {
        let model = self
            .model
            .take()
            .expect("the model is put back after every step");
        let out = model.forward(self.x.clone());
        let loss = masked_cross_entropy(out.fused_logits, self.y.clone(), None)
            + masked_cross_entropy(out.date_logits, self.y.clone(), None).mul_scalar(AUX_WEIGHT);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(self.lr, model, grads));
        self.device.sync()?;
        Ok(loss.detach())
    }
}

/// Whole-scene inference through chronomap-train's [`run_scene`] (the code `chronomap
/// predict` runs): overlapping windows, every date through the network with the ConvLSTM
/// state carried per window, blended fused probabilities and class maps for every date.
///
/// The scene is synthetic and generated on the fly by a hash of (date, band, row, column),
/// so memory does not grow with the scene and any size, up to a full 10980 x 10980
/// Sentinel-2 tile, can be timed; reading costs a few nanoseconds per value, negligible next
/// to the network.
pub struct SceneInference {
    net: SpatioTemporalNet,
    reader: HashScene,
    plan: WindowPlan,
    batch_windows: usize,
    products: Products,
    device: Device,
}

impl std::fmt::Debug for SceneInference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SceneInference")
            .field("scene", &self.plan.scene())
            .field("windows", &self.plan.len())
            .field("batch_windows", &self.batch_windows)
            .finish_non_exhaustive()
    }
}

impl SceneInference {
    /// Builds the network (seeded, evaluation mode), the synthetic scene and the window plan
    /// (windows processed `workload.batch` at a time).
    ///
    /// # Panics
    /// If the workload has no scene or does not pass [`Workload::check`].
    pub fn new(workload: &Workload, device: &Device) -> Self {
        assert_workload(workload);
        let plan = workload
            .scene_plan()
            .expect("SceneInference needs a workload with a scene");
        let device = device.clone().without_autodiff();
        let net = init_model(&workload.network, &device, workload.seed).valid();
        Self {
            net,
            reader: HashScene {
                size: plan.scene(),
                channels: workload.network.in_channels,
                dates: workload.time,
                seed: workload.seed,
            },
            plan,
            batch_windows: workload.batch,
            products: Products {
                date: false,
                fused: true,
                probability_dates: Vec::new(),
                dates: (0..workload.time).collect(),
            },
            device,
        }
    }

    /// The window plan over the scene.
    pub fn plan(&self) -> &WindowPlan {
        &self.plan
    }

    /// Predicts the fused class map of every date of the whole scene, then syncs the device.
    /// Returns the number of map pixels produced (`height * width * time`).
    /// `progress` counts windows (its length is set here).
    ///
    /// # Errors
    /// Errors of [`run_scene`] and of the device.
    pub fn run(&self, progress: &ProgressBar) -> chronomap_train::Result<u64> {
        let mut pixels = 0u64;
        run_scene(
            &self.net,
            &self.reader,
            &self.plan,
            self.batch_windows,
            &self.products,
            None,
            &self.device,
            progress,
            &mut |block: RowBlock| {
                pixels += block
                    .products
                    .iter()
                    .map(|p| p.classes.len() as u64)
                    .sum::<u64>();
                Ok(())
            },
        )?;
        self.device.sync().map_err(TensorReadError::from)?;
        Ok(pixels)
    }
}

/// A scene whose values are a hash of their position: uniform in `[-sqrt 3, sqrt 3]` (unit
/// variance, like normalized bands), every pixel clear.
struct HashScene {
    size: [usize; 2],
    channels: usize,
    dates: usize,
    seed: u64,
}

impl SceneReader for HashScene {
    fn size(&self) -> [usize; 2] {
        self.size
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn num_dates(&self) -> usize {
        self.dates
    }

    fn read(
        &self,
        date: usize,
        window: PixelWindow,
    ) -> chronomap_train::Result<(Vec<f32>, Vec<u8>)> {
        let [h, w] = self.size;
        let mut img = Vec::with_capacity(self.channels * window.area());
        let (h, w) = (h as u64, w as u64);
        for ch in 0..self.channels {
            let plane = self
                .seed
                .wrapping_mul(0x1000_0000_01b3)
                .wrapping_add((date * self.channels + ch) as u64 * h);
            for y in window.row..window.row + window.height {
                let row = plane.wrapping_add(y as u64).wrapping_mul(w);
                img.extend(
                    (window.col..window.col + window.width)
                        .map(|x| hash_unit(row.wrapping_add(x as u64))),
                );
            }
        }
        Ok((img, vec![quality::CLEAR; window.area()]))
    }
}

/// SplitMix64 finalizer of `i`, mapped to a uniform value in `[-sqrt 3, sqrt 3)`.
fn hash_unit(i: u64) -> f32 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let u = (z >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
    (2.0 * u - 1.0) * 3f32.sqrt()
}

fn assert_workload(workload: &Workload) {
    if let Err(e) = workload.check() {
        panic!("{e}");
    }
}

/// Wall-clock times of the timed iterations of a benchmark, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// One entry per timed iteration, in order.
    pub samples: Vec<f64>,
}

impl Timing {
    /// The median (mean of the two middle values for an even count; 0 when empty).
    pub fn median(&self) -> f64 {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        match s.len() {
            0 => 0.0,
            n if n % 2 == 1 => s[n / 2],
            n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
        }
    }

    /// The fastest iteration (0 when empty).
    pub fn min(&self) -> f64 {
        self.samples.iter().copied().reduce(f64::min).unwrap_or(0.0)
    }

    /// The slowest iteration (0 when empty).
    pub fn max(&self) -> f64 {
        self.samples.iter().copied().reduce(f64::max).unwrap_or(0.0)
    }
}

/// Runs `f` `warmup` times untimed, then `iters` times timed. `progress`, if given, advances
/// by one per call (its length is set to `warmup + iters`).
///
/// # Errors
/// The first error of `f` (no further calls are made).
pub fn measure<T, E>(
    warmup: usize,
    iters: usize,
    progress: Option<&ProgressBar>,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<Timing, E> {
    if let Some(p) = progress {
        p.set_length((warmup + iters) as u64);
        p.set_position(0);
    }
    for _ in 0..warmup {
        f()?;
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t0 = Instant::now();
        f()?;
        samples.push(t0.elapsed().as_secs_f64());
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    Ok(Timing { samples })
}

/// Peak resident set size of this process in bytes (`VmHWM` of `/proc/self/status`), since
/// start or since the last [`reset_peak_rss`]; `None` where `/proc` is not available.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|k| k * 1024)
}

/// Current resident set size of this process in bytes (`VmRSS`); `None` without `/proc`.
pub fn current_rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|k| k * 1024)
}

/// Resets the peak resident set size to the current one (writes `5` to
/// `/proc/self/clear_refs`, Linux 4.0+), so that [`peak_rss_bytes`] then reports the peak of
/// what runs next. Returns whether the reset worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 24.196939776 GFLOP: `unet_gflop(4, 5, 32, 4, 256, 256)` of
    /// benches/pytorch/chronomap_torch.py, which equals the FLOP count of
    /// `torch.utils.flop_counter.FlopCounterMode` on the PyTorch U-Net (torch 2.15).
    #[test]
    fn unet_flops_match_the_pytorch_count() {
        let g = unet_gflop(&SpatioTemporalNetConfig::new(4, 5), 256, 256);
        assert!((g - 24.196939776).abs() < 1e-9, "{g}");
    }

    /// `net_gflop` of the PyTorch twin for B=2, T=3, 256x256: 154.757234688.
    #[test]
    fn network_flops_match_the_pytorch_twin() {
        let w = Workload::default();
        assert!((w.forward_gflop() - 154.757234688).abs() < 1e-9);
        assert!((w.train_gflop() - 3.0 * 154.757234688).abs() < 1e-8);
    }

    /// The twin's 1024 px scene with 256 px windows and 32 px overlap has starts
    /// 0, 224, 448, 672, 768 per axis: 25 windows; 1024 * 1024 * 3 = 3.145728 Mpx.
    #[test]
    fn reference_scene_has_the_twins_window_grid() {
        let w = Workload::default();
        let plan = w.scene_plan().unwrap();
        assert_eq!(plan.grid(), [5, 5]);
        assert!((w.scene_megapixels() - 3.145728).abs() < 1e-12);
        assert!((w.scene_gflop() - 25.0 * 154.757234688 / 2.0).abs() < 1e-8);
    }

    #[test]
    fn check_names_the_bad_values() {
        let e = Workload::default().with_size(100).check().unwrap_err();
        assert!(
            e.to_string().contains("100") && e.to_string().contains("16"),
            "{e}"
        );
        let w = Workload {
            overlap: 256,
            ..Workload::default()
        };
        assert!(w.check().unwrap_err().to_string().contains("overlap 256"));
        assert!(Workload::tiny().check().is_ok());
    }

    #[test]
    fn hash_scene_values_have_unit_variance() {
        let n = 100_000;
        let v: Vec<f64> = (0..n).map(|i| hash_unit(i) as f64).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }

    #[test]
    fn timing_statistics() {
        let t = Timing {
            samples: vec![3.0, 1.0, 2.0, 10.0],
        };
        assert_eq!((t.median(), t.min(), t.max()), (2.5, 1.0, 10.0));
    }

    /// Every workload runs on a tiny configuration; scene inference delivers one class per
    /// pixel and date.
    #[test]
    fn tiny_workloads_run() {
        let w = Workload::tiny();
        let device = Device::flex();
        EvalForward::new(&w, &device).run().unwrap();
        let mut step = TrainStep::new(&w, &device);
        let loss = step.run_with_loss().unwrap();
        // Uniform random labels over 5 classes: the loss of an untrained network is near ln 5.
        assert!(loss.is_finite() && loss > 0.5 && loss < 5.0, "{loss}");
        let scene = SceneInference::new(&w, &device);
        let pixels = scene.run(&ProgressBar::hidden()).unwrap();
        assert_eq!(pixels, 64 * 64 * 2);
    }
}
