//! Scene series on real GeoTIFF files: windowed reads, quality, labels, grid checks,
//! manifests and discovery.

use chronomap_data::testkit::{self, tiny_cloud, tiny_label, tiny_nodata, tiny_series, tiny_value};
use chronomap_data::{
    Error, GridMismatch, IGNORE_INDEX, Manifest, ManifestProblem, QUALITY_CLEAR, QUALITY_MASKED,
    QUALITY_NODATA, SceneSeries,
};
use chronomap_geo::{GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff};

const S: usize = 32;

#[test]
fn windowed_patch_equals_the_same_window_of_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), S, 4, 0).unwrap();
    let mut series = SceneSeries::open(&m).unwrap();
    let dates = [0, 1, 2, 3];
    let full = series.read_patch(Window::full(S, S), &dates).unwrap();
    assert_eq!(full.shape(), [4, 4, S, S]);
    let check = |series: &SceneSeries| {
        for w in [
            Window::new(3, 5, 7, 9),
            Window::new(16, 16, 16, 16),
            Window::new(31, 0, 1, 32),
        ] {
            let p = series.read_patch(w, &dates).unwrap();
            for k in 0..dates.len() * 4 {
                for r in 0..w.height {
                    for c in 0..w.width {
                        let a = p.image[(k * w.height + r) * w.width + c];
                        let b = full.image[(k * S + w.row + r) * S + w.col + c];
                        assert_eq!(a, b, "plane {k} ({r}, {c}) of {w:?}");
                    }
                }
            }
            for k in 0..dates.len() {
                for r in 0..w.height {
                    for c in 0..w.width {
                        let i = (k * w.height + r) * w.width + c;
                        let j = (k * S + w.row + r) * S + w.col + c;
                        assert_eq!(p.quality[i], full.quality[j]);
                        assert_eq!(p.labels[i], full.labels[j]);
                    }
                }
            }
        }
    };
    check(&series);
    // The in-memory copy gives the same values.
    assert!(series.load_into_memory(1 << 30).unwrap());
    check(&series);
    assert_eq!(series.read_patch(Window::full(S, S), &dates).unwrap(), full);
}

