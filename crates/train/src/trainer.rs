//! The training loop: staged or end-to-end, seeded, checkpointed every epoch, resumable after
//! a crash or Ctrl-C.
//!
//! [`Trainer::fit`] runs the stages of a [`TrainConfig`] over a training [`BatchSource`] and
//! validates on another after every epoch. Per epoch it writes, each atomically:
//! a checkpoint (`checkpoints/iter-N/`: weights, optimizer state, loop position), the model
//! after the epoch (`last/`), the best model so far (`best/`, by validation mIoU of the fused
//! maps; of the per-date maps while only the U-Net trains), and `metrics.csv`, `metrics.json`
//! and `curves.png`. When its [`Interrupt`] is raised, the batch in flight finishes, a
//! checkpoint of that exact position is written and [`TrainOutcome::Interrupted`] is returned;
//! [`StartMode::Resume`] continues from it with the very batches the run would have seen.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use chronomap_model::SpatioTemporalNet;
use indicatif::{ProgressBar, ProgressStyle};

use crate::atomic::{read_json, write_json_atomic};
use crate::batch::BatchSource;
use crate::checkpoint::{
    CheckpointState, LoopPosition, ModelCard, fnv1a_hex, latest_checkpoint, load_checkpoint,
    save_checkpoint, save_model_dir,
};
use crate::config::{Stage, TrainConfig};
use crate::error::{Error, Result};
use crate::history::{EpochRecord, History};
use crate::interrupt::Interrupt;
use crate::loss::LossConfig;
use crate::metrics::ConfusionMatrix;

/// How [`Trainer::fit`] treats an existing run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Start a new run; fail with [`Error::RunExists`] if the folder holds checkpoints.
    New,
    /// Start a new run, deleting the folder's checkpoints, models and metrics first.
    Overwrite,
    /// Continue from the newest checkpoint; fail with [`Error::NoCheckpoint`] if there is none.
    Resume,
    /// Continue if there is a checkpoint, else start a new run.
    ResumeOrNew,
}

/// What a step callback sees after every optimizer step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The stage being trained.
    pub stage: Stage,
    /// Epoch over the whole run, from 1.
    pub epoch: usize,
    /// Batch index within the epoch, from 0.
    pub batch: usize,
    /// Optimizer iterations done over the whole run (including this one).
    pub iterations: usize,
    /// Loss of this batch.
    pub loss: f64,
    /// Learning rate used for this step.
    pub lr: f64,
}

/// The end of a [`Trainer::fit`] call.
#[derive(Debug, Clone)]
pub enum TrainOutcome {
    /// Every stage ran to the end.
    Finished(TrainSummary),
    /// The interrupt was raised; a checkpoint of the exact position was written.
    Interrupted {
        /// The checkpoint folder written.
        checkpoint: PathBuf,
        /// Optimizer iterations done.
        iterations: usize,
    },
}

/// Summary of a finished run.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Per-epoch metrics.
    pub history: History,
    /// Best validation score and the epoch it was reached (`None` without validation).
    pub best: Option<(f64, usize)>,
    /// The best model folder (`run/best`; the last model when there is no validation).
    pub best_dir: PathBuf,
    /// The model after the last epoch (`run/last`).
    pub last_dir: PathBuf,
    /// Optimizer iterations done.
    pub iterations: usize,
    /// The checkpoint the run resumed from, if any.
    pub resumed_from: Option<PathBuf>,
}

/// Validation results over a whole [`BatchSource`].
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// Mean joint loss (fused + aux per-date) over the batches.
    pub loss: f64,
    /// Per-date (U-Net) maps, all dates pooled.
    pub date: ConfusionMatrix,
    /// Fused (ConvLSTM) maps, all dates pooled.
    pub fused: ConfusionMatrix,
    /// Per-date maps, one matrix per date index of the sequences.
    pub date_by_time: Vec<ConfusionMatrix>,
    /// Fused maps, one matrix per date index of the sequences.
    pub fused_by_time: Vec<ConfusionMatrix>,
}

