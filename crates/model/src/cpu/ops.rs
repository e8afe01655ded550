//! The fast CPU kernels as a Burn backend extension, with hand-written backward passes.
//!
//! `#[backend_extension(Flex, Autodiff)]` generates the routing from Burn's runtime `Dispatch`
//! backend: a call on Flex tensors runs the `Flex` implementation below; a call on tensors of a
//! Flex autodiff device runs the `Autodiff<Flex, C>` implementation, which records a node whose
//! backward calls the gradient kernels. Tensors on other devices must not reach these ops (the
//! callers in [`super`] check [`super::is_fast`]).
//!
//! Feature maps are grids `[n, h + 2, w + 2, c]` (see [`super::kernels::grid`]).

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension, tensor::FloatTensor,
};
use burn::tensor::Shape;

use super::kernels::conv3x3::{self, Epilogue};
use super::kernels::grid::{Dims, Grid};
use super::kernels::pool::Buf;
use super::kernels::{bn, convt, head, lstm, maxpool};
use super::profile::timed;
use super::tensor::{dims, flex_from_buf, flex_from_vec, values};

/// Fast channels-last CPU operations of the U-Net and the ConvLSTM.
#[backend_extension(Flex, Autodiff)]
pub trait CpuFastOps: Backend {
    /// `[n, c, h, w]` to a grid `[n, h + 2, w + 2, c]`.
    fn fast_to_grid(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// 3x3 convolution (padding 1) of grid `x` with weights `[c_out, c_in, 3, 3]` and bias
    /// `[c_out]`, optionally followed by ReLU.
    fn fast_conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// [`CpuFastOps::fast_conv3x3`] of the channel concatenation `cat[a, b]`, which is never
    /// materialized.
    fn fast_conv3x3_cat(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// [`CpuFastOps::fast_conv3x3`] with output channel `o` of the weights multiplied by
    /// `scale[o]` and `shift` as the bias: inference with batch normalization folded in (the
    /// product is taken while the weights are packed).
    fn fast_conv3x3_scaled(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// [`CpuFastOps::fast_conv3x3_scaled`] of the concatenation `cat[a, b]`.
    fn fast_conv3x3_cat_scaled(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// `relu(batch_norm(y))` with batch statistics; returns the output grid and the statistics
    /// `[2, c]` (mean, biased variance), which carry no gradient.
    fn fast_bn_relu_train(
        y: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// 2x2 max pooling with stride 2.
    fn fast_max_pool2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// 2x2 transposed convolution with stride 2, weights `[c_in, c_out, 2, 2]`, bias `[c_out]`.
    fn fast_conv_t2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// A grid `[n, h + 2, w + 2, c]` back to `[n, c, h, w]`.
    fn fast_from_grid(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Softmax over axis 1 of `[n, k, h, w]`, returned as a grid `[n, h + 2, w + 2, k]`.
    fn fast_softmax_to_grid(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// ConvLSTM cell update `c' = sigmoid(f) c + sigmoid(i) tanh(g)` from the gates grid
    /// (`4 hid` channels, order i, f, o, g) and the cell grid (`hid` channels).
    fn fast_lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self>;

    /// ConvLSTM hidden state `h = sigmoid(o) tanh(c')` from the gates grid and the new cell grid.
    fn fast_lstm_hidden(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self>;

    /// One ConvLSTM step on grids: gates `conv3x3(cat[x, hidden], weight) + bias` (`4 hid`
    /// channels, order i, f, o, g), then `c' = sigmoid(f) c + sigmoid(i) tanh(g)` and
    /// `h' = sigmoid(o) tanh(c')`; returns `(h', c')`. On Flex it is one fused pass (the
    /// updates run on each band of gates while it is in cache); with autodiff it is the three
    /// differentiable operations.
    fn fast_convlstm_step(
        x: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        cell: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// 1x1 convolution of grid `x` with weights `[k, c, 1, 1]` and bias `[k]`, returning
    /// `[n, k, h, w]`.
    fn fast_head(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Geometry and channels of a grid tensor `[n, h + 2, w + 2, c]`.
fn grid_dims(t: &FlexTensor) -> (Dims, usize) {
    let [n, hp, wp, c] = dims::<4>(t);
    assert!(
        hp >= 3 && wp >= 3,
        "not a grid tensor: shape [{n}, {hp}, {wp}, {c}]"
    );
    (
        Dims {
            n,
            h: hp - 2,
            w: wp - 2,
        },
        c,
    )
}

fn grid_shape(d: Dims, c: usize) -> [usize; 4] {
    [d.n, d.h + 2, d.w + 2, c]
}

fn epilogue(bias: &[f32], relu: bool) -> Epilogue<'_> {
    if relu {
        Epilogue::BiasRelu(bias)
    } else {
        Epilogue::Bias(bias)
    }
}

// ---------------------------------------------------------------------------------------------
// Flex: the kernels themselves.

impl CpuFastOps for Flex {
    fn fast_to_grid(x: FlexTensor) -> FlexTensor {
        let [n, c, h, w] = dims::<4>(&x);
        let d = Dims { n, h, w };
        timed("to_grid", || {
            flex_from_buf(head::nchw_to_grid(&values(&x), c, d), &grid_shape(d, c))
        })
    }

    fn fast_conv3x3(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        let (d, c_in) = grid_dims(&x);
        let [c_out, wc, _, _] = dims::<4>(&weight);
        assert_eq!(
            wc, c_in,
            "conv3x3: weight expects {wc} input channels, input has {c_in}"
        );
        let (xv, wv, bv) = (values(&x), values(&weight), values(&bias));
        let y = timed("conv3x3", || {
            conv3x3::forward(
                &[Grid::new(&xv, c_in, d)],
                &wv,
                c_out,
                d,
                epilogue(&bv, relu),
            )
        });
        flex_from_buf(y, &grid_shape(d, c_out))
    }

    fn fast_conv3x3_cat(
        a: FlexTensor,
        b: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        relu: bool,
    ) -> FlexTensor {
        let (d, ca) = grid_dims(&a);
        let (db, cb) = grid_dims(&b);
        assert_eq!(
            d, db,
            "conv3x3 of a concatenation: inputs of different sizes"
        );
        let [c_out, wc, _, _] = dims::<4>(&weight);
        assert_eq!(
            wc,
            ca + cb,
            "conv3x3: weight expects {wc} input channels, inputs have {ca} + {cb}"
        );
        let (av, bv, wv, biasv) = (values(&a), values(&b), values(&weight), values(&bias));
        let srcs = [Grid::new(&av, ca, d), Grid::new(&bv, cb, d)];
        let y = timed("conv3x3", || {
            conv3x3::forward(&srcs, &wv, c_out, d, epilogue(&biasv, relu))
        });
        flex_from_buf(y, &grid_shape(d, c_out))
    }

    fn fast_conv3x3_scaled(
        x: FlexTensor,
        weight: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        relu: bool,
    ) -> FlexTensor {
        scaled_conv(&[x], &weight, &scale, &shift, relu)
    }

    fn fast_conv3x3_cat_scaled(
        a: FlexTensor,
        b: FlexTensor,
        weight: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        relu: bool,
    ) -> FlexTensor {
        scaled_conv(&[a, b], &weight, &scale, &shift, relu)
    }

    fn fast_bn_relu_train(
        y: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor) {
        let (z, mean, var) = bn_forward(&y, &gamma, &beta, epsilon);
        let c = mean.len();
        let stats: Vec<f32> = mean.iter().chain(var.iter()).map(|&v| v as f32).collect();
        (z, flex_from_vec(stats, &[2, c]))
    }

    fn fast_max_pool2(x: FlexTensor) -> FlexTensor {
        let (d, c) = grid_dims(&x);
        let (y, _) = timed("max_pool", || {
            maxpool::forward(Grid::new(&values(&x), c, d), d)
        });
        flex_from_buf(y, &grid_shape(d.half(), c))
    }

    fn fast_conv_t2(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let (d, c_in) = grid_dims(&x);
        let [wc, c_out, _, _] = dims::<4>(&weight);
        assert_eq!(
            wc, c_in,
            "conv transpose: weight expects {wc} input channels, input has {c_in}"
        );
        let y = timed("conv_t", || {
            convt::forward(
                Grid::new(&values(&x), c_in, d),
                &values(&weight),
                &values(&bias),
                c_out,
                d,
            )
        });
        flex_from_buf(y, &grid_shape(d.double(), c_out))
    }

    fn fast_from_grid(x: FlexTensor) -> FlexTensor {
        let (d, c) = grid_dims(&x);
        let y = timed("from_grid", || {
            head::grid_to_nchw(Grid::new(&values(&x), c, d), d)
        });
        flex_from_buf(y, &[d.n, c, d.h, d.w])
    }

    fn fast_softmax_to_grid(x: FlexTensor) -> FlexTensor {
        let [n, k, h, w] = dims::<4>(&x);
        let d = Dims { n, h, w };
        let p = timed("softmax", || lstm::softmax_to_grid(&values(&x), k, d));
        flex_from_buf(p, &grid_shape(d, k))
    }

    fn fast_lstm_cell(gates: FlexTensor, cell: FlexTensor) -> FlexTensor {
        let (d, hid) = lstm_dims(&gates, &cell);
        let c = timed("lstm", || {
            lstm::cell_forward(&values(&gates), &values(&cell), hid)
        });
        flex_from_buf(c, &grid_shape(d, hid))
    }

    fn fast_lstm_hidden(gates: FlexTensor, cell: FlexTensor) -> FlexTensor {
        let (d, hid) = lstm_dims(&gates, &cell);
        let h = timed("lstm", || {
            lstm::hidden_forward(&values(&gates), &values(&cell), hid)
        });
        flex_from_buf(h, &grid_shape(d, hid))
    }

    fn fast_convlstm_step(
        x: FlexTensor,
        hidden: FlexTensor,
        cell: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
    ) -> (FlexTensor, FlexTensor) {
        let (d, cx) = grid_dims(&x);
        let (dh, hid) = grid_dims(&hidden);
        let (dc, hc) = grid_dims(&cell);
        assert!(
            d == dh && d == dc && hc == hid,
            "ConvLSTM step: input {d:?} x {cx}, hidden {dh:?} x {hid}, cell {dc:?} x {hc}"
        );
        let [c_out, wc, _, _] = dims::<4>(&weight);
        assert!(
            c_out == 4 * hid && wc == cx + hid,
            "ConvLSTM step: weight [{c_out}, {wc}, 3, 3] for input {cx} + hidden {hid} channels"
        );
        let (xv, hv, cv) = (values(&x), values(&hidden), values(&cell));
        let (wv, bv) = (values(&weight), values(&bias));
        let srcs = [Grid::new(&xv, cx, d), Grid::new(&hv, hid, d)];
        let (h, c) = timed("convlstm_step", || {
            lstm::conv_step(&srcs, &wv, &bv, &cv, hid, d)
        });
        let shape = grid_shape(d, hid);
        (flex_from_buf(h, &shape), flex_from_buf(c, &shape))
    }

    fn fast_head(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let (d, c) = grid_dims(&x);
        let [k, wc, _, _] = dims::<4>(&weight);
        assert_eq!(
            wc, c,
            "head: weight expects {wc} input channels, input has {c}"
        );
        let y = timed("head", || {
            head::forward(
                Grid::new(&values(&x), c, d),
                &values(&weight),
                &values(&bias),
                k,
                d,
            )
        });
        flex_from_buf(y, &[d.n, k, d.h, d.w])
    }
}

/// Forward 3x3 convolution of the concatenation of `inputs` with per-output-channel scaled
/// weights and bias `shift`.
fn scaled_conv(
    inputs: &[FlexTensor],
    weight: &FlexTensor,
    scale: &FlexTensor,
    shift: &FlexTensor,
    relu: bool,
) -> FlexTensor {
    let (d, _) = grid_dims(&inputs[0]);
    let vals: Vec<_> = inputs.iter().map(values).collect();
    let srcs: Vec<Grid<'_>> = inputs
        .iter()
        .zip(&vals)
        .map(|(t, v)| {
            let (dt, c) = grid_dims(t);
            assert_eq!(
                dt, d,
                "conv3x3 of a concatenation: inputs of different sizes"
            );
            Grid::new(v, c, d)
        })
        .collect();
    let [c_out, wc, _, _] = dims::<4>(weight);
    let c_in: usize = srcs.iter().map(|s| s.channels).sum();
    assert_eq!(
        wc, c_in,
        "conv3x3: weight expects {wc} input channels, inputs have {c_in}"
    );
    let (wv, sv, bv) = (values(weight), values(scale), values(shift));
    let y = timed("conv3x3", || {
        conv3x3::forward_scaled(&srcs, &wv, Some(&sv), c_out, d, epilogue(&bv, relu))
    });
    flex_from_buf(y, &grid_shape(d, c_out))
}

/// Geometry and hidden channels of a (gates, state) pair of grids.
fn lstm_dims(gates: &FlexTensor, cell: &FlexTensor) -> (Dims, usize) {
    let (d, g) = grid_dims(gates);
    let (dc, hid) = grid_dims(cell);
    assert!(
        d == dc && g == 4 * hid,
        "ConvLSTM: gates {d:?} x {g} do not match state {dc:?} x {hid}"
    );
    (d, hid)
}

/// Batch-norm + ReLU forward: the output tensor and the f64 batch statistics.
fn bn_forward(
    y: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f64,
) -> (FlexTensor, Vec<f64>, Vec<f64>) {
    let (d, c) = grid_dims(y);
    let yv = values(y);
    let g = Grid::new(&yv, c, d);
    let (mean, var) = timed("bn_stats", || bn::stats(g, d));
    let (scale, shift) = bn::affine(&values(gamma), &values(beta), &mean, &var, eps);
    let z = timed("bn_relu", || bn::normalize_relu(g, &scale, &shift, d));
    (flex_from_buf(z, &grid_shape(d, c)), mean, var)
}

/// `g * [out > 0]` (the ReLU backward), in a fresh grid.
fn relu_mask(g: &FlexTensor, out: &FlexTensor) -> FlexTensor {
    let (d, c) = grid_dims(g);
    let (gv, ov) = (values(g), values(out));
    let mut r = super::kernels::pool::take(gv.len());
    timed("relu_grad", || {
        super::kernels::par::mask_positive(&gv, &ov, &mut r)
    });
    flex_from_buf(r, &grid_shape(d, c))
}

// ---------------------------------------------------------------------------------------------
// Autodiff<Flex>: forward through the kernels above, backward by hand.

/// `weight * scale[o]` per output channel with backend operations (differentiable).
fn scale_weight<B: Backend>(weight: FloatTensor<B>, scale: FloatTensor<B>) -> FloatTensor<B> {
    let c_out = weight.shape()[0];
    let scale = B::float_reshape(scale, Shape::new([c_out, 1, 1, 1]));
    B::float_mul(weight, scale)
}

/// State of a 3x3 convolution node: inputs, weights, output (for the ReLU mask), ReLU flag.
type ConvState = (Vec<FlexTensor>, FlexTensor, Option<FlexTensor>);

/// Backward of a 3x3 convolution over one or more concatenated inputs (`N` = inputs + 2).
#[derive(Debug)]
struct Conv3x3Backward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for Conv3x3Backward<N> {
    type State = ConvState;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (inputs, weight, out) = ops.state;
        let mut g = grads.consume::<Flex>(&ops.node);
        if let Some(out) = out {
            g = relu_mask(&g, &out);
        }
        let (d, c_out) = grid_dims(&g);
        let gv = values(&g);
        let wv = values(&weight);
        let c_ins: Vec<usize> = inputs.iter().map(|x| grid_dims(x).1).collect();
        let ni = inputs.len();
        let parents = ops.parents;
        if parents[..ni].iter().any(Option::is_some) {
            let dxs = timed("conv3x3_grad_x", || {
                conv3x3::input_grad(&gv, &wv, c_out, &c_ins, d)
            });
            for (k, dx) in dxs.into_iter().enumerate() {
                if let Some(node) = &parents[k] {
                    grads.register::<Flex>(node.id, flex_from_buf(dx, &grid_shape(d, c_ins[k])));
                }
            }
        }
        if let Some(node) = &parents[ni] {
            let xs: Vec<_> = inputs.iter().map(values).collect();
            let srcs: Vec<Grid<'_>> = xs
                .iter()
                .zip(&c_ins)
                .map(|(x, &c)| Grid::new(x, c, d))
                .collect();
            let dw = timed("conv3x3_grad_w", || {
                conv3x3::weight_grad(&srcs, &gv, c_out, d)
            });
            let c_in: usize = c_ins.iter().sum();
            grads.register::<Flex>(node.id, flex_from_buf(dw, &[c_out, c_in, 3, 3]));
        }
        if let Some(node) = &parents[ni + 1] {
            let db = timed("bias_grad", || {
                convt::channel_sums(Grid::new(&gv, c_out, d), d)
            });
            grads.register::<Flex>(node.id, flex_from_vec(db, &[c_out]));
        }
    }
}

/// A ConvLSTM update's gradient kernel (`lstm::cell_backward` or `lstm::hidden_backward`):
/// `(gates, cell, output gradient, hidden) -> (d gates, d cell)`.
type LstmGradKernel = fn(&[f32], &[f32], &[f32], usize) -> (Buf, Buf);

/// Backward of the two ConvLSTM state updates.
#[derive(Debug)]
struct LstmBackward(LstmGradKernel);

impl Backward<Flex, 2> for LstmBackward {
    type State = (FlexTensor, FlexTensor);
    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (gates, cell) = ops.state;
        let g = grads.consume::<Flex>(&ops.node);
        let (d, hid) = lstm_dims(&gates, &cell);
        let (dg, dc) = timed("lstm_grad", || {
            (self.0)(&values(&gates), &values(&cell), &values(&g), hid)
        });
        let [ng, nc] = ops.parents;
        if let Some(node) = ng {
            grads.register::<Flex>(node.id, flex_from_buf(dg, &grid_shape(d, 4 * hid)));
        }
        if let Some(node) = nc {
            grads.register::<Flex>(node.id, flex_from_buf(dc, &grid_shape(d, hid)));
        }
    }
}

/// A ConvLSTM state update `forward(gates, cell)` on the autodiff backend, with `backward`.
fn lstm_op<C: CheckpointStrategy>(
    gates: FloatTensor<Autodiff<Flex, C>>,
    cell: FloatTensor<Autodiff<Flex, C>>,
    forward: fn(FlexTensor, FlexTensor) -> FlexTensor,
    backward: LstmBackward,
) -> FloatTensor<Autodiff<Flex, C>> {
    let nodes = [gates.node(), cell.node()];
    let (gp, cp) = (gates.into_primitive(), cell.into_primitive());
    let out = forward(gp.clone(), cp.clone());
    match backward.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((gp, cp), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

impl<C: CheckpointStrategy> CpuFastOps for Autodiff<Flex, C> {
    fn fast_to_grid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ToGridBackward;
        impl Backward<Flex, 1> for ToGridBackward {
            type State = ();
            fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let g = grads.consume::<Flex>(&ops.node);
                if let Some(node) = &ops.parents[0] {
                    let (d, c) = grid_dims(&g);
                    let dx = timed("from_grid", || {
                        head::grid_to_nchw(Grid::new(&values(&g), c, d), d)
                    });
                    grads.register::<Flex>(node.id, flex_from_buf(dx, &[d.n, c, d.h, d.w]));
                }
            }
        }
        let node = x.node();
        let out = <Flex as CpuFastOps>::fast_to_grid(x.into_primitive());
        match ToGridBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let (xp, wp, bp) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let out = <Flex as CpuFastOps>::fast_conv3x3(xp.clone(), wp.clone(), bp, relu);
        match Conv3x3Backward::<3>
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (vec![xp], wp, relu.then(|| out.clone()));
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_conv3x3_cat(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let nodes = [a.node(), b.node(), weight.node(), bias.node()];
        let (ap, bp) = (a.into_primitive(), b.into_primitive());
        let (wp, biasp) = (weight.into_primitive(), bias.into_primitive());
        let out =
            <Flex as CpuFastOps>::fast_conv3x3_cat(ap.clone(), bp.clone(), wp.clone(), biasp, relu);
        match Conv3x3Backward::<4>
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (vec![ap, bp], wp, relu.then(|| out.clone()));
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_conv3x3_scaled(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        // Differentiable fold (e.g. a frozen batch norm on an autodiff device).
        let weight = scale_weight::<Self>(weight, scale);
        Self::fast_conv3x3(x, weight, shift, relu)
    }

    fn fast_conv3x3_cat_scaled(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let weight = scale_weight::<Self>(weight, scale);
        Self::fast_conv3x3_cat(a, b, weight, shift, relu)
    }

    fn fast_bn_relu_train(
        y: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        /// y, gamma, beta, batch mean, batch variance, epsilon.
        type BnState = (
            FlexTensor,
            FlexTensor,
            FlexTensor,
            Arc<Vec<f64>>,
            Arc<Vec<f64>>,
            f64,
        );
        #[derive(Debug)]
        struct BnBackward;
        impl Backward<Flex, 3> for BnBackward {
            type State = BnState;
            fn backward(self, ops: Ops<BnState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (y, gamma, beta, mean, var, eps) = ops.state;
                let dz = grads.consume::<Flex>(&ops.node);
                let (d, c) = grid_dims(&y);
                let (yv, dzv) = (values(&y), values(&dz));
                let r = timed("bn_relu_grad", || {
                    bn::backward(
                        Grid::new(&yv, c, d),
                        Grid::new(&dzv, c, d),
                        &values(&gamma),
                        &values(&beta),
                        &mean,
                        &var,
                        eps,
                        d,
                    )
                });
                let [ny, ng, nb] = ops.parents;
                if let Some(node) = ny {
                    grads.register::<Flex>(node.id, flex_from_buf(r.dy, &grid_shape(d, c)));
                }
                if let Some(node) = ng {
                    grads.register::<Flex>(node.id, flex_from_vec(r.dgamma, &[c]));
                }
                if let Some(node) = nb {
                    grads.register::<Flex>(node.id, flex_from_vec(r.dbeta, &[c]));
                }
            }
        }
        let nodes = [y.node(), gamma.node(), beta.node()];
        let (yp, gp, bp) = (
            y.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (z, mean, var) = bn_forward(&yp, &gp, &bp, epsilon);
        let c = mean.len();
        let stats: Vec<f32> = mean.iter().chain(var.iter()).map(|&v| v as f32).collect();
        let stats = <Self as AutodiffBackend>::from_inner(flex_from_vec(stats, &[2, c]));
        let z = match BnBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                prep.finish((yp, gp, bp, Arc::new(mean), Arc::new(var), epsilon), z)
            }
            OpsKind::UnTracked(prep) => prep.finish(z),
        };
        (z, stats)
    }

    fn fast_max_pool2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Winner indices, input geometry.
        type PoolState = (Arc<Vec<u8>>, Dims, usize);
        #[derive(Debug)]
        struct PoolBackward;
        impl Backward<Flex, 1> for PoolBackward {
            type State = PoolState;
            fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (arg, d, c) = ops.state;
                let g = grads.consume::<Flex>(&ops.node);
                if let Some(node) = &ops.parents[0] {
                    let dx = timed("max_pool_grad", || {
                        maxpool::backward(Grid::new(&values(&g), c, d.half()), &arg, d)
                    });
                    grads.register::<Flex>(node.id, flex_from_buf(dx, &grid_shape(d, c)));
                }
            }
        }
        let node = x.node();
        let xp = x.into_primitive();
        let (d, c) = grid_dims(&xp);
        let (y, arg) = timed("max_pool", || {
            maxpool::forward(Grid::new(&values(&xp), c, d), d)
        });
        let y = flex_from_buf(y, &grid_shape(d.half(), c));
        match PoolBackward.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((Arc::new(arg), d, c), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fast_conv_t2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvTBackward;
        impl Backward<Flex, 3> for ConvTBackward {
            type State = (FlexTensor, FlexTensor);
            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, weight) = ops.state;
                let g = grads.consume::<Flex>(&ops.node);
                let (d, c_in) = grid_dims(&x);
                let (o, c_out) = grid_dims(&g);
                let gv = values(&g);
                let gg = Grid::new(&gv, c_out, o);
                let [nx, nw, nb] = ops.parents;
                if let Some(node) = nx {
                    let dx = timed("conv_t_grad_x", || {
                        convt::input_grad(gg, &values(&weight), c_in, d)
                    });
                    grads.register::<Flex>(node.id, flex_from_buf(dx, &grid_shape(d, c_in)));
                }
                if let Some(node) = nw {
                    let dw = timed("conv_t_grad_w", || {
                        convt::weight_grad(Grid::new(&values(&x), c_in, d), gg, d)
                    });
                    grads.register::<Flex>(node.id, flex_from_buf(dw, &[c_in, c_out, 2, 2]));
                }
                if let Some(node) = nb {
                    let db = timed("bias_grad", || convt::channel_sums(gg, o));
                    grads.register::<Flex>(node.id, flex_from_vec(db, &[c_out]));
                }
            }
        }
        let nodes = [x.node(), weight.node(), bias.node()];
        let (xp, wp, bp) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let out = <Flex as CpuFastOps>::fast_conv_t2(xp.clone(), wp.clone(), bp);
        match ConvTBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((xp, wp), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_from_grid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct FromGridBackward;
        impl Backward<Flex, 1> for FromGridBackward {
            type State = ();
            fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let g = grads.consume::<Flex>(&ops.node);
                if let Some(node) = &ops.parents[0] {
                    let [n, c, h, w] = dims::<4>(&g);
                    let d = Dims { n, h, w };
                    let dx = timed("to_grid", || head::nchw_to_grid(&values(&g), c, d));
                    grads.register::<Flex>(node.id, flex_from_buf(dx, &grid_shape(d, c)));
                }
            }
        }
        let node = x.node();
        let out = <Flex as CpuFastOps>::fast_from_grid(x.into_primitive());
        match FromGridBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_softmax_to_grid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SoftmaxBackward;
        impl Backward<Flex, 1> for SoftmaxBackward {
            /// The probabilities.
            type State = FlexTensor;
            fn backward(
                self,
                ops: Ops<FlexTensor, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let g = grads.consume::<Flex>(&ops.node);
                if let Some(node) = &ops.parents[0] {
                    let p = ops.state;
                    let (d, k) = grid_dims(&p);
                    let (pv, gv) = (values(&p), values(&g));
                    let dx = timed("softmax_grad", || {
                        lstm::softmax_grad(Grid::new(&pv, k, d), Grid::new(&gv, k, d), d)
                    });
                    grads.register::<Flex>(node.id, flex_from_buf(dx, &[d.n, k, d.h, d.w]));
                }
            }
        }
        let node = x.node();
        let out = <Flex as CpuFastOps>::fast_softmax_to_grid(x.into_primitive());
        match SoftmaxBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(out.clone(), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self> {
        lstm_op::<C>(
            gates,
            cell,
            <Flex as CpuFastOps>::fast_lstm_cell,
            LstmBackward(lstm::cell_backward),
        )
    }

    fn fast_lstm_hidden(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self> {
        lstm_op::<C>(
            gates,
            cell,
            <Flex as CpuFastOps>::fast_lstm_hidden,
            LstmBackward(lstm::hidden_backward),
        )
    }

    fn fast_convlstm_step(
        x: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        cell: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Training keeps the gates for the backward pass: the three recorded operations.
        let gates = Self::fast_conv3x3_cat(x, hidden, weight, bias, false);
        let c = Self::fast_lstm_cell(gates.clone(), cell);
        let h = Self::fast_lstm_hidden(gates, c.clone());
        (h, c)
    }

    fn fast_head(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct HeadBackward;
        impl Backward<Flex, 3> for HeadBackward {
            type State = (FlexTensor, FlexTensor);
            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, weight) = ops.state;
                let g = grads.consume::<Flex>(&ops.node);
                let (d, c) = grid_dims(&x);
                let [_, k, _, _] = dims::<4>(&g);
                let gv = values(&g);
                let [nx, nw, nb] = ops.parents;
                if let Some(node) = nx {
                    let dx = timed("head_grad_x", || {
                        head::input_grad(&gv, &values(&weight), k, c, d)
                    });
                    grads.register::<Flex>(node.id, flex_from_buf(dx, &grid_shape(d, c)));
                }
                if nw.is_some() || nb.is_some() {
                    let (dw, db) = timed("head_grad_w", || {
                        head::param_grads(Grid::new(&values(&x), c, d), &gv, k, d)
                    });
                    if let Some(node) = nw {
                        grads.register::<Flex>(node.id, flex_from_vec(dw, &[k, c, 1, 1]));
                    }
                    if let Some(node) = nb {
                        grads.register::<Flex>(node.id, flex_from_vec(db, &[k]));
                    }
                }
            }
        }
        let nodes = [x.node(), weight.node(), bias.node()];
        let (xp, wp, bp) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let out = <Flex as CpuFastOps>::fast_head(xp.clone(), wp.clone(), bp);
        match HeadBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((xp, wp), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
