//! Batch normalization (training mode) fused with the ReLU that follows it, on grids.
//!
//! - [`stats`]: per-channel mean and biased variance over every pixel of the batch (border
//!   excluded), accumulated in `f64`.
//! - [`normalize_relu`]: `z = max(0, y * scale + shift)` with `scale = gamma / sqrt(var + eps)`,
//!   `shift = beta - mean * scale` (also the inference pass when `mean`/`var` are the running
//!   statistics).
//! - [`backward`]: given `dz`, the gradients of `y`, `gamma` and `beta` in two passes: one for the
//!   channel sums of `g = dz * [z > 0]` and `g * xhat`, one for
//!   `dy = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat))`, with
//!   `xhat = (y - mean) * inv_std` recomputed from `y` (nothing but `y` is kept from the forward).

use rayon::prelude::*;

use super::grid::{Dims, Grid, GridMut};
use super::par::{avx2_fn, threads};
use super::pool::{self, Buf};

/// Image rows per task.
fn band_rows(d: Dims) -> usize {
    super::conv3x3::even_rows(d.h, d.n * d.h / (4 * threads()))
}

/// Calls `f(image, first_row, rows)` for every band, in parallel, and folds the `[f64]` results
/// of length `len` by addition.
fn fold_bands(d: Dims, len: usize, f: impl Fn(usize, usize, usize, &mut [f64]) + Sync) -> Vec<f64> {
    let rows = band_rows(d);
    let bands = d.h.div_ceil(rows);
    (0..d.n * bands)
        .into_par_iter()
        .fold(
            || vec![0f64; len],
            |mut acc, task| {
                let (i, band) = (task / bands, task % bands);
                let y0 = band * rows;
                f(i, y0, rows.min(d.h - y0), &mut acc);
                acc
            },
        )
        .reduce(
            || vec![0f64; len],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
                a
            },
        )
}

avx2_fn! {
    /// Adds the values of `row` (`w` pixels of `c` channels) and their squares per channel.
    fn sum_row(row: &[f32], c: usize, s: &mut [f32], s2: &mut [f32]) {
        for px in row.chunks_exact(c) {
            for ((a, b), &v) in s.iter_mut().zip(s2.iter_mut()).zip(px) {
                *a += v;
                *b += v * v;
            }
        }
    }
}

/// Per-channel mean and biased variance of the grid `y` (border excluded).
pub(crate) fn stats(y: Grid<'_>, d: Dims) -> (Vec<f64>, Vec<f64>) {
    let c = y.channels;
    let sums = fold_bands(d, 2 * c, |i, y0, rows, acc| {
        let (mut s, mut s2) = (vec![0f32; c], vec![0f32; c]);
        for yy in y0..y0 + rows {
            s.fill(0.0);
            s2.fill(0.0);
            let p = d.at(i, yy, 0) * c;
            sum_row(&y.data[p..p + d.w * c], c, &mut s, &mut s2);
            for ch in 0..c {
                acc[ch] += s[ch] as f64;
                acc[c + ch] += s2[ch] as f64;
            }
        }
    });
    let m = d.pixels() as f64;
    let mean: Vec<f64> = sums[..c].iter().map(|v| v / m).collect();
    let var = sums[c..]
        .iter()
        .zip(&mean)
        .map(|(s2, mu)| (s2 / m - mu * mu).max(0.0))
        .collect();
    (mean, var)
}

avx2_fn! {
    /// `z = max(0, y * scale + shift)` over one row.
    fn norm_row(y: &[f32], z: &mut [f32], c: usize, scale: &[f32], shift: &[f32]) {
        for (py, pz) in y.chunks_exact(c).zip(z.chunks_exact_mut(c)) {
            for (((o, &v), &a), &b) in pz.iter_mut().zip(py).zip(scale).zip(shift) {
                *o = (v * a + b).max(0.0);
            }
        }
    }
}

/// `z = max(0, y * scale + shift)` per channel; returns the grid `z` (zero border).
pub(crate) fn normalize_relu(y: Grid<'_>, scale: &[f32], shift: &[f32], d: Dims) -> Buf {
    let c = y.channels;
    assert_eq!(scale.len(), c, "batch norm: scale length");
    assert_eq!(shift.len(), c, "batch norm: shift length");
    let mut z = pool::take(d.grid() * c);
    let out = GridMut::new(&mut z, c, d);
    let rows = band_rows(d);
    let bands = d.h.div_ceil(rows);
    (0..d.n * bands).into_par_iter().for_each(|task| {
        let (i, band) = (task / bands, task % bands);
        let y0 = band * rows;
        let r_here = rows.min(d.h - y0);
        // SAFETY: the task owns rows y0..y0 + r_here of image i of the output.
        unsafe {
            out.zero_border(d, i, y0, r_here);
            for yy in y0..y0 + r_here {
                let p = d.at(i, yy, 0) * c;
                let zr = std::slice::from_raw_parts_mut(out.ptr.add(p), d.w * c);
                norm_row(&y.data[p..p + d.w * c], zr, c, scale, shift);
            }
        }
    });
    z
}

