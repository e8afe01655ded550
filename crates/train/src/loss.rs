//! Cross-entropy losses that skip the ignore label, for per-date and fused logits.
//!
//! Burn's `CrossEntropyLoss` gathers before masking, so its pad id must be a valid class
//! (< K); 255 would index out of range. [`masked_cross_entropy`] masks first.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::metrics::IGNORE_LABEL;

/// Mean cross-entropy over the pixels whose label is not [`IGNORE_LABEL`].
///
/// With `class_weights`, each pixel's term is weighted by the weight of its label and the sum is
/// divided by the sum of the weights of the counted pixels (PyTorch's `weight=` convention).
/// When every pixel is ignored the loss is 0 (and its gradient is zero), never NaN.
///
/// # Shapes
/// - `logits`: `[batch, time, classes, height, width]` (raw scores, softmax is applied here)
/// - `labels`: `[batch, time, height, width]`, values in `0..classes` or 255
/// - returns a one-element tensor `[1]`
///
/// # Panics
/// If the shapes disagree or `class_weights` does not have one weight per class.
pub fn masked_cross_entropy(
    logits: Tensor<5>,
    labels: Tensor<4, Int>,
    class_weights: Option<&[f32]>,
) -> Tensor<1> {
    let [b, t, k, h, w] = logits.dims();
    let ldims = labels.dims();
    assert_eq!(
        ldims,
        [b, t, h, w],
        "labels must be [batch, time, height, width] = {:?}, got {ldims:?}",
        [b, t, h, w]
    );
    let device = logits.device();
    let logits: Tensor<4> = logits.reshape([b * t, k, h, w]);
    let labels: Tensor<4, Int> = labels.reshape([b * t, 1, h, w]);
    let valid = labels.clone().not_equal_elem(IGNORE_LABEL as i64);
    let safe = labels.mask_fill(valid.clone().bool_not(), 0);
    let logp = log_softmax(logits, 1);
    let nll = logp.gather(1, safe.clone()).neg(); // [N,1,H,W]
    let mut weight = valid.float();
    if let Some(cw) = class_weights {
        assert_eq!(cw.len(), k, "expected {k} class weights, got {}", cw.len());
        let table = Tensor::<1>::from_data(TensorData::new(cw.to_vec(), [k]), &device);
        let per_pixel: Tensor<1> = table.select(0, safe.reshape([b * t * h * w]));
        weight = weight * per_pixel.reshape([b * t, 1, h, w]);
    }
    let num = (nll * weight.clone()).sum();
    let den = weight.sum().clamp_min(1e-12);
    // den is at least 1 when one pixel counts (weights > 0): the clamp only guards 0/0.
    num / den
}

/// Class weights that counter class imbalance: `w_k = (median / f_k)^power` for class
/// frequencies `f_k` (classes never seen get the largest weight of the seen ones), clamped to
/// `[1/10, 10]` and scaled so that the frequency-weighted mean weight is 1 (the loss keeps its
/// scale). `power` 0.5 (square-root balancing) is a mild, common choice; 1 is full median
/// frequency balancing.
///
/// # Examples
/// ```
/// use chronomap_train::balanced_class_weights;
/// let w = balanced_class_weights(&[0.5, 0.3, 0.15, 0.05], 1.0);
/// assert!(w[3] > w[2] && w[2] > w[1] && w[1] > w[0]);
/// let mean: f64 = [0.5, 0.3, 0.15, 0.05].iter().zip(&w).map(|(f, w)| f * *w as f64).sum();
/// assert!((mean - 1.0).abs() < 1e-5);
/// ```
pub fn balanced_class_weights(frequencies: &[f64], power: f64) -> Vec<f32> {
    let mut seen: Vec<f64> = frequencies.iter().copied().filter(|f| *f > 0.0).collect();
    if seen.is_empty() {
        return vec![1.0; frequencies.len()];
    }
    seen.sort_by(f64::total_cmp);
    let median = seen[seen.len() / 2];
    let raw: Vec<f64> = frequencies
        .iter()
        .map(|&f| {
            if f > 0.0 {
                (median / f).powf(power).clamp(0.1, 10.0)
            } else {
                f64::NAN
            }
        })
        .collect();
    let max_seen = raw
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let raw: Vec<f64> = raw
        .iter()
        .map(|&v| if v.is_finite() { v } else { max_seen })
        .collect();
    let total: f64 = frequencies.iter().sum();
    let mean: f64 = frequencies
        .iter()
        .zip(&raw)
        .map(|(f, w)| f * w)
        .sum::<f64>()
        / total;
    raw.iter().map(|w| (w / mean) as f32).collect()
}

