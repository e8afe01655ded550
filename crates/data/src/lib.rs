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
//! - [`write_world`] writes the synthetic Saint-Louis world (also `chronomap synth`).
//!
//! # Features
//! - ☐ `testing`: the `testkit` module, tiny test scenes (GeoTIFF series, a 64 x 64
//!   synthetic world) for this and other crates' tests.

mod augment;
mod coverage;
mod dataset;
mod date;
mod discover;
mod error;
mod manifest;
mod mask;
mod normalize;
mod patch;
mod rng;
mod sampler;
mod series;
mod synth;
#[cfg(any(test, feature = "testing"))]
pub mod testkit;

pub use augment::{Dihedral, JitterDraw, RadiometricJitter};
pub use coverage::{CoverageMap, WindowStats};
pub use dataset::{
    PatchBatch, PatchBatcher, PatchConfig, PatchDataset, PatchItem, Sample, make_samples,
};
pub use date::Date;
pub use error::{Error, GridMismatch, ManifestProblem, Result};
pub use manifest::{DateEntry, LabelEntry, MANIFEST_VERSION, Manifest, MaskEntry};
pub use mask::{IGNORE_INDEX, LabelPolicy, QUALITY_CLEAR, QUALITY_MASKED, QUALITY_NODATA};
pub use normalize::{BandStats, NormMethod, NormStats, StatsConfig};
pub use patch::ScenePatch;
pub use sampler::{
    AreaSplit, SamplerConfig, Split, SplitBlock, disjoint_windows, grid_windows, random_windows,
    sample_grid, sample_windows,
};
pub use series::{SceneDate, SceneSeries};
pub use synth::{
    SYNTH_BANDS, SYNTH_CENTRE, SYNTH_CLASSES, SYNTH_EPSG, SynthConfig, SynthDate, SynthSummary,
    SynthYear, synth_class_table, write_world,
};
