//! Sliding windows over a whole scene and the smooth weights that blend their outputs.
//!
//! A [`WindowPlan`] covers a `height x width` scene with overlapping windows whose processed
//! size is a multiple of the network's `2^depth`, whatever the scene size:
//!
//! - along each axis, a scene no longer than the window gets one window, processed at the
//!   scene length rounded up to the multiple and padded by mirroring past the scene edge;
//! - a longer axis gets `n = ceil((len - size) / (size - overlap)) + 1` windows of the full
//!   size, evenly spread from `0` to `len - size`, so the first and last windows touch the scene
//!   edges (no partial window, no uncovered border) and neighbours overlap by at least
//!   `overlap` pixels.
//!
//! Blending: each window gets a separable weight `wy(y) * wx(x)` whose 1-D profiles rise
//! smoothly (a raised cosine over `overlap` pixels, floor `1e-3`) from the window edges that
//! face a neighbour, and stay 1 towards scene edges. The 1-D profiles are normalised by their sum
//! over the windows of that axis, so at every pixel the 2-D weights of all covering windows sum
//! to exactly 1 (up to f32 rounding): a constant input gives a constant output (no seams), and
//! down-weighted window borders (where zero padding hurts convolutions) hand over smoothly to the
//! neighbour's centre.

/// One window of a [`WindowPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Row of the window in the plan's grid.
    pub grid_row: usize,
    /// Column of the window in the plan's grid.
    pub grid_col: usize,
    /// First scene row covered.
    pub y0: usize,
    /// First scene column covered.
    pub x0: usize,
    /// Scene rows covered (`<= proc_height`; smaller only when the scene is smaller than the
    /// processed window, which is then padded).
    pub height: usize,
    /// Scene columns covered (`<= proc_width`).
    pub width: usize,
    /// Rows of the tensor the network processes (multiple of the plan's multiple).
    pub proc_height: usize,
    /// Columns of the tensor the network processes (multiple of the plan's multiple).
    pub proc_width: usize,
}

/// Windows and blending weights along one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisPlan {
    /// Scene length along the axis.
    pub len: usize,
    /// Processed window length (multiple of the plan's multiple).
    pub proc_len: usize,
    /// Scene pixels covered by each window (`min(len, proc_len)`).
    pub valid_len: usize,
    /// First scene pixel of each window.
    pub starts: Vec<usize>,
    /// Normalised blending weights of each window over its `valid_len` pixels.
    pub weights: Vec<Vec<f32>>,
}

impl AxisPlan {
    /// Plans windows of `size` (rounded up to `multiple`) with at least `overlap` pixels of
    /// overlap over an axis of `len` pixels.
    ///
    /// # Panics
    /// If `len`, `size` or `multiple` is 0, or `overlap >= size` after rounding.
    pub fn new(len: usize, size: usize, overlap: usize, multiple: usize) -> Self {
        assert!(
            len > 0 && size > 0 && multiple > 0,
            "len {len}, size {size}, multiple {multiple}"
        );
        let size = size.div_ceil(multiple) * multiple;
        let (proc_len, starts) = if len <= size {
            (len.div_ceil(multiple) * multiple, vec![0])
        } else {
            assert!(
                overlap < size,
                "overlap {overlap} must be smaller than the window {size}"
            );
            let stride = size - overlap;
            let n = (len - size).div_ceil(stride) + 1;
            let span = len - size;
            let starts = (0..n)
                .map(|i| {
                    if n == 1 {
                        0
                    } else {
                        (i * span + (n - 1) / 2) / (n - 1)
                    }
                })
                .collect();
            (size, starts)
        };
        let valid_len = proc_len.min(len);
        // Raw weights in f64, normalised per pixel, stored as f32.
        let ramp = overlap.max(1) as f64;
        let raw: Vec<Vec<f64>> = starts
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let has_prev = i > 0;
                let has_next = i + 1 < starts.len();
                (0..valid_len)
                    .map(|p| {
                        let mut w: f64 = 1.0;
                        if has_prev {
                            w = w.min(taper((p as f64 + 0.5) / ramp));
                        }
                        if has_next {
                            w = w.min(taper((valid_len as f64 - p as f64 - 0.5) / ramp));
                        }
                        w
                    })
                    .collect()
            })
            .collect();
        let mut sum = vec![0.0f64; len];
        for (s, r) in starts.iter().zip(&raw) {
            for (p, w) in r.iter().enumerate() {
                sum[s + p] += w;
            }
        }
        let weights = starts
            .iter()
            .zip(&raw)
            .map(|(s, r)| {
                r.iter()
                    .enumerate()
                    .map(|(p, w)| (w / sum[s + p]) as f32)
                    .collect()
            })
            .collect();
        Self {
            len,
            proc_len,
            valid_len,
            starts,
            weights,
        }
    }
}

