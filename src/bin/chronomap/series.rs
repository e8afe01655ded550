//! `chronomap series`: Landsat Collection 2 Level-2 scenes or Sentinel-2 L1C / L2A products
//! as downloaded, or STAC items (local or `https://` assets) -> a series manifest (no GDAL
//! step), with what was found printed.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chronomap::data::SceneSeries;
use chronomap::data::products::landsat::COMMON_BANDS;
use chronomap::data::products::sentinel2::{DEFAULT_BANDS, SCL_DEFAULT_INVALID, SENTINEL2_BANDS};
use chronomap::data::products::{
    LandsatOptions, LandsatScene, Sentinel2Level, Sentinel2Options, Sentinel2Product,
    is_sentinel2_product, is_sentinel2_zip, landsat_manifest, sentinel2_manifest,
};
use chronomap::geo::{GeoTiffReader, Window};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `chronomap series`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Sources are Landsat Collection 2 Level-2 scenes as USGS delivers them: \
    the .tar bundle (read in place, not unpacked), a scene folder holding *_MTL.json or \
    *_MTL.txt, *_SR_B*.TIF and *_QA_PIXEL.TIF, the MTL file itself, or a folder of bundles or \
    scene folders. Scenes of one WRS-2 path/row make one \
    series; Landsat 4-9 may be mixed (bands are matched by common name).\n\nOr Sentinel-2 \
    Level-2A or Level-1C products as Copernicus delivers them: the .SAFE folder, its \
    MTD_MSIL2A.xml / MTD_MSIL1C.xml, the product .zip (read in place, not unpacked), or a \
    folder of those. Products of one MGRS tile make one series on the 10 m grid (20 m and \
    60 m bands are read bilinearly onto it); values are reflectance, (DN + offset) / \
    quantification from each product's metadata (offset -1000 from processing baseline \
    04.00 on); the L2A scene classification (SCL) is the mask, --scl-invalid its masked \
    classes; L1C products have no mask, and L1C and L2A are not mixed.\n\nOr STAC Item / \
    ItemCollection JSON files (earth-search, Planetary Computer) whose assets are local files: \
    bands by asset key or eo:bands common name, scl or qa_pixel as the mask, raster:bands \
    scale/offset; 20 m bands are read bilinearly and a 20 m SCL by nearest neighbour onto the \
    10 m grid.\n\nOne call reads one product family: Landsat and Sentinel-2 (or STAC) sources \
    together are refused. Without --bands: blue,green,red,nir,swir1,swir2 for Landsat and \
    STAC, blue,green,red,nir (the 10 m bands) for Sentinel-2.\n\nExample:\n  \
    chronomap series downloads/ --out saint-louis/manifest.json\n  \
    chronomap series s2-downloads/ --out sl-s2/manifest.json --bands blue,green,red,nir,swir16\n  \
    chronomap series search.json --out sl-stac/manifest.json --bands blue,green,red,nir,swir16\n  \
    chronomap train --data saint-louis/manifest.json --out run"
)]
pub struct Args {
    /// Landsat scene .tar bundles, scene folders or MTL files; Sentinel-2 .SAFE folders,
    /// MTD_MSIL2A.xml / MTD_MSIL1C.xml files or product .zip files; STAC JSON files; or
    /// folders of those.
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// The manifest to write (paths in it are relative to its folder where they can be).
    #[arg(long, default_value = "manifest.json")]
    pub out: PathBuf,
    /// Bands by common name, in channel order [default: blue,green,red,nir,swir1,swir2 for
    /// Landsat and STAC (coastal exists on Landsat 8/9 only); blue,green,red,nir for
    /// Sentinel-2 (also coastal, rededge1-3, nir08, watervapour, swir16, swir22; cirrus in
    /// L1C only)].
    #[arg(long, value_delimiter = ',')]
    pub bands: Option<Vec<String>>,
    /// Landsat: QA_PIXEL bits that mask a pixel (0 fill, 1 dilated cloud, 2 cirrus, 3 cloud,
    /// 4 cloud shadow, 5 snow, 7 water).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,3,4,5")]
    pub qa_bits: Vec<u32>,
    /// Sentinel-2 L2A: scene classification (SCL) classes that mask a pixel (0 no data,
    /// 1 saturated or defective, 2 dark area, 3 cloud shadow, 4 vegetation, 5 bare soil,
    /// 6 water, 7 unclassified, 8 cloud medium probability, 9 cloud high probability, 10 thin
    /// cirrus, 11 snow or ice).
    #[arg(long, value_delimiter = ',', default_value = SCL_DEFAULT.as_str())]
    pub scl_invalid: Vec<u32>,
    /// Label rasters per year, `YEAR=PATH` (e.g. from `chronomap rasterize --like`).
    #[arg(long, value_parser = parse_labels)]
    pub labels: Vec<(i32, PathBuf)>,
    /// Skip reading every QA_PIXEL / SCL for the clear-sky share (the provider's cloud cover
    /// is printed).
    #[arg(long)]
    pub no_clear_share: bool,
}

