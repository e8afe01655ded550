//! Strip/tile codecs: decompression (Deflate, LZW, PackBits), the TIFF predictors (horizontal
//! differencing and floating-point byte planes, as libtiff's `tif_predict.c`), and the reverse
//! for writing.

use std::io::Write;

use super::ifd::{Fail, TiffFile};
use super::layout::{ImageLayout, MAX_CHUNK_BYTES};
use crate::error::TiffProblem;
use crate::raster_info::{Compression, Predictor};

/// What a decoded chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkData {
    /// The chunk is absent from the file (offset or byte count 0, GDAL `SPARSE_OK`): every
    /// sample is nodata (or 0).
    Sparse,
    /// `buf` holds chunk rows `first_row..` with samples in little- (`true`) or big-endian
    /// byte order.
    Rows { first_row: usize, little: bool },
}

/// Highest decoded/compressed ratio a codec can reach, plus slack for headers.
fn max_ratio(c: Compression) -> (u64, &'static str) {
    match c {
        Compression::None => (1, "uncompressed"),
        // deflate: 258 bytes per 2-bit back-reference at best, i.e. < 1032:1
        Compression::Deflate => (1032, "deflate"),
        // LZW: a code of >= 9 bits yields at most 4096 bytes
        Compression::Lzw => (3641, "LZW"),
        // PackBits: 2 bytes yield at most 128
        Compression::PackBits => (64, "PackBits"),
        // Zstandard: an RLE block (4 bytes with its header) yields at most 128 KiB
        Compression::Zstd => (32768, "ZSTD"),
        // JPEG: a flat 8x8 block costs a few bits per component (tables are not counted)
        Compression::Jpeg => (4096, "JPEG"),
        // never a TIFF chunk's codec (layouts are built from ALL, which lacks it)
        Compression::Jpeg2000 => (1, "JPEG 2000"),
    }
}

/// Checks chunk `index` against the file before anything is allocated for it: a stored chunk
/// (offset and byte count not 0) lies inside the file's `file_len` bytes; an uncompressed one
/// stores at least the bytes its pixels need; a compressed one cannot decode into more than
/// its codec's best ratio allows (nor into more than [`MAX_CHUNK_BYTES`]). Decoded buffers are
/// sized from the chunk's dimensions, so after this check every allocation is bounded by
/// bytes the file really holds.
pub(crate) fn check_chunk(layout: &ImageLayout, index: usize, file_len: u64) -> Result<(), Fail> {
    let kind = layout.chunk_kind();
    let (offset, count) = (layout.offsets[index], layout.byte_counts[index]);
    if offset == 0 || count == 0 {
        return Ok(());
    }
    if offset.checked_add(count).is_none_or(|end| end > file_len) {
        return Err(TiffProblem::ChunkOutOfRange {
            kind,
            index,
            offset,
            bytes: count,
            file_len,
        }
        .into());
    }
    let cy = (index % layout.chunks_per_plane()) / layout.chunks_across;
    let expected = layout.chunk_bytes(cy);
    if layout.compression == Compression::None {
        if count < expected {
            return Err(TiffProblem::ChunkTooSmall {
                kind,
                index,
                bytes: count,
                needs: expected,
            }
            .into());
        }
        return Ok(());
    }
    let (ratio, codec) = max_ratio(layout.compression);
    if expected > MAX_CHUNK_BYTES || expected > count.saturating_mul(ratio).saturating_add(1024) {
        return Err(TiffProblem::ChunkImplausible {
            kind,
            index,
            compressed: count,
            decoded: expected,
            codec,
        }
        .into());
    }
    Ok(())
}

