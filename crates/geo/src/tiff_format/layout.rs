//! The pixel layout of one TIFF image: sample type, chunk grid (strips or tiles), compression,
//! predictor and where each chunk lies in the file.

use super::codec::check_chunk;
use super::ifd::{Fail, Ifd, TiffFile};
use super::tags;
use crate::error::{TiffProblem, Unsupported};
use crate::raster_info::{Compression, Interleave, Predictor};
use crate::sample_type::SampleType;

/// Largest decoded strip/tile accepted for compressed data (a 1 GiB chunk is already absurd;
/// GDAL writes 256-1024 px tiles or strips of a few rows).
pub(crate) const MAX_CHUNK_BYTES: u64 = 1 << 30;

/// How the pixels of an image are stored.
#[derive(Debug, Clone)]
pub(crate) struct ImageLayout {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) samples: usize,
    pub(crate) sample_type: SampleType,
    pub(crate) compression: Compression,
    pub(crate) predictor: Predictor,
    pub(crate) interleave: Interleave,
    pub(crate) tiled: bool,
    /// Chunk width in pixels (tile width, or image width for strips).
    pub(crate) chunk_width: usize,
    /// Chunk height in rows (tile height, or rows per strip).
    pub(crate) chunk_height: usize,
    pub(crate) chunks_across: usize,
    pub(crate) chunks_down: usize,
    pub(crate) offsets: Vec<u64>,
    pub(crate) byte_counts: Vec<u64>,
    /// For JPEG: the shared tables and how to read the streams' colours.
    pub(crate) jpeg: Option<JpegLayout>,
}

/// What decoding the JPEG chunks of an image needs besides their bytes.
#[derive(Debug, Clone)]
pub(crate) struct JpegLayout {
    /// `JPEGTables` (a JPEG stream of tables only, `FFD8 ... FFD9`), empty when absent: each
    /// chunk is then a complete JPEG stream.
    pub(crate) tables: Vec<u8>,
    /// The TIFF says the pixels are YCbCr (PhotometricInterpretation 6), to be converted to
    /// RGB; otherwise the stream's components are the samples themselves.
    pub(crate) ycbcr: bool,
}

fn bad_size(width: u64, height: u64, samples: u64) -> Fail {
    TiffProblem::BadSize {
        width,
        height,
        samples,
    }
    .into()
}

fn required(file: &TiffFile<'_>, ifd: &Ifd, tag: u16) -> Result<u64, Fail> {
    file.u64(ifd, tag)?
        .ok_or(Fail::Problem(TiffProblem::MissingTag {
            tag: tags::name(tag),
        }))
}

/// Every value of a per-sample tag must be equal (or the tag has a single value).
fn uniform(file: &TiffFile<'_>, ifd: &Ifd, tag: u16, default: u64) -> Result<u64, Fail> {
    match file.u64s(ifd, tag)? {
        None => Ok(default),
        Some(v) => {
            let first = *v.first().ok_or(TiffProblem::BadTagShape {
                tag: tags::name(tag),
                field_type: 0,
                count: 0,
            })?;
            if v.iter().any(|&x| x != first) {
                return Err(Unsupported::MixedSamples.into());
            }
            Ok(first)
        }
    }
}

fn compression_from_code(code: u64) -> Result<Compression, Fail> {
    if let Some(c) = Compression::ALL
        .into_iter()
        .find(|c| u64::from(c.tiff_code()) == code)
    {
        return Ok(c);
    }
    let name = match code {
        // Adobe's code for Deflate, which GDAL and libtiff also read
        32946 => return Ok(Compression::Deflate),
        2 => "CCITT RLE",
        3 => "CCITT Group 3 fax",
        4 => "CCITT Group 4 fax",
        6 => "old-style JPEG",
        34661 => "JBIG",
        34712 => "JPEG 2000",
        34887 => "LERC",
        34925 => "LZMA",
        50001 => "WebP",
        50002 | 52546 => "JPEG XL",
        _ => "unknown",
    };
    Err(Unsupported::Compression {
        code: u16::try_from(code).unwrap_or(u16::MAX),
        name,
    }
    .into())
}

