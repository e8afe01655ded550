//! Batches as host memory, produced deterministically so that training can resume exactly.

use burn::prelude::*;

use crate::error::Result;

/// A batch of image time series and per-date labels in host memory.
///
/// `images` is `[batch, time, channels, height, width]` row-major f32 (normalized);
/// `labels` is `[batch, time, height, width]` with class ids or 255 (ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Shape `[batch, time, channels, height, width]` of `images`.
    pub shape: [usize; 5],
    /// Normalized pixels.
    pub images: Vec<f32>,
    /// Per-date labels, 255 = ignore.
    pub labels: Vec<u8>,
}

impl HostBatch {
    /// Stacks `count` patch items (each `[time, channels, height, width]`, all of one shape)
    /// drawn one by one from `items` into a batch `[count, time, channels, height, width]`,
    /// reserving the batch's memory once, from the first item's size.
    ///
    /// # Errors
    /// The first error of `items`.
    pub(crate) fn stack(
        count: usize,
        items: impl IntoIterator<Item = Result<chronomap_data::PatchItem>>,
    ) -> Result<Self> {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        let mut shape = [0usize; 5];
        for (n, item) in items.into_iter().enumerate() {
            let item = item?;
            let [t, c, h, w] = item.shape;
            if n == 0 {
                shape = [count, t, c, h, w];
                images.reserve(count * item.image.len());
                labels.reserve(count * item.labels.len());
            }
            images.extend_from_slice(&item.image);
            labels.extend_from_slice(&item.labels);
        }
        Ok(HostBatch {
            shape,
            images,
            labels,
        })
    }

    /// Uploads the batch to `device`: images `[B,T,C,H,W]` float, labels `[B,T,H,W]` int.
    ///
    /// # Panics
    /// If the vectors do not match `shape`.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<5>, Tensor<4, Int>) {
        self.clone().into_tensors(device)
    }

    /// Uploads the batch to `device` like [`to_tensors`](Self::to_tensors), moving its pixels
    /// instead of copying them on the host.
    ///
    /// # Panics
    /// If the vectors do not match `shape`.
    pub fn into_tensors(self, device: &Device) -> (Tensor<5>, Tensor<4, Int>) {
        let [b, t, c, h, w] = self.shape;
        assert_eq!(
            self.images.len(),
            b * t * c * h * w,
            "images do not match shape {:?}",
            self.shape
        );
        assert_eq!(
            self.labels.len(),
            b * t * h * w,
            "labels do not match shape {:?}",
            self.shape
        );
        let images = Tensor::<5>::from_data(TensorData::new(self.images, self.shape), device);
        let labels: Vec<i64> = self.labels.iter().map(|&v| v as i64).collect();
        let labels = Tensor::<4, Int>::from_data(TensorData::new(labels, [b, t, h, w]), device);
        (images, labels)
    }
}

/// A deterministic source of batches: batch `index` of epoch `epoch` is always the same, so a
/// resumed run sees exactly the batches the interrupted one would have seen.
///
/// Implementations shuffle and augment with RNGs seeded from `(seed, epoch, index)`. Training
/// asks for batches of `epoch` from a worker thread while the previous batch trains.
pub trait BatchSource: Send + Sync {
    /// Batches per epoch.
    fn num_batches(&self) -> usize;

    /// Batch `index` (`< num_batches()`) of epoch `epoch` (0-based over the whole run).
    ///
    /// # Errors
    /// Whatever reading the underlying files can fail with.
    fn batch(&self, epoch: usize, index: usize) -> Result<HostBatch>;
}

/// Batches held in memory, the same every epoch (useful for validation sets and tests).
#[derive(Debug, Clone, Default)]
pub struct InMemoryBatches {
    /// The batches, in order.
    pub batches: Vec<HostBatch>,
}

impl BatchSource for InMemoryBatches {
    fn num_batches(&self) -> usize {
        self.batches.len()
    }

    fn batch(&self, _epoch: usize, index: usize) -> Result<HostBatch> {
        Ok(self.batches[index].clone())
    }
}