/// Reads and decodes chunk `index` (in chunk row `cy`) into `buf`. For uncompressed chunks
/// without predictor only rows `rows.0..rows.1` (relative to the chunk) are read.
pub(crate) fn decode_chunk(
    file: &TiffFile<'_>,
    layout: &ImageLayout,
    index: usize,
    cy: usize,
    rows: (usize, usize),
    buf: &mut Vec<u8>,
) -> Result<ChunkData, Fail> {
    let offset = layout.offsets[index];
    let count = layout.byte_counts[index];
    if offset == 0 || count == 0 {
        return Ok(ChunkData::Sparse);
    }
    // `ImageLayout::from_ifd` ran `check_chunk` on every chunk: it lies in the file and its
    // byte count can back the buffer sized below
    let kind = layout.chunk_kind();
    let expected = layout.chunk_bytes(cy);
    let row_bytes = layout.chunk_row_bytes();
    if layout.compression == Compression::None && layout.predictor == Predictor::None {
        let n = (rows.1 - rows.0) * row_bytes;
        buf.clear();
        buf.resize(n, 0);
        file.read_into(buf, offset + (rows.0 * row_bytes) as u64)?;
        return Ok(ChunkData::Rows {
            first_row: rows.0,
            little: file.little,
        });
    }
    let (_, codec) = max_ratio(layout.compression);
    let expected = expected as usize;
    let raw = file.read("strip/tile data", offset, count)?;
    let fast = if layout.compression == Compression::Deflate {
        inflate_fast(&raw, expected)
    } else {
        None
    };
    let got = if let Some(decoded) = fast {
        *buf = decoded;
        Ok(expected)
    } else {
        buf.clear();
        buf.resize(expected, 0);
        match layout.compression {
            Compression::None => {
                let n = raw.len().min(expected);
                buf[..n].copy_from_slice(&raw[..n]);
                Ok(n)
            }
            Compression::Deflate => inflate(&raw, buf),
            Compression::Lzw => lzw_decode(&raw, buf),
            Compression::PackBits => packbits_decode(&raw, buf),
            Compression::Zstd => zstd_decode(&raw, buf),
            Compression::Jpeg => jpeg_decode(&raw, layout, buf),
            Compression::Jpeg2000 => Err("JPEG 2000 is not a TIFF codec here".to_string()),
        }
    }
    .map_err(|detail| TiffProblem::Corrupt {
        kind,
        index,
        codec,
        detail,
    })?;
    if got < expected {
        return Err(TiffProblem::ChunkShort {
            kind,
            index,
            got,
            expected,
        }
        .into());
    }
    let spp = layout.samples_per_chunk_pixel();
    let width = layout.sample_type.size_bytes();
    let little = match layout.predictor {
        Predictor::None => file.little,
        Predictor::Horizontal => {
            undo_horizontal(buf, row_bytes, spp, width, file.little);
            file.little
        }
        Predictor::FloatingPoint => {
            undo_floating_point(buf, row_bytes, spp, width);
            file.little
        }
    };
    Ok(ChunkData::Rows {
        first_row: 0,
        little,
    })
}

/// zlib-inflates with `zune-inflate` (about 1.5x faster than miniz_oxide); `None` when the
/// stream is not exactly `expected` bytes or is corrupt, leaving the tolerant slow path to
/// decide.
fn inflate_fast(input: &[u8], expected: usize) -> Option<Vec<u8>> {
    let options = zune_inflate::DeflateOptions::default()
        .set_limit(expected)
        .set_size_hint(expected);
    let out = zune_inflate::DeflateDecoder::new_with_options(input, options)
        .decode_zlib()
        .ok()?;
    (out.len() == expected).then_some(out)
}

/// zlib-inflates `input` into `out`; returns the bytes produced.
fn inflate(input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let mut d = flate2::Decompress::new(true);
    match d.decompress(input, out, flate2::FlushDecompress::Finish) {
        Ok(_) => Ok(d.total_out() as usize),
        Err(e) => Err(e.to_string()),
    }
}