#[test]
fn pixels_quality_and_labels_are_the_ones_written() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), S, 3, 0).unwrap();
    let series = SceneSeries::open(&m).unwrap();
    assert_eq!(series.bands(), ["B2", "B3", "B4", "B8"]);
    assert_eq!(
        (series.width(), series.height(), series.epsg()),
        (S, S, Some(32628))
    );
    assert_eq!(
        series.geotransform().unwrap().0,
        [339_000.0, 10.0, 0.0, 1_773_000.0, 0.0, -10.0]
    );
    let p = series.read_patch(Window::full(S, S), &[0, 1, 2]).unwrap();
    let plane = S * S;
    for t in 0..3 {
        for r in 0..S {
            for c in 0..S {
                let i = r * S + c;
                let q = p.quality[t * plane + i];
                let expect = if tiny_nodata(t, r, c) {
                    QUALITY_NODATA
                } else if tiny_cloud(t, r, c, S) {
                    QUALITY_MASKED
                } else {
                    QUALITY_CLEAR
                };
                assert_eq!(q, expect, "date {t} pixel ({r}, {c})");
                assert_eq!(p.labels[t * plane + i], tiny_label(r, c, S));
                if !tiny_nodata(t, r, c) {
                    for b in 0..4 {
                        assert_eq!(
                            p.image[(t * 4 + b) * plane + i],
                            tiny_value(b, t, r, c, S) as f32
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn padded_reads_fill_the_outside_with_nodata() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), S, 2, 0).unwrap();
    let series = SceneSeries::open(&m).unwrap();
    // A 16x16 window starting 4 columns left of and 2 rows above the scene.
    let p = series
        .read_patch_padded(Window::new(0, 0, 16, 16), (4, 2), &[0, 1])
        .unwrap();
    let inner = series
        .read_patch(Window::new(0, 0, 12, 14), &[0, 1])
        .unwrap();
    for t in 0..2 {
        for r in 0..16 {
            for c in 0..16 {
                let i = t * 256 + r * 16 + c;
                if r < 2 || c < 4 {
                    assert_eq!(p.quality[i], QUALITY_NODATA);
                    assert_eq!(p.labels[i], IGNORE_INDEX);
                } else {
                    let j = t * 12 * 14 + (r - 2) * 12 + (c - 4);
                    assert_eq!(p.quality[i], inner.quality[j]);
                    assert_eq!(p.labels[i], inner.labels[j]);
                    assert_eq!(
                        p.image[t * 4 * 256 + r * 16 + c],
                        inner.image[t * 4 * 168 + j - t * 168]
                    );
                }
            }
        }
    }
    // Past the bottom-right edge.
    let p = series
        .read_patch_padded(Window::new(24, 24, 16, 16), (0, 0), &[0])
        .unwrap();
    assert_eq!(p.quality[15 * 16 + 15], QUALITY_NODATA);
    assert_eq!(p.labels[0], tiny_label(24, 24, S));
}

/// Rewrites one date's image of a tiny series with another spec.
fn replace_image(dir: &std::path::Path, name: &str, spec: RasterSpec) {
    let n = spec.width * spec.height * spec.bands;
    write_geotiff(dir.join(name), &spec, RasterData::U16(&vec![7u16; n])).unwrap();
}

fn first_image_name(manifest: &std::path::Path, k: usize) -> String {
    let m = Manifest::load(manifest).unwrap();
    m.dates[k]
        .image
        .clone()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A date on the series' pixel lattice but with another extent (as Landsat scenes of one
/// path/row are) is placed, not refused: series pixel (r, c) reads file pixel (r + 2, c - 3)
/// for a file whose origin is 3 columns right of and 2 rows above the series'; pixels
/// outside the file (columns 0-2, and rows 15-16 whose file rows 17-18 do not exist) are
/// nodata.
#[test]
fn a_date_of_another_extent_on_the_same_lattice_is_placed() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), 16, 3, 0).unwrap();
    let name = first_image_name(&m, 2);
    let gt = GeoTransform::north_up(testkit::ORIGIN.0 + 30.0, testkit::ORIGIN.1 + 20.0, 10.0);
    let (fw, fh) = (15usize, 17usize);
    let value = |b: usize, fr: usize, fc: usize| (1000 * b + 100 + fr * fw + fc) as u16;
    let data: Vec<u16> = (0..4)
        .flat_map(|b| (0..fh).flat_map(move |r| (0..fw).map(move |c| value(b, r, c))))
        .collect();
    let spec = RasterSpec::new(fw, fh, 4, SampleType::U16)
        .with_geotransform(gt)
        .with_epsg(32628)
        .with_nodata(0.0);
    write_geotiff(dir.path().join(&name), &spec, RasterData::U16(&data)).unwrap();
    let series = SceneSeries::open(&m).unwrap();
    assert_eq!((series.width(), series.height()), (16, 16));
    let w = Window::new(1, 4, 10, 12);
    let (img, q) = series.read_date(2, w).unwrap();
    for r in 0..w.height {
        for c in 0..w.width {
            let (sr, sc) = (w.row + r, w.col + c);
            let i = r * w.width + c;
            if sc < 3 || sr + 2 >= fh {
                assert_eq!(q[i], QUALITY_NODATA, "({sr}, {sc})");
                assert!(img[i].is_nan());
            } else {
                let (fr, fc) = (sr + 2, sc - 3);
                for b in 0..4 {
                    assert_eq!(
                        img[b * w.area() + i],
                        value(b, fr, fc) as f32,
                        "({sr}, {sc})"
                    );
                }
            }
        }
    }
    // off the lattice by half a pixel, or another pixel size: refused, naming the file
    for (gt, half) in [
        (
            GeoTransform::north_up(testkit::ORIGIN.0 + 5.0, testkit::ORIGIN.1, 10.0),
            true,
        ),
        (
            GeoTransform::north_up(testkit::ORIGIN.0, testkit::ORIGIN.1, 20.0),
            false,
        ),
    ] {
        replace_image(
            dir.path(),
            &name,
            RasterSpec::new(16, 16, 4, SampleType::U16)
                .with_geotransform(gt)
                .with_epsg(32628),
        );
        let err = SceneSeries::open(&m).unwrap_err();
        let Error::GridMismatch { path, mismatch, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(path.ends_with(&name), "{path:?}");
        if half {
            assert_eq!(
                **mismatch,
                GridMismatch::Misaligned {
                    offset_px: [0.5, 0.0]
                }
            );
        } else {
            assert_eq!(
                **mismatch,
                GridMismatch::PixelSize {
                    expected: [10.0, -10.0],
                    found: [20.0, -20.0]
                }
            );
        }
        assert!(err.to_string().contains(&name), "{err}");
    }
}

/// Landsat-style quality bits and GDAL-convention scale/offset: `QA_PIXEL` bit 3 (cloud) or
/// bit 0 (fill) set masks a pixel, other bits do not; values read as `raw * 2.75e-5 - 0.2`
/// (the Collection 2 surface-reflectance factors).
#[test]
fn mask_bits_and_scale_offset() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), 16, 2, 0).unwrap();
    let qa: Vec<u16> = (0..256)
        .map(|i| match i % 4 {
            0 => 21824, // clear land (bits 6, 8, 10, 12, 14)
            1 => 1 << 3,
            2 => 1,
            _ => 1 << 7, // water: not masked
        })
        .collect();
    let gt = GeoTransform::north_up(testkit::ORIGIN.0, testkit::ORIGIN.1, 10.0);
    let spec = RasterSpec::new(16, 16, 1, SampleType::U16)
        .with_geotransform(gt)
        .with_epsg(32628);
    write_geotiff(dir.path().join("qa.tif"), &spec, RasterData::U16(&qa)).unwrap();
    let mut manifest = Manifest::load(&m).unwrap();
    manifest.dates[1].mask = Some(chronomap_data::MaskEntry::Values {
        path: "qa.tif".into(),
        invalid: None,
        valid: None,
        bits: Some(vec![0, 1, 2, 3, 4, 5]),
    });
    manifest.dates[1].scale = Some(2.75e-5);
    manifest.dates[1].add_offset = Some(-0.2);
    let raw = SceneSeries::open(&m)
        .unwrap()
        .read_date(1, Window::full(16, 16))
        .unwrap();
    manifest.save(&m).unwrap();
    let series = SceneSeries::open(&m).unwrap();
    let (img, q) = series.read_date(1, Window::full(16, 16)).unwrap();
    for i in 0..256 {
        if raw.1[i] != QUALITY_CLEAR {
            continue;
        }
        let want = if i % 4 == 1 || i % 4 == 2 {
            QUALITY_MASKED
        } else {
            QUALITY_CLEAR
        };
        assert_eq!(q[i], want, "pixel {i}");
        let expected = raw.0[i] * 2.75e-5 - 0.2;
        assert!((img[i] - expected).abs() < 1e-6, "{} vs {expected}", img[i]);
    }
    // two rules at once are refused
    manifest.dates[1].mask = Some(chronomap_data::MaskEntry::Values {
        path: "qa.tif".into(),
        invalid: Some(vec![1]),
        valid: None,
        bits: Some(vec![3]),
    });
    manifest.save(&m).unwrap();
    assert!(matches!(
        SceneSeries::open(&m),
        Err(Error::Manifest {
            problem: ManifestProblem::MaskValues { .. },
            ..
        })
    ));
}

