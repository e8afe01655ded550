//! The crate's error type, sorted by who is at fault: the file, us (unsupported), the caller,
//! the environment.

use std::path::PathBuf;

use crate::sample_type::SampleType;
use crate::window::Window;

/// Errors of `chronomap-geo`. Every variant that concerns a file carries its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- the file is at fault -------------------------------------------------------------
    /// The file is not a valid (Geo)TIFF: bad magic, truncated, inconsistent tags, corrupt
    /// compressed data. `problem` says what exactly.
    #[error("invalid TIFF {path:?}")]
    Tiff {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: TiffProblem,
    },
    /// The file is not a valid JPEG 2000 image (`.jp2` or raw `.j2k` codestream): truncated,
    /// malformed boxes or marker segments, corrupt coded data, absurd declared sizes.
    /// `problem` says what exactly.
    #[error("invalid JPEG 2000 {path:?}")]
    Jp2 {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: Jp2Problem,
    },
    /// A vector file (OSM XML/PBF, GeoJSON) is malformed or references missing data.
    #[error("invalid vector file {path:?}")]
    Vector {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: VectorProblem,
    },
    /// An archive (`.tar`) is malformed, truncated, or lacks a member asked for.
    #[error("archive {path:?}: {detail}")]
    Archive {
        /// The archive (or the `/vsitar/` path).
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Rasters cannot be put in one mosaic (another CRS, pixel size, band count or type; no
    /// georeferencing; off the first one's pixel lattice).
    #[error("cannot mosaic {path:?}: {detail}")]
    Mosaic {
        /// The raster that differs (or the output, when there are no inputs).
        path: PathBuf,
        /// What differs.
        detail: String,
    },
    /// A class table (JSON) is malformed or inconsistent.
    #[error("invalid class table {path:?}")]
    ClassTable {
        /// The file (`<memory>` when parsed from a string).
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: ClassTableProblem,
    },

    // ----- we cannot do it ---------------------------------------------------------------------
    /// The file is valid but uses a feature chronomap does not decode (e.g. JPEG compression).
    #[error("{path:?} uses {what}, which chronomap cannot read")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The unsupported feature.
        what: Unsupported,
    },
    /// An EPSG code chronomap cannot transform: absent from the built-in EPSG table
    /// (`crs-definitions`, ~6000 codes) or using a projection or datum grid that `proj4rs`
    /// does not implement.
    #[error("unsupported CRS EPSG:{code} ({reason})")]
    UnsupportedCrs {
        /// The EPSG code.
        code: u32,
        /// Why.
        reason: &'static str,
    },

    // ----- the caller is at fault --------------------------------------------------------------
    /// A reduced-resolution read asked for a level the file does not have (see
    /// [`GeoTiffReader::read_window_reduced`](crate::GeoTiffReader::read_window_reduced)).
    #[error("reduction level {level} does not exist ({path:?} has levels 0..={levels})")]
    ReductionOutOfRange {
        /// The file.
        path: PathBuf,
        /// Requested level.
        level: u32,
        /// Highest level the file has.
        levels: u32,
    },
    /// A pixel window does not fit inside the raster.
    #[error("window {window:?} does not fit in a {width}x{height} raster")]
    WindowOutOfBounds {
        /// The requested window.
        window: Window,
        /// Raster width in pixels.
        width: usize,
        /// Raster height in pixels.
        height: usize,
    },
    /// A band index (0-based) is not in the raster.
    #[error("band {band} does not exist (the raster has {bands} bands, indices start at 0)")]
    BandOutOfRange {
        /// Requested 0-based band index.
        band: usize,
        /// Number of bands.
        bands: usize,
    },
    /// A read would allocate more than the reader's limit (see
    /// [`GeoTiffReader::set_max_read_bytes`](crate::GeoTiffReader::set_max_read_bytes)).
    #[error(
        "reading {bytes} bytes from {path:?} exceeds the limit of {limit} bytes; read smaller windows"
    )]
    ReadTooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes the read would allocate.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A raster to be built in memory (a label raster on a reference grid) is larger than
    /// the limit, usually because the reference raster's header declares an absurd size.
    #[error(
        "a {width}x{height} raster from the grid of {path:?} needs {bytes} bytes in memory, over the limit of {limit} bytes"
    )]
    GridTooLarge {
        /// The raster whose grid was used.
        path: PathBuf,
        /// Grid width in pixels.
        width: usize,
        /// Grid height in pixels.
        height: usize,
        /// Bytes needed.
        bytes: u64,
        /// The limit ([`DEFAULT_MAX_READ_BYTES`](crate::DEFAULT_MAX_READ_BYTES)).
        limit: u64,
    },
    /// A typed read asked for a sample type other than the file's.
    #[error("the raster holds {actual:?} samples, not {requested:?}")]
    TypeMismatch {
        /// Type asked for.
        requested: SampleType,
        /// Type stored in the file.
        actual: SampleType,
    },
    /// A data buffer has the wrong number of elements.
    #[error("buffer holds {actual} values, expected {expected}")]
    DataLength {
        /// Expected element count.
        expected: usize,
        /// Actual element count.
        actual: usize,
    },
    /// A raster specification is invalid (zero size, tile size not a multiple of 16, ...).
    #[error("invalid raster specification: {problem}")]
    InvalidSpec {
        /// What is wrong.
        problem: &'static str,
    },
    /// A raster has no georeferencing (geotransform or EPSG code) where one is required.
    #[error("{path:?} has no {missing}, which is required here")]
    MissingGeoreferencing {
        /// The file.
        path: PathBuf,
        /// `"geotransform"` or `"EPSG code"`.
        missing: &'static str,
    },
    /// A coordinate could not be transformed between two CRSs.
    #[error("cannot transform ({x}, {y}) from EPSG:{from} to EPSG:{to}")]
    Transform {
        /// Input x (longitude in degrees for geographic CRSs).
        x: f64,
        /// Input y (latitude in degrees for geographic CRSs).
        y: f64,
        /// Source EPSG code.
        from: u32,
        /// Target EPSG code.
        to: u32,
    },
    /// A vector file has an extension chronomap does not recognise.
    #[error("{path:?}: unknown vector format (expected .osm, .osm.pbf/.pbf, .geojson/.json)")]
    UnknownVectorFormat {
        /// The file.
        path: PathBuf,
    },

    // ----- the environment ---------------------------------------------------------------------
    /// Reading a file over HTTP(S) failed (see [`crate::http`]): the server's answer, a
    /// timeout or a connection failure. `problem` says what exactly.
    #[error("cannot read {url} over HTTP: {problem}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        problem: HttpProblem,
    },
    /// Reading or writing failed.
    #[error("i/o error on {path:?}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a PNG failed.
    #[error("cannot encode PNG {path:?}")]
    Png {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: png::EncodingError,
    },
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error of a failed read or write of `path`: [`Error::Http`] when `source` carries
    /// an HTTP failure (an [`HttpSource`](crate::http::HttpSource) read), else [`Error::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if let Some(f) = source
            .get_ref()
            .and_then(|e| e.downcast_ref::<crate::http::HttpFailure>())
        {
            return Error::Http {
                url: f.url.clone(),
                problem: f.problem.clone(),
            };
        }
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// What went wrong reading a file over HTTP(S) (see [`crate::http`]). `attempts` counts the
/// requests sent for the read that failed (retries included).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpProblem {
    /// The server answered with a status other than `206 Partial Content` (or `200` for a
    /// small file), `404` and `410` aside. `408`, `429` and `5xx` were retried.
    #[error("the server answered HTTP {code} ({attempts} attempt(s))")]
    Status {
        /// The HTTP status code.
        code: u16,
        /// Requests sent.
        attempts: u32,
    },
    /// The server answered `404 Not Found` (or `410 Gone`); not retried.
    #[error("not found (HTTP 404): check the URL, or whether a signed URL has expired")]
    NotFound,
    /// The server ignores `Range` headers: it answered `200 OK` with the whole file, which
    /// is over 1 MiB ([`SMALL_FILE_BYTES`](crate::http::SMALL_FILE_BYTES)). chronomap reads
    /// remote files only through range requests; download the file instead.
    #[error(
        "the server ignores range requests (it answered 200 with the whole file, over 1 MiB); download the file and read it locally"
    )]
    RangeIgnored,
    /// A `206` answer's `Content-Range` is missing, malformed, or names other bytes (or
    /// another file length) than asked for.
    #[error("bad Content-Range: {detail}")]
    BadContentRange {
        /// What is wrong.
        detail: String,
    },
    /// No complete answer came within the timeout, on every attempt.
    #[error(
        "no complete answer within {seconds} s ({attempts} attempt(s)); set CHRONOMAP_HTTP_TIMEOUT_S to wait longer"
    )]
    Timeout {
        /// The timeout that ran out, in seconds (the request's, or the connection's).
        seconds: f64,
        /// Requests sent.
        attempts: u32,
    },
    /// Connecting or talking to the server failed (refused, reset, DNS, TLS, malformed
    /// answer, too many redirects).
    #[error("connection failed: {detail} ({attempts} attempt(s))")]
    Connection {
        /// The HTTP client's message.
        detail: String,
        /// Requests sent.
        attempts: u32,
    },
    /// The body ended before the bytes asked for (its `Content-Length`, or the connection,
    /// ended early).
    #[error("the answer ended after {got} of the {expected} bytes asked for")]
    ShortBody {
        /// Bytes asked for.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The body is longer than the bytes asked for (read no further than one byte past
    /// them: never buffered).
    #[error("the answer holds more than the {expected} bytes asked for")]
    BodyTooLong {
        /// Bytes asked for.
        expected: u64,
    },
    /// The URL cannot be requested (malformed).
    #[error("bad URL: {detail}")]
    BadUrl {
        /// The HTTP client's message.
        detail: String,
    },
}

