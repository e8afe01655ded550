//! Integration tests of chronomap-geo: conformance with GDAL (skipped with a printed reason
//! when gdal-bin is absent), bad input, OSM/GeoJSON rasterization.

mod bad_input;
mod file_pool;
mod gdal_jp2;
mod gdal_raster;
mod gdal_rasterize;
mod osm;
mod util;
