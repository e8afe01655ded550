//! `chronomap series`: Landsat Collection 2 Level-2 scenes as downloaded, or STAC items with
//! local assets -> a series manifest (no GDAL step), with what was found printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chronomap::data::SceneSeries;
use chronomap::data::products::{LandsatOptions, LandsatScene, landsat_manifest};
use chronomap::geo::{GeoTiffReader, Window};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `chronomap series`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Sources are Landsat Collection 2 Level-2 scenes as USGS delivers them: \
    the .tar bundle (read in place, not unpacked), a scene folder holding *_MTL.json or \
    *_MTL.txt, *_SR_B*.TIF and *_QA_PIXEL.TIF, the MTL file itself, or a folder of bundles or \
    scene folders. Scenes of one WRS-2 path/row make one \
    series; Landsat 4-9 may be mixed (bands are matched by common name).\n\nOr STAC Item / \
    ItemCollection JSON files (earth-search, Planetary Computer) whose assets are local files: \
    bands by asset key or eo:bands common name, scl or qa_pixel as the mask, raster:bands \
    scale/offset; 20 m bands are read bilinearly and a 20 m SCL by nearest neighbour onto the \
    10 m grid.\n\nExample:\n  \
    chronomap series downloads/ --out saint-louis/manifest.json\n  \
    chronomap series search.json --out sl-s2/manifest.json --bands blue,green,red,nir,swir16\n  \
    chronomap train --data saint-louis/manifest.json --out run"
)]
pub struct Args {
    /// Scene .tar bundles, scene folders, MTL files, or folders of those.
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// The manifest to write (paths in it are relative to its folder where they can be).
    #[arg(long, default_value = "manifest.json")]
    pub out: PathBuf,
    /// Bands by common name, in channel order (coastal exists on Landsat 8/9 only).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "blue,green,red,nir,swir1,swir2"
    )]
    pub bands: Vec<String>,
    /// QA_PIXEL bits that mask a pixel (0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud
    /// shadow, 5 snow, 7 water).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,3,4,5")]
    pub qa_bits: Vec<u32>,
    /// Label rasters per year, `YEAR=PATH` (e.g. from `chronomap rasterize --like`).
    #[arg(long, value_parser = parse_labels)]
    pub labels: Vec<(i32, PathBuf)>,
    /// Skip reading every QA_PIXEL for the clear-sky share (USGS's cloud cover is printed).
    #[arg(long)]
    pub no_clear_share: bool,
}

fn parse_labels(s: &str) -> Result<(i32, PathBuf), String> {
    let (y, p) = s
        .split_once('=')
        .ok_or_else(|| format!("expected YEAR=PATH, got {s:?}"))?;
    let y = y.parse().map_err(|_| format!("{y:?} is not a year"))?;
    Ok((y, PathBuf::from(p)))
}

/// Share of a scene's non-fill pixels that no masking bit flags, reading `QA_PIXEL` in
/// stripes of 256 rows.
fn clear_share(qa: &Path, bits: u64) -> anyhow::Result<f64> {
    let r = GeoTiffReader::open(qa)?;
    let (w, h) = (r.info().width, r.info().height);
    let (mut clear, mut valid) = (0u64, 0u64);
    for row in (0..h).step_by(256) {
        let win = Window::new(0, row, w, 256.min(h - row));
        for v in r.read_window_as::<u16>(win, &[0])? {
            if v & 1 == 0 {
                valid += 1;
                if u64::from(v) & bits == 0 {
                    clear += 1;
                }
            }
        }
    }
    Ok(if valid == 0 {
        0.0
    } else {
        clear as f64 / valid as f64
    })
}

/// Runs `chronomap series`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let options = LandsatOptions {
        bands: args.bands.clone(),
        qa_bits: args.qa_bits.clone(),
    };
    if let Some(b) = args.qa_bits.iter().find(|&&b| b > 15) {
        anyhow::bail!("QA_PIXEL has 16 bits; bit {b} does not exist");
    }
    let dir = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if args
        .sources
        .iter()
        .all(|s| chronomap::data::products::is_stac(s))
    {
        return run_stac(&args, &dir);
    }
    let (mut manifest, scenes) =
        landsat_manifest(&args.sources, &options, &dir).context("reading the Landsat scenes")?;
    add_labels(&mut manifest, &args.labels, &dir);
    let bits = args.qa_bits.iter().fold(0u64, |m, &b| m | 1 << b);
    let shares: Vec<Option<f64>> = if args.no_clear_share {
        vec![None; scenes.len()]
    } else {
        let bar = ProgressBar::new(scenes.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} QA_PIXEL {msg}",
            )
            .context("progress bar template")?,
        );
        let mut v = Vec::new();
        for s in &scenes {
            bar.set_message(s.date.to_string());
            v.push(Some(clear_share(&s.qa_pixel, bits)?));
            bar.inc(1);
        }
        bar.finish_and_clear();
        v
    };
    manifest.save(&args.out)?;
    // the written manifest must open: every file on the first scene's pixel lattice
    let series = SceneSeries::open(&args.out)
        .with_context(|| format!("checking the series {} just written", args.out.display()))?;
    let mut out = std::io::stdout().lock();
    print_summary(&mut out, &args, &scenes, &shares, &series)?;
    Ok(())
}