/// What is wrong with a TIFF file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TiffProblem {
    /// The first four bytes are not a TIFF or BigTIFF signature. The message names the
    /// format when the signature is a common one (JPEG 2000, ZIP, HDF5/NetCDF, gzip, JPEG, PNG,
    /// XML/JSON) and says how to get a GeoTIFF from it.
    #[error(
        "not a TIFF file (first bytes {:02x?}){}",
        &magic[..magic.len().min(4)],
        looks_like(magic)
    )]
    NotTiff {
        /// The first bytes of the file (up to 12).
        magic: Vec<u8>,
    },
    /// A structure extends past the end of the file.
    #[error("truncated: {what} needs bytes {offset}..{end} but the file has {file_len} bytes")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Start offset.
        offset: u64,
        /// End offset (exclusive).
        end: u64,
        /// File length.
        file_len: u64,
    },
    /// An IFD has an implausible number of entries.
    #[error("IFD at offset {offset} claims {count} entries")]
    TooManyEntries {
        /// IFD offset.
        offset: u64,
        /// Entry count.
        count: u64,
    },
    /// A required tag is absent.
    #[error("missing required tag {tag}")]
    MissingTag {
        /// Tag name.
        tag: &'static str,
    },
    /// A tag has an invalid type or count.
    #[error("tag {tag} has field type {field_type} and {count} values, which is invalid")]
    BadTagShape {
        /// Tag name.
        tag: &'static str,
        /// TIFF field type code.
        field_type: u16,
        /// Value count.
        count: u64,
    },
    /// A tag has an invalid value.
    #[error("tag {tag} has the invalid value {value}")]
    BadTagValue {
        /// Tag name.
        tag: &'static str,
        /// The value.
        value: u64,
    },
    /// Width or height is zero or too large to address.
    #[error("image size {width}x{height} with {samples} samples is invalid")]
    BadSize {
        /// Width.
        width: u64,
        /// Height.
        height: u64,
        /// Samples per pixel.
        samples: u64,
    },
    /// The number of strip/tile offsets does not match the image layout.
    #[error("{tag} holds {found} values but the layout needs {expected}")]
    ChunkCount {
        /// Tag name.
        tag: &'static str,
        /// Values present.
        found: u64,
        /// Values required.
        expected: u64,
    },
    /// A strip/tile lies (partly) outside the file.
    #[error(
        "{kind} {index} at offset {offset} with {bytes} bytes lies past the end of the file ({file_len} bytes)"
    )]
    ChunkOutOfRange {
        /// `"tile"` or `"strip"`.
        kind: &'static str,
        /// Chunk index.
        index: usize,
        /// Offset.
        offset: u64,
        /// Byte count.
        bytes: u64,
        /// File length.
        file_len: u64,
    },
    /// A strip/tile claims to decompress to more than its compressed size allows.
    #[error(
        "{kind} {index} would decompress {compressed} bytes into {decoded} bytes, beyond what {codec} can encode"
    )]
    ChunkImplausible {
        /// `"tile"` or `"strip"`.
        kind: &'static str,
        /// Chunk index.
        index: usize,
        /// Compressed bytes.
        compressed: u64,
        /// Required decoded bytes.
        decoded: u64,
        /// Codec name.
        codec: &'static str,
    },
    /// A strip/tile's compressed data is corrupt.
    #[error("{kind} {index}: corrupt {codec} data ({detail})")]
    Corrupt {
        /// `"tile"` or `"strip"`.
        kind: &'static str,
        /// Chunk index.
        index: usize,
        /// Codec name.
        codec: &'static str,
        /// Decoder message.
        detail: String,
    },
    /// An uncompressed strip/tile holds fewer bytes than its pixels need (a header declaring
    /// more pixels than the file stores); checked for every chunk when the file is opened.
    #[error(
        "uncompressed {kind} {index} holds {bytes} bytes but its pixels need {needs} bytes (the header declares more pixels than the file stores)"
    )]
    ChunkTooSmall {
        /// `"tile"` or `"strip"`.
        kind: &'static str,
        /// Chunk index.
        index: usize,
        /// Bytes the file stores for the chunk (its byte count).
        bytes: u64,
        /// Bytes its pixels need.
        needs: u64,
    },
    /// A strip/tile decompressed to fewer bytes than its dimensions require.
    #[error("{kind} {index} decoded to {got} bytes, expected {expected}")]
    ChunkShort {
        /// `"tile"` or `"strip"`.
        kind: &'static str,
        /// Chunk index.
        index: usize,
        /// Bytes produced.
        got: usize,
        /// Bytes required.
        expected: usize,
    },
    /// The GeoKey directory is malformed.
    #[error("malformed GeoKey directory ({detail})")]
    GeoKeys {
        /// What is wrong.
        detail: &'static str,
    },
}