#[test]
fn a_date_in_another_crs_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), 16, 3, 0).unwrap();
    let name = first_image_name(&m, 1);
    let gt = GeoTransform::north_up(testkit::ORIGIN.0, testkit::ORIGIN.1, 10.0);
    replace_image(
        dir.path(),
        &name,
        RasterSpec::new(16, 16, 4, SampleType::U16)
            .with_geotransform(gt)
            .with_epsg(32631),
    );
    let err = SceneSeries::open(&m).unwrap_err();
    let Error::GridMismatch { path, mismatch, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(path.ends_with(&name));
    assert_eq!(
        **mismatch,
        GridMismatch::Crs {
            expected: Some(32628),
            found: Some(32631)
        }
    );
}

#[test]
fn manifest_problems_are_typed_and_name_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), 16, 2, 0).unwrap();
    let base = Manifest::load(&m).unwrap();
    let write = |mm: &Manifest| {
        let p = dir.path().join("edited.json");
        mm.save(&p).unwrap();
        p
    };
    // Missing file.
    let mut mm = base.clone();
    mm.dates[1].image = Some("nope.tif".into());
    let err = SceneSeries::open(write(&mm)).unwrap_err();
    assert!(
        matches!(&err, Error::Manifest { problem: ManifestProblem::MissingFile { path }, .. } if path.ends_with("nope.tif")),
        "{err:?}"
    );
    assert!(err.to_string().contains("edited.json"));
    // Duplicate date.
    let mut mm = base.clone();
    mm.dates[1].date = mm.dates[0].date.clone();
    let err = SceneSeries::open(write(&mm)).unwrap_err();
    assert!(matches!(
        err,
        Error::Manifest {
            problem: ManifestProblem::DuplicateDate { .. },
            ..
        }
    ));
    // Bad date.
    let mut mm = base.clone();
    mm.dates[0].date = "2016-13-01".into();
    let err = SceneSeries::open(write(&mm)).unwrap_err();
    assert!(matches!(
        err,
        Error::Manifest {
            problem: ManifestProblem::BadDate { .. },
            ..
        }
    ));
    // Band count.
    let mut mm = base.clone();
    mm.bands.push("B11".into());
    let err = SceneSeries::open(write(&mm)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BandCount {
                expected: 5,
                found: 4,
                ..
            }
        ),
        "{err:?}"
    );
    // Label values beyond the declared classes.
    let mut mm = base.clone();
    mm.classes.truncate(3);
    let series = SceneSeries::open(write(&mm)).unwrap();
    let err = series.read_labels(0, Window::full(16, 16)).unwrap_err();
    assert!(
        matches!(err, Error::LabelOutOfRange { classes: 3, .. }),
        "{err:?}"
    );
    // Not JSON.
    std::fs::write(dir.path().join("broken.json"), "{\"bands\": [").unwrap();
    let err = SceneSeries::open(dir.path().join("broken.json")).unwrap_err();
    assert!(matches!(err, Error::ManifestJson { .. }));
}

