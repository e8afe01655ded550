//! `chronomap series` on Landsat Collection 2 Level-2 scenes laid out as USGS delivers them.

use chronomap::data::testkit::landsat_scene;

use crate::cli::{chronomap, ok, s};

#[test]
fn series_writes_a_manifest_from_landsat_scenes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    landsat_scene(&root, 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP").unwrap();
    landsat_scene(&root, 7, (205, 49), "2020-01-23", (1, 0), false, "L2SP").unwrap();
    let manifest = dir.path().join("sl").join("manifest.json");
    let text = ok(&["series", s(&root), "--out", s(&manifest)]);
    eprintln!("{text}");
    assert!(text.contains("2 Landsat Collection 2 Level-2 scenes of WRS-2 path/row 205/049"));
    // clear share by hand: column 0 is fill (excluded), row 2 (cloud) and pixel (5, 5) (snow)
    // are masked: 98 of 10 x 11 = 110 pixels, 89.1 %; the same QA in both scenes
    assert_eq!(text.matches("89.1%").count(), 2, "{text}");
    assert!(text.contains("Landsat 7") && text.contains("Landsat 8"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(
        m["bands"],
        serde_json::json!(["blue", "green", "red", "nir", "swir1", "swir2"])
    );
    assert_eq!(
        m["dates"][0]["mask"]["bits"],
        serde_json::json!([0, 1, 2, 3, 4, 5])
    );
    assert_eq!(m["dates"][1]["scale"], 2.75e-5);
    assert!(
        m["dates"][1]["bands"]["red"]
            .as_str()
            .unwrap()
            .ends_with("_SR_B3.TIF")
    );
    // scenes of two path/rows: refused, naming both
    landsat_scene(&root, 8, (205, 50), "2020-02-01", (0, 0), true, "L2SP").unwrap();
    let out = chronomap(&["series", s(&root), "--out", s(&manifest)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("205/049") && err.contains("205/050"), "{err}");
}

/// `chronomap series` on a STAC Item (earth-search's `landsat-c2-l2` shape) whose assets are
/// the local files of a Landsat scene: `nir`/`swir1`/`swir2` find STAC's `nir08`/`swir16`/
/// `swir22`, `qa_pixel` is the mask, `raster:bands` gives scale and offset.
#[test]
fn series_reads_a_stac_item_with_local_assets() {
    let dir = tempfile::tempdir().unwrap();
    let scene =
        landsat_scene(dir.path(), 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP").unwrap();
    let id = scene.file_name().unwrap().to_string_lossy().into_owned();
    let rb = serde_json::json!([{ "nodata": 0, "scale": 2.75e-5, "offset": -0.2 }]);
    let mut assets = serde_json::Map::new();
    for (key, n) in [
        ("blue", 2),
        ("green", 3),
        ("red", 4),
        ("nir08", 5),
        ("swir16", 6),
        ("swir22", 7),
    ] {
        assets.insert(
            key.into(),
            serde_json::json!({ "href": format!("{id}/{id}_SR_B{n}.TIF"),
                "eo:bands": [{ "name": format!("SR_B{n}"), "common_name": key }], "raster:bands": rb }),
        );
    }
    assets.insert(
        "qa_pixel".into(),
        serde_json::json!({ "href": format!("{id}/{id}_QA_PIXEL.TIF") }),
    );
    let item = serde_json::json!({ "type": "Feature", "stac_version": "1.0.0", "id": id,
        "properties": { "datetime": "2020-01-15T11:20:00Z", "landsat:wrs_path": "205", "landsat:wrs_row": "049", "eo:cloud_cover": 12.3 },
        "geometry": null, "assets": assets });
    let json = dir.path().join("item.json");
    std::fs::write(&json, item.to_string()).unwrap();
    let manifest = dir.path().join("m.json");
    let text = ok(&["series", s(&json), "--out", s(&manifest)]);
    assert!(text.contains("1 STAC items of WRS-2 205/049"), "{text}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert!(
        m["dates"][0]["bands"]["swir1"]
            .as_str()
            .unwrap()
            .ends_with("_SR_B6.TIF")
    );
    assert_eq!(
        m["dates"][0]["mask"]["bits"],
        serde_json::json!([0, 1, 2, 3, 4, 5])
    );
    assert_eq!(m["dates"][0]["add_offset"], -0.2);
}

/// `chronomap info` on a USGS-style `.tar` bundle lists its members with the `/vsitar/` paths
/// that open them, and `info` on such a path describes the band inside.
#[test]
fn info_lists_a_tar_bundle_and_reads_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let scene =
        landsat_scene(dir.path(), 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP").unwrap();
    let id = scene.file_name().unwrap().to_string_lossy().into_owned();
    let tar = dir.path().join(format!("{id}.tar"));
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&scene)
        .arg(format!("{id}_SR_B4.TIF"))
        .arg(format!("{id}_MTL.json"))
        .status();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED info_lists_a_tar_bundle_and_reads_a_member: no tar command");
        return;
    }
    let text = ok(&["info", s(&tar)]);
    assert!(text.contains("tar archive, 2 members"), "{text}");
    let member = text
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .last()
                .filter(|p| p.ends_with("_SR_B4.TIF"))
        })
        .unwrap()
        .to_string();
    assert!(member.starts_with("/vsitar//"), "{member}");
    let band = ok(&["info", &member, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&band).unwrap();
    assert_eq!(v["width"], 12);
    assert_eq!(v["epsg"], 32628);
}
