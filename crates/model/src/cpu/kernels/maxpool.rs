//! 2x2 max pooling, stride 2, on grids, with the winning position of each window kept (one
//! byte per output value) for the backward pass.
//!
//! Ties go to the first maximum in the order (0,0), (0,1), (1,0), (1,1), as in PyTorch's CPU
//! kernel.

use rayon::prelude::*;

use super::grid::{Dims, Grid, GridMut};
use super::par::avx2_fn;
use super::pool::{self, Buf};

avx2_fn! {
    /// One output row: `y[x][c] = max` of the 2x2 window of rows `r0`, `r1`; `arg` gets the
    /// index of the winner.
    fn pool_row(r0: &[f32], r1: &[f32], y: &mut [f32], arg: &mut [u8], c: usize) {
        let w = y.len() / c;
        for x in 0..w {
            let (a, b) = (&r0[2 * x * c..(2 * x + 2) * c], &r1[2 * x * c..(2 * x + 2) * c]);
            let (yo, ao) = (&mut y[x * c..(x + 1) * c], &mut arg[x * c..(x + 1) * c]);
            for ch in 0..c {
                let (v0, v1, v2, v3) = (a[ch], a[c + ch], b[ch], b[c + ch]);
                let (mut m, mut k) = (v0, 0u8);
                if v1 > m {
                    m = v1;
                    k = 1;
                }
                if v2 > m {
                    m = v2;
                    k = 2;
                }
                if v3 > m {
                    m = v3;
                    k = 3;
                }
                yo[ch] = m;
                ao[ch] = k;
            }
        }
    }
}

/// Forward: `x` on grid `d` (even `h`, `w`); returns the pooled grid (`d.half()`) and the
/// winner indices `[n, h/2, w/2, c]`.
pub(crate) fn forward(x: Grid<'_>, d: Dims) -> (Buf, Vec<u8>) {
    assert!(
        d.h.is_multiple_of(2) && d.w.is_multiple_of(2),
        "max pool 2x2 needs even sizes, got {d:?}"
    );
    let c = x.channels;
    let o = d.half();
    let mut y = pool::take(o.grid() * c);
    let mut arg = vec![0u8; o.pixels() * c];
    let out = GridMut::new(&mut y, c, o);
    arg.par_chunks_mut(o.w * c)
        .enumerate()
        .for_each(|(row, arg_row)| {
            let (i, yy) = (row / o.h, row % o.h);
            let r0 = d.at(i, 2 * yy, 0) * c;
            let r1 = d.at(i, 2 * yy + 1, 0) * c;
            let p = o.at(i, yy, 0) * c;
            // SAFETY: the task owns output row yy of image i.
            unsafe {
                out.zero_border(o, i, yy, 1);
                let yr = std::slice::from_raw_parts_mut(out.ptr.add(p), o.w * c);
                pool_row(
                    &x.data[r0..r0 + d.w * c],
                    &x.data[r1..r1 + d.w * c],
                    yr,
                    arg_row,
                    c,
                );
            }
        });
    (y, arg)
}

avx2_fn! {
    /// Routes one output row's gradient to the winners of rows `r0`, `r1` (zero elsewhere).
    fn unpool_row(dy: &[f32], arg: &[u8], r0: &mut [f32], r1: &mut [f32], c: usize) {
        let w = dy.len() / c;
        for x in 0..w {
            let (g, k) = (&dy[x * c..(x + 1) * c], &arg[x * c..(x + 1) * c]);
            let (a, b) = r0[2 * x * c..(2 * x + 2) * c].split_at_mut(c);
            let (e, f) = r1[2 * x * c..(2 * x + 2) * c].split_at_mut(c);
            for ch in 0..c {
                let (v, kk) = (g[ch], k[ch]);
                a[ch] = if kk == 0 { v } else { 0.0 };
                b[ch] = if kk == 1 { v } else { 0.0 };
                e[ch] = if kk == 2 { v } else { 0.0 };
                f[ch] = if kk == 3 { v } else { 0.0 };
            }
        }
    }
}

/// Backward: `dy` on grid `d.half()`, `arg` from [`forward`]; returns `dx` on grid `d`.
pub(crate) fn backward(dy: Grid<'_>, arg: &[u8], d: Dims) -> Buf {
    let c = dy.channels;
    let o = d.half();
    assert_eq!(
        arg.len(),
        o.pixels() * c,
        "max pool backward: winner indices"
    );
    let mut dx = pool::take(d.grid() * c);
    let out = GridMut::new(&mut dx, c, d);
    (0..o.n * o.h).into_par_iter().for_each(|row| {
        let (i, yy) = (row / o.h, row % o.h);
        let p = o.at(i, yy, 0) * c;
        let a = &arg[row * o.w * c..(row + 1) * o.w * c];
        // SAFETY: the task owns rows 2yy, 2yy + 1 of image i of the output.
        unsafe {
            out.zero_border(d, i, 2 * yy, 2);
            let r0 = std::slice::from_raw_parts_mut(out.ptr.add(d.at(i, 2 * yy, 0) * c), d.w * c);
            let r1 =
                std::slice::from_raw_parts_mut(out.ptr.add(d.at(i, 2 * yy + 1, 0) * c), d.w * c);
            unpool_row(&dy.data[p..p + o.w * c], a, r0, r1, c);
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::super::conv3x3::tests::rand_vec;
    use super::super::grid::{from_grid, to_grid};
    use super::*;

    #[test]
    fn pools_and_routes_gradients_to_the_first_maximum() {
        let d = Dims { n: 2, h: 4, w: 6 };
        let c = 3;
        let mut x = rand_vec(d.pixels() * c, 21);
        // A tie in image 0, window (0, 0), channel 1: positions (0,1) and (1,0) hold the max.
        let at = |y: usize, xx: usize, ch: usize| ((y * d.w) + xx) * c + ch;
        x[at(0, 0, 1)] = -1.0;
        x[at(0, 1, 1)] = 2.0;
        x[at(1, 0, 1)] = 2.0;
        x[at(1, 1, 1)] = 0.0;
        let (y, arg) = forward(Grid::new(&to_grid(&x, c, d), c, d), d);
        let o = d.half();
        let y = from_grid(&y, c, o);
        for i in 0..d.n {
            for yy in 0..o.h {
                for xx in 0..o.w {
                    for ch in 0..c {
                        let v = |dy: usize, dx: usize| {
                            x[((i * d.h + 2 * yy + dy) * d.w + 2 * xx + dx) * c + ch]
                        };
                        let m = v(0, 0).max(v(0, 1)).max(v(1, 0)).max(v(1, 1));
                        assert_eq!(y[((i * o.h + yy) * o.w + xx) * c + ch], m);
                    }
                }
            }
        }
        assert_eq!(arg[1], 1, "tie goes to the first maximum");
        let dy = rand_vec(o.pixels() * c, 22);
        let dx = from_grid(
            &backward(Grid::new(&to_grid(&dy, c, o), c, o), &arg, d),
            c,
            d,
        );
        // Each window's gradient lands on its winner only.
        for (p, &k) in arg.iter().enumerate() {
            let (ch, px) = (p % c, p / c);
            let (i, yy, xx) = (px / (o.h * o.w), (px / o.w) % o.h, px % o.w);
            for k2 in 0..4u8 {
                let (dyy, dxx) = ((k2 / 2) as usize, (k2 % 2) as usize);
                let v = dx[((i * d.h + 2 * yy + dyy) * d.w + 2 * xx + dxx) * c + ch];
                assert_eq!(v, if k2 == k { dy[p] } else { 0.0 });
            }
        }
    }
}