/// Decodes one JPEG chunk (completed with the image's `JPEGTables`) into `out`, which must be
/// exactly the chunk's size; returns the bytes produced.
fn jpeg_decode(input: &[u8], layout: &ImageLayout, out: &mut [u8]) -> Result<usize, String> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let jpeg = layout
        .jpeg
        .as_ref()
        .ok_or("JPEG chunk without JPEG layout")?;
    // Abbreviated streams: tables without their end marker, then the chunk without its start
    // marker (libtiff's layout).
    let stream: std::borrow::Cow<'_, [u8]> = if jpeg.tables.len() >= 4
        && jpeg.tables.ends_with(&[0xFF, 0xD9])
        && input.starts_with(&[0xFF, 0xD8])
    {
        let mut s = Vec::with_capacity(jpeg.tables.len() + input.len());
        s.extend_from_slice(&jpeg.tables[..jpeg.tables.len() - 2]);
        s.extend_from_slice(&input[2..]);
        s.into()
    } else {
        input.into()
    };
    let components = layout.samples_per_chunk_pixel();
    // A stream larger than its chunk is refused before the decoder allocates for it.
    let options = DecoderOptions::default()
        .set_max_width(layout.chunk_width)
        .set_max_height(layout.chunk_height);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&stream[..]), options);
    dec.decode_headers().map_err(|e| format!("{e:?}"))?;
    let input_space = dec.input_colorspace().ok_or("no JPEG header")?;
    let out_space = match (components, input_space) {
        (1, _) => ColorSpace::Luma,
        (3, ColorSpace::YCbCr) if !jpeg.ycbcr => ColorSpace::YCbCr, // RGB stored as is
        (3, _) => ColorSpace::RGB,
        (n, s) => return Err(format!("{n} samples per pixel in a {s:?} JPEG stream")),
    };
    if input_space.num_components() != components {
        return Err(format!(
            "the JPEG stream has {} components, the TIFF {components} samples per pixel",
            input_space.num_components()
        ));
    }
    dec.set_options(options.jpeg_set_out_colorspace(out_space));
    let (w, h) = dec.dimensions().ok_or("no JPEG header")?;
    let n = w * h * components;
    if n != out.len() {
        return Err(format!(
            "the JPEG stream is {w} x {h}, the chunk {} bytes of {components} samples",
            out.len()
        ));
    }
    dec.decode_into(out).map_err(|e| format!("{e:?}"))?;
    Ok(n)
}

/// Zstandard-decodes `input` (one or more frames) into `out`; returns the bytes produced.
fn zstd_decode(input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    ruzstd::decoding::FrameDecoder::new()
        .decode_all(input, out)
        .map_err(|e| e.to_string())
}

/// TIFF LZW (MSB-first with the early code-size switch; old-style LSB-first streams, which
/// start with `00 01`, as libtiff detects them).
fn lzw_decode(input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let old_style = input.len() >= 2 && input[0] == 0 && input[1] & 1 == 1;
    let mut dec = if old_style {
        weezl::decode::Decoder::new(weezl::BitOrder::Lsb, 8)
    } else {
        weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
    };
    let (mut inp, mut produced) = (input, 0usize);
    while produced < out.len() {
        let r = dec.decode_bytes(inp, &mut out[produced..]);
        inp = &inp[r.consumed_in..];
        produced += r.consumed_out;
        match r.status {
            Ok(weezl::LzwStatus::Ok) => {}
            Ok(weezl::LzwStatus::Done | weezl::LzwStatus::NoProgress) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(produced)
}

/// PackBits run-length decoding.
pub(crate) fn packbits_decode(input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let (mut i, mut o) = (0usize, 0usize);
    while i < input.len() && o < out.len() {
        let n = input[i] as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            let src = input
                .get(i..i + len)
                .ok_or("literal run past the end of the data")?;
            let len = len.min(out.len() - o);
            out[o..o + len].copy_from_slice(&src[..len]);
            i += n as usize + 1;
            o += len;
        } else if n != -128 {
            let len = ((1 - n as isize) as usize).min(out.len() - o);
            let v = *input.get(i).ok_or("repeat run past the end of the data")?;
            out[o..o + len].fill(v);
            i += 1;
            o += len;
        }
    }
    Ok(o)
}

macro_rules! horizontal_lanes {
    ($buf:expr, $row_bytes:expr, $spp:expr, $ty:ty, $little:expr, $undo:expr) => {{
        const N: usize = std::mem::size_of::<$ty>();
        let read = |b: &[u8]| -> $ty {
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            if $little {
                <$ty>::from_le_bytes(a)
            } else {
                <$ty>::from_be_bytes(a)
            }
        };
        let write = |b: &mut [u8], v: $ty| {
            b.copy_from_slice(&if $little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            });
        };
        for row in $buf.chunks_exact_mut($row_bytes) {
            let n = $row_bytes / N;
            if $undo {
                for i in $spp..n {
                    let prev = read(&row[(i - $spp) * N..(i - $spp + 1) * N]);
                    let cur = read(&row[i * N..(i + 1) * N]);
                    write(&mut row[i * N..(i + 1) * N], cur.wrapping_add(prev));
                }
            } else {
                for i in ($spp..n).rev() {
                    let prev = read(&row[(i - $spp) * N..(i - $spp + 1) * N]);
                    let cur = read(&row[i * N..(i + 1) * N]);
                    write(&mut row[i * N..(i + 1) * N], cur.wrapping_sub(prev));
                }
            }
        }
    }};
}

