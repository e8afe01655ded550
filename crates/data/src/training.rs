//! [`TrainingData`]: the usual way to get training and validation datasets from one scene
//! series in a few lines (statistics, area split, coverage, samplers, date sequences).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::augment::RadiometricJitter;
use crate::coverage::CoverageMap;
use crate::dataset::{PatchConfig, PatchDataset, make_samples};
use crate::error::{Error, Result};
use crate::mask::LabelPolicy;
use crate::normalize::{NormStats, StatsConfig};
use crate::rng::hash4;
use crate::sampler::{AreaSplit, SamplerConfig, Split, disjoint_windows, sample_windows};
use crate::series::SceneSeries;

/// Which dates make up one training sequence (the time axis of a sample).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateSequences {
    /// One sequence per calendar year, all its dates (years must have equally many dates).
    ByYear,
    /// Every run of `len` consecutive dates of a year, starting every `stride` dates.
    Sliding {
        /// Dates per sequence.
        len: usize,
        /// Step between starts.
        stride: usize,
    },
    /// Explicit date-index sequences (all of one length).
    Explicit(Vec<Vec<usize>>),
}

impl DateSequences {
    /// The sequences for `series`.
    ///
    /// # Errors
    /// [`Error::SequenceLength`] when sequences differ in length; [`Error::DateOutOfRange`]
    /// for an explicit index past the series; [`Error::InvalidArgument`] for a zero length
    /// or stride, or when no year has `len` dates.
    pub fn resolve(&self, series: &SceneSeries) -> Result<Vec<Vec<usize>>> {
        let seqs = match self {
            DateSequences::ByYear => series.sequences_by_year(),
            DateSequences::Sliding { len, stride } => {
                if *len == 0 || *stride == 0 {
                    return Err(Error::invalid("len/stride", 0.0, "positive numbers"));
                }
                let mut out = Vec::new();
                for year in series.sequences_by_year() {
                    let mut s = 0;
                    while s + len <= year.len() {
                        out.push(year[s..s + len].to_vec());
                        s += stride;
                    }
                }
                if out.is_empty() {
                    return Err(Error::invalid(
                        "len",
                        *len as f64,
                        "at most the dates of a year",
                    ));
                }
                out
            }
            DateSequences::Explicit(v) => v.clone(),
        };
        if let Some(first) = seqs.first() {
            for (i, s) in seqs.iter().enumerate() {
                if s.len() != first.len() {
                    return Err(Error::SequenceLength {
                        index: i,
                        expected: first.len(),
                        found: s.len(),
                    });
                }
                if let Some(&d) = s.iter().find(|&&d| d >= series.len()) {
                    return Err(Error::DateOutOfRange {
                        index: d,
                        dates: series.len(),
                    });
                }
            }
        }
        Ok(seqs)
    }
}

/// Options of [`TrainingData::prepare`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingConfig {
    /// Patch side in pixels (default 512).
    pub patch_size: usize,
    /// Side of the split blocks (default `2 * patch_size`); each block goes wholly to
    /// training or validation.
    pub block_size: Option<usize>,
    /// Share of blocks held out for validation (default 0.2; 0 with a single block).
    pub validation_fraction: f64,
    /// Random training patches per epoch (default 256); each is combined with every date
    /// sequence.
    pub patches_per_epoch: usize,
    /// Skip windows with fewer usable (valid and labelled) pixel-dates (default 0.5).
    pub min_usable_fraction: f32,
    /// Class-balanced sampling strength (default `None`: uniform).
    pub class_balance: Option<f32>,
    /// Number of classes (default: the manifest's `classes`, else 5).
    pub num_classes: Option<usize>,
    /// Date sequences (default one per year).
    pub sequences: DateSequences,
    /// Which pixels are ignored in the labels.
    pub label_policy: LabelPolicy,
    /// Radiometric jitter of training patches (default on, [`RadiometricJitter::default`]).
    pub jitter: Option<RadiometricJitter>,
    /// Dihedral augmentation of training patches (default on).
    pub augment: bool,
    /// Coverage cell size in pixels (default 32).
    pub coverage_cell: usize,
    /// Seed of the split, the windows and the augmentation.
    pub seed: u64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            patch_size: 512,
            block_size: None,
            validation_fraction: 0.2,
            patches_per_epoch: 256,
            min_usable_fraction: 0.5,
            class_balance: None,
            num_classes: None,
            sequences: DateSequences::ByYear,
            label_policy: LabelPolicy::default(),
            jitter: Some(RadiometricJitter::default()),
            augment: true,
            coverage_cell: 32,
            seed: 0,
        }
    }
}

/// A scene series made ready for training: statistics, an area split, a coverage map and
/// the date sequences; hands out a fresh training [`PatchDataset`] per epoch and a fixed
/// validation one.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let manifest = chronomap_data::testkit::tiny_series(dir.path(), 64, 3, 0)?;
/// use std::sync::Arc;
/// use burn::data::dataset::Dataset;
/// use chronomap_data::{SceneSeries, TrainingConfig, TrainingData};
/// let series = Arc::new(SceneSeries::open(&manifest)?);
/// let config = TrainingConfig { patch_size: 16, patches_per_epoch: 8, ..TrainingConfig::default() };
/// let data = TrainingData::prepare(series, config)?;
/// let train = data.train_dataset(0)?; // 8 random patches x 1 yearly sequence
/// let valid = data.valid_dataset()?; // disjoint 16 x 16 windows of the held-out blocks
/// assert_eq!(train.len(), 8);
/// assert!(valid.len() > 0);
/// data.stats().save(dir.path().join("norm.json"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TrainingData {
    series: Arc<SceneSeries>,
    stats: NormStats,
    split: AreaSplit,
    coverage: CoverageMap,
    sequences: Vec<Vec<usize>>,
    config: TrainingConfig,
}

