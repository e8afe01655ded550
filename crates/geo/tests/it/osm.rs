//! OSM labels end to end: an OSM XML written here (multipolygon with a hole whose outer ring
//! is split over two ways, a road, a river, a building; nodes after the ways, ids out of
//! order) and its PBF twin made by `osmium cat` rasterize to the same labels, with the
//! classes and burn order of the default table; the forest multipolygon rasterizes like
//! GDAL's own OSM driver + `gdal_rasterize`.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use chronomap_geo::crs::Crs;
use chronomap_geo::{ClassTable, GeoTransform, Grid, RasterizeOptions, rasterize_files};

use crate::util::run;

const SIZE: usize = 100;
const PIXEL: f64 = 10.0;
const X0: f64 = 340_000.0;
const Y0: f64 = 1_775_000.0;

fn grid() -> Grid {
    Grid {
        width: SIZE,
        height: SIZE,
        geotransform: GeoTransform::north_up(X0, Y0, PIXEL),
        epsg: Some(32628),
    }
}

/// OSM XML for features given in metres from the grid's top-left corner (x right, y down).
fn osm_xml() -> String {
    let utm = Crs::from_epsg(32628).unwrap();
    let mut nodes = Vec::new();
    let mut node = |x: f64, y: f64| -> i64 {
        let id = 1000 - nodes.len() as i64; // descending ids
        let (lon, lat) = utm.to_lonlat(X0 + x, Y0 - y).unwrap();
        nodes.push((id, lon, lat));
        id
    };
    // forest 100..700 m with a hole 300..500 m; outer ring split into two ways
    let (a, b, c, d) = (
        node(100.0, 100.0),
        node(700.0, 100.0),
        node(700.0, 700.0),
        node(100.0, 700.0),
    );
    let (e, f, g, h) = (
        node(300.0, 300.0),
        node(500.0, 300.0),
        node(500.0, 500.0),
        node(300.0, 500.0),
    );
    // building 350..450 inside the hole
    let (i, j, k, l) = (
        node(350.0, 350.0),
        node(450.0, 350.0),
        node(450.0, 450.0),
        node(350.0, 450.0),
    );
    // primary road along y = 805 m (12 m wide) and river along x = 857 m (20 m wide)
    let (r1, r2) = (node(0.0, 805.0), node(1000.0, 805.0));
    let (w1, w2) = (node(857.0, 0.0), node(857.0, 1000.0));
    let way = |id: i64, refs: &[i64], tags: &[(&str, &str)]| {
        let mut s = format!(r#"  <way id="{id}" version="1">"#);
        for r in refs {
            write!(s, r#"<nd ref="{r}"/>"#).unwrap();
        }
        for (k, v) in tags {
            write!(s, r#"<tag k="{k}" v="{v}"/>"#).unwrap();
        }
        s + "</way>\n"
    };
    let mut xml = String::from(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"chronomap test\">\n",
    );
    xml += &way(20, &[a, b, c], &[]);
    xml += &way(21, &[a, d, c], &[]);
    xml += &way(22, &[e, f, g, h, e], &[]);
    xml += &way(23, &[i, j, k, l, i], &[("building", "yes")]);
    xml += &way(24, &[r1, r2], &[("highway", "primary")]);
    xml += &way(
        25,
        &[w1, w2],
        &[("waterway", "river"), ("name", "Fleuve Sénégal")],
    );
    xml += r#"  <relation id="30" version="1"><member type="way" ref="22" role="inner"/><member type="way" ref="21" role="outer"/><member type="way" ref="20" role="outer"/><tag k="type" v="multipolygon"/><tag k="landuse" v="forest"/></relation>
"#;
    for (id, lon, lat) in nodes.iter().rev() {
        writeln!(
            xml,
            r#"  <node id="{id}" version="1" lat="{lat:.9}" lon="{lon:.9}"/>"#
        )
        .unwrap();
    }
    xml + "</osm>\n"
}

fn labels(paths: &[&Path], table: &ClassTable) -> Vec<u8> {
    let (labels, report) = rasterize_files(
        paths,
        table,
        &grid(),
        &RasterizeOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    labels
}

#[test]
fn osm_xml_classes_and_burn_order() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("area.osm");
    std::fs::write(&xml, osm_xml()).unwrap();
    let out = labels(&[&xml], &ClassTable::default());
    let at = |x_m: f64, y_m: f64| out[(y_m / PIXEL) as usize * SIZE + (x_m / PIXEL) as usize];
    assert_eq!(at(200.0, 200.0), 4, "forest");
    assert_eq!(at(320.0, 320.0), 0, "hole of the multipolygon");
    assert_eq!(at(400.0, 400.0), 1, "building in the hole");
    assert_eq!(at(50.0, 805.0), 2, "road");
    assert_eq!(at(855.0, 50.0), 3, "river");
    assert_eq!(
        at(855.0, 805.0),
        2,
        "road rule is later than the river rule"
    );
    assert_eq!(at(950.0, 950.0), 0, "background");
    // forest: 600^2 - 200^2 m^2 = 3200 pixels; building 10 x 10 pixels
    assert_eq!(out.iter().filter(|&&v| v == 4).count(), 3200);
    assert_eq!(out.iter().filter(|&&v| v == 1).count(), 100);
    // road: row 80 has its centres at y = 805 m; rows 79/81 are 10 m away (> 6 m)
    assert_eq!((0..SIZE).filter(|&r| out[r * SIZE + 20] == 2).count(), 1);
    // river: centres within 10 m of x = 857: columns 85 (2 m) and 86 (8 m); 84 is 12 m away
    assert_eq!((0..SIZE).filter(|&c| out[20 * SIZE + c] == 3).count(), 2);
}

#[test]
fn osm_pbf_twin_gives_the_same_labels() {
    if Command::new("osmium").arg("--version").output().is_err() {
        eprintln!("SKIPPED osm_pbf_twin_gives_the_same_labels: osmium-tool is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("area.osm");
    std::fs::write(&xml, osm_xml()).unwrap();
    let pbf = dir.path().join("area.osm.pbf");
    run(
        "osmium",
        &[
            "cat",
            "--overwrite",
            xml.to_str().unwrap(),
            "-o",
            pbf.to_str().unwrap(),
        ],
    );
    let table = ClassTable::default();
    let from_xml = labels(&[&xml], &table);
    let from_pbf = labels(&[&pbf], &table);
    // forest 3200 + building 100 + road row 100 + river 2 columns x 100 minus 2 under the road
    assert_eq!(
        from_xml.iter().filter(|&&v| v != 0).count(),
        3200 + 100 + 100 + 198
    );
    assert!(from_xml == from_pbf, "XML and PBF labels differ");
}

/// GDAL's OSM driver assembles the same multipolygon (with its hole) and `gdal_rasterize`
/// burns the same pixels as chronomap with a forest-only table. GDAL's driver streams and
/// needs nodes before ways, so it reads an `osmium sort`ed copy; chronomap reads the
/// unsorted original.
#[test]
fn forest_multipolygon_matches_gdal_osm_driver() {
    crate::require_gdal!();
    if Command::new("osmium").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED forest_multipolygon_matches_gdal_osm_driver: osmium-tool is not installed"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("area.osm");
    std::fs::write(&xml, osm_xml()).unwrap();
    let sorted = dir.path().join("sorted.osm");
    run(
        "osmium",
        &[
            "sort",
            "--overwrite",
            xml.to_str().unwrap(),
            "-o",
            sorted.to_str().unwrap(),
        ],
    );
    let mut table = ClassTable::default();
    table.rules.retain(|r| r.key == "landuse");
    let ours = labels(&[&xml], &table);
    let tif = dir.path().join("gdal.tif");
    let spec = chronomap_geo::RasterSpec::for_grid(&grid(), 1, chronomap_geo::SampleType::U8);
    chronomap_geo::write_geotiff(
        &tif,
        &spec,
        chronomap_geo::RasterData::U8(&vec![0; SIZE * SIZE]),
    )
    .unwrap();
    run(
        "gdal_rasterize",
        &[
            "-q",
            "-burn",
            "4",
            "-l",
            "multipolygons",
            "-where",
            "landuse='forest'",
            sorted.to_str().unwrap(),
            tif.to_str().unwrap(),
        ],
    );
    let gdal = chronomap_geo::GeoTiffReader::open(&tif)
        .unwrap()
        .read_window_u8(chronomap_geo::Window::full(SIZE, SIZE), &[0])
        .unwrap();
    assert_eq!(gdal.iter().filter(|&&v| v == 4).count(), 3200);
    let differ = ours.iter().zip(&gdal).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0);
}

/// An extract cut by a bounding box, as `osmium extract --strategy simple` (and Overpass bbox
/// queries) write them: ways crossing the cut keep references to nodes the file lacks.
/// chronomap keeps the nodes present, as GDAL's OSM driver does, and reports the trimmed
/// features; its building and forest pixels equal `gdal_rasterize` over GDAL's
/// `multipolygons` layer of the same cut file (the reference numbers are GDAL's, computed
/// here at run time).
#[test]
fn bbox_cut_extract_matches_gdal_osm_driver() {
    crate::require_gdal!();
    if Command::new("osmium").arg("--version").output().is_err() {
        eprintln!("SKIPPED bbox_cut_extract_matches_gdal_osm_driver: osmium-tool is not installed");
        return;
    }
    let utm = Crs::from_epsg(32628).unwrap();
    let mut nodes: Vec<(i64, f64, f64)> = Vec::new();
    let mut node = |x: f64, y: f64| -> i64 {
        let id = nodes.len() as i64 + 1;
        let (lon, lat) = utm.to_lonlat(X0 + x, Y0 - y).unwrap();
        nodes.push((id, lon, lat));
        id
    };
    let mut ways = String::new();
    let mut way_id = 100;
    let mut square = |x: f64, y: f64, s: f64, tags: &str, ways: &mut String| {
        // corners and edge midpoints, clockwise from the top-left
        let h = s / 2.0;
        let a = node(x, y);
        let refs = [
            a,
            node(x + h, y),
            node(x + s, y),
            node(x + s, y + h),
            node(x + s, y + s),
            node(x + h, y + s),
            node(x, y + s),
            node(x, y + h),
            a,
        ];
        way_id += 1;
        let nds: String = refs.iter().map(|r| format!(r#"<nd ref="{r}"/>"#)).collect();
        writeln!(
            ways,
            r#"  <way id="{way_id}" version="1">{nds}{tags}</way>"#
        )
        .unwrap();
    };
    // a 6 x 6 block of 70 m buildings every 150 m; the cut at x = 540 m goes through column 3
    // (x 490..560 m), leaving its nodes at x 490 and 525 m
    for row in 0..6 {
        for col in 0..6 {
            let (x, y) = (40.0 + 150.0 * col as f64, 40.0 + 150.0 * row as f64);
            square(x, y, 70.0, r#"<tag k="building" v="yes"/>"#, &mut ways);
        }
    }
    // a forest way across the cut
    square(
        300.0,
        905.0,
        400.0,
        r#"<tag k="landuse" v="forest"/>"#,
        &mut ways,
    );
    let mut xml = String::from("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n");
    for (id, lon, lat) in &nodes {
        writeln!(
            xml,
            r#"  <node id="{id}" version="1" lat="{lat:.9}" lon="{lon:.9}"/>"#
        )
        .unwrap();
    }
    xml += &ways;
    xml += "</osm>\n";
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.osm");
    std::fs::write(&full, xml).unwrap();
    // keep x < 540 m (the meridian through the grid's middle row): every latitude of the grid
    let (lon0, lat0) = utm.to_lonlat(X0 - 500.0, Y0 + 500.0).unwrap();
    let (lon1, _) = utm.to_lonlat(X0 + 540.0, Y0 - 500.0).unwrap();
    let (_, lat1) = utm.to_lonlat(X0 + 540.0, Y0 - 1500.0).unwrap();
    let cut = dir.path().join("cut.osm");
    run(
        "osmium",
        &[
            "extract",
            "--overwrite",
            "--strategy",
            "simple",
            "-b",
            &format!("{lon0},{lat1},{lon1},{lat0}"),
            full.to_str().unwrap(),
            "-o",
            cut.to_str().unwrap(),
        ],
    );
    let mut table = ClassTable::default();
    table
        .rules
        .retain(|r| r.key == "building" || r.key == "landuse");
    let (ours, report) = rasterize_files(
        &[&cut],
        &table,
        &grid(),
        &RasterizeOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    // column 3 of buildings (x 490..560 m) and the forest (300..700 m) cross the cut: each
    // loses its 3 nodes east of it
    assert_eq!(report.trimmed.len(), 7, "{:?}", report.trimmed);
    assert!(report.trimmed.iter().all(|(_, t)| t.missing_nodes == 3));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let class = |key: &str| table.rules.iter().find(|r| r.key == key).unwrap().class;
    let tif = dir.path().join("gdal.tif");
    let spec = chronomap_geo::RasterSpec::for_grid(&grid(), 1, chronomap_geo::SampleType::U8);
    chronomap_geo::write_geotiff(
        &tif,
        &spec,
        chronomap_geo::RasterData::U8(&vec![0; SIZE * SIZE]),
    )
    .unwrap();
    // forest first, buildings over it: the default table's burn order
    for (key, where_) in [
        ("landuse", "landuse='forest'"),
        ("building", "building IS NOT NULL"),
    ] {
        run(
            "gdal_rasterize",
            &[
                "-q",
                "-burn",
                &class(key).to_string(),
                "-l",
                "multipolygons",
                "-where",
                where_,
                cut.to_str().unwrap(),
                tif.to_str().unwrap(),
            ],
        );
    }
    let gdal = chronomap_geo::GeoTiffReader::open(&tif)
        .unwrap()
        .read_window_u8(chronomap_geo::Window::full(SIZE, SIZE), &[0])
        .unwrap();
    let count = |v: &[u8], c: u8| v.iter().filter(|&&x| x == c).count();
    let (b, f) = (class("building"), class("landuse"));
    eprintln!(
        "bbox cut: building px ours {} gdal {}, forest px ours {} gdal {}",
        count(&ours, b),
        count(&gdal, b),
        count(&ours, f),
        count(&gdal, f)
    );
    let differ = ours.iter().zip(&gdal).filter(|(a, b)| a != b).count();
    assert_eq!(
        differ,
        0,
        "{differ} of {} pixels differ from GDAL",
        SIZE * SIZE
    );
}