/// A valid TIFF feature that chronomap does not decode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// A compression scheme other than none, LZW, Deflate, PackBits.
    #[error("compression {code} ({name})")]
    Compression {
        /// TIFF compression code.
        code: u16,
        /// Its usual name.
        name: &'static str,
    },
    /// A sample format / bit depth pair other than u8, i8, u16, i16, f16, u32, i32, f32, f64.
    #[error("{bits}-bit samples of sample format {format} (1 unsigned, 2 signed, 3 float)")]
    SampleFormat {
        /// TIFF SampleFormat.
        format: u16,
        /// Bits per sample.
        bits: u16,
    },
    /// Bands of different bit depths or formats in one file.
    #[error("bands with different bit depths or sample formats")]
    MixedSamples,
    /// A predictor other than 1, 2, 3 (or 3 on integer data).
    #[error("predictor {0}")]
    Predictor(u16),
    /// Chroma-subsampled YCbCr data.
    #[error("YCbCr subsampled pixels")]
    YCbCr,
    /// A BigTIFF file with an unusual offset size.
    #[error("BigTIFF with {0}-byte offsets")]
    OffsetSize(u16),
    /// A JPEG 2000 feature chronomap does not decode (component subsampling, components of
    /// different precision, more than 32-bit samples, ...); the text names it.
    #[error("JPEG 2000 {0}")]
    Jpeg2000(&'static str),
    /// Reduced-resolution reads of a TIFF: only JPEG 2000 files have resolution levels that
    /// chronomap reads (TIFF overviews are ignored).
    #[error(
        "reduced-resolution reads (only JPEG 2000 files have them; TIFF overviews are not read)"
    )]
    ReducedResolution,
}

