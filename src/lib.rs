//! # chronomap
//!
//! Land-cover maps from satellite image time series, in pure Rust on [Burn](https://burn.dev).
//!
//! Sentinel-2, Landsat, SPOT or Pleiades images of one area arrive every few days. For each
//! date a U-Net (32 filters at the first level, batch norm after every convolution) produces a
//! noisy class-probability map (Pmap); a ConvLSTM combines each date's Pmap with a hidden state
//! carried from the previous date and produces a more accurate, up-to-date map. Labels come
//! from OpenStreetMap, rasterized onto the image grid.
//!
//! # Overview
//! This crate is a facade over four crates, re-exported as modules:
//!
//! | module    | crate             | what it holds                                                   |
//! |-----------|-------------------|-----------------------------------------------------------------|
//! | [`model`] | `chronomap-model` | U-Net, ConvLSTM, the spatio-temporal network (no file I/O)      |
//! | [`geo`]   | `chronomap-geo`   | GeoTIFF read/write, georeferencing, CRS, OSM/GeoJSON -> labels  |
//! | [`data`]  | `chronomap-data`  | scene time series, patches, augmentation, normalization, batches |
//! | [`train`] | `chronomap-train` | losses, metrics, training, checkpoints, scene inference, change |
//!
//! plus [`select_device`], which turns a user's backend choice (`cpu`, `wgpu`, `cuda`, ...)
//! into a Burn [`Device`](burn::tensor::Device).
//! [`bench`](mod@bench) holds the benchmark workloads that `chronomap bench` and `cargo bench` time.
//!
//! Every tensor of a time series uses one layout: `[batch, time, channels, height, width]`.
//!
//! # Example
//! ```
//! use chronomap::{select_device, DeviceChoice};
//!
//! let device = select_device(DeviceChoice::Flex)?; // pure-Rust CPU backend, always available
//! # let _ = device;
//! # Ok::<(), chronomap::DeviceError>(())
//! ```
//!
//! # Features
//! - `wgpu` ☑ (default): GPUs through wgpu (Vulkan, Metal, DX12), with kernel fusion and
//!   autotuning; on a machine without a GPU, Mesa's lavapipe provides a (slow) Vulkan device.
//! - `cli` ☑ (default): the `chronomap` command-line program.
//! - `cuda` ☐: NVIDIA GPUs through CUDA (needs the CUDA toolkit at build time).
//! - `ndarray` ☐: Burn's NdArray CPU backend (inference only).
//!
//! Flex, Burn's pure-Rust CPU backend, is always compiled in.

pub mod bench;
mod device;

pub use chronomap_data as data;
pub use chronomap_geo as geo;
pub use chronomap_model as model;
pub use chronomap_train as train;

pub use device::{
    DeviceChoice, DeviceError, describe_device, device_from_name, devices_from_list, select_device,
};

/// The Burn version chronomap is built against (and whose tensors it exposes).
pub use burn;