#[test]
fn per_band_files_are_discovered_from_sentinel2_names() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (12, 10);
    let gt = GeoTransform::north_up(testkit::ORIGIN.0, testkit::ORIGIN.1, 10.0);
    let spec = RasterSpec::new(w, h, 1, SampleType::U16)
        .with_geotransform(gt)
        .with_epsg(32628);
    // Two dates, bands written out of order, plus an SCL mask and a year label.
    for (d, stamp) in ["20200115", "20200304"].iter().enumerate() {
        for (b, band) in ["B08", "B02", "B04", "B03"].iter().enumerate() {
            let v: Vec<u16> = (0..w * h)
                .map(|i| (1000 * (d + 1) + 100 * b + i) as u16)
                .collect();
            let name = format!("T28QCD_{stamp}T112451_{band}_10m.tif");
            write_geotiff(dir.path().join(name), &spec, RasterData::U16(&v)).unwrap();
        }
    }
    let scl: Vec<u8> = (0..w * h).map(|i| if i % 5 == 0 { 9 } else { 4 }).collect();
    let u8spec = RasterSpec::new(w, h, 1, SampleType::U8)
        .with_geotransform(gt)
        .with_epsg(32628);
    write_geotiff(
        dir.path().join("T28QCD_20200115_SCL.tif"),
        &u8spec,
        RasterData::U8(&scl),
    )
    .unwrap();
    write_geotiff(
        dir.path().join("labels_2020.tif"),
        &u8spec,
        RasterData::U8(&vec![2; w * h]),
    )
    .unwrap();
    let series = SceneSeries::discover(dir.path()).unwrap();
    assert_eq!(series.bands(), ["B2", "B3", "B4", "B8"]);
    assert_eq!(series.len(), 2);
    assert_eq!(series.dates()[1].date.to_string(), "2020-03-04");
    let img = series.read_image(0, Window::full(w, h)).unwrap();
    // Band order B2, B3, B4, B8 = written indices 1, 3, 2, 0 of date 0.
    for (c, b) in [1usize, 3, 2, 0].into_iter().enumerate() {
        assert_eq!(img[c * w * h + 7], (1000 + 100 * b + 7) as f32);
    }
    let q = series.read_quality(0, Window::full(w, h)).unwrap();
    assert_eq!(q[0], QUALITY_MASKED); // SCL 9: cloud high probability
    assert_eq!(q[1], QUALITY_CLEAR); // SCL 4: vegetation
    assert_eq!(
        series.read_quality(1, Window::full(w, h)).unwrap()[0],
        QUALITY_CLEAR
    );
    assert_eq!(series.read_labels(1, Window::full(w, h)).unwrap()[3], 2);
    // A folder with a manifest opens the manifest instead.
    let m = Manifest::discover(dir.path()).unwrap();
    m.save(dir.path().join("manifest.json")).unwrap();
    assert_eq!(SceneSeries::discover(dir.path()).unwrap().len(), 2);
    // A folder without any dated image is an error.
    let empty = tempfile::tempdir().unwrap();
    let err = SceneSeries::discover(empty.path()).unwrap_err();
    assert!(matches!(
        err,
        Error::Manifest {
            problem: ManifestProblem::NoDates,
            ..
        }
    ));
}