/// What is wrong with a JPEG 2000 file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Jp2Problem {
    /// A box, marker segment or tile-part extends past the end of the file (or of the
    /// codestream box holding it).
    #[error("truncated: {what} needs bytes {offset}..{end} but only {len} are there")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Start offset in the file.
        offset: u64,
        /// End offset (exclusive).
        end: u64,
        /// Bytes available (file or codestream box end).
        len: u64,
    },
    /// A JP2 box is malformed (bad length, duplicated or missing required box).
    #[error("box {kind:?} at offset {offset}: {detail}")]
    BadBox {
        /// The box type (four characters).
        kind: String,
        /// Its offset in the file.
        offset: u64,
        /// What is wrong.
        detail: &'static str,
    },
    /// The file has no contiguous codestream (`jp2c`) box.
    #[error("no codestream (jp2c) box")]
    NoCodestream,
    /// A codestream marker segment is malformed or out of place.
    #[error("marker {marker:#06x} at offset {offset}: {detail}")]
    BadMarker {
        /// The marker (`0xff51` SIZ, `0xff90` SOT, ...).
        marker: u16,
        /// Its offset in the file.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The image or tile size declared in the SIZ marker is zero, inconsistent or beyond
    /// what chronomap decodes (more than 65535 tiles, or more than 2^32 samples per tile).
    #[error("SIZ declares {detail}")]
    BadSize {
        /// What was declared.
        detail: String,
    },
    /// The decoder rejected the coded data of a region (corrupt or truncated packets).
    #[error("cannot decode pixels {x0}..{x1} x {y0}..{y1} at reduction {reduce}: {detail}")]
    Decode {
        /// First column (full-resolution image coordinates).
        x0: u64,
        /// First row.
        y0: u64,
        /// End column (exclusive).
        x1: u64,
        /// End row (exclusive).
        y1: u64,
        /// Reduction level (0 = full resolution).
        reduce: u32,
        /// The decoder's messages.
        detail: String,
    },
}

