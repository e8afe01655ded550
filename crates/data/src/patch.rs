//! [`ScenePatch`]: the raw pixels, quality and labels of a window over several dates.

use chronomap_geo::Window;

use crate::augment::Dihedral;
use crate::mask::{LabelPolicy, QUALITY_CLEAR};

/// A window of a [`crate::SceneSeries`] over several dates, as read from the files (raw
/// values, e.g. Sentinel-2 reflectance x 10000; not normalized).
#[derive(Clone, Debug, PartialEq)]
pub struct ScenePatch {
    /// Where the patch was cut (for an augmented patch: before the transform).
    pub window: Window,
    /// Date indices into the series, in patch order.
    pub dates: Vec<usize>,
    /// Number of bands.
    pub channels: usize,
    /// Pixel values, `[time, channels, height, width]` row-major.
    pub image: Vec<f32>,
    /// Pixel quality ([`crate::QUALITY_CLEAR`], `..._MASKED`, `..._NODATA`),
    /// `[time, height, width]`.
    pub quality: Vec<u8>,
    /// Class ids or [`crate::IGNORE_INDEX`] (masks not yet applied), `[time, height, width]`.
    pub labels: Vec<u8>,
}

impl ScenePatch {
    /// `[time, channels, height, width]` of [`ScenePatch::image`].
    pub fn shape(&self) -> [usize; 4] {
        [
            self.dates.len(),
            self.channels,
            self.window.height,
            self.window.width,
        ]
    }

    /// Fraction of pixel-dates whose quality is clear.
    pub fn valid_fraction(&self) -> f32 {
        if self.quality.is_empty() {
            return 0.0;
        }
        let n = self.quality.iter().filter(|&&q| q == QUALITY_CLEAR).count();
        n as f32 / self.quality.len() as f32
    }

    /// Applies `policy`: labels of ignored pixels become [`crate::IGNORE_INDEX`].
    pub fn apply_label_policy(&mut self, policy: LabelPolicy) {
        policy.apply(&mut self.labels, &self.quality);
    }

    /// Applies a dihedral transform to every date, band, quality plane and label plane.
    /// For transforms that swap axes the window's `width` and `height` are swapped too (its
    /// `col`/`row` stay those of the source window).
    pub fn transform(&mut self, t: Dihedral) {
        if t == Dihedral::Identity {
            return;
        }
        let (h, w) = (self.window.height, self.window.width);
        // Transform into a per-thread scratch buffer and swap: the old (already mapped)
        // buffer becomes the next scratch, so no fresh multi-megabyte allocation per patch.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|cell| {
            let mut buf = cell.borrow_mut();
            buf.clear();
            buf.resize(self.image.len(), 0.0);
            t.apply_planes(&self.image, &mut buf, h, w);
            std::mem::swap(&mut *buf, &mut self.image);
        });
        self.quality = t.transform_planes(&self.quality, h, w);
        self.labels = t.transform_planes(&self.labels, h, w);
        let (oh, ow) = t.output_dims(h, w);
        self.window.height = oh;
        self.window.width = ow;
    }
}
