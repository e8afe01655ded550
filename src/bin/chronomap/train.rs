//! `chronomap train`: train the spatio-temporal network on a scene series or a collection of
//! series (cities, tiles).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use chronomap::data::{Collection, NormStats, SceneSeries};
use chronomap::train::{
    BatchSource, CollectionPlan, DataPlan, DateHoldOut, DrawRule, Interrupt, OptimizerKind, Preset,
    StartMode, TrainConfig, TrainOutcome, Trainer, balanced_class_weights, model_card,
    patch_size_for, prepare_collection, prepare_data,
};

/// Options of `chronomap train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The series: a manifest JSON (`chronomap synth` writes one) or a folder of GeoTIFFs; or a
    /// collection of series: a `collection.json` (`chronomap synth --cities N` writes one) or
    /// a folder holding one.
    #[arg(long)]
    pub data: PathBuf,
    /// Collection: series held out of training entirely, by name (scored by `evaluate`).
    #[arg(long, value_delimiter = ',')]
    pub held_out: Vec<String>,
    /// Collection: dates held out of training in every series: `none` or `last-of-each-year`.
    #[arg(long, default_value = "none")]
    pub hold_out_dates: String,
    /// Collection: how training windows are shared among series: `labelled-area`
    /// (proportional to each series' labelled clear area) or `uniform`.
    #[arg(long, default_value = "labelled-area")]
    pub draw: String,
    /// Residual fusion (fused logits = ConvLSTM head + the date's own logits): the fused map
    /// starts from the per-date map at a series' first date. Off by default (the talk's and
    /// the PyTorch parity network).
    #[arg(long)]
    pub residual: bool,
    /// At a series' first date (no ConvLSTM history) the fused map is the per-date map
    /// (off by default: the parity network).
    #[arg(long)]
    pub first_date_from_unet: bool,
    /// Run folder: config, checkpoints, best/ and last/ models, metrics, curves.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run from its newest checkpoint (same options required).
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Start over in a folder that already holds a run (deletes its checkpoints and models).
    #[arg(long)]
    pub overwrite: bool,
    /// Backend: auto, flex (CPU), wgpu, vulkan, cuda, ...
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Data-parallel training over several devices, e.g. `cuda:0,cuda:1` or `wgpu:0,wgpu:1`:
    /// every batch is split over them and their gradients are summed on the first, where the
    /// model and optimizer live (overrides --device). Batch norm normalizes each device's
    /// shard on its own, as PyTorch DDP without SyncBatchNorm. One machine only: Burn 0.22.1
    /// has no multi-node training.
    #[arg(long)]
    pub devices: Option<String>,
    /// Size preset: quick, cpu or paper (default: paper on a GPU, cpu on a CPU).
    #[arg(long)]
    pub preset: Option<String>,
    /// Training plan: `staged` (U-Net, then ConvLSTM on frozen Pmaps, then joint) or `joint`.
    #[arg(long, default_value = "staged")]
    pub schedule: String,
    /// Epochs of the joint plan, or of every stage of the staged plan if the per-stage options
    /// are not given.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Epochs of the U-Net stage.
    #[arg(long)]
    pub unet_epochs: Option<usize>,
    /// Epochs of the ConvLSTM stage.
    #[arg(long)]
    pub temporal_epochs: Option<usize>,
    /// Epochs of joint fine-tuning.
    #[arg(long)]
    pub joint_epochs: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning rate of the ConvLSTM stage (default: 5 x --lr: the small temporal part needs
    /// larger steps).
    #[arg(long)]
    pub temporal_lr: Option<f64>,
    /// Learning rate of joint fine-tuning (default: --lr / 5).
    #[arg(long)]
    pub joint_lr: Option<f64>,
    /// adam or adamw.
    #[arg(long, default_value = "adamw")]
    pub optimizer: String,
    /// Weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f32,
    /// U-Net base filters (overrides the preset).
    #[arg(long)]
    pub base_filters: Option<usize>,
    /// U-Net depth (overrides the preset).
    #[arg(long)]
    pub depth: Option<usize>,
    /// ConvLSTM hidden channels (overrides the preset).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Patch side in pixels (overrides the preset).
    #[arg(long)]
    pub patch: Option<usize>,
    /// Batch size (overrides the preset).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Random training windows per epoch (overrides the preset).
    #[arg(long)]
    pub windows_per_epoch: Option<usize>,
    /// Dates per training sequence (default: the preset's, at most the dates of a year).
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Fraction of the area held out for validation.
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Weight of the auxiliary per-date loss.
    #[arg(long, default_value_t = 0.4)]
    pub aux_weight: f32,
    /// Class weights of the loss: `auto` (square-root inverse class frequencies of the training
    /// labels), `none`, or one weight per class, comma-separated.
    #[arg(long, default_value = "auto")]
    pub class_weights: String,
    /// Number of classes (default: the manifest's class list).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Normalization statistics JSON to reuse (default: computed from the series).
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// Train on the manifest's ground-truth rasters instead of its labels (synthetic worlds).
    #[arg(long)]
    pub ground_truth: bool,
    /// Seed of initialization, split and sampling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Runs `chronomap train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let replicas = match &args.devices {
        Some(list) => chronomap::devices_from_list(list)?,
        None => Vec::new(),
    };
    let device = match replicas.first() {
        Some(d) => d.clone(),
        None => chronomap::device_from_name(&args.device)?,
    };
    let on_gpu = !chronomap::describe_device(&device)
        .to_lowercase()
        .contains("cpu")
        && !chronomap::describe_device(&device)
            .to_lowercase()
            .contains("flex");
    let preset_name = args
        .preset
        .clone()
        .unwrap_or_else(|| if on_gpu { "paper" } else { "cpu" }.into());
    let preset = Preset::by_name(&preset_name)
        .with_context(|| format!("unknown preset {preset_name:?} (quick, cpu, paper)"))?;
    eprintln!(
        "device: {}; preset: {}",
        chronomap::describe_device(&device),
        preset.name
    );

    let hold_out_dates = match args.hold_out_dates.as_str() {
        "none" => DateHoldOut::None,
        "last-of-each-year" | "last_of_each_year" => DateHoldOut::LastOfEachYear,
        other => anyhow::bail!("unknown --hold-out-dates {other:?} (none or last-of-each-year)"),
    };
    let draw = match args.draw.as_str() {
        "labelled-area" | "labelled_area" | "area" => DrawRule::LabelledArea,
        "uniform" => DrawRule::Uniform,
        other => anyhow::bail!("unknown --draw {other:?} (labelled-area or uniform)"),
    };
    let source = if Collection::is_collection_path(&args.data) {
        anyhow::ensure!(
            !args.ground_truth,
            "--ground-truth is for one synthetic series, not a collection"
        );
        let mut c = Collection::open(&args.data)?;
        let loaded = c.load_into_memory(2 << 30)?;
        eprintln!(
            "collection {}: {} series ({} read into memory): {}",
            args.data.display(),
            c.len(),
            loaded,
            c.names().join(", ")
        );
        Source::Collection(c)
    } else {
        anyhow::ensure!(
            args.held_out.is_empty() && hold_out_dates == DateHoldOut::None,
            "--held-out and --hold-out-dates are for collections; {} is one series",
            args.data.display()
        );
        let mut series = SceneSeries::open_path(&args.data)?;
        series.set_use_ground_truth(args.ground_truth);
        let _ = series.load_into_memory(2 << 30)?;
        Source::Series(Arc::new(series))
    };
    let (bands, classes) = match &source {
        Source::Series(s) => (s.bands().len(), s.classes().len()),
        Source::Collection(c) => (c.bands().len(), c.classes().len()),
    };
    let k = match args.classes {
        Some(k) => k,
        None if classes > 0 => classes,
        None => anyhow::bail!(
            "{} declares no classes: pass --classes N (or add \"classes\" to the manifest)",
            args.data.display()
        ),
    };
    // Smallest side and shortest year over the series (the patches and sequences must fit all).
    let series_list: Vec<&SceneSeries> = match &source {
        Source::Series(s) => vec![&**s],
        Source::Collection(c) => c
            .series()
            .iter()
            .zip(c.names())
            .filter(|(_, n)| !args.held_out.iter().any(|h| h == n))
            .map(|(s, _)| &**s)
            .collect(),
    };
    let side = series_list
        .iter()
        .map(|s| s.width().min(s.height()))
        .min()
        .unwrap_or(0);
    // Training dates per year of a series (the last one held out when asked).
    let drop_last = usize::from(hold_out_dates == DateHoldOut::LastOfEachYear);
    let year_lens = |s: &&SceneSeries| -> Vec<usize> {
        s.sequences_by_year()
            .iter()
            .map(|g| g.len().saturating_sub(drop_last))
            .collect()
    };
    // One series: its shortest year bounds the sequence length. A collection: the longest
    // year of any series does (shorter years are padded, their padded steps not scored).
    let max_len = match source {
        Source::Series(_) => series_list.iter().flat_map(year_lens).min(),
        Source::Collection(_) => series_list.iter().flat_map(year_lens).max(),
    }
    .unwrap_or(1)
    .max(1);
    let mut model = preset
        .model(bands, k)
        .with_residual(args.residual.then_some(true))
        .with_first_date_from_unet(args.first_date_from_unet.then_some(true));
    if let Some(v) = args.base_filters {
        model.base_filters = v;
    }
    if let Some(v) = args.depth {
        model.depth = v;
    }
    if let Some(v) = args.hidden {
        model.hidden_channels = v;
    }
    let patch = match args.patch {
        Some(p) => p,
        None => {
            let multiple = model.size_multiple();
            let (p, note) = patch_size_for(
                side,
                side,
                preset.patch_size,
                multiple,
                args.val_fraction > 0.0,
            )
            .with_context(|| format!("sizing patches for {}", args.data.display()))?;
            if let Some(note) = note {
                eprintln!("note: {note} (--patch to choose)");
            }
            p
        }
    };
    let batch = args.batch.unwrap_or(preset.batch_size);
    let lr = args.lr.unwrap_or(preset.lr);
    let mut config = match args.schedule.as_str() {
        "staged" => TrainConfig::staged(
            model,
            args.unet_epochs
                .or(args.epochs)
                .unwrap_or(preset.unet_epochs),
            args.temporal_epochs
                .or(args.epochs)
                .unwrap_or(preset.temporal_epochs),
            args.joint_epochs
                .or(args.epochs)
                .unwrap_or(preset.joint_epochs),
            lr,
        ),
        "joint" | "end-to-end" => TrainConfig::end_to_end(
            model,
            args.epochs
                .unwrap_or(preset.unet_epochs + preset.temporal_epochs + preset.joint_epochs),
            lr,
        ),
        other => anyhow::bail!("unknown --schedule {other:?} (staged or joint)"),
    };
    if config.stages.len() == 3 {
        if let Some(v) = args.temporal_lr {
            config.stages[1].lr = v;
        }
        if let Some(v) = args.joint_lr {
            config.stages[2].lr = v;
        }
    }
    config.optimizer.kind = match args.optimizer.as_str() {
        "adam" => OptimizerKind::Adam,
        "adamw" => OptimizerKind::AdamW,
        other => anyhow::bail!("unknown --optimizer {other:?} (adam or adamw)"),
    };
    config.optimizer.weight_decay = args.weight_decay;
    config.loss.aux_weight = args.aux_weight;
    config.patch_size = patch;
    config.batch_size = batch;
    config.seed = args.seed;

    let mut plan = DataPlan::new(patch, batch);
    plan.windows_per_epoch = args.windows_per_epoch.unwrap_or(preset.windows_per_epoch);
    plan.sequence_length = Some(args.seq_len.unwrap_or(preset.sequence_length.min(max_len)));
    plan.validation_fraction = args.val_fraction;
    plan.seed = args.seed;
    config.dates = plan.sequence_length.unwrap_or(1);
    let stats = match &args.stats {
        Some(p) => Some(NormStats::load(p)?),
        None => None,
    };
    eprintln!("preparing patches from {} ...", args.data.display());
    let mut prepared = match &source {
        Source::Series(series) => {
            let data = prepare_data(series.clone(), &plan, stats)?;
            let card = model_card(&data, &config);
            Prepared {
                stats: data.stats,
                class_frequencies: data.class_frequencies,
                notes: data.notes,
                train: Box::new(data.train),
                valid: boxed(data.valid),
                card,
                record: None,
            }
        }
        Source::Collection(c) => {
            let mut cplan = CollectionPlan::new(plan.clone());
            cplan.held_out_series = args.held_out.clone();
            cplan.held_out_dates = hold_out_dates;
            cplan.draw = draw;
            let data = prepare_collection(c, &cplan, stats)?;
            config.dates = data.sequence_length;
            for p in &data.parts {
                eprintln!(
                    "  {:<16} {:<12} {} dates, {} training sequences, {} windows/epoch",
                    p.name,
                    p.role,
                    p.train_dates.len() + p.held_out_dates.len(),
                    p.sequences.len(),
                    p.windows_per_epoch
                );
            }
            let card = data.model_card(&config);
            let record = data.record();
            Prepared {
                stats: data.stats,
                class_frequencies: data.class_frequencies,
                notes: data.notes,
                train: Box::new(data.train),
                valid: boxed(data.valid),
                card,
                record: Some(record),
            }
        }
    };
    for note in &prepared.notes {
        eprintln!("note: {note}");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    prepared.stats.save(args.out.join("normalization.json"))?;
    config.loss.class_weights = match args.class_weights.trim() {
        "auto" => prepared
            .class_frequencies
            .as_ref()
            .map(|f| balanced_class_weights(f, 0.5)),
        "none" | "" => None,
        list => Some(
            list.split(',')
                .map(|v| v.trim().parse::<f32>())
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("--class-weights {list:?}: expected numbers"))?,
        ),
    };
    if let Some(w) = &config.loss.class_weights {
        eprintln!("class weights: {w:?}");
    }
    if let Some(record) = prepared.record.take() {
        config.data = Some(record);
    }
    let card = prepared.card.clone();
    let mode = if args.resume {
        StartMode::Resume
    } else if args.overwrite {
        StartMode::Overwrite
    } else {
        StartMode::New
    };
    let mut trainer = Trainer::new(config, &args.out, card)
        .with_interrupt(Interrupt::on_ctrl_c())
        .with_progress(true)
        .with_devices(replicas.clone());
    if replicas.len() > 1 {
        let names: Vec<String> = replicas.iter().map(chronomap::describe_device).collect();
        eprintln!(
            "data-parallel over {} devices: {}",
            replicas.len(),
            names.join(", ")
        );
        if trainer.config().batch_size < replicas.len() {
            eprintln!(
                "warning: batch size {} is smaller than the {} devices: some devices idle",
                trainer.config().batch_size,
                replicas.len()
            );
        }
    }
    let valid = prepared.valid.as_deref();
    match trainer.fit(&*prepared.train, valid, &device, mode)? {
        TrainOutcome::Finished(s) => {
            eprintln!(
                "done: {} iterations; best model {} (validation score {})",
                s.iterations,
                s.best_dir.display(),
                s.best
                    .map(|(v, e)| format!("{v:.4} at epoch {e}"))
                    .unwrap_or_else(|| if prepared.valid.is_none() {
                        "-: no validation set, see the note above".into()
                    } else {
                        "-".into()
                    })
            );
            eprintln!("metrics: {}", args.out.join("metrics.csv").display());
            Ok(())
        }
        TrainOutcome::Interrupted {
            checkpoint,
            iterations,
        } => {
            eprintln!(
                "stopped after {iterations} iterations; checkpoint {}\nresume with the same command plus --resume",
                checkpoint.display()
            );
            std::process::exit(130);
        }
    }
}

/// What training reads: one series or a collection.
enum Source {
    Series(Arc<SceneSeries>),
    Collection(Collection),
}

/// Batches, statistics and the model card of either source.
struct Prepared {
    stats: NormStats,
    class_frequencies: Option<Vec<f64>>,
    notes: Vec<String>,
    train: Box<dyn BatchSource>,
    valid: Option<Box<dyn BatchSource>>,
    card: chronomap::train::ModelCard,
    record: Option<serde_json::Value>,
}

/// A validation set as the trainer takes it.
fn boxed<B: BatchSource + 'static>(valid: Option<B>) -> Option<Box<dyn BatchSource>> {
    valid.map(|v| Box::new(v) as Box<dyn BatchSource>)
}
