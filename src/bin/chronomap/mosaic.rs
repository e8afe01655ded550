//! `chronomap mosaic`: one GDAL VRT over per-scene maps of one CRS (nothing copied), and
//! optionally the same mosaic as one Cloud-Optimized GeoTIFF.

use std::path::PathBuf;

use anyhow::Context;
use chronomap::geo::{OverviewResampling, write_cog_mosaic, write_vrt_mosaic};

/// Overview resampling of `--cog` (`auto`: mode for class maps with a colour table,
/// average for floats, nearest otherwise).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resampling {
    /// Mode for paletted class maps, average for floats, nearest otherwise.
    #[default]
    Auto,
    /// Nearest neighbour (GDAL `NEAREST`).
    Nearest,
    /// Most frequent value, nodata excluded (GDAL `MODE`).
    Mode,
    /// Area-weighted mean, nodata excluded (GDAL `AVERAGE`).
    Average,
}

impl Resampling {
    fn overview(self) -> Option<OverviewResampling> {
        match self {
            Resampling::Auto => None,
            Resampling::Nearest => Some(OverviewResampling::Nearest),
            Resampling::Mode => Some(OverviewResampling::Mode),
            Resampling::Average => Some(OverviewResampling::Average),
        }
    }
}

/// Options of `chronomap mosaic`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The inputs must share CRS, pixel size, bands and type, on one pixel \
    lattice; where they overlap, later inputs win except where they hold nodata.\n\nExample:\n  \
    chronomap mosaic maps/*/2020-03-05_fused.tif --out mosaic_2020-03-05.vrt \
    --cog mosaic_2020-03-05.tif"
)]
pub struct Args {
    /// GeoTIFFs to mosaic (class or probability maps of several scenes).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The VRT to write (paths in it are relative to its folder where they can be).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the mosaic as one Cloud-Optimized GeoTIFF (tiled, Deflate, internal
    /// overviews; the first input's colour table and class names kept).
    #[arg(long, value_name = "OUT.tif")]
    pub cog: Option<PathBuf>,
    /// How the overviews of `--cog` are computed.
    #[arg(long, value_enum, default_value_t = Resampling::Auto, requires = "cog")]
    pub cog_resampling: Resampling,
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
    if let Some(cog) = &args.cog {
        write_cog_mosaic(&args.inputs, cog, args.cog_resampling.overview())
            .with_context(|| format!("writing the mosaic COG {}", cog.display()))?;
        println!(
            "{}: Cloud-Optimized GeoTIFF of the same mosaic",
            cog.display()
        );
    }
    Ok(())
}
