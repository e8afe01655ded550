//! Integration tests of chronomap-data: real GeoTIFF / OSM files written to temporary
//! folders by the testkit and the synthetic world (one test binary, as the workspace does).

mod collection;
mod dataset;
// The local HTTP test server of chronomap-geo's tests (one copy for both crates).
#[path = "../../../geo/tests/it/http_server.rs"]
mod http_server;
mod landsat;
mod sentinel2;
mod series;
mod stac;
mod synth;
