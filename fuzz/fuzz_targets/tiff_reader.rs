//! TIFF header, IFD, GeoKey and strip/tile decoding, with the library's DEFAULT settings (read
//! limit, tile cache), through what `chronomap info`, `rasterize` and the scene readers do:
//! open, statistics, windowed reads at the corners and the middle, typed reads, and
//! rasterizing a polygon onto the file's grid. Any bytes must give `Ok` or a typed error,
//! never a panic, a hang or an allocation the file cannot back.
#![no_main]

use chronomap_geo::vector::{ReadOptions, parse_geojson};
use chronomap_geo::{ClassTable, GeoTiffReader, Grid, RasterizeOptions, Window, rasterize};
use libfuzzer_sys::fuzz_target;

/// Label rasters up to this size are rasterized on the file's whole grid; larger grids (a
/// sparse header may legitimately declare one, up to the 16 GiB limit that `rasterize`
/// enforces with `GridTooLarge`) on their top-left 64 x 64 pixels, so that the fuzzer's
/// 2 GiB memory limit measures the reader, not an output the caller asked for.
const FULL_GRID_PIXELS: usize = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = GeoTiffReader::from_bytes(data.to_vec()) else {
        return;
    };
    let info = r.info().clone();
    let _ = r.statistics(|_, _| {});
    let (w, h) = (info.width.min(64), info.height.min(64));
    let bands: Vec<usize> = (0..info.bands.min(4)).collect();
    let _ = r.read_window(Window::new(0, 0, w, h), &bands);
    let _ = r.read_window(Window::new(info.width - w, info.height - h, w, h), &bands);
    let _ = r.read_window_as::<f64>(Window::new(info.width / 2, info.height / 2, 1, 1), &bands);
    let _ = r.read_window_u8(Window::new(0, info.height - 1, w, 1), &[0]);
    if let Ok(grid) = r.grid() {
        let grid = if grid.width.saturating_mul(grid.height) <= FULL_GRID_PIXELS {
            grid
        } else {
            grid.window(&Window::new(0, 0, w, h))
        };
        rasterize_over(&grid);
    }
});

/// Rasterizes a water polygon spanning the grid's middle, in the grid's own CRS.
fn rasterize_over(grid: &Grid) {
    let g = &grid.geotransform;
    let (wf, hf) = (grid.width as f64, grid.height as f64);
    let corners = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.2)]
        .map(|(c, r)| g.pixel_to_world(c * wf, r * hf));
    if corners.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return;
    }
    let ring: Vec<String> = corners
        .iter()
        .map(|(x, y)| format!("[{x:?},{y:?}]"))
        .collect();
    let json = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"natural":"water"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}]}}"#,
        ring.join(",")
    );
    let Ok(v) = parse_geojson(json.as_bytes(), &ReadOptions::default()) else {
        return;
    };
    let epsg = grid.epsg.unwrap_or(v.epsg);
    let _ = rasterize(
        &v.features,
        epsg,
        &ClassTable::default(),
        grid,
        &RasterizeOptions::default(),
    );
}
