//! `chronomap rasterize`: OSM (.osm, .osm.pbf) or GeoJSON vectors -> u8 label GeoTIFF on the
//! grid of a reference raster.

use std::path::PathBuf;

use anyhow::Context;
use chronomap::geo::quicklook::write_class_map_png;
use chronomap::geo::{
    ClassTable, GeoTiffReader, RasterData, RasterSpec, RasterizeOptions, SampleType,
    rasterize_files, write_geotiff,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `chronomap rasterize`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Classes come from tag rules (see --print-classes for the defaults: \
    0 background, 1 building, 2 road, 3 water, 4 vegetation; later rules win), or with \
    --attribute from an integer property of GeoJSON features.\n\nExample:\n  chronomap rasterize \
    --like S2_B04.tif --out labels.tif senegal-latest.osm.pbf"
)]
pub struct Args {
    /// Vector files: OSM XML (.osm), OSM PBF (.osm.pbf) or GeoJSON (.geojson/.json).
    #[arg(required_unless_present = "print_classes")]
    pub vectors: Vec<PathBuf>,
    /// Reference GeoTIFF whose grid (size, geotransform, CRS) the labels take.
    #[arg(long, required_unless_present = "print_classes")]
    pub like: Option<PathBuf>,
    /// Output label GeoTIFF (u8, tiled, deflate).
    #[arg(long, required_unless_present = "print_classes")]
    pub out: Option<PathBuf>,
    /// Class table JSON (classes + tag rules) replacing the defaults.
    #[arg(long)]
    pub classes: Option<PathBuf>,
    /// Take the class from this integer GeoJSON property instead of the tag rules.
    #[arg(long)]
    pub attribute: Option<String>,
    /// Burn every pixel a polygon touches, not only those whose centre is inside.
    #[arg(long)]
    pub all_touched: bool,
    /// Fail on incomplete features (missing nodes/ways, unclosed rings) instead of skipping them.
    #[arg(long)]
    pub strict: bool,
    /// Also write a PNG quicklook of the labels with a legend.
    #[arg(long)]
    pub quicklook: Option<PathBuf>,
    /// Print the class table in use (defaults or --classes) as JSON and exit.
    #[arg(long)]
    pub print_classes: bool,
}

/// Runs `chronomap rasterize`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let table = match &args.classes {
        Some(p) => ClassTable::from_path(p)
            .with_context(|| format!("cannot load class table {}", p.display()))?,
        None => ClassTable::default(),
    };
    if args.print_classes {
        println!("{}", table.to_json());
        return Ok(());
    }
    let (Some(like), Some(out)) = (&args.like, &args.out) else {
        anyhow::bail!("--like and --out are required");
    };
    let grid = GeoTiffReader::open(like)
        .and_then(|r| r.grid())
        .with_context(|| format!("cannot use {} as the reference grid", like.display()))?;
    let options = RasterizeOptions {
        all_touched: args.all_touched,
        strict: args.strict,
        attribute: args.attribute.clone(),
    };
    let bar = ProgressBar::new_spinner().with_message("reading vectors");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut started = false;
    let (labels, report) = rasterize_files(
        &args.vectors,
        &table,
        &grid,
        &options,
        &mut |done, total| {
            if !started {
                bar.set_style(
                    ProgressStyle::with_template("burning {bar:40} {pos}/{len} features {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_length(total as u64);
                started = true;
            }
            bar.set_position(done as u64);
        },
    )
    .map_err(|e| {
        let hint = match &e {
            chronomap::geo::Error::MissingGeoreferencing { .. } => {
                " (georeference the reference raster first, e.g. `gdal_edit.py -a_srs EPSG:32628 REF.tif`)"
            }
            chronomap::geo::Error::UnsupportedCrs { .. } => {
                " (reproject the inputs to UTM/WGS 84 with gdalwarp/ogr2ogr)"
            }
            _ => "",
        };
        anyhow::Error::new(e).context(format!("rasterization failed{hint}"))
    })?;
    bar.finish_and_clear();
    let spec = RasterSpec::for_grid(&grid, 1, SampleType::U8).with_band_names(["labels"]);
    write_geotiff(out, &spec, RasterData::U8(&labels))
        .with_context(|| format!("cannot write {}", out.display()))?;
    if let Some(png) = &args.quicklook {
        write_class_map_png(png, grid.width, grid.height, &labels, &table)
            .with_context(|| format!("cannot write {}", png.display()))?;
    }
    let total = labels.len() as f64;
    println!(
        "wrote {} ({} x {} pixels, EPSG:{})",
        out.display(),
        grid.width,
        grid.height,
        grid.epsg.map_or("?".into(), |e| e.to_string())
    );
    for (class, &pixels) in report.pixels_per_class.iter().enumerate() {
        let features = report.burned_per_class.get(class).copied().unwrap_or(0);
        if pixels == 0 && features == 0 {
            continue;
        }
        let name = table
            .class(class as u8)
            .map_or("(undeclared)", |c| c.name.as_str());
        println!(
            "  class {class:>3} {name:<14} {features:>8} features {pixels:>12} pixels ({:.2}%)",
            100.0 * pixels as f64 / total
        );
    }
    if report.unmatched > 0 {
        println!("  {} features matched no rule", report.unmatched);
    }
    if report.outside > 0 {
        println!("  {} features lie outside the grid", report.outside);
    }
    if !report.trimmed.is_empty() {
        let nodes: usize = report.trimmed.iter().map(|(_, t)| t.missing_nodes).sum();
        println!(
            "  {} OSM features reference {nodes} nodes the extract lacks (cut by a bounding \
             box): drawn with the nodes present, as GDAL does; use a complete-ways extract \
             (osmium extract --strategy complete_ways) for exact shapes at the edge",
            report.trimmed.len()
        );
    }
    if !report.skipped.is_empty() {
        println!(
            "  {} features skipped (use --strict to fail instead), e.g.:",
            report.skipped.len()
        );
        for (path, s) in report.skipped.iter().take(5) {
            println!("    {}: {:?}: {}", path.display(), s.id, s.reason);
        }
    }
    Ok(())
}
