//! Whole-scene inference with bounded memory: sliding windows, date-by-date recurrence per
//! window, smooth blending of the outputs, rows handed out as soon as they are final.
//!
//! # Design
//! - The scene is covered by a [`WindowPlan`]. Windows are processed grid row by grid row, in
//!   batches of `batch_windows` windows of the same grid row.
//! - Every window runs the network **date by date** with
//!   [`SpatioTemporalNet::step_with_date_logits`], carrying its own ConvLSTM state. Only the
//!   outputs (class probabilities) are blended between windows, never the recurrent state:
//!   the ConvLSTM's 3x3 convolutions make a window's state near its edges depend on its own
//!   zero padding, so blending states and continuing would *not* equal running the whole
//!   series per window. Keeping one state per window makes a streaming update (stored state +
//!   one new date, see [`crate::SceneState`]) give exactly the same maps as predicting the whole
//!   series at once.
//! - Blended probabilities are accumulated in a ring buffer as tall as one window and as wide
//!   as the scene, per product (per-date or fused, per date, `num_classes` channels). Rows that
//!   no later window touches are finished (argmax for class maps) and handed to the sink, then
//!   their buffer rows are reused. Peak memory is about
//!   `products x num_classes x window x scene_width x 4` bytes plus one batch of windows, for
//!   any scene height (10980 x 10980 Sentinel-2 tile, 256 px windows, 2 products, 5 classes:
//!   ~110 MB).

use burn::prelude::*;
use burn::tensor::activation::softmax;
use chronomap_geo::Window as PixelWindow;
use chronomap_model::{SpatioTemporalNet, TemporalState};
use indicatif::ProgressBar;

use crate::error::{Error, Result};
use crate::metrics::IGNORE_LABEL;
use crate::window::{Window, WindowPlan, mirror_index};

/// Pixel quality values used by scene readers (those of `chronomap-data`).
pub mod quality {
    /// A clear pixel.
    pub const CLEAR: u8 = 0;
    /// A pixel flagged by the date's mask (cloud, shadow).
    pub const MASKED: u8 = 1;
    /// A nodata pixel.
    pub const NODATA: u8 = 2;
}

/// A source of normalized image windows, one date at a time.
pub trait SceneReader: Sync {
    /// Scene `[height, width]` in pixels.
    fn size(&self) -> [usize; 2];
    /// Channels (bands) per date.
    fn channels(&self) -> usize;
    /// Number of dates.
    fn num_dates(&self) -> usize;
    /// Normalized pixels `[channels, window.height, window.width]` and quality
    /// `[window.height, window.width]` ([`quality`] values) of date `date` over `window`
    /// (always inside the scene).
    ///
    /// # Errors
    /// Read errors of the underlying files.
    fn read(&self, date: usize, window: PixelWindow) -> Result<(Vec<f32>, Vec<u8>)>;
}

/// A view of some dates of another reader (e.g. only the new date of a streaming update).
#[derive(Clone, Copy)]
pub struct DateSelection<'a> {
    inner: &'a dyn SceneReader,
    dates: &'a [usize],
}

impl std::fmt::Debug for DateSelection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DateSelection")
            .field("dates", &self.dates)
            .finish_non_exhaustive()
    }
}

impl<'a> DateSelection<'a> {
    /// Date `i` of the view is date `dates[i]` of `inner`.
    ///
    /// # Panics
    /// If a date is out of range of `inner`.
    pub fn new(inner: &'a dyn SceneReader, dates: &'a [usize]) -> Self {
        let n = inner.num_dates();
        assert!(
            dates.iter().all(|&d| d < n),
            "dates {dates:?} out of range (the reader has {n})"
        );
        Self { inner, dates }
    }
}

impl SceneReader for DateSelection<'_> {
    fn size(&self) -> [usize; 2] {
        self.inner.size()
    }

    fn channels(&self) -> usize {
        self.inner.channels()
    }

    fn num_dates(&self) -> usize {
        self.dates.len()
    }

    fn read(&self, date: usize, window: PixelWindow) -> Result<(Vec<f32>, Vec<u8>)> {
        self.inner.read(self.dates[date], window)
    }
}

