//! 2x2 transposed convolution with stride 2 (the U-Net's up-sampling), on grids.
//!
//! Output pixel `(2y + di, 2x + dj)` only depends on input pixel `(y, x)`:
//! `out[2y+di][2x+dj][o] = b[o] + sum_c x[y][x][c] * w[c][o][di][dj]` (PyTorch weight layout
//! `[c_in, c_out, 2, 2]`). In a channels-last output row `2y + di`, the values of input pixel
//! `x` are the `2 c_out` contiguous values `(dj, o)`, so each output row is a plain matrix
//! product `[w, c_in] x [c_in, 2 c_out]` written in place: no col2im scatter.
//!
//! - input gradient: `dx[y][x][c] = sum_{di, (dj, o)} dout[2y+di][2x*c_out + (dj, o)] * w[c][o][di][dj]`,
//!   one [`tap_gemm`] with two taps (the two output rows) of `2 c_out` values.
//! - weight gradient: for each `di`, `sum over pixels x[c] * dout_row(2y+di)[(dj, o)]` with
//!   [`super::micro::reduce_pixels`] per input row.

use rayon::prelude::*;

use super::conv3x3::Packed;
use super::grid::{Dims, Grid, GridMut};
use super::micro::{MR, NR, Taps, blocks, blocks_of, mr, reduce_pixels_m, tap_gemm_m};
use super::par::{SendPtr, avx2_fn, threads};
use super::pool::{self, Buf};

/// Index of `w[c][o][di][dj]` in the PyTorch layout.
#[inline]
fn widx(c: usize, o: usize, di: usize, dj: usize, c_out: usize) -> usize {
    ((c * c_out + o) * 2 + di) * 2 + dj
}

/// Forward: `x` on grid `d` (`c_in` channels), weights `[c_in, c_out, 2, 2]`, bias `[c_out]`;
/// returns the output grid on `d.double()`.
pub(crate) fn forward(x: Grid<'_>, w: &[f32], bias: &[f32], c_out: usize, d: Dims) -> Buf {
    let c_in = x.channels;
    assert_eq!(w.len(), c_in * c_out * 4, "conv transpose weight size");
    assert_eq!(bias.len(), c_out, "conv transpose bias size");
    let o = d.double();
    let packs: Vec<Packed> = (0..2)
        .map(|di| {
            Packed::from_fn(c_in, 2 * c_out, |c, col| {
                w[widx(c, col % c_out, di, col / c_out, c_out)]
            })
        })
        .collect();
    let mut y = pool::take(o.grid() * c_out);
    let out = GridMut::new(&mut y, c_out, o);
    let offsets = [0isize];
    let taps = Taps {
        offsets: &offsets,
        kr: c_in,
        sk: 1,
    };
    let cols = 2 * c_out;
    // The bias of each output column (dj, o), padded to whole blocks.
    let mut bias2 = vec![0f32; cols.div_ceil(NR) * NR];
    for (col, b) in bias2.iter_mut().enumerate().take(cols) {
        *b = bias[col % c_out];
    }
    (0..d.n * d.h).into_par_iter().for_each(|row| {
        let (i, yy) = (row / d.h, row % d.h);
        let mut acc = [[0f32; NR]; MR];
        // SAFETY: the task owns output rows 2yy, 2yy + 1 of image i; reads stay in input row yy.
        unsafe {
            out.zero_border(o, i, 2 * yy, 2);
            for (di, pack) in packs.iter().enumerate() {
                let dst_row = out.ptr.add(o.at(i, 2 * yy + di, 0) * c_out);
                for b in 0..pack.nblocks() {
                    let c0 = b * NR;
                    let nb = NR.min(cols - c0);
                    for (x0, m) in blocks(d.w) {
                        let a = x.data.as_ptr().add(d.at(i, yy, x0) * c_in);
                        tap_gemm_m(m, a, c_in as isize, taps, pack.block(b, 0), &mut acc, false);
                        let bb: &[f32; NR] = bias2[c0..c0 + NR].try_into().expect("16 values");
                        for (p, v) in acc.iter_mut().enumerate().take(m) {
                            for (x, b) in v.iter_mut().zip(bb) {
                                *x += b;
                            }
                            let dst = dst_row.add((x0 + p) * cols + c0);
                            if nb == NR {
                                (dst as *mut [f32; NR]).write_unaligned(*v);
                            } else {
                                core::ptr::copy_nonoverlapping(v.as_ptr(), dst, nb);
                            }
                        }
                    }
                }
            }
        }
    });
    y
}

