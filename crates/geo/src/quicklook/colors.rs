//! Class colours.

use crate::class_table::{ClassTable, NODATA};

/// A 256-entry palette: the table's class colours, black for 255 (nodata), and distinct
/// deterministic colours for ids the table does not declare.
pub fn class_colors(table: &ClassTable) -> Vec<[u8; 3]> {
    let mut colors: Vec<[u8; 3]> = (0..256u32)
        .map(|i| {
            // golden-ratio hue walk, full saturation, for undeclared ids
            let h = (i as f64 * 0.618_033_988_75).fract() * 6.0;
            let x = (1.0 - (h % 2.0 - 1.0).abs()) * 200.0;
            let (r, g, b) = match h as u32 {
                0 => (200.0, x, 0.0),
                1 => (x, 200.0, 0.0),
                2 => (0.0, 200.0, x),
                3 => (0.0, x, 200.0),
                4 => (x, 0.0, 200.0),
                _ => (200.0, 0.0, x),
            };
            [r as u8 + 30, g as u8 + 30, b as u8 + 30]
        })
        .collect();
    for c in &table.classes {
        colors[c.id as usize] = c.color;
    }
    colors[NODATA as usize] = [0, 0, 0];
    colors
}

/// Class ids -> RGB (`[len, 3]`).
pub fn colorize(classes: &[u8], colors: &[[u8; 3]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(classes.len() * 3);
    for &c in classes {
        out.extend_from_slice(colors.get(c as usize).unwrap_or(&[0, 0, 0]));
    }
    out
}
