//! Training on a [`Collection`] of scene series (cities, tiles): one normalization over all
//! series, patches drawn across series by a documented rule, held-out series, area blocks
//! and dates, and a record of what was drawn.
//!
//! # The draw rule
//! Each epoch draws [`DataPlan::windows_per_epoch`] random windows in all, shared among the
//! training series by [`DrawRule`]: in proportion to each series' labelled clear training
//! area (pixels of its training blocks x the share of their pixel-dates that are clear and
//! labelled; the default), or the same number per series. Every series gets at least one
//! window. Each window is used with every training sequence of its series, and the samples
//! of all series are shuffled together, so a batch mixes cities. Which series, window,
//! dates and transform every sample came from is on record ([`CollectionBatches::drawn`]).
//!
//! # Holding out
//! - whole series ([`CollectionPlan::held_out_series`]): never sampled, scored at the end
//!   (held-out cities);
//! - area blocks inside each training series ([`DataPlan::validation_fraction`],
//!   [`DataPlan::block`]): the validation batches;
//! - dates ([`DateHoldOut`]): e.g. the last acquisition of every year of every series.
//!
//! All three come from [`DataPlan::seed`] and are written into the run's
//! [`TrainConfig::data`](crate::TrainConfig::data) by [`PreparedCollection::record`].
//! Series without labels are prediction-only: never sampled, noted.

use std::sync::{Arc, Mutex};

use chronomap_data::{AreaSplit, Collection, NormStats, Sample, Split, StatsConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::batch::{BatchSource, HostBatch};
use crate::error::{Error, Result};
use crate::prepare::{DataPlan, validation_block};
use crate::series_batches::{PatchSetConfig, SeriesBatches, padded_sequences};

/// How training windows are shared among the series of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawRule {
    /// In proportion to each series' labelled clear training area (default).
    #[default]
    LabelledArea,
    /// The same number of windows for every series.
    Uniform,
}

/// Which dates of every series are held out of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateHoldOut {
    /// Every date may be used for training.
    #[default]
    None,
    /// The last acquisition of every year of every series.
    LastOfEachYear,
}

/// How to train on a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionPlan {
    /// Patches, batches, windows per epoch (for the whole collection), sequence length,
    /// validation blocks, augmentation and seed, as for one series
    /// ([`DataPlan::train_dates`] is ignored: use `held_out_dates`). Sequence length `None`:
    /// the longest run every training series has within a year (at most 6); `Some(len)`: a
    /// year of a series with fewer (but at least 2) training dates gives one sequence padded
    /// with its last date, whose padded steps are not scored
    /// ([`padded_sequences`](crate::padded_sequences)).
    pub data: DataPlan,
    /// Names of the series held out entirely (never sampled).
    pub held_out_series: Vec<String>,
    /// Dates held out in every series.
    pub held_out_dates: DateHoldOut,
    /// How windows are shared among series.
    pub draw: DrawRule,
}

impl CollectionPlan {
    /// A plan with `data` and nothing held out but the validation blocks.
    pub fn new(data: DataPlan) -> Self {
        Self {
            data,
            held_out_series: Vec::new(),
            held_out_dates: DateHoldOut::None,
            draw: DrawRule::LabelledArea,
        }
    }
}

/// What the plan made of one series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPart {
    /// The series' name in the collection.
    pub name: String,
    /// Its position in the collection.
    pub index: usize,
    /// How it is used: `"train"`, `"held_out"` (a held-out series), `"predict_only"` (no
    /// labels) or `"too_short"` (no run of the sequence length within a year).
    pub role: String,
    /// Train / validation blocks of the series (all training for held-out series).
    #[serde(skip)]
    pub split: AreaSplit,
    /// Side of the split blocks, pixels.
    pub block: usize,
    /// Dates that may be trained on.
    pub train_dates: Vec<usize>,
    /// Dates held out ([`DateHoldOut`]).
    pub held_out_dates: Vec<usize>,
    /// Training sequences (empty unless `role` is `"train"`).
    pub sequences: Vec<Vec<usize>>,
    /// Windows per epoch the draw rule allots to the series.
    pub windows_per_epoch: usize,
    /// Labelled clear training area, pixels.
    pub usable_pixels: f64,
}