/// [`SCL_DEFAULT_INVALID`] as `--scl-invalid` takes it (`0,1,3,...`).
static SCL_DEFAULT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    SCL_DEFAULT_INVALID
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
});

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

/// A product family `chronomap series` reads; one per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    Landsat,
    Sentinel2,
    Stac,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Landsat => "Landsat",
            Family::Sentinel2 => "Sentinel-2",
            Family::Stac => "STAC",
        }
    }

    /// The bands read when `--bands` is not given.
    fn default_bands(self) -> Vec<String> {
        let b: &[&str] = match self {
            Family::Landsat | Family::Stac => &COMMON_BANDS,
            Family::Sentinel2 => &DEFAULT_BANDS,
        };
        b.iter().map(|s| s.to_string()).collect()
    }
}

/// The file name of `p`, as text.
fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether `name` is a Landsat metadata file's name (`*_MTL.json`, `*_MTL.txt`).
fn is_mtl_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.ends_with("_MTL.JSON") || upper.ends_with("_MTL.TXT")
}

/// Whether the folder `dir` holds a Landsat scene's metadata (a scene folder).
fn is_landsat_folder(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().is_file() && is_mtl_name(&name_of(&e.path())))
    })
}

/// The family of a product given directly (not a folder of products): `None` when it is
/// none of them.
fn product_family(p: &Path) -> Option<Family> {
    if chronomap::geo::archive::is_zip(p) {
        return is_sentinel2_zip(p).then_some(Family::Sentinel2);
    }
    if is_sentinel2_product(p) {
        return Some(Family::Sentinel2);
    }
    if p.is_dir() {
        return is_landsat_folder(p).then_some(Family::Landsat);
    }
    let name = name_of(p);
    (chronomap::geo::archive::is_tar(p) || is_mtl_name(&name)).then_some(Family::Landsat)
}

/// The family of a source on the command line: a product (see [`product_family`]), a STAC
/// file, a `.zip` (only Sentinel-2 products come zipped; the reader says what is wrong with
/// one that is not), or a folder of products of one family. `None` for a source of no known
/// family (left to the other sources' reader, else Landsat's, to report).
fn source_family(src: &Path) -> anyhow::Result<Option<Family>> {
    // archives and products by name first: `is_stac` reads a whole (JSON) file
    if chronomap::geo::archive::is_zip(src) {
        return Ok(Some(Family::Sentinel2));
    }
    if let Some(f) = product_family(src) {
        return Ok(Some(f));
    }
    if chronomap::data::products::is_stac(src) {
        return Ok(Some(Family::Stac));
    }
    if !src.is_dir() {
        return Ok(None);
    }
    let mut found: Vec<(Family, PathBuf)> = std::fs::read_dir(src)
        .with_context(|| format!("listing {}", src.display()))?
        .flatten()
        .map(|e| e.path())
        .filter_map(|p| product_family(&p).map(|f| (f, p)))
        .collect();
    found.sort();
    let families: BTreeSet<Family> = found.iter().map(|(f, _)| *f).collect();
    if families.len() > 1 {
        let list: Vec<String> = families
            .iter()
            .map(|f| {
                let first = found.iter().find(|(g, _)| g == f).map(|(_, p)| name_of(p));
                let n = found.iter().filter(|(g, _)| g == f).count();
                format!("{n} {} (e.g. {})", f.name(), first.unwrap_or_default())
            })
            .collect();
        anyhow::bail!(
            "{} holds products of several families: {}; one series is one family, give each \
             family's products to its own `chronomap series`",
            src.display(),
            list.join(", ")
        );
    }
    Ok(families.into_iter().next())
}

