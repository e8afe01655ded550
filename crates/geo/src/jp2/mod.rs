//! JPEG 2000 (`.jp2` files and raw `.j2k` codestreams), read behind
//! [`GeoTiffReader`](crate::GeoTiffReader)'s API.
//!
//! The file's boxes and the codestream's main header and tile-part index are parsed here
//! (safe code, every length checked); pixels are decoded by the `openjp2` crate through
//! [`openjpeg`], one decoder per decoded chunk. A chunk is a JPEG 2000 tile (Sentinel-2:
//! 1024 x 1024) when tiles are at most 2048 x 2048 pixels and start on a chunk boundary,
//! else a 1024 x 1024 region decoded from its tile(s). To decode a chunk the decoder gets
//! a virtual codestream: the main header (without its TLM/PLM index segments) followed by
//! the tile-parts of the tiles the chunk overlaps only, read in place from the file, so one
//! chunk costs what its tiles cost however large the image is. (A codestream whose main
//! header packs all packet headers, PPM, is handed whole instead.) The decoder holds the
//! compressed bytes of the tiles it decodes in memory: at most what the file stores for them.

pub(crate) mod boxes;
pub(crate) mod codestream;
pub(crate) mod georef;
mod openjpeg;

use std::io;

use crate::chunk_cache::Decoded;
use crate::error::Jp2Problem;
use crate::sample_type::SampleType;
use crate::tiff_format::codec::ChunkData;
use crate::tiff_format::source::ByteSource;
use boxes::{J2K_SIGNATURE, JP2_SIGNATURE};
use codestream::{Codestream, EOC};
use georef::Georef;

/// Chunks (decoded units) hold at most this many samples (all components): 256 MiB as the
/// decoder's `i32`s.
const MAX_CHUNK_SAMPLES: u64 = 1 << 26;
/// Tiles up to this many pixels are decoded whole as one chunk.
const MAX_TILE_CHUNK_PIXELS: u64 = 2048 * 2048;
/// Tiles above this many samples must be backed by coded data (see `Jp2Image::unbacked_tile`).
const BACKED_TILE_SAMPLES: u64 = 1 << 28;
/// The highest ratio of samples to coded bytes accepted for tiles above
/// [`BACKED_TILE_SAMPLES`].
const MAX_SAMPLES_PER_BYTE: u64 = 1 << 16;
/// Side of the chunks of untiled (or large-tiled) images.
const VIRTUAL_CHUNK: u32 = 1024;

/// A JPEG 2000 parsing or decoding failure before the file path is attached.
pub(crate) type Fail = crate::error::Fail<Jp2Problem>;

/// Fills `buf` from `offset` of `src`, which must end by `limit`.
pub(crate) fn read_at(
    src: &dyn ByteSource,
    buf: &mut [u8],
    offset: u64,
    limit: u64,
    what: &'static str,
) -> Result<(), Fail> {
    let end = offset.saturating_add(buf.len() as u64);
    let limit = limit.min(src.len());
    if end > limit {
        return Err(Jp2Problem::Truncated {
            what,
            offset,
            end,
            len: limit,
        }
        .into());
    }
    src.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Jp2Problem::Truncated {
                what,
                offset,
                end,
                len: limit,
            }
            .into()
        } else {
            Fail::Io(e)
        }
    })
}

/// Whether `magic` (the first 12 bytes of a file, or fewer) starts a JPEG 2000 file: the JP2
/// signature box, or a raw codestream's SOC + SIZ markers.
pub(crate) fn is_jpeg2000(magic: &[u8]) -> bool {
    magic.starts_with(&JP2_SIGNATURE) || magic.starts_with(&J2K_SIGNATURE)
}

/// A parsed JPEG 2000 file: geometry, chunk grid and georeferencing.
#[derive(Debug)]
pub(crate) struct Jp2Image {
    cs: Codestream,
    pub(crate) georef: Georef,
    pub(crate) sample_type: SampleType,
    pub(crate) chunk_width: usize,
    pub(crate) chunk_height: usize,
    pub(crate) across: usize,
    pub(crate) down: usize,
}

/// A region of the reference grid, end exclusive.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

/// `ceil(v / 2^level)`, the reference-grid coordinate at reduction `level`.
fn ceil_shift(v: u32, level: u32) -> u64 {
    (u64::from(v) + (1u64 << level) - 1) >> level
}

