//! Batch normalization with PyTorch's running-statistics semantics.
//!
//! Ioffe & Szegedy 2015, <https://arxiv.org/abs/1502.03167>; reference implementation:
//! PyTorch `torch.nn.BatchNorm2d`.
//!
//! Why not `burn::nn::BatchNorm`: Burn 0.22.1 updates `running_var` with the *biased* batch
//! variance (`burn-nn-0.22.1/src/modules/norm/batch.rs`, `forward_train`), PyTorch with the
//! *unbiased* one (`n / (n - 1)` times larger, `n` = values per channel). Both normalize with the
//! biased variance. Weights trained in PyTorch and loaded here, or trained here and exported,
//! would drift apart after every training forward; this module follows PyTorch so that the
//! parity fixture (`tests/fixtures/parity`) holds.

use burn::module::{Flag, Param, RunningState};
use burn::prelude::*;
use burn::tensor::module::{batch_norm, batch_norm_train};

/// Configuration of a [`BatchNorm`]; build it with [`BatchNormConfig::init`].
#[derive(Config, Debug)]
pub struct BatchNormConfig {
    /// Number of channels (axis 1 of the input).
    pub num_features: usize,
    /// Added to the variance before the square root, for numerical stability.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Weight of the current batch in the running statistics:
    /// `running = (1 - momentum) * running + momentum * batch`.
    #[config(default = 0.1)]
    pub momentum: f64,
}

impl BatchNormConfig {
    /// Builds the layer on `device`: `gamma = 1`, `beta = 0`, `running_mean = 0`,
    /// `running_var = 1` (PyTorch's initial values).
    ///
    /// # Panics
    /// If `num_features` is zero, `epsilon` is not finite and positive, or `momentum` is not
    /// within `[0, 1]`.
    pub fn init(&self, device: &Device) -> BatchNorm {
        assert!(
            self.num_features > 0,
            "BatchNorm num_features must be positive, got 0"
        );
        assert!(
            self.epsilon.is_finite() && self.epsilon > 0.0,
            "BatchNorm epsilon must be finite and positive, got {}",
            self.epsilon
        );
        assert!(
            (0.0..=1.0).contains(&self.momentum),
            "BatchNorm momentum must be within [0, 1], got {}",
            self.momentum
        );
        let n = self.num_features;
        BatchNorm {
            gamma: Param::from_tensor(Tensor::ones([n], device)),
            beta: Param::from_tensor(Tensor::zeros([n], device)),
            running_mean: RunningState::new(Tensor::zeros([n], device)),
            running_var: RunningState::new(Tensor::ones([n], device)),
            training: Param::from_bool(true),
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }
}

/// Batch normalization over axis 1 with PyTorch semantics (see the module docs).
///
/// - **Training** (input *or* parameters on an autodiff device, *and* the training flag on, i.e.
///   not [`valid`](Module::valid)ated or [`freeze`](Module::freeze)d): normalizes with the batch
///   mean
///   and biased variance over every axis but 1, then updates
///   `running_mean <- (1 - m) running_mean + m mean` and
///   `running_var <- (1 - m) running_var + m var * n / (n - 1)` (unbiased).
/// - **Evaluation** (otherwise): normalizes with `running_mean` and `running_var`.
///
/// Output: `gamma * (x - mean) / sqrt(var + epsilon) + beta`.
///
/// Checkpoint keys: `gamma`, `beta`, `running_mean`, `running_var` (PyTorch: `weight`, `bias`,
/// `running_mean`, `running_var`).
#[derive(Module, Debug)]
pub struct BatchNorm {
    /// Scale, `[num_features]` (PyTorch `weight`).
    pub(crate) gamma: Param<Tensor<1>>,
    /// Shift, `[num_features]` (PyTorch `bias`).
    pub(crate) beta: Param<Tensor<1>>,
    /// Running mean, `[num_features]`.
    pub(crate) running_mean: RunningState<Tensor<1>>,
    /// Running (unbiased) variance, `[num_features]`.
    pub(crate) running_var: RunningState<Tensor<1>>,
    /// Whether the layer may use batch statistics (turned off by `valid()` and `freeze()`).
    pub(crate) training: Param<Flag>,
    pub(crate) momentum: f64,
    pub(crate) epsilon: f64,
}

impl BatchNorm {
    /// Normalizes `input`, in training or evaluation mode (see [`BatchNorm`]).
    ///
    /// # Shapes
    /// - `input`: `[batch, num_features, ...]` (rank >= 2)
    /// - output: same as `input`
    ///
    /// # Panics
    /// If axis 1 of `input` is not `num_features`, or, in training mode, if there is only one
    /// value per channel (the unbiased variance is undefined, as in PyTorch).
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        let features = self.num_features();
        assert!(
            D >= 2 && dims[1] == features,
            "BatchNorm expects {features} channels on axis 1, got input shape {dims:?}"
        );
        if self.is_training_on(&input.device()) {
            self.forward_train(input)
        } else {
            self.forward_eval(input)
        }
    }

