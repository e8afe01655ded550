//! Mosaics of per-scene rasters as a GDAL VRT: one virtual raster over many GeoTIFFs of one
//! CRS and pixel size (per-scene class or probability maps of a sharded prediction), which
//! `gdalinfo`, `gdal_translate` and QGIS open as one image. Nothing is copied: the VRT lists
//! each file and where it goes. [`write_cog_mosaic`] writes the same mosaic as one
//! Cloud-Optimized GeoTIFF instead.

use std::path::{Path, PathBuf};

use crate::atomic_file::write_atomic;
use crate::cog::{CogOptions, OverviewResampling};
use crate::error::{Error, Result};
use crate::geotransform::GeoTransform;
use crate::raster_info::RasterInfo;
use crate::reader::GeoTiffReader;
use crate::sample::Sample;
use crate::sample_type::SampleType;
use crate::tiff_format::geokeys::xml_escape;
use crate::window::Window;
use crate::writer::{GeoTiffWriter, RasterSpec};

/// What [`write_vrt_mosaic`] or [`write_cog_mosaic`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct MosaicSummary {
    /// Mosaic width in pixels.
    pub width: usize,
    /// Mosaic height in pixels.
    pub height: usize,
    /// Bands.
    pub bands: usize,
    /// GDAL geotransform of the mosaic.
    pub geotransform: [f64; 6],
    /// EPSG code shared by the inputs.
    pub epsg: Option<u32>,
}

/// The VRT data type of `t`: GDAL's name, Float32 for Float16 (which GDAL 3.6 reads as
/// Float32).
fn gdal_type(t: SampleType) -> &'static str {
    if t == SampleType::F16 {
        "Float32"
    } else {
        t.gdal_name()
    }
}

fn mismatch(path: &Path, detail: String) -> Error {
    Error::Mosaic {
        path: path.to_path_buf(),
        detail,
    }
}

/// The inputs checked and placed on the mosaic grid.
struct Plan {
    /// Each input with its description and `(column, row)` on the mosaic.
    placed: Vec<(PathBuf, RasterInfo, (usize, usize))>,
    /// The first input's description (bands, type, nodata, names).
    first: RasterInfo,
    width: usize,
    height: usize,
    geotransform: [f64; 6],
}

impl Plan {
    fn summary(&self) -> MosaicSummary {
        MosaicSummary {
            width: self.width,
            height: self.height,
            bands: self.first.bands,
            geotransform: self.geotransform,
            epsg: self.first.epsg,
        }
    }
}

/// Checks that `inputs` share CRS, pixel size, bands, type and pixel lattice, and places them
/// on the union of their extents.
fn plan(inputs: &[PathBuf], out: &Path) -> Result<Plan> {
    if inputs.is_empty() {
        return Err(mismatch(out, "no input rasters".into()));
    }
    let mut placed = Vec::new();
    let mut reference: Option<(RasterInfo, [f64; 6])> = None;
    for p in inputs {
        let r = GeoTiffReader::open(p)?;
        let i = r.info().clone();
        let g = i
            .geotransform
            .ok_or_else(|| mismatch(p, "has no geotransform".into()))?
            .0;
        if g[2] != 0.0 || g[4] != 0.0 {
            return Err(mismatch(
                p,
                "is rotated; a mosaic needs north-up rasters".into(),
            ));
        }
        if let Some((ri, rg)) = &reference {
            let tol = 1e-6 * rg[1].abs();
            if i.epsg != ri.epsg {
                return Err(mismatch(
                    p,
                    format!("CRS {:?} instead of {:?} (EPSG)", i.epsg, ri.epsg),
                ));
            }
            if (g[1] - rg[1]).abs() > tol || (g[5] - rg[5]).abs() > tol {
                return Err(mismatch(
                    p,
                    format!(
                        "pixel size {:?} instead of {:?}",
                        [g[1], g[5]],
                        [rg[1], rg[5]]
                    ),
                ));
            }
            if i.bands != ri.bands || i.sample_type != ri.sample_type {
                return Err(mismatch(
                    p,
                    format!(
                        "{} bands of {:?} instead of {} of {:?}",
                        i.bands, i.sample_type, ri.bands, ri.sample_type
                    ),
                ));
            }
            let (dc, dr) = ((g[0] - rg[0]) / rg[1], (g[3] - rg[3]) / rg[5]);
            if (dc - dc.round()).abs() > 1e-3 || (dr - dr.round()).abs() > 1e-3 {
                return Err(mismatch(
                    p,
                    format!(
                        "is offset by {:?} pixels from the first input, not a whole number",
                        [dc, dr]
                    ),
                ));
            }
        } else {
            reference = Some((i.clone(), g));
        }
        placed.push((p.clone(), i, g));
    }
    let (first, rg) = reference.expect("one input");
    let (px, py) = (rg[1], rg[5]);
    // the union of the inputs' extents, in world coordinates
    let (mut minx, mut maxx, mut maxy, mut miny) = (f64::MAX, f64::MIN, f64::MIN, f64::MAX);
    for (_, i, g) in &placed {
        minx = minx.min(g[0]);
        maxx = maxx.max(g[0] + i.width as f64 * px);
        maxy = maxy.max(g[3]);
        miny = miny.min(g[3] + i.height as f64 * py);
    }
    let width = ((maxx - minx) / px).round() as usize;
    let height = ((miny - maxy) / py).round() as usize;
    let placed = placed
        .into_iter()
        .map(|(p, i, g)| {
            let col = ((g[0] - minx) / px).round() as usize;
            let row = ((g[3] - maxy) / py).round() as usize;
            (p, i, (col, row))
        })
        .collect();
    Ok(Plan {
        placed,
        first,
        width,
        height,
        geotransform: [minx, px, 0.0, maxy, 0.0, py],
    })
}

