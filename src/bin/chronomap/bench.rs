//! `chronomap bench`: times the network's evaluation forward, a training step and whole-scene
//! inference on one or more backends, with analytic GFLOP/s and peak memory.
//!
//! The workloads are those of [`chronomap::bench`] (shared with `cargo bench --bench network`)
//! and of the PyTorch twin `benches/pytorch/chronomap_torch.py`; the JSON uses the twin's
//! field names where they mean the same thing, and `benches/pytorch/compare.py` runs both.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chronomap::bench::{
    EvalForward, SceneInference, Timing, TrainStep, Workload, current_rss_bytes, measure,
    peak_rss_bytes, reset_peak_rss,
};
use chronomap::burn::prelude::*;
use chronomap::model::SpatioTemporalNetConfig;
use chronomap::{DeviceChoice, describe_device, select_device};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// Options of `chronomap bench`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    chronomap bench                                  # reference workload on the best device\n  \
    chronomap bench --device cpu --threads 2 --json bench.json\n  \
    chronomap bench --device cuda --only scene --scene 10980 --scene-iters 1\n  \
    python3 benches/pytorch/compare.py --threads 2   # side by side with PyTorch")]
pub struct Args {
    /// Backends to time, comma-separated: auto, cpu (= flex), ndarray, wgpu, vulkan, cuda.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    pub device: Vec<String>,
    /// Series per batch (B); also the windows per batch of scene inference.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Dates per series (T); also the dates of the scene.
    #[arg(long, default_value_t = 3)]
    pub time: usize,
    /// Image side in pixels (S), also the scene window side; a multiple of 2^depth.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Scene for sliding-window inference: a side (`1024`) or `HEIGHTxWIDTH` (`256x10980`: one
    /// row of windows across a Sentinel-2 tile, whose memory is that of the whole tile); `0`
    /// skips it. Throughput: Mpx/s = height * width * T / 1e6 / seconds.
    #[arg(long, default_value = "1024", value_parser = parse_scene)]
    pub scene: SceneArg,
    /// Minimum overlap of neighbouring scene windows in pixels [default: size / 8, as
    /// `chronomap predict`].
    #[arg(long)]
    pub overlap: Option<usize>,
    /// Untimed iterations before timing the eval forward and the training step.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed iterations of the eval forward and the training step.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Untimed scene runs [default: min(warmup, 1), as the PyTorch twin].
    #[arg(long)]
    pub scene_warmup: Option<usize>,
    /// Timed scene runs [default: max(1, iters / 2), as the PyTorch twin].
    #[arg(long)]
    pub scene_iters: Option<usize>,
    /// Workloads to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "eval,train,scene")]
    pub only: Vec<Part>,
    /// CPU threads (rayon's global pool) [default: RAYON_NUM_THREADS or all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Input bands of the network.
    #[arg(long, default_value_t = 4)]
    pub in_channels: usize,
    /// Classes of the network.
    #[arg(long, default_value_t = 5)]
    pub classes: usize,
    /// U-Net filters at the first level [default: 32, or 8 with --tiny].
    #[arg(long)]
    pub base: Option<usize>,
    /// U-Net depth [default: 4, or 2 with --tiny].
    #[arg(long)]
    pub depth: Option<usize>,
    /// ConvLSTM hidden channels [default: 16, or 4 with --tiny].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// The tiny test network (base 8, depth 2, hidden 4) instead of the default one.
    #[arg(long)]
    pub tiny: bool,
    /// Disable chronomap's fast CPU kernels on Flex (time Burn's stock operations instead).
    #[arg(long)]
    pub stock_cpu: bool,
    /// Seed of the weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the results as JSON to FILE (`-` or no value: to stdout, the table then goes to
    /// stderr).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
}

/// A workload of `chronomap bench`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Network forward in evaluation mode.
    Eval,
    /// One training step (forward, loss, backward, Adam).
    Train,
    /// Sliding-window scene inference.
    Scene,
}

/// `--scene`: `None` to skip, else `[height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SceneArg(Option<[usize; 2]>);

fn parse_scene(s: &str) -> Result<SceneArg, String> {
    let num = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("expected a side (1024) or HEIGHTxWIDTH (256x10980), got {s:?}"))
    };
    let dims = match s.split_once(['x', 'X']) {
        Some((h, w)) => [num(h)?, num(w)?],
        None => {
            let v = num(s)?;
            [v, v]
        }
    };
    Ok(SceneArg(match dims {
        [0, _] | [_, 0] => None,
        d => Some(d),
    }))
}