impl Jp2Image {
    /// Parses the boxes (when `src` is a JP2 file), the main header and the tile-part index.
    pub(crate) fn parse(src: &dyn ByteSource) -> Result<Self, Fail> {
        let mut magic = [0u8; 12];
        let n = src.len().min(12) as usize;
        read_at(src, &mut magic[..n], 0, src.len(), "the signature")?;
        let (offset, len, georef) = if magic.starts_with(&JP2_SIGNATURE) {
            let b = boxes::parse_boxes(src)?;
            let (offset, len) = b.codestream.ok_or(Jp2Problem::NoCodestream)?;
            let gml = b.gml.as_deref().and_then(georef::parse_gml);
            let geojp2 = b.geojp2.and_then(georef::parse_geojp2);
            // GMLJP2 first, then GeoJP2, as GDAL's default GEOREF_SOURCES
            let georef = match (gml, geojp2) {
                (Some(g), other) if g.geotransform.is_some() => Georef {
                    epsg: g.epsg.or(other.and_then(|o| o.epsg)),
                    ..g
                },
                (g, Some(o)) => Georef {
                    epsg: o.epsg.or(g.and_then(|g| g.epsg)),
                    ..o
                },
                (g, None) => g.unwrap_or_default(),
            };
            (offset, len, georef)
        } else {
            (0, src.len(), Georef::default())
        };
        let cs = codestream::parse_codestream(src, offset, len)?;
        let siz = &cs.siz;
        let c = siz.components[0];
        let sample_type = match (c.precision, c.signed) {
            (1..=8, false) => SampleType::U8,
            (1..=8, true) => SampleType::I8,
            (9..=16, false) => SampleType::U16,
            (9..=16, true) => SampleType::I16,
            (_, false) => SampleType::U32,
            (_, true) => SampleType::I32,
        };
        let (w, h) = (siz.width(), siz.height());
        let (tw, th) = (siz.tw.min(w), siz.th.min(h));
        let aligned = (siz.x0 - siz.tx0) % siz.tw == 0 && (siz.y0 - siz.ty0) % siz.th == 0;
        let (mut cw, mut ch) = if aligned && u64::from(tw) * u64::from(th) <= MAX_TILE_CHUNK_PIXELS
        {
            (tw, th)
        } else {
            (VIRTUAL_CHUNK.min(w), VIRTUAL_CHUNK.min(h))
        };
        let comps = siz.components.len() as u64;
        while u64::from(cw) * u64::from(ch) * comps > MAX_CHUNK_SAMPLES && (cw > 16 || ch > 16) {
            if cw >= ch {
                cw = cw.div_ceil(2);
            } else {
                ch = ch.div_ceil(2);
            }
        }
        Ok(Jp2Image {
            sample_type,
            chunk_width: cw as usize,
            chunk_height: ch as usize,
            across: w.div_ceil(cw) as usize,
            down: h.div_ceil(ch) as usize,
            georef,
            cs,
        })
    }

    pub(crate) fn width(&self) -> usize {
        self.cs.siz.width() as usize
    }

    pub(crate) fn height(&self) -> usize {
        self.cs.siz.height() as usize
    }

    pub(crate) fn bands(&self) -> usize {
        self.cs.siz.components.len()
    }

    /// The number of reduced resolutions (wavelet decomposition levels).
    pub(crate) fn levels(&self) -> u32 {
        u32::from(self.cs.levels)
    }

    /// Whether the codestream is tiled (more than one tile).
    pub(crate) fn tiled(&self) -> bool {
        self.cs.tile_parts.len() > 1
    }

    /// Full-resolution image coordinate `v` (column when `x`, else row) at reduction
    /// `level`; the image's size at `level` is `reduced(width, ..)` x `reduced(height, ..)`.
    pub(crate) fn reduced(&self, v: usize, x: bool, level: u32) -> usize {
        let o = if x { self.cs.siz.x0 } else { self.cs.siz.y0 };
        let v = o as u64 + v as u64;
        (((v + (1u64 << level) - 1) >> level) - ceil_shift(o, level)) as usize
    }

    /// Full-resolution image pixels of chunk cell (`cx`, `cy`): columns and rows.
    pub(crate) fn cell(&self, cx: usize, cy: usize) -> ((usize, usize), (usize, usize)) {
        let c0 = cx * self.chunk_width;
        let r0 = cy * self.chunk_height;
        (
            (c0, (c0 + self.chunk_width).min(self.width())),
            (r0, (r0 + self.chunk_height).min(self.height())),
        )
    }