/// A 64 x 64 scene whose left half is cloudy on every date and whose class 4 only occupies
/// a 12 x 12 corner: the coverage-aware sampler avoids the clouds, and class balancing
/// draws the rare corner much more often than uniform sampling.
#[test]
fn samplers_skip_cloudy_windows_and_balance_classes() {
    use chronomap_data::testkit::{TinyDate, TinyScene, write_scene};
    use chronomap_data::{
        AreaSplit, CoverageMap, Date, LabelPolicy, SamplerConfig, Split, sample_grid,
        sample_windows,
    };
    let n = 64;
    let mut labels = vec![0u8; n * n];
    for r in 52..64 {
        for c in 52..64 {
            labels[r * n + c] = 4;
        }
    }
    let mask: Vec<u8> = (0..n * n).map(|i| (i % n < 32) as u8).collect();
    let dates = (0..2)
        .map(|t| TinyDate {
            date: Date::new(2020, 3 + t as u8, 1).unwrap(),
            image: vec![500; 4 * n * n],
            mask: Some(mask.clone()),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let scene = TinyScene {
        width: n,
        height: n,
        bands: vec!["B2".into(), "B3".into(), "B4".into(), "B8".into()],
        dates,
        labels: vec![(2020, labels)],
    };
    let series = SceneSeries::open(write_scene(dir.path(), &scene).unwrap()).unwrap();
    let cov = CoverageMap::compute(&series, &[0, 1], 8, 5, LabelPolicy::default()).unwrap();
    let all = [Window::full(n, n)];
    let config = SamplerConfig {
        min_usable_fraction: 0.9,
        ..SamplerConfig::with_patch_size(16)
    };
    let wins = sample_windows(&cov, &all, 200, &config, 3).unwrap();
    assert_eq!(wins.len(), 200);
    assert!(wins.iter().all(|w| w.col >= 30), "cloudy windows drawn");
    // Same seed, same windows.
    assert_eq!(wins, sample_windows(&cov, &all, 200, &config, 3).unwrap());
    // Rare class: share of windows touching the corner, uniform vs balanced.
    let touches = |ws: &[Window]| {
        ws.iter()
            .filter(|w| w.col + w.width > 52 && w.row + w.height > 52)
            .count() as f64
            / ws.len() as f64
    };
    let balanced = SamplerConfig {
        class_balance: Some(1.0),
        ..config.clone()
    };
    let b = sample_windows(&cov, &all, 400, &balanced, 4).unwrap();
    let u = sample_windows(&cov, &all, 400, &config, 4).unwrap();
    assert!(
        touches(&b) > 1.5 * touches(&u),
        "balanced {} uniform {}",
        touches(&b),
        touches(&u)
    );
    // Grid windows over the clear half only.
    let g = sample_grid(Some(&cov), &all, 16, 0, 0.9).unwrap();
    assert_eq!(g.len(), 8); // 2 clear columns x 4 rows
    // Nothing usable at all -> a typed error.
    let strict = SamplerConfig {
        min_usable_fraction: 1.01,
        ..config
    };
    assert!(matches!(
        sample_windows(&cov, &all, 5, &strict, 0),
        Err(Error::NoUsableWindow { .. })
    ));
    // Area split: validation windows come from validation blocks only.
    let split = AreaSplit::new(n, n, 32, 0.25, 1).unwrap();
    let v = split.regions(Split::Validation);
    assert_eq!(v.len(), 1);
    let vw = sample_grid(None, &v, 16, 0, 0.0).unwrap();
    assert_eq!(vw.len(), 4);
    assert!(
        vw.iter()
            .all(|w| split.split_at(w.col, w.row) == Some(Split::Validation))
    );
}

/// A 20 m mask on a 10 m series (Sentinel-2's SCL) is read by nearest neighbour, without
/// `gdalwarp`: series pixel (r, c) takes mask pixel ((r + 2) / 2, (c + 2) / 2) for a mask
/// whose origin is 2 series pixels up and left. The mapping equals `gdalwarp -r near -tr 10
/// 10` onto the series grid (checked when gdal-bin is installed). Images must still be on the
/// series' pixel size.
#[test]
fn a_coarser_mask_is_read_by_nearest_neighbour_like_gdalwarp() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), 16, 2, 0).unwrap();
    let (x0, y0) = testkit::ORIGIN;
    let gt = GeoTransform::north_up(x0 - 20.0, y0 + 20.0, 20.0);
    // 10 x 10 mask pixels of 20 m cover the 16 x 16 series with a margin; values 0..100
    let scl: Vec<u8> = (0..100).map(|i| i as u8).collect();
    let spec = RasterSpec::new(10, 10, 1, SampleType::U8)
        .with_geotransform(gt)
        .with_epsg(32628);
    let scl_path = dir.path().join("scl20.tif");
    write_geotiff(&scl_path, &spec, RasterData::U8(&scl)).unwrap();
    let expected = |r: usize, c: usize| ((r + 2) / 2 * 10 + (c + 2) / 2) as u8;
    // the masked values: odd ones
    let invalid: Vec<u32> = (0..100).filter(|v| v % 2 == 1).collect();
    let mut manifest = Manifest::load(&m).unwrap();
    manifest.dates[1].mask = Some(chronomap_data::MaskEntry::Values {
        path: "scl20.tif".into(),
        invalid: Some(invalid),
        valid: None,
        bits: None,
    });
    let raw = SceneSeries::open(&m)
        .unwrap()
        .read_date(1, Window::full(16, 16))
        .unwrap()
        .1;
    manifest.save(&m).unwrap();
    let series = SceneSeries::open(&m).unwrap();
    let q = series.read_date(1, Window::full(16, 16)).unwrap().1;
    for r in 0..16 {
        for c in 0..16 {
            let i = r * 16 + c;
            if raw[i] == QUALITY_NODATA {
                continue;
            }
            let want = if expected(r, c) % 2 == 1 {
                QUALITY_MASKED
            } else {
                QUALITY_CLEAR
            };
            assert_eq!(q[i], want, "({r}, {c})");
        }
    }
    // gdalwarp -r near onto the series grid gives the same mask values
    let warped = dir.path().join("scl10.tif");
    let te = [x0, y0 - 160.0, x0 + 160.0, y0].map(|v| v.to_string());
    let ok = std::process::Command::new("gdalwarp")
        .args(["-q", "-r", "near", "-tr", "10", "10", "-te"])
        .args(&te)
        .arg(&scl_path)
        .arg(&warped)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED the gdalwarp comparison: gdal-bin is not installed");
        return;
    }
    let w = chronomap_geo::GeoTiffReader::open(&warped)
        .unwrap()
        .read_window_u8(Window::full(16, 16), &[0])
        .unwrap();
    for r in 0..16 {
        for c in 0..16 {
            assert_eq!(w[r * 16 + c], expected(r, c), "gdalwarp at ({r}, {c})");
        }
    }
    // a 20 m image is refused (reflectance is not resampled by nearest neighbour)
    let name = first_image_name(&m, 0);
    replace_image(
        dir.path(),
        &name,
        RasterSpec::new(8, 8, 4, SampleType::U16)
            .with_geotransform(GeoTransform::north_up(x0, y0, 20.0))
            .with_epsg(32628),
    );
    assert!(matches!(
        SceneSeries::open(&m),
        Err(Error::GridMismatch { mismatch, .. }) if matches!(*mismatch, GridMismatch::PixelSize { .. })
    ));
}

