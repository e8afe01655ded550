//! Pictures of confusion matrices (`confusion.png`): rows are the reference (truth) classes,
//! columns the predicted ones; each cell is coloured by its share of its row (the recall of
//! the row's class on the diagonal) and shows its pixel count and that share in percent.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use crate::chart::{draw_canvas, fit_text, rgb, text_centred, text_width};
use crate::error::{Error, Result};
use crate::metrics::ConfusionMatrix;
use crate::plot::Canvas;

/// Colour of a cell holding none of its row (white-ish blue).
pub const CONFUSION_LOW: [u8; 3] = [247, 251, 255];
/// Colour of a cell holding all of its row (dark blue).
pub const CONFUSION_HIGH: [u8; 3] = [8, 48, 107];
/// Colour of the cells of a row without reference pixels (its shares are undefined).
pub const CONFUSION_EMPTY_ROW: [u8; 3] = [232, 232, 232];

const INK: [u8; 3] = [40, 40, 40];
const BACKGROUND: [u8; 3] = [255, 255, 255];

/// Colour of a cell holding `fraction` (0..=1) of its row: the straight line from
/// [`CONFUSION_LOW`] to [`CONFUSION_HIGH`], channel by channel, rounded to the nearest value.
pub fn confusion_color(fraction: f64) -> [u8; 3] {
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    std::array::from_fn(|i| {
        let (a, b) = (CONFUSION_LOW[i] as f64, CONFUSION_HIGH[i] as f64);
        (a + f * (b - a)).round() as u8
    })
}

/// Where things are on a confusion picture of `n` classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Left edge of the first column of cells.
    left: i32,
    /// Top edge of the first row of cells.
    top: i32,
    /// Side of a cell (a 1 px gap of background is left between cells).
    cell: i32,
    width: usize,
    height: usize,
}

impl Layout {
    fn new(n: usize) -> Self {
        let cell = (600 / n.max(1) as i32).clamp(36, 100);
        let (left, top) = (170, 100);
        let side = cell * n as i32;
        Self {
            left,
            top,
            cell,
            width: (left + side + 90) as usize,
            height: (top + side + 40) as usize,
        }
    }

    /// Top-left corner of cell (`row`, `col`).
    fn cell_origin(&self, row: usize, col: usize) -> (i32, i32) {
        (
            self.left + col as i32 * self.cell,
            self.top + row as i32 * self.cell,
        )
    }
}

/// A compact pixel count: `987`, `9876`, `98.8k`, `9.9M`, `1.2G`.
fn compact(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

fn class_name(names: &[String], i: usize) -> String {
    names
        .get(i)
        .filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("class {i}"))
}

/// Draws the confusion picture of `matrix` (see [`confusion_png`]).
///
/// The picture is `170 + n * cell + 90` pixels wide (wider if the title needs it) and
/// `100 + n * cell + 40` tall for `n` classes, with `cell = clamp(600 / n, 36, 100)`.
pub fn render_confusion(matrix: &ConfusionMatrix, class_names: &[String], title: &str) -> Canvas {
    let n = matrix.num_classes();
    let m = matrix.metrics();
    let score = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    let heading = format!(
        "{title} — OA {}, mIoU {}",
        score(m.overall_accuracy),
        score(m.miou)
    );
    let layout = Layout::new(n);
    // Widen the picture for a long title (measured with the bundled font).
    let mut title_w = 0;
    let _ = draw_canvas(1, 1, |a| {
        title_w = text_width(a, &heading, 17.0);
        Ok(())
    });
    let width = layout.width.max(title_w as usize + 32);
    let drawn = draw_canvas(width, layout.height, |root| {
        root.fill(&rgb(BACKGROUND))?;
        draw_matrix(root, matrix, class_names, &heading, layout);
        Ok(())
    });
    drawn.unwrap_or_else(|_| Canvas::new(width, layout.height, BACKGROUND))
}

