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
