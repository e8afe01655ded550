//! The single-scene run's pictures and report: `confusion.png` (per-date and fused maps on
//! the held-out area at held-out dates) and `report.html`, one self-contained file (images
//! embedded): maps by date on a slider, the change map, the score tables, the learning
//! curves and the confusion matrices.

use std::path::{Path, PathBuf};

use chronomap::train::{
    ChangeReport, ConfusionMatrix, Figure, MapKind, Report, SegmentationMetrics, SliderFrame,
    Table, class_map_png, confusion_panels_png,
};

/// Longest side of the quicklooks made for the report's slider (dates without one yet).
const SLIDER_SIDE: usize = 512;
/// Displayed width of the slider's images.
const SLIDER_WIDTH: u32 = 360;

/// One mapped date: name, held out of training or not, and its per-date / fused class maps.
pub(crate) struct MappedDate {
    pub date: String,
    pub held_out: bool,
    pub maps: Vec<(MapKind, PathBuf)>,
}

/// What the report shows.
pub(crate) struct Inputs<'a> {
    /// Output folder (`report.html` and `confusion.png` land here).
    pub out: &'a Path,
    /// The scene (manifest) the run was made on.
    pub data: &'a Path,
    /// Class names.
    pub classes: &'a [String],
    /// Held-out area at held-out dates: per-date and fused scores.
    pub held: (&'a SegmentationMetrics, &'a SegmentationMetrics),
    /// Held-out area at training dates: per-date and fused scores.
    pub train: (&'a SegmentationMetrics, &'a SegmentationMetrics),
    /// One entry per date (`date`, `held_out`, `per_date_miou`, `fused_miou`, `per_date_oa`,
    /// `fused_oa`), as in `metrics.json`.
    pub by_date: &'a [serde_json::Value],
    /// Every mapped date, in date order.
    pub dates: Vec<MappedDate>,
    /// The change map and its years.
    pub change: (&'a ChangeReport, i32, i32),
    /// The training run folder (`curves.png`).
    pub run: &'a Path,
    /// Lines for the summary paragraph.
    pub notes: Vec<String>,
}

fn matrix(m: &SegmentationMetrics) -> ConfusionMatrix {
    let k = m.confusion.len().max(1);
    ConfusionMatrix::from_counts(k, m.confusion.concat())
}

