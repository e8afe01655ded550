//! The training configuration, saved as `config.json` in the run folder.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use chronomap_model::SpatioTemporalNetConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::loss::LossConfig;
use crate::schedule::LrSchedule;

/// A phase of training (the talk trains the U-Net first, then the ConvLSTM on its Pmaps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The U-Net alone, per date: cross-entropy on the per-date logits; the temporal part is
    /// not used.
    Unet,
    /// The ConvLSTM (and its 1x1 output) on the Pmaps of the frozen U-Net: cross-entropy on
    /// the fused logits; the U-Net's weights and batch-norm statistics do not change.
    Temporal,
    /// Everything end to end: fused cross-entropy plus the auxiliary per-date term.
    Joint,
}

impl Stage {
    /// The name used in logs and metrics files.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Unet => "unet",
            Stage::Temporal => "temporal",
            Stage::Joint => "joint",
        }
    }
}

/// One stage of a training plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// What is trained.
    pub stage: Stage,
    /// Epochs (0 skips the stage).
    pub epochs: usize,
    /// Base learning rate of the stage (the schedule restarts at every stage).
    pub lr: f64,
}

/// Adam or AdamW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam with optional L2 weight decay.
    Adam,
    /// AdamW (decoupled weight decay).
    AdamW,
}

/// Optimizer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpec {
    /// Adam or AdamW.
    pub kind: OptimizerKind,
    /// Weight decay (L2 penalty for Adam, decoupled for AdamW); 0 disables it.
    pub weight_decay: f32,
    /// Clip gradients to this global norm (per parameter tensor, as Burn does); `None`: no clip.
    pub grad_clip_norm: Option<f32>,
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::AdamW,
            weight_decay: 1e-4,
            grad_clip_norm: Some(5.0),
        }
    }
}

impl OptimizerSpec {
    /// A fresh Burn optimizer with these settings.
    pub fn build(&self) -> ModuleOptimizer {
        let clip = self.grad_clip_norm.map(GradientClippingConfig::Norm);
        match self.kind {
            OptimizerKind::Adam => AdamConfig::new()
                .with_weight_decay(
                    (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay)),
                )
                .with_grad_clipping(clip)
                .init(),
            OptimizerKind::AdamW => AdamWConfig::new()
                .with_weight_decay(self.weight_decay)
                .with_grad_clipping(clip)
                .init(),
        }
    }
}

/// Everything that defines a training run. Saved as `config.json`; resuming checks that the
/// requested configuration is the saved one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network.
    pub model: SpatioTemporalNetConfig,
    /// The stages, run in order.
    pub stages: Vec<StageSpec>,
    /// Optimizer settings (a fresh optimizer per stage).
    pub optimizer: OptimizerSpec,
    /// Learning-rate schedule within each stage, stepped per iteration.
    pub schedule: LrSchedule,
    /// Loss weights.
    pub loss: LossConfig,
    /// Patch size of the training batches (informative; the batch source decides).
    pub patch_size: usize,
    /// Batch size of the training batches (informative; the batch source decides).
    pub batch_size: usize,
    /// Dates per training sequence (informative; the batch source decides).
    pub dates: usize,
    /// Seed of the weight initialization (the batch sources have their own).
    pub seed: u64,
    /// Complete checkpoints kept on disk (the newest ones).
    pub checkpoints_kept: usize,
    /// What the run trains on, recorded for the record and checked on resume like the rest:
    /// for a collection the series used and held out, held-out dates and area blocks, the
    /// draw rule and seeds ([`CollectionPlan`](crate::CollectionPlan)). `None`: not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl TrainConfig {
    /// One joint (end-to-end) stage of `epochs` epochs at learning rate `lr`.
    pub fn end_to_end(model: SpatioTemporalNetConfig, epochs: usize, lr: f64) -> Self {
        Self::with_stages(
            model,
            vec![StageSpec {
                stage: Stage::Joint,
                epochs,
                lr,
            }],
        )
    }

    /// The talk's staged recipe: `unet` epochs of U-Net at `lr`, `temporal` epochs of ConvLSTM
    /// on frozen Pmaps at `5 * lr` (a few thousand parameters starting from a random state: with
    /// Adam's bounded steps they need larger ones), then `joint` epochs of end-to-end
    /// fine-tuning at `lr / 5`.
    pub fn staged(
        model: SpatioTemporalNetConfig,
        unet: usize,
        temporal: usize,
        joint: usize,
        lr: f64,
    ) -> Self {
        Self::with_stages(
            model,
            vec![
                StageSpec {
                    stage: Stage::Unet,
                    epochs: unet,
                    lr,
                },
                StageSpec {
                    stage: Stage::Temporal,
                    epochs: temporal,
                    lr: lr * 5.0,
                },
                StageSpec {
                    stage: Stage::Joint,
                    epochs: joint,
                    lr: lr / 5.0,
                },
            ],
        )
    }

    fn with_stages(model: SpatioTemporalNetConfig, stages: Vec<StageSpec>) -> Self {
        Self {
            model,
            stages,
            optimizer: OptimizerSpec::default(),
            schedule: LrSchedule::default(),
            loss: LossConfig::default(),
            patch_size: 64,
            batch_size: 8,
            dates: 4,
            seed: 42,
            checkpoints_kept: 2,
            data: None,
        }
    }

    /// Total epochs over all stages.
    pub fn total_epochs(&self) -> usize {
        self.stages.iter().map(|s| s.epochs).sum()
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for no epochs, a non-positive learning rate, class weights of
    /// the wrong length or not positive, or a patch size that is not a multiple of `2^depth`.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.total_epochs() == 0 {
            return bad("the training plan has no epochs".into());
        }
        for s in &self.stages {
            if s.epochs > 0 && !(s.lr > 0.0 && s.lr.is_finite()) {
                return bad(format!(
                    "stage {} has learning rate {}",
                    s.stage.name(),
                    s.lr
                ));
            }
        }
        if let Some(w) = &self.loss.class_weights
            // `is_finite() && > 0` also rejects NaN.
            && (w.len() != self.model.num_classes || w.iter().any(|v| !(v.is_finite() && *v > 0.0)))
        {
            return bad(format!(
                "class weights must be {} positive numbers, got {w:?}",
                self.model.num_classes
            ));
        }
        let m = self.model.size_multiple();
        if self.patch_size == 0 || !self.patch_size.is_multiple_of(m) {
            return bad(format!(
                "patch size {} is not a positive multiple of 2^depth = {m}",
                self.patch_size
            ));
        }
        if self.model.num_classes == 0 || self.model.num_classes > 254 {
            return bad(format!(
                "{} classes (1..=254 supported)",
                self.model.num_classes
            ));
        }
        Ok(())
    }
}
