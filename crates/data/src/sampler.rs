//! Patch windows: grid and seeded random samplers, train/validation split by area, and the
//! validity / class filters that read a [`CoverageMap`].
//!
//! All windows are square `patch x patch` windows that lie entirely inside their region, and
//! every region lies inside the raster. An [`AreaSplit`] cuts the raster into blocks and gives
//! each block to training or validation; windows are always cut from inside one block, so a
//! training patch never overlaps a validation patch.

use serde::{Deserialize, Serialize};

use chronomap_geo::Window;

use crate::coverage::CoverageMap;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// Which part of an [`AreaSplit`] a block belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Used to fit the model.
    Train,
    /// Held out to measure it.
    Validation,
}

/// A block of an [`AreaSplit`]: a window of the raster and the split it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitBlock {
    /// The block's pixels.
    pub window: Window,
    /// Where it goes.
    pub split: Split,
}

/// A partition of a `width x height` raster into blocks of about `block x block` pixels, each
/// assigned to [`Split::Train`] or [`Split::Validation`]; a split *by area*, so patches of the
/// two sets never share a pixel.
///
/// Blocks tile the raster exactly (every pixel is in exactly one block); the last block of a
/// row or column absorbs the remainder, so every block is at least `block` pixels on each
/// side (unless the raster itself is smaller).
#[derive(Clone, Debug, PartialEq)]
pub struct AreaSplit {
    width: usize,
    height: usize,
    blocks: Vec<SplitBlock>,
}

/// Block edges along one axis: `n = max(1, len / block)` blocks, the last one taking the rest.
fn axis_blocks(len: usize, block: usize) -> Vec<(usize, usize)> {
    let n = (len / block).max(1);
    (0..n)
        .map(|i| {
            let start = i * block;
            let end = if i + 1 == n { len } else { start + block };
            (start, end - start)
        })
        .collect()
}

impl AreaSplit {
    /// Splits a `width x height` raster into blocks of at least `block` pixels and sends
    /// `round(validation_fraction * blocks)` of them, chosen by `seed`, to validation. When
    /// the fraction is positive and there are at least two blocks, at least one block goes to
    /// each side.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `block` is 0, the raster is empty, or the fraction is
    /// not in `[0, 1]`.
    ///
    /// # Examples
    /// ```
    /// use chronomap_data::{AreaSplit, Split};
    /// let split = AreaSplit::new(1000, 600, 256, 0.25, 7)?;
    /// // 3 x 2 blocks, the last column and row are larger.
    /// assert_eq!(split.blocks().len(), 6);
    /// assert_eq!(split.regions(Split::Validation).len(), 2);
    /// # Ok::<(), chronomap_data::Error>(())
    /// ```
    pub fn new(
        width: usize,
        height: usize,
        block: usize,
        validation_fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        if block == 0 {
            return Err(Error::invalid("block", 0.0, "a positive number of pixels"));
        }
        if width == 0 || height == 0 {
            return Err(Error::invalid("raster size", 0.0, "a non-empty raster"));
        }
        if !(0.0..=1.0).contains(&validation_fraction) {
            return Err(Error::invalid(
                "validation_fraction",
                validation_fraction,
                "a fraction in [0, 1]",
            ));
        }
        let cols = axis_blocks(width, block);
        let rows = axis_blocks(height, block);
        let mut blocks: Vec<SplitBlock> = rows
            .iter()
            .flat_map(|&(row, h)| {
                cols.iter().map(move |&(col, w)| SplitBlock {
                    window: Window::new(col, row, w, h),
                    split: Split::Train,
                })
            })
            .collect();
        let n = blocks.len();
        let mut n_valid = (validation_fraction * n as f64).round() as usize;
        if validation_fraction > 0.0 && n >= 2 {
            n_valid = n_valid.clamp(1, n - 1);
        }
        let mut order: Vec<usize> = (0..n).collect();
        SplitMix64::new(seed ^ 0xA5EA_5B11).shuffle(&mut order);
        for &i in &order[..n_valid.min(n)] {
            blocks[i].split = Split::Validation;
        }
        Ok(Self {
            width,
            height,
            blocks,
        })
    }