    /// Number of channels normalized.
    pub fn num_features(&self) -> usize {
        let [n] = self.gamma.lazy_shape().dims();
        n
    }

    /// The running mean, `[num_features]` (not tracked by autodiff), including the updates of
    /// the last training forwards on every thread.
    pub fn running_mean(&self) -> Tensor<1> {
        // `Module::valid` folds the pending per-thread updates in; `value_sync` would only fold
        // those of the calling thread.
        self.running_mean.valid().value()
    }

    /// The running (unbiased) variance, `[num_features]` (not tracked by autodiff), including
    /// the updates of the last training forwards on every thread.
    pub fn running_var(&self) -> Tensor<1> {
        self.running_var.valid().value()
    }

    /// Whether a forward of a tensor on `device` uses batch statistics (and updates the
    /// running ones): the training flag is on and the input or the layer's parameters are on an
    /// autodiff device. Looking at the parameters too makes a plain input (a `to_device(&ad)`
    /// of a plain tensor stays plain in Burn 0.22.1) behave as it does after an autodiff
    /// convolution, whatever path computed the activations.
    pub(crate) fn is_training_on(&self, device: &Device) -> bool {
        self.training.is_enabled()
            && (device.is_autodiff() || self.gamma.lazy_device().is_autodiff())
    }

