//! Windowed GeoTIFF reading with positioned reads: one reader, many threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::chunk_cache::{ChunkCache, Decoded};
use crate::error::{Error, Result};
use crate::grid::Grid;
use crate::raster_info::{Interleave, RasterInfo};
use crate::sample::Sample;
use crate::sample_type::SampleType;
use crate::tiff_format::codec::{ChunkData, decode_chunk};
use crate::tiff_format::geokeys::read_geo;
use crate::tiff_format::ifd::{Fail, TiffFile};
use crate::tiff_format::layout::ImageLayout;
use crate::tiff_format::source::{ByteSource, FileSource};
use crate::window::Window;

/// Default limit of one read's output buffer: 16 GiB (a whole 10980 x 10980 x 13-band
/// Sentinel-2 stack as `f32` is 6.3 GB).
pub const DEFAULT_MAX_READ_BYTES: u64 = 16 << 30;
/// Default budget of the decoded-chunk cache: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// A GeoTIFF opened for reading.
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
/// Pixel data is returned band-major: `[bands.len(), window.height, window.width]`. Absent
/// (sparse) tiles read as the nodata value, or 0 without one, as in GDAL.
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
    little: bool,
    bigtiff: bool,
    layout: ImageLayout,
    info: RasterInfo,
    max_read_bytes: u64,
    cache: ChunkCache,
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
    /// Opens `path` and parses its first image directory and georeferencing. `path` may name
    /// a member of an uncompressed `.tar` archive in GDAL's syntax,
    /// `/vsitar/<archive>.tar/<member>`: it is read in place (see [`crate::archive`]).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened; [`Error::Tiff`] if it is not a valid TIFF
    /// (wrong magic, truncated, IFD past the end, inconsistent strip/tile tables, absurd
    /// sizes); [`Error::Unsupported`] for valid files chronomap cannot decode (JPEG 2000, LERC,
    /// 1-bit or complex samples, ...).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if crate::archive::split_vsitar(path).is_some() {
            // a member of a .tar archive, read in place
            let (archive, m) = crate::archive::find_member(path)?;
            let file = std::fs::File::open(&archive).map_err(|e| Error::io(&archive, e))?;
            let source = FileSource {
                file,
                len: m.size,
                base: m.offset,
            };
            return Self::from_source(path.to_path_buf(), Box::new(source));
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Self::from_source(
            path.to_path_buf(),
            Box::new(FileSource { file, len, base: 0 }),
        )
    }

    /// Parses a TIFF held in memory (error messages name the file `<memory>`).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_source(PathBuf::from("<memory>"), Box::new(bytes))
    }

    fn from_source(path: PathBuf, source: Box<dyn ByteSource>) -> Result<Self> {
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
        };
        Ok(GeoTiffReader {
            path,
            source,
            little,
            bigtiff,
            layout,
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
        self.check_request::<T>(&window, bands)?;
        let mut out = vec![T::default(); window.area() * bands.len()];
        self.read_checked(window, bands, &mut out)?;
        Ok(out)
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
        self.check_request::<T>(&window, bands)?;
        let expected = window.area() * bands.len();
        if out.len() != expected {
            return Err(Error::DataLength {
                expected,
                actual: out.len(),
            });
        }
        self.read_checked(window, bands, out)
    }

    fn check_request<T: Sample>(&self, window: &Window, bands: &[usize]) -> Result<()> {
        let info = &self.info;
        if T::TYPE != info.sample_type && !T::TYPE.is_float() {
            return Err(Error::TypeMismatch {
                requested: T::TYPE,
                actual: info.sample_type,
            });
        }
        if !window.fits_in(info.width, info.height) {
            return Err(Error::WindowOutOfBounds {
                window: *window,
                width: info.width,
                height: info.height,
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
        let l = &self.layout;
        (
            l.chunk_width,
            l.chunk_height,
            l.chunks_across,
            l.chunks_down,
        )
    }

    /// Whether the chunks at grid cell (`cx`, `cy`) are absent from the file in every plane
    /// (offset or byte count 0): reads return the fill value there.
    pub(crate) fn cell_is_sparse(&self, cx: usize, cy: usize) -> bool {
        let l = &self.layout;
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
    fn chunk(&self, index: usize, cy: usize, rows: (usize, usize)) -> Result<Arc<Decoded>> {
        if let Some(c) = self.cache.get(index) {
            return Ok(c);
        }
        let file = TiffFile::from_parts(self.source.as_ref(), self.little, self.bigtiff);
        let mut bytes = Vec::new();
        let data = decode_chunk(&file, &self.layout, index, cy, rows, &mut bytes)
            .map_err(|f| f.at(&self.path))?;
        let decoded = Arc::new(Decoded { data, bytes });
        // partial reads of uncompressed chunks are cheap and incomplete: not cached
        let complete = match data {
            ChunkData::Rows { first_row, .. } => {
                first_row == 0 && decoded.bytes.len() >= self.layout.chunk_bytes(cy) as usize
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
        let l = &self.layout;
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
                        let chunk = self.chunk(l.chunk_index(0, cx, cy), cy, (r0, r1))?;
                        for (i, &band) in bands.iter().enumerate() {
                            let dst = &mut out[i * plane_len..(i + 1) * plane_len];
                            self.copy(&chunk, band, spp, &part, fill, dst);
                        }
                    }
                    Interleave::Band => {
                        for (i, &band) in bands.iter().enumerate() {
                            let chunk = self.chunk(l.chunk_index(band, cx, cy), cy, (r0, r1))?;
                            let dst = &mut out[i * plane_len..(i + 1) * plane_len];
                            self.copy(&chunk, 0, 1, &part, fill, dst);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn copy<T: Sample>(
        &self,
        chunk: &Decoded,
        sample: usize,
        spp: usize,
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
        let stride = self.layout.chunk_width * spp;
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
        match self.layout.sample_type {
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