/// Everything [`Trainer::fit`](crate::Trainer::fit) needs from a collection.
#[derive(Debug)]
pub struct PreparedCollection {
    /// The collection.
    pub collection: Collection,
    /// Normalization statistics over every training series.
    pub stats: NormStats,
    /// One entry per series of the collection, in order.
    pub parts: Vec<SeriesPart>,
    /// Dates per sequence (the same in every series: batches stack them).
    pub sequence_length: usize,
    /// Training batches, drawn across series.
    pub train: CollectionBatches,
    /// Validation batches (the validation blocks of every training series), if any.
    pub valid: Option<CollectionBatches>,
    /// Share of each class among the labelled training pixels of the collection.
    pub class_frequencies: Option<Vec<f64>>,
    /// What a user should know (skipped series, shrunk blocks).
    pub notes: Vec<String>,
    /// The plan.
    pub plan: CollectionPlan,
}

impl PreparedCollection {
    /// The record of the data plan for [`TrainConfig::data`](crate::TrainConfig::data):
    /// the collection file, the plan, every series' role, dates, sequences, windows and
    /// validation blocks (as `[col, row, width, height]`).
    pub fn record(&self) -> serde_json::Value {
        let parts: Vec<serde_json::Value> = self
            .parts
            .iter()
            .map(|p| {
                let blocks: Vec<[usize; 4]> = p
                    .split
                    .regions(Split::Validation)
                    .iter()
                    .map(|w| [w.col, w.row, w.width, w.height])
                    .collect();
                json!({
                    "name": p.name, "role": p.role, "train_dates": p.train_dates,
                    "held_out_dates": p.held_out_dates, "sequences": p.sequences.len(),
                    "windows_per_epoch": p.windows_per_epoch,
                    "block": p.block, "validation_blocks": blocks,
                })
            })
            .collect();
        json!({
            "collection": self.collection.source(),
            "plan": self.plan,
            "sequence_length": self.sequence_length,
            "series": parts,
        })
    }

    /// The [`ModelCard`](crate::ModelCard) of a model trained on this collection.
    pub fn model_card(&self, config: &crate::TrainConfig) -> crate::ModelCard {
        crate::prepare::card_for(
            self.collection.bands(),
            self.collection.classes(),
            &self.stats,
            config,
        )
    }

    /// Positions of the series used for training.
    pub fn training_series(&self) -> Vec<usize> {
        self.parts
            .iter()
            .filter(|p| p.role == "train")
            .map(|p| p.index)
            .collect()
    }
}