/// Raised-cosine taper from `1e-3` at `t = 0` to 1 at `t >= 1`.
fn taper(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    let s = 0.5 - 0.5 * (std::f64::consts::PI * t).cos();
    s.max(1e-3)
}

/// Overlapping windows covering a whole scene, with their blending weights.
///
/// # Examples
/// ```
/// use chronomap_train::WindowPlan;
/// // A 1000 x 700 scene, 256-pixel windows, 32 pixels of overlap, a depth-4 U-Net (16).
/// let plan = WindowPlan::new([1000, 700], 256, 32, 16);
/// assert!(plan.windows().all(|w| w.proc_height % 16 == 0 && w.y0 + w.height <= 1000));
/// // Every pixel's weights sum to 1.
/// let total: f32 = plan.windows().filter(|w| w.y0 <= 500 && 500 < w.y0 + w.height
///     && w.x0 <= 300 && 300 < w.x0 + w.width).map(|w| plan.weight(&w, 500 - w.y0, 300 - w.x0)).sum();
/// assert!((total - 1.0).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    rows: AxisPlan,
    cols: AxisPlan,
    multiple: usize,
    overlap: usize,
}

impl WindowPlan {
    /// Plans `size x size` windows (rounded up to `multiple`, e.g. `2^depth` of the U-Net) with
    /// at least `overlap` pixels of overlap over a `[height, width]` scene.
    ///
    /// # Panics
    /// If a dimension, `size` or `multiple` is 0, or `overlap >= size`.
    pub fn new(scene: [usize; 2], size: usize, overlap: usize, multiple: usize) -> Self {
        Self {
            rows: AxisPlan::new(scene[0], size, overlap, multiple),
            cols: AxisPlan::new(scene[1], size, overlap, multiple),
            multiple,
            overlap,
        }
    }

    /// Scene `[height, width]`.
    pub fn scene(&self) -> [usize; 2] {
        [self.rows.len, self.cols.len]
    }

    /// The multiple every processed size is rounded to.
    pub fn multiple(&self) -> usize {
        self.multiple
    }

    /// The requested minimum overlap.
    pub fn overlap(&self) -> usize {
        self.overlap
    }

    /// Grid `[rows, cols]` of windows.
    pub fn grid(&self) -> [usize; 2] {
        [self.rows.starts.len(), self.cols.starts.len()]
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.rows.starts.len() * self.cols.starts.len()
    }

    /// Always false: a plan covers at least one window.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The row axis plan.
    pub fn row_axis(&self) -> &AxisPlan {
        &self.rows
    }

    /// The column axis plan.
    pub fn col_axis(&self) -> &AxisPlan {
        &self.cols
    }

    /// The window at grid position (`grid_row`, `grid_col`).
    ///
    /// # Panics
    /// If the position is outside the grid.
    pub fn window(&self, grid_row: usize, grid_col: usize) -> Window {
        Window {
            grid_row,
            grid_col,
            y0: self.rows.starts[grid_row],
            x0: self.cols.starts[grid_col],
            height: self.rows.valid_len,
            width: self.cols.valid_len,
            proc_height: self.rows.proc_len,
            proc_width: self.cols.proc_len,
        }
    }

    /// All windows, row by row.
    pub fn windows(&self) -> impl Iterator<Item = Window> + '_ {
        let [nr, nc] = self.grid();
        (0..nr).flat_map(move |r| (0..nc).map(move |c| self.window(r, c)))
    }

    /// The windows of grid row `grid_row`, left to right.
    ///
    /// # Panics
    /// If `grid_row` is outside the grid.
    pub fn row_windows(&self, grid_row: usize) -> impl Iterator<Item = Window> + '_ {
        (0..self.grid()[1]).map(move |c| self.window(grid_row, c))
    }

    /// Blending weight of pixel (`dy`, `dx`) of `window` (offsets inside its scene part).
    ///
    /// # Panics
    /// If the offsets are outside the window's scene part.
    pub fn weight(&self, window: &Window, dy: usize, dx: usize) -> f32 {
        self.rows.weights[window.grid_row][dy] * self.cols.weights[window.grid_col][dx]
    }

    /// Scene rows that no window after grid row `grid_row` touches: every row `< ` the returned
    /// value is final once grid rows `0..=grid_row` have been blended.
    ///
    /// # Panics
    /// If `grid_row` is outside the grid.
    pub fn rows_final_after(&self, grid_row: usize) -> usize {
        self.rows
            .starts
            .get(grid_row + 1)
            .copied()
            .unwrap_or(self.rows.len)
    }
}

