//! `chronomap predict`: per-date and fused land-cover maps of a whole scene series, or of
//! every series of a collection (one folder per series), optionally one shard of an array job.
//!
//! Outputs are idempotent: each scene's folder gets `chronomap-predict.json` last (inputs
//! hash, model weights hash, options, files); a scene whose sidecar matches is skipped, any
//! other is (re)done. One failed scene does not stop the others; the exit status says what
//! happened: 0 every scene done or complete, 75 (EX_TEMPFAIL) only retryable failures (I/O
//! errors other than a missing or unreadable input), 65 (EX_DATAERR) a scene failed on its
//! data or options (retrying will not help).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chronomap::data::{Collection, SceneSeries, Shard};
use chronomap::train::{
    MapFile, ModelCard, PredictConfig, ProbabilityMaps, QUICKLOOK_SIDE, class_map_png,
    load_model_dir, predict_scene, rgb_bands, rgb_png, write_json_atomic,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Options of `chronomap predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A model folder (`best/` of a run) or a training run folder (its `best/` is used).
    #[arg(long)]
    pub model: PathBuf,
    /// The series: a manifest JSON or a folder of GeoTIFFs; or a collection (`collection.json`
    /// or a folder holding one): every series is mapped into `<out>/<series name>/`.
    #[arg(long)]
    pub data: PathBuf,
    /// This task's shard of the collection's series, `I/N` (0 <= I < N): series sorted by name,
    /// the j-th goes to shard j mod N. Default: from `SLURM_ARRAY_TASK_ID` (minus
    /// `SLURM_ARRAY_TASK_MIN`) / `SLURM_ARRAY_TASK_COUNT`, `JOB_COMPLETION_INDEX` (with
    /// `--shards`), `AWS_BATCH_JOB_ARRAY_INDEX` / `AWS_BATCH_JOB_ARRAY_SIZE`; else all series.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Number of shards, when the scheduler sets only an index (Kubernetes Indexed Jobs: the
    /// Job's `completions`).
    #[arg(long)]
    pub shards: Option<usize>,
    /// List this shard's series (and whether their outputs are complete), then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Redo series whose outputs are already complete.
    #[arg(long)]
    pub force: bool,
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

/// One scene to map: its name, series (or why it did not open), output folder and where
/// its ConvLSTM state goes (`--state-out`, or `<state-out>/<series>` for a collection).
struct Scene {
    name: String,
    series: anyhow::Result<SceneSeries>,
    out: PathBuf,
    state: Option<PathBuf>,
}

/// Name of the sidecar written last into each scene's output folder.
pub const SIDECAR: &str = "chronomap-predict.json";

/// Exit status when only retryable failures happened (`EX_TEMPFAIL`).
pub const EXIT_RETRYABLE: i32 = 75;
/// Exit status when a scene failed on its data or options (`EX_DATAERR`).
pub const EXIT_FATAL: i32 = 65;

/// Runs `chronomap predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let collection = Collection::is_collection_path(&args.data);
    // A series that does not open is one failed scene, not the end of the job.
    let mut scenes: Vec<Option<Scene>> = if collection {
        let (_, opened) = Collection::open_each(&args.data)?;
        opened
            .into_iter()
            .map(|(e, s)| {
                Some(Scene {
                    out: args.out.join(&e.name),
                    state: args.state_out.as_ref().map(|p| p.join(&e.name)),
                    series: s.map_err(Into::into),
                    name: e.name,
                })
            })
            .collect()
    } else {
        let series = SceneSeries::open_path(&args.data)?;
        let name = args
            .data
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scene".into());
        vec![Some(Scene {
            name,
            series: Ok(series),
            out: args.out.clone(),
            state: args.state_out.clone(),
        })]
    };
    // Options are checked once, before any scene.
    let probabilities = match args.probs.as_str() {
        "last" => ProbabilityMaps::Last,
        "all" => ProbabilityMaps::All,
        "none" => ProbabilityMaps::None,
        other => anyhow::bail!("unknown --probs {other:?} (last, all or none)"),
    };
    let last_map_only = match args.maps.as_str() {
        "all" => false,
        "last" => true,
        other => anyhow::bail!("unknown --maps {other:?} (all or last)"),
    };
    let shard = match args.shard {
        Some(s) => s,
        None => Shard::from_env(|k| std::env::var(k).ok(), args.shards)?.unwrap_or_default(),
    };
    let names: Vec<&str> = scenes.iter().flatten().map(|s| s.name.as_str()).collect();
    let mine = shard.select(&names);
    let device = chronomap::device_from_name(&args.device)?;
    let (model, card) = load_model_dir(&args.model, &device)
        .with_context(|| format!("loading the model from {}", args.model.display()))?;
    let net = Net {
        model: &model,
        card: &card,
        device: &device,
    };
    let total = scenes.len();
    if args.dry_run || total > 1 || shard.count > 1 {
        eprintln!("shard {shard}: {} of {total} series", mine.len());
    }
    let (mut done, mut skipped) = (0usize, 0usize);
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    for &i in &mine {
        let Some(scene) = scenes[i].take() else {
            continue;
        };
        let series = match scene.series {
            Ok(ref s) => s,
            Err(e) => {
                eprintln!("{}: failed: {e:#}", scene.name);
                failed.push((scene.name, e));
                continue;
            }
        };
        let plan = match scene_plan(
            &args,
            series,
            &scene.name,
            &card,
            probabilities,
            last_map_only,
        ) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}: {e:#}", scene.name);
                failed.push((scene.name.clone(), e));
                continue;
            }
        };
        // Complete: the sidecar matches, and the state asked for (if any) is where asked.
        let complete = !args.force
            && is_complete(&scene.out, &plan.sidecar)
            && scene.state.as_ref().is_none_or(|s| s.is_dir());
        if args.dry_run {
            println!(
                "{} {} -> {}",
                scene.name,
                if complete { "complete" } else { "to do" },
                scene.out.display()
            );
            continue;
        }
        if complete {
            eprintln!(
                "{}: complete, skipped ({})",
                scene.name,
                scene.out.display()
            );
            skipped += 1;
            continue;
        }
        match predict_one(&args, &scene, series, &plan, &net) {
            Ok(files) => {
                done += 1;
                let prefix = if collection {
                    format!("{} ", scene.name)
                } else {
                    String::new()
                };
                for f in &files {
                    println!("{prefix}{} {:<5} {}", f.date, f.kind, f.classes.display());
                }
            }
            Err(e) => {
                eprintln!("{}: failed: {e:#}", scene.name);
                failed.push((scene.name.clone(), e));
            }
        }
    }
    if args.dry_run {
        return Ok(());
    }
    if total > 1 || shard.count > 1 || !failed.is_empty() {
        eprintln!(
            "shard {shard}: {done} mapped, {skipped} already complete, {} failed",
            failed.len()
        );
    }
    exit_for_failures(&failed);
    Ok(())
}

