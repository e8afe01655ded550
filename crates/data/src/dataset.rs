//! Burn [`Dataset`] and [`Batcher`] over patches of a [`SceneSeries`].

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use chronomap_geo::Window;

use crate::augment::{Dihedral, RadiometricJitter};
use crate::error::{Error, Result};
use crate::mask::{LabelPolicy, QUALITY_CLEAR, QUALITY_NODATA};
use crate::normalize::NormStats;
use crate::patch::ScenePatch;
use crate::rng::hash4;
use crate::series::SceneSeries;

/// One item of a [`PatchDataset`]: where to cut, which dates, and how to augment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sample {
    /// Window of the scene (square for datasets that augment).
    pub window: Window,
    /// Date indices into the series, chronological for a ConvLSTM.
    pub dates: Vec<usize>,
    /// Geometric transform applied to every date, label and mask plane.
    pub transform: Dihedral,
    /// Seed of the radiometric jitter draw (used when the dataset has jitter enabled).
    pub jitter_seed: u64,
}

/// Builds samples: every window with every date sequence, each with a transform drawn from
/// `seed` when `augment` (else identity) and its own jitter seed.
pub fn make_samples(
    windows: &[Window],
    sequences: &[Vec<usize>],
    augment: bool,
    seed: u64,
) -> Vec<Sample> {
    let mut out = Vec::with_capacity(windows.len() * sequences.len());
    for (i, w) in windows.iter().enumerate() {
        for (j, dates) in sequences.iter().enumerate() {
            let key = (i * sequences.len() + j) as u64;
            out.push(Sample {
                window: *w,
                dates: dates.clone(),
                transform: if augment {
                    Dihedral::random(seed, key)
                } else {
                    Dihedral::Identity
                },
                jitter_seed: hash4(seed, key, 0x717, 0),
            });
        }
    }
    out
}

/// How a [`PatchDataset`] turns raw patches into items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatchConfig {
    /// Which pixels get the ignore label.
    pub label_policy: LabelPolicy,
    /// Per-date gain/offset jitter (`None`: off, the default; use it for training only).
    pub jitter: Option<RadiometricJitter>,
    /// Set normalized values of nodata pixels to 0 (the band mean for mean/std statistics),
    /// so that fill values such as 0 do not produce extreme inputs (default `true`).
    pub zero_nodata: bool,
}

impl Default for PatchConfig {
    fn default() -> Self {
        Self {
            label_policy: LabelPolicy::default(),
            jitter: None,
            zero_nodata: true,
        }
    }
}

/// A normalized, augmented patch: what [`PatchBatcher`] stacks into a [`PatchBatch`].
#[derive(Clone, Debug, PartialEq)]
pub struct PatchItem {
    /// Normalized values, `[time, channels, height, width]`.
    pub image: Vec<f32>,
    /// Class ids per date, [`crate::IGNORE_INDEX`] where ignored, `[time, height, width]`.
    pub labels: Vec<u8>,
    /// Pixel quality per date (`QUALITY_*`), `[time, height, width]`.
    pub quality: Vec<u8>,
    /// `[time, channels, height, width]`.
    pub shape: [usize; 4],
    /// The sample this item was made from.
    pub sample: Sample,
}

/// Patches of a [`SceneSeries`], read lazily (windowed reads) when the data loader asks, then
/// normalized with [`NormStats`], jittered and transformed.
///
/// Cheap to clone (the series and samples are shared). Use
/// [`PatchDataset::with_samples`] to draw fresh windows / transforms each epoch.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let manifest = chronomap_data::testkit::tiny_series(dir.path(), 32, 3, 2)?;
/// use std::sync::Arc;
/// use burn::data::dataset::Dataset;
/// use chronomap_data::*;
/// use chronomap_geo::Window;
/// let series = Arc::new(SceneSeries::open(&manifest)?);
/// let stats = NormStats::compute(&series, &StatsConfig::default())?;
/// let windows = random_windows(&[Window::full(32, 32)], 16, 4, 7)?;
/// let samples = make_samples(&windows, &[vec![0, 1, 2]], true, 7);
/// let ds = PatchDataset::new(series, stats, samples, PatchConfig::default())?;
/// let item = ds.get(0).unwrap();
/// assert_eq!(item.shape, [3, 4, 16, 16]); // [time, channels, height, width]
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct PatchDataset {
    series: Arc<SceneSeries>,
    stats: Arc<NormStats>,
    samples: Arc<Vec<Sample>>,
    config: PatchConfig,
}