    /// The whole raster as one training block.
    pub fn all_train(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            blocks: vec![SplitBlock {
                window: Window::full(width, height),
                split: Split::Train,
            }],
        }
    }

    /// All blocks, row-major.
    pub fn blocks(&self) -> &[SplitBlock] {
        &self.blocks
    }

    /// The blocks of one split.
    pub fn regions(&self, split: Split) -> Vec<Window> {
        self.blocks
            .iter()
            .filter(|b| b.split == split)
            .map(|b| b.window)
            .collect()
    }

    /// The split of pixel (`col`, `row`), `None` outside the raster.
    pub fn split_at(&self, col: usize, row: usize) -> Option<Split> {
        if col >= self.width || row >= self.height {
            return None;
        }
        self.blocks
            .iter()
            .find(|b| {
                let w = b.window;
                (w.col..w.col + w.width).contains(&col) && (w.row..w.row + w.height).contains(&row)
            })
            .map(|b| b.split)
    }

    /// Raster `(width, height)`.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }
}

/// Start offsets of `patch`-long windows with `stride` covering `0..len` (the last one is
/// moved back to end exactly at `len`).
fn grid_starts(len: usize, patch: usize, stride: usize) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut s = 0;
    loop {
        if s + patch >= len {
            starts.push(len - patch);
            break;
        }
        starts.push(s);
        s += stride;
    }
    starts.dedup();
    starts
}

/// `patch x patch` windows on a regular grid over `region`, `patch - overlap` pixels apart,
/// covering every pixel of the region: the last row and column of windows are shifted back
/// to end at the region's edge (so they may overlap their neighbours by more than `overlap`).
///
/// # Errors
/// [`Error::PatchTooLarge`] when the region is smaller than the patch;
/// [`Error::InvalidArgument`] when `patch` is 0 or `overlap >= patch`.
///
/// # Examples
/// ```
/// use chronomap_data::grid_windows;
/// use chronomap_geo::Window;
/// let w = grid_windows(Window::new(0, 0, 100, 64), 64, 16)?;
/// // columns at 0, 36 (shifted back from 48 to end at 100); one row
/// assert_eq!(w.iter().map(|w| w.col).collect::<Vec<_>>(), [0, 36]);
/// # Ok::<(), chronomap_data::Error>(())
/// ```
pub fn grid_windows(region: Window, patch: usize, overlap: usize) -> Result<Vec<Window>> {
    check_patch(region, patch)?;
    if overlap >= patch {
        return Err(Error::invalid(
            "overlap",
            overlap as f64,
            "smaller than the patch size",
        ));
    }
    let stride = patch - overlap;
    let rows = grid_starts(region.height, patch, stride);
    let cols = grid_starts(region.width, patch, stride);
    Ok(rows
        .iter()
        .flat_map(|&r| {
            cols.iter()
                .map(move |&c| Window::new(region.col + c, region.row + r, patch, patch))
        })
        .collect())
}

/// Non-overlapping `patch x patch` windows on a grid over `region`, dropping the remainder at
/// the right and bottom edges (for evaluation sets where no pixel may count twice).
///
/// # Errors
/// As [`grid_windows`].
pub fn disjoint_windows(region: Window, patch: usize) -> Result<Vec<Window>> {
    check_patch(region, patch)?;
    let (nr, nc) = (region.height / patch, region.width / patch);
    Ok((0..nr)
        .flat_map(|r| {
            (0..nc).map(move |c| {
                Window::new(region.col + c * patch, region.row + r * patch, patch, patch)
            })
        })
        .collect())
}

fn check_patch(region: Window, patch: usize) -> Result<()> {
    if patch == 0 {
        return Err(Error::invalid("patch", 0.0, "a positive number of pixels"));
    }
    if region.width < patch || region.height < patch {
        return Err(Error::PatchTooLarge {
            patch: [patch, patch],
            region: [region.height, region.width],
        });
    }
    Ok(())
}

/// `count` windows of `patch x patch` drawn uniformly (by `seed`) among all positions that lie
/// inside one of `regions`; a region is picked with probability proportional to its number
/// of positions. Regions smaller than the patch are skipped.
///
/// # Errors
/// [`Error::PatchTooLarge`] when no region can hold the patch (the first region is named).
pub fn random_windows(
    regions: &[Window],
    patch: usize,
    count: usize,
    seed: u64,
) -> Result<Vec<Window>> {
    let picker = RegionPicker::new(regions, patch)?;
    let mut rng = SplitMix64::new(seed);
    Ok((0..count).map(|_| picker.draw(&mut rng)).collect())
}