fn f3(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

/// Writes `confusion.png` and `report.html` into `inputs.out`; returns their paths.
pub(crate) fn write(inputs: &Inputs) -> anyhow::Result<(PathBuf, PathBuf)> {
    let names = inputs.classes;
    let k = names.len();
    let confusion = inputs.out.join("confusion.png");
    let (held_date, held_fused) = (matrix(inputs.held.0), matrix(inputs.held.1));
    confusion_panels_png(
        &[
            (&held_date, "per-date maps, held-out dates"),
            (&held_fused, "fused maps, held-out dates"),
        ],
        names,
        &confusion,
    )?;

    // Maps by date: a quicklook of every map (the last date of each year has one already).
    let mut frames = Vec::new();
    for d in &inputs.dates {
        let mut images = Vec::new();
        for (kind, tif) in &d.maps {
            let png = tif.with_extension("png");
            // Made now unless this run already made it (a PNG older than its map is stale).
            let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            if modified(&png).is_none_or(|p| modified(tif).is_some_and(|t| p < t)) {
                class_map_png(tif, &png, names, k, SLIDER_SIDE)?;
            }
            let caption = match kind {
                MapKind::Date => "per-date map (U-Net)",
                MapKind::Fused => "fused map (ConvLSTM)",
            };
            images.push(Figure::from_file(caption, &png)?.with_width(SLIDER_WIDTH));
        }
        // The RGB composite written next to the maps (last date of each year).
        let rgb = d
            .maps
            .first()
            .and_then(|(_, tif)| tif.parent())
            .map(|dir| dir.join(format!("{}_rgb.png", d.date)))
            .filter(|p| p.is_file());
        if let Some(rgb) = rgb {
            images.push(Figure::from_file("RGB composite", &rgb)?.with_width(SLIDER_WIDTH));
        }
        let label = if d.held_out {
            format!("{} (held out)", d.date)
        } else {
            d.date.clone()
        };
        frames.push(SliderFrame::new(label, images));
    }

    let (change, y0, y1) = inputs.change;
    let mut transitions = Table::new(
        format!("largest changes {y0} → {y1}"),
        ["from", "to", "hectares", "pixels"],
    );
    for t in change.table.iter().filter(|t| t.changed).take(10) {
        transitions = transitions.row([
            t.from_name.clone(),
            t.to_name.clone(),
            format!("{:.2}", t.hectares),
            t.pixels.to_string(),
        ]);
    }

    let mut summary = Table::new(
        "held-out area (pixels clear at each date, OSM labels)",
        ["dates", "map", "mIoU", "OA", "kappa", "mean F1", "pixels"],
    );
    for (dates, (pd, fu)) in [("held-out", inputs.held), ("training", inputs.train)] {
        for (map, m) in [("per-date", pd), ("fused", fu)] {
            summary = summary.row([
                dates.to_string(),
                map.to_string(),
                f3(m.miou),
                f3(m.overall_accuracy),
                f3(m.kappa),
                f3(m.mean_f1),
                m.num_pixels.to_string(),
            ]);
        }
    }
    let mut by_date = Table::new(
        "mIoU and OA by date (held-out area)",
        [
            "date",
            "held out",
            "per-date mIoU",
            "fused mIoU",
            "gain",
            "per-date OA",
            "fused OA",
        ],
    );
    for d in inputs.by_date {
        let g = |key: &str| d[key].as_f64();
        let gain = g("fused_miou")
            .zip(g("per_date_miou"))
            .map(|(a, b)| a - b)
            // No "-0.000" for a loss smaller than the printed precision.
            .map(|g| format!("{:+.3}", if g.abs() < 5e-4 { 0.0 } else { g }))
            .unwrap_or_else(|| "-".into());
        by_date = by_date.row([
            d["date"].as_str().unwrap_or("").to_string(),
            if d["held_out"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
            f3(g("per_date_miou")),
            f3(g("fused_miou")),
            gain,
            f3(g("per_date_oa")),
            f3(g("fused_oa")),
        ]);
    }
    let mut per_class = Table::new(
        "IoU per class (held-out area)",
        [
            "class",
            "per-date, held-out dates",
            "fused, held-out dates",
            "per-date, training dates",
            "fused, training dates",
        ],
    );
    for (c, name) in names.iter().enumerate() {
        let iou = |m: &SegmentationMetrics| f3(m.per_class.get(c).and_then(|x| x.iou));
        per_class = per_class.row([
            name.clone(),
            iou(inputs.held.0),
            iou(inputs.held.1),
            iou(inputs.train.0),
            iou(inputs.train.1),
        ]);
    }

    let mut report = Report::new(format!("chronomap: {}", inputs.data.display()))
        .paragraph(inputs.notes.join(" "))
        .section("Maps by date")
        .paragraph(
            "Per-date maps come from the U-Net alone; fused maps from the ConvLSTM over the \
             year's dates so far. Move the slider to change the date.",
        )
        .slider("date", frames)
        .section(format!("Change {y0} → {y1}"))
        .paragraph(format!(
            "{:.1} ha changed between the last fused maps of {y0} and {y1}.",
            change.changed_hectares
        ));
    let change_png = change.map.with_extension("png");
    if change_png.is_file() {
        report = report.image(Figure::from_file("change map", &change_png)?);
    }
    report = report
        .table(transitions)
        .section("Scores")
        .table(summary)
        .table(by_date)
        .table(per_class)
        .image(Figure::from_file(
            "confusion matrices, held-out area at held-out dates",
            &confusion,
        )?)
        .section("Training");
    let curves = inputs.run.join("curves.png");
    if curves.is_file() {
        report = report.image(Figure::from_file("learning curves", &curves)?);
    }
    let html = inputs.out.join("report.html");
    report.write(&html)?;
    Ok((confusion, html))
}