/// Runs `chronomap bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot set the number of CPU threads")?;
    }
    if args.stock_cpu {
        chronomap::model::cpu::set_fast_path(false);
    }
    let (base, depth, hidden) = if args.tiny { (8, 2, 4) } else { (32, 4, 16) };
    let workload = Workload {
        network: SpatioTemporalNetConfig::new(args.in_channels, args.classes)
            .with_base_filters(args.base.unwrap_or(base))
            .with_depth(args.depth.unwrap_or(depth))
            .with_hidden_channels(args.hidden.unwrap_or(hidden)),
        batch: args.batch,
        time: args.time,
        size: args.size,
        scene: if args.only.contains(&Part::Scene) {
            args.scene.0
        } else {
            None
        },
        overlap: args.overlap.unwrap_or(args.size / 8),
        seed: args.seed,
    };
    workload.check()?;
    if args.iters == 0 || args.scene_iters == Some(0) {
        bail!("--iters and --scene-iters must be at least 1");
    }
    let scene_warmup = args.scene_warmup.unwrap_or(args.warmup.min(1));
    let scene_iters = args.scene_iters.unwrap_or((args.iters / 2).max(1));
    let to_stdout_json = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let say = |line: String| {
        if to_stdout_json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };

    let threads = rayon::current_num_threads();
    let fast_cpu = chronomap::model::cpu::fast_path_enabled();
    let cfg = &workload.network;
    say(format!(
        "chronomap {} bench | {} | {threads} CPU threads | fast CPU path {}",
        env!("CARGO_PKG_VERSION"),
        cpu_model(),
        if fast_cpu { "on" } else { "off" }
    ));
    say(format!(
        "network: in {}, classes {}, base {}, depth {}, hidden {} | B={} T={} {}x{} | \
         {:.3} GFLOP per forward",
        cfg.in_channels,
        cfg.num_classes,
        cfg.base_filters,
        cfg.depth,
        cfg.hidden_channels,
        workload.batch,
        workload.time,
        workload.size,
        workload.size,
        workload.forward_gflop()
    ));
    if let (Some([h, w]), Some(plan)) = (workload.scene, workload.scene_plan()) {
        say(format!(
            "scene: {h}x{w} px x {} dates, {} windows of {} px (overlap >= {}), {} per batch | \
             {:.1} GFLOP",
            workload.time,
            plan.len(),
            workload.size,
            workload.overlap,
            workload.batch,
            workload.scene_gflop()
        ));
    }

    let mut backends = serde_json::Map::new();
    let mut rows: Vec<String> = Vec::new();
    for name in &args.device {
        let choice: DeviceChoice = name.parse()?;
        let device = select_device(choice)?;
        let backend = backend_label(choice, &device);
        let description = describe_device(&device);
        eprintln!("[{backend}] {description}");
        let mut results = serde_json::Map::new();
        results.insert("device".into(), json!(description));
        for part in [Part::Eval, Part::Train, Part::Scene] {
            if !args.only.contains(&part) || (part == Part::Scene && workload.scene.is_none()) {
                continue;
            }
            cleanup(&device);
            let reset = reset_peak_rss();
            let rss_start = current_rss_bytes();
            let bar = bar(&format!("{backend} {}", part.key()));
            let (timing, gflop) = match part {
                Part::Eval => {
                    eprintln!(
                        "[{backend}] eval_forward: {} warm-up + {} timed iterations",
                        args.warmup, args.iters
                    );
                    let eval = EvalForward::new(&workload, &device);
                    let t = measure(args.warmup, args.iters, Some(&bar), || eval.run())
                        .context("eval forward failed")?;
                    (t, workload.forward_gflop())
                }
                Part::Train => {
                    eprintln!(
                        "[{backend}] train_step: {} warm-up + {} timed iterations",
                        args.warmup, args.iters
                    );
                    let mut step = TrainStep::new(&workload, &device);
                    let t = measure(args.warmup, args.iters, Some(&bar), || step.run())
                        .context("training step failed")?;
                    (t, workload.train_gflop())
                }
                Part::Scene => {
                    eprintln!(
                        "[{backend}] scene: {scene_warmup} warm-up + {scene_iters} timed runs"
                    );
                    let scene = SceneInference::new(&workload, &device);
                    let mut run = 0;
                    let total = scene_warmup + scene_iters;
                    let t = measure(scene_warmup, scene_iters, None, || {
                        run += 1;
                        bar.set_prefix(format!("{backend} scene {run}/{total}"));
                        bar.set_position(0);
                        scene.run(&bar)
                    })
                    .context("scene inference failed")?;
                    (t, workload.scene_gflop())
                }
            };
            bar.finish_and_clear();
            // Per-kernel times of the fast CPU path (warm-up included), when asked for.
            let profile = chronomap::model::cpu::profile_report();
            if !profile.is_empty() {
                eprintln!(
                    "[{backend}] {} kernel times (CHRONOMAP_CPU_PROFILE=1):",
                    part.key()
                );
                eprint!("{profile}");
            }
            let peak = if reset { peak_rss_bytes() } else { None };
            let pool = device.memory_pool_usage();
            let mut entry = timing_json(&timing);
            entry["gflop"] = json!(gflop);
            entry["gflops"] = json!(gflop / timing.median());
            if part == Part::Scene {
                let mpx = workload.scene_megapixels() / timing.median();
                entry["mpx_per_s"] = json!(mpx);
                entry["windows"] = json!(workload.scene_plan().map_or(0, |p| p.len()));
            }
            entry["rss_start_mb"] = json!(rss_start.map(mb));
            entry["peak_rss_mb"] = json!(peak.map(mb));
            entry["device_reserved_mb"] = json!(pool.as_ref().map(|p| mb(p.bytes_reserved)));
            entry["device_in_use_mb"] = json!(pool.as_ref().map(|p| mb(p.bytes_in_use)));
            rows.push(row(&backend, part, &timing, gflop, &entry));
            eprintln!("{}", rows.last().map_or("", String::as_str));
            results.insert(part.key().into(), entry);
        }
        cleanup(&device);
        backends.insert(backend, Value::Object(results));
    }

    say(String::new());
    say(format!(
        "{:<10} {:<13} {:>11} {:>11} {:>11} {:>9} {:>11} {:>10} {:>10}",
        "backend",
        "workload",
        "median ms",
        "min ms",
        "max ms",
        "GFLOP/s",
        "Mpx/s",
        "peak RSS",
        "device"
    ));
    for r in &rows {
        say(r.clone());
    }
    if let Some(path) = &args.json {
        let report = json!({
            "framework": "chronomap",
            "version": env!("CARGO_PKG_VERSION"),
            "threads": threads,
            "fast_cpu_path": fast_cpu,
            "cpu": cpu_model(),
            "batch": workload.batch,
            "time": workload.time,
            "size": workload.size,
            "in_ch": cfg.in_channels,
            "classes": cfg.num_classes,
            "base": cfg.base_filters,
            "depth": cfg.depth,
            "hidden": cfg.hidden_channels,
            "scene_height": workload.scene.map(|s| s[0]),
            "scene_width": workload.scene.map(|s| s[1]),
            "overlap": workload.overlap,
            "warmup": args.warmup,
            "iters": args.iters,
            "gflop_forward": workload.forward_gflop(),
            "gflop_train_step": workload.train_gflop(),
            "gflop_scene": workload.scene_gflop(),
            "peak_rss_mb": peak_rss_bytes().map(mb),
            "results": backends,
        });
        let text = serde_json::to_string_pretty(&report)? + "\n";
        if to_stdout_json {
            print!("{text}");
        } else {
            chronomap::train::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("results written to {}", path.display());
        }
    }
    Ok(())
}

