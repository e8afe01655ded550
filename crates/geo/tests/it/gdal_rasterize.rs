//! `chronomap` rasterization vs `gdal_rasterize` on the same polygons (GeoJSON with a class
//! attribute), both with the pixel-centre rule and with all-touched. Agreement is measured
//! over the pixels either tool burns (background-only pixels would inflate it).

use std::fmt::Write;
use std::path::Path;

use chronomap_geo::{
    ClassTable, GeoTiffReader, GeoTransform, Grid, RasterData, RasterSpec, RasterizeOptions,
    SampleType, rasterize_files, write_geotiff,
};

use crate::require_gdal;
use crate::util::run;

const SIZE: usize = 256;
const PIXEL: f64 = 10.0;
const X0: f64 = 340_000.0;
const Y0: f64 = 1_775_000.0;

/// Deterministic pseudo-random numbers in [0, 1) (64-bit LCG, Knuth's constants).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn ring_json(pts: &[(f64, f64)]) -> String {
    let mut s = String::from("[");
    for (i, (x, y)) in pts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write!(s, "[{x},{y}]").unwrap();
    }
    s.push(']');
    s
}

/// A star-shaped ring around (cx, cy) in world coordinates.
fn star(rng: &mut Lcg, cx: f64, cy: f64, r: f64, n: usize, reverse: bool) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let rr = r * (0.5 + 0.5 * rng.next());
            (cx + rr * a.cos(), cy + rr * a.sin())
        })
        .collect();
    if reverse {
        pts.reverse();
    }
    pts.push(pts[0]);
    pts
}

