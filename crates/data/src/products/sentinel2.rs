//! Sentinel-2 Level-1C (top-of-atmosphere) and Level-2A (surface reflectance) products as
//! Copernicus delivers them: the `.SAFE` folder, or its `.zip` (read in place, never
//! unpacked: band paths become `/vsizip/<archive>.zip/<member>` paths, see
//! [`chronomap_geo::archive`]), in the "compact" naming of products since December 2016.
//!
//! - The product metadata at the root of the SAFE, `MTD_MSIL2A.xml` or `MTD_MSIL1C.xml`,
//!   gives the date (`PRODUCT_START_TIME`), the product type, processing baseline and
//!   spacecraft, the band files (`IMAGE_FILE`, JPEG 2000, read by chronomap-geo without
//!   GDAL), the quantification value and the radiometric offsets, and the cloud cover
//!   (`Cloud_Coverage_Assessment`). The MGRS tile (`T28QCD`) comes from the band file
//!   names (else the granule folder, else the product name).
//! - Bands are named by their common names: `coastal` B01, `blue` B02, `green` B03, `red`
//!   B04, `rededge1` B05, `rededge2` B06, `rededge3` B07, `nir` B08, `nir08` B8A,
//!   `watervapour` B09, `cirrus` B10 (L1C only), `swir16` B11, `swir22` B12. An L2A band is
//!   taken from the finest resolution folder holding it (`R10m` for B02-B04 and B08, `R20m`
//!   for B05-B07, B8A, B11, B12, `R60m` for B01 and B09). 20 m and 60 m bands go straight
//!   into a series whose grid is 10 m: [`SceneSeries`](crate::SceneSeries) places files
//!   whose pixels are an integer factor coarser (bilinear for bands, nearest for masks).
//! - Values are reflectance: `(DN + offset) / quantification`, written into the manifest as
//!   `scale = 1 / quantification` and `add_offset = offset / quantification`. The
//!   quantification is `BOA_QUANTIFICATION_VALUE` (L2A) or `QUANTIFICATION_VALUE` (L1C),
//!   10000 in every baseline so far; the offset is `BOA_ADD_OFFSET` (L2A) or
//!   `RADIO_ADD_OFFSET` (L1C) of the band, -1000 from processing baseline 04.00 (January
//!   2022) on and absent (0) before. DN 0 is nodata. A manifest date holds one offset, so
//!   the chosen bands of a product must share theirs ([`ProductProblem::MixedScale`]).
//! - The mask of an L2A product is its scene classification `SCL` (20 m), whose classes
//!   [`SCL_DEFAULT_INVALID`] (no data, saturated or defective, cloud shadow, cloud medium
//!   and high probability, thin cirrus, snow) are masked by default, configurable. L1C
//!   products have no scene classification: their dates get no mask (the optional
//!   `MSK_CLASSI` cloud masks are not read), and a series cannot mix L1C and L2A products.
//! - Products of one MGRS tile are one series sorted by date; products of several tiles,
//!   two products of one date, and older multi-tile products are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use serde_json::json;

use crate::date::Date;
use crate::error::{Error, ProductProblem, Result};
use crate::manifest::{DateEntry, MANIFEST_VERSION, Manifest, MaskEntry};

use super::{bad, band_files, one_tile, sort_by_unique_date};

/// The default band list: the four 10 m bands.
pub const DEFAULT_BANDS: [&str; 4] = ["blue", "green", "red", "nir"];

/// Scene classification (`SCL`) classes masked by default: 0 no data, 1 saturated or
/// defective, 3 cloud shadow, 8 cloud medium probability, 9 cloud high probability, 10 thin
/// cirrus, 11 snow or ice.
pub const SCL_DEFAULT_INVALID: [u32; 7] = [0, 1, 3, 8, 9, 10, 11];

/// Sentinel-2 MSI bands: common name, band id in file names, index in the metadata's
/// `band_id` attributes, native resolution in metres.
pub const SENTINEL2_BANDS: [(&str, &str, u32, u32); 13] = [
    ("coastal", "B01", 0, 60),
    ("blue", "B02", 1, 10),
    ("green", "B03", 2, 10),
    ("red", "B04", 3, 10),
    ("rededge1", "B05", 4, 20),
    ("rededge2", "B06", 5, 20),
    ("rededge3", "B07", 6, 20),
    ("nir", "B08", 7, 10),
    ("nir08", "B8A", 8, 20),
    ("watervapour", "B09", 9, 60),
    ("cirrus", "B10", 10, 60),
    ("swir16", "B11", 11, 20),
    ("swir22", "B12", 12, 20),
];

