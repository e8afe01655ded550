//! `chronomap synth`: write the synthetic Saint-Louis world (GeoTIFF series, cloud masks, OSM
//! extracts, rasterized labels, ground truth, manifest).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chronomap::data::{SYNTH_CLASSES, SynthConfig, synth_cities, write_collection, write_world};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `chronomap synth`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output folder (created if needed; existing files of the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed: the same seed gives the same rasters on every machine, other seeds other towns.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Side of the square scene in 10 m pixels.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Acquisitions per year, spread over the seasons.
    #[arg(long, default_value_t = 6)]
    pub dates_per_year: usize,
    /// Years, comma-separated; the town grows and the sand spit erodes from first to last.
    #[arg(long, value_delimiter = ',', default_value = "2016,2020")]
    pub years: Vec<i32>,
    /// Deflate level of the GeoTIFFs (1 fastest, 9 smallest).
    #[arg(long, default_value_t = 1)]
    pub deflate_level: u32,
    /// Write a collection of N cities (1-16: other UTM zones and hemispheres, sun geometry,
    /// seasons, acquisition calendars, towns) under `--out/<city>/` with a `collection.json`.
    /// City 0 is the Saint-Louis world of `--seed` and `--dates-per-year`.
    #[arg(long)]
    pub cities: Option<usize>,
}

/// Runs `chronomap synth`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = SynthConfig {
        seed: args.seed,
        size: args.size,
        dates_per_year: args.dates_per_year,
        years: args.years,
        deflate_level: args.deflate_level,
        ..SynthConfig::new(args.seed)
    };
    let start = Instant::now();
    if let Some(n) = args.cities {
        let cities = synth_cities(&config, n)?;
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .context("progress bar template")?,
        );
        let path = write_collection(&cities, &args.out, &mut |done, _, name| {
            bar.set_position(done as u64);
            bar.set_message(name.to_string());
        })
        .with_context(|| format!("writing {n} synthetic cities to {}", args.out.display()))?;
        bar.finish_and_clear();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{n} synthetic cities ({}x{} px of 10 m) in {:.1} s",
            config.size,
            config.size,
            start.elapsed().as_secs_f64()
        )?;
        writeln!(
            out,
            "{:<14} {:>6} {:>9} {:>8} {:>7} {:>6}",
            "city", "EPSG", "lat", "seasons", "dates/y", "seed"
        )?;
        for c in &cities {
            writeln!(
                out,
                "{:<14} {:>6} {:>9.2} {:>+8.0} {:>7} {:>6}",
                c.site.name,
                c.site.epsg,
                c.site.latitude_deg,
                c.site.season_shift_days,
                c.dates_per_year,
                c.seed
            )?;
        }
        writeln!(out, "collection: {}", path.display())?;
        return Ok(());
    }
    let bar = ProgressBar::new(config.steps() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .context("progress bar template")?,
    );
    let summary = write_world(&config, &args.out, &mut |done, _, what| {
        bar.set_position(done as u64);
        bar.set_message(what.to_string());
    })
    .with_context(|| format!("writing the synthetic world to {}", args.out.display()))?;
    bar.finish_and_clear();

    // Report through a locked handle: a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "synthetic Saint-Louis world (seed {}, {}x{} px of 10 m, EPSG:{}) in {:.1} s",
        config.seed,
        config.size,
        config.size,
        config.site.epsg,
        start.elapsed().as_secs_f64()
    )?;
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>9} {:>8}",
        "date", "sun elev", "haze", "masked %", "nodata %"
    )?;
    for d in &summary.dates {
        writeln!(
            out,
            "{:<12} {:>8.1} {:>8.2} {:>9.1} {:>8.1}",
            d.date,
            d.sun_elevation_deg,
            d.haze,
            100.0 * d.masked_fraction,
            100.0 * d.nodata_fraction
        )?;
    }
    for y in &summary.years {
        let shares: Vec<String> = SYNTH_CLASSES
            .iter()
            .zip(y.truth_shares)
            .map(|(n, s)| format!("{n} {:.1}%", 100.0 * s))
            .collect();
        writeln!(
            out,
            "{}: {} buildings ({} in OSM); ground truth: {}",
            y.year,
            y.buildings,
            y.buildings_mapped,
            shares.join(", ")
        )?;
    }
    writeln!(out, "manifest: {}", summary.manifest.display())?;
    Ok(())
}
