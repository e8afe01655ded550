//! The synthetic world as files: GDAL and osmium accept them, labels rasterized from its OSM
//! have plausible class shares, the radiometric model varies per date as documented, clouds
//! are masked, the output is deterministic.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chronomap_data::{
    IGNORE_INDEX, LabelPolicy, Manifest, QUALITY_MASKED, SceneSeries, SynthConfig, SynthSummary,
    write_world,
};
use chronomap_geo::{GeoTiffReader, Window};

const SIZE: usize = 160;

struct World {
    _dir: tempfile::TempDir,
    summary: SynthSummary,
    config: SynthConfig,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let config = SynthConfig {
            size: SIZE,
            dates_per_year: 5,
            ..SynthConfig::new(11)
        };
        let summary = write_world(&config, dir.path(), &mut |_, _, _| {}).unwrap();
        World {
            _dir: dir,
            summary,
            config,
        }
    })
}

fn tool(name: &str) -> bool {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: `{name}` is not installed");
    }
    ok
}

fn tifs(w: &World) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = w
        .summary
        .dates
        .iter()
        .flat_map(|d| [d.image.clone(), d.mask.clone()])
        .collect();
    for y in &w.summary.years {
        v.push(y.labels.clone());
        v.push(y.ground_truth.clone());
    }
    v
}

#[test]
fn gdal_reads_every_geotiff_with_the_documented_georeferencing() {
    if !tool("gdalinfo") {
        return;
    }
    let w = world();
    // Documented: centre (339520, 1772830), 10 m pixels, so x0 = 339520 - SIZE * 5,
    // y0 = 1772830 + SIZE * 5.
    let x0 = 339_520.0 - SIZE as f64 * 5.0;
    let y0 = 1_772_830.0 + SIZE as f64 * 5.0;
    assert_eq!(w.config.geotransform().0, [x0, 10.0, 0.0, y0, 0.0, -10.0]);
    for path in tifs(w) {
        let out = Command::new("gdalinfo")
            .arg("-json")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "gdalinfo failed on {path:?}");
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let gt: Vec<f64> = info["geoTransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(gt, vec![x0, 10.0, 0.0, y0, 0.0, -10.0], "{path:?}");
        let wkt = info["coordinateSystem"]["wkt"].as_str().unwrap();
        assert!(wkt.contains("ID[\"EPSG\",32628]"), "{path:?}: {wkt}");
        assert_eq!(info["size"], serde_json::json!([SIZE, SIZE]));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("S2_") && !name.contains("cloud") {
            let bands = info["bands"].as_array().unwrap();
            assert_eq!(bands.len(), 4);
            assert_eq!(bands[0]["type"], "UInt16");
            assert_eq!(bands[0]["description"], "B2");
            assert_eq!(bands[3]["description"], "B8");
            assert_eq!(bands[0]["noDataValue"], 0.0);
            assert_eq!(
                info["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"],
                "DEFLATE"
            );
        }
    }
}

#[test]
fn osmium_accepts_the_osm_extracts() {
    if !tool("osmium") {
        return;
    }
    for y in &world().summary.years {
        let out = Command::new("osmium")
            .args(["fileinfo", "-e", "-j"])
            .arg(&y.osm)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "osmium rejected {:?}: {}",
            y.osm,
            String::from_utf8_lossy(&out.stderr)
        );
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let data = &info["data"];
        // Buildings, roads, vegetation and the water rings are all ways.
        let ways = data["count"]["ways"].as_u64().unwrap() as usize;
        assert!(ways > y.buildings_mapped + 10, "{data}");
        assert_eq!(data["count"]["relations"], 1);
        // Sorted by type then id, as osmium and other tools expect.
        assert_eq!(data["objects_ordered"], true);
        assert_eq!(data["multiple_versions"], false);
    }
}

fn u8_raster(path: &Path) -> Vec<u8> {
    let r = GeoTiffReader::open(path).unwrap();
    r.read_window_u8(Window::full(SIZE, SIZE), &[0]).unwrap()
}

fn shares(v: &[u8]) -> [f64; 5] {
    let mut n = [0usize; 5];
    for &c in v {
        n[c as usize] += 1;
    }
    n.map(|k| k as f64 / v.len() as f64)
}

