//! Charts drawn with `plotters` into [`Canvas`]es: the learning curves of a run
//! ([`History::render`](crate::History::render)) and helpers the confusion-matrix picture
//! shares. Text uses DejaVu Sans, bundled with the crate (`assets/DejaVuSans.ttf`, Bitstream
//! Vera licence, see `assets/DejaVuSans-LICENSE.txt`) and registered with plotters'
//! `ab_glyph` font table, so drawing never depends on the fonts of the machine.

use std::error::Error as StdError;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::history::EpochRecord;
use crate::plot::{Canvas, PALETTE};

/// The family name the bundled font is registered under.
const FONT: &str = "chronomap-dejavu-sans";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The bundled font's family name, registering it with plotters on first use.
pub(crate) fn font() -> &'static str {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType file shipped with the crate; a failure would only
        // show as text-less charts (every text draw then fails and is skipped).
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
    FONT
}

/// What a drawing closure returns.
pub(crate) type DrawResult = std::result::Result<(), Box<dyn StdError>>;

/// A `width x height` white canvas with whatever `draw` puts on it.
pub(crate) fn draw_canvas(
    width: usize,
    height: usize,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
) -> std::result::Result<Canvas, Box<dyn StdError>> {
    let mut buf = vec![255u8; width * height * 3];
    {
        let root =
            BitMapBackend::with_buffer(&mut buf, (width as u32, height as u32)).into_drawing_area();
        draw(&root)?;
        root.present()?;
    }
    Ok(Canvas::from_rgb(width, height, buf).expect("buffer of width * height * 3 bytes"))
}

/// `c` as a plotters colour.
pub(crate) fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Text style of the bundled font at `size` px in colour `c`, anchored at `h` and the top.
pub(crate) fn style(size: f64, c: [u8; 3], h: HPos) -> TextStyle<'static> {
    TextStyle {
        font: (font(), size).into_font(),
        color: rgb(c).to_backend_color(),
        pos: Pos::new(h, VPos::Top),
    }
}

/// Draws `text` with its capital letters vertically centred on `y`, horizontally anchored at
/// `x` by `h`. (Plotters' `ab_glyph` text puts the baseline half a font size below the anchor
/// of top-anchored text; DejaVu Sans capitals are 0.63 of the font size tall.)
pub(crate) fn text_centred(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    text: &str,
    (x, y): (i32, i32),
    size: f64,
    c: [u8; 3],
    h: HPos,
) {
    let top = y - (0.19 * size).round() as i32;
    // Text is decoration: a font failure leaves the rest of the picture intact.
    let _ = area.draw(&Text::new(text.to_string(), (x, top), style(size, c, h)));
}

/// Width in pixels of `text` at `size`, 0 if it cannot be measured.
pub(crate) fn text_width(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    text: &str,
    size: f64,
) -> i32 {
    area.estimate_text_size(text, &style(size, [0; 3], HPos::Left))
        .map(|(w, _)| w as i32)
        .unwrap_or(0)
}

/// `text`, shortened with an ellipsis until it is at most `max` pixels wide at `size`.
pub(crate) fn fit_text(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    text: &str,
    size: f64,
    max: i32,
) -> String {
    if text_width(area, text, size) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for n in (1..chars.len()).rev() {
        let s: String = chars[..n].iter().chain(['…'].iter()).collect();
        if text_width(area, &s, size) <= max {
            return s;
        }
    }
    "…".to_string()
}

