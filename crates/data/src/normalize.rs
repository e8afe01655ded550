//! Per-band normalization statistics: computed once from a sample of valid pixels, saved as
//! JSON next to the model, and applied identically at training and inference.

use std::path::Path;

use serde::{Deserialize, Serialize};

use chronomap_geo::Window;

use crate::error::{Error, Result};
use crate::manifest::write_atomic;
use crate::mask::QUALITY_CLEAR;
use crate::rng::SplitMix64;
use crate::series::SceneSeries;

/// How [`NormStats::apply`] maps a raw value `x` of band `b`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NormMethod {
    /// `(x - mean) / std`, with `mean` and `std` of the sample winsorized to
    /// `[p_low, p_high]` (robust to residual clouds and saturated pixels).
    MeanStd,
    /// `(x - p_low) / (p_high - p_low)`: the low percentile maps to 0, the high one to 1.
    Percentile,
}

/// Statistics of one band.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandStats {
    /// Band name.
    pub name: String,
    /// Mean of the winsorized sample.
    pub mean: f32,
    /// Standard deviation of the winsorized sample (at least `1e-6`).
    pub std: f32,
    /// The low percentile ([`NormStats::low_percentile`]).
    pub p_low: f32,
    /// The high percentile ([`NormStats::high_percentile`]).
    pub p_high: f32,
    /// Number of pixels sampled.
    pub count: u64,
}

/// Per-band normalization statistics (serialize with [`NormStats::save`]).
///
/// # Examples
/// ```
/// use chronomap_data::{NormMethod, NormStats};
/// // Two bands, values sampled from valid pixels.
/// let stats = NormStats::from_samples(
///     &["B4".to_string(), "B8".to_string()],
///     vec![vec![100.0, 200.0, 300.0], vec![1000.0, 3000.0, 5000.0]],
///     NormMethod::MeanStd, 0.0, 100.0,
/// );
/// let mut pixel = vec![200.0, 3000.0]; // [channels=2, 1 pixel]
/// stats.apply(&mut pixel, 1);
/// assert!(pixel.iter().all(|v| v.abs() < 1e-6)); // the means map to 0
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormStats {
    /// The mapping applied.
    pub method: NormMethod,
    /// Percentile (0-100) used as `p_low`.
    pub low_percentile: f32,
    /// Percentile (0-100) used as `p_high`.
    pub high_percentile: f32,
    /// One entry per band, in channel order.
    pub bands: Vec<BandStats>,
}

/// How [`NormStats::compute`] samples a series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsConfig {
    /// Mapping to record (default [`NormMethod::MeanStd`]).
    pub method: NormMethod,
    /// Low percentile, 0-100 (default 2).
    pub low_percentile: f32,
    /// High percentile, 0-100 (default 98).
    pub high_percentile: f32,
    /// Most pixels kept per band (default 1 048 576: 4 MiB per band).
    pub max_samples: usize,
    /// Side of the random windows read (default 64).
    pub window: usize,
    /// Most windows read (default 256), spread over dates and the scene.
    pub max_windows: usize,
    /// Seed of the window positions.
    pub seed: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            method: NormMethod::MeanStd,
            low_percentile: 2.0,
            high_percentile: 98.0,
            max_samples: 1 << 20,
            window: 64,
            max_windows: 256,
            seed: 0,
        }
    }
}

/// The `q`-th percentile (0-100) of `v` by nearest rank; reorders `v`.
fn percentile(v: &mut [f32], q: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((q / 100.0) * (v.len() - 1) as f32).round() as usize;
    let k = k.min(v.len() - 1);
    *v.select_nth_unstable_by(k, f32::total_cmp).1
}

impl NormStats {
    /// Statistics from per-band samples of valid raw values (`samples[b]` for band `b`).
    /// Bands with no sample get mean 0 and std 1.
    pub fn from_samples(
        names: &[String],
        mut samples: Vec<Vec<f32>>,
        method: NormMethod,
        low_percentile: f32,
        high_percentile: f32,
    ) -> Self {
        let bands = names
            .iter()
            .zip(samples.iter_mut())
            .map(|(name, v)| {
                let count = v.len() as u64;
                if v.is_empty() {
                    return BandStats {
                        name: name.clone(),
                        mean: 0.0,
                        std: 1.0,
                        p_low: 0.0,
                        p_high: 1.0,
                        count,
                    };
                }
                let lo = percentile(v, low_percentile);
                let hi = percentile(v, high_percentile);
                let (mut s, mut s2) = (0f64, 0f64);
                for &x in v.iter() {
                    let x = x.clamp(lo, hi) as f64;
                    s += x;
                    s2 += x * x;
                }
                let n = v.len() as f64;
                let mean = s / n;
                let var = (s2 / n - mean * mean).max(0.0);
                BandStats {
                    name: name.clone(),
                    mean: mean as f32,
                    std: (var.sqrt() as f32).max(1e-6),
                    p_low: lo,
                    p_high: hi,
                    count,
                }
            })
            .collect();
        Self {
            method,
            low_percentile,
            high_percentile,
            bands,
        }
    }