/// Input gradient: `dy` on grid `d.double()` (`c_out` channels); returns `dx` on grid `d`.
pub(crate) fn input_grad(dy: Grid<'_>, w: &[f32], c_in: usize, d: Dims) -> Buf {
    let c_out = dy.channels;
    assert_eq!(w.len(), c_in * c_out * 4, "conv transpose weight size");
    let o = d.double();
    let pack = Packed::from_fn(4 * c_out, c_in, |k, c| {
        let (di, col) = (k / (2 * c_out), k % (2 * c_out));
        w[widx(c, col % c_out, di, col / c_out, c_out)]
    });
    let mut dx = pool::take(d.grid() * c_in);
    let out = GridMut::new(&mut dx, c_in, d);
    let offsets = [0isize, (o.wp() * c_out) as isize];
    let taps = Taps {
        offsets: &offsets,
        kr: 2 * c_out,
        sk: 1,
    };
    (0..d.n * d.h).into_par_iter().for_each(|row| {
        let (i, yy) = (row / d.h, row % d.h);
        let mut acc = [[0f32; NR]; MR];
        // SAFETY: the task owns row yy of image i of dx; reads stay in dy rows 2yy, 2yy + 1.
        unsafe {
            out.zero_border(d, i, yy, 1);
            for b in 0..pack.nblocks() {
                let c0 = b * NR;
                let nb = NR.min(c_in - c0);
                for (x0, m) in blocks(d.w) {
                    let a = dy.data.as_ptr().add(o.at(i, 2 * yy, 2 * x0) * c_out);
                    tap_gemm_m(
                        m,
                        a,
                        (2 * c_out) as isize,
                        taps,
                        pack.block(b, 0),
                        &mut acc,
                        false,
                    );
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
    /// Adds the channel sums of one row of `c`-channel pixels into `acc`.
    fn sum_row(row: &[f32], c: usize, acc: &mut [f32]) {
        for px in row.chunks_exact(c) {
            for (a, &v) in acc.iter_mut().zip(px) {
                *a += v;
            }
        }
    }
}

/// Per-channel sums of a grid (border excluded), e.g. a bias gradient.
pub(crate) fn channel_sums(g: Grid<'_>, d: Dims) -> Vec<f32> {
    let c = g.channels;
    let sums = (0..d.n * d.h)
        .into_par_iter()
        .fold(
            || vec![0f64; c],
            |mut acc, row| {
                let (i, yy) = (row / d.h, row % d.h);
                let p = d.at(i, yy, 0) * c;
                let mut s = vec![0f32; c];
                sum_row(&g.data[p..p + d.w * c], c, &mut s);
                for (a, v) in acc.iter_mut().zip(&s) {
                    *a += *v as f64;
                }
                acc
            },
        )
        .reduce(
            || vec![0f64; c],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
                a
            },
        );
    sums.iter().map(|&v| v as f32).collect()
}

/// Weight gradient: `x` the forward input (grid `d`), `dy` the output gradient (grid
/// `d.double()`); returns `[c_in, c_out, 2, 2]`.
pub(crate) fn weight_grad(x: Grid<'_>, dy: Grid<'_>, d: Dims) -> Buf {
    let (c_in, c_out) = (x.channels, dy.channels);
    let o = d.double();
    let cols = 2 * c_out;
    // packed[di][c][col]
    let mut packed = pool::take_zeroed(2 * c_in * cols);
    // At most 8 gradient rows per tile: each call reduces over one image row only (16 to 128
    // pixels), and a 16-row tile spends as long loading and storing its accumulators
    // (measured: 56 ms per training step with 16 rows, 42 ms with 8).
    let rows = mr().min(8);
    let tiles: Vec<(usize, usize)> = blocks_of(c_in, rows).collect();
    let per_task = tiles.len().div_ceil(2 * threads()).max(1);
    let out = SendPtr(packed.as_mut_ptr());
    let nblocks = cols.div_ceil(NR);
    tiles.par_chunks(per_task).for_each(|group| {
        for i in 0..d.n {
            for yy in 0..d.h {
                let a_row = d.at(i, yy, 0) * c_in;
                for di in 0..2 {
                    let b_row = o.at(i, 2 * yy + di, 0) * c_out;
                    for &(c, m) in group {
                        for b in 0..nblocks {
                            let c0 = b * NR;
                            // SAFETY: a reads w pixels of input row yy (m channels from c), b
                            // reads w virtual pixels of 2 c_out values of output row 2yy + di;
                            // the task owns gradient rows c..c + m.
                            unsafe {
                                reduce_pixels_m(
                                    m,
                                    x.data.as_ptr().add(a_row + c),
                                    c_in as isize,
                                    dy.data.as_ptr().add(b_row + c0),
                                    cols as isize,
                                    NR.min(cols - c0),
                                    d.w,
                                    out.add((di * c_in + c) * cols + c0),
                                    cols,
                                );
                            }
                        }
                    }
                }
            }
        }
    });
    let mut w = pool::take(c_in * c_out * 4);
    for di in 0..2 {
        for c in 0..c_in {
            for col in 0..cols {
                w[widx(c, col % c_out, di, col / c_out, c_out)] =
                    packed[(di * c_in + c) * cols + col];
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::super::conv3x3::tests::{assert_close, rand_vec};
    use super::super::grid::{from_grid, to_grid};
    use super::*;

    /// Direct scatter loop from the definition of ConvTranspose2d(k=2, s=2) (plain NHWC).
    fn naive(x: &[f32], w: &[f32], b: &[f32], c_in: usize, c_out: usize, d: Dims) -> Vec<f32> {
        let o = d.double();
        let mut y = vec![0f32; o.pixels() * c_out];
        for i in 0..d.n {
            for yy in 0..d.h {
                for xx in 0..d.w {
                    for di in 0..2 {
                        for dj in 0..2 {
                            let q = ((i * o.h + 2 * yy + di) * o.w + 2 * xx + dj) * c_out;
                            for oc in 0..c_out {
                                let mut s = b[oc];
                                for c in 0..c_in {
                                    s += x[((i * d.h + yy) * d.w + xx) * c_in + c]
                                        * w[widx(c, oc, di, dj, c_out)];
                                }
                                y[q + oc] = s;
                            }
                        }
                    }
                }
            }
        }
        y
    }

    #[test]
    fn forward_and_gradients_match_the_definition() {
        let d = Dims { n: 2, h: 3, w: 7 };
        let (ci, co) = (10, 12);
        let x = rand_vec(d.pixels() * ci, 31);
        let w = rand_vec(ci * co * 4, 32);
        let b = rand_vec(co, 33);
        let o = d.double();
        let gx = to_grid(&x, ci, d);
        let y = forward(Grid::new(&gx, ci, d), &w, &b, co, d);
        assert_close(
            &from_grid(&y, co, o),
            &naive(&x, &w, &b, ci, co, d),
            1e-5,
            "forward",
        );
        // Adjoint checks with the bias-free operator: <T(x), dy> = <x, dx> = <T_w(x), dy>.
        let dy = rand_vec(o.pixels() * co, 34);
        let gdy = to_grid(&dy, co, o);
        let zero = vec![0f32; co];
        let dx = from_grid(&input_grad(Grid::new(&gdy, co, o), &w, ci, d), ci, d);
        for idx in [0usize, 7, 33, d.pixels() * ci - 1] {
            let mut e = vec![0f32; x.len()];
            e[idx] = 1.0;
            let t: f32 = naive(&e, &w, &zero, ci, co, d)
                .iter()
                .zip(&dy)
                .map(|(a, b)| a * b)
                .sum();
            assert!((dx[idx] - t).abs() < 1e-4, "dx[{idx}] {} vs {t}", dx[idx]);
        }
        let dw = weight_grad(Grid::new(&gx, ci, d), Grid::new(&gdy, co, o), d);
        for idx in [0usize, 5, 77, w.len() - 1] {
            let mut e = vec![0f32; w.len()];
            e[idx] = 1.0;
            let t: f32 = naive(&x, &e, &zero, ci, co, d)
                .iter()
                .zip(&dy)
                .map(|(a, b)| a * b)
                .sum();
            assert!((dw[idx] - t).abs() < 1e-4, "dw[{idx}] {} vs {t}", dw[idx]);
        }
        let db = channel_sums(Grid::new(&gdy, co, o), o);
        for oc in 0..co {
            let t: f32 = (0..o.pixels()).map(|p| dy[p * co + oc]).sum();
            assert!((db[oc] - t).abs() < 1e-4);
        }
    }
}
