//! Per-band statistics (min, max, mean, standard deviation) with nodata excluded, computed in
//! bounded memory.

use crate::error::Result;
use crate::reader::GeoTiffReader;
use crate::window::Window;

/// Statistics of one band over its valid pixels (not nodata, not NaN), as `gdalinfo -stats`
/// reports them (population standard deviation).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BandStats {
    /// Smallest valid value (`NaN` when there is none).
    pub min: f64,
    /// Largest valid value (`NaN` when there is none).
    pub max: f64,
    /// Mean of valid values (`NaN` when there is none).
    pub mean: f64,
    /// Population standard deviation of valid values (`NaN` when there is none).
    pub std_dev: f64,
    /// Number of valid pixels.
    pub valid_count: u64,
}

/// Bytes of pixels read at a time.
const STRIPE_BYTES: usize = 64 << 20;

impl GeoTiffReader {
    /// Exact statistics of every band, excluding nodata and NaN, read in horizontal stripes of
    /// whole blocks (at most ~64 MiB at a time). `progress(rows_done, rows_total)` is called
    /// after each stripe.
    ///
    /// # Errors
    /// As [`read_window`](Self::read_window).
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::{write_geotiff, GeoTiffReader, RasterData, RasterSpec, SampleType};
    /// let dir = tempfile::tempdir()?;
    /// let p = dir.path().join("s.tif");
    /// let spec = RasterSpec::new(2, 2, 1, SampleType::U16).with_nodata(0.0);
    /// write_geotiff(&p, &spec, RasterData::U16(&[0, 2, 4, 6]))?;
    /// let s = GeoTiffReader::open(&p)?.statistics(|_, _| {})?;
    /// // nodata 0 excluded: values 2, 4, 6
    /// assert_eq!((s[0].min, s[0].max, s[0].mean, s[0].valid_count), (2.0, 6.0, 4.0, 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn statistics(&self, mut progress: impl FnMut(usize, usize)) -> Result<Vec<BandStats>> {
        let info = self.info();
        let (w, h, bands) = (info.width, info.height, info.bands);
        let row_bytes = w * bands * 8;
        let block = info.block_height.clamp(1, h);
        let blocks_per_stripe = (STRIPE_BYTES / (row_bytes * block).max(1)).max(1);
        let stripe = (block * blocks_per_stripe).min(h);
        let all: Vec<usize> = (0..bands).collect();
        let nodata = info.nodata;
        // (min, max, shift, sum of v - shift, sum of (v - shift)^2, count): the shifted-data
        // variance stays accurate for large values
        let mut acc = vec![
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                0.0f64,
                0.0f64,
                0u64
            );
            bands
        ];
        let mut buf = Vec::new();
        let mut row = 0;
        while row < h {
            let n = stripe.min(h - row);
            let win = Window::new(0, row, w, n);
            buf.resize(win.area() * bands, 0.0f64);
            self.read_window_into_as(win, &all, &mut buf)?;
            for (b, a) in acc.iter_mut().enumerate() {
                for &v in &buf[b * win.area()..(b + 1) * win.area()] {
                    if v.is_nan() || nodata.is_some_and(|nd| v == nd) {
                        continue;
                    }
                    a.0 = a.0.min(v);
                    a.1 = a.1.max(v);
                    if a.5 == 0 {
                        a.2 = v;
                    }
                    let d = v - a.2;
                    a.3 += d;
                    a.4 += d * d;
                    a.5 += 1;
                }
            }
            row += n;
            progress(row, h);
        }
        Ok(acc
            .into_iter()
            .map(|(min, max, shift, sum, sum2, n)| {
                if n == 0 {
                    return BandStats {
                        min: f64::NAN,
                        max: f64::NAN,
                        mean: f64::NAN,
                        std_dev: f64::NAN,
                        valid_count: 0,
                    };
                }
                let d = sum / n as f64;
                let var = (sum2 / n as f64 - d * d).max(0.0);
                BandStats {
                    min,
                    max,
                    mean: shift + d,
                    std_dev: var.sqrt(),
                    valid_count: n,
                }
            })
            .collect())
    }
}
