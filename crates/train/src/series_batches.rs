//! [`BatchSource`]s over patches of a [`SceneSeries`]: fresh random windows (and augmentations)
//! every epoch for training, a fixed grid of disjoint windows for validation.

use std::sync::{Arc, Mutex};

use chronomap_data::{
    CoverageMap, LabelPolicy, NormStats, PatchConfig, PatchDataset, RadiometricJitter, Sample,
    SamplerConfig, SceneSeries, disjoint_windows, make_samples, random_windows, sample_windows,
};
use chronomap_geo::Window;
use serde::{Deserialize, Serialize};

use crate::batch::{BatchSource, HostBatch};
use crate::error::{Error, Result};

/// How [`SeriesBatches`] cuts and batches patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchSetConfig {
    /// Side of the square patches (a multiple of the model's `2^depth`).
    pub patch_size: usize,
    /// Patches (sequences) per batch.
    pub batch_size: usize,
    /// Windows drawn per epoch (random sets); each is used with every sequence.
    pub windows_per_epoch: usize,
    /// Date sequences (indices into the series, chronological, all of one length).
    pub sequences: Vec<Vec<usize>>,
    /// The 8 flips/rotations, drawn per sample (training).
    pub augment: bool,
    /// Per-date radiometric jitter (training).
    pub jitter: Option<RadiometricJitter>,
    /// Skip windows with a smaller fraction of usable (clear and labelled) pixel-dates.
    pub min_usable_fraction: f32,
    /// Class-balanced window sampling strength (`None`: uniform).
    pub class_balance: Option<f32>,
    /// Which pixels get the ignore label.
    pub label_policy: LabelPolicy,
    /// Seed of windows, augmentations, jitter and batch order.
    pub seed: u64,
}

impl PatchSetConfig {
    /// Training defaults for `patch_size` x `batch_size` over `sequences`.
    pub fn training(patch_size: usize, batch_size: usize, sequences: Vec<Vec<usize>>) -> Self {
        Self {
            patch_size,
            batch_size,
            windows_per_epoch: 64,
            sequences,
            augment: true,
            jitter: Some(RadiometricJitter::default()),
            min_usable_fraction: 0.3,
            class_balance: Some(0.5),
            label_policy: LabelPolicy::default(),
            seed: 7,
        }
    }

    /// Validation defaults: no augmentation or jitter.
    pub fn validation(patch_size: usize, batch_size: usize, sequences: Vec<Vec<usize>>) -> Self {
        Self {
            augment: false,
            jitter: None,
            class_balance: None,
            min_usable_fraction: 0.0,
            ..Self::training(patch_size, batch_size, sequences)
        }
    }
}

/// Every contiguous run of `len` dates within each of `groups` (e.g. the dates of each year):
/// fixed-length training sequences. Groups shorter than `len` are skipped.
///
/// # Examples
/// ```
/// use chronomap_train::fixed_length_sequences;
/// let s = fixed_length_sequences(&[vec![0, 1, 2, 3], vec![4, 5]], 3);
/// assert_eq!(s, vec![vec![0, 1, 2], vec![1, 2, 3]]);
/// ```
pub fn fixed_length_sequences(groups: &[Vec<usize>], len: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for g in groups {
        if len == 0 || g.len() < len {
            continue;
        }
        for s in 0..=g.len() - len {
            out.push(g[s..s + len].to_vec());
        }
    }
    out
}

/// Like [`fixed_length_sequences`], but a group shorter than `len` that still has
/// `min_len` dates gives one sequence of all its dates padded with its last date (a repeated
/// date is padding: its labels are ignored, see
/// [`PatchDataset::item`](chronomap_data::PatchDataset::item)). So series with few dates a
/// year still train alongside series with many, at one batch length. Batch normalization
/// in training mode does see the repeated frames.
///
/// # Examples
/// ```
/// use chronomap_train::padded_sequences;
/// let s = padded_sequences(&[vec![0, 1, 2, 3], vec![4, 5], vec![6]], 3, 2);
/// assert_eq!(s, vec![vec![0, 1, 2], vec![1, 2, 3], vec![4, 5, 5]]);
/// ```
pub fn padded_sequences(groups: &[Vec<usize>], len: usize, min_len: usize) -> Vec<Vec<usize>> {
    let mut out = fixed_length_sequences(groups, len);
    for g in groups {
        if g.len() < len && g.len() >= min_len.max(1) {
            let mut s = g.clone();
            let last = *g.last().expect("non-empty");
            s.resize(len, last);
            out.push(s);
        }
    }
    out
}

fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fisher-Yates shuffle of `0..n` seeded by `seed`.
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = mix(s, i as u64);
        let j = (((s as u128) * (i as u128 + 1)) >> 64) as usize;
        v.swap(i, j);
    }
    v
}

struct Epoch {
    epoch: usize,
    dataset: PatchDataset,
    order: Vec<usize>,
}

/// Patches of a [`SceneSeries`] as a deterministic [`BatchSource`].
pub struct SeriesBatches {
    base: PatchDataset,
    regions: Vec<Window>,
    coverage: Option<Arc<CoverageMap>>,
    config: PatchSetConfig,
    fixed: bool,
    current: Mutex<Option<Arc<Epoch>>>,
}

impl std::fmt::Debug for SeriesBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesBatches")
            .field("regions", &self.regions)
            .field("config", &self.config)
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}

impl SeriesBatches {
    /// Training batches: `windows_per_epoch` random windows inside `regions` per epoch (drawn
    /// again every epoch from `seed` and the epoch), each with every sequence, augmented as
    /// configured, in a seeded random order.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for empty sequences or sequences of different lengths; data
    /// errors (windows that do not fit, no usable window, unreadable files).
    pub fn random(
        series: Arc<SceneSeries>,
        stats: NormStats,
        regions: Vec<Window>,
        config: PatchSetConfig,
    ) -> Result<Self> {
        let base = Self::base(&series, stats, &config)?;
        let needs_coverage = config.min_usable_fraction > 0.0 || config.class_balance.is_some();
        let coverage = if needs_coverage {
            let mut dates: Vec<usize> = config.sequences.iter().flatten().copied().collect();
            dates.sort_unstable();
            dates.dedup();
            let cell = (config.patch_size / 4).max(8);
            let k = series.classes().len().max(1);
            Some(Arc::new(CoverageMap::compute(
                &series,
                &dates,
                cell,
                k,
                config.label_policy,
            )?))
        } else {
            None
        };
        let me = Self {
            base,
            regions,
            coverage,
            config,
            fixed: false,
            current: Mutex::new(None),
        };
        me.epoch(0)?; // fail early on unusable regions
        Ok(me)
    }