fn print_summary(
    out: &mut impl Write,
    args: &Args,
    scenes: &[LandsatScene],
    shares: &[Option<f64>],
    series: &SceneSeries,
) -> anyhow::Result<()> {
    let tile = scenes.first().map(LandsatScene::tile).unwrap_or_default();
    writeln!(
        out,
        "{} Landsat Collection 2 Level-2 scenes of WRS-2 path/row {tile}, {} to {}",
        scenes.len(),
        series
            .dates()
            .first()
            .map(|d| d.date.to_string())
            .unwrap_or_default(),
        series
            .dates()
            .last()
            .map(|d| d.date.to_string())
            .unwrap_or_default(),
    )?;
    let gt = series.geotransform().map(|g| g.0);
    writeln!(
        out,
        "grid: {} x {} px, EPSG:{}, origin {:?}, pixel {:?} m (the first scene's; the others are placed on it)",
        series.width(),
        series.height(),
        series.epsg().map_or("?".into(), |e| e.to_string()),
        gt.map(|g| (g[0], g[3])),
        gt.map(|g| g[1]),
    )?;
    writeln!(
        out,
        "bands: {} (QA_PIXEL bits {:?} masked)",
        args.bands.join(", "),
        args.qa_bits
    )?;
    writeln!(
        out,
        "{:<10}  {:<9}  {:<40}  {:>11}  {:>9}  factors",
        "date", "satellite", "product", "USGS cloud", "clear"
    )?;
    for (s, share) in scenes.iter().zip(shares) {
        let (m, a) = s.factors.get(&args.bands[0]).copied().unwrap_or((1.0, 0.0));
        writeln!(
            out,
            "{:<10}  {:<9}  {:<40}  {:>10}%  {:>9}  x {m:e} {a:+}",
            s.date.to_string(),
            format!("Landsat {}", s.spacecraft),
            s.product_id,
            s.cloud_cover.map_or("?".into(), |c| format!("{c:.1}")),
            share.map_or("-".into(), |c| format!("{:.1}%", 100.0 * c)),
        )?;
    }
    writeln!(out, "wrote {}", args.out.display())?;
    Ok(())
}

/// `chronomap series` on STAC Item / ItemCollection files with local assets.
fn run_stac(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let mut manifest = chronomap::data::products::stac_manifest(&args.sources, &args.bands, dir)
        .context("reading the STAC items")?;
    add_labels(&mut manifest, &args.labels, dir);
    manifest.save(&args.out)?;
    let series = SceneSeries::open(&args.out)
        .with_context(|| format!("checking the series {} just written", args.out.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} STAC items of {}; grid {} x {} px, EPSG:{}; bands: {}",
        manifest.dates.len(),
        manifest
            .meta
            .as_ref()
            .and_then(|m| m["tile"].as_str())
            .unwrap_or("?"),
        series.width(),
        series.height(),
        series.epsg().map_or("?".into(), |e| e.to_string()),
        args.bands.join(", "),
    )?;
    for d in &manifest.dates {
        let meta = d.meta.clone().unwrap_or_default();
        writeln!(
            out,
            "{}  {:<40}  cloud {:>6}  mask {}  x {} {:+}",
            d.date,
            meta["stac_item"].as_str().unwrap_or("?"),
            meta["cloud_cover"]
                .as_f64()
                .map_or("?".into(), |c| format!("{c:.1}%")),
            if d.mask.is_some() {
                "yes"
            } else {
                "none (no scl/qa_pixel asset)"
            },
            d.scale.unwrap_or(1.0),
            d.add_offset.unwrap_or(0.0),
        )?;
    }
    writeln!(out, "wrote {}", args.out.display())?;
    Ok(())
}

/// Adds `--labels YEAR=PATH` entries, relative to the manifest's folder when under it.
fn add_labels(manifest: &mut chronomap::data::Manifest, labels: &[(i32, PathBuf)], dir: &Path) {
    for (year, path) in labels {
        manifest.labels.push(chronomap::data::LabelEntry {
            year: *year,
            path: chronomap::data::products::manifest_path(dir, path),
        });
    }
}
