//! The element-wise parts of the temporal fusion: softmax over classes (into a grid), and the
//! ConvLSTM state update, with vectorizable `exp`/`sigmoid`/`tanh`.
//!
//! Gates come from one convolution with `4 hid` output channels in the order i, f, o, g:
//! `c' = sigmoid(f) c + sigmoid(i) tanh(g)` ([`cell_forward`]) and `h = sigmoid(o) tanh(c')`
//! ([`hidden_forward`]). Both run over whole grids: with zero gates and a zero state on the
//! border, the border of `c'` and `h` is zero too (`sigmoid(0) * 0 + sigmoid(0) * tanh(0)`), and
//! zero-bordered gradients give zero-bordered gradients.

use rayon::prelude::*;

use super::grid::{Dims, Grid, GridMut};
use super::par::avx2_fn;
use super::pool::{self, Buf};

/// Elements per parallel chunk of the element-wise passes.
const CHUNK: usize = 1 << 15;

/// `e^x` for `f32`, written so that loops over it vectorize (no libm call): Cephes' `expf`
/// (range reduction by `ln 2`, degree-6 polynomial), relative error about 2e-7.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let e = p * r * r + r + 1.0;
    // SAFETY: `n` is a whole number in -126..=127 (x was clamped), so the conversion is exact;
    // unlike `as`, it has no saturation checks, which would keep the loop from vectorizing.
    let n = unsafe { n.to_int_unchecked::<i32>() };
    e * f32::from_bits(((n + 127) << 23) as u32)
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x) = 2 sigmoid(2x) - 1` (absolute error about 1e-7).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

/// The four gates `[i, f, o, g]` of one position (`4 hid` values).
#[inline(always)]
fn gates_of(gt: &[f32], hid: usize) -> [&[f32]; 4] {
    let (i, rest) = gt.split_at(hid);
    let (f, rest) = rest.split_at(hid);
    let (o, g) = rest.split_at(hid);
    [i, f, o, g]
}

/// The new cell value `c' = sigmoid(f) c + sigmoid(i) tanh(g)` from the raw gates.
#[inline(always)]
fn new_cell(i: f32, f: f32, g: f32, c: f32) -> f32 {
    sigmoid(f) * c + sigmoid(i) * tanh(g)
}

/// The new hidden value `h = sigmoid(o) tanh(c')` from the raw output gate and the new cell.
#[inline(always)]
fn new_hidden(o: f32, c_new: f32) -> f32 {
    sigmoid(o) * tanh(c_new)
}

avx2_fn! {
    /// Softmax over the `k` planes of one row (`x[c][x0]` at `c * hw + x0`), written as `k`
    /// contiguous values per pixel into `out`; `tmp` holds `k * w` scratch values.
    fn softmax_row(x: &[f32], hw: usize, k: usize, w: usize, tmp: &mut [f32], out: &mut [f32]) {
        let (m, e) = tmp.split_at_mut(w);
        m.copy_from_slice(&x[..w]);
        for c in 1..k {
            for (a, &b) in m.iter_mut().zip(&x[c * hw..c * hw + w]) {
                *a = a.max(b);
            }
        }
        let (s, e) = e.split_at_mut(w);
        s.fill(0.0);
        for c in 0..k {
            let ec = &mut e[c * w..(c + 1) * w];
            for (((o, &v), &mm), sum) in ec.iter_mut().zip(&x[c * hw..c * hw + w]).zip(m.iter()).zip(s.iter_mut()) {
                *o = exp(v - mm);
                *sum += *o;
            }
        }
        for v in s.iter_mut() {
            *v = 1.0 / *v;
        }
        for (px, o) in out.chunks_exact_mut(k).enumerate() {
            for (c, v) in o.iter_mut().enumerate() {
                *v = e[c * w + px] * s[px];
            }
        }
    }
}

