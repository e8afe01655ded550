//! The JPEG 2000 codestream (ISO 15444-1 annex A): the main header's SIZ and COD/COC marker
//! segments, and an index of every tile-part (SOT) so that one tile can be decoded without
//! the decoder walking past all the others.

use super::{Fail, read_at};
use crate::error::{Jp2Problem, Unsupported};
use crate::tiff_format::source::ByteSource;

const SOC: u16 = 0xFF4F;
const SIZ: u16 = 0xFF51;
const COD: u16 = 0xFF52;
const COC: u16 = 0xFF53;
const TLM: u16 = 0xFF55;
const PLM: u16 = 0xFF57;
const PPM: u16 = 0xFF60;
const SOT: u16 = 0xFF90;
pub(crate) const EOC: u16 = 0xFFD9;

/// Most tiles a codestream may declare (`Isot` is 16 bits).
const MAX_TILES: u64 = 65_535;
/// Most samples (pixels x components) of one tile: beyond this the decoder's per-tile
/// bookkeeping alone would take gigabytes.
pub(crate) const MAX_TILE_SAMPLES: u64 = 1 << 32;
/// Most tile-parts indexed.
const MAX_TILE_PARTS: usize = 1 << 20;
/// Most bytes of main-header marker segments kept (PLM and TLM are dropped).
const MAX_HEADER_BYTES: u64 = 64 << 20;

/// One component's sample format (SIZ `Ssiz`, `XRsiz`, `YRsiz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Component {
    pub(crate) precision: u8,
    pub(crate) signed: bool,
    pub(crate) dx: u8,
    pub(crate) dy: u8,
}

/// The image and tile geometry from SIZ, on the reference grid.
#[derive(Debug, Clone)]
pub(crate) struct Siz {
    /// Image area: `x0..x1` by `y0..y1` (XOsiz..Xsiz, YOsiz..Ysiz).
    pub(crate) x0: u32,
    pub(crate) y0: u32,
    pub(crate) x1: u32,
    pub(crate) y1: u32,
    /// Tile size and tile grid origin.
    pub(crate) tw: u32,
    pub(crate) th: u32,
    pub(crate) tx0: u32,
    pub(crate) ty0: u32,
    pub(crate) components: Vec<Component>,
}

impl Siz {
    pub(crate) fn width(&self) -> u32 {
        self.x1 - self.x0
    }

    pub(crate) fn height(&self) -> u32 {
        self.y1 - self.y0
    }

    /// Tiles across and down.
    pub(crate) fn tile_grid(&self) -> (u32, u32) {
        (
            (self.x1 - self.tx0).div_ceil(self.tw),
            (self.y1 - self.ty0).div_ceil(self.th),
        )
    }
}

/// What the main header and tile-part index say.
#[derive(Debug)]
pub(crate) struct Codestream {
    /// Offset and length of the codestream in the file.
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) siz: Siz,
    /// Fewest wavelet decomposition levels of any component (COD, COC of the main header):
    /// the largest reduction factor that can be decoded.
    pub(crate) levels: u8,
    /// The main header to decode with (SOC and every marker segment but TLM and PLM, which
    /// index the whole codestream), when tiles can be decoded alone; `None` when the main
    /// header packs the packet headers of all tiles (PPM) and the whole codestream must be
    /// given to the decoder.
    pub(crate) header: Option<Vec<u8>>,
    /// Per tile (row-major), its tile-parts: (offset in the file, length).
    pub(crate) tile_parts: Vec<Vec<(u64, u64)>>,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn marker_err(marker: u16, offset: u64, detail: impl Into<String>) -> Fail {
    Jp2Problem::BadMarker {
        marker,
        offset,
        detail: detail.into(),
    }
    .into()
}

fn size_err(detail: String) -> Fail {
    Jp2Problem::BadSize { detail }.into()
}

