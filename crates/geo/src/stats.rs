//! Per-band statistics (min, max, mean, standard deviation) with nodata excluded, computed in
//! bounded memory, on several threads.

use std::sync::Mutex;

use crate::error::Result;
use crate::reader::GeoTiffReader;
use crate::sample::Sample;
use crate::sample_type::SampleType;
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

/// Bytes of pixels one thread reads at a time.
const STRIPE_BYTES: usize = 32 << 20;

/// Most bytes all threads' histograms may take together.
const HISTOGRAM_BYTES: usize = 64 << 20;

/// Running sums of one band: exact histograms for 8- and 16-bit samples, shifted sums (stable
/// for large values) otherwise.
#[derive(Clone)]
enum Acc {
    /// Counts per value, offset so that index 0 is the type's minimum.
    Histogram { counts: Vec<u64>, offset: f64 },
    Sums {
        min: f64,
        max: f64,
        shift: f64,
        sum: f64,
        sum2: f64,
        n: u64,
    },
}

impl Acc {
    /// The accumulator for samples of type `t`; `histogram` false forces shifted sums (for
    /// images with so many bands that 16-bit histograms would not fit the memory budget).
    fn new(t: SampleType, histogram: bool) -> Self {
        let t = if histogram { t } else { SampleType::F64 };
        match t {
            SampleType::U8 => Acc::Histogram {
                counts: vec![0; 256],
                offset: 0.0,
            },
            SampleType::I8 => Acc::Histogram {
                counts: vec![0; 256],
                offset: -128.0,
            },
            SampleType::U16 => Acc::Histogram {
                counts: vec![0; 65_536],
                offset: 0.0,
            },
            SampleType::I16 => Acc::Histogram {
                counts: vec![0; 65_536],
                offset: -32_768.0,
            },
            _ => Acc::Sums {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                shift: f64::NAN,
                sum: 0.0,
                sum2: 0.0,
                n: 0,
            },
        }
    }

    /// Adds `count` samples of value `v` (what a read returns for an absent chunk), skipped
    /// when `v` is NaN or nodata, as [`accumulate`] would.
    fn add_repeated(&mut self, v: f64, count: u64, nodata: Option<f64>) {
        if count == 0 || v.is_nan() || nodata.is_some_and(|nd| v == nd) {
            return;
        }
        match self {
            Acc::Histogram { counts, offset } => counts[(v - *offset) as usize] += count,
            Acc::Sums { .. } => self.add_to_sums(v, count),
        }
    }

    /// Adds `count` samples of the valid value `v` to shifted sums (no-op on histograms).
    #[inline]
    fn add_to_sums(&mut self, v: f64, count: u64) {
        let Acc::Sums {
            min,
            max,
            shift,
            sum,
            sum2,
            n,
        } = self
        else {
            return;
        };
        if *n == 0 {
            *shift = v;
        }
        *min = min.min(v);
        *max = max.max(v);
        let d = v - *shift;
        *sum += d * count as f64;
        *sum2 += d * d * count as f64;
        *n += count;
    }

    fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Histogram { counts: a, .. }, Acc::Histogram { counts: b, .. }) => {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
            }
            (
                Acc::Sums {
                    min,
                    max,
                    shift,
                    sum,
                    sum2,
                    n,
                },
                Acc::Sums {
                    min: m2,
                    max: x2,
                    shift: s2,
                    sum: su2,
                    sum2: sq2,
                    n: n2,
                },
            ) => {
                if *n2 == 0 {
                    return;
                }
                if *n == 0 {
                    *shift = *s2;
                }
                // re-centre the other sums on our shift: sum(v - s) = sum(v - s2) + n2 (s2 - s)
                let d = *s2 - *shift;
                *sum2 += sq2 + 2.0 * d * su2 + *n2 as f64 * d * d;
                *sum += su2 + *n2 as f64 * d;
                *n += n2;
                *min = min.min(*m2);
                *max = max.max(*x2);
            }
            _ => {}
        }
    }

    fn finish(&self) -> BandStats {
        let empty = BandStats {
            min: f64::NAN,
            max: f64::NAN,
            mean: f64::NAN,
            std_dev: f64::NAN,
            valid_count: 0,
        };
        match self {
            Acc::Histogram { counts, offset } => {
                let n: u64 = counts.iter().sum();
                if n == 0 {
                    return empty;
                }
                let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
                let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
                // exact integer sums (u128 cannot overflow: 2^64 pixels x 2^32)
                let (mut s, mut s2) = (0u128, 0u128);
                for (v, &c) in counts.iter().enumerate().skip(first).take(last + 1 - first) {
                    s += v as u128 * c as u128;
                    s2 += (v * v) as u128 * c as u128;
                }
                let mean_idx = s as f64 / n as f64;
                let var = (s2 as f64 / n as f64 - mean_idx * mean_idx).max(0.0);
                BandStats {
                    min: first as f64 + offset,
                    max: last as f64 + offset,
                    mean: mean_idx + offset,
                    std_dev: var.sqrt(),
                    valid_count: n,
                }
            }
            Acc::Sums {
                min,
                max,
                shift,
                sum,
                sum2,
                n,
            } => {
                if *n == 0 {
                    return empty;
                }
                let d = sum / *n as f64;
                let var = (sum2 / *n as f64 - d * d).max(0.0);
                BandStats {
                    min: *min,
                    max: *max,
                    mean: shift + d,
                    std_dev: var.sqrt(),
                    valid_count: *n,
                }
            }
        }
    }
}

