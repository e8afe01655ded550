//! `chronomap info` and `chronomap rasterize` run as a user runs them.

use crate::cli::{chronomap, ok, s};

use chronomap::geo::{
    ClassTable, GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window,
    write_geotiff,
};

#[test]
fn info_reports_georeferencing_and_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.tif");
    // band 0: 0 (nodata), 10, 20, 30 repeated; band 1: constant 7
    let b0: Vec<u16> = (0..64).map(|i| (i % 4) as u16 * 10).collect();
    let data: Vec<u16> = b0
        .iter()
        .copied()
        .chain(std::iter::repeat_n(7, 64))
        .collect();
    let spec = RasterSpec::new(8, 8, 2, SampleType::U16)
        .with_geotransform(GeoTransform::north_up(340_000.0, 1_775_000.0, 10.0))
        .with_epsg(32628)
        .with_nodata(0.0)
        .with_band_names(["B04", "B08"]);
    write_geotiff(&path, &spec, RasterData::U16(&data)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&ok(&["info", s(&path), "--json"])).unwrap();
    assert_eq!(
        (
            json["width"].as_u64(),
            json["height"].as_u64(),
            json["bands"].as_u64()
        ),
        (Some(8), Some(8), Some(2))
    );
    assert_eq!(json["dataType"], "UInt16");
    assert_eq!(json["epsg"], 32628);
    assert_eq!(json["crsName"], "WGS 84 / UTM zone 28N");
    assert_eq!(json["noData"], 0.0);
    assert_eq!(
        json["geoTransform"],
        serde_json::json!([340000.0, 10.0, 0.0, 1775000.0, 0.0, -10.0])
    );
    let b = &json["bandInfo"];
    // band 1 without nodata 0: 16 each of 10, 20, 30 -> mean 20, population std sqrt(200/3)
    assert_eq!(
        (b[0]["minimum"].as_f64(), b[0]["maximum"].as_f64()),
        (Some(10.0), Some(30.0))
    );
    assert_eq!(b[0]["mean"].as_f64(), Some(20.0));
    assert!((b[0]["stdDev"].as_f64().unwrap() - (200.0f64 / 3.0).sqrt()).abs() < 1e-9);
    assert_eq!(b[0]["validCount"], 48);
    assert_eq!(b[0]["description"], "B04");
    assert_eq!(b[1]["mean"].as_f64(), Some(7.0));
    // centre of the grid in lon/lat is near Saint-Louis, Senegal
    let centre = &json["cornersLonLat"][4];
    assert!((centre[0].as_f64().unwrap() + 16.5).abs() < 0.1, "{centre}");
    let text = ok(&["info", s(&path)]);
    assert!(
        text.contains("EPSG:32628 (WGS 84 / UTM zone 28N)"),
        "{text}"
    );
}

#[test]
fn info_on_a_bad_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not_a_tiff.tif");
    std::fs::write(&path, b"hello").unwrap();
    let out = chronomap(&["info", s(&path)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not_a_tiff.tif") && err.contains("not a TIFF"),
        "{err}"
    );
}

#[test]
fn rasterize_osm_writes_labels_and_quicklook() {
    let dir = tempfile::tempdir().unwrap();
    let like = dir.path().join("ref.tif");
    let gt = GeoTransform::north_up(340_000.0, 1_775_000.0, 10.0);
    let spec = RasterSpec::new(20, 20, 1, SampleType::U16)
        .with_geotransform(gt)
        .with_epsg(32628);
    write_geotiff(&like, &spec, RasterData::U16(&[500; 400])).unwrap();
    // a 30 m x 20 m building whose corners lie on pixel edges: 3 x 2 = 6 pixels
    let utm = chronomap::geo::crs::Crs::from_epsg(32628).unwrap();
    let corner = |x: f64, y: f64| utm.to_lonlat(340_000.0 + x, 1_775_000.0 - y).unwrap();
    let pts = [
        corner(50.0, 50.0),
        corner(80.0, 50.0),
        corner(80.0, 70.0),
        corner(50.0, 70.0),
    ];
    let mut xml = String::from("<osm version=\"0.6\">\n");
    for (i, (lon, lat)) in pts.iter().enumerate() {
        xml += &format!(
            "<node id=\"{}\" lat=\"{lat:.10}\" lon=\"{lon:.10}\"/>\n",
            i + 1
        );
    }
    xml += "<way id=\"9\"><nd ref=\"1\"/><nd ref=\"2\"/><nd ref=\"3\"/><nd ref=\"4\"/><nd ref=\"1\"/><tag k=\"building\" v=\"yes\"/></way></osm>\n";
    let osm = dir.path().join("area.osm");
    std::fs::write(&osm, xml).unwrap();
    let out = dir.path().join("labels.tif");
    let png = dir.path().join("labels.png");
    let stdout = ok(&[
        "rasterize",
        "--like",
        s(&like),
        "--out",
        s(&out),
        "--quicklook",
        s(&png),
        s(&osm),
    ]);
    assert!(stdout.contains("building"), "{stdout}");
    let r = GeoTiffReader::open(&out).unwrap();
    assert_eq!(r.info().geotransform, Some(gt));
    assert_eq!(r.info().epsg, Some(32628));
    let labels = r.read_window_u8(Window::full(20, 20), &[0]).unwrap();
    let burned: Vec<usize> = (0..400).filter(|&i| labels[i] == 1).collect();
    assert_eq!(
        burned,
        vec![
            5 * 20 + 5,
            5 * 20 + 6,
            5 * 20 + 7,
            6 * 20 + 5,
            6 * 20 + 6,
            6 * 20 + 7
        ]
    );
    let png_bytes = std::fs::read(&png).unwrap();
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png_bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png_bytes[20..24].try_into().unwrap());
    assert!(
        width >= 20 && height > 20,
        "map plus legend strip: {width}x{height}"
    );
}