    /// Evaluation batches: the disjoint `patch_size` windows of a grid over each region (no
    /// pixel counted twice), each with every sequence, no augmentation, the same every epoch.
    ///
    /// # Errors
    /// As [`SeriesBatches::random`]; [`Error::InvalidConfig`] if no region holds a patch.
    pub fn grid(
        series: Arc<SceneSeries>,
        stats: NormStats,
        regions: Vec<Window>,
        config: PatchSetConfig,
    ) -> Result<Self> {
        let base = Self::base(&series, stats, &config)?;
        let me = Self {
            base,
            regions,
            coverage: None,
            config,
            fixed: true,
            current: Mutex::new(None),
        };
        if me.epoch(0)?.order.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "no {}-pixel patch fits in the evaluation regions {:?}",
                me.config.patch_size, me.regions
            )));
        }
        Ok(me)
    }

    fn base(
        series: &Arc<SceneSeries>,
        stats: NormStats,
        config: &PatchSetConfig,
    ) -> Result<PatchDataset> {
        let Some(first) = config.sequences.first() else {
            return Err(Error::InvalidConfig(
                "no date sequence to train or evaluate on".into(),
            ));
        };
        if first.is_empty() || config.sequences.iter().any(|s| s.len() != first.len()) {
            return Err(Error::InvalidConfig(format!(
                "date sequences must be non-empty and of one length, got {:?}",
                config.sequences
            )));
        }
        if config.batch_size == 0 || config.patch_size == 0 {
            return Err(Error::InvalidConfig(
                "batch and patch sizes must be positive".into(),
            ));
        }
        let pc = PatchConfig {
            label_policy: config.label_policy,
            jitter: config.jitter,
            zero_nodata: true,
        };
        Ok(PatchDataset::new(series.clone(), stats, Vec::new(), pc)?)
    }

    /// The configuration.
    pub fn config(&self) -> &PatchSetConfig {
        &self.config
    }

    /// Share of each class among the usable (labelled, clear) pixel-dates of the regions,
    /// from the coverage map (random sets with a usable-fraction filter or class balancing);
    /// `None` when no coverage map was computed or no pixel is labelled.
    pub fn class_frequencies(&self) -> Option<Vec<f64>> {
        let cov = self.coverage.as_ref()?;
        let mut acc = vec![0f64; cov.num_classes()];
        for r in &self.regions {
            let st = cov.window_stats(*r);
            for (a, f) in acc.iter_mut().zip(&st.class_fractions) {
                *a += *f as f64 * r.area() as f64;
            }
        }
        let total: f64 = acc.iter().sum();
        (total > 0.0).then(|| acc.iter().map(|a| a / total).collect())
    }

    /// Changes the number of random windows drawn per epoch (training sets; what a
    /// collection's draw rule allots to this series). Drops the cached epoch.
    pub fn set_windows_per_epoch(&mut self, windows: usize) {
        self.config.windows_per_epoch = windows;
        if let Ok(mut cur) = self.current.lock() {
            *cur = None;
        }
    }

    /// Labelled clear area of the regions in pixels (area x usable fraction of the
    /// pixel-dates, from the coverage map); the regions' area when no coverage map was
    /// computed.
    pub fn usable_pixels(&self) -> f64 {
        match &self.coverage {
            Some(cov) => self
                .regions
                .iter()
                .map(|r| cov.window_stats(*r).usable_fraction as f64 * r.area() as f64)
                .sum(),
            None => self.regions.iter().map(|r| r.area() as f64).sum(),
        }
    }

    /// Number of samples (patches) of `epoch`.
    ///
    /// # Errors
    /// As [`SeriesBatches::random`].
    pub fn num_samples(&self, epoch: usize) -> Result<usize> {
        Ok(self.epoch(epoch)?.order.len())
    }

    /// The `position`-th sample of `epoch` in batch order, read and normalized:
    /// `image` `[time, channels, height, width]`, `labels` `[time, height, width]`.
    ///
    /// # Errors
    /// As [`SeriesBatches::random`]; [`Error::InvalidConfig`] for a position past the end.
    pub fn item(&self, epoch: usize, position: usize) -> Result<chronomap_data::PatchItem> {
        let e = self.epoch(epoch)?;
        let j = *e.order.get(position).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "sample {position} of an epoch of {} samples",
                e.order.len()
            ))
        })?;
        Ok(e.dataset.item(j)?)
    }

    /// The samples of `epoch` (windows x sequences, with their transforms), in batch order.
    ///
    /// # Errors
    /// As [`SeriesBatches::random`].
    pub fn samples(&self, epoch: usize) -> Result<Vec<Sample>> {
        let e = self.epoch(epoch)?;
        Ok(e.order
            .iter()
            .map(|&i| e.dataset.samples()[i].clone())
            .collect())
    }

    fn epoch(&self, epoch: usize) -> Result<Arc<Epoch>> {
        let key = if self.fixed { 0 } else { epoch };
        let mut cur = self
            .current
            .lock()
            .map_err(|_| Error::InvalidConfig("poisoned batch cache".into()))?;
        if let Some(e) = cur.as_ref()
            && e.epoch == key
        {
            return Ok(e.clone());
        }
        let c = &self.config;
        let seed = mix(c.seed, key as u64 + 1);
        let windows: Vec<Window> = if self.fixed {
            let mut w = Vec::new();
            for r in &self.regions {
                if r.width >= c.patch_size && r.height >= c.patch_size {
                    w.extend(disjoint_windows(*r, c.patch_size)?);
                }
            }
            w
        } else if let Some(cov) = &self.coverage {
            let sc = SamplerConfig {
                patch_size: c.patch_size,
                min_usable_fraction: c.min_usable_fraction,
                class_balance: c.class_balance,
                ..SamplerConfig::default()
            };
            sample_windows(cov, &self.regions, c.windows_per_epoch, &sc, seed)?
        } else {
            random_windows(&self.regions, c.patch_size, c.windows_per_epoch, seed)?
        };
        let samples = make_samples(&windows, &c.sequences, c.augment, seed);
        let n = samples.len();
        let dataset = self.base.with_samples(samples)?;
        let order = if self.fixed {
            (0..n).collect()
        } else {
            permutation(n, mix(seed, 0x5eed))
        };
        let e = Arc::new(Epoch {
            epoch: key,
            dataset,
            order,
        });
        *cur = Some(e.clone());
        Ok(e)
    }
}

impl BatchSource for SeriesBatches {
    fn num_batches(&self) -> usize {
        let n = match self.epoch(0) {
            Ok(e) => e.order.len(),
            Err(_) => 0,
        };
        n.div_ceil(self.config.batch_size)
    }

    fn batch(&self, epoch: usize, index: usize) -> Result<HostBatch> {
        let e = self.epoch(epoch)?;
        let bs = self.config.batch_size;
        let idx = &e.order[index * bs..((index + 1) * bs).min(e.order.len())];
        HostBatch::stack(
            idx.len(),
            idx.iter().map(|&j| e.dataset.item(j).map_err(Error::from)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_permutation_and_seeded() {
        let p = permutation(50, 3);
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_eq!(p, permutation(50, 3));
        assert_ne!(p, permutation(50, 4));
    }
}
