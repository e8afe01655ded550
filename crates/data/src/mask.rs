//! Pixel quality and the ignore label.
//!
//! Every pixel of every date has a quality: [`QUALITY_CLEAR`], [`QUALITY_MASKED`] (a cloud,
//! shadow or other value flagged by the date's mask raster) or [`QUALITY_NODATA`] (a band
//! equals the nodata value, or is NaN). Labels of pixels that are unlabelled, nodata or (by
//! default) masked become [`IGNORE_INDEX`], which losses and metrics skip.

use serde::{Deserialize, Serialize};

/// The label of pixels that losses and metrics must skip: unlabelled, nodata or cloud.
pub const IGNORE_INDEX: u8 = 255;

/// Quality of a clear pixel: image values can be trusted.
pub const QUALITY_CLEAR: u8 = 0;
/// Quality of a pixel flagged by the date's mask (cloud, cloud shadow, ...).
pub const QUALITY_MASKED: u8 = 1;
/// Quality of a nodata pixel (outside the acquisition swath, or NaN).
pub const QUALITY_NODATA: u8 = 2;

/// Which pixels get [`IGNORE_INDEX`] in the per-date label tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelPolicy {
    /// Ignore pixels flagged by the date's mask (default `true`). Set `false` to train or
    /// evaluate the fused maps on cloudy pixels too, where the ground is known from the label
    /// raster but the date's image cannot show it.
    pub ignore_masked: bool,
    /// Ignore nodata pixels (default `true`).
    pub ignore_nodata: bool,
}

impl Default for LabelPolicy {
    fn default() -> Self {
        Self {
            ignore_masked: true,
            ignore_nodata: true,
        }
    }
}

impl LabelPolicy {
    /// Whether a pixel of quality `q` gets the ignore label.
    #[inline]
    pub fn ignores(&self, q: u8) -> bool {
        match q {
            QUALITY_CLEAR => false,
            QUALITY_MASKED => self.ignore_masked,
            _ => self.ignore_nodata,
        }
    }

    /// Sets `labels[i] = IGNORE_INDEX` wherever `quality[i]` is ignored by the policy.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn apply(&self, labels: &mut [u8], quality: &[u8]) {
        assert_eq!(
            labels.len(),
            quality.len(),
            "labels and quality differ in length"
        );
        for (l, &q) in labels.iter_mut().zip(quality) {
            if self.ignores(q) {
                *l = IGNORE_INDEX;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_marks_the_right_pixels() {
        let q = [QUALITY_CLEAR, QUALITY_MASKED, QUALITY_NODATA, QUALITY_CLEAR];
        let mut l = [1, 2, 3, IGNORE_INDEX];
        LabelPolicy::default().apply(&mut l, &q);
        assert_eq!(l, [1, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]);
        let mut l = [1, 2, 3, 4];
        LabelPolicy {
            ignore_masked: false,
            ignore_nodata: true,
        }
        .apply(&mut l, &q);
        assert_eq!(l, [1, 2, IGNORE_INDEX, 4]);
    }
}
