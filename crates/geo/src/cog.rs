//! Cloud-Optimized GeoTIFF output ([`CogOptions`], used through
//! [`RasterSpec::with_cog`](crate::RasterSpec::with_cog)): internal overviews computed while
//! the full resolution streams in, and the file laid out as GDAL's COG driver does
//! (<https://gdal.org/drivers/raster/cog.html>):
//!
//! 1. the TIFF header, then GDAL's "ghost area" of structural metadata
//!    (`GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes`, `LAYOUT=IFDS_BEFORE_DATA`,
//!    `BLOCK_ORDER=ROW_MAJOR`, `BLOCK_LEADER=SIZE_AS_UINT4`,
//!    `BLOCK_TRAILER=LAST_4_BYTES_REPEATED`, `KNOWN_INCOMPATIBLE_EDITION=NO`; GDAL reports
//!    `LAYOUT=COG` in the `IMAGE_STRUCTURE` metadata only when all four are declared);
//! 2. every IFD with its tag values: the full resolution first (with the GeoTIFF keys), then
//!    the overviews from largest to smallest (`NewSubfileType` = 1, same tiling, compression,
//!    predictor, colour table and nodata);
//! 3. the tile data: smallest overview first, full resolution last, each image's tiles in
//!    TIFF order (row-major, plane by plane for band interleave), each tile preceded by its
//!    byte count as a little-endian `u32` and followed by a copy of its last 4 bytes.
//!
//! Overview sizes are those of `gdal_translate -of COG`: halving (rounding down) until both
//! sides fit in [`CogOptions::min_size`] (the tile size by default). Each level is computed
//! from the one above (cascading, as GDAL does), with GDAL's source windows, so nearest and
//! mode overviews are pixel-identical to GDAL's (`RESAMPLING=NEAREST`/`MODE`) and average
//! ones equal up to float rounding.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::raster_info::Interleave;
use crate::sample_type::SampleType;
use crate::tiff_format::ifd_writer::IfdBuilder;
use crate::writer::{ChunkCodec, RasterSpec, tiff_header};

/// How each overview pixel is computed from the pixels of the level above that it covers
/// (a window of about 2 x 2 pixels: GDAL's `dfXRatioDstToSrc` windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OverviewResampling {
    /// The pixel at `floor(0.5 + i * ratio)` (GDAL's `NEAREST`: for halving, the top-left
    /// pixel of each 2 x 2 block). Keeps class values; GDAL's default for paletted rasters.
    Nearest,
    /// The most frequent value of the window, nodata excluded (GDAL's `MODE`: on ties, the
    /// value that first reached the highest count in row-major order; nodata only where the
    /// whole window is nodata). Keeps class values and thin classes better than `Nearest`.
    Mode,
    /// The area-weighted mean of the window, nodata and NaN excluded (GDAL's `AVERAGE`,
    /// with fractional weights for odd sizes); nodata where nothing valid is left. Integer
    /// results are rounded half up. For probabilities and reflectances.
    Average,
}

impl OverviewResampling {
    /// GDAL's name (`NEAREST`, `MODE`, `AVERAGE`), as `gdaladdo -r` and the COG driver's
    /// `RESAMPLING` option spell it.
    pub fn gdal_name(self) -> &'static str {
        match self {
            OverviewResampling::Nearest => "NEAREST",
            OverviewResampling::Mode => "MODE",
            OverviewResampling::Average => "AVERAGE",
        }
    }
}

