//! Data-parallel training steps over several devices, in the pattern of Burn's
//! `burn_train::MultiDeviceLearningStrategy` (`MultiDeviceOptim::OptimMainDevice`): the batch is
//! split along its first axis, every device computes the gradients of its shard on a fork of the
//! model (`Module::fork`), the gradients are moved to the main device
//! (`GradientsParams::to_device`) and summed (`GradientsAccumulator`), and one optimizer step
//! runs there.
//!
//! # Exactness
//! The loss is a weighted mean over the pixels that count ([`masked_cross_entropy`]): shards
//! with more labelled pixels must weigh more. Each shard's loss is therefore scaled by
//! `den_shard / den_batch` (its share of the batch's summed pixel weights, computed on the host
//! from the labels), so the summed shard gradients are the full-batch gradient *exactly* (up to
//! float rounding) whenever the samples of a batch do not interact. They do not in the
//! ConvLSTM stage of staged training (the U-Net is frozen, its batch norms use their running
//! statistics) and for any network in evaluation mode; test
//! `data_parallel_step_equals_the_full_batch_step` proves it on the CPU.
//!
//! In the U-Net and joint stages, batch norm in training mode normalizes each shard with the
//! shard's own statistics, as PyTorch's `DistributedDataParallel` does without
//! `SyncBatchNorm` (Burn 0.22.1 has no synchronized batch norm): the step then equals a
//! full-batch step with "ghost" batch norm over shards, not the single-device step; keep shards
//! of at least 4 samples. The running statistics of the replicas are averaged by Burn's
//! `RunningState`.
//!
//! # Why not Burn's collective API
//! Burn 0.22.1's `tensor::distributed::all_reduce` (what `burn_train`'s DDP strategy uses) is
//! implemented for CUDA only (NCCL, `cubecl-cuda`); wgpu answers `NoDeviceTransport`, and Flex
//! and NdArray do not implement it (the trait default panics). Moving gradients to the main
//! device works on every backend, which is why Burn's own multi-device strategy does it too.
//! Burn 0.22.1 has no multi-node training; neither has chronomap.
//!
//! [`masked_cross_entropy`]: crate::masked_cross_entropy

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

use chronomap_model::SpatioTemporalNet;

use crate::batch::HostBatch;
use crate::config::Stage;
use crate::error::{Error, Result};
use crate::loss::{LossConfig, LossTerms};
use crate::metrics::IGNORE_LABEL;

/// The loss of one training stage on one batch (what the trainer back-propagates).
///
/// # Shapes
/// - `images`: `[batch, time, channels, height, width]`
/// - `labels`: `[batch, time, height, width]`
pub(crate) fn stage_loss(
    model: &SpatioTemporalNet,
    stage: Stage,
    loss: &LossConfig,
    images: Tensor<5>,
    labels: Tensor<4, Int>,
) -> LossTerms {
    match stage {
        Stage::Unet => loss.per_date(model.date_logits(images), labels),
        Stage::Temporal => {
            let dl = model.date_logits(images).detach();
            loss.fused_only(model.fuse(dl), labels)
        }
        Stage::Joint => {
            let out = model.forward(images);
            loss.joint(out.date_logits, out.fused_logits, labels)
        }
    }
}

/// The denominator of [`masked_cross_entropy`](crate::masked_cross_entropy) for `labels`: the
/// summed class weights (1 without weights) of the pixels not labelled
/// [`IGNORE_LABEL`].
pub(crate) fn loss_denominator(labels: &[u8], class_weights: Option<&[f32]>) -> f64 {
    labels
        .iter()
        .filter(|&&l| l != IGNORE_LABEL)
        .map(|&l| match class_weights {
            Some(w) => w.get(l as usize).copied().unwrap_or(0.0) as f64,
            None => 1.0,
        })
        .sum()
}

