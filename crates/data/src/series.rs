//! [`SceneSeries`]: the co-registered acquisitions of one area, read window by window.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chronomap_geo::{GeoTiffReader, GeoTransform, Grid, Window};

use crate::date::Date;
use crate::error::{Error, GridMismatch, ManifestProblem, Result};
use crate::manifest::{LabelEntry, MANIFEST_VERSION, Manifest, MaskEntry, parse_date};
use crate::mask::{IGNORE_INDEX, QUALITY_CLEAR, QUALITY_MASKED, QUALITY_NODATA};
use crate::patch::ScenePatch;

/// Default decoded-tile cache per date of a [`SceneSeries`] (see
/// [`SceneSeries::set_tile_cache`]): 16 MiB.
pub const DEFAULT_TILE_CACHE_PER_DATE: usize = 16 << 20;

/// The public description of one acquisition of a [`SceneSeries`].
#[derive(Clone, Debug, PartialEq)]
pub struct SceneDate {
    /// Acquisition date.
    pub date: Date,
    /// Image files: one multi-band file, or one file per band (in band order).
    pub image_files: Vec<PathBuf>,
    /// The cloud / quality mask file, if any.
    pub mask_file: Option<PathBuf>,
    /// The label raster used for this date, if any.
    pub label_file: Option<PathBuf>,
    /// The ground-truth raster for this date, if the manifest has one (synthetic worlds).
    pub ground_truth_file: Option<PathBuf>,
    /// The manifest's free-form `meta` of this date.
    pub meta: Option<serde_json::Value>,
}

/// How a date's mask values map to "masked".
#[derive(Debug)]
enum MaskRule {
    NonZero,
    Invalid(Vec<u32>),
    Valid(Vec<u32>),
    /// Masked when any of these bits is set (Landsat `QA_PIXEL`).
    AnyBit(u64),
}

impl MaskRule {
    /// Whether mask value `v` masks the pixel; NaN (outside the mask file, or the mask's
    /// nodata) always does.
    fn masked(&self, v: f32) -> bool {
        if v.is_nan() {
            return true;
        }
        match self {
            MaskRule::AnyBit(bits) => v < 0.0 || (v as u64) & bits != 0,
            MaskRule::NonZero => v != 0.0,
            MaskRule::Invalid(vals) => vals.iter().any(|&x| x as f32 == v),
            MaskRule::Valid(vals) => !vals.iter().any(|&x| x as f32 == v),
        }
    }
}

#[derive(Debug)]
enum Image {
    Stack(Box<Placed>),
    PerBand(Vec<Placed>),
}

/// A raster and where it lies on the series grid: its pixel (0, 0) is the series' pixel
/// (`col`, `row`). Files on the series' pixel lattice but with another extent (Landsat
/// scenes of one path/row, products re-cut by a provider) are placed, not resampled; pixels
/// of the series outside the file read as `fill`.
#[derive(Debug)]
struct Placed {
    reader: GeoTiffReader,
    col: i64,
    row: i64,
    /// Series pixels per file pixel along each axis: 1, or an integer > 1 for a coarser mask
    /// (a 20 m Sentinel-2 SCL on a 10 m series, read by nearest neighbour) or a coarser
    /// reflectance band (a 20 m `B11`, read bilinearly when `bilinear` is set).
    factor: usize,
    /// `Some(nodata)`: read a coarser file bilinearly (GDAL's kernel: centres aligned, source
    /// pixels that are nodata or outside the file left out and the weights renormalised).
    bilinear: Option<Option<f32>>,
    /// The file covers the series grid exactly (placement 0, same size): reads go straight
    /// through.
    exact: bool,
}

impl std::ops::Deref for Placed {
    type Target = GeoTiffReader;
    fn deref(&self) -> &GeoTiffReader {
        &self.reader
    }
}

impl std::ops::DerefMut for Placed {
    fn deref_mut(&mut self) -> &mut GeoTiffReader {
        &mut self.reader
    }
}

impl Placed {
    /// Reads `window` (series pixels) of `bands` into `out`
    /// (`[bands.len(), window.height, window.width]`); pixels outside the file are `fill`.
    fn read_into(&self, window: Window, bands: &[usize], out: &mut [f32], fill: f32) -> Result<()> {
        if self.exact {
            return Ok(self.reader.read_window_into(window, bands, out)?);
        }
        if self.factor > 1 {
            if let Some(nodata) = self.bilinear {
                return self.read_bilinear(window, bands, out, fill, nodata);
            }
            return self.read_coarser(window, bands, out, fill);
        }
        let info = self.reader.info();
        // the window in file pixels
        let c0 = window.col as i64 - self.col;
        let r0 = window.row as i64 - self.row;
        let (c1, r1) = (c0 + window.width as i64 - 1, r0 + window.height as i64 - 1);
        if c0 >= 0 && r0 >= 0 && c1 < info.width as i64 && r1 < info.height as i64 {
            let w = Window::new(c0 as usize, r0 as usize, window.width, window.height);
            return Ok(self.reader.read_window_into(w, bands, out)?);
        }
        out.fill(fill);
        let Some((sub, part)) = self.read_file_rect((c0, c1), (r0, r1), bands)? else {
            return Ok(());
        };
        let (dc, dr) = (
            (sub.col as i64 - c0) as usize,
            (sub.row as i64 - r0) as usize,
        );
        let plane = window.area();
        for b in 0..bands.len() {
            for r in 0..sub.height {
                let src = &part[b * sub.area() + r * sub.width..][..sub.width];
                let o = b * plane + (dr + r) * window.width + dc;
                out[o..o + sub.width].copy_from_slice(src);
            }
        }
        Ok(())
    }

