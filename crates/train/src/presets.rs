//! Named sizes of network and training, from a CI smoke test to the talk's paper setting.

use chronomap_model::SpatioTemporalNetConfig;
use serde::{Deserialize, Serialize};

/// A named network + training size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    /// Name (`quick`, `cpu`, `paper`).
    pub name: String,
    /// U-Net base filters.
    pub base_filters: usize,
    /// U-Net depth.
    pub depth: usize,
    /// ConvLSTM hidden channels.
    pub hidden_channels: usize,
    /// Patch side.
    pub patch_size: usize,
    /// Patches per batch.
    pub batch_size: usize,
    /// Random training windows per epoch.
    pub windows_per_epoch: usize,
    /// Dates per training sequence.
    pub sequence_length: usize,
    /// Epochs of the U-Net stage.
    pub unet_epochs: usize,
    /// Epochs of the ConvLSTM stage (frozen U-Net).
    pub temporal_epochs: usize,
    /// Epochs of joint fine-tuning.
    pub joint_epochs: usize,
    /// Base learning rate.
    pub lr: f64,
    /// Side of the synthetic world generated for this preset.
    pub world_size: usize,
    /// Inference window side.
    pub window: usize,
}

impl Preset {
    /// A one-to-two-minute smoke run (CI): a tiny network on a 256 px world.
    pub fn quick() -> Self {
        Self {
            name: "quick".into(),
            base_filters: 8,
            depth: 2,
            hidden_channels: 8,
            patch_size: 32,
            batch_size: 8,
            windows_per_epoch: 24,
            sequence_length: 3,
            unet_epochs: 2,
            temporal_epochs: 1,
            joint_epochs: 1,
            lr: 3e-3,
            world_size: 256,
            window: 64,
        }
    }

    /// The default on a 2-core CPU: a reduced network (16 base filters, depth 3) that still
    /// learns the synthetic world within the example's 15-minute budget.
    pub fn cpu() -> Self {
        Self {
            name: "cpu".into(),
            base_filters: 16,
            depth: 3,
            hidden_channels: 16,
            patch_size: 64,
            batch_size: 8,
            windows_per_epoch: 64,
            sequence_length: 5,
            unet_epochs: 14,
            temporal_epochs: 16,
            joint_epochs: 4,
            lr: 2e-3,
            world_size: 512,
            window: 128,
        }
    }

    /// The talk's setting for GPUs: base 32 filters, depth 4, 512 px patches.
    pub fn paper() -> Self {
        Self {
            name: "paper".into(),
            base_filters: 32,
            depth: 4,
            hidden_channels: 16,
            patch_size: 512,
            batch_size: 4,
            windows_per_epoch: 64,
            sequence_length: 5,
            unet_epochs: 20,
            temporal_epochs: 10,
            joint_epochs: 5,
            lr: 1e-3,
            world_size: 2048,
            window: 512,
        }
    }

    /// The preset called `name`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "quick" | "tiny" | "ci" => Some(Self::quick()),
            "cpu" => Some(Self::cpu()),
            "paper" | "gpu" => Some(Self::paper()),
            _ => None,
        }
    }

    /// The network for `in_channels` bands and `num_classes` classes.
    pub fn model(&self, in_channels: usize, num_classes: usize) -> SpatioTemporalNetConfig {
        SpatioTemporalNetConfig::new(in_channels, num_classes)
            .with_base_filters(self.base_filters)
            .with_depth(self.depth)
            .with_hidden_channels(self.hidden_channels)
    }
}