/// The one family of `sources`; refuses a mix, naming the sources of each family.
fn family(sources: &[PathBuf]) -> anyhow::Result<Family> {
    let mut by_family: Vec<(Family, &Path)> = Vec::new();
    for src in sources {
        if let Some(f) = source_family(src)? {
            by_family.push((f, src));
        }
    }
    let families: BTreeSet<Family> = by_family.iter().map(|(f, _)| *f).collect();
    if families.len() > 1 {
        let list: Vec<String> = families
            .iter()
            .map(|f| {
                let srcs: Vec<String> = by_family
                    .iter()
                    .filter(|(g, _)| g == f)
                    .map(|(_, p)| p.display().to_string())
                    .collect();
                format!("{}: {}", f.name(), srcs.join(", "))
            })
            .collect();
        anyhow::bail!(
            "sources of several product families ({}); a series is one family, run `chronomap \
             series` once per family",
            list.join("; ")
        );
    }
    Ok(families.into_iter().next().unwrap_or(Family::Landsat))
}

/// Runs `chronomap series`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(b) = args.qa_bits.iter().find(|&&b| b > 15) {
        anyhow::bail!("QA_PIXEL has 16 bits; bit {b} does not exist");
    }
    if let Some(c) = args.scl_invalid.iter().find(|&&c| c > 11) {
        anyhow::bail!(
            "the scene classification (SCL) has classes 0 to 11; class {c} does not exist"
        );
    }
    let family = family(&args.sources)?;
    let bands = args.bands.clone().unwrap_or_else(|| family.default_bands());
    let dir = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    match family {
        Family::Stac => return run_stac(&args, &dir, &bands),
        Family::Sentinel2 => return run_sentinel2(&args, &dir, &bands),
        Family::Landsat => {}
    }
    let options = LandsatOptions {
        bands: bands.clone(),
        qa_bits: args.qa_bits.clone(),
    };
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
    let series = save_and_open(&manifest, &args.out)?;
    let mut out = std::io::stdout().lock();
    print_summary(&mut out, &args, &bands, &scenes, &shares, &series)?;
    Ok(())
}

