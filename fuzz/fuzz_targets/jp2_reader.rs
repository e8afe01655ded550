//! JPEG 2000 (JP2 boxes, GeoJP2/GMLJP2 georeferencing, J2K codestream markers, tier-1/tier-2
//! decoding and the inverse wavelet transform) through what the scene readers do: open, a
//! windowed read at the top-left corner and one at the bottom-right, a typed read, and a
//! reduced-resolution read at the coarsest level. Read limits and the tile cache are set low,
//! so a header declaring a huge image or tile must give a typed error rather than an
//! allocation the file cannot back. Any bytes must give `Ok` or a typed error, never a panic
//! or a hang.
#![no_main]

use chronomap_geo::{GeoTiffReader, Window};
use libfuzzer_sys::fuzz_target;

/// Largest output buffer one read may allocate (64 x 64 pixels x 4 bands x 8 bytes fit).
const MAX_READ_BYTES: u64 = 1 << 20;
/// Decoded-tile cache budget.
const CACHE_BYTES: usize = 4 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = GeoTiffReader::from_bytes(data.to_vec()) else {
        return;
    };
    r.set_max_read_bytes(MAX_READ_BYTES);
    r.set_cache_bytes(CACHE_BYTES);
    let info = r.info().clone();
    let (w, h) = (info.width.min(64), info.height.min(64));
    let bands: Vec<usize> = (0..info.bands.min(4)).collect();
    let _ = r.read_window(Window::new(0, 0, w, h), &bands);
    let (w2, h2) = (info.width.min(8), info.height.min(8));
    let _ = r.read_window(
        Window::new(info.width - w2, info.height - h2, w2, h2),
        &bands,
    );
    let _ = r.read_window_as::<f64>(Window::new(info.width / 2, info.height / 2, 1, 1), &bands);
    let levels = info.reduction_levels;
    if levels > 0 {
        let level = u32::try_from(levels).unwrap_or(u32::MAX);
        let (rw, rh) = r.reduced_size(level);
        let window = Window::new(0, 0, rw.min(64), rh.min(64));
        let _ = r.read_window_reduced(window, &bands, level);
        // one past the coarsest level: a typed error
        assert!(
            r.read_window_reduced(window, &bands, level.saturating_add(1))
                .is_err()
        );
    }
});
