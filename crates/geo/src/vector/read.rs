//! Reading any supported vector file by its extension.

use std::path::Path;
use std::sync::Arc;

use super::feature::{Tags, VectorData};
use crate::error::{Error, Result};

/// A tag filter: `true` keeps the element.
pub type TagFilter = Arc<dyn Fn(&Tags) -> bool + Send + Sync>;

/// How to read vector files.
#[derive(Clone, Default)]
pub struct ReadOptions {
    /// Fail on the first missing node/way or unclosed ring. Off by default: extracts cut at
    /// a boundary legitimately hold incomplete features, which are then read as GDAL's OSM
    /// driver reads them: missing nodes left out (recorded in [`VectorData::trimmed`]),
    /// features with too few nodes left, missing member ways or unclosed rings skipped
    /// (recorded in [`VectorData::skipped`]).
    pub strict: bool,
    /// Keep only OSM elements whose tags pass this filter (untagged elements are never
    /// features). Lets big PBF extracts be read in little memory, e.g. with
    /// [`ClassTable::matches`](crate::ClassTable::matches). `None` keeps every tagged element.
    pub keep: Option<TagFilter>,
}

impl std::fmt::Debug for ReadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("strict", &self.strict)
            .field("keep", &self.keep.as_ref().map(|_| "<filter>"))
            .finish()
    }
}

/// A vector file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    /// OSM XML (`.osm`, `.osm.xml`, `.xml`).
    OsmXml,
    /// OSM PBF (`.pbf`, `.osm.pbf`).
    OsmPbf,
    /// GeoJSON (`.geojson`, `.json`).
    GeoJson,
}

impl VectorFormat {
    /// The format of a path, from its extension (case-insensitive).
    pub fn of(path: &Path) -> Option<VectorFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "osm" | "xml" => Some(VectorFormat::OsmXml),
            "pbf" => Some(VectorFormat::OsmPbf),
            "geojson" | "json" => Some(VectorFormat::GeoJson),
            _ => None,
        }
    }
}

/// Reads an OSM XML, OSM PBF or GeoJSON file, chosen by extension.
///
/// # Errors
/// [`Error::UnknownVectorFormat`] for other extensions; otherwise as
/// [`read_osm_xml`](super::read_osm_xml), [`read_osm_pbf`](super::read_osm_pbf) and
/// [`read_geojson`](super::read_geojson).
pub fn read_vector(path: impl AsRef<Path>, options: &ReadOptions) -> Result<VectorData> {
    let path = path.as_ref();
    match VectorFormat::of(path) {
        Some(VectorFormat::OsmXml) => super::read_osm_xml(path, options),
        Some(VectorFormat::OsmPbf) => super::read_osm_pbf(path, options),
        Some(VectorFormat::GeoJson) => super::read_geojson(path, options),
        None => Err(Error::UnknownVectorFormat {
            path: path.to_path_buf(),
        }),
    }
}
