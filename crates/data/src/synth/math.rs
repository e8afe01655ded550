//! Portable math for the synthetic world.
//!
//! `f64::sin`, `cos` and `exp` call the platform's libm, whose last bits differ between
//! systems. The world must be bit-identical for a seed on every machine, so the few
//! transcendental functions it needs are written here with additions, multiplications,
//! divisions and `sqrt` only (all exactly rounded by IEEE 754), and Rust never fuses them.

use crate::rng::{hash4, unit_f64};

/// pi, to f64 precision.
pub(crate) const PI: f64 = std::f64::consts::PI;

/// Sine, accurate to about 1e-15 for |x| < 1e6.
pub(crate) fn sin(x: f64) -> f64 {
    // Reduce to r in [-pi, pi] (Cody-Waite with a two-part 2*pi).
    const TWO_PI_HI: f64 = std::f64::consts::TAU;
    const TWO_PI_LO: f64 = 2.449_293_598_294_706_4e-16;
    let k = (x / TWO_PI_HI).round();
    let mut r = (x - k * TWO_PI_HI) - k * TWO_PI_LO;
    // Fold to [-pi/2, pi/2] with sin(pi - r) = sin(r).
    if r > PI / 2.0 {
        r = PI - r;
    } else if r < -PI / 2.0 {
        r = -PI - r;
    }
    // Taylor series to x^19: the remainder is below (pi/2)^21 / 21! ~ 2e-16.
    let r2 = r * r;
    let mut term = r;
    let mut sum = r;
    let mut n = 1.0;
    for _ in 0..9 {
        term *= -r2 / ((n + 1.0) * (n + 2.0));
        sum += term;
        n += 2.0;
    }
    sum
}

/// Cosine, as `sin(x + pi/2)`.
pub(crate) fn cos(x: f64) -> f64 {
    sin(x + PI / 2.0)
}

/// Degrees to radians.
pub(crate) fn radians(deg: f64) -> f64 {
    deg * (PI / 180.0)
}

/// Arcsine in radians for `y` in `[-1, 1]`, by Newton iterations on [`sin`].
pub(crate) fn asin(y: f64) -> f64 {
    let y = y.clamp(-1.0, 1.0);
    // Start from a good cubic guess, then polish.
    let mut e = y + y * y * y / 6.0;
    e = e.clamp(-PI / 2.0, PI / 2.0);
    for _ in 0..40 {
        let c = cos(e);
        if c.abs() < 1e-9 {
            break;
        }
        let step = (sin(e) - y) / c;
        e = (e - step).clamp(-PI / 2.0, PI / 2.0);
        if step.abs() < 1e-15 {
            break;
        }
    }
    e
}

/// Hermite smoothstep of `x` between `edge0` and `edge1` (0 below, 1 above).
#[inline]
pub(crate) fn smoothstep(edge0: f64, edge1: f64, x: f64) -> f64 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Raised-cosine bump: 1 at `d = 0`, 0 for `|d| >= half_width`.
pub(crate) fn bump(d: f64, half_width: f64) -> f64 {
    if d.abs() >= half_width {
        0.0
    } else {
        0.5 * (1.0 + cos(PI * d / half_width))
    }
}

/// Smooth 1-D value noise in `[-1, 1]`: `octaves` octaves, the first with lattice spacing
/// `period` (same units as `t`), each next octave at half the period and amplitude.
pub(crate) fn noise1(seed: u64, t: f64, period: f64, octaves: u32) -> f64 {
    let mut sum = 0.0;
    let mut amp = 1.0;
    let mut norm = 0.0;
    let mut p = period;
    for o in 0..octaves {
        let x = t / p;
        let i = x.floor();
        let f = x - i;
        let w = f * f * (3.0 - 2.0 * f);
        let a = lattice(seed, o as u64, i as i64, 0);
        let b = lattice(seed, o as u64, i as i64 + 1, 0);
        sum += amp * (a + (b - a) * w);
        norm += amp;
        amp *= 0.5;
        p *= 0.5;
    }
    sum / norm
}

/// Lattice value in `[-1, 1]` for octave `o` at integer point `(i, j)`.
#[inline]
fn lattice(seed: u64, o: u64, i: i64, j: i64) -> f64 {
    2.0 * unit_f64(hash4(seed, o, i as u64, j as u64)) - 1.0
}

