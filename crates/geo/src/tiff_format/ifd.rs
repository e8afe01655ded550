//! TIFF/BigTIFF header and IFD parsing with every offset and count checked against the file
//! length before anything is allocated.

use super::source::ByteSource;
use super::tags;
use crate::error::{TiffProblem, Unsupported};

/// Largest number of entries accepted in one IFD (a real GeoTIFF has ~30).
const MAX_ENTRIES: u64 = 10_000;
/// Largest tag payload read into memory (an offsets array of 64 M tiles).
const MAX_TAG_BYTES: u64 = 512 << 20;
/// Most IFDs followed along the chain (COGs have ~10 overviews + masks).
pub(crate) const MAX_IFDS: usize = 4096;

/// A TIFF parsing failure before the file path is attached.
pub(crate) type Fail = crate::error::Fail<TiffProblem>;

/// One IFD entry; the value is inline or at `offset`.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) tag: u16,
    pub(crate) field_type: u16,
    pub(crate) count: u64,
    raw: [u8; 8],
    inline: bool,
}

/// An image file directory.
#[derive(Debug, Clone)]
pub(crate) struct Ifd {
    entries: Vec<Entry>,
    /// Offset of the next IFD, 0 at the end of the chain.
    pub(crate) next: u64,
}

impl Ifd {
    pub(crate) fn entry(&self, tag: u16) -> Option<&Entry> {
        self.entries
            .binary_search_by_key(&tag, |e| e.tag)
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// The header of a TIFF file, which knows how to read values from its source.
pub(crate) struct TiffFile<'a> {
    src: &'a dyn ByteSource,
    pub(crate) little: bool,
    pub(crate) bigtiff: bool,
    pub(crate) first_ifd: u64,
}

impl<'a> TiffFile<'a> {
    /// Parses the 8- or 16-byte header.
    pub(crate) fn parse(src: &'a dyn ByteSource) -> Result<Self, Fail> {
        let len = src.len();
        let mut head = [0u8; 16];
        let n = len.min(16) as usize;
        src.read_exact_at(&mut head[..n], 0).map_err(Fail::Io)?;
        let little = match &head[..2.min(n)] {
            b"II" => true,
            b"MM" => false,
            _ => {
                return Err(TiffProblem::NotTiff {
                    magic: head[..n.min(12)].to_vec(),
                }
                .into());
            }
        };
        if n < 8 {
            return Err(TiffProblem::Truncated {
                what: "header",
                offset: 0,
                end: 8,
                file_len: len,
            }
            .into());
        }
        let mut file = TiffFile {
            src,
            little,
            bigtiff: false,
            first_ifd: 0,
        };
        match file.u16_at(&head[2..4]) {
            42 => file.first_ifd = u64::from(file.u32_at(&head[4..8])),
            43 => {
                if n < 16 {
                    return Err(TiffProblem::Truncated {
                        what: "BigTIFF header",
                        offset: 0,
                        end: 16,
                        file_len: len,
                    }
                    .into());
                }
                let offset_size = file.u16_at(&head[4..6]);
                if offset_size != 8 {
                    return Err(Unsupported::OffsetSize(offset_size).into());
                }
                file.bigtiff = true;
                file.first_ifd = file.u64_at(&head[8..16]);
            }
            _ => {
                return Err(TiffProblem::NotTiff {
                    magic: head[..n.min(12)].to_vec(),
                }
                .into());
            }
        }
        Ok(file)
    }