/// Undoes horizontal differencing (predictor 2) in place; samples stay in file byte order.
pub(crate) fn undo_horizontal(
    buf: &mut [u8],
    row_bytes: usize,
    spp: usize,
    width: usize,
    little: bool,
) {
    let native = little == cfg!(target_endian = "little");
    macro_rules! fast {
        ($ty:ty) => {
            if native
                && row_bytes % std::mem::size_of::<$ty>() == 0
                && let Ok(values) = bytemuck::try_cast_slice_mut::<u8, $ty>(buf)
            {
                for row in values.chunks_exact_mut(row_bytes / std::mem::size_of::<$ty>()) {
                    for i in spp..row.len() {
                        row[i] = row[i].wrapping_add(row[i - spp]);
                    }
                }
                return;
            }
        };
    }
    match width {
        1 => {
            for row in buf.chunks_exact_mut(row_bytes) {
                for i in spp..row_bytes {
                    row[i] = row[i].wrapping_add(row[i - spp]);
                }
            }
        }
        2 => {
            fast!(u16);
            horizontal_lanes!(buf, row_bytes, spp, u16, little, true)
        }
        4 => {
            fast!(u32);
            horizontal_lanes!(buf, row_bytes, spp, u32, little, true)
        }
        _ => {
            fast!(u64);
            horizontal_lanes!(buf, row_bytes, spp, u64, little, true)
        }
    }
}

/// Applies horizontal differencing (predictor 2) in place, for writing.
pub(crate) fn apply_horizontal(
    buf: &mut [u8],
    row_bytes: usize,
    spp: usize,
    width: usize,
    little: bool,
) {
    match width {
        1 => {
            for row in buf.chunks_exact_mut(row_bytes) {
                for i in (spp..row_bytes).rev() {
                    row[i] = row[i].wrapping_sub(row[i - spp]);
                }
            }
        }
        2 => horizontal_lanes!(buf, row_bytes, spp, u16, little, false),
        4 => horizontal_lanes!(buf, row_bytes, spp, u32, little, false),
        _ => horizontal_lanes!(buf, row_bytes, spp, u64, little, false),
    }
}

/// Undoes the floating-point predictor (3) in place: byte differencing with stride `spp`,
/// then byte planes back to samples (libtiff `fpAcc`). The result is in the *file's* byte
/// order: libtiff writes the planes most significant byte first in little-endian files and
/// least significant first in big-endian ones (it swabs around the predictor; verified
/// against GDAL `ENDIANNESS=BIG PREDICTOR=3` files).
pub(crate) fn undo_floating_point(buf: &mut [u8], row_bytes: usize, spp: usize, width: usize) {
    let mut tmp = vec![0u8; row_bytes];
    let wc = row_bytes / width;
    for row in buf.chunks_exact_mut(row_bytes) {
        for i in spp..row_bytes {
            row[i] = row[i].wrapping_add(row[i - spp]);
        }
        tmp.copy_from_slice(row);
        for count in 0..wc {
            for byte in 0..width {
                row[width * count + byte] = tmp[(width - byte - 1) * wc + count];
            }
        }
    }
}

/// Applies the floating-point predictor (3) in place to little-endian samples (libtiff
/// `fpDiff`), for writing little-endian files.
pub(crate) fn apply_floating_point(buf: &mut [u8], row_bytes: usize, spp: usize, width: usize) {
    let mut tmp = vec![0u8; row_bytes];
    let wc = row_bytes / width;
    for row in buf.chunks_exact_mut(row_bytes) {
        tmp.copy_from_slice(row);
        for count in 0..wc {
            for byte in 0..width {
                row[(width - byte - 1) * wc + count] = tmp[width * count + byte];
            }
        }
        for i in (spp..row_bytes).rev() {
            row[i] = row[i].wrapping_sub(row[i - spp]);
        }
    }
}