/// Prepares training and validation batches over a collection.
///
/// # Errors
/// [`Error::InvalidConfig`] for an unknown held-out name, when every series is held out,
/// unlabelled or too short for the sequence length; data errors reading the series.
pub fn prepare_collection(
    collection: &Collection,
    plan: &CollectionPlan,
    stats: Option<NormStats>,
) -> Result<PreparedCollection> {
    let p = &plan.data;
    let held = collection
        .positions(&plan.held_out_series)
        .map_err(|e| Error::InvalidConfig(e.to_string()))?;
    let mut notes = Vec::new();
    // Dates per series, then one sequence length for all.
    // (training dates, held-out dates, training dates grouped by year) per series
    type SeriesDates = (Vec<usize>, Vec<usize>, Vec<Vec<usize>>);
    let mut dates: Vec<SeriesDates> = Vec::new();
    for s in collection.series() {
        let groups = s.sequences_by_year();
        let held_dates: Vec<usize> = match plan.held_out_dates {
            DateHoldOut::None => Vec::new(),
            DateHoldOut::LastOfEachYear => {
                groups.iter().filter_map(|g| g.last().copied()).collect()
            }
        };
        let train: Vec<usize> = (0..s.len()).filter(|d| !held_dates.contains(d)).collect();
        let groups: Vec<Vec<usize>> = groups
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .filter(|d| train.contains(d))
                    .collect::<Vec<_>>()
            })
            .filter(|g| !g.is_empty())
            .collect();
        dates.push((train, held_dates, groups));
    }
    let labelled = |i: usize| !collection.series()[i].label_files().is_empty();
    let candidates: Vec<usize> = (0..collection.len())
        .filter(|i| !held.contains(i) && labelled(*i))
        .collect();
    let shortest = candidates
        .iter()
        .flat_map(|&i| dates[i].2.iter().map(Vec::len).max())
        .min()
        .unwrap_or(0);
    let len = p.sequence_length.unwrap_or(shortest.min(6));
    let mut parts = Vec::with_capacity(collection.len());
    for (i, s) in collection.series().iter().enumerate() {
        let (train_dates, held_dates, groups) = dates[i].clone();
        // A given length pads shorter years (at least 2 dates) instead of dropping them.
        let min_len = if p.sequence_length.is_some() { 2 } else { len };
        let sequences = padded_sequences(&groups, len, min_len);
        let role = if held.contains(&i) {
            "held_out"
        } else if !labelled(i) {
            notes.push(format!(
                "series {:?} has no labels: prediction only",
                collection.entries()[i].name
            ));
            "predict_only"
        } else if sequences.is_empty() {
            notes.push(format!(
                "series {:?} has no run of {len} training dates within one year (dates per \
                 year: {:?}): not trained on",
                collection.entries()[i].name,
                groups.iter().map(Vec::len).collect::<Vec<_>>()
            ));
            "too_short"
        } else {
            "train"
        };
        let (w, h) = (s.width(), s.height());
        let (split, block) = if role == "train" {
            let mut n = Vec::new();
            let block = validation_block(w, h, p, &mut n);
            notes.extend(
                n.into_iter()
                    .map(|m| format!("{}: {m}", collection.entries()[i].name)),
            );
            (
                AreaSplit::new(
                    w,
                    h,
                    block,
                    p.validation_fraction,
                    p.seed.wrapping_add(i as u64),
                )?,
                block,
            )
        } else {
            (AreaSplit::all_train(w, h), w.max(h))
        };
        parts.push(SeriesPart {
            name: collection.entries()[i].name.clone(),
            index: i,
            role: role.into(),
            split,
            block,
            train_dates,
            held_out_dates: held_dates,
            sequences: if role == "train" {
                sequences
            } else {
                Vec::new()
            },
            windows_per_epoch: 0,
            usable_pixels: 0.0,
        });
    }
    let training: Vec<usize> = parts
        .iter()
        .filter(|q| q.role == "train")
        .map(|q| q.index)
        .collect();
    if training.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "{}: no series to train on (held out: {:?}; {})",
            collection.source().display(),
            plan.held_out_series,
            notes.join("; ")
        )));
    }
    let stats = match stats {
        Some(s) => s,
        None => {
            let list: Vec<&chronomap_data::SceneSeries> =
                training.iter().map(|&i| &*collection.series()[i]).collect();
            NormStats::compute_collection(
                &list,
                &StatsConfig {
                    seed: p.seed,
                    ..StatsConfig::default()
                },
            )?
        }
    };
    // Training sets, then the draw rule's share of windows.
    let provisional = (p.windows_per_epoch / training.len()).max(1);
    let mut train_sets = Vec::with_capacity(training.len());
    for &i in &training {
        let part = &parts[i];
        let mut tc = PatchSetConfig::training(p.patch_size, p.batch_size, part.sequences.clone());
        tc.windows_per_epoch = provisional;
        tc.seed = p.seed.wrapping_add(1 + i as u64);
        tc.class_balance = p.class_balance;
        if !p.jitter {
            tc.jitter = None;
        }
        let sb = SeriesBatches::random(
            collection.series()[i].clone(),
            stats.clone(),
            part.split.regions(Split::Train),
            tc,
        )?;
        train_sets.push((i, sb));
    }
    let weights: Vec<f64> = train_sets
        .iter()
        .map(|(_, sb)| match plan.draw {
            DrawRule::LabelledArea => sb.usable_pixels(),
            DrawRule::Uniform => 1.0,
        })
        .collect();
    let shares = allot(p.windows_per_epoch, &weights);
    let mut class_acc: Option<Vec<f64>> = None;
    for ((i, sb), n) in train_sets.iter_mut().zip(&shares) {
        sb.set_windows_per_epoch(*n);
        parts[*i].windows_per_epoch = *n;
        let usable = sb.usable_pixels();
        parts[*i].usable_pixels = usable;
        if let Some(f) = sb.class_frequencies() {
            let acc = class_acc.get_or_insert_with(|| vec![0.0; f.len()]);
            for (a, v) in acc.iter_mut().zip(f) {
                *a += v * usable;
            }
        }
    }
    let class_frequencies = class_acc.and_then(|a| {
        let t: f64 = a.iter().sum();
        (t > 0.0).then(|| a.iter().map(|v| v / t).collect())
    });
    let mut valid_sets = Vec::new();
    for &i in &training {
        let part = &parts[i];
        let regions = part.split.regions(Split::Validation);
        if !regions
            .iter()
            .any(|r| r.width >= p.patch_size && r.height >= p.patch_size)
        {
            continue;
        }
        let vc = PatchSetConfig::validation(p.patch_size, p.batch_size, part.sequences.clone());
        valid_sets.push((
            i,
            SeriesBatches::grid(collection.series()[i].clone(), stats.clone(), regions, vc)?,
        ));
    }
    let valid = (!valid_sets.is_empty())
        .then(|| CollectionBatches::new(valid_sets, p.batch_size, p.seed, true));
    Ok(PreparedCollection {
        collection: collection.clone(),
        stats,
        parts,
        sequence_length: len,
        train: CollectionBatches::new(train_sets, p.batch_size, p.seed, false),
        valid,
        class_frequencies,
        notes,
        plan: plan.clone(),
    })
}