impl ImageLayout {
    /// Reads and validates the layout tags of `ifd`.
    pub(crate) fn from_ifd(file: &TiffFile<'_>, ifd: &Ifd) -> Result<Self, Fail> {
        let width = required(file, ifd, tags::IMAGE_WIDTH)?;
        let height = required(file, ifd, tags::IMAGE_LENGTH)?;
        let samples = file.u64(ifd, tags::SAMPLES_PER_PIXEL)?.unwrap_or(1);
        if width == 0
            || height == 0
            || samples == 0
            || samples > 65_535
            || width > u64::from(u32::MAX)
            || height > u64::from(u32::MAX)
        {
            return Err(bad_size(width, height, samples));
        }
        let bits = uniform(file, ifd, tags::BITS_PER_SAMPLE, 1)?;
        let format = uniform(file, ifd, tags::SAMPLE_FORMAT, 1)?;
        let (format, bits) = (
            u16::try_from(format).unwrap_or(u16::MAX),
            u16::try_from(bits).unwrap_or(u16::MAX),
        );
        let sample_type = SampleType::from_tiff(format, bits)
            .ok_or(Unsupported::SampleFormat { format, bits })?;
        let compression = compression_from_code(file.u64(ifd, tags::COMPRESSION)?.unwrap_or(1))?;
        let photometric = file.u64(ifd, tags::PHOTOMETRIC)?.unwrap_or(1);
        // JPEG decodes (and upsamples) YCbCr itself.
        if photometric == 6 && compression != Compression::Jpeg {
            if let Some(sub) = file.u64s(ifd, tags::YCBCR_SUBSAMPLING)? {
                if sub.iter().any(|&s| s != 1) {
                    return Err(Unsupported::YCbCr.into());
                }
            } else {
                // default subsampling is 2x2
                return Err(Unsupported::YCbCr.into());
            }
        }
        let predictor = match file.u64(ifd, tags::PREDICTOR)?.unwrap_or(1) {
            1 => Predictor::None,
            2 => Predictor::Horizontal,
            3 if sample_type.is_float() => Predictor::FloatingPoint,
            p => return Err(Unsupported::Predictor(u16::try_from(p).unwrap_or(u16::MAX)).into()),
        };
        let interleave = match file.u64(ifd, tags::PLANAR_CONFIGURATION)?.unwrap_or(1) {
            1 => Interleave::Pixel,
            2 => Interleave::Band,
            v => {
                return Err(TiffProblem::BadTagValue {
                    tag: tags::name(tags::PLANAR_CONFIGURATION),
                    value: v,
                }
                .into());
            }
        };
        // a single-band image is the same either way; treat it as pixel-interleaved
        let interleave = if samples == 1 {
            Interleave::Pixel
        } else {
            interleave
        };
        let tiled =
            ifd.entry(tags::TILE_WIDTH).is_some() || ifd.entry(tags::TILE_OFFSETS).is_some();
        let (chunk_width, chunk_height, offsets_tag, counts_tag) = if tiled {
            let tw = required(file, ifd, tags::TILE_WIDTH)?;
            let th = required(file, ifd, tags::TILE_LENGTH)?;
            for (tag, v) in [(tags::TILE_WIDTH, tw), (tags::TILE_LENGTH, th)] {
                if v == 0 || v > 1 << 20 {
                    return Err(TiffProblem::BadTagValue {
                        tag: tags::name(tag),
                        value: v,
                    }
                    .into());
                }
            }
            (tw, th, tags::TILE_OFFSETS, tags::TILE_BYTE_COUNTS)
        } else {
            let rps = file.u64(ifd, tags::ROWS_PER_STRIP)?.unwrap_or(height);
            if rps == 0 {
                return Err(TiffProblem::BadTagValue {
                    tag: tags::name(tags::ROWS_PER_STRIP),
                    value: 0,
                }
                .into());
            }
            (
                width,
                rps.min(height),
                tags::STRIP_OFFSETS,
                tags::STRIP_BYTE_COUNTS,
            )
        };
        let across = width.div_ceil(chunk_width);
        let down = height.div_ceil(chunk_height);
        let planes = if interleave == Interleave::Band {
            samples
        } else {
            1
        };
        let expected = across
            .checked_mul(down)
            .and_then(|n| n.checked_mul(planes))
            .ok_or_else(|| bad_size(width, height, samples))?;
        // The offsets array must hold `expected` values; a header claiming billions of chunks
        // fails here on the file length before anything large is allocated.
        let entry = ifd.entry(offsets_tag).ok_or(TiffProblem::MissingTag {
            tag: tags::name(offsets_tag),
        })?;
        if entry.count < expected {
            return Err(TiffProblem::ChunkCount {
                tag: tags::name(offsets_tag),
                found: entry.count,
                expected,
            }
            .into());
        }
        let offsets = file.u64s(ifd, offsets_tag)?.unwrap_or_default();
        let byte_counts = file.u64s(ifd, counts_tag)?.ok_or(TiffProblem::MissingTag {
            tag: tags::name(counts_tag),
        })?;
        if (byte_counts.len() as u64) < expected {
            return Err(TiffProblem::ChunkCount {
                tag: tags::name(counts_tag),
                found: byte_counts.len() as u64,
                expected,
            }
            .into());
        }
        let jpeg = if compression == Compression::Jpeg {
            let per_chunk = if interleave == Interleave::Band {
                1
            } else {
                samples
            };
            if sample_type != SampleType::U8 {
                return Err(Unsupported::Compression {
                    code: 7,
                    name: "JPEG with samples other than 8-bit",
                }
                .into());
            }
            if per_chunk != 1 && per_chunk != 3 {
                return Err(Unsupported::Compression {
                    code: 7,
                    name: "JPEG with other than 1 or 3 samples per pixel (use INTERLEAVE=BAND)",
                }
                .into());
            }
            Some(JpegLayout {
                tables: file.bytes(ifd, tags::JPEG_TABLES)?.unwrap_or_default(),
                ycbcr: photometric == 6,
            })
        } else {
            None
        };
        let to_usize = |v: u64| usize::try_from(v).map_err(|_| bad_size(width, height, samples));
        let layout = ImageLayout {
            width: to_usize(width)?,
            height: to_usize(height)?,
            samples: to_usize(samples)?,
            sample_type,
            compression,
            predictor,
            interleave,
            tiled,
            chunk_width: to_usize(chunk_width)?,
            chunk_height: to_usize(chunk_height)?,
            chunks_across: to_usize(across)?,
            chunks_down: to_usize(down)?,
            offsets,
            byte_counts,
            jpeg,
        };
        // Every chunk against the file, once, before any read: a header that declares more
        // pixels than the file can back fails here with the chunk named (the offsets array is
        // in the file, so this loop is bounded by the file's length).
        let file_len = file.len();
        for index in 0..to_usize(expected)? {
            check_chunk(&layout, index, file_len)?;
        }
        Ok(layout)
    }

