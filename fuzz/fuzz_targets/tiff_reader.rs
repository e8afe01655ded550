//! TIFF header, IFD, GeoKey and strip/tile decoding: any bytes must give `Ok` or a typed
//! error, never a panic, a hang or a huge allocation.
#![no_main]

use chronomap_geo::{GeoTiffReader, Window};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = GeoTiffReader::from_bytes(data.to_vec()) else {
        return;
    };
    r.set_max_read_bytes(16 << 20);
    r.set_cache_bytes(0);
    let info = r.info().clone();
    let _ = info.grid();
    let (w, h) = (info.width.min(32), info.height.min(32));
    let bands: Vec<usize> = (0..info.bands.min(3)).collect();
    let _ = r.read_window(Window::new(0, 0, w, h), &bands);
    let _ = r.read_window(Window::new(info.width - w, info.height - h, w, h), &bands);
    let _ = r.read_window_as::<f64>(Window::new(info.width / 2, info.height / 2, 1, 1), &bands);
});
