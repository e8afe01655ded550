//! Convolutional LSTM cell.
//!
//! Shi et al. 2015, "Convolutional LSTM Network: A Machine Learning Approach for Precipitation
//! Nowcasting", <https://arxiv.org/abs/1506.04214> (without peephole connections, like the talk's
//! network and the parity fixture).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};

/// Configuration of a [`ConvLstmCell`]; build it with [`ConvLstmCellConfig::init`].
#[derive(Config, Debug)]
pub struct ConvLstmCellConfig {
    /// Channels of each input frame.
    pub input_channels: usize,
    /// Channels of the hidden and cell states.
    pub hidden_channels: usize,
    /// Side of the square gate kernel; odd, so that padding `kernel_size / 2` keeps
    /// `height x width`.
    #[config(default = 3)]
    pub kernel_size: usize,
}

impl ConvLstmCellConfig {
    /// Builds the cell on `device` (PyTorch's default convolution initialization).
    ///
    /// # Panics
    /// If a channel count is zero or `kernel_size` is even.
    pub fn init(&self, device: &Device) -> ConvLstmCell {
        assert!(
            self.input_channels > 0 && self.hidden_channels > 0,
            "ConvLstmCellConfig channel counts must be positive, got input {} hidden {}",
            self.input_channels,
            self.hidden_channels
        );
        assert!(
            self.kernel_size % 2 == 1,
            "ConvLstmCellConfig kernel_size must be odd, got {}",
            self.kernel_size
        );
        let p = self.kernel_size / 2;
        ConvLstmCell {
            gates: Conv2dConfig::new(
                [
                    self.input_channels + self.hidden_channels,
                    4 * self.hidden_channels,
                ],
                [self.kernel_size, self.kernel_size],
            )
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .init(device),
        }
    }
}

/// The recurrent state of a [`ConvLstmCell`]: hidden and cell tensors, both
/// `[batch, hidden_channels, height, width]`.
///
/// The fields are public so that a state can be stored (e.g. `hidden.into_data()`) and rebuilt
/// ([`ConvLstmState::new`] or [`ConvLstmState::from_data`]) to continue a time series later.
#[derive(Clone, Debug)]
pub struct ConvLstmState {
    /// Hidden state `h`, `[batch, hidden_channels, height, width]`; the cell's output.
    pub hidden: Tensor<4>,
    /// Cell (memory) state `c`, same shape as `hidden`.
    pub cell: Tensor<4>,
}

impl ConvLstmState {
    /// A state from its two tensors.
    ///
    /// # Panics
    /// If `hidden` and `cell` have different shapes.
    pub fn new(hidden: Tensor<4>, cell: Tensor<4>) -> Self {
        assert!(
            hidden.dims() == cell.dims(),
            "ConvLstmState hidden and cell must have the same shape, got {:?} and {:?}",
            hidden.dims(),
            cell.dims()
        );
        Self { hidden, cell }
    }

    /// A state from stored data (e.g. read back from disk), placed on `device`.
    ///
    /// # Panics
    /// If the data are not rank 4 or do not have the same shape.
    pub fn from_data(hidden: TensorData, cell: TensorData, device: &Device) -> Self {
        Self::new(
            Tensor::from_data(hidden, device),
            Tensor::from_data(cell, device),
        )
    }

    /// The initial state `h_0 = c_0 = 0`.
    pub fn zeros(
        batch: usize,
        hidden_channels: usize,
        height: usize,
        width: usize,
        device: &Device,
    ) -> Self {
        let z = Tensor::<4>::zeros([batch, hidden_channels, height, width], device);
        Self {
            hidden: z.clone(),
            cell: z,
        }
    }

    /// `[batch, hidden_channels, height, width]`.
    pub fn dims(&self) -> [usize; 4] {
        self.hidden.dims()
    }

    /// The same state cut from the autodiff graph (for truncated back-propagation through
    /// time, or to keep a streaming state without its history).
    pub fn detach(self) -> Self {
        Self {
            hidden: self.hidden.detach(),
            cell: self.cell.detach(),
        }
    }
}

/// Convolutional LSTM cell: one convolution over `cat[x_t, h_{t-1}]` gives the four gates in the
/// order input, forget, output, candidate (`i, f, o, g`), then
/// `c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)` and `h_t = sigmoid(o) * tanh(c_t)`.
///
/// Checkpoint keys: `gates.{weight,bias}`, weight `[4 * hidden, input + hidden, k, k]`.
#[derive(Module, Debug)]
pub struct ConvLstmCell {
    /// conv `kxk` (padding `k/2`, with bias) over `cat[x, h]` to `4 * hidden_channels`.
    pub(crate) gates: Conv2d,
}

impl ConvLstmCell {
    /// Channels of each input frame.
    pub fn input_channels(&self) -> usize {
        self.gates.weight.lazy_shape().dims::<4>()[1] - self.hidden_channels()
    }

    /// Channels of the hidden and cell states.
    pub fn hidden_channels(&self) -> usize {
        self.gates.weight.lazy_shape().dims::<4>()[0] / 4
    }

