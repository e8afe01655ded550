//! Satellite products as providers deliver them, read into a [`Manifest`](crate::Manifest) without any
//! preprocessing: Landsat Collection 2 Level-2 scenes ([`landsat`]) and STAC Items with local
//! assets ([`stac`]).
//!
//! A product reader finds the bands, the quality mask and the radiometric factors in the
//! product's own metadata and writes them into manifest entries (paths relative to the
//! manifest's folder when they can be), so that the series opens, trains and predicts like
//! any other; [`SceneSeries`](crate::SceneSeries) places scenes of one tile whose extents
//! differ on the first scene's pixel grid.

pub mod landsat;

pub use landsat::{LandsatOptions, LandsatScene, landsat_manifest};
pub mod stac;

pub use stac::{is_stac, stac_manifest};
