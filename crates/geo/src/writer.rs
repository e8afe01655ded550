//! GeoTIFF writing: whole rasters or window by window (streaming, bounded memory), tiled or
//! striped, Deflate/LZW/PackBits with predictors, GeoKeys, GDAL nodata and band names, to a
//! temporary file renamed into place on success.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::cog::{CogOptions, Pyramid};
use crate::error::{Error, Result};
use crate::geotransform::GeoTransform;
use crate::grid::Grid;
use crate::raster_info::{Compression, Interleave, Predictor};
use crate::sample::Sample;
use crate::sample_type::SampleType;
use crate::tiff_format::codec::{apply_floating_point, apply_horizontal, compress};
use crate::tiff_format::geokeys::{GeoTags, geo_tags, key_directory, xml_escape};
use crate::tiff_format::ifd_writer::IfdBuilder;
use crate::tiff_format::tags;
use crate::window::Window;

/// Files whose pixel data exceed this many bytes (uncompressed) are written as BigTIFF when
/// [`RasterSpec::bigtiff`] is `None`: compressed data never grows by the 7% margin left
/// below the 4 GiB limit of classic TIFF.
pub const BIGTIFF_THRESHOLD: u64 = 4_000_000_000;

/// What to write: size, bands, sample type, georeferencing and storage options.
///
/// Defaults from [`RasterSpec::new`]: tiled 256 x 256, Deflate level 6, horizontal predictor
/// for integers and floating-point predictor for floats, band interleave, classic TIFF
/// unless the data exceed [`BIGTIFF_THRESHOLD`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RasterSpec {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Number of bands.
    pub bands: usize,
    /// Sample type of every band.
    pub sample_type: SampleType,
    /// Pixel -> world transform (written as ModelPixelScale + ModelTiepoint when north-up,
    /// ModelTransformation otherwise).
    pub geotransform: Option<GeoTransform>,
    /// EPSG code written to the GeoKey directory.
    pub epsg: Option<u32>,
    /// Nodata value written to the `GDAL_NODATA` tag.
    pub nodata: Option<f64>,
    /// Compression.
    pub compression: Compression,
    /// Deflate level 1-9.
    pub deflate_level: u32,
    /// Predictor; `None` picks horizontal (integers) / floating point (floats) for compressed
    /// files and none for uncompressed ones.
    pub predictor: Option<Predictor>,
    /// Square tile size (a multiple of 16); `None` writes strips of `rows_per_strip` rows.
    pub tile_size: Option<usize>,
    /// Rows per strip when `tile_size` is `None`.
    pub rows_per_strip: usize,
    /// Band layout in the file.
    pub interleave: Interleave,
    /// Band descriptions (empty, or one per band), written as GDAL metadata.
    pub band_names: Vec<String>,
    /// Force BigTIFF (`Some(true)`) or classic TIFF (`Some(false)`); `None` decides by size.
    pub bigtiff: Option<bool>,
    /// A colour table (up to 256 RGB entries, index = pixel value; missing entries black)
    /// for a one-band `u8` raster of classes: written as the TIFF `ColorMap` (palette
    /// photometric), which GDAL reports as the band's colour table and QGIS uses to draw it.
    pub palette: Option<Vec<[u8; 3]>>,
    /// Write a Cloud-Optimized GeoTIFF (IFDs first, internal overviews, GDAL's COG layout;
    /// see [`CogOptions`]) instead of a plain tiled file; needs `tile_size`.
    #[serde(default)]
    pub cog: Option<CogOptions>,
}

impl RasterSpec {
    /// A spec with the defaults listed on [`RasterSpec`] and no georeferencing.
    pub fn new(width: usize, height: usize, bands: usize, sample_type: SampleType) -> Self {
        RasterSpec {
            width,
            height,
            bands,
            sample_type,
            geotransform: None,
            epsg: None,
            nodata: None,
            compression: Compression::Deflate,
            deflate_level: 6,
            predictor: None,
            tile_size: Some(256),
            rows_per_strip: 16,
            interleave: Interleave::Band,
            band_names: Vec::new(),
            bigtiff: None,
            palette: None,
            cog: None,
        }
    }

    /// A spec on `grid` (size, geotransform, EPSG).
    pub fn for_grid(grid: &Grid, bands: usize, sample_type: SampleType) -> Self {
        RasterSpec {
            geotransform: Some(grid.geotransform),
            epsg: grid.epsg,
            ..RasterSpec::new(grid.width, grid.height, bands, sample_type)
        }
    }

    /// Sets the colour table of a one-band `u8` class raster (see [`RasterSpec::palette`]).
    pub fn with_palette(mut self, colors: Vec<[u8; 3]>) -> Self {
        self.palette = Some(colors);
        self
    }

    /// Writes a Cloud-Optimized GeoTIFF with overviews computed by `options` (see
    /// [`RasterSpec::cog`]).
    pub fn with_cog(mut self, options: CogOptions) -> Self {
        self.cog = Some(options);
        self
    }

    /// Sets the geotransform.
    pub fn with_geotransform(mut self, gt: GeoTransform) -> Self {
        self.geotransform = Some(gt);
        self
    }

    /// Sets the EPSG code.
    pub fn with_epsg(mut self, epsg: u32) -> Self {
        self.epsg = Some(epsg);
        self
    }

    /// Sets the nodata value.
    pub fn with_nodata(mut self, nodata: f64) -> Self {
        self.nodata = Some(nodata);
        self
    }

    /// Sets the compression.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the predictor.
    pub fn with_predictor(mut self, predictor: Predictor) -> Self {
        self.predictor = Some(predictor);
        self
    }

    /// Writes square tiles of `size` pixels (a multiple of 16).
    pub fn with_tile_size(mut self, size: usize) -> Self {
        self.tile_size = Some(size);
        self
    }

    /// Writes strips of `rows_per_strip` rows instead of tiles.
    pub fn with_strips(mut self, rows_per_strip: usize) -> Self {
        self.tile_size = None;
        self.rows_per_strip = rows_per_strip;
        self
    }

