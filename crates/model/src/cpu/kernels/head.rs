//! Layout conversions between Burn's `[n, c, h, w]` tensors and grids, and the 1x1 convolution
//! with bias that ends the U-Net, which writes `[n, k, h, w]` directly.

use rayon::prelude::*;

use super::conv3x3::Packed;
use super::grid::{Dims, Grid, GridMut};
use super::micro::{MR, NR, Taps, blocks, tap_gemm_m};
use super::par::{SendPtr, avx2_fn};
use super::pool::{self, Buf};

/// `[n, c, h, w]` to a grid (zero border).
pub(crate) fn nchw_to_grid(x: &[f32], c: usize, d: Dims) -> Buf {
    assert_eq!(x.len(), d.pixels() * c, "nchw_to_grid: input size");
    let mut g = pool::take(d.grid() * c);
    let out = GridMut::new(&mut g, c, d);
    let hw = d.h * d.w;
    (0..d.n * d.h).into_par_iter().for_each(|row| {
        let (i, y) = (row / d.h, row % d.h);
        // SAFETY: the task owns row y of image i.
        unsafe {
            out.zero_border(d, i, y, 1);
            let dst = out.ptr.add(d.at(i, y, 0) * c);
            for ch in 0..c {
                let src = &x[(i * c + ch) * hw + y * d.w..][..d.w];
                for (xx, &v) in src.iter().enumerate() {
                    *dst.add(xx * c + ch) = v;
                }
            }
        }
    });
    g
}

/// A grid to `[n, c, h, w]`.
pub(crate) fn grid_to_nchw(g: Grid<'_>, d: Dims) -> Buf {
    let c = g.channels;
    let mut x = pool::take(d.pixels() * c);
    let out = SendPtr(x.as_mut_ptr());
    let hw = d.h * d.w;
    (0..d.n * d.h).into_par_iter().for_each(|row| {
        let (i, y) = (row / d.h, row % d.h);
        let src = &g.data[d.at(i, y, 0) * c..][..d.w * c];
        for ch in 0..c {
            // SAFETY: row y of every channel of image i belongs to this task.
            unsafe {
                let dst = out.add((i * c + ch) * hw + y * d.w);
                for xx in 0..d.w {
                    *dst.add(xx) = src[xx * c + ch];
                }
            }
        }
    });
    x
}

/// Forward of the 1x1 head: `x` grid (`c_in` channels), weights `[k, c_in, 1, 1]`, bias `[k]`;
/// returns `[n, k, h, w]`.
pub(crate) fn forward(x: Grid<'_>, w: &[f32], bias: &[f32], k: usize, d: Dims) -> Buf {
    let c_in = x.channels;
    assert_eq!(w.len(), k * c_in, "head weight size");
    assert_eq!(bias.len(), k, "head bias size");
    let pack = Packed::from_fn(c_in, k, |c, o| w[o * c_in + c]);
    let mut y = pool::take(d.pixels() * k);
    let out = SendPtr(y.as_mut_ptr());
    let hw = d.h * d.w;
    let offsets = [0isize];
    let taps = Taps {
        offsets: &offsets,
        kr: c_in,
        sk: 1,
    };
    (0..d.n * d.h).into_par_iter().for_each(|row| {
        let (i, yy) = (row / d.h, row % d.h);
        let mut acc = [[0f32; NR]; MR];
        for b in 0..pack.nblocks() {
            let c0 = b * NR;
            let nb = NR.min(k - c0);
            for (x0, m) in blocks(d.w) {
                // SAFETY: reads m pixels of row yy; writes row yy of channels c0..c0+nb of image
                // i, owned by this task.
                unsafe {
                    let a = x.data.as_ptr().add(d.at(i, yy, x0) * c_in);
                    tap_gemm_m(m, a, c_in as isize, taps, pack.block(b, 0), &mut acc, false);
                    for j in 0..nb {
                        let dst = out.add((i * k + c0 + j) * hw + yy * d.w + x0);
                        for (p, v) in acc.iter().enumerate().take(m) {
                            *dst.add(p) = v[j] + bias[c0 + j];
                        }
                    }
                }
            }
        }
    });
    y
}

/// Input gradient of the head: `dy` is `[n, k, h, w]`; returns the `c_in`-channel grid.
pub(crate) fn input_grad(dy: &[f32], w: &[f32], k: usize, c_in: usize, d: Dims) -> Buf {
    assert_eq!(dy.len(), d.pixels() * k, "head input grad: dy size");
    let pack = Packed::from_fn(k, c_in, |o, c| w[o * c_in + c]);
    let mut dx = pool::take(d.grid() * c_in);
    let out = GridMut::new(&mut dx, c_in, d);
    let hw = d.h * d.w;
    let offsets = [0isize];
    // Reduction over the k classes, which are hw apart in [n, k, h, w]; pixels are adjacent.
    let taps = Taps {
        offsets: &offsets,
        kr: k,
        sk: hw as isize,
    };
    (0..d.n * d.h).into_par_iter().for_each(|row| {
        let (i, yy) = (row / d.h, row % d.h);
        let mut acc = [[0f32; NR]; MR];
        // SAFETY: the task owns row yy of image i of dx; reads row yy of every class.
        unsafe {
            out.zero_border(d, i, yy, 1);
            for b in 0..pack.nblocks() {
                let c0 = b * NR;
                let nb = NR.min(c_in - c0);
                for (x0, m) in blocks(d.w) {
                    let a = dy.as_ptr().add(i * k * hw + yy * d.w + x0);
                    tap_gemm_m(m, a, 1, taps, pack.block(b, 0), &mut acc, false);
                    for (p, v) in acc.iter().enumerate().take(m) {
                        let dst = out.ptr.add(d.at(i, yy, x0 + p) * c_in + c0);
                        core::ptr::copy_nonoverlapping(v.as_ptr(), dst, nb);
                    }
                }
            }
        }
    });
    dx
}