fn draw_matrix(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    matrix: &ConfusionMatrix,
    names: &[String],
    heading: &str,
    l: Layout,
) {
    let n = matrix.num_classes();
    let side = l.cell * n as i32;
    text_centred(root, heading, (16, 22), 17.0, INK, HPos::Left);
    text_centred(
        root,
        "prediction →",
        (l.left + side / 2, 52),
        14.0,
        INK,
        HPos::Center,
    );
    text_centred(root, "truth ↓", (16, l.top - 14), 14.0, INK, HPos::Left);
    let name_size = if l.cell >= 70 { 13.0 } else { 11.0 };
    for c in 0..n {
        let (x, _) = l.cell_origin(0, c);
        let name = fit_text(root, &class_name(names, c), name_size, l.cell - 4);
        text_centred(
            root,
            &name,
            (x + l.cell / 2, l.top - 14),
            name_size,
            INK,
            HPos::Center,
        );
    }
    let count_size = (l.cell as f64 * 0.17).clamp(10.0, 16.0);
    let share_size = (count_size - 2.0).max(9.0);
    for r in 0..n {
        let row: Vec<u64> = (0..n).map(|c| matrix.get(r, c)).collect();
        let support: u64 = row.iter().sum();
        let (_, y) = l.cell_origin(r, 0);
        let name = fit_text(root, &class_name(names, r), 13.0, l.left - 24);
        text_centred(
            root,
            &name,
            (l.left - 8, y + l.cell / 2 - 7),
            13.0,
            INK,
            HPos::Right,
        );
        text_centred(
            root,
            &format!("n = {}", compact(support)),
            (l.left - 8, y + l.cell / 2 + 9),
            11.0,
            [120, 120, 120],
            HPos::Right,
        );
        for (c, &count) in row.iter().enumerate() {
            let (x, y) = l.cell_origin(r, c);
            let share = (support > 0).then(|| count as f64 / support as f64);
            let fill = share.map(confusion_color).unwrap_or(CONFUSION_EMPTY_ROW);
            let _ = root.draw(&Rectangle::new(
                [(x, y), (x + l.cell - 2, y + l.cell - 2)],
                rgb(fill).filled(),
            ));
            let ink = if share.unwrap_or(0.0) > 0.55 {
                [255, 255, 255]
            } else {
                INK
            };
            let (cx, cy) = (x + (l.cell - 1) / 2, y + (l.cell - 1) / 2);
            if l.cell >= 48 {
                text_centred(
                    root,
                    &compact(count),
                    (cx, cy - (count_size * 0.55) as i32),
                    count_size,
                    ink,
                    HPos::Center,
                );
                let pct = share
                    .map(|s| format!("{:.1}%", 100.0 * s))
                    .unwrap_or_else(|| "–".into());
                text_centred(
                    root,
                    &pct,
                    (cx, cy + (share_size * 0.75) as i32),
                    share_size,
                    ink,
                    HPos::Center,
                );
            } else {
                let pct = share
                    .map(|s| format!("{:.0}%", 100.0 * s))
                    .unwrap_or_else(|| "–".into());
                text_centred(root, &pct, (cx, cy), 10.0, ink, HPos::Center);
            }
        }
    }
    // Colour bar: share of the row, 0 % at the bottom, 100 % at the top.
    let bx = l.left + side + 22;
    for i in 0..side {
        let f = 1.0 - i as f64 / (side - 1).max(1) as f64;
        let _ = root.draw(&Rectangle::new(
            [(bx, l.top + i), (bx + 14, l.top + i)],
            rgb(confusion_color(f)).filled(),
        ));
    }
    let _ = root.draw(&Rectangle::new(
        [(bx, l.top), (bx + 14, l.top + side - 1)],
        rgb([150, 150, 150]),
    ));
    for (f, label) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
        let y = l.top + ((1.0 - f) * (side - 1) as f64).round() as i32;
        text_centred(root, label, (bx + 19, y), 11.0, INK, HPos::Left);
    }
    text_centred(
        root,
        "rows: reference labels; colour: share of the row",
        (l.left, l.top + side + 20),
        12.0,
        [110, 110, 110],
        HPos::Left,
    );
}

fn write_canvas(canvas: &Canvas, path: &Path) -> Result<()> {
    canvas.write_png(path)
}

/// Writes a picture of `matrix` as a PNG file, atomically: rows are the reference (truth)
/// classes, columns the predictions, both named by `class_names` (missing names become
/// `class i`); each cell is coloured by its share of the row ([`confusion_color`]; rows
/// without reference pixels in [`CONFUSION_EMPTY_ROW`]) and shows its pixel count and that
/// share; the title is `title` followed by the matrix's overall accuracy and mIoU. A colour
/// bar shows the scale. Text uses the font bundled with the crate.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn confusion_png(
    matrix: &ConfusionMatrix,
    class_names: &[String],
    title: &str,
    path: &Path,
) -> Result<()> {
    write_canvas(&render_confusion(matrix, class_names, title), path)
}