/// What is wrong with a vector file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VectorProblem {
    /// XML syntax error or invalid UTF-8.
    #[error("malformed XML near byte {position}: {detail}")]
    Xml {
        /// Byte offset in the file.
        position: u64,
        /// Parser message.
        detail: String,
    },
    /// An element misses a required attribute or has an unparsable one.
    #[error("<{element}> has a missing or invalid `{attribute}` attribute near byte {position}")]
    BadAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attribute: &'static str,
        /// Byte offset in the file.
        position: u64,
    },
    /// Decoding the PBF container failed.
    #[error("malformed OSM PBF: {detail}")]
    Pbf {
        /// Decoder message.
        detail: String,
    },
    /// A way references a node absent from the file (strict mode).
    #[error("way {way} references node {node}, which is not in the file")]
    MissingNode {
        /// Way id.
        way: i64,
        /// Node id.
        node: i64,
    },
    /// A relation references a way absent from the file (strict mode).
    #[error("relation {relation} references way {way}, which is not in the file")]
    MissingWay {
        /// Relation id.
        relation: i64,
        /// Way id.
        way: i64,
    },
    /// An area (closed way, multipolygon, GeoJSON polygon) has a ring that does not close.
    #[error("{what} {id} has a ring that does not close")]
    UnclosedRing {
        /// `"way"`, `"relation"` or `"feature"`.
        what: &'static str,
        /// OSM id, or 0-based feature index for GeoJSON.
        id: i64,
    },
    /// The GeoJSON document is not valid JSON/GeoJSON.
    #[error("malformed GeoJSON: {detail}")]
    GeoJson {
        /// Parser message.
        detail: String,
    },
    /// The GeoJSON document is valid but not a FeatureCollection.
    #[error("GeoJSON root is a {found}, expected a FeatureCollection")]
    NotFeatureCollection {
        /// What was found.
        found: &'static str,
    },
    /// `--attribute NAME` was asked for but a feature lacks it or it is not an integer 0-255.
    #[error("feature {index} has no integer property `{attribute}` in 0..=255")]
    BadClassAttribute {
        /// 0-based feature index.
        index: usize,
        /// Property name.
        attribute: String,
    },
    /// The GeoJSON `crs` member names a CRS that is not an EPSG code.
    #[error("GeoJSON crs `{name}` is not an EPSG code")]
    BadCrs {
        /// The crs name.
        name: String,
    },
}

