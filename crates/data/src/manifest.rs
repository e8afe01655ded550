//! The scene-series manifest: a small JSON file naming the GeoTIFFs of each date, the bands,
//! the masks and the label rasters (format documented in `docs/data-format.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::error::{Error, ManifestProblem, Result};

/// The manifest format version this library reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// A scene series described in JSON. Paths are relative to the manifest's folder (or
/// absolute), or `http://` / `https://` URLs, kept as they are and read with HTTP range
/// requests (see [`chronomap_geo::http`]).
///
/// ```json
/// {
///   "version": 1,
///   "bands": ["B2", "B3", "B4", "B8"],
///   "nodata": 0,
///   "classes": ["background", "building", "road", "water", "vegetation"],
///   "dates": [
///     { "date": "2016-01-12", "image": "S2_20160112.tif", "mask": "S2_20160112_cloud.tif" },
///     { "date": "2016-03-02",
///       "bands": { "B2": "T28QCD_20160302_B02.tif", "B3": "T28QCD_20160302_B03.tif",
///                  "B4": "T28QCD_20160302_B04.tif", "B8": "T28QCD_20160302_B08.tif" },
///       "mask": { "path": "T28QCD_20160302_SCL.tif", "invalid": [0, 1, 3, 8, 9, 10] } }
///   ],
///   "labels": [ { "year": 2016, "path": "labels_2016.tif" } ]
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`]).
    #[serde(default = "default_version")]
    pub version: u32,
    /// Band names, in the order of the channels of every patch.
    pub bands: Vec<String>,
    /// Nodata value of the images; overrides the files' own `GDAL_NODATA` tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodata: Option<f64>,
    /// Class names, indexed by label value. When given, label values `>= classes.len()`
    /// (other than the ignore value 255) are an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// The acquisitions, in any order (they are sorted by date when opened).
    pub dates: Vec<DateEntry>,
    /// Label rasters (u8 class ids, 255 = unlabelled) per year; a date uses the one of its
    /// year unless it gives its own `labels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<LabelEntry>,
    /// Ground-truth class rasters per year (synthetic worlds only: what is really on the
    /// ground, including features the OSM labels miss). Same format as `labels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ground_truth: Vec<LabelEntry>,
    /// Free-form information (generator, parameters); ignored by the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

fn default_version() -> u32 {
    MANIFEST_VERSION
}

/// One acquisition of a [`Manifest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateEntry {
    /// Acquisition date, `YYYY-MM-DD`.
    pub date: String,
    /// One multi-band GeoTIFF holding the bands in the order of [`Manifest::bands`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// One single-band GeoTIFF per band name (Sentinel-2 style); exclusive with `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bands: Option<BTreeMap<String, PathBuf>>,
    /// Cloud / quality mask of this date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<MaskEntry>,
    /// A label raster for this date only (overrides the year's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// Added to every raw value of this date (after `scale`), e.g. `-1000` for Sentinel-2
    /// L2A products of processing baseline 04.00 and later (`BOA_ADD_OFFSET`), or `-0.2` for
    /// Landsat Collection 2 surface reflectance. Nodata is detected before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_offset: Option<f64>,
    /// Every raw value of this date is multiplied by it before `add_offset` is added
    /// (GDAL's convention: `value = raw * scale + add_offset`), e.g. `2.75e-5` for Landsat
    /// Collection 2 surface reflectance. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Free-form information about the date (the synthetic world writes its sun elevation,
    /// haze and cloud cover here); ignored by the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

/// A cloud / quality mask: a path (every non-zero value is masked), or a path with the list
/// of masked (`invalid`) or clear (`valid`) values, e.g. Sentinel-2 SCL
/// `{"path": "SCL.tif", "invalid": [0, 1, 3, 8, 9, 10]}`, or of masking bits, e.g. Landsat
/// `{"path": "QA_PIXEL.tif", "bits": [0, 1, 2, 3, 4, 5]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaskEntry {
    /// Non-zero = masked.
    Path(PathBuf),
    /// Explicit values.
    Values {
        /// The mask raster (same grid as the images; a 20 m SCL must be resampled first).
        path: PathBuf,
        /// Values that mark a pixel as masked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invalid: Option<Vec<u32>>,
        /// Values that mark a pixel as clear (every other value is masked).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid: Option<Vec<u32>>,
        /// Bit positions (0 = least significant) any of which, when set, masks the pixel:
        /// Landsat Collection 2 `QA_PIXEL` uses `[0, 1, 2, 3, 4, 5]` (fill, dilated cloud,
        /// cirrus, cloud, cloud shadow, snow). Exclusive with `invalid` and `valid`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bits: Option<Vec<u32>>,
    },
}

