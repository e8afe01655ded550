//! `chronomap info`: what a GeoTIFF holds, like a compact `gdalinfo -stats`; what a `.tar`
//! bundle holds; or what a Sentinel-2 product (`.SAFE` folder, its `.zip` or its metadata)
//! is.

use std::path::PathBuf;

use anyhow::Context;
use chronomap::data::products::sentinel2::SENTINEL2_BANDS;
use chronomap::data::products::{Sentinel2Level, Sentinel2Product};
use chronomap::geo::crs::Crs;
use chronomap::geo::{BandStats, GeoTiffReader};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Options of `chronomap info`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The GeoTIFF or JPEG 2000 file to describe (also `/vsitar//path/a.tar/member.TIF`,
    /// `/vsizip//path/a.zip/member.jp2`), a `.tar` archive to list its members, or a
    /// Sentinel-2 product (`.SAFE` folder, its `.zip`, or its `MTD_MSIL2A.xml` /
    /// `MTD_MSIL1C.xml`) to summarise.
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the per-band statistics (they read every pixel).
    #[arg(long)]
    pub no_stats: bool,
}

/// Lists the members of a `.tar` archive with the `/vsitar/` paths that open them.
fn list_tar(args: &Args) -> anyhow::Result<()> {
    use chronomap::geo::archive::{tar_members, vsitar_path};
    let members = tar_members(&args.file)
        .with_context(|| format!("cannot read the archive {}", args.file.display()))?;
    if args.json {
        let v: Vec<_> = members
            .iter()
            .map(|m| json!({ "name": m.name, "size": m.size, "path": vsitar_path(&args.file, &m.name) }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "archive": args.file, "members": v }))?
        );
        return Ok(());
    }
    println!(
        "{}: tar archive, {} members (read in place; pass a member's path to any command)",
        args.file.display(),
        members.len()
    );
    for m in &members {
        println!(
            "  {:>12} bytes  {}",
            m.size,
            vsitar_path(&args.file, &m.name).display()
        );
    }
    Ok(())
}

