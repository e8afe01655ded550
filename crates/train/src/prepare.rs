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
    /// What a user should know about the data plan: a validation block size shrunk to fit
    /// the scene, or why there is no validation at all and what to change. Empty when the
    /// plan was used as given. The CLI and the example print these.
    pub notes: Vec<String>,
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
    let (w, h) = (series.width(), series.height());
    let mut notes = Vec::new();
    let block = validation_block(w, h, plan, &mut notes);
    let split = AreaSplit::new(w, h, block, plan.validation_fraction, plan.seed)?;
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
        if plan.validation_fraction > 0.0 && notes.is_empty() {
            notes.push(format!(
                "no validation: no held-out block of {} is at least one {p} x {p} patch",
                series.source().display(),
                p = plan.patch_size
            ));
        }
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
        notes,
        class_frequencies,
    })
}

/// Blocks of side `b` along an axis of `len` pixels (as [`AreaSplit`] cuts them).
fn blocks_along(len: usize, b: usize) -> usize {
    (len / b).max(1)
}

/// The split block side for a `width x height` scene: `plan.block` when the scene holds
/// enough blocks of that size for the validation fraction (at least `1 / fraction`, so the
/// held-out share is close to the one asked for, and never fewer than 2), else the largest
/// side in `patch_size..plan.block` that does, else the largest one giving 2 blocks. Every
/// block stays at least one patch wide, so validation windows fit in it. When even blocks of
/// one patch cannot make two blocks, validation is impossible: a note says so and what to
/// change.
pub(crate) fn validation_block(
    width: usize,
    height: usize,
    plan: &DataPlan,
    notes: &mut Vec<String>,
) -> usize {
    let frac = plan.validation_fraction;
    let patch = plan.patch_size.max(1);
    let asked = plan.block.max(patch);
    if frac <= 0.0 {
        return asked;
    }
    let count = |b: usize| blocks_along(width, b) * blocks_along(height, b);
    let wanted = ((1.0 / frac).ceil() as usize).max(2);
    if count(asked) >= wanted {
        return asked;
    }
    let pick = (patch..=asked)
        .rev()
        .find(|&b| count(b) >= wanted)
        .or_else(|| (patch..=asked).rev().find(|&b| count(b) >= 2));
    match pick {
        Some(b) => {
            notes.push(format!(
                "validation blocks of {b} px instead of {} px: a {width} x {height} scene holds \
                 only {} block(s) of {} px, too few to hold out {:.0}% of the area",
                plan.block,
                count(asked),
                asked,
                frac * 100.0
            ));
            b
        }
        None => {
            let fits = (width.min(height) / 2).max(1);
            notes.push(format!(
                "no validation: a {width} x {height} scene cannot hold two disjoint blocks of \
                 at least one {patch} x {patch} patch; use patches of at most {fits} px \
                 (--patch), or --val-fraction 0 to train without validation on purpose"
            ));
            asked
        }
    }
}

/// The [`ModelCard`] of a model trained on `data` with `config`.
pub fn model_card(data: &PreparedData, config: &TrainConfig) -> ModelCard {
    card_for(
        data.series.bands(),
        data.series.classes(),
        &data.stats,
        config,
    )
}

/// The [`ModelCard`] for `bands`, `classes` (padded or cut to the model's class count) and
/// normalization `stats`.
pub(crate) fn card_for(
    bands: &[String],
    classes: &[String],
    stats: &NormStats,
    config: &TrainConfig,
) -> ModelCard {
    let k = config.model.num_classes;
    let mut classes = classes.to_vec();
    classes.truncate(k);
    while classes.len() < k {
        classes.push(format!("class {}", classes.len()));
    }
    ModelCard {
        format: 1,
        model: config.model.clone(),
        bands: bands.to_vec(),
        classes,
        normalization: stats.clone(),
        patch_size: config.patch_size,
        weights_hash: String::new(),
        notes: serde_json::Value::Null,
    }
}

/// A training patch side for a `width x height` scene: `preferred` when it fits, else the
/// largest multiple of `multiple` (the network's `2^depth`) that does, with a note saying so.
/// With `validation` the patch must leave room for two disjoint blocks of at least one
/// patch along the scene's shorter side (so a held-out area exists); otherwise it must only
/// fit in the scene.
///
/// # Errors
/// [`Error::InvalidConfig`] when not even one `multiple`-sized patch fits (a scene smaller
/// than `multiple` pixels along a side).
///
/// # Examples
/// ```
/// use chronomap_train::patch_size_for;
/// // The 61 x 61 Landsat series of issue 10: 64 px patches do not fit, 16 px ones do
/// // (61 / 2 = 30, rounded down to a multiple of 16).
/// let (p, note) = patch_size_for(61, 61, 64, 16, true)?;
/// assert_eq!(p, 16);
/// assert!(note.unwrap().contains("61 x 61"));
/// assert_eq!(patch_size_for(1024, 1024, 256, 16, true)?, (256, None));
/// assert!(patch_size_for(12, 40, 64, 16, false).is_err());
/// # Ok::<(), chronomap_train::Error>(())
/// ```
pub fn patch_size_for(
    width: usize,
    height: usize,
    preferred: usize,
    multiple: usize,
    validation: bool,
) -> Result<(usize, Option<String>)> {
    let multiple = multiple.max(1);
    let side = width.min(height);
    let limit = if validation { side / 2 } else { side };
    if preferred <= limit {
        return Ok((preferred, None));
    }
    let fit = if limit >= multiple {
        limit / multiple * multiple
    } else if side >= multiple {
        side / multiple * multiple
    } else {
        return Err(Error::InvalidConfig(format!(
            "a {width} x {height} scene is smaller than one {multiple} x {multiple} patch"
        )));
    };
    let why = if fit <= limit {
        ""
    } else {
        " (too small for a held-out area at any patch size)"
    };
    Ok((
        fit,
        Some(format!(
            "patches of {fit} px instead of {preferred} px to fit a {width} x {height} scene{why}"
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 61 x 61 series of issue 10, by hand: with 16 px patches and 128 px blocks there is
    /// one block (61 / 128 -> 1), too few for a 25% hold-out (at least 1 / 0.25 = 4 blocks);
    /// the largest side giving 4 blocks is 30 (61 / 30 = 2 per axis). With 32 px patches no
    /// side of at least 32 gives two blocks (61 / 32 = 1), so there is no validation.
    #[test]
    fn validation_blocks_are_sized_to_small_scenes() {
        let mut plan = DataPlan::new(16, 4);
        plan.block = 128;
        plan.validation_fraction = 0.25;
        let mut notes = Vec::new();
        assert_eq!(validation_block(61, 61, &plan, &mut notes), 30);
        assert!(
            notes[0].starts_with("validation blocks of 30 px instead of 128 px"),
            "{notes:?}"
        );
        assert!(!notes[0].contains("  "), "{notes:?}");
        plan.patch_size = 32;
        let mut notes = Vec::new();
        validation_block(61, 61, &plan, &mut notes);
        assert!(notes[0].starts_with("no validation"), "{notes:?}");
        assert!(notes[0].contains("at most 30 px"), "{notes:?}");
        // a scene large enough keeps the plan's block, without a note
        let mut notes = Vec::new();
        assert_eq!(validation_block(1024, 1024, &plan, &mut notes), 128);
        assert!(notes.is_empty());
    }
}
