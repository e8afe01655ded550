//! The temporal fusion (softmax -> ConvLSTM -> 1x1 output convolution) on the fast CPU
//! operations.
//!
//! Same parameters and semantics as [`SpatioTemporalNet::fuse_from`] and
//! [`ConvLstmCell::forward`]; the hidden and cell states stay grids from one date to the next and
//! are converted to `[batch, hidden, height, width]` only for the returned state.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::conv_lstm::{ConvLstmCell, ConvLstmState};
use crate::network::SpatioTemporalNet;

/// Whether the gate convolution is 3x3 with padding 1 (the fast operations' geometry).
pub(crate) fn supports_cell(cell: &ConvLstmCell) -> bool {
    let g = &cell.gates;
    g.kernel_size == [3, 3]
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.groups == 1
        && matches!(
            g.padding,
            PaddingConfig2d::Explicit(1, 1, 1, 1) | PaddingConfig2d::Same
        )
}

/// Whether the whole fusion (cell and 1x1 output convolution) can run on the fast operations.
pub(crate) fn supports(cell: &ConvLstmCell, out: &Conv2d) -> bool {
    supports_cell(cell)
        && out.kernel_size == [1, 1]
        && out.stride == [1, 1]
        && out.groups == 1
        && matches!(
            out.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
}

/// One step on grids: the new (hidden, cell) grids from the input grid and the state grids.
fn step(
    cell: &ConvLstmCell,
    x: Tensor<4>,
    hidden: Tensor<4>,
    state: Tensor<4>,
) -> (Tensor<4>, Tensor<4>) {
    super::convlstm_step(
        x,
        hidden,
        state,
        cell.gates.weight.val(),
        cell.gates.bias.as_ref().map(|b| b.val()),
    )
}

/// [`ConvLstmCell::forward`] for a validated state: `x` and the state tensors are
/// `[batch, channels, height, width]`.
pub(crate) fn cell_step(cell: &ConvLstmCell, x: Tensor<4>, state: ConvLstmState) -> ConvLstmState {
    let (h, c) = step(
        cell,
        super::to_grid(x),
        super::to_grid(state.hidden),
        super::to_grid(state.cell),
    );
    ConvLstmState::new(super::from_grid(h), super::from_grid(c))
}

/// [`SpatioTemporalNet::fuse_from`] on validated `date_logits` (`[batch, time, classes, height,
/// width]`): the fused logits of every date and the state after the last one.
///
/// # Panics
/// If `state` is not `[batch, hidden_channels, height, width]`.
pub(crate) fn fuse_from(
    net: &SpatioTemporalNet,
    date_logits: Tensor<5>,
    state: Option<ConvLstmState>,
) -> (Tensor<5>, ConvLstmState) {
    let [b, t, _, h, w] = date_logits.dims();
    let cell = &net.lstm;
    let hid = cell.hidden_channels();
    let (mut hg, mut cg) = match state {
        Some(s) => {
            assert!(
                s.dims() == [b, hid, h, w],
                "ConvLstmCell state must have shape {:?} for date logits of shape {:?}, got {:?}",
                [b, hid, h, w],
                date_logits.dims(),
                s.dims()
            );
            (super::to_grid(s.hidden), super::to_grid(s.cell))
        }
        None => {
            // A zero tensor is a valid (zero-bordered) grid.
            let z = Tensor::<4>::zeros([b, h + 2, w + 2, hid], &date_logits.device());
            (z.clone(), z)
        }
    };
    let (out_w, out_b) = (net.out.weight.val(), net.out.bias.as_ref().map(|b| b.val()));
    let mut fused = Vec::with_capacity(t);
    for date in 0..t {
        let logits = date_logits.clone().narrow(1, date, 1).squeeze_dim::<4>(1);
        let (hn, cn) = step(cell, super::softmax_to_grid(logits), hg, cg);
        fused.push(super::head(hn.clone(), out_w.clone(), out_b.clone()));
        (hg, cg) = (hn, cn);
    }
    let state = ConvLstmState::new(super::from_grid(hg), super::from_grid(cg));
    (Tensor::stack(fused, 1), state)
}