/// A 2-D fractal value-noise field sampled on a coarse lattice and read bilinearly, so that a
/// full-resolution field costs a few operations per pixel.
#[derive(Clone, Debug)]
pub(crate) struct CoarseField {
    /// Coarse samples, row-major `[rows, cols]`.
    values: Vec<f32>,
    cols: usize,
    rows: usize,
    /// Full-resolution pixels per coarse cell.
    step: f64,
}

impl CoarseField {
    /// Fractal noise in about `[-1, 1]` over a `width x height` pixel area, coarse step `step`
    /// pixels, first octave period `period` pixels.
    pub(crate) fn fractal(
        seed: u64,
        width: usize,
        height: usize,
        step: usize,
        period: f64,
        octaves: u32,
    ) -> Self {
        let cols = width / step + 2;
        let rows = height / step + 2;
        let mut values = Vec::with_capacity(cols * rows);
        for r in 0..rows {
            for c in 0..cols {
                let (x, y) = ((c * step) as f64, (r * step) as f64);
                values.push(noise2(seed, x, y, period, octaves) as f32);
            }
        }
        Self {
            values,
            cols,
            rows,
            step: step as f64,
        }
    }

    /// Bilinear value at pixel `(x, y)` (clamped at the edges).
    #[inline]
    pub(crate) fn at(&self, x: f64, y: f64) -> f32 {
        let fx = (x / self.step).clamp(0.0, (self.cols - 1) as f64 - 1e-9);
        let fy = (y / self.step).clamp(0.0, (self.rows - 1) as f64 - 1e-9);
        let (ix, iy) = (fx as usize, fy as usize);
        let (tx, ty) = ((fx - ix as f64) as f32, (fy - iy as f64) as f32);
        let i = iy * self.cols + ix;
        let (a, b) = (self.values[i], self.values[i + 1]);
        let (c, d) = (self.values[i + self.cols], self.values[i + self.cols + 1]);
        let top = a + (b - a) * tx;
        let bot = c + (d - c) * tx;
        top + (bot - top) * ty
    }

    /// The coarse samples (for quantiles).
    pub(crate) fn samples(&self) -> &[f32] {
        &self.values
    }
}

/// Smooth 2-D fractal value noise in about `[-1, 1]`.
pub(crate) fn noise2(seed: u64, x: f64, y: f64, period: f64, octaves: u32) -> f64 {
    let mut sum = 0.0;
    let mut amp = 1.0;
    let mut norm = 0.0;
    let mut p = period;
    for o in 0..octaves {
        let (fx, fy) = (x / p, y / p);
        let (ix, iy) = (fx.floor(), fy.floor());
        let (tx, ty) = (fx - ix, fy - iy);
        let (wx, wy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
        let (i, j) = (ix as i64, iy as i64);
        let o64 = o as u64 + 17;
        let a = lattice(seed, o64, i, j);
        let b = lattice(seed, o64, i + 1, j);
        let c = lattice(seed, o64, i, j + 1);
        let d = lattice(seed, o64, i + 1, j + 1);
        let top = a + (b - a) * wx;
        let bot = c + (d - c) * wx;
        sum += amp * (top + (bot - top) * wy);
        norm += amp;
        amp *= 0.5;
        p *= 0.5;
    }
    sum / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sin_cos_match_libm_closely() {
        // libm is the reference here; the two agree to ~1 ulp-scale error.
        for i in -2000..2000 {
            let x = i as f64 * 0.0137;
            assert!((sin(x) - x.sin()).abs() < 1e-14, "sin({x})");
            assert!((cos(x) - x.cos()).abs() < 1e-14, "cos({x})");
        }
    }

    #[test]
    fn asin_inverts_sin() {
        for i in -99..=99 {
            let y = i as f64 / 100.0;
            assert!((asin(y) - y.asin()).abs() < 1e-12, "asin({y})");
        }
    }

    #[test]
    fn noise_is_bounded_and_smooth() {
        let mut prev = noise1(3, 0.0, 50.0, 3);
        for i in 1..1000 {
            let v = noise1(3, i as f64, 50.0, 3);
            assert!((-1.0..=1.0).contains(&v));
            // Largest slope of 3 octaves of smoothstep-interpolated lattice noise is below
            // 1.5 * 2 / period_smallest = 1.5 * 2 / 12.5 per unit.
            assert!((v - prev).abs() < 0.25, "jump at {i}");
            prev = v;
        }
    }
}