    /// `"tile"` or `"strip"`, for messages.
    pub(crate) fn chunk_kind(&self) -> &'static str {
        if self.tiled { "tile" } else { "strip" }
    }

    /// Samples stored per pixel in one chunk.
    pub(crate) fn samples_per_chunk_pixel(&self) -> usize {
        match self.interleave {
            Interleave::Pixel => self.samples,
            Interleave::Band => 1,
        }
    }

    /// Chunks in one plane.
    pub(crate) fn chunks_per_plane(&self) -> usize {
        self.chunks_across * self.chunks_down
    }

    /// Index of the chunk at chunk-grid position (`cx`, `cy`) of `plane`.
    pub(crate) fn chunk_index(&self, plane: usize, cx: usize, cy: usize) -> usize {
        plane * self.chunks_per_plane() + cy * self.chunks_across + cx
    }

    /// Rows actually stored in chunk row `cy` (tiles are padded to full height, the last strip
    /// is not).
    pub(crate) fn chunk_rows(&self, cy: usize) -> usize {
        if self.tiled {
            self.chunk_height
        } else {
            self.chunk_height.min(self.height - cy * self.chunk_height)
        }
    }

    /// Bytes of one decoded chunk row.
    pub(crate) fn chunk_row_bytes(&self) -> usize {
        self.chunk_width * self.samples_per_chunk_pixel() * self.sample_type.size_bytes()
    }

    /// Decoded bytes of the chunks in chunk row `cy` (u64 so absurd headers cannot overflow).
    pub(crate) fn chunk_bytes(&self, cy: usize) -> u64 {
        (self.chunk_rows(cy) as u64).saturating_mul(self.chunk_row_bytes() as u64)
    }
}
