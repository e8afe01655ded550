//! File-level rasterization: vector files -> label GeoTIFF on a reference raster's grid
//! (what `chronomap rasterize` and the synthetic world use).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::burn::{
    FeatureSource, REFERENCE_GRID, RasterizeOptions, RasterizeReport, rasterize_sources,
};
use crate::class_table::ClassTable;
use crate::error::{Error, Result};
use crate::grid::Grid;
use crate::reader::GeoTiffReader;
use crate::sample_type::SampleType;
use crate::vector::{ReadOptions, TagFilter, VectorData, VectorFormat, read_vector};
use crate::writer::{RasterData, RasterSpec, write_geotiff};

/// Reads OSM XML/PBF and GeoJSON files and rasterizes them together onto `grid`.
/// OSM elements no rule matches are dropped while reading (so big PBF extracts fit in
/// memory); features skipped while reading are included in the report.
///
/// # Shapes
/// Returns labels `[grid.height, grid.width]`.
///
/// # Errors
/// As [`read_vector`] and [`rasterize_sources`](super::rasterize_sources).
pub fn rasterize_files(
    vectors: &[impl AsRef<Path>],
    table: &ClassTable,
    grid: &Grid,
    options: &RasterizeOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<u8>, RasterizeReport)> {
    // refuse an absurd grid before reading (possibly large) vector files
    super::burn::check_label_size(grid, Path::new(REFERENCE_GRID))?;
    let filter_table = Arc::new(table.clone());
    let mut loaded: Vec<(PathBuf, VectorData)> = Vec::new();
    for path in vectors {
        let path = path.as_ref();
        let is_osm = matches!(
            VectorFormat::of(path),
            Some(VectorFormat::OsmXml | VectorFormat::OsmPbf)
        );
        let keep: Option<TagFilter> = if options.attribute.is_none() || is_osm {
            let t = filter_table.clone();
            Some(Arc::new(move |tags| t.matches(tags)))
        } else {
            None
        };
        let read = ReadOptions {
            strict: options.strict,
            keep,
        };
        loaded.push((path.to_path_buf(), read_vector(path, &read)?));
    }
    let sources: Vec<FeatureSource<'_>> = loaded
        .iter()
        .map(|(p, d)| FeatureSource {
            path: p,
            features: &d.features,
            epsg: d.epsg,
        })
        .collect();
    let (labels, mut report) = rasterize_sources(&sources, table, grid, options, progress)?;
    let mut skipped: Vec<_> = loaded
        .iter()
        .flat_map(|(p, d)| d.skipped.iter().map(move |s| (p.clone(), s.clone())))
        .collect();
    skipped.append(&mut report.skipped);
    report.skipped = skipped;
    report.trimmed = loaded
        .iter()
        .flat_map(|(p, d)| d.trimmed.iter().map(move |t| (p.clone(), t.clone())))
        .collect();
    Ok((labels, report))
}

/// Rasterizes vector files onto the grid of the GeoTIFF `like` and writes a tiled, deflated
/// `u8` label GeoTIFF `out` (same size, geotransform and EPSG; band described `labels`).
///
/// # Errors
/// As [`GeoTiffReader::open`] and [`rasterize_files`]; [`Error::MissingGeoreferencing`](crate::Error::MissingGeoreferencing)
/// when `like` has no geotransform; [`Error::Io`](crate::Error::Io) writing `out`.
pub fn rasterize_to_geotiff(
    vectors: &[impl AsRef<Path>],
    like: impl AsRef<Path>,
    out: impl AsRef<Path>,
    table: &ClassTable,
    options: &RasterizeOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RasterizeReport> {
    let like = like.as_ref();
    let grid = GeoTiffReader::open(like)?.grid()?;
    let (labels, report) =
        rasterize_files(vectors, table, &grid, options, progress).map_err(|e| match e {
            // name the reference file instead of the in-memory grid
            Error::MissingGeoreferencing { path, missing }
                if path.as_os_str() == REFERENCE_GRID =>
            {
                Error::MissingGeoreferencing {
                    path: like.to_path_buf(),
                    missing,
                }
            }
            Error::GridTooLarge {
                path,
                width,
                height,
                bytes,
                limit,
            } if path.as_os_str() == REFERENCE_GRID => Error::GridTooLarge {
                path: like.to_path_buf(),
                width,
                height,
                bytes,
                limit,
            },
            e => e,
        })?;
    let colors = crate::quicklook::class_colors(table);
    let spec = RasterSpec::for_grid(&grid, 1, SampleType::U8)
        .with_band_names(["labels"])
        .with_palette(colors.clone());
    let out = out.as_ref();
    write_geotiff(out, &spec, RasterData::U8(&labels))?;
    // class names and a QGIS style beside the labels
    let top = table
        .classes
        .iter()
        .map(|c| c.id as usize + 1)
        .max()
        .unwrap_or(0);
    let names: Vec<String> = (0..top)
        .map(|i| {
            table
                .classes
                .iter()
                .find(|c| c.id as usize == i)
                .map_or_else(|| format!("class {i}"), |c| c.name.clone())
        })
        .collect();
    crate::write_class_style(out, &names, &colors, Some(crate::class_table::NODATA))?;
    Ok(report)
}
