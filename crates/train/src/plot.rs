//! RGB8 images ([`Canvas`]) that the charts are drawn into, and a tiny line-chart renderer
//! (Bresenham lines and a built-in 5x7 bitmap font, no font file and no plotting library).
//! The learning curves are drawn with `plotters` (see `History::render`); [`LineChart`]
//! remains as its fallback and for callers that want a dependency-free chart.

use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// An RGB8 image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A `width x height` canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: [u8; 3]) -> Self {
        let mut pixels = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            pixels.extend_from_slice(&background);
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    /// A canvas of row-major RGB8 `pixels`; `None` unless `pixels.len() == width * height * 3`.
    pub fn from_rgb(width: usize, height: usize, pixels: Vec<u8>) -> Option<Self> {
        (pixels.len() == width * height * 3).then_some(Self {
            width,
            height,
            pixels,
        })
    }

    /// Canvases side by side, top-aligned, `gap` pixels apart, on `background`.
    pub fn hstack(parts: &[Canvas], gap: usize, background: [u8; 3]) -> Canvas {
        let width =
            parts.iter().map(|c| c.width).sum::<usize>() + gap * parts.len().saturating_sub(1);
        let height = parts.iter().map(|c| c.height).max().unwrap_or(0);
        let mut out = Canvas::new(width, height, background);
        let mut x0 = 0;
        for c in parts {
            for y in 0..c.height {
                let src = &c.pixels[y * c.width * 3..(y + 1) * c.width * 3];
                let at = (y * width + x0) * 3;
                out.pixels[at..at + src.len()].copy_from_slice(src);
            }
            x0 += c.width + gap;
        }
        out
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Row-major RGB8 pixels.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Colour of pixel (`x`, `y`), if inside.
    pub fn get(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        (x < self.width && y < self.height).then(|| {
            let i = (y * self.width + x) * 3;
            [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
        })
    }

    /// Sets pixel (`x`, `y`); outside pixels are ignored.
    pub fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.pixels[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Fills a rectangle.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// Draws a line `thickness` pixels wide (Bresenham).
    pub fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thickness: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let r = thickness / 2;
        loop {
            self.fill_rect(x - r, y - r, thickness, thickness, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Writes `text` with the 5x7 font at (`x`, `y`) (top-left), `scale` pixels per font dot.
    /// Lowercase letters are drawn as capitals; unknown characters as blanks.
    pub fn text(&mut self, x: i64, y: i64, text: &str, c: [u8; 3], scale: i64) {
        for (i, ch) in text.chars().enumerate() {
            let g = glyph(ch);
            let ox = x + i as i64 * 6 * scale;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.fill_rect(ox + col * scale, y + row as i64 * scale, scale, scale, c);
                    }
                }
            }
        }
    }

    /// Width in pixels of `text` at `scale`.
    pub fn text_width(text: &str, scale: i64) -> i64 {
        text.chars().count() as i64 * 6 * scale
    }

    /// Encodes the canvas as PNG.
    ///
    /// # Errors
    /// [`Error::Io`] (with `path` for context) if encoding fails.
    pub fn to_png(&self, path: &Path) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc
                .write_header()
                .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
            w.write_image_data(&self.pixels)
                .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        }
        Ok(out)
    }

    /// Writes the canvas as a PNG file, atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let bytes = self.to_png(path)?;
        write_atomic(path, &bytes)
    }
}

/// One curve of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Line colour.
    pub color: [u8; 3],
    /// `(x, y)` points; non-finite values are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A titled chart with a legend, drawn into a region of a [`Canvas`].
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// The curves.
    pub series: Vec<Series>,
}

const INK: [u8; 3] = [40, 40, 40];
const GRID: [u8; 3] = [225, 225, 225];