/// Prints the summary of a Sentinel-2 product: tile, date, level, baseline, bands with
/// their resolution and offset, the mask.
fn sentinel2_info(args: &Args) -> anyhow::Result<()> {
    let p = Sentinel2Product::open(&args.file)
        .with_context(|| format!("cannot read the Sentinel-2 product {}", args.file.display()))?;
    // the product's bands in band order (B01 .. B12), not by name
    let bands: Vec<(&str, &str, u32, f64, &PathBuf)> = SENTINEL2_BANDS
        .iter()
        .filter_map(|&(name, id, _, _)| {
            let file = p.bands.get(name)?;
            let res = p.resolutions.get(name).copied().unwrap_or(0);
            Some((name, id, res, p.offset(name), file))
        })
        .collect();
    let level = match p.level {
        Sentinel2Level::L2A => "Level-2A",
        Sentinel2Level::L1C => "Level-1C",
    };
    if args.json {
        let b: Vec<_> = bands
            .iter()
            .map(|(name, id, res, offset, file)| {
                json!({ "name": name, "id": id, "resolution": res, "offset": offset, "path": file })
            })
            .collect();
        let out = json!({
            "file": args.file,
            "metadata": p.metadata,
            "product": p.product_uri,
            "level": level,
            "productType": p.product_type,
            "processingBaseline": p.processing_baseline,
            "spacecraft": p.spacecraft,
            "startTime": p.start_time,
            "date": p.date.to_string(),
            "tile": p.tile,
            "cloudCover": p.cloud_cover,
            "quantification": p.quantification,
            "bands": b,
            "scl": p.scl,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let what = match p.level {
        Sentinel2Level::L2A => "surface reflectance",
        Sentinel2Level::L1C => "top-of-atmosphere reflectance",
    };
    println!("File:        {}", args.file.display());
    if let Some(uri) = &p.product_uri {
        println!("Product:     {uri}");
    }
    println!(
        "Type:        Sentinel-2 {level} ({what}), {}, processing baseline {}, {}",
        p.product_type, p.processing_baseline, p.spacecraft
    );
    println!("Tile:        MGRS {}", p.tile);
    println!("Date:        {} (start {})", p.date, p.start_time);
    match p.cloud_cover {
        Some(c) => println!("Cloud cover: {c}%"),
        None => println!("Cloud cover: not given"),
    }
    println!(
        "Reflectance: (DN + offset) / {}, DN 0 is nodata{}",
        p.quantification,
        if p.offsets.is_empty() {
            " (no offsets: processing baseline before 04.00)"
        } else {
            ""
        }
    );
    println!("Bands:       {}", bands.len());
    for (name, id, res, offset, file) in &bands {
        println!(
            "  {name:<12} {id}  {res:>2} m  offset {offset:>6}  {}",
            file.display()
        );
    }
    match &p.scl {
        Some(scl) => println!("Mask:        SCL {}", scl.display()),
        None => println!("Mask:        none (Level-1C has no scene classification)"),
    }
    println!("Metadata:    {}", p.metadata.display());
    Ok(())
}

/// Runs `chronomap info`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if chronomap::geo::archive::is_tar(&args.file) {
        return list_tar(&args);
    }
    if chronomap::data::products::is_sentinel2_product(&args.file) {
        return sentinel2_info(&args);
    }
    let reader = GeoTiffReader::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let info = reader.info().clone();
    let stats = if args.no_stats {
        None
    } else {
        let bar = ProgressBar::new(info.height as u64).with_style(
            ProgressStyle::with_template("statistics {bar:40} {pos}/{len} rows {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let s = reader
            .statistics(|done, _| bar.set_position(done as u64))
            .with_context(|| format!("cannot read the pixels of {}", args.file.display()))?;
        bar.finish_and_clear();
        Some(s)
    };
    let crs = info.epsg.and_then(|e| Crs::from_epsg(e).ok());
    let corners_lonlat = match (&crs, info.geotransform) {
        (Some(c), Some(gt)) => {
            let (w, h) = (info.width as f64, info.height as f64);
            [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h), (w / 2.0, h / 2.0)]
                .iter()
                .map(|&(col, row)| {
                    let (x, y) = gt.pixel_to_world(col, row);
                    c.to_lonlat(x, y).ok()
                })
                .collect::<Option<Vec<_>>>()
        }
        _ => None,
    };
    if args.json {
        let bands: Vec<_> = (0..info.bands)
            .map(|b| {
                let mut v = json!({
                    "band": b + 1,
                    "description": info.band_descriptions[b],
                });
                if let Some(s) = &stats {
                    v["minimum"] = json!(finite(s[b].min));
                    v["maximum"] = json!(finite(s[b].max));
                    v["mean"] = json!(finite(s[b].mean));
                    v["stdDev"] = json!(finite(s[b].std_dev));
                    v["validCount"] = json!(s[b].valid_count);
                }
                v
            })
            .collect();
        let out = json!({
            "file": args.file,
            "width": info.width,
            "height": info.height,
            "bands": info.bands,
            "dataType": info.sample_type.gdal_name(),
            "geoTransform": info.geotransform.map(|g| g.0),
            "epsg": info.epsg,
            "crsName": crs.as_ref().map(|c| c.name()),
            "noData": info.nodata.map(nodata_json),
            "pixelIsPoint": info.pixel_is_point,
            "block": [info.block_width, info.block_height],
            "tiled": info.tiled,
            "interleave": format!("{:?}", info.interleave).to_uppercase(),
            "compression": info.compression.gdal_name(),
            "predictor": format!("{:?}", info.predictor),
            "bigtiff": info.bigtiff,
            "overviews": info.overviews,
            "cornersLonLat": corners_lonlat,
            "bandInfo": bands,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("File:        {}", args.file.display());
    println!(
        "Size:        {} x {} pixels, {} band(s) of {}",
        info.width, info.height, info.bands, info.sample_type
    );
    match info.geotransform {
        Some(gt) => {
            let [x0, dx, rx, y0, ry, dy] = gt.0;
            println!("GeoTransform: [{x0}, {dx}, {rx}, {y0}, {ry}, {dy}]");
            let (minx, miny, maxx, maxy) = gt.bounds(info.width, info.height);
            println!("Bounds:      x {minx} .. {maxx}, y {miny} .. {maxy}");
        }
        None => println!("GeoTransform: none (not georeferenced)"),
    }
    match (info.epsg, &crs) {
        (Some(e), Some(c)) => println!("CRS:         EPSG:{e} ({})", c.name()),
        (Some(e), None) => println!("CRS:         EPSG:{e} (not supported for transforms)"),
        (None, _) => println!("CRS:         unknown (no EPSG code in the GeoKeys)"),
    }
    if let Some(c) = &corners_lonlat {
        println!("Centre:      lon {:.6}, lat {:.6}", c[4].0, c[4].1);
    }
    match info.nodata {
        Some(nd) => println!("NoData:      {nd}"),
        None => println!("NoData:      none"),
    }
    println!(
        "Layout:      {} {}x{}, {} interleave, {} compression, predictor {:?}{}{}",
        if info.tiled { "tiles" } else { "strips" },
        info.block_width,
        info.block_height,
        format!("{:?}", info.interleave).to_lowercase(),
        info.compression.gdal_name(),
        info.predictor,
        if info.bigtiff { ", BigTIFF" } else { "" },
        if info.overviews > 0 {
            format!(", {} overview image(s) ignored", info.overviews)
        } else {
            String::new()
        },
    );
    if info.pixel_is_point {
        println!("Raster type: PixelIsPoint (origin shifted by half a pixel, as GDAL does)");
    }
    for b in 0..info.bands {
        let desc = info.band_descriptions[b]
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        match &stats {
            Some(s) => {
                let BandStats {
                    min,
                    max,
                    mean,
                    std_dev,
                    valid_count,
                } = s[b];
                println!(
                    "Band {}{desc}: min {min}, max {max}, mean {mean:.4}, std {std_dev:.4}, {valid_count} valid pixels",
                    b + 1
                );
            }
            None => println!("Band {}{desc}", b + 1),
        }
    }
    Ok(())
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Nodata as JSON: a number, or "NaN"/"Infinity" strings like gdalinfo.
fn nodata_json(v: f64) -> serde_json::Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}