    /// A header parsed earlier, re-attached to its source.
    pub(crate) fn from_parts(src: &'a dyn ByteSource, little: bool, bigtiff: bool) -> Self {
        TiffFile {
            src,
            little,
            bigtiff,
            first_ifd: 0,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.src.len()
    }

    pub(crate) fn u16_at(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.little {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        }
    }

    pub(crate) fn u32_at(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    }

    pub(crate) fn u64_at(&self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.little {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    }

    /// Reads `len` bytes at `offset`, failing with `Truncated` if they are not all in the file.
    pub(crate) fn read(&self, what: &'static str, offset: u64, len: u64) -> Result<Vec<u8>, Fail> {
        let file_len = self.src.len();
        let end = offset.checked_add(len).filter(|&e| e <= file_len);
        let Some(end) = end else {
            return Err(TiffProblem::Truncated {
                what,
                offset,
                end: offset.saturating_add(len),
                file_len,
            }
            .into());
        };
        let mut buf = vec![0u8; (end - offset) as usize];
        self.src.read_exact_at(&mut buf, offset).map_err(Fail::Io)?;
        Ok(buf)
    }

    /// Reads `buf.len()` bytes at `offset` into `buf`.
    pub(crate) fn read_into(&self, buf: &mut [u8], offset: u64) -> Result<(), Fail> {
        self.src.read_exact_at(buf, offset).map_err(Fail::Io)
    }

    /// Parses the IFD at `offset`.
    pub(crate) fn read_ifd(&self, offset: u64) -> Result<Ifd, Fail> {
        let (count_size, entry_size, next_size) = if self.bigtiff {
            (8u64, 20u64, 8u64)
        } else {
            (2, 12, 4)
        };
        if offset < 8 {
            return Err(TiffProblem::Truncated {
                what: "IFD (offset inside the header)",
                offset,
                end: offset + count_size,
                file_len: self.len(),
            }
            .into());
        }
        let head = self.read("IFD entry count", offset, count_size)?;
        let count = if self.bigtiff {
            self.u64_at(&head)
        } else {
            u64::from(self.u16_at(&head))
        };
        if count > MAX_ENTRIES {
            return Err(TiffProblem::TooManyEntries { offset, count }.into());
        }
        let body = self.read(
            "IFD entries",
            offset + count_size,
            count * entry_size + next_size,
        )?;
        let mut entries = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let e = &body[i * entry_size as usize..(i + 1) * entry_size as usize];
            let tag = self.u16_at(&e[0..2]);
            let field_type = self.u16_at(&e[2..4]);
            let (count, value) = if self.bigtiff {
                (self.u64_at(&e[4..12]), &e[12..20])
            } else {
                (u64::from(self.u32_at(&e[4..8])), &e[8..12])
            };
            let mut raw = [0u8; 8];
            raw[..value.len()].copy_from_slice(value);
            let inline_cap = if self.bigtiff { 8 } else { 4 };
            let inline = tags::type_size(field_type)
                .and_then(|s| s.checked_mul(count))
                .is_some_and(|bytes| bytes <= inline_cap);
            entries.push(Entry {
                tag,
                field_type,
                count,
                raw,
                inline,
            });
        }
        entries.sort_by_key(|e| e.tag);
        let tail = &body[(count * entry_size) as usize..];
        let next = if self.bigtiff {
            self.u64_at(tail)
        } else {
            u64::from(self.u32_at(tail))
        };
        Ok(Ifd { entries, next })
    }

    /// Number of images that follow an IFD whose next pointer is `next` (overviews and masks
    /// of COGs). Lenient: stops at a loop, after [`MAX_IFDS`], or at an unreadable IFD, since a
    /// broken chain after the first image does not prevent reading it.
    pub(crate) fn count_following(&self, first: u64, mut next: u64) -> usize {
        let mut seen = vec![first];
        while next != 0 && !seen.contains(&next) && seen.len() < MAX_IFDS {
            seen.push(next);
            match self.read_ifd(next) {
                Ok(i) => next = i.next,
                Err(_) => return seen.len() - 2,
            }
        }
        seen.len() - 1
    }

    /// Raw value bytes of an entry, in file byte order.
    fn value_bytes(&self, e: &Entry) -> Result<Vec<u8>, Fail> {
        let size = tags::type_size(e.field_type).ok_or(TiffProblem::BadTagShape {
            tag: tags::name(e.tag),
            field_type: e.field_type,
            count: e.count,
        })?;
        let bytes = size
            .checked_mul(e.count)
            .filter(|&b| b <= MAX_TAG_BYTES)
            .ok_or(TiffProblem::BadTagShape {
                tag: tags::name(e.tag),
                field_type: e.field_type,
                count: e.count,
            })?;
        if e.inline {
            return Ok(e.raw[..bytes as usize].to_vec());
        }
        let offset = if self.bigtiff {
            self.u64_at(&e.raw)
        } else {
            u64::from(self.u32_at(&e.raw))
        };
        self.read(tags::name(e.tag), offset, bytes)
    }

    /// Integer values of a tag (BYTE, SHORT, LONG, LONG8, IFD types); `None` if absent.
    pub(crate) fn u64s(&self, ifd: &Ifd, tag: u16) -> Result<Option<Vec<u64>>, Fail> {
        let Some(e) = ifd.entry(tag) else {
            return Ok(None);
        };
        let bytes = self.value_bytes(e)?;
        let v = match e.field_type {
            tags::BYTE | tags::UNDEFINED => bytes.iter().map(|&b| u64::from(b)).collect(),
            tags::SHORT => bytes
                .chunks_exact(2)
                .map(|c| u64::from(self.u16_at(c)))
                .collect(),
            tags::LONG | tags::IFD => bytes
                .chunks_exact(4)
                .map(|c| u64::from(self.u32_at(c)))
                .collect(),
            tags::LONG8 | tags::IFD8 => bytes.chunks_exact(8).map(|c| self.u64_at(c)).collect(),
            _ => {
                return Err(TiffProblem::BadTagShape {
                    tag: tags::name(tag),
                    field_type: e.field_type,
                    count: e.count,
                }
                .into());
            }
        };
        Ok(Some(v))
    }

    /// First integer value of a tag; `None` if absent, an error if present but empty.
    pub(crate) fn u64(&self, ifd: &Ifd, tag: u16) -> Result<Option<u64>, Fail> {
        match self.u64s(ifd, tag)? {
            None => Ok(None),
            Some(v) => match v.first() {
                Some(&x) => Ok(Some(x)),
                None => Err(TiffProblem::BadTagShape {
                    tag: tags::name(tag),
                    field_type: ifd.entry(tag).map_or(0, |e| e.field_type),
                    count: 0,
                }
                .into()),
            },
        }
    }

    /// Floating-point values of a tag (DOUBLE, FLOAT, RATIONAL or integer types).
    pub(crate) fn f64s(&self, ifd: &Ifd, tag: u16) -> Result<Option<Vec<f64>>, Fail> {
        let Some(e) = ifd.entry(tag) else {
            return Ok(None);
        };
        let v = match e.field_type {
            tags::DOUBLE => self
                .value_bytes(e)?
                .chunks_exact(8)
                .map(|c| f64::from_bits(self.u64_at(c)))
                .collect(),
            tags::FLOAT => self
                .value_bytes(e)?
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_bits(self.u32_at(c))))
                .collect(),
            tags::RATIONAL => self
                .value_bytes(e)?
                .chunks_exact(8)
                .map(|c| f64::from(self.u32_at(&c[..4])) / f64::from(self.u32_at(&c[4..])))
                .collect(),
            _ => match self.u64s(ifd, tag)? {
                Some(v) => v.into_iter().map(|x| x as f64).collect(),
                None => return Ok(None),
            },
        };
        Ok(Some(v))
    }

