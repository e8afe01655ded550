//! Tiny test scenes written as real GeoTIFF series, for this crate's tests and other crates'
//! (enable the `testing` feature). Everything is generated; nothing is downloaded.
//!
//! - [`tiny_series`]: a `size x size`, 4-band series whose pixels encode their position, so
//!   tests can check alignment after augmentation; labels and clouds are known functions of
//!   the position.
//! - [`write_scene`]: writes any [`TinyScene`] (your own arrays) with a manifest.
//! - [`tiny_world`]: the synthetic Saint-Louis world at 64 x 64 pixels, 2 years x 3 dates.

use std::path::{Path, PathBuf};

use chronomap_geo::{GeoTransform, RasterData, RasterSpec, SampleType, write_geotiff};

use crate::date::Date;
use crate::error::Result;
use crate::manifest::{DateEntry, LabelEntry, MANIFEST_VERSION, Manifest, MaskEntry};

/// Band names of the test scenes (Sentinel-2 10 m bands).
pub const BANDS: [&str; 4] = ["B2", "B3", "B4", "B8"];
/// Top-left corner of the test scenes in EPSG:32628 (near Saint-Louis, Senegal).
pub const ORIGIN: (f64, f64) = (339_000.0, 1_773_000.0);
/// Pixel size of the test scenes, metres.
pub const PIXEL: f64 = 10.0;
/// CRS of the test scenes.
pub const EPSG: u32 = 32628;
/// Number of classes in the test scenes' labels.
pub const CLASSES: u8 = 5;

/// One date of a [`TinyScene`].
#[derive(Clone, Debug)]
pub struct TinyDate {
    /// Acquisition date.
    pub date: Date,
    /// `[bands, height, width]` UInt16 values (0 = nodata).
    pub image: Vec<u16>,
    /// `[height, width]` cloud mask (non-zero = masked), if any.
    pub mask: Option<Vec<u8>>,
}

/// A small scene series held in memory, to be written by [`write_scene`].
#[derive(Clone, Debug)]
pub struct TinyScene {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Band names.
    pub bands: Vec<String>,
    /// The acquisitions.
    pub dates: Vec<TinyDate>,
    /// `(year, [height, width] labels)`; 255 = unlabelled.
    pub labels: Vec<(i32, Vec<u8>)>,
}

/// The value of band `b` at pixel `(row, col)` of date `t` in [`tiny_series`]: band 0 encodes
/// the position (`1 + row * width + col`), the others a date- and class-dependent level.
pub fn tiny_value(b: usize, t: usize, row: usize, col: usize, width: usize) -> u16 {
    let id = row * width + col;
    match b {
        0 => (1 + id) as u16,
        _ => (1000 * b + 100 * t + 10 * tiny_label(row, col, width) as usize) as u16,
    }
}

/// The label of pixel `(row, col)` in [`tiny_series`]: `(row * width + col) % 5`.
pub fn tiny_label(row: usize, col: usize, width: usize) -> u8 {
    ((row * width + col) % CLASSES as usize) as u8
}

/// Whether pixel `(row, col)` of date `t` is cloudy in [`tiny_series`]:
/// `(row * width + col + t) % 7 == 0`.
pub fn tiny_cloud(t: usize, row: usize, col: usize, width: usize) -> bool {
    (row * width + col + t).is_multiple_of(7)
}

/// The nodata pixel of date `t` in [`tiny_series`]: `(t, t)` on odd dates (all bands 0).
pub fn tiny_nodata(t: usize, row: usize, col: usize) -> bool {
    t % 2 == 1 && row == t && col == t
}