/// `total` windows shared in proportion to `weights` (largest remainders), at least one each.
fn allot(total: usize, weights: &[f64]) -> Vec<usize> {
    let n = weights.len();
    let sum: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
    if n == 0 {
        return Vec::new();
    }
    if sum <= 0.0 {
        return vec![(total / n).max(1); n];
    }
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| {
            if w.is_finite() && *w > 0.0 {
                total as f64 * w / sum
            } else {
                0.0
            }
        })
        .collect();
    let mut out: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = total.saturating_sub(out.iter().sum());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for &i in &order {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    for o in &mut out {
        *o = (*o).max(1);
    }
    out
}

/// Batches drawn across the series of a collection: the samples of every series' own
/// [`SeriesBatches`] for the epoch, shuffled together (training) or in order (validation).
pub struct CollectionBatches {
    sets: Vec<(usize, SeriesBatches)>,
    batch_size: usize,
    seed: u64,
    fixed: bool,
    current: Mutex<Option<(usize, Drawn)>>,
}

/// An epoch's order of samples: (index into `sets`, sample index in that set), shuffled.
type Drawn = Arc<Vec<(usize, usize)>>;

impl std::fmt::Debug for CollectionBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionBatches")
            .field("series", &self.sets.iter().map(|s| s.0).collect::<Vec<_>>())
            .field("batch_size", &self.batch_size)
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}

impl CollectionBatches {
    /// Batches over `sets` (series position in the collection, its batches).
    pub fn new(
        sets: Vec<(usize, SeriesBatches)>,
        batch_size: usize,
        seed: u64,
        fixed: bool,
    ) -> Self {
        Self {
            sets,
            batch_size: batch_size.max(1),
            seed,
            fixed,
            current: Mutex::new(None),
        }
    }

    /// Positions (in the collection) of the series these batches draw from.
    pub fn series(&self) -> Vec<usize> {
        self.sets.iter().map(|s| s.0).collect()
    }