    /// Reads file pixels `x0..=x1` x `y0..=y1` (clipped to the file) of `bands`: the window
    /// and its values, `None` when nothing of it is in the file.
    fn read_file_rect(
        &self,
        (x0, x1): (i64, i64),
        (y0, y1): (i64, i64),
        bands: &[usize],
    ) -> Result<Option<(Window, Vec<f32>)>> {
        let info = self.reader.info();
        let (x0, x1) = (x0.max(0), x1.min(info.width as i64 - 1));
        let (y0, y1) = (y0.max(0), y1.min(info.height as i64 - 1));
        if x1 < x0 || y1 < y0 {
            return Ok(None);
        }
        let sub = Window::new(
            x0 as usize,
            y0 as usize,
            (x1 - x0 + 1) as usize,
            (y1 - y0 + 1) as usize,
        );
        Ok(Some((sub, self.reader.read_window(sub, bands)?)))
    }

    /// [`Placed::read_into`] for a file `factor` times coarser: series pixel (r, c) takes
    /// file pixel (floor((r - row) / factor), floor((c - col) / factor)), the one whose area
    /// holds the series pixel's centre (what `gdalwarp -r near` picks on aligned grids).
    fn read_coarser(
        &self,
        window: Window,
        bands: &[usize],
        out: &mut [f32],
        fill: f32,
    ) -> Result<()> {
        let k = self.factor as i64;
        let fx = |c: usize| (c as i64 - self.col).div_euclid(k);
        let fy = |r: usize| (r as i64 - self.row).div_euclid(k);
        out.fill(fill);
        let Some((sub, part)) = self.read_file_rect(
            (fx(window.col), fx(window.col + window.width - 1)),
            (fy(window.row), fy(window.row + window.height - 1)),
            bands,
        )?
        else {
            return Ok(());
        };
        // the file column (row) of each output column (row) inside `sub`
        let inside = |v: i64, lo: usize, n: usize| {
            (v >= lo as i64 && v < (lo + n) as i64).then(|| (v - lo as i64) as usize)
        };
        let cols: Vec<Option<usize>> = (0..window.width)
            .map(|c| inside(fx(window.col + c), sub.col, sub.width))
            .collect();
        let plane = window.area();
        for r in 0..window.height {
            let Some(y) = inside(fy(window.row + r), sub.row, sub.height) else {
                continue;
            };
            for (b, _) in bands.iter().enumerate() {
                let src = &part[b * sub.area() + y * sub.width..][..sub.width];
                let dst = &mut out[b * plane + r * window.width..][..window.width];
                for (d, x) in dst.iter_mut().zip(&cols) {
                    if let Some(x) = x {
                        *d = src[*x];
                    }
                }
            }
        }
        Ok(())
    }

    /// [`Placed::read_into`] for a file `factor` times coarser, bilinearly: series pixel
    /// (r, c) has its centre at file coordinates ((c - col + 0.5) / k - 0.5, (r - row + 0.5) /
    /// k - 0.5) in pixel-centre units; the 2 x 2 file pixels around it are weighted by
    /// distance, those outside the file, NaN or equal to `nodata` left out and the others'
    /// weights renormalised; `fill` where the file pixel holding the centre is nodata or
    /// outside (as GDAL's warper does: compared in the series tests).
    fn read_bilinear(
        &self,
        window: Window,
        bands: &[usize],
        out: &mut [f32],
        fill: f32,
        nodata: Option<f32>,
    ) -> Result<()> {
        let k = self.factor as f64;
        let sx = |c: usize| (c as f64 - self.col as f64 + 0.5) / k - 0.5;
        let sy = |r: usize| (r as f64 - self.row as f64 + 0.5) / k - 0.5;
        out.fill(fill);
        let Some((sub, part)) = self.read_file_rect(
            (
                sx(window.col).floor() as i64,
                sx(window.col + window.width - 1).floor() as i64 + 1,
            ),
            (
                sy(window.row).floor() as i64,
                sy(window.row + window.height - 1).floor() as i64 + 1,
            ),
            bands,
        )?
        else {
            return Ok(());
        };
        let (x0, x1) = (sub.col as i64, (sub.col + sub.width) as i64 - 1);
        let (y0, y1) = (sub.row as i64, (sub.row + sub.height) as i64 - 1);
        let plane = window.area();
        let k = self.factor as i64;
        // per output column (row): the two neighbours' offsets in `sub` and weights (0 for a
        // neighbour outside the file), and the offset of the pixel under the centre
        struct Tap {
            a: usize,
            b: usize,
            wa: f64,
            wb: f64,
            home: Option<usize>,
        }
        let taps =
            |n: usize, start: usize, origin: i64, s: &dyn Fn(usize) -> f64, lo: i64, hi: i64| {
                (0..n)
                    .map(|i| {
                        let v = s(start + i);
                        let (fa, t) = (v.floor() as i64, v - v.floor());
                        let inside = |p: i64| p >= lo && p <= hi;
                        let h = (start as i64 + i as i64 - origin).div_euclid(k);
                        Tap {
                            a: (fa.clamp(lo, hi) - lo) as usize,
                            b: ((fa + 1).clamp(lo, hi) - lo) as usize,
                            wa: if inside(fa) { 1.0 - t } else { 0.0 },
                            wb: if inside(fa + 1) { t } else { 0.0 },
                            home: inside(h).then(|| (h - lo) as usize),
                        }
                    })
                    .collect::<Vec<_>>()
            };
        let cols = taps(window.width, window.col, self.col, &sx, x0, x1);
        let rows = taps(window.height, window.row, self.row, &sy, y0, y1);
        let valid = |v: f32| !v.is_nan() && Some(v) != nodata;
        for (b, _) in bands.iter().enumerate() {
            let src = &part[b * sub.area()..(b + 1) * sub.area()];
            let dst = &mut out[b * plane..(b + 1) * plane];
            for (r, ry) in rows.iter().enumerate() {
                let Some(hy) = ry.home else { continue };
                let (ra, rb) = (&src[ry.a * sub.width..], &src[ry.b * sub.width..]);
                let home_row = &src[hy * sub.width..];
                for (c, cx) in cols.iter().enumerate() {
                    let Some(hx) = cx.home else { continue };
                    if !valid(home_row[hx]) {
                        continue;
                    }
                    let mut acc = 0f64;
                    let mut wsum = 0f64;
                    for (v, w) in [
                        (ra[cx.a], ry.wa * cx.wa),
                        (ra[cx.b], ry.wa * cx.wb),
                        (rb[cx.a], ry.wb * cx.wa),
                        (rb[cx.b], ry.wb * cx.wb),
                    ] {
                        if w > 0.0 && valid(v) {
                            acc += w * f64::from(v);
                            wsum += w;
                        }
                    }
                    if wsum > 0.0 {
                        dst[r * window.width + c] = (acc / wsum) as f32;
                    }
                }
            }
        }
        Ok(())
    }

