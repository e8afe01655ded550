//! The synthetic Saint-Louis world: a procedural landscape and a per-date radiometric model,
//! written as real files (GeoTIFF series, cloud masks, OSM XML, rasterized labels, manifest).

mod landscape;
mod math;
mod osm;
mod radiometry;
mod raster;
mod world;

pub use world::{
    SYNTH_BANDS, SYNTH_CENTRE, SYNTH_CITIES, SYNTH_CLASSES, SYNTH_EPSG, SynthConfig, SynthDate,
    SynthSite, SynthSummary, SynthYear, synth_cities, synth_class_table, write_collection,
    write_world,
};
