//! `chronomap evaluate`: compare a class map with a label raster, or score the maps
//! `chronomap predict` wrote for a collection: per-date vs fused maps per series and for the
//! collection (pixel-pooled and mean over series), by date position. The collection mode also
//! writes `confusion.png` (per-date and fused maps, pooled over the held-out series, or over
//! all series when none is held out) and `report.html` (its tables and that picture, one
//! self-contained file).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chronomap::train::{MapEvaluation, evaluate_map, read_model_card};

/// Options of `chronomap evaluate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Predicted class map (u8 GeoTIFF, 255 = no prediction).
    #[arg(long, required_unless_present = "maps", requires = "labels")]
    pub pred: Option<PathBuf>,
    /// Reference labels on the same grid (u8 GeoTIFF, 255 or the nodata value = unlabelled).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Collection mode: the output folder of `chronomap predict --data COLLECTION`
    /// (`<maps>/<series>/<date>_{date,fused}.tif`); needs `--data`. Writes
    /// `<maps>/evaluation.json` and `<maps>/evaluation.csv`.
    #[arg(long, conflicts_with = "pred", requires = "data")]
    pub maps: Option<PathBuf>,
    /// Collection mode: the collection the maps were made from (its labels are the reference).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Collection mode: series held out of training (default: from the training run's
    /// `config.json` when `--model` is a run folder).
    #[arg(long, value_delimiter = ',')]
    pub held_out: Vec<String>,
    /// Class count, names and model.
    #[command(flatten)]
    pub class_args: ClassArgs,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--classes`, `--names`, `--model`: how `evaluate` and `change` learn the classes.
#[derive(clap::Args, Debug)]
pub struct ClassArgs {
    /// Number of classes (default: the model's, else the largest class id found + 1).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Class names, comma-separated (default: from `--model`).
    #[arg(long, value_delimiter = ',')]
    pub names: Vec<String>,
    /// Model folder (or training run) whose class names and count to use.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

impl ClassArgs {
    /// The class count (if known) and names: the options given, completed from the model card
    /// of `--model`.
    pub fn resolve(&self) -> anyhow::Result<(Option<usize>, Vec<String>)> {
        let mut names = self.names.clone();
        let mut classes = self.classes;
        if let Some(m) = &self.model {
            let card = read_model_card(&chronomap::train::model_dir_of(m))
                .with_context(|| format!("reading the model description in {}", m.display()))?;
            if names.is_empty() {
                names = card.classes.clone();
            }
            classes = classes.or(Some(card.model.num_classes));
        }
        Ok((classes, names))
    }
}

/// Runs `chronomap evaluate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let (Some(maps), Some(data)) = (&args.maps, &args.data) {
        return collection(&args, maps, data);
    }
    let (classes, names) = args.class_args.resolve()?;
    let (Some(pred), Some(labels)) = (&args.pred, &args.labels) else {
        anyhow::bail!("give --pred and --labels (one map), or --maps and --data (a collection)");
    };
    let ev = evaluate_map(pred, labels, classes, &names, None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&ev)?);
    } else {
        print!("{}", table(&ev));
    }
    Ok(())
}

/// A plain-text report: per-class IoU/F1/precision/recall, then mIoU, OA, kappa.
pub fn table(ev: &MapEvaluation) -> String {
    use std::fmt::Write as _;
    let m = &ev.metrics;
    let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
    let mut s = String::new();
    let _ = writeln!(s, "prediction: {}", ev.prediction.display());
    let _ = writeln!(s, "labels:     {}", ev.labels.display());
    let _ = writeln!(s, "pixels:     {}", m.num_pixels);
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>8} {:>8} {:>9} {:>8}",
        "class", "support", "IoU", "F1", "precision", "recall"
    );
    for c in &m.per_class {
        let name = ev
            .classes
            .get(c.class)
            .cloned()
            .unwrap_or_else(|| format!("class {}", c.class));
        let _ = writeln!(
            s,
            "{:<16} {:>10} {:>8} {:>8} {:>9} {:>8}",
            name,
            c.support,
            f(c.iou),
            f(c.f1),
            f(c.precision),
            f(c.recall)
        );
    }
    let _ = writeln!(
        s,
        "mIoU {}  mean F1 {}  OA {}  kappa {}",
        f(m.miou),
        f(m.mean_f1),
        f(m.overall_accuracy),
        f(m.kappa)
    );
    if ev.unknown_predictions > 0 {
        let _ = writeln!(
            s,
            "note: {} labelled pixels were predicted as classes beyond the class count",
            ev.unknown_predictions
        );
    }
    s
}

