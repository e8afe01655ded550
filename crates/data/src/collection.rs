//! Collections: several scene series (cities, tiles) that one model trains on, each with its
//! own grid, CRS, dates, masks and labels, sharing one band list and one class list.
//!
//! A collection is described by a small versioned JSON file, `collection.json`:
//!
//! ```json
//! {
//!   "version": 1,
//!   "series": [
//!     { "name": "saint-louis", "source": "saint-louis/manifest.json",
//!       "tags": { "region": "west-africa", "sensor": "sentinel-2" } },
//!     { "name": "dakar", "source": "dakar" }
//!   ]
//! }
//! ```
//!
//! `source` is a manifest, a folder holding a `manifest.json` (or files a manifest can be
//! discovered from), or a STAC Item / ItemCollection JSON with local assets; relative paths
//! are resolved against the collection file's folder. A folder without `collection.json`
//! whose sub-folders each hold a series is a collection too (series named after the
//! sub-folders, in name order).
//!
//! Bands are matched by name: Sentinel-2 band ids (`B02`, `B8A`, ...) and common names
//! (`blue`, `nir`, `swir16`, ...) are the same band ([`canonical_band`]), so a Landsat series
//! with `blue, green, red, nir` joins a Sentinel-2 series with `B02, B03, B04, B08`. The
//! bands must come in the same order in every series, and the class lists must be equal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::series::SceneSeries;

/// Version of the `collection.json` format this crate reads and writes.
pub const COLLECTION_VERSION: u32 = 1;

/// One series of a `collection.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionEntry {
    /// Unique name (a city, a tile id); names output folders, held-out lists and metrics.
    pub name: String,
    /// A manifest, a series folder or a STAC JSON, relative to the collection's folder.
    pub source: PathBuf,
    /// Free tags (`region`, `sensor`, `hemisphere`, ...), copied into metrics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Bands to read from a STAC source (asset keys or common names, in channel order);
    /// ignored for manifests and series folders, which list their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<String>,
}

/// The content of a `collection.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionFile {
    /// Format version ([`COLLECTION_VERSION`]).
    pub version: u32,
    /// The series, in the order they are used (sampling, outputs).
    pub series: Vec<CollectionEntry>,
    /// Free-form information (generator, parameters); ignored by the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