/// ~400 polygons: random stars (some with holes, some multipolygons, overlapping) and
/// rectangles snapped to pixel edges, as a GeoJSON FeatureCollection in EPSG:32628.
fn polygons_geojson() -> String {
    let mut rng = Lcg(42);
    let mut features = Vec::new();
    let world = |px: f64, py: f64| (X0 + px * PIXEL, Y0 - py * PIXEL);
    for i in 0..400 {
        let class = 1 + (i % 5);
        let (cx, cy) = world(rng.next() * SIZE as f64, rng.next() * SIZE as f64);
        let geometry = match i % 8 {
            0 => {
                // rectangle on pixel edges
                let (x, y) = world((rng.next() * 240.0).floor(), (rng.next() * 240.0).floor());
                let (w, h) = (
                    (1.0 + (rng.next() * 12.0).floor()) * PIXEL,
                    (1.0 + (rng.next() * 12.0).floor()) * PIXEL,
                );
                let r = vec![(x, y), (x + w, y), (x + w, y - h), (x, y - h), (x, y)];
                format!(r#"{{"type":"Polygon","coordinates":[{}]}}"#, ring_json(&r))
            }
            1 => {
                let outer = star(&mut rng, cx, cy, 200.0, 16, false);
                let hole = star(&mut rng, cx, cy, 60.0, 7, true);
                format!(
                    r#"{{"type":"Polygon","coordinates":[{},{}]}}"#,
                    ring_json(&outer),
                    ring_json(&hole)
                )
            }
            2 => {
                let a = star(&mut rng, cx, cy, 50.0, 9, false);
                let b = star(&mut rng, cx + 150.0, cy - 80.0, 40.0, 6, false);
                format!(
                    r#"{{"type":"MultiPolygon","coordinates":[[{}],[{}]]}}"#,
                    ring_json(&a),
                    ring_json(&b)
                )
            }
            _ => {
                let r = 8.0 + rng.next() * 150.0;
                let n = 3 + (rng.next() * 12.0) as usize;
                let reverse = rng.next() < 0.5;
                let ring = star(&mut rng, cx, cy, r, n, reverse);
                format!(
                    r#"{{"type":"Polygon","coordinates":[{}]}}"#,
                    ring_json(&ring)
                )
            }
        };
        features.push(format!(
            r#"{{"type":"Feature","properties":{{"class":{class}}},"geometry":{geometry}}}"#
        ));
    }
    format!(
        r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::32628"}}}},"features":[{}]}}"#,
        features.join(",\n")
    )
}

fn grid() -> Grid {
    Grid {
        width: SIZE,
        height: SIZE,
        geotransform: GeoTransform::north_up(X0, Y0, PIXEL),
        epsg: Some(32628),
    }
}

/// gdal_rasterize burns into a copy of an all-zero raster on the grid.
fn gdal_burn(dir: &Path, vectors: &Path, all_touched: bool) -> Vec<u8> {
    let out = dir.join(format!("gdal_{all_touched}.tif"));
    let spec = RasterSpec::for_grid(&grid(), 1, SampleType::U8);
    write_geotiff(&out, &spec, RasterData::U8(&vec![0; SIZE * SIZE])).unwrap();
    let mut args = vec!["-q", "-a", "class"];
    if all_touched {
        args.push("-at");
    }
    args.extend([vectors.to_str().unwrap(), out.to_str().unwrap()]);
    run("gdal_rasterize", &args);
    GeoTiffReader::open(&out)
        .unwrap()
        .read_window_u8(chronomap_geo::Window::full(SIZE, SIZE), &[0])
        .unwrap()
}

#[test]
fn polygons_agree_with_gdal_rasterize() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("polygons.geojson");
    std::fs::write(&vectors, polygons_geojson()).unwrap();
    for all_touched in [false, true] {
        let gdal = gdal_burn(dir.path(), &vectors, all_touched);
        let options = RasterizeOptions {
            all_touched,
            attribute: Some("class".into()),
            ..Default::default()
        };
        let (ours, report) = rasterize_files(
            &[&vectors],
            &ClassTable::default(),
            &grid(),
            &options,
            &mut |_, _| {},
        )
        .unwrap();
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let burned = (0..ours.len())
            .filter(|&i| ours[i] != 0 || gdal[i] != 0)
            .count();
        let differ = (0..ours.len()).filter(|&i| ours[i] != gdal[i]).count();
        let agreement = 1.0 - differ as f64 / burned as f64;
        eprintln!(
            "all_touched={all_touched}: {burned} burned pixels, {differ} differ, agreement {:.4}% \
             (over all {} pixels: {:.4}%)",
            100.0 * agreement,
            ours.len(),
            100.0 * (1.0 - differ as f64 / ours.len() as f64)
        );
        assert!(
            burned > 10_000,
            "the test polygons cover too little: {burned}"
        );
        assert!(
            agreement >= 0.995,
            "all_touched={all_touched}: agreement {agreement}"
        );
    }
}

/// The label GeoTIFF `rasterize_to_geotiff` writes is read by GDAL on the reference grid.
#[test]
fn label_geotiff_has_the_reference_grid_in_gdal() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let like = dir.path().join("like.tif");
    let spec = RasterSpec::for_grid(&grid(), 2, SampleType::U16);
    write_geotiff(&like, &spec, RasterData::U16(&vec![7; SIZE * SIZE * 2])).unwrap();
    let vectors = dir.path().join("polygons.geojson");
    std::fs::write(&vectors, polygons_geojson()).unwrap();
    let out = dir.path().join("labels.tif");
    let options = RasterizeOptions {
        attribute: Some("class".into()),
        ..Default::default()
    };
    chronomap_geo::rasterize_to_geotiff(
        &[&vectors],
        &like,
        &out,
        &ClassTable::default(),
        &options,
        &mut |_, _| {},
    )
    .unwrap();
    let info = crate::util::gdalinfo(&out, false);
    assert_eq!(
        crate::util::gdal_geotransform(&info),
        Some(grid().geotransform.0)
    );
    assert_eq!(crate::util::gdal_epsg(&info), Some(32628));
    assert_eq!(info["bands"][0]["type"], "Byte");
}