/// What is wrong with a class table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClassTableProblem {
    /// The JSON does not parse or does not match the schema.
    #[error("malformed JSON: {detail}")]
    Json {
        /// Parser message.
        detail: String,
    },
    /// A rule refers to a class id that is not declared.
    #[error("rule {rule} uses class {class}, which is not declared in `classes`")]
    UnknownClass {
        /// 0-based rule index.
        rule: usize,
        /// Class id.
        class: u8,
    },
    /// A class id is declared twice.
    #[error("class {class} is declared twice")]
    DuplicateClass {
        /// Class id.
        class: u8,
    },
    /// A line rule has no positive width.
    #[error(
        "rule {rule} burns lines but has no positive width (set `width_m` on the rule or `line_width_m` on the class)"
    )]
    NoWidth {
        /// 0-based rule index.
        rule: usize,
    },
}

/// What a non-TIFF file probably is, from its first bytes, and what to do with it (empty when
/// the signature is not recognised).
fn looks_like(magic: &[u8]) -> &'static str {
    if magic.starts_with(&[0, 0, 0, 0x0C, b'j', b'P', b' ', b' '])
        || magic.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
    {
        ": it looks like a JPEG 2000 image, which GeoTiffReader::open reads itself; this \
         parser only reads TIFFs"
    } else if magic.starts_with(b"PK\x03\x04") {
        ": it looks like a ZIP archive (a Sentinel-2 .SAFE download?); extract it and convert \
         the band images to GeoTIFF"
    } else if magic.starts_with(&[0x1F, 0x8B]) {
        ": it looks like a gzip archive (a Landsat .tar.gz bundle?); extract it and pass the \
         band GeoTIFFs"
    } else if magic.starts_with(b"\x89HDF")
        || magic.starts_with(b"CDF\x01")
        || magic.starts_with(b"CDF\x02")
    {
        ": it looks like an HDF5 or NetCDF file; export its bands to GeoTIFF with \
         `gdal_translate`"
    } else if magic.starts_with(&[0xFF, 0xD8, 0xFF]) || magic.starts_with(b"\x89PNG") {
        ": it looks like a plain JPEG or PNG image, which carries no georeferencing"
    } else if magic.starts_with(b"<?xml") || magic.starts_with(b"{") {
        ": it is a text file (XML or JSON); pass the raster file itself"
    } else {
        ""
    }
}

/// A parsing or decoding failure of a raster file before its path is attached (the TIFF and
/// JPEG 2000 parsers work on byte sources that do not know their file's name).
#[derive(Debug)]
pub(crate) enum Fail<P> {
    /// The file is malformed: `P` is [`TiffProblem`] or [`Jp2Problem`].
    Problem(P),
    /// Valid, but not something chronomap decodes.
    Unsupported(Unsupported),
    /// Reading failed.
    Io(std::io::Error),
}

/// A file problem that becomes an [`Error`] once the file's path is known.
pub(crate) trait FileProblem {
    /// The error naming `path`.
    fn at(self, path: PathBuf) -> Error;
}

impl FileProblem for TiffProblem {
    fn at(self, path: PathBuf) -> Error {
        Error::Tiff {
            path,
            problem: self,
        }
    }
}

impl FileProblem for Jp2Problem {
    fn at(self, path: PathBuf) -> Error {
        Error::Jp2 {
            path,
            problem: self,
        }
    }
}

impl<P: FileProblem> Fail<P> {
    /// The error, naming `path`.
    pub(crate) fn at(self, path: &std::path::Path) -> Error {
        let path = path.to_path_buf();
        match self {
            Fail::Problem(problem) => problem.at(path),
            Fail::Unsupported(what) => Error::Unsupported { path, what },
            Fail::Io(source) => Error::io(path, source),
        }
    }
}

impl From<TiffProblem> for Fail<TiffProblem> {
    fn from(p: TiffProblem) -> Self {
        Fail::Problem(p)
    }
}

impl From<Jp2Problem> for Fail<Jp2Problem> {
    fn from(p: Jp2Problem) -> Self {
        Fail::Problem(p)
    }
}

impl<P> From<Unsupported> for Fail<P> {
    fn from(u: Unsupported) -> Self {
        Fail::Unsupported(u)
    }
}