#[test]
fn rasterized_osm_labels_have_plausible_shares_and_match_the_ground() {
    let w = world();
    for y in &w.summary.years {
        let labels = u8_raster(&y.labels);
        let truth = u8_raster(&y.ground_truth);
        let s = shares(&labels);
        // Every class is present in plausible amounts (Saint-Louis: lots of water, a dense
        // town, vegetation on the mainland).
        assert!((0.15..0.55).contains(&s[3]), "{} water {s:?}", y.year);
        assert!((0.01..0.25).contains(&s[1]), "{} buildings {s:?}", y.year);
        assert!((0.005..0.15).contains(&s[2]), "{} roads {s:?}", y.year);
        assert!((0.03..0.5).contains(&s[4]), "{} vegetation {s:?}", y.year);
        assert!(s[0] > 0.05, "{} background {s:?}", y.year);
        // OSM is a little incomplete: fewer building pixels than on the ground.
        let t = shares(&truth);
        assert!(s[1] < t[1], "{} labels {s:?} truth {t:?}", y.year);
        assert!(y.buildings_mapped < y.buildings);
        // Otherwise labels and ground agree almost everywhere (roads are painted as
        // chronomap-geo burns OSM lines).
        let agree = labels.iter().zip(&truth).filter(|(a, b)| a == b).count();
        assert!(
            agree as f64 > 0.97 * labels.len() as f64,
            "{} agreement {agree}",
            y.year
        );
    }
    // Between the years the town grows and the sea takes part of the spit.
    let (a, b) = (&w.summary.years[0], &w.summary.years[1]);
    assert!(b.buildings > a.buildings);
    assert!(b.truth_shares[3] > a.truth_shares[3]);
}

/// Mean of `band` over pixels where `keep` holds.
fn mean_where(img: &[f32], band: usize, keep: &[bool]) -> f64 {
    let plane = keep.len();
    let (mut s, mut n) = (0.0, 0usize);
    for (i, &k) in keep.iter().enumerate() {
        if k {
            s += img[band * plane + i] as f64;
            n += 1;
        }
    }
    s / n.max(1) as f64
}

fn meta(series: &SceneSeries, d: usize, key: &str) -> f64 {
    series.dates()[d].meta.as_ref().unwrap()[key]
        .as_f64()
        .unwrap()
}

/// The documented model: clear water reflectance in blue is
/// `gain * rho * (1 - 0.30 * tau) + 0.10 * tau` (blue haze weight 1), so
/// `(B2 - 0.10 tau) / (gain (1 - 0.30 tau))` recovers the same `rho` on every date while the
/// raw B2 mean varies a lot with haze and sun. Vegetation NDVI follows the rainy season.
#[test]
fn per_date_class_spectra_vary_as_documented() {
    let w = world();
    let mut series = SceneSeries::open(&w.summary.manifest).unwrap();
    series.set_use_ground_truth(true);
    let full = Window::full(SIZE, SIZE);
    let mut raw = Vec::new();
    let mut corrected = Vec::new();
    let mut ndvi_by_green = Vec::new();
    for d in 0..series.len() {
        let (img, q) = series.read_date(d, full).unwrap();
        let truth = series.read_labels(d, full).unwrap();
        let img: Vec<f32> = img.iter().map(|v| v / 10_000.0).collect();
        let clear_water: Vec<bool> = q
            .iter()
            .zip(&truth)
            .map(|(&q, &t)| q == 0 && t == 3)
            .collect();
        let tau = meta(&series, d, "haze");
        let gain = meta(&series, d, "gain");
        let cirrus = meta(&series, d, "cirrus");
        let b2 = mean_where(&img, 0, &clear_water);
        if cirrus == 0.0 {
            raw.push(b2);
            corrected.push((b2 - 0.10 * tau) / (gain * (1.0 - 0.30 * tau)));
        }
        let clear_veg: Vec<bool> = q
            .iter()
            .zip(&truth)
            .map(|(&q, &t)| q == 0 && t == 4)
            .collect();
        let (red, nir) = (
            mean_where(&img, 2, &clear_veg),
            mean_where(&img, 3, &clear_veg),
        );
        let crop_green = series.dates()[d].meta.as_ref().unwrap()["greenness"][0]
            .as_f64()
            .unwrap();
        ndvi_by_green.push((crop_green, (nir - red) / (nir + red)));
    }
    let cv = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt() / m
    };
    assert!(raw.len() >= 4, "too few dates without cirrus");
    assert!(cv(&raw) > 0.15, "raw blue water varies: {raw:?}");
    // What remains is the spatial haze pattern (its mean over the water differs per date),
    // unmasked shadow and cloud edges, and noise.
    assert!(
        cv(&corrected) < 0.10,
        "model-corrected blue water is stable: {corrected:?}"
    );
    assert!(
        cv(&corrected) < cv(&raw) / 2.0,
        "raw {raw:?} corrected {corrected:?}"
    );
    // The greenest date has a clearly higher vegetation NDVI than the driest one.
    ndvi_by_green.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (dry, wet) = (ndvi_by_green[0], ndvi_by_green[ndvi_by_green.len() - 1]);
    assert!(wet.0 > 0.8 && dry.0 < 0.2, "{ndvi_by_green:?}");
    assert!(wet.1 > dry.1 + 0.1, "{ndvi_by_green:?}");
}