    /// Samples clear pixels (quality clear: not nodata, not masked) of `series` from up to
    /// `config.max_windows` random windows spread over its dates, keeping at most
    /// `config.max_samples` values per band (bounded memory, whatever the scene size), and
    /// computes the statistics.
    ///
    /// # Errors
    /// Read errors of the series; [`Error::InvalidArgument`] for an invalid configuration.
    pub fn compute(series: &SceneSeries, config: &StatsConfig) -> Result<Self> {
        let samples = Self::sample(series, config)?;
        Ok(Self::from_samples(
            series.bands(),
            samples,
            config.method,
            config.low_percentile,
            config.high_percentile,
        ))
    }

    /// Statistics over several series (the series of a collection): each series contributes
    /// the same share of the sample (`max_samples / n` values per band from
    /// `max(max_windows / n, 1)` windows, at least one per date), so a large city does not
    /// drown a small one and memory stays bounded whatever the number of series. Band names
    /// are those of the first series.
    ///
    /// # Errors
    /// As [`NormStats::compute`]; [`Error::InvalidArgument`] for an empty list.
    pub fn compute_collection(series: &[&SceneSeries], config: &StatsConfig) -> Result<Self> {
        let Some(first) = series.first() else {
            return Err(Error::invalid("series", 0.0, "at least one series"));
        };
        let n = series.len();
        let per = StatsConfig {
            max_samples: (config.max_samples / n).max(1),
            max_windows: (config.max_windows / n).max(1),
            ..config.clone()
        };
        let mut all: Vec<Vec<f32>> = vec![Vec::new(); first.bands().len()];
        for (i, s) in series.iter().enumerate() {
            let c = StatsConfig {
                seed: config.seed.wrapping_add(i as u64),
                ..per.clone()
            };
            for (a, b) in all.iter_mut().zip(Self::sample(s, &c)?) {
                a.extend(b);
            }
        }
        Ok(Self::from_samples(
            first.bands(),
            all,
            config.method,
            config.low_percentile,
            config.high_percentile,
        ))
    }

    /// The bounded per-band sample of clear pixels [`NormStats::compute`] uses.
    fn sample(series: &SceneSeries, config: &StatsConfig) -> Result<Vec<Vec<f32>>> {
        let lo = config.low_percentile;
        let hi = config.high_percentile;
        if !(0.0..=100.0).contains(&lo) || !(lo..=100.0).contains(&hi) {
            return Err(Error::invalid(
                "percentiles",
                lo as f64,
                "0 <= low_percentile <= high_percentile <= 100",
            ));
        }
        if config.window == 0 || config.max_windows == 0 {
            return Err(Error::invalid(
                "window",
                0.0,
                "a positive window size and count",
            ));
        }
        let c = series.bands().len();
        let (w, h) = (series.width(), series.height());
        let side_w = config.window.min(w);
        let side_h = config.window.min(h);
        let mut rng = SplitMix64::new(config.seed ^ 0x57A7);
        let mut samples: Vec<Vec<f32>> = vec![Vec::new(); c];
        // Reservoir sampling per band keeps memory bounded and the sample uniform.
        let mut seen = 0u64;
        let per_window = side_w * side_h;
        let n_windows = config.max_windows.min(
            // Enough windows to fill the budget twice over, and at least one per date.
            (2 * config.max_samples)
                .div_ceil(per_window)
                .max(series.len()),
        );
        for k in 0..n_windows {
            let date = k % series.len();
            let col = rng.below(w - side_w + 1);
            let row = rng.below(h - side_h + 1);
            let window = Window::new(col, row, side_w, side_h);
            let (img, q) = series.read_date(date, window)?;
            for (i, &qi) in q.iter().enumerate() {
                if qi != QUALITY_CLEAR {
                    continue;
                }
                seen += 1;
                let slot = if samples[0].len() < config.max_samples {
                    None
                } else {
                    let j = (rng.next_u64() % seen) as usize;
                    if j >= config.max_samples {
                        continue;
                    }
                    Some(j)
                };
                for (b, s) in samples.iter_mut().enumerate() {
                    let v = img[b * per_window + i];
                    match slot {
                        None => s.push(v),
                        Some(j) => s[j] = v,
                    }
                }
            }
        }
        Ok(samples)
    }