/// Index of the scene pixel read for processed position `p` of a window starting at `start`
/// on an axis of `len` pixels: `start + p` inside the scene, mirrored (without repeating the
/// edge pixel) past its end, so padded windows see plausible context instead of zeros.
///
/// # Panics
/// If `len` is 0.
pub fn mirror_index(start: usize, p: usize, len: usize) -> usize {
    assert!(len > 0, "empty axis");
    if len == 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let i = (start + p) % period;
    if i < len { i } else { period - i }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums the weight of every window at every pixel.
    fn weight_sums(plan: &WindowPlan) -> Vec<f64> {
        let [h, w] = plan.scene();
        let mut sum = vec![0.0f64; h * w];
        for win in plan.windows() {
            for dy in 0..win.height {
                for dx in 0..win.width {
                    sum[(win.y0 + dy) * w + win.x0 + dx] += plan.weight(&win, dy, dx) as f64;
                }
            }
        }
        sum
    }

    #[test]
    fn every_pixel_weighs_exactly_one() {
        for &(h, w, size, ov, m) in &[
            (100, 100, 32, 8, 16),
            (97, 45, 32, 8, 16),  // not multiples of 16
            (10, 300, 64, 16, 8), // scene thinner than the window
            (5, 5, 64, 16, 16),   // scene smaller than one multiple
            (64, 64, 64, 16, 16), // exactly one window
            (65, 129, 64, 0, 16), // no overlap requested
            (1000, 333, 256, 64, 16),
        ] {
            let plan = WindowPlan::new([h, w], size, ov, m);
            for win in plan.windows() {
                assert_eq!(win.proc_height % m, 0);
                assert_eq!(win.proc_width % m, 0);
                assert!(win.y0 + win.height <= h && win.x0 + win.width <= w);
                assert!(win.height <= win.proc_height && win.width <= win.proc_width);
            }
            for (i, s) in weight_sums(&plan).iter().enumerate() {
                assert!(
                    (s - 1.0).abs() < 1e-6,
                    "{h}x{w} pixel {i}: total weight {s}"
                );
            }
        }
    }

    #[test]
    fn neighbours_overlap_at_least_the_requested_amount() {
        let ax = AxisPlan::new(1000, 256, 64, 16);
        assert_eq!(*ax.starts.first().unwrap(), 0);
        assert_eq!(ax.starts.last().unwrap() + 256, 1000);
        for p in ax.starts.windows(2) {
            assert!(p[0] + 256 - p[1] >= 64, "{:?}", ax.starts);
        }
    }

    /// Blending windows whose outputs are each exactly the scene's own values (a constant, or a
    /// smooth ramp) reproduces them: no seam anywhere.
    #[test]
    fn no_seam_on_constant_or_consistent_input() {
        let plan = WindowPlan::new([77, 131], 32, 12, 16);
        let [h, w] = plan.scene();
        let truth = |y: usize, x: usize| 0.25 + 0.001 * y as f32 - 0.002 * x as f32;
        let mut constant = vec![0.0f32; h * w];
        let mut ramp = vec![0.0f32; h * w];
        for win in plan.windows() {
            for dy in 0..win.height {
                for dx in 0..win.width {
                    let (y, x) = (win.y0 + dy, win.x0 + dx);
                    let wt = plan.weight(&win, dy, dx);
                    constant[y * w + x] += wt * 3.5;
                    ramp[y * w + x] += wt * truth(y, x);
                }
            }
        }
        for y in 0..h {
            for x in 0..w {
                assert!((constant[y * w + x] - 3.5).abs() < 1e-5);
                assert!((ramp[y * w + x] - truth(y, x)).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn weights_are_smooth_across_a_window_border() {
        // Inside the overlap the weight of a window changes by at most pi/(2*overlap) per pixel.
        let ax = AxisPlan::new(200, 64, 32, 16);
        for wts in &ax.weights {
            for p in wts.windows(2) {
                assert!(
                    (p[1] - p[0]).abs() <= std::f32::consts::PI / 64.0 + 1e-3,
                    "{p:?}"
                );
            }
        }
    }

    #[test]
    fn rows_become_final_in_order() {
        let plan = WindowPlan::new([300, 50], 64, 16, 16);
        let [nr, _] = plan.grid();
        let mut prev = 0;
        for r in 0..nr {
            let f = plan.rows_final_after(r);
            assert!(f >= prev);
            // No later window touches a final row.
            for later in r + 1..nr {
                assert!(plan.window(later, 0).y0 >= f);
            }
            prev = f;
        }
        assert_eq!(prev, 300);
    }

    #[test]
    fn mirror_index_reflects() {
        let got: Vec<usize> = (0..10).map(|p| mirror_index(0, p, 4)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 2, 1, 0, 1, 2, 3]);
        assert_eq!(mirror_index(3, 0, 1), 0);
    }
}