    /// [`Placed::read_into`] into a new buffer.
    fn read(&self, window: Window, bands: &[usize], fill: f32) -> Result<Vec<f32>> {
        let mut out = vec![0f32; window.area() * bands.len()];
        self.read_into(window, bands, &mut out, fill)?;
        Ok(out)
    }
}

#[derive(Debug)]
struct DateIo {
    image: Image,
    mask: Option<(Placed, MaskRule)>,
    label: Option<usize>,
    truth: Option<usize>,
    nodata: Option<f64>,
    scale: f32,
    offset: f32,
}

/// Label rasters, their files, and `(year, raster index)` pairs.
type LabelSet = (Vec<LabelRaster>, Vec<PathBuf>, Vec<(i32, usize)>);

#[derive(Debug)]
struct LabelRaster {
    reader: Placed,
    nodata: Option<f64>,
}

/// Whole-series copy in memory (see [`SceneSeries::load_into_memory`]).
#[derive(Debug)]
struct MemCache {
    /// Per date `[C, H, W]` values (offset applied).
    images: Vec<Vec<f32>>,
    /// Per date `[H, W]` quality.
    quality: Vec<Vec<u8>>,
    /// Per label raster `[H, W]`.
    labels: Vec<Vec<u8>>,
}

/// The acquisitions of one area: co-registered GeoTIFFs on one pixel grid, with per-date
/// masks and per-year (or per-date) label rasters, read window by window (only the tiles a
/// window touches are decoded, so a 10980 x 10980 Sentinel-2 tile never has to fit in
/// memory).
///
/// Open it from a [`Manifest`] ([`SceneSeries::open`]) or a folder
/// ([`SceneSeries::discover`]). Every image, mask and label raster must share the grid of the
/// first date's image (size, geotransform, CRS); otherwise opening fails with
/// [`Error::GridMismatch`] naming the file. Dates are sorted chronologically.
///
/// `SceneSeries` is `Send + Sync`: share it between data-loader workers with an `Arc`.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let manifest = chronomap_data::testkit::tiny_series(dir.path(), 16, 3, 1)?;
/// use chronomap_data::SceneSeries;
/// use chronomap_geo::Window;
/// let series = SceneSeries::open(&manifest)?;
/// let patch = series.read_patch(Window::new(0, 0, 8, 8), &[0, 1, 2])?;
/// assert_eq!(patch.shape(), [3, series.bands().len(), 8, 8]); // [time, channels, height, width]
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SceneSeries {
    source: PathBuf,
    width: usize,
    height: usize,
    geotransform: Option<GeoTransform>,
    epsg: Option<u32>,
    bands: Vec<String>,
    classes: Vec<String>,
    dates: Vec<SceneDate>,
    io: Vec<DateIo>,
    labels: Vec<LabelRaster>,
    truth: Vec<LabelRaster>,
    label_files: Vec<PathBuf>,
    truth_files: Vec<PathBuf>,
    use_truth: bool,
    cache: Option<Arc<MemCache>>,
}

/// Tolerance on geotransform terms: a thousandth of a pixel.
fn same_geotransform(a: &GeoTransform, b: &GeoTransform) -> bool {
    let px = a.0[1].abs().max(a.0[5].abs()).max(1e-12);
    let tol = 1e-3 * px;
    (a.0[0] - b.0[0]).abs() <= tol
        && (a.0[3] - b.0[3]).abs() <= tol
        && [1, 2, 4, 5]
            .iter()
            .all(|&i| (a.0[i] - b.0[i]).abs() <= 1e-6 * px)
}

struct Reference {
    path: PathBuf,
    width: usize,
    height: usize,
    geotransform: Option<GeoTransform>,
    epsg: Option<u32>,
}

impl Reference {
    /// Where `r` lies on the reference grid: the same CRS, pixel size and orientation, and
    /// an origin on the reference's pixel lattice (to a thousandth of a pixel); its extent
    /// may differ. Without georeferencing (in both) the sizes must be equal.
    fn place(&self, r: GeoTiffReader) -> Result<Placed> {
        self.place_with(r, false)
    }

    /// [`Reference::place`], also accepting (`coarser`) a file whose pixels are an integer
    /// number (2 to 16) of the reference's along both axes, on its lattice: masks such as
    /// Sentinel-2's 20 m SCL on a 10 m series.
    fn place_with(&self, r: GeoTiffReader, coarser: bool) -> Result<Placed> {
        let i = r.info();
        let (w, h) = (i.width, i.height);
        let mismatch = if i.epsg != self.epsg {
            Err(GridMismatch::Crs {
                expected: self.epsg,
                found: i.epsg,
            })
        } else {
            match (&i.geotransform, &self.geotransform) {
                (None, None) if (w, h) == (self.width, self.height) => Ok((0, 0, 1)),
                (None, None) => Err(GridMismatch::Size {
                    expected: [self.width, self.height],
                    found: [w, h],
                }),
                (Some(a), Some(b)) => lattice_offset(a, b, coarser),
                _ => Err(GridMismatch::GeoTransform {
                    expected: self.geotransform.map(|g| g.0),
                    found: i.geotransform.map(|g| g.0),
                }),
            }
        };
        match mismatch {
            Ok((col, row, factor)) => Ok(Placed {
                exact: factor == 1 && (col, row) == (0, 0) && (w, h) == (self.width, self.height),
                reader: r,
                col,
                row,
                factor,
                bilinear: None,
            }),
            Err(mismatch) => Err(Error::GridMismatch {
                path: r.path().to_path_buf(),
                reference: self.path.clone(),
                mismatch: Box::new(mismatch),
            }),
        }
    }
}

