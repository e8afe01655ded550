//! Coarse per-cell statistics of a scene series (usable pixels, class shares), so that
//! samplers can skip cloudy / nodata / unlabelled windows and balance classes without reading
//! the pixels of every candidate window.

use chronomap_geo::Window;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mask::{IGNORE_INDEX, LabelPolicy, QUALITY_CLEAR};
use crate::series::SceneSeries;

/// Counts per `cell x cell` block of the scene, accumulated over a set of dates.
///
/// A pixel-date is *valid* when its quality is clear, and *usable* when its label (after the
/// [`LabelPolicy`]) is not [`IGNORE_INDEX`]. [`CoverageMap::window_stats`] estimates the
/// fractions of a window from the cells it overlaps, weighting each cell by the overlapped
/// area (pixels are assumed uniform within a cell).
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageMap {
    width: usize,
    height: usize,
    cell: usize,
    cols: usize,
    rows: usize,
    num_classes: usize,
    /// Pixel-dates accumulated per cell.
    total: Vec<u32>,
    /// Valid pixel-dates per cell.
    valid: Vec<u32>,
    /// Usable pixel-dates per cell.
    usable: Vec<u32>,
    /// Usable pixel-dates per cell and class, `[cell, class]`.
    classes: Vec<u32>,
}

/// Fractions of a window estimated by [`CoverageMap::window_stats`].
#[derive(Clone, Debug, PartialEq)]
pub struct WindowStats {
    /// Share of pixel-dates whose image is clear.
    pub valid_fraction: f32,
    /// Share of pixel-dates with a label that is not ignored.
    pub usable_fraction: f32,
    /// Share of pixel-dates labelled with each class (sums to `usable_fraction`).
    pub class_fractions: Vec<f32>,
}

impl CoverageMap {
    /// An empty map for a `width x height` scene with cells of `cell` pixels, counting
    /// classes `0..num_classes` (labels at or above `num_classes` count as usable only).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `cell` is 0.
    pub fn new(width: usize, height: usize, cell: usize, num_classes: usize) -> Result<Self> {
        if cell == 0 {
            return Err(Error::invalid("cell", 0.0, "a positive number of pixels"));
        }
        let cols = width.div_ceil(cell);
        let rows = height.div_ceil(cell);
        let n = cols * rows;
        Ok(Self {
            width,
            height,
            cell,
            cols,
            rows,
            num_classes,
            total: vec![0; n],
            valid: vec![0; n],
            usable: vec![0; n],
            classes: vec![0; n * num_classes],
        })
    }

    /// Adds one date's `quality` and (already policy-masked) `labels` of `window`, both
    /// `[window.height, window.width]` row-major.
    ///
    /// # Panics
    /// If the slices do not hold `window.area()` values or the window leaves the scene.
    pub fn accumulate(&mut self, window: Window, quality: &[u8], labels: &[u8]) {
        assert_eq!(quality.len(), window.area(), "quality size");
        assert_eq!(labels.len(), window.area(), "labels size");
        assert!(
            window.fits_in(self.width, self.height),
            "window {window:?} outside the scene"
        );
        for r in 0..window.height {
            let cr = (window.row + r) / self.cell;
            let row_q = &quality[r * window.width..(r + 1) * window.width];
            let row_l = &labels[r * window.width..(r + 1) * window.width];
            for (c, (&q, &l)) in row_q.iter().zip(row_l).enumerate() {
                let i = cr * self.cols + (window.col + c) / self.cell;
                self.total[i] += 1;
                if q == QUALITY_CLEAR {
                    self.valid[i] += 1;
                }
                if l != IGNORE_INDEX {
                    self.usable[i] += 1;
                    if (l as usize) < self.num_classes {
                        self.classes[i * self.num_classes + l as usize] += 1;
                    }
                }
            }
        }
    }

