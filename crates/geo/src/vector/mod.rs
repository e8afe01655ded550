//! Vector labels: OpenStreetMap XML (`.osm`) and PBF (`.osm.pbf`), GeoJSON
//! FeatureCollections, read into [`Feature`]s with tags.

mod feature;
mod geojson_file;
mod osm_model;
mod osm_pbf;
mod osm_xml;
mod read;

pub use feature::{Feature, FeatureId, Geometry, Ring, Skipped, Tags, Trimmed, VectorData};
pub use geojson_file::{parse_geojson, read_geojson};
pub use osm_pbf::read_osm_pbf;
pub use osm_xml::{parse_osm_xml, read_osm_xml};
pub use read::{ReadOptions, TagFilter, VectorFormat, read_vector};
