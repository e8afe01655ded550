//! # chronomap-train
//!
//! Training and inference for chronomap's spatio-temporal network: losses, metrics,
//! checkpoints, whole-scene prediction, streaming updates and change maps.
//!
//! # Overview
//! - [`masked_cross_entropy`] / [`LossConfig`]: cross-entropy that skips the ignore label
//!   (255) on fused logits at every date plus a weighted auxiliary term on per-date logits.
//! - [`ConfusionMatrix`] -> [`SegmentationMetrics`]: per-class IoU, macro mIoU, F1, overall
//!   accuracy and Cohen's kappa over a whole evaluation set.
//! - [`WindowPlan`]: overlapping windows covering any scene size, with smooth blending weights
//!   that sum to one at every pixel.
//! - [`TransitionCounts`]: from->to change codes and areas in hectares.
//! - [`History`]: per-epoch metrics as CSV, JSON and learning-curve PNG.
//!
//! The library never picks a device: callers pass a Burn `&Device`.

mod atomic;
mod batch;
mod change;
mod checkpoint;
mod config;
mod error;
mod history;
mod infer;
mod interrupt;
mod loss;
mod maps;
mod metrics;
mod plot;
mod predict;
mod prepare;
mod presets;
mod quicklook;
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
    StoredNormalization, latest_checkpoint, load_checkpoint, load_model_dir, model_dir_of,
    read_model_card, save_checkpoint, save_model_dir,
};
pub use config::{OptimizerKind, OptimizerSpec, Stage, StageSpec, TrainConfig};
pub use error::{Error, Result};
pub use history::{EpochRecord, History};
pub use infer::{
    DateSelection, MapKind, ProductRows, Products, RowBlock, SceneReader, WindowStates, quality,
    run_scene,
};
pub use interrupt::Interrupt;
pub use loss::{LossConfig, LossTerms, masked_cross_entropy};
pub use maps::{ChangeReport, MapEvaluation, change_map, check_same_grid, evaluate_map};
pub use metrics::{ClassMetrics, ConfusionMatrix, IGNORE_LABEL, SegmentationMetrics};
pub use plot::{Canvas, LineChart, PALETTE, Series};
pub use predict::{
    MapFile, PredictConfig, SeriesReader, check_series, predict_scene, update_scene,
};
pub use prepare::{DataPlan, PreparedData, model_card, prepare_data};
pub use presets::Preset;
pub use quicklook::{
    QUICKLOOK_SIDE, change_quicklook, class_map_png, class_palette, rgb_bands, rgb_png,
};
pub use schedule::LrSchedule;
pub use series_batches::{PatchSetConfig, SeriesBatches, fixed_length_sequences};
pub use state::{SceneState, StateMeta, StateUpdate};
pub use trainer::{
    StartMode, StepReport, TrainOutcome, TrainSummary, Trainer, Validation, init_model, validate,
};
pub use window::{AxisPlan, Window, WindowPlan, mirror_index};
