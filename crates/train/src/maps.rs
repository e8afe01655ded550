//! Whole-map operations on class GeoTIFFs, read in strips of rows (bounded memory):
//! evaluation against a label raster, and change maps between two dates.

use std::path::{Path, PathBuf};

use chronomap_data::{QUALITY_CLEAR, SceneSeries};
use chronomap_geo::{GeoTiffReader, GeoTiffWriter, RasterSpec, SampleType, Window};
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::change::{TransitionArea, TransitionCounts, area_table_csv, pixel_area_m2};
use crate::error::{Error, Result};
use crate::metrics::{ConfusionMatrix, IGNORE_LABEL, SegmentationMetrics};

/// Rows read at a time.
const STRIP_ROWS: usize = 256;

/// Checks that two rasters share a pixel grid (size, geotransform within a thousandth of a
/// pixel, CRS).
///
/// # Errors
/// [`Error::GridMismatch`] naming both files and what differs.
pub fn check_same_grid(a: &GeoTiffReader, b: &GeoTiffReader) -> Result<()> {
    let (ia, ib) = (a.info(), b.info());
    let err = |problem: String| Error::GridMismatch {
        first: a.path().to_path_buf(),
        second: b.path().to_path_buf(),
        problem,
    };
    if (ia.width, ia.height) != (ib.width, ib.height) {
        return Err(err(format!(
            "sizes differ: {}x{} vs {}x{} pixels (width x height)",
            ia.width, ia.height, ib.width, ib.height
        )));
    }
    if ia.epsg != ib.epsg {
        return Err(err(format!(
            "CRS differ: EPSG {:?} vs {:?}",
            ia.epsg, ib.epsg
        )));
    }
    match (&ia.geotransform, &ib.geotransform) {
        (Some(ga), Some(gb)) => {
            let px = ga.0[1].abs().max(ga.0[5].abs()).max(1e-12);
            let same = (ga.0[0] - gb.0[0]).abs() <= 1e-3 * px
                && (ga.0[3] - gb.0[3]).abs() <= 1e-3 * px
                && [1, 2, 4, 5]
                    .iter()
                    .all(|&i| (ga.0[i] - gb.0[i]).abs() <= 1e-6 * px);
            if !same {
                return Err(err(format!(
                    "geotransforms differ: {:?} vs {:?}",
                    ga.0, gb.0
                )));
            }
        }
        (None, None) => {}
        (ga, gb) => {
            return Err(err(format!(
                "one is georeferenced and the other is not: {:?} vs {:?}",
                ga.map(|g| g.0),
                gb.map(|g| g.0)
            )));
        }
    }
    Ok(())
}

/// Reads band 0 of a window as class ids: values that are the file's nodata, NaN, negative,
/// fractional or >= 255 become [`IGNORE_LABEL`].
fn read_classes(r: &GeoTiffReader, window: Window) -> Result<Vec<u8>> {
    let raw = r.read_window(window, &[0])?;
    let nodata = r.info().nodata.map(|v| v as f32);
    Ok(raw
        .into_iter()
        .map(|v| {
            if v.is_nan() || Some(v) == nodata || !(0.0..255.0).contains(&v) || v.fract() != 0.0 {
                IGNORE_LABEL
            } else {
                v as u8
            }
        })
        .collect())
}

/// The result of [`evaluate_map`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapEvaluation {
    /// The predicted class map.
    pub prediction: PathBuf,
    /// The reference labels.
    pub labels: PathBuf,
    /// Class names, when known.
    pub classes: Vec<String>,
    /// The scores.
    pub metrics: SegmentationMetrics,
    /// Labelled pixels predicted as a class id `>= num_classes` (not in the scores).
    pub unknown_predictions: u64,
}