#[test]
fn rasterize_geojson_attribute_and_class_table() {
    let dir = tempfile::tempdir().unwrap();
    let printed = ok(&["rasterize", "--print-classes"]);
    assert_eq!(
        ClassTable::from_json(&printed).unwrap(),
        ClassTable::default()
    );
    let like = dir.path().join("ref.tif");
    let spec = RasterSpec::new(10, 10, 1, SampleType::U8)
        .with_geotransform(GeoTransform::north_up(0.0, 100.0, 10.0))
        .with_epsg(32628);
    write_geotiff(&like, &spec, RasterData::U8(&[0; 100])).unwrap();
    let geojson = dir.path().join("zones.geojson");
    std::fs::write(
        &geojson,
        r#"{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32628"}},
          "features": [
            {"type": "Feature", "properties": {"class": 7, "landuse": "forest"},
             "geometry": {"type": "Polygon", "coordinates": [[[0,0],[100,0],[100,50],[0,50],[0,0]]]}}]}"#,
    )
    .unwrap();
    let out = dir.path().join("labels.tif");
    ok(&[
        "rasterize",
        "--like",
        s(&like),
        "--out",
        s(&out),
        "--attribute",
        "class",
        s(&geojson),
    ]);
    let labels = GeoTiffReader::open(&out)
        .unwrap()
        .read_window_u8(Window::full(10, 10), &[0])
        .unwrap();
    // the polygon covers the bottom half (y 0..50 m = rows 5..9)
    assert_eq!(labels.iter().filter(|&&v| v == 7).count(), 50);
    assert_eq!(labels[95], 7);
    // the same file through a custom class table: landuse=forest -> class 9
    let table = dir.path().join("classes.json");
    std::fs::write(
        &table,
        r#"{"classes": [{"id": 0, "name": "other"}, {"id": 9, "name": "trees", "color": [0, 128, 0]}],
           "rules": [{"class": 9, "key": "landuse", "values": ["forest"], "as": "area"}]}"#,
    )
    .unwrap();
    ok(&[
        "rasterize",
        "--like",
        s(&like),
        "--out",
        s(&out),
        "--classes",
        s(&table),
        s(&geojson),
    ]);
    let labels = GeoTiffReader::open(&out)
        .unwrap()
        .read_window_u8(Window::full(10, 10), &[0])
        .unwrap();
    assert_eq!(labels.iter().filter(|&&v| v == 9).count(), 50);
    // a bad class table is reported with its name
    std::fs::write(&table, "{\"classes\": []").unwrap();
    let bad = chronomap(&[
        "rasterize",
        "--like",
        s(&like),
        "--out",
        s(&out),
        "--classes",
        s(&table),
        s(&geojson),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("classes.json"));
}

/// `chronomap mosaic` writes a VRT over two offset maps and reports the union's size.
#[test]
fn mosaic_writes_a_vrt_over_offset_maps() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for (k, (gx, gy)) in [(355_000.0, 1_780_000.0), (355_040.0, 1_779_980.0)]
        .into_iter()
        .enumerate()
    {
        let spec = RasterSpec::new(8, 6, 1, SampleType::U8)
            .with_geotransform(GeoTransform::north_up(gx, gy, 10.0))
            .with_epsg(32628)
            .with_nodata(255.0);
        let p = dir.path().join(format!("m{k}.tif"));
        write_geotiff(&p, &spec, RasterData::U8(&[k as u8; 48])).unwrap();
        inputs.push(p);
    }
    let vrt = dir.path().join("all.vrt");
    let out = ok(&["mosaic", s(&inputs[0]), s(&inputs[1]), "--out", s(&vrt)]);
    assert!(out.contains("12 x 8 px, 1 band(s), EPSG:32628"), "{out}");
    let xml = std::fs::read_to_string(&vrt).unwrap();
    assert!(
        xml.contains(r#"<SourceFilename relativeToVRT="1">m1.tif</SourceFilename>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<DstRect xOff="4" yOff="2" xSize="8" ySize="6"/>"#),
        "{xml}"
    );
    // --cog: the same mosaic as one Cloud-Optimized GeoTIFF (nodata where neither covers,
    // the later input on top)
    let cog = dir.path().join("all.tif");
    let out = ok(&[
        "mosaic",
        s(&inputs[0]),
        s(&inputs[1]),
        "--out",
        s(&vrt),
        "--cog",
        s(&cog),
        "--cog-resampling",
        "mode",
    ]);
    assert!(out.contains("Cloud-Optimized GeoTIFF"), "{out}");
    let px = GeoTiffReader::open(&cog)
        .unwrap()
        .read_window_u8(Window::full(12, 8), &[0])
        .unwrap();
    assert_eq!(
        (px[0], px[11], px[7 * 12], px[7 * 12 + 11]),
        (0, 255, 255, 1)
    );
    let head = std::fs::read(&cog).unwrap();
    assert!(head[8..].starts_with(b"GDAL_STRUCTURAL_METADATA_SIZE="));
}