/// A 20 m band among 10 m bands (Sentinel-2 `B11`) is read bilinearly onto the series grid,
/// without `gdalwarp`; compared with `gdalwarp -r bilinear -tr 10 10` (UInt16 output, so
/// GDAL rounds) on a field with a nodata hole: the largest difference is printed and must
/// stay within 1 DN (GDAL rounds to integers, chronomap keeps the f32 value).
#[test]
fn a_coarser_band_is_read_bilinearly_like_gdalwarp() {
    let dir = tempfile::tempdir().unwrap();
    let (x0, y0) = testkit::ORIGIN;
    let fine = RasterSpec::new(32, 32, 1, SampleType::U16)
        .with_geotransform(GeoTransform::north_up(x0, y0, 10.0))
        .with_epsg(32628)
        .with_nodata(0.0);
    let v10: Vec<u16> = (0..32 * 32).map(|i| 1000 + i as u16).collect();
    write_geotiff(dir.path().join("B04.tif"), &fine, RasterData::U16(&v10)).unwrap();
    // 20 m: 16 x 16 px, a smooth ramp plus a bump, nodata 0 in a 3 x 2 hole
    let coarse = RasterSpec::new(16, 16, 1, SampleType::U16)
        .with_geotransform(GeoTransform::north_up(x0, y0, 20.0))
        .with_epsg(32628)
        .with_nodata(0.0);
    let v20: Vec<u16> = (0..256)
        .map(|i| {
            let (r, c) = (i / 16, i % 16);
            if (5..8).contains(&c) && (9..11).contains(&r) {
                0
            } else {
                (2000 + 37 * r + 23 * c + ((r * c) % 7) * 50) as u16
            }
        })
        .collect();
    let b11 = dir.path().join("B11.tif");
    write_geotiff(&b11, &coarse, RasterData::U16(&v20)).unwrap();
    let manifest = r#"{"version": 1, "bands": ["B4", "B11"], "nodata": 0,
        "dates": [{"date": "2020-01-15", "bands": {"B11": "B11.tif", "B4": "B04.tif"}}]}"#;
    let m = dir.path().join("manifest.json");
    std::fs::write(&m, manifest).unwrap();
    let series = SceneSeries::open(&m).unwrap();
    assert_eq!(
        (series.width(), series.height()),
        (32, 32),
        "the 10 m band is the grid"
    );
    let (img, q) = series.read_date(0, Window::full(32, 32)).unwrap();
    let ours = &img[32 * 32..];
    // by hand at series pixel (0, 0): centre at file (-0.25, -0.25): only pixel (0, 0) lies
    // inside, so the value is v20[0]; at (1, 1): centre (0.25, 0.25), weights 0.5625 (0, 0),
    // 0.1875 (0, 1) and (1, 0), 0.0625 (1, 1)
    assert_eq!(ours[0], v20[0] as f32);
    let hand = 0.5625 * v20[0] as f64
        + 0.1875 * (v20[1] as f64 + v20[16] as f64)
        + 0.0625 * v20[17] as f64;
    assert!(
        (ours[33] as f64 - hand).abs() < 1e-3,
        "{} vs {hand}",
        ours[33]
    );
    let warped = dir.path().join("b11_10m.tif");
    let te = [x0, y0 - 320.0, x0 + 320.0, y0].map(|v| v.to_string());
    let ok = std::process::Command::new("gdalwarp")
        .args(["-q", "-r", "bilinear", "-tr", "10", "10", "-te"])
        .args(&te)
        .arg(&b11)
        .arg(&warped)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED the gdalwarp comparison: gdal-bin is not installed");
        return;
    }
    let g = chronomap_geo::GeoTiffReader::open(&warped)
        .unwrap()
        .read_window_u8(Window::full(32, 32), &[0])
        .map(|_| ())
        .err();
    assert!(g.is_some(), "gdalwarp keeps UInt16");
    let g = chronomap_geo::GeoTiffReader::open(&warped)
        .unwrap()
        .read_window_as::<u16>(Window::full(32, 32), &[0])
        .unwrap();
    let (mut max_diff, mut compared, mut nodata_differ) = (0f32, 0, 0);
    for i in 0..32 * 32 {
        let ours_nodata = ours[i].is_nan() || q[i] != QUALITY_CLEAR && ours[i] == 0.0;
        if g[i] == 0 || ours_nodata {
            if (g[i] == 0) != ours[i].is_nan() {
                nodata_differ += 1;
            }
            continue;
        }
        compared += 1;
        max_diff = max_diff.max((ours[i] - g[i] as f32).abs());
    }
    eprintln!(
        "bilinear vs gdalwarp: {compared} pixels compared, max difference {max_diff:.3} DN, \
         {nodata_differ} differ in being nodata"
    );
    assert!(max_diff <= 1.0, "max difference {max_diff}");
    assert_eq!(nodata_differ, 0);
}