/// Names of the held-out series, and each series' held-out date indices.
type RunRecord = (Vec<String>, Vec<(String, Vec<usize>)>);

/// Held-out series and dates recorded in a training run's `config.json` (`data.series[]`
/// with `role` and `held_out_dates`), if `model` is (or is inside) such a run.
fn run_record(model: &Path) -> Option<RunRecord> {
    let candidates = [model.join("config.json"), model.join("../config.json")];
    let bytes = candidates.iter().find_map(|p| std::fs::read(p).ok())?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let series = v.get("data")?.get("series")?.as_array()?;
    let mut held = Vec::new();
    let mut dates = Vec::new();
    for s in series {
        let name = s.get("name")?.as_str()?.to_string();
        if s.get("role").and_then(|r| r.as_str()) == Some("held_out") {
            held.push(name.clone());
        }
        let d: Vec<usize> = s
            .get("held_out_dates")
            .and_then(|d| d.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as usize)
                    .collect()
            })
            .unwrap_or_default();
        dates.push((name, d));
    }
    Some((held, dates))
}

/// `chronomap evaluate --maps DIR --data COLLECTION`.
fn collection(args: &Args, maps: &Path, data: &Path) -> anyhow::Result<()> {
    use chronomap::train::{CollectionScores, DateScore, MapFile, SeriesScores};
    let c = chronomap::data::Collection::open(data)?;
    let (classes, _) = args.class_args.resolve()?;
    let k = classes.unwrap_or(c.classes().len());
    anyhow::ensure!(
        k >= 2,
        "{}: no class list; pass --classes or --model",
        data.display()
    );
    let record = args.class_args.model.as_deref().and_then(run_record);
    let held: Vec<String> = if !args.held_out.is_empty() {
        args.held_out.clone()
    } else {
        record.as_ref().map(|r| r.0.clone()).unwrap_or_default()
    };
    let mut scores = CollectionScores::default();
    let mut skipped = Vec::new();
    for (name, series) in c.names().iter().zip(c.series()) {
        let dir = maps.join(name);
        if series.label_files().is_empty() {
            skipped.push(format!("{name}: no labels"));
            continue;
        }
        if !dir.is_dir() {
            skipped.push(format!("{name}: no maps in {}", dir.display()));
            continue;
        }
        // The run's dates, in the order the network saw them: from the predict sidecar, else
        // every date with both maps, in date order.
        let sidecar: Option<Vec<String>> = std::fs::read(dir.join(crate::predict::SIDECAR))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("dates")?
                    .as_array()?
                    .iter()
                    .map(|d| d.as_str().map(String::from))
                    .collect()
            });
        let mut files = Vec::new();
        let mut run = Vec::new();
        for (i, d) in series.dates().iter().enumerate() {
            let date = d.date.to_string();
            let (pd, fu) = (
                dir.join(format!("{date}_date.tif")),
                dir.join(format!("{date}_fused.tif")),
            );
            let in_run = sidecar.as_ref().is_none_or(|s| s.contains(&date));
            if in_run && pd.is_file() && fu.is_file() {
                run.push(i);
                for (kind, p) in [("date", pd), ("fused", fu)] {
                    files.push(MapFile {
                        kind: kind.into(),
                        date: date.clone(),
                        classes: p,
                        probabilities: None,
                    });
                }
            }
        }
        if run.is_empty() {
            skipped.push(format!(
                "{name}: no pair of <date>_date.tif / <date>_fused.tif in {}",
                dir.display()
            ));
            continue;
        }
        let held_dates = record
            .as_ref()
            .and_then(|r| r.1.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone()))
            .unwrap_or_default();
        let mut s = SeriesScores::new(*name, held.iter().any(|h| h == name));
        let full = [chronomap::geo::Window::full(
            series.width(),
            series.height(),
        )];
        s.add_run(series, &run, &files, &full, &held_dates, k)?;
        scores.series.push(s);
    }
    for s in &skipped {
        eprintln!("note: {s}");
    }
    anyhow::ensure!(
        !scores.series.is_empty(),
        "no series of {} could be scored ({})",
        data.display(),
        skipped.join("; ")
    );
    let json = scores.to_json();
    chronomap::train::write_json_atomic(&maps.join("evaluation.json"), &json)?;
    chronomap::train::write_atomic(&maps.join("evaluation.csv"), scores.to_csv().as_bytes())?;
    let (_, names) = args.class_args.resolve()?;
    let names = if names.is_empty() {
        c.classes().to_vec()
    } else {
        names
    };
    pictures(maps, data, &scores, &names, k)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let all = |_: &DateScore| true;
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
    println!(
        "{:<16} {:<9} {:>10} {:>10} {:>10}",
        "series", "role", "per-date", "fused", "pixels"
    );
    for s in &scores.series {
        let m = s.miou(all);
        println!(
            "{:<16} {:<9} {:>10} {:>10} {:>10}",
            s.name,
            if s.held_out_series {
                "held out"
            } else {
                "trained"
            },
            fmt(m.per_date),
            fmt(m.fused),
            m.pixels
        );
    }
    type Pick<'a> = (&'a str, &'a dyn Fn(&SeriesScores) -> bool);
    let groups: [Pick; 3] = [
        ("all series", &|_| true),
        ("held-out series", &|s| s.held_out_series),
        ("training series", &|s| !s.held_out_series),
    ];
    for (title, pick) in groups {
        let pooled = scores.pooled(pick, &all);
        if pooled.pixels == 0 {
            continue;
        }
        let mean = scores.mean_over_series(pick, &all);
        println!("{title}: mIoU per-date / fused");
        println!(
            "  pixel-pooled       {} / {}",
            fmt(pooled.per_date),
            fmt(pooled.fused)
        );
        println!(
            "  mean over series   {} / {}",
            fmt(mean.per_date),
            fmt(mean.fused)
        );
        for (p, m) in scores.by_position(pick, &all) {
            println!(
                "  date position {p:<4} {} / {}",
                fmt(m.per_date),
                fmt(m.fused)
            );
        }
    }
    eprintln!(
        "written: {}, {}, {}, {}",
        maps.join("evaluation.json").display(),
        maps.join("evaluation.csv").display(),
        maps.join("confusion.png").display(),
        maps.join("report.html").display()
    );
    Ok(())
}

