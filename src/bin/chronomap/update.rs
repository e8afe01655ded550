//! `chronomap update`: fold new acquisitions into a stored ConvLSTM state and map them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chronomap::burn::tensor::Device;
use chronomap::data::{DateEntry, Manifest, MaskEntry, SceneSeries};
use chronomap::model::SpatioTemporalNet;
use chronomap::train::{
    ModelCard, PredictConfig, ProbabilityMaps, SceneState, load_model_dir, update_scene,
};

use crate::predict::{quicklooks, window_bar};

/// Options of `chronomap update`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model that made the state (a model folder or a training run folder).
    #[arg(long)]
    pub model: PathBuf,
    /// The state folder written by `chronomap predict --state-out` (updated in place, safely);
    /// for a collection, the folder holding one state per series (`<state>/<series name>`).
    #[arg(long)]
    pub state: PathBuf,
    /// A series (manifest or folder): its dates after the state's last date are folded in,
    /// in order. Or a collection (`collection.json`): every series whose state is in
    /// `<state>/<name>` is updated, maps in `<out>/<name>`.
    #[arg(long, conflicts_with = "image")]
    pub data: Option<PathBuf>,
    /// One new acquisition (multi-band GeoTIFF with the model's bands, same grid).
    #[arg(long, requires = "date")]
    pub image: Option<PathBuf>,
    /// Date of `--image` (YYYY-MM-DD).
    #[arg(long)]
    pub date: Option<String>,
    /// Cloud mask of `--image` (non-zero = masked).
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Nodata value of `--image` (default: the file's own).
    #[arg(long)]
    pub nodata: Option<f64>,
    /// Output folder for the new maps.
    #[arg(long)]
    pub out: PathBuf,
    /// Do not write the per-date map of the new date(s).
    #[arg(long)]
    pub no_date_maps: bool,
    /// Do not write probability GeoTIFFs.
    #[arg(long)]
    pub no_probs: bool,
    /// Do not write PNG quicklooks.
    #[arg(long)]
    pub no_png: bool,
    /// Backend: auto, flex (CPU), wgpu, vulkan, cuda, ...
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Runs `chronomap update`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = chronomap::device_from_name(&args.device)?;
    let (model, card) = load_model_dir(&args.model, &device)
        .with_context(|| format!("loading the model from {}", args.model.display()))?;
    if let Some(d) = &args.data
        && chronomap::data::Collection::is_collection_path(d)
    {
        return collection(&args, d, &model, &card, &device);
    }
    let series = match (&args.data, &args.image) {
        (Some(d), _) => SceneSeries::open_path(d)?,
        (None, Some(img)) => {
            let date = args.date.clone().context("--image needs --date")?;
            let manifest = Manifest {
                version: chronomap::data::MANIFEST_VERSION,
                bands: card.bands.clone(),
                nodata: args.nodata,
                classes: card.classes.clone(),
                dates: vec![DateEntry {
                    date,
                    image: Some(img.clone()),
                    bands: None,
                    mask: args.mask.clone().map(MaskEntry::Path),
                    labels: None,
                    add_offset: None,
                    scale: None,
                    meta: None,
                }],
                labels: Vec::new(),
                ground_truth: Vec::new(),
                meta: None,
            };
            let base = std::env::current_dir()?;
            SceneSeries::from_manifest(manifest, &base, img)?
        }
        (None, None) => anyhow::bail!(
            "give the new acquisitions with --data MANIFEST or --image FILE --date DATE"
        ),
    };
    update_one(
        &args,
        &series,
        &args.state,
        &args.out,
        &model,
        &card,
        &device,
    )
}

/// Folds the dates of `series` after the state's last date into the state in `state_dir`,
/// maps into `out`.
fn update_one(
    args: &Args,
    series: &SceneSeries,
    state_dir: &Path,
    out: &Path,
    model: &SpatioTemporalNet,
    card: &ModelCard,
    device: &Device,
) -> anyhow::Result<()> {
    let (before, state_window) = {
        let meta = SceneState::open(state_dir)?;
        (meta.meta().dates.len(), meta.meta().window)
    };
    let config = PredictConfig {
        window: state_window,
        overlap: 0,
        batch_windows: 1,
        date_maps: !args.no_date_maps,
        probabilities: if args.no_probs {
            ProbabilityMaps::None
        } else {
            ProbabilityMaps::Last
        },
        map_dates: None,
    };
    let pb = window_bar("update");
    let (files, state) = update_scene(
        model, card, series, state_dir, None, out, &config, device, &pb,
    )?;
    pb.finish_and_clear();
    if !args.no_png {
        quicklooks(&files, card, series, out)?;
    }
    for f in &files {
        println!("{} {:<5} {}", f.date, f.kind, f.classes.display());
    }
    println!(
        "state {}: {} dates (was {}), last {}",
        state_dir.display(),
        state.meta().dates.len(),
        before,
        state.meta().dates.last().map(String::as_str).unwrap_or("-")
    );
    Ok(())
}

/// `update` over a collection: every series with a state in `<state>/<name>`; one failing
/// series does not stop the others (exit status as `predict`'s: 65 fatal, 75 retryable).
fn collection(
    args: &Args,
    data: &Path,
    model: &SpatioTemporalNet,
    card: &ModelCard,
    device: &Device,
) -> anyhow::Result<()> {
    let (_, opened) = chronomap::data::Collection::open_each(data)?;
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    let mut done = 0usize;
    for (entry, series) in opened {
        let state = args.state.join(&entry.name);
        if !state.is_dir() {
            eprintln!("{}: no state in {}, skipped", entry.name, state.display());
            continue;
        }
        let result = series.map_err(anyhow::Error::from).and_then(|s| {
            update_one(
                args,
                &s,
                &state,
                &args.out.join(&entry.name),
                model,
                card,
                device,
            )
        });
        match result {
            Ok(()) => done += 1,
            Err(e) => {
                eprintln!("{}: failed: {e:#}", entry.name);
                failed.push((entry.name, e));
            }
        }
    }
    eprintln!("{done} series updated, {} failed", failed.len());
    crate::predict::exit_for_failures(&failed);
    Ok(())
}
