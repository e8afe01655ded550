//! Landsat Collection 2 Level-2 scenes as USGS delivers them (MTL JSON or text, per-band
//! `SR_B*.TIF`, `QA_PIXEL.TIF`), written here in the documented layout, read into a series
//! without any preprocessing.

use std::path::{Path, PathBuf};

use chronomap_data::products::{LandsatOptions, landsat_manifest};
use chronomap_data::{
    Error, ProductProblem, QUALITY_CLEAR, QUALITY_MASKED, QUALITY_NODATA, SceneSeries,
};
use chronomap_geo::{GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff};

const W: usize = 12;
const H: usize = 10;
/// Collection 2 surface-reflectance factors (the same for every band).
const MULT: f64 = 2.75e-5;
const ADD: f64 = -0.2;

/// Raw DN of band number `n` at scene pixel (r, c): distinct per band so that the band
/// mapping is checked; 0 (fill) in the first column.
fn dn(n: u8, r: usize, c: usize) -> u16 {
    if c == 0 {
        0
    } else {
        8000 + 1000 * n as u16 + (r * W + c) as u16
    }
}

/// QA_PIXEL of scene pixel (r, c): fill in column 0, cloud (bit 3) in row 2, snow (bit 5)
/// at (5, 5), water (bit 7, not masked) in row 7, clear (bit 6) elsewhere.
fn qa(r: usize, c: usize) -> u16 {
    if c == 0 {
        1
    } else if r == 2 {
        1 << 3 | 1 << 1
    } else if (r, c) == (5, 5) {
        1 << 5
    } else if r == 7 {
        1 << 7 | 1 << 6
    } else {
        1 << 6
    }
}