    /// Decodes chunk cell (`cx`, `cy`) at reduction `level` into band-planar samples of
    /// [`sample_type`](Self::sample_type) in native byte order: `[bands, rows, cols]` of the
    /// cell's reduced size ([`reduced`](Self::reduced) of its corners).
    pub(crate) fn decode_cell(
        &self,
        src: &dyn ByteSource,
        cx: usize,
        cy: usize,
        level: u32,
    ) -> Result<Decoded, Fail> {
        let ((c0, c1), (r0, r1)) = self.cell(cx, cy);
        let siz = &self.cs.siz;
        let rect = Rect {
            x0: siz.x0 + c0 as u32,
            y0: siz.y0 + r0 as u32,
            x1: siz.x0 + c1 as u32,
            y1: siz.y0 + r1 as u32,
        };
        let (w, h) = (
            self.reduced(c1, true, level) - self.reduced(c0, true, level),
            self.reduced(r1, false, level) - self.reduced(r0, false, level),
        );
        let size = self.sample_type.size_bytes();
        let bands = self.bands();
        let plane = w * h;
        let mut bytes = vec![0u8; plane * bands * size];
        let mut got = vec![false; bands];
        let mut wrong: Option<(usize, usize)> = None;
        let fail = |detail: String| -> Fail {
            Jp2Problem::Decode {
                x0: c0 as u64,
                y0: r0 as u64,
                x1: c1 as u64,
                y1: r1 as u64,
                reduce: level,
                detail,
            }
            .into()
        };
        let area = openjpeg::Area {
            x0: rect.x0,
            y0: rect.y0,
            x1: rect.x1,
            y1: rect.y1,
            reduce: level,
        };
        if let Some(detail) = self.unbacked_tile(rect) {
            return Err(fail(detail));
        }
        let stream = self.stream_for(src, rect)?;
        let sample_type = self.sample_type;
        openjpeg::decode(&stream, area, &mut |band, p| {
            if band >= bands {
                return;
            }
            if p.width != w || p.height != h || p.samples.len() != plane {
                wrong = Some((p.width, p.height));
                return;
            }
            got[band] = true;
            let dst = &mut bytes[band * plane * size..(band + 1) * plane * size];
            store(sample_type, p.samples, dst);
        })
        .map_err(|e| {
            if let Some(io) = stream.take_io_error() {
                return Fail::Io(io);
            }
            fail(e)
        })?;
        if let Some((gw, gh)) = wrong {
            return Err(fail(format!(
                "the decoder returned {gw}x{gh} pixels, not {w}x{h}"
            )));
        }
        if got.iter().any(|g| !g) {
            return Err(fail(
                "the decoder returned fewer components than SIZ declares".into(),
            ));
        }
        Ok(Decoded {
            data: ChunkData::Rows {
                first_row: 0,
                little: cfg!(target_endian = "little"),
            },
            bytes,
        })
    }

    /// Why a tile `rect` overlaps cannot be decoded safely, if one cannot: OpenJPEG allocates
    /// its code-block structures for the whole tile whatever the region asked for, so a huge
    /// declared tile (the fuzzer found 11 x 50 M pixels x 3 components in a 2284-byte file,
    /// which took more than 4 GB) must be backed by coded data. A tile of more than
    /// [`BACKED_TILE_SAMPLES`] samples needs at least one byte of tile-parts per
    /// [`MAX_SAMPLES_PER_BYTE`] samples; real tiles are far denser (Sentinel-2's 1024^2 tiles
    /// never reach the threshold; a whole 10980^2 band in one tile is 120 M samples, below it).
    fn unbacked_tile(&self, rect: Rect) -> Option<String> {
        let cs = &self.cs;
        let siz = &cs.siz;
        let (across, _) = siz.tile_grid();
        let tcol = |x: u32| (x - siz.tx0) / siz.tw;
        let trow = |y: u32| (y - siz.ty0) / siz.th;
        let comps = siz.components.len() as u64;
        for ty in trow(rect.y0)..=trow(rect.y1 - 1) {
            for tx in tcol(rect.x0)..=tcol(rect.x1 - 1) {
                let span = |t: u32, size: u32, origin: u32, lo: u32, hi: u32| {
                    let a = (u64::from(origin) + u64::from(t) * u64::from(size)).max(u64::from(lo));
                    let b =
                        (u64::from(origin) + u64::from(t + 1) * u64::from(size)).min(u64::from(hi));
                    b.saturating_sub(a)
                };
                let samples = span(tx, siz.tw, siz.tx0, siz.x0, siz.x1)
                    * span(ty, siz.th, siz.ty0, siz.y0, siz.y1)
                    * comps;
                let t = (ty * across + tx) as usize;
                let coded: u64 = cs
                    .tile_parts
                    .get(t)
                    .map_or(0, |p| p.iter().map(|&(_, len)| len).sum());
                if samples > BACKED_TILE_SAMPLES && coded < samples / MAX_SAMPLES_PER_BYTE {
                    return Some(format!(
                        "tile {t} declares {samples} samples but holds only {coded} bytes of coded \
                         data (at least one byte per {MAX_SAMPLES_PER_BYTE} samples is needed \
                         for tiles over {BACKED_TILE_SAMPLES} samples): a corrupt or hostile file"
                    ));
                }
            }
        }
        None
    }