/// Draws uniform positions over a set of regions.
struct RegionPicker {
    /// (region, number of positions) with cumulative counts.
    regions: Vec<(Window, u64)>,
    total: u64,
    patch: usize,
}

impl RegionPicker {
    fn new(regions: &[Window], patch: usize) -> Result<Self> {
        if patch == 0 {
            return Err(Error::invalid("patch", 0.0, "a positive number of pixels"));
        }
        let mut cum = 0u64;
        let mut out = Vec::new();
        for r in regions {
            if r.width >= patch && r.height >= patch {
                cum += ((r.width - patch + 1) * (r.height - patch + 1)) as u64;
                out.push((*r, cum));
            }
        }
        if out.is_empty() {
            let region = regions.first().map_or([0, 0], |r| [r.height, r.width]);
            return Err(Error::PatchTooLarge {
                patch: [patch, patch],
                region,
            });
        }
        Ok(Self {
            regions: out,
            total: cum,
            patch,
        })
    }

    fn draw(&self, rng: &mut SplitMix64) -> Window {
        let k = ((rng.next_u64() as u128 * self.total as u128) >> 64) as u64;
        let i = self.regions.partition_point(|&(_, c)| c <= k);
        let (r, _) = self.regions[i];
        let nc = r.width - self.patch + 1;
        let nr = r.height - self.patch + 1;
        let (c, rr) = (rng.below(nc), rng.below(nr));
        Window::new(r.col + c, r.row + rr, self.patch, self.patch)
    }
}

/// How [`sample_windows`] picks training windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// Side of the square patches, in pixels (default 512, as in the talk).
    pub patch_size: usize,
    /// Windows whose fraction of usable pixels (valid image and a label, averaged over the
    /// dates of the [`CoverageMap`]) is below this are skipped (default 0.5).
    pub min_usable_fraction: f32,
    /// Class-balanced sampling strength `alpha` (`None`: uniform). A window's weight is
    /// `sum_k share_k(window) / freq_k^alpha` with `freq_k` the class frequency over the
    /// candidate windows, so `alpha = 1` equalizes classes and `0.5` is a milder choice.
    pub class_balance: Option<f32>,
    /// Candidate windows examined per window returned, at most (default 8).
    pub candidates_per_window: usize,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            patch_size: 512,
            min_usable_fraction: 0.5,
            class_balance: None,
            candidates_per_window: 8,
        }
    }
}

impl SamplerConfig {
    /// The default configuration with another patch size.
    pub fn with_patch_size(patch_size: usize) -> Self {
        Self {
            patch_size,
            ..Self::default()
        }
    }
}

/// Draws `count` training windows from `regions`, seeded by `seed`: uniform positions,
/// minus the windows whose usable fraction (from `coverage`) is below the threshold, then
/// (optionally) resampled with class-balanced weights.
///
/// # Errors
/// [`Error::PatchTooLarge`] when no region holds a patch; [`Error::NoUsableWindow`] when no
/// candidate passes the threshold; [`Error::InvalidArgument`] for a non-finite or negative
/// `class_balance`.
pub fn sample_windows(
    coverage: &CoverageMap,
    regions: &[Window],
    count: usize,
    config: &SamplerConfig,
    seed: u64,
) -> Result<Vec<Window>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if let Some(a) = config.class_balance
        && !(a.is_finite() && a >= 0.0)
    {
        return Err(Error::invalid(
            "class_balance",
            a as f64,
            "a finite alpha >= 0",
        ));
    }
    let patch = config.patch_size;
    let picker = RegionPicker::new(regions, patch)?;
    let mut rng = SplitMix64::new(seed);
    let want = match config.class_balance {
        // A pool several times larger than `count`, to resample from.
        Some(_) => count.saturating_mul(4).max(64),
        None => count,
    };
    let max_tries = want
        .saturating_mul(config.candidates_per_window.max(1))
        .max(64);
    let mut pool = Vec::with_capacity(want);
    let mut tried = 0;
    while pool.len() < want && tried < max_tries {
        tried += 1;
        let w = picker.draw(&mut rng);
        let stats = coverage.window_stats(w);
        if stats.usable_fraction >= config.min_usable_fraction {
            pool.push((w, stats));
        }
    }
    if pool.is_empty() {
        return Err(Error::NoUsableWindow {
            patch,
            min_valid_fraction: config.min_usable_fraction,
            tried,
        });
    }
    let Some(alpha) = config.class_balance else {
        // Fewer usable windows than asked: repeat the ones found (augmentation varies them).
        let n = pool.len();
        return Ok((0..count).map(|i| pool[i % n].0).collect());
    };
    // Class frequencies over the pool, then weights per window.
    let k = coverage.num_classes();
    let mut freq = vec![0f64; k];
    for (_, s) in &pool {
        for (f, &c) in freq.iter_mut().zip(&s.class_fractions) {
            *f += c as f64;
        }
    }
    let total: f64 = freq.iter().sum();
    let inv: Vec<f64> = freq
        .iter()
        .map(|&f| {
            if f > 0.0 {
                portable_pow_neg(f / total.max(1e-12), alpha as f64)
            } else {
                0.0
            }
        })
        .collect();
    let mut cum = Vec::with_capacity(pool.len());
    let mut acc = 0.0;
    for (_, s) in &pool {
        let w: f64 = s
            .class_fractions
            .iter()
            .zip(&inv)
            .map(|(&c, &i)| c as f64 * i)
            .sum();
        acc += w.max(1e-12);
        cum.push(acc);
    }
    Ok((0..count)
        .map(|_| {
            let u = rng.next_f64() * acc;
            let i = cum.partition_point(|&c| c <= u).min(pool.len() - 1);
            pool[i].0
        })
        .collect())
}