impl LineChart {
    /// Draws the chart into the rectangle (`x`, `y`, `w`, `h`) of `canvas`.
    pub fn draw(&self, canvas: &mut Canvas, x: i64, y: i64, w: i64, h: i64) {
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .collect();
        canvas.text(x + 8, y + 6, &self.title, INK, 2);
        let legend_h = 14 * self.series.len() as i64;
        let (px, py) = (x + 64, y + 28);
        let (pw, ph) = (w - 80, h - 28 - 30 - legend_h);
        if pw <= 10 || ph <= 10 {
            return;
        }
        let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(a, b) in &pts {
            xmin = xmin.min(a);
            xmax = xmax.max(a);
            ymin = ymin.min(b);
            ymax = ymax.max(b);
        }
        if pts.is_empty() {
            (xmin, xmax, ymin, ymax) = (0.0, 1.0, 0.0, 1.0);
        }
        if xmax - xmin < 1e-12 {
            xmax = xmin + 1.0;
        }
        if ymax - ymin < 1e-12 {
            ymax = ymin + 1.0;
        }
        let pad = 0.05 * (ymax - ymin);
        let (ymin, ymax) = (ymin - pad, ymax + pad);
        let to_px = |a: f64, b: f64| -> (i64, i64) {
            let u = (a - xmin) / (xmax - xmin);
            let v = (b - ymin) / (ymax - ymin);
            (
                px + (u * pw as f64).round() as i64,
                py + ph - (v * ph as f64).round() as i64,
            )
        };
        // Grid and ticks.
        for i in 0..=4 {
            let v = ymin + (ymax - ymin) * i as f64 / 4.0;
            let (_, yy) = to_px(xmin, v);
            canvas.line((px, yy), (px + pw, yy), GRID, 1);
            let label = format_tick(v);
            canvas.text(
                px - 6 - Canvas::text_width(&label, 1),
                yy - 3,
                &label,
                INK,
                1,
            );
        }
        let nx = ((xmax - xmin).round() as i64).clamp(1, 8);
        for i in 0..=nx {
            let v = xmin + (xmax - xmin) * i as f64 / nx as f64;
            let (xx, _) = to_px(v, ymin);
            canvas.line((xx, py), (xx, py + ph), GRID, 1);
            let label = format_tick(v);
            canvas.text(
                xx - Canvas::text_width(&label, 1) / 2,
                py + ph + 5,
                &label,
                INK,
                1,
            );
        }
        canvas.line((px, py), (px, py + ph), INK, 1);
        canvas.line((px, py + ph), (px + pw, py + ph), INK, 1);
        canvas.text(
            px + pw / 2 - Canvas::text_width(&self.x_label, 1) / 2,
            py + ph + 16,
            &self.x_label,
            INK,
            1,
        );
        // Curves (a dot at every point, so single-epoch runs show up).
        for s in &self.series {
            let p: Vec<(i64, i64)> = s
                .points
                .iter()
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|&(a, b)| to_px(a, b))
                .collect();
            for seg in p.windows(2) {
                canvas.line(seg[0], seg[1], s.color, 2);
            }
            for &(a, b) in &p {
                canvas.fill_rect(a - 2, b - 2, 5, 5, s.color);
            }
        }
        // Legend under the axis label.
        for (i, s) in self.series.iter().enumerate() {
            let ly = py + ph + 30 + 14 * i as i64;
            canvas.line((px, ly + 3), (px + 20, ly + 3), s.color, 3);
            canvas.text(px + 28, ly, &s.name, INK, 1);
        }
    }
}

fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || v == v.round() && a < 1e6 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Distinct line colours (colour-blind friendly, Okabe-Ito).
pub const PALETTE: [[u8; 3]; 7] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
    [0, 0, 0],
];

/// The 5x7 glyph of `c` (7 rows of 5 bits, most significant bit on the left).
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_curves_and_encodes_png() {
        let mut c = Canvas::new(400, 300, [255; 3]);
        let chart = LineChart {
            title: "loss".into(),
            x_label: "epoch".into(),
            series: vec![Series {
                name: "train".into(),
                color: PALETTE[0],
                points: vec![(1.0, 2.0), (2.0, 1.0), (3.0, 0.5)],
            }],
        };
        chart.draw(&mut c, 0, 0, 400, 300);
        let coloured = c.pixels().chunks(3).filter(|p| *p == PALETTE[0]).count();
        assert!(coloured > 100, "curve pixels: {coloured}");
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("c.png");
        c.write_png(&p).expect("png");
        let bytes = std::fs::read(&p).expect("read");
        assert_eq!(&bytes[1..4], b"PNG");
    }

    #[test]
    fn every_printable_digit_has_a_glyph() {
        for ch in "0123456789abcdefghijklmnopqrstuvwxyz.-".chars() {
            assert!(glyph(ch).iter().any(|&r| r != 0), "{ch}");
        }
    }
}
