//! What a GeoTIFF (or JPEG 2000 file) holds: size, bands, sample type, georeferencing, nodata and storage layout.

use crate::geotransform::GeoTransform;
use crate::grid::Grid;
use crate::sample_type::SampleType;

/// Compression of a TIFF's strips or tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// Uncompressed (TIFF code 1).
    None,
    /// LZW (code 5), e.g. Landsat Collection 2.
    Lzw,
    /// Deflate / zlib (codes 8 and 32946), GDAL's `COMPRESS=DEFLATE`.
    Deflate,
    /// PackBits run-length encoding (code 32773).
    PackBits,
    /// Zstandard (code 50000), GDAL's `COMPRESS=ZSTD` (written at the level of `zstd -1`).
    Zstd,
    /// JPEG (code 7, with `JPEGTables`), GDAL's `COMPRESS=JPEG`: 8-bit samples, 1 or 3 per
    /// pixel (or any number of bands with `INTERLEAVE=BAND`), RGB or YCbCr. Read only: it is
    /// lossy, and chronomap never writes it.
    Jpeg,
    /// Not a TIFF compression here: the raster is a JPEG 2000 file (`.jp2`/`.j2k`, GDAL's
    /// JP2OpenJPEG driver), lossless (5/3 wavelet) or lossy (9/7). Read only.
    Jpeg2000,
}

impl Compression {
    /// The GDAL creation-option name (`NONE`, `LZW`, `DEFLATE`, `PACKBITS`, `ZSTD`, `JPEG`;
    /// `JPEG2000` for JPEG 2000 files, as GDAL's `COMPRESSION` metadata item calls them).
    pub fn gdal_name(self) -> &'static str {
        match self {
            Compression::None => "NONE",
            Compression::Lzw => "LZW",
            Compression::Deflate => "DEFLATE",
            Compression::PackBits => "PACKBITS",
            Compression::Zstd => "ZSTD",
            Compression::Jpeg => "JPEG",
            Compression::Jpeg2000 => "JPEG2000",
        }
    }

    /// Every compression chronomap reads, each with its one TIFF code ([`Self::tiff_code`]).
    pub(crate) const ALL: [Compression; 6] = [
        Compression::None,
        Compression::Lzw,
        Compression::Deflate,
        Compression::PackBits,
        Compression::Zstd,
        Compression::Jpeg,
    ];

    pub(crate) fn tiff_code(self) -> u16 {
        match self {
            Compression::None => 1,
            Compression::Lzw => 5,
            Compression::Deflate => 8,
            Compression::PackBits => 32773,
            Compression::Zstd => 50000,
            Compression::Jpeg => 7,
            // TIFF's code for JPEG 2000 tiles, which chronomap neither reads nor writes
            Compression::Jpeg2000 => 34712,
        }
    }
}

/// TIFF predictor applied before compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Predictor {
    /// No predictor (1).
    None,
    /// Horizontal differencing of samples (2), GDAL `PREDICTOR=2`.
    Horizontal,
    /// Floating-point byte-plane differencing (3), GDAL `PREDICTOR=3`; float samples only.
    FloatingPoint,
}

impl Predictor {
    pub(crate) fn tiff_code(self) -> u16 {
        match self {
            Predictor::None => 1,
            Predictor::Horizontal => 2,
            Predictor::FloatingPoint => 3,
        }
    }
}

/// How the bands of a pixel are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Interleave {
    /// All bands of a pixel together (`PlanarConfiguration=1`, GDAL `INTERLEAVE=PIXEL`).
    Pixel,
    /// One plane per band (`PlanarConfiguration=2`, GDAL `INTERLEAVE=BAND`).
    Band,
}

/// Everything chronomap knows about a GeoTIFF without decoding pixels.
///
/// Only the first image of the file (IFD 0, the full resolution) is described; overviews of
/// Cloud-Optimized GeoTIFFs are counted in [`overviews`](Self::overviews) and never read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RasterInfo {
    /// Width in pixels (columns).
    pub width: usize,
    /// Height in pixels (rows).
    pub height: usize,
    /// Number of bands (TIFF samples per pixel).
    pub bands: usize,
    /// Sample type of every band.
    pub sample_type: SampleType,
    /// Pixel -> world transform in GDAL order, shifted by half a pixel for `PixelIsPoint`
    /// rasters exactly as GDAL does; `None` when the file is not georeferenced (or only
    /// through ground control points).
    pub geotransform: Option<GeoTransform>,
    /// EPSG code of the CRS from the GeoKey directory; `None` for user-defined CRSs.
    pub epsg: Option<u32>,
    /// Nodata value from the `GDAL_NODATA` tag.
    pub nodata: Option<f64>,
    /// Width of a storage block (tile width, or the image width for strips).
    pub block_width: usize,
    /// Height of a storage block (tile height or rows per strip).
    pub block_height: usize,
    /// Whether the file is tiled (else striped).
    pub tiled: bool,
    /// Band layout.
    pub interleave: Interleave,
    /// Compression.
    pub compression: Compression,
    /// Predictor.
    pub predictor: Predictor,
    /// Whether the file is a BigTIFF.
    pub bigtiff: bool,
    /// Number of further images after the first (overviews and masks of COGs).
    pub overviews: usize,
    /// Whether the GeoKey `GTRasterTypeGeoKey` says `PixelIsPoint`.
    pub pixel_is_point: bool,
    /// Per-band descriptions from GDAL metadata (`None` where absent); `bands` entries.
    pub band_descriptions: Vec<Option<String>>,
    /// Reduced resolutions that
    /// [`read_window_reduced`](crate::GeoTiffReader::read_window_reduced) reads: levels
    /// `1..=reduction_levels`, each halving width and height (the wavelet decomposition
    /// levels of a JPEG 2000 codestream; Sentinel-2 bands have 5). 0 for TIFFs.
    #[serde(default)]
    pub reduction_levels: usize,
}

impl RasterInfo {
    /// The reference grid (size, geotransform, EPSG) of the raster, if it is georeferenced.
    pub fn grid(&self) -> Option<Grid> {
        self.geotransform.map(|geotransform| Grid {
            width: self.width,
            height: self.height,
            geotransform,
            epsg: self.epsg,
        })
    }
}