/// Compresses one prepared chunk (predictor already applied).
pub(crate) fn compress(data: &[u8], compression: Compression, level: u32) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Deflate => {
            // zlib-rs: 4x faster than miniz_oxide at level 6 on predicted u16 imagery
            let mut out = vec![0u8; zlib_rs::compress_bound(data.len())];
            let (packed, rc) =
                zlib_rs::compress_slice(&mut out, data, zlib_rs::DeflateConfig::new(level as i32));
            if rc == zlib_rs::ReturnCode::Ok {
                let n = packed.len();
                out.truncate(n);
                out
            } else {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
                // writing into a Vec cannot fail
                let _ = e.write_all(data);
                e.finish().unwrap_or_default()
            }
        }
        Compression::Lzw => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(data)
            .unwrap_or_default(),
        Compression::PackBits => packbits_encode(data),
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        Compression::Jpeg | Compression::Jpeg2000 => {
            unreachable!("RasterSpec::validate rejects JPEG and JPEG 2000 for writing")
        }
    }
}

/// PackBits run-length encoding.
pub(crate) fn packbits_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 128 + 1);
    let mut i = 0;
    while i < data.len() {
        let mut run = 1;
        while i + run < data.len() && run < 128 && data[i + run] == data[i] {
            run += 1;
        }
        if run >= 2 {
            out.push((1 - run as isize) as i8 as u8);
            out.push(data[i]);
            i += run;
            continue;
        }
        let start = i;
        while i < data.len() && i - start < 128 {
            if i + 1 < data.len() && data[i + 1] == data[i] {
                break;
            }
            i += 1;
        }
        if i == start {
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&data[start..i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_example_from_the_tiff_spec() {
        // TIFF 6.0 spec, section 9: packed and unpacked forms of the same data
        let packed: [u8; 15] = [
            0xFE, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7,
            0xAA,
        ];
        let unpacked: [u8; 24] = [
            0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22,
            0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
        ];
        let mut out = [0u8; 24];
        assert_eq!(packbits_decode(&packed, &mut out), Ok(24));
        assert_eq!(out, unpacked);
        let re = packbits_encode(&unpacked);
        let mut out2 = [0u8; 24];
        assert_eq!(packbits_decode(&re, &mut out2), Ok(24));
        assert_eq!(out2, unpacked);
    }

    #[test]
    fn predictors_invert() {
        let orig: Vec<u8> = (0..64u32).map(|i| (i * 37 % 251) as u8).collect();
        for (width, spp) in [(1, 1), (2, 2), (4, 1), (8, 2)] {
            for little in [true, false] {
                let mut b = orig.clone();
                apply_horizontal(&mut b, 32, spp, width, little);
                assert_ne!(b, orig);
                undo_horizontal(&mut b, 32, spp, width, little);
                assert_eq!(b, orig);
            }
            if width >= 4 {
                let mut b = orig.clone();
                apply_floating_point(&mut b, 32, spp, width);
                undo_floating_point(&mut b, 32, spp, width);
                assert_eq!(b, orig);
            }
        }
    }

    #[test]
    fn horizontal_u16_by_hand() {
        // samples 10, 12, 11 (little endian u16) -> differences 10, 2, 0xFFFF
        let mut b = vec![10, 0, 12, 0, 11, 0];
        apply_horizontal(&mut b, 6, 1, 2, true);
        assert_eq!(b, vec![10, 0, 2, 0, 0xFF, 0xFF]);
    }

    #[test]
    fn deflate_and_lzw_round_trip() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i / 7 % 256) as u8).collect();
        for c in [
            Compression::Deflate,
            Compression::Lzw,
            Compression::PackBits,
        ] {
            let packed = compress(&data, c, 6);
            let mut out = vec![0u8; data.len()];
            let n = match c {
                Compression::Deflate => inflate(&packed, &mut out),
                Compression::Lzw => lzw_decode(&packed, &mut out),
                _ => packbits_decode(&packed, &mut out),
            };
            assert_eq!(n, Ok(data.len()), "{c:?}");
            assert_eq!(out, data, "{c:?}");
        }
    }
}