/// Writes a scene of `spacecraft` (8: OLI band numbers 1-7, 7: ETM+ 1-5 and 7) on
/// path/row `wrs` and `date`, with its origin `shift` pixels (col, row) from the reference,
/// and MTL as JSON or text.
fn scene(
    root: &Path,
    spacecraft: u8,
    wrs: (u32, u32),
    date: &str,
    shift: (i32, i32),
    json: bool,
    level: &str,
) -> PathBuf {
    let prefix = if spacecraft >= 8 { "LC0" } else { "LE0" };
    let ymd = date.replace('-', "");
    let id = format!(
        "{prefix}{spacecraft}_{level}_{:03}{:03}_{ymd}_20240101_02_T1",
        wrs.0, wrs.1
    );
    let dir = root.join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let gt = GeoTransform::north_up(
        300_885.0 + 30.0 * shift.0 as f64,
        1_800_015.0 - 30.0 * shift.1 as f64,
        30.0,
    );
    let spec = |nodata: Option<f64>| {
        let s = RasterSpec::new(W, H, 1, SampleType::U16)
            .with_geotransform(gt)
            .with_epsg(32628);
        match nodata {
            Some(v) => s.with_nodata(v),
            None => s,
        }
    };
    let numbers: &[u8] = if spacecraft >= 8 {
        &[1, 2, 3, 4, 5, 6, 7]
    } else {
        &[1, 2, 3, 4, 5, 7]
    };
    let mut files = Vec::new();
    for &n in numbers {
        let name = format!("{id}_SR_B{n}.TIF");
        let data: Vec<u16> = (0..H * W).map(|i| dn(n, i / W, i % W)).collect();
        write_geotiff(dir.join(&name), &spec(Some(0.0)), RasterData::U16(&data)).unwrap();
        files.push((n, name));
    }
    let qa_name = format!("{id}_QA_PIXEL.TIF");
    let q: Vec<u16> = (0..H * W).map(|i| qa(i / W, i % W)).collect();
    write_geotiff(dir.join(&qa_name), &spec(Some(1.0)), RasterData::U16(&q)).unwrap();
    let mut contents = vec![
        ("LANDSAT_PRODUCT_ID".to_string(), id.clone()),
        ("PROCESSING_LEVEL".to_string(), level.to_string()),
        ("COLLECTION_NUMBER".to_string(), "02".to_string()),
        ("FILE_NAME_QUALITY_L1_PIXEL".to_string(), qa_name),
    ];
    for (n, name) in &files {
        contents.push((format!("FILE_NAME_BAND_{n}"), name.clone()));
    }
    let attrs = vec![
        ("SPACECRAFT_ID".to_string(), format!("LANDSAT_{spacecraft}")),
        ("WRS_PATH".to_string(), wrs.0.to_string()),
        ("WRS_ROW".to_string(), wrs.1.to_string()),
        ("DATE_ACQUIRED".to_string(), date.to_string()),
        ("CLOUD_COVER".to_string(), "12.34".to_string()),
    ];
    let mut refl = Vec::new();
    for (n, _) in &files {
        refl.push((format!("REFLECTANCE_MULT_BAND_{n}"), format!("{MULT:.4E}")));
        refl.push((format!("REFLECTANCE_ADD_BAND_{n}"), format!("{ADD:.6}")));
    }
    let groups = [
        ("PRODUCT_CONTENTS", contents),
        ("IMAGE_ATTRIBUTES", attrs),
        ("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", refl),
    ];
    if json {
        // USGS writes every value as a string
        let mut root = serde_json::Map::new();
        for (g, kv) in &groups {
            let obj: serde_json::Map<String, serde_json::Value> = kv
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            root.insert(g.to_string(), serde_json::Value::Object(obj));
        }
        let doc = serde_json::json!({ "LANDSAT_METADATA_FILE": root });
        std::fs::write(
            dir.join(format!("{id}_MTL.json")),
            serde_json::to_string_pretty(&doc).unwrap(),
        )
        .unwrap();
    } else {
        let mut t = String::from("GROUP = LANDSAT_METADATA_FILE\n");
        for (g, kv) in &groups {
            t += &format!("  GROUP = {g}\n");
            for (k, v) in kv {
                let numeric = v.parse::<f64>().is_ok();
                if numeric {
                    t += &format!("    {k} = {v}\n");
                } else {
                    t += &format!("    {k} = \"{v}\"\n");
                }
            }
            t += &format!("  END_GROUP = {g}\n");
        }
        t += "END_GROUP = LANDSAT_METADATA_FILE\nEND\n";
        std::fs::write(dir.join(format!("{id}_MTL.txt")), t).unwrap();
    }
    dir
}

