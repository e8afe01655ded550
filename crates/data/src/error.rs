//! The crate's error type, sorted by who is at fault: the files (manifest, rasters), the
//! caller (arguments), the environment (i/o).

use std::path::PathBuf;

use chronomap_geo::Window;

/// Errors of `chronomap-data`. Every variant that concerns a file carries its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- the files are at fault -------------------------------------------------------------
    /// The manifest is not valid JSON or does not follow the schema of `docs/data-format.md`.
    #[error("invalid manifest {path:?}")]
    ManifestJson {
        /// The manifest file.
        path: PathBuf,
        /// The parser's message, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A satellite product (a Landsat Collection 2 scene, ...) is malformed, incomplete or
    /// cannot be combined with the others.
    #[error("product {path:?}: {problem}")]
    Product {
        /// The product's metadata file or folder.
        path: PathBuf,
        /// What is wrong.
        problem: ProductProblem,
    },
    /// A collection file (or folder of series) is invalid, or its series cannot be combined
    /// (other bands or classes than the first series).
    #[error("collection {path:?}: {problem}")]
    Collection {
        /// The `collection.json` (or the scanned folder).
        path: PathBuf,
        /// What is wrong, naming the series at fault.
        problem: String,
    },
    /// The manifest parses but its content is inconsistent.
    #[error("invalid manifest {path:?}: {problem}")]
    Manifest {
        /// The manifest file (or the scanned folder for discovered series).
        path: PathBuf,
        /// What is wrong.
        problem: ManifestProblem,
    },
    /// A raster of the series does not share the grid of the first image.
    #[error("{path:?} does not match the grid of {reference:?}: {mismatch}")]
    GridMismatch {
        /// The offending file.
        path: PathBuf,
        /// The file whose grid every other file must share (the first date's image).
        reference: PathBuf,
        /// What differs (boxed: geotransforms are large).
        mismatch: Box<GridMismatch>,
    },
    /// An image does not hold the number of bands the manifest lists.
    #[error("{path:?} has {found} bands, the manifest lists {expected}")]
    BandCount {
        /// The image file.
        path: PathBuf,
        /// Bands listed in the manifest.
        expected: usize,
        /// Bands in the file.
        found: usize,
    },
    /// A label raster holds a class id outside `0..classes` (and is not the ignore label).
    #[error("{path:?} holds label {value} but the manifest declares {classes} classes")]
    LabelOutOfRange {
        /// The label raster.
        path: PathBuf,
        /// The offending value.
        value: u32,
        /// Number of declared classes.
        classes: usize,
    },
    /// A normalization statistics file is invalid JSON or does not fit the series.
    #[error("invalid normalization statistics {path:?}")]
    StatsJson {
        /// The statistics file.
        path: PathBuf,
        /// The parser's message.
        #[source]
        source: serde_json::Error,
    },
    /// Normalization statistics were computed for other bands than the series has.
    #[error("normalization statistics are for bands {stats:?}, the series has {series:?}")]
    StatsBands {
        /// Band names in the statistics.
        stats: Vec<String>,
        /// Band names of the series.
        series: Vec<String>,
    },
    /// Reading or writing a raster or vector file failed (the geo error names the file).
    #[error(transparent)]
    Geo(#[from] chronomap_geo::Error),

    // ----- the caller is at fault --------------------------------------------------------------
    /// A patch does not fit in the raster or region it should be cut from.
    #[error("a {patch:?} patch does not fit in a {region:?} region")]
    PatchTooLarge {
        /// Patch size `[height, width]`.
        patch: [usize; 2],
        /// Region size `[height, width]`.
        region: [usize; 2],
    },
    /// A window lies (partly) outside the scene.
    #[error("window {window:?} does not fit in the {width}x{height} scene")]
    WindowOutOfBounds {
        /// The window.
        window: Window,
        /// Scene width.
        width: usize,
        /// Scene height.
        height: usize,
    },
    /// A date index is not in the series.
    #[error("date index {index} is out of range (the series has {dates} dates)")]
    DateOutOfRange {
        /// Requested index.
        index: usize,
        /// Number of dates.
        dates: usize,
    },
    /// Samples of one dataset must all have the same number of dates.
    #[error("sample {index} has {found} dates, the first sample has {expected}")]
    SequenceLength {
        /// Sample index.
        index: usize,
        /// Dates of the first sample.
        expected: usize,
        /// Dates of this sample.
        found: usize,
    },
    /// A numeric argument is outside its valid range.
    #[error("{name} = {value} is invalid: {expected}")]
    InvalidArgument {
        /// Argument name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },
    /// A text argument (an option or an environment variable) is malformed.
    #[error("{name} = {value:?} is invalid: expected {expected}")]
    InvalidText {
        /// Argument or variable name.
        name: &'static str,
        /// The text given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// No window satisfies the sampler's constraints (valid fraction, region).
    #[error(
        "no {patch}x{patch} window has at least {min_valid_fraction} usable pixels \
         (tried {tried}); lower the threshold or the patch size"
    )]
    NoUsableWindow {
        /// Patch size.
        patch: usize,
        /// The threshold.
        min_valid_fraction: f32,
        /// Candidate windows examined.
        tried: usize,
    },

    // ----- the environment ---------------------------------------------------------------------
    /// Reading or writing a file failed.
    #[error("i/o error on {path:?}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn manifest(path: impl Into<PathBuf>, problem: ManifestProblem) -> Self {
        Error::Manifest {
            path: path.into(),
            problem,
        }
    }

    pub(crate) fn collection(path: impl Into<PathBuf>, problem: String) -> Self {
        Error::Collection {
            path: path.into(),
            problem,
        }
    }

    pub(crate) fn invalid_text(name: &'static str, value: &str, expected: &'static str) -> Self {
        Error::InvalidText {
            name,
            value: value.to_string(),
            expected,
        }
    }

    pub(crate) fn invalid(name: &'static str, value: f64, expected: &'static str) -> Self {
        Error::InvalidArgument {
            name,
            value,
            expected,
        }
    }
}