/// Splits `batch` along its first axis into at most `parts` shards of consecutive samples
/// whose sizes differ by at most one (the first ones are larger); no shard is empty, so a
/// batch smaller than `parts` gives fewer shards.
pub fn split_batch(batch: &HostBatch, parts: usize) -> Vec<HostBatch> {
    let [b, t, c, h, w] = batch.shape;
    let parts = parts.clamp(1, b.max(1));
    let (image_len, label_len) = (t * c * h * w, t * h * w);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 0..parts {
        let n = b / parts + usize::from(k < b % parts);
        if n == 0 {
            continue;
        }
        out.push(HostBatch {
            shape: [n, t, c, h, w],
            images: batch.images[start * image_len..(start + n) * image_len].to_vec(),
            labels: batch.labels[start * label_len..(start + n) * label_len].to_vec(),
        });
        start += n;
    }
    out
}

/// One data-parallel gradient computation: splits `batch` over `devices` (autodiff devices,
/// see [`split_batch`]), computes each shard's scaled loss and gradients on a fork of `model`
/// there, in one thread per device, and returns the batch loss and the summed gradients on
/// `main` (the device the model and the optimizer live on).
///
/// With one device (or a batch of one sample) this is the ordinary single-device step.
///
/// # Shapes
/// `batch`: images `[batch, time, channels, height, width]`, labels `[batch, time, height,
/// width]`.
///
/// # Errors
/// [`Error::InvalidConfig`] when `devices` is empty or a worker panicked (the message names
/// the device and the panic).
pub fn data_parallel_grads(
    model: &SpatioTemporalNet,
    stage: Stage,
    loss: &LossConfig,
    batch: &HostBatch,
    devices: &[Device],
    main: &Device,
) -> Result<(f64, GradientsParams)> {
    if devices.is_empty() {
        return Err(Error::InvalidConfig(
            "data-parallel training needs at least one device".into(),
        ));
    }
    let cw = loss.class_weights.as_deref();
    let shards = split_batch(batch, devices.len());
    let den_batch = loss_denominator(&batch.labels, cw);
    let results: Vec<std::thread::Result<(f64, GradientsParams)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards
            .into_iter()
            .zip(devices)
            .map(|(shard, device)| {
                scope.spawn(move || {
                    // The shard's share of the batch's loss denominator (0 when nothing counts).
                    let scale = if den_batch > 0.0 {
                        loss_denominator(&shard.labels, cw) / den_batch
                    } else {
                        0.0
                    };
                    let replica = model.clone().fork(device);
                    // moved, not copied: the shard's pixels were copied once by split_batch
                    let (images, labels) = shard.into_tensors(device);
                    let terms = stage_loss(&replica, stage, loss, images, labels);
                    let total = terms.total * scale as f32;
                    let value = total.clone().into_scalar::<f32>() as f64;
                    let grads = GradientsParams::from_grads(total.backward(), &replica);
                    (value, grads)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut accumulator = GradientsAccumulator::<SpatioTemporalNet>::new();
    let mut total = 0.0;
    for (result, device) in results.into_iter().zip(devices) {
        let (value, grads) = result.map_err(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Error::InvalidConfig(format!("the training worker on {device:?} failed: {why}"))
        })?;
        total += value;
        accumulator.accumulate(model, grads.to_device(main, model));
    }
    Ok((total, accumulator.grads()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::AdamConfig;
    use chronomap_model::SpatioTemporalNetConfig;

    fn batch(b: usize, seed: u64) -> HostBatch {
        let (t, c, h, w) = (2, 3, 16, 16);
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        let images = (0..b * t * c * h * w)
            .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
            .collect();
        // Uneven shares of ignored pixels per sample, so that unscaled shard means would differ
        // from the batch mean: sample i ignores its first 80 * i pixels of every date.
        let mut labels = Vec::with_capacity(b * t * h * w);
        for i in 0..b {
            for _ in 0..t {
                for p in 0..h * w {
                    labels.push(if p < 80 * i {
                        IGNORE_LABEL
                    } else {
                        (next() % 3) as u8
                    });
                }
            }
        }
        HostBatch {
            shape: [b, t, c, h, w],
            images,
            labels,
        }
    }

    fn model(device: &Device) -> SpatioTemporalNet {
        crate::trainer::init_model(&SpatioTemporalNetConfig::tiny(3, 3), device, 5)
    }

    /// Every float parameter of `m`, flattened in visiting order.
    fn flat(m: &SpatioTemporalNet) -> Vec<f32> {
        struct Collect(Vec<f32>);
        impl burn::module::ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                self.0
                    .extend(param.val().try_into_vec_as::<f32>().expect("read"));
            }
        }
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        c.0
    }

    #[test]
    fn shards_cover_the_batch_in_order() {
        let b = batch(5, 1);
        let shards = split_batch(&b, 2);
        assert_eq!(
            shards.iter().map(|s| s.shape[0]).collect::<Vec<_>>(),
            vec![3, 2]
        );
        let images: Vec<f32> = shards.iter().flat_map(|s| s.images.clone()).collect();
        let labels: Vec<u8> = shards.iter().flat_map(|s| s.labels.clone()).collect();
        assert_eq!((images, labels), (b.images.clone(), b.labels.clone()));
        // more devices than samples: one sample per shard, none empty
        assert_eq!(split_batch(&batch(2, 1), 4).len(), 2);
    }

    /// The proof asked for by the multi-device issue: splitting a batch over two replicas and
    /// summing their share-scaled gradients gives the single-device full-batch step. Stage
    /// Temporal (the U-Net frozen: its batch norms use running statistics, so samples do not
    /// interact); class weights on; samples with uneven ignored shares (3 + 1 split of 4).
    /// Both "devices" are Flex here (the CPU has one); the split, scaling, device moves and
    /// accumulation are the same code a CUDA or wgpu node runs.
    #[test]
    fn data_parallel_step_equals_the_full_batch_step() {
        let device = Device::flex().autodiff();
        let net = model(&device).freeze_unet();
        let loss = LossConfig {
            aux_weight: 0.4,
            class_weights: Some(vec![0.5, 1.0, 2.0]),
        };
        let hb = batch(4, 7);

        let (images, labels) = hb.to_tensors(&device);
        let full = stage_loss(&net, Stage::Temporal, &loss, images, labels).total;
        let full_value = full.clone().into_scalar::<f32>() as f64;
        let full_grads = GradientsParams::from_grads(full.backward(), &net);

        let devices = [device.clone(), device.clone(), device.clone()];
        let (dp_value, dp_grads) =
            data_parallel_grads(&net, Stage::Temporal, &loss, &hb, &devices[..2], &device).unwrap();
        assert!(
            (dp_value - full_value).abs() < 1e-5 * full_value.abs(),
            "{dp_value} vs {full_value}"
        );

        // Three devices for four samples: 2 + 1 + 1, still the full-batch loss.
        let (v3, _) =
            data_parallel_grads(&net, Stage::Temporal, &loss, &hb, &devices, &device).unwrap();
        assert!((v3 - full_value).abs() < 1e-5 * full_value.abs());

        // One Adam step from each gradient: the same weights.
        let step = |g: GradientsParams| {
            let mut optim = AdamConfig::new().init();
            flat(&optim.step(1e-2, net.clone(), g))
        };
        let before = flat(&net);
        let (a, b) = (step(full_grads), step(dp_grads));
        let moved = a.iter().zip(&before).filter(|(x, y)| x != y).count();
        assert!(
            moved > 100,
            "the step must move the temporal weights ({moved} moved)"
        );
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-5,
            "data-parallel and full-batch steps differ by {worst}"
        );
        // The steps returned new modules; the shared one is untouched.
        assert_eq!(flat(&net), before);

        // Without the share scaling (plain mean of shard means, what a naive split does) the
        // loss would differ: shards of 3 and 1 samples with different ignored shares.
        let shards = split_batch(&hb, 2);
        let naive: f64 = shards
            .iter()
            .map(|s| {
                let (i, l) = s.to_tensors(&device);
                stage_loss(&net, Stage::Temporal, &loss, i, l)
                    .total
                    .into_scalar::<f32>() as f64
            })
            .sum::<f64>()
            / 2.0;
        assert!((naive - full_value).abs() > 1e-3, "{naive} vs {full_value}");
    }
}