    /// Scans `dates` of `series` in strips of rows and counts valid and usable pixel-dates
    /// per cell. Strips are processed in parallel (rayon); memory stays bounded: one strip of
    /// about 4 M pixels of one date per thread.
    ///
    /// # Errors
    /// Read errors of the series; [`Error::DateOutOfRange`].
    pub fn compute(
        series: &SceneSeries,
        dates: &[usize],
        cell: usize,
        num_classes: usize,
        policy: LabelPolicy,
    ) -> Result<Self> {
        let (width, height) = (series.width(), series.height());
        let empty = Self::new(width, height, cell, num_classes)?;
        // Strips of whole cells (so strips never share a cell), about 4 M pixels each.
        let strip_rows = ((4 << 20) / width.max(1)).max(1).div_ceil(cell) * cell;
        let strips: Vec<Window> = (0..height)
            .step_by(strip_rows)
            .map(|row| Window::new(0, row, width, strip_rows.min(height - row)))
            .collect();
        strips
            .par_iter()
            .map(|&window| {
                let mut map = empty.clone();
                for &d in dates {
                    let quality = series.read_quality(d, window)?;
                    let mut labels = series.read_labels(d, window)?;
                    policy.apply(&mut labels, &quality);
                    map.accumulate(window, &quality, &labels);
                }
                Ok(map)
            })
            .try_reduce(|| empty.clone(), |a, b| Ok(a.merged(&b)))
    }

    /// Adds the counts of `other` (same scene and cells) to `self`.
    fn merged(mut self, other: &Self) -> Self {
        for (a, b) in [
            (&mut self.total, &other.total),
            (&mut self.valid, &other.valid),
            (&mut self.usable, &other.usable),
            (&mut self.classes, &other.classes),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self
    }

    /// Number of classes counted.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Cell side in pixels.
    pub fn cell_size(&self) -> usize {
        self.cell
    }

    /// Estimated fractions of `window` (clipped to the scene; an empty window gives zeros).
    pub fn window_stats(&self, window: Window) -> WindowStats {
        let mut total = 0.0f64;
        let mut valid = 0.0f64;
        let mut usable = 0.0f64;
        let mut classes = vec![0.0f64; self.num_classes];
        if let Some(w) = window.intersection(&Window::full(self.width, self.height)) {
            let (c0, c1) = (w.col / self.cell, (w.col + w.width - 1) / self.cell);
            let (r0, r1) = (w.row / self.cell, (w.row + w.height - 1) / self.cell);
            for cr in r0..=r1.min(self.rows - 1) {
                for cc in c0..=c1.min(self.cols - 1) {
                    let cellw = Window::new(cc * self.cell, cr * self.cell, self.cell, self.cell)
                        .intersection(&Window::full(self.width, self.height));
                    let (Some(cellw), Some(ov)) = (cellw, cellw.and_then(|c| c.intersection(&w)))
                    else {
                        continue;
                    };
                    let f = ov.area() as f64 / cellw.area() as f64;
                    let i = cr * self.cols + cc;
                    total += f * self.total[i] as f64;
                    valid += f * self.valid[i] as f64;
                    usable += f * self.usable[i] as f64;
                    for (k, acc) in classes.iter_mut().enumerate() {
                        *acc += f * self.classes[i * self.num_classes + k] as f64;
                    }
                }
            }
        }
        let div = if total > 0.0 { total } else { 1.0 };
        WindowStats {
            valid_fraction: (valid / div) as f32,
            usable_fraction: (usable / div) as f32,
            class_fractions: classes.iter().map(|&c| (c / div) as f32).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::QUALITY_MASKED;

    #[test]
    fn window_stats_are_exact_on_cell_aligned_windows() {
        // 8x8 scene, cells of 4: left half labelled class 1, top-right cloudy (ignored).
        let mut map = CoverageMap::new(8, 8, 4, 3).unwrap();
        let mut q = vec![QUALITY_CLEAR; 64];
        let mut l = vec![0u8; 64];
        for r in 0..8 {
            for c in 0..8 {
                if c < 4 {
                    l[r * 8 + c] = 1;
                }
                if r < 4 && c >= 4 {
                    q[r * 8 + c] = QUALITY_MASKED;
                    l[r * 8 + c] = IGNORE_INDEX;
                }
            }
        }
        map.accumulate(Window::full(8, 8), &q, &l);
        let s = map.window_stats(Window::full(8, 8));
        // 16 of 64 masked -> 0.75 valid and usable; class 1 on 32 pixels, class 0 on 16.
        assert_eq!(s.valid_fraction, 0.75);
        assert_eq!(s.usable_fraction, 0.75);
        assert_eq!(s.class_fractions, vec![0.25, 0.5, 0.0]);
        let tr = map.window_stats(Window::new(4, 0, 4, 4));
        assert_eq!(tr.usable_fraction, 0.0);
        // Half of a cloudy cell and half of a clear one: 0.5 by area weighting.
        let mid = map.window_stats(Window::new(4, 2, 4, 4));
        assert_eq!(mid.usable_fraction, 0.5);
    }
}