    /// Sets the band layout.
    pub fn with_interleave(mut self, interleave: Interleave) -> Self {
        self.interleave = interleave;
        self
    }

    /// Sets band descriptions (one per band).
    pub fn with_band_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.band_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Forces BigTIFF or classic TIFF.
    pub fn with_bigtiff(mut self, bigtiff: bool) -> Self {
        self.bigtiff = Some(bigtiff);
        self
    }

    /// The predictor actually written.
    pub fn effective_predictor(&self) -> Predictor {
        match (self.predictor, self.compression) {
            (Some(p), _) => p,
            (None, Compression::None) => Predictor::None,
            (None, _) if self.sample_type.is_float() => Predictor::FloatingPoint,
            (None, _) => Predictor::Horizontal,
        }
    }

    /// Bytes of uncompressed pixel data.
    pub fn data_bytes(&self) -> u64 {
        (self.width as u64)
            .saturating_mul(self.height as u64)
            .saturating_mul(self.bands as u64)
            .saturating_mul(self.sample_type.size_bytes() as u64)
    }

    fn validate(&self) -> Result<()> {
        let bad = |problem| Err(Error::InvalidSpec { problem });
        if self.width == 0 || self.height == 0 || self.bands == 0 {
            return bad("width, height and bands must be positive");
        }
        if self.sample_type == SampleType::F16 {
            return bad("Float16 is read only; write Float32");
        }
        if self.compression == Compression::Jpeg {
            return bad("JPEG compression is read only (it is lossy); write DEFLATE, LZW or ZSTD");
        }
        if self.compression == Compression::Jpeg2000 {
            return bad("JPEG 2000 is read only; write DEFLATE, LZW or ZSTD");
        }
        if self.width > u32::MAX as usize || self.height > u32::MAX as usize || self.bands > 65_535
        {
            return bad("width/height above 2^32-1 or more than 65535 bands");
        }
        if let Some(t) = self.tile_size {
            if t == 0 || t % 16 != 0 {
                return bad("tile size must be a positive multiple of 16 (TIFF requirement)");
            }
        } else if self.rows_per_strip == 0 {
            return bad("rows_per_strip must be positive");
        }
        if let Some(cog) = &self.cog {
            if self.tile_size.is_none() {
                return bad("a Cloud-Optimized GeoTIFF must be tiled (tile_size)");
            }
            if cog.min_size == Some(0) {
                return bad("CogOptions::min_size must be positive");
            }
        }
        if let Some(p) = &self.palette
            && (self.bands != 1 || self.sample_type != SampleType::U8 || p.len() > 256)
        {
            return bad("a colour table needs one u8 band and at most 256 colours");
        }
        if !(1..=9).contains(&self.deflate_level) {
            return bad("deflate_level must be 1-9");
        }
        if !self.band_names.is_empty() && self.band_names.len() != self.bands {
            return bad("band_names must be empty or have one name per band");
        }
        if self.effective_predictor() == Predictor::FloatingPoint && !self.sample_type.is_float() {
            return bad("the floating-point predictor needs f32 or f64 samples");
        }
        if self.epsg.is_some_and(|e| e == 0 || e > 32766) {
            return bad("EPSG codes are 1-32766");
        }
        if self
            .geotransform
            .is_some_and(|g| g.0.iter().any(|v| !v.is_finite()))
        {
            return bad("geotransform must be finite");
        }
        if self.bigtiff == Some(false) && self.data_bytes() > u32::MAX as u64 {
            return bad("more than 4 GiB of pixels cannot be written as classic TIFF");
        }
        Ok(())
    }
}

