//! Vector features -> `u8` label rasters on a reference grid, with GDAL's pixel rules for
//! polygons (centre or all-touched) and metric widths for lines.

mod burn;
mod files;
mod line_buffer;
mod polygon_fill;

pub use burn::{FeatureSource, RasterizeOptions, RasterizeReport, rasterize, rasterize_sources};
pub use files::{rasterize_files, rasterize_to_geotiff};
