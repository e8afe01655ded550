//! `chronomap evaluate`: compare a class map with a label raster.

use std::path::PathBuf;

use anyhow::Context as _;
use chronomap::train::{MapEvaluation, evaluate_map, read_model_card};

/// Options of `chronomap evaluate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Predicted class map (u8 GeoTIFF, 255 = no prediction).
    #[arg(long)]
    pub pred: PathBuf,
    /// Reference labels on the same grid (u8 GeoTIFF, 255 or the nodata value = unlabelled).
    #[arg(long)]
    pub labels: PathBuf,
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
    let (classes, names) = args.class_args.resolve()?;
    let ev = evaluate_map(&args.pred, &args.labels, classes, &names, None)?;
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
