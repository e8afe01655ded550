//! From a [`SceneSeries`] to training and validation [`BatchSource`](crate::BatchSource)s:
//! normalization statistics, an area-disjoint split, fixed-length date sequences.

use std::sync::Arc;

use chronomap_data::{AreaSplit, NormStats, SceneSeries, Split, StatsConfig};
use serde::{Deserialize, Serialize};

use crate::checkpoint::ModelCard;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::series_batches::{PatchSetConfig, SeriesBatches, fixed_length_sequences};

/// How to cut a series into training and validation data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPlan {
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Patches per batch.
    pub batch_size: usize,
    /// Random training windows per epoch (each used with every training sequence).
    pub windows_per_epoch: usize,
    /// Dates per sequence (`None`: the number of dates of the shortest year, capped at 6).
    pub sequence_length: Option<usize>,
    /// Dates that may be used for training (`None`: all); the others are held out.
    pub train_dates: Option<Vec<usize>>,
    /// Fraction of the area held out for validation (blocks of `block` pixels).
    pub validation_fraction: f64,
    /// Side of the split blocks in pixels.
    pub block: usize,
    /// Radiometric jitter on training patches.
    pub jitter: bool,
    /// Class-balanced sampling strength (`None`: uniform windows).
    pub class_balance: Option<f32>,
    /// Seed of the split and the samplers.
    pub seed: u64,
}

impl DataPlan {
    /// Defaults for a patch and batch size.
    pub fn new(patch_size: usize, batch_size: usize) -> Self {
        Self {
            patch_size,
            batch_size,
            windows_per_epoch: 64,
            sequence_length: None,
            train_dates: None,
            validation_fraction: 0.2,
            block: (patch_size * 2).max(128),
            jitter: true,
            class_balance: Some(0.5),
            seed: 7,
        }
    }
}

/// Everything [`Trainer::fit`](crate::Trainer::fit) needs from a series.
#[derive(Debug)]
pub struct PreparedData {
    /// The series.
    pub series: Arc<SceneSeries>,
    /// Normalization statistics (computed from the series).
    pub stats: NormStats,
    /// The area split.
    pub split: AreaSplit,
    /// The training date sequences.
    pub sequences: Vec<Vec<usize>>,
    /// Training batches (training blocks, random windows, augmented).
    pub train: SeriesBatches,
    /// Validation batches (validation blocks, disjoint windows), if the split has any.
    pub valid: Option<SeriesBatches>,
    /// Share of each class among the labelled training pixels, when known (for
    /// [`balanced_class_weights`](crate::balanced_class_weights)).
    pub class_frequencies: Option<Vec<f64>>,
}

/// Prepares training and validation batches from `series` according to `plan`.
///
/// # Errors
/// [`Error::InvalidConfig`] when no sequence of the requested length exists (naming the series)
/// or the patch does not fit; data errors reading the series.
pub fn prepare_data(
    series: Arc<SceneSeries>,
    plan: &DataPlan,
    stats: Option<NormStats>,
) -> Result<PreparedData> {
    let allowed = |d: &usize| plan.train_dates.as_ref().is_none_or(|t| t.contains(d));
    let groups: Vec<Vec<usize>> = series
        .sequences_by_year()
        .into_iter()
        .map(|g| g.into_iter().filter(allowed).collect::<Vec<_>>())
        .filter(|g| !g.is_empty())
        .collect();
    let shortest = groups.iter().map(Vec::len).min().unwrap_or(0);
    let len = plan.sequence_length.unwrap_or(shortest.min(6));
    let sequences = fixed_length_sequences(&groups, len);
    if sequences.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "{} has no run of {len} training dates within one year (dates per year: {:?})",
            series.source().display(),
            groups.iter().map(Vec::len).collect::<Vec<_>>()
        )));
    }
    let stats = match stats {
        Some(s) => s,
        None => NormStats::compute(
            &series,
            &StatsConfig {
                seed: plan.seed,
                ..StatsConfig::default()
            },
        )?,
    };
    let split = AreaSplit::new(
        series.width(),
        series.height(),
        plan.block,
        plan.validation_fraction,
        plan.seed,
    )?;
    let mut tc = PatchSetConfig::training(plan.patch_size, plan.batch_size, sequences.clone());
    tc.windows_per_epoch = plan.windows_per_epoch;
    tc.seed = plan.seed;
    tc.class_balance = plan.class_balance;
    if !plan.jitter {
        tc.jitter = None;
    }
    let train = SeriesBatches::random(
        series.clone(),
        stats.clone(),
        split.regions(Split::Train),
        tc,
    )?;
    let val_regions = split.regions(Split::Validation);
    let valid = if val_regions
        .iter()
        .any(|r| r.width >= plan.patch_size && r.height >= plan.patch_size)
    {
        let vc = PatchSetConfig::validation(plan.patch_size, plan.batch_size, sequences.clone());
        Some(SeriesBatches::grid(
            series.clone(),
            stats.clone(),
            val_regions,
            vc,
        )?)
    } else {
        None
    };
    let class_frequencies = train.class_frequencies();
    Ok(PreparedData {
        series,
        stats,
        split,
        sequences,
        train,
        valid,
        class_frequencies,
    })
}

/// The [`ModelCard`] of a model trained on `data` with `config`.
pub fn model_card(data: &PreparedData, config: &TrainConfig) -> ModelCard {
    let k = config.model.num_classes;
    let mut classes = data.series.classes().to_vec();
    classes.truncate(k);
    while classes.len() < k {
        classes.push(format!("class {}", classes.len()));
    }
    ModelCard {
        format: 1,
        model: config.model.clone(),
        bands: data.series.bands().to_vec(),
        classes,
        normalization: data.stats.clone(),
        patch_size: config.patch_size,
        weights_hash: String::new(),
        notes: serde_json::Value::Null,
    }
}