/// Compares a class map with a label raster on the same grid, over `region` (default: the
/// whole raster), skipping 255/nodata in either. With `num_classes = None` the number of
/// classes is the largest class id found in either raster plus one.
///
/// # Errors
/// [`Error::GridMismatch`] naming both files; GeoTIFF read errors naming the file.
pub fn evaluate_map(
    prediction: &Path,
    labels: &Path,
    num_classes: Option<usize>,
    class_names: &[String],
    region: Option<Window>,
) -> Result<MapEvaluation> {
    let p = GeoTiffReader::open(prediction)?;
    let l = GeoTiffReader::open(labels)?;
    check_same_grid(&p, &l)?;
    let (w, h) = (p.info().width, p.info().height);
    let region = region.unwrap_or(Window::full(w, h));
    if !region.fits_in(w, h) {
        return Err(Error::InvalidConfig(format!(
            "evaluation region {region:?} does not fit in the {w}x{h} rasters"
        )));
    }
    // Joint histogram of (label, prediction) bytes, then the matrix of the classes in use.
    let mut hist = vec![0u64; 256 * 256];
    let mut row = region.row;
    while row < region.row + region.height {
        let n = STRIP_ROWS.min(region.row + region.height - row);
        let win = Window::new(region.col, row, region.width, n);
        for (t, q) in read_classes(&l, win)?
            .into_iter()
            .zip(read_classes(&p, win)?)
        {
            hist[t as usize * 256 + q as usize] += 1;
        }
        row += n;
    }
    let k = match num_classes {
        Some(k) => k,
        None => {
            let mut used = 0;
            for t in 0..255 {
                for q in 0..255 {
                    if hist[t * 256 + q] > 0 {
                        used = used.max(t + 1).max(q + 1);
                    }
                }
            }
            used.max(class_names.len()).max(1)
        }
    }
    .clamp(1, 255);
    let mut counts = Vec::with_capacity(k * k);
    for t in 0..k {
        for q in 0..k {
            counts.push(hist[t * 256 + q]);
        }
    }
    let out_of_range: u64 = (0..k)
        .map(|t| (k..255).map(|q| hist[t * 256 + q]).sum::<u64>())
        .sum();
    let metrics = ConfusionMatrix::from_counts(k, counts).metrics();
    Ok(MapEvaluation {
        prediction: prediction.to_path_buf(),
        labels: labels.to_path_buf(),
        classes: class_names.to_vec(),
        metrics,
        unknown_predictions: out_of_range,
    })
}

/// Confusion matrix of a class map against the labels of date `date` of `series`, over
/// `regions` (e.g. the held-out blocks of an area split), counting only pixels that are clear
/// (not cloud, not nodata) at that date: per-date and fused maps of one date are then scored
/// on exactly the same pixels.
///
/// # Errors
/// [`Error::GridMismatch`] naming the map and the series when their sizes differ; read errors
/// naming the file.
pub fn confusion_on_date(
    map: &Path,
    series: &SceneSeries,
    date: usize,
    regions: &[Window],
    num_classes: usize,
) -> Result<ConfusionMatrix> {
    let r = GeoTiffReader::open(map)?;
    let (w, h) = (r.info().width, r.info().height);
    if (w, h) != (series.width(), series.height()) {
        return Err(Error::GridMismatch {
            first: map.to_path_buf(),
            second: series.source().to_path_buf(),
            problem: format!(
                "sizes differ: {w}x{h} vs {}x{} pixels",
                series.width(),
                series.height()
            ),
        });
    }
    let mut cm = ConfusionMatrix::new(num_classes);
    for region in regions {
        let mut row = region.row;
        while row < region.row + region.height {
            let n = STRIP_ROWS.min(region.row + region.height - row);
            let win = Window::new(region.col, row, region.width, n);
            let pred = read_classes(&r, win)?;
            let mut labels = series.read_labels(date, win)?;
            let quality = series.read_quality(date, win)?;
            for (l, q) in labels.iter_mut().zip(&quality) {
                if *q != QUALITY_CLEAR {
                    *l = IGNORE_LABEL;
                }
            }
            cm.update_u8(&labels, &pred);
            row += n;
        }
    }
    Ok(cm)
}

/// What [`change_map`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeReport {
    /// The class map before.
    pub before: PathBuf,
    /// The class map after.
    pub after: PathBuf,
    /// The change GeoTIFF (u8 codes `from * K + to`, 255 = nodata).
    pub map: PathBuf,
    /// The CSV table of areas.
    pub table_csv: PathBuf,
    /// Pixel area in square metres.
    pub pixel_area_m2: f64,
    /// Areas per transition, largest first.
    pub table: Vec<TransitionArea>,
    /// Total changed area in hectares.
    pub changed_hectares: f64,
    /// Pixels without a class in either map.
    pub nodata_pixels: u64,
}

