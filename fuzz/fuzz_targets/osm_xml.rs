//! OSM XML parsing and multipolygon assembly, strict and lenient.
#![no_main]

use chronomap_geo::vector::{ReadOptions, parse_osm_xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_osm_xml(data, &ReadOptions::default());
    let _ = parse_osm_xml(
        data,
        &ReadOptions {
            strict: true,
            ..ReadOptions::default()
        },
    );
});