/// Weights of the terms of the spatio-temporal loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Weight of the auxiliary cross-entropy on the per-date (U-Net) logits; the fused term has
    /// weight 1. 0 disables the auxiliary term.
    pub aux_weight: f32,
    /// Optional per-class weights (one per class, all > 0).
    pub class_weights: Option<Vec<f32>>,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            aux_weight: 0.4,
            class_weights: None,
        }
    }
}

/// The loss terms of one batch.
#[derive(Debug, Clone)]
pub struct LossTerms {
    /// The total to back-propagate: `fused + aux_weight * date` (or the single term in use).
    pub total: Tensor<1>,
    /// Cross-entropy of the fused (ConvLSTM) logits at every date, if computed.
    pub fused: Option<Tensor<1>>,
    /// Cross-entropy of the per-date (U-Net) logits, if computed.
    pub date: Option<Tensor<1>>,
}

impl LossConfig {
    /// Loss of the full network: masked CE of the fused logits at every date plus
    /// `aux_weight` times the masked CE of the per-date logits.
    ///
    /// # Shapes
    /// - `date_logits`, `fused_logits`: `[batch, time, classes, height, width]`
    /// - `labels`: `[batch, time, height, width]`
    ///
    /// # Panics
    /// As [`masked_cross_entropy`].
    pub fn joint(
        &self,
        date_logits: Tensor<5>,
        fused_logits: Tensor<5>,
        labels: Tensor<4, Int>,
    ) -> LossTerms {
        let cw = self.class_weights.as_deref();
        let fused = masked_cross_entropy(fused_logits, labels.clone(), cw);
        if self.aux_weight > 0.0 {
            let date = masked_cross_entropy(date_logits, labels, cw);
            LossTerms {
                total: fused.clone() + date.clone() * self.aux_weight,
                fused: Some(fused),
                date: Some(date),
            }
        } else {
            LossTerms {
                total: fused.clone(),
                fused: Some(fused),
                date: None,
            }
        }
    }

    /// Loss of the U-Net alone (staged training, stage 1): masked CE of the per-date logits.
    ///
    /// # Shapes
    /// As [`joint`](Self::joint).
    ///
    /// # Panics
    /// As [`masked_cross_entropy`].
    pub fn per_date(&self, date_logits: Tensor<5>, labels: Tensor<4, Int>) -> LossTerms {
        let date = masked_cross_entropy(date_logits, labels, self.class_weights.as_deref());
        LossTerms {
            total: date.clone(),
            fused: None,
            date: Some(date),
        }
    }

