//! RGB composites of three bands with a percentile stretch.

use std::path::Path;

use super::png_file::write_rgb_png;
use crate::error::{Error, Result};

/// Maps a band to 0-255 linearly between its `lo_pct` and `hi_pct` percentiles over valid
/// pixels (not nodata, not NaN); invalid pixels become 0. Percentiles come from at most ~1 M
/// evenly strided samples.
///
/// # Examples
/// ```
/// use chronomap_geo::quicklook::percentile_stretch;
/// let band: Vec<f32> = (0..=100).map(|v| v as f32).collect();
/// let s = percentile_stretch(&band, None, 0.0, 100.0);
/// assert_eq!((s[0], s[50], s[100]), (0, 128, 255));
/// ```
pub fn percentile_stretch(band: &[f32], nodata: Option<f32>, lo_pct: f64, hi_pct: f64) -> Vec<u8> {
    let valid = |v: f32| !v.is_nan() && nodata.is_none_or(|nd| v != nd);
    let stride = (band.len() / 1_000_000).max(1);
    let mut sample: Vec<f32> = band
        .iter()
        .step_by(stride)
        .copied()
        .filter(|&v| valid(v))
        .collect();
    if sample.is_empty() {
        return vec![0; band.len()];
    }
    sample.sort_unstable_by(f32::total_cmp);
    let at =
        |p: f64| sample[((p / 100.0).clamp(0.0, 1.0) * (sample.len() - 1) as f64).round() as usize];
    let (lo, hi) = (at(lo_pct), at(hi_pct));
    let span = if hi > lo { hi - lo } else { 1.0 };
    band.iter()
        .map(|&v| {
            if valid(v) {
                ((v - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        })
        .collect()
}

/// Writes a 2%-98% stretched RGB composite of three bands (`[height, width]` each; e.g.
/// Sentinel-2 B04, B03, B02 for true colour) as PNG.
///
/// # Errors
/// [`Error::DataLength`] if a band has the wrong length; as [`write_rgb_png`].
pub fn write_composite_png(
    path: impl AsRef<Path>,
    width: usize,
    height: usize,
    bands: [&[f32]; 3],
    nodata: Option<f32>,
) -> Result<()> {
    if let Some(b) = bands.iter().find(|b| b.len() != width * height) {
        return Err(Error::DataLength {
            expected: width * height,
            actual: b.len(),
        });
    }
    let s: Vec<Vec<u8>> = bands
        .iter()
        .map(|b| percentile_stretch(b, nodata, 2.0, 98.0))
        .collect();
    let mut rgb = Vec::with_capacity(width * height * 3);
    for ((r, g), b) in s[0].iter().zip(&s[1]).zip(&s[2]) {
        rgb.extend_from_slice(&[*r, *g, *b]);
    }
    write_rgb_png(path, width, height, &rgb)
}