/// Softmax over the classes of `x` (`[n, k, h, w]`); returns the probabilities as a grid.
pub(crate) fn softmax_to_grid(x: &[f32], k: usize, d: Dims) -> Buf {
    assert_eq!(x.len(), d.pixels() * k, "softmax: input size");
    let mut p = pool::take(d.grid() * k);
    let out = GridMut::new(&mut p, k, d);
    let hw = d.h * d.w;
    (0..d.n * d.h)
        .into_par_iter()
        .for_each_init(Vec::new, |tmp, row| {
            let (i, y) = (row / d.h, row % d.h);
            tmp.resize((k + 2) * d.w, 0.0);
            // SAFETY: the task owns row y of image i.
            unsafe {
                out.zero_border(d, i, y, 1);
                let o = std::slice::from_raw_parts_mut(out.ptr.add(d.at(i, y, 0) * k), d.w * k);
                softmax_row(&x[i * k * hw + y * d.w..], hw, k, d.w, tmp, o);
            }
        });
    p
}

avx2_fn! {
    /// `dx[c][x0] = p (dp - sum_c p dp)` for one row, into `dx` as `k` planes of `w` values.
    fn softmax_grad_row(p: &[f32], dp: &[f32], k: usize, dx: &mut [f32]) {
        let w = p.len() / k;
        for px in 0..w {
            let (pp, dd) = (&p[px * k..(px + 1) * k], &dp[px * k..(px + 1) * k]);
            let dot: f32 = pp.iter().zip(dd).map(|(a, b)| a * b).sum();
            for c in 0..k {
                dx[c * w + px] = pp[c] * (dd[c] - dot);
            }
        }
    }
}

/// Backward of [`softmax_to_grid`]: `p` its output, `dp` the gradient (grids); returns
/// `[n, k, h, w]`.
pub(crate) fn softmax_grad(p: Grid<'_>, dp: Grid<'_>, d: Dims) -> Buf {
    let k = p.channels;
    let mut dx = pool::take(d.pixels() * k);
    let hw = d.h * d.w;
    let out = super::par::SendPtr(dx.as_mut_ptr());
    (0..d.n * d.h)
        .into_par_iter()
        .for_each_init(Vec::new, |tmp, row| {
            let (i, y) = (row / d.h, row % d.h);
            let g = d.at(i, y, 0) * k;
            tmp.resize(k * d.w, 0.0);
            softmax_grad_row(&p.data[g..g + d.w * k], &dp.data[g..g + d.w * k], k, tmp);
            for c in 0..k {
                // SAFETY: row y of class plane c of image i belongs to this task only.
                unsafe {
                    let dst = out.add((i * k + c) * hw + y * d.w);
                    std::ptr::copy_nonoverlapping(tmp[c * d.w..].as_ptr(), dst, d.w);
                }
            }
        });
    dx
}

avx2_fn! {
    /// `c' = sigmoid(f) c + sigmoid(i) tanh(g)` over `c.len() / hid` positions.
    fn cell_chunk(gates: &[f32], c: &[f32], out: &mut [f32], hid: usize) {
        for ((gt, cp), o) in gates.chunks_exact(4 * hid).zip(c.chunks_exact(hid)).zip(out.chunks_exact_mut(hid)) {
            let [gi, gf, _, gg] = gates_of(gt, hid);
            for ((((o, &i), &f), &g), &c) in o.iter_mut().zip(gi).zip(gf).zip(gg).zip(cp) {
                *o = new_cell(i, f, g, c);
            }
        }
    }
}

/// Runs `f(gates_chunk, state_chunk, out_chunk)` over matching chunks of whole positions, in
/// parallel.
fn by_positions(
    gates: &[f32],
    state: &[f32],
    out: &mut [f32],
    hid: usize,
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) {
    let per = (CHUNK / hid).max(1);
    out.par_chunks_mut(per * hid)
        .zip(state.par_chunks(per * hid))
        .zip(gates.par_chunks(per * 4 * hid))
        .for_each(|((o, s), g)| f(g, s, o));
}

/// The new cell state grid from the gates grid (`4 hid` channels) and the previous cell grid.
pub(crate) fn cell_forward(gates: &[f32], c: &[f32], hid: usize) -> Buf {
    assert_eq!(gates.len(), 4 * c.len(), "lstm cell: gates vs state size");
    let mut out = pool::take(c.len());
    by_positions(gates, c, &mut out, hid, |g, s, o| cell_chunk(g, s, o, hid));
    out
}