/// Options of a Cloud-Optimized GeoTIFF ([`RasterSpec::with_cog`](crate::RasterSpec::with_cog)).
///
/// Memory while writing: besides the plain writer's open rows of tiles, the overviews hold
/// the 2-3 rows of the level above that the next row needs (as `f64`) and one row of tiles
/// per level, about one more row of full-resolution tiles in all; the whole raster is never
/// held. For a 10980 x 10980 u8 class map with 256-pixel tiles (a row of tiles: 2.8 MB)
/// the peak is about 10 MB; for 10 f32 probability bands (112 MB a row of tiles) about
/// 350 MB. Disk: the plain temporary file, the encoded overviews (a fraction of it) and the
/// final file, which replaces both.
///
/// # Examples
/// ```
/// use chronomap_geo::{CogOptions, GeoTiffReader, OverviewResampling, RasterData, RasterSpec, SampleType, write_geotiff};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("classes.tif");
/// let cog = CogOptions::new(OverviewResampling::Mode);
/// assert_eq!(cog.overview_sizes(300, 200, 64), vec![(150, 100), (75, 50), (37, 25)]);
/// let spec = RasterSpec::new(300, 200, 1, SampleType::U8).with_tile_size(64).with_cog(cog);
/// let data: Vec<u8> = (0..300 * 200).map(|i| (i % 7) as u8).collect();
/// write_geotiff(&path, &spec, RasterData::U8(&data))?;
/// let r = GeoTiffReader::open(&path)?;
/// assert_eq!(r.info().overviews, 3);
/// assert_eq!(r.read_window_u8(chronomap_geo::Window::full(300, 200), &[0])?, data);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CogOptions {
    /// How overview pixels are computed.
    pub resampling: OverviewResampling,
    /// Overviews are added, halving width and height, until both fit in this many pixels;
    /// `None`: the tile size (as `gdal_translate -of COG`).
    #[serde(default)]
    pub min_size: Option<usize>,
}

impl CogOptions {
    /// COG options with `resampling` and the default overview count (see
    /// [`min_size`](Self::min_size)).
    pub fn new(resampling: OverviewResampling) -> Self {
        CogOptions {
            resampling,
            min_size: None,
        }
    }

    /// Sets [`min_size`](Self::min_size).
    pub fn with_min_size(mut self, min_size: usize) -> Self {
        self.min_size = Some(min_size);
        self
    }

    /// Sizes `(width, height)` of the overviews of a `width` x `height` raster tiled by
    /// `tile_size`, largest first: each half of the previous one (rounded down, at least 1)
    /// while the previous one is wider or taller than the limit.
    pub fn overview_sizes(
        &self,
        width: usize,
        height: usize,
        tile_size: usize,
    ) -> Vec<(usize, usize)> {
        let limit = self.min_size.unwrap_or(tile_size).max(1);
        let (mut w, mut h) = (width, height);
        let mut sizes = Vec::new();
        while (w > limit || h > limit) && (w > 1 || h > 1) {
            w = (w / 2).max(1);
            h = (h / 2).max(1);
            sizes.push((w, h));
        }
        sizes
    }
}

impl Default for CogOptions {
    /// Nearest-neighbour overviews down to the tile size.
    fn default() -> Self {
        CogOptions::new(OverviewResampling::Nearest)
    }
}