/// What is stored for one window between streaming updates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredWindow {
    /// ConvLSTM hidden state `[hidden_channels, proc_height, proc_width]`.
    pub hidden: Vec<f32>,
    /// ConvLSTM cell state `[hidden_channels, proc_height, proc_width]`.
    pub cell: Vec<f32>,
    /// `[height, width]` of the window's scene pixels (not the padded processing size): 1
    /// where some date folded in so far had data (was not nodata), else 0. It carries the
    /// fused maps' rule ("255 only where no date up to now had data") across updates. `None`
    /// for states written before chronomap stored it: every pixel then counts as never seen.
    pub seen: Option<Vec<u8>>,
}

/// Per-window ConvLSTM states: where a streaming update reads and writes them.
pub trait WindowStates {
    /// The stored state of `window`, or `None` to start from zeros.
    ///
    /// # Errors
    /// Read errors, or a state of the wrong size.
    fn load(&self, window: &Window) -> Result<Option<StoredWindow>>;
    /// Stores the state of `window` after the last date: `hidden` and `cell`
    /// `[hidden_channels, proc_height, proc_width]`, `seen` `[height, width]` (see
    /// [`StoredWindow::seen`]).
    ///
    /// # Errors
    /// Write errors.
    fn store(&mut self, window: &Window, hidden: &[f32], cell: &[f32], seen: &[u8]) -> Result<()>;
}

/// Which maps to produce for which dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Products {
    /// Per-date (U-Net alone) maps.
    pub date: bool,
    /// Fused (ConvLSTM) maps.
    pub fused: bool,
    /// Dates (among `dates`) whose blended probabilities are handed out too (else only class
    /// maps).
    pub probability_dates: Vec<usize>,
    /// Dates (indices of the reader) whose maps are produced; the others are still run
    /// through the network for the recurrence.
    pub dates: Vec<usize>,
}

/// Whether a product is a per-date or a fused map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapKind {
    /// The U-Net's map of one date alone.
    Date,
    /// The fused map after a date.
    Fused,
}

/// Finished rows of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRows {
    /// Per-date or fused.
    pub kind: MapKind,
    /// Date index (of the reader).
    pub date: usize,
    /// Class ids `[n_rows, width]`, [`IGNORE_LABEL`] where there is no prediction (per-date
    /// maps: the date's pixel is not clear; fused maps: no date had data there).
    pub classes: Vec<u8>,
    /// Blended probabilities `[num_classes, n_rows, width]` when requested.
    pub probabilities: Option<Vec<f32>>,
}

/// A block of finished scene rows for every product.
#[derive(Debug, Clone, PartialEq)]
pub struct RowBlock {
    /// First scene row.
    pub row: usize,
    /// Number of rows.
    pub n_rows: usize,
    /// Scene width.
    pub width: usize,
    /// One entry per product, in the order of [`Products`]: for each date, per-date then
    /// fused.
    pub products: Vec<ProductRows>,
}

struct Accumulator {
    kind: MapKind,
    date: usize,
    /// `[K, cap, W]` ring of weighted probabilities.
    acc: Vec<f32>,
    /// Whether to hand out probabilities.
    probs: bool,
}

