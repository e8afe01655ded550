//! Class maps with a legend strip (colour swatch + class name per class).

use std::path::Path;

use super::colors::{class_colors, colorize};
use super::png_file::write_rgb_png;
use super::text::{draw_text, text_width};
use crate::class_table::{ClassTable, NODATA};
use crate::error::{Error, Result};

/// One legend line: a colour and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegendEntry {
    /// Label text.
    pub name: String,
    /// Swatch colour.
    pub color: [u8; 3],
}

/// Legend entries for the table's classes in table order; with `present`, only the classes
/// occurring in it (plus `nodata` when 255 occurs).
pub fn legend_for_table(table: &ClassTable, present: Option<&[u8]>) -> Vec<LegendEntry> {
    let mut seen = [present.is_none(); 256];
    if let Some(p) = present {
        for &v in p {
            seen[v as usize] = true;
        }
    }
    let mut out: Vec<LegendEntry> = table
        .classes
        .iter()
        .filter(|c| seen[c.id as usize])
        .map(|c| LegendEntry {
            name: format!("{} {}", c.id, c.name),
            color: c.color,
        })
        .collect();
    if present.is_some() && seen[NODATA as usize] && table.class(NODATA).is_none() {
        out.push(LegendEntry {
            name: "255 nodata".into(),
            color: [0, 0, 0],
        });
    }
    out
}

/// Appends a legend strip below an RGB8 image (`rgb`: `[height, width, 3]`). The image is
/// widened (white margin on the right) if the widest entry does not fit.
///
/// # Shapes
/// Returns `(rgb, width, height)` of the new image, `[height, width, 3]`.
pub fn with_legend(
    width: usize,
    height: usize,
    rgb: &[u8],
    entries: &[LegendEntry],
) -> (Vec<u8>, usize, usize) {
    let scale = if width >= 1024 { 2 } else { 1 };
    let (pad, line) = (4 * scale, 12 * scale);
    let entry_width =
        |e: &LegendEntry| 8 * scale + 4 * scale + text_width(&e.name, scale) + 2 * pad;
    let out_w = width.max(entries.iter().map(entry_width).max().unwrap_or(0) + pad);
    // lay the entries out left to right, wrapping
    let mut places = Vec::new();
    let (mut x, mut y) = (pad, pad);
    for e in entries {
        if x > pad && x + entry_width(e) > out_w {
            x = pad;
            y += line;
        }
        places.push((x, y));
        x += entry_width(e);
    }
    let strip = if entries.is_empty() {
        0
    } else {
        y + line + pad
    };
    let out_h = height + strip;
    let mut out = vec![255u8; out_w * out_h * 3];
    for r in 0..height {
        out[r * out_w * 3..(r * out_w + width) * 3]
            .copy_from_slice(&rgb[r * width * 3..(r + 1) * width * 3]);
    }
    for (e, &(x, y)) in entries.iter().zip(&places) {
        let y = height + y;
        for dy in 0..8 * scale {
            for dx in 0..8 * scale {
                let o = ((y + dy) * out_w + x + dx) * 3;
                out[o..o + 3].copy_from_slice(&e.color);
            }
        }
        draw_text(
            &mut out,
            (out_w, out_h),
            (x + 12 * scale, y),
            &e.name,
            [0, 0, 0],
            scale,
        );
    }
    (out, out_w, out_h)
}

/// Writes a class map (`classes`: `[height, width]`) as a PNG coloured with the table's
/// palette, with a legend of the classes present.
///
/// # Errors
/// [`Error::DataLength`] if `classes.len() != width * height`; as
/// [`write_rgb_png`](super::write_rgb_png).
pub fn write_class_map_png(
    path: impl AsRef<Path>,
    width: usize,
    height: usize,
    classes: &[u8],
    table: &ClassTable,
) -> Result<()> {
    if classes.len() != width * height {
        return Err(Error::DataLength {
            expected: width * height,
            actual: classes.len(),
        });
    }
    let rgb = colorize(classes, &class_colors(table));
    let (img, w, h) = with_legend(width, height, &rgb, &legend_for_table(table, Some(classes)));
    write_rgb_png(path, w, h, &img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_lists_present_classes_and_keeps_the_map() {
        let t = ClassTable::default();
        let classes = [0u8, 1, 1, 255];
        let entries = legend_for_table(&t, Some(&classes));
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["0 background", "1 building", "255 nodata"]);
        let rgb = colorize(&classes, &class_colors(&t));
        let (img, w, h) = with_legend(2, 2, &rgb, &entries);
        assert!(w > 2 && h > 2);
        // the map's pixels are unchanged at the top-left
        assert_eq!(&img[..6], &rgb[..6]);
        assert_eq!(&img[w * 3..w * 3 + 6], &rgb[6..12]);
        // the building swatch colour appears in the strip
        assert!(
            img[h.min(3) * w * 3..]
                .chunks(3)
                .any(|p| p == [220, 40, 40])
        );
    }
}