    fn order(&self, epoch: usize) -> Result<Drawn> {
        let key = if self.fixed { 0 } else { epoch };
        let mut cur = self
            .current
            .lock()
            .map_err(|_| Error::InvalidConfig("poisoned batch cache".into()))?;
        if let Some((e, o)) = cur.as_ref()
            && *e == key
        {
            return Ok(o.clone());
        }
        let mut all = Vec::new();
        for (k, (_, sb)) in self.sets.iter().enumerate() {
            for j in 0..sb.num_samples(key)? {
                all.push((k, j));
            }
        }
        if !self.fixed {
            let mut s = self.seed ^ 0xC011_EC71 ^ (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for i in (1..all.len()).rev() {
                s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                let j = (((z as u128) * (i as u128 + 1)) >> 64) as usize;
                all.swap(i, j);
            }
        }
        let o = Arc::new(all);
        *cur = Some((key, o.clone()));
        Ok(o)
    }

    /// The sampler's record of `epoch`, in batch order: the collection position of the
    /// series each sample was drawn from, and the sample (window, dates, transform).
    ///
    /// # Errors
    /// As [`SeriesBatches::samples`].
    pub fn drawn(&self, epoch: usize) -> Result<Vec<(usize, Sample)>> {
        let order = self.order(epoch)?;
        let samples: Vec<Vec<Sample>> = self
            .sets
            .iter()
            .map(|(_, sb)| sb.samples(epoch))
            .collect::<Result<_>>()?;
        Ok(order
            .iter()
            .map(|&(k, j)| (self.sets[k].0, samples[k][j].clone()))
            .collect())
    }
}

impl BatchSource for CollectionBatches {
    fn num_batches(&self) -> usize {
        self.order(0)
            .map_or(0, |o| o.len())
            .div_ceil(self.batch_size)
    }