/// Lists `failed` series as retryable or fatal and exits with [`EXIT_FATAL`] (any fatal) or
/// [`EXIT_RETRYABLE`]; returns when nothing failed.
pub fn exit_for_failures(failed: &[(String, anyhow::Error)]) {
    if failed.is_empty() {
        return;
    }
    let fatal = failed.iter().any(|(_, e)| !retryable(e));
    for (name, e) in failed {
        eprintln!(
            "  {name}: {} ({e:#})",
            if retryable(e) { "retryable" } else { "fatal" }
        );
    }
    std::process::exit(if fatal { EXIT_FATAL } else { EXIT_RETRYABLE });
}

/// What one scene's run will be: dates, options, and the sidecar that marks it complete.
struct ScenePlan {
    dates: Vec<usize>,
    config: PredictConfig,
    sidecar: serde_json::Value,
}

fn scene_plan(
    args: &Args,
    series: &SceneSeries,
    name: &str,
    card: &ModelCard,
    probabilities: ProbabilityMaps,
    last_map_only: bool,
) -> anyhow::Result<ScenePlan> {
    let dates = select_dates(series, &args.dates)?;
    let window = args.window.unwrap_or((card.patch_size * 2).clamp(64, 512));
    let config = PredictConfig {
        window,
        overlap: args.overlap.unwrap_or(window / 8),
        batch_windows: args.batch_windows,
        date_maps: !args.no_date_maps,
        probabilities,
        map_dates: last_map_only.then(|| vec![dates.len() - 1]),
    };
    let date_names: Vec<String> = dates
        .iter()
        .map(|&d| series.dates()[d].date.to_string())
        .collect();
    let sidecar = json!({
        "format": 1,
        "scene": name,
        "inputs_hash": inputs_hash(series)?,
        "model_weights_hash": card.weights_hash,
        "dates": date_names,
        "options": {
            "window": config.window, "overlap": config.overlap,
            "date_maps": config.date_maps, "probs": args.probs, "maps": args.maps,
            "png": !args.no_png, "state": args.state_out.is_some(),
        },
    });
    Ok(ScenePlan {
        dates,
        config,
        sidecar,
    })
}