/// Largest metadata file read into memory (a real `MTD_MSIL2A.xml` is ~60 KB).
const MAX_METADATA_BYTES: u64 = 16 << 20;

/// How to read Sentinel-2 products into a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentinel2Options {
    /// Bands by common name, in channel order (default [`DEFAULT_BANDS`]).
    pub bands: Vec<String>,
    /// `SCL` classes that mask a pixel of an L2A product (default [`SCL_DEFAULT_INVALID`]).
    pub scl_invalid: Vec<u32>,
}

impl Default for Sentinel2Options {
    fn default() -> Self {
        Self {
            bands: DEFAULT_BANDS.iter().map(|s| s.to_string()).collect(),
            scl_invalid: SCL_DEFAULT_INVALID.to_vec(),
        }
    }
}

/// The processing level of a Sentinel-2 product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sentinel2Level {
    /// Level-1C: top-of-atmosphere reflectance (`MTD_MSIL1C.xml`, product type `S2MSI1C`).
    L1C,
    /// Level-2A: bottom-of-atmosphere (surface) reflectance with a scene classification
    /// (`MTD_MSIL2A.xml`, product type `S2MSI2A`).
    L2A,
}

impl Sentinel2Level {
    /// The metadata file's name at the root of the SAFE.
    pub fn metadata_name(self) -> &'static str {
        match self {
            Sentinel2Level::L1C => "MTD_MSIL1C.xml",
            Sentinel2Level::L2A => "MTD_MSIL2A.xml",
        }
    }
}

/// One Sentinel-2 product (one MGRS tile, one date), from its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentinel2Product {
    /// What was opened: the `.SAFE` folder or the `.zip`.
    pub path: PathBuf,
    /// The metadata file read (a `/vsizip/` path inside a zip).
    pub metadata: PathBuf,
    /// L1C or L2A.
    pub level: Sentinel2Level,
    /// `PRODUCT_TYPE`, e.g. `S2MSI2A`.
    pub product_type: String,
    /// `PRODUCT_URI`, the SAFE's name, when given.
    pub product_uri: Option<String>,
    /// `PROCESSING_BASELINE`, e.g. `04.00`.
    pub processing_baseline: String,
    /// `SPACECRAFT_NAME`, e.g. `Sentinel-2B`.
    pub spacecraft: String,
    /// `PRODUCT_START_TIME` as written (UTC), e.g. `2020-01-15T11:23:49.024Z`.
    pub start_time: String,
    /// The date of `PRODUCT_START_TIME`.
    pub date: Date,
    /// The MGRS tile, e.g. `T28QCD`.
    pub tile: String,
    /// `Cloud_Coverage_Assessment` in percent, when given.
    pub cloud_cover: Option<f64>,
    /// `BOA_QUANTIFICATION_VALUE` (L2A) or `QUANTIFICATION_VALUE` (L1C): DN per unit of
    /// reflectance.
    pub quantification: f64,
    /// Band files by common name (every band the product has, at its finest resolution).
    pub bands: BTreeMap<String, PathBuf>,
    /// The resolution in metres of each file of [`bands`](Self::bands).
    pub resolutions: BTreeMap<String, u32>,
    /// `BOA_ADD_OFFSET` (L2A) or `RADIO_ADD_OFFSET` (L1C) by common name, in DN; empty
    /// before processing baseline 04.00 (offset 0).
    pub offsets: BTreeMap<String, f64>,
    /// The scene classification file (`SCL`, 20 m) of an L2A product; `None` for L1C.
    pub scl: Option<PathBuf>,
}

fn metadata_err(path: &Path, detail: impl Into<String>) -> Error {
    bad(
        path,
        ProductProblem::Metadata {
            detail: detail.into(),
        },
    )
}

