//! `chronomap change`: the change map between two class maps.

use std::path::PathBuf;

use chronomap::train::change_map;

/// Options of `chronomap change`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Class map before (u8 GeoTIFF).
    #[arg(long)]
    pub before: PathBuf,
    /// Class map after, on the same grid.
    #[arg(long)]
    pub after: PathBuf,
    /// Output change GeoTIFF (codes `from * K + to`, 255 = nodata); the CSV table and the PNG
    /// are written next to it (`.csv`, `.png`). Default: `change.tif` next to `--after`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Class count, names and model.
    #[command(flatten)]
    pub class_args: crate::evaluate::ClassArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `chronomap change`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (classes, names) = args.class_args.resolve()?;
    let classes = match classes {
        Some(k) => k,
        None if !names.is_empty() => names.len(),
        None => {
            // Largest class id in either map + 1, from a quick evaluation pass.
            let ev = chronomap::train::evaluate_map(&args.before, &args.after, None, &[], None)?;
            ev.metrics.per_class.len()
        }
    };
    let out = args.out.clone().unwrap_or_else(|| {
        args.after
            .parent()
            .map(|p| p.join("change.tif"))
            .unwrap_or_else(|| "change.tif".into())
    });
    let csv = out.with_extension("csv");
    let report = change_map(&args.before, &args.after, classes, &names, &out, &csv)?;
    let png = out.with_extension("png");
    chronomap::train::change_quicklook(&report, classes, &names, &png)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("change map: {}", report.map.display());
    println!("areas:      {}", report.table_csv.display());
    println!("quicklook:  {}", png.display());
    println!(
        "{:<14} {:<14} {:>12} {:>12}",
        "from", "to", "pixels", "hectares"
    );
    for r in report.table.iter().filter(|r| r.changed) {
        println!(
            "{:<14} {:<14} {:>12} {:>12.2}",
            r.from_name, r.to_name, r.pixels, r.hectares
        );
    }
    println!(
        "changed: {:.2} ha ({} pixels of {:.1} m2)",
        report.changed_hectares,
        report
            .table
            .iter()
            .filter(|r| r.changed)
            .map(|r| r.pixels)
            .sum::<u64>(),
        report.pixel_area_m2
    );
    Ok(())
}