avx2_fn! {
    /// `acc[o][c] += dy[o][x] * row[x][c]` over the `w` pixels of one row.
    fn wgrad_row(row: &[f32], dy: &[f32], hw: usize, k: usize, c: usize, acc: &mut [f32]) {
        let w = row.len() / c;
        for x in 0..w {
            let px = &row[x * c..(x + 1) * c];
            for o in 0..k {
                let g = dy[o * hw + x];
                for (a, &v) in acc[o * c..(o + 1) * c].iter_mut().zip(px) {
                    *a += g * v;
                }
            }
        }
    }
}

/// Weight and bias gradients of the head: returns (`[k, c_in, 1, 1]`, `[k]`).
pub(crate) fn param_grads(x: Grid<'_>, dy: &[f32], k: usize, d: Dims) -> (Vec<f32>, Vec<f32>) {
    let c = x.channels;
    let hw = d.h * d.w;
    let sums = (0..d.n * d.h)
        .into_par_iter()
        .fold(
            || (vec![0f32; k * c], vec![0f64; k * c + k]),
            |(mut acc, mut tot), row| {
                let (i, yy) = (row / d.h, row % d.h);
                acc.fill(0.0);
                let p = d.at(i, yy, 0) * c;
                let g = &dy[i * k * hw + yy * d.w..];
                wgrad_row(&x.data[p..p + d.w * c], g, hw, k, c, &mut acc);
                for (t, a) in tot.iter_mut().zip(&acc) {
                    *t += *a as f64;
                }
                for o in 0..k {
                    tot[k * c + o] += g[o * hw..o * hw + d.w]
                        .iter()
                        .map(|&v| v as f64)
                        .sum::<f64>();
                }
                (acc, tot)
            },
        )
        .map(|(_, t)| t)
        .reduce(
            || vec![0f64; k * c + k],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
                a
            },
        );
    (
        sums[..k * c].iter().map(|&v| v as f32).collect(),
        sums[k * c..].iter().map(|&v| v as f32).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::conv3x3::tests::{assert_close, rand_vec};
    use super::super::grid::{from_grid, to_grid};
    use super::*;

    fn nchw_to_nhwc(x: &[f32], c: usize, d: Dims) -> Vec<f32> {
        let mut y = vec![0f32; x.len()];
        let hw = d.h * d.w;
        for i in 0..d.n {
            for ch in 0..c {
                for p in 0..hw {
                    y[(i * hw + p) * c + ch] = x[(i * c + ch) * hw + p];
                }
            }
        }
        y
    }

    #[test]
    fn layout_round_trip() {
        let d = Dims { n: 2, h: 3, w: 5 };
        let x = rand_vec(d.pixels() * 4, 41);
        let g = nchw_to_grid(&x, 4, d);
        assert_eq!(from_grid(&g, 4, d), nchw_to_nhwc(&x, 4, d));
        assert_eq!(&grid_to_nchw(Grid::new(&g, 4, d), d)[..], &x[..]);
    }

    #[test]
    fn head_forward_and_gradients_match_the_definition() {
        let d = Dims { n: 2, h: 3, w: 7 };
        let (c, k) = (9, 5);
        let x = rand_vec(d.pixels() * c, 42);
        let w = rand_vec(k * c, 43);
        let b = rand_vec(k, 44);
        let gx = to_grid(&x, c, d);
        let y = forward(Grid::new(&gx, c, d), &w, &b, k, d);
        let hw = d.h * d.w;
        let mut expect = vec![0f32; d.pixels() * k];
        for i in 0..d.n {
            for p in 0..hw {
                for o in 0..k {
                    expect[(i * k + o) * hw + p] = b[o]
                        + (0..c)
                            .map(|ch| x[(i * hw + p) * c + ch] * w[o * c + ch])
                            .sum::<f32>();
                }
            }
        }
        assert_close(&y, &expect, 1e-5, "head forward");
        let dy = rand_vec(d.pixels() * k, 45);
        let dx = from_grid(&input_grad(&dy, &w, k, c, d), c, d);
        let mut dx_expect = vec![0f32; x.len()];
        let (mut dw_expect, mut db_expect) = (vec![0f32; k * c], vec![0f32; k]);
        for i in 0..d.n {
            for p in 0..hw {
                for o in 0..k {
                    let g = dy[(i * k + o) * hw + p];
                    db_expect[o] += g;
                    for ch in 0..c {
                        dx_expect[(i * hw + p) * c + ch] += g * w[o * c + ch];
                        dw_expect[o * c + ch] += g * x[(i * hw + p) * c + ch];
                    }
                }
            }
        }
        assert_close(&dx, &dx_expect, 1e-5, "head dx");
        let (dw, db) = param_grads(Grid::new(&gx, c, d), &dy, k, d);
        assert_close(&dw, &dw_expect, 1e-5, "head dw");
        assert_close(&db, &db_expect, 1e-5, "head db");
    }
}