    fn batch(&self, epoch: usize, index: usize) -> Result<HostBatch> {
        let order = self.order(epoch)?;
        let bs = self.batch_size;
        let idx = order
            .get(index * bs..((index + 1) * bs).min(order.len()))
            .ok_or_else(|| Error::InvalidConfig(format!("batch {index} past the epoch's end")))?;
        HostBatch::stack(
            idx.len(),
            idx.iter().map(|&(k, j)| self.sets[k].1.item(epoch, j)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::allot;

    /// By hand: 10 windows for weights 3:1 -> 7.5 and 2.5 -> floors 7 + 2, the one left goes
    /// to the larger remainder (a tie: the first); a zero weight still gets one window.
    #[test]
    fn windows_are_allotted_by_largest_remainder() {
        assert_eq!(allot(10, &[3.0, 1.0]), [8, 2]);
        assert_eq!(allot(10, &[1.0, 1.0, 1.0]), [4, 3, 3]);
        assert_eq!(allot(4, &[1.0, 0.0]), [4, 1]);
        assert_eq!(allot(6, &[0.0, 0.0]), [3, 3]);
    }
}

/// Scores of one date of one series: per-date and fused maps on the same pixels.
#[derive(Debug, Clone)]
pub struct DateScore {
    /// Date index in the series.
    pub date: usize,
    /// `YYYY-MM-DD`.
    pub date_name: String,
    /// Position of the date in the run of dates the network went through (0: the first date,
    /// where the ConvLSTM has no history).
    pub position: usize,
    /// Whether the date was held out of training.
    pub held_out_date: bool,
    /// Confusion of the per-date (U-Net alone) map.
    pub per_date: crate::ConfusionMatrix,
    /// Confusion of the fused (ConvLSTM) map.
    pub fused: crate::ConfusionMatrix,
}

/// The scores of one series of a collection.
#[derive(Debug, Clone)]
pub struct SeriesScores {
    /// The series' name.
    pub name: String,
    /// Whether the whole series was held out of training.
    pub held_out_series: bool,
    /// One entry per scored date.
    pub dates: Vec<DateScore>,
}

impl SeriesScores {
    /// Empty scores for the series `name`.
    pub fn new(name: impl Into<String>, held_out_series: bool) -> Self {
        Self {
            name: name.into(),
            held_out_series,
            dates: Vec::new(),
        }
    }

    /// Scores the maps of one prediction run over `run` (date indices of `series`, in the
    /// order the network saw them; `files` as [`predict_scene`](crate::predict_scene) returns
    /// them) against the series' labels over `regions`, counting only pixels clear at each
    /// date ([`confusion_on_date`](crate::confusion_on_date)). Dates in `held_out_dates` are
    /// marked as such.
    ///
    /// # Errors
    /// Read errors of the maps or the series; [`Error::InvalidConfig`] when a date of `run`
    /// has no per-date or no fused map in `files`.
    pub fn add_run(
        &mut self,
        series: &chronomap_data::SceneSeries,
        run: &[usize],
        files: &[crate::MapFile],
        regions: &[chronomap_geo::Window],
        held_out_dates: &[usize],
        num_classes: usize,
    ) -> Result<()> {
        for (position, &d) in run.iter().enumerate() {
            let name = series.dates()[d].date.to_string();
            let find = |kind: &str| {
                files
                    .iter()
                    .find(|f| f.kind == kind && f.date == name)
                    .map(|f| f.classes.clone())
                    .ok_or_else(|| {
                        Error::InvalidConfig(format!(
                            "no {kind} map of {name} for series {:?}",
                            self.name
                        ))
                    })
            };
            let per_date =
                crate::confusion_on_date(&find("date")?, series, d, regions, num_classes)?;
            let fused = crate::confusion_on_date(&find("fused")?, series, d, regions, num_classes)?;
            self.dates.push(DateScore {
                date: d,
                date_name: name,
                position,
                held_out_date: held_out_dates.contains(&d),
                per_date,
                fused,
            });
        }
        Ok(())
    }

    /// Pixel-pooled per-date and fused metrics over the dates `keep` accepts.
    pub fn pooled(
        &self,
        keep: impl Fn(&DateScore) -> bool,
    ) -> Option<(crate::SegmentationMetrics, crate::SegmentationMetrics)> {
        let mut it = self.dates.iter().filter(|d| keep(d));
        let first = it.next()?;
        let (mut a, mut b) = (first.per_date.clone(), first.fused.clone());
        for d in it {
            a.merge(&d.per_date);
            b.merge(&d.fused);
        }
        Some((a.metrics(), b.metrics()))
    }

    /// Pixel-pooled per-date and fused mIoU over the dates `keep` accepts.
    pub fn miou(&self, keep: impl Fn(&DateScore) -> bool) -> MiouPair {
        match self.pooled(keep) {
            Some((a, b)) => MiouPair {
                per_date: a.miou,
                fused: b.miou,
                pixels: a.num_pixels,
            },
            None => MiouPair::default(),
        }
    }
}

/// Per-series and overall scores of a collection.
#[derive(Debug, Clone, Default)]
pub struct CollectionScores {
    /// One entry per scored series.
    pub series: Vec<SeriesScores>,
}

/// A pair of per-date / fused mIoU values and the pixels behind them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct MiouPair {
    /// mIoU of the per-date maps.
    pub per_date: Option<f64>,
    /// mIoU of the fused maps.
    pub fused: Option<f64>,
    /// Pixels scored (per map kind).
    pub pixels: u64,
}

impl MiouPair {
    /// Fused minus per-date mIoU, when both are defined.
    pub fn gain(&self) -> Option<f64> {
        Some(self.fused? - self.per_date?)
    }
}

impl CollectionScores {
    fn select<'a>(
        &'a self,
        series: &'a dyn Fn(&SeriesScores) -> bool,
        dates: &'a dyn Fn(&DateScore) -> bool,
    ) -> impl Iterator<Item = &'a DateScore> + 'a {
        self.series
            .iter()
            .filter(move |s| series(s))
            .flat_map(move |s| s.dates.iter().filter(move |d| dates(d)))
    }

    /// Pixel-pooled mIoU over the selected series and dates (every pixel of every series
    /// counts once: large series weigh more).
    pub fn pooled(
        &self,
        series: &dyn Fn(&SeriesScores) -> bool,
        dates: &dyn Fn(&DateScore) -> bool,
    ) -> MiouPair {
        let mut it = self.select(series, dates);
        let Some(first) = it.next() else {
            return MiouPair::default();
        };
        let (mut a, mut b) = (first.per_date.clone(), first.fused.clone());
        for d in it {
            a.merge(&d.per_date);
            b.merge(&d.fused);
        }
        let (a, b) = (a.metrics(), b.metrics());
        MiouPair {
            per_date: a.miou,
            fused: b.miou,
            pixels: a.num_pixels,
        }
    }

    /// Mean over the selected series of each series' pooled mIoU (every series counts the
    /// same); series without a scored pixel are left out.
    pub fn mean_over_series(
        &self,
        series: &dyn Fn(&SeriesScores) -> bool,
        dates: &dyn Fn(&DateScore) -> bool,
    ) -> MiouPair {
        let (mut a, mut b, mut n, mut px) = (0.0, 0.0, 0usize, 0u64);
        for s in self.series.iter().filter(|s| series(s)) {
            let m = s.miou(dates);
            if let (Some(x), Some(y)) = (m.per_date, m.fused) {
                a += x;
                b += y;
                n += 1;
                px += m.pixels;
            }
        }
        MiouPair {
            per_date: (n > 0).then(|| a / n as f64),
            fused: (n > 0).then(|| b / n as f64),
            pixels: px,
        }
    }

    /// Pixel-pooled mIoU by date position (0 = first date of a run) over the selected series
    /// and dates, for every position that occurs.
    pub fn by_position(
        &self,
        series: &dyn Fn(&SeriesScores) -> bool,
        dates: &dyn Fn(&DateScore) -> bool,
    ) -> Vec<(usize, MiouPair)> {
        let max = self.select(series, dates).map(|d| d.position).max();
        let Some(max) = max else {
            return Vec::new();
        };
        (0..=max)
            .map(|p| {
                let at = move |d: &DateScore| dates(d) && d.position == p;
                (p, self.pooled(series, &at))
            })
            .filter(|(_, m)| m.pixels > 0)
            .collect()
    }

    /// One CSV row per series and date: `series, held_out_series, date, position,
    /// held_out_date, pixels, per_date_miou, fused_miou, per_date_oa, fused_oa` (with a
    /// header; empty cells where a metric is undefined).
    pub fn to_csv(&self) -> String {
        let mut csv = String::from(
            "series,held_out_series,date,position,held_out_date,pixels,per_date_miou,\
             fused_miou,per_date_oa,fused_oa\n",
        );
        let f = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        for s in &self.series {
            for d in &s.dates {
                let (a, b) = (d.per_date.metrics(), d.fused.metrics());
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{}\n",
                    s.name,
                    s.held_out_series,
                    d.date_name,
                    d.position,
                    d.held_out_date,
                    a.num_pixels,
                    f(a.miou),
                    f(b.miou),
                    f(a.overall_accuracy),
                    f(b.overall_accuracy)
                ));
            }
        }
        csv
    }

