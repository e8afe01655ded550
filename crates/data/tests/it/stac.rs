//! STAC ItemCollections with local COG assets, shaped as earth-search's `sentinel-2-l2a`
//! items (10 m bands, 20 m `swir16` and `scl`, `raster:bands` scale/offset/nodata), and with
//! `http://` assets served by a local test server (`http_server.rs`).

use std::path::Path;

use chronomap_data::products::{is_stac, stac_manifest};
use chronomap_data::{Error, ProductProblem, QUALITY_CLEAR, QUALITY_MASKED, SceneSeries};
use chronomap_geo::{GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff};
use serde_json::json;

const X0: f64 = 399_960.0;
const Y0: f64 = 1_800_000.0;

fn cog(dir: &Path, name: &str, size: usize, px: f64, data: RasterData<'_>, st: SampleType) {
    let spec = RasterSpec::new(size, size, 1, st)
        .with_geotransform(GeoTransform::north_up(X0, Y0, px))
        .with_epsg(32628)
        .with_nodata(0.0)
        .with_tile_size(16);
    write_geotiff(dir.join(name), &spec, data).unwrap();
}

/// Writes one item's assets and returns the Item JSON (hrefs relative to `dir`).
fn item(dir: &Path, day: &str, tile: &str, href_prefix: &str) -> serde_json::Value {
    let mut assets = serde_json::Map::new();
    let raster = json!([{ "nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1 }]);
    for (k, (key, common)) in [
        ("blue", "blue"),
        ("green", "green"),
        ("red", "red"),
        ("nir", "nir"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("{day}_{key}.tif");
        let v: Vec<u16> = (0..32 * 32)
            .map(|i| 1000 + 100 * k as u16 + i as u16)
            .collect();
        cog(dir, &name, 32, 10.0, RasterData::U16(&v), SampleType::U16);
        assets.insert(
            key.to_string(),
            json!({ "href": format!("{href_prefix}{name}"), "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "eo:bands": [{ "name": key, "common_name": common }], "raster:bands": raster }),
        );
    }
    let name = format!("{day}_swir16.tif");
    let v: Vec<u16> = (0..16 * 16).map(|i| 3000 + 10 * i as u16).collect();
    cog(dir, &name, 16, 20.0, RasterData::U16(&v), SampleType::U16);
    assets.insert(
        "swir16".into(),
        json!({ "href": format!("{href_prefix}{name}"), "eo:bands": [{ "name": "swir16", "common_name": "swir16" }], "raster:bands": raster }),
    );
    // SCL: cloud (9) in the top-left 20 m pixel, vegetation (4) elsewhere
    let name = format!("{day}_scl.tif");
    let scl: Vec<u8> = (0..256).map(|i| if i == 0 { 9 } else { 4 }).collect();
    cog(dir, &name, 16, 20.0, RasterData::U8(&scl), SampleType::U8);
    assets.insert("scl".into(), json!({ "href": format!("{href_prefix}{name}"), "raster:bands": [{ "nodata": 0, "data_type": "uint8" }] }));
    json!({
        "type": "Feature", "stac_version": "1.0.0", "id": format!("S2B_{tile}_{day}_0_L2A"),
        "properties": { "datetime": format!("{day}T11:25:04.123Z"), "platform": "sentinel-2b",
                        "eo:cloud_cover": 3.2, "s2:mgrs_tile": tile, "proj:epsg": 32628 },
        "geometry": null, "assets": assets
    })
}

#[test]
fn stac_sentinel2_items_make_a_series_without_gdal() {
    let dir = tempfile::tempdir().unwrap();
    let items = vec![
        item(dir.path(), "2020-01-15", "28QCD", ""),
        item(dir.path(), "2020-02-04", "28QCD", "./"),
    ];
    let coll = dir.path().join("search.json");
    let fc = json!({ "type": "FeatureCollection", "features": items });
    std::fs::write(&coll, serde_json::to_string_pretty(&fc).unwrap()).unwrap();
    assert!(is_stac(&coll));
    let bands: Vec<String> = ["blue", "green", "red", "nir", "swir16"]
        .map(String::from)
        .to_vec();
    let m = stac_manifest(std::slice::from_ref(&coll), &bands, dir.path()).unwrap();
    assert_eq!(m.dates.len(), 2);
    assert_eq!(m.dates[0].scale, Some(0.0001));
    assert_eq!(m.dates[0].add_offset, Some(-0.1));
    let path = dir.path().join("manifest.json");
    m.save(&path).unwrap();
    let series = SceneSeries::open(&path).unwrap();
    assert_eq!((series.width(), series.height()), (32, 32));
    let (img, q) = series.read_date(1, Window::full(32, 32)).unwrap();
    let plane = 32 * 32;
    // red (band 2): DN 1200 + i -> (DN) * 1e-4 - 0.1
    for i in [5usize, 100, 1023] {
        let want = (1200.0 + i as f64) * 1e-4 - 0.1;
        assert!((img[2 * plane + i] as f64 - want).abs() < 1e-6);
    }
    // SCL 9 in the top-left 20 m pixel masks the 2 x 2 10 m pixels under it
    for (i, want) in [
        (0, QUALITY_MASKED),
        (1, QUALITY_MASKED),
        (32, QUALITY_MASKED),
        (33, QUALITY_MASKED),
        (2, QUALITY_CLEAR),
        (64, QUALITY_CLEAR),
    ] {
        assert_eq!(q[i], want, "pixel {i}");
    }
    // swir16 at 20 m, bilinear: series pixel (3, 3) has its centre at 20 m (1.25, 1.25):
    // weights 0.5625, 0.1875, 0.1875, 0.0625 on (1, 1), (1, 2), (2, 1), (2, 2)
    let s = |r: usize, c: usize| 3000.0 + 10.0 * (r * 16 + c) as f64;
    let raw = 0.5625 * s(1, 1) + 0.1875 * (s(1, 2) + s(2, 1)) + 0.0625 * s(2, 2);
    let want = raw * 1e-4 - 0.1;
    assert!(
        (img[4 * plane + 3 * 32 + 3] as f64 - want).abs() < 1e-5,
        "{} vs {want}",
        img[4 * plane + 99]
    );

    // s3:// assets, a band no asset provides, items of two tiles
    let mut remote = item(dir.path(), "2020-03-01", "28QCD", "");
    remote["assets"]["red"]["href"] = json!("s3://sentinel-cogs/x/B04.tif");
    let r = dir.path().join("remote.json");
    std::fs::write(&r, remote.to_string()).unwrap();
    let e = stac_manifest(std::slice::from_ref(&r), &bands, dir.path()).unwrap_err();
    assert!(
        e.to_string().contains("s3://sentinel-cogs") && e.to_string().contains("https://"),
        "{e}"
    );
    let e = stac_manifest(
        std::slice::from_ref(&coll),
        &["rededge9".to_string()],
        dir.path(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Product { problem: ProductProblem::UnknownBand { band, .. }, .. } if band == "rededge9"),
        "{e:?}"
    );
    let other = dir.path().join("other.json");
    std::fs::write(
        &other,
        item(dir.path(), "2020-03-05", "28QDD", "").to_string(),
    )
    .unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"type": "FeatureCollection", "features": []}"#).unwrap();
    let e = stac_manifest(std::slice::from_ref(&empty), &bands, dir.path()).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Product {
                problem: ProductProblem::NoStacItem,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("empty.json") && e.to_string().contains("STAC"),
        "{e}"
    );
    let e = stac_manifest(&[coll, other], &bands, dir.path()).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Product {
                problem: ProductProblem::MixedTiles { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

/// Items whose asset hrefs are `http://127.0.0.1:PORT/...` URLs make a manifest that keeps
/// the URLs (not joined to its folder, not checked on disk) and a series that reads the
/// same pixels, masks included, as the one of the same items with local hrefs.
#[test]
fn stac_items_with_http_assets_read_like_local_ones() {
    use crate::http_server::{Mode, Server};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Mode::Normal);
    let prefix = server.url("");
    let days = ["2020-01-15", "2020-02-04"];
    let write = |name: &str, prefix: &str| {
        let items: Vec<_> = days
            .iter()
            .map(|d| item(dir.path(), d, "28QCD", prefix))
            .collect();
        let p = dir.path().join(name);
        let fc = json!({ "type": "FeatureCollection", "features": items });
        std::fs::write(&p, fc.to_string()).unwrap();
        p
    };
    let local_json = write("local.json", "");
    let remote_json = write("remote.json", &prefix);
    let bands: Vec<String> = ["blue", "red", "nir", "swir16"].map(String::from).to_vec();
    // the remote manifest lives in another folder: a URL must not be joined to it
    let elsewhere = tempfile::tempdir().unwrap();
    let m = stac_manifest(std::slice::from_ref(&remote_json), &bands, elsewhere.path()).unwrap();
    let red = &m.dates[0].bands.as_ref().unwrap()["red"];
    assert_eq!(red.to_str().unwrap(), format!("{prefix}2020-01-15_red.tif"));
    let mask = m.dates[1].mask.as_ref().unwrap().path();
    assert_eq!(
        mask.to_str().unwrap(),
        format!("{prefix}2020-02-04_scl.tif")
    );
    let remote_manifest = elsewhere.path().join("manifest.json");
    m.save(&remote_manifest).unwrap();
    let local_manifest = dir.path().join("manifest.json");
    stac_manifest(std::slice::from_ref(&local_json), &bands, dir.path())
        .unwrap()
        .save(&local_manifest)
        .unwrap();
    let local = SceneSeries::open(&local_manifest).unwrap();
    let remote = SceneSeries::open(&remote_manifest).unwrap();
    assert_eq!(remote.len(), 2);
    assert_eq!(
        (remote.width(), remote.height()),
        (local.width(), local.height())
    );
    for date in 0..2 {
        for w in [Window::full(32, 32), Window::new(3, 5, 20, 17)] {
            assert_eq!(
                remote.read_date(date, w).unwrap(),
                local.read_date(date, w).unwrap(),
                "date {date}, window {w:?}"
            );
        }
    }
    assert!(server.requests() > 0);
}