#[test]
fn clouds_are_bright_masked_and_ignored() {
    let w = world();
    let series = SceneSeries::open(&w.summary.manifest).unwrap();
    let full = Window::full(SIZE, SIZE);
    let fractions: Vec<f64> = w.summary.dates.iter().map(|d| d.masked_fraction).collect();
    // Each year has a clear date and a cloudy one.
    for year in fractions.chunks(w.config.dates_per_year) {
        assert!(year.iter().any(|&f| f < 0.02), "{fractions:?}");
        assert!(year.iter().any(|&f| f > 0.12), "{fractions:?}");
    }
    for (d, &fraction) in fractions.iter().enumerate() {
        if fraction < 0.05 {
            continue;
        }
        let mask = u8_raster(&w.summary.dates[d].mask);
        let (img, q) = series.read_date(d, full).unwrap();
        let cloud: Vec<bool> = mask.iter().map(|&m| m == 1).collect();
        let clear: Vec<bool> = mask.iter().map(|&m| m == 0).collect();
        let shadow: Vec<bool> = mask.iter().map(|&m| m == 2).collect();
        // Clouds are bright in blue, shadows darker than clear ground in NIR.
        assert!(mean_where(&img, 0, &cloud) > mean_where(&img, 0, &clear) + 1000.0);
        if shadow.iter().filter(|&&s| s).count() > 100 {
            assert!(mean_where(&img, 3, &shadow) < mean_where(&img, 3, &clear));
        }
        // The series flags every masked pixel, and the label policy ignores them.
        let mut labels = series.read_labels(d, full).unwrap();
        LabelPolicy::default().apply(&mut labels, &q);
        for i in 0..mask.len() {
            if mask[i] != 0 {
                assert_eq!(q[i], QUALITY_MASKED);
                assert_eq!(labels[i], IGNORE_INDEX);
            }
        }
    }
    // The swath edge of the last year's second date is nodata, and ignored.
    let d = w.config.dates_per_year + 1;
    assert!(w.summary.dates[d].nodata_fraction > 0.02);
    let (_, q) = series.read_date(d, full).unwrap();
    assert!(q[SIZE - 1] == chronomap_data::QUALITY_NODATA);
}

#[test]
fn same_seed_same_files_other_seed_other_town() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let again = write_world(&w.config, dir.path(), &mut |_, _, _| {}).unwrap();
    for (a, b) in w.summary.dates.iter().zip(&again.dates) {
        assert_eq!(
            std::fs::read(&a.image).unwrap(),
            std::fs::read(&b.image).unwrap()
        );
        assert_eq!(
            std::fs::read(&a.mask).unwrap(),
            std::fs::read(&b.mask).unwrap()
        );
    }
    for (a, b) in w.summary.years.iter().zip(&again.years) {
        assert_eq!(
            std::fs::read(&a.osm).unwrap(),
            std::fs::read(&b.osm).unwrap()
        );
        assert_eq!(
            std::fs::read(&a.labels).unwrap(),
            std::fs::read(&b.labels).unwrap()
        );
    }
    assert_eq!(
        Manifest::load(&w.summary.manifest).unwrap(),
        Manifest::load(&again.manifest).unwrap()
    );
    let other = tempfile::tempdir().unwrap();
    let config = SynthConfig {
        seed: 12,
        ..w.config.clone()
    };
    let o = write_world(&config, other.path(), &mut |_, _, _| {}).unwrap();
    assert_ne!(
        u8_raster(&o.years[0].ground_truth),
        u8_raster(&w.summary.years[0].ground_truth)
    );
}