/// Writes `out` (a `.vrt`) over `inputs`: north-up GeoTIFFs with the same CRS, pixel size,
/// band count and sample type, placed by their geotransforms (origins on one pixel lattice).
/// Where inputs overlap, later ones win, except where they hold nodata (the first input's
/// nodata value is every source's `NODATA`). Paths are written relative to the VRT's folder
/// when the inputs are under it. The file is written to a temporary file and renamed.
///
/// # Errors
/// [`Error::Mosaic`] naming the first input that differs (CRS, pixel size, bands, type,
/// rotation, no georeferencing, off the lattice) or when `inputs` is empty; as
/// [`GeoTiffReader::open`]; [`Error::Io`] writing `out`.
pub fn write_vrt_mosaic(inputs: &[PathBuf], out: &Path) -> Result<MosaicSummary> {
    let plan = plan(inputs, out)?;
    let ri = &plan.first;
    let (width, height, gt) = (plan.width, plan.height, plan.geotransform);
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let dir_abs = abs(dir);
    let mut x = format!("<VRTDataset rasterXSize=\"{width}\" rasterYSize=\"{height}\">\n");
    if let Some(e) = ri.epsg {
        x += &format!("  <SRS dataAxisToSRSAxisMapping=\"1,2\">EPSG:{e}</SRS>\n");
    }
    x += &format!(
        "  <GeoTransform>{:.10}, {:.10}, 0, {:.10}, 0, {:.10}</GeoTransform>\n",
        gt[0], gt[1], gt[3], gt[5]
    );
    let dtype = gdal_type(ri.sample_type);
    for b in 0..ri.bands {
        x += &format!(
            "  <VRTRasterBand dataType=\"{dtype}\" band=\"{}\">\n",
            b + 1
        );
        if let Some(nd) = ri.nodata {
            x += &format!("    <NoDataValue>{nd}</NoDataValue>\n");
        }
        if let Some(Some(d)) = ri.band_descriptions.get(b) {
            x += &format!("    <Description>{}</Description>\n", xml_escape(d));
        }
        for (p, i, (col, row)) in &plan.placed {
            let pa = abs(p);
            let (name, relative) = match pa.strip_prefix(&dir_abs) {
                Ok(rel) => (rel.to_string_lossy().into_owned(), 1),
                Err(_) => (pa.to_string_lossy().into_owned(), 0),
            };
            x += "    <ComplexSource>\n";
            x += &format!(
                "      <SourceFilename relativeToVRT=\"{relative}\">{}</SourceFilename>\n",
                xml_escape(&name)
            );
            x += &format!("      <SourceBand>{}</SourceBand>\n", b + 1);
            x += &format!(
                "      <SourceProperties RasterXSize=\"{}\" RasterYSize=\"{}\" DataType=\"{dtype}\" BlockXSize=\"{}\" BlockYSize=\"{}\"/>\n",
                i.width, i.height, i.block_width, i.block_height
            );
            x += &format!(
                "      <SrcRect xOff=\"0\" yOff=\"0\" xSize=\"{}\" ySize=\"{}\"/>\n",
                i.width, i.height
            );
            x += &format!(
                "      <DstRect xOff=\"{col}\" yOff=\"{row}\" xSize=\"{}\" ySize=\"{}\"/>\n",
                i.width, i.height
            );
            if let Some(nd) = ri.nodata {
                x += &format!("      <NODATA>{nd}</NODATA>\n");
            }
            x += "    </ComplexSource>\n";
        }
        x += "  </VRTRasterBand>\n";
    }
    x += "</VRTDataset>\n";
    write_atomic(out, &x)?;
    Ok(plan.summary())
}