/// Writes a `size x size` series of `dates` dates (one per month from 2016-01-10, all in
/// 2016) with 4 bands ([`BANDS`]), cloud masks ([`tiny_cloud`]), one nodata pixel on odd
/// dates ([`tiny_nodata`]) and 2016 labels ([`tiny_label`]); `seed` shifts the first date by
/// `seed % 5` days. Returns the manifest's path.
///
/// # Errors
/// I/O errors.
///
/// # Panics
/// If `dates > 12` or `size * size >= 65535` (band 0 must encode positions in u16).
pub fn tiny_series(dir: &Path, size: usize, dates: usize, seed: u64) -> Result<PathBuf> {
    assert!(dates <= 12, "at most 12 dates");
    assert!(
        size * size < 65_535,
        "size too large for position-encoding u16 pixels"
    );
    let plane = size * size;
    let mut scene = TinyScene {
        width: size,
        height: size,
        bands: BANDS.iter().map(|s| s.to_string()).collect(),
        dates: Vec::new(),
        labels: vec![(
            2016,
            (0..plane)
                .map(|i| tiny_label(i / size, i % size, size))
                .collect(),
        )],
    };
    for t in 0..dates {
        let date = Date::new(2016, t as u8 + 1, 10 + (seed % 5) as u8).expect("valid date");
        let mut image = vec![0u16; 4 * plane];
        let mut mask = vec![0u8; plane];
        for i in 0..plane {
            let (r, c) = (i / size, i % size);
            for b in 0..4 {
                image[b * plane + i] = if tiny_nodata(t, r, c) {
                    0
                } else {
                    tiny_value(b, t, r, c, size)
                };
            }
            mask[i] = tiny_cloud(t, r, c, size) as u8;
        }
        scene.dates.push(TinyDate {
            date,
            image,
            mask: Some(mask),
        });
    }
    write_scene(dir, &scene)
}

/// Writes `scene` to `dir` as `img_YYYYMMDD.tif` (u16, nodata 0), `img_YYYYMMDD_cloud.tif`
/// (u8), `labels_YYYY.tif` (u8) and `manifest.json` (classes `class0..class4` when labels are
/// present), in EPSG:32628 at [`ORIGIN`]. Returns the manifest's path.
///
/// # Errors
/// I/O errors.
///
/// # Panics
/// If an array has the wrong length.
pub fn write_scene(dir: &Path, scene: &TinyScene) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    let (w, h) = (scene.width, scene.height);
    let gt = GeoTransform::north_up(ORIGIN.0, ORIGIN.1, PIXEL);
    let spec = |bands: usize, t: SampleType| {
        RasterSpec::new(w, h, bands, t)
            .with_geotransform(gt)
            .with_epsg(EPSG)
            .with_tile_size(16)
    };
    let mut entries = Vec::new();
    for d in &scene.dates {
        let stamp = format!("{:04}{:02}{:02}", d.date.year, d.date.month, d.date.day);
        let image = format!("img_{stamp}.tif");
        let nb = scene.bands.len();
        assert_eq!(d.image.len(), nb * w * h, "image size");
        write_geotiff(
            dir.join(&image),
            &spec(nb, SampleType::U16)
                .with_nodata(0.0)
                .with_band_names(scene.bands.clone()),
            RasterData::U16(&d.image),
        )?;
        let mask = match &d.mask {
            Some(m) => {
                assert_eq!(m.len(), w * h, "mask size");
                let name = format!("img_{stamp}_cloud.tif");
                write_geotiff(dir.join(&name), &spec(1, SampleType::U8), RasterData::U8(m))?;
                Some(MaskEntry::Path(name.into()))
            }
            None => None,
        };
        entries.push(DateEntry {
            date: d.date.to_string(),
            image: Some(image.into()),
            bands: None,
            mask,
            labels: None,
            add_offset: None,
            scale: None,
            meta: None,
        });
    }
    let mut labels = Vec::new();
    for (year, l) in &scene.labels {
        assert_eq!(l.len(), w * h, "label size");
        let name = format!("labels_{year}.tif");
        write_geotiff(dir.join(&name), &spec(1, SampleType::U8), RasterData::U8(l))?;
        labels.push(LabelEntry {
            year: *year,
            path: name.into(),
        });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        bands: scene.bands.clone(),
        nodata: None,
        classes: if labels.is_empty() {
            Vec::new()
        } else {
            (0..CLASSES).map(|k| format!("class{k}")).collect()
        },
        dates: entries,
        labels,
        ground_truth: Vec::new(),
        meta: None,
    };
    let path = dir.join("manifest.json");
    manifest.save(&path)?;
    Ok(path)
}