#[test]
fn landsat_7_and_8_scenes_make_one_series_without_preprocessing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    scene(&root, 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP");
    scene(&root, 7, (205, 49), "2020-01-23", (2, -1), false, "L2SP");
    scene(&root, 9, (205, 49), "2020-01-31", (0, 0), true, "L2SR");
    let (manifest, scenes) =
        landsat_manifest(&[root.clone()], &LandsatOptions::default(), dir.path()).unwrap();
    assert_eq!(scenes.len(), 3);
    assert_eq!(
        manifest.bands,
        ["blue", "green", "red", "nir", "swir1", "swir2"]
    );
    // paths relative to the manifest's folder
    let red0 = &manifest.dates[0].bands.as_ref().unwrap()["red"];
    assert!(
        red0.is_relative() && red0.to_string_lossy().ends_with("_SR_B4.TIF"),
        "{red0:?}"
    );
    let red1 = &manifest.dates[1].bands.as_ref().unwrap()["red"];
    assert!(red1.to_string_lossy().ends_with("_SR_B3.TIF"), "{red1:?}");
    let path = dir.path().join("manifest.json");
    manifest.save(&path).unwrap();
    let series = SceneSeries::open(&path).unwrap();
    assert_eq!(series.dates().len(), 3);
    assert_eq!((series.width(), series.height()), (W, H));
    let full = Window::full(W, H);
    // date 0 (Landsat 8): red is band 4; reflectance = DN * 2.75e-5 - 0.2
    let (img, q) = series.read_date(0, full).unwrap();
    let plane = W * H;
    for r in 0..H {
        for c in 0..W {
            let i = r * W + c;
            let want = match (r, c) {
                (_, 0) => QUALITY_NODATA,
                (2, _) | (5, 5) => QUALITY_MASKED,
                _ => QUALITY_CLEAR,
            };
            assert_eq!(q[i], want, "date 0 ({r}, {c})");
            if c > 0 {
                let red = img[2 * plane + i] as f64;
                let expected = dn(4, r, c) as f64 * MULT + ADD;
                assert!(
                    (red - expected).abs() < 1e-6,
                    "({r}, {c}) {red} vs {expected}"
                );
            }
        }
    }
    // date 1 (Landsat 7, origin 2 columns right and 1 row down... up): red is band 3, scene
    // pixel (r, c) is series pixel (r - 1, c + 2)
    let (img, q) = series.read_date(1, full).unwrap();
    for r in 0..H {
        for c in 0..W {
            let i = r * W + c;
            let (sr, sc) = (r as i64 + 1, c as i64 - 2);
            let inside = sr < H as i64 && sc >= 1;
            if !inside {
                assert_eq!(q[i], QUALITY_NODATA, "date 1 ({r}, {c})");
                continue;
            }
            let (sr, sc) = (sr as usize, sc as usize);
            let nir = img[3 * plane + i] as f64;
            let expected = dn(4, sr, sc) as f64 * MULT + ADD;
            assert!(
                (nir - expected).abs() < 1e-6,
                "L7 nir is band 4: {nir} vs {expected}"
            );
            let red = img[2 * plane + i] as f64;
            assert!((red - (dn(3, sr, sc) as f64 * MULT + ADD)).abs() < 1e-6);
        }
    }
}

#[test]
fn landsat_problems_are_typed_and_name_the_product() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a");
    scene(&root, 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP");
    scene(&root, 8, (205, 50), "2020-01-15", (0, 0), true, "L2SP");
    let err = landsat_manifest(&[root], &LandsatOptions::default(), dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::MixedTiles { tiles }, .. } if tiles.len() == 2),
        "{err:?}"
    );
    // Level-1 products are refused
    let l1 = dir.path().join("b");
    scene(&l1, 8, (205, 49), "2020-01-15", (0, 0), false, "L1TP");
    let err = landsat_manifest(&[l1], &LandsatOptions::default(), dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::Unsupported { .. }, path } if path.to_string_lossy().contains("L1TP")),
        "{err:?}"
    );
    // a missing band file
    let c = dir.path().join("c");
    let s = scene(&c, 7, (205, 49), "2020-01-15", (0, 0), true, "L2SP");
    let b5 = std::fs::read_dir(&s)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_SR_B5.TIF"))
        .unwrap();
    std::fs::remove_file(&b5).unwrap();
    let err = landsat_manifest(&[c.clone()], &LandsatOptions::default(), dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::MissingFile { file }, .. } if *file == b5),
        "{err:?}"
    );
    // coastal is not a Landsat 7 band
    let d = dir.path().join("d");
    scene(&d, 7, (205, 49), "2020-01-15", (0, 0), false, "L2SP");
    let opts = LandsatOptions {
        bands: vec!["coastal".into(), "red".into()],
        ..Default::default()
    };
    let err = landsat_manifest(&[d], &opts, dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::UnknownBand { band, .. }, .. } if band == "coastal"),
        "{err:?}"
    );
    assert!(err.to_string().contains("coastal"), "{err}");
    // an empty folder
    let e = dir.path().join("e");
    std::fs::create_dir_all(&e).unwrap();
    assert!(matches!(
        landsat_manifest(&[e], &LandsatOptions::default(), dir.path()),
        Err(Error::Product {
            problem: ProductProblem::NotFound,
            ..
        })
    ));
}