/// The pixel offset (col, row) of grid `a`'s origin on grid `b`'s lattice, when both have
/// the same pixel size and rotation terms and the offset is a whole number of pixels (to a
/// thousandth of a pixel).
fn lattice_offset(
    a: &GeoTransform,
    b: &GeoTransform,
    coarser: bool,
) -> std::result::Result<(i64, i64, usize), GridMismatch> {
    if same_geotransform(a, b) {
        return Ok((0, 0, 1));
    }
    let px = b.0[1].abs().max(b.0[5].abs()).max(1e-12);
    let rotated = b.0[2] != 0.0 || b.0[4] != 0.0 || a.0[2] != 0.0 || a.0[4] != 0.0;
    let ratio = (a.0[1] / b.0[1], a.0[5] / b.0[5]);
    let k = ratio.0.round();
    let factor = if (a.0[1] - b.0[1]).abs() <= 1e-6 * px && (a.0[5] - b.0[5]).abs() <= 1e-6 * px {
        Some(1)
    } else if coarser
        && (2.0..=16.0).contains(&k)
        && (ratio.0 - k).abs() <= 1e-6
        && (ratio.1 - k).abs() <= 1e-6
    {
        Some(k as usize)
    } else {
        None
    };
    let Some(factor) = factor.filter(|_| !rotated) else {
        return Err(GridMismatch::PixelSize {
            expected: [b.0[1], b.0[5]],
            found: [a.0[1], a.0[5]],
        });
    };
    let dc = (a.0[0] - b.0[0]) / b.0[1];
    let dr = (a.0[3] - b.0[3]) / b.0[5];
    let (c, r) = (dc.round(), dr.round());
    if (dc - c).abs() > 1e-3 || (dr - r).abs() > 1e-3 || c.abs() > 1e9 || r.abs() > 1e9 {
        return Err(GridMismatch::Misaligned {
            offset_px: [dc, dr],
        });
    }
    Ok((c as i64, r as i64, factor))
}

/// The file a manifest path names: as it is when absolute, else in the manifest's folder
/// `base`; checked to exist, except URLs (`http(s)://`, read over HTTP by the geo crate's
/// reader): kept as they are and not checked (opening them tells).
fn resolve(base: &Path, manifest: &Path, p: &Path) -> Result<PathBuf> {
    if chronomap_geo::is_url(p) {
        return Ok(p.to_path_buf());
    }
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    if !chronomap_geo::archive::path_exists(&full) {
        return Err(Error::manifest(
            manifest,
            ManifestProblem::MissingFile { path: full },
        ));
    }
    Ok(full)
}

fn open_label_set(
    base: &Path,
    manifest: &Path,
    entries: &[LabelEntry],
    reference: &Reference,
) -> Result<LabelSet> {
    let mut rasters = Vec::new();
    let mut files = Vec::new();
    let mut years = Vec::new();
    for e in entries {
        if years.iter().any(|&(y, _)| y == e.year) {
            return Err(Error::manifest(
                manifest,
                ManifestProblem::DuplicateLabelYear { year: e.year },
            ));
        }
        let path = resolve(base, manifest, &e.path)?;
        let idx = intern_label(&mut rasters, &mut files, &path, reference)?;
        years.push((e.year, idx));
    }
    Ok((rasters, files, years))
}

fn intern_label(
    rasters: &mut Vec<LabelRaster>,
    files: &mut Vec<PathBuf>,
    path: &Path,
    reference: &Reference,
) -> Result<usize> {
    if let Some(i) = files.iter().position(|f| f == path) {
        return Ok(i);
    }
    let reader = reference.place(GeoTiffReader::open(path)?)?;
    let nodata = reader.info().nodata;
    rasters.push(LabelRaster { reader, nodata });
    files.push(path.to_path_buf());
    Ok(files.len() - 1)
}

