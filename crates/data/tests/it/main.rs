//! Integration tests of chronomap-data: real GeoTIFF / OSM files written to temporary
//! folders by the testkit and the synthetic world (one test binary, as the workspace does).

mod collection;
mod dataset;
mod http_server;
mod landsat;
mod sentinel2;
mod series;
mod stac;
mod synth;
