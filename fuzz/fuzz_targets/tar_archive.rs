//! `.tar` header parsing (ustar, GNU long names, pax) and `/vsitar/` member lookup: any bytes
//! give a member list or a typed error, never a panic, a hang or a huge allocation.
#![no_main]

use chronomap_geo::GeoTiffReader;
use chronomap_geo::archive::{tar_members, vsitar_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("a.tar");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(members) = tar_members(&path) {
        for m in members.iter().take(4) {
            assert!(m.offset + m.size <= data.len() as u64);
            // a member opened as a GeoTIFF through its /vsitar/ path
            let _ = GeoTiffReader::open(vsitar_path(&path, &m.name));
        }
    }
});