/// The synthetic Saint-Louis world at 64 x 64 pixels, years 2016 and 2020 with 3 dates each,
/// written to `dir` (see [`crate::write_world`]). Returns the manifest's path.
///
/// # Errors
/// As [`crate::write_world`].
pub fn tiny_world(dir: &Path, seed: u64) -> Result<PathBuf> {
    let config = crate::SynthConfig {
        size: 64,
        dates_per_year: 3,
        ..crate::SynthConfig::new(seed)
    };
    Ok(crate::write_world(&config, dir, &mut |_, _, _| {})?.manifest)
}

/// Width of the Landsat test scenes ([`landsat_scene`]).
pub const LANDSAT_W: usize = 12;
/// Height of the Landsat test scenes.
pub const LANDSAT_H: usize = 10;
/// Collection 2 surface-reflectance scale of the Landsat test scenes (every band).
pub const LANDSAT_MULT: f64 = 2.75e-5;
/// Collection 2 surface-reflectance offset of the Landsat test scenes (every band).
pub const LANDSAT_ADD: f64 = -0.2;

/// Raw DN of band number `n` at scene pixel (r, c): distinct per band so that the band
/// mapping is checked; 0 (fill) in the first column.
pub fn landsat_dn(n: u8, r: usize, c: usize) -> u16 {
    if c == 0 {
        0
    } else {
        8000 + 1000 * n as u16 + (r * LANDSAT_W + c) as u16
    }
}

/// QA_PIXEL of scene pixel (r, c): fill in column 0, cloud (bit 3) in row 2, snow (bit 5)
/// at (5, 5), water (bit 7, not masked) in row 7, clear (bit 6) elsewhere.
pub fn landsat_qa(r: usize, c: usize) -> u16 {
    if c == 0 {
        1
    } else if r == 2 {
        1 << 3 | 1 << 1
    } else if (r, c) == (5, 5) {
        1 << 5
    } else if r == 7 {
        1 << 7 | 1 << 6
    } else {
        1 << 6
    }
}

