//! Mosaics of per-scene rasters as a GDAL VRT: one virtual raster over many GeoTIFFs of one
//! CRS and pixel size (per-scene class or probability maps of a sharded prediction), which
//! `gdalinfo`, `gdal_translate` and QGIS open as one image. Nothing is copied: the VRT lists
//! each file and where it goes.

use std::path::{Path, PathBuf};

use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};
use crate::reader::GeoTiffReader;
use crate::sample_type::SampleType;
use crate::tiff_format::geokeys::xml_escape;

/// What [`write_vrt_mosaic`] wrote.
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
    if inputs.is_empty() {
        return Err(mismatch(out, "no input rasters".into()));
    }
    let mut placed = Vec::new();
    let mut reference: Option<(crate::raster_info::RasterInfo, [f64; 6])> = None;
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
    let (ri, rg) = reference.expect("one input");
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
    let geotransform = [minx, px, 0.0, maxy, 0.0, py];
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
        geotransform[0], px, geotransform[3], py
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
        for (p, i, g) in &placed {
            let pa = abs(p);
            let (name, relative) = match pa.strip_prefix(&dir_abs) {
                Ok(rel) => (rel.to_string_lossy().into_owned(), 1),
                Err(_) => (pa.to_string_lossy().into_owned(), 0),
            };
            let col = ((g[0] - minx) / px).round() as i64;
            let row = ((g[3] - maxy) / py).round() as i64;
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
    Ok(MosaicSummary {
        width,
        height,
        bands: ri.bands,
        geotransform,
        epsg: ri.epsg,
    })
}