    /// One step of the recurrence; `state = None` starts from zeros.
    ///
    /// # Shapes
    /// - `x`: `[batch, input_channels, height, width]`
    /// - `state` and the returned state: `[batch, hidden_channels, height, width]`
    ///
    /// # Panics
    /// If `x` does not have `input_channels` channels, or `state` does not match `x`'s batch,
    /// height and width with `hidden_channels` channels.
    pub fn forward(&self, x: Tensor<4>, state: Option<ConvLstmState>) -> ConvLstmState {
        let [b, c, h, w] = x.dims();
        let (input, hid) = (self.input_channels(), self.hidden_channels());
        assert!(
            c == input,
            "ConvLstmCell expects {input} input channels, got {c} (input shape {:?})",
            x.dims()
        );
        let state = state.unwrap_or_else(|| ConvLstmState::zeros(b, hid, h, w, &x.device()));
        assert!(
            state.dims() == [b, hid, h, w],
            "ConvLstmCell state must have shape {:?} for input shape {:?}, got {:?}",
            [b, hid, h, w],
            x.dims(),
            state.dims()
        );
        // Flex devices: channels-last kernels with the same parameters and semantics.
        if crate::cpu::is_fast(&x) && crate::cpu::fusion::supports_cell(self) {
            return crate::cpu::fusion::cell_step(self, x, state);
        }
        let gates = self.gates.forward(Tensor::cat(vec![x, state.hidden], 1));
        let gate = |k: usize| gates.clone().narrow(1, k * hid, hid);
        let (i, f, o, g) = (gate(0), gate(1), gate(2), gate(3));
        let cell = sigmoid(f) * state.cell + sigmoid(i) * tanh(g);
        let hidden = sigmoid(o) * tanh(cell.clone());
        ConvLstmState { hidden, cell }
    }

    /// Runs the cell over a sequence, returning every hidden state and the last state.
    ///
    /// # Shapes
    /// - `x`: `[batch, time, input_channels, height, width]`
    /// - returned hidden states: `[batch, time, hidden_channels, height, width]`
    ///
    /// # Panics
    /// As [`ConvLstmCell::forward`], or if `time` is zero.
    pub fn forward_sequence(
        &self,
        x: Tensor<5>,
        state: Option<ConvLstmState>,
    ) -> (Tensor<5>, ConvLstmState) {
        let [_, t, _, _, _] = x.dims();
        assert!(
            t > 0,
            "ConvLstmCell needs at least one time step, got input shape {:?}",
            x.dims()
        );
        let mut state = state;
        let mut hidden = Vec::with_capacity(t);
        for step in 0..t {
            let x_t = x.clone().narrow(1, step, 1).squeeze_dim::<4>(1);
            let next = self.forward(x_t, state);
            hidden.push(next.hidden.clone());
            state = Some(next);
        }
        let state = state.expect("t > 0");
        (Tensor::stack(hidden, 1), state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::Tolerance;

    /// A 1x1-kernel cell with 1 input and 1 hidden channel and chosen gate weights, so that the
    /// recurrence can be computed by hand.
    fn scalar_cell(device: &Device) -> ConvLstmCell {
        let mut cell = ConvLstmCellConfig::new(1, 1)
            .with_kernel_size(1)
            .init(device);
        // gates = W [x, h] + b, rows i, f, o, g.
        let w = [[0.5f32, -1.0], [1.0, 0.0], [-0.5, 2.0], [2.0, 1.0]];
        let b = [0.1f32, 0.2, -0.3, 0.0];
        cell.gates.weight =
            Param::from_tensor(Tensor::<2>::from_data(w, device).reshape([4, 2, 1, 1]));
        cell.gates.bias = Some(Param::from_tensor(Tensor::from_data(b, device)));
        cell
    }

    #[test]
    fn recurrence_matches_hand_computation_with_gate_order_ifog() {
        let device = Device::flex();
        let cell = scalar_cell(&device);
        let xs = [1.0f32, -2.0, 0.5];
        let x = Tensor::<1>::from_data(xs, &device).reshape([1, 3, 1, 1, 1]);
        let (hidden, last) = cell.forward_sequence(x, None);

        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
        let (mut h, mut c) = (0.0f32, 0.0f32);
        let mut expected = Vec::new();
        for x in xs {
            let i = 0.5 * x - h + 0.1;
            let f = x + 0.2;
            let o = -0.5 * x + 2.0 * h - 0.3;
            let g = 2.0 * x + h;
            c = sig(f) * c + sig(i) * g.tanh();
            h = sig(o) * c.tanh();
            expected.push(h);
        }
        hidden.into_data().assert_approx_eq::<f32>(
            &TensorData::new(expected, [1, 3, 1, 1, 1]),
            Tolerance::default(),
        );
        last.cell.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![c], [1, 1, 1, 1]),
            Tolerance::default(),
        );
    }

    #[test]
    fn keeps_spatial_size() {
        let device = Device::flex();
        let cell = ConvLstmCellConfig::new(3, 4).init(&device);
        let s = cell.forward(Tensor::ones([2, 3, 8, 6], &device), None);
        assert_eq!(s.dims(), [2, 4, 8, 6]);
        assert_eq!(cell.input_channels(), 3);
    }

    #[test]
    #[should_panic(expected = "ConvLstmCell state must have shape [2, 4, 8, 6] for input shape")]
    fn mismatched_state_panics() {
        let device = Device::flex();
        let cell = ConvLstmCellConfig::new(3, 4).init(&device);
        let state = ConvLstmState::zeros(2, 4, 8, 8, &device);
        cell.forward(Tensor::ones([2, 3, 8, 6], &device), Some(state));
    }
}