impl MaskEntry {
    /// The mask raster's path.
    pub fn path(&self) -> &Path {
        match self {
            MaskEntry::Path(p) => p,
            MaskEntry::Values { path, .. } => path,
        }
    }
}

/// A label (or ground-truth) raster for a year.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelEntry {
    /// The calendar year whose dates use it.
    pub year: i32,
    /// The raster: one band of class ids (`u8` recommended); 255 or the file's nodata value
    /// mark unlabelled pixels.
    pub path: PathBuf,
}

impl Manifest {
    /// Reads and parses a manifest file (no file it names is opened).
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable; [`Error::ManifestJson`] when not valid JSON or not
    /// following the schema (unknown keys are rejected, to catch typos).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|source| Error::ManifestJson {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the manifest as pretty JSON, atomically (temporary file, then rename).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::io(path.as_ref(), std::io::Error::other(e)))?;
        write_atomic(path.as_ref(), text.as_bytes())
    }

    /// Builds a manifest from the GeoTIFFs of a folder (not recursive), from their names:
    ///
    /// - images: a date in the name (`YYYYMMDD` or `YYYY-MM-DD`, the first one counts); with
    ///   a band token (`B02`, `B8A`, ... between `_`, `-` or `.`) the files of a date are one
    ///   band each, otherwise each file is a multi-band image whose band names come from its
    ///   band descriptions (else `band1`, `band2`, ...);
    /// - masks: names containing `cloud`, `mask`, `fmask` or `scl` (`scl`: Sentinel-2 scene
    ///   classification, values 0, 1, 3, 8, 9, 10 masked; otherwise non-zero = masked);
    /// - labels: names containing `label` (per date when the name holds a full date matching
    ///   an image, else per year from a 4-digit year); `truth` for ground truth.
    ///
    /// Save the result with [`Manifest::save`] to inspect or edit it.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be listed; [`Error::Manifest`] with
    /// [`ManifestProblem::NoDates`] when no dated image is found, or
    /// [`ManifestProblem::MissingBand`] when dates have different band files;
    /// [`Error::Geo`] when a multi-band image cannot be opened to name its bands.
    pub fn discover(dir: impl AsRef<Path>) -> Result<Self> {
        crate::discover::discover(dir.as_ref())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// that an interrupted write never leaves a truncated file behind.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Parses a manifest date, naming the manifest in the error.
pub(crate) fn parse_date(manifest: &Path, s: &str) -> Result<Date> {
    Date::parse(s).ok_or_else(|| {
        Error::manifest(
            manifest,
            ManifestProblem::BadDate {
                value: s.to_string(),
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_image_styles_and_masks() {
        let text = r#"{
          "bands": ["B2", "B3"],
          "dates": [
            {"date": "2016-01-12", "image": "a.tif", "mask": "a_cloud.tif"},
            {"date": "2016-03-02", "bands": {"B2": "b2.tif", "B3": "b3.tif"},
             "mask": {"path": "scl.tif", "invalid": [3, 8]}, "add_offset": -1000}
          ],
          "labels": [{"year": 2016, "path": "l.tif"}]
        }"#;
        let m: Manifest = serde_json::from_str(text).unwrap();
        assert_eq!(m.version, 1);
        assert_eq!(m.dates[0].mask, Some(MaskEntry::Path("a_cloud.tif".into())));
        assert_eq!(
            m.dates[1].mask,
            Some(MaskEntry::Values {
                path: "scl.tif".into(),
                invalid: Some(vec![3, 8]),
                valid: None,
                bits: None
            })
        );
        assert_eq!(m.dates[1].add_offset, Some(-1000.0));
        // Round trip.
        let again: Manifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn typos_are_rejected() {
        let text = r#"{"bands": ["B2"], "dates": [{"date": "2016-01-12", "imgae": "a.tif"}]}"#;
        assert!(serde_json::from_str::<Manifest>(text).is_err());
    }

    #[test]
    fn save_is_atomic_and_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest {
            version: 1,
            bands: vec!["B2".into()],
            nodata: Some(0.0),
            classes: vec![],
            dates: vec![],
            labels: vec![],
            ground_truth: vec![],
            meta: None,
        };
        let p = dir.path().join("manifest.json");
        m.save(&p).unwrap();
        assert_eq!(Manifest::load(&p).unwrap(), m);
        // Only the manifest is left in the folder (no temporary file).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let err = Manifest::load(&bad).unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
    }
}