/// What differs between a raster and the series' reference grid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GridMismatch {
    /// Width x height differ.
    #[error("size {found:?} instead of {expected:?} (width, height)")]
    Size {
        /// Reference `[width, height]`.
        expected: [usize; 2],
        /// This file's `[width, height]`.
        found: [usize; 2],
    },
    /// The EPSG codes differ (or one file has none).
    #[error("CRS {found:?} instead of {expected:?} (EPSG)")]
    Crs {
        /// Reference EPSG code.
        expected: Option<u32>,
        /// This file's EPSG code.
        found: Option<u32>,
    },
    /// The pixel size or orientation differs: resample the file onto the series grid.
    #[error(
        "pixel size {found:?} instead of {expected:?} (x, y); resample it onto the series grid"
    )]
    PixelSize {
        /// Reference pixel size (geotransform terms 1 and 5).
        expected: [f64; 2],
        /// This file's.
        found: [f64; 2],
    },
    /// The file's origin is not on the series' pixel lattice (offset by a fraction of a
    /// pixel): resample it onto the series grid.
    #[error(
        "its pixels are offset by {offset_px:?} pixels (col, row) from the series grid, not a whole number; resample it onto the series grid"
    )]
    Misaligned {
        /// Offset of the file's origin in series pixels.
        offset_px: [f64; 2],
    },
    /// The geotransforms differ by more than a thousandth of a pixel (or one is missing).
    #[error("geotransform {found:?} instead of {expected:?}")]
    GeoTransform {
        /// Reference geotransform (GDAL order).
        expected: Option<[f64; 6]>,
        /// This file's geotransform.
        found: Option<[f64; 6]>,
    },
}

