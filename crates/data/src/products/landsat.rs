//! Landsat Collection 2 Level-2 scenes (Landsat 4-9, surface reflectance) as USGS delivers
//! them: the `.tar` bundle (read in place, never unpacked), or a folder (or the files of one
//! scene side by side) holding `*_MTL.json` or `*_MTL.txt`, the `*_SR_B*.TIF` bands and
//! `*_QA_PIXEL.TIF`.
//!
//! - Bands are named by their common names, whatever the sensor numbers them:
//!   Landsat 8/9 OLI `B1` coastal, `B2` blue, `B3` green, `B4` red, `B5` nir, `B6` swir1,
//!   `B7` swir2; Landsat 4/5 TM and 7 ETM+ `B1` blue, `B2` green, `B3` red, `B4` nir,
//!   `B5` swir1, `B7` swir2. A series may mix sensors.
//! - The mask is `QA_PIXEL` with bit flags ([`QA_PIXEL_DEFAULT_BITS`]: fill, dilated cloud,
//!   cirrus, cloud, cloud shadow, snow), configurable.
//! - Values are surface reflectance: `raw * REFLECTANCE_MULT_BAND_n + REFLECTANCE_ADD_BAND_n`
//!   from the metadata (2.75e-5 and -0.2 in Collection 2); raw 0 is fill (nodata).
//! - Scenes of one WRS-2 path/row are one series (their extents differ by whole pixels and
//!   are placed on the first scene's grid); scenes of several path/rows are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::date::Date;
use crate::error::{Error, ProductProblem, Result};
use crate::manifest::{DateEntry, MANIFEST_VERSION, Manifest, MaskEntry};

use super::{bad, band_files, one_tile, sort_by_unique_date};

/// `QA_PIXEL` bits that mask a pixel by default: 0 fill, 1 dilated cloud, 2 cirrus (Landsat
/// 8/9; unused on 4-7), 3 cloud, 4 cloud shadow, 5 snow.
pub const QA_PIXEL_DEFAULT_BITS: [u32; 6] = [0, 1, 2, 3, 4, 5];

/// The bands every Landsat 4-9 sensor has, by common name: the default band list.
pub const COMMON_BANDS: [&str; 6] = ["blue", "green", "red", "nir", "swir1", "swir2"];

/// How to read Landsat scenes into a series.
#[derive(Debug, Clone, PartialEq)]
pub struct LandsatOptions {
    /// Bands by common name, in channel order (default [`COMMON_BANDS`]).
    pub bands: Vec<String>,
    /// `QA_PIXEL` bits that mask a pixel (default [`QA_PIXEL_DEFAULT_BITS`]).
    pub qa_bits: Vec<u32>,
}

impl Default for LandsatOptions {
    fn default() -> Self {
        Self {
            bands: COMMON_BANDS.iter().map(|s| s.to_string()).collect(),
            qa_bits: QA_PIXEL_DEFAULT_BITS.to_vec(),
        }
    }
}

/// Common name -> band number of a spacecraft (`4`..`9`).
fn band_numbers(spacecraft: u8) -> &'static [(&'static str, u8)] {
    match spacecraft {
        8 | 9 => &[
            ("coastal", 1),
            ("blue", 2),
            ("green", 3),
            ("red", 4),
            ("nir", 5),
            ("swir1", 6),
            ("swir2", 7),
        ],
        _ => &[
            ("blue", 1),
            ("green", 2),
            ("red", 3),
            ("nir", 4),
            ("swir1", 5),
            ("swir2", 7),
        ],
    }
}

/// One Landsat Collection 2 Level-2 scene, from its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LandsatScene {
    /// The metadata file read.
    pub metadata: PathBuf,
    /// `LANDSAT_PRODUCT_ID`, e.g. `LC08_L2SP_205049_20200115_20200823_02_T1`.
    pub product_id: String,
    /// 4 to 9.
    pub spacecraft: u8,
    /// WRS-2 path and row.
    pub wrs: (u32, u32),
    /// `DATE_ACQUIRED`.
    pub date: Date,
    /// USGS's scene cloud cover in percent (`CLOUD_COVER`), when given.
    pub cloud_cover: Option<f64>,
    /// Surface-reflectance band files by common name (every band the sensor has).
    pub bands: BTreeMap<String, PathBuf>,
    /// The `QA_PIXEL` file.
    pub qa_pixel: PathBuf,
    /// Per common name: (`REFLECTANCE_MULT_BAND_n`, `REFLECTANCE_ADD_BAND_n`).
    pub factors: BTreeMap<String, (f64, f64)>,
}