/// Runs `model` (in evaluation mode) over every batch of `source` and accumulates confusion
/// matrices of the per-date and fused maps, per date index and pooled.
///
/// # Errors
/// Whatever the source fails with; [`Error::TensorRead`] if results cannot be read back.
pub fn validate(
    model: &SpatioTemporalNet,
    source: &dyn BatchSource,
    loss: &LossConfig,
    device: &Device,
) -> Result<Validation> {
    let model = model.valid();
    let k = model.config().num_classes;
    let mut v = Validation {
        loss: 0.0,
        date: ConfusionMatrix::new(k),
        fused: ConfusionMatrix::new(k),
        date_by_time: Vec::new(),
        fused_by_time: Vec::new(),
    };
    let n = source.num_batches();
    for i in 0..n {
        let hb = source.batch(0, i)?;
        let [b, t, _, h, w] = hb.shape;
        if v.date_by_time.len() < t {
            v.date_by_time.resize(t, ConfusionMatrix::new(k));
            v.fused_by_time.resize(t, ConfusionMatrix::new(k));
        }
        let (images, labels) = hb.to_tensors(device);
        let out = model.forward(images);
        let terms = loss.joint(out.date_logits.clone(), out.fused_logits.clone(), labels);
        v.loss += terms.total.into_scalar::<f32>() as f64;
        let dp: Vec<i64> = out.date_logits.argmax(2).try_into_vec_as::<i64>()?;
        let fp: Vec<i64> = out.fused_logits.argmax(2).try_into_vec_as::<i64>()?;
        let dp: Vec<u8> = dp.iter().map(|&x| x as u8).collect();
        let fp: Vec<u8> = fp.iter().map(|&x| x as u8).collect();
        let plane = h * w;
        for bi in 0..b {
            for ti in 0..t {
                let o = (bi * t + ti) * plane;
                let lab = &hb.labels[o..o + plane];
                v.date_by_time[ti].update_u8(lab, &dp[o..o + plane]);
                v.fused_by_time[ti].update_u8(lab, &fp[o..o + plane]);
            }
        }
    }
    for (d, f) in v.date_by_time.iter().zip(&v.fused_by_time) {
        v.date.merge(d);
        v.fused.merge(f);
    }
    if n > 0 {
        v.loss /= n as f64;
    }
    Ok(v)
}

/// A callback told about every training step.
type StepCallback = Box<dyn FnMut(&StepReport) + Send>;

/// Trains a [`SpatioTemporalNet`] as a [`TrainConfig`] says, in a run folder.
pub struct Trainer {
    config: TrainConfig,
    run_dir: PathBuf,
    card: ModelCard,
    interrupt: Interrupt,
    progress: bool,
    on_step: Option<StepCallback>,
    devices: Vec<Device>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("run_dir", &self.run_dir)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

enum EpochEnd {
    Completed,
    Interrupted,
}

impl Trainer {
    /// A trainer writing into `run_dir`. `card` describes the data (band and class names,
    /// normalization, patch size) and is stored with every saved model; its `model` and
    /// `weights_hash` fields are filled in when saving.
    pub fn new(config: TrainConfig, run_dir: impl Into<PathBuf>, card: ModelCard) -> Self {
        Self {
            config,
            run_dir: run_dir.into(),
            card,
            interrupt: Interrupt::new(),
            progress: false,
            on_step: None,
            devices: Vec::new(),
        }
    }

    /// Trains data-parallel over `devices` (e.g. every GPU of a node): each batch is split
    /// along its first axis over them, each device computes its shard's gradients on a fork of
    /// the model, and the gradients are summed on the device given to [`fit`](Self::fit), where
    /// the model and the optimizer live (see [`data_parallel_grads`](crate::data_parallel_grads)
    /// for the exactness and the batch-norm caveat). With fewer than two devices training runs
    /// on `fit`'s device alone, exactly as without this call. The devices are not part of the
    /// run's configuration: a run may resume on another set.
    pub fn with_devices(mut self, devices: Vec<Device>) -> Self {
        self.devices = devices;
        self
    }

    /// Uses `interrupt` to stop cleanly (see [`Interrupt::on_ctrl_c`]).
    pub fn with_interrupt(mut self, interrupt: Interrupt) -> Self {
        self.interrupt = interrupt;
        self
    }