/// A round step (1, 2 or 5 times a power of ten) giving at most `max_ticks` ticks over `span`.
pub(crate) fn round_step(span: f64, max_ticks: usize) -> f64 {
    let raw = (span / max_ticks.max(1) as f64).max(1e-12);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// Contiguous runs of one training stage: `(stage, first epoch, last epoch)`.
pub(crate) fn stage_runs(epochs: &[EpochRecord]) -> Vec<(String, usize, usize)> {
    let mut runs: Vec<(String, usize, usize)> = Vec::new();
    for r in epochs {
        match runs.last_mut() {
            Some(last) if last.0 == r.stage => last.2 = r.epoch,
            _ => runs.push((r.stage.clone(), r.epoch, r.epoch)),
        }
    }
    runs
}

/// One curve: legend name, colour, `(epoch, value)` points.
type Curve = (&'static str, [u8; 3], Vec<(f64, f64)>);

const INK: [u8; 3] = [40, 40, 40];
const STAGE_INK: [u8; 3] = [110, 110, 110];

/// Draws one panel of the learning curves (a titled chart of `curves` over the epochs of
/// `epochs`, with the stage boundaries) into `area`.
fn curve_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    curves: &[Curve],
    epochs: &[EpochRecord],
    unit_range: bool,
    legend_at: SeriesLabelPosition,
) -> DrawResult {
    let f = font();
    let last_epoch = epochs.last().map(|r| r.epoch).unwrap_or(1).max(1);
    let x_range = 0.5..last_epoch as f64 + 0.5;
    let values: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.2.iter().map(|p| p.1))
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let (y0, y1) = if values.is_empty() {
        (0.0, 1.0)
    } else if unit_range {
        // Scores: tenths around the data, within [0, 1].
        let a = ((lo * 10.0).floor() / 10.0).clamp(0.0, 0.9);
        let b = ((hi * 10.0).ceil() / 10.0).clamp(a + 0.1, 1.0);
        (a, b.max(a + 0.1))
    } else {
        // Losses: from 0 (or below, if negative) to a round step above the largest value.
        let top = if hi > 0.0 { hi * 1.08 } else { 1.0 };
        let step = round_step(top, 5);
        (lo.min(0.0), (top / step).ceil() * step)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (f, 18.0).into_font().color(&rgb(INK)))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, y0..y1)?;
    chart
        .configure_mesh()
        // At most one tick per epoch: plotters then picks whole, round epoch numbers.
        .x_labels(last_epoch.clamp(1, 10))
        .x_max_light_lines(0)
        .y_max_light_lines(1)
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| {
            let s = format!("{v:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" { "0".into() } else { s.into() }
        })
        .label_style((f, 13.0).into_font().color(&rgb(INK)))
        .axis_desc_style((f, 14.0).into_font().color(&rgb(INK)))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(242, 242, 242))
        .axis_style(rgb(INK))
        .draw()?;
    // Stage boundaries (dashed) and each stage's name at the top of its run of epochs.
    let runs = stage_runs(epochs);
    if runs.len() > 1 || runs.first().is_some_and(|r| !r.0.is_empty()) {
        let dashed = ShapeStyle::from(&rgb(STAGE_INK)).stroke_width(1);
        for (i, (stage, first, _)) in runs.iter().enumerate() {
            let x = *first as f64 - 0.5;
            if i > 0 {
                chart.draw_series(DashedLineSeries::new(vec![(x, y0), (x, y1)], 6, 4, dashed))?;
            }
            let label = EmptyElement::at((x, y1))
                + Text::new(stage.clone(), (5, 6), style(12.0, STAGE_INK, HPos::Left));
            chart.draw_series(std::iter::once(label))?;
        }
    }
    for (name, color, points) in curves.iter().filter(|c| !c.2.is_empty()) {
        let c = rgb(*color);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
        // A dot at every point, so single-epoch runs show up.
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 3, ShapeStyle::from(&c).filled())),
        )?;
    }
    if curves.iter().any(|c| !c.2.is_empty()) {
        chart
            .configure_series_labels()
            .position(legend_at)
            .label_font((f, 13.0).into_font().color(&rgb(INK)))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
    }
    Ok(())
}

/// Width and height of the learning-curve picture.
pub(crate) const CURVES_SIZE: (usize, usize) = (1000, 420);

/// The learning curves of `epochs` drawn with plotters: losses on the left, validation
/// mIoU/OA on the right, stage boundaries as dashed lines.
pub(crate) fn curves(epochs: &[EpochRecord]) -> std::result::Result<Canvas, Box<dyn StdError>> {
    let pts = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|r| f(r).filter(|v| v.is_finite()).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    let losses: Vec<Curve> = vec![
        ("train", PALETTE[0], pts(&|r| Some(r.train_loss))),
        ("validation", PALETTE[1], pts(&|r| r.val_loss)),
    ];
    let scores: Vec<Curve> = vec![
        ("mIoU per-date", PALETTE[0], pts(&|r| r.val_miou_date)),
        ("mIoU fused", PALETTE[1], pts(&|r| r.val_miou_fused)),
        ("OA per-date", PALETTE[2], pts(&|r| r.val_oa_date)),
        ("OA fused", PALETTE[3], pts(&|r| r.val_oa_fused)),
    ];
    let iterations = epochs.last().map(|r| r.iterations).unwrap_or(0);
    let (w, h) = CURVES_SIZE;
    draw_canvas(w, h, |root| {
        let (left, right) = root.split_horizontally(w as i32 / 2);
        curve_panel(
            &left,
            &format!("loss ({iterations} iterations)"),
            "loss",
            &losses,
            epochs,
            false,
            // Losses fall from the upper left: the lower left is free (the top holds the
            // stage names).
            SeriesLabelPosition::LowerLeft,
        )?;
        curve_panel(
            &right,
            "validation scores",
            "score",
            &scores,
            epochs,
            true,
            SeriesLabelPosition::LowerRight,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_steps() {
        assert_eq!(round_step(10.0, 10), 1.0);
        assert_eq!(round_step(37.0, 10), 5.0);
        assert_eq!(round_step(3.0, 10), 0.5);
        assert!((round_step(0.9, 5) - 0.2).abs() < 1e-12);
        assert_eq!(round_step(120.0, 10), 20.0);
    }

    #[test]
    fn the_bundled_font_draws_text() {
        let c = draw_canvas(120, 40, |root| {
            text_centred(root, "Text", (10, 20), 20.0, [0; 3], HPos::Left);
            assert!(text_width(root, "Text", 20.0) > 20);
            Ok(())
        })
        .expect("draw");
        let dark = c.pixels().chunks(3).filter(|p| p[0] < 128).count();
        assert!(dark > 30, "text pixels: {dark}");
        // Capitals centred on y = 20: ink above and below the centre line, none at the edges.
        let ink_rows: Vec<usize> = (0..40)
            .filter(|&y| (0..120).any(|x| c.get(x, y).unwrap()[0] < 128))
            .collect();
        let (top, bottom) = (ink_rows[0], *ink_rows.last().unwrap());
        assert!(
            top >= 10 && bottom <= 30 && top < 20 && bottom > 20,
            "{top}..{bottom}"
        );
    }
}