/// Writes several confusion pictures side by side in one PNG file, atomically (e.g. the
/// per-date and the fused maps' matrices on the same pixels); each panel is
/// [`render_confusion`] of a matrix and its title.
///
/// # Errors
/// [`Error::InvalidConfig`] if `panels` is empty; [`Error::Io`] naming the file.
pub fn confusion_panels_png(
    panels: &[(&ConfusionMatrix, &str)],
    class_names: &[String],
    path: &Path,
) -> Result<()> {
    if panels.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "no confusion matrix to draw into {}",
            path.display()
        )));
    }
    let parts: Vec<Canvas> = panels
        .iter()
        .map(|(m, t)| render_confusion(m, class_names, t))
        .collect();
    write_canvas(&Canvas::hstack(&parts, 8, BACKGROUND), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["water", "building", "vegetation"]
            .map(String::from)
            .to_vec()
    }

    /// The matrix of `metrics.rs`'s hand-computed example:
    ///
    /// ```text
    /// truth\pred  0  1  2   row
    ///        0   [5, 1, 0]   6
    ///        1   [2, 3, 1]   6
    ///        2   [0, 0, 4]   4
    /// ```
    ///
    /// Cell colours are `LOW + share * (HIGH - LOW)` per channel, rounded, with
    /// LOW = (247, 251, 255) and HIGH = (8, 48, 107):
    /// - (0, 0): share 5/6: R = 247 - 5/6 * 239 = 47.83 -> 48, G = 251 - 5/6 * 203 = 81.83
    ///   -> 82, B = 255 - 5/6 * 148 = 131.67 -> 132;
    /// - (1, 0): share 2/6: R = 247 - 239/3 = 167.33 -> 167, G = 251 - 203/3 = 183.33 -> 183,
    ///   B = 255 - 148/3 = 205.67 -> 206;
    /// - (0, 2): share 0: LOW; (2, 2): share 1: HIGH.
    #[test]
    fn cells_follow_the_row_normalised_scale() {
        let cm = ConfusionMatrix::from_counts(3, vec![5, 1, 0, 2, 3, 1, 0, 0, 4]);
        let c = render_confusion(&cm, &names(), "test");
        // 3 classes: cell = clamp(600 / 3, 36, 100) = 100; 170 + 300 + 90 by 100 + 300 + 40.
        assert_eq!((c.width(), c.height()), (560, 440));
        let l = Layout::new(3);
        assert_eq!((l.left, l.top, l.cell), (170, 100, 100));
        // Sample a few pixels near the top-left corner of each cell, away from its text.
        let at = |row: usize, col: usize| {
            let (x, y) = l.cell_origin(row, col);
            let px: Vec<[u8; 3]> = [(4, 4), (10, 6), (6, 12)]
                .iter()
                .map(|&(dx, dy)| c.get((x + dx) as usize, (y + dy) as usize).unwrap())
                .collect();
            assert!(
                px.iter().all(|p| *p == px[0]),
                "cell ({row}, {col}): {px:?}"
            );
            px[0]
        };
        assert_eq!(at(0, 0), [48, 82, 132]);
        assert_eq!(at(1, 0), [167, 183, 206]);
        assert_eq!(at(0, 2), [247, 251, 255]);
        assert_eq!(at(2, 2), [8, 48, 107]);
        assert_eq!(at(2, 0), CONFUSION_LOW);
        // The same values through the public scale.
        assert_eq!(confusion_color(5.0 / 6.0), [48, 82, 132]);
        assert_eq!(confusion_color(1.0 / 3.0), [167, 183, 206]);
        // The 1 px gap between cells is background.
        let (x, y) = l.cell_origin(0, 1);
        assert_eq!(c.get(x as usize - 1, y as usize + 5), Some(BACKGROUND));
        // Counts and shares are written in the cells: white text on the dark diagonal cell.
        let (x, y) = l.cell_origin(2, 2);
        let white = (x..x + l.cell - 2)
            .flat_map(|xx| (y..y + l.cell - 2).map(move |yy| (xx, yy)))
            .filter(|&(xx, yy)| {
                c.get(xx as usize, yy as usize)
                    .unwrap()
                    .iter()
                    .all(|&v| v > 200)
            })
            .count();
        assert!(white > 40, "text pixels in cell (2, 2): {white}");
    }

    #[test]
    fn empty_rows_are_grey_and_panels_are_side_by_side() {
        let cm = ConfusionMatrix::from_counts(2, vec![0, 0, 3, 1]);
        let c = render_confusion(&cm, &[], "x");
        let l = Layout::new(2);
        let (x, y) = l.cell_origin(0, 1);
        assert_eq!(
            c.get(x as usize + 3, y as usize + 3),
            Some(CONFUSION_EMPTY_ROW)
        );
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("confusion.png");
        confusion_panels_png(&[(&cm, "per-date"), (&cm, "fused")], &[], &p).expect("png");
        let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&p).unwrap()));
        let r = d.read_info().expect("png");
        assert_eq!(r.info().width as usize, 2 * c.width() + 8);
        assert!(confusion_panels_png(&[], &[], &p).is_err());
        confusion_png(&cm, &[], "one", &dir.path().join("one.png")).expect("png");
    }

    #[test]
    fn compact_counts() {
        assert_eq!(compact(987), "987");
        assert_eq!(compact(9876), "9876");
        assert_eq!(compact(98_765), "98.8k");
        assert_eq!(compact(9_876_543), "9.9M");
    }
}