/// The point of the world: the ground does not change within a year but the pixels do, so a
/// per-date classifier makes date-specific errors that combining the dates corrects. A
/// per-pixel Gaussian naive Bayes on (B2, B3, B4, B8, NDVI), trained on the OSM labels of
/// alternate 8-row stripes, is evaluated against the ground truth on the other stripes:
/// the majority vote over a year's dates must beat the average single date.
#[test]
fn combining_dates_beats_single_dates() {
    let w = world();
    let mut series = SceneSeries::open(&w.summary.manifest).unwrap();
    let full = Window::full(SIZE, SIZE);
    let n = SIZE * SIZE;
    let train_px = |i: usize| (i / SIZE / 8).is_multiple_of(2);
    for year in series.sequences_by_year() {
        series.set_use_ground_truth(false);
        let labels = series.read_labels(year[0], full).unwrap();
        series.set_use_ground_truth(true);
        let truth = series.read_labels(year[0], full).unwrap();
        let mut votes = vec![[0u32; 5]; n];
        let mut accs = Vec::new();
        for &d in &year {
            let (img, q) = series.read_date(d, full).unwrap();
            let feat = |i: usize| -> [f64; 5] {
                let b: [f64; 4] = std::array::from_fn(|k| img[k * n + i] as f64 / 1e4);
                [b[0], b[1], b[2], b[3], (b[3] - b[2]) / (b[3] + b[2] + 1e-6)]
            };
            let (mut sum, mut sq, mut cnt) = ([[0f64; 5]; 5], [[0f64; 5]; 5], [0f64; 5]);
            for i in (0..n).filter(|&i| train_px(i) && q[i] != 2 && labels[i] < 5) {
                let (k, f) = (labels[i] as usize, feat(i));
                cnt[k] += 1.0;
                for j in 0..5 {
                    sum[k][j] += f[j];
                    sq[k][j] += f[j] * f[j];
                }
            }
            let total: f64 = cnt.iter().sum();
            let (mut hit, mut tot) = (0usize, 0usize);
            for i in (0..n).filter(|&i| !train_px(i) && q[i] != 2) {
                let f = feat(i);
                let best = (0..5)
                    .filter(|&k| cnt[k] > 1.0)
                    .map(|k| {
                        let mut ll = (cnt[k] / total).ln();
                        for j in 0..5 {
                            let m = sum[k][j] / cnt[k];
                            let v = (sq[k][j] / cnt[k] - m * m).max(1e-6);
                            ll -= 0.5 * ((f[j] - m) * (f[j] - m) / v + v.ln());
                        }
                        (k, ll)
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(0, |(k, _)| k);
                votes[i][best] += 1;
                hit += (best as u8 == truth[i]) as usize;
                tot += 1;
            }
            accs.push(hit as f64 / tot as f64);
        }
        let (mut hit, mut tot) = (0usize, 0usize);
        for i in (0..n).filter(|&i| !train_px(i)) {
            let v = &votes[i];
            if v.iter().sum::<u32>() == 0 {
                continue;
            }
            let best = (0..5)
                .max_by_key(|&k| (v[k], std::cmp::Reverse(k)))
                .unwrap_or(0);
            hit += (best as u8 == truth[i]) as usize;
            tot += 1;
        }
        let vote = hit as f64 / tot as f64;
        let mean = accs.iter().sum::<f64>() / accs.len() as f64;
        let worst = accs.iter().copied().fold(1.0, f64::min);
        println!("dates {year:?}: single-date accuracies {accs:.3?}, vote {vote:.3}");
        assert!(
            vote > mean + 0.02,
            "vote {vote} vs mean single date {mean} ({accs:?})"
        );
        assert!(
            worst < vote - 0.05,
            "some date must be clearly harder: {accs:?} vs {vote}"
        );
    }
}

#[test]
fn the_testkit_world_is_tiny_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let m = chronomap_data::testkit::tiny_world(dir.path(), 3).unwrap();
    let series = SceneSeries::open(&m).unwrap();
    assert_eq!((series.width(), series.height(), series.len()), (64, 64, 6));
    assert_eq!(series.years(), [2016, 2020]);
    assert!(series.has_ground_truth());
    assert_eq!(series.classes().len(), 5);
    let labels = series.read_labels(0, Window::full(64, 64)).unwrap();
    assert!(labels.iter().all(|&l| l < 5));
}
