//! `chronomap predict`: per-date and fused land-cover maps of a whole scene series.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chronomap::data::SceneSeries;
use chronomap::train::{
    MapFile, ModelCard, PredictConfig, ProbabilityMaps, QUICKLOOK_SIDE, class_map_png,
    load_model_dir, predict_scene, rgb_bands, rgb_png,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `chronomap predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A model folder (`best/` of a run) or a training run folder (its `best/` is used).
    #[arg(long)]
    pub model: PathBuf,
    /// The series: a manifest JSON or a folder of GeoTIFFs.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder for the maps.
    #[arg(long)]
    pub out: PathBuf,
    /// Dates to run through the network: `all` (default), a year (`2016`), or dates
    /// (`2016-01-12,2016-03-02`). The ConvLSTM runs over them in order.
    #[arg(long, default_value = "all")]
    pub dates: String,
    /// Maps written: `all` dates, or only the `last` one (the others still feed the ConvLSTM).
    #[arg(long, default_value = "all")]
    pub maps: String,
    /// Window side in pixels (default: 2 x the training patch, clamped to 64..=512).
    #[arg(long)]
    pub window: Option<usize>,
    /// Minimum overlap between windows (default: window / 8).
    #[arg(long)]
    pub overlap: Option<usize>,
    /// Windows per network batch.
    #[arg(long, default_value_t = 4)]
    pub batch_windows: usize,
    /// Do not write the per-date (U-Net alone) maps.
    #[arg(long)]
    pub no_date_maps: bool,
    /// Probability GeoTIFFs (f32, one band per class): `last` mapped date (default), `all`,
    /// or `none`.
    #[arg(long, default_value = "last")]
    pub probs: String,
    /// Do not write PNG quicklooks.
    #[arg(long)]
    pub no_png: bool,
    /// Store the ConvLSTM state after the last date here, for `chronomap update`.
    #[arg(long)]
    pub state_out: Option<PathBuf>,
    /// Backend: auto, flex (CPU), wgpu, vulkan, cuda, ...
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Resolves a `--dates` expression against a series.
pub fn select_dates(series: &SceneSeries, expr: &str) -> anyhow::Result<Vec<usize>> {
    let names: Vec<String> = series.dates().iter().map(|d| d.date.to_string()).collect();
    let expr = expr.trim();
    if expr.is_empty() || expr == "all" {
        return Ok((0..names.len()).collect());
    }
    if let Ok(year) = expr.parse::<i32>()
        && expr.len() == 4
    {
        let d = series.dates_in_year(year);
        anyhow::ensure!(
            !d.is_empty(),
            "{} has no date in {year} (dates: {names:?})",
            series.source().display()
        );
        return Ok(d);
    }
    let mut out = Vec::new();
    for part in expr.split(',') {
        let part = part.trim();
        let i = names
            .iter()
            .position(|n| n == part || n.replace('-', "") == part)
            .with_context(|| {
                format!(
                    "{} has no date {part} (dates: {names:?})",
                    series.source().display()
                )
            })?;
        out.push(i);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Spinner-style progress bar for windows.
pub fn window_bar(what: &str) -> ProgressBar {
    let pb = ProgressBar::new(0);
    if let Ok(s) = ProgressStyle::with_template(
        "{prefix} [{bar:30.cyan/blue}] {pos}/{len} windows ({elapsed} < {eta})",
    ) {
        pb.set_style(s.progress_chars("=> "));
    }
    pb.set_prefix(what.to_string());
    pb
}

/// Writes the PNG quicklooks of written maps (class maps; RGB composite of each date).
pub fn quicklooks(
    files: &[MapFile],
    card: &ModelCard,
    series: &SceneSeries,
    out: &Path,
) -> anyhow::Result<()> {
    let rgb = rgb_bands(series.bands());
    for f in files {
        class_map_png(
            &f.classes,
            &f.classes.with_extension("png"),
            &card.classes,
            card.model.num_classes,
            QUICKLOOK_SIDE,
        )?;
    }
    let mut done = Vec::new();
    for f in files {
        if done.contains(&f.date) {
            continue;
        }
        if let Some(i) = series
            .dates()
            .iter()
            .position(|d| d.date.to_string() == f.date)
        {
            rgb_png(
                series,
                i,
                rgb,
                &out.join(format!("{}_rgb.png", f.date)),
                QUICKLOOK_SIDE,
            )?;
        }
        done.push(f.date.clone());
    }
    Ok(())
}

/// Runs `chronomap predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = chronomap::device_from_name(&args.device)?;
    let (model, card) = load_model_dir(&args.model, &device)
        .with_context(|| format!("loading the model from {}", args.model.display()))?;
    let series = SceneSeries::open_path(&args.data)?;
    let dates = select_dates(&series, &args.dates)?;
    let window = args.window.unwrap_or((card.patch_size * 2).clamp(64, 512));
    let config = PredictConfig {
        window,
        overlap: args.overlap.unwrap_or(window / 8),
        batch_windows: args.batch_windows,
        date_maps: !args.no_date_maps,
        probabilities: match args.probs.as_str() {
            "last" => ProbabilityMaps::Last,
            "all" => ProbabilityMaps::All,
            "none" => ProbabilityMaps::None,
            other => anyhow::bail!("unknown --probs {other:?} (last, all or none)"),
        },
        map_dates: match args.maps.as_str() {
            "all" => None,
            "last" => Some(vec![dates.len() - 1]),
            other => anyhow::bail!("unknown --maps {other:?} (all or last)"),
        },
    };
    let pb = window_bar("predict");
    let files = predict_scene(
        &model,
        &card,
        &series,
        &dates,
        &args.out,
        &config,
        args.state_out.as_deref(),
        &device,
        &pb,
    )?;
    pb.finish_and_clear();
    if !args.no_png {
        quicklooks(&files, &card, &series, &args.out)?;
    }
    for f in &files {
        println!("{} {:<5} {}", f.date, f.kind, f.classes.display());
    }
    if let Some(s) = &args.state_out {
        println!(
            "state after {}: {}",
            files.last().map(|f| f.date.as_str()).unwrap_or("-"),
            s.display()
        );
    }
    Ok(())
}
