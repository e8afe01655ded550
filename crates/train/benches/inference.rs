//! Hot paths of chronomap-train: whole-scene inference (windows, recurrence, blending,
//! row hand-off), a training step of the loop, and confusion-matrix accumulation.
//!
//! `cargo bench -p chronomap-train --bench inference` (Flex CPU backend).

use burn::prelude::*;
use chronomap_model::SpatioTemporalNetConfig;
use chronomap_train::{
    ConfusionMatrix, HostBatch, LossConfig, Products, ProgressBar, WindowPlan, init_model,
    run_scene,
};
use divan::counter::ItemsCount;

fn main() {
    divan::main();
}

#[path = "../tests/it/procedural.rs"]
mod procedural;
use procedural::Procedural;

/// Whole-scene inference of a 512 x 512 scene, 3 dates, 128 px windows, the CPU preset's
/// network (base 16, depth 3): fused and per-date class maps of the last date.
#[divan::bench(sample_count = 5)]
fn scene_512px_t3_cpu_preset(bencher: divan::Bencher) {
    let dev = Device::flex();
    let cfg = SpatioTemporalNetConfig::new(4, 5)
        .with_base_filters(16)
        .with_depth(3)
        .with_hidden_channels(8);
    let model = init_model(&cfg, &dev, 1);
    let reader = Procedural {
        height: 512,
        width: 512,
        dates: 3,
    };
    let plan = WindowPlan::new([512, 512], 128, 16, 8);
    let products = Products {
        date: true,
        fused: true,
        probability_dates: vec![],
        dates: vec![2],
    };
    bencher
        .counter(ItemsCount::new(512usize * 512 * 3))
        .bench_local(|| {
            run_scene(
                &model,
                &reader,
                &plan,
                4,
                &products,
                None,
                &dev,
                &ProgressBar::hidden(),
                &mut |_| Ok(()),
            )
            .expect("run");
        });
}

/// One optimizer step of the joint stage: batch 8 x 4 dates x 64 px, CPU preset network.
#[divan::bench(sample_count = 5)]
fn train_step_b8_t4_64px_cpu_preset(bencher: divan::Bencher) {
    use burn::optim::{AdamWConfig, GradientsParams};
    let dev = Device::flex().autodiff();
    let cfg = SpatioTemporalNetConfig::new(4, 5)
        .with_base_filters(16)
        .with_depth(3)
        .with_hidden_channels(8);
    let mut model = init_model(&cfg, &dev, 1);
    let mut optim = AdamWConfig::new().init();
    let n = 8 * 4 * 4 * 64 * 64;
    let batch = HostBatch {
        shape: [8, 4, 4, 64, 64],
        images: (0..n)
            .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
            .collect(),
        labels: (0..8 * 4 * 64 * 64).map(|i| ((i / 64) % 5) as u8).collect(),
    };
    let loss = LossConfig::default();
    bencher
        .counter(ItemsCount::new(8usize * 4 * 64 * 64))
        .bench_local(|| {
            let (x, y) = batch.to_tensors(&dev);
            let out = model.forward(x);
            let terms = loss.joint(out.date_logits, out.fused_logits, y);
            let grads = GradientsParams::from_grads(terms.total.backward(), &model);
            model = optim.step(1e-3, model.clone(), grads);
        });
}

/// Confusion-matrix accumulation over 4 M pixels.
#[divan::bench]
fn confusion_4m_pixels(bencher: divan::Bencher) {
    let n: usize = 4 << 20;
    let labels: Vec<u8> = (0..n).map(|i| (i % 5) as u8).collect();
    let preds: Vec<u8> = (0..n).map(|i| ((i / 3) % 5) as u8).collect();
    bencher.counter(ItemsCount::new(n)).bench_local(|| {
        let mut cm = ConfusionMatrix::new(5);
        cm.update_u8(&labels, &preds);
        divan::black_box(cm.total())
    });
}