/// Whether `out` holds a complete run: a sidecar equal to `wanted` (but for its file list)
/// whose files all exist.
fn is_complete(out: &Path, wanted: &serde_json::Value) -> bool {
    let Ok(bytes) = std::fs::read(out.join(SIDECAR)) else {
        return false;
    };
    let Ok(mut found) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return false;
    };
    let files = found
        .as_object_mut()
        .and_then(|o| o.remove("files"))
        .unwrap_or_default();
    let all_there = files.as_array().is_some_and(|f| {
        f.iter()
            .all(|p| p.as_str().is_some_and(|p| out.join(p).is_file()))
    });
    all_there && &found == wanted
}

/// The loaded network and where it runs.
struct Net<'a> {
    model: &'a chronomap::model::SpatioTemporalNet,
    card: &'a ModelCard,
    device: &'a chronomap::burn::tensor::Device,
}

fn predict_one(
    args: &Args,
    scene: &Scene,
    series: &SceneSeries,
    plan: &ScenePlan,
    net: &Net,
) -> anyhow::Result<Vec<MapFile>> {
    let (model, card, device) = (net.model, net.card, net.device);
    // A stale sidecar must not outlive the outputs it described.
    let sidecar = scene.out.join(SIDECAR);
    match std::fs::remove_file(&sidecar) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", sidecar.display())),
    }
    let state = &scene.state;
    let pb = window_bar(&format!("predict {}", scene.name));
    let files = predict_scene(
        model,
        card,
        series,
        &plan.dates,
        &scene.out,
        &plan.config,
        state.as_deref(),
        device,
        &pb,
    )?;
    pb.finish_and_clear();
    let mut written: Vec<PathBuf> = Vec::new();
    for f in &files {
        written.push(f.classes.clone());
        written.extend(f.probabilities.clone());
    }
    if !args.no_png {
        quicklooks(&files, card, series, &scene.out)?;
    }
    let mut record = plan.sidecar.clone();
    let rel: Vec<String> = written
        .iter()
        .map(|p| {
            p.strip_prefix(&scene.out)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    record["files"] = json!(rel);
    write_json_atomic(&sidecar, &record)?;
    if let Some(s) = state {
        println!(
            "state after {}: {}",
            files.last().map(|f| f.date.as_str()).unwrap_or("-"),
            s.display()
        );
    }
    Ok(files)
}

/// FNV-1a 64 (hex) of what identifies a series' inputs without reading its pixels: the
/// manifest's bytes (or, for a folder, its file names and sizes), the grid and the dates.
fn inputs_hash(series: &SceneSeries) -> anyhow::Result<String> {
    let src = series.source();
    let mut bytes = Vec::new();
    if src.is_file() {
        bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    } else if src.is_dir() {
        let mut entries: Vec<(String, u64)> = std::fs::read_dir(src)
            .with_context(|| format!("listing {}", src.display()))?
            .filter_map(|e| e.ok())
            .map(|e| {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                (e.file_name().to_string_lossy().into_owned(), len)
            })
            .collect();
        entries.sort();
        for (n, l) in entries {
            bytes.extend_from_slice(n.as_bytes());
            bytes.extend_from_slice(&l.to_le_bytes());
        }
    }
    bytes.extend_from_slice(format!("{}x{}", series.width(), series.height()).as_bytes());
    for d in series.dates() {
        bytes.extend_from_slice(d.date.to_string().as_bytes());
    }
    Ok(chronomap::train::fnv1a_hex(&bytes))
}

/// Whether a failure may go away on a retry: an I/O error somewhere in its chain that is not
/// a missing or unreadable input.
fn retryable(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind as K;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            !matches!(
                io.kind(),
                K::NotFound | K::PermissionDenied | K::InvalidData | K::InvalidInput
            )
        })
    })
}