    /// The virtual codestream that decodes `rect`: the main header, the tile-parts of the
    /// tiles `rect` overlaps, EOC.
    fn stream_for<'a>(&'a self, src: &'a dyn ByteSource, rect: Rect) -> Result<Pieces<'a>, Fail> {
        let cs = &self.cs;
        let Some(header) = &cs.header else {
            return Ok(Pieces::new(src, vec![Piece::File(cs.offset, cs.len)]));
        };
        let siz = &cs.siz;
        let (across, _) = siz.tile_grid();
        let tcol = |x: u32| (x - siz.tx0) / siz.tw;
        let trow = |y: u32| (y - siz.ty0) / siz.th;
        let mut parts: Vec<(u64, u64)> = Vec::new();
        for ty in trow(rect.y0)..=trow(rect.y1 - 1) {
            for tx in tcol(rect.x0)..=tcol(rect.x1 - 1) {
                let t = (ty * across + tx) as usize;
                parts.extend_from_slice(&cs.tile_parts[t]);
            }
        }
        parts.sort_unstable();
        let mut pieces = vec![Piece::Bytes(header)];
        pieces.extend(parts.into_iter().map(|(o, l)| Piece::File(o, l)));
        pieces.push(Piece::Bytes(&EOC_BYTES));
        Ok(Pieces::new(src, pieces))
    }
}

const EOC_BYTES: [u8; 2] = EOC.to_be_bytes();

/// Decoder output into native-order bytes of `t` (values are within the component's
/// precision, which fits `t`; clamped all the same).
fn store(t: SampleType, samples: &[i32], dst: &mut [u8]) {
    macro_rules! put {
        ($ty:ty) => {{
            const N: usize = std::mem::size_of::<$ty>();
            for (d, &s) in dst.chunks_exact_mut(N).zip(samples) {
                let v = s.clamp(<$ty>::MIN as i32, <$ty>::MAX as i32) as $ty;
                d.copy_from_slice(&v.to_ne_bytes());
            }
        }};
    }
    match t {
        SampleType::U8 => put!(u8),
        SampleType::I8 => put!(i8),
        SampleType::U16 => put!(u16),
        SampleType::I16 => put!(i16),
        SampleType::U32 => {
            for (d, &s) in dst.chunks_exact_mut(4).zip(samples) {
                d.copy_from_slice(&(s.max(0) as u32).to_ne_bytes());
            }
        }
        _ => {
            for (d, &s) in dst.chunks_exact_mut(4).zip(samples) {
                d.copy_from_slice(&s.to_ne_bytes());
            }
        }
    }
}

/// A piece of a virtual codestream.
enum Piece<'a> {
    Bytes(&'a [u8]),
    /// `(offset, len)` in the file.
    File(u64, u64),
}

/// A virtual codestream: pieces of memory and of the file, end to end.
struct Pieces<'a> {
    src: &'a dyn ByteSource,
    /// Each piece with its start in the virtual stream.
    pieces: Vec<(u64, Piece<'a>)>,
    len: u64,
    io_error: std::cell::Cell<Option<io::Error>>,
}

impl<'a> Pieces<'a> {
    fn new(src: &'a dyn ByteSource, list: Vec<Piece<'a>>) -> Self {
        let mut at = 0;
        let pieces = list
            .into_iter()
            .map(|p| {
                let start = at;
                at += match &p {
                    Piece::Bytes(b) => b.len() as u64,
                    Piece::File(_, l) => *l,
                };
                (start, p)
            })
            .collect();
        Pieces {
            src,
            pieces,
            len: at,
            io_error: std::cell::Cell::new(None),
        }
    }
}

impl Pieces<'_> {
    fn take_io_error(&self) -> Option<io::Error> {
        self.io_error.take()
    }
}

impl openjpeg::StreamSource for Pieces<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        let mut i = self
            .pieces
            .partition_point(|(s, _)| *s <= offset)
            .saturating_sub(1);
        while !buf.is_empty() {
            let (start, piece) = self.pieces.get(i).ok_or(io::ErrorKind::UnexpectedEof)?;
            let within = offset - start;
            let plen = match piece {
                Piece::Bytes(b) => b.len() as u64,
                Piece::File(_, l) => *l,
            };
            if within >= plen {
                i += 1;
                continue;
            }
            let n = ((plen - within) as usize).min(buf.len());
            let (head, rest) = buf.split_at_mut(n);
            match piece {
                Piece::Bytes(b) => head.copy_from_slice(&b[within as usize..within as usize + n]),
                Piece::File(o, _) => {
                    if let Err(e) = self.src.read_exact_at(head, o + within) {
                        let copy = io::Error::new(e.kind(), e.to_string());
                        self.io_error.set(Some(e));
                        return Err(copy);
                    }
                }
            }
            buf = rest;
            offset += n as u64;
            i += 1;
        }
        Ok(())
    }
}