impl PatchDataset {
    /// A dataset of `samples` from `series`.
    ///
    /// # Errors
    /// [`Error::StatsBands`] when `stats` are for other bands; [`Error::WindowOutOfBounds`] /
    /// [`Error::DateOutOfRange`] for a sample outside the series; [`Error::SequenceLength`]
    /// when samples have different numbers of dates; [`Error::InvalidArgument`] when samples
    /// have different window sizes, or a non-square window is rotated.
    pub fn new(
        series: Arc<SceneSeries>,
        stats: NormStats,
        samples: Vec<Sample>,
        config: PatchConfig,
    ) -> Result<Self> {
        stats.check_bands(series.bands())?;
        let ds = Self {
            series,
            stats: Arc::new(stats),
            samples: Arc::new(Vec::new()),
            config,
        };
        ds.with_samples(samples)
    }

    /// The same series, statistics and configuration with other samples (e.g. the next
    /// epoch's random windows).
    ///
    /// # Errors
    /// As [`PatchDataset::new`].
    pub fn with_samples(&self, samples: Vec<Sample>) -> Result<Self> {
        let (w, h) = (self.series.width(), self.series.height());
        if let Some(first) = samples.first() {
            let t = first.dates.len();
            let size = (first.window.width, first.window.height);
            for (i, s) in samples.iter().enumerate() {
                if !s.window.fits_in(w, h) {
                    return Err(Error::WindowOutOfBounds {
                        window: s.window,
                        width: w,
                        height: h,
                    });
                }
                if let Some(&d) = s.dates.iter().find(|&&d| d >= self.series.len()) {
                    return Err(Error::DateOutOfRange {
                        index: d,
                        dates: self.series.len(),
                    });
                }
                if s.dates.len() != t {
                    return Err(Error::SequenceLength {
                        index: i,
                        expected: t,
                        found: s.dates.len(),
                    });
                }
                if (s.window.width, s.window.height) != size {
                    return Err(Error::invalid(
                        "window size",
                        s.window.width as f64,
                        "the same size for every sample",
                    ));
                }
                if s.transform.swaps_axes() && s.window.width != s.window.height {
                    return Err(Error::invalid(
                        "window width",
                        s.window.width as f64,
                        "a square window for rotations and transposes",
                    ));
                }
            }
        }
        Ok(Self {
            series: self.series.clone(),
            stats: self.stats.clone(),
            samples: Arc::new(samples),
            config: self.config.clone(),
        })
    }

    /// The series patches are cut from.
    pub fn series(&self) -> &Arc<SceneSeries> {
        &self.series
    }

    /// The normalization statistics.
    pub fn stats(&self) -> &NormStats {
        &self.stats
    }

    /// The samples, in index order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The configuration.
    pub fn config(&self) -> &PatchConfig {
        &self.config
    }

    /// Reads and prepares sample `index` (what [`Dataset::get`] does, with a typed error).
    ///
    /// A date repeated in a row in `sample.dates` (`[4, 5, 6, 6, 6]`) is *padding*: a
    /// sequence shorter than the batch's length, filled up with its last date. Its labels
    /// are [`crate::IGNORE_INDEX`], so the loss sees only the real dates (the network is
    /// causal: the steps before the padding do not depend on it).
    ///
    /// # Errors
    /// Read errors of the series.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn item(&self, index: usize) -> Result<PatchItem> {
        let sample = &self.samples[index];
        let patch = self.series.read_patch(sample.window, &sample.dates)?;
        let mut item = self.config.prepare(patch, &self.stats, sample.clone());
        let plane = item.shape[2] * item.shape[3];
        for t in 1..sample.dates.len() {
            if sample.dates[t] == sample.dates[t - 1] {
                item.labels[t * plane..(t + 1) * plane].fill(crate::IGNORE_INDEX);
            }
        }
        Ok(item)
    }
}

