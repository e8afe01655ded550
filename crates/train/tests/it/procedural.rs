//! A scene whose pixels are computed on the fly (no files, nothing held in memory), 4 bands,
//! every pixel clear. Shared by the integration tests and `benches/inference.rs`.

use chronomap_geo::Window as PixelWindow;
use chronomap_train::{SceneReader, quality};

/// `height x width` pixels, `dates` dates, values in [-1, 1).
pub struct Procedural {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Number of dates.
    pub dates: usize,
}

impl SceneReader for Procedural {
    fn size(&self) -> [usize; 2] {
        [self.height, self.width]
    }
    fn channels(&self) -> usize {
        4
    }
    fn num_dates(&self) -> usize {
        self.dates
    }
    fn read(&self, date: usize, w: PixelWindow) -> chronomap_train::Result<(Vec<f32>, Vec<u8>)> {
        let mut img = Vec::with_capacity(4 * w.area());
        for c in 0..4 {
            for y in w.row..w.row + w.height {
                for x in w.col..w.col + w.width {
                    img.push(((x * 7 + y * 3 + c * 11 + date * 5) % 17) as f32 / 8.0 - 1.0);
                }
            }
        }
        Ok((img, vec![quality::CLEAR; w.area()]))
    }
}