/// Adds the samples of one band to `acc`.
fn accumulate<T: Sample>(acc: &mut Acc, values: &[T], nodata: Option<f64>) {
    match acc {
        Acc::Histogram { counts, offset } => {
            let skip = nodata.map(|nd| nd - *offset);
            for &v in values {
                counts[(v.to_f64() - *offset) as usize] += 1;
            }
            if let Some(i) =
                skip.filter(|i| *i >= 0.0 && (*i as usize) < counts.len() && i.fract() == 0.0)
            {
                counts[i as usize] = 0;
            }
        }
        Acc::Sums { .. } => {
            for &v in values {
                let v = v.to_f64();
                if !v.is_nan() && nodata.is_none_or(|nd| v != nd) {
                    acc.add_to_sums(v, 1);
                }
            }
        }
    }
}

impl GeoTiffReader {
    /// Exact statistics of every band, excluding nodata and NaN, read block by block on up
    /// to `available_parallelism` threads (at most ~32 MiB per thread at a time, whatever
    /// the block size). Absent (sparse) blocks count as nodata, or as 0 without nodata, as
    /// reads return them, and are not read. 8- and 16-bit bands use exact histograms. `progress(rows_done, rows_total)`
    /// is called as stripes complete.
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
    pub fn statistics(&self, progress: impl FnMut(usize, usize) + Send) -> Result<Vec<BandStats>> {
        match self.info().sample_type {
            SampleType::U8 => self.stats_as::<u8>(progress),
            SampleType::I8 => self.stats_as::<i8>(progress),
            SampleType::U16 => self.stats_as::<u16>(progress),
            SampleType::I16 => self.stats_as::<i16>(progress),
            SampleType::F32 | SampleType::F16 => self.stats_as::<f32>(progress),
            _ => self.stats_as::<f64>(progress),
        }
    }

    fn stats_as<T: Sample>(
        &self,
        progress: impl FnMut(usize, usize) + Send,
    ) -> Result<Vec<BandStats>> {
        let info = self.info();
        let (w, h, bands) = (info.width, info.height, info.bands);
        let nodata = info.nodata;
        // what a read returns for an absent (sparse) chunk, converted as a read converts it
        let fill = T::from_f64(nodata.unwrap_or(0.0)).to_f64();
        let (cw, ch, across, down) = self.chunk_grid();
        let cells = across * down;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(cells);
        // exact histograms while they fit HISTOGRAM_BYTES over all threads (a 16-bit one is
        // 512 KiB per band, and a header may declare 65535 bands), shifted sums beyond
        let per_band = match info.sample_type {
            SampleType::U16 | SampleType::I16 => 65_536 * 8,
            _ => 256 * 8,
        };
        let histogram =
            bands.saturating_mul(per_band).saturating_mul(threads + 1) <= HISTOGRAM_BYTES;
        let all: Vec<usize> = (0..bands).collect();
        let pixels_total = (w as u128) * (h as u128);
        let progress = Mutex::new((progress, 0u128));
        // Work is one chunk cell at a time: an absent cell is counted without reading it (so
        // a sparse header declaring billions of pixels costs one step per chunk, and the chunk
        // table is bounded by the file's length), a stored one is read in pieces of at most
        // STRIPE_BYTES, so no buffer is larger than that whatever the header declares.
        let work = |t: usize| -> Result<Vec<Acc>> {
            let mut acc = vec![Acc::new(info.sample_type, histogram); bands];
            let mut buf: Vec<T> = Vec::new();
            for cell in (t..cells).step_by(threads) {
                let (cx, cy) = (cell % across, cell / across);
                let (c0, r0) = (cx * cw, cy * ch);
                let cell_win = Window::new(c0, r0, cw.min(w - c0), ch.min(h - r0));
                if self.cell_is_sparse(cx, cy) {
                    for a in acc.iter_mut() {
                        a.add_repeated(fill, cell_win.area() as u64, nodata);
                    }
                } else {
                    for win in pieces(cell_win, bands * std::mem::size_of::<T>()) {
                        buf.resize(win.area() * bands, T::default());
                        self.read_window_into_as(win, &all, &mut buf)?;
                        for (b, a) in acc.iter_mut().enumerate() {
                            accumulate(a, &buf[b * win.area()..(b + 1) * win.area()], nodata);
                        }
                    }
                }
                let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                p.1 += cell_win.area() as u128;
                // rows done, as a fraction of the image's rows
                let done = (p.1 * h as u128 / pixels_total.max(1)) as usize;
                (p.0)(done, h);
            }
            Ok(acc)
        };
        let parts: Vec<Result<Vec<Acc>>> = if threads <= 1 {
            vec![work(0)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads).map(|t| scope.spawn(move || work(t))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            })
        };
        let mut total = vec![Acc::new(info.sample_type, histogram); bands];
        for part in parts {
            for (t, a) in total.iter_mut().zip(part?) {
                t.merge(&a);
            }
        }
        Ok(total.iter().map(Acc::finish).collect())
    }
}

