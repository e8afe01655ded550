//! Scene inference on a Sentinel-2-tile-sized scene keeps memory bounded.

use burn::prelude::*;
use chronomap_geo::Window as PixelWindow;
use chronomap_model::SpatioTemporalNetConfig;
use chronomap_train::{
    Products, ProgressBar, SceneReader, WindowPlan, init_model, quality, run_scene,
};

/// Peak resident memory of this process (`VmHWM`), in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Pixels computed on the fly: a 10980 x 10980 scene that exists nowhere in memory.
struct Tile {
    dates: usize,
}

impl SceneReader for Tile {
    fn size(&self) -> [usize; 2] {
        [10_980, 10_980]
    }
    fn channels(&self) -> usize {
        4
    }
    fn num_dates(&self) -> usize {
        self.dates
    }
    fn read(&self, date: usize, w: PixelWindow) -> chronomap_train::Result<(Vec<f32>, Vec<u8>)> {
        let mut img = Vec::with_capacity(4 * w.area());
        for c in 0..4 {
            for y in w.row..w.row + w.height {
                for x in w.col..w.col + w.width {
                    img.push(((x * 7 + y * 3 + c * 11 + date * 5) % 17) as f32 / 8.0 - 1.0);
                }
            }
        }
        Ok((img, vec![quality::CLEAR; w.area()]))
    }
}

/// A whole 10980 x 10980 tile, 2 dates, 512 px windows, fused + per-date maps of the last
/// date: the peak resident memory stays far below what the tile's outputs would take
/// (2 dates x 5 classes x 10980^2 x 4 B = 4.8 GB for the probabilities alone).
///
/// Takes a few minutes on 2 cores, so it is ignored by default:
/// `cargo test --release -p chronomap-train --test it -- --ignored large_scene`.
#[test]
#[ignore = "takes minutes; run manually to check the memory bound"]
fn large_scene_inference_has_bounded_memory() {
    let dev = Device::flex();
    let model = init_model(&SpatioTemporalNetConfig::tiny(4, 5), &dev, 1);
    let reader = Tile { dates: 2 };
    let plan = WindowPlan::new([10_980, 10_980], 512, 32, 4);
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
    assert_eq!(rows, 10_980);
    let peak = peak_rss_mib().expect("VmHWM");
    eprintln!(
        "10980 x 10980, {} windows: {:.0} s, peak RSS {peak:.0} MiB",
        plan.len(),
        t0.elapsed().as_secs_f64()
    );
    // Ring buffers: 2 products x 5 classes x 512 rows x 10980 x 4 B = 225 MB, plus a batch.
    assert!(peak < 1500.0, "peak RSS {peak:.0} MiB");
}