/// Computes the change map between two class maps on one grid, writes it as a
/// Cloud-Optimized GeoTIFF (mode overviews) at
/// `out_map` (with the inputs' georeferencing) and the transition areas as CSV at `out_csv`.
///
/// Areas come from the geotransform's pixel area, so the rasters must be in a projected CRS
/// with metre units (EPSG codes of geographic CRSs are refused).
///
/// # Errors
/// [`Error::GridMismatch`] naming both files; [`Error::NotProjected`]; [`Error::TooManyClasses`]
/// for more than 15 classes; read/write errors naming the file.
pub fn change_map(
    before: &Path,
    after: &Path,
    num_classes: usize,
    class_names: &[String],
    out_map: &Path,
    out_csv: &Path,
) -> Result<ChangeReport> {
    let a = GeoTiffReader::open(before)?;
    let b = GeoTiffReader::open(after)?;
    check_same_grid(&a, &b)?;
    let info = a.info().clone();
    if info
        .epsg
        .is_some_and(chronomap_geo::crs::is_geographic_epsg)
    {
        return Err(Error::NotProjected {
            path: before.to_path_buf(),
        });
    }
    let area = info
        .geotransform
        .map(|g| pixel_area_m2(&g.0))
        .unwrap_or(1.0);
    let mut counts = TransitionCounts::new(num_classes)?;
    let mut spec = match info.grid() {
        Some(g) => RasterSpec::for_grid(&g, 1, SampleType::U8),
        None => RasterSpec::new(info.width, info.height, 1, SampleType::U8),
    };
    spec = spec
        .with_nodata(IGNORE_LABEL as f64)
        .with_band_names(["change code (from * K + to)"])
        // A Cloud-Optimized GeoTIFF (tiled, internal overviews) like the class maps; change
        // codes are categories, so overviews take the most frequent code.
        .with_cog(chronomap_geo::CogOptions::new(
            chronomap_geo::OverviewResampling::Mode,
        ));
    let mut writer = GeoTiffWriter::create(out_map, spec)?;
    let mut row = 0;
    while row < info.height {
        let n = STRIP_ROWS.min(info.height - row);
        let win = Window::new(0, row, info.width, n);
        let (x, y) = (read_classes(&a, win)?, read_classes(&b, win)?);
        let mut out = vec![0u8; x.len()];
        counts.encode(&x, &y, &mut out);
        writer.write_rows(row, &out)?;
        row += n;
    }
    writer.finish()?;
    let table = counts.area_table(area, class_names);
    write_atomic(out_csv, area_table_csv(&table).as_bytes())?;
    let changed_hectares = table.iter().filter(|r| r.changed).map(|r| r.hectares).sum();
    Ok(ChangeReport {
        before: before.to_path_buf(),
        after: after.to_path_buf(),
        map: out_map.to_path_buf(),
        table_csv: out_csv.to_path_buf(),
        pixel_area_m2: area,
        table,
        changed_hectares,
        nodata_pixels: counts.nodata(),
    })
}

#[cfg(test)]
mod tests {
    use chronomap_geo::{GeoTransform, RasterData, write_geotiff};

    use super::*;

    fn write_map(path: &Path, w: usize, h: usize, data: &[u8], x0: f64) {
        let spec = RasterSpec::new(w, h, 1, SampleType::U8)
            .with_geotransform(GeoTransform::north_up(x0, 1_780_000.0, 10.0))
            .with_epsg(32628)
            .with_nodata(255.0);
        write_geotiff(path, &spec, RasterData::U8(data)).expect("write");
    }

    #[test]
    fn evaluate_counts_and_grid_mismatch_names_both_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let (w, h) = (20, 300); // more rows than one strip
        let labels: Vec<u8> = (0..w * h).map(|i| (i % 3) as u8).collect();
        let mut pred = labels.clone();
        pred[0] = 1; // one error: truth 0 -> 1
        pred[5] = 255; // skipped
        let lp = dir.path().join("labels.tif");
        let pp = dir.path().join("pred.tif");
        write_map(&lp, w, h, &labels, 355_000.0);
        write_map(&pp, w, h, &pred, 355_000.0);
        let ev = evaluate_map(&pp, &lp, None, &[], None).expect("evaluate");
        assert_eq!(ev.metrics.num_pixels, (w * h - 1) as u64);
        assert_eq!(ev.metrics.confusion[0][1], 1);
        let other = dir.path().join("shifted.tif");
        write_map(&other, w, h, &labels, 355_010.0);
        let err = evaluate_map(&pp, &other, None, &[], None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("pred.tif") && msg.contains("shifted.tif"),
            "{msg}"
        );
    }

    #[test]
    fn change_map_codes_and_hectares() {
        let dir = tempfile::tempdir().expect("tmp");
        let (w, h) = (4, 2);
        let a = [0u8, 0, 1, 1, 2, 2, 255, 0];
        let b = [0u8, 1, 1, 2, 2, 0, 1, 0];
        let (pa, pb) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
        write_map(&pa, w, h, &a, 355_000.0);
        write_map(&pb, w, h, &b, 355_000.0);
        let out = dir.path().join("change.tif");
        let csv = dir.path().join("change.csv");
        let r = change_map(&pa, &pb, 3, &[], &out, &csv).expect("change");
        // 10 m pixels: 100 m2 = 0.01 ha each; changed: 0->1, 1->2, 2->0 = 3 pixels.
        assert!((r.changed_hectares - 0.03).abs() < 1e-12);
        assert_eq!(r.nodata_pixels, 1);
        let codes = GeoTiffReader::open(&out)
            .unwrap()
            .read_window_u8(Window::full(w, h), &[0])
            .unwrap();
        assert_eq!(codes, vec![0, 1, 4, 5, 8, 6, 255, 0]);
        assert!(
            std::fs::read_to_string(&csv)
                .unwrap()
                .starts_with("code,from,to")
        );
    }
}
