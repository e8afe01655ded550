//! Windowed GeoTIFF (and JPEG 2000) reading with positioned reads: one reader, many threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::chunk_cache::{ChunkCache, Decoded};
use crate::error::{Error, Result};
use crate::geotransform::GeoTransform;
use crate::grid::Grid;
use crate::http::{HttpOptions, HttpSource};
use crate::jp2::Jp2Image;
use crate::raster_info::{Compression, Interleave, Predictor, RasterInfo};
use crate::sample::Sample;
use crate::sample_type::SampleType;
use crate::tiff_format::codec::{ChunkData, decode_chunk};
use crate::tiff_format::geokeys::read_geo;
use crate::tiff_format::ifd::{Fail, TiffFile};
use crate::tiff_format::layout::ImageLayout;
use crate::tiff_format::source::ByteSource;
use crate::window::Window;

/// Default limit of one read's output buffer: 16 GiB (a whole 10980 x 10980 x 13-band
/// Sentinel-2 stack as `f32` is 6.3 GB).
pub const DEFAULT_MAX_READ_BYTES: u64 = 16 << 30;
/// Default budget of the decoded-chunk cache: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// A GeoTIFF (or JPEG 2000 image) opened for reading.
///
/// Reads the first image (IFD 0: full resolution; COG overviews are ignored) of striped or
/// tiled, pixel- or band-interleaved, classic or BigTIFF files, little or big endian,
/// uncompressed / LZW / Deflate / PackBits with predictor 1, 2 or 3, with samples u8, u16,
/// i16, u32, i32, f32, f64.
///
/// All reads take `&self` and use positioned reads (no shared seek cursor), so one reader can
/// be shared by many data-loader threads (`GeoTiffReader: Send + Sync`). Only the strips or
/// tiles overlapping a window are read and decoded; recently decoded chunks are kept in a
/// small cache ([`DEFAULT_CACHE_BYTES`]).
///
/// Files may be local, members of `.tar` / `.zip` archives, or URLs: an `http(s)://`
/// path reads a (Cloud-Optimized) GeoTIFF or JPEG 2000 file over HTTP with range requests
/// (see [`open`](Self::open) and [`crate::http`]).
///
/// Pixel data is returned band-major: `[bands.len(), window.height, window.width]`. Absent
/// (sparse) tiles read as the nodata value, or 0 without one, as in GDAL.
///
/// # JPEG 2000
/// [`open`](Self::open) and [`from_bytes`](Self::from_bytes) recognise JPEG 2000 by its
/// signature (a `.jp2` file's signature box, or a raw `.j2k` codestream's SOC + SIZ markers),
/// whatever the file is called, and every method then works the same way: Sentinel-2 band
/// files read like GeoTIFFs. Components are bands; samples of up to 8 bits are `u8` (`i8`
/// when signed), up to 16 bits `u16`/`i16` (Sentinel-2's 15-bit bands are `u16`, as GDAL's
/// `UInt16` with `NBITS=15`), more `u32`/`i32`. Pixels are identical to GDAL's
/// (JP2OpenJPEG driver), lossless or lossy. Georeferencing comes from GMLJP2 (preferred,
/// as in GDAL) or GeoJP2; nodata from a GDAL `.aux.xml` sidecar, where GDAL puts it.
/// [`RasterInfo::block_width`] x [`RasterInfo::block_height`] is the decoded chunk (the
/// tile, for tiles up to 2048 x 2048 pixels), [`RasterInfo::compression`] is
/// [`Compression::Jpeg2000`] and [`RasterInfo::reduction_levels`] tells how many reduced
/// resolutions [`read_window_reduced`](Self::read_window_reduced) can read. The decoder
/// holds the compressed bytes of the tiles being decoded in memory (at most what the file
/// stores for them); nothing else is read ahead.
///
/// # Examples
/// ```
/// use chronomap_geo::{GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("scene.tif");
/// let spec = RasterSpec::new(32, 16, 2, SampleType::U16)
///     .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0))
///     .with_epsg(32628);
/// let pixels: Vec<u16> = (0..2 * 16 * 32).map(|i| i as u16).collect();
/// write_geotiff(&path, &spec, RasterData::U16(&pixels))?;
///
/// let reader = GeoTiffReader::open(&path)?;
/// assert_eq!((reader.info().width, reader.info().height, reader.info().bands), (32, 16, 2));
/// assert_eq!(reader.info().epsg, Some(32628));
/// // band 1, a 4 x 2 window at column 3, row 5: shape [1, 2, 4]
/// let w = reader.read_window(Window::new(3, 5, 4, 2), &[1])?;
/// assert_eq!(w[0], (512 + 5 * 32 + 3) as f32);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GeoTiffReader {
    path: PathBuf,
    source: Box<dyn ByteSource>,
    backend: Backend,
    info: RasterInfo,
    max_read_bytes: u64,
    cache: ChunkCache,
}