/// Band-major pixel data for [`write_geotiff`]: `[bands, height, width]`.
#[derive(Debug, Clone, Copy)]
pub enum RasterData<'a> {
    /// `u8` samples (class maps).
    U8(&'a [u8]),
    /// `i8` samples.
    I8(&'a [i8]),
    /// `u16` samples (reflectances).
    U16(&'a [u16]),
    /// `i16` samples.
    I16(&'a [i16]),
    /// `u32` samples.
    U32(&'a [u32]),
    /// `i32` samples.
    I32(&'a [i32]),
    /// `f32` samples (probability maps).
    F32(&'a [f32]),
    /// `f64` samples.
    F64(&'a [f64]),
}

/// Writes a whole raster (`data`: `[bands, height, width]`, band-major) to `path` atomically.
///
/// # Errors
/// [`Error::InvalidSpec`], [`Error::TypeMismatch`] (data type differs from
/// `spec.sample_type`), [`Error::DataLength`], [`Error::Io`]. On error nothing is left at
/// `path` (an existing file there is untouched).
///
/// # Examples
/// ```
/// use chronomap_geo::{write_geotiff, RasterData, RasterSpec, SampleType};
/// let dir = tempfile::tempdir()?;
/// let spec = RasterSpec::new(4, 2, 1, SampleType::U8).with_epsg(4326);
/// write_geotiff(dir.path().join("classes.tif"), &spec, RasterData::U8(&[0, 1, 2, 3, 4, 3, 2, 1]))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_geotiff(
    path: impl AsRef<Path>,
    spec: &RasterSpec,
    data: RasterData<'_>,
) -> Result<()> {
    let mut w = GeoTiffWriter::create(path, spec.clone())?;
    let full = Window::full(spec.width, spec.height);
    match data {
        RasterData::U8(d) => w.write_window(full, d)?,
        RasterData::I8(d) => w.write_window(full, d)?,
        RasterData::U16(d) => w.write_window(full, d)?,
        RasterData::I16(d) => w.write_window(full, d)?,
        RasterData::U32(d) => w.write_window(full, d)?,
        RasterData::I32(d) => w.write_window(full, d)?,
        RasterData::F32(d) => w.write_window(full, d)?,
        RasterData::F64(d) => w.write_window(full, d)?,
    }
    w.finish()
}

/// A chunk row (one row of tiles, or one strip) being filled.
struct PendingRow {
    /// `[bands, rows, width]` little-endian samples.
    data: Vec<u8>,
    /// One flag per pixel of `rows x width`: already written.
    written: Vec<bool>,
    remaining: usize,
}

/// How the chunks (tiles or strips) of one image are cut from rows of pixels and encoded
/// (predictor, compression): shared by the full-resolution image and COG overviews.
#[derive(Debug, Clone)]
pub(crate) struct ChunkCodec {
    /// Image width in pixels.
    pub(crate) width: usize,
    /// Image height in pixels.
    pub(crate) height: usize,
    pub(crate) chunk_width: usize,
    pub(crate) chunk_height: usize,
    pub(crate) tiled: bool,
    pub(crate) bands: usize,
    /// Bytes per sample.
    pub(crate) size: usize,
    pub(crate) interleave: Interleave,
    pub(crate) compression: Compression,
    pub(crate) level: u32,
    pub(crate) predictor: Predictor,
    /// One sample of the fill value (nodata or 0), little-endian.
    pub(crate) fill: Vec<u8>,
}

impl ChunkCodec {
    /// The codec of `spec`'s full-resolution image.
    fn for_spec(spec: &RasterSpec) -> Self {
        let (chunk_width, chunk_height) = match spec.tile_size {
            Some(t) => (t, t),
            None => (spec.width, spec.rows_per_strip.min(spec.height)),
        };
        ChunkCodec {
            width: spec.width,
            height: spec.height,
            chunk_width,
            chunk_height,
            tiled: spec.tile_size.is_some(),
            bands: spec.bands,
            size: spec.sample_type.size_bytes(),
            interleave: spec.interleave,
            compression: spec.compression,
            level: spec.deflate_level,
            predictor: spec.effective_predictor(),
            fill: fill_value(spec),
        }
    }

    /// The same storage for a `width` x `height` image (a COG overview).
    pub(crate) fn resized(&self, width: usize, height: usize) -> Self {
        ChunkCodec {
            width,
            height,
            ..self.clone()
        }
    }

    pub(crate) fn across(&self) -> usize {
        self.width.div_ceil(self.chunk_width)
    }

    pub(crate) fn down(&self) -> usize {
        self.height.div_ceil(self.chunk_height)
    }

    fn planes(&self) -> usize {
        if self.interleave == Interleave::Band {
            self.bands
        } else {
            1
        }
    }

    /// Number of chunks (strips or tiles, every plane).
    pub(crate) fn chunk_count(&self) -> usize {
        self.across() * self.down() * self.planes()
    }

    /// Rows of image in chunk row `cy`.
    pub(crate) fn rows_in(&self, cy: usize) -> usize {
        self.chunk_height.min(self.height - cy * self.chunk_height)
    }

    /// Cuts every chunk of chunk row `cy` out of `data` (`[bands, rows_in(cy), width]`
    /// little-endian samples), pads edge tiles with the fill value, applies the predictor and
    /// compresses: `(chunk index, bytes)` in order of plane, then column.
    pub(crate) fn encode_row(&self, data: &[u8], cy: usize) -> Vec<(usize, Vec<u8>)> {
        let (width, bands, size) = (self.width, self.bands, self.size);
        let rows = self.rows_in(cy);
        let (across, down) = (self.across(), self.down());
        // tiles are padded to full height, strips are not
        let chunk_rows = if self.tiled { self.chunk_height } else { rows };
        let planes: Vec<Option<usize>> = match self.interleave {
            Interleave::Band => (0..bands).map(Some).collect(),
            Interleave::Pixel => vec![None],
        };
        let spp = if self.interleave == Interleave::Pixel {
            bands
        } else {
            1
        };
        let row_bytes = self.chunk_width * spp * size;
        let mut jobs = Vec::new();
        for (plane_index, plane) in planes.iter().enumerate() {
            for cx in 0..across {
                let col0 = cx * self.chunk_width;
                let cols = self.chunk_width.min(width - col0);
                let mut chunk = Vec::with_capacity(row_bytes * chunk_rows);
                for r in 0..chunk_rows {
                    let start = chunk.len();
                    if r < rows {
                        match plane {
                            Some(b) => {
                                let o = ((b * rows + r) * width + col0) * size;
                                chunk.extend_from_slice(&data[o..o + cols * size]);
                            }
                            None => {
                                for c in col0..col0 + cols {
                                    for b in 0..bands {
                                        let o = ((b * rows + r) * width + c) * size;
                                        chunk.extend_from_slice(&data[o..o + size]);
                                    }
                                }
                            }
                        }
                    }
                    while chunk.len() < start + row_bytes {
                        chunk.extend_from_slice(&self.fill);
                    }
                }
                let index = plane_index * across * down + cy * across + cx;
                jobs.push((index, chunk));
            }
        }
        let (compression, level, predictor) = (self.compression, self.level, self.predictor);
        let encode = move |chunk: &mut Vec<u8>| -> Vec<u8> {
            match predictor {
                Predictor::None => {}
                Predictor::Horizontal => apply_horizontal(chunk, row_bytes, spp, size, true),
                Predictor::FloatingPoint => apply_floating_point(chunk, row_bytes, spp, size),
            }
            compress(chunk, compression, level)
        };
        encode_parallel(jobs, &encode)
    }
}

/// One sample of `spec`'s fill value (nodata, or 0 without one), little-endian.
fn fill_value(spec: &RasterSpec) -> Vec<u8> {
    let mut fill = Vec::new();
    let nodata = spec.nodata.unwrap_or(0.0);
    match spec.sample_type {
        SampleType::U8 => u8::from_f64(nodata).put_le(&mut fill),
        SampleType::I8 => i8::from_f64(nodata).put_le(&mut fill),
        SampleType::F16 => unreachable!("RasterSpec::validate rejects Float16 for writing"),
        SampleType::U16 => u16::from_f64(nodata).put_le(&mut fill),
        SampleType::I16 => i16::from_f64(nodata).put_le(&mut fill),
        SampleType::U32 => u32::from_f64(nodata).put_le(&mut fill),
        SampleType::I32 => i32::from_f64(nodata).put_le(&mut fill),
        SampleType::F32 => f32::from_f64(nodata).put_le(&mut fill),
        SampleType::F64 => nodata.put_le(&mut fill),
    }
    fill
}

/// Streaming GeoTIFF writer: pixels arrive window by window in any order, each finished row
/// of tiles (or strip) is compressed and appended at once, so memory holds only the rows of
/// tiles that windows currently overlap.
///
/// The file is built as a temporary file in the destination directory and renamed to `path`
/// by [`finish`](Self::finish); dropping the writer without finishing deletes it. Pixels
/// never written are filled with the nodata value (0 without one).
///
/// With [`RasterSpec::cog`], each finished row of tiles also feeds the overview pyramid
/// (one row of tiles per level, about a row of full-resolution tiles in all, when rows of
/// tiles complete top to bottom; rows completed out of order are read back from the
/// temporary file by `finish`), and `finish` rewrites everything in COG order into a
/// second temporary file (see [`CogOptions`]).
///
/// # Examples
/// ```
/// use chronomap_geo::{GeoTiffReader, GeoTiffWriter, RasterSpec, SampleType, Window};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("map.tif");
/// let mut w = GeoTiffWriter::create(&path, RasterSpec::new(40, 30, 1, SampleType::F32))?;
/// for row in (0..30).step_by(10) {
///     // strip by strip: a 40 x 10 window of ones
///     w.write_window(Window::new(0, row, 40, 10), &vec![1.0f32; 400])?;
/// }
/// w.finish()?;
/// assert_eq!(GeoTiffReader::open(&path)?.read_all()?, vec![1.0; 1200]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GeoTiffWriter {
    path: PathBuf,
    spec: RasterSpec,
    tmp: Option<tempfile::NamedTempFile>,
    bigtiff: bool,
    predictor: Predictor,
    codec: ChunkCodec,
    chunk_width: usize,
    chunk_height: usize,
    down: usize,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    pos: u64,
    pending: BTreeMap<usize, PendingRow>,
    done_rows: Vec<bool>,
    fill: Vec<u8>,
    /// COG overviews being built, and the chunk rows fed to them so far (in order).
    pyramid: Option<Pyramid>,
    fed_rows: usize,
}

impl std::fmt::Debug for GeoTiffWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoTiffWriter")
            .field("path", &self.path)
            .field("spec", &self.spec)
            .finish()
    }
}

impl GeoTiffWriter {
    /// Starts writing `path` (created on [`finish`](Self::finish)).
    ///
    /// # Errors
    /// [`Error::InvalidSpec`]; [`Error::Io`] if the temporary file cannot be created in the
    /// destination directory.
    pub fn create(path: impl AsRef<Path>, spec: RasterSpec) -> Result<Self> {
        spec.validate()?;
        let path = path.as_ref().to_path_buf();
        let mut tmp = crate::atomic_file::temp_next_to(&path).map_err(|e| Error::io(&path, e))?;
        let bigtiff = spec
            .bigtiff
            .unwrap_or(spec.data_bytes() > BIGTIFF_THRESHOLD);
        let header = tiff_header(bigtiff, 0);
        tmp.as_file_mut()
            .write_all(&header)
            .map_err(|e| Error::io(&path, e))?;
        let codec = ChunkCodec::for_spec(&spec);
        let n = codec.chunk_count();
        let pyramid = match &spec.cog {
            Some(cog) => Some(Pyramid::new(&path, &spec, cog, &codec)?),
            None => None,
        };
        Ok(GeoTiffWriter {
            predictor: spec.effective_predictor(),
            path,
            tmp: Some(tmp),
            bigtiff,
            chunk_width: codec.chunk_width,
            chunk_height: codec.chunk_height,
            down: codec.down(),
            offsets: vec![0; n],
            counts: vec![0; n],
            pos: header.len() as u64,
            pending: BTreeMap::new(),
            done_rows: vec![false; codec.down()],
            fill: codec.fill.clone(),
            codec,
            spec,
            pyramid,
            fed_rows: 0,
        })
    }

    /// The spec being written.
    pub fn spec(&self) -> &RasterSpec {
        &self.spec
    }

    /// Writes the pixels of `window` (`data`: `[bands, window.height, window.width]`).
    /// Windows may come in any order and overlap (the last write wins while its row of tiles
    /// is still open; rows of tiles already complete are not rewritten).
    ///
    /// # Errors
    /// [`Error::TypeMismatch`], [`Error::WindowOutOfBounds`], [`Error::DataLength`],
    /// [`Error::Io`].
    pub fn write_window<T: Sample>(&mut self, window: Window, data: &[T]) -> Result<()> {
        if T::TYPE != self.spec.sample_type {
            return Err(Error::TypeMismatch {
                requested: T::TYPE,
                actual: self.spec.sample_type,
            });
        }
        if !window.fits_in(self.spec.width, self.spec.height) {
            return Err(Error::WindowOutOfBounds {
                window,
                width: self.spec.width,
                height: self.spec.height,
            });
        }
        let expected = window.area() * self.spec.bands;
        if data.len() != expected {
            return Err(Error::DataLength {
                expected,
                actual: data.len(),
            });
        }
        let size = self.spec.sample_type.size_bytes();
        let width = self.spec.width;
        let cy0 = window.row / self.chunk_height;
        let cy1 = (window.row + window.height - 1) / self.chunk_height;
        let mut bytes = Vec::with_capacity(window.width * size);
        for cy in cy0..=cy1 {
            if self.done_rows[cy] {
                continue;
            }
            let row0 = cy * self.chunk_height;
            let rows = self.chunk_height.min(self.spec.height - row0);
            let pending = self.pending.entry(cy).or_insert_with(|| PendingRow {
                data: vec![0; self.spec.bands * rows * width * size],
                written: vec![false; rows * width],
                remaining: rows * width,
            });
            let r0 = window.row.max(row0);
            let r1 = (window.row + window.height).min(row0 + rows);
            for r in r0..r1 {
                let flags = &mut pending.written[(r - row0) * width + window.col..][..window.width];
                pending.remaining -= flags.iter().filter(|f| !**f).count();
                flags.fill(true);
                for b in 0..self.spec.bands {
                    let src = &data[(b * window.height + r - window.row) * window.width..]
                        [..window.width];
                    bytes.clear();
                    for &v in src {
                        v.put_le(&mut bytes);
                    }
                    let o = ((b * rows + r - row0) * width + window.col) * size;
                    pending.data[o..o + bytes.len()].copy_from_slice(&bytes);
                }
            }
            if pending.remaining == 0 {
                self.flush_row(cy)?;
            }
        }
        Ok(())
    }

    /// Writes whole rows starting at `row` (`data`: `[bands, n_rows, width]`).
    ///
    /// # Errors
    /// As [`write_window`](Self::write_window).
    pub fn write_rows<T: Sample>(&mut self, row: usize, data: &[T]) -> Result<()> {
        let per_row = self.spec.width * self.spec.bands;
        let n_rows = data.len() / per_row.max(1);
        if n_rows * per_row != data.len() || n_rows == 0 {
            return Err(Error::DataLength {
                expected: per_row.max(1) * n_rows.max(1),
                actual: data.len(),
            });
        }
        self.write_window(Window::new(0, row, self.spec.width, n_rows), data)
    }

    /// Compresses and appends every chunk of chunk row `cy` (and feeds it to the COG
    /// overviews when it is the next row they need).
    fn flush_row(&mut self, cy: usize) -> Result<()> {
        let Some(mut pending) = self.pending.remove(&cy) else {
            return Ok(());
        };
        let size = self.spec.sample_type.size_bytes();
        let (width, bands) = (self.spec.width, self.spec.bands);
        let rows = self.codec.rows_in(cy);
        if pending.remaining > 0 {
            for p in 0..rows * width {
                if !pending.written[p] {
                    for b in 0..bands {
                        let o = (b * rows * width + p) * size;
                        pending.data[o..o + size].copy_from_slice(&self.fill);
                    }
                }
            }
        }
        // the overviews take the row (on their own thread) while its tiles are encoded
        let feed = self.pyramid.as_mut().filter(|_| cy == self.fed_rows);
        let fed = feed.is_some();
        let codec = &self.codec;
        let data = &pending.data;
        let (encoded, pushed) = std::thread::scope(|s| {
            let overviews = feed.map(|p| s.spawn(move || p.push_le_rows(data, rows)));
            let encoded = codec.encode_row(data, cy);
            let pushed = overviews.map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (encoded, pushed)
        });
        pushed.transpose()?;
        if fed {
            self.fed_rows += 1;
        }
        drop(pending);
        let path = self.path.clone();
        let Some(tmp) = self.tmp.as_mut() else {
            return Ok(());
        };
        for (index, bytes) in encoded {
            tmp.as_file_mut()
                .write_all(&bytes)
                .map_err(|e| Error::io(&path, e))?;
            self.offsets[index] = self.pos;
            self.counts[index] = bytes.len() as u64;
            self.pos += bytes.len() as u64;
        }
        self.done_rows[cy] = true;
        Ok(())
    }

    /// Writes the remaining rows (unwritten pixels as nodata/0), the IFD and GeoTIFF tags,
    /// and renames the temporary file to the destination path. For a COG
    /// ([`RasterSpec::cog`]) it completes the overviews and writes the file in COG layout.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidSpec`] if a file forced to classic TIFF outgrew 4 GiB.
    pub fn finish(mut self) -> Result<()> {
        for cy in 0..self.down {
            if !self.done_rows[cy] {
                if !self.pending.contains_key(&cy) {
                    let rows = self.codec.rows_in(cy);
                    let n = rows * self.spec.width;
                    self.pending.insert(
                        cy,
                        PendingRow {
                            data: vec![0; n * self.spec.bands * self.spec.sample_type.size_bytes()],
                            written: vec![false; n],
                            remaining: n,
                        },
                    );
                }
                self.flush_row(cy)?;
            }
        }
        self.write_plain_ifd()?;
        if self.pyramid.is_some() {
            return self.finish_cog();
        }
        let path = self.path.clone();
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        tmp.persist(&self.path)
            .map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }

    /// Appends the IFD to the temporary file and points the header at it: the temporary
    /// file is then a complete plain GeoTIFF.
    fn write_plain_ifd(&mut self) -> Result<()> {
        let ifd_offset = self.pos + self.pos % 2;
        if !self.bigtiff && ifd_offset > u32::MAX as u64 - (1 << 20) {
            return Err(Error::InvalidSpec {
                problem: "the file outgrew 4 GiB as classic TIFF; write it with with_bigtiff(true)",
            });
        }
        let mut ifd = self.build_ifd(None, &self.offsets, &self.counts, self.bigtiff);
        let bytes = ifd.encode(ifd_offset, self.bigtiff);
        let path = self.path.clone();
        let io = |e| Error::io(&path, e);
        let Some(tmp) = self.tmp.as_mut() else {
            return Ok(());
        };
        let f = tmp.as_file_mut();
        if ifd_offset > self.pos {
            f.write_all(&[0]).map_err(io)?;
        }
        f.write_all(&bytes).map_err(io)?;
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        f.write_all(&tiff_header(self.bigtiff, ifd_offset))
            .map_err(io)?;
        f.seek(SeekFrom::End(0)).map_err(io)?;
        f.flush().map_err(io)?;
        Ok(())
    }

    /// Completes the overviews (reading back, from the complete temporary file, the rows of
    /// tiles that were not fed in order) and writes the COG next to the destination.
    fn finish_cog(mut self) -> Result<()> {
        let Some(mut pyramid) = self.pyramid.take() else {
            return Ok(());
        };
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        if self.fed_rows < self.down {
            let r = crate::reader::GeoTiffReader::open(tmp.path())?;
            let bands: Vec<usize> = (0..self.spec.bands).collect();
            for cy in self.fed_rows..self.down {
                let rows = self.codec.rows_in(cy);
                let win = Window::new(0, cy * self.chunk_height, self.spec.width, rows);
                let data: Vec<f64> = r.read_window_as(win, &bands)?;
                pyramid.push_rows(&data, rows)?;
            }
        }
        let overviews = pyramid.finish()?;
        let mut levels = vec![crate::cog::LevelData {
            width: self.spec.width,
            height: self.spec.height,
            counts: self.counts.clone(),
            src_offsets: self.offsets.clone(),
            src: tmp.as_file(),
        }];
        for o in &overviews.levels {
            levels.push(crate::cog::LevelData {
                width: o.width,
                height: o.height,
                counts: o.counts.clone(),
                src_offsets: o.offsets.clone(),
                src: &overviews.spool,
            });
        }
        let ghost = crate::cog::ghost_area(self.spec.bands, self.spec.interleave);
        let build = |level: usize, offsets: &[u64], counts: &[u64], bigtiff: bool| {
            let size = (level > 0).then(|| (levels[level].width, levels[level].height));
            self.build_ifd(size, offsets, counts, bigtiff)
        };
        let mut layout = crate::cog::plan(&levels, &ghost, self.bigtiff, &build);
        if !layout.fits_classic() {
            match self.spec.bigtiff {
                Some(false) => {
                    return Err(Error::InvalidSpec {
                        problem: "the COG outgrew 4 GiB as classic TIFF; write it with with_bigtiff(true)",
                    });
                }
                _ => layout = crate::cog::plan(&levels, &ghost, true, &build),
            }
        }
        let mut out =
            crate::atomic_file::temp_next_to(&self.path).map_err(|e| Error::io(&self.path, e))?;
        crate::cog::write(out.as_file_mut(), &levels, &ghost, &layout, &build)
            .map_err(|e| Error::io(&self.path, e))?;
        drop(levels);
        out.persist(&self.path)
            .map_err(|e| Error::io(&self.path, e.error))?;
        drop(tmp);
        Ok(())
    }

    /// The IFD of the full-resolution image (`overview: None`) or of an overview of size
    /// `overview`: same storage tags and colour table; georeferencing, band names and
    /// `Software` only on the full resolution, `NewSubfileType` = 1 (reduced resolution) on
    /// overviews.
    fn build_ifd(
        &self,
        overview: Option<(usize, usize)>,
        offsets: &[u64],
        counts: &[u64],
        bigtiff: bool,
    ) -> IfdBuilder {
        let s = &self.spec;
        let mut ifd = IfdBuilder::default();
        let (width, height) = overview.unwrap_or((s.width, s.height));
        if overview.is_some() {
            ifd.long(tags::NEW_SUBFILE_TYPE, 1);
        }
        ifd.long(tags::IMAGE_WIDTH, width as u32);
        ifd.long(tags::IMAGE_LENGTH, height as u32);
        let bits = (s.sample_type.size_bytes() * 8) as u16;
        ifd.shorts(tags::BITS_PER_SAMPLE, &vec![bits; s.bands]);
        ifd.short(tags::COMPRESSION, s.compression.tiff_code());
        // MinIsBlack, or Palette with a colour map (16-bit components: 8-bit x 257)
        ifd.short(tags::PHOTOMETRIC, if s.palette.is_some() { 3 } else { 1 });
        if let Some(p) = &s.palette {
            let mut map = vec![0u16; 3 * 256];
            for (i, c) in p.iter().enumerate() {
                for (k, &v) in c.iter().enumerate() {
                    map[k * 256 + i] = u16::from(v) * 257;
                }
            }
            ifd.shorts(tags::COLOR_MAP, &map);
        }
        ifd.short(tags::SAMPLES_PER_PIXEL, s.bands as u16);
        ifd.short(
            tags::PLANAR_CONFIGURATION,
            if s.interleave == Interleave::Band {
                2
            } else {
                1
            },
        );
        if overview.is_none() {
            ifd.ascii(
                tags::SOFTWARE,
                concat!("chronomap-geo ", env!("CARGO_PKG_VERSION")),
            );
        }
        if self.predictor != Predictor::None {
            ifd.short(tags::PREDICTOR, self.predictor.tiff_code());
        }
        if s.tile_size.is_some() {
            ifd.long(tags::TILE_WIDTH, self.chunk_width as u32);
            ifd.long(tags::TILE_LENGTH, self.chunk_height as u32);
            ifd.offsets(tags::TILE_OFFSETS, offsets, bigtiff);
            ifd.offsets(tags::TILE_BYTE_COUNTS, counts, bigtiff);
        } else {
            ifd.long(tags::ROWS_PER_STRIP, self.chunk_height as u32);
            ifd.offsets(tags::STRIP_OFFSETS, offsets, bigtiff);
            ifd.offsets(tags::STRIP_BYTE_COUNTS, counts, bigtiff);
        }
        if s.bands > 1 {
            ifd.shorts(tags::EXTRA_SAMPLES, &vec![0; s.bands - 1]); // unspecified
        }
        ifd.shorts(
            tags::SAMPLE_FORMAT,
            &vec![s.sample_type.tiff_sample_format(); s.bands],
        );
        if let Some(nd) = s.nodata {
            ifd.ascii(tags::GDAL_NODATA, &format_nodata(nd));
        }
        if overview.is_some() {
            return ifd;
        }
        if let Some(gt) = &s.geotransform {
            match geo_tags(gt) {
                GeoTags::ScaleTiepoint { scale, tiepoint } => {
                    ifd.doubles(tags::MODEL_PIXEL_SCALE, &scale);
                    ifd.doubles(tags::MODEL_TIEPOINT, &tiepoint);
                }
                GeoTags::Transformation(m) => ifd.doubles(tags::MODEL_TRANSFORMATION, &m),
            }
        }
        if s.geotransform.is_some() || s.epsg.is_some() {
            let name = s.epsg.and_then(crate::crs::epsg_name);
            let (dir, ascii) = key_directory(s.epsg, name.as_deref());
            ifd.shorts(tags::GEO_KEY_DIRECTORY, &dir);
            if let Some(a) = ascii {
                ifd.ascii(tags::GEO_ASCII_PARAMS, &a);
            }
        }
        if !s.band_names.is_empty() {
            let mut xml = String::from("<GDALMetadata>\n");
            for (i, name) in s.band_names.iter().enumerate() {
                xml.push_str(&format!(
                    "  <Item name=\"DESCRIPTION\" sample=\"{i}\" role=\"description\">{}</Item>\n",
                    xml_escape(name)
                ));
            }
            xml.push_str("</GDALMetadata>");
            ifd.ascii(tags::GDAL_METADATA, &xml);
        }
        ifd
    }
}

/// The 8-byte (classic) or 16-byte (BigTIFF) little-endian header pointing at `first_ifd`.
pub(crate) fn tiff_header(bigtiff: bool, first_ifd: u64) -> Vec<u8> {
    if bigtiff {
        [
            b"II\x2b\x00".as_slice(),
            &8u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &first_ifd.to_le_bytes(),
        ]
        .concat()
    } else {
        [b"II\x2a\x00".as_slice(), &(first_ifd as u32).to_le_bytes()].concat()
    }
}

/// Nodata as GDAL writes it: shortest round-tripping decimal, `nan`, `inf`, `-inf`.
fn format_nodata(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v}")
    }
}

/// Encodes chunks on up to `available_parallelism` threads, keeping their order.
fn encode_parallel(
    mut jobs: Vec<(usize, Vec<u8>)>,
    encode: &(dyn Fn(&mut Vec<u8>) -> Vec<u8> + Sync),
) -> Vec<(usize, Vec<u8>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    if threads <= 1 {
        return jobs
            .into_iter()
            .map(|(i, mut c)| (i, encode(&mut c)))
            .collect();
    }
    let per = jobs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks_mut(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter_mut()
                        .map(|(i, c)| (*i, encode(c)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::GeoTiffReader;

    /// Deterministic, non-trivial pixel values: a gradient plus a hash so predictors and
    /// compressors see both smooth and noisy data.
    fn pattern(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * 7919) % 251) as f64 + (i / 13) as f64 % 97.0)
            .collect()
    }

    fn layouts() -> Vec<RasterSpec> {
        let base = RasterSpec::new(45, 37, 3, SampleType::U16);
        let mut v = Vec::new();
        // every compression chronomap writes (JPEG is read only)
        for c in Compression::ALL
            .into_iter()
            .filter(|&c| c != Compression::Jpeg)
        {
            for il in [Interleave::Band, Interleave::Pixel] {
                v.push(
                    base.clone()
                        .with_compression(c)
                        .with_interleave(il)
                        .with_tile_size(16),
                );
                v.push(
                    base.clone()
                        .with_compression(c)
                        .with_interleave(il)
                        .with_strips(5),
                );
            }
        }
        v.push(base.clone().with_bigtiff(true).with_tile_size(32));
        v.push(
            base.clone()
                .with_bigtiff(true)
                .with_strips(37)
                .with_interleave(Interleave::Pixel),
        );
        v.push(base.clone().with_predictor(Predictor::None));
        v
    }

    fn check_round_trip<T: Sample>(spec: &RasterSpec) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.tif");
        let n = spec.width * spec.height * spec.bands;
        let data: Vec<T> = pattern(n).into_iter().map(T::from_f64).collect();
        let mut w = GeoTiffWriter::create(&path, spec.clone()).unwrap();
        w.write_window(Window::full(spec.width, spec.height), &data)
            .unwrap();
        w.finish().unwrap();
        let r = GeoTiffReader::open(&path).unwrap();
        let info = r.info();
        assert_eq!(
            (info.width, info.height, info.bands),
            (spec.width, spec.height, spec.bands)
        );
        assert_eq!(info.sample_type, T::TYPE);
        assert_eq!(info.compression, spec.compression);
        assert_eq!(info.bigtiff, spec.bigtiff.unwrap_or(false));
        let all: Vec<T> = r
            .read_window_as(Window::full(spec.width, spec.height), &[0, 1, 2])
            .unwrap();
        assert_eq!(all, data, "{spec:?}");
        // windows crossing chunk borders, bands out of order and repeated
        let (w, h) = (spec.width, spec.height);
        for win in [
            Window::new(3, 4, w - 20, h - 17),
            Window::new(w - 1, h - 1, 1, 1),
            Window::new(15, 0, 2, h),
        ] {
            let got: Vec<T> = r.read_window_as(win, &[2, 0, 2]).unwrap();
            for (i, &b) in [2usize, 0, 2].iter().enumerate() {
                for row in 0..win.height {
                    for col in 0..win.width {
                        let expect =
                            data[(b * spec.height + win.row + row) * spec.width + win.col + col];
                        assert_eq!(got[(i * win.height + row) * win.width + col], expect);
                    }
                }
            }
        }
    }

    #[test]
    fn round_trip_every_layout_u16() {
        for spec in layouts() {
            check_round_trip::<u16>(&spec);
        }
    }

    #[test]
    fn round_trip_every_type() {
        let base = RasterSpec::new(33, 20, 3, SampleType::U8).with_tile_size(16);
        macro_rules! each {
            ($t:ty) => {{
                let spec = RasterSpec {
                    sample_type: <$t>::TYPE,
                    ..base.clone()
                };
                check_round_trip::<$t>(&spec);
                check_round_trip::<$t>(
                    &spec
                        .clone()
                        .with_interleave(Interleave::Pixel)
                        .with_strips(3),
                );
                check_round_trip::<$t>(&spec.clone().with_compression(Compression::Lzw));
            }};
        }
        each!(u8);
        each!(i8);
        each!(u16);
        each!(i16);
        each!(u32);
        each!(i32);
        each!(f32);
        each!(f64);
    }

    #[test]
    fn negative_and_special_floats_survive_the_fp_predictor() {
        let spec = RasterSpec::new(17, 3, 1, SampleType::F32);
        let mut data: Vec<f32> = (0..51).map(|i| (i as f32 - 25.0) * 0.37).collect();
        data[5] = f32::NAN;
        data[6] = f32::INFINITY;
        data[7] = -0.0;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.tif");
        write_geotiff(&path, &spec, RasterData::F32(&data)).unwrap();
        let back = GeoTiffReader::open(&path).unwrap().read_all().unwrap();
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn float16_is_refused_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RasterSpec::new(8, 8, 1, SampleType::F16);
        match GeoTiffWriter::create(dir.path().join("h.tif"), spec) {
            Err(Error::InvalidSpec { problem }) => {
                assert!(problem.contains("Float16"), "{problem}")
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn jpeg_is_refused_for_writing_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.tif");
        let spec = RasterSpec::new(8, 8, 1, SampleType::U8).with_compression(Compression::Jpeg);
        match write_geotiff(&path, &spec, RasterData::U8(&[7; 64])) {
            Err(Error::InvalidSpec { problem }) => assert!(problem.contains("JPEG"), "{problem}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn georeferencing_nodata_and_names_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for (gt, epsg) in [
            (GeoTransform::north_up(355_000.0, 1_780_000.0, 10.0), 32628),
            (GeoTransform([-16.6, 0.0001, 0.0, 16.1, 0.0, -0.0001]), 4326),
            (GeoTransform([1000.0, 9.0, 2.0, 5000.0, 1.5, -9.5]), 32733),
        ] {
            let path = dir.path().join("g.tif");
            let spec = RasterSpec::new(8, 8, 2, SampleType::F32)
                .with_geotransform(gt)
                .with_epsg(epsg)
                .with_nodata(-9999.0)
                .with_band_names(["B04 <red>", "B08 & nir"]);
            write_geotiff(&path, &spec, RasterData::F32(&[1.0; 128])).unwrap();
            let info = GeoTiffReader::open(&path).unwrap().info().clone();
            assert_eq!(info.geotransform, Some(gt));
            assert_eq!(info.epsg, Some(epsg));
            assert_eq!(info.nodata, Some(-9999.0));
            assert_eq!(
                info.band_descriptions,
                vec![Some("B04 <red>".to_string()), Some("B08 & nir".to_string())]
            );
        }
    }

    #[test]
    fn streaming_in_any_order_with_overlaps_and_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.tif");
        let spec = RasterSpec::new(50, 40, 2, SampleType::U8)
            .with_tile_size(16)
            .with_nodata(255.0);
        let mut w = GeoTiffWriter::create(&path, spec).unwrap();
        // bottom windows first, overlapping; rows 0..8 are never written
        for (col, row) in [(25, 24), (0, 24), (0, 8), (25, 8), (10, 10)] {
            let v = (col + row) as u8;
            w.write_window(Window::new(col, row, 25, 16), &vec![v; 25 * 16 * 2])
                .unwrap();
        }
        w.finish().unwrap();
        let r = GeoTiffReader::open(&path).unwrap();
        let px = r.read_window_u8(Window::full(50, 40), &[1]).unwrap();
        assert_eq!(px[0], 255, "unwritten pixels are nodata");
        assert_eq!(px[39 * 50 + 49], 49, "window (25, 24)");
        assert_eq!(px[8 * 50], 8, "window (0, 8)");
        // (10, 10) was written after (0, 8) and (25, 8) in rows 10..26 of chunk rows 0-1;
        // chunk row 1 (rows 16..32) was completed by it, so it won there
        assert_eq!(px[12 * 50 + 12], 20);
    }

    /// The same bytes read from memory and from disk give the same pixels.
    #[test]
    fn in_memory_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tif");
        let data: Vec<i16> = pattern(30 * 20 * 2)
            .into_iter()
            .map(|v| v as i16 - 100)
            .collect();
        let spec = RasterSpec::new(30, 20, 2, SampleType::I16).with_tile_size(16);
        write_geotiff(&path, &spec, RasterData::I16(&data)).unwrap();
        let r = GeoTiffReader::from_bytes(std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(r.path(), std::path::Path::new("<memory>"));
        let back: Vec<i16> = r.read_window_as(Window::full(30, 20), &[0, 1]).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("never.tif");
        let mut w =
            GeoTiffWriter::create(&path, RasterSpec::new(20, 20, 1, SampleType::U8)).unwrap();
        w.write_window(Window::new(0, 0, 20, 5), &[1u8; 100])
            .unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn caller_errors_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.tif");
        let spec = RasterSpec::new(4, 4, 1, SampleType::U8);
        assert!(matches!(
            write_geotiff(&p, &spec, RasterData::U16(&[0; 16])),
            Err(Error::TypeMismatch { .. })
        ));
        assert!(matches!(
            write_geotiff(&p, &spec, RasterData::U8(&[0; 15])),
            Err(Error::DataLength {
                expected: 16,
                actual: 15
            })
        ));
        assert!(matches!(
            write_geotiff(
                &p,
                &spec.clone().with_tile_size(20),
                RasterData::U8(&[0; 16])
            ),
            Err(Error::InvalidSpec { .. })
        ));
        assert!(!p.exists());
    }

    /// The `tiff` crate (image-rs) independently decodes what we write.
    #[test]
    fn tiff_crate_reads_our_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tif");
        let data: Vec<u16> = pattern(40 * 30).into_iter().map(|v| v as u16).collect();
        for spec in [
            RasterSpec::new(40, 30, 1, SampleType::U16),
            RasterSpec::new(40, 30, 1, SampleType::U16)
                .with_strips(7)
                .with_compression(Compression::Lzw),
            RasterSpec::new(40, 30, 1, SampleType::U16).with_bigtiff(true),
        ] {
            write_geotiff(&path, &spec, RasterData::U16(&data)).unwrap();
            let mut d = tiff::decoder::Decoder::new(std::fs::File::open(&path).unwrap()).unwrap();
            assert_eq!(d.dimensions().unwrap(), (40, 30));
            let layout = d.image_buffer_layout().unwrap();
            let mut buf = tiff::decoder::DecodingResult::U16(vec![]);
            let _ = layout;
            d.read_image_to_buffer(&mut buf).unwrap();
            match buf {
                tiff::decoder::DecodingResult::U16(v) => assert_eq!(v, data, "{spec:?}"),
                _ => panic!("tiff crate decoded another type"),
            }
        }
    }
}