    /// The raw value bytes of a tag (e.g. UNDEFINED `JPEGTables`); `None` if absent.
    pub(crate) fn bytes(&self, ifd: &Ifd, tag: u16) -> Result<Option<Vec<u8>>, Fail> {
        match ifd.entry(tag) {
            None => Ok(None),
            Some(e) => self.value_bytes(e).map(Some),
        }
    }

    /// ASCII value of a tag, up to the first NUL, with invalid UTF-8 replaced.
    pub(crate) fn ascii(&self, ifd: &Ifd, tag: u16) -> Result<Option<String>, Fail> {
        let Some(e) = ifd.entry(tag) else {
            return Ok(None);
        };
        if e.field_type != tags::ASCII && e.field_type != tags::BYTE {
            return Err(TiffProblem::BadTagShape {
                tag: tags::name(tag),
                field_type: e.field_type,
                count: e.count,
            }
            .into());
        }
        let bytes = self.value_bytes(e)?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Ok(Some(String::from_utf8_lossy(&bytes[..end]).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_magic_and_short_files() {
        for bytes in [
            b"GIF89a..".to_vec(),
            b"II".to_vec(),
            Vec::new(),
            b"II*\0\x08".to_vec(),
        ] {
            let r = TiffFile::parse(&bytes);
            assert!(
                matches!(r, Err(Fail::Problem(_))),
                "{bytes:?} gave {:?}",
                r.err()
            );
        }
    }

    #[test]
    fn ifd_offset_past_end_is_truncated() {
        let mut bytes = b"II*\0".to_vec();
        bytes.extend_from_slice(&1000u32.to_le_bytes());
        let f = TiffFile::parse(&bytes).unwrap();
        assert!(matches!(
            f.read_ifd(f.first_ifd),
            Err(Fail::Problem(TiffProblem::Truncated { offset: 1000, .. }))
        ));
    }

    #[test]
    fn ifd_loop_is_detected() {
        // header -> IFD at 8 with zero entries whose next pointer is 8 again
        let mut bytes = b"II*\0".to_vec();
        bytes.extend_from_slice(&8u32.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&8u32.to_le_bytes());
        let f = TiffFile::parse(&bytes).unwrap();
        let first = f.read_ifd(f.first_ifd).unwrap();
        assert_eq!(first.next, 8);
        assert_eq!(f.count_following(f.first_ifd, first.next), 0);
    }
}