impl SceneSeries {
    /// Opens the series a manifest describes (paths relative to the manifest's folder).
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::ManifestJson`] for an unreadable manifest;
    /// [`Error::Manifest`] for inconsistent content (no dates, bad date, duplicate date,
    /// missing file, a band without a file, ...); [`Error::Geo`] when a GeoTIFF cannot be
    /// opened; [`Error::GridMismatch`] naming the first file whose size, CRS or geotransform
    /// differs from the first date's image; [`Error::BandCount`] when a multi-band image does
    /// not hold exactly the manifest's bands.
    pub fn open(manifest: impl AsRef<Path>) -> Result<Self> {
        let path = manifest.as_ref();
        let m = Manifest::load(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_manifest(m, &base, path)
    }

    /// Opens a folder: its `manifest.json` when there is one, otherwise the series that
    /// [`Manifest::discover`] finds from the file names.
    ///
    /// # Errors
    /// As [`SceneSeries::open`] and [`Manifest::discover`].
    pub fn discover(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest = dir.join("manifest.json");
        if manifest.is_file() {
            return Self::open(manifest);
        }
        let m = Manifest::discover(dir)?;
        Self::from_manifest(m, dir, dir)
    }

    /// [`SceneSeries::open`] for a manifest file, [`SceneSeries::discover`] for a folder.
    ///
    /// # Errors
    /// As those two.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.is_dir() {
            Self::discover(path)
        } else {
            Self::open(path)
        }
    }

    /// Opens a series from an in-memory manifest whose relative paths are resolved against
    /// `base`; `source` names the manifest (or folder) in error messages.
    ///
    /// # Errors
    /// As [`SceneSeries::open`].
    pub fn from_manifest(m: Manifest, base: &Path, source: &Path) -> Result<Self> {
        if m.version != MANIFEST_VERSION {
            return Err(Error::manifest(
                source,
                ManifestProblem::Version { found: m.version },
            ));
        }
        if m.bands.is_empty() {
            return Err(Error::manifest(source, ManifestProblem::NoBands));
        }
        if m.dates.is_empty() {
            return Err(Error::manifest(source, ManifestProblem::NoDates));
        }
        // Sort by date, rejecting duplicates and bad dates first.
        let mut entries = Vec::with_capacity(m.dates.len());
        for e in &m.dates {
            entries.push((parse_date(source, &e.date)?, e));
        }
        entries.sort_by_key(|(d, _)| *d);
        for pair in entries.windows(2) {
            if pair[0].0 == pair[1].0 {
                let date = pair[0].0.to_string();
                return Err(Error::manifest(
                    source,
                    ManifestProblem::DuplicateDate { date },
                ));
            }
        }
        let nb = m.bands.len();
        let mut dates = Vec::new();
        let mut io = Vec::new();
        let mut reference: Option<Reference> = None;
        let mut labels = Vec::new();
        let mut label_files = Vec::new();
        let mut truth = Vec::new();
        let mut truth_files = Vec::new();
        let mut label_years = Vec::new();
        let mut truth_years = Vec::new();
        for (date, e) in entries {
            let ds = date.to_string();
            let (image, image_files) = match (&e.image, &e.bands) {
                (Some(p), None) => {
                    let path = resolve(base, source, p)?;
                    let r = GeoTiffReader::open(&path)?;
                    if r.info().bands != nb {
                        return Err(Error::BandCount {
                            path,
                            expected: nb,
                            found: r.info().bands,
                        });
                    }
                    (vec![r], vec![path])
                }
                (None, Some(map)) => {
                    if let Some(band) = map.keys().find(|b| !m.bands.contains(b)) {
                        return Err(Error::manifest(
                            source,
                            ManifestProblem::UnknownBand {
                                date: ds,
                                band: band.clone(),
                            },
                        ));
                    }
                    let mut readers = Vec::new();
                    let mut files = Vec::new();
                    for b in &m.bands {
                        let Some(p) = map.get(b) else {
                            return Err(Error::manifest(
                                source,
                                ManifestProblem::MissingBand {
                                    date: ds,
                                    band: b.clone(),
                                },
                            ));
                        };
                        let path = resolve(base, source, p)?;
                        readers.push(GeoTiffReader::open(&path)?);
                        files.push(path);
                    }
                    (readers, files)
                }
                _ => {
                    return Err(Error::manifest(
                        source,
                        ManifestProblem::ImageSource { date: ds },
                    ));
                }
            };
            let reference = reference.get_or_insert_with(|| {
                // the finest band of the first date (a 10 m band when 20 m ones are listed)
                let size = |r: &GeoTiffReader| r.info().geotransform.map_or(0.0, |g| g.0[1].abs());
                let f = (0..image.len())
                    .min_by(|&a, &b| size(&image[a]).total_cmp(&size(&image[b])))
                    .unwrap_or(0);
                let i = image[f].info();
                Reference {
                    path: image_files[f].clone(),
                    width: i.width,
                    height: i.height,
                    geotransform: i.geotransform,
                    epsg: i.epsg,
                }
            });
            // The first label/truth sets are opened once the reference grid is known.
            if label_files.is_empty() && label_years.is_empty() && !m.labels.is_empty() {
                let (r, f, y) = open_label_set(base, source, &m.labels, reference)?;
                (labels, label_files, label_years) = (r, f, y);
            }
            if truth_files.is_empty() && truth_years.is_empty() && !m.ground_truth.is_empty() {
                let (r, f, y) = open_label_set(base, source, &m.ground_truth, reference)?;
                (truth, truth_files, truth_years) = (r, f, y);
            }
            let nodata = m.nodata.or(image[0].info().nodata);
            let per_band = e.image.is_none();
            let image: Vec<Placed> = image
                .into_iter()
                .map(|r| {
                    // one file per band: a coarser band (Sentinel-2's 20 m B11) is read
                    // bilinearly onto the series grid
                    let mut p = reference.place_with(r, per_band)?;
                    if p.factor > 1 {
                        p.bilinear = Some(nodata.map(|v| v as f32));
                    }
                    Ok(p)
                })
                .collect::<Result<_>>()?;
            let image = if e.image.is_some() {
                Image::Stack(Box::new(image.into_iter().next().expect("one reader")))
            } else {
                Image::PerBand(image)
            };
            let (mask, mask_file) = match &e.mask {
                None => (None, None),
                Some(entry) => {
                    let path = resolve(base, source, entry.path())?;
                    // a mask may be coarser (20 m SCL on a 10 m series): nearest neighbour
                    let reader = reference.place_with(GeoTiffReader::open(&path)?, true)?;
                    let rule = match entry {
                        MaskEntry::Path(_) => MaskRule::NonZero,
                        MaskEntry::Values {
                            invalid,
                            valid,
                            bits,
                            ..
                        } => match (invalid, valid, bits) {
                            (Some(v), None, None) => MaskRule::Invalid(v.clone()),
                            (None, Some(v), None) => MaskRule::Valid(v.clone()),
                            (None, None, Some(b)) if b.iter().all(|&b| b < 64) => {
                                MaskRule::AnyBit(b.iter().fold(0u64, |m, &b| m | 1 << b))
                            }
                            (None, None, None) => MaskRule::NonZero,
                            _ => {
                                return Err(Error::manifest(
                                    source,
                                    ManifestProblem::MaskValues { date: ds },
                                ));
                            }
                        },
                    };
                    (Some((reader, rule)), Some(path))
                }
            };
            let label = match &e.labels {
                Some(p) => {
                    let path = resolve(base, source, p)?;
                    Some(intern_label(
                        &mut labels,
                        &mut label_files,
                        &path,
                        reference,
                    )?)
                }
                None => label_years
                    .iter()
                    .find(|&&(y, _)| y == date.year)
                    .map(|&(_, i)| i),
            };
            let truth_idx = truth_years
                .iter()
                .find(|&&(y, _)| y == date.year)
                .map(|&(_, i)| i);
            dates.push(SceneDate {
                date,
                image_files,
                mask_file,
                label_file: label.map(|i| label_files[i].clone()),
                ground_truth_file: truth_idx.map(|i| truth_files[i].clone()),
                meta: e.meta.clone(),
            });
            io.push(DateIo {
                image,
                mask,
                label,
                truth: truth_idx,
                nodata,
                scale: e.scale.unwrap_or(1.0) as f32,
                offset: e.add_offset.unwrap_or(0.0) as f32,
            });
        }
        let reference = reference.expect("at least one date");
        let mut series = Self {
            source: source.to_path_buf(),
            width: reference.width,
            height: reference.height,
            geotransform: reference.geotransform,
            epsg: reference.epsg,
            bands: m.bands.clone(),
            classes: m.classes.clone(),
            dates,
            io,
            labels,
            truth,
            label_files,
            truth_files,
            use_truth: false,
            cache: None,
        };
        series.set_tile_cache(DEFAULT_TILE_CACHE_PER_DATE);
        Ok(series)
    }

    /// Sets the decoded-tile cache of the readers: `per_date` bytes for each date's image
    /// file(s) (split by their band counts), an eighth of it for each mask and label raster.
    /// The default, [`DEFAULT_TILE_CACHE_PER_DATE`], holds the tiles of a few 512 x 512 windows,
    /// enough for random training patches; raise it for sliding-window inference over wide
    /// scenes (a row of 256-pixel tiles of a 10980-pixel-wide, 4-band u16 image is 22 MB), or
    /// set 0 to disable caching. Memory used is at most about
    /// `dates * per_date * 1.25 + labels * per_date / 8`.
    pub fn set_tile_cache(&mut self, per_date: usize) {
        let small = per_date / 8;
        for io in &mut self.io {
            match &mut io.image {
                Image::Stack(r) => r.set_cache_bytes(per_date),
                Image::PerBand(rs) => {
                    let n = rs.len().max(1);
                    for r in rs.iter_mut() {
                        r.set_cache_bytes(per_date / n);
                    }
                }
            }
            if let Some((r, _)) = &mut io.mask {
                r.set_cache_bytes(small);
            }
        }
        for l in self.labels.iter_mut().chain(self.truth.iter_mut()) {
            l.reader.set_cache_bytes(small);
        }
    }

    /// The manifest (or folder) the series was opened from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Pixel -> world transform (GDAL order), `None` for non-georeferenced files.
    pub fn geotransform(&self) -> Option<GeoTransform> {
        self.geotransform
    }

    /// EPSG code of the CRS, if known.
    pub fn epsg(&self) -> Option<u32> {
        self.epsg
    }

    /// The georeferenced grid shared by every file, `None` without a geotransform.
    pub fn grid(&self) -> Option<Grid> {
        self.geotransform.map(|geotransform| Grid {
            width: self.width,
            height: self.height,
            geotransform,
            epsg: self.epsg,
        })
    }

    /// Band names, in channel order.
    pub fn bands(&self) -> &[String] {
        &self.bands
    }

    /// Class names declared by the manifest (may be empty).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The acquisitions, in chronological order.
    pub fn dates(&self) -> &[SceneDate] {
        &self.dates
    }

    /// Number of acquisitions.
    pub fn len(&self) -> usize {
        self.dates.len()
    }

    /// Whether the series has no acquisitions (never true for an opened series).
    pub fn is_empty(&self) -> bool {
        self.dates.is_empty()
    }

    /// The distinct calendar years, ascending.
    pub fn years(&self) -> Vec<i32> {
        let mut y: Vec<i32> = self.dates.iter().map(|d| d.date.year).collect();
        y.dedup();
        y
    }

    /// Indices of the dates of `year`, chronological.
    pub fn dates_in_year(&self, year: i32) -> Vec<usize> {
        (0..self.dates.len())
            .filter(|&i| self.dates[i].date.year == year)
            .collect()
    }

    /// Date index sequences, one per calendar year (the usual training sequences: each
    /// year's dates with that year's labels).
    pub fn sequences_by_year(&self) -> Vec<Vec<usize>> {
        self.years()
            .into_iter()
            .map(|y| self.dates_in_year(y))
            .collect()
    }

    /// Whether ground-truth rasters replace the label rasters in reads (see
    /// [`SceneSeries::set_use_ground_truth`]).
    pub fn uses_ground_truth(&self) -> bool {
        self.use_truth
    }

    /// Reads labels from the manifest's `ground_truth` rasters instead of its `labels`
    /// (synthetic worlds: evaluate against what is really on the ground). Dates without a
    /// ground-truth raster then read as unlabelled.
    pub fn set_use_ground_truth(&mut self, on: bool) {
        self.use_truth = on;
    }

    /// Whether the manifest provides ground-truth rasters.
    pub fn has_ground_truth(&self) -> bool {
        !self.truth_files.is_empty()
    }

    /// Label raster files (distinct), in manifest order.
    pub fn label_files(&self) -> &[PathBuf] {
        &self.label_files
    }

    fn check_date(&self, date: usize) -> Result<()> {
        if date >= self.dates.len() {
            return Err(Error::DateOutOfRange {
                index: date,
                dates: self.dates.len(),
            });
        }
        Ok(())
    }

    fn check_window(&self, window: Window) -> Result<()> {
        if !window.fits_in(self.width, self.height) {
            return Err(Error::WindowOutOfBounds {
                window,
                width: self.width,
                height: self.height,
            });
        }
        Ok(())
    }

    /// Bytes that [`SceneSeries::load_into_memory`] would use.
    pub fn memory_bytes(&self) -> u64 {
        let px = (self.width * self.height) as u64;
        let per_date = px * (4 * self.bands.len() as u64 + 1);
        per_date * self.dates.len() as u64 + px * (self.labels.len() + self.truth.len()) as u64
    }

    /// Reads the whole series into memory when it needs at most `max_bytes`
    /// ([`SceneSeries::memory_bytes`]); later reads copy from memory. Returns whether it did.
    /// Worth it for small scenes read many times (e.g. a 1024 x 1024 synthetic world).
    ///
    /// # Errors
    /// Read errors of any file.
    pub fn load_into_memory(&mut self, max_bytes: u64) -> Result<bool> {
        if self.cache.is_some() {
            return Ok(true);
        }
        if self.memory_bytes() > max_bytes {
            return Ok(false);
        }
        let full = Window::full(self.width, self.height);
        let c = self.bands.len();
        let mut images = Vec::new();
        let mut quality = Vec::new();
        for d in 0..self.dates.len() {
            let mut img = vec![0f32; c * full.area()];
            let mut q = vec![0u8; full.area()];
            self.read_date_into(d, full, &mut img, &mut q)?;
            images.push(img);
            quality.push(q);
        }
        let mut labels = Vec::new();
        for l in self.labels.iter().chain(&self.truth) {
            labels.push(self.read_label_raster(l, full)?);
        }
        self.cache = Some(Arc::new(MemCache {
            images,
            quality,
            labels,
        }));
        Ok(true)
    }

    /// Reads one date's bands and quality over `window` from the files (or the cache).
    ///
    /// # Shapes
    /// `image`: `[channels, window.height, window.width]`; `quality`: `[height, width]`.
    fn read_date_into(
        &self,
        date: usize,
        window: Window,
        image: &mut [f32],
        quality: &mut [u8],
    ) -> Result<()> {
        let plane = window.area();
        let c = self.bands.len();
        if let Some(cache) = &self.cache {
            let w = self.width;
            for b in 0..c {
                let src = &cache.images[date][b * self.height * w..];
                copy_window(src, w, window, &mut image[b * plane..(b + 1) * plane]);
            }
            copy_window(&cache.quality[date], w, window, quality);
            return Ok(());
        }
        let io = &self.io[date];
        match &io.image {
            Image::Stack(r) => {
                let bands: Vec<usize> = (0..c).collect();
                r.read_into(window, &bands, image, f32::NAN)?;
            }
            Image::PerBand(rs) => {
                for (b, r) in rs.iter().enumerate() {
                    r.read_into(
                        window,
                        &[0],
                        &mut image[b * plane..(b + 1) * plane],
                        f32::NAN,
                    )?;
                }
            }
        }
        quality.fill(QUALITY_CLEAR);
        let nodata = io.nodata.map(|v| v as f32);
        for b in 0..c {
            let band = &image[b * plane..(b + 1) * plane];
            for (q, &v) in quality.iter_mut().zip(band) {
                if v.is_nan() || Some(v) == nodata {
                    *q = QUALITY_NODATA;
                }
            }
        }
        if let Some((reader, rule)) = &io.mask {
            // outside the mask file: NaN, masked
            let m = reader.read(window, &[0], f32::NAN)?;
            for (q, &v) in quality.iter_mut().zip(&m) {
                if *q == QUALITY_CLEAR && rule.masked(v) {
                    *q = QUALITY_MASKED;
                }
            }
        }
        if io.scale != 1.0 || io.offset != 0.0 {
            for v in image.iter_mut() {
                *v = *v * io.scale + io.offset;
            }
        }
        Ok(())
    }

    fn read_label_raster(&self, l: &LabelRaster, window: Window) -> Result<Vec<u8>> {
        let raw = l.reader.read(window, &[0], f32::NAN)?;
        let nodata = l.nodata.map(|v| v as f32);
        let classes = self.classes.len();
        let mut out = Vec::with_capacity(raw.len());
        for v in raw {
            let ignore = v.is_nan() || Some(v) == nodata || !(0.0..255.0).contains(&v);
            let lab = if ignore || v.fract() != 0.0 {
                IGNORE_INDEX
            } else {
                v as u8
            };
            if classes > 0 && lab != IGNORE_INDEX && lab as usize >= classes {
                return Err(Error::LabelOutOfRange {
                    path: l.reader.path().to_path_buf(),
                    value: lab as u32,
                    classes,
                });
            }
            out.push(lab);
        }
        Ok(out)
    }

    /// Reads the bands of one date.
    ///
    /// # Shapes
    /// Returns `[channels, window.height, window.width]`, the manifest's `add_offset` applied.
    ///
    /// # Errors
    /// [`Error::DateOutOfRange`], [`Error::WindowOutOfBounds`], or read errors.
    pub fn read_image(&self, date: usize, window: Window) -> Result<Vec<f32>> {
        self.check_date(date)?;
        self.check_window(window)?;
        let mut img = vec![0f32; self.bands.len() * window.area()];
        let mut q = vec![0u8; window.area()];
        self.read_date_into(date, window, &mut img, &mut q)?;
        Ok(img)
    }

    /// Reads the bands and the pixel quality of one date in one pass (see
    /// [`SceneSeries::read_image`] and [`SceneSeries::read_quality`]).
    ///
    /// # Shapes
    /// Returns `([channels, window.height, window.width], [window.height, window.width])`.
    ///
    /// # Errors
    /// As [`SceneSeries::read_image`].
    pub fn read_date(&self, date: usize, window: Window) -> Result<(Vec<f32>, Vec<u8>)> {
        self.check_date(date)?;
        self.check_window(window)?;
        let mut img = vec![0f32; self.bands.len() * window.area()];
        let mut q = vec![0u8; window.area()];
        self.read_date_into(date, window, &mut img, &mut q)?;
        Ok((img, q))
    }

    /// Reads the pixel quality of one date ([`QUALITY_CLEAR`], [`QUALITY_MASKED`] from the
    /// mask, [`QUALITY_NODATA`] where any band equals the nodata value or is NaN).
    ///
    /// # Shapes
    /// Returns `[window.height, window.width]`.
    ///
    /// # Errors
    /// As [`SceneSeries::read_image`].
    pub fn read_quality(&self, date: usize, window: Window) -> Result<Vec<u8>> {
        self.check_date(date)?;
        self.check_window(window)?;
        let mut img = vec![0f32; self.bands.len() * window.area()];
        let mut q = vec![0u8; window.area()];
        self.read_date_into(date, window, &mut img, &mut q)?;
        Ok(q)
    }

    /// Reads the labels of one date: class ids, [`IGNORE_INDEX`] where the raster says
    /// unlabelled (255 or its nodata value) and everywhere when the date has no label raster.
    /// Masks are *not* applied (see [`crate::LabelPolicy`]).
    ///
    /// # Shapes
    /// Returns `[window.height, window.width]`.
    ///
    /// # Errors
    /// As [`SceneSeries::read_image`], plus [`Error::LabelOutOfRange`].
    pub fn read_labels(&self, date: usize, window: Window) -> Result<Vec<u8>> {
        self.check_date(date)?;
        self.check_window(window)?;
        let io = &self.io[date];
        let (idx, set, offset) = if self.use_truth {
            (io.truth, &self.truth, self.labels.len())
        } else {
            (io.label, &self.labels, 0)
        };
        let Some(i) = idx else {
            return Ok(vec![IGNORE_INDEX; window.area()]);
        };
        if let Some(cache) = &self.cache {
            let mut out = vec![0u8; window.area()];
            copy_window(&cache.labels[offset + i], self.width, window, &mut out);
            return Ok(out);
        }
        self.read_label_raster(&set[i], window)
    }

    /// Reads a patch: the bands, quality and labels of `dates` over `window`.
    ///
    /// # Shapes
    /// `image`: `[dates.len(), channels, window.height, window.width]`;
    /// `quality`, `labels`: `[dates.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// As [`SceneSeries::read_labels`].
    pub fn read_patch(&self, window: Window, dates: &[usize]) -> Result<ScenePatch> {
        self.check_window(window)?;
        for &d in dates {
            self.check_date(d)?;
        }
        let (t, c, plane) = (dates.len(), self.bands.len(), window.area());
        let mut image = vec![0f32; t * c * plane];
        let mut quality = vec![0u8; t * plane];
        let mut labels = vec![0u8; t * plane];
        // Dates sharing a label raster (a year's) read it once.
        let mut done: Vec<(Option<usize>, usize)> = Vec::new();
        for (k, &d) in dates.iter().enumerate() {
            // A date repeated (a padded sequence) is copied, not read again.
            if let Some(j) = dates[..k].iter().position(|&e| e == d) {
                image.copy_within(j * c * plane..(j + 1) * c * plane, k * c * plane);
                quality.copy_within(j * plane..(j + 1) * plane, k * plane);
                labels.copy_within(j * plane..(j + 1) * plane, k * plane);
                continue;
            }
            self.read_date_into(
                d,
                window,
                &mut image[k * c * plane..(k + 1) * c * plane],
                &mut quality[k * plane..(k + 1) * plane],
            )?;
            let key = if self.use_truth {
                self.io[d].truth
            } else {
                self.io[d].label
            };
            let dst = k * plane..(k + 1) * plane;
            if let Some(&(_, prev)) = done.iter().find(|(l, _)| l.is_some() && *l == key) {
                labels.copy_within(prev * plane..(prev + 1) * plane, dst.start);
            } else {
                labels[dst].copy_from_slice(&self.read_labels(d, window)?);
                done.push((key, k));
            }
        }
        Ok(ScenePatch {
            window,
            dates: dates.to_vec(),
            channels: c,
            image,
            quality,
            labels,
        })
    }

    /// Like [`SceneSeries::read_patch`] for a window that may extend past the scene's edges
    /// (scene inference near the border, scenes smaller than the patch): the part inside is
    /// read, the rest is 0 with quality [`QUALITY_NODATA`] and label [`IGNORE_INDEX`].
    ///
    /// `window.col` / `window.row` are relative to the scene's top-left corner; windows
    /// starting left of or above the scene are expressed with `offset` = (columns, rows) of
    /// padding before the scene: the patch's pixel `(r, c)` is scene pixel
    /// `(window.row + r - offset.1, window.col + c - offset.0)`.
    ///
    /// # Shapes
    /// As [`SceneSeries::read_patch`], with the full `window` size.
    ///
    /// # Errors
    /// As [`SceneSeries::read_patch`] (except out-of-bounds windows).
    pub fn read_patch_padded(
        &self,
        window: Window,
        offset: (usize, usize),
        dates: &[usize],
    ) -> Result<ScenePatch> {
        for &d in dates {
            self.check_date(d)?;
        }
        let (t, c) = (dates.len(), self.bands.len());
        let (h, w) = (window.height, window.width);
        let mut patch = ScenePatch {
            window,
            dates: dates.to_vec(),
            channels: c,
            image: vec![0.0; t * c * h * w],
            quality: vec![QUALITY_NODATA; t * h * w],
            labels: vec![IGNORE_INDEX; t * h * w],
        };
        // Scene coordinates of the window, as signed numbers.
        let c0 = window.col as i64 - offset.0 as i64;
        let r0 = window.row as i64 - offset.1 as i64;
        let sc0 = c0.max(0);
        let sr0 = r0.max(0);
        let sc1 = (c0 + w as i64).min(self.width as i64);
        let sr1 = (r0 + h as i64).min(self.height as i64);
        if sc1 <= sc0 || sr1 <= sr0 {
            return Ok(patch);
        }
        let inner = Window::new(
            sc0 as usize,
            sr0 as usize,
            (sc1 - sc0) as usize,
            (sr1 - sr0) as usize,
        );
        let part = self.read_patch(inner, dates)?;
        let (dc, dr) = ((sc0 - c0) as usize, (sr0 - r0) as usize);
        let paste = |src: &[f32], dst: &mut [f32]| {
            for r in 0..inner.height {
                let s = &src[r * inner.width..(r + 1) * inner.width];
                dst[(dr + r) * w + dc..(dr + r) * w + dc + inner.width].copy_from_slice(s);
            }
        };
        let ip = inner.area();
        for k in 0..t * c {
            paste(
                &part.image[k * ip..(k + 1) * ip],
                &mut patch.image[k * h * w..(k + 1) * h * w],
            );
        }
        for k in 0..t {
            for r in 0..inner.height {
                let s = k * ip + r * inner.width;
                let d = k * h * w + (dr + r) * w + dc;
                patch.quality[d..d + inner.width]
                    .copy_from_slice(&part.quality[s..s + inner.width]);
                patch.labels[d..d + inner.width].copy_from_slice(&part.labels[s..s + inner.width]);
            }
        }
        Ok(patch)
    }
}

/// Copies `window` out of a row-major plane of width `stride` into `out`.
fn copy_window<T: Copy>(src: &[T], stride: usize, window: Window, out: &mut [T]) {
    for r in 0..window.height {
        let s = (window.row + r) * stride + window.col;
        out[r * window.width..(r + 1) * window.width].copy_from_slice(&src[s..s + window.width]);
    }
}
