//! Serialises one little-endian IFD (classic TIFF or BigTIFF) with its out-of-line values.

use super::tags;

/// Tags of one IFD, kept sorted by tag number as TIFF requires.
#[derive(Debug, Default)]
pub(crate) struct IfdBuilder {
    entries: Vec<(u16, u16, u64, Vec<u8>)>,
}

impl IfdBuilder {
    fn push(&mut self, tag: u16, field_type: u16, count: u64, data: Vec<u8>) {
        self.entries.retain(|e| e.0 != tag);
        self.entries.push((tag, field_type, count, data));
    }

    pub(crate) fn shorts(&mut self, tag: u16, v: &[u16]) {
        self.push(
            tag,
            tags::SHORT,
            v.len() as u64,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        );
    }

    pub(crate) fn short(&mut self, tag: u16, v: u16) {
        self.shorts(tag, &[v]);
    }

    pub(crate) fn long(&mut self, tag: u16, v: u32) {
        self.push(tag, tags::LONG, 1, v.to_le_bytes().to_vec());
    }

    /// Offsets or byte counts: LONG in classic TIFF, LONG8 in BigTIFF.
    pub(crate) fn offsets(&mut self, tag: u16, v: &[u64], bigtiff: bool) {
        let data = if bigtiff {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        } else {
            v.iter().flat_map(|&x| (x as u32).to_le_bytes()).collect()
        };
        self.push(
            tag,
            if bigtiff { tags::LONG8 } else { tags::LONG },
            v.len() as u64,
            data,
        );
    }

    pub(crate) fn doubles(&mut self, tag: u16, v: &[f64]) {
        self.push(
            tag,
            tags::DOUBLE,
            v.len() as u64,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        );
    }

    pub(crate) fn ascii(&mut self, tag: u16, s: &str) {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.push(tag, tags::ASCII, data.len() as u64, data);
    }

    /// Bytes of the IFD placed at `offset`, followed by its out-of-line values; the next-IFD
    /// pointer is 0.
    pub(crate) fn encode(&mut self, offset: u64, bigtiff: bool) -> Vec<u8> {
        self.encode_chained(offset, bigtiff, 0)
    }

    /// As [`encode`](Self::encode), with `next` as the next-IFD pointer (COG overviews). The
    /// length does not depend on `offset` or `next`.
    pub(crate) fn encode_chained(&mut self, offset: u64, bigtiff: bool, next: u64) -> Vec<u8> {
        self.entries.sort_by_key(|e| e.0);
        let (count_size, entry_size, ptr_size) = if bigtiff { (8, 20, 8) } else { (2, 12, 4) };
        let n = self.entries.len();
        let mut out = Vec::new();
        if bigtiff {
            out.extend_from_slice(&(n as u64).to_le_bytes());
        } else {
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        let mut values_at = offset + (count_size + n * entry_size + ptr_size) as u64;
        let mut values = Vec::new();
        for (tag, field_type, count, data) in &self.entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&field_type.to_le_bytes());
            if bigtiff {
                out.extend_from_slice(&count.to_le_bytes());
            } else {
                out.extend_from_slice(&(*count as u32).to_le_bytes());
            }
            if data.len() <= ptr_size {
                let mut inline = data.clone();
                inline.resize(ptr_size, 0);
                out.extend_from_slice(&inline);
            } else {
                if bigtiff {
                    out.extend_from_slice(&values_at.to_le_bytes());
                } else {
                    out.extend_from_slice(&(values_at as u32).to_le_bytes());
                }
                values.extend_from_slice(data);
                if values.len() % 2 == 1 {
                    values.push(0); // word alignment
                }
                values_at = offset + (count_size + n * entry_size + ptr_size + values.len()) as u64;
            }
        }
        if bigtiff {
            out.extend_from_slice(&next.to_le_bytes());
        } else {
            out.extend_from_slice(&(next as u32).to_le_bytes());
        }
        out.extend_from_slice(&values);
        out
    }
}