avx2_fn! {
    /// `h = sigmoid(o) tanh(c')` over `c.len() / hid` positions.
    fn hidden_chunk(gates: &[f32], c: &[f32], out: &mut [f32], hid: usize) {
        for ((gt, cp), o) in gates.chunks_exact(4 * hid).zip(c.chunks_exact(hid)).zip(out.chunks_exact_mut(hid)) {
            let go = gates_of(gt, hid)[2];
            for ((o, &g), &c) in o.iter_mut().zip(go).zip(cp) {
                *o = new_hidden(g, c);
            }
        }
    }
}

/// The hidden state grid from the gates grid and the new cell grid.
pub(crate) fn hidden_forward(gates: &[f32], c_new: &[f32], hid: usize) -> Buf {
    assert_eq!(
        gates.len(),
        4 * c_new.len(),
        "lstm hidden: gates vs state size"
    );
    let mut out = pool::take(c_new.len());
    by_positions(gates, c_new, &mut out, hid, |g, s, o| {
        hidden_chunk(g, s, o, hid)
    });
    out
}

avx2_fn! {
    /// Both updates at once over `c.len() / hid` positions: `c' = sigmoid(f) c + sigmoid(i)
    /// tanh(g)` into `c_out` and `h = sigmoid(o) tanh(c')` into `h_out`.
    fn step_chunk(gates: &[f32], c: &[f32], c_out: &mut [f32], h_out: &mut [f32], hid: usize) {
        let it = gates
            .chunks_exact(4 * hid)
            .zip(c.chunks_exact(hid))
            .zip(c_out.chunks_exact_mut(hid))
            .zip(h_out.chunks_exact_mut(hid));
        for (((gt, cp), co), ho) in it {
            let [gi, gf, go, gg] = gates_of(gt, hid);
            let lanes = gi.iter().zip(gf).zip(go).zip(gg).zip(cp).zip(co.iter_mut()).zip(ho.iter_mut());
            for ((((((&i, &f), &o), &g), &c), co), ho) in lanes {
                *co = new_cell(i, f, g, c);
                *ho = new_hidden(o, *co);
            }
        }
    }
}

