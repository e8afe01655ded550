//! Zip central directory parsing (zip64 included), local headers, stored and deflated members
//! and `/vsizip/` member lookup: any bytes give a member list or a typed error, and opening
//! a member as a GeoTIFF through its `/vsizip/` path (listed names, and names the archive
//! may not hold) gives a reader or a typed error, never a panic, a hang or a huge allocation.
#![no_main]

use chronomap_geo::GeoTiffReader;
use chronomap_geo::archive::{vsizip_path, zip_members};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("x.zip");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    // Deflated members are inflated into the zip cache: one per input, removed with `dir`
    // (the inflated bytes are bounded by the deflate stream, ~1000 times the input).
    // SAFETY: libFuzzer runs the target on one thread, and nothing else reads the
    // environment meanwhile.
    unsafe { std::env::set_var("CHRONOMAP_ZIP_CACHE", dir.path().join("cache")) };
    // names that may or may not be there, one of them escaping the archive
    for name in ["a.tif", "../a.tif", "/a.tif", "", "a.tif/"] {
        let _ = GeoTiffReader::open(vsizip_path(&path, name));
    }
    if let Ok(members) = zip_members(&path) {
        for m in members.iter().take(4) {
            // a listed member opened as a GeoTIFF through its /vsizip/ path
            let _ = GeoTiffReader::open(vsizip_path(&path, &m.name));
        }
    }
});