/// What is wrong inside a manifest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestProblem {
    /// The manifest lists no dates (or discovery found no images).
    #[error("it lists no dates")]
    NoDates,
    /// The manifest lists no bands.
    #[error("it lists no bands")]
    NoBands,
    /// A date string is not `YYYY-MM-DD` (or `YYYYMMDD`) or not a calendar date.
    #[error("`{value}` is not a date (expected YYYY-MM-DD)")]
    BadDate {
        /// The string.
        value: String,
    },
    /// Two entries have the same date.
    #[error("date {date} appears twice")]
    DuplicateDate {
        /// The date, `YYYY-MM-DD`.
        date: String,
    },
    /// A date entry gives neither `image` nor `bands`, or both.
    #[error(
        "date {date} must give exactly one of `image` (one multi-band file) or `bands` (one file per band)"
    )]
    ImageSource {
        /// The date.
        date: String,
    },
    /// A per-band date entry misses a band listed in `bands`.
    #[error("date {date} has no file for band `{band}`")]
    MissingBand {
        /// The date.
        date: String,
        /// The band name.
        band: String,
    },
    /// A per-band date entry names a band that the top-level `bands` list lacks.
    #[error("date {date} has a file for band `{band}`, which is not in the `bands` list")]
    UnknownBand {
        /// The date.
        date: String,
        /// The band name.
        band: String,
    },
    /// A mask entry gives more than one of `invalid`, `valid` and `bits`, or a bit position
    /// above 63.
    #[error(
        "the mask of date {date} must give one of `invalid`, `valid` or `bits` (bit positions 0 to 63)"
    )]
    MaskValues {
        /// The date.
        date: String,
    },
    /// Two label entries are for the same year.
    #[error("two label rasters are given for year {year}")]
    DuplicateLabelYear {
        /// The year.
        year: i32,
    },
    /// The manifest declares a format version this library does not read.
    #[error("format version {found} is not supported (this library reads version 1)")]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// A file listed in the manifest does not exist.
    #[error("{path:?} does not exist")]
    MissingFile {
        /// The path as resolved against the manifest's folder.
        path: PathBuf,
    },
}

/// What is wrong with a satellite product.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProductProblem {
    /// No product metadata (`*_MTL.json` / `*_MTL.txt`) was found.
    #[error("no Landsat Collection 2 metadata (*_MTL.json or *_MTL.txt) found")]
    NotFound,
    /// The STAC JSON files hold no Item (a `Feature`, or the `features` of an
    /// ItemCollection).
    #[error("no STAC Item (a Feature, or the features of a FeatureCollection) found")]
    NoStacItem,
    /// The metadata file does not parse.
    #[error("unreadable metadata ({detail})")]
    Metadata {
        /// The parser's message.
        detail: String,
    },
    /// A required metadata key is absent or has a bad value.
    #[error("metadata key {group}/{key} is missing or invalid")]
    Key {
        /// Metadata group.
        group: &'static str,
        /// Key.
        key: String,
    },
    /// The product is not one chronomap reads.
    #[error("{what}")]
    Unsupported {
        /// What it is and what is expected.
        what: String,
    },
    /// A band asked for is not in this product.
    #[error("band {band} is not in this {spacecraft} product (it has {available:?})")]
    UnknownBand {
        /// The band (common name).
        band: String,
        /// The spacecraft.
        spacecraft: String,
        /// Its bands, by common name.
        available: Vec<String>,
    },
    /// A file the metadata lists is not beside it.
    #[error("{file:?} is listed by the metadata but does not exist")]
    MissingFile {
        /// The file.
        file: PathBuf,
    },
    /// The bands of one product have different scale or offset factors (one per date is
    /// supported).
    #[error("bands have different reflectance scale/offset factors ({detail})")]
    MixedScale {
        /// Which.
        detail: String,
    },
    /// Products of several tiles (WRS-2 path/row, MGRS tile) were given as one series.
    #[error(
        "products of several tiles make several series, not one: {tiles:?}; give each tile's products separately"
    )]
    MixedTiles {
        /// The tiles and how many products of each.
        tiles: Vec<String>,
    },
    /// Two products have the same acquisition date.
    #[error("two products are of {date}: {other:?}")]
    DuplicateDate {
        /// The date.
        date: String,
        /// The other product.
        other: PathBuf,
    },
}
