//! Satellite image time series for chronomap: scene series, normalization, patch sampling,
//! augmentation, masks, Burn datasets, and a synthetic Saint-Louis world.
//!
//! # Overview
//! - [`SceneSeries`] opens the co-registered GeoTIFFs of one area (from a [`Manifest`] or a
//!   folder), checks they share one grid, and reads windows of `[time, channels, h, w]`
//!   pixels, per-date quality (nodata / cloud) and labels, decoding only the tiles touched.
//! - [`NormStats`] holds robust per-band statistics (sampled with bounded memory), saved as
//!   JSON and applied identically at training and inference.
//! - Samplers cut `patch x patch` windows: [`grid_windows`], [`random_windows`],
//!   [`sample_windows`] (skips cloudy / nodata / unlabelled windows using a [`CoverageMap`],
//!   optional class balancing) inside the blocks of an [`AreaSplit`] (train / validation
//!   split by area).
//! - [`Dihedral`] (8 flips / rotations, applied to every date, label and mask alike) and
//!   [`RadiometricJitter`] augment patches.
//! - [`PatchDataset`] (a Burn `Dataset`) and [`PatchBatcher`] (a Burn `Batcher`) yield
//!   [`PatchBatch`]es: images `[batch, time, channels, height, width]` (normalized f32),
//!   labels `[batch, time, height, width]` (int, [`IGNORE_INDEX`] = 255 where ignored).
//! - [`TrainingData`] wires it all for the usual case: statistics, area split, coverage,
//!   a fresh random training [`PatchDataset`] per epoch and a fixed validation one.
//! - [`write_world`] writes the synthetic Saint-Louis world (also `chronomap synth`).
//!
//! # Example
//! ```
//! # let dir = tempfile::tempdir()?;
//! use std::sync::Arc;
//! use burn::data::dataloader::DataLoaderBuilder;
//! use burn::prelude::Device;
//! use chronomap_data::{PatchBatcher, SceneSeries, SynthConfig, TrainingConfig, TrainingData, write_world};
//! // A small synthetic world: 64 x 64 pixels, 2 years x 3 dates.
//! let world = SynthConfig { size: 64, dates_per_year: 3, ..SynthConfig::new(1) };
//! let summary = write_world(&world, dir.path(), &mut |_, _, _| {})?;
//! let series = Arc::new(SceneSeries::open(&summary.manifest)?);
//! let config = TrainingConfig { patch_size: 32, patches_per_epoch: 4, ..TrainingConfig::default() };
//! let data = TrainingData::prepare(series, config)?;
//! let loader = DataLoaderBuilder::new(PatchBatcher)
//!     .batch_size(2)
//!     .set_device(Device::flex())
//!     .build(data.train_dataset(0)?);
//! for batch in loader.iter() {
//!     let batch = batch?;
//!     // [batch, time, channels, height, width] and [batch, time, height, width]
//!     assert_eq!(batch.images.dims(), [2, 3, 4, 32, 32]);
//!     assert_eq!(batch.labels.dims(), [2, 3, 32, 32]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//! - ☐ `testing`: the `testkit` module, tiny test scenes (GeoTIFF series, a 64 x 64
//!   synthetic world) for this and other crates' tests.

mod augment;
mod collection;
mod coverage;
mod dataset;
mod date;
mod discover;
mod error;
mod manifest;
mod mask;
mod normalize;
mod patch;
pub mod products;
mod rng;
mod sampler;
mod series;
mod shard;
mod synth;
#[cfg(any(test, feature = "testing"))]
pub mod testkit;
mod training;

pub use augment::{Dihedral, JitterDraw, RadiometricJitter};
pub use collection::{
    COLLECTION_VERSION, Collection, CollectionEntry, CollectionFile, OpenedEntry, canonical_band,
};
pub use coverage::{CoverageMap, WindowStats};
pub use dataset::{
    PatchBatch, PatchBatcher, PatchConfig, PatchDataset, PatchItem, Sample, make_samples,
};
pub use date::Date;
pub use error::{Error, GridMismatch, ManifestProblem, ProductProblem, Result};
pub use manifest::{DateEntry, LabelEntry, MANIFEST_VERSION, Manifest, MaskEntry};
pub use mask::{IGNORE_INDEX, LabelPolicy, QUALITY_CLEAR, QUALITY_MASKED, QUALITY_NODATA};
pub use normalize::{BandStats, NormMethod, NormStats, StatsConfig};
pub use patch::ScenePatch;
pub use sampler::{
    AreaSplit, SamplerConfig, Split, SplitBlock, disjoint_windows, grid_windows, random_windows,
    sample_grid, sample_windows,
};
pub use series::{DEFAULT_TILE_CACHE_PER_DATE, SceneDate, SceneSeries};
pub use shard::{SHARD_ENV, Shard};
pub use synth::{
    SYNTH_BANDS, SYNTH_CENTRE, SYNTH_CITIES, SYNTH_CLASSES, SYNTH_EPSG, SynthConfig, SynthDate,
    SynthSite, SynthSummary, SynthYear, synth_cities, synth_class_table, write_collection,
    write_world,
};
pub use training::{DateSequences, TrainingConfig, TrainingData};