/// One ConvLSTM step for inference, fused: the gates convolution of `cat(srcs)` (weights
/// `[4 hid, c_in, 3, 3]`, bias `[4 hid]`) and both state updates, which each task runs on the
/// band of gate rows it has just written, while they are in its cache. Gates are never read back
/// from memory and the cell grid `c` is read once. Returns the grids `(h', c')`. Same results as
/// [`super::conv3x3::forward`], [`cell_forward`] and [`hidden_forward`] in sequence.
///
/// # Panics
/// If the sizes disagree (`c` must be a `hid`-channel grid of `d`).
pub(crate) fn conv_step(
    srcs: &[Grid<'_>],
    w: &[f32],
    bias: &[f32],
    c: &[f32],
    hid: usize,
    d: Dims,
) -> (Buf, Buf) {
    assert_eq!(c.len(), d.grid() * hid, "ConvLSTM step: cell state size");
    let c_ins: Vec<usize> = srcs.iter().map(|s| s.channels).collect();
    let plan = super::conv3x3::Plan::forward_scaled(w, &c_ins, 4 * hid, None);
    let mut gates = pool::take(d.grid() * 4 * hid);
    let mut c_new = pool::take(d.grid() * hid);
    let mut h_new = pool::take(d.grid() * hid);
    let g_out = GridMut::new(&mut gates, 4 * hid, d);
    let (g_ptr, c_out, h_out) = (
        g_out.ptr,
        GridMut::new(&mut c_new, hid, d),
        GridMut::new(&mut h_new, hid, d),
    );
    let after = |i: usize, y0: usize, rows: usize| {
        // SAFETY: the calling task has just written every channel of rows y0..y0 + rows of
        // image i of the gates and owns the same rows of the new states.
        unsafe {
            c_out.zero_border(d, i, y0, rows);
            h_out.zero_border(d, i, y0, rows);
            for y in y0..y0 + rows {
                let p = d.at(i, y, 0);
                let g = std::slice::from_raw_parts(g_ptr.add(p * 4 * hid), d.w * 4 * hid);
                let co = std::slice::from_raw_parts_mut(c_out.ptr.add(p * hid), d.w * hid);
                let ho = std::slice::from_raw_parts_mut(h_out.ptr.add(p * hid), d.w * hid);
                step_chunk(g, &c[p * hid..(p + d.w) * hid], co, ho, hid);
            }
        }
    };
    super::conv3x3::conv3x3_banded(
        srcs,
        &plan,
        d,
        super::conv3x3::Epilogue::Bias(bias),
        &[g_out],
        Some(&after),
    );
    (h_new, c_new)
}

avx2_fn! {
    /// Gradients of [`cell_chunk`]: `dgates` (o part zero) and `dc` from `dcn`.
    fn cell_grad_chunk(gates: &[f32], c: &[f32], dcn: &[f32], dgates: &mut [f32], dc: &mut [f32], hid: usize) {
        let it = gates
            .chunks_exact(4 * hid)
            .zip(c.chunks_exact(hid))
            .zip(dcn.chunks_exact(hid))
            .zip(dgates.chunks_exact_mut(4 * hid))
            .zip(dc.chunks_exact_mut(hid));
        for ((((gt, cp), d), dg), dcp) in it {
            let (dgi, rest) = dg.split_at_mut(hid);
            let (dgf, rest) = rest.split_at_mut(hid);
            let (dgo, dgg) = rest.split_at_mut(hid);
            dgo.fill(0.0);
            let [gi, gf, _, gg] = gates_of(gt, hid);
            let lanes = gi
                .iter()
                .zip(gf)
                .zip(gg)
                .zip(cp.iter().zip(d))
                .zip(dgi.iter_mut().zip(dgf.iter_mut()))
                .zip(dgg.iter_mut().zip(dcp.iter_mut()));
            for (((((&i, &f), &g), (&c, &dj)), (dgi, dgf)), (dgg, dcp)) in lanes {
                let (i, f, g) = (sigmoid(i), sigmoid(f), tanh(g));
                *dgi = dj * g * i * (1.0 - i);
                *dgf = dj * c * f * (1.0 - f);
                *dgg = dj * i * (1.0 - g * g);
                *dcp = dj * f;
            }
        }
    }
}

/// Backward of [`cell_forward`]: returns (gradient of the gates, gradient of the previous cell).
pub(crate) fn cell_backward(gates: &[f32], c: &[f32], dc_new: &[f32], hid: usize) -> (Buf, Buf) {
    let mut dg = pool::take(gates.len());
    let mut dc = pool::take(c.len());
    let per = (CHUNK / hid).max(1);
    dc.par_chunks_mut(per * hid)
        .zip(dg.par_chunks_mut(per * 4 * hid))
        .zip(c.par_chunks(per * hid))
        .zip(dc_new.par_chunks(per * hid))
        .zip(gates.par_chunks(per * 4 * hid))
        .for_each(|((((dcp, dgt), cp), d), g)| cell_grad_chunk(g, cp, d, dgt, dcp, hid));
    (dg, dc)
}

avx2_fn! {
    /// Gradients of [`hidden_chunk`]: `dgates` (only the o part non-zero) and `dc'` from `dh`.
    fn hidden_grad_chunk(gates: &[f32], c: &[f32], dh: &[f32], dgates: &mut [f32], dc: &mut [f32], hid: usize) {
        let it = gates
            .chunks_exact(4 * hid)
            .zip(c.chunks_exact(hid))
            .zip(dh.chunks_exact(hid))
            .zip(dgates.chunks_exact_mut(4 * hid))
            .zip(dc.chunks_exact_mut(hid));
        for ((((gt, cp), d), dg), dcp) in it {
            dg[..2 * hid].fill(0.0);
            dg[3 * hid..].fill(0.0);
            let go = gates_of(gt, hid)[2];
            let dgo = &mut dg[2 * hid..3 * hid];
            for ((((&o, &c), &dj), dgo), dcp) in go.iter().zip(cp).zip(d).zip(dgo).zip(dcp.iter_mut()) {
                let (o, t) = (sigmoid(o), tanh(c));
                *dgo = dj * t * o * (1.0 - o);
                *dcp = dj * o * (1.0 - t * t);
            }
        }
    }
}

/// Backward of [`hidden_forward`]: returns (gradient of the gates, gradient of the new cell).
pub(crate) fn hidden_backward(gates: &[f32], c_new: &[f32], dh: &[f32], hid: usize) -> (Buf, Buf) {
    let mut dg = pool::take(gates.len());
    let mut dc = pool::take(c_new.len());
    let per = (CHUNK / hid).max(1);
    dc.par_chunks_mut(per * hid)
        .zip(dg.par_chunks_mut(per * 4 * hid))
        .zip(c_new.par_chunks(per * hid))
        .zip(dh.par_chunks(per * hid))
        .zip(gates.par_chunks(per * 4 * hid))
        .for_each(|((((dcp, dgt), cp), d), g)| hidden_grad_chunk(g, cp, d, dgt, dcp, hid));
    (dg, dc)
}

#[cfg(test)]
mod tests {
    use super::super::conv3x3::tests::rand_vec;
    use super::super::grid::{from_grid, to_grid};
    use super::*;

    #[test]
    fn exp_sigmoid_tanh_match_libm() {
        for i in -2000..2000 {
            let x = i as f32 * 0.01;
            let (e, r) = (exp(x), x.exp());
            assert!((e - r).abs() <= 4e-7 * r, "exp({x}) {e} vs {r}");
            assert!(
                (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6,
                "sigmoid({x})"
            );
            assert!((tanh(x) - x.tanh()).abs() < 2e-7, "tanh({x})");
        }
        assert_eq!(exp(-200.0).min(1e-30), exp(-200.0));
        assert!(exp(200.0).is_finite());
    }

    #[test]
    fn softmax_and_its_gradient_match_the_definition() {
        let d = Dims { n: 2, h: 3, w: 5 };
        let k = 4;
        let hw = d.h * d.w;
        let x: Vec<f32> = rand_vec(d.pixels() * k, 51)
            .iter()
            .map(|v| v * 8.0)
            .collect();
        let p = softmax_to_grid(&x, k, d);
        let pp = from_grid(&p, k, d);
        let dp = rand_vec(d.pixels() * k, 52);
        let dx = softmax_grad(Grid::new(&p, k, d), Grid::new(&to_grid(&dp, k, d), k, d), d);
        for i in 0..d.n {
            for q in 0..hw {
                let v: Vec<f64> = (0..k).map(|c| x[(i * k + c) * hw + q] as f64).collect();
                let m = v.iter().cloned().fold(f64::MIN, f64::max);
                let s: f64 = v.iter().map(|a| (a - m).exp()).sum();
                let probs: Vec<f64> = v.iter().map(|a| (a - m).exp() / s).collect();
                let g: Vec<f64> = (0..k).map(|c| dp[(i * hw + q) * k + c] as f64).collect();
                let dot: f64 = probs.iter().zip(&g).map(|(a, b)| a * b).sum();
                for c in 0..k {
                    let got = pp[(i * hw + q) * k + c] as f64;
                    assert!((got - probs[c]).abs() < 1e-6, "p {i} {q} {c}");
                    let want = probs[c] * (g[c] - dot);
                    assert!(
                        (dx[(i * k + c) * hw + q] as f64 - want).abs() < 1e-6,
                        "dx {i} {q} {c}"
                    );
                }
            }
        }
    }

    /// The fused inference step gives what the three separate operations give (which the test
    /// below checks against the recurrence), on an odd-sized grid whose bands end mid-image and
    /// with a hidden size that is not a whole number of SIMD lanes.
    #[test]
    fn fused_step_equals_conv_then_cell_then_hidden() {
        use super::super::conv3x3::{Epilogue, forward};
        for (hid, d) in [
            (3, Dims { n: 2, h: 7, w: 9 }),
            (16, Dims { n: 1, h: 33, w: 20 }),
        ] {
            let cx = 5;
            let x = to_grid(&rand_vec(d.pixels() * cx, 61), cx, d);
            let h = to_grid(&rand_vec(d.pixels() * hid, 62), hid, d);
            let c: Vec<f32> = to_grid(&rand_vec(d.pixels() * hid, 63), hid, d)
                .iter()
                .map(|v| v * 6.0)
                .collect();
            let w: Vec<f32> = rand_vec(4 * hid * (cx + hid) * 9, 64)
                .iter()
                .map(|v| v * 2.0)
                .collect();
            let b = rand_vec(4 * hid, 65);
            let srcs = [Grid::new(&x, cx, d), Grid::new(&h, hid, d)];
            let gates = forward(&srcs, &w, 4 * hid, d, Epilogue::Bias(&b));
            let c_want = cell_forward(&gates, &c, hid);
            let h_want = hidden_forward(&gates, &c_want, hid);
            let (h_got, c_got) = conv_step(&srcs, &w, &b, &c, hid, d);
            // Same kernels and the same arithmetic in the same order: equal to the bit.
            assert_eq!(&c_got[..], &c_want[..], "cell, hid {hid}");
            assert_eq!(&h_got[..], &h_want[..], "hidden, hid {hid}");
            // And the borders of the new state grids are zero.
            let interior: f32 = from_grid(&h_got, hid, d).iter().map(|v| v * v).sum();
            let all: f32 = h_got.iter().map(|v| v * v).sum();
            assert!(interior > 0.0 && (all - interior).abs() <= 1e-6 * all);
        }
    }

    /// The state update and its gradients against f64 formulas and finite differences.
    #[test]
    fn cell_and_hidden_match_the_recurrence_and_its_gradients() {
        let hid = 3;
        let pos = 7;
        let g: Vec<f32> = rand_vec(pos * 4 * hid, 53)
            .iter()
            .map(|v| v * 4.0)
            .collect();
        let c: Vec<f32> = rand_vec(pos * hid, 54).iter().map(|v| v * 2.0).collect();
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let cn = cell_forward(&g, &c, hid);
        let h = hidden_forward(&g, &cn, hid);
        for p in 0..pos {
            for j in 0..hid {
                let gv = |k: usize| g[p * 4 * hid + k * hid + j] as f64;
                let want_c = s(gv(1)) * c[p * hid + j] as f64 + s(gv(0)) * gv(3).tanh();
                assert!((cn[p * hid + j] as f64 - want_c).abs() < 1e-6);
                let want_h = s(gv(2)) * want_c.tanh();
                assert!((h[p * hid + j] as f64 - want_h).abs() < 1e-6);
            }
        }
        // Loss L = sum(r1 * c') + sum(r2 * h(c')), gradients by the chain rule against central
        // differences.
        let r1 = rand_vec(pos * hid, 55);
        let r2 = rand_vec(pos * hid, 56);
        let loss = |g: &[f32], c: &[f32]| -> f64 {
            let cn = cell_forward(g, c, hid);
            let h = hidden_forward(g, &cn, hid);
            (0..pos * hid)
                .map(|q| (r1[q] * cn[q] + r2[q] * h[q]) as f64)
                .sum()
        };
        let (dg_h, dcn_h) = hidden_backward(&g, &cn, &r2, hid);
        let dcn: Vec<f32> = dcn_h.iter().zip(&r1).map(|(a, b)| a + b).collect();
        let (dg_c, dc) = cell_backward(&g, &c, &dcn, hid);
        let eps = 1e-2f32;
        for q in [0usize, 5, 13, pos * 4 * hid - 1] {
            let (mut gp, mut gm) = (g.clone(), g.clone());
            gp[q] += eps;
            gm[q] -= eps;
            let fd = (loss(&gp, &c) - loss(&gm, &c)) / (2.0 * eps as f64);
            let got = (dg_h[q] + dg_c[q]) as f64;
            assert!((got - fd).abs() < 1e-3, "dgates[{q}] {got} vs {fd}");
        }
        for q in [0usize, 4, pos * hid - 1] {
            let (mut cp, mut cm) = (c.clone(), c.clone());
            cp[q] += eps;
            cm[q] -= eps;
            let fd = (loss(&g, &cp) - loss(&g, &cm)) / (2.0 * eps as f64);
            assert!(
                (dc[q] as f64 - fd).abs() < 1e-3,
                "dc[{q}] {} vs {fd}",
                dc[q]
            );
        }
    }
}