/// Runs `model` over the whole scene of `reader` and hands finished rows to `sink` in scene
/// order. The design is described in `docs/architecture.md` (Scene inference).
///
/// `states`: `None` starts every window from zeros and keeps nothing; `Some` loads each
/// window's state before its first date and stores it after the last (streaming updates).
///
/// # Errors
/// Reader, state and sink errors; [`Error::BandMismatch`]-style errors are the caller's to
/// check beforehand (the model panics on a wrong channel count).
///
/// # Panics
/// If `batch_windows` is 0 or the model's size multiple does not divide the plan's.
#[allow(clippy::too_many_arguments)]
pub fn run_scene(
    model: &SpatioTemporalNet,
    reader: &dyn SceneReader,
    plan: &WindowPlan,
    batch_windows: usize,
    products: &Products,
    mut states: Option<&mut dyn WindowStates>,
    device: &Device,
    progress: &ProgressBar,
    sink: &mut dyn FnMut(RowBlock) -> Result<()>,
) -> Result<()> {
    assert!(batch_windows > 0, "batch_windows must be positive");
    let cfg = model.config();
    assert_eq!(
        plan.multiple() % cfg.size_multiple(),
        0,
        "the window plan's multiple {} is not a multiple of the model's 2^depth = {}",
        plan.multiple(),
        cfg.size_multiple()
    );
    let [height, width] = plan.scene();
    if reader.size() != [height, width] {
        return Err(Error::InvalidConfig(format!(
            "the window plan covers {height}x{width} pixels but the scene is {:?}",
            reader.size()
        )));
    }
    let k = cfg.num_classes;
    let c = reader.channels();
    let t_total = reader.num_dates();
    let cap = plan.row_axis().valid_len;
    let mut accs: Vec<Accumulator> = Vec::new();
    for &d in &products.dates {
        if d >= t_total {
            return Err(Error::InvalidConfig(format!(
                "map requested for date {d} but the series has {t_total} dates"
            )));
        }
        for (on, kind) in [
            (products.date, MapKind::Date),
            (products.fused, MapKind::Fused),
        ] {
            if on {
                accs.push(Accumulator {
                    kind,
                    date: d,
                    acc: vec![0.0; k * cap * width],
                    probs: products.probability_dates.contains(&d),
                });
            }
        }
    }
    // Quality of every date, `[T, cap, W]` ring.
    let mut qual = vec![quality::NODATA; t_total * cap * width];
    // `[cap, W]` ring: 1 where a date before this run (a stored state) had data.
    let mut seen = vec![0u8; cap * width];
    let [n_rows, _] = plan.grid();
    progress.set_length(plan.len() as u64);
    let mut flushed = 0usize;
    let model = model.valid();
    for gr in 0..n_rows {
        let row_windows: Vec<Window> = plan.row_windows(gr).collect();
        for batch in row_windows.chunks(batch_windows) {
            process_batch(
                &model,
                reader,
                plan,
                batch,
                &mut accs,
                &mut qual,
                &mut seen,
                cap,
                c,
                t_total,
                states.as_deref_mut(),
                device,
            )?;
            progress.inc(batch.len() as u64);
        }
        let final_rows = plan.rows_final_after(gr);
        if final_rows > flushed {
            let block = flush_rows(
                &mut accs, &mut qual, &mut seen, flushed, final_rows, cap, width, k, t_total,
            );
            sink(block)?;
            flushed = final_rows;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn process_batch<'s>(
    model: &SpatioTemporalNet,
    reader: &dyn SceneReader,
    plan: &WindowPlan,
    batch: &[Window],
    accs: &mut [Accumulator],
    qual: &mut [u8],
    seen: &mut [u8],
    cap: usize,
    c: usize,
    t_total: usize,
    states: Option<&mut (dyn WindowStates + 's)>,
    device: &Device,
) -> Result<()> {
    let b = batch.len();
    let (ph, pw) = (batch[0].proc_height, batch[0].proc_width);
    let width = plan.scene()[1];
    let hid = model.config().hidden_channels;
    let k = model.config().num_classes;
    // Initial state.
    let mut state: Option<TemporalState> = None;
    if let Some(st) = states.as_deref() {
        let mut hs = Vec::with_capacity(b * hid * ph * pw);
        let mut cs = Vec::with_capacity(b * hid * ph * pw);
        let mut found = 0;
        for w in batch {
            if let Some(StoredWindow {
                hidden: h,
                cell: cc,
                seen: prior,
            }) = st.load(w)?
            {
                if h.len() != hid * ph * pw || cc.len() != hid * ph * pw {
                    return Err(Error::StateMismatch {
                        path: Default::default(),
                        problem: format!(
                            "window ({}, {}) state has {} values, expected {hid} x {ph} x {pw}",
                            w.grid_row,
                            w.grid_col,
                            h.len()
                        ),
                    });
                }
                if let Some(prior) = prior {
                    if prior.len() != w.height * w.width {
                        return Err(Error::StateMismatch {
                            path: Default::default(),
                            problem: format!(
                                "window ({}, {}) seen mask has {} values, expected {} x {}",
                                w.grid_row,
                                w.grid_col,
                                prior.len(),
                                w.height,
                                w.width
                            ),
                        });
                    }
                    for dy in 0..w.height {
                        let ring = ((w.y0 + dy) % cap) * width + w.x0;
                        for (o, &p) in seen[ring..ring + w.width]
                            .iter_mut()
                            .zip(&prior[dy * w.width..(dy + 1) * w.width])
                        {
                            *o |= u8::from(p != 0);
                        }
                    }
                }
                hs.extend_from_slice(&h);
                cs.extend_from_slice(&cc);
                found += 1;
            }
        }
        if found == b {
            state = Some(TemporalState::new(
                Tensor::<4>::from_data(TensorData::new(hs, [b, hid, ph, pw]), device),
                Tensor::<4>::from_data(TensorData::new(cs, [b, hid, ph, pw]), device),
            ));
        } else if found != 0 {
            return Err(Error::StateMismatch {
                path: Default::default(),
                problem: "some windows of a batch have a stored state and others do not".into(),
            });
        }
    }
    for t in 0..t_total {
        // Read every window of the batch (mirror-padded to the processed size).
        let mut frames = vec![0f32; b * c * ph * pw];
        for (bi, w) in batch.iter().enumerate() {
            let pwin = PixelWindow::new(w.x0, w.y0, w.width, w.height);
            let (img, q) = reader.read(t, pwin)?;
            let dst = &mut frames[bi * c * ph * pw..(bi + 1) * c * ph * pw];
            pad_into(&img, c, w.height, w.width, dst, ph, pw);
            for dy in 0..w.height {
                let base = t * cap * width + ((w.y0 + dy) % cap) * width + w.x0;
                qual[base..base + w.width].copy_from_slice(&q[dy * w.width..(dy + 1) * w.width]);
            }
        }
        let x = Tensor::<4>::from_data(TensorData::new(frames, [b, c, ph, pw]), device);
        let out = model.step_with_date_logits(x, state.take());
        state = Some(out.state);
        let wants_date = accs.iter().any(|a| a.date == t && a.kind == MapKind::Date);
        let wants_fused = accs.iter().any(|a| a.date == t && a.kind == MapKind::Fused);
        let date_p = if wants_date {
            Some(softmax(out.date_logits, 1).try_into_vec_as::<f32>()?)
        } else {
            None
        };
        let fused_p = if wants_fused {
            Some(softmax(out.fused_logits, 1).try_into_vec_as::<f32>()?)
        } else {
            None
        };
        for a in accs.iter_mut().filter(|a| a.date == t) {
            let probs = match a.kind {
                MapKind::Date => date_p.as_deref(),
                MapKind::Fused => fused_p.as_deref(),
            };
            let Some(probs) = probs else { continue };
            for (bi, w) in batch.iter().enumerate() {
                let wy = &plan.row_axis().weights[w.grid_row];
                let wx = &plan.col_axis().weights[w.grid_col];
                for kk in 0..k {
                    let src = &probs[(bi * k + kk) * ph * pw..];
                    let dst = &mut a.acc[kk * cap * width..(kk + 1) * cap * width];
                    for dy in 0..w.height {
                        let row = &src[dy * pw..dy * pw + w.width];
                        let ring = ((w.y0 + dy) % cap) * width + w.x0;
                        let d = &mut dst[ring..ring + w.width];
                        let wyv = wy[dy];
                        for ((o, &p), &wxv) in d.iter_mut().zip(row).zip(wx.iter()) {
                            *o += wyv * wxv * p;
                        }
                    }
                }
            }
        }
    }
    if let (Some(st), Some(state)) = (states, state) {
        let h: Vec<f32> = state.hidden.try_into_vec_as::<f32>()?;
        let cc: Vec<f32> = state.cell.try_into_vec_as::<f32>()?;
        let n = hid * ph * pw;
        for (bi, w) in batch.iter().enumerate() {
            let mut now = vec![0u8; w.height * w.width];
            for dy in 0..w.height {
                let ring = ((w.y0 + dy) % cap) * width + w.x0;
                for (dx, o) in now[dy * w.width..(dy + 1) * w.width].iter_mut().enumerate() {
                    let had = seen[ring + dx] != 0
                        || (0..t_total)
                            .any(|t| qual[t * cap * width + ring + dx] != quality::NODATA);
                    *o = u8::from(had);
                }
            }
            st.store(w, &h[bi * n..(bi + 1) * n], &cc[bi * n..(bi + 1) * n], &now)?;
        }
    }
    Ok(())
}

/// Copies `[c, h, w]` into `[c, ph, pw]`, mirroring past the right and bottom edges.
fn pad_into(src: &[f32], c: usize, h: usize, w: usize, dst: &mut [f32], ph: usize, pw: usize) {
    for ch in 0..c {
        for y in 0..ph {
            let sy = if y < h { y } else { mirror_index(0, y, h) };
            let srow = &src[(ch * h + sy) * w..(ch * h + sy + 1) * w];
            let drow = &mut dst[(ch * ph + y) * pw..(ch * ph + y + 1) * pw];
            drow[..w].copy_from_slice(srow);
            for x in w..pw {
                drow[x] = srow[mirror_index(0, x, w)];
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn flush_rows(
    accs: &mut [Accumulator],
    qual: &mut [u8],
    seen: &mut [u8],
    from: usize,
    to: usize,
    cap: usize,
    width: usize,
    k: usize,
    t_total: usize,
) -> RowBlock {
    let n = to - from;
    let mut products = Vec::with_capacity(accs.len());
    for a in accs.iter_mut() {
        let mut classes = vec![0u8; n * width];
        let mut probs = a.probs.then(|| vec![0f32; k * n * width]);
        for r in 0..n {
            let ring = ((from + r) % cap) * width;
            for x in 0..width {
                let mut best = 0usize;
                let mut bv = f32::MIN;
                for kk in 0..k {
                    let v = a.acc[kk * cap * width + ring + x];
                    if v > bv {
                        bv = v;
                        best = kk;
                    }
                    if let Some(p) = probs.as_mut() {
                        p[(kk * n + r) * width + x] = v;
                    }
                }
                let has_data = match a.kind {
                    MapKind::Date => qual[a.date * cap * width + ring + x] == quality::CLEAR,
                    MapKind::Fused => {
                        seen[ring + x] != 0
                            || (0..=a.date)
                                .any(|t| qual[t * cap * width + ring + x] != quality::NODATA)
                    }
                };
                classes[r * width + x] = if has_data { best as u8 } else { IGNORE_LABEL };
            }
            for kk in 0..k {
                a.acc[kk * cap * width + ring..kk * cap * width + ring + width].fill(0.0);
            }
        }
        products.push(ProductRows {
            kind: a.kind,
            date: a.date,
            classes,
            probabilities: probs,
        });
    }
    for r in 0..n {
        let ring = ((from + r) % cap) * width;
        for t in 0..t_total {
            qual[t * cap * width + ring..t * cap * width + ring + width].fill(quality::NODATA);
        }
        seen[ring..ring + width].fill(0);
    }
    RowBlock {
        row: from,
        n_rows: n,
        width,
        products,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chronomap_model::SpatioTemporalNetConfig;

    use super::*;

    /// A deterministic synthetic scene: smooth patterns that change with the date.
    struct Synthetic {
        h: usize,
        w: usize,
        c: usize,
        t: usize,
        /// Nodata gaps in scene coordinates, as Landsat 7 SLC-off stripes: diagonal stripes
        /// at every date, the top rows missing at the first date, and the left half of the
        /// scene missing at the last date.
        gaps: bool,
    }

    impl Synthetic {
        fn nodata(&self, date: usize, x: usize, y: usize) -> bool {
            self.gaps
                && ((x + y + 5 * date).is_multiple_of(9)
                    || (date == 0 && y < 3)
                    || (date + 1 == self.t && x < self.w / 2))
        }
    }

    impl SceneReader for Synthetic {
        fn size(&self) -> [usize; 2] {
            [self.h, self.w]
        }
        fn channels(&self) -> usize {
            self.c
        }
        fn num_dates(&self) -> usize {
            self.t
        }
        fn read(&self, date: usize, win: PixelWindow) -> Result<(Vec<f32>, Vec<u8>)> {
            let mut img = Vec::with_capacity(self.c * win.area());
            for ch in 0..self.c {
                for y in win.row..win.row + win.height {
                    for x in win.col..win.col + win.width {
                        let v = ((x as f32 * 0.21 + ch as f32).sin() * (y as f32 * 0.13).cos())
                            + 0.3 * date as f32 * ((x + 2 * y) % 7) as f32 / 7.0;
                        img.push(v);
                    }
                }
            }
            let q = (0..win.area())
                .map(|i| {
                    let (x, y) = (win.col + i % win.width, win.row + i / win.width);
                    if self.nodata(date, x, y) {
                        quality::NODATA
                    } else if (i + date).is_multiple_of(23) {
                        quality::MASKED
                    } else {
                        quality::CLEAR
                    }
                })
                .collect();
            Ok((img, q))
        }
    }

    #[derive(Default)]
    struct MemStates(HashMap<(usize, usize), StoredWindow>);

    impl WindowStates for MemStates {
        fn load(&self, w: &Window) -> Result<Option<StoredWindow>> {
            Ok(self.0.get(&(w.grid_row, w.grid_col)).cloned())
        }
        fn store(&mut self, w: &Window, h: &[f32], c: &[f32], seen: &[u8]) -> Result<()> {
            self.0.insert(
                (w.grid_row, w.grid_col),
                StoredWindow {
                    hidden: h.to_vec(),
                    cell: c.to_vec(),
                    seen: Some(seen.to_vec()),
                },
            );
            Ok(())
        }
    }

    fn collect(
        model: &SpatioTemporalNet,
        reader: &dyn SceneReader,
        plan: &WindowPlan,
        dates: Vec<usize>,
        states: Option<&mut dyn WindowStates>,
    ) -> Vec<ProductRows> {
        let [h, w] = plan.scene();
        let products = Products {
            date: true,
            fused: true,
            probability_dates: dates.clone(),
            dates,
        };
        let mut out: Vec<ProductRows> = Vec::new();
        let mut next_row = 0;
        run_scene(
            model,
            reader,
            plan,
            2,
            &products,
            states,
            &Device::flex(),
            &ProgressBar::hidden(),
            &mut |block: RowBlock| {
                assert_eq!(block.row, next_row, "rows come in order, without gaps");
                next_row += block.n_rows;
                if out.is_empty() {
                    out = block
                        .products
                        .iter()
                        .map(|p| ProductRows {
                            kind: p.kind,
                            date: p.date,
                            classes: vec![0; h * w],
                            probabilities: Some(vec![0.0; 4 * h * w]),
                        })
                        .collect();
                }
                let (r0, n) = (block.row, block.n_rows);
                for (o, p) in out.iter_mut().zip(block.products) {
                    o.classes[r0 * w..(r0 + n) * w].copy_from_slice(&p.classes);
                    let (dst, src) = (o.probabilities.as_mut().unwrap(), p.probabilities.unwrap());
                    for k in 0..4 {
                        dst[(k * h + r0) * w..(k * h + r0 + n) * w]
                            .copy_from_slice(&src[k * n * w..(k + 1) * n * w]);
                    }
                }
                Ok(())
            },
        )
        .expect("run_scene");
        assert_eq!(next_row, h, "every row was handed out");
        out
    }

    fn tiny_model() -> SpatioTemporalNet {
        crate::trainer::init_model(&SpatioTemporalNetConfig::tiny(3, 4), &Device::flex(), 3)
    }

    /// Updating date by date from stored per-window states gives the maps of a whole-series
    /// prediction: the same fused and per-date probabilities and classes at every date.
    #[test]
    fn streaming_equals_batch() {
        streaming_equals_batch_on(false);
    }

    /// Issue 10 (2): the same with nodata gaps (SLC-off stripes, a last date whose left half
    /// is missing). Before the seen mask was stored with the state, the update wrote 255 on
    /// the whole left half of the last date's fused map where the batch prediction wrote the
    /// fused class (the rule: a fused map is 255 only where no date up to then had data).
    #[test]
    fn streaming_equals_batch_with_nodata_gaps() {
        streaming_equals_batch_on(true);
    }

    fn streaming_equals_batch_on(gaps: bool) {
        let model = tiny_model();
        let scene = Synthetic {
            h: 37,
            w: 29,
            c: 3,
            t: 4,
            gaps,
        }; // not multiples of 4, several windows
        let plan = WindowPlan::new([37, 29], 16, 4, 4);
        assert!(plan.len() > 4);
        let batch = collect(&model, &scene, &plan, (0..4).collect(), None);
        let mut states = MemStates::default();
        for t in 0..4 {
            let sel = [t];
            let one = DateSelection::new(&scene, &sel);
            let got = collect(&model, &one, &plan, vec![0], Some(&mut states));
            for kind in [MapKind::Date, MapKind::Fused] {
                let b = batch
                    .iter()
                    .find(|p| p.kind == kind && p.date == t)
                    .unwrap();
                let s = got.iter().find(|p| p.kind == kind).unwrap();
                assert_eq!(b.classes, s.classes, "{kind:?} classes at date {t}");
                let (bp, sp) = (
                    b.probabilities.as_ref().unwrap(),
                    s.probabilities.as_ref().unwrap(),
                );
                let max = bp
                    .iter()
                    .zip(sp)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    max <= 1e-6,
                    "{kind:?} probabilities differ by {max} at date {t}"
                );
            }
            // The documented rule, pixel by pixel: a fused map is empty exactly where no date
            // up to then had data.
            let fused = batch
                .iter()
                .find(|p| p.kind == MapKind::Fused && p.date == t)
                .unwrap();
            let mut empty = 0;
            for y in 0..scene.h {
                for x in 0..scene.w {
                    let never = (0..=t).all(|d| scene.nodata(d, x, y));
                    let got = fused.classes[y * scene.w + x] == IGNORE_LABEL;
                    assert_eq!(got, never, "fused map at date {t}, pixel ({x}, {y})");
                    empty += usize::from(got);
                }
            }
            if gaps && t == 0 {
                assert!(
                    empty >= 3 * scene.w,
                    "the top rows are empty at the first date"
                );
            }
        }
    }

    /// Blended probabilities are a convex combination: they sum to 1 at every pixel, whatever
    /// the window overlaps (no seams from missing or doubled weight).
    #[test]
    fn blended_probabilities_sum_to_one_everywhere() {
        let model = tiny_model();
        let scene = Synthetic {
            h: 23,
            w: 41,
            c: 3,
            t: 2,
            gaps: false,
        };
        let plan = WindowPlan::new([23, 41], 16, 6, 4);
        let out = collect(&model, &scene, &plan, vec![1], None);
        for p in &out {
            let probs = p.probabilities.as_ref().unwrap();
            let n = 23 * 41;
            for i in 0..n {
                let s: f32 = (0..4).map(|k| probs[k * n + i]).sum();
                assert!((s - 1.0).abs() < 1e-5, "pixel {i}: {s}");
            }
            // Per-date maps leave masked pixels empty; fused maps do not.
            let masked = p.classes.iter().filter(|&&c| c == IGNORE_LABEL).count();
            match p.kind {
                MapKind::Date => assert!(masked > 0),
                MapKind::Fused => assert_eq!(masked, 0),
            }
        }
    }
}