    /// Shows progress bars and one metric line per epoch on stderr.
    pub fn with_progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// Calls `f` after every optimizer step (e.g. to log, or to raise the interrupt in tests).
    pub fn on_step(mut self, f: impl FnMut(&StepReport) + Send + 'static) -> Self {
        self.on_step = Some(Box::new(f));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The run folder.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Trains on `train`, validating on `valid` after every epoch, on `device` (an autodiff
    /// device is derived from it; validation runs on `device` itself).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for bad settings; [`Error::RunExists`] / [`Error::NoCheckpoint`]
    /// per `mode`; [`Error::ConfigMismatch`] naming `config.json` when resuming with another
    /// configuration; [`Error::Checkpoint`] for unreadable checkpoints; I/O errors naming the
    /// file; whatever the batch sources fail with.
    pub fn fit(
        &mut self,
        train: &dyn BatchSource,
        valid: Option<&dyn BatchSource>,
        device: &Device,
        mode: StartMode,
    ) -> Result<TrainOutcome> {
        self.config.validate()?;
        let nb = train.num_batches();
        if nb == 0 {
            return Err(Error::InvalidConfig(
                "the training set yields no batch".into(),
            ));
        }
        let run = self.run_dir.clone();
        fs::create_dir_all(&run).map_err(|e| Error::io(&run, e))?;
        let config_path = run.join("config.json");
        let config_json =
            serde_json::to_string(&self.config).map_err(|e| Error::json(&config_path, e))?;
        let config_hash = fnv1a_hex(config_json.as_bytes());

        let existing = latest_checkpoint(&run)?;
        let resume_from = match mode {
            StartMode::New if existing.is_some() => return Err(Error::RunExists { dir: run }),
            StartMode::Overwrite => {
                for sub in ["checkpoints", "best", "last", "best.old", "last.old"] {
                    let p = run.join(sub);
                    if p.exists() {
                        fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                    }
                }
                None
            }
            StartMode::Resume if existing.is_none() => {
                return Err(Error::NoCheckpoint { dir: run });
            }
            StartMode::Resume | StartMode::ResumeOrNew => existing,
            StartMode::New => None,
        };
        if resume_from.is_some() {
            let saved: TrainConfig = read_json(&config_path)?;
            if saved != self.config {
                let (expected, found) = json_diff(&self.config, &saved);
                return Err(Error::ConfigMismatch {
                    path: config_path,
                    what: "training configuration",
                    expected,
                    found,
                });
            }
        } else {
            write_json_atomic(&config_path, &self.config)?;
        }

        let ad = device.clone().autodiff();
        let replicas: Vec<Device> = self.devices.iter().map(|d| d.clone().autodiff()).collect();
        let stages = self.config.stages.clone();
        let (mut model, mut optim, mut state) = match &resume_from {
            Some(dir) => {
                let ck =
                    load_checkpoint(dir, &self.config.model, self.config.optimizer.build(), &ad)?;
                if ck.state.config_hash != config_hash {
                    return Err(Error::ConfigMismatch {
                        path: dir.join("state.json"),
                        what: "training configuration (hash)",
                        expected: config_hash,
                        found: ck.state.config_hash,
                    });
                }
                // The data must be the same too: bands, classes and normalization.
                let card_path = dir.join(crate::checkpoint::CARD_FILE);
                if let Ok(saved) = read_json::<ModelCard>(&card_path) {
                    let same = saved.bands == self.card.bands
                        && saved.classes == self.card.classes
                        && saved.normalization == self.card.normalization;
                    if !same {
                        return Err(Error::ConfigMismatch {
                            path: card_path,
                            what: "data (bands, classes or normalization statistics)",
                            expected: format!(
                                "bands {:?}, classes {:?}",
                                self.card.bands, self.card.classes
                            ),
                            found: format!("bands {:?}, classes {:?}", saved.bands, saved.classes),
                        });
                    }
                }
                let p = &ck.state.position;
                let fresh_stage =
                    p.stage_iterations == 0 && p.batches_done == 0 && p.stage_epochs_done == 0;
                let optim = if fresh_stage {
                    self.config.optimizer.build()
                } else {
                    ck.optim
                };
                if self.progress {
                    eprintln!(
                        "resuming from {} (iteration {}, {} epochs done)",
                        ck.dir.display(),
                        p.iterations,
                        ck.state.history.epochs.len()
                    );
                }
                (ck.model, optim, ck.state)
            }
            None => {
                let model = init_model(&self.config.model, &ad, self.config.seed);
                let state = CheckpointState {
                    position: LoopPosition {
                        stage: 0,
                        stage_epochs_done: 0,
                        batches_done: 0,
                        stage_iterations: 0,
                        iterations: 0,
                        partial_loss: (0.0, 0),
                        partial_seconds: 0.0,
                    },
                    best: None,
                    history: History::default(),
                    config_hash: config_hash.clone(),
                };
                (model, self.config.optimizer.build(), state)
            }
        };

        let total_epochs = self.config.total_epochs();
        let mut last_checkpoint: Option<PathBuf> = None;
        while state.position.stage < stages.len() {
            let si = state.position.stage;
            let spec = stages[si].clone();
            if state.position.stage_epochs_done >= spec.epochs {
                state.position = next_stage(&state.position);
                optim = self.config.optimizer.build();
                continue;
            }
            model = prepare_for_stage(model, spec.stage);
            let stage_total_iters = spec.epochs * nb;
            let epochs_before: usize = stages[..si].iter().map(|s| s.epochs).sum();
            while state.position.stage_epochs_done < spec.epochs {
                let epoch = epochs_before + state.position.stage_epochs_done + 1; // 1-based
                let t0 = Instant::now();
                let pb = self.progress_bar(nb, epoch, total_epochs, spec.stage);
                pb.set_position(state.position.batches_done as u64);
                let mut last_lr = spec.lr;
                let end = {
                    let start = state.position.batches_done;
                    let (tx, rx) = mpsc::sync_channel(2);
                    std::thread::scope(|scope| -> Result<EpochEnd> {
                        // Owned here so that returning early drops it and unblocks the producer.
                        let rx = rx;
                        scope.spawn(move || {
                            for i in start..nb {
                                if tx.send(train.batch(epoch - 1, i)).is_err() {
                                    break;
                                }
                            }
                        });
                        for bi in start..nb {
                            let hb = rx.recv().map_err(|_| {
                                Error::InvalidConfig("the batch producer stopped".into())
                            })??;
                            let lr = self.config.schedule.lr(
                                spec.lr,
                                state.position.stage_iterations,
                                stage_total_iters,
                            );
                            let (loss_value, grads) = if replicas.len() > 1 {
                                crate::parallel::data_parallel_grads(
                                    &model,
                                    spec.stage,
                                    &self.config.loss,
                                    &hb,
                                    &replicas,
                                    &ad,
                                )?
                            } else {
                                let (images, labels) = hb.into_tensors(&ad);
                                let terms = crate::parallel::stage_loss(
                                    &model,
                                    spec.stage,
                                    &self.config.loss,
                                    images,
                                    labels,
                                );
                                let value = terms.total.clone().into_scalar::<f32>() as f64;
                                (
                                    value,
                                    GradientsParams::from_grads(terms.total.backward(), &model),
                                )
                            };
                            if !loss_value.is_finite() {
                                return Err(Error::InvalidConfig(format!(
                                    "the loss became {loss_value} at iteration {} (epoch {epoch}, \
                                     batch {bi}); lower the learning rate",
                                    state.position.iterations + 1
                                )));
                            }
                            model = optim.step(lr, model.clone(), grads);
                            last_lr = lr;
                            let p = &mut state.position;
                            p.batches_done = bi + 1;
                            p.stage_iterations += 1;
                            p.iterations += 1;
                            p.partial_loss.0 += loss_value;
                            p.partial_loss.1 += 1;
                            pb.set_position((bi + 1) as u64);
                            pb.set_message(format!(
                                "loss {:.4} lr {lr:.2e}",
                                p.partial_loss.0 / p.partial_loss.1 as f64
                            ));
                            if let Some(cb) = self.on_step.as_mut() {
                                cb(&StepReport {
                                    stage: spec.stage,
                                    epoch,
                                    batch: bi,
                                    iterations: p.iterations,
                                    loss: loss_value,
                                    lr,
                                });
                            }
                            if self.interrupt.is_triggered() {
                                return Ok(EpochEnd::Interrupted);
                            }
                        }
                        Ok(EpochEnd::Completed)
                    })?
                };
                pb.finish_and_clear();
                state.position.partial_seconds += t0.elapsed().as_secs_f64();
                if let EpochEnd::Interrupted = end {
                    let dir = save_checkpoint(
                        &run,
                        &model,
                        &optim,
                        &state,
                        &self.card,
                        &self.config,
                        self.config.checkpoints_kept,
                    )?;
                    if self.progress {
                        eprintln!("interrupted: checkpoint written to {}", dir.display());
                    }
                    return Ok(TrainOutcome::Interrupted {
                        checkpoint: dir,
                        iterations: state.position.iterations,
                    });
                }
                // End of epoch: validate, record, save.
                let t1 = Instant::now();
                let val = match valid {
                    Some(v) => Some(validate(&model, v, &self.config.loss, device)?),
                    None => None,
                };
                let p = &mut state.position;
                let seconds = p.partial_seconds + t1.elapsed().as_secs_f64();
                let (vd, vf) = match &val {
                    Some(v) => (Some(v.date.metrics()), Some(v.fused.metrics())),
                    None => (None, None),
                };
                let record = EpochRecord {
                    epoch,
                    stage: spec.stage.name().into(),
                    stage_epoch: p.stage_epochs_done + 1,
                    iterations: p.iterations,
                    lr: last_lr,
                    train_loss: p.partial_loss.0 / p.partial_loss.1.max(1) as f64,
                    val_loss: val.as_ref().map(|v| v.loss),
                    val_miou_date: vd.as_ref().and_then(|m| m.miou),
                    val_miou_fused: vf.as_ref().and_then(|m| m.miou),
                    val_oa_date: vd.as_ref().and_then(|m| m.overall_accuracy),
                    val_oa_fused: vf.as_ref().and_then(|m| m.overall_accuracy),
                    val_kappa_fused: vf.as_ref().and_then(|m| m.kappa),
                    seconds,
                };
                p.stage_epochs_done += 1;
                p.batches_done = 0;
                p.partial_loss = (0.0, 0);
                p.partial_seconds = 0.0;
                // Score: fused mIoU once the temporal part trains (or the plan never trains it).
                let only_unet = stages
                    .iter()
                    .all(|s| s.stage == Stage::Unet || s.epochs == 0);
                let score = if spec.stage == Stage::Unet && !only_unet {
                    None
                } else if spec.stage == Stage::Unet {
                    record.val_miou_date
                } else {
                    record.val_miou_fused
                };
                let improved = match (score, state.best) {
                    (Some(s), Some((b, _))) => s > b,
                    (Some(_), None) => true,
                    _ => false,
                };
                let mut card = self.card.clone();
                card.notes = serde_json::json!({
                    "epoch": epoch,
                    "stage": spec.stage.name(),
                    "iterations": record.iterations,
                    "val_miou_date": record.val_miou_date,
                    "val_miou_fused": record.val_miou_fused,
                    "val_oa_fused": record.val_oa_fused,
                });
                save_model_dir(&run.join("last"), &model, &card)?;
                if improved {
                    state.best = score.map(|s| (s, epoch));
                    save_model_dir(&run.join("best"), &model, &card)?;
                } else if valid.is_none() || state.best.is_none() {
                    // Without a score, the latest model is the best we know.
                    save_model_dir(&run.join("best"), &model, &card)?;
                }
                if self.progress {
                    eprintln!("{}", epoch_line(&record, total_epochs, improved));
                }
                state.history.epochs.push(record);
                state.history.write(&run)?;
                if state.position.stage_epochs_done >= spec.epochs {
                    state.position = next_stage(&state.position);
                }
                last_checkpoint = Some(save_checkpoint(
                    &run,
                    &model,
                    &optim,
                    &state,
                    &self.card,
                    &self.config,
                    self.config.checkpoints_kept,
                )?);
                if state.position.stage != si {
                    optim = self.config.optimizer.build();
                    break;
                }
            }
            model = finish_stage(model, spec.stage);
        }
        let _ = last_checkpoint;
        Ok(TrainOutcome::Finished(TrainSummary {
            history: state.history.clone(),
            best: state.best,
            best_dir: run.join("best"),
            last_dir: run.join("last"),
            iterations: state.position.iterations,
            resumed_from: resume_from,
        }))
    }

    fn progress_bar(&self, n: usize, epoch: usize, total: usize, stage: Stage) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(n as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} ({elapsed} < {eta})",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_prefix(format!("epoch {epoch}/{total} {}", stage.name()));
        pb
    }
}

/// Serializes seeding + initialization: Burn's random generator is global per backend, so
/// two initializations running at once in one process would interleave their draws.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Builds `config` on `device` with weights drawn from `seed`: the same seed gives the same
/// initial weights, even when other threads initialize models at the same time (as long as
/// they also go through this function). Parameter ids are numbered in order, not drawn at
/// random, so the same seed also gives byte-identical saved model files.
pub fn init_model(
    config: &chronomap_model::SpatioTemporalNetConfig,
    device: &Device,
    seed: u64,
) -> SpatioTemporalNet {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let model = config.init(device);
    // Burn initializes parameters lazily, at first use; draw them now, under the lock.
    // Clones share the lazy state, so this materializes `model` itself.
    drop(model.clone().into_record());
    // Burn draws parameter ids at random, and they are saved with the weights (and key the
    // optimizer state): number them instead, so that two runs with the same seed write
    // byte-identical model files and weight hashes.
    model.with_sequential_ids()
}

fn next_stage(p: &LoopPosition) -> LoopPosition {
    LoopPosition {
        stage: p.stage + 1,
        stage_epochs_done: 0,
        batches_done: 0,
        stage_iterations: 0,
        iterations: p.iterations,
        partial_loss: (0.0, 0),
        partial_seconds: 0.0,
    }
}

/// Freezes what a stage does not train.
fn prepare_for_stage(model: SpatioTemporalNet, stage: Stage) -> SpatioTemporalNet {
    match stage {
        Stage::Temporal => model.freeze_unet(),
        Stage::Unet | Stage::Joint => model,
    }
}

fn finish_stage(model: SpatioTemporalNet, stage: Stage) -> SpatioTemporalNet {
    match stage {
        Stage::Temporal => model.unfreeze_unet(),
        Stage::Unet | Stage::Joint => model,
    }
}

fn epoch_line(r: &EpochRecord, total: usize, improved: bool) -> String {
    let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    format!(
        "epoch {:>3}/{total} {:<8} loss {:.4} | val loss {} mIoU per-date {} fused {} | OA per-date \
         {} fused {} | {:.1} s{}",
        r.epoch,
        r.stage,
        r.train_loss,
        f(r.val_loss),
        f(r.val_miou_date),
        f(r.val_miou_fused),
        f(r.val_oa_date),
        f(r.val_oa_fused),
        r.seconds,
        if improved { "  *best" } else { "" }
    )
}

/// The top-level fields that differ between two configurations, as two short strings.
fn json_diff<T: serde::Serialize>(expected: &T, found: &T) -> (String, String) {
    let (a, b) = (
        serde_json::to_value(expected).unwrap_or_default(),
        serde_json::to_value(found).unwrap_or_default(),
    );
    match (a.as_object(), b.as_object()) {
        (Some(ao), Some(bo)) => {
            let mut ea = Vec::new();
            let mut eb = Vec::new();
            for (k, va) in ao {
                let vb = bo.get(k).cloned().unwrap_or_default();
                if *va != vb {
                    ea.push(format!("{k}={va}"));
                    eb.push(format!("{k}={vb}"));
                }
            }
            (ea.join(", "), eb.join(", "))
        }
        _ => (a.to_string(), b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chronomap_model::SpatioTemporalNetConfig;

    use super::*;
    use crate::batch::{HostBatch, InMemoryBatches};
    use crate::checkpoint::{ModelCard, load_model_dir};

    /// Batches whose label is a simple function of the pixels (the brightest of 3 channels,
    /// with noise per date), so a tiny network can learn it in a few steps.
    fn batches(n: usize, seed: u64) -> InMemoryBatches {
        let (b, t, c, h, w) = (2, 3, 3, 16, 16);
        let mut s = seed;
        let mut rnd = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let batches = (0..n)
            .map(|_| {
                let mut images = vec![0f32; b * t * c * h * w];
                let mut labels = vec![0u8; b * t * h * w];
                for bi in 0..b {
                    // A class per 4x4 block, the same at every date.
                    let classes: Vec<usize> = (0..16)
                        .map(|_| ((rnd() + 0.5) * 3.0) as usize % 3)
                        .collect();
                    for ti in 0..t {
                        for y in 0..h {
                            for x in 0..w {
                                let k = classes[(y / 4) * 4 + x / 4];
                                for ci in 0..c {
                                    let v = if ci == k { 1.0 } else { 0.0 } + 0.8 * rnd();
                                    images[(((bi * t + ti) * c + ci) * h + y) * w + x] = v;
                                }
                                labels[((bi * t + ti) * h + y) * w + x] =
                                    if (x + y + ti) % 11 == 0 { 255 } else { k as u8 };
                            }
                        }
                    }
                }
                HostBatch {
                    shape: [b, t, c, h, w],
                    images,
                    labels,
                }
            })
            .collect();
        InMemoryBatches { batches }
    }

    fn card() -> ModelCard {
        ModelCard {
            format: 1,
            model: SpatioTemporalNetConfig::tiny(3, 3),
            bands: vec!["a".into(), "b".into(), "c".into()],
            classes: vec!["x".into(), "y".into(), "z".into()],
            normalization: chronomap_data::NormStats::from_samples(
                &["a".to_string(), "b".to_string(), "c".to_string()],
                vec![vec![0.0, 1.0]; 3],
                chronomap_data::NormMethod::MeanStd,
                0.0,
                100.0,
            ),
            patch_size: 16,
            weights_hash: String::new(),
            notes: Default::default(),
        }
    }

    fn config(stages: (usize, usize, usize)) -> TrainConfig {
        let mut c = TrainConfig::staged(
            SpatioTemporalNetConfig::tiny(3, 3),
            stages.0,
            stages.1,
            stages.2,
            1e-2,
        );
        c.patch_size = 16;
        c
    }

    fn output_of(dir: &Path) -> Vec<f32> {
        let dev = Device::flex();
        let (model, _) = load_model_dir(dir, &dev).expect("load model");
        let x = batches(1, 99).batches[0].to_tensors(&dev).0;
        model
            .forward(x)
            .fused_logits
            .try_into_vec_as::<f32>()
            .expect("read")
    }

    /// A few epochs of training lower the training loss and beat chance on validation.
    #[test]
    fn training_lowers_the_loss() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = TrainConfig::end_to_end(SpatioTemporalNetConfig::tiny(3, 3), 4, 1e-2);
        cfg.patch_size = 16;
        let train = batches(6, 1);
        let valid = batches(2, 2);
        let out = Trainer::new(cfg, dir.path(), card())
            .fit(&train, Some(&valid), &Device::flex(), StartMode::New)
            .expect("fit");
        let TrainOutcome::Finished(s) = out else {
            panic!("not finished")
        };
        let e = &s.history.epochs;
        assert_eq!(e.len(), 4);
        assert!(
            e[3].train_loss < 0.8 * e[0].train_loss,
            "{:?}",
            e.iter().map(|r| r.train_loss).collect::<Vec<_>>()
        );
        // Three balanced classes: chance OA is about 1/3.
        assert!(e[3].val_oa_fused.unwrap() > 0.6, "{:?}", e[3]);
        for f in [
            "metrics.csv",
            "metrics.json",
            "curves.png",
            "config.json",
            "best/model.json",
            "last/model.bpk",
        ] {
            assert!(dir.path().join(f).exists(), "{f} missing");
        }
    }

    /// Interrupting a staged run mid-stage and resuming it gives the same model and history as
    /// running it without interruption.
    #[test]
    fn resume_after_interrupt_matches_uninterrupted() {
        let train = batches(4, 5);
        let valid = batches(1, 6);
        let dev = Device::flex();
        let full = tempfile::tempdir().expect("tmp");
        let out = Trainer::new(config((1, 2, 1)), full.path(), card())
            .fit(&train, Some(&valid), &dev, StartMode::New)
            .expect("fit");
        let TrainOutcome::Finished(a) = out else {
            panic!("not finished")
        };

        let cut = tempfile::tempdir().expect("tmp");
        let interrupt = Interrupt::new();
        let flag = interrupt.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        // Stop in the middle of the temporal stage's second epoch (iteration 4 + 4 + 2).
        let out = Trainer::new(config((1, 2, 1)), cut.path(), card())
            .with_interrupt(interrupt)
            .on_step(move |r| {
                seen2.lock().unwrap().push(r.iterations);
                if r.iterations == 10 {
                    flag.trigger();
                }
            })
            .fit(&train, Some(&valid), &dev, StartMode::New)
            .expect("fit");
        let TrainOutcome::Interrupted {
            iterations,
            checkpoint,
        } = out
        else {
            panic!("not interrupted")
        };
        assert_eq!(iterations, 10);
        assert!(checkpoint.ends_with("iter-00000010"));
        // A new run in the same folder is refused; a resume continues.
        let again = Trainer::new(config((1, 2, 1)), cut.path(), card()).fit(
            &train,
            Some(&valid),
            &dev,
            StartMode::New,
        );
        assert!(matches!(again, Err(Error::RunExists { .. })));
        let other = Trainer::new(config((1, 3, 1)), cut.path(), card()).fit(
            &train,
            Some(&valid),
            &dev,
            StartMode::Resume,
        );
        assert!(
            matches!(other, Err(Error::ConfigMismatch { .. })),
            "{other:?}"
        );
        let out = Trainer::new(config((1, 2, 1)), cut.path(), card())
            .fit(&train, Some(&valid), &dev, StartMode::Resume)
            .expect("resume");
        let TrainOutcome::Finished(b) = out else {
            panic!("not finished")
        };
        assert_eq!(b.iterations, a.iterations);
        assert_eq!(b.history.epochs.len(), a.history.epochs.len());
        for (x, y) in a.history.epochs.iter().zip(&b.history.epochs) {
            assert!((x.train_loss - y.train_loss).abs() < 1e-5, "{x:?}\n{y:?}");
            assert_eq!(
                x.val_miou_fused.map(|v| (v * 1e4).round()),
                y.val_miou_fused.map(|v| (v * 1e4).round())
            );
        }
        let (oa, ob) = (
            output_of(&full.path().join("last")),
            output_of(&cut.path().join("last")),
        );
        let diff = oa
            .iter()
            .zip(&ob)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert_eq!(diff, 0.0, "resumed model differs by {diff}");
        // byte for byte, batch-norm running statistics included (checkpoints sync Burn's
        // pending running-state update before saving)
        let file = |d: &tempfile::TempDir| std::fs::read(d.path().join("last/model.bpk")).unwrap();
        assert!(
            file(&full) == file(&cut),
            "last/model.bpk differs after a resume"
        );
    }

    /// Weights of another configuration are refused with an error naming the file.
    #[test]
    fn loading_weights_into_another_config_names_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = TrainConfig::end_to_end(SpatioTemporalNetConfig::tiny(3, 3), 1, 1e-2);
        cfg.patch_size = 16;
        Trainer::new(cfg, dir.path(), card())
            .fit(&batches(1, 1), None, &Device::flex(), StartMode::New)
            .expect("fit");
        // Pretend the card says another width: the weights no longer fit.
        let card_path = dir.path().join("best").join("model.json");
        let mut c: ModelCard = crate::atomic::read_json(&card_path).unwrap();
        c.model.base_filters = 16;
        crate::atomic::write_json_atomic(&card_path, &c).unwrap();
        let err = load_model_dir(dir.path(), &Device::flex()).unwrap_err();
        assert!(matches!(err, Error::Checkpoint { .. }), "{err:?}");
        assert!(err.to_string().contains("model.bpk"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_model_folder_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("runs").join("mine");
        let err = load_model_dir(&missing, &Device::flex()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Checkpoint { .. }), "{err:?}");
        assert!(
            msg.contains("mine") && msg.contains("no such folder"),
            "{msg}"
        );
        assert!(
            !msg.contains("best"),
            "the path the user gave, not a guess: {msg}"
        );
        let err = load_model_dir(dir.path(), &Device::flex()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not a model folder"), "{msg}");
    }

    /// A folder written by `SpatioTemporalNet::save` has the same file names as a model folder
    /// but a bare configuration: the error says which it is and what to use.
    #[test]
    fn a_folder_written_by_network_save_is_explained() {
        let dir = tempfile::tempdir().expect("tmp");
        let device = Device::flex();
        let net = chronomap_model::SpatioTemporalNetConfig::tiny(4, 3).init(&device);
        net.save(dir.path().join("model")).expect("save");
        let err = load_model_dir(dir.path(), &device).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Checkpoint { .. }), "{err:?}");
        assert!(
            msg.contains("model.json") && msg.contains("SpatioTemporalNet::save"),
            "{msg}"
        );
        // The same for what `chronomap evaluate/change --model` read: the card alone.
        let err = crate::read_model_card(dir.path()).unwrap_err();
        assert!(err.to_string().contains("SpatioTemporalNet::save"), "{err}");
    }
}
