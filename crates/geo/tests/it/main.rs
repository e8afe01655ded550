//! Integration tests of chronomap-geo: conformance with GDAL (skipped with a printed reason
//! when gdal-bin is absent), bad input, OSM/GeoJSON rasterization, rasters over HTTP
//! (against a local test server).

mod bad_input;
mod file_pool;
mod gdal_cog;
mod gdal_jp2;
mod gdal_raster;
mod gdal_rasterize;
mod http;
mod http_server;
mod osm;
mod util;
