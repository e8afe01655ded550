//! The same network on wgpu agrees with the CPU (Flex) result.
//!
//! Uses the parity fixture (weights and input written by an independent PyTorch build, see
//! `tests/fixtures/parity/README.md`), so both sides also compute meaningful logits. On a
//! machine without a GPU, Mesa's lavapipe (`apt-get install mesa-vulkan-drivers`) provides the
//! Vulkan adapter; with no adapter at all the test prints why it is skipped. Only native APIs
//! are tried (`DeviceChoice::Wgpu` never uses OpenGL: with `gdal-bin` installed but no Vulkan
//! driver, wgpu fell back to OpenGL on llvmpipe and this test ran for 13 minutes).

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use chronomap::model::SpatioTemporalNet;
use chronomap::{DeviceChoice, select_device};
use safetensors::{Dtype, SafeTensors};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/parity");

fn fixture_tensor(bytes: &[u8], key: &str) -> TensorData {
    let file = SafeTensors::deserialize(bytes).expect("valid safetensors");
    let view = file.tensor(key).expect("fixture key");
    let shape = view.shape().to_vec();
    match view.dtype() {
        Dtype::F32 => TensorData::new(
            view.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect::<Vec<f32>>(),
            shape,
        ),
        Dtype::I64 => TensorData::new(
            view.data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect::<Vec<i64>>(),
            shape,
        ),
        other => panic!("unexpected fixture dtype {other}"),
    }
}

fn load_net(device: &Device) -> SpatioTemporalNet {
    chronomap::model::SpatioTemporalNetConfig::tiny(4, 3)
        .init(device)
        .load_safetensors(format!("{FIXTURE}/weights.safetensors"))
        .expect("fixture weights load")
}

fn max_abs_diff(a: TensorData, b: TensorData) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter::<f32>()
        .zip(b.iter::<f32>())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `CE(fused) + 0.5 CE(date)` over every date and pixel, as the fixture defines the loss.
fn loss(date: Tensor<5>, fused: Tensor<5>, labels: Tensor<4, Int>) -> Tensor<1> {
    let k = date.dims()[2];
    let one_hot = labels.one_hot_fill::<5>(k, 1.0, 0.0, 2).float();
    let ce = |l: Tensor<5>| {
        (log_softmax(l, 2) * one_hot.clone())
            .sum_dim(2)
            .mean()
            .neg()
    };
    ce(fused) + ce(date) * 0.5
}

#[test]
fn wgpu_forward_and_gradients_match_flex() {
    let gpu = match select_device(DeviceChoice::Wgpu) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED wgpu_forward_and_gradients_match_flex: {e}");
            return;
        }
    };
    let bytes = std::fs::read(format!("{FIXTURE}/io.safetensors")).expect("fixture present");
    let input = fixture_tensor(&bytes, "input");
    let labels = fixture_tensor(&bytes, "labels");
    let cpu = Device::flex();

    // Eval mode: batch norm with running statistics.
    let run_eval = |device: &Device| {
        let out = load_net(device)
            .valid()
            .forward(Tensor::from_data(input.clone(), device));
        (out.date_logits.into_data(), out.fused_logits.into_data())
    };
    let (cpu_date, cpu_fused) = run_eval(&cpu);
    let (gpu_date, gpu_fused) = run_eval(&gpu);
    let d_date = max_abs_diff(cpu_date, gpu_date);
    let d_fused = max_abs_diff(cpu_fused, gpu_fused);
    eprintln!("eval: max |flex - wgpu| date logits {d_date:.2e}, fused logits {d_fused:.2e}");
    assert!(
        d_date <= 1e-3 && d_fused <= 1e-3,
        "eval logits disagree: {d_date} / {d_fused}"
    );

    // Training mode: batch statistics, the loss, and its gradient with respect to the input
    // (which runs the whole backward pass through the ConvLSTM and the U-Net).
    let run_train = |device: &Device| {
        let ad = device.clone().autodiff();
        let net = load_net(&ad);
        let x: Tensor<5> = Tensor::from_data(input.clone(), &ad).require_grad();
        let out = net.forward(x.clone());
        let l = loss(
            out.date_logits.clone(),
            out.fused_logits.clone(),
            Tensor::from_data(labels.clone(), &ad),
        );
        let loss_value: f32 = l.clone().into_scalar();
        let grads = l.backward();
        let input_grad = x.grad(&grads).expect("gradient of the input");
        (
            out.fused_logits.into_data(),
            loss_value,
            input_grad.into_data(),
        )
    };
    let (cpu_f, cpu_l, cpu_g) = run_train(&cpu);
    let (gpu_f, gpu_l, gpu_g) = run_train(&gpu);
    let d_f = max_abs_diff(cpu_f, gpu_f);
    let d_g = max_abs_diff(cpu_g, gpu_g);
    eprintln!("train: fused logits {d_f:.2e}, loss {cpu_l} vs {gpu_l}, input gradient {d_g:.2e}");
    assert!(d_f <= 1e-3, "train-mode fused logits disagree by {d_f}");
    assert!((cpu_l - gpu_l).abs() <= 1e-3, "loss {cpu_l} vs {gpu_l}");
    assert!(d_g <= 1e-3, "input gradient disagrees by {d_g}");
}