/// How the pixels are stored.
enum Backend {
    /// A TIFF's strips or tiles.
    Tiff {
        little: bool,
        bigtiff: bool,
        layout: ImageLayout,
    },
    /// A JPEG 2000 codestream's tiles (or regions of them).
    Jp2(Box<Jp2Image>),
}

impl std::fmt::Debug for GeoTiffReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoTiffReader")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl GeoTiffReader {
    /// Opens `path` and parses its first image directory and georeferencing (or, for a JPEG
    /// 2000 file, its boxes, main header and tile-part index). `path` may name a member of an
    /// uncompressed `.tar` archive in GDAL's syntax, `/vsitar/<archive>.tar/<member>`: it is
    /// read in place; or of a `.zip` archive, `/vsizip/<archive>.zip/<member>`: read in place
    /// when stored, inflated once into a cache file when deflated (see [`crate::archive`]).
    ///
    /// A path whose text is an `http://` or `https://` URL (or GDAL's `/vsicurl/<url>`; see
    /// [`crate::is_url`]) is read over HTTP(S) with range requests: one request for the
    /// header at open, then only the tiles that reads touch (Cloud-Optimized GeoTIFFs, and
    /// any other TIFF or JPEG 2000 file), with the timeouts and retries of
    /// [`HttpOptions::from_env`] (see [`crate::http`]; [`open_url`](Self::open_url) takes
    /// other options).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened; [`Error::Http`] if a URL cannot be read
    /// (not found, a server that ignores ranges, timeouts, ...: [`crate::HttpProblem`]), at
    /// open or by a later read; [`Error::Archive`] for a missing, corrupt
    /// or unsupported archive member; [`Error::Tiff`] if it is not a valid TIFF
    /// (wrong magic, truncated, IFD past the end, inconsistent strip/tile tables, absurd
    /// sizes); [`Error::Jp2`] if it starts like a JPEG 2000 file but is not a valid one
    /// (truncated, malformed boxes or markers, more than 65535 tiles or 2^32 samples per
    /// tile); [`Error::Unsupported`] for valid files chronomap cannot decode (LERC, 1-bit or
    /// complex samples, JPEG 2000 component subsampling, ...).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(url) = crate::http::url_of(path) {
            let source = HttpSource::open(url)?;
            return Self::from_source(path.to_path_buf(), Box::new(source));
        }
        if let Some(source) = crate::archive::open_archived(path)? {
            // a member of a .tar or .zip archive (see crate::archive)
            return Self::from_source(path.to_path_buf(), source);
        }
        // Through the process-wide pool of open handles (see crate::file_pool).
        let file =
            crate::file_pool::PooledFile::open(path, 0, None).map_err(|e| Error::io(path, e))?;
        Self::from_source(path.to_path_buf(), Box::new(file))
    }

    /// Opens the file at `url` (`http://` or `https://`, or `/vsicurl/<url>`) over HTTP(S)
    /// with `options` (timeouts, retries, block cache) instead of
    /// [`HttpOptions::from_env`]. [`path`](Self::path) is then `url`.
    ///
    /// # Errors
    /// [`Error::Http`] with [`HttpProblem::BadUrl`](crate::HttpProblem::BadUrl) for a text
    /// that is not an HTTP(S) URL; otherwise as [`open`](Self::open).
    pub fn open_url(url: &str, options: &HttpOptions) -> Result<Self> {
        let Some(u) = crate::http::url_of(Path::new(url)) else {
            return Err(Error::Http {
                url: url.to_string(),
                problem: crate::error::HttpProblem::BadUrl {
                    detail: "not an http:// or https:// URL".into(),
                },
            });
        };
        let source = HttpSource::open_with(u, options)?;
        Self::from_source(PathBuf::from(url), Box::new(source))
    }

    /// Parses a TIFF or JPEG 2000 file held in memory (error messages name the file
    /// `<memory>`).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_source(PathBuf::from("<memory>"), Box::new(bytes))
    }

    fn from_source(path: PathBuf, source: Box<dyn ByteSource>) -> Result<Self> {
        let mut magic = [0u8; 12];
        let n = source.len().min(12) as usize;
        source
            .read_exact_at(&mut magic[..n], 0)
            .map_err(|e| Error::io(&path, e))?;
        if crate::jp2::is_jpeg2000(&magic[..n]) {
            return Self::from_jp2(path, source);
        }
        let parsed = (|| -> std::result::Result<_, Fail> {
            let file = TiffFile::parse(source.as_ref())?;
            let ifd = file.read_ifd(file.first_ifd)?;
            let layout = ImageLayout::from_ifd(&file, &ifd)?;
            let geo = read_geo(&file, &ifd)?;
            let overviews = file.count_following(file.first_ifd, ifd.next);
            Ok((file.little, file.bigtiff, layout, geo, overviews))
        })();
        let (little, bigtiff, layout, geo, overviews) = parsed.map_err(|f| f.at(&path))?;
        let mut band_descriptions = vec![None; layout.samples];
        for (band, text) in geo.band_descriptions {
            if let Some(slot) = band_descriptions.get_mut(band) {
                *slot = Some(text);
            }
        }
        let info = RasterInfo {
            width: layout.width,
            height: layout.height,
            bands: layout.samples,
            sample_type: layout.sample_type,
            geotransform: geo.geotransform,
            epsg: geo.epsg,
            nodata: geo.nodata,
            block_width: layout.chunk_width,
            block_height: layout.chunk_height,
            tiled: layout.tiled,
            interleave: layout.interleave,
            compression: layout.compression,
            predictor: layout.predictor,
            bigtiff,
            overviews,
            pixel_is_point: geo.pixel_is_point,
            band_descriptions,
            reduction_levels: 0,
        };
        Ok(GeoTiffReader {
            path,
            source,
            backend: Backend::Tiff {
                little,
                bigtiff,
                layout,
            },
            info,
            max_read_bytes: DEFAULT_MAX_READ_BYTES,
            cache: ChunkCache::new(DEFAULT_CACHE_BYTES),
        })
    }

    fn from_jp2(path: PathBuf, source: Box<dyn ByteSource>) -> Result<Self> {
        let image = Jp2Image::parse(source.as_ref()).map_err(|f| f.at(&path))?;
        // GDAL's order for JPEG 2000 (GEOREF_SOURCES=PAM,INTERNAL): the sidecar first.
        let pam = read_pam(&path);
        let (geotransform, epsg) = match pam.geotransform {
            Some(g) => (Some(g), pam.epsg),
            None => (image.georef.geotransform, image.georef.epsg),
        };
        let info = RasterInfo {
            width: image.width(),
            height: image.height(),
            bands: image.bands(),
            sample_type: image.sample_type,
            geotransform,
            epsg,
            nodata: pam.nodata,
            block_width: image.chunk_width,
            block_height: image.chunk_height,
            tiled: image.tiled(),
            interleave: Interleave::Pixel,
            compression: Compression::Jpeg2000,
            predictor: Predictor::None,
            bigtiff: false,
            overviews: 0,
            pixel_is_point: false,
            band_descriptions: vec![None; image.bands()],
            reduction_levels: image.levels() as usize,
        };
        Ok(GeoTiffReader {
            path,
            source,
            backend: Backend::Jp2(Box::new(image)),
            info,
            max_read_bytes: DEFAULT_MAX_READ_BYTES,
            cache: ChunkCache::new(DEFAULT_CACHE_BYTES),
        })
    }

    /// Size, bands, type, georeferencing, nodata and layout of the raster.
    pub fn info(&self) -> &RasterInfo {
        &self.info
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raster's georeferenced grid.
    ///
    /// # Errors
    /// [`Error::MissingGeoreferencing`] when the file has no geotransform.
    pub fn grid(&self) -> Result<Grid> {
        self.info
            .grid()
            .ok_or_else(|| Error::MissingGeoreferencing {
                path: self.path.clone(),
                missing: "geotransform",
            })
    }

    /// Changes the largest output buffer one read may allocate (default
    /// [`DEFAULT_MAX_READ_BYTES`]).
    pub fn set_max_read_bytes(&mut self, limit: u64) {
        self.max_read_bytes = limit;
    }

    /// Changes the byte budget of the decoded-chunk cache (0 disables it).
    pub fn set_cache_bytes(&mut self, budget: usize) {
        self.cache = ChunkCache::new(budget);
    }

    /// Drops every cached decoded chunk.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Reads `bands` (0-based, any order, repeats allowed) of `window` as `f32`.
    ///
    /// # Shapes
    /// Returns `[bands.len(), window.height, window.width]`, band-major.
    ///
    /// # Errors
    /// [`Error::WindowOutOfBounds`], [`Error::BandOutOfRange`], [`Error::ReadTooLarge`] for
    /// bad requests; [`Error::Tiff`] / [`Error::Io`] if the data cannot be read.
    pub fn read_window(&self, window: Window, bands: &[usize]) -> Result<Vec<f32>> {
        self.read_window_as::<f32>(window, bands)
    }

    /// Reads into a caller-provided buffer (no allocation besides decoding).
    ///
    /// # Shapes
    /// `out`: `[bands.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// As [`read_window`](Self::read_window), plus [`Error::DataLength`] if `out` has the
    /// wrong length.
    pub fn read_window_into(&self, window: Window, bands: &[usize], out: &mut [f32]) -> Result<()> {
        self.read_window_into_as(window, bands, out)
    }

    /// Reads every band of the whole raster as `f32`.
    ///
    /// # Shapes
    /// Returns `[bands, height, width]`.
    ///
    /// # Errors
    /// As [`read_window`](Self::read_window).
    pub fn read_all(&self) -> Result<Vec<f32>> {
        let bands: Vec<usize> = (0..self.info.bands).collect();
        self.read_window(Window::full(self.info.width, self.info.height), &bands)
    }

    /// Reads a window of a `u8` raster without conversion.
    ///
    /// # Shapes
    /// Returns `[bands.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] unless the raster is `u8`; otherwise as
    /// [`read_window`](Self::read_window).
    pub fn read_window_u8(&self, window: Window, bands: &[usize]) -> Result<Vec<u8>> {
        self.read_window_as::<u8>(window, bands)
    }

    /// Reads a window of a `u16` raster without conversion.
    ///
    /// # Shapes
    /// Returns `[bands.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] unless the raster is `u16`; otherwise as
    /// [`read_window`](Self::read_window).
    pub fn read_window_u16(&self, window: Window, bands: &[usize]) -> Result<Vec<u16>> {
        self.read_window_as::<u16>(window, bands)
    }

    /// Reads a window as `T`. `T` must be the raster's own type, or `f32`/`f64` (converted
    /// with `as`: exact for every type except `u32`/`i32`/`f64` values beyond 2^24 in `f32`).
    ///
    /// # Shapes
    /// Returns `[bands.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] for other `T`; otherwise as [`read_window`](Self::read_window).
    pub fn read_window_as<T: Sample>(&self, window: Window, bands: &[usize]) -> Result<Vec<T>> {
        self.check_request::<T>(&window, bands, 0)?;
        let mut out = vec![T::default(); window.area() * bands.len()];
        self.read_checked(window, bands, &mut out)?;
        Ok(out)
    }

    /// Size (width, height) of the raster at reduction `level`: level 0 is the full
    /// resolution and each level halves width and height, rounding up (JPEG 2000 resolution
    /// levels, which GDAL shows as the overviews of a `.jp2`; `gdal_translate -ovr L-1`
    /// reads level `L`).
    pub fn reduced_size(&self, level: u32) -> (usize, usize) {
        match &self.backend {
            Backend::Jp2(j) if level > 0 => (
                j.reduced(self.info.width, true, level.min(63)),
                j.reduced(self.info.height, false, level.min(63)),
            ),
            _ if level == 0 => (self.info.width, self.info.height),
            _ => {
                let f = |v: usize| v.div_ceil(1usize << level.min(63));
                (f(self.info.width), f(self.info.height))
            }
        }
    }

    /// Reads `bands` of `window` at reduction `level` (see [`reduced_size`](Self::reduced_size))
    /// as `f32`: JPEG 2000 files decode the resolution level directly (only the coarse
    /// wavelet subbands: a level-3 read of a tile costs a fraction of a full one), with the
    /// same pixels as GDAL's overviews of the file. Level 0 is
    /// [`read_window`](Self::read_window). `window` is in the pixels of the reduced raster.
    ///
    /// # Shapes
    /// Returns `[bands.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for TIFFs at levels above 0 (their overviews are not read);
    /// [`Error::ReductionOutOfRange`] above [`RasterInfo::reduction_levels`]; otherwise as
    /// [`read_window`](Self::read_window), with the window checked against the reduced size.
    pub fn read_window_reduced(
        &self,
        window: Window,
        bands: &[usize],
        level: u32,
    ) -> Result<Vec<f32>> {
        self.read_window_reduced_as::<f32>(window, bands, level)
    }

    /// [`read_window_reduced`](Self::read_window_reduced) as `T` (the raster's own type, or
    /// `f32`/`f64`).
    ///
    /// # Shapes
    /// Returns `[bands.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// As [`read_window_reduced`](Self::read_window_reduced), plus [`Error::TypeMismatch`].
    pub fn read_window_reduced_as<T: Sample>(
        &self,
        window: Window,
        bands: &[usize],
        level: u32,
    ) -> Result<Vec<T>> {
        if level == 0 {
            return self.read_window_as(window, bands);
        }
        match &self.backend {
            Backend::Tiff { .. } => Err(Error::Unsupported {
                path: self.path.clone(),
                what: crate::error::Unsupported::ReducedResolution,
            }),
            Backend::Jp2(j) => {
                if level as usize > self.info.reduction_levels {
                    return Err(Error::ReductionOutOfRange {
                        path: self.path.clone(),
                        level,
                        levels: self.info.reduction_levels as u32,
                    });
                }
                self.check_request::<T>(&window, bands, level)?;
                let mut out = vec![T::default(); window.area() * bands.len()];
                self.read_jp2(j, window, bands, level, &mut out)?;
                Ok(out)
            }
        }
    }

    /// [`read_window_as`](Self::read_window_as) into a caller-provided buffer.
    ///
    /// # Shapes
    /// `out`: `[bands.len(), window.height, window.width]`.
    ///
    /// # Errors
    /// As [`read_window_as`](Self::read_window_as), plus [`Error::DataLength`].
    pub fn read_window_into_as<T: Sample>(
        &self,
        window: Window,
        bands: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        self.check_request::<T>(&window, bands, 0)?;
        let expected = window.area() * bands.len();
        if out.len() != expected {
            return Err(Error::DataLength {
                expected,
                actual: out.len(),
            });
        }
        self.read_checked(window, bands, out)
    }

    fn check_request<T: Sample>(&self, window: &Window, bands: &[usize], level: u32) -> Result<()> {
        let info = &self.info;
        if T::TYPE != info.sample_type && !T::TYPE.is_float() {
            return Err(Error::TypeMismatch {
                requested: T::TYPE,
                actual: info.sample_type,
            });
        }
        let (width, height) = self.reduced_size(level);
        if !window.fits_in(width, height) {
            return Err(Error::WindowOutOfBounds {
                window: *window,
                width,
                height,
            });
        }
        if let Some(&band) = bands.iter().find(|&&b| b >= info.bands) {
            return Err(Error::BandOutOfRange {
                band,
                bands: info.bands,
            });
        }
        let bytes = (window.area() as u64)
            .saturating_mul(bands.len() as u64)
            .saturating_mul(std::mem::size_of::<T>() as u64);
        if bytes > self.max_read_bytes {
            return Err(Error::ReadTooLarge {
                path: self.path.clone(),
                bytes,
                limit: self.max_read_bytes,
            });
        }
        Ok(())
    }

    /// The chunk grid: (chunk width, chunk height, chunks across, chunks down).
    pub(crate) fn chunk_grid(&self) -> (usize, usize, usize, usize) {
        match &self.backend {
            Backend::Tiff { layout: l, .. } => (
                l.chunk_width,
                l.chunk_height,
                l.chunks_across,
                l.chunks_down,
            ),
            Backend::Jp2(j) => (j.chunk_width, j.chunk_height, j.across, j.down),
        }
    }

    /// Whether the chunks at grid cell (`cx`, `cy`) are absent from the file in every plane
    /// (offset or byte count 0): reads return the fill value there.
    pub(crate) fn cell_is_sparse(&self, cx: usize, cy: usize) -> bool {
        let Backend::Tiff { layout: l, .. } = &self.backend else {
            return false;
        };
        let planes = match l.interleave {
            Interleave::Pixel => 1,
            Interleave::Band => l.samples,
        };
        (0..planes).all(|p| {
            let i = l.chunk_index(p, cx, cy);
            l.offsets[i] == 0 || l.byte_counts[i] == 0
        })
    }

    /// Decodes chunk `index` (chunk row `cy`), rows `rows` of it at least.
    fn chunk(
        &self,
        (little, bigtiff, layout): (bool, bool, &ImageLayout),
        index: usize,
        cy: usize,
        rows: (usize, usize),
    ) -> Result<Arc<Decoded>> {
        if let Some(c) = self.cache.get(index) {
            return Ok(c);
        }
        let file = TiffFile::from_parts(self.source.as_ref(), little, bigtiff);
        let mut bytes = Vec::new();
        let data = decode_chunk(&file, layout, index, cy, rows, &mut bytes)
            .map_err(|f| f.at(&self.path))?;
        // Decoders may leave spare capacity (zune-inflate: twice the length); the cache
        // charges capacity, so give it back before caching.
        bytes.shrink_to_fit();
        let decoded = Arc::new(Decoded { data, bytes });
        // partial reads of uncompressed chunks are cheap and incomplete: not cached
        let complete = match data {
            ChunkData::Rows { first_row, .. } => {
                first_row == 0 && decoded.bytes.len() >= layout.chunk_bytes(cy) as usize
            }
            ChunkData::Sparse => true,
        };
        if complete {
            self.cache.put(index, decoded.clone());
        }
        Ok(decoded)
    }

    fn read_checked<T: Sample>(
        &self,
        window: Window,
        bands: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let (little, bigtiff, l) = match &self.backend {
            Backend::Tiff {
                little,
                bigtiff,
                layout,
            } => (*little, *bigtiff, layout),
            Backend::Jp2(j) => return self.read_jp2(j, window, bands, 0, out),
        };
        let tiff = (little, bigtiff, l);
        let fill = T::from_f64(self.info.nodata.unwrap_or(0.0));
        let plane_len = window.area();
        let (cx0, cx1) = (
            window.col / l.chunk_width,
            (window.col + window.width - 1) / l.chunk_width,
        );
        let (cy0, cy1) = (
            window.row / l.chunk_height,
            (window.row + window.height - 1) / l.chunk_height,
        );
        let spp = l.samples_per_chunk_pixel();
        for cy in cy0..=cy1 {
            let chunk_row0 = cy * l.chunk_height;
            // rows of this chunk row inside the window, relative to the chunk
            let r0 = window.row.max(chunk_row0) - chunk_row0;
            let r1 = (window.row + window.height).min(chunk_row0 + l.chunk_height) - chunk_row0;
            for cx in cx0..=cx1 {
                let chunk_col0 = cx * l.chunk_width;
                let c0 = window.col.max(chunk_col0) - chunk_col0;
                let c1 = (window.col + window.width).min(chunk_col0 + l.chunk_width) - chunk_col0;
                let part = Part {
                    src_col: c0,
                    src_row: r0,
                    width: c1 - c0,
                    height: r1 - r0,
                    dst_col: chunk_col0 + c0 - window.col,
                    dst_row: chunk_row0 + r0 - window.row,
                    dst_width: window.width,
                };
                match l.interleave {
                    Interleave::Pixel => {
                        let chunk = self.chunk(tiff, l.chunk_index(0, cx, cy), cy, (r0, r1))?;
                        for (i, &band) in bands.iter().enumerate() {
                            let dst = &mut out[i * plane_len..(i + 1) * plane_len];
                            let shape = (l.chunk_width * spp, band, spp);
                            self.copy(&chunk, shape, &part, fill, dst);
                        }
                    }
                    Interleave::Band => {
                        for (i, &band) in bands.iter().enumerate() {
                            let chunk =
                                self.chunk(tiff, l.chunk_index(band, cx, cy), cy, (r0, r1))?;
                            let dst = &mut out[i * plane_len..(i + 1) * plane_len];
                            self.copy(&chunk, (l.chunk_width, 0, 1), &part, fill, dst);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads a window of a JPEG 2000 image at reduction `level` (window in reduced pixels)
    /// chunk by chunk: each chunk cell decoded at that level (and cached), its part of the
    /// window copied out.
    fn read_jp2<T: Sample>(
        &self,
        j: &Jp2Image,
        window: Window,
        bands: &[usize],
        level: u32,
        out: &mut [T],
    ) -> Result<()> {
        let plane_len = window.area();
        let fill = T::default();
        // chunk cells whose reduced extent overlaps the window, along one axis
        let cells = |n: usize, x: bool, start: usize, len: usize| {
            (0..n).filter_map(move |c| {
                let size = if x { j.chunk_width } else { j.chunk_height };
                let full = if x { j.width() } else { j.height() };
                let (a, b) = (c * size, ((c + 1) * size).min(full));
                let (ra, rb) = (j.reduced(a, x, level), j.reduced(b, x, level));
                let (s, e) = (ra.max(start), rb.min(start + len));
                (s < e).then(|| (c, ra, rb - ra, s - ra, e - s))
            })
        };
        let total = j.across * j.down;
        for (cy, _, _, src_row, height) in cells(j.down, false, window.row, window.height) {
            for (cx, _, cw, src_col, width) in cells(j.across, true, window.col, window.width) {
                let ((c0, _), (r0, _)) = j.cell(cx, cy);
                let (rc0, rr0) = (j.reduced(c0, true, level), j.reduced(r0, false, level));
                let key = level as usize * total + cy * j.across + cx;
                let chunk = match self.cache.get(key) {
                    Some(c) => c,
                    None => {
                        let d = Arc::new(
                            j.decode_cell(self.source.as_ref(), cx, cy, level)
                                .map_err(|f| f.at(&self.path))?,
                        );
                        self.cache.put(key, d.clone());
                        d
                    }
                };
                let part = Part {
                    src_col,
                    src_row,
                    width,
                    height,
                    dst_col: rc0 + src_col - window.col,
                    dst_row: rr0 + src_row - window.row,
                    dst_width: window.width,
                };
                let rows = if cw == 0 {
                    0
                } else {
                    chunk.bytes.len() / (cw * j.bands() * self.info.sample_type.size_bytes())
                };
                for (i, &band) in bands.iter().enumerate() {
                    let dst = &mut out[i * plane_len..(i + 1) * plane_len];
                    self.copy(&chunk, (cw, band * rows * cw, 1), &part, fill, dst);
                }
            }
        }
        Ok(())
    }

    /// Copies part `p` of a decoded chunk into `dst`. `shape`: (samples per chunk row, index
    /// of the band's first sample, samples per pixel).
    fn copy<T: Sample>(
        &self,
        chunk: &Decoded,
        (stride, sample, spp): (usize, usize, usize),
        p: &Part,
        fill: T,
        dst: &mut [T],
    ) {
        let ChunkData::Rows { first_row, little } = chunk.data else {
            for r in 0..p.height {
                let o = (p.dst_row + r) * p.dst_width + p.dst_col;
                dst[o..o + p.width].fill(fill);
            }
            return;
        };
        let native = little == cfg!(target_endian = "little");
        macro_rules! copy_as {
            ($ty:ty, $from:ident) => {{
                const N: usize = std::mem::size_of::<$ty>();
                // fast path: samples in native order and the buffer aligned for $ty
                let typed: Option<&[$ty]> = if native {
                    bytemuck::try_cast_slice(&chunk.bytes).ok()
                } else {
                    None
                };
                for r in 0..p.height {
                    let src_row = p.src_row + r - first_row;
                    let base = src_row * stride + p.src_col * spp + sample;
                    let o = (p.dst_row + r) * p.dst_width + p.dst_col;
                    let row = &mut dst[o..o + p.width];
                    if let Some(values) = typed {
                        let src = &values[base..base + (p.width - 1) * spp + 1];
                        for (d, s) in row.iter_mut().zip(src.iter().step_by(spp)) {
                            *d = T::$from(*s);
                        }
                        continue;
                    }
                    let bytes = &chunk.bytes[base * N..];
                    if little {
                        for (c, d) in row.iter_mut().enumerate() {
                            let i = c * spp * N;
                            let mut a = [0u8; N];
                            a.copy_from_slice(&bytes[i..i + N]);
                            *d = T::$from(<$ty>::from_le_bytes(a));
                        }
                    } else {
                        for (c, d) in row.iter_mut().enumerate() {
                            let i = c * spp * N;
                            let mut a = [0u8; N];
                            a.copy_from_slice(&bytes[i..i + N]);
                            *d = T::$from(<$ty>::from_be_bytes(a));
                        }
                    }
                }
            }};
        }
        match self.info.sample_type {
            SampleType::U8 => copy_as!(u8, from_u8),
            SampleType::I8 => copy_as!(i8, from_i8),
            SampleType::F16 => copy_as!(u16, from_f16_bits),
            SampleType::U16 => copy_as!(u16, from_u16),
            SampleType::I16 => copy_as!(i16, from_i16),
            SampleType::U32 => copy_as!(u32, from_u32),
            SampleType::I32 => copy_as!(i32, from_i32),
            SampleType::F32 => copy_as!(f32, from_f32),
            SampleType::F64 => copy_as!(f64, from_f64),
        }
    }
}

/// What a GDAL PAM sidecar (`<file>.aux.xml`) says about a JPEG 2000 file: GDAL writes the
/// nodata value there (`<PAMRasterBand band="1"><NoDataValue>`), and the georeferencing of
/// files that cannot hold it (raw `.j2k` codestreams: `<GeoTransform>` and `<SRS>`).
#[derive(Default)]
struct Pam {
    nodata: Option<f64>,
    geotransform: Option<GeoTransform>,
    epsg: Option<u32>,
}

/// The text between `<tag ...>` and `</tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}"))?;
    let body = &xml[start..];
    let open = body.find('>')? + 1;
    let close = body.find(&format!("</{tag}>"))?;
    body.get(open..close)
}

/// The EPSG code a WKT names for itself: its last `AUTHORITY["EPSG","n"]` (WKT1) or
/// `ID["EPSG",n]` (WKT2), the outermost object's.
fn wkt_epsg(wkt: &str) -> Option<u32> {
    let wkt = wkt.replace("&quot;", "\"");
    let (i, skip) = [("AUTHORITY[\"EPSG\",", 17), ("ID[\"EPSG\",", 10)]
        .iter()
        .filter_map(|(k, n)| wkt.rfind(k).map(|i| (i, *n)))
        .max()?;
    let rest = &wkt[i + skip..];
    rest[..rest.find(']')?]
        .trim()
        .trim_matches('"')
        .parse()
        .ok()
}

fn read_pam(path: &Path) -> Pam {
    if crate::archive::is_archive_path(path) || crate::http::is_url(path) {
        return Pam::default();
    }
    let mut aux = path.as_os_str().to_owned();
    aux.push(".aux.xml");
    let aux = PathBuf::from(aux);
    let Some(xml) = std::fs::metadata(&aux)
        .ok()
        .filter(|m| m.is_file() && m.len() <= 1 << 20)
        .and_then(|_| std::fs::read_to_string(&aux).ok())
    else {
        return Pam::default();
    };
    let geotransform = element(&xml, "GeoTransform").and_then(|t| {
        let v: Vec<f64> = t
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .ok()?;
        <[f64; 6]>::try_from(v).ok().map(GeoTransform)
    });
    Pam {
        nodata: element(&xml, "NoDataValue").and_then(crate::tiff_format::geokeys::parse_nodata),
        geotransform,
        epsg: element(&xml, "SRS").and_then(wkt_epsg),
    }
}

/// Where a chunk's piece of a window comes from and goes to.
struct Part {
    src_col: usize,
    src_row: usize,
    width: usize,
    height: usize,
    dst_col: usize,
    dst_row: usize,
    dst_width: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn reader_is_send_and_sync() {
        assert_send_sync::<GeoTiffReader>();
    }

    /// Eight threads reading overlapping windows through one reader (shared cache, positioned
    /// reads) get exactly what a single-threaded read gets.
    #[test]
    fn concurrent_windows_match_serial_reads() {
        use crate::{RasterData, RasterSpec, write_geotiff};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tif");
        let data: Vec<u16> = (0..3 * 100 * 90)
            .map(|i| (i * 37 % 65_521) as u16)
            .collect();
        let spec = RasterSpec::new(100, 90, 3, SampleType::U16).with_tile_size(16);
        write_geotiff(&path, &spec, RasterData::U16(&data)).unwrap();
        let mut reader = GeoTiffReader::open(&path).unwrap();
        reader.set_cache_bytes(20_000); // a few tiles: forces evictions under contention
        let windows: Vec<Window> = (0..64)
            .map(|i| Window::new(i * 7 % 60, i * 11 % 50, 40, 40))
            .collect();
        let expect: Vec<Vec<u16>> = windows
            .iter()
            .map(|w| reader.read_window_u16(*w, &[2, 0]).unwrap())
            .collect();
        std::thread::scope(|s| {
            for t in 0..8 {
                let (reader, windows, expect) = (&reader, &windows, &expect);
                s.spawn(move || {
                    for i in (t..windows.len()).chain(0..t) {
                        assert_eq!(
                            reader.read_window_u16(windows[i], &[2, 0]).unwrap(),
                            expect[i]
                        );
                    }
                });
            }
        });
    }
}
