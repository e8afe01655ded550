//! The zero-bordered channels-last layout shared by all fast-path kernels.
//!
//! A feature map of `n` images, `h x w` pixels and `c` channels is stored as
//! `[n, h + 2, w + 2, c]` with pixel `(y, x)` at grid position `(y + 1, x + 1)` and **zeros on
//! the one-pixel border**. A 3x3 convolution with padding 1 then reads its taps at fixed offsets
//! from the output position, without border tests or a padded copy, and the gradient of the
//! weights is one reduction over all grid positions (the zero borders contribute nothing).
//!
//! Invariant: every kernel that writes a grid writes zeros on its border, so sums of gradients
//! (Burn adds them when a tensor feeds two ops) keep zero borders too.

use super::par::SendPtr;

/// Batch geometry of a feature map: `n` images of `h x w` pixels (without the border).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    /// Images.
    pub(crate) n: usize,
    /// Rows.
    pub(crate) h: usize,
    /// Columns.
    pub(crate) w: usize,
}

impl Dims {
    /// Pixels in the batch, border excluded.
    pub(crate) fn pixels(&self) -> usize {
        self.n * self.h * self.w
    }

    /// Grid row length in pixels (`w + 2`).
    pub(crate) fn wp(&self) -> usize {
        self.w + 2
    }

    /// Grid rows per image (`h + 2`).
    pub(crate) fn hp(&self) -> usize {
        self.h + 2
    }

    /// Grid positions in the batch, border included.
    pub(crate) fn grid(&self) -> usize {
        self.n * self.hp() * self.wp()
    }

    /// Grid position of pixel `(y, x)` of image `i`.
    #[inline]
    pub(crate) fn at(&self, i: usize, y: usize, x: usize) -> usize {
        (i * self.hp() + y + 1) * self.wp() + x + 1
    }

    /// The dims of the 2x2-pooled map.
    pub(crate) fn half(&self) -> Dims {
        Dims {
            n: self.n,
            h: self.h / 2,
            w: self.w / 2,
        }
    }

    /// The dims of the 2x-upsampled map.
    pub(crate) fn double(&self) -> Dims {
        Dims {
            n: self.n,
            h: self.h * 2,
            w: self.w * 2,
        }
    }
}

/// A read-only grid: `data` is `[n, h + 2, w + 2, channels]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid<'a> {
    /// The values.
    pub(crate) data: &'a [f32],
    /// Channels per position.
    pub(crate) channels: usize,
}

impl<'a> Grid<'a> {
    /// Wraps `data`, checking its size against `d`.
    ///
    /// # Panics
    /// If `data` does not hold `d.grid() * channels` values.
    pub(crate) fn new(data: &'a [f32], channels: usize, d: Dims) -> Self {
        assert_eq!(
            data.len(),
            d.grid() * channels,
            "grid of {d:?} x {channels} channels: wrong buffer size"
        );
        Self { data, channels }
    }
}

/// A grid written through a raw pointer by several tasks (each owning whole rows).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GridMut {
    pub(crate) ptr: SendPtr,
    pub(crate) channels: usize,
}

impl GridMut {
    /// Output into `buf`.
    ///
    /// # Panics
    /// If `buf` does not hold `d.grid() * channels` values.
    pub(crate) fn new(buf: &mut [f32], channels: usize, d: Dims) -> Self {
        assert_eq!(
            buf.len(),
            d.grid() * channels,
            "grid of {d:?} x {channels} channels: wrong buffer size"
        );
        Self {
            ptr: SendPtr(buf.as_mut_ptr()),
            channels,
        }
    }

    /// Zeros the border cells of image `i`'s rows `y0..y0 + rows` (left and right cells, plus the
    /// top border row when `y0 == 0` and the bottom one when the band ends at `d.h`).
    ///
    /// # Safety
    /// The rows must belong to the calling task (no concurrent writer).
    pub(crate) unsafe fn zero_border(&self, d: Dims, i: usize, y0: usize, rows: usize) {
        let c = self.channels;
        let wp = d.wp();
        // SAFETY: every index is a grid position of image i, rows owned by the caller.
        unsafe {
            let zero_row = |gy: usize| {
                let p = self.ptr.add((i * d.hp() + gy) * wp * c);
                core::ptr::write_bytes(p, 0, wp * c);
            };
            if y0 == 0 {
                zero_row(0);
            }
            if y0 + rows == d.h {
                zero_row(d.h + 1);
            }
            for y in y0..y0 + rows {
                let left = self.ptr.add((i * d.hp() + y + 1) * wp * c);
                core::ptr::write_bytes(left, 0, c);
                core::ptr::write_bytes(left.add((wp - 1) * c), 0, c);
            }
        }
    }
}

/// Converts a plain `[n, h, w, c]` buffer to a grid (tests).
#[cfg(test)]
pub(crate) fn to_grid(x: &[f32], c: usize, d: Dims) -> Vec<f32> {
    let mut g = vec![0f32; d.grid() * c];
    for i in 0..d.n {
        for y in 0..d.h {
            let src = ((i * d.h + y) * d.w) * c;
            let dst = d.at(i, y, 0) * c;
            g[dst..dst + d.w * c].copy_from_slice(&x[src..src + d.w * c]);
        }
    }
    g
}

/// Converts a grid back to a plain `[n, h, w, c]` buffer, checking that the border is zero.
///
/// # Panics
/// If a border value is not zero.
#[cfg(test)]
pub(crate) fn from_grid(g: &[f32], c: usize, d: Dims) -> Vec<f32> {
    let mut x = vec![0f32; d.pixels() * c];
    for i in 0..d.n {
        for gy in 0..d.hp() {
            for gx in 0..d.wp() {
                let v = &g[((i * d.hp() + gy) * d.wp() + gx) * c..][..c];
                if gy == 0 || gx == 0 || gy == d.h + 1 || gx == d.w + 1 {
                    assert!(
                        v.iter().all(|&e| e == 0.0),
                        "non-zero border at {i} {gy} {gx}"
                    );
                } else {
                    let dst = ((i * d.h + gy - 1) * d.w + gx - 1) * c;
                    x[dst..dst + c].copy_from_slice(v);
                }
            }
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_round_trip_and_border_zeroing() {
        let d = Dims { n: 2, h: 3, w: 4 };
        let x: Vec<f32> = (0..d.pixels() * 5).map(|i| i as f32 + 1.0).collect();
        let g = to_grid(&x, 5, d);
        assert_eq!(from_grid(&g, 5, d), x);
        let mut junk = vec![7f32; d.grid() * 5];
        let gm = GridMut::new(&mut junk, 5, d);
        for i in 0..2 {
            unsafe { gm.zero_border(d, i, 0, 2) };
            unsafe { gm.zero_border(d, i, 2, 1) };
        }
        // Interior untouched, border zero: from_grid checks the border.
        let inner = from_grid(&junk, 5, d);
        assert!(inner.iter().all(|&v| v == 7.0));
    }
}