/// Parsed metadata: group -> key -> value (strings, as USGS writes them).
type Mtl = BTreeMap<String, BTreeMap<String, String>>;

/// Parses `*_MTL.json` (`{"LANDSAT_METADATA_FILE": {group: {key: value}}}`).
fn parse_mtl_json(path: &Path, text: &str) -> Result<Mtl> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        bad(
            path,
            ProductProblem::Metadata {
                detail: e.to_string(),
            },
        )
    })?;
    let root = v
        .get("LANDSAT_METADATA_FILE")
        .and_then(|r| r.as_object())
        .ok_or_else(|| {
            bad(
                path,
                ProductProblem::Metadata {
                    detail: "no LANDSAT_METADATA_FILE object".into(),
                },
            )
        })?;
    let mut out = Mtl::new();
    for (group, keys) in root {
        let Some(keys) = keys.as_object() else {
            continue;
        };
        let g = out.entry(group.clone()).or_default();
        for (k, v) in keys {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => continue,
            };
            g.insert(k.clone(), s);
        }
    }
    Ok(out)
}

/// Parses `*_MTL.txt` (ODL: `GROUP = X` ... `KEY = "value"` ... `END_GROUP = X`, `END`).
fn parse_mtl_txt(path: &Path, text: &str) -> Result<Mtl> {
    let mut out = Mtl::new();
    let mut stack: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line == "END" {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(bad(
                path,
                ProductProblem::Metadata {
                    detail: format!("line {}: no `=` in {line:?}", n + 1),
                },
            ));
        };
        let (k, v) = (k.trim(), v.trim().trim_matches('"'));
        match k {
            "GROUP" => stack.push(v.to_string()),
            "END_GROUP" => {
                if stack.pop().as_deref() != Some(v) {
                    return Err(bad(
                        path,
                        ProductProblem::Metadata {
                            detail: format!("line {}: END_GROUP = {v} closes no open group", n + 1),
                        },
                    ));
                }
            }
            _ => {
                let group = stack.last().cloned().unwrap_or_default();
                out.entry(group)
                    .or_default()
                    .insert(k.to_string(), v.to_string());
            }
        }
    }
    if !stack.is_empty() {
        return Err(bad(
            path,
            ProductProblem::Metadata {
                detail: format!("group {:?} is never closed", stack.last()),
            },
        ));
    }
    Ok(out)
}

/// The metadata file of a scene given as its metadata file or its folder (`*_MTL.json`
/// preferred over `*_MTL.txt`).
fn metadata_file(source: &Path) -> Result<PathBuf> {
    if source.is_file() {
        return Ok(source.to_path_buf());
    }
    let mtls = mtl_files(source)?;
    mtls.into_iter()
        .next()
        .ok_or_else(|| bad(source, ProductProblem::NotFound))
}

/// The metadata files in `dir` (not recursive), one per scene, JSON before text.
fn mtl_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut by_scene: BTreeMap<String, PathBuf> = BTreeMap::new();
    for e in entries {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let upper = name.to_ascii_uppercase();
        for ext in ["_MTL.JSON", "_MTL.TXT"] {
            if let Some(stem) = upper.strip_suffix(ext) {
                let json = ext == "_MTL.JSON";
                let keep = match by_scene.get(stem) {
                    None => true,
                    Some(old) => {
                        json && !old
                            .to_string_lossy()
                            .to_ascii_uppercase()
                            .ends_with(".JSON")
                    }
                };
                if keep {
                    by_scene.insert(stem.to_string(), p.clone());
                }
            }
        }
    }
    Ok(by_scene.into_values().collect())
}

impl LandsatScene {
    /// Reads a scene from its metadata file or its folder.
    ///
    /// # Errors
    /// [`Error::Product`]: no metadata, unreadable metadata, a missing key, not a
    /// Collection 2 Level-2 product, a listed file that is absent; [`Error::Io`].
    pub fn open(source: impl AsRef<Path>) -> Result<Self> {
        let source = source.as_ref();
        if chronomap_geo::archive::is_tar(source) {
            return Self::open_tar(source);
        }
        let path = metadata_file(source)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(
            &path,
            &text,
            &|name| {
                let p = dir.join(name);
                p.is_file().then_some(p)
            },
            &|name| dir.join(name),
        )
    }