/// Tile size of [`write_cog_mosaic`]'s output.
const MOSAIC_TILE: usize = 256;

/// Writes the mosaic of `inputs` (the same rules and checks as [`write_vrt_mosaic`]) as one
/// Cloud-Optimized GeoTIFF `out`: the pixels `gdal_translate` of the VRT gives (nodata, or 0
/// without one, where no input covers; later inputs on top except where they hold the first
/// input's nodata), tiled 256 x 256, Deflate, with overviews (see [`CogOptions`]) computed by
/// `resampling`, or by default [`OverviewResampling::Mode`] for one-band `u8` inputs with a
/// colour table (class maps), [`OverviewResampling::Average`] for floats and
/// [`OverviewResampling::Nearest`] otherwise. Float16 inputs are written as Float32.
///
/// The first input's colour table, band names and nodata are kept; when it has GDAL/QGIS
/// class sidecars (`.aux.xml` category names, see
/// [`write_class_style`](crate::write_class_style)), `out` gets them too.
///
/// The mosaic is assembled one 256 x 256 window at a time (each input's reader decodes only
/// the tiles a window touches; inputs are opened when the first window reaches them and
/// closed once passed), so memory holds about one row of output tiles plus the inputs' tile
/// caches.
///
/// # Errors
/// As [`write_vrt_mosaic`]; as [`GeoTiffReader::read_window_as`] reading an input;
/// [`Error::Io`] writing `out`.
///
/// # Examples
/// ```
/// use chronomap_geo::{GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window, write_cog_mosaic, write_geotiff};
/// let dir = tempfile::tempdir()?;
/// let spec = |x0| RasterSpec::new(4, 2, 1, SampleType::U8)
///     .with_geotransform(GeoTransform::north_up(x0, 100.0, 10.0))
///     .with_epsg(32628)
///     .with_nodata(255.0);
/// let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
/// write_geotiff(&a, &spec(0.0), RasterData::U8(&[1; 8]))?;
/// write_geotiff(&b, &spec(20.0), RasterData::U8(&[255, 2, 2, 2, 255, 2, 2, 2]))?;
/// let out = dir.path().join("mosaic.tif");
/// let s = write_cog_mosaic(&[a, b], &out, None)?;
/// assert_eq!((s.width, s.height), (6, 2));
/// let px = GeoTiffReader::open(&out)?.read_window_u8(Window::full(6, 2), &[0])?;
/// assert_eq!(px, vec![1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_cog_mosaic(
    inputs: &[PathBuf],
    out: &Path,
    resampling: Option<OverviewResampling>,
) -> Result<MosaicSummary> {
    let plan = plan(inputs, out)?;
    let ri = &plan.first;
    let sample_type = match ri.sample_type {
        SampleType::F16 => SampleType::F32,
        t => t,
    };
    let first_path = &plan.placed[0].0;
    let palette = if ri.bands == 1 && sample_type == SampleType::U8 {
        read_color_map(first_path)?
    } else {
        None
    };
    let resampling = resampling.unwrap_or(if palette.is_some() {
        OverviewResampling::Mode
    } else if sample_type.is_float() {
        OverviewResampling::Average
    } else {
        OverviewResampling::Nearest
    });
    let mut spec = RasterSpec::new(plan.width, plan.height, ri.bands, sample_type)
        .with_geotransform(GeoTransform(plan.geotransform))
        .with_tile_size(MOSAIC_TILE)
        .with_cog(CogOptions::new(resampling));
    spec.epsg = ri.epsg;
    spec.nodata = ri.nodata;
    if ri.band_descriptions.iter().any(Option::is_some) {
        spec.band_names = ri
            .band_descriptions
            .iter()
            .map(|d| d.clone().unwrap_or_default())
            .collect();
    }
    if let Some(p) = &palette {
        spec.palette = Some(p.clone());
    }
    macro_rules! paint {
        ($t:ty) => {
            paint_cog::<$t>(&plan, out, spec)?
        };
    }
    match sample_type {
        SampleType::U8 => paint!(u8),
        SampleType::I8 => paint!(i8),
        SampleType::U16 => paint!(u16),
        SampleType::I16 => paint!(i16),
        SampleType::U32 => paint!(u32),
        SampleType::I32 => paint!(i32),
        SampleType::F16 | SampleType::F32 => paint!(f32),
        SampleType::F64 => paint!(f64),
    }
    if let Some(p) = &palette
        && let Some(names) = crate::class_style::read_category_names(first_path)
    {
        let nodata = ri
            .nodata
            .filter(|v| (0.0..=255.0).contains(v) && v.fract() == 0.0)
            .map(|v| v as u8);
        crate::class_style::write_class_style(out, &names, p, nodata)?;
    }
    Ok(plan.summary())
}

