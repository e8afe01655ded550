//! `chronomap mosaic`: one GDAL VRT over per-scene maps of one CRS (nothing copied).

use std::path::PathBuf;

use anyhow::Context;
use chronomap::geo::write_vrt_mosaic;

/// Options of `chronomap mosaic`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The inputs must share CRS, pixel size, bands and type, on one pixel \
    lattice; where they overlap, later inputs win except where they hold nodata.\n\nExample:\n  \
    chronomap mosaic maps/*/2020-03-05_fused.tif --out mosaic_2020-03-05.vrt\n  \
    gdal_translate -of COG mosaic_2020-03-05.vrt mosaic_2020-03-05.tif"
)]
pub struct Args {
    /// GeoTIFFs to mosaic (class or probability maps of several scenes).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The VRT to write (paths in it are relative to its folder where they can be).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `chronomap mosaic`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let s = write_vrt_mosaic(&args.inputs, &args.out)
        .with_context(|| format!("writing the mosaic {}", args.out.display()))?;
    println!(
        "{}: {} x {} px, {} band(s), EPSG:{}, origin ({}, {}), pixel {} m, over {} rasters",
        args.out.display(),
        s.width,
        s.height,
        s.bands,
        s.epsg.map_or("?".into(), |e| e.to_string()),
        s.geotransform[0],
        s.geotransform[3],
        s.geotransform[1],
        args.inputs.len()
    );
    Ok(())
}
