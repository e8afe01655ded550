//! Rasterizing 10 000 building polygons (rotated rectangles 8-30 m, UTM) onto a 2048 x 2048
//! 10 m grid, centre rule and all-touched. The polygons are also written to
//! `target/geo-bench/buildings_10k.geojson` so `gdal_rasterize` can be timed on them.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use chronomap_geo::vector::{Feature, FeatureId, Geometry};
use chronomap_geo::{ClassTable, GeoTransform, Grid, RasterizeOptions, rasterize};
use divan::Bencher;
use divan::counter::ItemsCount;

const SIZE: usize = 2048;
const X0: f64 = 300_000.0;
const Y0: f64 = 1_800_000.0;
const N: usize = 10_000;

fn main() {
    divan::main();
}

fn buildings() -> &'static Vec<Feature> {
    static B: OnceLock<Vec<Feature>> = OnceLock::new();
    B.get_or_init(|| {
        let mut s = 777u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let features: Vec<Feature> = (0..N)
            .map(|i| {
                let (cx, cy) = (
                    X0 + next() * SIZE as f64 * 10.0,
                    Y0 - next() * SIZE as f64 * 10.0,
                );
                let (w, h, a) = (
                    8.0 + next() * 22.0,
                    8.0 + next() * 22.0,
                    next() * std::f64::consts::PI,
                );
                let (ca, sa) = (a.cos(), a.sin());
                let mut ring: Vec<(f64, f64)> = [(-w, -h), (w, -h), (w, h), (-w, h)]
                    .iter()
                    .map(|&(x, y)| (cx + (x * ca - y * sa) / 2.0, cy + (x * sa + y * ca) / 2.0))
                    .collect();
                ring.push(ring[0]);
                Feature {
                    id: FeatureId::GeoJson(i),
                    tags: [("building".to_string(), "yes".to_string())]
                        .into_iter()
                        .collect(),
                    geometry: Geometry::Polygon(vec![ring]),
                }
            })
            .collect();
        write_geojson(&features);
        features
    })
}

/// The same polygons as GeoJSON (EPSG:32628) for `gdal_rasterize`.
fn write_geojson(features: &[Feature]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/geo-bench");
    let _ = std::fs::create_dir_all(&dir);
    let mut s = String::from(
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32628"}},"features":["#,
    );
    for (i, f) in features.iter().enumerate() {
        let Geometry::Polygon(rings) = &f.geometry else {
            continue;
        };
        let coords: Vec<String> = rings[0]
            .iter()
            .map(|(x, y)| format!("[{x:.3},{y:.3}]"))
            .collect();
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            r#"{{"type":"Feature","properties":{{"building":"yes"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#,
            coords.join(",")
        );
    }
    s.push_str("]}");
    let _ = std::fs::write(dir.join("buildings_10k.geojson"), s);
}

fn grid() -> Grid {
    Grid {
        width: SIZE,
        height: SIZE,
        geotransform: GeoTransform::north_up(X0, Y0, 10.0),
        epsg: Some(32628),
    }
}

#[divan::bench(args = [false, true])]
fn rasterize_10k_buildings_2048(bencher: Bencher, all_touched: bool) {
    let features = buildings();
    let table = ClassTable::default();
    let options = RasterizeOptions {
        all_touched,
        ..Default::default()
    };
    bencher
        .counter(ItemsCount::new(N))
        .bench(|| rasterize(features, 32628, &table, &grid(), &options).unwrap());
}
