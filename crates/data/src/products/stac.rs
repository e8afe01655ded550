//! STAC Items and ItemCollections (what earth-search and Planetary Computer return) whose
//! assets are local GeoTIFFs / COGs -> a series manifest.
//!
//! - Bands are chosen by asset key or by `eo:bands` common name (`blue`, `nir08`, ...);
//!   `nir`, `swir1`, `swir2` fall back to STAC's `nir08`, `swir16`, `swir22` (Landsat items).
//! - The mask is the `scl` asset (Sentinel-2 L2A, invalid classes 0, 1, 3, 8, 9, 10) or the
//!   `qa_pixel` asset (Landsat Collection 2, bits 0-5), when present; a 20 m SCL on 10 m bands
//!   is read by nearest neighbour and 20 m bands bilinearly (see `docs/data-format.md`).
//! - `raster:bands` `scale` / `offset` / `nodata` become the date's `scale`, `add_offset` and
//!   the series' nodata.
//! - Items of several tiles (`s2:mgrs_tile`, `mgrs:*`, `landsat:wrs_path`/`row`) are refused
//!   as one series.
//! - `href`s are paths (relative to the JSON file), `file://` URLs, or `http://` /
//!   `https://` URLs (public COGs such as earth-search's `sentinel-cogs` bucket, presigned
//!   URLs): those stay URLs in the manifest, are not checked when it is built, and are read
//!   with HTTP range requests (only the header and the tiles a window touches; timeouts,
//!   retries and errors in `chronomap_geo::http`). `s3://` hrefs are refused: use the
//!   bucket's `https://` endpoint (`https://BUCKET.s3.REGION.amazonaws.com/KEY`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::date::Date;
use crate::error::{Error, ProductProblem, Result};
use crate::manifest::{DateEntry, MANIFEST_VERSION, Manifest, MaskEntry};

use super::{bad, one_tile, sort_by_unique_date};

/// Sentinel-2 SCL classes that are not clear ground (no data, saturated, cloud shadow,
/// cloud medium / high probability, thin cirrus).
pub const SCL_INVALID: [u32; 6] = [0, 1, 3, 8, 9, 10];

fn key(path: &Path, k: &str) -> Error {
    bad(
        path,
        ProductProblem::Key {
            group: "STAC",
            key: k.to_string(),
        },
    )
}

/// Whether `path` is a STAC Item or ItemCollection JSON (by content).
pub fn is_stac(path: &Path) -> bool {
    if !path.is_file() || std::fs::metadata(path).map_or(true, |m| m.len() > 256 << 20) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return false;
    };
    matches!(
        v.get("type").and_then(Value::as_str),
        Some("Feature" | "FeatureCollection")
    ) && (v.get("stac_version").is_some()
        || v["features"]
            .as_array()
            .is_some_and(|f| f.iter().any(|i| i.get("stac_version").is_some())))
}

/// The Items of a STAC Item or ItemCollection file.
fn items(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        bad(
            path,
            ProductProblem::Metadata {
                detail: e.to_string(),
            },
        )
    })?;
    match v.get("type").and_then(Value::as_str) {
        Some("Feature") => Ok(vec![v]),
        Some("FeatureCollection") => Ok(v["features"].as_array().cloned().unwrap_or_default()),
        _ => Err(bad(
            path,
            ProductProblem::Metadata {
                detail: "not a STAC Item or ItemCollection (no \"type\": \"Feature\" / \"FeatureCollection\")".into(),
            },
        )),
    }
}

/// The tile an Item belongs to, for grouping.
fn tile_of(item: &Value) -> String {
    let p = &item["properties"];
    if let Some(t) = p["s2:mgrs_tile"].as_str() {
        return format!("MGRS {t}");
    }
    if let (Some(z), Some(b), Some(s)) = (
        p["mgrs:utm_zone"].as_u64(),
        p["mgrs:latitude_band"].as_str(),
        p["mgrs:grid_square"].as_str(),
    ) {
        return format!("MGRS {z:02}{b}{s}");
    }
    let num = |v: &Value| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    if let (Some(a), Some(b)) = (num(&p["landsat:wrs_path"]), num(&p["landsat:wrs_row"])) {
        return format!("WRS-2 {a:03}/{b:03}");
    }
    "(no tile id)".to_string()
}

/// The asset of `item` for `band`: the asset keyed `band`, else the one whose `eo:bands`
/// common name is `band`.
fn asset<'a>(item: &'a Value, band: &str) -> Option<&'a Value> {
    let assets = item["assets"].as_object()?;
    let find = |band: &str| {
        assets.get(band).or_else(|| {
            assets.values().find(|a| {
                a["eo:bands"]
                    .as_array()
                    .is_some_and(|b| b.iter().any(|e| e["common_name"].as_str() == Some(band)))
            })
        })
    };
    // chronomap's Landsat names, and STAC's for the same bands
    let alias = match band {
        "nir" => Some("nir08"),
        "swir1" => Some("swir16"),
        "swir2" => Some("swir22"),
        _ => None,
    };
    find(band).or_else(|| alias.and_then(find))
}