/// One element of the metadata: local name, attributes, text (trimmed).
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The metadata's root element name and every element, in document order of their ends.
fn parse_xml(path: &Path, text: &str) -> Result<(String, Vec<Element>)> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut out = Vec::new();
    let mut root = None;
    let xml_err =
        |pos: u64, e: &dyn std::fmt::Display| metadata_err(path, format!("{e} at byte {pos}"));
    let start = |e: &quick_xml::events::BytesStart<'_>, pos: u64| -> Result<Element> {
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| xml_err(pos, &err))?;
            attrs.push((a.key.local_name().as_ref().to_string(), a.value.to_string()));
        }
        Ok(Element {
            name: e.local_name().as_ref().to_string(),
            attrs,
            text: String::new(),
        })
    };
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| xml_err(reader.error_position(), &e))?;
        match event {
            Event::Start(e) => {
                let el = start(&e, pos)?;
                root.get_or_insert_with(|| el.name.clone());
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = start(&e, pos)?;
                root.get_or_insert_with(|| el.name.clone());
                out.push(el);
            }
            Event::Text(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(t.as_ref());
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match &*r {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                };
                if let (Some(c), Some(el)) = (c, stack.last_mut()) {
                    el.text.push(c);
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| xml_err(pos, &"closing tag without an opening one"))?;
                el.text = el.text.trim().to_string();
                out.push(el);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(metadata_err(
            path,
            format!("unexpected end of file inside <{}>", open.name),
        ));
    }
    let root = root.ok_or_else(|| metadata_err(path, "no XML element"))?;
    Ok((root, out))
}

/// Whether `token` is an MGRS tile id as Sentinel-2 names it: `T`, two digits, three
/// letters (`T28QCD`).
fn is_tile(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() == 6
        && b[0] == b'T'
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3..].iter().all(u8::is_ascii_uppercase)
}

fn tile_in(name: &str) -> Option<String> {
    name.split(['_', '.', '/'])
        .find(|t| is_tile(t))
        .map(str::to_string)
}

/// A band file of the metadata: band id (`B02`, `B8A`, `SCL`, ...) and resolution in metres
/// (from a `_10m` suffix, else the band's native one), or `None` for other files (`TCI`,
/// `AOT`, `WVP`, ...).
fn band_of(file: &str) -> Option<(String, u32)> {
    let base = file.rsplit('/').next().unwrap_or(file);
    let tokens: Vec<&str> = base.split('_').collect();
    let id = tokens
        .iter()
        .rev()
        .find(|t| **t == "SCL" || SENTINEL2_BANDS.iter().any(|b| b.1 == **t))?;
    let res = tokens
        .iter()
        .filter_map(|t| t.strip_suffix('m').and_then(|n| n.parse::<u32>().ok()))
        .next()
        .or_else(|| {
            SENTINEL2_BANDS
                .iter()
                .find(|b| b.1 == *id)
                .map(|b| b.3)
                .or((*id == "SCL").then_some(20))
        })?;
    Some((id.to_string(), res))
}

/// Where a product's files are: a folder, or a zip with the SAFE's folder inside.
enum Container {
    Folder(PathBuf),
    Zip {
        archive: PathBuf,
        /// The SAFE folder's member-name prefix (`"X.SAFE/"`, or `""`).
        prefix: String,
        /// Every member's name.
        names: std::collections::BTreeSet<String>,
    },
}

impl Container {
    /// The path of a file of the SAFE (relative name, `/`-separated) when it is there.
    fn locate(&self, rel: &str) -> Option<PathBuf> {
        match self {
            Container::Folder(root) => {
                let p = root.join(rel);
                p.is_file().then_some(p)
            }
            Container::Zip {
                archive,
                prefix,
                names,
            } => {
                let name = format!("{prefix}{rel}");
                names
                    .contains(&name)
                    .then(|| chronomap_geo::archive::vsizip_path(archive, &name))
            }
        }
    }

    /// Where a file of the SAFE would be (for messages).
    fn expected(&self, rel: &str) -> PathBuf {
        match self {
            Container::Folder(root) => root.join(rel),
            Container::Zip {
                archive, prefix, ..
            } => chronomap_geo::archive::vsizip_path(archive, &format!("{prefix}{rel}")),
        }
    }
}