fn parse_siz(seg: &[u8], offset: u64) -> Result<Siz, Fail> {
    // seg: the segment after the marker, starting with Lsiz
    if seg.len() < 38 {
        return Err(marker_err(SIZ, offset, "shorter than 38 bytes"));
    }
    let csiz = u16_at(seg, 36) as usize;
    if csiz == 0 || csiz > 16_384 || seg.len() < 38 + 3 * csiz {
        return Err(marker_err(
            SIZ,
            offset,
            format!("{csiz} components in {} bytes", seg.len()),
        ));
    }
    let f = |i: usize| u32_at(seg, 4 + 4 * i);
    let siz = Siz {
        x1: f(0),
        y1: f(1),
        x0: f(2),
        y0: f(3),
        tw: f(4),
        th: f(5),
        tx0: f(6),
        ty0: f(7),
        components: (0..csiz)
            .map(|c| {
                let s = seg[38 + 3 * c];
                Component {
                    precision: (s & 0x7F) + 1,
                    signed: s & 0x80 != 0,
                    dx: seg[39 + 3 * c],
                    dy: seg[40 + 3 * c],
                }
            })
            .collect(),
    };
    let s = &siz;
    if s.x1 <= s.x0 || s.y1 <= s.y0 || s.tw == 0 || s.th == 0 {
        return Err(size_err(format!(
            "an empty image or tile: image {}..{} x {}..{}, tiles {}x{}",
            s.x0, s.x1, s.y0, s.y1, s.tw, s.th
        )));
    }
    // A.5.1: the first tile must overlap the image area
    if s.tx0 > s.x0
        || s.ty0 > s.y0
        || u64::from(s.tx0) + u64::from(s.tw) <= u64::from(s.x0)
        || u64::from(s.ty0) + u64::from(s.th) <= u64::from(s.y0)
    {
        return Err(size_err(format!(
            "a tile grid at ({}, {}) that misses the image area at ({}, {})",
            s.tx0, s.ty0, s.x0, s.y0
        )));
    }
    let (across, down) = s.tile_grid();
    let tiles = u64::from(across) * u64::from(down);
    if tiles > MAX_TILES {
        return Err(size_err(format!(
            "{across} x {down} = {tiles} tiles of {}x{} pixels, more than {MAX_TILES}",
            s.tw, s.th
        )));
    }
    let tile_samples =
        u64::from(s.tw.min(s.width())) * u64::from(s.th.min(s.height())) * csiz as u64;
    if tile_samples > MAX_TILE_SAMPLES {
        return Err(size_err(format!(
            "tiles of {}x{} pixels with {csiz} components ({tile_samples} samples), more than \
             the {MAX_TILE_SAMPLES} chronomap decodes",
            s.tw.min(s.width()),
            s.th.min(s.height())
        )));
    }
    for c in &s.components {
        if c.dx == 0 || c.dy == 0 {
            return Err(marker_err(SIZ, offset, "a component subsampling of 0"));
        }
        if c.precision > 38 {
            return Err(marker_err(SIZ, offset, "a precision above 38 bits"));
        }
    }
    if s.components.iter().any(|c| c.dx != 1 || c.dy != 1) {
        return Err(
            Unsupported::Jpeg2000("component subsampling (XRsiz/YRsiz other than 1)").into(),
        );
    }
    let first = s.components[0];
    if s.components
        .iter()
        .any(|c| c.precision != first.precision || c.signed != first.signed)
    {
        return Err(Unsupported::MixedSamples.into());
    }
    if first.precision > 31 {
        return Err(Unsupported::Jpeg2000("samples of more than 31 bits").into());
    }
    Ok(siz)
}

/// Decomposition levels and transform of a COD (`coc` false) or COC segment.
fn parse_levels(seg: &[u8], coc: bool, csiz: usize, offset: u64) -> Result<u8, Fail> {
    // COD: Lcod(2) Scod(1) SGcod(4) NL(1) xcb ycb style transform
    // COC: Lcoc(2) Ccoc(1|2) Scoc(1) NL(1) xcb ycb style transform
    let base = if coc {
        2 + if csiz < 257 { 1 } else { 2 } + 1
    } else {
        2 + 1 + 4
    };
    let marker = if coc { COC } else { COD };
    if seg.len() < base + 5 {
        return Err(marker_err(marker, offset, "too short"));
    }
    let levels = seg[base];
    if levels > 32 {
        return Err(marker_err(
            marker,
            offset,
            format!("{levels} decomposition levels"),
        ));
    }
    Ok(levels)
}