/// Per-channel affine form of batch normalization: `(scale, shift)` with
/// `scale = gamma / sqrt(var + eps)` and `shift = beta - mean * scale`.
pub(crate) fn affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    let mut scale = Vec::with_capacity(gamma.len());
    let mut shift = Vec::with_capacity(gamma.len());
    for c in 0..gamma.len() {
        let s = gamma[c] as f64 / (var[c] + eps).sqrt();
        scale.push(s as f32);
        shift.push((beta[c] as f64 - mean[c] * s) as f32);
    }
    (scale, shift)
}

avx2_fn! {
    /// Channel sums of `g = dz [y*scale + shift > 0]` and `g * xhat` over one row.
    #[allow(clippy::too_many_arguments)]
    fn grad_sums_row(
        y: &[f32],
        dz: &[f32],
        c: usize,
        scale: &[f32],
        shift: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        sg: &mut [f32],
        sgx: &mut [f32],
    ) {
        // Zipped iterators (no indexing): the loop over channels vectorizes, and the ReLU mask
        // becomes a select instead of a branch that random signs would mispredict.
        for (py, pd) in y.chunks_exact(c).zip(dz.chunks_exact(c)) {
            let lanes = py
                .iter()
                .zip(pd)
                .zip(scale.iter().zip(shift))
                .zip(mean.iter().zip(inv_std))
                .zip(sg.iter_mut().zip(sgx.iter_mut()));
            for ((((&v, &d), (&a, &b)), (&m, &is)), (sg, sgx)) in lanes {
                let g = if v * a + b > 0.0 { d } else { 0.0 };
                *sg += g;
                *sgx += g * (v - m) * is;
            }
        }
    }
}

avx2_fn! {
    /// `dy = k1 * (g - a) - k2 * (y - mean)` over one row, with per-channel
    /// `k1 = gamma * inv_std`, `a = mean(g)`, `k2 = k1 * inv_std * mean(g * xhat)`.
    #[allow(clippy::too_many_arguments)]
    fn grad_row(
        y: &[f32],
        dz: &[f32],
        dy: &mut [f32],
        c: usize,
        scale: &[f32],
        shift: &[f32],
        mean: &[f32],
        k1: &[f32],
        a: &[f32],
        k2: &[f32],
    ) {
        for ((py, pd), po) in y.chunks_exact(c).zip(dz.chunks_exact(c)).zip(dy.chunks_exact_mut(c)) {
            let lanes = py
                .iter()
                .zip(pd)
                .zip(po.iter_mut())
                .zip(scale.iter().zip(shift))
                .zip(mean.iter().zip(k1))
                .zip(a.iter().zip(k2));
            for (((((&v, &d), o), (&sc, &sh)), (&m, &k1)), (&a, &k2)) in lanes {
                let g = if v * sc + sh > 0.0 { d } else { 0.0 };
                *o = k1 * (g - a) - k2 * (v - m);
            }
        }
    }
}

/// Gradients of `z = relu(batch_norm_train(y))`.
pub(crate) struct Grads {
    /// Gradient of `y` (grid, zero border).
    pub(crate) dy: Buf,
    /// Gradient of `gamma`.
    pub(crate) dgamma: Vec<f32>,
    /// Gradient of `beta`.
    pub(crate) dbeta: Vec<f32>,
}