impl Sentinel2Product {
    /// Reads a product from its `.SAFE` folder, its metadata file (`MTD_MSIL2A.xml` /
    /// `MTD_MSIL1C.xml`), or its `.zip` (read in place).
    ///
    /// # Errors
    /// [`Error::Product`] naming the product: [`ProductProblem::Metadata`] when there is no
    /// metadata file at the SAFE's root or it does not parse; [`ProductProblem::Key`] for a
    /// missing or invalid element (start time, quantification value, an `IMAGE_FILE`
    /// pointing outside the SAFE, no tile, no `SCL` in an L2A product);
    /// [`ProductProblem::Unsupported`] for a product that is neither L1C nor L2A;
    /// [`ProductProblem::MissingFile`] for a band file the metadata lists that is absent;
    /// [`ProductProblem::MixedTiles`] for a product of several tiles (the pre-2016
    /// format); [`Error::Io`] (also for a path that does not exist); [`Error::Geo`] ([`chronomap_geo::Error::Archive`]) for a
    /// corrupt or truncated zip.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::io(path, std::io::ErrorKind::NotFound.into()));
        }
        if chronomap_geo::archive::is_zip(path) {
            return Self::open_zip(path);
        }
        let (root, meta) = if path.is_file() {
            let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (root, path.to_path_buf())
        } else {
            let meta = [Sentinel2Level::L2A, Sentinel2Level::L1C]
                .iter()
                .map(|l| path.join(l.metadata_name()))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    metadata_err(
                        path,
                        "no Sentinel-2 product metadata (MTD_MSIL2A.xml or MTD_MSIL1C.xml) at \
                         the root of the SAFE",
                    )
                })?;
            (path.to_path_buf(), meta)
        };
        let len = std::fs::metadata(&meta)
            .map_err(|e| Error::io(&meta, e))?
            .len();
        if len > MAX_METADATA_BYTES {
            return Err(metadata_err(
                &meta,
                format!("{len} bytes, not a product metadata file"),
            ));
        }
        let text = std::fs::read_to_string(&meta).map_err(|e| Error::io(&meta, e))?;
        Self::parse(path, &meta, &text, &Container::Folder(root))
    }

    /// Reads a product from its `.zip` as Copernicus delivers it (the `.SAFE` folder
    /// zipped), in place: the bands become `/vsizip/<archive>/<member>` paths.
    ///
    /// # Errors
    /// As [`Sentinel2Product::open`].
    pub fn open_zip(archive: &Path) -> Result<Self> {
        let members = chronomap_geo::archive::zip_members(archive)?;
        // the metadata at the SAFE's root: at most one folder deep
        let Some((prefix, _, m)) = metadata_member(&members) else {
            return Err(metadata_err(
                archive,
                "no Sentinel-2 product metadata (MTD_MSIL2A.xml or MTD_MSIL1C.xml) at the root \
                 of a SAFE folder in the archive",
            ));
        };
        let meta = chronomap_geo::archive::vsizip_path(archive, &m.name);
        let bytes = chronomap_geo::archive::read_zip_member(&meta, MAX_METADATA_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| metadata_err(&meta, "not UTF-8 text"))?;
        let container = Container::Zip {
            archive: archive.to_path_buf(),
            prefix,
            names: members.into_iter().map(|m| m.name).collect(),
        };
        Self::parse(archive, &meta, &text, &container)
    }

    /// A product from its metadata text.
    fn parse(source: &Path, meta: &Path, text: &str, files: &Container) -> Result<Self> {
        let (root, elements) = parse_xml(meta, text)?;
        let key_err = |group: &'static str, key: &str| {
            bad(
                meta,
                ProductProblem::Key {
                    group,
                    key: key.to_string(),
                },
            )
        };
        let first = |name: &str| -> Option<&str> {
            elements
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.text.as_str())
        };
        let info = |key: &str| -> Result<String> {
            first(key)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .ok_or_else(|| key_err("Product_Info", key))
        };
        let product_type = info("PRODUCT_TYPE")?;
        let level = match (root.as_str(), product_type.as_str()) {
            (_, "S2MSI2A" | "S2MSI2Ap") | ("Level-2A_User_Product", _) => Sentinel2Level::L2A,
            (_, "S2MSI1C") | ("Level-1C_User_Product", _) => Sentinel2Level::L1C,
            _ => {
                return Err(bad(
                    meta,
                    ProductProblem::Unsupported {
                        what: format!(
                            "a {product_type} product (<{root}>); chronomap reads Sentinel-2 \
                             Level-1C (S2MSI1C) and Level-2A (S2MSI2A) products"
                        ),
                    },
                ));
            }
        };
        let start_time = info("PRODUCT_START_TIME")?;
        let date = start_time
            .get(..10)
            .and_then(Date::parse)
            .ok_or_else(|| key_err("Product_Info", "PRODUCT_START_TIME"))?;
        let processing_baseline = info("PROCESSING_BASELINE")?;
        let spacecraft = info("SPACECRAFT_NAME")?;
        let product_uri = first("PRODUCT_URI")
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let cloud_cover = first("Cloud_Coverage_Assessment")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|c| (0.0..=100.0).contains(c));
        let (q_key, offset_key) = match level {
            Sentinel2Level::L2A => ("BOA_QUANTIFICATION_VALUE", "BOA_ADD_OFFSET"),
            Sentinel2Level::L1C => ("QUANTIFICATION_VALUE", "RADIO_ADD_OFFSET"),
        };
        let quantification = first(q_key)
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|q| q.is_finite() && *q > 0.0)
            .ok_or_else(|| key_err("Product_Image_Characteristics", q_key))?;
        // band index -> band id, from Spectral_Information when given
        let mut index_to_id: BTreeMap<u32, String> = SENTINEL2_BANDS
            .iter()
            .map(|b| (b.2, b.1.to_string()))
            .collect();
        for e in elements.iter().filter(|e| e.name == "Spectral_Information") {
            if let (Some(i), Some(p)) = (
                e.attr("bandId").and_then(|v| v.parse::<u32>().ok()),
                e.attr("physicalBand"),
            ) {
                // "B1" -> "B01", "B8A" stays
                let id = match p.strip_prefix('B').and_then(|n| n.parse::<u32>().ok()) {
                    Some(n) => format!("B{n:02}"),
                    None => p.to_string(),
                };
                index_to_id.insert(i, id);
            }
        }
        let common = |id: &str| SENTINEL2_BANDS.iter().find(|b| b.1 == id).map(|b| b.0);
        let mut offsets = BTreeMap::new();
        for e in elements.iter().filter(|e| e.name == offset_key) {
            let name = e
                .attr("band_id")
                .and_then(|v| v.parse::<u32>().ok())
                .and_then(|i| index_to_id.get(&i))
                .and_then(|id| common(id));
            let value = e.text.parse::<f64>().ok().filter(|v| v.is_finite());
            match (name, value) {
                (Some(n), Some(v)) => {
                    offsets.insert(n.to_string(), v);
                }
                _ => return Err(key_err("Product_Image_Characteristics", offset_key)),
            }
        }
        // band files: the finest resolution of each band
        let mut picked: BTreeMap<String, (u32, String)> = BTreeMap::new();
        let mut tiles: BTreeMap<String, usize> = BTreeMap::new();
        let mut granule_tile = None;
        for e in elements.iter().filter(|e| e.name == "IMAGE_FILE") {
            let rel = e.text.replace('\\', "/");
            let unsafe_path = rel.starts_with('/')
                || rel.contains(':')
                || rel.split('/').any(|c| c == ".." || c.is_empty());
            if unsafe_path {
                return Err(key_err(
                    "Product_Organisation",
                    &format!("IMAGE_FILE {rel:?}"),
                ));
            }
            let Some((id, res)) = band_of(&rel) else {
                continue;
            };
            let base = rel.rsplit('/').next().unwrap_or(&rel);
            if let Some(t) = tile_in(base) {
                *tiles.entry(t).or_default() += 1;
            } else if granule_tile.is_none() {
                granule_tile = rel
                    .strip_prefix("GRANULE/")
                    .and_then(|g| g.split('/').next())
                    .and_then(tile_in);
            }
            match picked.get(&id) {
                Some((r, _)) if *r <= res => {}
                _ => {
                    picked.insert(id, (res, rel));
                }
            }
        }
        if tiles.len() > 1 {
            return Err(bad(
                meta,
                ProductProblem::MixedTiles {
                    tiles: tiles
                        .iter()
                        .map(|(t, n)| format!("{t}: {n} file(s)"))
                        .collect(),
                },
            ));
        }
        let tile = tiles
            .into_keys()
            .next()
            .or(granule_tile)
            .or_else(|| product_uri.as_deref().and_then(tile_in))
            .ok_or_else(|| key_err("Product_Organisation", "IMAGE_FILE (MGRS tile)"))?;
        let locate = |rel: &str| -> Result<PathBuf> {
            let name = format!("{rel}.jp2");
            files.locate(&name).ok_or_else(|| {
                bad(
                    meta,
                    ProductProblem::MissingFile {
                        file: files.expected(&name),
                    },
                )
            })
        };
        let mut bands = BTreeMap::new();
        let mut resolutions = BTreeMap::new();
        for (id, (res, rel)) in &picked {
            if let Some(name) = common(id) {
                bands.insert(name.to_string(), locate(rel)?);
                resolutions.insert(name.to_string(), *res);
            }
        }
        let scl = match level {
            Sentinel2Level::L1C => None,
            Sentinel2Level::L2A => {
                let (_, rel) = picked
                    .get("SCL")
                    .ok_or_else(|| key_err("Product_Organisation", "IMAGE_FILE (SCL)"))?;
                Some(locate(rel)?)
            }
        };
        Ok(Self {
            path: source.to_path_buf(),
            metadata: meta.to_path_buf(),
            level,
            product_type,
            product_uri,
            processing_baseline,
            spacecraft,
            start_time,
            date,
            tile,
            cloud_cover,
            quantification,
            bands,
            resolutions,
            offsets,
            scl,
        })
    }

    /// The offset (in DN) of band `band` (common name): 0 when the metadata gives none.
    pub fn offset(&self, band: &str) -> f64 {
        self.offsets.get(band).copied().unwrap_or(0.0)
    }

    /// The manifest's scale and offset for `bands`: `1 / quantification` and
    /// `offset / quantification`, one pair for the date.
    fn factors_for(&self, bands: &[String]) -> Result<(f64, f64)> {
        let mut offset: Option<(f64, &str)> = None;
        for b in bands {
            if !self.bands.contains_key(b) {
                return Err(self.unknown_band(b));
            }
            let o = self.offset(b);
            match offset {
                None => offset = Some((o, b)),
                Some((p, _)) if p == o => {}
                Some((p, pb)) => {
                    return Err(bad(
                        &self.metadata,
                        ProductProblem::MixedScale {
                            detail: format!(
                                "offset {p} for {pb} and {o} for {b}; a manifest date holds one \
                                 offset, choose bands that share theirs"
                            ),
                        },
                    ));
                }
            }
        }
        let q = self.quantification;
        Ok((1.0 / q, offset.map_or(0.0, |o| o.0) / q))
    }

    fn unknown_band(&self, band: &str) -> Error {
        bad(
            &self.metadata,
            ProductProblem::UnknownBand {
                band: band.to_string(),
                spacecraft: format!("{} {:?}", self.spacecraft, self.level),
                available: self.bands.keys().cloned().collect(),
            },
        )
    }
}