    /// The scores as JSON: per series (pooled, by date with per-class metrics and
    /// confusion matrices), and for the collection (pixel-pooled and mean over series, each
    /// named as such, and by date position), for all series, held-out series and training
    /// series.
    pub fn to_json(&self) -> serde_json::Value {
        let all_dates = |_: &DateScore| true;
        let series: Vec<serde_json::Value> = self
            .series
            .iter()
            .map(|s| {
                let (pd, fu) = s
                    .pooled(all_dates)
                    .map(|(a, b)| (json!(a), json!(b)))
                    .unwrap_or_default();
                json!({
                    "name": s.name, "held_out_series": s.held_out_series,
                    "per_date": pd, "fused": fu,
                    "by_date": s.dates.iter().map(|d| json!({
                        "date": d.date_name, "position": d.position, "held_out_date": d.held_out_date,
                        "per_date": d.per_date.metrics(), "fused": d.fused.metrics(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let group = |pick: &dyn Fn(&SeriesScores) -> bool| {
            json!({
                "pixel_pooled": self.pooled(pick, &all_dates),
                "mean_over_series": self.mean_over_series(pick, &all_dates),
                "by_date_position": self.by_position(pick, &all_dates).into_iter()
                    .map(|(p, m)| json!({"position": p, "per_date": m.per_date, "fused": m.fused, "pixels": m.pixels}))
                    .collect::<Vec<_>>(),
            })
        };
        json!({
            "series": series,
            "all_series": group(&|_| true),
            "held_out_series": group(&|s| s.held_out_series),
            "training_series": group(&|s| !s.held_out_series),
        })
    }
}
