//! GeoJSON parsing.
#![no_main]

use chronomap_geo::vector::{ReadOptions, parse_geojson};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_geojson(data, &ReadOptions::default());
});
