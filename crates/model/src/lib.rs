//! The networks of chronomap: a per-date U-Net whose class probabilities are fused over time by
//! a ConvLSTM, as Burn 0.22 modules running on any Burn device (CPU `Device::flex()`, wgpu,
//! CUDA).
//!
//! # Overview
//!
//! - [`SpatioTemporalNet`] (built from [`SpatioTemporalNetConfig`]) is the talk's network:
//!   [`SpatioTemporalNet::forward`] maps a batch of image time series to per-date and fused
//!   class logits ([`SpatioTemporalOutput`]); [`SpatioTemporalNet::step`] updates the map with
//!   one new acquisition and a [`TemporalState`], without reprocessing the series.
//! - [`UNet`] ([`UNetConfig`]) is the per-date segmentation network, made of [`ConvBlock`]s
//!   with PyTorch-semantics [`BatchNorm`].
//! - [`ConvLstmCell`] ([`ConvLstmCellConfig`]) with its explicit [`ConvLstmState`] fuses each
//!   date's probability map (Pmap) with the state of the previous date.
//! - Weights: PyTorch-layout safetensors ([`SpatioTemporalNet::load_safetensors`],
//!   [`SpatioTemporalNet::save_safetensors`]) and chronomap's own checkpoints
//!   ([`SpatioTemporalNet::save`], [`SpatioTemporalNet::load`]); failures are an [`Error`].
//!
//! # Layout
//!
//! Every image time series tensor is `[batch, time, channels, height, width]` (per-date tensors
//! drop `time`: `[batch, channels, height, width]`). Logits put classes where the channels were:
//! `[batch, time, num_classes, height, width]`. Height and width must be multiples of
//! `2^depth` (16 for the default depth 4). Shape-contract violations panic with a message
//! naming the expected and actual shapes.
//!
//! # Training and evaluation
//!
//! Batch normalization uses batch statistics when the input is on an autodiff device
//! (`device.autodiff()`) and the network was not [`valid`](burn::module::Module::valid)ated or
//! frozen; `net.valid()` gives the evaluation network. Staged training can train the U-Net
//! alone on [`SpatioTemporalNet::date_logits`], then freeze it
//! ([`SpatioTemporalNet::freeze_unet`]) and train the fusion on
//! [`SpatioTemporalNet::fuse`]`(date_logits.detach())`.
//!
//! # Example
//!
//! ```
//! use burn::prelude::*;
//! use chronomap_model::{SpatioTemporalNet, SpatioTemporalNetConfig};
//!
//! let device = Device::flex();
//! // 4 bands, 3 classes, a small network (base 8 filters, depth 2: sizes multiple of 4).
//! let net: SpatioTemporalNet = SpatioTemporalNetConfig::tiny(4, 3).init(&device);
//! // 1 series of 3 dates, 16x16 pixels: [batch, time, channels, height, width].
//! let x = Tensor::<5>::zeros([1, 3, 4, 16, 16], &device);
//! let out = net.forward(x.clone());
//! assert_eq!(out.fused_logits.dims(), [1, 3, 3, 16, 16]);
//!
//! // The same map, one acquisition at a time.
//! let mut state = None;
//! for t in 0..3 {
//!     let frame = x.clone().narrow(1, t, 1).squeeze_dim::<4>(1);
//!     let (fused_t, next) = net.step(frame, state);
//!     assert_eq!(fused_t.dims(), [1, 3, 16, 16]);
//!     state = Some(next);
//! }
//! ```
//!
//! # Features
//!
//! This crate has no features; backends are chosen by the `chronomap` facade.

mod batch_norm;
mod checkpoint;
mod conv_block;
mod conv_lstm;
pub mod cpu;
mod error;
mod network;
mod pytorch_weights;
mod unet;

pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use checkpoint::checkpoint_config_path;
pub use conv_block::{ConvBlock, ConvBlockConfig};
pub use conv_lstm::{ConvLstmCell, ConvLstmCellConfig, ConvLstmState};
pub use error::{Error, Result};
pub use network::{
    SpatioTemporalNet, SpatioTemporalNetConfig, SpatioTemporalOutput, StepOutput, TemporalState,
};
pub use unet::{UNet, UNetConfig};