/// Whether `path` is a Sentinel-2 product to open: a `.zip`, a folder with product
/// metadata at its root (a `.SAFE`), or a metadata file (`MTD_MSIL2A.xml` / `MTD_MSIL1C.xml`).
/// Only names are looked at (a zip's members are not: see [`is_sentinel2_zip`]).
pub fn is_sentinel2_product(path: &Path) -> bool {
    if chronomap_geo::archive::is_zip(path) {
        return true;
    }
    let levels = [Sentinel2Level::L2A, Sentinel2Level::L1C];
    if path.is_file() {
        return path
            .file_name()
            .is_some_and(|n| levels.iter().any(|l| n == l.metadata_name()));
    }
    path.is_dir()
        && levels
            .iter()
            .any(|l| path.join(l.metadata_name()).is_file())
}

/// Whether the `.zip` `archive` holds a Sentinel-2 product: its metadata at the archive's
/// root or one folder deep (the zipped `.SAFE`), as [`Sentinel2Product::open_zip`] looks
/// for it. `false` for an unreadable archive.
pub fn is_sentinel2_zip(archive: &Path) -> bool {
    chronomap_geo::archive::zip_members(archive).is_ok_and(|m| metadata_member(&m).is_some())
}

/// The product metadata among a zip's `members`: the shallowest (at most one folder deep),
/// L2A before L1C, with its folder prefix (`"X.SAFE/"` or `""`) and level.
fn metadata_member(
    members: &[chronomap_geo::archive::ZipMember],
) -> Option<(String, Sentinel2Level, &chronomap_geo::archive::ZipMember)> {
    members
        .iter()
        .filter_map(|m| {
            let (prefix, base) = match m.name.rsplit_once('/') {
                Some((p, b)) => (format!("{p}/"), b),
                None => (String::new(), m.name.as_str()),
            };
            let level = [Sentinel2Level::L2A, Sentinel2Level::L1C]
                .into_iter()
                .find(|l| l.metadata_name() == base)?;
            (prefix.matches('/').count() <= 1).then_some((prefix, level, m))
        })
        .min_by_key(|(p, l, _)| (p.len(), std::cmp::Reverse(*l)))
}