    /// Reads a scene from its `.tar` bundle as USGS delivers it, in place: the bands become
    /// `/vsitar/<archive>/<member>` paths (GDAL's syntax), read without unpacking.
    ///
    /// # Errors
    /// As [`LandsatScene::open`]; [`chronomap_geo::Error::Archive`] for a corrupt archive.
    pub fn open_tar(archive: &Path) -> Result<Self> {
        let members = chronomap_geo::archive::tar_members(archive)?;
        let base = |n: &str| n.rsplit('/').next().unwrap_or(n).to_string();
        let mtl = ["_MTL.JSON", "_MTL.TXT"]
            .iter()
            .find_map(|ext| {
                members
                    .iter()
                    .find(|m| base(&m.name).to_ascii_uppercase().ends_with(ext))
            })
            .ok_or_else(|| bad(archive, ProductProblem::NotFound))?;
        if mtl.size > 16 << 20 {
            return Err(bad(
                archive,
                ProductProblem::Metadata {
                    detail: format!("{} is {} bytes, not a metadata file", mtl.name, mtl.size),
                },
            ));
        }
        let mut bytes = vec![0u8; mtl.size as usize];
        {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
            f.seek(SeekFrom::Start(mtl.offset))
                .and_then(|_| f.read_exact(&mut bytes))
                .map_err(|e| Error::io(archive, e))?;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let meta = chronomap_geo::archive::vsitar_path(archive, &mtl.name);
        Self::parse(
            &meta,
            &text,
            &|name| {
                members
                    .iter()
                    .find(|m| base(&m.name) == name)
                    .map(|m| chronomap_geo::archive::vsitar_path(archive, &m.name))
            },
            &|name| chronomap_geo::archive::vsitar_path(archive, name),
        )
    }

    /// A scene from its metadata text; `locate(name)` gives the path of a file the metadata
    /// names when the product holds it, `expected(name)` where it would be (for messages).
    fn parse(
        path: &Path,
        text: &str,
        locate: &dyn Fn(&str) -> Option<PathBuf>,
        expected: &dyn Fn(&str) -> PathBuf,
    ) -> Result<Self> {
        let path = path.to_path_buf();
        let is_json = text.trim_start().starts_with('{');
        let mtl = if is_json {
            parse_mtl_json(&path, text)?
        } else {
            parse_mtl_txt(&path, text)?
        };
        let key_err = |group: &'static str, key: &str| {
            bad(
                &path,
                ProductProblem::Key {
                    group,
                    key: key.to_string(),
                },
            )
        };
        let get = |group: &'static str, key: &str| -> Result<&str> {
            mtl.get(group)
                .and_then(|g| g.get(key))
                .map(String::as_str)
                .ok_or_else(|| key_err(group, key))
        };
        let level = get("PRODUCT_CONTENTS", "PROCESSING_LEVEL")?;
        let collection = mtl
            .get("PRODUCT_CONTENTS")
            .and_then(|g| g.get("COLLECTION_NUMBER"))
            .map(String::as_str)
            .unwrap_or("02");
        if !level.starts_with("L2") || collection.trim_start_matches('0') != "2" {
            return Err(bad(
                &path,
                ProductProblem::Unsupported {
                    what: format!(
                        "a collection {collection} {level} product; chronomap reads Collection 2 \
                         Level-2 surface reflectance (L2SP / L2SR) products"
                    ),
                },
            ));
        }
        let product_id = get("PRODUCT_CONTENTS", "LANDSAT_PRODUCT_ID")?.to_string();
        let craft = get("IMAGE_ATTRIBUTES", "SPACECRAFT_ID")?;
        let spacecraft = craft
            .strip_prefix("LANDSAT_")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (4..=9).contains(n) && *n != 6)
            .ok_or_else(|| {
                bad(
                    &path,
                    ProductProblem::Unsupported {
                        what: format!("spacecraft {craft}; Landsat 4, 5, 7, 8 and 9 are read"),
                    },
                )
            })?;
        let num = |group: &'static str, key: &str| -> Result<f64> {
            get(group, key)?
                .trim()
                .parse::<f64>()
                .map_err(|_| key_err(group, key))
        };
        let wrs = (
            num("IMAGE_ATTRIBUTES", "WRS_PATH")? as u32,
            num("IMAGE_ATTRIBUTES", "WRS_ROW")? as u32,
        );
        let date_s = get("IMAGE_ATTRIBUTES", "DATE_ACQUIRED")?;
        let date =
            Date::parse(date_s).ok_or_else(|| key_err("IMAGE_ATTRIBUTES", "DATE_ACQUIRED"))?;
        let cloud_cover = num("IMAGE_ATTRIBUTES", "CLOUD_COVER")
            .ok()
            .filter(|c| *c >= 0.0);
        let file = |key: &str, fallback: String| -> Result<PathBuf> {
            let name = mtl
                .get("PRODUCT_CONTENTS")
                .and_then(|g| g.get(key))
                .cloned()
                .unwrap_or(fallback);
            // names only: a metadata file must not point outside its folder
            if name.contains('/') || name.contains('\\') || name.contains("..") {
                return Err(key_err("PRODUCT_CONTENTS", key));
            }
            locate(&name).ok_or_else(|| {
                bad(
                    &path,
                    ProductProblem::MissingFile {
                        file: expected(&name),
                    },
                )
            })
        };
        let mut bands = BTreeMap::new();
        let mut factors = BTreeMap::new();
        for &(name, n) in band_numbers(spacecraft) {
            let p = file(
                &format!("FILE_NAME_BAND_{n}"),
                format!("{product_id}_SR_B{n}.TIF"),
            )?;
            bands.insert(name.to_string(), p);
            let group = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS";
            let mult = num(group, &format!("REFLECTANCE_MULT_BAND_{n}"))?;
            let add = num(group, &format!("REFLECTANCE_ADD_BAND_{n}"))?;
            factors.insert(name.to_string(), (mult, add));
        }
        let qa_pixel = file(
            "FILE_NAME_QUALITY_L1_PIXEL",
            format!("{product_id}_QA_PIXEL.TIF"),
        )?;
        Ok(Self {
            metadata: path,
            product_id,
            spacecraft,
            wrs,
            date,
            cloud_cover,
            bands,
            qa_pixel,
            factors,
        })
    }

    /// `"path/row"`, e.g. `"205/049"`.
    pub fn tile(&self) -> String {
        format!("{:03}/{:03}", self.wrs.0, self.wrs.1)
    }

    /// The scene's scale and offset for `bands`: one pair for the date.
    fn factors_for(&self, bands: &[String]) -> Result<(f64, f64)> {
        let mut pair: Option<(f64, f64)> = None;
        for b in bands {
            let f = self
                .factors
                .get(b)
                .copied()
                .ok_or_else(|| self.unknown_band(b))?;
            match pair {
                None => pair = Some(f),
                Some(p) if (p.0 - f.0).abs() <= 1e-12 * p.0.abs() && (p.1 - f.1).abs() <= 1e-12 => {
                }
                Some(p) => {
                    return Err(bad(
                        &self.metadata,
                        ProductProblem::MixedScale {
                            detail: format!("{p:?} and {f:?} for {b}"),
                        },
                    ));
                }
            }
        }
        Ok(pair.unwrap_or((1.0, 0.0)))
    }

    fn unknown_band(&self, band: &str) -> Error {
        bad(
            &self.metadata,
            ProductProblem::UnknownBand {
                band: band.to_string(),
                spacecraft: format!("Landsat {}", self.spacecraft),
                available: self.bands.keys().cloned().collect(),
            },
        )
    }
}