    /// Band names, in channel order.
    pub fn band_names(&self) -> Vec<String> {
        self.bands.iter().map(|b| b.name.clone()).collect()
    }

    /// Checks that the statistics were computed for `bands` (same names, same order).
    ///
    /// # Errors
    /// [`Error::StatsBands`] naming both lists.
    pub fn check_bands(&self, bands: &[String]) -> Result<()> {
        if self.bands.len() != bands.len()
            || self.bands.iter().zip(bands).any(|(s, b)| &s.name != b)
        {
            return Err(Error::StatsBands {
                stats: self.band_names(),
                series: bands.to_vec(),
            });
        }
        Ok(())
    }

    /// `(scale, shift)` per band such that `normalized = raw * scale + shift`.
    pub fn affine(&self) -> Vec<(f32, f32)> {
        self.bands
            .iter()
            .map(|b| match self.method {
                NormMethod::MeanStd => (1.0 / b.std, -b.mean / b.std),
                NormMethod::Percentile => {
                    let range = (b.p_high - b.p_low).max(1e-6);
                    (1.0 / range, -b.p_low / range)
                }
            })
            .collect()
    }

    /// Normalizes `data` in place: any number of `[channels, pixels]` blocks (e.g.
    /// `[time, channels, height, width]` with `pixels = height * width`).
    ///
    /// # Panics
    /// If `data.len()` is not a multiple of `channels * pixels`.
    pub fn apply(&self, data: &mut [f32], pixels: usize) {
        let ab = self.affine();
        let block = ab.len() * pixels;
        assert!(
            block > 0 && data.len().is_multiple_of(block),
            "{} values are not [.., {} channels, {pixels} pixels]",
            data.len(),
            ab.len()
        );
        for chunk in data.chunks_exact_mut(block) {
            for (plane, &(a, b)) in chunk.chunks_exact_mut(pixels).zip(&ab) {
                for v in plane {
                    *v = *v * a + b;
                }
            }
        }
    }

    /// Writes the statistics as pretty JSON, atomically.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::io(path.as_ref(), std::io::Error::other(e)))?;
        write_atomic(path.as_ref(), text.as_bytes())
    }

    /// Reads statistics written by [`NormStats::save`].
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::StatsJson`] when the file is not valid.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|source| Error::StatsJson {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winsorized_stats_by_hand() {
        // 0..=99 and one outlier 1e6; p2 = value at rank round(0.02 * 100) = 2, p98 = rank 98.
        let mut v: Vec<f32> = (0..100).map(|i| i as f32).collect();
        v.push(1e6);
        let s = NormStats::from_samples(&["b".into()], vec![v], NormMethod::MeanStd, 2.0, 98.0);
        let b = &s.bands[0];
        assert_eq!((b.p_low, b.p_high), (2.0, 98.0));
        // Winsorized: values 0,1 -> 2; 99, 1e6 -> 98; mean = (2+2+sum(2..=98)+98+98)/101.
        let sum: f32 = (2..=98).map(|i| i as f32).sum::<f32>() + 2.0 * 2.0 + 2.0 * 98.0;
        assert!((b.mean - sum / 101.0).abs() < 1e-4);
        assert!(b.std > 20.0 && b.std < 40.0, "{}", b.std);
    }

    #[test]
    fn apply_percentile_maps_range_to_unit() {
        let v: Vec<f32> = (0..=100).map(|i| i as f32).collect();
        let s = NormStats::from_samples(&["b".into()], vec![v], NormMethod::Percentile, 10.0, 90.0);
        let mut x = vec![10.0, 90.0, 50.0];
        s.apply(&mut x, 3);
        assert_eq!(x, vec![0.0, 1.0, 0.5]);
    }

    #[test]
    fn json_round_trip_and_band_check() {
        let dir = tempfile::tempdir().unwrap();
        let s = NormStats::from_samples(
            &["B2".into(), "B8".into()],
            vec![vec![1.0, 2.0], vec![3.0, 5.0]],
            NormMethod::MeanStd,
            2.0,
            98.0,
        );
        let p = dir.path().join("norm.json");
        s.save(&p).unwrap();
        let back = NormStats::load(&p).unwrap();
        assert_eq!(back, s);
        back.check_bands(&["B2".into(), "B8".into()]).unwrap();
        let err = back.check_bands(&["B2".into(), "B3".into()]).unwrap_err();
        assert!(matches!(err, Error::StatsBands { .. }));
    }
}