/// Splits `cell` into windows of at most [`STRIPE_BYTES`] (`pixel_bytes` per pixel, all
/// bands): whole rows when a row fits, else runs of columns of one row.
fn pieces(cell: Window, pixel_bytes: usize) -> impl Iterator<Item = Window> {
    let pixel_bytes = pixel_bytes.max(1);
    let row_bytes = cell.width.saturating_mul(pixel_bytes);
    let (rows, cols) = if row_bytes <= STRIPE_BYTES {
        (
            (STRIPE_BYTES / row_bytes.max(1)).clamp(1, cell.height),
            cell.width,
        )
    } else {
        (1, (STRIPE_BYTES / pixel_bytes).max(1))
    };
    let across = cell.width.div_ceil(cols);
    (0..cell.height.div_ceil(rows) * across).map(move |i| {
        let (r, c) = ((i / across) * rows, (i % across) * cols);
        Window::new(
            cell.col + c,
            cell.row + r,
            cols.min(cell.width - c),
            rows.min(cell.height - r),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{RasterData, RasterSpec, write_geotiff};

    /// Histogram and sum paths give the textbook values (mean 2.5, population variance
    /// 1.25 for 1, 2, 3, 4), with nodata removed.
    #[test]
    fn histogram_and_sums_agree_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.tif");
        let spec = RasterSpec::new(5, 1, 1, SampleType::I16).with_nodata(-9.0);
        write_geotiff(&p, &spec, RasterData::I16(&[1, 2, -9, 3, 4])).unwrap();
        let s = GeoTiffReader::open(&p)
            .unwrap()
            .statistics(|_, _| {})
            .unwrap()[0];
        assert_eq!((s.min, s.max, s.mean, s.valid_count), (1.0, 4.0, 2.5, 4));
        assert!((s.std_dev - 1.25f64.sqrt()).abs() < 1e-12);
        let spec = RasterSpec::new(5, 1, 1, SampleType::F64).with_nodata(-9.0);
        write_geotiff(&p, &spec, RasterData::F64(&[1.0, 2.0, -9.0, 3.0, 4.0])).unwrap();
        let t = GeoTiffReader::open(&p)
            .unwrap()
            .statistics(|_, _| {})
            .unwrap()[0];
        assert_eq!((t.min, t.max, t.mean, t.valid_count), (1.0, 4.0, 2.5, 4));
        assert!((t.std_dev - 1.25f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn merged_partial_sums_equal_one_pass() {
        let values: Vec<f64> = (0..1000)
            .map(|i| 1e6 + (i as f64 * 0.37).sin() * 50.0)
            .collect();
        let mut one = Acc::new(SampleType::F64, true);
        accumulate(&mut one, &values, None);
        let (mut a, mut b) = (
            Acc::new(SampleType::F64, true),
            Acc::new(SampleType::F64, true),
        );
        accumulate(&mut a, &values[..300], None);
        accumulate(&mut b, &values[300..], None);
        a.merge(&b);
        let (x, y) = (one.finish(), a.finish());
        assert_eq!((x.min, x.max, x.valid_count), (y.min, y.max, y.valid_count));
        assert!((x.mean - y.mean).abs() < 1e-9 && (x.std_dev - y.std_dev).abs() < 1e-9);
    }

    #[test]
    fn all_nodata_gives_nan() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.tif");
        let spec = RasterSpec::new(2, 1, 1, SampleType::U8).with_nodata(0.0);
        write_geotiff(&p, &spec, RasterData::U8(&[0, 0])).unwrap();
        let s = GeoTiffReader::open(&p)
            .unwrap()
            .statistics(|_, _| {})
            .unwrap()[0];
        assert!(s.mean.is_nan() && s.valid_count == 0);
    }

    /// 300 bands of 16 bits would need 150 MiB of histograms per thread: shifted sums are
    /// used instead, with the same results (band b holds b, b + 1, b + 2, b + 3: mean b + 1.5,
    /// population variance 1.25).
    #[test]
    fn many_bands_use_sums_with_the_same_results() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.tif");
        let bands = 300;
        let data: Vec<u16> = (0..bands)
            .flat_map(|b| (0..4).map(move |i| (b + i) as u16))
            .collect();
        let spec = RasterSpec::new(4, 1, bands, SampleType::U16)
            .with_interleave(crate::raster_info::Interleave::Band);
        write_geotiff(&p, &spec, RasterData::U16(&data)).unwrap();
        let s = GeoTiffReader::open(&p)
            .unwrap()
            .statistics(|_, _| {})
            .unwrap();
        for (b, st) in s.iter().enumerate() {
            assert_eq!(
                (st.min, st.max, st.valid_count),
                (b as f64, b as f64 + 3.0, 4)
            );
            assert!((st.mean - (b as f64 + 1.5)).abs() < 1e-9);
            assert!((st.std_dev - 1.25f64.sqrt()).abs() < 1e-9);
        }
    }
}