/// Backward of [`normalize_relu`] in training mode, `mean`/`var` being the batch statistics
/// of `y` that the forward used.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    y: Grid<'_>,
    dz: Grid<'_>,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f64],
    var: &[f64],
    eps: f64,
    d: Dims,
) -> Grads {
    let c = y.channels;
    assert_eq!(dz.channels, c, "batch norm backward: channels");
    let (scale, shift) = affine(gamma, beta, mean, var, eps);
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| (1.0 / (v + eps).sqrt()) as f32)
        .collect();
    let mean32: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
    let sums = fold_bands(d, 2 * c, |i, y0, rows, acc| {
        let (mut sg, mut sgx) = (vec![0f32; c], vec![0f32; c]);
        for yy in y0..y0 + rows {
            sg.fill(0.0);
            sgx.fill(0.0);
            let p = d.at(i, yy, 0) * c;
            let r = p..p + d.w * c;
            grad_sums_row(
                &y.data[r.clone()],
                &dz.data[r],
                c,
                &scale,
                &shift,
                &mean32,
                &inv_std,
                &mut sg,
                &mut sgx,
            );
            for ch in 0..c {
                acc[ch] += sg[ch] as f64;
                acc[c + ch] += sgx[ch] as f64;
            }
        }
    });
    let m = d.pixels() as f64;
    let k1: Vec<f32> = (0..c).map(|ch| gamma[ch] * inv_std[ch]).collect();
    let a: Vec<f32> = (0..c).map(|ch| (sums[ch] / m) as f32).collect();
    let k2: Vec<f32> = (0..c)
        .map(|ch| k1[ch] * inv_std[ch] * (sums[c + ch] / m) as f32)
        .collect();
    let mut dy = pool::take(d.grid() * c);
    let out = GridMut::new(&mut dy, c, d);
    let rows = band_rows(d);
    let bands = d.h.div_ceil(rows);
    (0..d.n * bands).into_par_iter().for_each(|task| {
        let (i, band) = (task / bands, task % bands);
        let y0 = band * rows;
        let r_here = rows.min(d.h - y0);
        // SAFETY: the task owns rows y0..y0 + r_here of image i of the output.
        unsafe {
            out.zero_border(d, i, y0, r_here);
            for yy in y0..y0 + r_here {
                let p = d.at(i, yy, 0) * c;
                let r = p..p + d.w * c;
                let o = std::slice::from_raw_parts_mut(out.ptr.add(p), d.w * c);
                grad_row(
                    &y.data[r.clone()],
                    &dz.data[r],
                    o,
                    c,
                    &scale,
                    &shift,
                    &mean32,
                    &k1,
                    &a,
                    &k2,
                );
            }
        }
    });
    Grads {
        dy,
        dgamma: sums[c..].iter().map(|&v| v as f32).collect(),
        dbeta: sums[..c].iter().map(|&v| v as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv3x3::tests::{assert_close, rand_vec};
    use super::super::grid::{from_grid, to_grid};
    use super::*;

    /// Forward and backward against a direct f64 implementation of the formulas (the same
    /// formulas as PyTorch's `batch_norm` + `relu` in training mode), and the gradients against
    /// finite differences of the loss `sum(z * r)`.
    #[test]
    fn matches_direct_formulas_and_finite_differences() {
        let d = Dims { n: 2, h: 3, w: 5 };
        let c = 7;
        let y = rand_vec(d.pixels() * c, 11);
        let r = rand_vec(d.pixels() * c, 12); // dL/dz
        let gamma: Vec<f32> = rand_vec(c, 13).iter().map(|v| v + 1.0).collect();
        let beta = rand_vec(c, 14);
        let eps = 1e-5;
        let loss = |y: &[f32]| -> f64 {
            let gy = to_grid(y, c, d);
            let (mean, var) = stats(Grid::new(&gy, c, d), d);
            let (scale, shift) = affine(&gamma, &beta, &mean, &var, eps);
            let z = from_grid(
                &normalize_relu(Grid::new(&gy, c, d), &scale, &shift, d),
                c,
                d,
            );
            z.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum()
        };
        // Direct forward.
        let m = d.pixels();
        let gy = to_grid(&y, c, d);
        let (mean, var) = stats(Grid::new(&gy, c, d), d);
        for ch in 0..c {
            let mu: f64 = (0..m).map(|p| y[p * c + ch] as f64).sum::<f64>() / m as f64;
            let v: f64 = (0..m)
                .map(|p| (y[p * c + ch] as f64 - mu).powi(2))
                .sum::<f64>()
                / m as f64;
            assert!((mean[ch] - mu).abs() < 1e-6 && (var[ch] - v).abs() < 1e-6);
        }
        let g = backward(
            Grid::new(&gy, c, d),
            Grid::new(&to_grid(&r, c, d), c, d),
            &gamma,
            &beta,
            &mean,
            &var,
            eps,
            d,
        );
        let dy = from_grid(&g.dy, c, d);
        let h = 1e-3f32;
        for idx in [0usize, 5, 17, m * c - 1] {
            let (mut yp, mut ym) = (y.clone(), y.clone());
            yp[idx] += h;
            ym[idx] -= h;
            let fd = ((loss(&yp) - loss(&ym)) / (2.0 * h as f64)) as f32;
            assert!((dy[idx] - fd).abs() < 2e-3, "dy[{idx}] {} vs {fd}", dy[idx]);
        }
        // dbeta = sum of dz over active outputs; dgamma = sum of dz * xhat over active outputs.
        let (scale, shift) = affine(&gamma, &beta, &mean, &var, eps);
        let mut db = vec![0f32; c];
        let mut dg = vec![0f32; c];
        for p in 0..m {
            for ch in 0..c {
                let v = y[p * c + ch];
                if v * scale[ch] + shift[ch] > 0.0 {
                    db[ch] += r[p * c + ch];
                    dg[ch] +=
                        r[p * c + ch] * ((v as f64 - mean[ch]) / (var[ch] + eps).sqrt()) as f32;
                }
            }
        }
        assert_close(&g.dbeta, &db, 1e-5, "dbeta");
        assert_close(&g.dgamma, &dg, 1e-5, "dgamma");
    }
}
