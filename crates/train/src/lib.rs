//! # chronomap-train
//!
//! Training and inference for chronomap's spatio-temporal network (per-date U-Net -> Pmap ->
//! ConvLSTM): losses, metrics, staged and resumable training, checkpoints, whole-scene maps
//! with bounded memory, streaming updates from a stored ConvLSTM state, and change maps.
//!
//! # Overview
//! - **Data to batches**: [`prepare_data`] turns a `chronomap_data::SceneSeries` into
//!   normalization statistics, an area-disjoint train/validation split and deterministic
//!   [`BatchSource`]s ([`SeriesBatches`]: fresh random windows and augmentations per epoch).
//! - **Training**: [`Trainer::fit`] runs a [`TrainConfig`] (stages [`Stage::Unet`],
//!   [`Stage::Temporal`] on frozen Pmaps, [`Stage::Joint`]; Adam/AdamW; per-iteration
//!   [`LrSchedule`]) with [`LossConfig`] ([`masked_cross_entropy`] skipping label 255 on fused
//!   logits at every date + a weighted per-date term). Every epoch it validates
//!   ([`ConfusionMatrix`] -> [`SegmentationMetrics`]: per-class IoU, macro mIoU, F1, OA,
//!   kappa), writes `metrics.csv`/`metrics.json`/`curves.png`, an atomic checkpoint and the
//!   best model (a [`ModelCard`] + weights); an [`Interrupt`] (Ctrl-C) stops it cleanly and
//!   [`StartMode::Resume`] continues exactly where it stopped.
//! - **Maps**: [`predict_scene`] covers any scene with a [`WindowPlan`] (overlapping windows,
//!   smooth blending weights summing to 1 at every pixel), runs each window date by date and
//!   streams per-date and fused class/probability GeoTIFFs on the input grid;
//!   [`update_scene`] folds new dates into a stored per-window state ([`SceneState`]) and gives
//!   exactly the maps of a whole-series prediction. [`change_map`] turns two class maps into
//!   from->to codes and areas in hectares; [`evaluate_map`] scores a map against labels.
//! - **Pictures and reports**: PNG quicklooks of maps ([`class_map_png`], [`change_quicklook`],
//!   [`rgb_png`]), learning curves ([`History::render`], drawn with `plotters` and a font
//!   bundled with the crate), confusion-matrix pictures ([`confusion_png`]) and
//!   self-contained HTML reports ([`Report`]: tables, images, a slider over dates).
//!
//! The library never picks a device: callers pass a Burn `&Device` (training derives its
//! autodiff device from it).
//!
//! # Example
//! ```
//! use chronomap_train::{ConfusionMatrix, WindowPlan};
//! // Scores over a whole evaluation set: rows are labels, columns predictions; 255 is skipped.
//! let mut cm = ConfusionMatrix::new(3);
//! cm.update_u8(&[0, 1, 2, 2, 255], &[0, 1, 2, 1, 0]);
//! let m = cm.metrics();
//! assert_eq!(m.overall_accuracy, Some(0.75));
//! // Windows over a 10980 x 10980 Sentinel-2 tile for a depth-4 U-Net.
//! let plan = WindowPlan::new([10_980, 10_980], 512, 64, 16);
//! assert_eq!(plan.grid(), [25, 25]);
//! ```
//!
//! # Features
//! This crate has no optional features.

mod atomic;
mod batch;
mod change;
mod chart;
mod checkpoint;
mod collection;
mod config;
mod confusion;
mod error;
mod history;
mod infer;
mod interrupt;
mod loss;
mod maps;
mod metrics;
mod parallel;
mod plot;
mod predict;
mod prepare;
mod presets;
mod quicklook;
mod report;
mod schedule;
mod series_batches;
mod state;
mod trainer;
mod window;

pub use atomic::{read_json, write_atomic, write_json_atomic};
pub use batch::{BatchSource, HostBatch, InMemoryBatches};
pub use change::{
    TransitionArea, TransitionCounts, area_table_csv, change_code, decode_change, pixel_area_m2,
};
pub use checkpoint::{
    CARD_FILE, CheckpointState, LoadedCheckpoint, LoopPosition, MODEL_FILE, ModelCard,
    StoredNormalization, fnv1a_hex, latest_checkpoint, load_checkpoint, load_model_dir,
    model_dir_of, read_model_card, save_checkpoint, save_model_dir,
};
pub use collection::{
    CollectionBatches, CollectionPlan, CollectionScores, DateHoldOut, DateScore, DrawRule,
    MiouPair, PreparedCollection, SeriesPart, SeriesScores, prepare_collection,
};
pub use config::{OptimizerKind, OptimizerSpec, Stage, StageSpec, TrainConfig};
pub use confusion::{
    CONFUSION_EMPTY_ROW, CONFUSION_HIGH, CONFUSION_LOW, confusion_color, confusion_panels_png,
    confusion_png, render_confusion,
};
pub use error::{Error, Result};
pub use history::{EpochRecord, History};
/// Progress bars taken by scene inference (re-exported so callers need no `indicatif` dependency).
pub use indicatif::ProgressBar;
pub use infer::{
    DateSelection, MapKind, ProductRows, Products, RowBlock, SceneReader, StoredWindow,
    WindowStates, quality, run_scene,
};
pub use interrupt::Interrupt;
pub use loss::{LossConfig, LossTerms, balanced_class_weights, masked_cross_entropy};
pub use maps::{
    ChangeReport, MapEvaluation, change_map, check_same_grid, confusion_on_date, evaluate_map,
};
pub use metrics::{ClassMetrics, ConfusionMatrix, IGNORE_LABEL, SegmentationMetrics};
pub use parallel::{data_parallel_grads, split_batch};
pub use plot::{Canvas, LineChart, PALETTE, Series};
pub use predict::{
    MapFile, PredictConfig, ProbabilityMaps, SeriesReader, check_series, predict_scene,
    update_scene,
};
pub use prepare::{DataPlan, PreparedData, model_card, patch_size_for, prepare_data};
pub use presets::Preset;
pub use quicklook::{
    QUICKLOOK_SIDE, change_quicklook, class_map_png, class_palette, rgb_bands, rgb_png,
};
pub use report::{Figure, REPORT_BACKGROUND, Report, SliderFrame, Table, base64, escape_html};
pub use schedule::LrSchedule;
pub use series_batches::{PatchSetConfig, SeriesBatches, fixed_length_sequences, padded_sequences};
pub use state::{SceneState, StateMeta, StateUpdate};
pub use trainer::{
    StartMode, StepReport, TrainOutcome, TrainSummary, Trainer, Validation, init_model, validate,
};
pub use window::{AxisPlan, Window, WindowPlan, mirror_index};
