//! Landsat Collection 2 Level-2 scenes as USGS delivers them (MTL JSON or text, per-band
//! `SR_B*.TIF`, `QA_PIXEL.TIF`), written here in the documented layout, read into a series
//! without any preprocessing.

use std::path::{Path, PathBuf};

use chronomap_data::products::{LandsatOptions, landsat_manifest};
use chronomap_data::testkit::{
    LANDSAT_ADD as ADD, LANDSAT_H as H, LANDSAT_MULT as MULT, LANDSAT_W as W, landsat_dn as dn,
};
use chronomap_data::{
    Error, ProductProblem, QUALITY_CLEAR, QUALITY_MASKED, QUALITY_NODATA, SceneSeries,
};
use chronomap_geo::Window;

fn scene(
    root: &Path,
    spacecraft: u8,
    wrs: (u32, u32),
    date: &str,
    shift: (i32, i32),
    json: bool,
    level: &str,
) -> PathBuf {
    chronomap_data::testkit::landsat_scene(root, spacecraft, wrs, date, shift, json, level).unwrap()
}

#[test]
fn landsat_7_and_8_scenes_make_one_series_without_preprocessing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    scene(&root, 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP");
    scene(&root, 7, (205, 49), "2020-01-23", (2, -1), false, "L2SP");
    scene(&root, 9, (205, 49), "2020-01-31", (0, 0), true, "L2SR");
    let (manifest, scenes) = landsat_manifest(
        std::slice::from_ref(&root),
        &LandsatOptions::default(),
        dir.path(),
    )
    .unwrap();
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
    let err = landsat_manifest(
        std::slice::from_ref(&c),
        &LandsatOptions::default(),
        dir.path(),
    )
    .unwrap_err();
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

/// A scene as USGS's `.tar` bundle (flat, made here with GNU tar) is read in place: the bands
/// are `/vsitar/` paths (GDAL's syntax, which `gdalinfo` opens too) and read the same pixels
/// as the unpacked folder. A truncated bundle is a typed error naming it.
#[test]
fn tar_bundles_are_read_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let unpacked = dir.path().join("unpacked");
    let scene_dir = scene(&unpacked, 8, (205, 49), "2020-01-15", (0, 0), false, "L2SP");
    let bundles = dir.path().join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let tar = bundles.join("LC08_L2SP_205049_20200115_20240101_02_T1.tar");
    let mut files: Vec<String> = std::fs::read_dir(&scene_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&scene_dir)
        .args(&files)
        .status();
    let Ok(status) = status else {
        eprintln!("SKIPPED tar_bundles_are_read_in_place: no tar command");
        return;
    };
    assert!(status.success());
    let opts = LandsatOptions::default();
    let (from_tar, _) =
        landsat_manifest(std::slice::from_ref(&bundles), &opts, dir.path()).unwrap();
    let red = &from_tar.dates[0].bands.as_ref().unwrap()["red"];
    assert!(red.to_string_lossy().starts_with("/vsitar/"), "{red:?}");
    assert!(
        red.to_string_lossy()
            .ends_with(".tar/LC08_L2SP_205049_20200115_20240101_02_T1_SR_B4.TIF"),
        "{red:?}"
    );
    let (from_dir, _) = landsat_manifest(&[unpacked], &opts, dir.path()).unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    from_tar.save(&a).unwrap();
    from_dir.save(&b).unwrap();
    let (sa, sb) = (
        SceneSeries::open(&a).unwrap(),
        SceneSeries::open(&b).unwrap(),
    );
    let full = Window::full(W, H);
    let (ia, qa) = sa.read_date(0, full).unwrap();
    let (ib, qb) = sb.read_date(0, full).unwrap();
    assert_eq!(qa, qb);
    assert!(
        ia.iter()
            .zip(&ib)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
    );
    if let Ok(out) = std::process::Command::new("gdalinfo").arg(red).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(&format!("Size is {W}, {H}")),
            "{text}"
        );
    }
    // a truncated download
    let bytes = std::fs::read(&tar).unwrap();
    std::fs::write(&tar, &bytes[..bytes.len() / 2]).unwrap();
    let err = landsat_manifest(&[bundles], &opts, dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(".tar") && msg.contains("truncated"), "{msg}");
}
