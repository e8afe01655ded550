//! `chronomap`: land-cover maps from satellite image time series, from the command line.
//!
//! Every subcommand is a thin wrapper over the library crates; `chronomap <cmd> --help`
//! documents its options.

mod bench;
mod change;
mod evaluate;
mod info;
mod mosaic;
mod predict;
mod rasterize;
mod series;
mod synth;
mod train;
mod update;

use clap::{Parser, Subcommand};

/// Land-cover maps from satellite image time series (U-Net + ConvLSTM, pure Rust).
#[derive(Parser, Debug)]
#[command(name = "chronomap", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Describe a GeoTIFF or JPEG 2000 raster (size, bands, type, georeferencing, nodata,
    /// per-band statistics), or a Sentinel-2 product (.SAFE, .zip, MTD xml).
    Info(info::Args),
    /// Burn OSM (.osm, .osm.pbf) or GeoJSON vectors into a u8 label GeoTIFF on a reference grid.
    Rasterize(rasterize::Args),
    /// Sentinel-2 products (.SAFE, .zip), Landsat Collection 2 Level-2 scenes or STAC items
    /// as downloaded -> a series manifest (no GDAL step).
    Series(series::Args),
    /// Write the synthetic Saint-Louis world (GeoTIFF series, cloud masks, OSM, manifest).
    Synth(synth::Args),
    /// Train the spatio-temporal network on a scene series or a collection of series.
    Train(Box<train::Args>),
    /// Predict per-date and fused land-cover maps of a scene series or of every series of a
    /// collection (shardable over an array job).
    Predict(predict::Args),
    /// Update a scene's map from one new acquisition, using the stored ConvLSTM state.
    Update(update::Args),
    /// Compare a class map with a label raster (IoU, mIoU, F1, OA, kappa, confusion matrix),
    /// or score a collection's maps per series, pooled and by date position.
    Evaluate(evaluate::Args),
    /// Change map between two class maps: from->to classes, PNG and areas in hectares.
    Change(change::Args),
    /// Time the network (eval forward, training step) and scene inference.
    Bench(bench::Args),
    /// One GDAL VRT over per-scene maps of one CRS (opens in gdalinfo, gdal_translate, QGIS).
    Mosaic(mosaic::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Rasterize(a) => rasterize::run(a),
        Command::Series(a) => series::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Train(a) => train::run(*a),
        Command::Predict(a) => predict::run(a),
        Command::Update(a) => update::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Change(a) => change::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Mosaic(a) => mosaic::run(a),
    }
}