    fn forward_eval<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let device = input.device();
        batch_norm(
            input,
            self.gamma.val(),
            self.beta.val(),
            self.running_mean.value().to_device(&device),
            self.running_var.value().to_device(&device),
            self.epsilon,
        )
    }

    fn forward_train<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let per_channel = input.shape().num_elements() / self.num_features();
        assert!(
            per_channel > 1,
            "BatchNorm in training mode needs more than one value per channel, got input shape {:?}",
            input.dims()
        );
        let result = batch_norm_train(input, self.gamma.val(), self.beta.val(), self.epsilon);
        self.update_running_stats(result.mean, result.variance, per_channel);
        result.output
    }

    /// Running-statistics update of a training forward whose batch had `per_channel` values per
    /// channel, mean `mean` and biased variance `variance`:
    /// `running = (1 - m) running + m batch`, with the unbiased variance (PyTorch semantics).
    /// Also used by the fast CPU path (`crate::cpu`).
    pub(crate) fn update_running_stats(
        &self,
        mean: Tensor<1>,
        variance: Tensor<1>,
        per_channel: usize,
    ) {
        assert!(
            per_channel > 1,
            "BatchNorm in training mode needs more than one value per channel, got {per_channel}"
        );
        let device = mean.device();
        let m = self.momentum;
        let unbiased = per_channel as f64 / (per_channel as f64 - 1.0);
        let mean = self
            .running_mean
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(mean.detach().mul_scalar(m));
        let var = self
            .running_var
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(variance.detach().mul_scalar(m * unbiased));
        self.running_mean.update(mean.detach());
        self.running_var.update(var.detach());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{TensorData, Tolerance};

    // Input [2, 2, 1, 2] = channel 0: {1, 2, 3, 4}, channel 1: {0, 0, 2, 2}.
    fn input(device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(
                vec![1.0f32, 2.0, 0.0, 0.0, 3.0, 4.0, 2.0, 2.0],
                [2, 2, 1, 2],
            ),
            device,
        )
    }

    #[test]
    fn training_forward_updates_running_stats_with_unbiased_variance() {
        let device = Device::flex().autodiff();
        let bn = BatchNormConfig::new(2).init(&device);
        let y = bn.forward(input(&device));
        // By hand: channel 0 mean 2.5, biased var 1.25, unbiased 5/3; channel 1 mean 1,
        // biased var 1, unbiased 4/3. running = 0.9 * init + 0.1 * batch.
        let mean = bn.running_mean().into_data();
        mean.assert_approx_eq::<f32>(&TensorData::from([0.25f32, 0.1]), Tolerance::default());
        let var = bn.running_var().into_data();
        var.assert_approx_eq::<f32>(
            &TensorData::from([0.9 + 0.1 * 5.0 / 3.0f32, 0.9 + 0.1 * 4.0 / 3.0]),
            Tolerance::default(),
        );
        // Normalized with the biased variance: channel 1 values are (x - 1) / sqrt(1 + 1e-5).
        let y: Vec<f32> = y.into_data().try_to_vec().unwrap();
        let s = 1.0 / (1.0f32 + 1e-5).sqrt();
        let expected = [
            -1.5 / 1.25f32.sqrt(),
            -0.5 / 1.25f32.sqrt(),
            -s,
            -s,
            0.5 / 1.25f32.sqrt(),
            1.5 / 1.25f32.sqrt(),
            s,
            s,
        ];
        for (a, e) in y.iter().zip(expected) {
            assert!((a - e).abs() < 1e-4, "{y:?} vs {expected:?}");
        }
    }

    #[test]
    fn running_stats_include_updates_made_on_another_thread() {
        let device = Device::flex().autodiff();
        let bn = BatchNormConfig::new(2).init(&device);
        let (worker, d) = (bn.clone(), device.clone()); // clones share the running state
        std::thread::spawn(move || {
            let _ = worker.forward(input(&d));
        })
        .join()
        .unwrap();
        // Same numbers as the single-thread test above.
        bn.running_mean()
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::from([0.25f32, 0.1]), Tolerance::default());
    }

    #[test]
    fn eval_uses_running_stats_and_valid_or_freeze_stop_updates() {
        let device = Device::flex().autodiff();
        let bn = BatchNormConfig::new(2).init(&device);
        // Fresh running stats are mean 0, var 1: evaluation is x / sqrt(1 + eps).
        let y = bn.valid().forward(input(&Device::flex()));
        let expected = input(&Device::flex()).div_scalar((1.0f64 + 1e-5).sqrt());
        y.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::default());
        let frozen = bn.clone().freeze();
        let _ = frozen.forward(input(&device));
        frozen
            .running_mean()
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::from([0.0f32, 0.0]), Tolerance::default());
        // A plain input through the validated layer is evaluation too.
        let _ = bn.valid().forward(input(&Device::flex()));
        bn.running_mean()
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::from([0.0f32, 0.0]), Tolerance::default());
        // A plain input through the training layer (autodiff parameters) is training.
        let _ = bn.forward(input(&Device::flex()));
        bn.running_mean()
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::from([0.25f32, 0.1]), Tolerance::default());
    }

    #[test]
    #[should_panic(
        expected = "BatchNorm expects 3 channels on axis 1, got input shape [2, 2, 1, 2]"
    )]
    fn wrong_channel_count_panics() {
        let device = Device::flex();
        BatchNormConfig::new(3)
            .init(&device)
            .forward(input(&device));
    }
}