/// Writes a Landsat Collection 2 scene folder under `root` in USGS's layout and names
/// (`*_SR_B<n>.TIF`, `*_QA_PIXEL.TIF`, `*_MTL.json` with every value a string, or
/// `*_MTL.txt`) and returns it; pixels are [`landsat_dn`] and [`landsat_qa`].
///
/// # Errors
/// Writing the files.
///
/// Writes a scene of `spacecraft` (8: OLI band numbers 1-7, 7: ETM+ 1-5 and 7) on
/// path/row `wrs` and `date`, with its origin `shift` pixels (col, row) from the reference,
/// and MTL as JSON or text.
pub fn landsat_scene(
    root: &Path,
    spacecraft: u8,
    wrs: (u32, u32),
    date: &str,
    shift: (i32, i32),
    json: bool,
    level: &str,
) -> Result<PathBuf> {
    let prefix = if spacecraft >= 8 { "LC0" } else { "LE0" };
    let ymd = date.replace('-', "");
    let id = format!(
        "{prefix}{spacecraft}_{level}_{:03}{:03}_{ymd}_20240101_02_T1",
        wrs.0, wrs.1
    );
    let dir = root.join(&id);
    std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
    let gt = GeoTransform::north_up(
        300_885.0 + 30.0 * shift.0 as f64,
        1_800_015.0 - 30.0 * shift.1 as f64,
        30.0,
    );
    let spec = |nodata: Option<f64>| {
        let s = RasterSpec::new(LANDSAT_W, LANDSAT_H, 1, SampleType::U16)
            .with_geotransform(gt)
            .with_epsg(32628);
        match nodata {
            Some(v) => s.with_nodata(v),
            None => s,
        }
    };
    let numbers: &[u8] = if spacecraft >= 8 {
        &[1, 2, 3, 4, 5, 6, 7]
    } else {
        &[1, 2, 3, 4, 5, 7]
    };
    let mut files = Vec::new();
    for &n in numbers {
        let name = format!("{id}_SR_B{n}.TIF");
        let data: Vec<u16> = (0..LANDSAT_H * LANDSAT_W)
            .map(|i| landsat_dn(n, i / LANDSAT_W, i % LANDSAT_W))
            .collect();
        write_geotiff(dir.join(&name), &spec(Some(0.0)), RasterData::U16(&data))?;
        files.push((n, name));
    }
    let qa_name = format!("{id}_QA_PIXEL.TIF");
    let q: Vec<u16> = (0..LANDSAT_H * LANDSAT_W)
        .map(|i| landsat_qa(i / LANDSAT_W, i % LANDSAT_W))
        .collect();
    write_geotiff(dir.join(&qa_name), &spec(Some(1.0)), RasterData::U16(&q))?;
    let mut contents = vec![
        ("LANDSAT_PRODUCT_ID".to_string(), id.clone()),
        ("PROCESSING_LEVEL".to_string(), level.to_string()),
        ("COLLECTION_NUMBER".to_string(), "02".to_string()),
        ("FILE_NAME_QUALITY_L1_PIXEL".to_string(), qa_name),
    ];
    for (n, name) in &files {
        contents.push((format!("FILE_NAME_BAND_{n}"), name.clone()));
    }
    let attrs = vec![
        ("SPACECRAFT_ID".to_string(), format!("LANDSAT_{spacecraft}")),
        ("WRS_PATH".to_string(), wrs.0.to_string()),
        ("WRS_ROW".to_string(), wrs.1.to_string()),
        ("DATE_ACQUIRED".to_string(), date.to_string()),
        ("CLOUD_COVER".to_string(), "12.34".to_string()),
    ];
    let mut refl = Vec::new();
    for (n, _) in &files {
        refl.push((
            format!("REFLECTANCE_MULT_BAND_{n}"),
            format!("{LANDSAT_MULT:.4E}"),
        ));
        refl.push((
            format!("REFLECTANCE_ADD_BAND_{n}"),
            format!("{LANDSAT_ADD:.6}"),
        ));
    }
    let groups = [
        ("PRODUCT_CONTENTS", contents),
        ("IMAGE_ATTRIBUTES", attrs),
        ("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", refl),
    ];
    if json {
        // USGS writes every value as a string
        let mut root = serde_json::Map::new();
        for (g, kv) in &groups {
            let obj: serde_json::Map<String, serde_json::Value> = kv
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            root.insert(g.to_string(), serde_json::Value::Object(obj));
        }
        let doc = serde_json::json!({ "LANDSAT_METADATA_FILE": root });
        let p = dir.join(format!("{id}_MTL.json"));
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        std::fs::write(&p, text).map_err(|e| crate::Error::io(&p, e))?;
    } else {
        let mut t = String::from("GROUP = LANDSAT_METADATA_FILE\n");
        for (g, kv) in &groups {
            t += &format!("  GROUP = {g}\n");
            for (k, v) in kv {
                let numeric = v.parse::<f64>().is_ok();
                if numeric {
                    t += &format!("    {k} = {v}\n");
                } else {
                    t += &format!("    {k} = \"{v}\"\n");
                }
            }
            t += &format!("  END_GROUP = {g}\n");
        }
        t += "END_GROUP = LANDSAT_METADATA_FILE\nEND\n";
        let p = dir.join(format!("{id}_MTL.txt"));
        std::fs::write(&p, t).map_err(|e| crate::Error::io(&p, e))?;
    }
    Ok(dir)
}