/// The path for an asset `href` of the Item file `json`: a local file (checked to exist), or
/// an `http(s)://` URL as it is (not checked: reading it tells).
fn local(json: &Path, href: &str) -> Result<PathBuf> {
    if chronomap_geo::is_url(Path::new(href)) {
        return Ok(PathBuf::from(href));
    }
    if href.starts_with("s3://") {
        return Err(bad(
            json,
            ProductProblem::Unsupported {
                what: format!(
                    "asset {href} is an s3:// URL, which chronomap does not read: use the bucket's https:// endpoint (https://BUCKET.s3.REGION.amazonaws.com/KEY) or a presigned URL in the href"
                ),
            },
        ));
    }
    let p = PathBuf::from(href.strip_prefix("file://").unwrap_or(href));
    let p = if p.is_absolute() {
        p
    } else {
        json.parent().unwrap_or(Path::new("")).join(p)
    };
    if !chronomap_geo::archive::path_exists(&p) {
        return Err(bad(json, ProductProblem::MissingFile { file: p }));
    }
    Ok(p)
}

/// The manifest of the series that STAC Item / ItemCollection files `sources` describe,
/// with `bands` (asset keys or common names) in channel order and paths as seen from
/// `manifest_dir`.
///
/// # Errors
/// [`Error::Product`]: unreadable JSON, an Item without `datetime`, a band no asset provides
/// ([`ProductProblem::UnknownBand`]), a missing local asset file or an `s3://` href, Items of several
/// tiles ([`ProductProblem::MixedTiles`]) or of one date ([`ProductProblem::DuplicateDate`]),
/// bands with different scale/offset ([`ProductProblem::MixedScale`]).
pub fn stac_manifest(
    sources: &[PathBuf],
    bands: &[String],
    manifest_dir: &Path,
) -> Result<Manifest> {
    let mut found: Vec<(PathBuf, Value)> = Vec::new();
    for s in sources {
        for it in items(s)? {
            found.push((s.clone(), it));
        }
    }
    let first = sources.first().cloned().unwrap_or_default();
    if found.is_empty() {
        return Err(bad(&first, ProductProblem::NoStacItem));
    }
    let tile = one_tile(
        &first,
        &found,
        |(_, it)| tile_of(it),
        |t, n| format!("{t}: {n} item(s)"),
    )?;
    let mut dated = Vec::new();
    for (json, it) in found {
        let dt = it["properties"]["datetime"]
            .as_str()
            .ok_or_else(|| key(&json, "properties.datetime"))?;
        let date = Date::parse(dt.get(..10).unwrap_or(dt))
            .ok_or_else(|| key(&json, "properties.datetime"))?;
        dated.push((date, json, it));
    }
    sort_by_unique_date(&mut dated, |d| d.0, |d| &d.1)?;
    let rel = |p: &Path| super::manifest_path(manifest_dir, p);
    let mut nodata = None;
    let mut dates = Vec::new();
    for (date, json, it) in &dated {
        let id = it["id"].as_str().unwrap_or("?").to_string();
        let mut files = BTreeMap::new();
        let mut factors: Option<(f64, f64)> = None;
        for b in bands {
            let a = asset(it, b).ok_or_else(|| {
                bad(
                    json,
                    ProductProblem::UnknownBand {
                        band: b.clone(),
                        spacecraft: format!("STAC item {id}"),
                        available: it["assets"]
                            .as_object()
                            .map(|m| m.keys().cloned().collect())
                            .unwrap_or_default(),
                    },
                )
            })?;
            let href = a["href"]
                .as_str()
                .ok_or_else(|| key(json, &format!("assets.{b}.href")))?;
            files.insert(b.clone(), rel(&local(json, href)?));
            let rb = &a["raster:bands"][0];
            let f = (
                rb["scale"].as_f64().unwrap_or(1.0),
                rb["offset"].as_f64().unwrap_or(0.0),
            );
            if nodata.is_none() {
                nodata = rb["nodata"].as_f64();
            }
            match factors {
                None => factors = Some(f),
                Some(p) if p == f => {}
                Some(p) => {
                    return Err(bad(
                        json,
                        ProductProblem::MixedScale {
                            detail: format!("{p:?} and {f:?} for {b} in item {id}"),
                        },
                    ));
                }
            }
        }
        let (scale, offset) = factors.unwrap_or((1.0, 0.0));
        let assets = it["assets"].as_object();
        let mask = if let Some(a) = assets.and_then(|m| m.get("scl")) {
            let href = a["href"]
                .as_str()
                .ok_or_else(|| key(json, "assets.scl.href"))?;
            Some(MaskEntry::Values {
                path: rel(&local(json, href)?),
                invalid: Some(SCL_INVALID.to_vec()),
                valid: None,
                bits: None,
            })
        } else if let Some(a) = assets.and_then(|m| m.get("qa_pixel")) {
            let href = a["href"]
                .as_str()
                .ok_or_else(|| key(json, "assets.qa_pixel.href"))?;
            Some(MaskEntry::Values {
                path: rel(&local(json, href)?),
                invalid: None,
                valid: None,
                bits: Some(super::landsat::QA_PIXEL_DEFAULT_BITS.to_vec()),
            })
        } else {
            None
        };
        dates.push(DateEntry {
            date: date.to_string(),
            image: None,
            bands: Some(files),
            mask,
            labels: None,
            add_offset: (offset != 0.0).then_some(offset),
            scale: (scale != 1.0).then_some(scale),
            meta: Some(json!({
                "stac_item": id,
                "stac_file": json,
                "cloud_cover": it["properties"]["eo:cloud_cover"],
                "platform": it["properties"]["platform"],
            })),
        });
    }
    Ok(Manifest {
        version: MANIFEST_VERSION,
        bands: bands.to_vec(),
        nodata: nodata.or(Some(0.0)),
        classes: Vec::new(),
        dates,
        labels: Vec::new(),
        ground_truth: Vec::new(),
        meta: Some(json!({ "source": "STAC", "tile": tile })),
    })
}