/// Finds the scenes of `sources`: each a scene's metadata file, a scene folder, a scene's
/// `.tar` bundle (read in place), or a folder of scene folders, of bundles, or of several
/// scenes' files side by side.
///
/// # Errors
/// As [`LandsatScene::open`]; [`ProductProblem::NotFound`] when a source holds no scene.
pub fn find_scenes(sources: &[PathBuf]) -> Result<Vec<LandsatScene>> {
    let mut scenes = Vec::new();
    for src in sources {
        if src.is_file() {
            scenes.push(LandsatScene::open(src)?);
            continue;
        }
        let here = mtl_files(src)?;
        if !here.is_empty() {
            for m in here {
                scenes.push(LandsatScene::open(m)?);
            }
            continue;
        }
        // a folder of .tar bundles
        let mut tars: Vec<PathBuf> = std::fs::read_dir(src)
            .map_err(|e| Error::io(src, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| chronomap_geo::archive::is_tar(p))
            .collect();
        if !tars.is_empty() {
            tars.sort();
            for t in tars {
                scenes.push(LandsatScene::open(t)?);
            }
            continue;
        }
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(src)
            .map_err(|e| Error::io(src, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        let before = scenes.len();
        for d in subdirs {
            for m in mtl_files(&d)? {
                scenes.push(LandsatScene::open(m)?);
            }
        }
        if scenes.len() == before {
            return Err(bad(src, ProductProblem::NotFound));
        }
    }
    Ok(scenes)
}

/// The manifest of the series that Landsat scenes `sources` make (see [`find_scenes`]),
/// with paths as seen from `manifest_dir` (relative under it, absolute elsewhere). Each date
/// gives the chosen bands' files, `QA_PIXEL` with `options.qa_bits` as its mask, the
/// metadata's reflectance scale and offset, nodata 0, and the product id, spacecraft,
/// path/row and cloud cover under `meta`.
///
/// # Errors
/// As [`find_scenes`]; [`ProductProblem::MixedTiles`] for scenes of several path/rows,
/// [`ProductProblem::DuplicateDate`], [`ProductProblem::UnknownBand`] for a band a scene's
/// sensor lacks, [`ProductProblem::MixedScale`].
pub fn landsat_manifest(
    sources: &[PathBuf],
    options: &LandsatOptions,
    manifest_dir: &Path,
) -> Result<(Manifest, Vec<LandsatScene>)> {
    let mut scenes = find_scenes(sources)?;
    let first = sources.first().cloned().unwrap_or_default();
    if scenes.is_empty() {
        return Err(bad(&first, ProductProblem::NotFound));
    }
    let tile = one_tile(&first, &scenes, LandsatScene::tile, |t, n| {
        format!("WRS-2 {t}: {n} scene(s)")
    })?;
    sort_by_unique_date(&mut scenes, |s| s.date, |s| &s.metadata)?;
    let mut dates = Vec::new();
    for s in &scenes {
        let files = band_files(&options.bands, &s.bands, manifest_dir, |b| {
            s.unknown_band(b)
        })?;
        let (scale, offset) = s.factors_for(&options.bands)?;
        dates.push(DateEntry {
            date: s.date.to_string(),
            image: None,
            bands: Some(files),
            mask: Some(MaskEntry::Values {
                path: super::manifest_path(manifest_dir, &s.qa_pixel),
                invalid: None,
                valid: None,
                bits: Some(options.qa_bits.clone()),
            }),
            labels: None,
            add_offset: (offset != 0.0).then_some(offset),
            scale: (scale != 1.0).then_some(scale),
            meta: Some(json!({
                "product_id": s.product_id,
                "spacecraft": format!("LANDSAT_{}", s.spacecraft),
                "wrs_path_row": s.tile(),
                "cloud_cover": s.cloud_cover,
            })),
        });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        bands: options.bands.clone(),
        nodata: Some(0.0),
        classes: Vec::new(),
        dates,
        labels: Vec::new(),
        ground_truth: Vec::new(),
        meta: Some(json!({
            "source": "Landsat Collection 2 Level-2",
            "tile": tile,
        })),
    };
    Ok((manifest, scenes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtl_txt_groups_and_values() {
        let text = "GROUP = LANDSAT_METADATA_FILE\n  GROUP = IMAGE_ATTRIBUTES\n    \
                    SPACECRAFT_ID = \"LANDSAT_7\"\n    WRS_PATH = 205\n  END_GROUP = \
                    IMAGE_ATTRIBUTES\nEND_GROUP = LANDSAT_METADATA_FILE\nEND\n";
        let m = parse_mtl_txt(Path::new("x_MTL.txt"), text).unwrap();
        assert_eq!(m["IMAGE_ATTRIBUTES"]["SPACECRAFT_ID"], "LANDSAT_7");
        assert_eq!(m["IMAGE_ATTRIBUTES"]["WRS_PATH"], "205");
        let unclosed = "GROUP = A\n  K = 1\n";
        assert!(matches!(
            parse_mtl_txt(Path::new("x"), unclosed),
            Err(Error::Product {
                problem: ProductProblem::Metadata { .. },
                ..
            })
        ));
    }

    #[test]
    fn band_numbers_by_sensor() {
        let n = |sc: u8, name: &str| band_numbers(sc).iter().find(|b| b.0 == name).map(|b| b.1);
        assert_eq!(
            (n(8, "red"), n(9, "nir"), n(8, "coastal")),
            (Some(4), Some(5), Some(1))
        );
        assert_eq!(
            (n(7, "red"), n(5, "nir"), n(4, "swir2")),
            (Some(3), Some(4), Some(7))
        );
        assert_eq!(n(7, "coastal"), None);
    }
}