    /// Loss of the ConvLSTM alone on frozen Pmaps (staged training, stage 2): masked CE of the
    /// fused logits.
    ///
    /// # Shapes
    /// As [`joint`](Self::joint).
    ///
    /// # Panics
    /// As [`masked_cross_entropy`].
    pub fn fused_only(&self, fused_logits: Tensor<5>, labels: Tensor<4, Int>) -> LossTerms {
        let fused = masked_cross_entropy(fused_logits, labels, self.class_weights.as_deref());
        LossTerms {
            total: fused.clone(),
            fused: Some(fused),
            date: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    /// Reference CE computed on the CPU with f64 from the same numbers.
    fn reference(logits: &[f32], labels: &[i64], k: usize, weights: Option<&[f32]>) -> f64 {
        let n = labels.len();
        let (mut num, mut den) = (0.0f64, 0.0f64);
        // logits laid out [N=1, T=1, K, H*W]: class stride n.
        for (p, &l) in labels.iter().enumerate() {
            if l == 255 {
                continue;
            }
            let zs: Vec<f64> = (0..k).map(|c| logits[c * n + p] as f64).collect();
            let m = zs.iter().cloned().fold(f64::MIN, f64::max);
            let lse = m + zs.iter().map(|z| (z - m).exp()).sum::<f64>().ln();
            let w = weights.map_or(1.0, |w| w[l as usize] as f64);
            num += w * (lse - zs[l as usize]);
            den += w;
        }
        num / den
    }

    #[test]
    fn ignores_255_and_matches_reference() {
        let dev = device();
        let k = 3;
        let logits: Vec<f32> = (0..k * 6)
            .map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.0)
            .collect();
        let labels = vec![0i64, 2, 255, 1, 255, 0];
        let lt = Tensor::<5>::from_data(TensorData::new(logits.clone(), [1, 1, k, 2, 3]), &dev);
        let yt = Tensor::<4, Int>::from_data(TensorData::new(labels.clone(), [1, 1, 2, 3]), &dev);
        let got: f32 = masked_cross_entropy(lt.clone(), yt, None).into_scalar();
        let want = reference(&logits, &labels, k, None);
        assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");

        // Changing the logits of ignored pixels changes nothing.
        let mut other = logits.clone();
        for c in 0..k {
            other[c * 6 + 2] += 50.0;
            other[c * 6 + 4] -= 9.0 * c as f32;
        }
        let lt2 = Tensor::<5>::from_data(TensorData::new(other, [1, 1, k, 2, 3]), &dev);
        let yt = Tensor::<4, Int>::from_data(TensorData::new(labels.clone(), [1, 1, 2, 3]), &dev);
        let got2: f32 = masked_cross_entropy(lt2, yt, None).into_scalar();
        assert_eq!(got, got2);

        // Class weights follow the weighted-mean convention.
        let w = [0.5f32, 2.0, 1.0];
        let yt = Tensor::<4, Int>::from_data(TensorData::new(labels.clone(), [1, 1, 2, 3]), &dev);
        let gw: f32 = masked_cross_entropy(lt, yt, Some(&w)).into_scalar();
        let ww = reference(&logits, &labels, k, Some(&w));
        assert!((gw as f64 - ww).abs() < 1e-5, "{gw} vs {ww}");
    }

    #[test]
    fn all_ignored_is_zero_with_zero_gradient() {
        let dev = device().autodiff();
        let logits = Tensor::<5>::ones([1, 2, 3, 2, 2], &dev).require_grad();
        let labels = Tensor::<4, Int>::full([1, 2, 2, 2], 255, &dev);
        let loss = masked_cross_entropy(logits.clone(), labels, None);
        let v: f32 = loss.clone().into_scalar();
        assert_eq!(v, 0.0);
        let grads = loss.backward();
        let g: Vec<f32> = logits
            .grad(&grads)
            .expect("grad")
            .try_into_vec_as::<f32>()
            .expect("vec");
        assert!(g.iter().all(|x| *x == 0.0 && x.is_finite()));
    }

    #[test]
    fn joint_is_fused_plus_weighted_aux() {
        let dev = device();
        let a = Tensor::<5>::from_data(
            TensorData::new(
                (0..24).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>(),
                [1, 2, 3, 2, 2],
            ),
            &dev,
        );
        let b = a.clone().mul_scalar(-0.5);
        let y = Tensor::<4, Int>::from_data(
            TensorData::new(vec![0i64, 1, 2, 255, 1, 1, 0, 2], [1, 2, 2, 2]),
            &dev,
        );
        let cfg = LossConfig {
            aux_weight: 0.25,
            class_weights: None,
        };
        let terms = cfg.joint(a.clone(), b.clone(), y.clone());
        let total: f32 = terms.total.into_scalar();
        let fused: f32 = masked_cross_entropy(b, y.clone(), None).into_scalar();
        let date: f32 = masked_cross_entropy(a, y, None).into_scalar();
        assert!((total - (fused + 0.25 * date)).abs() < 1e-6);
    }
}