impl Part {
    /// The key of the workload in the JSON report (the PyTorch twin's names).
    fn key(self) -> &'static str {
        match self {
            Part::Eval => "eval_forward",
            Part::Train => "train_step",
            Part::Scene => "scene",
        }
    }
}

/// `flex`, `wgpu`, ...: the name a user types, with `auto` resolved to what it picked.
fn backend_label(choice: DeviceChoice, device: &Device) -> String {
    if choice != DeviceChoice::Auto {
        return choice.name().to_string();
    }
    let d = format!("{device:?}").to_ascii_lowercase();
    ["flex", "cuda", "wgpu", "vulkan", "ndarray"]
        .into_iter()
        .find(|n| d.contains(n))
        .unwrap_or("auto")
        .to_string()
}

/// Frees cached buffers so that each workload's peak memory is its own.
fn cleanup(device: &Device) {
    chronomap::model::cpu::release_cached_buffers();
    device.memory_cleanup();
    trim_heap();
}

/// Hands the C heap's free memory back to the OS (glibc keeps freed blocks of the previous
/// workload otherwise, and they would count in the next workload's resident set).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: glibc's malloc_trim only releases free heap pages; it takes no pointers.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

fn bar(prefix: &str) -> ProgressBar {
    let pb = ProgressBar::new(0).with_prefix(prefix.to_string());
    if let Ok(s) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({elapsed})") {
        pb.set_style(s);
    }
    pb
}

fn timing_json(t: &Timing) -> Value {
    json!({
        "median_s": t.median(),
        "min_s": t.min(),
        "max_s": t.max(),
        "n": t.samples.len(),
        "samples_s": t.samples,
    })
}

fn row(backend: &str, part: Part, t: &Timing, gflop: f64, entry: &Value) -> String {
    let opt_mb = |v: &Value| v.as_f64().map_or("-".to_string(), |m| format!("{m:.0} MB"));
    format!(
        "{:<10} {:<13} {:>11.1} {:>11.1} {:>11.1} {:>9.1} {:>11} {:>10} {:>10}",
        backend,
        part.key(),
        t.median() * 1e3,
        t.min() * 1e3,
        t.max() * 1e3,
        gflop / t.median(),
        entry["mpx_per_s"]
            .as_f64()
            .map_or("-".to_string(), |m| format!("{m:.3}")),
        opt_mb(&entry["peak_rss_mb"]),
        opt_mb(&entry["device_reserved_mb"]),
    )
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The CPU's model name from `/proc/cpuinfo` ("unknown CPU" elsewhere).
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