impl CollectionFile {
    /// Reads and parses a `collection.json` (not opening its series).
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable; [`Error::Collection`] for invalid JSON, another
    /// version, no series, an empty or duplicate name.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let file: CollectionFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::collection(path, format!("invalid JSON: {e}")))?;
        file.check(path)?;
        Ok(file)
    }

    pub(crate) fn check(&self, path: &Path) -> Result<()> {
        if self.version != COLLECTION_VERSION {
            return Err(Error::collection(
                path,
                format!(
                    "version {} (this chronomap reads version {COLLECTION_VERSION})",
                    self.version
                ),
            ));
        }
        if self.series.is_empty() {
            return Err(Error::collection(path, "no series".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &self.series {
            if e.name.trim().is_empty() || e.name.contains(['/', '\\']) || e.name == ".." {
                return Err(Error::collection(
                    path,
                    format!(
                        "series name {:?} is empty or not a plain file name (it names output folders)",
                        e.name
                    ),
                ));
            }
            if !seen.insert(e.name.as_str()) {
                return Err(Error::collection(
                    path,
                    format!("two series are named {:?}", e.name),
                ));
            }
        }
        Ok(())
    }

    /// Writes the file atomically (temporary file, then rename), pretty-printed.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        crate::manifest::write_atomic(path, text.as_bytes())
    }
}

/// Sentinel-2 band ids and common names of the same band mapped to one canonical (lower-case
/// STAC `eo:common_name`) name; other names are lower-cased as they are.
///
/// | canonical | Sentinel-2 | also |
/// |---|---|---|
/// | coastal | B01 | B1 |
/// | blue | B02 | B2 |
/// | green | B03 | B3 |
/// | red | B04 | B4 |
/// | rededge1 / 2 / 3 | B05 / B06 / B07 | |
/// | nir | B08 | B8 |
/// | nir08 | B8A | |
/// | nir09 | B09 | |
/// | cirrus | B10 | |
/// | swir16 | B11 | swir1 |
/// | swir22 | B12 | swir2 |
///
/// # Examples
/// ```
/// use chronomap_data::canonical_band;
/// assert_eq!(canonical_band("B02"), "blue");
/// assert_eq!(canonical_band("b8"), "nir");
/// assert_eq!(canonical_band("SWIR1"), "swir16");
/// assert_eq!(canonical_band("ndvi"), "ndvi");
/// ```
pub fn canonical_band(name: &str) -> String {
    let l = name.trim().to_ascii_lowercase();
    let c = match l.as_str() {
        "b01" | "b1" => "coastal",
        "b02" | "b2" => "blue",
        "b03" | "b3" => "green",
        "b04" | "b4" => "red",
        "b05" | "b5" => "rededge1",
        "b06" | "b6" => "rededge2",
        "b07" | "b7" => "rededge3",
        "b08" | "b8" => "nir",
        "b8a" => "nir08",
        "b09" | "b9" => "nir09",
        "b10" => "cirrus",
        "b11" | "swir1" => "swir16",
        "b12" | "swir2" => "swir22",
        _ => return l,
    };
    c.to_string()
}

/// An entry of a collection with its series, or the error opening it
/// ([`Collection::open_each`]).
pub type OpenedEntry = (CollectionEntry, Result<SceneSeries>);

/// A set of opened scene series sharing bands and classes.
///
/// Every series is opened once ([`SceneSeries`] keeps its files open); training, prediction
/// and evaluation index them by position or name.
#[derive(Debug, Clone)]
pub struct Collection {
    source: PathBuf,
    entries: Vec<CollectionEntry>,
    series: Vec<Arc<SceneSeries>>,
}

impl Collection {
    /// Whether `path` names a collection rather than one series: a `collection.json` (a JSON
    /// file that parses as one), a folder holding one, or a folder without a `manifest.json`
    /// of its own whose sub-folders hold `manifest.json` files (what [`Collection::open`]
    /// scans). A series' manifest or folder of rasters is not.
    pub fn is_collection_path(path: impl AsRef<Path>) -> bool {
        let path = path.as_ref();
        if path.is_dir() {
            if path.join("collection.json").is_file() {
                return true;
            }
            if path.join("manifest.json").is_file() {
                return false;
            }
            return std::fs::read_dir(path).is_ok_and(|rd| {
                rd.filter_map(|e| e.ok())
                    .any(|e| e.path().join("manifest.json").is_file())
            });
        }
        path.extension().is_some_and(|e| e == "json") && CollectionFile::load(path).is_ok()
    }

    /// Opens every series of a collection on its own, for callers that go on when some fail
    /// (`chronomap predict` maps the series that open and reports the others): the file that
    /// was read (`collection.json`, or the folder scanned) and each entry with its series or
    /// the error opening it. Bands and classes are not compared across series
    /// ([`Collection::open`] does that).
    ///
    /// # Errors
    /// As [`CollectionFile::load`], or a folder with no series in it; a series' own errors
    /// are returned in its slot instead.
    pub fn open_each(path: impl AsRef<Path>) -> Result<(PathBuf, Vec<OpenedEntry>)> {
        let path = path.as_ref();
        let (file, base, source) = if path.is_dir() {
            let json = path.join("collection.json");
            if json.is_file() {
                (CollectionFile::load(&json)?, path.to_path_buf(), json)
            } else {
                (Self::scan(path)?, path.to_path_buf(), path.to_path_buf())
            }
        } else {
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (CollectionFile::load(path)?, base, path.to_path_buf())
        };
        let opened = file
            .series
            .into_iter()
            .map(|e| {
                let p = base.join(&e.source);
                let s = if p.exists() {
                    open_source(&p, &e.bands, &source, &e.name)
                } else {
                    Err(Error::collection(
                        &source,
                        format!("series {:?}: {} does not exist", e.name, p.display()),
                    ))
                };
                (e, s)
            })
            .collect();
        Ok((source, opened))
    }

    /// Reads series into memory ([`SceneSeries::load_into_memory`]) in collection order
    /// while their total stays within `max_bytes`; series already shared elsewhere (their
    /// `Arc` cloned) are left as they are. Returns how many series are in memory.
    /// Worth it for small series read many times (the synthetic cities); a collection of
    /// full Sentinel-2 tiles stays on disk, read window by window.
    ///
    /// # Errors
    /// Read errors of any file of a series being loaded.
    pub fn load_into_memory(&mut self, max_bytes: u64) -> Result<usize> {
        let mut left = max_bytes;
        let mut loaded = 0;
        for s in &mut self.series {
            let Some(s) = Arc::get_mut(s) else { continue };
            let need = s.memory_bytes();
            if need <= left && s.load_into_memory(need)? {
                left -= need;
                loaded += 1;
            }
        }
        Ok(loaded)
    }

    /// Opens a `collection.json`, a folder holding one, or a folder of series folders.
    ///
    /// # Errors
    /// As [`CollectionFile::load`]; the series' own errors ([`SceneSeries::open_path`]);
    /// [`Error::Collection`] naming the first series whose bands or classes differ from the
    /// first series', a folder with no series in it, a source that does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let (source, opened) = Self::open_each(path)?;
        let mut entries = Vec::with_capacity(opened.len());
        let mut series = Vec::with_capacity(opened.len());
        for (e, s) in opened {
            series.push(Arc::new(s?));
            entries.push(e);
        }
        Self::from_series(source, entries, series)
    }

    /// A collection of already opened series; `source` names it in messages.
    ///
    /// # Errors
    /// [`Error::Collection`] when the lists differ in length, for duplicate names, or when a
    /// series' bands ([`canonical_band`], same order) or classes differ from the first's.
    pub fn from_series(
        source: impl Into<PathBuf>,
        entries: Vec<CollectionEntry>,
        series: Vec<Arc<SceneSeries>>,
    ) -> Result<Self> {
        let source = source.into();
        if entries.len() != series.len() {
            return Err(Error::collection(
                &source,
                format!("{} names for {} series", entries.len(), series.len()),
            ));
        }
        CollectionFile {
            version: COLLECTION_VERSION,
            series: entries.clone(),
            meta: None,
        }
        .check(&source)?;
        let first = &series[0];
        let canon = |s: &SceneSeries| s.bands().iter().map(|b| canonical_band(b)).collect();
        let bands: Vec<String> = canon(first);
        for (e, s) in entries.iter().zip(&series).skip(1) {
            let b: Vec<String> = canon(s);
            if b != bands {
                return Err(Error::collection(
                    &source,
                    format!(
                        "series {:?} ({}) has bands {:?}, the collection's first series {:?} has {:?} \
                         (bands are matched by name and order; B02 = blue, B08 = nir, B11 = swir16, ...)",
                        e.name,
                        s.source().display(),
                        s.bands(),
                        entries[0].name,
                        first.bands()
                    ),
                ));
            }
            if s.classes() != first.classes() {
                return Err(Error::collection(
                    &source,
                    format!(
                        "series {:?} ({}) has classes {:?}, the collection's first series {:?} has {:?}",
                        e.name,
                        s.source().display(),
                        s.classes(),
                        entries[0].name,
                        first.classes()
                    ),
                ));
            }
        }
        Ok(Self {
            source,
            entries,
            series,
        })
    }

    /// The series folders of `dir` (sub-folders holding a `manifest.json`), in name order.
    fn scan(dir: &Path) -> Result<CollectionFile> {
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut names = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let p = entry.path();
            if p.join("manifest.json").is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        if names.is_empty() {
            return Err(Error::collection(
                dir,
                "no collection.json and no sub-folder holding a manifest.json".into(),
            ));
        }
        Ok(CollectionFile {
            version: COLLECTION_VERSION,
            series: names
                .into_iter()
                .map(|n| CollectionEntry {
                    source: PathBuf::from(&n),
                    name: n,
                    tags: BTreeMap::new(),
                    bands: Vec::new(),
                })
                .collect(),
            meta: None,
        })
    }

    /// The collection file (or scanned folder).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there is no series (never true for an opened collection).
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The entries (names, sources, tags), in order.
    pub fn entries(&self) -> &[CollectionEntry] {
        &self.entries
    }

    /// Series names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The series, in order.
    pub fn series(&self) -> &[Arc<SceneSeries>] {
        &self.series
    }

    /// The position of the series called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    /// Band names (those of the first series).
    pub fn bands(&self) -> &[String] {
        self.series[0].bands()
    }

    /// Class names (shared by every series).
    pub fn classes(&self) -> &[String] {
        self.series[0].classes()
    }

    /// Positions of the series named in `names`, in collection order.
    ///
    /// # Errors
    /// [`Error::Collection`] naming the first name that is not a series of the collection.
    pub fn positions(&self, names: &[String]) -> Result<Vec<usize>> {
        for n in names {
            if self.position(n).is_none() {
                return Err(Error::collection(
                    &self.source,
                    format!("no series is named {n:?} (series: {:?})", self.names()),
                ));
            }
        }
        Ok((0..self.len())
            .filter(|&i| names.iter().any(|n| *n == self.entries[i].name))
            .collect())
    }
}

/// Opens one series source: a STAC JSON with local assets (reading `bands`), a manifest
/// file or a series folder.
fn open_source(p: &Path, bands: &[String], collection: &Path, name: &str) -> Result<SceneSeries> {
    if p.is_file() && crate::products::is_stac(p) {
        if bands.is_empty() {
            return Err(Error::collection(
                collection,
                format!(
                    "series {name:?} is a STAC source ({}): list its \"bands\"",
                    p.display()
                ),
            ));
        }
        let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
        let m = crate::products::stac_manifest(&[p.to_path_buf()], bands, &dir)?;
        return SceneSeries::from_manifest(m, &dir, p);
    }
    SceneSeries::open_path(p)
}