/// Paints the inputs of `plan` window by window into a COG writer of `spec`.
fn paint_cog<T: Sample>(plan: &Plan, out: &Path, spec: RasterSpec) -> Result<()> {
    let nodata = plan.first.nodata;
    let is_nodata = |v: T| match nodata {
        Some(nd) if nd.is_nan() => v.to_f64().is_nan(),
        Some(nd) => v.to_f64() == nd,
        None => false,
    };
    let background = T::from_f64(nodata.unwrap_or(0.0));
    let bands: Vec<usize> = (0..plan.first.bands).collect();
    let nb = bands.len();
    let (width, height) = (plan.width, plan.height);
    let mut readers: Vec<Option<GeoTiffReader>> = plan.placed.iter().map(|_| None).collect();
    let mut w = GeoTiffWriter::create(out, spec)?;
    for row0 in (0..height).step_by(MOSAIC_TILE) {
        let rows = MOSAIC_TILE.min(height - row0);
        for col0 in (0..width).step_by(MOSAIC_TILE) {
            let cols = MOSAIC_TILE.min(width - col0);
            let mut buf = vec![background; nb * rows * cols];
            for (k, (path, info, (c, r))) in plan.placed.iter().enumerate() {
                // the part of this input inside the window, in mosaic pixels
                let (x0, x1) = (col0.max(*c), (col0 + cols).min(c + info.width));
                let (y0, y1) = (row0.max(*r), (row0 + rows).min(r + info.height));
                if x0 >= x1 || y0 >= y1 {
                    continue;
                }
                if readers[k].is_none() {
                    readers[k] = Some(GeoTiffReader::open(path)?);
                }
                let reader = readers[k].as_ref().expect("opened above");
                let win = Window::new(x0 - c, y0 - r, x1 - x0, y1 - y0);
                let part: Vec<T> = reader.read_window_as(win, &bands)?;
                for b in 0..nb {
                    for y in 0..win.height {
                        let src = &part[(b * win.height + y) * win.width..][..win.width];
                        let o = (b * rows + y0 - row0 + y) * cols + x0 - col0;
                        for (d, &v) in buf[o..o + win.width].iter_mut().zip(src) {
                            if !is_nodata(v) {
                                *d = v;
                            }
                        }
                    }
                }
            }
            w.write_window(Window::new(col0, row0, cols, rows), &buf)?;
        }
        // inputs that end above the next row of windows are done
        for (k, (_, info, (_, r))) in plan.placed.iter().enumerate() {
            if r + info.height <= row0 + rows {
                readers[k] = None;
            }
        }
    }
    w.finish()
}

/// The colour table (TIFF `ColorMap`, 16-bit components scaled to 8 bits) of a GeoTIFF's
/// first image; `None` without one or for files that are not TIFFs.
fn read_color_map(path: &Path) -> Result<Option<Vec<[u8; 3]>>> {
    use crate::tiff_format::ifd::TiffFile;
    use crate::tiff_format::source::FileSource;
    use crate::tiff_format::tags;
    if crate::archive::is_archive_path(path) {
        return Ok(None);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let src = FileSource { file, len, base: 0 };
    let Ok(tiff) = TiffFile::parse(&src) else {
        return Ok(None);
    };
    let map = (|| {
        let ifd = tiff.read_ifd(tiff.first_ifd)?;
        tiff.u64s(&ifd, tags::COLOR_MAP)
    })()
    .map_err(|f| f.at(path))?;
    let Some(map) = map.filter(|m| !m.is_empty() && m.len() % 3 == 0) else {
        return Ok(None);
    };
    let n = map.len() / 3;
    let eight = |v: u64| ((v.min(65535) + 128) / 257) as u8;
    Ok(Some(
        (0..n)
            .map(|i| [eight(map[i]), eight(map[n + i]), eight(map[2 * n + i])])
            .collect(),
    ))
}
