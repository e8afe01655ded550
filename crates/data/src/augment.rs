//! Geometric and radiometric augmentation of time-series patches.
//!
//! [`Dihedral`] is one of the 8 symmetries of the square (4 rotations by 90 degrees, each with
//! or without a mirror). The same transform is applied to every date, every band, the labels
//! and the masks of a patch, so they stay aligned. [`RadiometricJitter`] draws one gain per
//! date (and a small offset per date and band) to teach the network that a pixel's value
//! changes from date to date while the ground does not.

use serde::{Deserialize, Serialize};

use crate::rng::{SplitMix64, hash4};

/// One of the 8 flips / 90-degree rotations of a `height x width` plane.
///
/// The mapping from destination pixel `(r, c)` to source pixel, for a source of
/// `h` rows and `w` columns (numpy names in brackets):
///
/// | transform | output size | `dst[r][c] =` |
/// |---|---|---|
/// | `Identity` | `h x w` | `src[r][c]` |
/// | `Rot90` (counter-clockwise, `np.rot90(a, 1)`) | `w x h` | `src[c][w-1-r]` |
/// | `Rot180` | `h x w` | `src[h-1-r][w-1-c]` |
/// | `Rot270` (clockwise, `np.rot90(a, 3)`) | `w x h` | `src[h-1-c][r]` |
/// | `FlipHorizontal` (`np.fliplr`) | `h x w` | `src[r][w-1-c]` |
/// | `FlipVertical` (`np.flipud`) | `h x w` | `src[h-1-r][c]` |
/// | `Transpose` (`a.T`) | `w x h` | `src[c][r]` |
/// | `AntiTranspose` (`np.rot90(a, 2).T`) | `w x h` | `src[h-1-c][w-1-r]` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Dihedral {
    /// No change.
    #[default]
    Identity,
    /// Rotation by 90 degrees counter-clockwise.
    Rot90,
    /// Rotation by 180 degrees.
    Rot180,
    /// Rotation by 270 degrees counter-clockwise (90 clockwise).
    Rot270,
    /// Mirror left-right.
    FlipHorizontal,
    /// Mirror top-bottom.
    FlipVertical,
    /// Swap rows and columns (mirror about the main diagonal).
    Transpose,
    /// Mirror about the anti-diagonal.
    AntiTranspose,
}