/// `confusion.png` and `report.html` of a collection evaluation, next to `evaluation.json`:
/// the per-date and fused confusion matrices pooled over the held-out series (all series if
/// none is held out), and the report's tables.
fn pictures(
    maps: &Path,
    data: &Path,
    scores: &chronomap::train::CollectionScores,
    names: &[String],
    k: usize,
) -> anyhow::Result<()> {
    use chronomap::train::{
        ConfusionMatrix, DateScore, Figure, Report, SeriesScores, Table, confusion_panels_png,
    };
    let any_held = scores.series.iter().any(|s| s.held_out_series);
    let pick = |s: &SeriesScores| s.held_out_series || !any_held;
    let group = if any_held {
        "held-out series"
    } else {
        "all series"
    };
    let (mut per_date, mut fused) = (ConfusionMatrix::new(k), ConfusionMatrix::new(k));
    for d in scores
        .series
        .iter()
        .filter(|s| pick(s))
        .flat_map(|s| &s.dates)
    {
        per_date.merge(&d.per_date);
        fused.merge(&d.fused);
    }
    let confusion = maps.join("confusion.png");
    let (t0, t1) = (
        format!("per-date maps, {group}"),
        format!("fused maps, {group}"),
    );
    confusion_panels_png(&[(&per_date, &t0), (&fused, &t1)], names, &confusion)?;

    let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    let gain = |m: &chronomap::train::MiouPair| {
        m.gain()
            // No "-0.000" for a loss smaller than the printed precision.
            .map(|g| format!("{:+.3}", if g.abs() < 5e-4 { 0.0 } else { g }))
            .unwrap_or_else(|| "-".into())
    };
    let all = |_: &DateScore| true;
    let mut series = Table::new(
        "mIoU per series (pixel-pooled over its dates)",
        ["series", "role", "per-date", "fused", "gain", "pixels"],
    );
    for s in &scores.series {
        let m = s.miou(all);
        series = series.row([
            s.name.clone(),
            if s.held_out_series {
                "held out"
            } else {
                "trained"
            }
            .to_string(),
            f(m.per_date),
            f(m.fused),
            gain(&m),
            m.pixels.to_string(),
        ]);
    }
    type Pick<'a> = (&'a str, &'a dyn Fn(&SeriesScores) -> bool);
    let groups: [Pick; 3] = [
        ("all series", &|_| true),
        ("held-out series", &|s| s.held_out_series),
        ("training series", &|s| !s.held_out_series),
    ];
    let mut collection = Table::new(
        "mIoU of the collection",
        ["series", "averaging", "per-date", "fused", "gain", "pixels"],
    );
    let mut positions = Table::new(
        "mIoU by date position (0: first date of a run, no ConvLSTM history)",
        ["series", "position", "per-date", "fused", "gain", "pixels"],
    );
    for (title, p) in groups {
        let pooled = scores.pooled(p, &all);
        if pooled.pixels == 0 {
            continue;
        }
        let mean = scores.mean_over_series(p, &all);
        for (how, m) in [("pixel-pooled", pooled), ("mean over series", mean)] {
            collection = collection.row([
                title.to_string(),
                how.to_string(),
                f(m.per_date),
                f(m.fused),
                gain(&m),
                m.pixels.to_string(),
            ]);
        }
        for (pos, m) in scores.by_position(p, &all) {
            positions = positions.row([
                title.to_string(),
                pos.to_string(),
                f(m.per_date),
                f(m.fused),
                gain(&m),
                m.pixels.to_string(),
            ]);
        }
    }
    let (a, b) = (per_date.metrics(), fused.metrics());
    let mut classes = Table::new(
        format!("IoU per class, {group}"),
        ["class", "per-date", "fused", "reference pixels"],
    );
    for c in 0..k {
        classes = classes.row([
            names
                .get(c)
                .cloned()
                .unwrap_or_else(|| format!("class {c}")),
            f(a.per_class[c].iou),
            f(b.per_class[c].iou),
            a.per_class[c].support.to_string(),
        ]);
    }
    Report::new(format!("chronomap evaluate: {}", maps.display()))
        .paragraph(format!(
            "Maps in {} scored against the labels of {} ({} series, {} classes); pixels clear \
             at each date.",
            maps.display(),
            data.display(),
            scores.series.len(),
            k
        ))
        .section("Scores")
        .table(collection)
        .table(series)
        .table(positions)
        .table(classes)
        .section("Confusion matrices")
        .image(Figure::from_file(
            format!("per-date and fused maps, {group}"),
            &confusion,
        )?)
        .write(&maps.join("report.html"))?;
    Ok(())
}
