//! Satellite products as providers deliver them, read into a [`Manifest`](crate::Manifest) without any
//! preprocessing: Landsat Collection 2 Level-2 scenes ([`landsat`]), Sentinel-2 L1C / L2A
//! products as `.SAFE` folders or zips ([`sentinel2`]) and STAC Items with local assets
//! ([`stac`]).
//!
//! A product reader finds the bands, the quality mask and the radiometric factors in the
//! product's own metadata and writes them into manifest entries (paths relative to the
//! manifest's folder when they can be), so that the series opens, trains and predicts like
//! any other; [`SceneSeries`](crate::SceneSeries) places scenes of one tile whose extents
//! differ on the first scene's pixel grid.

pub mod landsat;

pub use landsat::{LandsatOptions, LandsatScene, landsat_manifest};
pub mod sentinel2;

pub use sentinel2::{
    Sentinel2Level, Sentinel2Options, Sentinel2Product, is_sentinel2_product, is_sentinel2_zip,
    sentinel2_manifest,
};
pub mod stac;

pub use stac::{is_stac, stac_manifest};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::date::Date;
use crate::error::{Error, ProductProblem, Result};

/// A path as a manifest in `dir` should hold it: relative when under `dir`, else absolute;
/// `/vsitar/` and `/vsizip/` paths as they are (already absolute, and `std::path::absolute`
/// would fold their `//`); URLs (`http(s)://`, see [`chronomap_geo::is_url`]) as they are.
/// Also what `chronomap series --labels` uses.
pub fn manifest_path(dir: &Path, p: &Path) -> PathBuf {
    if chronomap_geo::archive::is_archive_path(p) || chronomap_geo::is_url(p) {
        return p.to_path_buf();
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (d, p) = (abs(dir), abs(p));
    p.strip_prefix(&d).map(Path::to_path_buf).unwrap_or(p)
}

/// A product error naming `path`.
pub(crate) fn bad(path: &Path, problem: ProductProblem) -> Error {
    Error::Product {
        path: path.to_path_buf(),
        problem,
    }
}

/// The one tile of `items` (`None` for no items); refuses products of several tiles
/// ([`ProductProblem::MixedTiles`], naming `source`): `tile` gives a product's tile,
/// `describe` a line per tile from its name and count (`"WRS-2 205/049: 3 scene(s)"`).
pub(crate) fn one_tile<T>(
    source: &Path,
    items: &[T],
    tile: impl Fn(&T) -> String,
    describe: impl Fn(&str, usize) -> String,
) -> Result<Option<String>> {
    let mut tiles: BTreeMap<String, usize> = BTreeMap::new();
    for it in items {
        *tiles.entry(tile(it)).or_default() += 1;
    }
    if tiles.len() > 1 {
        return Err(bad(
            source,
            ProductProblem::MixedTiles {
                tiles: tiles.iter().map(|(t, n)| describe(t, *n)).collect(),
            },
        ));
    }
    Ok(tiles.into_keys().next())
}

/// Sorts products by date and refuses two of one date ([`ProductProblem::DuplicateDate`],
/// naming the second product's `path` and the first's).
pub(crate) fn sort_by_unique_date<T>(
    items: &mut [T],
    date: impl Fn(&T) -> Date,
    path: impl Fn(&T) -> &Path,
) -> Result<()> {
    items.sort_by_key(&date);
    for pair in items.windows(2) {
        if date(&pair[0]) == date(&pair[1]) {
            return Err(bad(
                path(&pair[1]),
                ProductProblem::DuplicateDate {
                    date: date(&pair[1]).to_string(),
                    other: path(&pair[0]).to_path_buf(),
                },
            ));
        }
    }
    Ok(())
}

/// The files of the `chosen` bands (by common name) among a product's `files`, as a manifest
/// in `manifest_dir` names them; `unknown` gives the error for a band the product lacks.
pub(crate) fn band_files(
    chosen: &[String],
    files: &BTreeMap<String, PathBuf>,
    manifest_dir: &Path,
    unknown: impl Fn(&str) -> Error,
) -> Result<BTreeMap<String, PathBuf>> {
    chosen
        .iter()
        .map(|b| {
            let f = files.get(b).ok_or_else(|| unknown(b))?;
            Ok((b.clone(), manifest_path(manifest_dir, f)))
        })
        .collect()
}