/// Parses the main header and indexes the tile-parts of the codestream at
/// `offset..offset + len` of `src`.
pub(crate) fn parse_codestream(
    src: &dyn ByteSource,
    offset: u64,
    len: u64,
) -> Result<Codestream, Fail> {
    let end = offset + len;
    let mut two = [0u8; 2];
    read_at(src, &mut two, offset, end, "the SOC marker")?;
    if u16::from_be_bytes(two) != SOC {
        return Err(marker_err(
            u16::from_be_bytes(two),
            offset,
            "the codestream does not start with SOC (0xff4f)",
        ));
    }
    let mut header = vec![0xFF, 0x4F];
    let mut keep = true;
    let mut siz: Option<Siz> = None;
    let mut levels: Option<u8> = None;
    let mut at = offset + 2;
    let first_sot = loop {
        let mut m = [0u8; 4];
        read_at(src, &mut m, at, end, "a main-header marker segment")?;
        let marker = u16_at(&m, 0);
        if marker == SOT {
            break at;
        }
        if marker >> 8 != 0xFF || marker < 0xFF30 {
            return Err(marker_err(marker, at, "not a marker (main header)"));
        }
        let seg_len = u64::from(u16_at(&m, 2));
        if seg_len < 2 {
            return Err(marker_err(marker, at, format!("length {seg_len}")));
        }
        let seg_end = at + 2 + seg_len;
        if seg_end > end {
            return Err(Jp2Problem::Truncated {
                what: "a main-header marker segment",
                offset: at,
                end: seg_end,
                len: end,
            }
            .into());
        }
        if header.len() as u64 + seg_len + 2 > MAX_HEADER_BYTES {
            return Err(marker_err(marker, at, "main header larger than 64 MiB"));
        }
        let wanted = !matches!(marker, TLM | PLM);
        if wanted || matches!(marker, SIZ | COD | COC) {
            let mut seg = vec![0u8; seg_len as usize];
            read_at(
                src,
                &mut seg,
                at + 2,
                seg_end,
                "a main-header marker segment",
            )?;
            match marker {
                SIZ if siz.is_none() => siz = Some(parse_siz(&seg, at)?),
                SIZ => return Err(marker_err(marker, at, "a second SIZ")),
                COD | COC => {
                    let s = siz
                        .as_ref()
                        .ok_or_else(|| marker_err(marker, at, "before SIZ"))?;
                    let l = parse_levels(&seg, marker == COC, s.components.len(), at)?;
                    levels = Some(levels.map_or(l, |v| v.min(l)));
                }
                PPM => keep = false,
                _ => {}
            }
            if wanted {
                header.extend_from_slice(&m[..2]);
                header.extend_from_slice(&seg);
            }
        }
        at = seg_end;
    };
    let siz = siz.ok_or_else(|| marker_err(SIZ, offset, "missing from the main header"))?;
    let levels = levels.ok_or_else(|| marker_err(COD, offset, "missing from the main header"))?;
    // EOC at the very end (usual) is not part of the last tile-part
    let mut has_eoc = false;
    if len >= 4 {
        read_at(src, &mut two, end - 2, end, "the EOC marker")?;
        has_eoc = u16::from_be_bytes(two) == EOC;
    }
    let data_end = if has_eoc { end - 2 } else { end };
    let (across, down) = siz.tile_grid();
    let mut tile_parts = vec![Vec::new(); (across * down) as usize];
    let mut count = 0usize;
    at = first_sot;
    while at + 2 <= data_end {
        read_at(src, &mut two, at, data_end, "a tile-part header")?;
        let marker = u16::from_be_bytes(two);
        if marker == EOC {
            break;
        }
        if marker != SOT {
            return Err(marker_err(marker, at, "expected a tile-part (SOT) or EOC"));
        }
        let mut sot = [0u8; 12];
        read_at(src, &mut sot, at, data_end, "a tile-part header")?;
        let tile = u16_at(&sot, 4) as usize;
        let psot = u64::from(u32_at(&sot, 6));
        let part_len = if psot == 0 { data_end - at } else { psot };
        if u16_at(&sot, 2) != 10 || part_len < 14 {
            return Err(marker_err(
                SOT,
                at,
                format!("Lsot {} Psot {psot}", u16_at(&sot, 2)),
            ));
        }
        if tile >= tile_parts.len() {
            return Err(marker_err(
                SOT,
                at,
                format!("tile {tile}, but SIZ declares {} tiles", tile_parts.len()),
            ));
        }
        if at + part_len > data_end {
            return Err(Jp2Problem::Truncated {
                what: "a tile-part",
                offset: at,
                end: at + part_len,
                len: data_end,
            }
            .into());
        }
        count += 1;
        if count > MAX_TILE_PARTS {
            return Err(marker_err(SOT, at, "more than 2^20 tile-parts"));
        }
        tile_parts[tile].push((at, part_len));
        at += part_len;
    }
    Ok(Codestream {
        offset,
        len,
        siz,
        levels,
        header: keep.then_some(header),
        tile_parts,
    })
}