/// `x^-alpha` for `x` in `(0, 1]` without libm (`powf` differs between platforms): binary
/// expansion of `alpha` over repeated square roots, exact enough for sampling weights.
fn portable_pow_neg(x: f64, alpha: f64) -> f64 {
    let mut result = 1.0;
    let whole = alpha.floor();
    for _ in 0..(whole as u32).min(64) {
        result /= x;
    }
    let mut frac = alpha - whole;
    let mut root = x;
    for _ in 0..30 {
        root = root.sqrt();
        frac *= 2.0;
        if frac >= 1.0 {
            result /= root;
            frac -= 1.0;
        }
    }
    result
}

/// Windows of a grid over each region (see [`grid_windows`]) whose usable fraction reaches
/// `min_usable_fraction`; with `coverage = None` every window is kept.
///
/// # Errors
/// As [`grid_windows`], for each region that can hold a patch; regions smaller than the patch
/// are skipped.
pub fn sample_grid(
    coverage: Option<&CoverageMap>,
    regions: &[Window],
    patch: usize,
    overlap: usize,
    min_usable_fraction: f32,
) -> Result<Vec<Window>> {
    let mut out = Vec::new();
    for r in regions {
        if r.width < patch || r.height < patch {
            continue;
        }
        for w in grid_windows(*r, patch, overlap)? {
            let keep =
                coverage.is_none_or(|c| c.window_stats(w).usable_fraction >= min_usable_fraction);
            if keep {
                out.push(w);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn inside(w: &Window, r: &Window) -> bool {
        w.col >= r.col
            && w.row >= r.row
            && w.col + w.width <= r.col + r.width
            && w.row + w.height <= r.row + r.height
    }

    fn overlap(a: &Window, b: &Window) -> bool {
        a.intersection(b).is_some()
    }

    proptest! {
        #[test]
        fn grid_covers_every_pixel_and_stays_inside(
            w in 1usize..300, h in 1usize..300, patch in 1usize..80, ov in 0usize..79,
            c0 in 0usize..20, r0 in 0usize..20,
        ) {
            prop_assume!(ov < patch && patch <= w && patch <= h);
            let region = Window::new(c0, r0, w, h);
            let wins = grid_windows(region, patch, ov).unwrap();
            let mut hits = vec![0u32; w * h];
            for win in &wins {
                prop_assert!(inside(win, &region));
                prop_assert_eq!((win.width, win.height), (patch, patch));
                for r in win.row..win.row + patch {
                    for c in win.col..win.col + patch {
                        hits[(r - r0) * w + (c - c0)] += 1;
                    }
                }
            }
            prop_assert!(hits.iter().all(|&n| n > 0));
        }

        #[test]
        fn disjoint_windows_do_not_overlap(w in 1usize..200, h in 1usize..200, patch in 1usize..50) {
            prop_assume!(patch <= w && patch <= h);
            let wins = disjoint_windows(Window::new(3, 5, w, h), patch).unwrap();
            prop_assert_eq!(wins.len(), (w / patch) * (h / patch));
            // Each pixel is covered at most once.
            let mut hits = vec![0u8; (w + 3) * (h + 5)];
            for win in &wins {
                prop_assert!(inside(win, &Window::new(3, 5, w, h)));
                for r in win.row..win.row + win.height {
                    for c in win.col..win.col + win.width {
                        hits[r * (w + 3) + c] += 1;
                    }
                }
            }
            prop_assert!(hits.iter().all(|&n| n <= 1));
        }

        #[test]
        fn random_windows_inside_and_seeded(
            w in 8usize..400, h in 8usize..400, patch in 1usize..64, seed in any::<u64>(),
        ) {
            prop_assume!(patch <= w && patch <= h);
            let split = AreaSplit::new(w, h, patch.max(16), 0.3, seed).unwrap();
            let regions = split.regions(Split::Train);
            let a = random_windows(&regions, patch, 50, seed).unwrap();
            prop_assert_eq!(&a, &random_windows(&regions, patch, 50, seed).unwrap());
            for win in &a {
                prop_assert!(win.fits_in(w, h));
                prop_assert!(regions.iter().any(|r| inside(win, r)));
            }
        }

        #[test]
        fn area_split_tiles_raster_and_sides_never_overlap(
            w in 1usize..500, h in 1usize..500, block in 8usize..200, frac in 0.0f64..=1.0,
            seed in any::<u64>(), patch in 1usize..40,
        ) {
            let split = AreaSplit::new(w, h, block, frac, seed).unwrap();
            // Tiling: every pixel in exactly one block, all blocks inside and at least
            // `block` pixels on each side (or the whole raster side).
            let mut hits = vec![0u8; w * h];
            for b in split.blocks() {
                prop_assert!(b.window.fits_in(w, h));
                prop_assert!(b.window.width >= block.min(w) && b.window.height >= block.min(h));
                for r in b.window.row..b.window.row + b.window.height {
                    for c in b.window.col..b.window.col + b.window.width {
                        hits[r * w + c] += 1;
                    }
                }
            }
            prop_assert!(hits.iter().all(|&n| n == 1));
            // Patches drawn per side never overlap across sides.
            let train = split.regions(Split::Train);
            let valid = split.regions(Split::Validation);
            if let (Ok(tw), Ok(vw)) = (
                random_windows(&train, patch, 30, seed),
                random_windows(&valid, patch, 30, seed ^ 1),
            ) {
                for a in &tw {
                    for b in &vw {
                        prop_assert!(!overlap(a, b), "{:?} overlaps {:?}", a, b);
                    }
                }
            }
        }
    }

    #[test]
    fn different_seeds_differ() {
        let r = [Window::full(1000, 1000)];
        assert_ne!(
            random_windows(&r, 64, 10, 1).unwrap(),
            random_windows(&r, 64, 10, 2).unwrap()
        );
    }

    #[test]
    fn validation_fraction_is_respected() {
        let s = AreaSplit::new(1000, 1000, 100, 0.2, 3).unwrap();
        assert_eq!(s.regions(Split::Validation).len(), 20);
        assert_eq!(s.regions(Split::Train).len(), 80);
        assert_eq!(s.split_at(1000, 0), None);
    }

    #[test]
    fn too_large_patch_is_an_error() {
        assert!(matches!(
            grid_windows(Window::full(10, 10), 11, 0),
            Err(Error::PatchTooLarge {
                patch: [11, 11],
                region: [10, 10]
            })
        ));
        assert!(matches!(
            random_windows(&[Window::full(10, 10)], 11, 1, 0),
            Err(Error::PatchTooLarge { .. })
        ));
    }

    #[test]
    fn portable_pow_matches_powf() {
        for &x in &[0.01, 0.2, 0.5, 0.9, 1.0] {
            for &a in &[0.0, 0.25, 0.5, 1.0, 1.7] {
                let p = portable_pow_neg(x, a);
                let e = f64::powf(x, -a);
                assert!((p - e).abs() / e < 1e-6, "{x}^-{a}: {p} vs {e}");
            }
        }
    }
}