impl TrainingData {
    /// Computes the normalization statistics, splits the scene into blocks, and scans the
    /// coverage (one pass over the dates' quality and labels, in strips).
    ///
    /// # Errors
    /// Read errors of the series; [`Error::PatchTooLarge`] when the scene is smaller than a
    /// patch; configuration errors as [`AreaSplit::new`] and [`DateSequences::resolve`].
    pub fn prepare(series: Arc<SceneSeries>, config: TrainingConfig) -> Result<Self> {
        let stats = NormStats::compute(
            &series,
            &StatsConfig {
                seed: config.seed,
                ..StatsConfig::default()
            },
        )?;
        Self::with_stats(series, stats, config)
    }

    /// As [`TrainingData::prepare`] with given statistics (e.g. loaded from a checkpoint to
    /// resume or fine-tune).
    ///
    /// # Errors
    /// As [`TrainingData::prepare`], plus [`Error::StatsBands`].
    pub fn with_stats(
        series: Arc<SceneSeries>,
        stats: NormStats,
        config: TrainingConfig,
    ) -> Result<Self> {
        stats.check_bands(series.bands())?;
        let (w, h) = (series.width(), series.height());
        let p = config.patch_size;
        if p == 0 || p > w || p > h {
            return Err(Error::PatchTooLarge {
                patch: [p, p],
                region: [h, w],
            });
        }
        let block = config.block_size.unwrap_or(2 * p).max(p);
        let split = AreaSplit::new(w, h, block, config.validation_fraction, config.seed)?;
        let sequences = config.sequences.resolve(&series)?;
        let mut dates: Vec<usize> = sequences.iter().flatten().copied().collect();
        dates.sort_unstable();
        dates.dedup();
        let classes = config.num_classes.unwrap_or(match series.classes().len() {
            0 => 5,
            n => n,
        });
        let coverage = CoverageMap::compute(
            &series,
            &dates,
            config.coverage_cell,
            classes,
            config.label_policy,
        )?;
        Ok(Self {
            series,
            stats,
            split,
            coverage,
            sequences,
            config,
        })
    }

    /// The series.
    pub fn series(&self) -> &Arc<SceneSeries> {
        &self.series
    }

    /// The normalization statistics (save them with the model).
    pub fn stats(&self) -> &NormStats {
        &self.stats
    }

    /// The area split.
    pub fn split(&self) -> &AreaSplit {
        &self.split
    }

    /// The coverage map.
    pub fn coverage(&self) -> &CoverageMap {
        &self.coverage
    }

    /// The date sequences.
    pub fn sequences(&self) -> &[Vec<usize>] {
        &self.sequences
    }

    /// The configuration.
    pub fn config(&self) -> &TrainingConfig {
        &self.config
    }

    /// Training samples of `epoch`: `patches_per_epoch` random windows inside the training
    /// blocks (usable fraction and class balance applied), each with every date sequence,
    /// with transforms and jitter seeds drawn from the seed and the epoch.
    ///
    /// # Errors
    /// [`Error::PatchTooLarge`] when no training block holds a patch;
    /// [`Error::NoUsableWindow`].
    pub fn train_dataset(&self, epoch: u64) -> Result<PatchDataset> {
        let c = &self.config;
        let seed = hash4(c.seed, epoch, 0x7EA1, 0);
        let sampler = SamplerConfig {
            patch_size: c.patch_size,
            min_usable_fraction: c.min_usable_fraction,
            class_balance: c.class_balance,
            ..SamplerConfig::default()
        };
        let regions = self.split.regions(Split::Train);
        let windows = sample_windows(
            &self.coverage,
            &regions,
            c.patches_per_epoch,
            &sampler,
            seed,
        )?;
        let samples = make_samples(&windows, &self.sequences, c.augment, seed);
        let config = PatchConfig {
            label_policy: c.label_policy,
            jitter: c.jitter,
            zero_nodata: true,
        };
        PatchDataset::new(self.series.clone(), self.stats.clone(), samples, config)
    }

    /// Validation samples: non-overlapping patch windows tiling each validation block
    /// (none counted twice), those below the usable fraction dropped, each with every date
    /// sequence; no augmentation, no jitter. Empty when no block is held out.
    ///
    /// # Errors
    /// As [`PatchDataset::new`].
    pub fn valid_dataset(&self) -> Result<PatchDataset> {
        let c = &self.config;
        let mut windows = Vec::new();
        for region in self.split.regions(Split::Validation) {
            for w in disjoint_windows(region, c.patch_size)? {
                if self.coverage.window_stats(w).usable_fraction >= c.min_usable_fraction {
                    windows.push(w);
                }
            }
        }
        let samples = make_samples(&windows, &self.sequences, false, c.seed);
        let config = PatchConfig {
            label_policy: c.label_policy,
            jitter: None,
            zero_nodata: true,
        };
        PatchDataset::new(self.series.clone(), self.stats.clone(), samples, config)
    }
}
