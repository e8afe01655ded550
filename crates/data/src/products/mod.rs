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

pub use sentinel2::{Sentinel2Level, Sentinel2Options, Sentinel2Product, sentinel2_manifest};
pub mod stac;

pub use stac::{is_stac, stac_manifest};

use std::path::{Path, PathBuf};

/// A path as a manifest in `dir` should hold it: relative when under `dir`, else absolute;
/// `/vsitar/` and `/vsizip/` paths as they are (already absolute, and `std::path::absolute`
/// would fold their `//`). Also what `chronomap series --labels` uses.
pub fn manifest_path(dir: &Path, p: &Path) -> PathBuf {
    if chronomap_geo::archive::is_archive_path(p) {
        return p.to_path_buf();
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (d, p) = (abs(dir), abs(p));
    p.strip_prefix(&d).map(Path::to_path_buf).unwrap_or(p)
}