fn print_summary(
    out: &mut impl Write,
    args: &Args,
    bands: &[String],
    scenes: &[LandsatScene],
    shares: &[Option<f64>],
    series: &SceneSeries,
) -> anyhow::Result<()> {
    let tile = scenes.first().map(LandsatScene::tile).unwrap_or_default();
    writeln!(
        out,
        "{} Landsat Collection 2 Level-2 scenes of WRS-2 path/row {tile}, {}",
        scenes.len(),
        date_span(series),
    )?;
    writeln!(
        out,
        "{} (the first scene's; the others are placed on it)",
        grid_line(series)
    )?;
    writeln!(
        out,
        "bands: {} (QA_PIXEL bits {:?} masked)",
        bands.join(", "),
        args.qa_bits
    )?;
    writeln!(
        out,
        "{:<10}  {:<9}  {:<40}  {:>11}  {:>9}  factors",
        "date", "satellite", "product", "USGS cloud", "clear"
    )?;
    for (s, share) in scenes.iter().zip(shares) {
        let (m, a) = s.factors.get(&bands[0]).copied().unwrap_or((1.0, 0.0));
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

/// `chronomap series` on STAC Item / ItemCollection files (local or `http(s)://` assets).
fn run_stac(args: &Args, dir: &Path, bands: &[String]) -> anyhow::Result<()> {
    let mut manifest = chronomap::data::products::stac_manifest(&args.sources, bands, dir)
        .context("reading the STAC items")?;
    add_labels(&mut manifest, &args.labels, dir);
    let series = save_and_open(&manifest, &args.out)?;
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
        bands.join(", "),
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

/// Share of a product's scene classification pixels that are data (class 0 is no data)
/// and of no `invalid` class, reading the `SCL` in stripes of whole JPEG 2000 tile rows.
fn scl_clear_share(scl: &Path, invalid: &[u32]) -> anyhow::Result<f64> {
    let r = GeoTiffReader::open(scl).with_context(|| format!("opening {}", scl.display()))?;
    let (w, h) = (r.info().width, r.info().height);
    let step = r.info().block_height.clamp(256, 4096);
    let mut masked = [false; 256];
    for &c in invalid {
        if let Some(m) = masked.get_mut(c as usize) {
            *m = true;
        }
    }
    let (mut clear, mut valid) = (0u64, 0u64);
    for row in (0..h).step_by(step) {
        let win = Window::new(0, row, w, step.min(h - row));
        let classes = r
            .read_window_as::<u8>(win, &[0])
            .with_context(|| format!("reading {}", scl.display()))?;
        for v in classes {
            if v != 0 {
                valid += 1;
                if !masked[usize::from(v)] {
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

/// What the Sentinel-2 reader left out of the source folders: entries that look like
/// products (`*.SAFE`, `S2*`) with why, and how many other entries each folder has.
fn skipped_sentinel2(sources: &[PathBuf], products: &[Sentinel2Product]) -> Vec<String> {
    let used: BTreeSet<PathBuf> = products
        .iter()
        .map(|p| std::path::absolute(&p.path).unwrap_or_else(|_| p.path.clone()))
        .collect();
    let mut out = Vec::new();
    for src in sources {
        if !src.is_dir() || is_sentinel2_product(src) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(src) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        let mut others = 0usize;
        for p in paths {
            let abs = std::path::absolute(&p).unwrap_or_else(|_| p.clone());
            let name = name_of(&p);
            if used.contains(&abs) || name.starts_with('.') {
                continue;
            }
            let upper = name.to_ascii_uppercase();
            if !(upper.ends_with(".SAFE") || upper.starts_with("S2")) {
                others += 1;
                continue;
            }
            let why = if p.is_dir() {
                "a folder without MTD_MSIL2A.xml or MTD_MSIL1C.xml at its root (an incomplete \
                 download or extraction?)"
            } else {
                "not a .SAFE folder or a product .zip"
            };
            out.push(format!("{}: {why}", p.display()));
        }
        if others > 0 {
            out.push(format!(
                "{}: {others} other entr{} (not .SAFE folders or .zip files)",
                src.display(),
                if others == 1 { "y" } else { "ies" }
            ));
        }
    }
    out
}

/// `chronomap series` on Sentinel-2 L1C / L2A products (`.SAFE` folders, their metadata,
/// their `.zip`, folders of those).
fn run_sentinel2(args: &Args, dir: &Path, bands: &[String]) -> anyhow::Result<()> {
    let options = Sentinel2Options {
        bands: bands.to_vec(),
        scl_invalid: args.scl_invalid.clone(),
    };
    let names: Vec<String> = args
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (mut manifest, products) = sentinel2_manifest(&args.sources, &options, dir)
        .with_context(|| format!("reading the Sentinel-2 products of {}", names.join(", ")))?;
    add_labels(&mut manifest, &args.labels, dir);
    let skipped = skipped_sentinel2(&args.sources, &products);
    let shares: Vec<Option<f64>> = if args.no_clear_share {
        vec![None; products.len()]
    } else {
        let bar = ProgressBar::new(products.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} SCL {msg}",
            )
            .context("progress bar template")?,
        );
        let mut v = Vec::new();
        for p in &products {
            bar.set_message(p.date.to_string());
            v.push(match &p.scl {
                Some(scl) => Some(scl_clear_share(scl, &args.scl_invalid)?),
                None => None,
            });
            bar.inc(1);
        }
        bar.finish_and_clear();
        v
    };
    let series = save_and_open(&manifest, &args.out)?;
    let mut out = std::io::stdout().lock();
    print_sentinel2_summary(
        &mut out, args, bands, &products, &manifest, &shares, &skipped, &series,
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn print_sentinel2_summary(
    out: &mut impl Write,
    args: &Args,
    bands: &[String],
    products: &[Sentinel2Product],
    manifest: &chronomap::data::Manifest,
    shares: &[Option<f64>],
    skipped: &[String],
    series: &SceneSeries,
) -> anyhow::Result<()> {
    let Some(first) = products.first() else {
        return Ok(());
    };
    let level = match first.level {
        Sentinel2Level::L2A => "Level-2A (surface reflectance)",
        Sentinel2Level::L1C => "Level-1C (top-of-atmosphere reflectance)",
    };
    writeln!(
        out,
        "{} Sentinel-2 {level} products of MGRS tile {}, {}",
        products.len(),
        first.tile,
        date_span(series),
    )?;
    writeln!(
        out,
        "{} (the first product's {} band; coarser bands and the other products are placed \
         on it)",
        grid_line(series),
        bands.first().map_or("", String::as_str),
    )?;
    let described: Vec<String> = bands
        .iter()
        .map(|b| {
            let id = SENTINEL2_BANDS
                .iter()
                .find(|s| s.0 == b)
                .map_or("?", |s| s.1);
            let res = first
                .resolutions
                .get(b)
                .map_or("?".into(), |r| format!("{r} m"));
            format!("{b} ({id}, {res})")
        })
        .collect();
    let mask = match first.level {
        Sentinel2Level::L2A => format!("SCL classes {:?} masked", args.scl_invalid),
        Sentinel2Level::L1C => "no mask: Level-1C has no scene classification".into(),
    };
    writeln!(out, "bands: {} ({mask})", described.join(", "))?;
    writeln!(
        out,
        "{:<10}  {:<11}  {:<7}  {:<8}  {:<66}  {:>6}  {:>6}  reflectance",
        "date", "spacecraft", "type", "baseline", "product", "cloud", "clear"
    )?;
    for ((p, d), share) in products.iter().zip(&manifest.dates).zip(shares) {
        let product = p.product_uri.clone().unwrap_or_else(|| name_of(&p.path));
        writeln!(
            out,
            "{:<10}  {:<11}  {:<7}  {:<8}  {:<66}  {:>6}  {:>6}  (DN {:+}) / {} = x {:e} {:+}",
            p.date.to_string(),
            p.spacecraft,
            p.product_type,
            p.processing_baseline,
            product,
            p.cloud_cover.map_or("?".into(), |c| format!("{c:.1}%")),
            share.map_or("-".into(), |c| format!("{:.1}%", 100.0 * c)),
            p.offset(&bands[0]),
            p.quantification,
            d.scale.unwrap_or(1.0),
            d.add_offset.unwrap_or(0.0),
        )?;
    }
    for s in skipped {
        writeln!(out, "skipped {s}")?;
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

/// Writes `manifest` to `out` and opens the series it describes: the written manifest must
/// open (every file on the first scene's pixel lattice).
fn save_and_open(manifest: &chronomap::data::Manifest, out: &Path) -> anyhow::Result<SceneSeries> {
    manifest
        .save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    SceneSeries::open(out)
        .with_context(|| format!("checking the series {} just written", out.display()))
}

/// `first to last` date of a series.
fn date_span(series: &SceneSeries) -> String {
    let d =
        |x: Option<&chronomap::data::SceneDate>| x.map(|d| d.date.to_string()).unwrap_or_default();
    format!(
        "{} to {}",
        d(series.dates().first()),
        d(series.dates().last())
    )
}

/// `grid: W x H px, EPSG:N, origin (x, y), pixel p m` of a series.
fn grid_line(series: &SceneSeries) -> String {
    let gt = series.geotransform().map(|g| g.0);
    format!(
        "grid: {} x {} px, EPSG:{}, origin {:?}, pixel {:?} m",
        series.width(),
        series.height(),
        series.epsg().map_or("?".into(), |e| e.to_string()),
        gt.map(|g| (g[0], g[3])),
        gt.map(|g| g[1]),
    )
}