impl PatchConfig {
    /// Turns a raw patch into an item: jitter gain (if enabled, drawn from
    /// `sample.jitter_seed`), normalization, jitter offset, nodata zeroing, the label
    /// policy, then `sample.transform`. Use it at inference on patches from
    /// [`SceneSeries::read_patch`] / [`SceneSeries::read_patch_padded`] (with
    /// `jitter: None` and an identity transform) so that inputs are prepared exactly as in
    /// training.
    ///
    /// # Shapes
    /// `patch.image` `[time, channels, h, w]` -> `PatchItem::image` the same (or
    /// `[time, channels, w, h]` for transforms that swap axes).
    ///
    /// # Panics
    /// If `stats` has another number of bands than the patch.
    pub fn prepare(&self, mut patch: ScenePatch, stats: &NormStats, sample: Sample) -> PatchItem {
        let [t, c, h, w] = patch.shape();
        assert_eq!(
            stats.bands.len(),
            c,
            "statistics for {} bands, patch has {c}",
            stats.bands.len()
        );
        let plane = h * w;
        if let Some(j) = &self.jitter {
            let draw = j.draw(sample.jitter_seed, t, c);
            for (k, chunk) in patch.image.chunks_exact_mut(plane).enumerate() {
                let g = draw.gain[k];
                chunk.iter_mut().for_each(|v| *v *= g);
            }
            stats.apply(&mut patch.image, plane);
            for (k, chunk) in patch.image.chunks_exact_mut(plane).enumerate() {
                let o = draw.offset[k];
                chunk.iter_mut().for_each(|v| *v += o);
            }
        } else {
            stats.apply(&mut patch.image, plane);
        }
        if self.zero_nodata {
            for ti in 0..t {
                let q = &patch.quality[ti * plane..(ti + 1) * plane];
                if q.iter().all(|&x| x == QUALITY_CLEAR) {
                    continue;
                }
                for ci in 0..c {
                    let band = &mut patch.image[(ti * c + ci) * plane..(ti * c + ci + 1) * plane];
                    for (v, &qq) in band.iter_mut().zip(q) {
                        if qq == QUALITY_NODATA {
                            *v = 0.0;
                        }
                    }
                }
            }
        }
        patch.apply_label_policy(self.label_policy);
        patch.transform(sample.transform);
        PatchItem {
            shape: patch.shape(),
            image: patch.image,
            labels: patch.labels,
            quality: patch.quality,
            sample,
        }
    }
}

impl Dataset<PatchItem> for PatchDataset {
    fn get(&self, index: usize) -> std::result::Result<PatchItem, DatasetError> {
        assert!(
            index < self.samples.len(),
            "index {index} >= {}",
            self.samples.len()
        );
        self.item(index).map_err(DatasetError::new)
    }

    fn len(&self) -> usize {
        self.samples.len()
    }
}

/// A batch of patches on a device.
#[derive(Clone, Debug)]
pub struct PatchBatch {
    /// Normalized images, `[batch, time, channels, height, width]`, f32.
    pub images: Tensor<5>,
    /// Class ids per date, `[batch, time, height, width]`; [`crate::IGNORE_INDEX`] (255)
    /// where ignored.
    pub labels: Tensor<4, Int>,
    /// Whether each pixel of each date is clear (not masked, not nodata),
    /// `[batch, time, height, width]`.
    pub valid: Tensor<4, Bool>,
    /// The samples, in batch order.
    pub samples: Vec<Sample>,
}

/// Stacks [`PatchItem`]s into a [`PatchBatch`] on the given device.
#[derive(Clone, Copy, Debug, Default)]
pub struct PatchBatcher;

impl PatchBatcher {
    /// A batcher.
    pub fn new() -> Self {
        Self
    }
}

impl Batcher<PatchItem, PatchBatch> for PatchBatcher {
    /// # Panics
    /// If `items` is empty or the items have different shapes.
    fn batch(&self, items: Vec<PatchItem>, device: &Device) -> PatchBatch {
        assert!(!items.is_empty(), "cannot batch zero items");
        let shape = items[0].shape;
        let [t, c, h, w] = shape;
        let n = items.len();
        let mut img = Vec::with_capacity(n * t * c * h * w);
        let mut lab = Vec::with_capacity(n * t * h * w);
        let mut valid = Vec::with_capacity(n * t * h * w);
        let mut samples = Vec::with_capacity(n);
        for it in items {
            assert_eq!(
                it.shape, shape,
                "items of one batch must share [time, channels, h, w]"
            );
            img.extend_from_slice(&it.image);
            lab.extend(it.labels.iter().map(|&l| l as i64));
            valid.extend(it.quality.iter().map(|&q| q == QUALITY_CLEAR));
            samples.push(it.sample);
        }
        PatchBatch {
            images: Tensor::from_data(TensorData::new(img, [n, t, c, h, w]), device),
            labels: Tensor::from_data(TensorData::new(lab, [n, t, h, w]), device),
            valid: Tensor::from_data(TensorData::new(valid, [n, t, h, w]), device),
            samples,
        }
    }
}
