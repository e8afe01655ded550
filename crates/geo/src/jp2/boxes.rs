//! The JP2 file format (ISO 15444-1 annex I): the box structure around the codestream, and
//! the boxes that carry georeferencing (GMLJP2 `asoc`/`xml ` boxes, the GeoJP2 `uuid` box).
//! Every length is checked against the file before anything is read or allocated.

use super::{Fail, read_at};
use crate::error::Jp2Problem;
use crate::tiff_format::source::ByteSource;

/// The JP2 signature box (`jP  ` + `0D0A870A`).
pub(crate) const JP2_SIGNATURE: [u8; 12] = [
    0, 0, 0, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A,
];
/// The first marker segments of a raw codestream: SOC then SIZ.
pub(crate) const J2K_SIGNATURE: [u8; 4] = [0xFF, 0x4F, 0xFF, 0x51];
/// UUID of the GeoJP2 box (a degenerate GeoTIFF holding the georeferencing).
const GEOJP2_UUID: [u8; 16] = [
    0xB1, 0x4B, 0xF8, 0xBD, 0x08, 0x3D, 0x4B, 0x43, 0xA5, 0xAE, 0x8C, 0xD7, 0xD5, 0xA6, 0xCE, 0x03,
];
/// Largest metadata box (GML, GeoJP2 TIFF) read into memory.
const MAX_METADATA_BYTES: u64 = 16 << 20;
/// Most boxes looked at (top level and inside `asoc` boxes together).
const MAX_BOXES: usize = 100_000;
/// Deepest nesting of `asoc` boxes followed.
const MAX_DEPTH: usize = 8;

/// What the box structure of a JP2 file holds.
#[derive(Debug, Default)]
pub(crate) struct Jp2Boxes {
    /// Offset and length of the first contiguous codestream box's payload.
    pub(crate) codestream: Option<(u64, u64)>,
    /// The XML of the first GMLJP2 `gml.root-instance` box.
    pub(crate) gml: Option<String>,
    /// The degenerate GeoTIFF of the first GeoJP2 `uuid` box.
    pub(crate) geojp2: Option<Vec<u8>>,
}

/// One box header.
struct BoxHeader {
    kind: [u8; 4],
    /// Offset of the box (its length field).
    start: u64,
    /// Offset of its payload.
    payload: u64,
    /// End of the box (exclusive).
    end: u64,
}

fn kind_name(kind: &[u8; 4]) -> String {
    kind.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// Reads the box header at `at`, which must end by `limit`.
fn header(src: &dyn ByteSource, at: u64, limit: u64) -> Result<BoxHeader, Fail> {
    let mut h = [0u8; 8];
    read_at(src, &mut h, at, limit, "a box header")?;
    let kind = [h[4], h[5], h[6], h[7]];
    let lbox = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
    let (payload, end) = match lbox {
        0 => (at + 8, limit), // to the end of the file (or superbox)
        1 => {
            let mut x = [0u8; 8];
            read_at(src, &mut x, at + 8, limit, "a box's extended length")?;
            let xl = u64::from_be_bytes(x);
            if xl < 16 {
                return Err(Jp2Problem::BadBox {
                    kind: kind_name(&kind),
                    offset: at,
                    detail: "extended length below 16",
                }
                .into());
            }
            (at + 16, at.saturating_add(xl))
        }
        2..=7 => {
            return Err(Jp2Problem::BadBox {
                kind: kind_name(&kind),
                offset: at,
                detail: "length below 8",
            }
            .into());
        }
        n => (at + 8, at.saturating_add(n)),
    };
    if end > limit {
        return Err(Jp2Problem::Truncated {
            what: "a box",
            offset: at,
            end,
            len: limit,
        }
        .into());
    }
    Ok(BoxHeader {
        kind,
        start: at,
        payload,
        end,
    })
}

fn read_payload(src: &dyn ByteSource, b: &BoxHeader) -> Result<Option<Vec<u8>>, Fail> {
    let len = b.end - b.payload;
    if len > MAX_METADATA_BYTES {
        return Ok(None); // metadata this large is not georeferencing: ignored
    }
    let mut buf = vec![0u8; len as usize];
    read_at(src, &mut buf, b.payload, b.end, "a box")?;
    Ok(Some(buf))
}

/// Walks the top-level boxes of a JP2 file (whose signature has been checked).
pub(crate) fn parse_boxes(src: &dyn ByteSource) -> Result<Jp2Boxes, Fail> {
    let len = src.len();
    let mut out = Jp2Boxes::default();
    let mut at = JP2_SIGNATURE.len() as u64;
    let mut count = 0usize;
    while at < len {
        count += 1;
        if count > MAX_BOXES {
            return Err(Jp2Problem::BadBox {
                kind: String::new(),
                offset: at,
                detail: "more than 100000 boxes",
            }
            .into());
        }
        if len - at < 8 {
            // trailing padding shorter than a box header: ignored, as GDAL does
            break;
        }
        let b = header(src, at, len)?;
        match &b.kind {
            b"jp2c" if out.codestream.is_none() => {
                out.codestream = Some((b.payload, b.end - b.payload));
            }
            b"asoc" => walk_asoc(src, &b, &mut out, 0, &mut count)?,
            b"uuid" if out.geojp2.is_none() && b.end - b.payload > 16 => {
                let mut id = [0u8; 16];
                read_at(src, &mut id, b.payload, b.end, "a uuid box")?;
                if id == GEOJP2_UUID {
                    let tiff = BoxHeader {
                        kind: b.kind,
                        start: b.start,
                        payload: b.payload + 16,
                        end: b.end,
                    };
                    out.geojp2 = read_payload(src, &tiff)?;
                }
            }
            _ => {}
        }
        if b.end <= at {
            break;
        }
        at = b.end;
    }
    Ok(out)
}

/// Looks inside an `asoc` box for GMLJP2: an `asoc` labelled `gml.data` holding an `asoc`
/// labelled `gml.root-instance` whose `xml ` box is the GML (GMLJP2 1.0, as GDAL and ESA
/// write it). Any `xml ` box under a `gml.root-instance` label is taken.
fn walk_asoc(
    src: &dyn ByteSource,
    parent: &BoxHeader,
    out: &mut Jp2Boxes,
    depth: usize,
    count: &mut usize,
) -> Result<(), Fail> {
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let mut label: Option<Vec<u8>> = None;
    let mut at = parent.payload;
    while at + 8 <= parent.end {
        *count += 1;
        if *count > MAX_BOXES {
            return Ok(());
        }
        let b = header(src, at, parent.end)?;
        match &b.kind {
            b"lbl " if b.end - b.payload <= 1024 => label = read_payload(src, &b)?,
            b"asoc" => walk_asoc(src, &b, out, depth + 1, count)?,
            b"xml " if out.gml.is_none() => {
                let root = label
                    .as_deref()
                    .is_some_and(|l| l.trim_ascii_end().starts_with(b"gml.root-instance"));
                if root && let Some(bytes) = read_payload(src, &b)? {
                    out.gml = Some(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            _ => {}
        }
        if b.end <= at {
            break;
        }
        at = b.end;
    }
    Ok(())
}
