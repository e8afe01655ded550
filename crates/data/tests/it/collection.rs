//! Collections of series: synthetic cities in several UTM zones (one in the southern
//! hemisphere), band / class mismatches, predict-only series, folders of series.

use std::path::Path;

use chronomap_data::{
    Collection, CollectionFile, Error, SceneSeries, SynthConfig, synth_cities, write_collection,
};

fn three_cities(dir: &Path) -> std::path::PathBuf {
    let base = SynthConfig {
        size: 48,
        dates_per_year: 3,
        years: vec![2016],
        ..SynthConfig::new(3)
    };
    let cities = synth_cities(&base, 3).unwrap();
    write_collection(&cities, dir, &mut |_, _, _| {}).unwrap()
}

/// Edits the JSON of a series' manifest.
fn edit_manifest(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn synthetic_cities_differ_in_zone_hemisphere_and_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_cities(dir.path());
    let c = Collection::open(&path).unwrap();
    assert_eq!(c.names(), ["saint-louis", "luanda", "montreal"]);
    // UTM zones from the cities' longitudes: 28N (-16.5), 33S (13.23, -8.84), 18N (-73.57).
    let epsg: Vec<_> = c.series().iter().map(|s| s.epsg()).collect();
    assert_eq!(epsg, [Some(32628), Some(32733), Some(32618)]);
    // a southern-hemisphere grid has northings above the equator's 10 000 km false northing
    let gt = c.series()[1].geotransform().unwrap();
    assert!(gt.0[3] > 9_000_000.0, "{:?}", gt);
    // city 0 keeps --dates-per-year; the others have 4-7 dates a year (4 + (7 i + 3) mod 4)
    let lens: Vec<_> = c.series().iter().map(|s| s.len()).collect();
    assert_eq!(lens, [3, 6, 5]);
    // Saint-Louis' calendar starts in January; Luanda's is shifted by 37 days
    let first_month = |i: usize| c.series()[i].dates()[0].date.month;
    assert_eq!(first_month(0), 1);
    assert_eq!(first_month(1), 2);
    assert_eq!(c.entries()[1].tags["hemisphere"], "south");
    // the same collection from the folder (collection.json inside) and by scanning folders
    let again = Collection::open(dir.path()).unwrap();
    assert_eq!(again.names(), c.names());
    std::fs::remove_file(&path).unwrap();
    let scanned = Collection::open(dir.path()).unwrap();
    assert_eq!(scanned.names(), ["luanda", "montreal", "saint-louis"]);
}

#[test]
fn band_and_class_mismatches_name_the_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_cities(dir.path());
    // common names are the same bands as Sentinel-2 ids: B2 = blue, ..., B8 = nir
    edit_manifest(&dir.path().join("luanda/manifest.json"), |m| {
        m["bands"] = serde_json::json!(["blue", "green", "red", "nir"]);
    });
    Collection::open(&path).unwrap();
    edit_manifest(&dir.path().join("luanda/manifest.json"), |m| {
        m["bands"] = serde_json::json!(["blue", "green", "red", "swir16"]);
    });
    let err = Collection::open(&path).unwrap_err();
    assert!(matches!(err, Error::Collection { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"luanda\"") && msg.contains("swir16"),
        "{msg}"
    );
    edit_manifest(&dir.path().join("luanda/manifest.json"), |m| {
        m["bands"] = serde_json::json!(["B2", "B3", "B4", "B8"]);
    });
    edit_manifest(&dir.path().join("montreal/manifest.json"), |m| {
        m["classes"][1] = serde_json::json!("house");
    });
    let msg = Collection::open(&path).unwrap_err().to_string();
    assert!(
        msg.contains("\"montreal\"") && msg.contains("house"),
        "{msg}"
    );
}

#[test]
fn predict_only_series_and_bad_collection_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_cities(dir.path());
    edit_manifest(&dir.path().join("montreal/manifest.json"), |m| {
        m.as_object_mut().unwrap().remove("labels");
    });
    let c = Collection::open(&path).unwrap();
    assert!(c.series()[2].label_files().is_empty());
    assert!(!c.series()[0].label_files().is_empty());
    assert_eq!(c.positions(&["montreal".into()]).unwrap(), [2]);
    let msg = c.positions(&["paris".into()]).unwrap_err().to_string();
    assert!(
        msg.contains("paris") && msg.contains("saint-louis"),
        "{msg}"
    );

    let mut f = CollectionFile::load(&path).unwrap();
    f.series[1].name = "saint-louis".into();
    let dup = dir.path().join("dup.json");
    std::fs::write(&dup, serde_json::to_vec(&f).unwrap()).unwrap();
    let msg = Collection::open(&dup).unwrap_err().to_string();
    assert!(msg.contains("two series are named"), "{msg}");
    let mut f = CollectionFile::load(&path).unwrap();
    f.series[1].source = "nowhere/manifest.json".into();
    f.save(&dup).unwrap();
    let msg = Collection::open(&dup).unwrap_err().to_string();
    assert!(
        msg.contains("luanda") && msg.contains("does not exist"),
        "{msg}"
    );
    std::fs::write(&dup, br#"{"version": 2, "series": []}"#).unwrap();
    let msg = Collection::open(&dup).unwrap_err().to_string();
    assert!(msg.contains("version 2"), "{msg}");
    // the series themselves still open alone
    SceneSeries::open(dir.path().join("luanda/manifest.json")).unwrap();
}

/// What counts as a collection path: `collection.json`, a folder holding one, a folder of
/// series folders (after the file is removed); not a series' manifest or its folder.
#[test]
fn collection_paths_are_told_from_series_paths() {
    let dir = tempfile::tempdir().unwrap();
    let json = three_cities(dir.path());
    assert!(Collection::is_collection_path(&json));
    assert!(Collection::is_collection_path(dir.path()));
    let city = dir.path().join("luanda");
    assert!(!Collection::is_collection_path(&city));
    assert!(!Collection::is_collection_path(city.join("manifest.json")));
    std::fs::remove_file(&json).unwrap();
    assert!(
        Collection::is_collection_path(dir.path()),
        "a folder of series folders"
    );
    assert_eq!(Collection::open(dir.path()).unwrap().len(), 3);
    assert!(!Collection::is_collection_path(
        dir.path().join("missing.json")
    ));
}
