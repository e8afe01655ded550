//! Scene inference on a Sentinel-2-tile-sized scene keeps memory bounded.

use burn::prelude::*;
use chronomap_model::SpatioTemporalNetConfig;
use chronomap_train::{Products, ProgressBar, WindowPlan, init_model, run_scene};

use crate::procedural::Procedural;

/// Peak resident memory of this process (`VmHWM`), in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Scene inference streams rows of windows: what it holds at once (the blending ring buffers,
/// one batch) depends on the scene's *width*, not its height. So a strip as wide as a Sentinel-2
/// tile (10980 px) and 1024 rows high, 2 dates, 512 px windows, fused + per-date maps of the
/// last date, needs the memory of the whole 10980 x 10980 tile, whose probabilities alone would
/// take 2 products x 5 classes x 10980^2 x 4 B = 4.8 GB if they were held. (The whole tile, 10x
/// the rows, is `chronomap bench --only scene --scene 10980`, minutes on 2 cores.)
#[test]
fn tile_wide_scene_inference_has_bounded_memory() {
    let dev = Device::flex();
    let model = init_model(&SpatioTemporalNetConfig::tiny(4, 5), &dev, 1);
    let (height, width) = (1024, 10_980);
    let reader = Procedural {
        height,
        width,
        dates: 2,
    };
    let plan = WindowPlan::new([height, width], 512, 32, 4);
    let products = Products {
        date: true,
        fused: true,
        probability_dates: vec![1],
        dates: vec![1],
    };
    let mut rows = 0usize;
    let t0 = std::time::Instant::now();
    run_scene(
        &model,
        &reader,
        &plan,
        2,
        &products,
        None,
        &dev,
        &ProgressBar::hidden(),
        &mut |b| {
            rows += b.n_rows;
            Ok(())
        },
    )
    .expect("run");
    assert_eq!(rows, height);
    let peak = peak_rss_mib().expect("VmHWM");
    eprintln!(
        "{height} x {width}, {} windows: {:.0} s, peak RSS {peak:.0} MiB",
        plan.len(),
        t0.elapsed().as_secs_f64()
    );
    // Ring buffers: 2 products x 5 classes x 512 rows x 10980 x 4 B = 225 MB, plus a batch.
    assert!(peak < 1500.0, "peak RSS {peak:.0} MiB");
}
