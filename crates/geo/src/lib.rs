//! Geodata for chronomap: GeoTIFF reading and writing, georeferencing, coordinate reference
//! systems, OpenStreetMap/GeoJSON label rasterization and PNG quicklooks. No tensors here:
//! pixels are plain band-major `Vec`s (`[bands, height, width]`).
//!
//! # Overview
//! - [`GeoTiffReader`] opens a GeoTIFF (striped/tiled, pixel/band interleaved, BigTIFF,
//!   none/LZW/Deflate/PackBits, predictors 1-3, u8..f64) or a JPEG 2000 file (`.jp2` with
//!   GMLJP2/GeoJP2 georeferencing, raw `.j2k`; Sentinel-2 bands) and reads pixel
//!   [`Window`]s of any bands, decoding only the tiles the window touches. [`RasterInfo`] describes the file:
//!   size, [`SampleType`], [`GeoTransform`], EPSG code, nodata.
//! - Files over HTTP(S) (Cloud-Optimized GeoTIFFs on object stores, STAC assets) open by
//!   URL and are read with range requests: only the header and the tiles a window touches
//!   travel (see [`http`]).
//! - [`write_geotiff`] writes a whole raster described by a [`RasterSpec`];
//!   [`GeoTiffWriter`] streams larger-than-memory rasters window by window. Both write to a
//!   temporary file and rename it into place; with [`RasterSpec::with_cog`] the file is a
//!   Cloud-Optimized GeoTIFF with internal overviews ([`CogOptions`]).
//!
//! # Example
//! ```
//! use chronomap_geo::{GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("labels.tif");
//! let spec = RasterSpec::new(64, 64, 1, SampleType::U8)
//!     .with_geotransform(GeoTransform::north_up(355_000.0, 1_780_000.0, 10.0))
//!     .with_epsg(32628);
//! write_geotiff(&path, &spec, RasterData::U8(&vec![3u8; 64 * 64]))?;
//! let r = GeoTiffReader::open(&path)?;
//! assert_eq!(r.read_window_u8(Window::new(10, 10, 2, 2), &[0])?, vec![3; 4]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//! This crate has no optional features; everything is pure Rust.

pub mod archive;
mod atomic_file;
mod chunk_cache;
mod class_style;
mod class_table;
mod cog;
pub mod crs;
mod error;
mod file_pool;
mod geotransform;
mod grid;
pub mod http;
mod jp2;
mod mosaic;
pub mod quicklook;
mod raster_info;
pub mod rasterize;
mod reader;
mod sample;
mod sample_type;
mod stats;
mod tiff_format;
pub mod vector;
mod window;
mod writer;

pub use class_style::{class_style_paths, write_class_style};
pub use class_table::{
    BACKGROUND, BUILDING, BurnAs, ClassDef, ClassRule, ClassTable, NODATA, ROAD, VEGETATION, WATER,
};
pub use cog::{CogOptions, OverviewResampling};
pub use error::{
    ClassTableProblem, Error, HttpProblem, Jp2Problem, Result, TiffProblem, Unsupported,
    VectorProblem,
};
pub use file_pool::{DEFAULT_MAX_OPEN_FILES, max_open_files, open_file_counts, set_max_open_files};
pub use geotransform::GeoTransform;
pub use grid::Grid;
pub use http::{HttpOptions, HttpSource, is_url};
pub use mosaic::{MosaicSummary, write_cog_mosaic, write_vrt_mosaic};
pub use raster_info::{Compression, Interleave, Predictor, RasterInfo};
pub use rasterize::{
    FeatureSource, RasterizeOptions, RasterizeReport, rasterize, rasterize_files,
    rasterize_sources, rasterize_to_geotiff,
};
pub use reader::{DEFAULT_CACHE_BYTES, DEFAULT_MAX_READ_BYTES, GeoTiffReader};
pub use sample::Sample;
pub use sample_type::SampleType;
pub use stats::BandStats;
pub use window::Window;
pub use writer::{BIGTIFF_THRESHOLD, GeoTiffWriter, RasterData, RasterSpec, write_geotiff};
