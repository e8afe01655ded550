//! A small byte-bounded cache of decoded strips/tiles shared by the threads of one reader, so
//! that adjacent patch windows (and row-by-row scans of single-strip files) decode each chunk
//! once.

use std::sync::{Arc, Mutex};

use crate::tiff_format::codec::ChunkData;

/// A decoded chunk.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) data: ChunkData,
    pub(crate) bytes: Vec<u8>,
}

/// Most-recently-used list of decoded chunks, bounded by total bytes held (capacity); the newest entry is
/// kept even when it alone exceeds the budget.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    budget: usize,
    entries: Mutex<Vec<(usize, Arc<Decoded>)>>,
}

impl ChunkCache {
    pub(crate) fn new(budget: usize) -> Self {
        ChunkCache {
            budget,
            entries: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<Arc<Decoded>> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let pos = e.iter().position(|(i, _)| *i == index)?;
        let hit = e.remove(pos);
        let out = hit.1.clone();
        e.push(hit);
        Some(out)
    }

    pub(crate) fn put(&self, index: usize, chunk: Arc<Decoded>) {
        if self.budget == 0 {
            return;
        }
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.retain(|(i, _)| *i != index);
        e.push((index, chunk));
        // Charged by capacity: what the chunk holds in memory, not just what it uses.
        let mut total: usize = e.iter().map(|(_, c)| c.bytes.capacity()).sum();
        while total > self.budget && e.len() > 1 {
            total -= e.remove(0).1.bytes.capacity();
        }
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize) -> Arc<Decoded> {
        Arc::new(Decoded {
            data: ChunkData::Sparse,
            bytes: vec![0; n],
        })
    }

    #[test]
    fn evicts_least_recently_used() {
        let c = ChunkCache::new(100);
        c.put(1, chunk(40));
        c.put(2, chunk(40));
        assert!(c.get(1).is_some()); // 1 is now the most recent
        c.put(3, chunk(40)); // 120 > 100: evict 2
        assert!(c.get(2).is_none());
        assert!(c.get(1).is_some() && c.get(3).is_some());
        c.put(4, chunk(500)); // larger than the budget: kept alone
        assert!(c.get(4).is_some() && c.get(1).is_none());
    }
}