impl Dihedral {
    /// All 8 transforms, in [`Dihedral::index`] order.
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Identity,
        Dihedral::Rot90,
        Dihedral::Rot180,
        Dihedral::Rot270,
        Dihedral::FlipHorizontal,
        Dihedral::FlipVertical,
        Dihedral::Transpose,
        Dihedral::AntiTranspose,
    ];

    /// Position of `self` in [`Dihedral::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|&d| d == self).unwrap_or(0)
    }

    /// The transform at `index % 8` in [`Dihedral::ALL`].
    pub fn from_index(index: usize) -> Self {
        Self::ALL[index % 8]
    }

    /// A transform drawn uniformly from `seed` and `key` (e.g. a sample index).
    pub fn random(seed: u64, key: u64) -> Self {
        Self::from_index((hash4(seed, key, 0xD1, 0) % 8) as usize)
    }

    /// Whether rows and columns are swapped (the output is `width x height`).
    pub fn swaps_axes(self) -> bool {
        matches!(
            self,
            Dihedral::Rot90 | Dihedral::Rot270 | Dihedral::Transpose | Dihedral::AntiTranspose
        )
    }

    /// Output `(height, width)` for an input of `height x width`.
    pub fn output_dims(self, height: usize, width: usize) -> (usize, usize) {
        if self.swaps_axes() {
            (width, height)
        } else {
            (height, width)
        }
    }

    /// The transform that undoes `self`.
    pub fn inverse(self) -> Self {
        match self {
            Dihedral::Rot90 => Dihedral::Rot270,
            Dihedral::Rot270 => Dihedral::Rot90,
            other => other,
        }
    }

    /// Source pixel `(row, col)` of destination pixel `(r, c)`, for a source of
    /// `height x width` (see the table in the type docs).
    pub fn source_of(self, r: usize, c: usize, height: usize, width: usize) -> (usize, usize) {
        let (h, w) = (height, width);
        match self {
            Dihedral::Identity => (r, c),
            Dihedral::Rot90 => (c, w - 1 - r),
            Dihedral::Rot180 => (h - 1 - r, w - 1 - c),
            Dihedral::Rot270 => (h - 1 - c, r),
            Dihedral::FlipHorizontal => (r, w - 1 - c),
            Dihedral::FlipVertical => (h - 1 - r, c),
            Dihedral::Transpose => (c, r),
            Dihedral::AntiTranspose => (h - 1 - c, w - 1 - r),
        }
    }

    /// Transforms every `height x width` plane of `src` (a stack of planes, e.g.
    /// `[time, channels, height, width]` or `[time, height, width]`) into `dst`.
    ///
    /// # Panics
    /// If `src.len()` is not a multiple of `height * width`, or `dst.len() != src.len()`.
    pub fn apply_planes<T: Copy>(self, src: &[T], dst: &mut [T], height: usize, width: usize) {
        let plane = height * width;
        assert!(
            plane > 0 && src.len().is_multiple_of(plane),
            "buffer of {} values is not a stack of {height}x{width} planes",
            src.len()
        );
        assert_eq!(
            src.len(),
            dst.len(),
            "source and destination lengths differ"
        );
        if self == Dihedral::Identity {
            dst.copy_from_slice(src);
            return;
        }
        let (oh, ow) = self.output_dims(height, width);
        // The source index is affine in (r, c): base + r * row_step + c * col_step.
        let (r0, c0) = self.source_of(0, 0, height, width);
        let base = (r0 * width + c0) as isize;
        let step = |r: usize, c: usize| {
            let (sr, sc) = self.source_of(r, c, height, width);
            (sr * width + sc) as isize - base
        };
        let col_step = if ow > 1 { step(0, 1) } else { 0 };
        let row_step = if oh > 1 { step(1, 0) } else { 0 };
        for (s, d) in src.chunks_exact(plane).zip(dst.chunks_exact_mut(plane)) {
            match col_step {
                // Rows stay rows (flips, 180 degrees): copy or reverse whole rows.
                1 | -1 => {
                    for (r, drow) in d.chunks_exact_mut(ow).enumerate() {
                        let start = base + r as isize * row_step;
                        if col_step == 1 {
                            let st = start as usize;
                            drow.copy_from_slice(&s[st..st + ow]);
                        } else {
                            let end = start as usize + 1;
                            let srow = &s[end - ow..end];
                            for (v, x) in drow.iter_mut().zip(srow.iter().rev()) {
                                *v = *x;
                            }
                        }
                    }
                }
                // Rows become columns: go tile by tile so reads and writes stay in cache.
                _ => {
                    const TILE: usize = 32;
                    for r0 in (0..oh).step_by(TILE) {
                        for c0 in (0..ow).step_by(TILE) {
                            for r in r0..(r0 + TILE).min(oh) {
                                let drow = &mut d[r * ow + c0..r * ow + (c0 + TILE).min(ow)];
                                let mut idx = base + r as isize * row_step + c0 as isize * col_step;
                                for v in drow.iter_mut() {
                                    *v = s[idx as usize];
                                    idx += col_step;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Like [`Dihedral::apply_planes`], returning a new buffer.
    ///
    /// # Panics
    /// If `src.len()` is not a multiple of `height * width`.
    pub fn transform_planes<T: Copy + Default>(
        self,
        src: &[T],
        height: usize,
        width: usize,
    ) -> Vec<T> {
        let mut dst = vec![T::default(); src.len()];
        self.apply_planes(src, &mut dst, height, width);
        dst
    }
}

/// Per-date radiometric jitter: every date of a sample gets its own gain, and every date and
/// band a small offset, so the network cannot rely on absolute values.
///
/// Applied to raw values before normalization (gain, as an illumination change would) and to
/// normalized values after it (offset, in units of the band's standard deviation):
/// `x_norm' = normalize(x_raw * gain[t] * (1 + band_gain[t, c])) + offset[t, c]`, with
/// `gain ~ U(1 - max_gain, 1 + max_gain)`, `band_gain ~ U(-max_band_gain, max_band_gain)` and
/// `offset ~ U(-max_offset, max_offset)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RadiometricJitter {
    /// Largest relative gain change per date (0.1 = up to 10% brighter or darker).
    pub max_gain: f32,
    /// Largest extra relative gain per date and band (changes band ratios slightly).
    pub max_band_gain: f32,
    /// Largest additive offset per date and band, in normalized units.
    pub max_offset: f32,
}

impl Default for RadiometricJitter {
    fn default() -> Self {
        Self {
            max_gain: 0.1,
            max_band_gain: 0.02,
            max_offset: 0.1,
        }
    }
}

/// Gains and offsets drawn by [`RadiometricJitter::draw`], `[time, channels]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct JitterDraw {
    /// Multiplicative factor per date and band, applied to raw values.
    pub gain: Vec<f32>,
    /// Additive offset per date and band, applied to normalized values.
    pub offset: Vec<f32>,
}

impl RadiometricJitter {
    /// Draws gains and offsets for `times` dates and `channels` bands from `seed`.
    pub fn draw(&self, seed: u64, times: usize, channels: usize) -> JitterDraw {
        let mut rng = SplitMix64::new(seed);
        let mut gain = Vec::with_capacity(times * channels);
        let mut offset = Vec::with_capacity(times * channels);
        for _ in 0..times {
            let g = 1.0 + self.max_gain * (2.0 * rng.next_f64() as f32 - 1.0);
            for _ in 0..channels {
                let b = 1.0 + self.max_band_gain * (2.0 * rng.next_f64() as f32 - 1.0);
                gain.push(g * b);
                offset.push(self.max_offset * (2.0 * rng.next_f64() as f32 - 1.0));
            }
        }
        JitterDraw { gain, offset }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numpy equivalents written out by hand on a 2x3 plane
    /// `a = [[0, 1, 2], [3, 4, 5]]`:
    /// rot90 -> [[2, 5], [1, 4], [0, 3]]; rot270 -> [[3, 0], [4, 1], [5, 2]];
    /// rot180 -> [[5, 4, 3], [2, 1, 0]]; fliplr -> [[2, 1, 0], [5, 4, 3]];
    /// flipud -> [[3, 4, 5], [0, 1, 2]]; a.T -> [[0, 3], [1, 4], [2, 5]];
    /// anti-transpose -> [[5, 2], [4, 1], [3, 0]].
    #[test]
    fn matches_numpy_on_a_2x3_plane() {
        let a: Vec<u8> = (0..6).collect();
        let expect: [(Dihedral, &[u8]); 8] = [
            (Dihedral::Identity, &[0, 1, 2, 3, 4, 5]),
            (Dihedral::Rot90, &[2, 5, 1, 4, 0, 3]),
            (Dihedral::Rot180, &[5, 4, 3, 2, 1, 0]),
            (Dihedral::Rot270, &[3, 0, 4, 1, 5, 2]),
            (Dihedral::FlipHorizontal, &[2, 1, 0, 5, 4, 3]),
            (Dihedral::FlipVertical, &[3, 4, 5, 0, 1, 2]),
            (Dihedral::Transpose, &[0, 3, 1, 4, 2, 5]),
            (Dihedral::AntiTranspose, &[5, 2, 4, 1, 3, 0]),
        ];
        for (d, e) in expect {
            assert_eq!(d.transform_planes(&a, 2, 3), e, "{d:?}");
        }
    }

    #[test]
    fn inverse_undoes_and_group_is_closed() {
        let a: Vec<u16> = (0..35).collect();
        for d in Dihedral::ALL {
            let (h, w) = d.output_dims(5, 7);
            let back = d
                .inverse()
                .transform_planes(&d.transform_planes(&a, 5, 7), h, w);
            assert_eq!(back, a, "{d:?}");
        }
        // The 8 transforms give 8 distinct images of an asymmetric plane.
        let mut seen: Vec<Vec<u16>> = Dihedral::ALL
            .iter()
            .map(|d| d.transform_planes(&a[..25], 5, 5))
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn fast_paths_match_the_index_mapping_on_large_planes() {
        // 70 x 45 crosses several 32-pixel tiles and is not square.
        let (h, w) = (70, 45);
        let a: Vec<u32> = (0..(2 * h * w) as u32).collect();
        for d in Dihedral::ALL {
            let out = d.transform_planes(&a, h, w);
            let (oh, ow) = d.output_dims(h, w);
            for p in 0..2 {
                for r in 0..oh {
                    for c in 0..ow {
                        let (sr, sc) = d.source_of(r, c, h, w);
                        assert_eq!(
                            out[p * h * w + r * ow + c],
                            a[p * h * w + sr * w + sc],
                            "{d:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn stacks_are_transformed_plane_by_plane() {
        let a: Vec<u32> = (0..24).collect(); // 2 planes of 3x4
        for d in Dihedral::ALL {
            let all = d.transform_planes(&a, 3, 4);
            let p0 = d.transform_planes(&a[..12], 3, 4);
            let p1 = d.transform_planes(&a[12..], 3, 4);
            assert_eq!(all, [p0, p1].concat(), "{d:?}");
        }
    }

    #[test]
    fn jitter_is_seeded_and_bounded() {
        let j = RadiometricJitter::default();
        let a = j.draw(9, 3, 4);
        assert_eq!(a, j.draw(9, 3, 4));
        assert_ne!(a, j.draw(10, 3, 4));
        let hi = (1.0 + j.max_gain) * (1.0 + j.max_band_gain);
        assert!(a.gain.iter().all(|&g| g > 0.0 && g <= hi));
        assert!(a.offset.iter().all(|o| o.abs() <= j.max_offset));
    }
}