/// GDAL's structural metadata, written right after the TIFF header (its length is even:
/// the first IFD follows at once).
pub(crate) fn ghost_area(bands: usize, interleave: Interleave) -> Vec<u8> {
    let mut body = String::from(
        "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n\
         BLOCK_TRAILER=LAST_4_BYTES_REPEATED\n",
    );
    if bands > 1 && interleave == Interleave::Band {
        // as GDAL >= 3.11 declares band-sequential tiles
        body.push_str("INTERLEAVE=BAND\n");
    }
    // the final space is GDAL's: room to turn NO into YES in place
    body.push_str("KNOWN_INCOMPATIBLE_EDITION=NO\n ");
    format!(
        "GDAL_STRUCTURAL_METADATA_SIZE={:06} bytes\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The source pixels `[lo, hi)` of one destination pixel along one axis, with their weights
/// (average only).
#[derive(Debug, Clone)]
struct Span {
    lo: usize,
    hi: usize,
    weights: Vec<f64>,
}

/// GDAL's source spans of `n_dst` pixels over `n_src` (`GDALResampleChunk_Near` and the
/// windows of `GDALResampleChunk_Mode` / `_AverageOrRMS`).
fn spans(n_src: usize, n_dst: usize, resampling: OverviewResampling) -> Vec<Span> {
    let ratio = n_src as f64 / n_dst as f64;
    (0..n_dst)
        .map(|i| {
            if resampling == OverviewResampling::Nearest {
                let s = ((0.5 + i as f64 * ratio) as usize).min(n_src - 1);
                return Span {
                    lo: s,
                    hi: s + 1,
                    weights: vec![1.0],
                };
            }
            let f0 = i as f64 * ratio;
            let f1 = (i + 1) as f64 * ratio;
            let mut lo = (f0 + 1e-8) as usize;
            let mut hi = (f1 - 1e-8).ceil() as usize;
            if hi == lo {
                hi += 1;
            }
            hi = hi.min(n_src);
            lo = lo.min(hi - 1);
            let weights = (lo..hi)
                .map(|x| ((x + 1) as f64).min(f1) - (x as f64).max(f0))
                .map(|w| w.max(0.0))
                .collect();
            Span { lo, hi, weights }
        })
        .collect()
}

/// One overview level being built from the rows of the level above.
struct Level {
    width: usize,
    height: usize,
    src_width: usize,
    xs: Vec<Span>,
    ys: Vec<Span>,
    /// Source rows `first..first + rows.len()`, each `[bands, src_width]` (empty for rows
    /// no span reads: every other row for nearest halving).
    rows: VecDeque<Vec<f64>>,
    /// Per source row: whether a span reads it.
    wanted: Vec<bool>,
    first: usize,
    received: usize,
    /// Next row of this level to compute.
    next: usize,
    codec: ChunkCodec,
    /// The row of tiles being filled: `[bands, rows_in(cy), width]` little-endian.
    tile: Vec<u8>,
    offsets: Vec<u64>,
    counts: Vec<u64>,
}

/// What every level shares.
struct Ctx {
    resampling: OverviewResampling,
    nodata: Option<f64>,
    sample_type: SampleType,
    bands: usize,
}

impl Ctx {
    fn is_nodata(&self, v: f64) -> bool {
        match self.nodata {
            Some(nd) if nd.is_nan() => v.is_nan(),
            Some(nd) => v == nd,
            None => false,
        }
    }

    /// What a window without valid pixels becomes.
    fn empty(&self) -> f64 {
        self.nodata.unwrap_or(if self.sample_type.is_float() {
            f64::NAN
        } else {
            0.0
        })
    }
}

/// The spool of encoded overview tiles (an anonymous temporary file next to the output).
struct Spool {
    file: BufWriter<File>,
    len: u64,
    path: PathBuf,
}

impl Level {
    fn new(width: usize, height: usize, src: (usize, usize), ctx: &Ctx, base: &ChunkCodec) -> Self {
        let codec = base.resized(width, height);
        let n = codec.chunk_count();
        let ys = spans(src.1, height, ctx.resampling);
        let mut wanted = vec![false; src.1];
        for s in &ys {
            wanted[s.lo..s.hi].fill(true);
        }
        let mut level = Level {
            width,
            height,
            src_width: src.0,
            xs: spans(src.0, width, ctx.resampling),
            ys,
            wanted,
            rows: VecDeque::new(),
            first: 0,
            received: 0,
            next: 0,
            tile: Vec::new(),
            offsets: vec![0; n],
            counts: vec![0; n],
            codec,
        };
        level.start_tile_row(0);
        level
    }

    fn start_tile_row(&mut self, cy: usize) {
        let rows = self.codec.rows_in(cy);
        self.tile = vec![0; self.codec.bands * rows * self.width * self.codec.size];
    }

    /// Takes one source row; every row of this level it completes is appended to `out`.
    fn push(
        &mut self,
        row: Vec<f64>,
        ctx: &Ctx,
        spool: &mut Spool,
        out: &mut Vec<Vec<f64>>,
    ) -> Result<()> {
        self.rows.push_back(row);
        self.received += 1;
        while self.next < self.height && self.ys[self.next].hi <= self.received {
            let dest = self.compute(self.next, ctx);
            self.store(&dest, ctx, spool)?;
            out.push(dest);
            self.next += 1;
            let keep_from = self.ys.get(self.next).map_or(self.received, |s| s.lo);
            while self.first < keep_from && !self.rows.is_empty() {
                self.rows.pop_front();
                self.first += 1;
            }
        }
        Ok(())
    }

    /// Row `i` of this level, `[bands, width]`.
    fn compute(&self, i: usize, ctx: &Ctx) -> Vec<f64> {
        let (sw, w) = (self.src_width, self.width);
        let ys = &self.ys[i];
        let rows: Vec<&Vec<f64>> = (ys.lo..ys.hi).map(|y| &self.rows[y - self.first]).collect();
        let mut dest = vec![0f64; ctx.bands * w];
        let mut vals: Vec<f64> = Vec::with_capacity(16);
        for b in 0..ctx.bands {
            for (j, xs) in self.xs.iter().enumerate() {
                dest[b * w + j] = match ctx.resampling {
                    OverviewResampling::Nearest => rows[0][b * sw + xs.lo],
                    OverviewResampling::Average => {
                        let (mut sum, mut weight) = (0.0, 0.0);
                        for (row, wy) in rows.iter().zip(&ys.weights) {
                            for (x, wx) in (xs.lo..xs.hi).zip(&xs.weights) {
                                let v = row[b * sw + x];
                                if v.is_nan() || ctx.is_nodata(v) {
                                    continue;
                                }
                                sum += v * wy * wx;
                                weight += wy * wx;
                            }
                        }
                        if weight > 0.0 {
                            let mean = sum / weight;
                            if ctx.sample_type.is_float() {
                                mean
                            } else {
                                (mean + 0.5).floor()
                            }
                        } else {
                            ctx.empty()
                        }
                    }
                    OverviewResampling::Mode => {
                        vals.clear();
                        for row in &rows {
                            for &v in &row[b * sw + xs.lo..b * sw + xs.hi] {
                                if !ctx.is_nodata(v) {
                                    vals.push(v);
                                }
                            }
                        }
                        mode(&vals).unwrap_or(ctx.empty())
                    }
                };
            }
        }
        dest
    }

    /// Puts row `self.next` into the row of tiles, encoding and spooling it when complete.
    fn store(&mut self, dest: &[f64], ctx: &Ctx, spool: &mut Spool) -> Result<()> {
        let ch = self.codec.chunk_height;
        let cy = self.next / ch;
        let r = self.next - cy * ch;
        let rows = self.codec.rows_in(cy);
        let (w, size) = (self.width, self.codec.size);
        for b in 0..ctx.bands {
            let o = (b * rows + r) * w * size;
            put_le(
                &dest[b * w..(b + 1) * w],
                ctx.sample_type,
                &mut self.tile[o..o + w * size],
            );
        }
        if r + 1 == rows {
            let encoded = self.codec.encode_row(&self.tile, cy);
            for (index, bytes) in encoded {
                spool
                    .file
                    .write_all(&bytes)
                    .map_err(|e| Error::io(&spool.path, e))?;
                self.offsets[index] = spool.len;
                self.counts[index] = bytes.len() as u64;
                spool.len += bytes.len() as u64;
            }
            if cy + 1 < self.codec.down() {
                self.start_tile_row(cy + 1);
            } else {
                self.tile = Vec::new();
            }
        }
        Ok(())
    }
}

/// GDAL's mode of `vals` (in row-major window order): the value whose count first exceeds
/// the best count so far; `None` for no values. NaNs count as one value.
fn mode(vals: &[f64]) -> Option<f64> {
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    let (mut best, mut best_count) = (None, 0usize);
    for (i, &v) in vals.iter().enumerate() {
        // the count of v once this occurrence is added
        let count = 1 + vals[..i].iter().filter(|&&u| same(u, v)).count();
        if count > best_count {
            best = Some(v);
            best_count = count;
        }
    }
    best
}

/// Writes `vals` as little-endian samples of `st` into `out` (`as` casts, as the writer's
/// [`Sample::from_f64`](crate::Sample::from_f64)).
fn put_le(vals: &[f64], st: SampleType, out: &mut [u8]) {
    macro_rules! each {
        ($t:ty) => {
            for (v, o) in vals.iter().zip(out.chunks_exact_mut(size_of::<$t>())) {
                o.copy_from_slice(&(*v as $t).to_le_bytes());
            }
        };
    }
    match st {
        SampleType::U8 => each!(u8),
        SampleType::I8 => each!(i8),
        SampleType::U16 => each!(u16),
        SampleType::I16 => each!(i16),
        SampleType::U32 => each!(u32),
        SampleType::I32 => each!(i32),
        SampleType::F32 => each!(f32),
        SampleType::F64 => each!(f64),
        SampleType::F16 => unreachable!("RasterSpec::validate rejects Float16 for writing"),
    }
}

/// Appends the little-endian samples of `st` in `bytes` to `out` as `f64`.
fn get_le(bytes: &[u8], st: SampleType, out: &mut Vec<f64>) {
    macro_rules! each {
        ($t:ty) => {
            out.extend(
                bytes
                    .chunks_exact(size_of::<$t>())
                    .map(|c| <$t>::from_le_bytes(c.try_into().expect("sample size")) as f64),
            )
        };
    }
    match st {
        SampleType::U8 => out.extend(bytes.iter().map(|&v| f64::from(v))),
        SampleType::I8 => each!(i8),
        SampleType::U16 => each!(u16),
        SampleType::I16 => each!(i16),
        SampleType::U32 => each!(u32),
        SampleType::I32 => each!(i32),
        SampleType::F32 => each!(f32),
        SampleType::F64 => each!(f64),
        SampleType::F16 => unreachable!("RasterSpec::validate rejects Float16 for writing"),
    }
}

/// The overviews of a COG being written, fed with the full resolution's rows in order.
///
/// Memory: the rows of the level above that the next row needs (2-3 rows of `f64`) and
/// one row of tiles per level, so about one row of full-resolution tiles in all (each level
/// is half as wide as the one above). Encoded tiles go to an anonymous temporary file.
pub(crate) struct Pyramid {
    levels: Vec<Level>,
    ctx: Ctx,
    width: usize,
    spool: Spool,
}

/// The finished overviews: tile offsets in `spool`, largest level first.
pub(crate) struct Overviews {
    pub(crate) levels: Vec<OverviewLevel>,
    pub(crate) spool: File,
}

/// One finished overview.
pub(crate) struct OverviewLevel {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) offsets: Vec<u64>,
    pub(crate) counts: Vec<u64>,
}

impl Pyramid {
    /// The overviews of `spec` (tiled like `base`, the full resolution's codec), spooled
    /// next to `dest`.
    pub(crate) fn new(
        dest: &Path,
        spec: &RasterSpec,
        cog: &CogOptions,
        base: &ChunkCodec,
    ) -> Result<Self> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let file = tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
        let ctx = Ctx {
            resampling: cog.resampling,
            nodata: spec.nodata,
            sample_type: spec.sample_type,
            bands: spec.bands,
        };
        let mut levels = Vec::new();
        let mut src = (spec.width, spec.height);
        for (w, h) in cog.overview_sizes(spec.width, spec.height, base.chunk_width) {
            levels.push(Level::new(w, h, src, &ctx, base));
            src = (w, h);
        }
        Ok(Pyramid {
            levels,
            ctx,
            width: spec.width,
            spool: Spool {
                file: BufWriter::with_capacity(1 << 20, file),
                len: 0,
                path: dir.to_path_buf(),
            },
        })
    }

    /// Feeds the next `rows` full-resolution rows, `[bands, rows, width]` little-endian.
    pub(crate) fn push_le_rows(&mut self, data: &[u8], rows: usize) -> Result<()> {
        if self.levels.is_empty() {
            return Ok(());
        }
        let (w, size) = (self.width, self.ctx.sample_type.size_bytes());
        for r in 0..rows {
            if !self.levels[0].wanted[self.levels[0].received] {
                self.push_row(Vec::new())?;
                continue;
            }
            let mut row = Vec::with_capacity(self.ctx.bands * w);
            for b in 0..self.ctx.bands {
                let o = (b * rows + r) * w * size;
                get_le(&data[o..o + w * size], self.ctx.sample_type, &mut row);
            }
            self.push_row(row)?;
        }
        Ok(())
    }

    /// Feeds the next `rows` full-resolution rows, `[bands, rows, width]`.
    pub(crate) fn push_rows(&mut self, data: &[f64], rows: usize) -> Result<()> {
        if self.levels.is_empty() {
            return Ok(());
        }
        let w = self.width;
        for r in 0..rows {
            let mut row = Vec::with_capacity(self.ctx.bands * w);
            for b in 0..self.ctx.bands {
                row.extend_from_slice(&data[(b * rows + r) * w..][..w]);
            }
            self.push_row(row)?;
        }
        Ok(())
    }

    /// One full-resolution row, `[bands, width]`, through every level it completes rows of.
    fn push_row(&mut self, row: Vec<f64>) -> Result<()> {
        let mut carry = vec![row];
        for level in &mut self.levels {
            let mut out = Vec::new();
            for row in carry {
                level.push(row, &self.ctx, &mut self.spool, &mut out)?;
            }
            carry = out;
            if carry.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// The finished overviews (every full-resolution row must have been fed).
    pub(crate) fn finish(self) -> Result<Overviews> {
        let path = self.spool.path.clone();
        debug_assert!(self.levels.iter().all(|l| l.next == l.height));
        let spool = self
            .spool
            .file
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        Ok(Overviews {
            levels: self
                .levels
                .into_iter()
                .map(|l| OverviewLevel {
                    width: l.width,
                    height: l.height,
                    offsets: l.offsets,
                    counts: l.counts,
                })
                .collect(),
            spool,
        })
    }
}

/// One image of the COG: its tiles' sizes and where their bytes are now.
pub(crate) struct LevelData<'a> {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) counts: Vec<u64>,
    pub(crate) src_offsets: Vec<u64>,
    pub(crate) src: &'a File,
}

/// Where everything goes in the COG.
pub(crate) struct Layout {
    bigtiff: bool,
    ifd_offsets: Vec<u64>,
    tile_offsets: Vec<Vec<u64>>,
    end: u64,
}

impl Layout {
    /// Whether every offset fits classic TIFF's 32 bits.
    pub(crate) fn fits_classic(&self) -> bool {
        self.bigtiff || self.end <= u64::from(u32::MAX)
    }
}

/// Builds the IFD of image `level` (0: full resolution) with these tile offsets and counts.
pub(crate) type IfdFn<'a> = dyn Fn(usize, &[u64], &[u64], bool) -> IfdBuilder + 'a;

/// Lays out header, ghost area, IFDs and tiles (smallest overview first, each tile with its
/// 4-byte leader and trailer).
pub(crate) fn plan(
    levels: &[LevelData<'_>],
    ghost: &[u8],
    bigtiff: bool,
    build: &IfdFn<'_>,
) -> Layout {
    let header = if bigtiff { 16 } else { 8 };
    let mut pos = (header + ghost.len()) as u64;
    pos += pos % 2;
    let mut ifd_offsets = Vec::new();
    for (i, l) in levels.iter().enumerate() {
        ifd_offsets.push(pos);
        let zeros = vec![0; l.counts.len()];
        let len = build(i, &zeros, &l.counts, bigtiff)
            .encode(pos, bigtiff)
            .len() as u64;
        pos += len + len % 2;
    }
    let mut tile_offsets = vec![Vec::new(); levels.len()];
    for (i, l) in levels.iter().enumerate().rev() {
        for &c in &l.counts {
            pos += 4;
            tile_offsets[i].push(pos);
            pos += c + 4;
        }
    }
    Layout {
        bigtiff,
        ifd_offsets,
        tile_offsets,
        end: pos,
    }
}

/// Writes the COG laid out by `layout` into `out` (from its start), copying each tile's
/// bytes from where it was written first.
pub(crate) fn write(
    out: &mut File,
    levels: &[LevelData<'_>],
    ghost: &[u8],
    layout: &Layout,
    build: &IfdFn<'_>,
) -> std::io::Result<()> {
    use crate::tiff_format::source::read_exact_at;
    /// A buffered writer that knows its position.
    struct Out<'f> {
        w: BufWriter<&'f mut File>,
        pos: u64,
    }
    impl Out<'_> {
        fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.pos += bytes.len() as u64;
            self.w.write_all(bytes)
        }
        /// Zero padding up to `at`.
        fn pad_to(&mut self, at: u64) -> std::io::Result<()> {
            if self.pos < at {
                self.put(&vec![0; (at - self.pos) as usize])?;
            }
            Ok(())
        }
    }
    let bigtiff = layout.bigtiff;
    let mut o = Out {
        w: BufWriter::with_capacity(1 << 20, out),
        pos: 0,
    };
    o.put(&tiff_header(bigtiff, layout.ifd_offsets[0]))?;
    o.put(ghost)?;
    for (i, l) in levels.iter().enumerate() {
        let at = layout.ifd_offsets[i];
        o.pad_to(at)?;
        let next = layout.ifd_offsets.get(i + 1).copied().unwrap_or(0);
        let bytes =
            build(i, &layout.tile_offsets[i], &l.counts, bigtiff).encode_chained(at, bigtiff, next);
        o.put(&bytes)?;
    }
    let mut buf = Vec::new();
    for (i, l) in levels.iter().enumerate().rev() {
        for (t, &count) in l.counts.iter().enumerate() {
            o.pad_to(layout.tile_offsets[i][t] - 4)?;
            buf.resize(count as usize, 0);
            read_exact_at(l.src, &mut buf, l.src_offsets[t])?;
            o.put(&(count as u32).to_le_bytes())?;
            o.put(&buf)?;
            let mut trailer = [0u8; 4];
            let n = buf.len().min(4);
            trailer[4 - n..].copy_from_slice(&buf[buf.len() - n..]);
            o.put(&trailer)?;
        }
    }
    if o.pos != layout.end {
        return Err(std::io::Error::other(format!(
            "COG layout mismatch: wrote {} bytes, planned {}",
            o.pos, layout.end
        )));
    }
    o.w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghost_area_is_gdals() {
        let g = ghost_area(1, Interleave::Band);
        assert_eq!(
            String::from_utf8(g.clone()).unwrap(),
            "GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes\nLAYOUT=IFDS_BEFORE_DATA\n\
             BLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n\
             BLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n "
        );
        // classic header (8) + ghost (183): the first IFD at 192, as GDAL's validator expects
        assert_eq!(g.len(), 183);
        let g2 = ghost_area(3, Interleave::Band);
        assert!(String::from_utf8(g2).unwrap().contains("INTERLEAVE=BAND\n"));
    }

    #[test]
    fn overview_sizes_halve_like_gdal_cog() {
        let o = CogOptions::default();
        assert_eq!(
            o.overview_sizes(300, 203, 64),
            vec![(150, 101), (75, 50), (37, 25)]
        );
        assert!(o.overview_sizes(256, 100, 256).is_empty());
        assert_eq!(o.overview_sizes(257, 10, 256), vec![(128, 5)]);
        assert_eq!(
            o.with_min_size(1).overview_sizes(4, 1, 256),
            vec![(2, 1), (1, 1)]
        );
    }

    #[test]
    fn mode_ties_go_to_the_value_that_first_reaches_the_count() {
        assert_eq!(mode(&[1.0, 2.0, 2.0, 1.0]), Some(2.0));
        assert_eq!(mode(&[1.0, 2.0, 1.0, 2.0]), Some(1.0));
        assert_eq!(mode(&[3.0, 4.0]), Some(3.0));
        assert_eq!(mode(&[]), None);
        assert!(mode(&[f64::NAN, 1.0, f64::NAN]).unwrap().is_nan());
    }

    #[test]
    fn spans_follow_gdal() {
        // nearest: floor(0.5 + i * ratio)
        let s = spans(75, 37, OverviewResampling::Nearest);
        assert_eq!((s[0].lo, s[36].lo), (0, 73));
        // halving: 2 x 2 windows of weight 1
        let s = spans(300, 150, OverviewResampling::Average);
        assert!(
            s.iter()
                .enumerate()
                .all(|(i, s)| s.lo == 2 * i && s.hi == 2 * i + 2 && s.weights == vec![1.0, 1.0])
        );
        // odd: 203 -> 101, windows of 3 with fractional edge weights summing to the ratio
        let s = spans(203, 101, OverviewResampling::Average);
        let total: f64 = s[50].weights.iter().sum();
        assert!((total - 203.0 / 101.0).abs() < 1e-9, "{:?}", s[50]);
        assert_eq!(s[100].hi, 203);
    }
}