/// Finds the products of `sources`: each a `.SAFE` folder, its metadata file, a product's
/// `.zip`, or a folder of those (not recursive further; sorted by name).
///
/// # Errors
/// As [`Sentinel2Product::open`]; [`ProductProblem::Metadata`] naming a source that is no
/// product and holds none; [`Error::Io`] for a folder that cannot be listed.
pub fn find_products(sources: &[PathBuf]) -> Result<Vec<Sentinel2Product>> {
    let mut out = Vec::new();
    for src in sources {
        if is_sentinel2_product(src) || !src.is_dir() {
            out.push(Sentinel2Product::open(src)?);
            continue;
        }
        let mut inner: Vec<PathBuf> = std::fs::read_dir(src)
            .map_err(|e| Error::io(src, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                (p.is_dir() || chronomap_geo::archive::is_zip(p)) && is_sentinel2_product(p)
            })
            .collect();
        if inner.is_empty() {
            return Err(metadata_err(
                src,
                "no Sentinel-2 product (.SAFE folder with MTD_MSIL2A.xml or MTD_MSIL1C.xml, or \
                 .zip) found",
            ));
        }
        inner.sort();
        for p in inner {
            out.push(Sentinel2Product::open(p)?);
        }
    }
    Ok(out)
}

/// The manifest of the series that Sentinel-2 products `sources` make (see
/// [`find_products`]), with paths as seen from `manifest_dir` (relative under it, absolute
/// elsewhere; `/vsizip/` paths for products read from zips). Each date gives the chosen
/// bands' files, `scale = 1 / quantification` and `add_offset = offset / quantification`
/// (reflectance), nodata 0, for L2A the `SCL` with `options.scl_invalid` as its mask (none
/// for L1C), and the product name, spacecraft, processing baseline, tile and cloud cover
/// under `meta`. Returns the products too, sorted by date.
///
/// # Errors
/// As [`find_products`]; [`ProductProblem::MixedTiles`] for products of several MGRS tiles,
/// [`ProductProblem::DuplicateDate`], [`ProductProblem::UnknownBand`] for a band a product
/// lacks (`cirrus` in L2A), [`ProductProblem::MixedScale`] when the chosen bands of a
/// product have different offsets, [`ProductProblem::Unsupported`] for a mix of L1C and L2A
/// products.
pub fn sentinel2_manifest(
    sources: &[PathBuf],
    options: &Sentinel2Options,
    manifest_dir: &Path,
) -> Result<(Manifest, Vec<Sentinel2Product>)> {
    let mut products = find_products(sources)?;
    let first = sources.first().cloned().unwrap_or_default();
    if products.is_empty() {
        return Err(metadata_err(&first, "no Sentinel-2 product given"));
    }
    let tile = one_tile(
        &first,
        &products,
        |p| p.tile.clone(),
        |t, n| format!("MGRS {t}: {n} product(s)"),
    )?;
    let level = products[0].level;
    if let Some(other) = products.iter().find(|p| p.level != level) {
        return Err(bad(
            &other.path,
            ProductProblem::Unsupported {
                what: format!(
                    "a series mixing Level-1C (top-of-atmosphere) and Level-2A (surface) \
                     reflectance: {} is {:?}, {} is {:?}",
                    products[0].path.display(),
                    level,
                    other.path.display(),
                    other.level
                ),
            },
        ));
    }
    sort_by_unique_date(&mut products, |p| p.date, |p| &p.path)?;
    let mut dates = Vec::new();
    for p in &products {
        let files = band_files(&options.bands, &p.bands, manifest_dir, |b| {
            p.unknown_band(b)
        })?;
        let (scale, offset) = p.factors_for(&options.bands)?;
        dates.push(DateEntry {
            date: p.date.to_string(),
            image: None,
            bands: Some(files),
            mask: p.scl.as_ref().map(|scl| MaskEntry::Values {
                path: super::manifest_path(manifest_dir, scl),
                invalid: Some(options.scl_invalid.clone()),
                valid: None,
                bits: None,
            }),
            labels: None,
            add_offset: (offset != 0.0).then_some(offset),
            scale: (scale != 1.0).then_some(scale),
            meta: Some(json!({
                "product": p.product_uri,
                "product_type": p.product_type,
                "spacecraft": p.spacecraft,
                "processing_baseline": p.processing_baseline,
                "start_time": p.start_time,
                "tile": p.tile,
                "cloud_cover": p.cloud_cover,
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
            "source": match level {
                Sentinel2Level::L1C => "Sentinel-2 Level-1C",
                Sentinel2Level::L2A => "Sentinel-2 Level-2A",
            },
            "tile": tile,
        })),
    };
    Ok((manifest, products))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_files_tiles_and_resolutions() {
        assert_eq!(
            band_of("GRANULE/L2A_T28QCD_A1_2/IMG_DATA/R20m/T28QCD_20200115T112349_B8A_20m"),
            Some(("B8A".into(), 20))
        );
        assert_eq!(
            band_of("GRANULE/x/IMG_DATA/R20m/T28QCD_20200115T112349_SCL_20m"),
            Some(("SCL".into(), 20))
        );
        assert_eq!(
            band_of("GRANULE/x/IMG_DATA/T28QCD_20200115T112349_B01"),
            Some(("B01".into(), 60))
        );
        assert_eq!(
            band_of("GRANULE/x/IMG_DATA/R10m/T28QCD_20200115T112349_TCI_10m"),
            None
        );
        assert_eq!(
            tile_in("T28QCD_20200115T112349_B02_10m").as_deref(),
            Some("T28QCD")
        );
        assert_eq!(
            tile_in("L2A_T28QCD_A015000_20200115T112345").as_deref(),
            Some("T28QCD")
        );
        assert!(!is_tile("T28qcd") && !is_tile("TCI"));
    }

    #[test]
    fn xml_elements_attributes_and_errors() {
        let xml = r#"<?xml version="1.0"?><n1:Level-2A_User_Product xmlns:n1="x">
            <a><BOA_ADD_OFFSET band_id="3">-1000</BOA_ADD_OFFSET><b k="v"/>
            <IMAGE_FILE>G/A&amp;B</IMAGE_FILE></a></n1:Level-2A_User_Product>"#;
        let (root, els) = parse_xml(Path::new("m.xml"), xml).unwrap();
        assert_eq!(root, "Level-2A_User_Product");
        let off = els.iter().find(|e| e.name == "BOA_ADD_OFFSET").unwrap();
        assert_eq!(
            (off.attr("band_id"), off.text.as_str()),
            (Some("3"), "-1000")
        );
        assert_eq!(
            els.iter().find(|e| e.name == "b").unwrap().attr("k"),
            Some("v")
        );
        let f = els.iter().find(|e| e.name == "IMAGE_FILE").unwrap();
        assert_eq!(f.text, "G/A&B");
        for broken in ["<a><b></a>", "<a>", ""] {
            assert!(
                matches!(
                    parse_xml(Path::new("m.xml"), broken),
                    Err(Error::Product {
                        problem: ProductProblem::Metadata { .. },
                        ..
                    })
                ),
                "{broken:?}"
            );
        }
    }
}
